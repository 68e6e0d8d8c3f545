//! A whole emulated OpenFlow network in one process: one tokio task per switch (see
//! [`driver`](super::driver)), links that carry frames between them, hosts at edge ports, and the
//! traffic model feeding port counters.
//!
//! Invariants:
//! - A frame sent out of a port whose link is up arrives at the linked port's switch (or host),
//!   unless that switch's inbox is full: then it is dropped and counted as `tx_dropped` on the
//!   sending port (bounded channels, never blocking a switch on a neighbour).
//! - Port counters of delivered frames are counted once at each end (tx at the sender, rx at the
//!   receiver), like the traffic model's, so they stay consistent along links.
//! - `shutdown()` stops every task and waits for them; no task outlives the handle's shutdown.
//! - Switches run by another emulator ([`Foreign`], the mixed fabric's P4Runtime side) get no
//!   task here: frames to them are counted `tx` at the sender and handed over, their `rx` is
//!   theirs to count; frames from them enter through a [`FrameInlet`], counted `rx` here.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use prescient_southbound::openflow::wire::{ControllerRole, DatapathId, PortNo};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::agent::AgentStats;
use super::flow_table::FlowEntry;
pub use super::wiring::{Foreign, SimOptions, Volume, HOST_RING, INBOX};
use super::wiring::{HostSlot, PortWire, Shared, SwitchInput, SwitchSlot};
use crate::topology::{Endpoint, PortPeer, SimTopology};
use crate::traffic::{
    FabricCounters, PortCounterValues, TrafficConfig, TrafficEngine, TrafficModel,
};

/// Why a handle call failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SimError {
    /// No switch has this datapath id.
    #[error("no emulated switch has datapath id {0}")]
    UnknownSwitch(DatapathId),
    /// No host has this index.
    #[error("no host with index {0}")]
    UnknownHost(usize),
    /// The two switches are not linked.
    #[error("switches {0} and {1} are not linked")]
    NoLink(DatapathId, DatapathId),
    /// The switch's task is gone (shut down).
    #[error("switch {0} is not running")]
    Stopped(DatapathId),
    /// The switch is run by another emulator (a P4Runtime switch of a mixed fabric).
    #[error("switch {0} is run by another emulator, not this OpenFlow one")]
    Foreign(DatapathId),
    /// The switch's inbox is full.
    #[error("switch {0} is overloaded: its inbox of {INBOX} is full")]
    Busy(DatapathId),
}

/// A network ready to start: topology, traffic model, options.
#[derive(Debug, Clone)]
pub struct SimNetwork {
    topo: SimTopology,
    options: SimOptions,
    foreign: Option<Arc<dyn Foreign>>,
}

impl SimNetwork {
    /// A network of `topo` with default options and `traffic`.
    pub fn build(topo: SimTopology, traffic: TrafficConfig) -> SimNetwork {
        SimNetwork {
            topo,
            options: SimOptions {
                traffic,
                ..SimOptions::default()
            },
            foreign: None,
        }
    }

    /// Replaces the options.
    pub fn with_options(mut self, options: SimOptions) -> SimNetwork {
        self.options = options;
        self
    }

    /// Leaves the switches `foreign` runs to it: frames cross to them through it, and it hears
    /// of every traffic step.
    pub fn with_foreign(mut self, foreign: Arc<dyn Foreign>) -> SimNetwork {
        self.foreign = Some(foreign);
        self
    }

    /// The topology.
    pub fn topology(&self) -> &SimTopology {
        &self.topo
    }

    /// Starts every switch (connecting to `controller`, reconnecting with backoff) and the
    /// traffic model. Must be called within a tokio runtime.
    pub fn spawn(self, controller: SocketAddr) -> SimHandle {
        self.spawn_with_controllers(vec![controller])
    }

    /// Starts every switch connected to each of `controllers` (as a bridge with several
    /// `set-controller` targets: every connection starts EQUAL, roles come from the
    /// controllers), and the traffic model. Must be called within a tokio runtime.
    pub fn spawn_with_controllers(self, controllers: Vec<SocketAddr>) -> SimHandle {
        let controllers: Arc<[SocketAddr]> = controllers.into();
        let SimNetwork {
            topo,
            options,
            foreign,
        } = self;
        let is_foreign: Vec<bool> = (0..topo.switches.len())
            .map(|i| foreign.as_ref().is_some_and(|f| f.runs(i)))
            .collect();
        let counters = Arc::new(FabricCounters::new(&topo));
        let mut peers: Vec<Vec<PortWire>> = topo
            .switches
            .iter()
            .map(|s| vec![None; s.ports.len()])
            .collect();
        let mut put = |at: Endpoint, v: (PortPeer, Option<usize>)| {
            if let Some(slot) = usize::try_from(at.port.0)
                .ok()
                .and_then(|p| p.checked_sub(1))
                .and_then(|i| peers.get_mut(at.switch)?.get_mut(i))
            {
                *slot = Some(v);
            }
        };
        for (i, l) in topo.links.iter().enumerate() {
            put(l.a, (PortPeer::Switch(l.b), Some(i)));
            put(l.b, (PortPeer::Switch(l.a), Some(i)));
        }
        for (h, host) in topo.hosts.iter().enumerate() {
            put(host.attach, (PortPeer::Host(h), None));
        }
        let mut inboxes = Vec::with_capacity(topo.switches.len());
        let switches = topo
            .switches
            .iter()
            .map(|_| {
                let (tx, rx) = mpsc::channel(INBOX);
                inboxes.push(rx);
                SwitchSlot {
                    inbox: tx,
                    connected: AtomicBool::new(false),
                    connects: AtomicU64::new(0),
                    stats: Mutex::new(AgentStats::default()),
                    roles: Mutex::new(Vec::new()),
                }
            })
            .collect();
        let engine = TrafficEngine::new(
            &topo,
            TrafficModel::new(topo.hosts.len(), options.traffic.clone()),
        );
        let no_flood = if options.spanning_tree {
            super::hosts::off_tree_ports(&topo)
        } else {
            vec![Vec::new(); topo.switches.len()]
        };
        let shared = Arc::new(Shared {
            no_flood,
            link_up: topo.links.iter().map(|_| AtomicBool::new(true)).collect(),
            hosts: topo.hosts.iter().map(|_| HostSlot::default()).collect(),
            peers,
            switches,
            counters,
            connected: AtomicUsize::new(0),
            changed: Notify::new(),
            options,
            topo,
            is_foreign,
            foreign,
        });
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        for (index, inbox) in inboxes.into_iter().enumerate() {
            if shared.is_foreign.get(index).copied().unwrap_or(false) {
                continue;
            }
            tracker.spawn(super::driver::run_switch(
                shared.clone(),
                index,
                inbox,
                controllers.clone(),
                cancel.clone(),
            ));
        }
        tracker.spawn(run_traffic(shared.clone(), engine, cancel.clone()));
        SimHandle {
            shared,
            cancel,
            tracker,
            controllers,
        }
    }
}

async fn run_traffic(shared: Arc<Shared>, mut engine: TrafficEngine, cancel: CancellationToken) {
    let opts = &shared.options;
    let start = tokio::time::Instant::now();
    let mut prev = opts.start_model_secs;
    if opts.pair_flows {
        engine.report_pairs();
    }
    // The first announcement right away: switches that are not connected yet forward it by
    // their tables or drop it, and the next one comes a period later.
    let mut announce_at = start;
    let mut every = tokio::time::interval(opts.traffic_step.max(Duration::from_millis(10)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = every.tick() => {}
        }
        let stepped = tokio::time::Instant::now();
        let now = opts.start_model_secs
            + stepped.saturating_duration_since(start).as_secs_f64() * opts.speedup;
        let up: Vec<bool> = shared
            .link_up
            .iter()
            .map(|u| u.load(Ordering::Relaxed))
            .collect();
        let volume = match opts.volume {
            Volume::ModelRate if opts.speedup > 0.0 => 1.0 / opts.speedup,
            Volume::ModelRate | Volume::ModelVolume => 1.0,
        };
        engine.step_scaled(prev, now, volume, &up, &shared.counters);
        shared.counters.mark_stepped(stepped);
        if let Some(f) = &shared.foreign {
            f.counters_moved(&shared.counters);
        }
        if opts.pair_flows {
            shared.account_pairs(&engine);
        }
        if let Some(period) = opts.announce_hosts {
            let wall = tokio::time::Instant::now();
            if wall >= announce_at {
                shared.announce_hosts();
                if opts.pair_flows {
                    shared.foreign_pair_frames(&engine);
                }
                announce_at = wall + period.max(Duration::from_millis(100));
            }
        }
        prev = now;
    }
}

/// Where frames from switches another emulator runs enter this network. Holds the network
/// weakly: once it is shut down and dropped, frames are refused.
#[derive(Debug, Clone)]
pub struct FrameInlet {
    shared: std::sync::Weak<Shared>,
}

impl FrameInlet {
    /// `frame` arrives at `to` (a port of a switch run here) having crossed `hops` switches;
    /// false when the link is down, the switch's inbox is full, or the network is gone.
    pub fn deliver(&self, to: Endpoint, frame: Bytes, hops: u8) -> bool {
        self.shared
            .upgrade()
            .is_some_and(|s| s.arrive(to, frame, hops))
    }
}

/// Control of a running emulated network.
#[derive(Debug, Clone)]
pub struct SimHandle {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    controllers: Arc<[SocketAddr]>,
}

impl SimHandle {
    /// The topology.
    pub fn topology(&self) -> &SimTopology {
        &self.shared.topo
    }

    /// Where frames from foreign switches enter (see [`Foreign`]).
    pub fn inlet(&self) -> FrameInlet {
        FrameInlet {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// The counters of every port, foreign switches' included (their traffic-model share).
    pub fn counters(&self) -> Arc<FabricCounters> {
        self.shared.counters.clone()
    }

    /// Switches whose handshake with the controller is complete (FEATURES_REPLY sent).
    pub fn connected_count(&self) -> usize {
        self.shared.connected.load(Ordering::SeqCst)
    }

    /// The controllers every switch connects to.
    pub fn controllers(&self) -> &[SocketAddr] {
        &self.controllers
    }

    /// The role each connected controller holds on switch `dpid` (EQUAL until it asks for
    /// another), as of the switch's last event.
    pub fn roles(&self, dpid: DatapathId) -> Result<Vec<(SocketAddr, ControllerRole)>, SimError> {
        let slot = self.slot(dpid)?;
        let roles = slot.roles.lock().map(|r| r.clone()).unwrap_or_default();
        Ok(roles
            .into_iter()
            .filter_map(|(conn, role)| Some((*self.controllers.get(conn)?, role)))
            .collect())
    }

    /// Whether one switch is connected.
    pub fn is_connected(&self, dpid: DatapathId) -> bool {
        self.index(dpid)
            .ok()
            .and_then(|i| self.shared.switches.get(i))
            .is_some_and(|s| s.connected.load(Ordering::SeqCst))
    }

    /// How many times a switch completed a handshake (1 + reconnects).
    pub fn connects(&self, dpid: DatapathId) -> u64 {
        self.index(dpid)
            .ok()
            .and_then(|i| self.shared.switches.get(i))
            .map_or(0, |s| s.connects.load(Ordering::Relaxed))
    }

    /// Waits until `pred(connected_count)` holds or `timeout` passes; returns whether it held.
    pub async fn wait_connected(&self, timeout: Duration, pred: impl Fn(usize) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            if pred(self.connected_count()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return pred(self.connected_count());
            }
        }
    }

    fn index(&self, dpid: DatapathId) -> Result<usize, SimError> {
        self.shared
            .topo
            .switch_index(dpid)
            .ok_or(SimError::UnknownSwitch(dpid))
    }

    fn slot(&self, dpid: DatapathId) -> Result<&SwitchSlot, SimError> {
        let i = self.index(dpid)?;
        if self.shared.is_foreign.get(i).copied().unwrap_or(false) {
            return Err(SimError::Foreign(dpid));
        }
        self.shared
            .switches
            .get(i)
            .ok_or(SimError::UnknownSwitch(dpid))
    }

    /// Host `host` sends `frame` into the network (it arrives at its edge switch's port).
    pub fn inject(&self, host: usize, frame: Bytes) -> Result<(), SimError> {
        let h = self
            .shared
            .topo
            .hosts
            .get(host)
            .ok_or(SimError::UnknownHost(host))?;
        let at = h.attach;
        let dpid = self
            .shared
            .topo
            .switches
            .get(at.switch)
            .map(|s| s.dpid)
            .unwrap_or_default();
        let slot = self.slot(dpid)?;
        let len = frame.len() as u64;
        slot.inbox
            .try_send(SwitchInput::Frame {
                in_port: at.port,
                frame,
                hops: 0,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SimError::Busy(dpid),
                mpsc::error::TrySendError::Closed(_) => SimError::Stopped(dpid),
            })?;
        if let Some(c) = self.shared.counters.port(at) {
            c.add_rx(1, len);
        }
        Ok(())
    }

    /// Frames host `host` received (the last [`HOST_RING`]), and how many in total.
    pub fn host_received(&self, host: usize) -> Result<(Vec<Bytes>, u64), SimError> {
        let h = self
            .shared
            .hosts
            .get(host)
            .ok_or(SimError::UnknownHost(host))?;
        let frames = h
            .received
            .lock()
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default();
        Ok((frames, h.count.load(Ordering::Relaxed)))
    }

    /// Takes the link between switches `a` and `b` down or brings it up: both ends send
    /// PORT_STATUS, frames and modelled traffic stop crossing it.
    pub async fn set_link(&self, a: DatapathId, b: DatapathId, up: bool) -> Result<(), SimError> {
        let (ia, ib) = (self.index(a)?, self.index(b)?);
        let topo = &self.shared.topo;
        let li = topo
            .links
            .iter()
            .position(|l| {
                (l.a.switch == ia && l.b.switch == ib) || (l.a.switch == ib && l.b.switch == ia)
            })
            .ok_or(SimError::NoLink(a, b))?;
        let Some(link) = topo.links.get(li) else {
            return Err(SimError::NoLink(a, b));
        };
        if let Some(flag) = self.shared.link_up.get(li) {
            flag.store(up, Ordering::Relaxed);
        }
        for end in [link.a, link.b] {
            if self
                .shared
                .is_foreign
                .get(end.switch)
                .copied()
                .unwrap_or(false)
            {
                // Its own emulator has no port status to send for it.
                continue;
            }
            let dpid = topo
                .switches
                .get(end.switch)
                .map(|s| s.dpid)
                .unwrap_or_default();
            let slot = self
                .shared
                .switches
                .get(end.switch)
                .ok_or(SimError::UnknownSwitch(dpid))?;
            slot.inbox
                .send(SwitchInput::SetPort { port: end.port, up })
                .await
                .map_err(|_| SimError::Stopped(dpid))?;
        }
        Ok(())
    }

    /// A copy of a switch's flow entries (all tables, lookup order).
    pub async fn flow_table(&self, dpid: DatapathId) -> Result<Vec<FlowEntry>, SimError> {
        let slot = self.slot(dpid)?;
        let (tx, rx) = oneshot::channel();
        slot.inbox
            .send(SwitchInput::FlowTable(tx))
            .await
            .map_err(|_| SimError::Stopped(dpid))?;
        rx.await.map_err(|_| SimError::Stopped(dpid))
    }

    /// Current counters of a port.
    pub fn port_counters(
        &self,
        dpid: DatapathId,
        port: PortNo,
    ) -> Result<PortCounterValues, SimError> {
        let switch = self.index(dpid)?;
        Ok(self
            .shared
            .counters
            .port(Endpoint { switch, port })
            .map(|c| c.load())
            .unwrap_or_default())
    }

    /// What one switch's agent did so far (as of its last event).
    pub fn switch_stats(&self, dpid: DatapathId) -> Result<AgentStats, SimError> {
        let slot = self.slot(dpid)?;
        Ok(slot.stats.lock().map(|s| *s).unwrap_or_default())
    }

    /// Sum of every switch's agent stats.
    pub fn total_stats(&self) -> AgentStats {
        let mut t = AgentStats::default();
        for s in &self.shared.switches {
            if let Ok(s) = s.stats.lock() {
                t.packet_ins += s.packet_ins;
                t.flow_mods += s.flow_mods;
                t.packet_outs += s.packet_outs;
                t.errors += s.errors;
                t.dropped += s.dropped;
                t.flows += s.flows;
            }
        }
        t
    }

    /// Stops every switch and the traffic model, and waits for their tasks to end.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}
