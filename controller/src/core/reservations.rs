//! Reservations asked for through the API: admit (with preemption), release, and the what-if
//! planner that runs the same admission on a clone of the ledger.

use std::collections::BTreeSet;

use prescient_topology::{LedgerError, LinkKey, Reservation, ReservationId, Timestamp};

use super::naming::link_id;
use super::planner::Draft;
use super::records::{Action, Rule, SeriesKey};
use super::reserve::{self, ReserveError, ReserveSpec};
use super::ControllerCore;

/// The result of an admitted reservation.
#[derive(Debug, Clone, PartialEq)]
pub struct Reserved {
    /// The reservation as admitted.
    pub reservation: Reservation,
    /// Lower-tier reservations preempted for it, and forecast reservations that made room
    /// for it or that policed the traffic it now holds.
    pub preempted: Vec<Reservation>,
    /// The intents to carry out (meters installed and removed).
    pub actions: Vec<Action>,
    /// Id of the admission decision.
    pub decision: u64,
}

/// What the what-if planner says about one hypothetical demand.
#[derive(Debug, Clone, PartialEq)]
pub enum WhatIfOutcome {
    /// It would be admitted on this path, preempting these reservations.
    Admitted {
        /// The path.
        path: Vec<LinkKey>,
        /// Existing reservations it would preempt.
        preempted: Vec<ReservationId>,
    },
    /// It would be refused.
    Refused(ReserveError),
}

/// A link on a path of a what-if demand, after all demands were applied.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkProjection {
    /// The link.
    pub link: LinkKey,
    /// Capacity, bits/s.
    pub capacity_bps: u64,
    /// Largest commitment over the demands' windows, with the demands, bits/s.
    pub reserved_bps: u64,
    /// Forecast peak (upper 95 % bound), bits/s, if forecast.
    pub predicted_bps: Option<f64>,
    /// `reserved + predicted` exceeds the hot threshold.
    pub would_be_hot: bool,
}

/// The what-if answer.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatIf {
    /// One outcome per demand, in order; earlier demands are admitted before later ones.
    pub outcomes: Vec<WhatIfOutcome>,
    /// The links the admitted demands would use.
    pub links: Vec<LinkProjection>,
}

impl ControllerCore {
    /// Plans and admits a reservation; returns the meters to install and remove.
    pub fn reserve(
        &mut self,
        now: Timestamp,
        spec: &ReserveSpec,
    ) -> Result<Reserved, ReserveError> {
        let snapshot = self.topology.snapshot();
        let (
            reserve::Planned {
                admitted,
                request,
                egress,
            },
            yielded,
        ) = self.admit_over_forecasts(&snapshot, spec)?;
        let reservation = Reservation {
            id: admitted.id,
            request,
        };
        if let Some(port) = egress {
            self.egress.insert(admitted.id, port);
        }
        // Its pair's forecast reservation goes now, not at the next tick: until then the
        // flow would pass at both rates.
        let superseded = self.superseded_by(&reservation);
        let mut preempted: Vec<Reservation> = yielded
            .iter()
            .chain(&superseded)
            .map(|y| y.2.clone())
            .collect();
        let mut actions = self.yielded(now, yielded, admitted.id, spec.tier);
        actions.extend(self.superseded(now, superseded, &reservation));
        actions.extend(self.preempt(now, &admitted.preempted, admitted.id.0));
        let install = self.install(&reservation);
        let path: Vec<String> = reservation
            .request
            .path
            .iter()
            .map(|l| link_id(*l))
            .collect();
        let decision = self.next_decision;
        actions.extend(self.record(
            now,
            Draft {
                rule: Rule::ReservationAdmitted,
                subject: format!("reservation/{}", reservation.id.0),
                reason: format!(
                    "{} bit/s tier {} fits on every link of [{}] over its whole window{}",
                    reservation.request.rate_bps,
                    reservation.request.tier,
                    path.join(" "),
                    if admitted.preempted.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " after preempting {} lower-tier reservation(s)",
                            admitted.preempted.len()
                        )
                    }
                ),
                actions: vec![install],
            },
        ));
        preempted.extend(admitted.preempted);
        Ok(Reserved {
            reservation,
            preempted,
            actions,
            decision,
        })
    }

    /// Releases a reservation; returns it and the meter removal (none while it is restoring).
    pub fn release(
        &mut self,
        now: Timestamp,
        id: ReservationId,
    ) -> Result<(Reservation, Vec<Action>), LedgerError> {
        let (r, acts, reason) = match self.release_failed(id) {
            Some(r) => (
                r,
                Vec::new(),
                "released through the API while failed (it held nothing)",
            ),
            None => {
                let r = self.ledger.release(id)?;
                let acts = self.uninstall(id).into_iter().collect();
                (r, acts, "released through the API")
            }
        };
        let actions = self.record(
            now,
            Draft {
                rule: Rule::ReservationReleased,
                subject: format!("reservation/{}", id.0),
                reason: reason.to_string(),
                actions: acts,
            },
        );
        Ok((r, actions))
    }

    /// Runs admission of `demands` on a clone of the ledger: no state changes, no actions.
    pub fn what_if(&self, demands: &[ReserveSpec]) -> WhatIf {
        let snapshot = self.topology.snapshot();
        let mut ledger = self.ledger.clone();
        let mut owned = self.forecast_owned();
        let mut outcomes = Vec::new();
        let mut touched: BTreeSet<LinkKey> = BTreeSet::new();
        for spec in demands {
            match super::auto_reserve::admit_yielding(&mut ledger, &owned, &snapshot, spec) {
                Ok((planned, yielded)) => {
                    touched.extend(planned.request.path.iter().copied());
                    owned.retain(|(_, id)| !yielded.iter().any(|y| y.2.id == *id));
                    let mut preempted: Vec<ReservationId> =
                        yielded.iter().map(|y| y.2.id).collect();
                    preempted.extend(planned.admitted.preempted.iter().map(|r| r.id));
                    outcomes.push(WhatIfOutcome::Admitted {
                        path: planned.request.path,
                        preempted,
                    });
                }
                Err(e) => outcomes.push(WhatIfOutcome::Refused(e)),
            }
        }
        let span = demands
            .iter()
            .map(|d| d.window)
            .reduce(|a, b| prescient_topology::Window::new(a.start.min(b.start), a.end.max(b.end)));
        let links = touched
            .into_iter()
            .map(|link| {
                let capacity_bps = snapshot.capacity(link).unwrap_or(0);
                let reserved_bps = span.map_or(0, |w| ledger.committed(link, w));
                let predicted_bps = self
                    .series
                    .get(&SeriesKey::Link(link))
                    .and_then(|s| s.predicted_peak());
                let load = reserved_bps as f64 + predicted_bps.unwrap_or(0.0);
                LinkProjection {
                    link,
                    capacity_bps,
                    reserved_bps,
                    predicted_bps,
                    would_be_hot: load > self.config.hot_threshold * capacity_bps as f64,
                }
            })
            .collect();
        WhatIf { outcomes, links }
    }
}
