//! The controller core: the live state the southbound feeds and the northbound reads, and the
//! planning that turns forecasts into decisions. Sans-IO: every entry point takes `now` and
//! returns typed [`Action`]s (intents) instead of writing to switches; the lead's driver turns
//! them into OpenFlow or P4Runtime writes.
//!
//! - [`ControllerCore`]: topology, rates, the reservation ledger, one forecast [`series::Series`]
//!   per link and per host pair (created on their first sample, model `auto`), anomalies, the
//!   decision log and the hot-link set. Entry points: `device_up`, `device_down`, `port_*`,
//!   `lldp_frame_received`, `host_seen`, `port_counters`, `flow_counters`, `tick`, `reserve`,
//!   `release`, `what_if`.
//! - Forecast-origin reservations (`auto_reserve.rs`): kept per host pair on its predicted
//!   path, sized to its warm forecast; derived state, never written to the store.
//! - [`SharedCore`]: the core behind a mutex (short critical sections), a lock-free topology
//!   snapshot reader, the event bus (bounded broadcast), the southbound message counters and
//!   the outlet through which every action reaches the southbound driver, in the order the
//!   core decided it (`decide` under the lock, `dispatch` for the API / `next_actions`).
//! - Restart: `restore` puts back the reservations of the state store, `restoring` until their
//!   paths are discovered again (see `restore.rs`); `take_unsaved` / `mark_unsaved` feed the
//!   store's persister.
//!
//! Invariants: the ledger is aligned with the topology after every entry point that changed it
//! (reservations that lost a link are rerouted or dropped, each with a decision; restored
//! reservations only once their grace period ended); `installed` mirrors exactly the meters
//! asked for by actions returned so far (desired state); every decision and anomaly is also
//! published as an event.

mod auto_reserve;
pub mod calendar;
pub mod config;
pub use crate::vocab::naming;
mod entry;
mod held_pairs;
mod host_reservations;
mod model_errors;
mod observing;
mod pair_routes;
pub mod planner;
pub mod records;
mod reservations;
pub mod reserve;
mod restore;
pub mod series;
mod service_ops;
mod shared;
mod steer_reservations;
mod tick;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use prescient_topology::{
    Ledger, LinkKey, PortRef, RateTracker, Reservation, ReservationId, Snapshot, Timestamp,
    Topology,
};

pub use auto_reserve::{is_warm, Origin};
pub use config::{CoreConfig, PlanningConfig};
pub use records::{Action, Anomaly, BoundedLog, ControllerEvent, Decision, Rule, SeriesKey};
pub use reservations::{LinkProjection, Reserved, WhatIf, WhatIfOutcome};
pub use reserve::{Endpoint, ReserveError, ReserveSpec};
pub use restore::{Prior, ReservationState, RestoreReport, Restored, Unsaved};
pub use series::Series;
pub use service_ops::{demand_of, Placed};
pub use shared::{Clock, Metrics, SharedCore, TickRunning, TickStats, EVENT_BUS_CAPACITY};
pub use tick::TickRound;

use planner::Draft;

/// The controller's state and planning; see the module docs.
#[derive(Debug)]
pub struct ControllerCore {
    config: CoreConfig,
    topology: Topology,
    rates: RateTracker,
    ledger: Ledger,
    /// Boxed: a series is about 750 B, and inline in the map's nodes each also paid for its
    /// share of their empty slots (about 1.1 KB a series in all at 3,000 switches, heaptrack).
    series: BTreeMap<SeriesKey, Box<Series>>,
    /// The series' forecast errors per model, kept as they step (read by `/metrics`).
    model_errors: model_errors::ModelErrors,
    anomalies: BoundedLog<Anomaly>,
    decisions: BoundedLog<Decision>,
    /// Links predicted hot, and what the congestion rule remembers about them (`planner.rs`).
    hot: planner::HotState,
    installed: BTreeMap<ReservationId, Vec<PortRef>>,
    /// Restored reservations waiting for their path, with the end of their grace period.
    restoring: BTreeMap<ReservationId, Timestamp>,
    /// Meter port of reservations within one switch (empty path): the destination's port.
    egress: BTreeMap<ReservationId, PortRef>,
    /// API reservations that could not follow their host (see `host_reservations.rs`).
    failed: BTreeMap<ReservationId, host_reservations::Failed>,
    outbox: Vec<ControllerEvent>,
    last_tick: Option<Timestamp>,
    next_decision: u64,
    services: crate::services::Services,
    /// Forecast-origin reservations (see `auto_reserve.rs`).
    auto: auto_reserve::AutoState,
    /// Address records as last announced on the event bus, by tenant, VIP and address.
    announced: BTreeMap<(String, Ipv4Addr, Ipv4Addr), crate::services::AddressRecord>,
    /// Scheduled events, by id (see `calendar.rs`).
    calendar: BTreeMap<u64, calendar::CalendarEvent>,
    /// Next event id (ids are never reused).
    next_event: u64,
    /// Forecast stride (see `tick.rs`): each series is observed and forecast every
    /// `stride` ticks, a `1/stride` share of them per tick.
    stride: u32,
    /// Ticks run, to pick the share whose turn it is.
    ticks: u64,
    /// Series observed by the last tick.
    observed_last: usize,
    /// Wall time the last tick spent observing them.
    forecast_cost_last: std::time::Duration,
    /// Series in the compact tier (`series/tier.rs`; series are never dropped).
    compact_series: usize,
    /// Host-pair series kept (the rest of `series` are links).
    pair_series: usize,
}

impl ControllerCore {
    /// An empty core.
    pub fn new(config: CoreConfig) -> Self {
        ControllerCore {
            topology: Topology::new(config.topology.clone()),
            rates: RateTracker::new(config.stale_after),
            ledger: Ledger::new(),
            series: BTreeMap::new(),
            model_errors: model_errors::ModelErrors::default(),
            anomalies: BoundedLog::new(config.anomaly_log),
            decisions: BoundedLog::new(config.decision_log),
            hot: planner::HotState::default(),
            installed: BTreeMap::new(),
            restoring: BTreeMap::new(),
            egress: BTreeMap::new(),
            failed: BTreeMap::new(),
            outbox: Vec::new(),
            last_tick: None,
            next_decision: 1,
            services: crate::services::Services::default(),
            auto: auto_reserve::AutoState::default(),
            announced: BTreeMap::new(),
            calendar: BTreeMap::new(),
            next_event: 1,
            stride: 1,
            ticks: 0,
            observed_last: 0,
            forecast_cost_last: std::time::Duration::ZERO,
            compact_series: 0,
            pair_series: 0,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// The live topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The latest topology snapshot (published for lock-free readers as a side effect).
    pub fn snapshot(&self) -> std::sync::Arc<Snapshot> {
        self.topology.snapshot()
    }

    /// The rate tracker.
    pub fn rates(&self) -> &RateTracker {
        &self.rates
    }

    /// The reservation ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// One series, if it has had a sample.
    pub fn series(&self, key: &SeriesKey) -> Option<&Series> {
        self.series.get(key).map(|s| &**s)
    }

    /// All series.
    pub fn all_series(&self) -> impl Iterator<Item = (&SeriesKey, &Series)> {
        self.series.iter().map(|(k, s)| (k, &**s))
    }

    /// Per model: the mean over its series of their recent one-step mean absolute error,
    /// bits/s (only models with a scored series), without walking the series.
    pub fn model_errors(&self) -> std::collections::BTreeMap<&'static str, f64> {
        self.model_errors.means()
    }

    /// How many series (links and host pairs) are kept.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// How many of them run the compact scale tier (`[planning] compact_above_series`).
    pub fn compact_series_count(&self) -> usize {
        self.compact_series
    }

    /// Recent anomalies, oldest first.
    pub fn anomalies(&self) -> &BoundedLog<Anomaly> {
        &self.anomalies
    }

    /// Recent decisions, oldest first.
    pub fn decisions(&self) -> &BoundedLog<Decision> {
        &self.decisions
    }

    /// Links currently predicted hot.
    pub fn hot_links(&self) -> &BTreeSet<LinkKey> {
        &self.hot.hot
    }

    /// Time of the last tick.
    pub fn last_tick(&self) -> Option<Timestamp> {
        self.last_tick
    }

    /// Meters the returned actions asked for, per reservation (egress ports): the desired state
    /// to reconcile a switch against when it reconnects.
    pub fn desired_meters(&self) -> &BTreeMap<ReservationId, Vec<PortRef>> {
        &self.installed
    }

    /// Whether reservation `id`'s rate is enforced by a meter: a client's (API) rate is; a
    /// forecast reservation sets capacity aside and never drops what the pair sends above the
    /// forecast (README, "Reservations").
    pub fn policed(&self, id: ReservationId) -> bool {
        !self.auto.owns(id)
    }

    /// The rate reserved on `link` at `now`, bits/s.
    pub fn reserved_now(&self, link: LinkKey, now: Timestamp) -> u64 {
        let w = prescient_topology::Window::new(now, now.plus(Duration::from_nanos(1)));
        self.ledger.committed(link, w)
    }

    /// Takes the events produced since the last call (the [`SharedCore`] publishes them).
    pub fn drain_events(&mut self) -> Vec<ControllerEvent> {
        std::mem::take(&mut self.outbox)
    }

    /// Records a decision and publishes it; returns its actions.
    fn record(&mut self, now: Timestamp, draft: Draft) -> Vec<Action> {
        let decision = Decision {
            id: self.next_decision,
            at_ns: now.nanos(),
            rule: draft.rule,
            subject: draft.subject,
            reason: draft.reason,
            actions: draft.actions.iter().map(Action::summary).collect(),
        };
        self.next_decision += 1;
        self.outbox
            .push(ControllerEvent::Decision(decision.clone()));
        self.decisions.push(decision);
        draft.actions
    }

    /// Records a services draft: hook calls in it get the decision's id and their idempotency
    /// key, and are queued for the hooks executor.
    fn record_service(&mut self, now: Timestamp, mut draft: Draft) -> Vec<Action> {
        let id = self.next_decision;
        for a in &mut draft.actions {
            if let Action::CallHook(call) = a {
                call.decision = id;
                call.key = format!("{}/{id}", call.service);
                self.services.queue_hook(call.clone());
            }
        }
        let actions = self.record(now, draft);
        self.announce_addresses();
        actions
    }

    /// Announces the address records that changed since the last announcement (every service
    /// change is recorded through `record_service`, so agents hear of it before the API
    /// answers).
    fn announce_addresses(&mut self) {
        use crate::services::{AddressChange, AddressOp};
        let now: BTreeMap<_, _> = self
            .services
            .address_records()
            .into_iter()
            .map(|r| ((r.tenant.clone(), r.logical, r.physical), r))
            .collect();
        for (k, old) in &self.announced {
            if !now.contains_key(k) {
                self.outbox.push(ControllerEvent::Address(AddressChange {
                    op: AddressOp::Delete,
                    record: old.clone(),
                }));
            }
        }
        for (k, r) in &now {
            if self.announced.get(k) != Some(r) {
                self.outbox.push(ControllerEvent::Address(AddressChange {
                    op: AddressOp::Put,
                    record: r.clone(),
                }));
            }
        }
        self.announced = now;
    }

    /// Where a reservation's entries hold its traffic: the egress port of every hop of its
    /// path, then its destination host's port when that host is on the path's last switch and
    /// it is an OpenFlow one (the path may enter that switch over a cable the flood guard
    /// blocks, whose drop rule only an entry of the reservation there overrides, as a steered
    /// path's `exit`); within one switch, the port towards its destination.
    fn ports_of(&self, r: &Reservation) -> Vec<PortRef> {
        let Some(last) = r.request.path.last() else {
            return self.egress.get(&r.id).copied().into_iter().collect();
        };
        let exit = match &r.request.subject {
            prescient_topology::Subject::HostPair { dst, .. } => {
                self.topology.host(*dst).map(|h| h.at)
            }
            prescient_topology::Subject::Flow(f) if f.dst_mac.is_some() => f
                .dst_mac
                .and_then(|mac| self.topology.host(mac))
                .map(|h| h.at),
            // One output per entry: a destination address only one host on that switch owns.
            prescient_topology::Subject::Flow(f) => f.dst_ip.and_then(|ip| {
                let mut owners = self
                    .topology
                    .hosts()
                    .filter(|h| h.at.device == last.dst.device && h.ips.contains(&ip));
                owners
                    .next()
                    .filter(|_| owners.next().is_none())
                    .map(|h| h.at)
            }),
        };
        // P4 devices deliver to their own hosts by /32 routes, with no flood guard to pass.
        let exit = exit.filter(|p| {
            p.device == last.dst.device
                && p.device.protocol == prescient_topology::Protocol::OpenFlow
        });
        r.request.path.iter().map(|l| l.src).chain(exit).collect()
    }

    /// After hosts were learned, moved or forgotten: reservations whose destination host's
    /// port changed are installed again (their entry on the last switch would send the traffic
    /// to a port the host left), and routed pairs of a host that moved are routed again.
    fn follow_hosts(
        &mut self,
        now: Timestamp,
        events: &[prescient_topology::TopologyEvent],
    ) -> Vec<Action> {
        use prescient_topology::TopologyEvent;
        let macs: BTreeSet<prescient_topology::MacAddr> = events
            .iter()
            .filter_map(|e| match e {
                TopologyEvent::HostAdded { mac, .. }
                | TopologyEvent::HostMoved { mac, .. }
                | TopologyEvent::HostRemoved { mac, .. } => Some(*mac),
                _ => None,
            })
            .collect();
        let moved: BTreeSet<prescient_topology::MacAddr> = events
            .iter()
            .filter_map(|e| match e {
                TopologyEvent::HostMoved { mac, .. } => Some(*mac),
                _ => None,
            })
            .collect();
        // Reservations placed again first: the pass below then finds their ports current.
        let mut actions = if moved.is_empty() {
            Vec::new()
        } else {
            self.replace_reservations_of(now, &moved)
        };
        if !self.installed.is_empty() {
            let ips: BTreeSet<Ipv4Addr> = macs
                .iter()
                .filter_map(|m| self.topology.host(*m))
                .flat_map(|h| h.ips.iter().copied())
                .collect();
            let touched: Vec<Reservation> = self
                .installed
                .iter()
                .filter_map(|(id, ports)| self.ledger.get(*id).map(|r| (r, ports)))
                .filter(|(r, _)| !r.request.path.is_empty())
                .filter(|(r, _)| match &r.request.subject {
                    prescient_topology::Subject::HostPair { dst, .. } => macs.contains(dst),
                    prescient_topology::Subject::Flow(f) => {
                        f.dst_mac.is_some_and(|mac| macs.contains(&mac))
                            || f.dst_ip.is_some_and(|ip| ips.contains(&ip))
                    }
                })
                .filter(|(r, ports)| self.ports_of(r) != **ports)
                .map(|(r, _)| r.clone())
                .collect();
            for r in touched {
                actions.push(self.install(&r));
            }
        }
        if !moved.is_empty() {
            actions.extend(self.reroute_pairs_of(now, &moved));
        }
        actions
    }

    /// Meter actions for a reservation that is no longer where it was.
    fn uninstall(&mut self, id: ReservationId) -> Option<Action> {
        self.installed.remove(&id).map(|ports| Action::RemoveMeter {
            reservation: id,
            ports,
        })
    }

    /// Meter actions for a reservation whose rate or path changed. On the ports it is installed
    /// on, one install over the old one, which the drivers apply in place (OpenFlow: a meter
    /// modify, nothing at all for an unpoliced reservation; P4: the plan's entry replaced): its
    /// flow entries keep their counters. Removed and installed again, they restarted from zero,
    /// so the pair's next counter reading gave no rate or a fraction of one and its forecast
    /// resized the reservation again (`forecast_resized` every 3-6 s in the demo). Elsewhere,
    /// removed first: the switches it leaves must drop it, also in a driver that never saw it.
    fn reinstall(&mut self, r: &Reservation) -> Vec<Action> {
        let mut actions = Vec::with_capacity(2);
        if self.installed.get(&r.id) != Some(&self.ports_of(r)) {
            actions.extend(self.uninstall(r.id));
        }
        actions.push(self.install(r));
        actions
    }

    /// Meter action for a reservation on its current path (within one switch: at the port
    /// towards its destination).
    fn install(&mut self, r: &Reservation) -> Action {
        let ports = self.ports_of(r);
        self.installed.insert(r.id, ports.clone());
        Action::InstallMeter {
            reservation: r.id,
            subject: r.request.subject.clone(),
            rate_bps: r.request.rate_bps,
            police: self.policed(r.id),
            ports,
        }
    }
}

#[cfg(test)]
mod calendar_tests;
#[cfg(test)]
mod host_moves_tests;
#[cfg(test)]
mod services_tests;
#[cfg(test)]
mod steer_hold_tests;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tick_steps_tests;
#[cfg(test)]
mod tier_tests;
