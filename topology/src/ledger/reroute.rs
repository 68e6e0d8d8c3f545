//! Path recomputation after the topology changed: every reservation that lost a link (or was
//! evicted by a capacity drop) gets a new path with room for it, keeping its id, or is reported
//! unplaceable. Higher tiers are placed first so they get first pick of the remaining capacity.
//! Reservations preempted while rerouting are reported, not rerouted in turn (no cascades).

use serde::{Serialize, Serializer};
use thiserror::Error;

use crate::paths::{Fit, PathError};
use crate::snapshot::Snapshot;

use super::{Ledger, LedgerError, Reservation, ReservationId, ReservationRequest};

/// What happened to one displaced reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RerouteOutcome {
    /// It has a new path (same id).
    Rerouted {
        /// The reservation as it now stands.
        reservation: Reservation,
        /// Lower-tier reservations removed to make room.
        preempted: Vec<Reservation>,
    },
    /// No path has room for it; it is no longer in the ledger.
    Unplaceable {
        /// The reservation as it stood.
        reservation: Reservation,
        /// Why.
        reason: RerouteError,
    },
}

/// Why a displaced reservation could not be placed again.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RerouteError {
    /// Its endpoints are no longer connected (or gone).
    #[error("no path: {0}")]
    NoPath(#[from] PathError),
    /// Every path lacks room and its tier cannot preempt anything.
    #[error("no path has {rate_bps} bit/s free; the widest has {widest_bps}")]
    NoRoom {
        /// Requested rate.
        rate_bps: u64,
        /// Bottleneck of the widest path.
        widest_bps: u64,
    },
    /// The ledger refused it on the widest path even with preemption.
    #[error("refused: {0}")]
    Refused(#[from] LedgerError),
}

impl Serialize for RerouteError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Ledger {
    /// Brings the ledger in line with `snapshot` and re-places every reservation that lost a link
    /// or was evicted by a capacity drop.
    pub fn apply_topology(&mut self, snapshot: &Snapshot) -> Vec<RerouteOutcome> {
        self.apply_topology_sparing(snapshot, &std::collections::BTreeSet::new())
    }

    /// [`Ledger::apply_topology`], sparing the reservations in `spare` from losing their path
    /// when one of its links leaves (see [`Ledger::sync_sparing`]).
    pub fn apply_topology_sparing(
        &mut self,
        snapshot: &Snapshot,
        spare: &std::collections::BTreeSet<ReservationId>,
    ) -> Vec<RerouteOutcome> {
        let (mut displaced, evicted) = self.sync_sparing(snapshot, spare);
        displaced.extend(evicted);
        self.reroute(snapshot, displaced)
    }

    /// Finds new paths for reservations no longer in the ledger.
    pub fn reroute(
        &mut self,
        snapshot: &Snapshot,
        mut displaced: Vec<Reservation>,
    ) -> Vec<RerouteOutcome> {
        displaced.sort_by_key(|r| (std::cmp::Reverse(r.request.tier), r.id));
        displaced
            .into_iter()
            .map(|r| match self.place_as(snapshot, r.id, &r.request) {
                Ok((reservation, preempted)) => RerouteOutcome::Rerouted {
                    reservation,
                    preempted,
                },
                Err(reason) => RerouteOutcome::Unplaceable {
                    reservation: r,
                    reason,
                },
            })
            .collect()
    }

    /// Finds a path with room for `req` over its whole window (`req.path` is ignored and
    /// replaced) and admits it there: the one call a planner needs for a host pair or a flow.
    pub fn place(
        &mut self,
        snapshot: &Snapshot,
        req: ReservationRequest,
    ) -> Result<(Reservation, Vec<Reservation>), RerouteError> {
        let id = self.next_id();
        let placed = self.place_as(snapshot, id, &req)?;
        self.next_id = id.0.saturating_add(1);
        Ok(placed)
    }

    fn place_as(
        &mut self,
        snapshot: &Snapshot,
        id: ReservationId,
        req: &ReservationRequest,
    ) -> Result<(Reservation, Vec<Reservation>), RerouteError> {
        let residual = self.residuals(snapshot, req.window);
        let found = snapshot.constrained_path(req.src, req.dst, req.rate_bps, &residual)?;
        if let Fit::WidestOnly { bottleneck_bps } = found.fit {
            // Only a higher tier's preemption could still make room; try, keep the error.
            if req.tier == 0 {
                return Err(RerouteError::NoRoom {
                    rate_bps: req.rate_bps,
                    widest_bps: bottleneck_bps,
                });
            }
        }
        let mut new_req = req.clone();
        new_req.path = found.path.links;
        let preempted = self.admit_as(id, new_req.clone())?;
        Ok((
            Reservation {
                id,
                request: new_req,
            },
            preempted,
        ))
    }

    /// Whether a reservation id is in use (admitted and not released).
    pub fn contains(&self, id: ReservationId) -> bool {
        self.get(id).is_some()
    }
}
