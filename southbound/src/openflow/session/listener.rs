//! The OpenFlow listener, the registry of sessions by datapath id, and the command handle.
//!
//! Invariants:
//! - At most one registered session per datapath id. A new connection that reports a known
//!   datapath id cancels the old session and waits for it to finish before going on, so
//!   subscribers see the old `SwitchDown` strictly before the new `SwitchUp`.
//! - A session only removes its own registry entry (entries carry a serial number).
//! - At most `max_switches` connections exist; the listener stops accepting while full.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use super::app::AppFactory;
use super::desired::DesiredState;
use super::driver;
use super::error::SessionError;
pub use super::events::EventReceiver;
use super::events::{port_counters, port_info};
use super::request::{Reply, Request};
pub use super::shared::{table_miss_to_controller, Command, ControllerConfig, SessionCounters};
use super::shared::{Ctx, Registry, SessionCmd};
use super::workers::Workers;
use crate::device::{PortCounters, PortInfo};
use crate::latency::LatencyHistogram;
use crate::openflow::wire::multipart::{FlowStats, FlowStatsRequest, MultipartReplyBody};
use crate::openflow::wire::{ControllerRole, DatapathId, MultipartRequestBody, PortNo, Role};

/// A snapshot of the controller's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Packet-ins handled by apps.
    pub packet_ins: u64,
    /// Packet-in events dropped because the event stream (for LLDP: the discovery lane) was
    /// full.
    pub events_dropped: u64,
    /// Of those, LLDP packet-ins.
    pub lldp_dropped: u64,
    /// Statistics poll rounds skipped (see [`SessionCounters::polls_skipped`]).
    pub polls_skipped: u64,
    /// Sessions started: connections accepted (over TLS, once the handshake is done).
    pub sessions_started: u64,
    /// Connections that failed the TLS handshake (or did not finish it in time).
    pub tls_refused: u64,
    /// Switches currently up.
    pub switches_up: usize,
}

/// A running OpenFlow listener and its sessions.
pub struct OpenFlowController {
    ctx: Arc<Ctx>,
    addr: SocketAddr,
    tracker: TaskTracker,
    /// Stops the session threads (and drops what still runs there) with the controller.
    _workers: Option<DropGuard>,
}

impl OpenFlowController {
    /// Binds the listener and starts accepting switches; each gets an app from `factory`.
    pub async fn bind(
        config: ControllerConfig,
        factory: Arc<dyn AppFactory>,
    ) -> Result<(OpenFlowController, EventReceiver), SessionError> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| SessionError::Bind {
                addr: config.listen,
                reason: e.to_string(),
            })?;
        let addr = listener.local_addr().map_err(|e| SessionError::Bind {
            addr: config.listen,
            reason: e.to_string(),
        })?;
        let (workers, workers_guard) = match config.session_threads {
            0 => (None, None),
            n => {
                let stop = CancellationToken::new();
                let workers = Workers::start(n, config.busy_poll, &stop)?;
                (Some(workers), Some(stop.drop_guard()))
            }
        };
        let (events, rx) = mpsc::channel(config.event_capacity.max(1));
        let (discovery, discovery_rx) = mpsc::channel(config.discovery_capacity.max(1));
        let rx = EventReceiver::new(discovery_rx, rx);
        let limit = Arc::new(Semaphore::new(config.max_switches.max(1)));
        let stats = config.counters.clone();
        let ctx = Arc::new(Ctx {
            config,
            factory,
            events,
            discovery,
            cancel: CancellationToken::new(),
            stats,
            serial: AtomicU64::new(1),
            registry: Mutex::new(Registry::default()),
        });
        let tracker = TaskTracker::new();
        let accept_ctx = ctx.clone();
        let sessions = tracker.clone();
        tracker.spawn(async move {
            let ctx = accept_ctx;
            loop {
                // The connection limit is taken before accepting, so a full controller leaves
                // new switches in the kernel's backlog instead of accepting and dropping them.
                let permit = tokio::select! {
                    _ = ctx.cancel.cancelled() => return,
                    p = limit.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => return,
                    },
                };
                let accepted = tokio::select! {
                    _ = ctx.cancel.cancelled() => return,
                    a = listener.accept() => a,
                };
                match accepted {
                    Ok((stream, peer)) => match &workers {
                        Some(w) => w.spawn(stream, peer, ctx.clone(), permit, &sessions),
                        None => {
                            sessions.spawn(driver::accept(stream, peer, ctx.clone(), permit));
                        }
                    },
                    Err(e) => {
                        // Typically EMFILE: back off briefly instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            }
        });
        tracing::info!(%addr, "listening for OpenFlow 1.3 switches");
        Ok((
            OpenFlowController {
                ctx,
                addr,
                tracker,
                _workers: workers_guard,
            },
            rx,
        ))
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A cloneable handle for commands and queries.
    pub fn handle(&self) -> OpenFlowHandle {
        OpenFlowHandle {
            ctx: self.ctx.clone(),
        }
    }

    /// Stops accepting, closes every session (each reports `SwitchDown`) and waits for them.
    pub async fn shutdown(self) {
        self.ctx.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// Cloneable access to the switches: commands in, queries answered.
#[derive(Clone)]
pub struct OpenFlowHandle {
    ctx: Arc<Ctx>,
}

impl OpenFlowHandle {
    /// Datapath ids of the switches currently up, sorted.
    pub fn switches(&self) -> Vec<DatapathId> {
        let mut v: Vec<DatapathId> = self
            .ctx
            .registry()
            .sessions
            .iter()
            .filter(|(_, e)| e.up)
            .map(|(d, _)| *d)
            .collect();
        v.sort();
        v
    }

    /// True when the switch is up.
    pub fn is_up(&self, dpid: DatapathId) -> bool {
        self.ctx
            .registry()
            .sessions
            .get(&dpid)
            .is_some_and(|e| e.up)
    }

    /// Counters of the controller.
    pub fn stats(&self) -> Stats {
        let s = &self.ctx.stats;
        Stats {
            packet_ins: s.packet_ins.load(Ordering::Relaxed),
            events_dropped: s.events_dropped.load(Ordering::Relaxed),
            lldp_dropped: s.lldp_dropped.load(Ordering::Relaxed),
            polls_skipped: s.polls_skipped.load(Ordering::Relaxed),
            sessions_started: s.sessions_started.load(Ordering::Relaxed),
            tls_refused: s.tls_refused.load(Ordering::Relaxed),
            switches_up: self
                .ctx
                .registry()
                .sessions
                .values()
                .filter(|e| e.up)
                .count(),
        }
    }

    /// Write latencies of every session (the histogram of [`ControllerConfig::write_latency`]).
    pub fn write_latency(&self) -> Arc<LatencyHistogram> {
        Arc::clone(&self.ctx.config.write_latency)
    }

    /// Sends a message now, without recording it as desired state; waits only for queue room.
    pub async fn send(&self, dpid: DatapathId, cmd: Command) -> Result<(), SessionError> {
        cmd.check_len(dpid)?;
        let tx = self.ctx.sender(dpid)?;
        tx.send(SessionCmd::Send(Box::new(cmd)))
            .await
            .map_err(|_| SessionError::NotConnected { dpid })
    }

    /// Records a flow/group/meter change as desired state of `dpid` (replayed on every
    /// reconnect) and sends it if the switch is up. A PACKET_OUT is just sent.
    /// Returns `Ok` also when the switch is down: the change is applied when it connects.
    pub async fn install(&self, dpid: DatapathId, cmd: Command) -> Result<(), SessionError> {
        cmd.check_len(dpid)?;
        {
            let mut reg = self.ctx.registry();
            let d = reg.desired.entry(dpid).or_default();
            match &cmd {
                Command::FlowMod(fm) => d.apply_flow(fm),
                Command::GroupMod(gm) => d.apply_group(gm),
                Command::MeterMod(mm) => d.apply_meter(mm),
                Command::PacketOut(_) => {}
            }
        }
        match self.send(dpid, cmd).await {
            Err(SessionError::NotConnected { .. }) => Ok(()),
            other => other,
        }
    }

    /// The desired state recorded for `dpid`.
    pub fn desired(&self, dpid: DatapathId) -> DesiredState {
        self.ctx.desired_of(dpid).unwrap_or_default()
    }

    /// Sends a request and waits for its assembled answer (or its timeout).
    pub async fn request(&self, dpid: DatapathId, req: Request) -> Result<Reply, SessionError> {
        let tx = self.ctx.sender(dpid)?;
        let (reply_tx, reply_rx) = oneshot::channel();
        tx.send(SessionCmd::Request(Box::new((req, reply_tx))))
            .await
            .map_err(|_| SessionError::NotConnected { dpid })?;
        // The session completes every request exactly once, even when it closes; a dropped
        // sender therefore means the session task is gone.
        reply_rx
            .await
            .unwrap_or(Err(SessionError::NotConnected { dpid }))
    }

    async fn multipart(
        &self,
        dpid: DatapathId,
        body: MultipartRequestBody,
    ) -> Result<MultipartReplyBody, SessionError> {
        match self.request(dpid, Request::Multipart(body)).await? {
            Reply::Multipart(b) => Ok(b),
            _ => Err(SessionError::UnexpectedReply {
                dpid,
                xid: Default::default(),
                got: "non-multipart",
            }),
        }
    }

    /// Waits until the switch processed everything sent before (BARRIER).
    pub async fn barrier(&self, dpid: DatapathId) -> Result<(), SessionError> {
        self.request(dpid, Request::Barrier).await.map(|_| ())
    }

    /// Asks for a controller role; returns the role the switch granted.
    pub async fn role(
        &self,
        dpid: DatapathId,
        role: ControllerRole,
        generation_id: u64,
    ) -> Result<Role, SessionError> {
        match self
            .request(
                dpid,
                Request::Role(Role {
                    role,
                    generation_id,
                }),
            )
            .await?
        {
            Reply::Role(r) => Ok(r),
            _ => Err(SessionError::UnexpectedReply {
                dpid,
                xid: Default::default(),
                got: "non-role",
            }),
        }
    }

    /// Counters of every port.
    pub async fn port_stats(&self, dpid: DatapathId) -> Result<Vec<PortCounters>, SessionError> {
        match self
            .multipart(dpid, MultipartRequestBody::PortStats(PortNo::ANY))
            .await?
        {
            MultipartReplyBody::PortStats(s) => Ok(s.iter().map(port_counters).collect()),
            _ => Err(SessionError::UnexpectedReply {
                dpid,
                xid: Default::default(),
                got: "other multipart",
            }),
        }
    }

    /// The switch's ports, freshly asked.
    pub async fn port_desc(&self, dpid: DatapathId) -> Result<Vec<PortInfo>, SessionError> {
        match self.multipart(dpid, MultipartRequestBody::PortDesc).await? {
            MultipartReplyBody::PortDesc(p) => Ok(p.iter().map(port_info).collect()),
            _ => Err(SessionError::UnexpectedReply {
                dpid,
                xid: Default::default(),
                got: "other multipart",
            }),
        }
    }

    /// Flow entries and their counters.
    pub async fn flow_stats(
        &self,
        dpid: DatapathId,
        req: FlowStatsRequest,
    ) -> Result<Vec<FlowStats>, SessionError> {
        match self
            .multipart(dpid, MultipartRequestBody::Flow(req))
            .await?
        {
            MultipartReplyBody::Flow(f) => Ok(f),
            _ => Err(SessionError::UnexpectedReply {
                dpid,
                xid: Default::default(),
                got: "other multipart",
            }),
        }
    }
}
