//! The tokio driver of one emulated switch: owns its TCP connections to its controllers (one
//! or several, as `ovs-vsctl set-controller` takes several targets), its inbox of frames from
//! neighbours, and its timers; all protocol decisions, roles included, are the agent's.
//!
//! Invariants: the switch connects to every controller, and after a connection ends
//! (controller gone, framing error, `Effect::Close`) reconnects to it with exponential backoff
//! between `backoff_min` and `backoff_max` plus a per-switch jitter; while no controller is
//! connected it keeps forwarding frames by its flow table (OVS "secure" fail mode) and drops
//! what it would send. Replies go to the connection that asked; asynchronous messages to the
//! connections whose role takes them. All replies of one read batch go out in one write.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use prescient_southbound::openflow::wire::codec::{FrameError, OfpFrameCodec};
use prescient_southbound::openflow::wire::header::MsgType;
use prescient_southbound::openflow::wire::{Message, Xid};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::agent::{ConnId, Effect, SimPort, SwitchAgent};
use super::wiring::{Shared, SimOptions, SwitchInput};
use crate::topology::Endpoint;

/// Frames queued from a switch's connections before their readers wait.
const CONN_QUEUE: usize = 256;

fn make_agent(shared: &Arc<Shared>, index: usize) -> SwitchAgent {
    let spec = shared.topo.switches.get(index);
    let dpid = spec.map(|s| s.dpid).unwrap_or_default();
    let name = spec.map(|s| s.name.clone()).unwrap_or_default();
    let d = dpid.0.to_be_bytes();
    let ports = spec
        .map(|s| {
            s.ports
                .iter()
                .map(|&no| SimPort {
                    no,
                    // Locally administered, unique per (switch, port).
                    hw_addr: [0x02, d[4], d[5], d[6], d[7], no.0 as u8],
                    name: format!("{name}-eth{}", no.0),
                    up: true,
                    speed_kbps: 1_000_000,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut agent = SwitchAgent::new(dpid, name, index, ports, shared.counters.clone());
    agent.set_multipart_limit(shared.options.multipart_limit);
    agent.set_no_flood(shared.no_flood.get(index).cloned().unwrap_or_default());
    agent
}

/// What a controller connection's task tells its switch.
enum ConnEvent {
    /// Connected: write to it through `writer`; `close` ends the connection.
    Up {
        conn: ConnId,
        writer: OwnedWriteHalf,
        close: CancellationToken,
    },
    /// A whole frame arrived.
    Frame { conn: ConnId, raw: Bytes },
    /// The connection ended (the controller went away, a framing error, or `close`).
    Down { conn: ConnId },
}

/// One open connection, as the switch task holds it.
struct Open {
    writer: OwnedWriteHalf,
    close: CancellationToken,
    buf: BytesMut,
    /// The FEATURES_REPLY went out on it.
    handshaken: bool,
}

/// Runs one switch until `cancel`: one task per controller address keeps a connection open
/// (reconnecting with backoff), and this task owns the agent, the connections' write halves,
/// the inbox of frames from neighbours and the timers. With no controller connected it keeps
/// forwarding by its flow table (OVS "secure" fail mode).
pub(crate) async fn run_switch(
    shared: Arc<Shared>,
    index: usize,
    mut inbox: mpsc::Receiver<SwitchInput>,
    controllers: Arc<[SocketAddr]>,
    cancel: CancellationToken,
) {
    let mut agent = make_agent(&shared, index);
    let start = Instant::now();
    let (events_tx, mut events) = mpsc::channel(CONN_QUEUE);
    let mut connectors = tokio::task::JoinSet::new();
    for (conn, addr) in controllers.iter().enumerate() {
        connectors.spawn(connect_loop(
            shared.options.clone(),
            index,
            conn,
            *addr,
            events_tx.clone(),
            cancel.clone(),
        ));
    }
    drop(events_tx);
    let mut open: BTreeMap<ConnId, Open> = BTreeMap::new();
    let mut tick = tokio::time::interval(shared.options.tick.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out: Vec<Effect> = Vec::new();
    loop {
        // The connection a reply goes to: the one whose message was handled.
        let mut from: Option<ConnId> = None;
        tokio::select! {
            _ = cancel.cancelled() => break,
            ev = events.recv() => match ev {
                Some(ev) => {
                    from = conn_event(&mut agent, &mut open, ev, start, &mut out);
                    // Drain whatever else is already queued from the same connection before
                    // writing: replies of one read batch go out in one write.
                    let mut budget = CONN_QUEUE;
                    while let Some(conn) = from {
                        budget = budget.saturating_sub(1);
                        if budget == 0 {
                            break;
                        }
                        let Ok(ev) = events.try_recv() else { break };
                        let next = match &ev {
                            ConnEvent::Frame { conn: c, .. } if *c == conn => Some(conn),
                            _ => None,
                        };
                        if next.is_none() {
                            route(&shared, index, &agent, &mut open, from, &mut out);
                        }
                        from = conn_event(&mut agent, &mut open, ev, start, &mut out);
                    }
                }
                None => break,
            },
            input = inbox.recv() => match input {
                Some(input) => handle_input(&mut agent, input, start, &mut out),
                None => break,
            },
            _ = tick.tick() => agent.tick(start.elapsed(), &mut out),
        }
        route(&shared, index, &agent, &mut open, from, &mut out);
        flush(&shared, index, &mut agent, &mut open).await;
        publish(&shared, index, &agent);
    }
    for (_, o) in open.iter_mut() {
        let _ = o.writer.shutdown().await;
        o.close.cancel();
    }
    connectors.shutdown().await;
    shared.set_connected(index, false);
}

/// Applies one connection event to the agent; returns the connection replies go to.
fn conn_event(
    agent: &mut SwitchAgent,
    open: &mut BTreeMap<ConnId, Open>,
    ev: ConnEvent,
    start: Instant,
    out: &mut Vec<Effect>,
) -> Option<ConnId> {
    match ev {
        ConnEvent::Up {
            conn,
            writer,
            close,
        } => {
            open.insert(
                conn,
                Open {
                    writer,
                    close,
                    buf: BytesMut::with_capacity(4096),
                    handshaken: false,
                },
            );
            out.push(agent.connect(conn));
            Some(conn)
        }
        ConnEvent::Frame { conn, raw } => {
            if !open.contains_key(&conn) {
                return None;
            }
            match Message::parse_bytes(&raw) {
                Ok((xid, msg)) => agent.handle_from(conn, start.elapsed(), xid, msg, &raw, out),
                Err(e) => out.push(Effect::Send(frame_error(&raw, e).error_reply())),
            }
            Some(conn)
        }
        ConnEvent::Down { conn } => {
            open.remove(&conn);
            agent.disconnect(conn);
            None
        }
    }
}

/// Sends what the agent produced: replies to `from`, asynchronous messages to every
/// connection whose role takes them, frames out of ports.
fn route(
    shared: &Arc<Shared>,
    index: usize,
    agent: &SwitchAgent,
    open: &mut BTreeMap<ConnId, Open>,
    from: Option<ConnId>,
    out: &mut Vec<Effect>,
) {
    for e in out.drain(..) {
        match e {
            Effect::Send(f) => {
                let Some(o) = from.and_then(|c| open.get_mut(&c)) else {
                    continue;
                };
                if matches!(f.message, Message::FeaturesReply(_)) {
                    o.handshaken = true;
                }
                if f.message.emit_to(f.xid, &mut o.buf).is_err() {
                    tracing::warn!(dpid = %agent.dpid(), "emulated switch could not encode a reply");
                }
            }
            Effect::Notify { frame, kind } => {
                for (conn, o) in open.iter_mut() {
                    if agent.takes(*conn, kind) {
                        let _ = frame.message.emit_to(frame.xid, &mut o.buf);
                    }
                }
            }
            Effect::Emit { port, frame, hops } => {
                shared.deliver(
                    Endpoint {
                        switch: index,
                        port,
                    },
                    frame,
                    hops,
                );
            }
            Effect::Close => {
                if let Some(o) = from.and_then(|c| open.get_mut(&c)) {
                    // Written first, then closed by the flush.
                    o.close.cancel();
                }
            }
        }
    }
}

/// Writes every connection's buffer; drops the connections that failed or were closed.
async fn flush(
    shared: &Arc<Shared>,
    index: usize,
    agent: &mut SwitchAgent,
    open: &mut BTreeMap<ConnId, Open>,
) {
    let mut gone = Vec::new();
    for (conn, o) in open.iter_mut() {
        if !o.buf.is_empty() {
            if o.writer.write_all(&o.buf).await.is_err() {
                gone.push(*conn);
            }
            o.buf.clear();
        }
        if o.close.is_cancelled() {
            let _ = o.writer.shutdown().await;
            gone.push(*conn);
        }
    }
    for conn in gone {
        if let Some(o) = open.remove(&conn) {
            o.close.cancel();
        }
        agent.disconnect(conn);
    }
    shared.set_connected(index, open.values().any(|o| o.handshaken));
}

/// Keeps connection `conn` to `controller` open until `cancel`: connects, hands the write
/// half to the switch, forwards every frame, reports the end, and reconnects with exponential
/// backoff plus a per-switch jitter (so a thousand switches do not reconnect in lockstep).
async fn connect_loop(
    opts: SimOptions,
    index: usize,
    conn: ConnId,
    controller: SocketAddr,
    events: mpsc::Sender<ConnEvent>,
    cancel: CancellationToken,
) {
    let mut backoff = opts.backoff_min;
    let jitter = Duration::from_micros((index as u64 * 7919 + conn as u64 * 104_729) % 50_000);
    loop {
        let connect = tokio::select! {
            _ = cancel.cancelled() => return,
            c = TcpStream::connect(controller) => c,
        };
        if let Ok(stream) = connect {
            let _ = stream.set_nodelay(true);
            let (rd, writer) = stream.into_split();
            let close = cancel.child_token();
            let up = ConnEvent::Up {
                conn,
                writer,
                close: close.clone(),
            };
            if events.send(up).await.is_err() {
                return;
            }
            let mut frames = FramedRead::with_capacity(rd, OfpFrameCodec::default(), 4096);
            loop {
                let next = tokio::select! {
                    _ = close.cancelled() => break,
                    n = frames.next() => n,
                };
                match next {
                    Some(Ok(raw)) => {
                        if events.send(ConnEvent::Frame { conn, raw }).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(e)) => {
                        tracing::debug!(index, conn, error = %e, "controller connection failed");
                        break;
                    }
                    None => break,
                }
            }
            if events.send(ConnEvent::Down { conn }).await.is_err() {
                return;
            }
            backoff = opts.backoff_min;
        }
        let wake = Instant::now() + backoff + jitter;
        backoff = (backoff * 2).min(opts.backoff_max);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

fn handle_input(
    agent: &mut SwitchAgent,
    input: SwitchInput,
    start: Instant,
    out: &mut Vec<Effect>,
) {
    match input {
        SwitchInput::Frame {
            in_port,
            frame,
            hops,
        } => agent.receive(start.elapsed(), in_port, frame, hops, out),
        SwitchInput::SetPort { port, up } => {
            agent.set_port_up(port, up, out);
        }
        SwitchInput::FlowTable(reply) => {
            let _ = reply.send(agent.tables().entries().cloned().collect());
        }
        SwitchInput::Account {
            in_port,
            frame,
            packets,
            bytes,
            first,
        } => agent.account(
            start.elapsed(),
            in_port,
            frame,
            (packets, bytes),
            first,
            out,
        ),
    }
}

fn publish(shared: &Shared, index: usize, agent: &SwitchAgent) {
    if let Some(slot) = shared.switches.get(index) {
        if let Ok(mut s) = slot.stats.lock() {
            *s = agent.stats();
        }
        if let Ok(mut r) = slot.roles.lock() {
            *r = agent.roles();
        }
    }
}

/// The header fields needed to answer a frame that failed to parse.
fn frame_error(raw: &Bytes, error: prescient_southbound::openflow::wire::WireError) -> FrameError {
    let xid = raw
        .get(4..8)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_be_bytes);
    let msg_type = MsgType::from(raw.get(1).copied().unwrap_or(0));
    FrameError {
        xid: Xid(xid),
        msg_type,
        error,
        frame: raw.clone(),
    }
}
