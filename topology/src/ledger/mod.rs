//! The reservation ledger: admission control of bandwidth reservations over time.
//!
//! Invariant (checked by property tests): for every link and every instant, the sum of the rates
//! of the reservations crossing that link and active at that instant is at most the link's
//! capacity. Every operation either keeps it (admit checks the whole window of every link,
//! preempting strictly lower tiers if needed; capacity drops evict) or is refused unchanged.
//!
//! Preemption policy: on a link that would be over-committed at instant `t`, victims are chosen
//! among reservations active at `t` with a strictly lower tier, lowest tier first, then the most
//! recently admitted (largest id) first, until the request fits.
//!
//! Restored reservations ([`Ledger::restore`], after a controller restart) may name links the
//! ledger does not know yet: those links are outside the invariant until they appear, when
//! setting their capacity evicts whatever no longer fits (lowest tier first), as any capacity
//! drop does. On links it knows, `restore` keeps the invariant.

mod load;
mod reroute;
mod restore;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;

use serde::Serialize;
use thiserror::Error;

use crate::ids::{DeviceId, LinkKey, MacAddr, Timestamp};
use crate::snapshot::Snapshot;
use load::Entry;

pub use reroute::{RerouteError, RerouteOutcome};

/// Identifies an admitted reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ReservationId(pub u64);

/// A half-open time interval `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// First instant covered.
    pub start: Timestamp,
    /// First instant no longer covered.
    pub end: Timestamp,
}

impl Window {
    /// `[start, end)`.
    pub const fn new(start: Timestamp, end: Timestamp) -> Self {
        Window { start, end }
    }

    /// All of time.
    pub const ALWAYS: Window = Window {
        start: Timestamp(0),
        end: Timestamp(u64::MAX),
    };

    /// Whether the two intervals share an instant.
    pub fn overlaps(self, other: Window) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// Which traffic a reservation is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// All traffic from one host to another.
    HostPair {
        /// Source host.
        src: MacAddr,
        /// Destination host.
        dst: MacAddr,
    },
    /// Traffic matching a 5-tuple pattern (absent fields match anything).
    Flow(FlowMatch),
}

/// An IPv4 5-tuple pattern, narrowed to the reservation's end hosts where its ends are hosts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlowMatch {
    /// Source host's MAC: a reservation from a host polices that host's traffic only, not the
    /// same 5-tuple from every host whose traffic crosses the path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_mac: Option<MacAddr>,
    /// Destination host's MAC, likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_mac: Option<MacAddr>,
    /// Source address.
    pub src_ip: Option<Ipv4Addr>,
    /// Destination address.
    pub dst_ip: Option<Ipv4Addr>,
    /// IP protocol number.
    pub ip_proto: Option<u8>,
    /// Transport source port.
    pub src_port: Option<u16>,
    /// Transport destination port.
    pub dst_port: Option<u16>,
}

/// What a caller asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReservationRequest {
    /// The traffic.
    pub subject: Subject,
    /// Ingress device.
    pub src: DeviceId,
    /// Egress device.
    pub dst: DeviceId,
    /// Bits per second.
    pub rate_bps: u64,
    /// Priority tier: higher tiers may preempt strictly lower ones.
    pub tier: u8,
    /// When.
    pub window: Window,
    /// The links, from `src` to `dst` (empty when `src == dst`).
    pub path: Vec<LinkKey>,
}

/// An admitted reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reservation {
    /// Its id.
    pub id: ReservationId,
    /// What was asked for (the path may change on reroute).
    #[serde(flatten)]
    pub request: ReservationRequest,
}

/// The result of a successful admission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Admitted {
    /// The new reservation's id.
    pub id: ReservationId,
    /// Lower-tier reservations removed to make room.
    pub preempted: Vec<Reservation>,
}

/// Why a ledger operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LedgerError {
    /// A reservation of zero bits/s.
    #[error("rate_bps is 0: a reservation must reserve something")]
    ZeroRate,
    /// `end <= start`.
    #[error("window is empty: end {end:?} is not after start {start:?}")]
    EmptyWindow {
        /// Start.
        start: Timestamp,
        /// End.
        end: Timestamp,
    },
    /// The path mentions a link the ledger does not know (not in the topology).
    #[error("path link {0} is not in the topology")]
    UnknownLink(LinkKey),
    /// The path does not lead from `src` to `dst` link by link, or repeats a link.
    #[error("path is broken at position {position}: {reason}")]
    BrokenPath {
        /// Index in the path.
        position: usize,
        /// Why.
        reason: &'static str,
    },
    /// Not enough capacity.
    #[error("link {link} lacks {missing_bps} bit/s at {at:?}: capacity {capacity_bps}, committed {committed_bps} (after any preemption), requested {requested_bps}")]
    Insufficient {
        /// The bottleneck link.
        link: LinkKey,
        /// The first instant the shortfall happens.
        at: Timestamp,
        /// Its capacity.
        capacity_bps: u64,
        /// What stays committed there at that instant.
        committed_bps: u64,
        /// What was requested.
        requested_bps: u64,
        /// How much is missing.
        missing_bps: u64,
    },
    /// No such reservation.
    #[error("reservation {} does not exist", .0.0)]
    UnknownReservation(ReservationId),
    /// A restored reservation reuses the id of one already in the ledger.
    #[error("reservation id {} is already in use", .0.0)]
    DuplicateId(ReservationId),
}

/// The ledger.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    capacity: HashMap<LinkKey, u64>,
    per_link: HashMap<LinkKey, Vec<Entry>>,
    reservations: BTreeMap<ReservationId, Reservation>,
    /// The next id to hand out; ids start at 1 (0 is never used: switches' meter ids start
    /// at 1, and an id that is never 0 cannot be mistaken for a default).
    next_id: u64,
    /// Ids admitted, rerouted or removed since the last `take_changes`; `None`: not tracking.
    changes: Option<BTreeSet<ReservationId>>,
}

fn clamp(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

impl Ledger {
    /// An empty ledger knowing no links.
    pub fn new() -> Self {
        Ledger::default()
    }

    /// An empty ledger with the links and capacities of `snapshot`.
    pub fn from_snapshot(snapshot: &Snapshot) -> Self {
        let mut l = Ledger::new();
        l.sync(snapshot);
        l
    }

    /// Sets one link's capacity (adding the link). Lowering it evicts reservations until the
    /// invariant holds again (lowest tier first); they are returned.
    pub fn set_capacity(&mut self, link: LinkKey, capacity_bps: u64) -> Vec<Reservation> {
        self.capacity.insert(link, capacity_bps);
        let mut evicted = Vec::new();
        loop {
            let entries = self.per_link.get(&link).map(Vec::as_slice).unwrap_or(&[]);
            let (load, at) = load::peak(entries, Window::ALWAYS, &BTreeSet::new());
            if load <= u128::from(capacity_bps) {
                break;
            }
            let victim = load::active_at(entries, at)
                .min_by_key(|e| (e.tier, std::cmp::Reverse(e.id)))
                .map(|e| e.id);
            match victim.and_then(|id| self.remove(id)) {
                Some(r) => evicted.push(r),
                None => break,
            }
        }
        evicted
    }

    /// Forgets a link; the reservations crossing it are removed and returned.
    pub fn remove_link(&mut self, link: LinkKey) -> Vec<Reservation> {
        self.remove_link_sparing(link, &BTreeSet::new())
    }

    /// Forgets a link; the reservations crossing it are removed and returned, except those in
    /// `spare`, which keep their path (the link becomes one they wait for, as after a restore).
    pub fn remove_link_sparing(
        &mut self,
        link: LinkKey,
        spare: &BTreeSet<ReservationId>,
    ) -> Vec<Reservation> {
        self.capacity.remove(&link);
        let ids: Vec<ReservationId> = self
            .per_link
            .get(&link)
            .map(|es| {
                es.iter()
                    .map(|e| e.id)
                    .filter(|id| !spare.contains(id))
                    .collect()
            })
            .unwrap_or_default();
        ids.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Aligns links and capacities with `snapshot`. Returns the reservations that lost a link
    /// (to reroute) and those evicted by a capacity drop.
    pub fn sync(&mut self, snapshot: &Snapshot) -> (Vec<Reservation>, Vec<Reservation>) {
        self.sync_sparing(snapshot, &BTreeSet::new())
    }

    /// [`Ledger::sync`], except that reservations in `spare` do not lose their path when one
    /// of its links leaves (they may still be evicted by a capacity drop).
    pub fn sync_sparing(
        &mut self,
        snapshot: &Snapshot,
        spare: &BTreeSet<ReservationId>,
    ) -> (Vec<Reservation>, Vec<Reservation>) {
        let gone: Vec<LinkKey> = self
            .capacity
            .keys()
            .filter(|k| snapshot.link_idx(**k).is_none())
            .copied()
            .collect();
        let mut lost = Vec::new();
        for k in gone {
            lost.extend(self.remove_link_sparing(k, spare));
        }
        let mut evicted = Vec::new();
        for (key, cap) in snapshot.links().iter().zip(snapshot.capacities()) {
            if self.capacity.get(key) != Some(cap) {
                evicted.extend(self.set_capacity(*key, *cap));
            }
        }
        (lost, evicted)
    }

    /// Capacity of a link, if known.
    pub fn capacity(&self, link: LinkKey) -> Option<u64> {
        self.capacity.get(&link).copied()
    }

    /// All reservations, by id.
    pub fn reservations(&self) -> impl Iterator<Item = &Reservation> {
        self.reservations.values()
    }

    /// One reservation.
    pub fn get(&self, id: ReservationId) -> Option<&Reservation> {
        self.reservations.get(&id)
    }

    /// The links some reservation (of any window) is placed on.
    pub fn reserved_links(&self) -> impl Iterator<Item = &LinkKey> {
        self.per_link.keys()
    }

    /// Peak committed rate on `link` within `window`.
    pub fn committed(&self, link: LinkKey, window: Window) -> u64 {
        let entries = self.per_link.get(&link).map(Vec::as_slice).unwrap_or(&[]);
        clamp(load::peak(entries, window, &BTreeSet::new()).0)
    }

    /// Residual capacity of every link of `snapshot` over all of `window` (capacity minus peak
    /// commitment), indexed by `LinkIdx`, for [`Snapshot::constrained_path`].
    pub fn residuals(&self, snapshot: &Snapshot, window: Window) -> Vec<u64> {
        snapshot
            .links()
            .iter()
            .zip(snapshot.capacities())
            .map(|(k, cap)| cap.saturating_sub(self.committed(*k, window)))
            .collect()
    }

    fn validate(&self, req: &ReservationRequest) -> Result<(), LedgerError> {
        check_rate_and_window(req)?;
        if let Some(link) = req.path.iter().find(|l| !self.capacity.contains_key(l)) {
            return Err(LedgerError::UnknownLink(*link));
        }
        check_path(req)
    }

    /// Admits a reservation if every link of its path has room for it at every instant of its
    /// window, preempting strictly lower tiers if that is what it takes.
    pub fn admit(&mut self, req: ReservationRequest) -> Result<Admitted, LedgerError> {
        let id = self.next_id();
        let preempted = self.admit_as(id, req)?;
        self.next_id = id.0.saturating_add(1);
        Ok(Admitted { id, preempted })
    }

    fn admit_as(
        &mut self,
        id: ReservationId,
        req: ReservationRequest,
    ) -> Result<Vec<Reservation>, LedgerError> {
        self.validate(&req)?;
        let victims = self.plan_victims(&req)?;
        let preempted = victims.iter().filter_map(|v| self.remove(*v)).collect();
        for link in &req.path {
            self.per_link.entry(*link).or_default().push(Entry {
                id,
                window: req.window,
                rate_bps: req.rate_bps,
                tier: req.tier,
            });
        }
        self.reservations
            .insert(id, Reservation { id, request: req });
        self.mark_changed(id);
        Ok(preempted)
    }

    /// The reservations to preempt for `req` to fit, or the shortfall.
    fn plan_victims(
        &self,
        req: &ReservationRequest,
    ) -> Result<BTreeSet<ReservationId>, LedgerError> {
        let mut victims = BTreeSet::new();
        for link in &req.path {
            let cap = self.capacity.get(link).copied().unwrap_or(0);
            let entries = self.per_link.get(link).map(Vec::as_slice).unwrap_or(&[]);
            loop {
                let (load, at) = load::peak(entries, req.window, &victims);
                if load + u128::from(req.rate_bps) <= u128::from(cap) {
                    break;
                }
                let victim = load::active_at(entries, at)
                    .filter(|e| e.tier < req.tier && !victims.contains(&e.id))
                    .min_by_key(|e| (e.tier, std::cmp::Reverse(e.id)));
                match victim {
                    Some(v) => {
                        victims.insert(v.id);
                    }
                    None => {
                        let need = load + u128::from(req.rate_bps);
                        return Err(LedgerError::Insufficient {
                            link: *link,
                            at,
                            capacity_bps: cap,
                            committed_bps: clamp(load),
                            requested_bps: req.rate_bps,
                            missing_bps: clamp(need - u128::from(cap)),
                        });
                    }
                }
            }
        }
        Ok(victims)
    }

    /// Releases a reservation.
    pub fn release(&mut self, id: ReservationId) -> Result<Reservation, LedgerError> {
        self.remove(id).ok_or(LedgerError::UnknownReservation(id))
    }

    /// Removes reservations whose window ended at or before `now`.
    pub fn expire(&mut self, now: Timestamp) -> Vec<Reservation> {
        let done: Vec<ReservationId> = self
            .reservations
            .values()
            .filter(|r| r.request.window.end <= now)
            .map(|r| r.id)
            .collect();
        done.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    fn remove(&mut self, id: ReservationId) -> Option<Reservation> {
        let r = self.reservations.remove(&id)?;
        self.mark_changed(id);
        for link in &r.request.path {
            if let Some(es) = self.per_link.get_mut(link) {
                if let Some(pos) = es.iter().position(|e| e.id == id) {
                    es.swap_remove(pos);
                }
                if es.is_empty() {
                    self.per_link.remove(link);
                }
            }
        }
        Some(r)
    }

    /// Checks the invariant exhaustively (every known link, every instant a reservation
    /// starts); returns the first violation as (link, instant, load, capacity). Links only
    /// restored reservations name, not yet in the topology, are not checked (see the module
    /// docs). For tests and audits.
    pub fn audit(&self) -> Option<(LinkKey, Timestamp, u64, u64)> {
        for (link, entries) in &self.per_link {
            let Some(cap) = self.capacity.get(link).copied() else {
                continue;
            };
            let (load, at) = load::peak(entries, Window::ALWAYS, &BTreeSet::new());
            if load > u128::from(cap) {
                return Some((*link, at, clamp(load), cap));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;

/// Rate and window non-empty.
fn check_rate_and_window(req: &ReservationRequest) -> Result<(), LedgerError> {
    if req.rate_bps == 0 {
        return Err(LedgerError::ZeroRate);
    }
    if req.window.end <= req.window.start {
        return Err(LedgerError::EmptyWindow {
            start: req.window.start,
            end: req.window.end,
        });
    }
    Ok(())
}

/// The path leads from `src` to `dst` link by link without repeating one.
fn check_path(req: &ReservationRequest) -> Result<(), LedgerError> {
    let mut at = req.src;
    let mut seen = BTreeSet::new();
    for (position, link) in req.path.iter().enumerate() {
        if link.src.device != at {
            return Err(LedgerError::BrokenPath {
                position,
                reason: "link does not start where the previous one ended",
            });
        }
        if !seen.insert(*link) {
            return Err(LedgerError::BrokenPath {
                position,
                reason: "link repeated",
            });
        }
        at = link.dst.device;
    }
    if at != req.dst {
        return Err(LedgerError::BrokenPath {
            position: req.path.len(),
            reason: "path does not end at dst",
        });
    }
    Ok(())
}
