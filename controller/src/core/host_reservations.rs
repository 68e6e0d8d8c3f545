//! An API host-pair reservation whose host moved to another switch is placed again between the
//! hosts' new switches, as ONOS recompiles a point-to-point intent with a bandwidth constraint
//! when its host moves: the ledger releases the old links and holds a new path with room
//! (admission control as for a new reservation, without preempting anyone), its entries and
//! meters move, and it keeps its id, rate, tier and window. Left on its old path it would set
//! capacity aside where its traffic no longer goes and deliver nowhere (its last hop cannot
//! follow a host on another switch).
//!
//! When no path between the hosts' switches has room (or none joins them), it is `failed`, as
//! ONOS leaves an intent it cannot recompile: it holds nothing (released from the ledger, its
//! meters and entries removed), stays visible over REST with that state, keeps its id, and is
//! placed again (admission control as above) after the next topology change or tick that finds
//! a path with room, e.g. when another reservation is released or a link appears. Its window
//! ending forgets it.
//! Forecast reservations follow their pair on their own (`auto_reserve`, each tick).

use std::collections::BTreeSet;

use prescient_topology::{MacAddr, Reservation, ReservationId, Subject, Timestamp};

use super::naming::link_id;
use super::planner::Draft;
use super::records::{Action, Rule};
use super::reserve::{self, Endpoint, ReserveError, ReserveSpec};
use super::ControllerCore;

/// A reservation that could not follow its host: out of the ledger, no meters, waiting for a
/// path with room.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Failed {
    /// The reservation as it stood before its host moved.
    pub(super) reservation: Reservation,
}

impl ControllerCore {
    /// After hosts in `moved` moved: places again each API host-pair reservation of theirs
    /// whose hosts now sit on other switches than its ends.
    pub(super) fn replace_reservations_of(
        &mut self,
        now: Timestamp,
        moved: &BTreeSet<MacAddr>,
    ) -> Vec<Action> {
        let device = |mac: MacAddr| self.topology.host(mac).map(|h| h.at.device);
        let forecast: BTreeSet<ReservationId> =
            self.forecast_reservations().map(|(_, id)| id).collect();
        let stale: Vec<ReservationId> = self
            .ledger
            .reservations()
            .filter(|r| !forecast.contains(&r.id) && !self.restoring.contains_key(&r.id))
            .filter(|r| match r.request.subject {
                Subject::HostPair { src, dst } => {
                    (moved.contains(&src) || moved.contains(&dst))
                        && match (device(src), device(dst)) {
                            (Some(a), Some(b)) => (a, b) != (r.request.src, r.request.dst),
                            // A host forgotten: nowhere to place it yet.
                            _ => false,
                        }
                }
                Subject::Flow(_) => false,
            })
            .map(|r| r.id)
            .collect();
        let mut actions = Vec::new();
        for id in stale {
            actions.extend(self.replace_reservation(now, id));
        }
        actions
    }

    /// Places reservation `id` again between its hosts' switches; on failure it stays where
    /// it was and the decision says why.
    fn replace_reservation(&mut self, now: Timestamp, id: ReservationId) -> Vec<Action> {
        let Ok(old) = self.ledger.release(id) else {
            return Vec::new();
        };
        let Subject::HostPair { src, dst } = old.request.subject else {
            let _ = self.ledger.restore(old);
            return Vec::new();
        };
        let placed = self.place_again(&old, src, dst);
        let subject = format!("reservation/{}", id.0);
        let links = |r: &Reservation| {
            r.request
                .path
                .iter()
                .map(|l| link_id(*l))
                .collect::<Vec<_>>()
                .join(" ")
        };
        match placed {
            Ok(new) => {
                let mut acts: Vec<Action> = self.uninstall(id).into_iter().collect();
                acts.push(self.install(&new));
                let reason = format!(
                    "its host moved to switch {}: placed again from [{}] onto [{}], which has room for {} bit/s",
                    if new.request.dst != old.request.dst {
                        new.request.dst
                    } else {
                        new.request.src
                    },
                    links(&old),
                    links(&new),
                    new.request.rate_bps
                );
                self.record(
                    now,
                    Draft {
                        rule: Rule::ReservationRerouted,
                        subject,
                        reason,
                        actions: acts,
                    },
                )
            }
            Err(e) => {
                let acts: Vec<Action> = self.uninstall(id).into_iter().collect();
                self.egress.remove(&id);
                self.failed.insert(
                    id,
                    Failed {
                        reservation: old.clone(),
                    },
                );
                self.record(
                    now,
                    Draft {
                        rule: Rule::ReservationWaiting,
                        subject,
                        reason: format!(
                            "its host moved and no path between its hosts' switches has room for {} bit/s ({e}): failed, it holds nothing (released from [{}]) and is placed again when a path with room appears",
                            old.request.rate_bps,
                            links(&old)
                        ),
                        actions: acts,
                    },
                )
            }
        }
    }

    /// Places again the failed reservations a path with room now exists for; forgets those
    /// whose window ended.
    pub(super) fn retry_failed(&mut self, now: Timestamp) -> Vec<Action> {
        if self.failed.is_empty() {
            return Vec::new();
        }
        let ids: Vec<ReservationId> = self.failed.keys().copied().collect();
        let mut actions = Vec::new();
        for id in ids {
            let Some(old) = self.failed.get(&id).map(|f| f.reservation.clone()) else {
                continue;
            };
            let subject = format!("reservation/{}", id.0);
            if old.request.window.end <= now {
                self.failed.remove(&id);
                // The store forgets it.
                self.ledger.mark_changed(id);
                actions.extend(self.record(
                    now,
                    Draft {
                        rule: Rule::ReservationExpired,
                        subject,
                        reason:
                            "its window ended while it was failed (no path with room)".to_string(),
                        actions: Vec::new(),
                    },
                ));
                continue;
            }
            let Subject::HostPair { src, dst } = old.request.subject else {
                continue;
            };
            let Ok(new) = self.place_again(&old, src, dst) else {
                continue;
            };
            self.failed.remove(&id);
            let install = self.install(&new);
            let path: Vec<String> = new.request.path.iter().map(|l| link_id(*l)).collect();
            actions.extend(self.record(
                now,
                Draft {
                    rule: Rule::ReservationAdmitted,
                    subject,
                    reason: format!(
                        "failed since its host moved; a path with room for {} bit/s appeared: placed on [{}]",
                        new.request.rate_bps,
                        path.join(" ")
                    ),
                    actions: vec![install],
                },
            ));
        }
        actions
    }

    /// Reservation `id`, in the ledger or failed.
    pub fn reservation(&self, id: ReservationId) -> Option<&Reservation> {
        self.ledger
            .get(id)
            .or_else(|| self.failed.get(&id).map(|f| &f.reservation))
    }

    /// The failed reservations (see the module docs).
    pub fn failed_reservations(&self) -> impl Iterator<Item = &Reservation> + '_ {
        self.failed.values().map(|f| &f.reservation)
    }

    /// Forgets failed reservation `id` (released through the API); returns it.
    pub(super) fn release_failed(&mut self, id: ReservationId) -> Option<Reservation> {
        let f = self.failed.remove(&id)?;
        // The store forgets it.
        self.ledger.mark_changed(id);
        Some(f.reservation)
    }

    /// `old` (released from the ledger), of hosts `src` and `dst`, planned between their switches and put back
    /// into the ledger with its id; its egress port set when within one switch.
    fn place_again(
        &mut self,
        old: &Reservation,
        src: MacAddr,
        dst: MacAddr,
    ) -> Result<Reservation, ReserveError> {
        let spec = ReserveSpec {
            src: Endpoint::Host(src),
            dst: Endpoint::Host(dst),
            rate_bps: old.request.rate_bps,
            tier: old.request.tier,
            window: old.request.window,
            flow: None,
            path: None,
        };
        let snapshot = self.topology.snapshot();
        let request = reserve::request(&self.ledger, &snapshot, &spec)?;
        let egress = reserve::egress(&snapshot, &spec, &request)?;
        let new = Reservation {
            id: old.id,
            request,
        };
        self.ledger.restore(new.clone())?;
        self.egress.remove(&old.id);
        if let Some(port) = egress {
            self.egress.insert(old.id, port);
        }
        Ok(new)
    }
}
