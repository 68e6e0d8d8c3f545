//! The core as shared by the southbound driver and the HTTP handlers.
//!
//! Writers take the mutex for one entry point at a time; the events an entry point produced are
//! published after the lock is released. Topology readers use the snapshot, which needs no lock
//! (on a large network a changed topology is published at most once per ten times what
//! building it cost, so discovery does not spend its time rebuilding snapshots; [`SharedCore::
//! snapshot`] publishes a held-back change first, so its readers never see an old one);
//! so do the switch sessions asking whether an address is a service's VIP (their ARP requests
//! must reach the proxy-ARP answer, every other ARP only when it tells the core something).
//! The bus is a bounded broadcast: a subscriber that falls more than [`EVENT_BUS_CAPACITY`]
//! events behind loses the oldest ones (and is told so), the core never waits for it.
//!
//! The control tick is the one long entry point (hundreds of milliseconds at tens of thousands
//! of series): [`SharedCore::tick_in_slices`] runs it in steps of a few milliseconds and lets
//! every caller that waits for the lock in between, so an API call waits for a slice of the
//! tick, not the whole of it.
//!
//! Actions reach the switches through one queue, the outlet, which one driver task empties
//! ([`SharedCore::next_actions`]). The tick and the switches' events ([`SharedCore::decide`])
//! put their actions in it under the core's lock, in the entry that decided them, so they
//! leave in the order the core decided them even while the driver serves events during a
//! tick: an action decided after a tick's end (a reroute on a link-down) cannot be overtaken
//! by the tick's older ones. The API's calls [`SharedCore::dispatch`] theirs once the state
//! store has committed the change, outside the lock.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use prescient_southbound::latency::LatencyHistogram;
use prescient_southbound::openflow::session::SessionCounters;
use prescient_topology::{MacAddr, PortRef, Protocol, Snapshot, SnapshotReader, Timestamp};
use tokio::sync::{broadcast, Notify};

use super::{Action, ControllerCore, ControllerEvent, CoreConfig, TickRound};

/// Events buffered per subscriber.
pub const EVENT_BUS_CAPACITY: usize = 1024;

/// Where handlers get `now` from.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Seconds of traffic the message rates average over.
pub const RATE_WINDOW_SECS: u64 = 10;

/// One message type's count: the total and per-second slots for the rate.
#[derive(Debug, Clone, Default)]
struct MessageCount {
    total: u64,
    /// `(second since start, messages in it)`, indexed by second modulo the ring size; a slot
    /// whose second is not the one asked for is stale and counts as zero.
    slots: [(u64, u64); RATE_WINDOW_SECS as usize + 1],
}

/// Counters the southbound drivers bump and the write-latency histograms the southbound
/// sessions fill; exported at `/metrics`.
///
/// Rates are messages per second over the last [`RATE_WINDOW_SECS`] complete seconds, so they
/// lag by at most a second and never show a half-filled current second.
#[derive(Debug)]
pub struct Metrics {
    messages: Mutex<BTreeMap<String, MessageCount>>,
    started: Instant,
    openflow_writes: Arc<LatencyHistogram>,
    p4runtime_writes: Arc<LatencyHistogram>,
    openflow_sessions: Arc<SessionCounters>,
    ticks: Mutex<TickStats>,
    /// Set from a tick's start to its end (see [`Metrics::tick_running`]).
    ticking: AtomicBool,
}

/// How the core's control ticks keep time: how late each started against its schedule and how
/// long it took (a tick is one forecast round over every series, then the planners).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TickStats {
    /// Ticks run.
    pub count: u64,
    /// Lateness of the last tick: its start minus when it was due.
    pub last_late: std::time::Duration,
    /// The largest lateness since start.
    pub max_late: std::time::Duration,
    /// Duration of the last tick.
    pub last_took: std::time::Duration,
    /// The longest tick since start.
    pub max_took: std::time::Duration,
    /// Series (links and host pairs) kept at the last tick.
    pub series: usize,
    /// The forecast stride of the last tick: each series steps every this many ticks.
    pub stride: u32,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            messages: Mutex::default(),
            started: Instant::now(),
            openflow_writes: Arc::default(),
            p4runtime_writes: Arc::default(),
            openflow_sessions: Arc::default(),
            ticks: Mutex::default(),
            ticking: AtomicBool::new(false),
        }
    }
}

impl Metrics {
    /// Counts `n` southbound messages of type `kind` (e.g. `packet_in`, `port_stats`).
    pub fn count_messages(&self, kind: &str, n: u64) {
        self.count_messages_at(kind, n, Instant::now());
    }

    /// [`Self::count_messages`] at a given instant (tests step time by hand).
    pub fn count_messages_at(&self, kind: &str, n: u64, now: Instant) {
        let sec = self.second(now);
        let mut m = lock(&self.messages);
        let c = match m.get_mut(kind) {
            Some(c) => c,
            None => m.entry(kind.to_string()).or_default(),
        };
        c.total = c.total.saturating_add(n);
        let ring = c.slots.len() as u64;
        if let Some(slot) = c.slots.get_mut((sec % ring) as usize) {
            if slot.0 != sec {
                *slot = (sec, 0);
            }
            slot.1 = slot.1.saturating_add(n);
        }
    }

    /// Messages counted so far, by type.
    pub fn messages(&self) -> BTreeMap<String, u64> {
        lock(&self.messages)
            .iter()
            .map(|(k, c)| (k.clone(), c.total))
            .collect()
    }

    /// Messages per second over the last [`RATE_WINDOW_SECS`] complete seconds, by type.
    pub fn message_rates(&self) -> BTreeMap<String, f64> {
        self.message_rates_at(Instant::now())
    }

    /// [`Self::message_rates`] as of `now`.
    pub fn message_rates_at(&self, now: Instant) -> BTreeMap<String, f64> {
        let sec = self.second(now);
        let window = sec.saturating_sub(RATE_WINDOW_SECS)..sec;
        lock(&self.messages)
            .iter()
            .map(|(k, c)| {
                let n: u64 = c
                    .slots
                    .iter()
                    .filter(|(s, _)| window.contains(s))
                    .map(|(_, n)| n)
                    .sum();
                (k.clone(), n as f64 / RATE_WINDOW_SECS as f64)
            })
            .collect()
    }

    /// The write-latency histogram of `protocol`'s sessions; hand it to the southbound
    /// (`ControllerConfig::write_latency`, `ClientConfig::write_latency`).
    pub fn write_latency(&self, protocol: Protocol) -> Arc<LatencyHistogram> {
        match protocol {
            Protocol::OpenFlow => Arc::clone(&self.openflow_writes),
            Protocol::P4Runtime => Arc::clone(&self.p4runtime_writes),
        }
    }

    /// What the OpenFlow sessions count (drops, skipped statistics polls); hand it to the
    /// southbound (`ControllerConfig::counters`).
    pub fn openflow_sessions(&self) -> Arc<SessionCounters> {
        Arc::clone(&self.openflow_sessions)
    }

    /// A control tick starts now: [`Metrics::tick_running`] is true until the guard is
    /// finished with the tick's figures ([`TickRunning::finish`]) or dropped. Dropped covers a
    /// tick that panics or whose task is cancelled mid-tick: the flag cannot outlive the tick.
    pub fn tick_began(&self) -> TickRunning<'_> {
        self.ticking.store(true, Ordering::Release);
        TickRunning { metrics: self }
    }

    /// Whether a control tick is running now, without a lock: `bench openflow
    /// --forecast-series` files the latency of each packet-in answered meanwhile apart.
    pub fn tick_running(&self) -> bool {
        self.ticking.load(Ordering::Acquire)
    }

    /// The tick figures so far.
    pub fn ticks(&self) -> TickStats {
        *lock(&self.ticks)
    }

    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.started).as_secs()
    }
}

/// A control tick in progress (from [`Metrics::tick_began`]); dropping it ends the tick without
/// recording figures for it.
#[derive(Debug)]
#[must_use = "the tick ends (tick_running goes false) when this is dropped"]
pub struct TickRunning<'a> {
    metrics: &'a Metrics,
}

impl TickRunning<'_> {
    /// Ends the tick and records it: how late it started, how long it took, how many series
    /// there were and the stride it ran at.
    pub fn finish(
        self,
        late: std::time::Duration,
        took: std::time::Duration,
        series: usize,
        stride: u32,
    ) {
        // The figures first, then the flag (in drop): a reader that sees no tick running sees
        // this one counted.
        let mut t = lock(&self.metrics.ticks);
        t.count += 1;
        t.last_late = late;
        t.max_late = t.max_late.max(late);
        t.last_took = took;
        t.max_took = t.max_took.max(took);
        t.series = series;
        t.stride = stride;
    }
}

impl Drop for TickRunning<'_> {
    fn drop(&mut self) {
        self.metrics.ticking.store(false, Ordering::Release);
    }
}

/// Steps of `round` for about `slice` (at least one); true once every visit is done.
fn tick_slice(core: &mut ControllerCore, round: &mut TickRound, slice: Duration) -> bool {
    let started = Instant::now();
    loop {
        if core.tick_step(round, SERIES_PER_STEP) {
            return true;
        }
        if started.elapsed() >= slice {
            return false;
        }
    }
}

/// A poisoned lock only means a panic elsewhere; the data is still consistent per entry point.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A snapshot that took less than this to build is published after every entry point that
/// changed the topology (every network of a lab or a test: their snapshots take microseconds).
const PUBLISH_ALWAYS_UNDER: Duration = Duration::from_millis(1);
/// Otherwise a changed topology waits until this many times the last build's cost has passed
/// since it was published: at most a tenth of a core goes to rebuilding snapshots.
const PUBLISH_COST_RATIO: u32 = 10;

/// When the topology snapshot was last published and what building it cost.
#[derive(Debug, Clone, Copy)]
struct Published {
    at: Instant,
    cost: Duration,
}

/// Series a tick visits per step; a slice of the tick is as many steps as fit its time. Small
/// enough that a step under a packet-in storm (the tick's threads then get about a tenth of a
/// core) stays within milliseconds, large enough that spreading a step over the cores costs
/// little next to it.
const SERIES_PER_STEP: usize = 128;

/// Longest the tick waits, between two slices, for the callers waiting for the lock to get it.
const MOST_YIELDED: Duration = Duration::from_millis(50);

/// How often the tick looks again whether the callers it lets in had their turn.
const YIELD_POLL: Duration = Duration::from_micros(50);

/// The shared core.
pub struct SharedCore {
    core: Mutex<ControllerCore>,
    /// Callers blocked on `core`'s lock now: the tick lets them in between its slices (a std
    /// mutex is not fair: a thread that unlocks and locks again at once usually wins it).
    waiting: AtomicUsize,
    snapshots: SnapshotReader,
    /// Taken only under `core`'s lock.
    published: Mutex<Published>,
    /// A topology change is held back (see [`PUBLISH_COST_RATIO`]).
    held_back: AtomicBool,
    /// Every service's VIP and the MAC it answers ARP with, as of the last entry point, for
    /// lock-free readers (the sessions answer ARP for a VIP themselves).
    vips: ArcSwap<Vec<(Ipv4Addr, MacAddr)>>,
    /// The OpenFlow flood guard's blocked ports by datapath id, as the driver last decided them.
    flood_guard: ArcSwap<BTreeMap<u64, Vec<u32>>>,
    /// Bumped after each change of `flood_guard`, so session threads re-read it only then.
    flood_guard_generation: AtomicU64,
    bus: broadcast::Sender<ControllerEvent>,
    metrics: Metrics,
    clock: Clock,
    /// Actions waiting for the southbound driver, oldest first (see the module docs).
    outlet: Mutex<VecDeque<Action>>,
    outlet_ready: Notify,
    /// Held by the control tick that runs ([`SharedCore::tick_in_slices`]).
    one_tick: Mutex<()>,
}

impl std::fmt::Debug for SharedCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCore").finish_non_exhaustive()
    }
}

/// Wall-clock time since the Unix epoch.
pub fn system_clock() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl SharedCore {
    /// A shared core on the system clock.
    pub fn new(config: CoreConfig) -> Arc<Self> {
        Self::with_clock(config, Arc::new(system_clock))
    }

    /// A shared core reading time from `clock` (tests pass a fixed or stepped clock).
    pub fn with_clock(config: CoreConfig, clock: Clock) -> Arc<Self> {
        let core = ControllerCore::new(config);
        let snapshots = core.topology().reader();
        let (bus, _) = broadcast::channel(EVENT_BUS_CAPACITY);
        Arc::new(SharedCore {
            core: Mutex::new(core),
            waiting: AtomicUsize::new(0),
            snapshots,
            published: Mutex::new(Published {
                at: Instant::now(),
                cost: Duration::ZERO,
            }),
            held_back: AtomicBool::new(false),
            vips: ArcSwap::default(),
            flood_guard: ArcSwap::default(),
            flood_guard_generation: AtomicU64::new(0),
            bus,
            metrics: Metrics::default(),
            clock,
            outlet: Mutex::new(VecDeque::new()),
            outlet_ready: Notify::new(),
            one_tick: Mutex::new(()),
        })
    }

    /// Runs one entry point under the lock, then publishes the events it produced.
    pub fn apply<R>(&self, f: impl FnOnce(&mut ControllerCore) -> R) -> R {
        let (out, events) = {
            let mut core = self.lock_core();
            let out = f(&mut core);
            // Publishing the snapshot here keeps lock-free readers current.
            self.publish(&core, false);
            if !self
                .vips
                .load()
                .iter()
                .copied()
                .eq(core.services().vip_macs())
            {
                self.vips
                    .store(Arc::new(core.services().vip_macs().collect()));
            }
            (out, core.drain_events())
        };
        for e in events {
            // No subscriber is not an error: events are for whoever listens.
            let _ = self.bus.send(e);
        }
        out
    }

    /// Publishes the topology snapshot when it changed, unless building it is costly and the
    /// last one is recent (`force` publishes anyway). Called under the core's lock.
    fn publish(&self, core: &ControllerCore, force: bool) {
        if !core.topology().snapshot_pending() {
            self.held_back.store(false, Ordering::Release);
            return;
        }
        let mut last = lock(&self.published);
        let started = Instant::now();
        let wait = last.cost.saturating_mul(PUBLISH_COST_RATIO);
        if !force
            && last.cost >= PUBLISH_ALWAYS_UNDER
            && started.saturating_duration_since(last.at) < wait
        {
            self.held_back.store(true, Ordering::Release);
            return;
        }
        core.snapshot();
        *last = Published {
            at: Instant::now(),
            cost: started.elapsed(),
        };
        self.held_back.store(false, Ordering::Release);
    }

    /// Publishes a held-back topology change once its time has come; the driver calls this on
    /// every turn of its loop, so a change waits at most about [`PUBLISH_COST_RATIO`] builds.
    pub fn publish_due(&self) {
        if self.held_back.load(Ordering::Acquire) {
            self.publish(&self.lock_core(), false);
        }
    }

    /// Reads the core under the lock (keep `f` short).
    pub fn read<R>(&self, f: impl FnOnce(&ControllerCore) -> R) -> R {
        f(&self.lock_core())
    }

    /// Callers blocked on the core's lock now (tests wait for a caller to reach it).
    #[cfg(test)]
    pub(crate) fn waiters(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// The core's lock, counted in `waiting` while this caller waits for it.
    fn lock_core(&self) -> MutexGuard<'_, ControllerCore> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let guard = lock(&self.core);
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        guard
    }

    /// Returns once every caller that waited for the core's lock when this was called, or
    /// came meanwhile, has had it, or after `most`. Call it without holding the lock.
    fn yield_to_waiters(&self, most: Duration) {
        let until = Instant::now() + most;
        while self.waiting.load(Ordering::Acquire) > 0 && Instant::now() < until {
            std::thread::sleep(YIELD_POLL);
        }
    }

    /// Runs one control tick ([`ControllerCore::tick`], deciding the same) with the lock let go
    /// between slices of about `slice`: its beginning, then the series' visits
    /// ([`SERIES_PER_STEP`] a step, as many steps as fit `slice`), then its end. Between two
    /// slices every caller waiting for the lock gets it first (for at most [`MOST_YIELDED`],
    /// so a stream of callers does not stall the tick). Blocks for the whole tick: run it off
    /// the async runtime. A second call waits for the first to end: two rounds never overlap.
    ///
    /// The actions go to the outlet ([`Self::next_actions`]) in the entries that decide them:
    /// the beginning's (expiries, restores, retries) with the beginning, the planners' with the
    /// end. What other entries decided in between sits between them, as it was decided.
    pub fn tick_in_slices(&self, now: Timestamp, slice: Duration) {
        let _one_at_a_time = lock(&self.one_tick);
        let mut round = self.decide_with(|c| {
            let mut round = c.tick_begin(now);
            (round.take_actions(), round)
        });
        let mut done = false;
        while !done {
            self.yield_to_waiters(MOST_YIELDED);
            done = self.apply(|c| tick_slice(c, &mut round, slice));
        }
        self.yield_to_waiters(MOST_YIELDED);
        self.decide(|c| c.tick_finish(round));
    }

    /// Runs an entry point whose result is work for the switches ([`Self::apply`]) and puts
    /// that work in the outlet before the core's lock is let go, so it reaches the driver after
    /// every action decided before it and before every action decided after it.
    pub fn decide(&self, f: impl FnOnce(&mut ControllerCore) -> Vec<Action>) {
        self.decide_with(|c| (f(c), ()));
    }

    /// [`Self::decide`] for an entry point that also returns something else.
    pub fn decide_with<R>(&self, f: impl FnOnce(&mut ControllerCore) -> (Vec<Action>, R)) -> R {
        self.apply(|c| {
            let (actions, out) = f(c);
            self.dispatch(actions);
            out
        })
    }

    /// The latest topology snapshot, without locking the core unless a change was held back
    /// (then it is published first).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        if self.held_back.load(Ordering::Acquire) {
            self.publish(&self.lock_core(), true);
        }
        self.snapshots.load()
    }

    /// The latest published topology snapshot as it is: no lock, and a held-back change is
    /// not published first (it is within about ten builds' time; see [`PUBLISH_COST_RATIO`]).
    /// For readers on a timer, which forcing would make rebuild a large network's snapshot
    /// every few hundred milliseconds under the core's lock.
    pub fn published_snapshot(&self) -> Arc<Snapshot> {
        self.snapshots.load()
    }

    /// Where the latest topology snapshot places host `mac`, without locking the core (nor
    /// touching the snapshot's reference count: session threads ask this per ARP frame).
    pub fn host_location(&self, mac: prescient_topology::MacAddr) -> Option<PortRef> {
        self.snapshots.host(mac)
    }

    /// The MAC ARP for `ip` is answered with, if `ip` is a service's VIP, without locking the
    /// core. Services are few: a scan of a short list.
    pub fn vip_mac(&self, ip: Ipv4Addr) -> Option<MacAddr> {
        self.vips
            .load()
            .iter()
            .find(|(vip, _)| *vip == ip)
            .map(|(_, mac)| *mac)
    }

    /// Records the ports the OpenFlow flood guard blocks (by datapath id), before its rules
    /// reach the switches: until they are in force, a frame that comes in through one of
    /// those ports still reaches the controller, which must drop it as the rule would.
    pub fn set_flood_guard(&self, blocked: BTreeMap<u64, Vec<u32>>) {
        self.flood_guard.store(Arc::new(blocked));
        self.flood_guard_generation.fetch_add(1, Ordering::Release);
    }

    /// Changes of [`Self::set_flood_guard`] so far: a reader re-reads the ports only when
    /// this moved (one atomic load per packet-in instead of a map lookup).
    pub fn flood_guard_generation(&self) -> u64 {
        self.flood_guard_generation.load(Ordering::Acquire)
    }

    /// The ports the flood guard blocks on switch `dpid`, sorted.
    pub fn flood_guard_ports(&self, dpid: u64) -> Vec<u32> {
        self.flood_guard
            .load()
            .get(&dpid)
            .cloned()
            .unwrap_or_default()
    }

    /// A new subscriber to the event bus.
    pub fn subscribe(&self) -> broadcast::Receiver<ControllerEvent> {
        self.bus.subscribe()
    }

    /// Subscribers currently listening.
    pub fn subscribers(&self) -> usize {
        self.bus.receiver_count()
    }

    /// The southbound counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Hands actions to the driver: after those already in the outlet. Under the core's lock
    /// (from [`Self::decide`]) that is the order the core decided them; outside it (the API,
    /// once the store committed its change) the order they are handed over. Unbounded on
    /// purpose: each action is desired state the switches must reach; dropping one would leave
    /// a reservation without its meters.
    pub fn dispatch(&self, actions: Vec<Action>) {
        if actions.is_empty() {
            return;
        }
        lock(&self.outlet).extend(actions);
        self.outlet_ready.notify_one();
    }

    /// Waits until dispatched actions are pending, then takes them all, oldest first.
    /// Meant for one driver task.
    pub async fn next_actions(&self) -> Vec<Action> {
        loop {
            let notified = self.outlet_ready.notified();
            let pending: Vec<Action> = lock(&self.outlet).drain(..).collect();
            if !pending.is_empty() {
                return pending;
            }
            notified.await;
        }
    }

    /// Takes the dispatched actions pending now, without waiting.
    pub fn take_actions(&self) -> Vec<Action> {
        lock(&self.outlet).drain(..).collect()
    }

    /// Now, by the configured clock.
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prescient_topology::ReservationId;
    use std::time::Duration;

    #[test]
    fn message_rates_cover_the_last_ten_complete_seconds() {
        let m = Metrics::default();
        let t0 = m.started;
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // 30 packet-ins a second for 20 s, one port_stats in second 3 only.
        for s in 0..20u64 {
            m.count_messages_at("packet_in", 30, at(s * 1000 + 500));
        }
        m.count_messages_at("port_stats", 1, at(3_200));
        let r = m.message_rates_at(at(20_100));
        assert_eq!(r.get("packet_in"), Some(&30.0));
        // Long gone from the window, yet still counted in the total.
        assert_eq!(r.get("port_stats"), Some(&0.0));
        assert_eq!(m.messages().get("port_stats"), Some(&1));
        assert_eq!(m.messages().get("packet_in"), Some(&600));
        // The current, incomplete second is left out; silence empties the window.
        m.count_messages_at("packet_in", 1_000, at(20_200));
        assert_eq!(m.message_rates_at(at(20_900)).get("packet_in"), Some(&30.0));
        assert_eq!(
            m.message_rates_at(at(21_000)).get("packet_in"),
            Some(&127.0)
        );
        assert_eq!(m.message_rates_at(at(40_000)).get("packet_in"), Some(&0.0));
    }

    #[test]
    fn each_protocol_has_its_own_write_histogram() {
        let m = Metrics::default();
        m.write_latency(Protocol::OpenFlow)
            .record(Duration::from_millis(2));
        assert_eq!(m.write_latency(Protocol::OpenFlow).snapshot().count, 1);
        assert_eq!(m.write_latency(Protocol::P4Runtime).snapshot().count, 0);
    }

    #[test]
    fn a_finished_tick_is_counted_and_no_longer_running() {
        let m = Metrics::default();
        let running = m.tick_began();
        assert!(m.tick_running());
        running.finish(Duration::from_millis(3), Duration::from_millis(40), 7, 2);
        assert!(!m.tick_running());
        let t = m.ticks();
        assert_eq!((t.count, t.series, t.stride), (1, 7, 2));
        assert_eq!(t.last_took, Duration::from_millis(40));
        m.tick_began()
            .finish(Duration::ZERO, Duration::from_millis(10), 7, 2);
        let t = m.ticks();
        assert_eq!(t.count, 2);
        assert_eq!(t.last_took, Duration::from_millis(10));
        assert_eq!(t.max_took, Duration::from_millis(40));
        assert_eq!(t.max_late, Duration::from_millis(3));
    }

    /// As the driver runs a tick: the guard taken in its task, the tick on the forecast pool.
    /// A tick that panics resumes in the task, and the unwinding clears the flag.
    #[tokio::test]
    async fn a_tick_that_panics_does_not_leave_the_tick_running() {
        let core = SharedCore::new(CoreConfig::default());
        let pool = crate::driver::forecast_pool::ForecastPool::start(1).expect("pool");
        let task = {
            let core = Arc::clone(&core);
            tokio::spawn(async move {
                let running = core.metrics().tick_began();
                assert!(core.metrics().tick_running());
                pool.run(|| -> usize { panic!("a tick that fails") }).await;
                running.finish(Duration::ZERO, Duration::ZERO, 0, 1);
            })
        };
        let err = task.await.expect_err("the tick's panic reaches the task");
        assert!(err.is_panic());
        assert!(!core.metrics().tick_running(), "the flag outlived the tick");
        assert_eq!(
            core.metrics().ticks().count,
            0,
            "a failed tick is not counted"
        );
    }

    #[test]
    fn a_caller_waiting_for_the_lock_gets_it_before_the_tick_takes_it_again() {
        let core = SharedCore::new(CoreConfig::default());
        let served = Arc::new(AtomicBool::new(false));
        // A slice of the tick holds the lock; an API call comes and waits for it.
        let slice = core.lock_core();
        let call = {
            let (core, served) = (Arc::clone(&core), Arc::clone(&served));
            std::thread::spawn(move || core.read(|_| served.store(true, Ordering::Release)))
        };
        while core.waiting.load(Ordering::Acquire) == 0 {
            std::thread::yield_now();
        }
        // Between two slices: without letting it in, relocking at once usually wins the lock.
        drop(slice);
        core.yield_to_waiters(Duration::from_secs(60));
        let next_slice = core.lock_core();
        assert!(
            served.load(Ordering::Acquire),
            "the call was served in between"
        );
        drop(next_slice);
        call.join().expect("the call");
    }

    #[tokio::test]
    async fn the_driver_wakes_for_dispatched_actions() {
        let core = SharedCore::new(CoreConfig::default());
        let waiter = {
            let core = Arc::clone(&core);
            tokio::spawn(async move { core.next_actions().await })
        };
        tokio::task::yield_now().await;
        let a = Action::RemoveMeter {
            reservation: ReservationId(4),
            ports: Vec::new(),
        };
        core.dispatch(vec![a.clone()]);
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("joined");
        assert_eq!(got, vec![a]);
        assert!(core.take_actions().is_empty());
    }
}
