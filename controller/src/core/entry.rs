//! Southbound entry points: what the sessions report, applied to the topology and the rate
//! tracker. Topology changes realign the ledger at once (reroutes become actions).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use prescient_topology::{
    DeviceId, FlowKey, MacAddr, Port, PortCounters, PortRef, Probe, RerouteOutcome, SampleOutcome,
    Timestamp, TopologyError, TopologyEvent,
};

use super::naming::{link_id, port_id};
use super::planner::Draft;
use super::records::{Action, ControllerEvent, Rule};
use super::ControllerCore;

impl ControllerCore {
    /// A device connected with these ports (a reconnect replaces them).
    pub fn device_up(&mut self, now: Timestamp, device: DeviceId, ports: Vec<Port>) -> Vec<Action> {
        let events = self.topology.device_up(now, device, ports);
        self.after_topology(now, events)
    }

    /// A device disconnected.
    pub fn device_down(&mut self, now: Timestamp, device: DeviceId) -> Vec<Action> {
        let events = self.topology.device_down(now, device);
        self.after_topology(now, events)
    }

    /// A port appeared.
    pub fn port_added(
        &mut self,
        now: Timestamp,
        device: DeviceId,
        port: Port,
    ) -> Result<Vec<Action>, TopologyError> {
        let events = self.topology.port_added(now, device, port)?;
        Ok(self.after_topology(now, events))
    }

    /// The device's name as its switch reports it (an Open vSwitch bridge name).
    pub fn device_named(&mut self, device: DeviceId, name: String) {
        self.topology.set_device_name(device, name);
    }

    /// A port changed state or speed.
    pub fn port_changed(
        &mut self,
        now: Timestamp,
        device: DeviceId,
        port: Port,
    ) -> Result<Vec<Action>, TopologyError> {
        let events = self.topology.port_changed(now, device, port)?;
        Ok(self.after_topology(now, events))
    }

    /// A port disappeared; its counters are forgotten.
    pub fn port_removed(&mut self, now: Timestamp, port: PortRef) -> Vec<Action> {
        self.rates.forget_port(port);
        let events = self.topology.port_removed(now, port);
        self.after_topology(now, events)
    }

    /// An LLDP frame arrived at `at` (packet-in).
    pub fn lldp_frame_received(
        &mut self,
        now: Timestamp,
        at: PortRef,
        frame: &[u8],
    ) -> Result<Vec<Action>, TopologyError> {
        let events = self.topology.lldp_frame_received(now, at, frame)?;
        Ok(self.after_topology(now, events))
    }

    /// An LLDP probe sent out of `from` arrived at `at` (already parsed by the caller).
    pub fn lldp_received(
        &mut self,
        now: Timestamp,
        at: PortRef,
        from: PortRef,
    ) -> Result<Vec<Action>, TopologyError> {
        let events = self.topology.lldp_received(now, at, from)?;
        Ok(self.after_topology(now, events))
    }

    /// A frame from host `mac` (IPv4 `ip` if known) arrived at `at`.
    pub fn host_seen(
        &mut self,
        now: Timestamp,
        mac: MacAddr,
        ip: Option<Ipv4Addr>,
        at: PortRef,
    ) -> Result<Vec<Action>, TopologyError> {
        let events = self.topology.host_seen(now, mac, ip, at)?;
        Ok(self.after_topology(now, events))
    }

    /// LLDP probes due at `now`, to send as packet-outs.
    pub fn probes(&mut self, now: Timestamp) -> Vec<Probe> {
        self.topology.probes(now)
    }

    /// Port counters sampled at `now`.
    pub fn port_counters(
        &mut self,
        now: Timestamp,
        port: PortRef,
        counters: PortCounters,
    ) -> SampleOutcome {
        self.rates.port_sample(port, now, counters)
    }

    /// Port counters sampled at `now` on a clock that jumped since the port's last sample: a
    /// new baseline, no rate across the jump.
    pub fn port_counters_rebased(
        &mut self,
        now: Timestamp,
        port: PortRef,
        counters: PortCounters,
    ) -> SampleOutcome {
        self.rates.forget_port(port);
        self.rates.port_sample(port, now, counters)
    }

    /// One flow entry's counters sampled at `now`; `pair` is the (source, destination) hosts
    /// it carries, when the entry matches on them.
    pub fn flow_counters(
        &mut self,
        now: Timestamp,
        flow: FlowKey,
        pair: Option<(MacAddr, MacAddr)>,
        bytes: u64,
        packets: u64,
    ) -> SampleOutcome {
        self.rates.flow_sample(flow, pair, now, bytes, packets)
    }

    /// A complete read of `device`'s flow tables listed only the entries with cookies `listed`:
    /// the others were replaced or removed and stop counting in the traffic matrix (what they
    /// counted stays in their pairs' bytes). Returns how many were forgotten.
    pub fn flows_listed(&mut self, device: DeviceId, listed: &BTreeSet<u64>) -> usize {
        self.rates.sweep_flows(device, listed)
    }

    /// Publishes what changed, realigns the ledger and turns reroutes into actions; then
    /// places the failed reservations a path with room now exists for.
    pub(super) fn after_topology(
        &mut self,
        now: Timestamp,
        events: Vec<TopologyEvent>,
    ) -> Vec<Action> {
        if events.is_empty() {
            return Vec::new();
        }
        let mut actions = self.realign(now, events);
        actions.extend(self.retry_failed(now));
        actions
    }

    /// [`Self::after_topology`] but for the failed reservations.
    fn realign(&mut self, now: Timestamp, events: Vec<TopologyEvent>) -> Vec<Action> {
        let changes: Vec<String> = events.iter().map(describe).collect();
        // Link and host changes explain most route changes a test or an operator sees.
        tracing::debug!("topology: {}", changes.join("; "));
        self.outbox.push(ControllerEvent::Topology { changes });
        // Hosts learned, moved or forgotten change no device and no link, and the ledger
        // and the restoring reservations depend on those alone: nothing to realign, and no
        // snapshot to rebuild per host (it is rebuilt whole, once per entry point, when the
        // entry point ends) while a network's hosts are being learned. Only the entries that
        // deliver to a host follow it.
        let is_host = |e: &TopologyEvent| {
            matches!(
                e,
                TopologyEvent::HostAdded { .. }
                    | TopologyEvent::HostMoved { .. }
                    | TopologyEvent::HostRemoved { .. }
            )
        };
        let host_only = events.iter().all(is_host);
        if host_only {
            return self.follow_hosts(now, &events);
        }
        // Hosts that moved in a change with links in it (a host relayed onto a cable's port
        // goes back when the cable is found) are followed first: their pairs get routes on
        // the new topology, which the link passes below then find live. Changes without a
        // host (discovery's thousands of links) skip the pass over installed reservations.
        let mut actions = if events.iter().any(is_host) {
            self.follow_hosts(now, &events)
        } else {
            Vec::new()
        };
        // Most changes name the links that came and went: the ledger learns or forgets just
        // those, and only reservations on them are placed again. Realigning against a whole
        // new snapshot per change cost O(network) per link (and per switch leaving),
        // O(network^2) to discover a network: 10,000 switches have 40,000 links. A port whose
        // speed may have changed moves the capacity of links it does not name: a whole pass.
        let whole_pass = events.iter().any(|e| {
            matches!(
                e,
                TopologyEvent::PortAdded { .. } | TopologyEvent::PortChanged { .. }
            )
        });
        if !whole_pass {
            actions.extend(self.after_link_changes(now, &events));
            return actions;
        }
        let snapshot = self.topology.snapshot();
        // Restored reservations wait for their links (until their grace period ends) instead
        // of being rerouted the moment one of them flaps.
        let restoring = self.restoring_ids();
        for outcome in self.ledger.apply_topology_sparing(&snapshot, &restoring) {
            actions.extend(self.settle(now, outcome));
        }
        actions.extend(self.advance_restoring(now));
        actions.extend(self.reroute_broken_pairs(now));
        actions
    }

    /// [`Self::after_topology`] for changes whose effect on the ledger is in the links they
    /// name: the same outcome as realigning against a new snapshot (the same reservations
    /// displaced, placed again in the same order), without building one unless a reservation
    /// must be placed again or a routed pair lost a link.
    fn after_link_changes(&mut self, now: Timestamp, events: &[TopologyEvent]) -> Vec<Action> {
        let restoring = self.restoring_ids();
        let mut displaced = Vec::new();
        let mut removed = false;
        for e in events {
            match e {
                TopologyEvent::LinkAdded { link } => {
                    if let Some(cap) = self.topology.link_capacity(*link) {
                        displaced.extend(self.ledger.set_capacity(*link, cap));
                    }
                }
                TopologyEvent::LinkRemoved { link, .. } => {
                    removed = true;
                    displaced.extend(self.ledger.remove_link_sparing(*link, &restoring));
                }
                _ => {}
            }
        }
        let mut actions = Vec::new();
        if !displaced.is_empty() {
            let snapshot = self.topology.snapshot();
            for outcome in self.ledger.reroute(&snapshot, displaced) {
                actions.extend(self.settle(now, outcome));
            }
        }
        actions.extend(self.advance_restoring(now));
        if removed {
            actions.extend(self.reroute_broken_pairs(now));
        }
        actions
    }

    fn settle(&mut self, now: Timestamp, outcome: RerouteOutcome) -> Vec<Action> {
        match outcome {
            RerouteOutcome::Rerouted {
                reservation,
                preempted,
            } => {
                let mut acts = Vec::new();
                acts.extend(self.preempt(now, &preempted, reservation.id.0));
                acts.extend(self.uninstall(reservation.id));
                acts.push(self.install(&reservation));
                let path: Vec<String> = reservation
                    .request
                    .path
                    .iter()
                    .map(|l| link_id(*l))
                    .collect();
                self.record(
                    now,
                    Draft {
                        rule: Rule::ReservationRerouted,
                        subject: format!("reservation/{}", reservation.id.0),
                        reason: format!(
                            "a link of its path left the topology or lost capacity; new path [{}] has room for {} bit/s",
                            path.join(" "),
                            reservation.request.rate_bps
                        ),
                        actions: acts,
                    },
                )
            }
            RerouteOutcome::Unplaceable {
                reservation,
                reason,
            } => {
                let id = reservation.id;
                let acts: Vec<Action> = self.uninstall(id).into_iter().collect();
                // ONOS keeps an intent whose path broke and compiles it again when the
                // topology returns: a restarting switch must not cost an accepted reservation.
                // It keeps its place in the ledger (only links still known count) and waits
                // like a reservation restored after a controller restart.
                let grace = self.config.path_grace;
                if !grace.is_zero() && self.ledger.restore(reservation.clone()).is_ok() {
                    self.restoring.insert(id, now.plus(grace));
                    return self.record(
                        now,
                        Draft {
                            rule: Rule::ReservationWaiting,
                            subject: format!("reservation/{}", id.0),
                            reason: format!(
                                "its path broke and no other path has room ({reason}); it keeps its place and waits up to {} s for its path to come back",
                                grace.as_secs()
                            ),
                            actions: acts,
                        },
                    );
                }
                self.record(
                    now,
                    Draft {
                        rule: Rule::ReservationDropped,
                        subject: format!("reservation/{}", reservation.id.0),
                        reason: format!("its path broke and it cannot be placed again: {reason}"),
                        actions: acts,
                    },
                )
            }
        }
    }

    /// Decisions and meter removals for reservations preempted by reservation `by`.
    pub(super) fn preempt(
        &mut self,
        now: Timestamp,
        preempted: &[prescient_topology::Reservation],
        by: u64,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        for p in preempted {
            let acts: Vec<Action> = self.uninstall(p.id).into_iter().collect();
            actions.extend(self.record(
                now,
                Draft {
                    rule: Rule::ReservationPreempted,
                    subject: format!("reservation/{}", p.id.0),
                    reason: format!(
                        "tier {} preempted by reservation {by} of a higher tier",
                        p.request.tier
                    ),
                    actions: acts,
                },
            ));
        }
        actions
    }
}

/// One line per topology change, for the event stream.
fn describe(e: &TopologyEvent) -> String {
    match e {
        TopologyEvent::DeviceUp { device } => format!("device {device} up"),
        TopologyEvent::DeviceDown { device } => format!("device {device} down"),
        TopologyEvent::PortAdded { port } => format!("port {} added", port_id(*port)),
        TopologyEvent::PortChanged { port, up } => format!(
            "port {} {}",
            port_id(*port),
            if *up { "up" } else { "down" }
        ),
        TopologyEvent::PortRemoved { port } => format!("port {} removed", port_id(*port)),
        TopologyEvent::LinkAdded { link } => format!("link {} added", link_id(*link)),
        TopologyEvent::LinkRemoved { link, reason } => {
            format!("link {} removed ({reason:?})", link_id(*link))
        }
        TopologyEvent::HostAdded { mac, at } => format!("host {mac} at {}", port_id(*at)),
        TopologyEvent::HostMoved { mac, from, to } => {
            format!("host {mac} moved {} -> {}", port_id(*from), port_id(*to))
        }
        TopologyEvent::HostRemoved { mac, at } => {
            format!("host {mac} left {}", port_id(*at))
        }
    }
}
