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
//! A flow reservation follows the hosts owning the addresses it names the same way: each end
//! that names an address moves to the switch of the host owning it (the one seen last, as the
//! P4 routes pick), an end left open stays at its switch. A steered pair whose host moved off
//! its steered path is routed again (`pair_routes.rs`); the flow reservations holding its
//! traffic (`held_pairs.rs`) are placed again with it instead of staying where it left.
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
    /// After hosts in `moved` moved: places again each API reservation of theirs (a host
    /// pair, or a flow naming one of their addresses) whose ends now sit on other switches.
    pub(super) fn replace_reservations_of(
        &mut self,
        now: Timestamp,
        moved: &BTreeSet<MacAddr>,
    ) -> Vec<Action> {
        let forecast: BTreeSet<ReservationId> =
            self.forecast_reservations().map(|(_, id)| id).collect();
        let stale: Vec<ReservationId> = self
            .ledger
            .reservations()
            .filter(|r| !forecast.contains(&r.id) && !self.restoring.contains_key(&r.id))
            .filter(|r| {
                let touched = match &r.request.subject {
                    Subject::HostPair { src, dst } => moved.contains(src) || moved.contains(dst),
                    Subject::Flow(f) => [f.src_ip, f.dst_ip]
                        .into_iter()
                        .flatten()
                        .filter_map(|ip| self.owner_of(ip))
                        .chain(f.src_mac)
                        .chain(f.dst_mac)
                        .any(|mac| moved.contains(&mac)),
                };
                // A host forgotten: nowhere to place it yet.
                touched
                    && self
                        .ends_of(r)
                        .and_then(|(s, d)| Some((self.device_of(s)?, self.device_of(d)?)))
                        .is_some_and(|ends| ends != (r.request.src, r.request.dst))
            })
            .map(|r| r.id)
            .collect();
        let mut actions = Vec::new();
        for id in stale {
            actions.extend(self.replace_reservation(now, id));
        }
        actions
    }

    /// The host owning `ip`: the one seen last among those claiming it (then the lower MAC),
    /// as every P4 device picks for its route.
    fn owner_of(&self, ip: std::net::Ipv4Addr) -> Option<MacAddr> {
        self.topology
            .hosts()
            .filter(|h| h.ips.contains(&ip))
            .max_by(|a, b| a.last_seen.cmp(&b.last_seen).then(b.mac.cmp(&a.mac)))
            .map(|h| h.mac)
    }

    /// Where a reservation's ends are to be placed now: a host pair's hosts; for a flow, the
    /// host it was reserved from (its MAC) on each side, else the host owning the address it
    /// names there, else the switch it was placed from. `None` while a named host is not known.
    fn ends_of(&self, r: &Reservation) -> Option<(Endpoint, Endpoint)> {
        match &r.request.subject {
            Subject::HostPair { src, dst } => Some((Endpoint::Host(*src), Endpoint::Host(*dst))),
            Subject::Flow(f) => {
                let end = |mac: Option<MacAddr>, ip: Option<std::net::Ipv4Addr>, device| match (
                    mac, ip,
                ) {
                    (Some(mac), _) => Some(Endpoint::Host(mac)),
                    (None, Some(ip)) => self.owner_of(ip).map(Endpoint::Host),
                    (None, None) => Some(Endpoint::Device(device)),
                };
                Some((
                    end(f.src_mac, f.src_ip, r.request.src)?,
                    end(f.dst_mac, f.dst_ip, r.request.dst)?,
                ))
            }
        }
    }

    /// The switch of an end, when known.
    fn device_of(&self, end: Endpoint) -> Option<prescient_topology::DeviceId> {
        match end {
            Endpoint::Host(mac) => self.topology.host(mac).map(|h| h.at.device),
            Endpoint::Device(d) => Some(d),
        }
    }

    /// Places reservation `id` again between its hosts' switches; on failure it stays where
    /// it was and the decision says why.
    fn replace_reservation(&mut self, now: Timestamp, id: ReservationId) -> Vec<Action> {
        let Some(ends) = self.ledger.get(id).and_then(|r| self.ends_of(r)) else {
            return Vec::new();
        };
        let Ok(old) = self.ledger.release(id) else {
            return Vec::new();
        };
        let placed = self.place_again(&old, ends);
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
            let Some(ends) = self.ends_of(&old) else {
                continue;
            };
            let Ok(new) = self.place_again(&old, ends) else {
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

    /// `old` (released from the ledger) planned between `ends` and put back into the ledger
    /// with its id, subject, rate, tier and window; its egress port set when within one switch.
    fn place_again(
        &mut self,
        old: &Reservation,
        (src, dst): (Endpoint, Endpoint),
    ) -> Result<Reservation, ReserveError> {
        let spec = ReserveSpec {
            src,
            dst,
            rate_bps: old.request.rate_bps,
            tier: old.request.tier,
            window: old.request.window,
            flow: match &old.request.subject {
                Subject::Flow(f) => Some(f.clone()),
                Subject::HostPair { .. } => None,
            },
            path: None,
        };
        let snapshot = self.topology.snapshot();
        let mut request = reserve::request(&self.ledger, &snapshot, &spec)?;
        // Its traffic is what it was: an end found from an address is not narrowed to the
        // MAC of the host owning it now.
        request.subject = old.request.subject.clone();
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
