//! The tokio driver of one emulated switch: owns its TCP connection to the controller, its inbox
//! of frames from neighbours, and its timers; all protocol decisions are the agent's.
//!
//! Invariants: the switch connects, and after the connection ends (controller gone, framing
//! error, `Effect::Close`) reconnects with exponential backoff between `backoff_min` and
//! `backoff_max` plus a per-switch jitter (so a thousand switches do not reconnect in lockstep);
//! while disconnected it keeps forwarding frames by its flow table (OVS "secure" fail mode) and
//! drops what it would send the controller. All replies of one read batch go out in one write.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use prescient_southbound::openflow::wire::codec::{FrameError, OfpFrameCodec};
use prescient_southbound::openflow::wire::header::MsgType;
use prescient_southbound::openflow::wire::{Message, Xid};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::agent::{Effect, SimPort, SwitchAgent};
use super::wiring::{Shared, SwitchInput};
use crate::topology::Endpoint;

/// Why a session ended.
enum End {
    Shutdown,
    Lost,
}

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

/// Runs one switch until `cancel`.
pub(crate) async fn run_switch(
    shared: Arc<Shared>,
    index: usize,
    mut inbox: mpsc::Receiver<SwitchInput>,
    controller: SocketAddr,
    cancel: CancellationToken,
) {
    let mut agent = make_agent(&shared, index);
    let start = Instant::now();
    let opts = shared.options.clone();
    let mut backoff = opts.backoff_min;
    // Spread first connects and retries over a few ms per switch index.
    let jitter = Duration::from_micros((index as u64 * 7919) % 50_000);
    loop {
        let connect = tokio::select! {
            _ = cancel.cancelled() => return,
            c = TcpStream::connect(controller) => c,
        };
        if let Ok(stream) = connect {
            let _ = stream.set_nodelay(true);
            let end = session(
                &shared, index, &mut agent, stream, &mut inbox, start, &cancel,
            )
            .await;
            shared.set_connected(index, false);
            if let End::Shutdown = end {
                return;
            }
            backoff = opts.backoff_min;
        }
        let wake = Instant::now() + backoff + jitter;
        backoff = (backoff * 2).min(opts.backoff_max);
        // While disconnected, keep forwarding by the flow table.
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until(wake) => break,
                input = inbox.recv() => match input {
                    Some(input) => {
                        let mut out = Vec::new();
                        handle_input(&mut agent, input, start, &mut out);
                        for e in out {
                            if let Effect::Emit { port, frame, hops } = e {
                                shared.deliver(Endpoint { switch: index, port }, frame, hops);
                            }
                        }
                        publish(&shared, index, &agent);
                    }
                    None => return,
                },
            }
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

async fn session(
    shared: &Arc<Shared>,
    index: usize,
    agent: &mut SwitchAgent,
    stream: TcpStream,
    inbox: &mut mpsc::Receiver<SwitchInput>,
    start: Instant,
    cancel: &CancellationToken,
) -> End {
    let (rd, mut wr) = stream.into_split();
    let mut frames = FramedRead::with_capacity(rd, OfpFrameCodec::default(), 4096);
    let mut wbuf = BytesMut::with_capacity(4096);
    let mut out: Vec<Effect> = vec![agent.on_connect()];
    let mut tick = tokio::time::interval(shared.options.tick.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Apply what the last event produced, then write it in one go.
        let mut close = false;
        for e in out.drain(..) {
            match e {
                Effect::Send(f) => {
                    let handshake_done = matches!(f.message, Message::FeaturesReply(_));
                    if f.message.emit_to(f.xid, &mut wbuf).is_err() {
                        tracing::warn!(dpid = %agent.dpid(), "emulated switch could not encode a reply");
                    }
                    if handshake_done {
                        shared.set_connected(index, true);
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
                Effect::Close => close = true,
            }
        }
        if !wbuf.is_empty() {
            if wr.write_all(&wbuf).await.is_err() {
                return End::Lost;
            }
            wbuf.clear();
        }
        publish(shared, index, agent);
        if close {
            return End::Lost;
        }
        tokio::select! {
            _ = cancel.cancelled() => {
                let _ = wr.shutdown().await;
                return End::Shutdown;
            }
            next = frames.next() => match next {
                Some(Ok(raw)) => {
                    let now = start.elapsed();
                    match Message::parse_bytes(&raw) {
                        Ok((xid, msg)) => agent.handle(now, xid, msg, &raw, &mut out),
                        Err(e) => {
                            let reply = frame_error(&raw, e).error_reply();
                            out.push(Effect::Send(reply));
                        }
                    }
                    // Drain whatever else is already buffered before writing.
                    while let Some(Some(Ok(raw))) = futures::FutureExt::now_or_never(frames.next()) {
                        match Message::parse_bytes(&raw) {
                            Ok((xid, msg)) => agent.handle(start.elapsed(), xid, msg, &raw, &mut out),
                            Err(e) => out.push(Effect::Send(frame_error(&raw, e).error_reply())),
                        }
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(dpid = %agent.dpid(), error = %e, "controller connection failed");
                    return End::Lost;
                }
                None => return End::Lost,
            },
            input = inbox.recv() => match input {
                Some(input) => handle_input(agent, input, start, &mut out),
                None => return End::Shutdown,
            },
            _ = tick.tick() => agent.tick(start.elapsed(), &mut out),
        }
    }
}
