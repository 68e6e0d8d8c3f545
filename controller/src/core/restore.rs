//! Reservations put back after a controller restart, and the bookkeeping a persister needs.
//!
//! Right after a restart the topology is empty: discovery takes seconds. A restored reservation
//! is therefore `restoring` (in the ledger, counted against capacity, but without meters) until
//! every link of its path is discovered (for a reservation within one switch: until that switch
//! is up), when its meters are installed through the ordinary [`Action`] path; or until its
//! grace period ends, when it is rerouted or dropped exactly as a reservation that lost a link,
//! each with a recorded decision.
//!
//! Invariant: an id is `restoring` only while it is in the ledger and has no desired meters.

use std::collections::BTreeSet;
use std::time::Duration;

use prescient_topology::{LedgerError, PortRef, Reservation, ReservationId, Timestamp};

use super::host_reservations::Failed;
use super::naming::{link_id, port_id};
use super::planner::Draft;
use super::records::{Action, Rule};
use super::reservations::Reserved;
use super::ControllerCore;

/// A reservation as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The reservation, with its original id and path.
    pub reservation: Reservation,
    /// Where the meter of a reservation within one switch sits (its path is empty).
    pub egress: Option<PortRef>,
    /// It was `failed` (holding nothing, waiting for a path with room): it comes back failed,
    /// not on the path it held before it failed.
    pub failed: bool,
}

/// Where a reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationState {
    /// Restored after a restart; waiting for its path to be discovered.
    Restoring,
    /// Its meters are asked for.
    Active,
    /// Its host moved and no path with room joins its hosts' switches: it holds nothing and
    /// waits for one.
    Failed,
}

/// Where a reservation stood before a release, so an undone release puts it back so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prior {
    /// In the ledger with its meters (within one switch: at `egress`).
    Held {
        /// The meter port of a reservation within one switch.
        egress: Option<PortRef>,
    },
    /// Restored after a restart, waiting for its path until `until`.
    Restoring {
        /// The meter port of a reservation within one switch.
        egress: Option<PortRef>,
        /// When it stops waiting.
        until: Timestamp,
    },
    /// Failed: out of the ledger, holding nothing.
    Failed,
}

/// A reservation that changed since the store last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsaved {
    /// It exists, as it now stands.
    Present(Restored),
    /// It is gone (released, expired, preempted, dropped).
    Gone(ReservationId),
}

/// What [`ControllerCore::restore`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RestoreReport {
    /// Put back, `restoring`.
    pub restored: Vec<ReservationId>,
    /// Put back `failed` (they failed before the restart): placed when a path with room
    /// joins their hosts' switches.
    pub failed: Vec<ReservationId>,
    /// Not put back because their window had ended.
    pub expired: Vec<ReservationId>,
    /// Refused by the ledger (an id used twice, invalid values).
    pub refused: Vec<(ReservationId, LedgerError)>,
}

impl ControllerCore {
    /// From now on, every reservation change is remembered until [`Self::take_unsaved`].
    pub fn track_changes(&mut self) {
        self.ledger.track_changes();
    }

    /// The reservations changed since the last call, each as it now stands. Forecast-origin
    /// reservations are derived state and left out (rebuilt from warm forecasts after a restart).
    pub fn take_unsaved(&mut self) -> Vec<Unsaved> {
        self.ledger
            .take_changes()
            .into_iter()
            .filter(|id| !self.auto.owns(*id))
            .map(|id| {
                if let Some(r) = self.ledger.get(id) {
                    return Unsaved::Present(Restored {
                        reservation: r.clone(),
                        egress: self.egress.get(&id).copied(),
                        failed: false,
                    });
                }
                // Kept as it was: a failed reservation is still the client's.
                match self.failed.get(&id) {
                    Some(f) => Unsaved::Present(Restored {
                        reservation: f.reservation.clone(),
                        egress: None,
                        failed: true,
                    }),
                    None => Unsaved::Gone(id),
                }
            })
            .collect()
    }

    /// Marks reservations unsaved again (their write failed; the next one retries them).
    pub fn mark_unsaved(&mut self, ids: impl IntoIterator<Item = ReservationId>) {
        for id in ids {
            self.ledger.mark_changed(id);
        }
    }

    /// Puts back reservations from the store, `restoring` until `now + grace`, or `failed`
    /// when they were (placed by the next tick or topology change that finds a path with room
    /// between their hosts' switches). Reservations whose window ended are left out (the
    /// caller deletes them from the store).
    pub fn restore(
        &mut self,
        now: Timestamp,
        all: Vec<Restored>,
        grace: Duration,
    ) -> RestoreReport {
        let mut report = RestoreReport::default();
        let deadline = now.plus(grace);
        for r in all {
            let id = r.reservation.id;
            if r.reservation.request.window.end <= now {
                report.expired.push(id);
                continue;
            }
            if r.failed {
                if self.ledger.contains(id) {
                    report.refused.push((id, LedgerError::DuplicateId(id)));
                    continue;
                }
                // Out of the ledger, as before the restart; its id stays its own.
                self.ledger.skip_id(id);
                self.failed.insert(
                    id,
                    Failed {
                        reservation: r.reservation,
                    },
                );
                report.failed.push(id);
                continue;
            }
            match self.ledger.restore(r.reservation) {
                Ok(()) => {
                    if let Some(port) = r.egress {
                        self.egress.insert(id, port);
                    }
                    self.restoring.insert(id, deadline);
                    report.restored.push(id);
                }
                Err(e) => report.refused.push((id, e)),
            }
        }
        // The store holds them as they are: nothing to write back.
        let restored: BTreeSet<ReservationId> = report.restored.iter().copied().collect();
        let other: Vec<ReservationId> = self
            .ledger
            .take_changes()
            .into_iter()
            .filter(|id| !restored.contains(id))
            .collect();
        self.mark_unsaved(other);
        report
    }

    /// Where a reservation stands, if it exists.
    pub fn reservation_state(&self, id: ReservationId) -> Option<ReservationState> {
        if self.failed.contains_key(&id) {
            return Some(ReservationState::Failed);
        }
        self.ledger.get(id)?;
        Some(if self.restoring.contains_key(&id) {
            ReservationState::Restoring
        } else {
            ReservationState::Active
        })
    }

    /// The reservations still `restoring`.
    pub(super) fn restoring_ids(&self) -> BTreeSet<ReservationId> {
        self.restoring
            .keys()
            .filter(|id| self.ledger.contains(**id) && !self.installed.contains_key(id))
            .copied()
            .collect()
    }

    /// When a `restoring` reservation stops waiting for its path.
    pub fn restoring_until(&self, id: ReservationId) -> Option<Timestamp> {
        self.restoring
            .get(&id)
            .copied()
            .filter(|_| self.ledger.contains(id) && !self.installed.contains_key(&id))
    }

    /// The port the meter of a reservation within one switch sits on.
    pub fn egress_of(&self, id: ReservationId) -> Option<PortRef> {
        self.egress.get(&id).copied()
    }

    /// Activates restored reservations whose path is back, and reroutes or drops those whose
    /// grace period ended. Called after topology changes and on every tick.
    pub(super) fn advance_restoring(&mut self, now: Timestamp) -> Vec<Action> {
        // Dropped, or moved to a new path (which installed meters), by the ordinary alignment.
        let installed = &self.installed;
        let ledger = &self.ledger;
        self.restoring
            .retain(|id, _| ledger.contains(*id) && !installed.contains_key(id));
        self.egress.retain(|id, _| ledger.contains(*id));
        if self.restoring.is_empty() {
            return Vec::new();
        }
        let snapshot = self.topology.snapshot();
        let mut actions = Vec::new();
        let pending: Vec<(ReservationId, Timestamp)> =
            self.restoring.iter().map(|(id, d)| (*id, *d)).collect();
        for (id, deadline) in pending {
            let Some(r) = self.ledger.get(id).cloned() else {
                continue;
            };
            let missing: Vec<String> = match (r.request.path.is_empty(), self.egress.get(&id)) {
                (true, Some(port)) if !snapshot.contains_device(port.device) => {
                    vec![format!("switch {}", port.device)]
                }
                _ => r
                    .request
                    .path
                    .iter()
                    .filter(|l| snapshot.link_idx(**l).is_none())
                    .map(|l| format!("link {}", link_id(*l)))
                    .collect(),
            };
            if missing.is_empty() {
                self.restoring.remove(&id);
                let install = self.install(&r);
                actions.extend(self.record(
                    now,
                    Draft {
                        rule: Rule::ReservationAdmitted,
                        subject: format!("reservation/{}", id.0),
                        reason: "its path is back (restored after a restart, or waiting after a switch left): every link is discovered again".to_string(),
                        actions: vec![install],
                    },
                ));
            } else if now >= deadline {
                self.restoring.remove(&id);
                actions.extend(self.give_up_restoring(now, r, &missing));
            }
        }
        actions
    }

    /// A restored reservation whose path did not come back in time: placed again like one that
    /// lost a link.
    fn give_up_restoring(
        &mut self,
        now: Timestamp,
        r: Reservation,
        missing: &[String],
    ) -> Vec<Action> {
        let id = r.id;
        let why = format!(
            "waiting for its path after a restart or a switch leaving, but {} not discovered within the grace period",
            missing.join(", ")
        );
        if self.ledger.release(id).is_err() {
            return Vec::new();
        }
        let snapshot = self.topology.snapshot();
        let mut actions = Vec::new();
        for outcome in self.ledger.reroute(&snapshot, vec![r]) {
            match outcome {
                prescient_topology::RerouteOutcome::Rerouted {
                    reservation,
                    preempted,
                } => {
                    let mut acts = self.preempt(now, &preempted, id.0);
                    acts.push(self.install(&reservation));
                    let path: Vec<String> = reservation
                        .request
                        .path
                        .iter()
                        .map(|l| link_id(*l))
                        .collect();
                    actions.extend(self.record(
                        now,
                        Draft {
                            rule: Rule::ReservationRerouted,
                            subject: format!("reservation/{}", id.0),
                            reason: format!("{why}; new path [{}]", path.join(" ")),
                            actions: acts,
                        },
                    ));
                }
                prescient_topology::RerouteOutcome::Unplaceable { reason, .. } => {
                    self.egress.remove(&id);
                    actions.extend(self.record(
                        now,
                        Draft {
                            rule: Rule::ReservationDropped,
                            subject: format!("reservation/{}", id.0),
                            reason: format!("{why}; it cannot be placed again: {reason}"),
                            actions: Vec::new(),
                        },
                    ));
                }
            }
        }
        actions
    }

    /// Undoes an admission whose write to the store failed: the reservation is released and
    /// what it preempted is put back (their meters were never asked to go). Returns the meter
    /// removals for preempted reservations that no longer fit (capacity taken meanwhile).
    pub fn undo_admission(&mut self, now: Timestamp, done: &Reserved, why: &str) -> Vec<Action> {
        let id = done.reservation.id;
        if self.ledger.release(id).is_ok() {
            self.installed.remove(&id);
            self.egress.remove(&id);
        }
        let mut actions = Vec::new();
        let mut back = Vec::new();
        for p in &done.preempted {
            match self.ledger.restore(p.clone()) {
                Ok(()) => {
                    // Same ports as before: installing again is what the switches still have.
                    self.install(p);
                    back.push(p.id.0.to_string());
                }
                Err(e) => {
                    let ports: Vec<PortRef> = p.request.path.iter().map(|l| l.src).collect();
                    actions.extend(self.record(
                        now,
                        Draft {
                            rule: Rule::ReservationDropped,
                            subject: format!("reservation/{}", p.id.0),
                            reason: format!("preempted by reservation {}, which was then undone, and it no longer fits: {e}", id.0),
                            actions: vec![Action::RemoveMeter { reservation: p.id, ports }],
                        },
                    ));
                }
            }
        }
        self.record(
            now,
            Draft {
                rule: Rule::ReservationReleased,
                subject: format!("reservation/{}", id.0),
                reason: if back.is_empty() {
                    format!("admission undone: {why}")
                } else {
                    format!(
                        "admission undone: {why}; preempted reservations {} put back",
                        back.join(", ")
                    )
                },
                actions: Vec::new(),
            },
        );
        actions
    }

    /// Where reservation `id` stands now, to put it back so if its release is undone.
    pub fn prior(&self, id: ReservationId) -> Option<Prior> {
        let egress = self.egress.get(&id).copied();
        Some(match self.reservation_state(id)? {
            ReservationState::Failed => Prior::Failed,
            ReservationState::Restoring => Prior::Restoring {
                egress,
                until: self.restoring.get(&id).copied()?,
            },
            ReservationState::Active => Prior::Held { egress },
        })
    }

    /// Undoes a release whose write to the store failed: the reservation is put back as it
    /// stood before (`prior`): held with its meters (their removal was never dispatched),
    /// still `restoring` until its deadline, or still failed, holding nothing.
    pub fn undo_release(
        &mut self,
        now: Timestamp,
        r: Reservation,
        prior: Prior,
        why: &str,
    ) -> Result<(), LedgerError> {
        let id = r.id;
        let where_ = match prior {
            Prior::Failed => {
                // Failed holds no capacity: nothing can have taken its place.
                self.failed.insert(id, Failed { reservation: r });
                self.ledger.mark_changed(id);
                "failed, holding nothing".to_string()
            }
            Prior::Held { egress } | Prior::Restoring { egress, .. } => {
                self.ledger.restore(r.clone())?;
                if let Some(port) = egress {
                    self.egress.insert(id, port);
                }
                if let Prior::Restoring { until, .. } = prior {
                    self.restoring.insert(id, until);
                } else {
                    self.install(&r);
                }
                let on = egress
                    .map(port_id)
                    .unwrap_or_else(|| "its path".to_string());
                format!("back on {on}")
            }
        };
        self.record(
            now,
            Draft {
                rule: Rule::ReservationAdmitted,
                subject: format!("reservation/{}", id.0),
                reason: format!("release undone ({why}): {where_} as before"),
                actions: Vec::new(),
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests;
