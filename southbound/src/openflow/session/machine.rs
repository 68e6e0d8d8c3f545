//! The sans-IO state machine of one switch connection (OpenFlow 1.3.5 §6.3, §7.5).
//!
//! It is fed whole frames and the current time and writes what to send into an output buffer;
//! it never reads a clock or touches a socket. The driver (`driver.rs`) owns the socket, the
//! timer and the app.
//!
//! Lifecycle: `AwaitHello` → (peer HELLO offers 1.3; else ERROR HELLO_FAILED/INCOMPATIBLE and
//! close) → `AwaitFeatures` → (FEATURES_REPLY: SET_CONFIG + PORT_DESC sent, [`Effect::Connected`])
//! → `AwaitPorts` → (PORT_DESC assembled, [`Effect::Up`]) → `Up`.
//!
//! Invariants:
//! - Every request registered in the pending map is completed exactly once: by its reply, by an
//!   ERROR with its xid, by its timeout, or by [`Machine::close`].
//! - Liveness: any received byte counts as life; after `echo_interval` of silence one
//!   ECHO_REQUEST goes out; after `dead_after` of silence the session closes.
//! - Nothing here panics on any input; malformed messages get an ERROR (BAD_REQUEST) back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::app::XidAlloc;
use super::error::{CloseReason, SessionError};
use super::events::{port_counters, SwitchEvent};
use super::frame::{self, Body};
use super::request::{merge, Reply, Request};
use crate::openflow::wire::error::{BadRequestCode, HelloFailedCode};
use crate::openflow::wire::multipart::{FlowStatsRequest, MultipartReplyBody};
use crate::openflow::wire::{
    DatapathId, ErrorKind, ErrorMsg, FeaturesReply, FlowRemoved, Header, Hello, MsgType,
    MultipartReply, MultipartRequest, MultipartRequestBody, Port, PortNo, PortStatus, Role,
    SwitchConfig, WireError, Xid, HEADER_LEN, OFP_VERSION,
};

/// Timers and settings of a session.
#[derive(Debug, Clone)]
pub struct MachineConfig {
    /// Silence after which an ECHO_REQUEST is sent.
    pub echo_interval: Duration,
    /// Silence after which the peer is declared dead.
    pub dead_after: Duration,
    /// Time allowed from connect to PORT_DESC assembled.
    pub handshake_timeout: Duration,
    /// Time allowed for any request's answer.
    pub request_timeout: Duration,
    /// `miss_send_len` set with SET_CONFIG (0xffff: whole packet, no buffering).
    pub miss_send_len: u16,
    /// Poll PORT_STATS and FLOW_STATS at this period once up (None: never).
    pub stats_interval: Option<Duration>,
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            echo_interval: Duration::from_secs(5),
            dead_after: Duration::from_secs(15),
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            miss_send_len: 0xffff,
            stats_interval: None,
        }
    }
}

/// Where the handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Our HELLO is sent; waiting for the peer's.
    AwaitHello,
    /// FEATURES_REQUEST sent.
    AwaitFeatures,
    /// Datapath id known; PORT_DESC requested.
    AwaitPorts,
    /// Handshake done.
    Up,
    /// Closed; nothing more is sent.
    Closed,
}

/// What the machine asks its driver to do besides sending bytes.
#[derive(Debug)]
pub enum Effect<T> {
    /// FEATURES_REPLY arrived: the datapath id is known (register the session, create the app).
    Connected(FeaturesReply),
    /// PORT_DESC assembled: the switch is up (publish it, replay desired state).
    Up {
        /// The FEATURES_REPLY.
        features: FeaturesReply,
        /// Every port the switch described.
        ports: Vec<Port>,
    },
    /// A PORT_STATUS arrived (for the app and the event stream).
    PortStatus(PortStatus),
    /// An event to publish.
    Event(SwitchEvent),
    /// A caller's request is answered (or failed).
    Complete(T, Result<Reply, SessionError>),
    /// The session must close.
    Close(CloseReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Features,
    PortDesc,
    PollPorts,
    PollFlows,
    Caller,
}

struct Pending<T> {
    purpose: Purpose,
    what: &'static str,
    deadline: Instant,
    token: Option<T>,
    /// Boxed: a multipart reply in parts is rare and its body large (128 B), while every slot
    /// of the map a session keeps for its whole life is as large as one entry.
    parts: Option<Box<MultipartReplyBody>>,
}

/// One switch connection's protocol state.
pub struct Machine<T> {
    cfg: MachineConfig,
    phase: Phase,
    started: Instant,
    last_rx: Instant,
    echo_sent: bool,
    next_poll: Option<Instant>,
    /// Due statistics polls are skipped while set (the controller is behind on counters).
    hold_polls: bool,
    /// Poll rounds skipped since [`Machine::take_polls_skipped`] last asked.
    polls_skipped: u64,
    xids: XidAlloc,
    features: Option<FeaturesReply>,
    pending: HashMap<Xid, Pending<T>>,
}

impl<T> Machine<T> {
    /// A machine for a connection accepted at `now`.
    pub fn new(now: Instant, cfg: MachineConfig) -> Self {
        Machine {
            cfg,
            phase: Phase::AwaitHello,
            started: now,
            last_rx: now,
            echo_sent: false,
            next_poll: None,
            hold_polls: false,
            polls_skipped: 0,
            xids: XidAlloc::default(),
            features: None,
            pending: HashMap::new(),
        }
    }

    /// Writes our HELLO (version bitmap offering 1.3).
    pub fn start(&mut self, out: &mut BytesMut) {
        let xid = self.xids.next_xid();
        // Our HELLO is a few bytes; it always fits the length field.
        let _ = frame::put(out, xid, &Hello::ofp13());
    }

    /// Where the handshake stands.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The datapath id, once FEATURES_REPLY arrived.
    pub fn dpid(&self) -> Option<DatapathId> {
        self.features.as_ref().map(|f| f.datapath_id)
    }

    /// The session's xid allocator (shared with the app's outbox).
    pub fn xids(&mut self) -> &mut XidAlloc {
        &mut self.xids
    }

    /// Requests in flight.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// While `hold` is set, a statistics poll that falls due is skipped (the next one is a
    /// period later): the driver holds polls while the controller has counters queued.
    pub fn hold_polls(&mut self, hold: bool) {
        self.hold_polls = hold;
    }

    /// Statistics poll rounds skipped since the last call: held, or the switch had not
    /// answered the previous round yet.
    pub fn take_polls_skipped(&mut self) -> u64 {
        std::mem::take(&mut self.polls_skipped)
    }

    /// Records that bytes arrived at `now` (the fast path calls this instead of `on_frame`).
    pub fn note_rx(&mut self, now: Instant) {
        self.last_rx = now;
        self.echo_sent = false;
    }

    /// The next instant at which [`Machine::on_tick`] has work.
    pub fn next_deadline(&self) -> Instant {
        let mut t = if self.echo_sent {
            self.last_rx + self.cfg.dead_after
        } else {
            self.last_rx + self.cfg.echo_interval
        };
        if self.phase != Phase::Up {
            t = t.min(self.started + self.cfg.handshake_timeout);
        }
        if let Some(p) = self.next_poll {
            t = t.min(p);
        }
        self.pending
            .values()
            .map(|p| p.deadline)
            .fold(t, Instant::min)
    }

    /// Sends a message that expects no answer; failures arrive later as `Error` events.
    pub fn send<B: Body>(&mut self, body: &B, out: &mut BytesMut) -> Result<Xid, WireError> {
        let xid = self.xids.next_xid();
        frame::put(out, xid, body)?;
        Ok(xid)
    }

    /// Sends a request and remembers `token` until it is answered, refused or timed out.
    pub fn request(
        &mut self,
        now: Instant,
        req: Request,
        token: T,
        out: &mut BytesMut,
    ) -> Result<Xid, (T, WireError)> {
        let what = req.name();
        match self.send_request(now, &req, Purpose::Caller, what, out) {
            Ok(xid) => {
                if let Some(p) = self.pending.get_mut(&xid) {
                    p.token = Some(token);
                }
                Ok(xid)
            }
            Err(e) => Err((token, e)),
        }
    }

    fn send_request(
        &mut self,
        now: Instant,
        req: &Request,
        purpose: Purpose,
        what: &'static str,
        out: &mut BytesMut,
    ) -> Result<Xid, WireError> {
        let xid = self.xids.next_xid();
        match req {
            Request::Multipart(body) => {
                let mp = MultipartRequest::new(body.clone());
                frame::put_raw(
                    out,
                    MsgType::MultipartRequest,
                    xid,
                    mp.buffer_len(),
                    |b| mp.emit(b),
                    "MULTIPART_REQUEST",
                )?;
            }
            Request::Barrier => frame::put_bytes(out, MsgType::BarrierRequest, xid, &[])?,
            Request::Role(role) => frame::put_raw(
                out,
                MsgType::RoleRequest,
                xid,
                role.buffer_len(),
                |b| role.emit(b),
                "ROLE_REQUEST",
            )?,
        }
        let deadline = now + self.cfg.request_timeout;
        self.pending.insert(
            xid,
            Pending {
                purpose,
                what,
                deadline,
                token: None,
                parts: None,
            },
        );
        Ok(xid)
    }

    /// Handles timers: handshake timeout, keepalive, dead peer, request timeouts, stats polls.
    pub fn on_tick(&mut self, now: Instant, out: &mut BytesMut, fx: &mut Vec<Effect<T>>) {
        if self.phase == Phase::Closed {
            return;
        }
        if self.phase != Phase::Up && now >= self.started + self.cfg.handshake_timeout {
            fx.push(Effect::Close(CloseReason::HandshakeTimeout(
                self.cfg.handshake_timeout,
            )));
            return;
        }
        let silent = now.saturating_duration_since(self.last_rx);
        if silent >= self.cfg.dead_after {
            fx.push(Effect::Close(CloseReason::DeadPeer(silent)));
            return;
        }
        if silent >= self.cfg.echo_interval && !self.echo_sent {
            let xid = self.xids.next_xid();
            let _ = frame::put_bytes(out, MsgType::EchoRequest, xid, &[]);
            self.echo_sent = true;
        }
        let expired: Vec<Xid> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(x, _)| *x)
            .collect();
        for xid in expired {
            if let Some(p) = self.pending.remove(&xid) {
                let err = SessionError::Timeout {
                    dpid: self.dpid().unwrap_or_default(),
                    xid,
                    what: p.what,
                    timeout: self.cfg.request_timeout,
                };
                self.fail(p, err, fx);
            }
        }
        if self.next_poll.is_some_and(|due| now >= due) {
            // One round in flight at most: a switch (or a session) slower than the period is
            // polled as often as it answers, not queued up with requests.
            let answering = self
                .pending
                .values()
                .any(|p| matches!(p.purpose, Purpose::PollPorts | Purpose::PollFlows));
            if self.hold_polls || answering {
                self.next_poll = self.cfg.stats_interval.map(|period| now + period);
                self.polls_skipped += 1;
            } else {
                self.poll(now, out);
            }
        }
    }

    fn poll(&mut self, now: Instant, out: &mut BytesMut) {
        let Some(period) = self.cfg.stats_interval else {
            return;
        };
        self.next_poll = Some(now + period);
        let ports = Request::Multipart(MultipartRequestBody::PortStats(PortNo::ANY));
        let _ = self.send_request(now, &ports, Purpose::PollPorts, "PORT_STATS poll", out);
        let flows = Request::Multipart(MultipartRequestBody::Flow(FlowStatsRequest::default()));
        let _ = self.send_request(now, &flows, Purpose::PollFlows, "FLOW_STATS poll", out);
    }

    fn fail(&mut self, p: Pending<T>, err: SessionError, fx: &mut Vec<Effect<T>>) {
        match (p.purpose, p.token) {
            (Purpose::Caller, Some(t)) => fx.push(Effect::Complete(t, Err(err))),
            (Purpose::Features, _) | (Purpose::PortDesc, _) => {
                // Without features or ports there is no usable session.
                if matches!(err, SessionError::Timeout { .. }) {
                    fx.push(Effect::Close(CloseReason::HandshakeTimeout(
                        self.cfg.request_timeout,
                    )));
                } else if p.purpose == Purpose::PortDesc {
                    // A switch refusing PORT_DESC is still usable; it just has no ports listed.
                    self.up(Vec::new(), fx);
                } else {
                    fx.push(Effect::Close(CloseReason::Framing(WireError::BadValue {
                        msg: "FEATURES_REPLY",
                        field: "reply",
                        value: 0,
                        why: "the switch refused FEATURES_REQUEST",
                    })));
                }
            }
            _ => tracing::debug!("{}: {err}", p.what),
        }
    }

    fn up(&mut self, ports: Vec<Port>, fx: &mut Vec<Effect<T>>) {
        if let Some(features) = self.features {
            self.phase = Phase::Up;
            fx.push(Effect::Up { features, ports });
        }
    }

    /// Fails every pending request with `Closed`; afterwards nothing more is sent.
    pub fn close(&mut self, fx: &mut Vec<Effect<T>>) {
        self.phase = Phase::Closed;
        let dpid = self.dpid().unwrap_or_default();
        for (xid, p) in self.pending.drain() {
            if let (Purpose::Caller, Some(t)) = (p.purpose, p.token) {
                fx.push(Effect::Complete(t, Err(SessionError::Closed { dpid, xid })));
            }
        }
    }

    /// Answers a malformed or unexpected message with an ERROR carrying its first bytes.
    fn refuse(&mut self, xid: Xid, kind: ErrorKind, frame_bytes: &[u8], out: &mut BytesMut) {
        let _ = frame::put(out, xid, &ErrorMsg::about(kind, frame_bytes));
    }

    fn malformed(
        &mut self,
        xid: Xid,
        error: WireError,
        frame_bytes: &[u8],
        out: &mut BytesMut,
        fx: &mut Vec<Effect<T>>,
    ) {
        self.refuse(
            xid,
            ErrorKind::BadRequest(BadRequestCode::BadLen),
            frame_bytes,
            out,
        );
        fx.push(Effect::Event(SwitchEvent::ProtocolError {
            dpid: self.dpid(),
            xid,
            error,
        }));
    }

    /// Handles one whole frame (header included) received at `now`.
    pub fn on_frame(
        &mut self,
        now: Instant,
        frame_bytes: &[u8],
        out: &mut BytesMut,
        fx: &mut Vec<Effect<T>>,
    ) {
        if self.phase == Phase::Closed {
            return;
        }
        self.note_rx(now);
        let header = match Header::parse(frame_bytes) {
            Ok(h) => h,
            Err(e) => {
                fx.push(Effect::Close(CloseReason::Framing(e)));
                return;
            }
        };
        let xid = header.xid;
        let body = frame_bytes.get(HEADER_LEN..).unwrap_or(&[]);
        if header.msg_type == MsgType::Hello {
            self.on_hello(header, body, frame_bytes, out, fx);
            return;
        }
        if header.version != OFP_VERSION {
            self.refuse(
                xid,
                ErrorKind::BadRequest(BadRequestCode::BadVersion),
                frame_bytes,
                out,
            );
            fx.push(Effect::Event(SwitchEvent::ProtocolError {
                dpid: self.dpid(),
                xid,
                error: WireError::UnsupportedVersion {
                    msg: header.msg_type.name(),
                    version: header.version,
                },
            }));
            return;
        }
        match header.msg_type {
            MsgType::EchoRequest => {
                let _ = frame::put_bytes(out, MsgType::EchoReply, xid, body);
            }
            MsgType::EchoReply => {}
            MsgType::FeaturesReply => match FeaturesReply::parse(body) {
                Ok(f) => self.on_features(now, xid, f, out, fx),
                Err(e) => {
                    self.malformed(xid, e.clone(), frame_bytes, out, fx);
                    fx.push(Effect::Close(CloseReason::Framing(e)));
                }
            },
            MsgType::Error => match ErrorMsg::parse(body) {
                Ok(err) => self.on_error(xid, err, fx),
                Err(e) => self.malformed(xid, e, frame_bytes, out, fx),
            },
            MsgType::MultipartReply => match MultipartReply::parse(body) {
                Ok(mp) => self.on_multipart(xid, mp, fx),
                Err(e) => {
                    self.malformed(xid, e.clone(), frame_bytes, out, fx);
                    if let Some(p) = self.pending.remove(&xid) {
                        let dpid = self.dpid().unwrap_or_default();
                        self.fail(
                            p,
                            SessionError::MalformedReply {
                                dpid,
                                xid,
                                source: e,
                            },
                            fx,
                        );
                    }
                }
            },
            MsgType::BarrierReply => self.complete(xid, Ok(Reply::Barrier), "BARRIER_REPLY", fx),
            MsgType::RoleReply => match Role::parse(body) {
                Ok(r) => self.complete(xid, Ok(Reply::Role(r)), "ROLE_REPLY", fx),
                Err(e) => self.malformed(xid, e, frame_bytes, out, fx),
            },
            MsgType::PortStatus => match PortStatus::parse(body) {
                Ok(ps) => fx.push(Effect::PortStatus(ps)),
                Err(e) => self.malformed(xid, e, frame_bytes, out, fx),
            },
            MsgType::FlowRemoved => match FlowRemoved::parse(body) {
                Ok(removed) => {
                    if let Some(dpid) = self.dpid() {
                        fx.push(Effect::Event(SwitchEvent::FlowRemoved { dpid, removed }));
                    }
                }
                Err(e) => self.malformed(xid, e, frame_bytes, out, fx),
            },
            // Packet-ins reach the app through the driver's fast path once the datapath id is
            // known; one arriving before FEATURES_REPLY has nobody to go to.
            MsgType::PacketIn | MsgType::GetConfigReply | MsgType::GetAsyncReply => {}
            MsgType::QueueGetConfigReply | MsgType::Experimenter => {}
            _ => self.refuse(
                xid,
                ErrorKind::BadRequest(BadRequestCode::BadType),
                frame_bytes,
                out,
            ),
        }
    }

    fn on_hello(
        &mut self,
        header: Header,
        body: &[u8],
        frame_bytes: &[u8],
        out: &mut BytesMut,
        fx: &mut Vec<Effect<T>>,
    ) {
        if self.phase != Phase::AwaitHello {
            return;
        }
        // A HELLO whose elements do not parse is judged by its header version alone (§6.3.1).
        let mut hello = Hello::parse(body).unwrap_or(Hello {
            version: 0,
            elements: Vec::new(),
        });
        hello.version = header.version;
        if hello.negotiate().is_none() {
            self.refuse(
                header.xid,
                ErrorKind::HelloFailed(HelloFailedCode::Incompatible),
                frame_bytes,
                out,
            );
            fx.push(Effect::Close(CloseReason::VersionMismatch(header.version)));
            return;
        }
        let xid = self.xids.next_xid();
        let _ = frame::put_bytes(out, MsgType::FeaturesRequest, xid, &[]);
        let deadline = self.started + self.cfg.handshake_timeout;
        self.pending.insert(
            xid,
            Pending {
                purpose: Purpose::Features,
                what: "FEATURES_REQUEST",
                deadline,
                token: None,
                parts: None,
            },
        );
        self.phase = Phase::AwaitFeatures;
    }

    fn on_features(
        &mut self,
        now: Instant,
        xid: Xid,
        f: FeaturesReply,
        out: &mut BytesMut,
        fx: &mut Vec<Effect<T>>,
    ) {
        match self.pending.get(&xid) {
            Some(p) if p.purpose == Purpose::Features => {}
            // An unsolicited or repeated FEATURES_REPLY changes nothing.
            _ => return,
        }
        self.pending.remove(&xid);
        self.features = Some(f);
        self.phase = Phase::AwaitPorts;
        let cfg = SwitchConfig {
            flags: 0,
            miss_send_len: self.cfg.miss_send_len,
        };
        let _ = self.send(&cfg, out);
        let req = Request::Multipart(MultipartRequestBody::PortDesc);
        let _ = self.send_request(now, &req, Purpose::PortDesc, "PORT_DESC", out);
        if let Some(period) = self.cfg.stats_interval {
            self.next_poll = Some(now + first_poll(period, f.datapath_id));
        }
        fx.push(Effect::Connected(f));
    }

    fn on_error(&mut self, xid: Xid, err: ErrorMsg, fx: &mut Vec<Effect<T>>) {
        let dpid = self.dpid().unwrap_or_default();
        if let Some(p) = self.pending.remove(&xid) {
            self.fail(
                p,
                SessionError::Refused {
                    dpid,
                    xid,
                    kind: err.kind,
                },
                fx,
            );
        }
        fx.push(Effect::Event(SwitchEvent::Error {
            dpid,
            xid,
            kind: err.kind,
            data: err.data,
        }));
    }

    fn on_multipart(&mut self, xid: Xid, mp: MultipartReply, fx: &mut Vec<Effect<T>>) {
        let Some(p) = self.pending.get_mut(&xid) else {
            return;
        };
        let more = mp.more;
        match p.parts.as_mut() {
            None => p.parts = Some(Box::new(mp.body)),
            Some(acc) => {
                if !merge(acc, mp.body) {
                    let got = "MULTIPART_REPLY of another type";
                    if let Some(p) = self.pending.remove(&xid) {
                        let dpid = self.dpid().unwrap_or_default();
                        self.fail(p, SessionError::UnexpectedReply { dpid, xid, got }, fx);
                    }
                    return;
                }
            }
        }
        if more {
            return;
        }
        let Some(p) = self.pending.remove(&xid) else {
            return;
        };
        let body = p.parts.map_or(
            MultipartReplyBody::Unknown {
                mp_type: 0xffff,
                body: Default::default(),
            },
            |b| *b,
        );
        let dpid = self.dpid().unwrap_or_default();
        match (p.purpose, body) {
            (Purpose::PortDesc, MultipartReplyBody::PortDesc(ports)) => self.up(ports, fx),
            (Purpose::PortDesc, _) => self.up(Vec::new(), fx),
            (Purpose::PollPorts, MultipartReplyBody::PortStats(s)) => {
                let counters = s.iter().map(port_counters).collect();
                fx.push(Effect::Event(SwitchEvent::PortStats { dpid, counters }));
            }
            (Purpose::PollFlows, MultipartReplyBody::Flow(flows)) => {
                fx.push(Effect::Event(SwitchEvent::FlowStats { dpid, flows }));
            }
            (Purpose::Caller, body) => {
                if let Some(t) = p.token {
                    fx.push(Effect::Complete(t, Ok(Reply::Multipart(body))));
                }
            }
            _ => {}
        }
    }

    fn complete(
        &mut self,
        xid: Xid,
        reply: Result<Reply, SessionError>,
        got: &'static str,
        fx: &mut Vec<Effect<T>>,
    ) {
        let Some(p) = self.pending.remove(&xid) else {
            return;
        };
        let dpid = self.dpid().unwrap_or_default();
        let expected = matches!(
            (p.what, &reply),
            ("BARRIER_REQUEST", Ok(Reply::Barrier)) | ("ROLE_REQUEST", Ok(Reply::Role(_)))
        );
        let reply = if expected {
            reply
        } else {
            Err(SessionError::UnexpectedReply { dpid, xid, got })
        };
        if let (Purpose::Caller, Some(t)) = (p.purpose, p.token) {
            fx.push(Effect::Complete(t, reply));
        }
    }
}

/// When a switch's first statistics poll is due after its handshake: between half and one and
/// a half periods, by its datapath id. Switches that connect together (a controller restart,
/// an emulated network) would otherwise be polled together every period, their replies
/// arriving in one burst.
fn first_poll(period: Duration, dpid: DatapathId) -> Duration {
    // SplitMix64's finaliser: neighbouring ids land far apart.
    let mut x = dpid.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    let share = (x >> 11) as f64 / (1u64 << 53) as f64;
    period.mul_f64(0.5 + share)
}

#[cfg(test)]
mod tests;
