//! An API host-pair reservation whose host moved to another switch is placed again between the
//! hosts' new switches, as ONOS recompiles a point-to-point intent with a bandwidth constraint
//! when its host moves: the ledger releases the old links and holds a new path with room
//! (admission control as for a new reservation, without preempting anyone), its entries and
//! meters move, and it keeps its id, rate, tier and window. Left on its old path it would set
//! capacity aside where its traffic no longer goes and deliver nowhere (its last hop cannot
//! follow a host on another switch).
//!
//! When no path has room, it stays on its old path, as before, and its decision says why.
//! Forecast reservations follow their pair on their own (`auto_reserve`, each tick).

use std::collections::BTreeSet;

use prescient_topology::{MacAddr, Reservation, ReservationId, Subject, Timestamp};

use super::naming::link_id;
use super::planner::Draft;
use super::records::{Action, Rule};
use super::reserve::{self, Endpoint, ReserveError, ReserveSpec};
use super::ControllerCore;

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
                // It was there a moment ago: putting it back cannot lack room.
                let _ = self.ledger.restore(old.clone());
                self.record(
                    now,
                    Draft {
                        rule: Rule::ReservationRerouted,
                        subject,
                        reason: format!(
                            "its host moved but it cannot be placed between its hosts' switches ({e}); it stays on [{}]",
                            links(&old)
                        ),
                        actions: Vec::new(),
                    },
                )
            }
        }
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
