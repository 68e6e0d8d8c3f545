//! Binds the OpenFlow sessions to the controller core.
//!
//! Events from the switches go into the core (devices, ports, LLDP links, hosts, counters); the
//! core's LLDP probes, its planned actions (meters for reservations, steered paths) and the
//! flood-loop guard leave as OpenFlow messages. Everything this driver installs goes through
//! [`OpenFlowHandle::install`], so it is desired state that a reconnecting switch gets back.
//!
//! The flood-loop guard (a spanning tree of the discovered links; traffic other than LLDP
//! entering on a link outside it is dropped) is in `flood_guard.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use prescient_southbound::device::{PortChange, PortInfo};
use prescient_southbound::openflow::session::{
    Command, EventReceiver, OpenFlowHandle, SwitchEvent,
};
use prescient_southbound::openflow::wire::{
    DatapathId, FlowMod, Match, OxmField, PacketOut, PortNo as OfPort,
};
use prescient_topology::{
    DeviceId, FlowKey, MacAddr, Port, PortCounters, PortNo, PortRef, Protocol,
};
use tokio_util::sync::CancellationToken;

use super::forecast_pool::ForecastPool;
use super::p4runtime::{P4Fleet, P4Inbox};

mod clock;
mod flood_guard;
mod packet_ins;
mod reserved;
mod services;
mod ticking;
use crate::core::{Action, SharedCore};
pub use flood_guard::blocked_ports;
use flood_guard::Pace;
use reserved::ReservedFlows;

/// Priority of the rules that drop traffic arriving on a link outside the spanning tree.
const BLOCK_PRIORITY: u16 = 50_000;
/// Priority of the LLDP exception above the block rules (discovery must see every link).
const LLDP_PRIORITY: u16 = 50_001;
/// Priority of steered paths and reservations: above the block rules, so any link may carry them.
const STEER_PRIORITY: u16 = 60_000;
const ETH_TYPE_LLDP: u16 = 0x88cc;
const ETH_TYPE_IPV4: u16 = 0x0800;
/// Most events taken from the stream per wake-up.
const EVENT_BATCH: usize = 512;
/// Longest the control tick holds the core's lock at a time, its beginning and its end apart
/// (see `SharedCore::tick_in_slices`): an API call or a session's event waits about this long
/// behind a tick, not the whole tick.
const TICK_SLICE: Duration = Duration::from_millis(4);
/// Cookie tag of reservation flows (low 32 bits: the reservation id), so counters map back.
const RESERVATION_COOKIE: u64 = 0x5052_4553_0000_0000;

/// Timers of the driver.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// How often due LLDP probes are collected from the core and sent.
    pub probe_poll: Duration,
    /// Time between two planning ticks of the core.
    pub control_interval: Duration,
    /// Cluster mode: plan, probe and program only while this node leads.
    pub cluster: Option<Arc<crate::cluster::ClusterState>>,
    /// Where the control tick runs: off the runtime's workers, below the sessions' priority.
    pub forecast: Arc<ForecastPool>,
}

impl DriverConfig {
    /// Probes collected every 500 ms, a tick a second on `forecast`, single process.
    pub fn new(forecast: Arc<ForecastPool>) -> Self {
        DriverConfig {
            probe_poll: Duration::from_millis(500),
            control_interval: Duration::from_secs(1),
            cluster: None,
            forecast,
        }
    }
}

/// Runs until `cancel` fires or the event stream ends.
///
/// This loop also collects the core's LLDP probes for every device and owns the core's action
/// outlet: probes of P4Runtime devices, and every action's P4Runtime part, are handed to the
/// device tasks through `p4_inboxes` (keyed by device id; see `p4runtime::fleet`). Every
/// action it applies comes from the outlet, in the order the core decided it: the switches'
/// events, the tick and the P4Runtime devices put theirs there under the core's lock.
///
/// The control tick runs beside the loop (`ticking.rs`): events, probes and the outlet are
/// served while it runs, and the next tick starts only once it has ended.
pub async fn run(
    core: Arc<SharedCore>,
    handle: OpenFlowHandle,
    mut events: EventReceiver,
    config: DriverConfig,
    p4_inboxes: BTreeMap<u64, P4Inbox>,
    cancel: CancellationToken,
) {
    let mut driver = Driver {
        core,
        handle,
        blocked: BTreeMap::new(),
        clocks: clock::SwitchClocks::default(),
        snapshot_version: None,
        guard_pace: Pace::default(),
        p4: P4Fleet::new(p4_inboxes),
        cluster: config.cluster.clone(),
        reserved: ReservedFlows::default(),
    };
    let mut probes = tokio::time::interval(config.probe_poll);
    let mut ticks = tokio::time::interval(config.control_interval);
    let mut governor = super::stride::Governor::default();
    probes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tick: ticking::InFlight = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            ev = events.recv() => match ev {
                Some(ev) => {
                    // What else is already queued goes with it: punted frames then enter the
                    // core together (see `on_packet_ins`).
                    let mut batch = vec![ev];
                    while batch.len() < EVENT_BATCH {
                        match events.try_recv() {
                            Ok(ev) => batch.push(ev),
                            Err(_) => break,
                        }
                    }
                    driver.on_events(batch);
                    // Their actions, and whatever the core decided before them, now.
                    let decided = driver.core.take_actions();
                    driver.apply(decided).await;
                }
                None => break,
            },
            _ = probes.tick() => driver.send_probes().await,
            // The next tick is due only once this one ended: none overlaps another, and a
            // late one starts at once (`MissedTickBehavior::Delay`).
            due = ticks.tick(), if tick.is_none() => if driver.acting() {
                tick = Some(ticking::start(
                    driver.core.clone(),
                    config.forecast.clone(),
                    due.into_std(),
                ));
            },
            ended = ticking::ended(&mut tick) => {
                tick = None;
                let ticking::Ended { cost, stride } = ended;
                let next = governor.next(stride, cost, config.control_interval);
                if next != stride {
                    tracing::info!(
                        from = stride, to = next, series = cost.total,
                        tick_ms = cost.took.as_millis(),
                        "forecast stride changed: each series now steps every {next} ticks"
                    );
                    driver.core.apply(|c| c.set_series_stride(next));
                }
            },
            actions = driver.core.next_actions() => driver.apply(actions).await,
        }
        driver.core.publish_due();
        driver.guard_floods().await;
    }
}

struct Driver {
    core: Arc<SharedCore>,
    handle: OpenFlowHandle,
    /// Ports whose ingress is blocked, per switch, as installed.
    blocked: BTreeMap<DatapathId, BTreeSet<u32>>,
    snapshot_version: Option<u64>,
    /// When the flood guard last ran and what it cost.
    guard_pace: Pace,
    /// The P4Runtime devices' share of every action, and their probe queues.
    p4: P4Fleet,
    cluster: Option<Arc<crate::cluster::ClusterState>>,
    /// Port counter samples on the switches' own clocks.
    clocks: clock::SwitchClocks,
    /// Reservation flows and meters as programmed: one entry per switch and match.
    reserved: ReservedFlows,
}

impl Driver {
    /// Whether this node may plan and write to switches: always in single-process mode; in
    /// a cluster only while it leads. A follower keeps its sessions and learns from their
    /// events, but its switches hold it as SLAVE and the leader's core is the truth.
    fn acting(&self) -> bool {
        self.cluster.as_ref().is_none_or(|c| c.is_leader())
    }

    /// Events in the order they came; each run of packet-ins enters the core at once. What the
    /// core decides goes to the outlet, in that order, for the caller to apply.
    fn on_events(&mut self, batch: Vec<SwitchEvent>) {
        let mut packet_ins = Vec::new();
        for ev in batch {
            match ev {
                SwitchEvent::PacketIn { dpid, packet } => packet_ins.push((dpid, packet)),
                other => {
                    self.on_packet_ins(std::mem::take(&mut packet_ins));
                    self.on_event(other);
                }
            }
        }
        self.on_packet_ins(packet_ins);
    }

    fn on_event(&mut self, ev: SwitchEvent) {
        let now = self.core.now();
        let metrics = self.core.metrics();
        match ev {
            SwitchEvent::SwitchUp(info) => {
                metrics.count_messages("switch_up", 1);
                let device = DeviceId::openflow(info.dpid.0);
                let ports = info.ports.iter().filter_map(to_port).collect();
                // Open vSwitch names the bridge's local port after the bridge: the name the
                // lab (Mininet's `s1`, `ATLAng`) gave the switch.
                let name = info
                    .ports
                    .iter()
                    .find(|p| p.number == OfPort::LOCAL.0 && !p.name.is_empty())
                    .map(|p| p.name.clone());
                self.core.decide(|c| {
                    let actions = c.device_up(now, device, ports);
                    if let Some(name) = name {
                        c.device_named(device, name);
                    }
                    actions
                });
            }
            SwitchEvent::SwitchDown { dpid, reason } => {
                metrics.count_messages("switch_down", 1);
                tracing::debug!(%dpid, %reason, "switch down");
                // Its block rules are gone with the session; recompute them on the next change.
                self.blocked.remove(&dpid);
                self.clocks.forget_device(DeviceId::openflow(dpid.0));
                self.core
                    .decide(|c| c.device_down(now, DeviceId::openflow(dpid.0)));
            }
            SwitchEvent::PortStatus { dpid, change, port } => {
                metrics.count_messages("port_status", 1);
                let device = DeviceId::openflow(dpid.0);
                let at = PortRef {
                    device,
                    port: PortNo(port.number),
                };
                self.core.decide(|c| {
                    let result = match (change, to_port(&port)) {
                        (PortChange::Removed, _) => Ok(c.port_removed(now, at)),
                        (PortChange::Added, Some(p)) => c.port_added(now, device, p),
                        (PortChange::Modified, Some(p)) => c.port_changed(now, device, p),
                        (_, None) => Ok(Vec::new()),
                    };
                    result.unwrap_or_else(|e| {
                        tracing::debug!(%dpid, "port status not applied: {e}");
                        Vec::new()
                    })
                });
            }
            SwitchEvent::PacketIn { dpid, packet } => self.on_packet_ins(vec![(dpid, packet)]),
            SwitchEvent::PortStats { dpid, counters } => {
                metrics.count_messages("port_stats", 1);
                let device = DeviceId::openflow(dpid.0);
                let stamped: Vec<_> = counters
                    .iter()
                    .filter(|s| PortNo(s.number).is_physical())
                    .map(|s| {
                        let port = PortRef {
                            device,
                            port: PortNo(s.number),
                        };
                        (port, self.clocks.stamp(port, now, s.duration_ns), s)
                    })
                    .collect();
                self.core.apply(|c| {
                    for (port, stamp, s) in stamped {
                        let sample = if stamp.rebased {
                            crate::core::ControllerCore::port_counters_rebased
                        } else {
                            crate::core::ControllerCore::port_counters
                        };
                        sample(
                            c,
                            stamp.at,
                            port,
                            PortCounters {
                                rx_bytes: s.rx_bytes,
                                tx_bytes: s.tx_bytes,
                                rx_packets: s.rx_packets,
                                tx_packets: s.tx_packets,
                            },
                        );
                    }
                });
            }
            SwitchEvent::FlowStats { dpid, flows } => {
                metrics.count_messages("flow_stats", 1);
                let device = DeviceId::openflow(dpid.0);
                self.core.apply(|c| {
                    // The reply lists every entry of every table: what it leaves out is gone.
                    let mut listed = BTreeSet::new();
                    for f in &flows {
                        let pair = host_pair(&f.match_);
                        // Without a cookie flows are told apart by nothing stable; only the
                        // host-pair flows (reactive and steered) feed the traffic matrix.
                        if pair.is_none() && f.cookie == 0 {
                            continue;
                        }
                        let cookie = if f.cookie != 0 {
                            f.cookie
                        } else {
                            pair.map_or(0, |(s, d)| super::pair_cookie(s, d))
                        };
                        listed.insert(cookie);
                        c.flow_counters(
                            now,
                            FlowKey { device, cookie },
                            pair,
                            f.byte_count,
                            f.packet_count,
                        );
                    }
                    c.flows_listed(device, &listed);
                });
            }
            SwitchEvent::FlowRemoved { .. } => {
                metrics.count_messages("flow_removed", 1);
            }
            SwitchEvent::Error {
                dpid, xid, kind, ..
            } => {
                metrics.count_messages("error", 1);
                tracing::warn!(%dpid, ?xid, ?kind, "switch reported an error");
            }
            SwitchEvent::ProtocolError { dpid, xid, error } => {
                metrics.count_messages("protocol_error", 1);
                tracing::warn!(?dpid, ?xid, "malformed message from switch: {error}");
            }
        }
    }

    async fn send_probes(&mut self) {
        if !self.acting() {
            return;
        }
        let now = self.core.now();
        let probes = self.core.apply(|c| c.probes(now));
        for probe in probes {
            if probe.port.device.protocol == Protocol::P4Runtime {
                // Probes recur every interval: one that finds its driver busy is skipped.
                self.p4.probe(probe);
                continue;
            }
            let dpid = DatapathId(probe.port.device.id);
            let out = PacketOut::to_port(OfPort(probe.port.port.0), Bytes::from(probe.frame));
            // A probe that cannot be sent (switch just left) is simply not sent: the next round
            // tries again, and link expiry handles a switch that stays away.
            if let Err(e) = self.handle.send(dpid, Command::PacketOut(out)).await {
                tracing::debug!(%dpid, "LLDP probe not sent: {e}");
            }
        }
    }

    /// Turns the core's intents into OpenFlow writes on the switches they name, and hands
    /// their P4Runtime part to the P4 plan. Each action passes here once, taken from the
    /// outlet in the order the core decided it. A node that does not lead (any more) writes
    /// nothing: what the core decided while it led is the new leader's to reconcile.
    async fn apply(&mut self, actions: Vec<Action>) {
        if actions.is_empty() || !self.acting() {
            return;
        }
        self.p4.apply(&actions);
        for action in actions {
            for (dpid, cmd) in commands_with(&mut self.reserved, &action) {
                if let Err(e) = self.handle.install(dpid, cmd).await {
                    tracing::warn!(%dpid, action = %action.summary(), "not installed: {e}");
                }
            }
        }
    }

    async fn install(&self, dpid: DatapathId, fm: FlowMod) {
        if let Err(e) = self.handle.install(dpid, Command::FlowMod(fm)).await {
            tracing::debug!(%dpid, "flood guard rule not installed: {e}");
        }
    }
}

/// The OpenFlow messages that carry out one core action, per switch, on switches that hold no
/// other reservation.
#[cfg(test)]
pub(super) fn commands(action: &Action) -> Vec<(DatapathId, Command)> {
    commands_with(&mut ReservedFlows::default(), action)
}

/// The OpenFlow messages that carry out one core action, per switch, given the reservations
/// the switches already carry (`reserved`, updated).
fn commands_with(reserved: &mut ReservedFlows, action: &Action) -> Vec<(DatapathId, Command)> {
    match action {
        Action::InstallMeter { .. } | Action::RemoveMeter { .. } | Action::InstallPath { .. } => {
            reserved.apply(action)
        }
        Action::SetTranslation { .. }
        | Action::RemoveTranslation { .. }
        | Action::SetServiceBackends { .. }
        | Action::CallHook(_) => services::commands(action).unwrap_or_default(),
    }
}

/// A switch port as the topology models it; reserved ports (LOCAL, ...) are left out.
fn to_port(p: &PortInfo) -> Option<Port> {
    let no = PortNo(p.number);
    no.is_physical().then(|| Port {
        no,
        name: p.name.clone(),
        mac: MacAddr(p.mac),
        up: p.is_live(),
        reported_speed_bps: (p.speed_kbps > 0).then(|| u64::from(p.speed_kbps) * 1000),
    })
}

/// The (source, destination) hosts a flow entry is about, when it matches both MACs exactly.
fn host_pair(m: &Match) -> Option<(MacAddr, MacAddr)> {
    let mut src = None;
    let mut dst = None;
    for f in &m.fields {
        match f {
            OxmField::EthSrc { addr, mask: None } => src = Some(MacAddr(addr.0)),
            OxmField::EthDst { addr, mask: None } => dst = Some(MacAddr(addr.0)),
            _ => {}
        }
    }
    Some((src?, dst?)).filter(|(_, d)| !d.is_multicast())
}

#[cfg(test)]
fn snapshot_of(links: &[prescient_topology::LinkKey]) -> prescient_topology::Snapshot {
    let devices = links
        .iter()
        .flat_map(|l| [l.src.device, l.dst.device])
        .collect();
    let links = links
        .iter()
        .map(|&key| prescient_topology::SnapshotLink {
            key,
            capacity_bps: 1_000_000_000,
            cost: 1,
        })
        .collect();
    prescient_topology::Snapshot::build(
        prescient_topology::Timestamp(0),
        1,
        devices,
        links,
        BTreeMap::new(),
    )
}

#[cfg(test)]
fn link(a: (u64, u32), b: (u64, u32)) -> prescient_topology::LinkKey {
    prescient_topology::LinkKey {
        src: PortRef {
            device: DeviceId::openflow(a.0),
            port: PortNo(a.1),
        },
        dst: PortRef {
            device: DeviceId::openflow(b.0),
            port: PortNo(b.1),
        },
    }
}

#[cfg(test)]
mod loop_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use prescient_southbound::openflow::wire::{
        Action as OfAction, Instruction, MeterBand, MeterFlags, MeterId,
    };
    use prescient_topology::Subject;

    #[test]
    fn reservation_meters_police_at_the_reserved_rate_on_every_hop() {
        let action = Action::InstallMeter {
            reservation: prescient_topology::ReservationId(7),
            subject: Subject::HostPair {
                src: MacAddr([0, 0, 0, 0, 0, 1]),
                dst: MacAddr([0, 0, 0, 0, 0, 2]),
            },
            rate_bps: 10_000_000,
            police: true,
            ports: vec![link((1, 2), (2, 1)).src, link((2, 2), (3, 1)).src],
        };
        let cmds = commands(&action);
        assert_eq!(cmds.len(), 4);
        match &cmds[0].1 {
            Command::MeterMod(mm) => {
                assert_eq!(mm.meter_id, MeterId(7));
                // A tenth of a second of burst, used (BURST): Open vSwitch's default bucket
                // is a whole second and lets a sender run 17 % over for seconds.
                assert_eq!(
                    mm.bands,
                    vec![MeterBand::Drop {
                        rate: 10_000,
                        burst_size: 1_000
                    }]
                );
                assert!(mm.flags.0 & MeterFlags::BURST.0 != 0);
            }
            other => panic!("expected a meter first, got {other:?}"),
        }
        match &cmds[3].1 {
            Command::FlowMod(fm) => {
                assert_eq!(fm.priority, STEER_PRIORITY);
                assert_eq!(
                    fm.instructions[1],
                    Instruction::ApplyActions(vec![OfAction::output(OfPort(2))])
                );
                assert_eq!(cmds[3].0, DatapathId(2));
            }
            other => panic!("expected a flow, got {other:?}"),
        }
    }
}
