//! The wiring of an emulated OpenFlow network, shared by the switch tasks ([`driver`](super::driver)),
//! the hosts and the handle ([`network`](super::network)): the options, each switch's inbox and
//! each host's ring, what every port is linked to, and the delivery of a frame across a link.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use prescient_southbound::openflow::wire::{ControllerRole, PortNo};
use tokio::sync::{mpsc, oneshot, Notify};

use super::agent::AgentStats;
use super::flow_table::FlowEntry;
use crate::topology::{Endpoint, PortPeer, SimTopology};
use crate::traffic::{FabricCounters, TrafficConfig};

/// Frames kept per host for inspection by tests.
pub const HOST_RING: usize = 64;

/// Inbox capacity of a switch (frames from neighbours and commands).
pub const INBOX: usize = 256;

/// How the emulated network behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    /// Traffic model parameters.
    pub traffic: TrafficConfig,
    /// Model seconds per wall-clock second (time compression of the traffic model).
    pub speedup: f64,
    /// What compressed time does to the size of the traffic.
    pub volume: Volume,
    /// Model time at start, seconds (e.g. 8 hours in = 08:00 on the first day).
    pub start_model_secs: f64,
    /// Wall-clock interval between traffic steps.
    pub traffic_step: Duration,
    /// First reconnect delay after the controller goes away.
    pub backoff_min: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
    /// Interval of flow-expiry checks.
    pub tick: Duration,
    /// Upper bound of one multipart reply body before splitting.
    pub multipart_limit: usize,
    /// Hosts announce themselves this often (a gratuitous ARP, as hosts do when their link
    /// comes up and when their neighbour entries age), so a controller learns them; None: hosts
    /// send only what tests inject.
    pub announce_hosts: Option<Duration>,
    /// Flooding follows one spanning tree of the topology, as on switches running STP: FLOOD
    /// skips the ports of links off the tree (OpenFlow 1.3.5 §7.2.1: blocked ports), so a
    /// broadcast cannot circle a looped topology. Frames still arrive on every port.
    pub spanning_tree: bool,
    /// The traffic model's pair demand is also counted on the flow entries that carry it: at
    /// the first emulated OpenFlow switch of a pair's route, a frame of the pair is looked up in
    /// table 0 and its entry's packet and byte counts grow by the pair's traffic (so FLOW_STATS
    /// show per-pair rates); when only the table-miss entry matches at the source host's edge,
    /// that frame goes through the pipeline as a real first packet (packet-in, flow install).
    pub pair_flows: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            traffic: TrafficConfig::default(),
            speedup: 60.0,
            volume: Volume::ModelRate,
            start_model_secs: 8.0 * 3600.0,
            traffic_step: Duration::from_millis(500),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            tick: Duration::from_millis(500),
            multipart_limit: super::agent::DEFAULT_MULTIPART_LIMIT,
            announce_hosts: None,
            spanning_tree: false,
            pair_flows: false,
        }
    }
}

/// Switches of the topology that another emulator runs (the P4Runtime half of a mixed fabric).
pub trait Foreign: Send + Sync + std::fmt::Debug {
    /// Whether switch `switch` (topology index) is run elsewhere: it gets no OpenFlow task.
    fn runs(&self, switch: usize) -> bool;
    /// `frame` arrives at `to`, a port of a foreign switch, having crossed `hops` switches.
    fn carry(&self, to: Endpoint, frame: Bytes, hops: u8);
    /// The traffic model moved the counters (every port of the fabric, foreign ones included).
    fn counters_moved(&self, counters: &FabricCounters);
    /// A host attached at `at`, a port of a foreign switch, sends `frame`.
    fn host_frame(&self, at: Endpoint, frame: Bytes) {
        let _ = (at, frame);
    }
    /// The traffic model's pair `src → dst` sent `(packets, bytes)` into the fabric at `at`, a
    /// port of a foreign switch: whatever counts pairs there counts it.
    fn pair_entered(
        &self,
        at: Endpoint,
        pair: (std::net::Ipv4Addr, std::net::Ipv4Addr),
        packets: u64,
        bytes: u64,
    ) {
        let _ = (at, pair, packets, bytes);
    }
}

/// How counters move when model time runs `speedup` times faster than the wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Volume {
    /// Per wall-clock second, counters move by the model's rate at the current model time: the
    /// cycles run fast, rates measured by a controller are the model's (utilisation makes sense).
    #[default]
    ModelRate,
    /// Counters move by all the traffic of the elapsed model time: rates measured over wall time
    /// are `speedup` times the model's (a day of volume in a compressed day).
    ModelVolume,
}

/// What a switch task is asked to do.
#[derive(Debug)]
pub(crate) enum SwitchInput {
    /// A frame arrives on `in_port`.
    Frame {
        in_port: PortNo,
        frame: Bytes,
        hops: u8,
    },
    /// A port's link changed.
    SetPort { port: PortNo, up: bool },
    /// Copy of the flow entries.
    FlowTable(oneshot::Sender<Vec<FlowEntry>>),
    /// `packets` frames like `frame` (`bytes` in all) of modelled traffic enter on `in_port`:
    /// counted on the table-0 entry they hit; `first` lets a table miss run `frame` through the
    /// pipeline as a real packet.
    Account {
        in_port: PortNo,
        frame: Bytes,
        packets: u64,
        bytes: u64,
        first: bool,
    },
}

/// Per-switch shared state.
#[derive(Debug)]
pub(crate) struct SwitchSlot {
    pub(crate) inbox: mpsc::Sender<SwitchInput>,
    pub(crate) connected: AtomicBool,
    pub(crate) connects: AtomicU64,
    pub(crate) stats: Mutex<AgentStats>,
    /// The role of every open controller connection, by its index in the controller list.
    pub(crate) roles: Mutex<Vec<(usize, ControllerRole)>>,
}

/// Per-host received frames.
#[derive(Debug, Default)]
pub(crate) struct HostSlot {
    pub(crate) received: Mutex<VecDeque<Bytes>>,
    pub(crate) count: AtomicU64,
}

/// What a port connects to, and the index of its link (hosts have none).
pub(crate) type PortWire = Option<(PortPeer, Option<usize>)>;

/// State shared by the switch tasks and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) topo: SimTopology,
    pub(crate) counters: Arc<FabricCounters>,
    pub(crate) link_up: Vec<AtomicBool>,
    /// `peers[switch][port - 1]`: what the port connects to, and the link index.
    pub(crate) peers: Vec<Vec<PortWire>>,
    pub(crate) switches: Vec<SwitchSlot>,
    pub(crate) hosts: Vec<HostSlot>,
    pub(crate) connected: AtomicUsize,
    pub(crate) changed: Notify,
    pub(crate) options: SimOptions,
    /// Per switch: run by `foreign`, not here.
    pub(crate) is_foreign: Vec<bool>,
    /// Per switch: ports FLOOD skips (off the spanning tree, when `options.spanning_tree`).
    pub(crate) no_flood: Vec<Vec<PortNo>>,
    pub(crate) foreign: Option<Arc<dyn Foreign>>,
}

impl Shared {
    fn peer(&self, at: Endpoint) -> PortWire {
        let i = usize::try_from(at.port.0.checked_sub(1)?).ok()?;
        *self.peers.get(at.switch)?.get(i)?
    }

    /// Carries a frame out of `from` to whatever is linked there.
    pub(crate) fn deliver(&self, from: Endpoint, frame: Bytes, hops: u8) {
        let Some(tx) = self.counters.port(from) else {
            return;
        };
        let Some((peer, link)) = self.peer(from) else {
            // Nothing attached: the frame leaves and is lost, as on an unplugged port.
            tx.add_tx(1, frame.len() as u64);
            return;
        };
        if link.is_some_and(|l| {
            !self
                .link_up
                .get(l)
                .is_some_and(|u| u.load(Ordering::Relaxed))
        }) {
            tx.tx_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let len = frame.len() as u64;
        match peer {
            PortPeer::Switch(to) if self.is_foreign.get(to.switch).copied().unwrap_or(false) => {
                tx.add_tx(1, len);
                if let Some(f) = &self.foreign {
                    f.carry(to, frame, hops);
                }
            }
            PortPeer::Switch(to) => {
                let Some(slot) = self.switches.get(to.switch) else {
                    return;
                };
                match slot.inbox.try_send(SwitchInput::Frame {
                    in_port: to.port,
                    frame,
                    hops,
                }) {
                    Ok(()) => {
                        tx.add_tx(1, len);
                        if let Some(rx) = self.counters.port(to) {
                            rx.add_rx(1, len);
                        }
                    }
                    Err(_) => {
                        tx.tx_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            PortPeer::Host(h) => {
                tx.add_tx(1, len);
                if let Some(host) = self.hosts.get(h) {
                    host.count.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut q) = host.received.lock() {
                        if q.len() >= HOST_RING {
                            q.pop_front();
                        }
                        q.push_back(frame);
                    }
                }
            }
        }
    }

    /// A frame from a foreign switch arrives at `to`, a port of a switch run here.
    pub(crate) fn arrive(&self, to: Endpoint, frame: Bytes, hops: u8) -> bool {
        if self.is_foreign.get(to.switch).copied().unwrap_or(true) {
            return false;
        }
        let link = self.peer(to).and_then(|(_, link)| link);
        if link.is_some_and(|l| {
            !self
                .link_up
                .get(l)
                .is_some_and(|u| u.load(Ordering::Relaxed))
        }) {
            return false;
        }
        let Some(slot) = self.switches.get(to.switch) else {
            return false;
        };
        let len = frame.len() as u64;
        let sent = slot
            .inbox
            .try_send(SwitchInput::Frame {
                in_port: to.port,
                frame,
                hops,
            })
            .is_ok();
        if sent {
            if let Some(rx) = self.counters.port(to) {
                rx.add_rx(1, len);
            }
        }
        sent
    }

    pub(crate) fn set_connected(&self, index: usize, up: bool) {
        let Some(slot) = self.switches.get(index) else {
            return;
        };
        if slot.connected.swap(up, Ordering::SeqCst) != up {
            if up {
                slot.connects.fetch_add(1, Ordering::Relaxed);
                self.connected.fetch_add(1, Ordering::SeqCst);
            } else {
                self.connected.fetch_sub(1, Ordering::SeqCst);
            }
            self.changed.notify_waiters();
        }
    }
}
