//! The cbench-style load generator: N emulated switches on one current-thread runtime, each doing
//! the handshake and then sending pre-built PACKET_INs as fast as the controller answers.
//!
//! A response is any FLOW_MOD or PACKET_OUT received while packet-ins are outstanding; frames are
//! counted by their header only. Throughput mode keeps `window` packet-ins outstanding per
//! switch; latency mode keeps one. Latency is measured from the write of a packet-in to the read
//! of its answer (answers arrive in order on a TCP connection).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::frames::{self, msg};

/// How the generator keeps packet-ins in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `window` outstanding packet-ins per switch: measures responses per second.
    Throughput,
    /// One outstanding packet-in per switch: measures round-trip latency.
    Latency,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Controller to connect to.
    pub target: SocketAddr,
    /// Number of emulated switches (connections).
    pub switches: usize,
    /// Throughput or latency.
    pub mode: Mode,
    /// Outstanding packet-ins per switch in throughput mode.
    pub window: usize,
    /// Time spent sending before measuring (lets the controller learn every MAC).
    pub warmup: Duration,
    /// Measured time.
    pub duration: Duration,
    /// Ports per emulated switch.
    pub ports: u32,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Responses counted during the measured time.
    pub responses: u64,
    /// Length of the measured time.
    pub elapsed: Duration,
    /// Switches that completed the handshake.
    pub connected: usize,
    /// Round-trip times (nanoseconds) of the measured time.
    pub latency_ns: Histogram<u64>,
}

impl LoadReport {
    /// Responses per second over the measured time.
    pub fn responses_per_sec(&self) -> f64 {
        self.responses as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency quantile in microseconds.
    pub fn quantile_us(&self, q: f64) -> f64 {
        self.latency_ns.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Packet-ins pre-built per switch; each uses a distinct source MAC.
const RING: usize = 1024;

const PHASE_HANDSHAKE: u8 = 0;
const PHASE_WARMUP: u8 = 1;
const PHASE_MEASURE: u8 = 2;
const PHASE_STOP: u8 = 3;

struct Shared {
    phase: AtomicU8,
    responses: AtomicU64,
    connected: AtomicUsize,
}

/// Runs the generator on its own OS thread with a current-thread runtime; blocks until done.
pub fn run_load(cfg: LoadConfig) -> anyhow::Result<LoadReport> {
    std::thread::Builder::new()
        .name("of-loadgen".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("building the load generator's runtime")?;
            rt.block_on(drive(cfg))
        })
        .context("spawning the load generator thread")?
        .join()
        .map_err(|_| anyhow::anyhow!("the load generator thread panicked"))?
}

async fn drive(cfg: LoadConfig) -> anyhow::Result<LoadReport> {
    let shared = Arc::new(Shared {
        phase: AtomicU8::new(PHASE_HANDSHAKE),
        responses: AtomicU64::new(0),
        connected: AtomicUsize::new(0),
    });
    let (phase_tx, phase_rx) = watch::channel(PHASE_HANDSHAKE);
    let mut tasks = Vec::with_capacity(cfg.switches);
    for i in 0..cfg.switches {
        let stream = TcpStream::connect(cfg.target)
            .await
            .with_context(|| format!("switch {i}: connecting to {}", cfg.target))?;
        stream.set_nodelay(true).context("setting TCP_NODELAY")?;
        let sw = FakeSwitch::new(i as u64 + 1, &cfg, shared.clone());
        tasks.push(tokio::spawn(sw.run(stream, phase_rx.clone())));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while shared.connected.load(Ordering::Relaxed) < cfg.switches && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let connected = shared.connected.load(Ordering::Relaxed);
    if connected == 0 {
        anyhow::bail!(
            "no switch completed the handshake with {} within 10 s",
            cfg.target
        );
    }
    // Let the controller finish its connect-time programming before packet-ins start.
    tokio::time::sleep(Duration::from_millis(200)).await;
    set_phase(&shared, &phase_tx, PHASE_WARMUP);
    tokio::time::sleep(cfg.warmup).await;
    let start = Instant::now();
    set_phase(&shared, &phase_tx, PHASE_MEASURE);
    tokio::time::sleep(cfg.duration).await;
    set_phase(&shared, &phase_tx, PHASE_STOP);
    let elapsed = start.elapsed();
    let mut latency_ns = new_histogram();
    for t in tasks {
        match t.await {
            Ok(Ok(h)) => latency_ns.add(&h).context("merging latency histograms")?,
            Ok(Err(e)) => tracing::warn!("emulated switch failed: {e:#}"),
            Err(e) => tracing::warn!("emulated switch task failed: {e}"),
        }
    }
    Ok(LoadReport {
        responses: shared.responses.load(Ordering::Relaxed),
        elapsed,
        connected,
        latency_ns,
    })
}

fn set_phase(shared: &Shared, tx: &watch::Sender<u8>, phase: u8) {
    shared.phase.store(phase, Ordering::Relaxed);
    let _ = tx.send(phase);
}

fn new_histogram() -> Histogram<u64> {
    // 1 ns to 60 s at 3 significant digits; these bounds are valid, so this cannot fail.
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("constant histogram bounds are valid")
}

struct FakeSwitch {
    dpid: u64,
    ports: u32,
    window: usize,
    shared: Arc<Shared>,
    ring: Vec<u8>,
    next: usize,
    sent_at: VecDeque<Instant>,
    latency: Histogram<u64>,
    handshaken: bool,
}

impl FakeSwitch {
    fn new(dpid: u64, cfg: &LoadConfig, shared: Arc<Shared>) -> Self {
        let ports = cfg.ports.max(1);
        let mut ring = Vec::with_capacity(RING * frames::PACKET_IN_LEN);
        for k in 0..RING as u32 {
            // Half a ring plus one away: learned by the second pass, and (with any port count
            // dividing the ring) behind another port, so every packet-in needs an answer.
            let dst = (k + RING as u32 / 2 + 1) % RING as u32;
            frames::put_packet_in(
                &mut ring,
                k + 1,
                k,
                k % ports + 1,
                frames::host_mac(dpid, k),
                frames::host_mac(dpid, dst),
            );
        }
        let window = match cfg.mode {
            Mode::Throughput => cfg.window.max(1),
            Mode::Latency => 1,
        };
        FakeSwitch {
            dpid,
            ports,
            window,
            shared,
            ring,
            next: 0,
            sent_at: VecDeque::with_capacity(window),
            latency: new_histogram(),
            handshaken: false,
        }
    }

    async fn run(
        mut self,
        mut stream: TcpStream,
        mut phase_rx: watch::Receiver<u8>,
    ) -> anyhow::Result<Histogram<u64>> {
        let mut rbuf = vec![0u8; 256 * 1024];
        let (mut start, mut end) = (0usize, 0usize);
        let mut wbuf = frames::hello(0);
        stream.write_all(&wbuf).await.context("sending HELLO")?;
        wbuf.clear();
        loop {
            let phase = self.shared.phase.load(Ordering::Relaxed);
            if phase == PHASE_STOP {
                return Ok(self.latency);
            }
            if end == rbuf.len() {
                rbuf.copy_within(start..end, 0);
                end -= start;
                start = 0;
            }
            let read = tokio::select! {
                r = stream.read(&mut rbuf[end..]) => Some(r.context("reading from the controller")?),
                _ = phase_rx.changed() => None,
            };
            match read {
                Some(0) => anyhow::bail!("switch {}: controller closed the connection", self.dpid),
                Some(n) => end += n,
                None => {}
            }
            let now = Instant::now();
            let mut answered = 0u64;
            while let Some((ty, len, xid)) = frames::peek(&rbuf[start..end]) {
                if len < frames::HEADER_LEN {
                    anyhow::bail!(
                        "switch {}: controller sent a frame of length {len}",
                        self.dpid
                    );
                }
                if end - start < len {
                    break;
                }
                let body = &rbuf[start + frames::HEADER_LEN..start + len];
                match ty {
                    msg::FLOW_MOD | msg::PACKET_OUT => {
                        if let Some(t) = self.sent_at.pop_front() {
                            answered += 1;
                            if phase == PHASE_MEASURE {
                                let ns = now.saturating_duration_since(t).as_nanos();
                                let _ = self
                                    .latency
                                    .record(u64::try_from(ns).unwrap_or(u64::MAX).max(1));
                            }
                        }
                    }
                    msg::ECHO_REQUEST => {
                        wbuf.extend_from_slice(&frames::echo_body(xid, msg::ECHO_REPLY, body))
                    }
                    msg::FEATURES_REQUEST => {
                        wbuf.extend_from_slice(&frames::features_reply(xid, self.dpid));
                        if !self.handshaken {
                            self.handshaken = true;
                            self.shared.connected.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    msg::GET_CONFIG_REQUEST => {
                        wbuf.extend_from_slice(&frames::get_config_reply(xid))
                    }
                    msg::MULTIPART_REQUEST => {
                        let mp = body
                            .get(..2)
                            .map(|b| u16::from_be_bytes([b[0], b[1]]))
                            .unwrap_or(0);
                        if mp == 13 {
                            wbuf.extend_from_slice(&frames::port_desc_reply(
                                xid, self.dpid, self.ports,
                            ));
                        } else {
                            wbuf.extend_from_slice(&frames::empty_multipart_reply(xid, mp));
                        }
                    }
                    msg::BARRIER_REQUEST => {
                        wbuf.extend_from_slice(&frames::echo_body(xid, msg::BARRIER_REPLY, &[]))
                    }
                    msg::ROLE_REQUEST => {
                        wbuf.extend_from_slice(&frames::echo_body(xid, msg::ROLE_REPLY, body))
                    }
                    _ => {}
                }
                start += len;
            }
            if start == end {
                start = 0;
                end = 0;
            }
            if phase == PHASE_MEASURE && answered > 0 {
                self.shared.responses.fetch_add(answered, Ordering::Relaxed);
            }
            let phase = self.shared.phase.load(Ordering::Relaxed);
            if phase == PHASE_WARMUP || phase == PHASE_MEASURE {
                self.top_up(&mut wbuf, now);
            }
            if !wbuf.is_empty() {
                stream
                    .write_all(&wbuf)
                    .await
                    .context("writing to the controller")?;
                wbuf.clear();
            }
        }
    }

    /// Appends packet-ins until `window` are outstanding.
    fn top_up(&mut self, wbuf: &mut Vec<u8>, now: Instant) {
        while self.sent_at.len() < self.window {
            let off = self.next * frames::PACKET_IN_LEN;
            if let Some(frame) = self.ring.get(off..off + frames::PACKET_IN_LEN) {
                wbuf.extend_from_slice(frame);
            }
            self.next = (self.next + 1) % RING;
            self.sent_at.push_back(now);
        }
    }
}
