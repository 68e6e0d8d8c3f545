//! What the listener, the sessions and the handles share: the commands a session takes, the
//! controller's settings, and the registry of sessions by datapath id.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::app::AppFactory;
use super::desired::DesiredState;
use super::error::SessionError;
use super::events::SwitchEvent;
use super::machine::MachineConfig;
use super::request::{Reply, Request};
use crate::latency::LatencyHistogram;
use crate::openflow::wire::{
    Action, DatapathId, FlowMod, GroupMod, Instruction, Match, MeterMod, PacketOut, PortNo,
    TableId, WireError, HEADER_LEN, MAX_FRAME_LEN,
};

/// A message to a switch that expects no answer (failures arrive as `SwitchEvent::Error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// FLOW_MOD.
    FlowMod(FlowMod),
    /// GROUP_MOD.
    GroupMod(GroupMod),
    /// METER_MOD.
    MeterMod(MeterMod),
    /// PACKET_OUT.
    PacketOut(PacketOut),
}

impl Command {
    pub(crate) fn check_len(&self, dpid: DatapathId) -> Result<(), SessionError> {
        let (what, body) = match self {
            Command::FlowMod(m) => ("FLOW_MOD", m.buffer_len()),
            Command::GroupMod(m) => ("GROUP_MOD", m.buffer_len()),
            Command::MeterMod(m) => ("METER_MOD", m.buffer_len()),
            Command::PacketOut(m) => ("PACKET_OUT", m.buffer_len()),
        };
        let len = HEADER_LEN + body;
        if len > MAX_FRAME_LEN {
            return Err(SessionError::Encode {
                dpid,
                what,
                source: WireError::TooLong { msg: what, len },
            });
        }
        Ok(())
    }
}

/// Settings of the controller side.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Most switches connected at once (further connections wait in the backlog).
    pub max_switches: usize,
    /// Per-session timers.
    pub machine: MachineConfig,
    /// Capacity of the event stream.
    pub event_capacity: usize,
    /// Capacity of the discovery lane: LLDP packet-ins travel apart from the event stream, so
    /// counters and other packet-ins cannot crowd out the frames that discover links.
    pub discovery_capacity: usize,
    /// What the sessions count (packet-ins, drops, skipped polls); share one with the metrics
    /// reader.
    pub counters: Arc<SessionCounters>,
    /// Capacity of each switch's command queue.
    pub command_capacity: usize,
    /// Flows installed on every switch at connect, before its desired state.
    pub default_flows: Vec<FlowMod>,
    /// Empty the switch's flow tables, groups and meters at connect, before `default_flows` and
    /// the replay (Faucet's cold start): what an earlier controller life left behind is gone and
    /// the replay's plain ADDs cannot fail with METER_EXISTS / GROUP_EXISTS. Turn off when other
    /// controllers share the switch's tables.
    pub clear_on_connect: bool,
    /// Where write latencies go (batch of flow/group/meter mods until its barrier reply);
    /// share one with the metrics reader.
    pub write_latency: Arc<LatencyHistogram>,
    /// Threads of its own the sessions run on, each pinned to one (0: the sessions are tasks
    /// of the runtime that binds the controller). One per core scales the packet-in path.
    pub session_threads: usize,
    /// Longest a session thread polls its sockets for more work before sleeping, the window
    /// adapting to the traffic ([`super::busy_poll`]); zero: session threads sleep as soon as
    /// they are idle. Only with `session_threads`.
    pub busy_poll: std::time::Duration,
    /// Serve OpenFlow over TLS with this configuration (switches' `ssl:` targets); `None`:
    /// plain TCP. With a client certificate verifier, switches must present a certificate.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl ControllerConfig {
    /// Defaults: the table-miss flow that punts to the controller, 4096 switches.
    pub fn new(listen: SocketAddr) -> Self {
        ControllerConfig {
            listen,
            max_switches: 4096,
            machine: MachineConfig::default(),
            event_capacity: 4096,
            discovery_capacity: 8192,
            counters: Arc::default(),
            command_capacity: 1024,
            default_flows: vec![table_miss_to_controller()],
            clear_on_connect: true,
            write_latency: Arc::new(LatencyHistogram::new()),
            session_threads: 0,
            busy_poll: std::time::Duration::ZERO,
            tls: None,
        }
    }
}

/// Priority-0 table-miss flow in table 0: everything unmatched goes to the controller, whole
/// packet (`max_len` NO_BUFFER).
pub fn table_miss_to_controller() -> FlowMod {
    FlowMod::add(
        TableId(0),
        0,
        Match::new(),
        vec![Instruction::ApplyActions(vec![Action::output(
            PortNo::CONTROLLER,
        )])],
    )
}

/// Counters of every session of one controller.
#[derive(Debug, Default)]
pub struct SessionCounters {
    pub(crate) packet_ins: AtomicU64,
    pub(crate) events_dropped: AtomicU64,
    pub(crate) lldp_dropped: AtomicU64,
    pub(crate) polls_skipped: AtomicU64,
    pub(crate) sessions_started: AtomicU64,
    pub(crate) tls_refused: AtomicU64,
}

impl SessionCounters {
    /// Packet-ins handled by apps.
    pub fn packet_ins(&self) -> u64 {
        self.packet_ins.load(Ordering::Relaxed)
    }

    /// Packet-in events dropped for want of room, LLDP ones included.
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped.load(Ordering::Relaxed)
    }

    /// LLDP packet-ins dropped because the discovery lane was full.
    pub fn lldp_dropped(&self) -> u64 {
        self.lldp_dropped.load(Ordering::Relaxed)
    }

    /// Statistics poll rounds skipped (the switch had not answered the last one, or the
    /// controller had not taken the counters already queued).
    pub fn polls_skipped(&self) -> u64 {
        self.polls_skipped.load(Ordering::Relaxed)
    }

    /// Sessions started.
    pub fn sessions_started(&self) -> u64 {
        self.sessions_started.load(Ordering::Relaxed)
    }

    /// Connections that failed the TLS handshake.
    pub fn tls_refused(&self) -> u64 {
        self.tls_refused.load(Ordering::Relaxed)
    }
}

pub(crate) struct Entry {
    pub(crate) serial: u64,
    pub(crate) tx: mpsc::Sender<SessionCmd>,
    pub(crate) cancel: CancellationToken,
    /// Cancelled once the session has finished: a connection replacing it waits for that.
    pub(crate) done: CancellationToken,
    pub(crate) up: bool,
}

#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) sessions: HashMap<DatapathId, Entry>,
    pub(crate) desired: HashMap<DatapathId, DesiredState>,
}

/// What callers send to a session. Boxed: tokio's channel allocates its slots in blocks of
/// 32, each as large as this, and every switch holds one or two blocks for its whole life (a
/// FLOW_MOD inline made a block 2.8 KB; boxed it is about 0.5 KB).
pub(crate) enum SessionCmd {
    /// A message expecting no answer.
    Send(Box<Command>),
    /// A request and where its answer goes.
    Request(Box<(Request, oneshot::Sender<Result<Reply, SessionError>>)>),
}

/// Shared by the listener, the sessions and the handles.
pub(crate) struct Ctx {
    pub(crate) config: ControllerConfig,
    pub(crate) factory: Arc<dyn AppFactory>,
    pub(crate) events: mpsc::Sender<SwitchEvent>,
    /// LLDP packet-ins only (see [`ControllerConfig::discovery_capacity`]).
    pub(crate) discovery: mpsc::Sender<SwitchEvent>,
    pub(crate) cancel: CancellationToken,
    pub(crate) stats: Arc<SessionCounters>,
    pub(crate) serial: AtomicU64,
    pub(crate) registry: Mutex<Registry>,
}

impl Ctx {
    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        // A poisoned lock only means another task panicked mid-update of plain maps; the maps
        // are still consistent enough to serve, so keep going rather than cascade the panic.
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the controller is behind on the event stream: a quarter of it or more is
    /// queued. Statistics polls wait then, so counters arrive only as fast as they are taken
    /// and never fill the stream that port changes and packet-ins need.
    pub(crate) fn backlogged(&self) -> bool {
        let max = self.events.max_capacity();
        max - self.events.capacity() >= max.div_ceil(4)
    }

    pub(crate) fn next_serial(&self) -> u64 {
        self.serial.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a session; returns the one it replaces.
    pub(crate) fn register(&self, dpid: DatapathId, entry: Entry) -> Option<Entry> {
        self.registry().sessions.insert(dpid, entry)
    }

    pub(crate) fn mark_up(&self, dpid: DatapathId, serial: u64) {
        if let Some(e) = self.registry().sessions.get_mut(&dpid) {
            if e.serial == serial {
                e.up = true;
            }
        }
    }

    pub(crate) fn unregister(&self, dpid: DatapathId, serial: u64) {
        let mut reg = self.registry();
        if reg.sessions.get(&dpid).is_some_and(|e| e.serial == serial) {
            reg.sessions.remove(&dpid);
        }
    }

    pub(crate) fn desired_of(&self, dpid: DatapathId) -> Option<DesiredState> {
        self.registry().desired.get(&dpid).cloned()
    }

    pub(crate) fn sender(
        &self,
        dpid: DatapathId,
    ) -> Result<mpsc::Sender<SessionCmd>, SessionError> {
        self.registry()
            .sessions
            .get(&dpid)
            .filter(|e| e.up)
            .map(|e| e.tx.clone())
            .ok_or(SessionError::NotConnected { dpid })
    }
}
