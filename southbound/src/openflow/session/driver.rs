//! The tokio task of one switch connection: socket, timer, inline app, and the glue between the
//! [`Machine`] and the rest of the controller.
//!
//! Per wake-up: read as much as the socket has (up to 256 KiB, into a buffer lent by the thread
//! for that read, [`read_lent`]), decode every complete frame, answer packet-ins through the app
//! without leaving the task, let the machine handle the rest, then write everything queued with
//! one `write_all` (from a buffer lent for the turn, [`WriteBuf`]). Commands are drained in batches
//! for the same reason.
//!
//! Write latency: a command batch (or a connect-time replay) that carried FLOW_MOD, GROUP_MOD
//! or METER_MOD ends with a BARRIER_REQUEST of our own; its BARRIER_REPLY means the switch
//! processed the batch (OpenFlow 1.3.5 §6.1.4), and the time in between goes into the
//! controller's write-latency histogram. Flow mods an app writes inline for a packet-in are
//! not probed: that fast path stays one write per read batch.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::app::{Outbox, SwitchApp, Verdict};
use super::error::{CloseReason, SessionError};
use super::events::{port_change, port_info, PacketInEvent, SwitchEvent, SwitchInfo};
use super::frame;
use super::machine::{Effect, Machine, Phase};
use super::request::{Reply, Request};
use super::scratch::{read_lent, reassemble, WriteBuf};
use super::shared::{Command, Ctx, Entry, SessionCmd};
use crate::openflow::wire::error::BadRequestCode;
use crate::openflow::wire::{
    peek_frame_len, DatapathId, ErrorKind, ErrorMsg, FlowMod, GroupCommand, GroupId, GroupMod,
    GroupType, Match, MeterCommand, MeterFlags, MeterId, MeterMod, MsgType, PacketInView, PortNo,
    TableId, MAX_FRAME_LEN,
};

/// One of the three deletes of a connect-time cold start.
enum ColdStart {
    Flows(FlowMod),
    Groups(GroupMod),
    Meters(MeterMod),
}

/// Deletes of every flow (all tables), every group and every meter, in that order.
fn cold_start() -> [ColdStart; 3] {
    [
        ColdStart::Flows(FlowMod::delete(TableId::ALL, Match::new())),
        ColdStart::Groups(GroupMod {
            command: GroupCommand::Delete,
            group_type: GroupType::All,
            group_id: GroupId::ALL,
            buckets: Vec::new(),
        }),
        ColdStart::Meters(MeterMod {
            command: MeterCommand::Delete,
            flags: MeterFlags::default(),
            meter_id: MeterId::ALL,
            bands: Vec::new(),
        }),
    ]
}

/// Who waits for a request's answer.
enum Token {
    /// A caller of the handle.
    Caller(oneshot::Sender<Result<Reply, SessionError>>),
    /// Our own barrier after a batch of writes sent at this instant.
    WriteProbe(Instant),
}

const COMMAND_BATCH: usize = 256;
/// How long a new connection waits for the session it replaces to finish.
const REPLACE_WAIT: Duration = Duration::from_secs(5);

struct Session {
    ctx: Arc<Ctx>,
    peer: SocketAddr,
    machine: Machine<Token>,
    app: Option<Box<dyn SwitchApp>>,
    dpid: Option<DatapathId>,
    serial: u64,
    cancel: CancellationToken,
    cmd_tx: mpsc::Sender<SessionCmd>,
    /// Cancelled once the session has finished: a connection replacing it waits for that.
    done_rx: CancellationToken,
    announced: bool,
    /// Held only while a turn has bytes to write ([`WriteBuf`]).
    wbuf: WriteBuf,
    fx: Vec<Effect<Token>>,
    close: Option<CloseReason>,
    packet_ins: u64,
    /// Writes queued since the last write probe.
    unprobed_writes: bool,
}

/// How long a switch has to complete the TLS handshake before it is dropped (it holds one of
/// the `max_switches` places meanwhile).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs one accepted connection until it closes: over TLS when the controller has a TLS
/// configuration (a switch failing the handshake is logged with why and dropped; no session
/// starts), else plain.
pub(crate) async fn accept(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Ctx>,
    permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let Some(tls) = ctx.config.tls.clone() else {
        return run(stream, peer, ctx, permit).await;
    };
    let handshake = Box::pin(tokio_rustls::TlsAcceptor::from(tls).accept(stream));
    let done = tokio::select! {
        _ = ctx.cancel.cancelled() => return,
        done = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake) => done,
    };
    let why = match done {
        // Boxed: a TLS stream is several kilobytes, and inline it would size every plain
        // session's task too.
        Ok(Ok(stream)) => return Box::pin(run(stream, peer, ctx, permit)).await,
        Ok(Err(e)) => format!("TLS handshake failed: {e}"),
        Err(_) => format!("TLS handshake not done within {HANDSHAKE_TIMEOUT:?}"),
    };
    ctx.stats.tls_refused.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(%peer, "OpenFlow switch refused: {why}");
}

/// Runs one connection until it closes; never panics on input.
async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    ctx: Arc<Ctx>,
    _permit: OwnedSemaphorePermit,
) {
    let (cmd_tx, mut cmd_rx) = mpsc::channel(ctx.config.command_capacity.max(1));
    // A token, not a watch channel: 130 B instead of 340 for every session's life. The guard
    // fires it when the session finishes, or when its task is dropped before.
    let done_rx = CancellationToken::new();
    let done_tx = done_rx.clone().drop_guard();
    let serial = ctx.next_serial();
    let mut s = Session {
        cancel: ctx.cancel.child_token(),
        machine: Machine::new(Instant::now(), ctx.config.machine.clone()),
        ctx,
        peer,
        app: None,
        dpid: None,
        serial,
        cmd_tx,
        done_rx,
        announced: false,
        wbuf: WriteBuf::default(),
        fx: Vec::new(),
        close: None,
        packet_ins: 0,
        unprobed_writes: false,
    };
    s.ctx.stats.sessions_started.fetch_add(1, Ordering::Relaxed);
    // Only a frame split between two reads: the bytes are read into a buffer lent per read.
    let mut rbuf = BytesMut::new();
    s.machine.start(s.wbuf.get());
    let reason = loop {
        if let Err(e) = s.flush(&mut stream).await {
            break e;
        }
        if let Some(r) = s.close.take() {
            break r;
        }
        let deadline = tokio::time::Instant::from_std(s.machine.next_deadline());
        let registered = s.dpid.is_some();
        tokio::select! {
            biased;
            _ = s.cancel.cancelled() => {
                break if s.ctx.cancel.is_cancelled() { CloseReason::Shutdown } else { CloseReason::Replaced };
            }
            r = read_lent(&mut stream) => match r {
                Ok(read) if read.bytes().is_empty() => break CloseReason::PeerClosed,
                // The lent buffer goes back when `read` drops, before the next await.
                Ok(read) => reassemble(&mut rbuf, read.bytes(), |bytes| s.on_bytes(bytes)),
                Err(e) => break CloseReason::Io(e.to_string()),
            },
            cmd = cmd_rx.recv(), if registered => {
                if let Some(cmd) = cmd {
                    s.on_command(cmd);
                    for _ in 0..COMMAND_BATCH {
                        match cmd_rx.try_recv() {
                            Ok(cmd) => s.on_command(cmd),
                            Err(_) => break,
                        }
                    }
                    s.probe_writes();
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                s.machine.hold_polls(s.ctx.backlogged());
                s.machine.on_tick(Instant::now(), s.wbuf.get(), &mut s.fx);
                let skipped = s.machine.take_polls_skipped();
                if skipped > 0 {
                    s.ctx.stats.polls_skipped.fetch_add(skipped, Ordering::Relaxed);
                }
            }
        }
        s.apply_effects().await;
    };
    // Boxed, like the connect-time work in `apply_effects`: run once, they need not size the
    // task for its whole life.
    Box::pin(s.finish(reason, done_tx)).await;
}

impl Session {
    async fn flush<S: AsyncWrite + Unpin>(&mut self, stream: &mut S) -> Result<(), CloseReason> {
        if self.wbuf.bytes().is_empty() {
            self.wbuf.release();
            return Ok(());
        }
        // TLS keeps records it could not send yet until flushed (a no-op on plain TCP).
        let r = match stream.write_all(self.wbuf.bytes()).await {
            Ok(()) => stream.flush().await,
            Err(e) => Err(e),
        };
        self.wbuf.release();
        r.map_err(|e| CloseReason::Io(e.to_string()))
    }

    /// Handles the whole frames at the start of `bytes`; returns how many bytes they took.
    fn on_bytes(&mut self, bytes: &[u8]) -> usize {
        // More is likely to follow soon: keep this thread polling for it (if it busy-polls).
        super::busy_poll::note_work();
        let now = Instant::now();
        self.machine.note_rx(now);
        let mut at = 0;
        while self.close.is_none() {
            let rest = bytes.get(at..).unwrap_or(&[]);
            let len = match peek_frame_len(rest, MAX_FRAME_LEN) {
                Ok(Some(len)) if len <= rest.len() => len,
                Ok(_) => break,
                Err(e) => {
                    self.close = Some(CloseReason::Framing(e));
                    break;
                }
            };
            let frame_bytes = rest.get(..len).unwrap_or(&[]);
            self.on_frame(now, frame_bytes);
            at += len;
        }
        if self.packet_ins > 0 {
            self.ctx
                .stats
                .packet_ins
                .fetch_add(self.packet_ins, Ordering::Relaxed);
            self.packet_ins = 0;
        }
        at
    }

    fn on_frame(&mut self, now: Instant, frame_bytes: &[u8]) {
        let is_packet_in = frame_bytes.get(1).copied() == Some(u8::from(MsgType::PacketIn));
        let (Some(dpid), Some(app), true) = (self.dpid, self.app.as_mut(), is_packet_in) else {
            self.machine
                .on_frame(now, frame_bytes, self.wbuf.get(), &mut self.fx);
            return;
        };
        self.packet_ins += 1;
        let view = match PacketInView::new_checked(frame_bytes) {
            Ok(v) => v,
            Err(error) => {
                let xid = crate::openflow::wire::Header::parse(frame_bytes)
                    .map(|h| h.xid)
                    .unwrap_or_default();
                let kind = ErrorKind::BadRequest(BadRequestCode::BadLen);
                let _ = frame::put(self.wbuf.get(), xid, &ErrorMsg::about(kind, frame_bytes));
                self.fx.push(Effect::Event(SwitchEvent::ProtocolError {
                    dpid: Some(dpid),
                    xid,
                    error,
                }));
                return;
            }
        };
        let mut out = Outbox::new(dpid, self.wbuf.get(), self.machine.xids());
        if app.on_packet_in(&view, &mut out) == Verdict::Publish {
            let lldp = super::events::is_lldp(view.data());
            let packet = PacketInEvent {
                in_port: view.in_port().unwrap_or(PortNo::ANY),
                reason: view.reason(),
                buffer_id: view.buffer_id(),
                table_id: view.table_id(),
                cookie: view.cookie(),
                data: bytes::Bytes::copy_from_slice(view.data()),
            };
            self.publish_lossy(SwitchEvent::PacketIn { dpid, packet }, lldp);
        }
    }

    /// Packet-in policy: never wait; count what the stream had no room for. Packet-ins may
    /// fill three quarters of the stream only: the rest is kept for the events that must not
    /// be lost, whose senders wait for room (a stream full of packet-ins would stall every
    /// session with a port status or counters to report, and its packet-ins with it). LLDP
    /// frames go to the discovery lane instead, which only they fill.
    fn publish_lossy(&self, ev: SwitchEvent, lldp: bool) {
        let stats = &self.ctx.stats;
        if lldp {
            if self.ctx.discovery.try_send(ev).is_err() {
                stats.lldp_dropped.fetch_add(1, Ordering::Relaxed);
                stats.events_dropped.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        let events = &self.ctx.events;
        let full = events.capacity() <= events.max_capacity() / 4
            || matches!(events.try_send(ev), Err(mpsc::error::TrySendError::Full(_)));
        if full {
            stats.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Ends the writes queued since the last probe with a barrier whose reply times them.
    fn probe_writes(&mut self) {
        if !std::mem::take(&mut self.unprobed_writes) {
            return;
        }
        let now = Instant::now();
        let token = Token::WriteProbe(now);
        if let Err((_, e)) = self
            .machine
            .request(now, Request::Barrier, token, self.wbuf.get())
        {
            tracing::debug!(dpid = ?self.dpid, "write probe not sent: {e}");
        }
    }

    fn on_command(&mut self, cmd: SessionCmd) {
        let r = match cmd {
            SessionCmd::Send(cmd) => {
                if matches!(
                    *cmd,
                    Command::FlowMod(_) | Command::GroupMod(_) | Command::MeterMod(_)
                ) {
                    self.unprobed_writes = true;
                }
                match &*cmd {
                    Command::FlowMod(fm) => self.machine.send(fm, self.wbuf.get()),
                    Command::GroupMod(gm) => self.machine.send(gm, self.wbuf.get()),
                    Command::MeterMod(mm) => self.machine.send(mm, self.wbuf.get()),
                    Command::PacketOut(po) => self.machine.send(po, self.wbuf.get()),
                }
            }
            SessionCmd::Request(request) => {
                let (req, tx) = *request;
                // Probe first, so the writes' barrier reply precedes this request's answer.
                self.probe_writes();
                let what = req.name();
                if let Err((token, source)) =
                    self.machine
                        .request(Instant::now(), req, Token::Caller(tx), self.wbuf.get())
                {
                    let dpid = self.dpid.unwrap_or_default();
                    if let Token::Caller(tx) = token {
                        let _ = tx.send(Err(SessionError::Encode { dpid, what, source }));
                    }
                }
                return;
            }
        };
        if let Err(e) = r {
            // The handle checks sizes before queueing, so this is a codec limit we missed.
            tracing::warn!(dpid = ?self.dpid, "command not sent: {e}");
        }
    }

    async fn apply_effects(&mut self) {
        let fx = std::mem::take(&mut self.fx);
        for effect in fx {
            match effect {
                Effect::Connected(features) => Box::pin(self.on_connected(features)).await,
                Effect::Up { features, ports } => {
                    let Some(dpid) = self.dpid else { continue };
                    self.replay(dpid);
                    self.probe_writes();
                    self.ctx.mark_up(dpid, self.serial);
                    self.announced = true;
                    let info = SwitchInfo {
                        dpid,
                        features,
                        ports: ports.iter().map(port_info).collect(),
                        peer: self.peer,
                    };
                    tracing::info!(%dpid, peer = %self.peer, ports = info.ports.len(), "switch up");
                    let _ = self.ctx.events.send(SwitchEvent::SwitchUp(info)).await;
                }
                Effect::PortStatus(ps) => {
                    let Some(dpid) = self.dpid else { continue };
                    if let Some(app) = self.app.as_mut() {
                        let mut out = Outbox::new(dpid, self.wbuf.get(), self.machine.xids());
                        app.on_port_status(&ps, &mut out);
                    }
                    let ev = SwitchEvent::PortStatus {
                        dpid,
                        change: port_change(ps.reason),
                        port: port_info(&ps.desc),
                    };
                    let _ = self.ctx.events.send(ev).await;
                }
                Effect::Event(ev) => {
                    let _ = self.ctx.events.send(ev).await;
                }
                Effect::Complete(Token::Caller(tx), r) => {
                    let _ = tx.send(r);
                }
                Effect::Complete(Token::WriteProbe(sent), r) => match r {
                    Ok(_) => self.ctx.config.write_latency.record(sent.elapsed()),
                    // Not a latency: the batch's fate is told by the switch's ERROR messages.
                    Err(e) => tracing::debug!(dpid = ?self.dpid, "write probe: {e}"),
                },
                Effect::Close(r) => {
                    if self.close.is_none() {
                        self.close = Some(r);
                    }
                }
            }
        }
    }

    async fn on_connected(&mut self, features: crate::openflow::wire::FeaturesReply) {
        let dpid = features.datapath_id;
        let entry = Entry {
            serial: self.serial,
            tx: self.cmd_tx.clone(),
            cancel: self.cancel.clone(),
            done: self.done_rx.clone(),
            up: false,
        };
        if let Some(old) = self.ctx.register(dpid, entry) {
            tracing::info!(%dpid, "new connection replaces the old session");
            old.cancel.cancel();
            let _ = tokio::time::timeout(REPLACE_WAIT, old.done.cancelled()).await;
        }
        self.dpid = Some(dpid);
        let mut app = self.ctx.factory.create(dpid);
        let mut out = Outbox::new(dpid, self.wbuf.get(), self.machine.xids());
        app.on_connect(&features, &mut out);
        self.app = Some(app);
    }

    /// Connect-time programming: the default flows, then the switch's desired state.
    fn replay(&mut self, dpid: DatapathId) {
        if self.ctx.config.clear_on_connect {
            // Flows first: deleting a group or meter under a flow that uses it is refused by
            // some switches.
            for cmd in cold_start() {
                let _ = match &cmd {
                    ColdStart::Flows(fm) => self.machine.send(fm, self.wbuf.get()),
                    ColdStart::Groups(gm) => self.machine.send(gm, self.wbuf.get()),
                    ColdStart::Meters(mm) => self.machine.send(mm, self.wbuf.get()),
                };
            }
            self.unprobed_writes = true;
        }
        for fm in &self.ctx.config.default_flows {
            let _ = self.machine.send(fm, self.wbuf.get());
            self.unprobed_writes = true;
        }
        let Some(desired) = self.ctx.desired_of(dpid) else {
            return;
        };
        self.unprobed_writes |= !desired.is_empty();
        for mm in desired.meters() {
            let _ = self.machine.send(mm, self.wbuf.get());
        }
        for gm in desired.groups() {
            let _ = self.machine.send(gm, self.wbuf.get());
        }
        for fm in desired.flows() {
            let _ = self.machine.send(fm, self.wbuf.get());
        }
        tracing::debug!(%dpid, "replayed desired state");
    }

    async fn finish(mut self, reason: CloseReason, done_tx: DropGuard) {
        self.machine.close(&mut self.fx);
        for effect in std::mem::take(&mut self.fx) {
            if let Effect::Complete(Token::Caller(tx), r) = effect {
                let _ = tx.send(r);
            }
        }
        if let Some(dpid) = self.dpid {
            self.ctx.unregister(dpid, self.serial);
            if self.announced {
                tracing::info!(%dpid, %reason, "switch down");
                let ev = SwitchEvent::SwitchDown { dpid, reason };
                if self.ctx.cancel.is_cancelled() {
                    // At shutdown nobody may be draining the stream; never hang on it.
                    let _ = self.ctx.events.try_send(ev);
                } else {
                    let _ = self.ctx.events.send(ev).await;
                }
            }
        } else if self.machine.phase() != Phase::Closed {
            tracing::debug!(peer = %self.peer, %reason, "connection closed before handshake");
        }
        drop(done_tx);
    }
}
