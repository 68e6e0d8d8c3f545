//! The cbench-style load generator: N emulated switches spread over one or more threads (each a
//! current-thread runtime, optionally busy-polling), each switch doing the handshake and then
//! sending pre-built PACKET_INs (a [`Mix`]) as fast as the controller answers.
//!
//! Two counts. A *response* is any FLOW_MOD or PACKET_OUT received: one packet-in's answer may
//! be two responses (a FLOW_MOD for the flow, a PACKET_OUT for the packet itself when the switch
//! did not buffer it). An *answered packet-in* is counted once, when the message that deals with
//! its packet arrives: a PACKET_OUT whose data ends in the packet-in's tag, or a FLOW_MOD or
//! PACKET_OUT that applies its buffer (see [`super::mix`]). Packet-ins are numbered per switch
//! and answers come back in order on a TCP connection, so an answer also settles every earlier
//! packet-in still waiting (the controller chose not to answer those).
//!
//! Throughput mode keeps `window` answerable packet-ins outstanding per switch; latency mode
//! keeps one. Frames a learning switch does not answer (LLDP, truncated frames) travel with the
//! next answerable one and are not waited for. Latency runs from the write of a packet-in to the
//! read of its answer.

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

use prescient_southbound::openflow::session::busy_poll;

use super::cpu;
use super::frames::{self, msg};
use super::mix::{self, Mix, Ring};

/// How the generator keeps packet-ins in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `window` outstanding packet-ins per switch: measures answers per second.
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
    /// Frames sent.
    pub mix: Mix,
    /// Hosts (source MACs) behind each emulated switch.
    pub hosts: u32,
    /// A process (the controller under test) whose CPU use is measured with this one's.
    pub watch: Option<u32>,
    /// Threads the switches are spread over (at least one, at most one per switch).
    pub threads: usize,
    /// Longest each thread busy-polls for answers before sleeping (zero: never).
    pub busy_poll: Duration,
    /// Latencies of the answers read while this says so go to
    /// [`LoadReport::latency_during_ns`] too (e.g. while the controller runs a control tick).
    pub during: Option<During>,
}

/// A condition asked at every answer read (it must be cheap: an atomic load).
#[derive(Clone)]
pub struct During(pub Arc<dyn Fn() -> bool + Send + Sync>);

impl std::fmt::Debug for During {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("During(..)")
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// FLOW_MODs and PACKET_OUTs received during the measured time.
    pub responses: u64,
    /// Packet-ins answered during the measured time, each once.
    pub answered: u64,
    /// Packet-ins sent during the measured time (answerable or not).
    pub sent: u64,
    /// Answerable packet-ins the controller let pass without an answer (settled by a later
    /// answer, or after waiting [`GIVE_UP`]).
    pub unanswered: u64,
    /// Answers naming no packet-in still waiting (e.g. an answered LLDP frame).
    pub unexpected: u64,
    /// Length of the measured time.
    pub elapsed: Duration,
    /// Switches that completed the handshake.
    pub connected: usize,
    /// Round-trip times (nanoseconds) of the measured time.
    pub latency_ns: Histogram<u64>,
    /// Of them, those of answers read while [`LoadConfig::during`] held (empty without one).
    pub latency_during_ns: Histogram<u64>,
    /// Cores this process (the generator, and whatever else it runs) kept busy while measured.
    pub own_cores: Option<f64>,
    /// Cores the watched process kept busy while measured.
    pub watched_cores: Option<f64>,
}

impl LoadReport {
    /// Responses (FLOW_MOD or PACKET_OUT messages) per second over the measured time.
    pub fn responses_per_sec(&self) -> f64 {
        self.per_sec(self.responses)
    }

    /// Packet-ins answered per second over the measured time, each counted once.
    pub fn answered_per_sec(&self) -> f64 {
        self.per_sec(self.answered)
    }

    /// Packet-ins sent per second over the measured time.
    pub fn sent_per_sec(&self) -> f64 {
        self.per_sec(self.sent)
    }

    fn per_sec(&self, n: u64) -> f64 {
        n as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency quantile in microseconds.
    pub fn quantile_us(&self, q: f64) -> f64 {
        self.latency_ns.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Every latency of the measured time, and those that fell while [`LoadConfig::during`] held.
struct Latencies {
    all: Histogram<u64>,
    during: Histogram<u64>,
}

impl Latencies {
    fn new() -> Self {
        Latencies {
            all: new_histogram(),
            during: new_histogram(),
        }
    }

    fn add(&mut self, other: &Latencies) -> anyhow::Result<()> {
        self.all
            .add(&other.all)
            .context("merging latency histograms")?;
        self.during
            .add(&other.during)
            .context("merging latency histograms")
    }
}

/// Packet-ins pre-built per switch (each source MAC appears `RING / hosts` times).
const RING: usize = 8192;
/// An answerable packet-in waiting longer than this is counted unanswered and forgotten, so a
/// controller that ignores some packets cannot stall a switch's window.
pub const GIVE_UP: Duration = Duration::from_secs(2);

const PHASE_HANDSHAKE: u8 = 0;
const PHASE_WARMUP: u8 = 1;
const PHASE_MEASURE: u8 = 2;
const PHASE_STOP: u8 = 3;

#[derive(Default)]
struct Counts {
    responses: AtomicU64,
    answered: AtomicU64,
    sent: AtomicU64,
    unanswered: AtomicU64,
    unexpected: AtomicU64,
}

struct Shared {
    phase: AtomicU8,
    counts: Counts,
    connected: AtomicUsize,
}

/// Runs the generator on `cfg.threads` OS threads of its own (switch `i` on thread
/// `i % threads`), each with a current-thread runtime; blocks until done.
pub fn run_load(cfg: LoadConfig) -> anyhow::Result<LoadReport> {
    let shared = Arc::new(Shared {
        phase: AtomicU8::new(PHASE_HANDSHAKE),
        counts: Counts::default(),
        connected: AtomicUsize::new(0),
    });
    let (phase_tx, phase_rx) = watch::channel(PHASE_HANDSHAKE);
    let threads = cfg.threads.clamp(1, cfg.switches.max(1));
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let ids: Vec<u64> = (0..cfg.switches)
            .filter(|i| i % threads == t)
            .map(|i| i as u64 + 1)
            .collect();
        let (cfg, shared, phase_rx) = (cfg.clone(), shared.clone(), phase_rx.clone());
        let handle = std::thread::Builder::new()
            .name(format!("of-loadgen-{t}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("building the load generator's runtime")?;
                rt.block_on(async move {
                    if !cfg.busy_poll.is_zero() {
                        tokio::spawn(busy_poll::run(cfg.busy_poll));
                    }
                    switches(ids, &cfg, shared, phase_rx).await
                })
            })
            .context("spawning a load generator thread")?;
        handles.push(handle);
    }
    let timing = time_phases(&cfg, &shared, &phase_tx, &handles);
    // Whatever happened, the switches stop now and every thread is joined.
    set_phase(&shared, &phase_tx, PHASE_STOP);
    let mut latency = Latencies::new();
    let mut failure = None;
    for h in handles {
        match h.join() {
            Ok(Ok(h)) => latency.add(&h)?,
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(_) => {
                failure = failure.or(Some(anyhow::anyhow!("a load generator thread panicked")))
            }
        }
    }
    // A thread's error (a switch that could not connect) explains a timing error too.
    let (elapsed, connected, own_cores, watched_cores) = match (failure, timing) {
        (Some(e), _) | (None, Err(e)) => return Err(e),
        (None, Ok(t)) => t,
    };
    let c = &shared.counts;
    Ok(LoadReport {
        responses: c.responses.load(Ordering::Relaxed),
        answered: c.answered.load(Ordering::Relaxed),
        sent: c.sent.load(Ordering::Relaxed),
        unanswered: c.unanswered.load(Ordering::Relaxed),
        unexpected: c.unexpected.load(Ordering::Relaxed),
        elapsed,
        connected,
        latency_ns: latency.all,
        latency_during_ns: latency.during,
        own_cores,
        watched_cores,
    })
}

/// Waits for the handshakes, then runs the warm-up and the measured time; returns the measured
/// time, the switches connected and the cores used.
fn time_phases(
    cfg: &LoadConfig,
    shared: &Shared,
    phase_tx: &watch::Sender<u8>,
    threads: &[std::thread::JoinHandle<anyhow::Result<Latencies>>],
) -> anyhow::Result<(Duration, usize, Option<f64>, Option<f64>)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while shared.connected.load(Ordering::Relaxed) < cfg.switches
        && Instant::now() < deadline
        // A thread that ended early failed to connect: its error is the news.
        && !threads.iter().any(|t| t.is_finished())
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let connected = shared.connected.load(Ordering::Relaxed);
    if connected == 0 {
        anyhow::bail!(
            "no switch completed the handshake with {} within 10 s",
            cfg.target
        );
    }
    // Let the controller finish its connect-time programming before packet-ins start.
    std::thread::sleep(Duration::from_millis(200));
    set_phase(shared, phase_tx, PHASE_WARMUP);
    std::thread::sleep(cfg.warmup);
    let start = Instant::now();
    let own = cpu::Mark::now(cpu::Process::Own);
    let watched = cfg.watch.map(|pid| cpu::Mark::now(cpu::Process::Pid(pid)));
    set_phase(shared, phase_tx, PHASE_MEASURE);
    std::thread::sleep(cfg.duration);
    set_phase(shared, phase_tx, PHASE_STOP);
    let elapsed = start.elapsed();
    Ok((
        elapsed,
        connected,
        own.cores_since(),
        watched.and_then(|m| m.cores_since()),
    ))
}

/// Connects the switches `dpids` and runs them until the phase says stop; their latencies.
async fn switches(
    dpids: Vec<u64>,
    cfg: &LoadConfig,
    shared: Arc<Shared>,
    phase_rx: watch::Receiver<u8>,
) -> anyhow::Result<Latencies> {
    let mut tasks = Vec::with_capacity(dpids.len());
    for dpid in dpids {
        let stream = TcpStream::connect(cfg.target)
            .await
            .with_context(|| format!("switch {dpid}: connecting to {}", cfg.target))?;
        stream.set_nodelay(true).context("setting TCP_NODELAY")?;
        let sw = FakeSwitch::new(dpid, cfg, shared.clone());
        tasks.push(tokio::spawn(sw.run(stream, phase_rx.clone())));
    }
    let mut latency = Latencies::new();
    for t in tasks {
        match t.await {
            Ok(Ok(h)) => latency.add(&h)?,
            Ok(Err(e)) => tracing::warn!("emulated switch failed: {e:#}"),
            Err(e) => tracing::warn!("emulated switch task failed: {e}"),
        }
    }
    Ok(latency)
}

fn set_phase(shared: &Shared, tx: &watch::Sender<u8>, phase: u8) {
    shared.phase.store(phase, Ordering::Relaxed);
    let _ = tx.send(phase);
}

fn new_histogram() -> Histogram<u64> {
    // 1 ns to 60 s at 3 significant digits; these bounds are valid, so this cannot fail.
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("constant histogram bounds are valid")
}

/// The answerable packet-ins of one switch still waiting, oldest first.
#[derive(Debug, Default)]
pub struct Outstanding {
    waiting: VecDeque<(u32, Instant)>,
}

/// What one answer settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The packet-in sent at this instant; `skipped` earlier ones went unanswered.
    Answer {
        /// When it was sent.
        sent: Instant,
        /// Earlier packet-ins settled without an answer.
        skipped: u64,
    },
    /// No packet-in with this tag is waiting.
    Unexpected,
}

impl Outstanding {
    /// Packet-ins waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// True when none waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Packet-in `tag` was sent at `at` (tags increase).
    pub fn sent(&mut self, tag: u32, at: Instant) {
        self.waiting.push_back((tag, at));
    }

    /// An answer naming `tag` arrived.
    pub fn answer(&mut self, tag: u32) -> Settled {
        let Ok(i) = self.waiting.binary_search_by_key(&tag, |(t, _)| *t) else {
            return Settled::Unexpected;
        };
        let skipped = i as u64;
        self.waiting.drain(..i);
        match self.waiting.pop_front() {
            Some((_, sent)) => Settled::Answer { sent, skipped },
            None => Settled::Unexpected,
        }
    }

    /// Forgets packet-ins sent before `before`; returns how many.
    pub fn give_up(&mut self, before: Instant) -> u64 {
        let mut n = 0;
        while self.waiting.front().is_some_and(|(_, at)| *at < before) {
            self.waiting.pop_front();
            n += 1;
        }
        n
    }
}

/// The packet-in a FLOW_MOD or PACKET_OUT `frame` (header included) answers, if it names one:
/// its buffer id, else (PACKET_OUT only) the tag its data ends in. `None` for a FLOW_MOD that
/// applies no buffer (half of an answer: the PACKET_OUT follows).
pub fn answered_tag(frame: &[u8]) -> Option<u32> {
    let u32_at = |at: usize| {
        frame
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
    };
    match frame.get(1).copied()? {
        msg::FLOW_MOD => u32_at(32).filter(|b| *b != mix::NO_BUFFER),
        msg::PACKET_OUT => {
            let buffer = u32_at(8)?;
            if buffer != mix::NO_BUFFER {
                return Some(buffer);
            }
            let actions = frame
                .get(16..18)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))?;
            let data = frame.get(24 + actions..)?;
            u32_at(frame.len().checked_sub(4)?).filter(|_| data.len() >= 4)
        }
        _ => None,
    }
}

struct FakeSwitch {
    dpid: u64,
    ports: u32,
    window: usize,
    shared: Arc<Shared>,
    ring: Ring,
    next: usize,
    seq: u32,
    outstanding: Outstanding,
    latency: Latencies,
    during: Option<During>,
    handshaken: bool,
}

impl FakeSwitch {
    fn new(dpid: u64, cfg: &LoadConfig, shared: Arc<Shared>) -> Self {
        let ports = cfg.ports.max(2);
        let window = match cfg.mode {
            Mode::Throughput => cfg.window.max(1),
            Mode::Latency => 1,
        };
        FakeSwitch {
            dpid,
            ports,
            window,
            shared,
            ring: mix::build(cfg.mix, dpid, cfg.hosts, ports, RING),
            next: 0,
            seq: 0,
            outstanding: Outstanding::default(),
            latency: Latencies::new(),
            during: cfg.during.clone(),
            handshaken: false,
        }
    }

    async fn run(
        mut self,
        mut stream: TcpStream,
        mut phase_rx: watch::Receiver<u8>,
    ) -> anyhow::Result<Latencies> {
        let mut rbuf = vec![0u8; 256 * 1024];
        let (mut start, mut end) = (0usize, 0usize);
        let mut wbuf = frames::hello(0);
        stream.write_all(&wbuf).await.context("sending HELLO")?;
        wbuf.clear();
        // Wakes a switch whose every packet-in went unanswered, to give up on them.
        let mut patience = tokio::time::interval(GIVE_UP / 4);
        patience.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
                _ = patience.tick() => None,
            };
            match read {
                Some(0) => anyhow::bail!("switch {}: controller closed the connection", self.dpid),
                Some(n) => {
                    end += n;
                    busy_poll::note_work();
                }
                None => {}
            }
            let now = Instant::now();
            let measuring = phase == PHASE_MEASURE;
            let during = measuring && self.during.as_ref().is_some_and(|d| (d.0)());
            let (mut responses, mut answered, mut skipped, mut unexpected) = (0, 0, 0, 0);
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
                let frame = &rbuf[start..start + len];
                let body = &frame[frames::HEADER_LEN..];
                match ty {
                    msg::FLOW_MOD | msg::PACKET_OUT => {
                        responses += 1;
                        let settled = answered_tag(frame).map(|t| self.outstanding.answer(t));
                        match settled {
                            Some(Settled::Answer { sent, skipped: s }) => {
                                answered += 1;
                                skipped += s;
                                if measuring {
                                    let ns = now.saturating_duration_since(sent).as_nanos();
                                    let ns = u64::try_from(ns).unwrap_or(u64::MAX).max(1);
                                    let _ = self.latency.all.record(ns);
                                    if during {
                                        let _ = self.latency.during.record(ns);
                                    }
                                }
                            }
                            Some(Settled::Unexpected) => unexpected += 1,
                            None => {}
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
            if let Some(before) = now.checked_sub(GIVE_UP) {
                skipped += self.outstanding.give_up(before);
            }
            let phase = self.shared.phase.load(Ordering::Relaxed);
            let sent = if phase == PHASE_WARMUP || phase == PHASE_MEASURE {
                self.top_up(&mut wbuf, now)
            } else {
                0
            };
            if measuring {
                let c = &self.shared.counts;
                for (counter, n) in [
                    (&c.responses, responses),
                    (&c.answered, answered),
                    (&c.unanswered, skipped),
                    (&c.unexpected, unexpected),
                ] {
                    if n > 0 {
                        counter.fetch_add(n, Ordering::Relaxed);
                    }
                }
            }
            if phase == PHASE_MEASURE && sent > 0 {
                self.shared.counts.sent.fetch_add(sent, Ordering::Relaxed);
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

    /// Appends packet-ins until `window` answerable ones are outstanding; returns how many
    /// packet-ins it appended.
    fn top_up(&mut self, wbuf: &mut Vec<u8>, now: Instant) -> u64 {
        let mut sent = 0;
        while self.outstanding.len() < self.window {
            let Some(slot) = self.ring.slots.get(self.next).copied() else {
                break;
            };
            self.next = (self.next + 1) % self.ring.slots.len();
            let Some(frame) = self.ring.bytes.get(slot.start..slot.start + slot.len) else {
                continue;
            };
            let at = wbuf.len();
            wbuf.extend_from_slice(frame);
            mix::stamp(&mut wbuf[at..], self.ring.buffered, self.seq);
            if slot.kind.answerable() {
                self.outstanding.sent(self.seq, now);
            }
            self.seq = self.seq.wrapping_add(1);
            sent += 1;
        }
        sent
    }
}

#[cfg(test)]
mod tests;
