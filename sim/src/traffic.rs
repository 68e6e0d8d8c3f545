//! Synthetic traffic: per host-pair demand with daily and weekly cycles, noise, occasional flash
//! crowds and growing or shrinking services ([`services`]), and the engine that turns it into port
//! counters along shortest paths.
//!
//! Invariants:
//! - [`TrafficModel::rate_bps`] is a pure function of `(seed, pair, t)`: the same seed gives the same
//!   series, whatever the step size or wall-clock speed (time compression only maps wall time to
//!   model time).
//! - [`TrafficEngine::step`] adds the same byte and packet count to the transmit counter of a port
//!   and to the receive counter of the port linked to it, so counters agree along links, and only
//!   ever adds: every counter is a monotonic `u64`.
//! - Traffic to an unreachable destination (links down) is counted as dropped at the ingress port.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::topology::{Endpoint, SimTopology};

pub mod services;

pub use services::{Service, Services, Trend, TrendConfig};

/// Seconds per model day.
pub const DAY_SECS: f64 = 86_400.0;
/// Seconds per model week.
pub const WEEK_SECS: f64 = 7.0 * DAY_SECS;
/// Mean packet size used to derive packet counts from bytes.
pub const MEAN_PACKET_BYTES: u64 = 800;

/// Parameters of the demand model.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficConfig {
    /// Seed of every random choice (pairs, base rates, noise, flash crowds).
    pub seed: u64,
    /// Destinations each host sends to.
    pub pairs_per_host: usize,
    /// Mean base demand of a pair, bits/s.
    pub mean_pair_bps: f64,
    /// Daily swing: demand ranges over `1 ± daily_amplitude` (trough at midnight, peak at noon).
    pub daily_amplitude: f64,
    /// Weekend demand is lowered by this fraction.
    pub weekend_dip: f64,
    /// Relative noise amplitude (uniform, smooth between minutes).
    pub noise: f64,
    /// Probability per destination per model hour that a flash crowd starts.
    pub flash_probability: f64,
    /// Demand multiplier toward a destination during its flash crowd.
    pub flash_multiplier: f64,
    /// Duration of a flash crowd, model seconds.
    pub flash_secs: f64,
    /// Measured demand to replay instead of the synthetic cycles (`prescient demo --trace`).
    pub replay: Option<Arc<Replay>>,
    /// Services whose demand grows, shrinks or steps over model days (none by default; not
    /// applied to a replayed traffic matrix, which is measured as it is).
    pub trends: TrendConfig,
}

/// A measured trace replayed as demand, row by row (linearly interpolated, cyclic).
#[derive(Debug, Clone, PartialEq)]
pub enum Replay {
    /// One column per (source host, destination host): the demand itself, bits/s.
    Pairs {
        /// Model seconds each row covers.
        interval_secs: f64,
        /// Source and destination host of each column.
        pairs: Vec<(usize, usize)>,
        /// `rates_bps[column][row]`.
        rates_bps: Vec<Vec<f64>>,
    },
    /// One aggregate series: it shapes the synthetic pairs' demand (its mean maps to 1).
    Aggregate {
        /// Model seconds each row covers.
        interval_secs: f64,
        /// The series divided by its mean.
        shape: Vec<f64>,
    },
}

impl Replay {
    /// Value of `row_values` at model time `t`: rows are `interval` apart, interpolated, cyclic.
    fn at(interval: f64, row_values: &[f64], t: f64) -> f64 {
        let n = row_values.len();
        if n == 0 || interval.is_nan() || interval <= 0.0 {
            return 0.0;
        }
        let pos = (t.max(0.0) / interval) % n as f64;
        let i = pos.floor() as usize % n;
        let w = pos - pos.floor();
        let a = row_values.get(i).copied().unwrap_or(0.0);
        let b = row_values.get((i + 1) % n).copied().unwrap_or(a);
        a * (1.0 - w) + b * w
    }
}

impl Default for TrafficConfig {
    fn default() -> Self {
        TrafficConfig {
            seed: 1,
            pairs_per_host: 3,
            mean_pair_bps: 20_000_000.0,
            daily_amplitude: 0.6,
            weekend_dip: 0.3,
            noise: 0.1,
            flash_probability: 0.02,
            flash_multiplier: 5.0,
            flash_secs: 900.0,
            replay: None,
            trends: TrendConfig::default(),
        }
    }
}

/// A (source host, destination host) demand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    /// Source host index.
    pub src: usize,
    /// Destination host index.
    pub dst: usize,
    /// Base demand, bits/s, before cycles, noise and flash crowds.
    pub base_bps: f64,
}

/// The demand model: which hosts talk, and how much at model time `t`.
#[derive(Debug, Clone)]
pub struct TrafficModel {
    config: TrafficConfig,
    pairs: Vec<Pair>,
    services: Services,
}

/// SplitMix64: a tiny, well-mixed hash, so every random quantity is a pure function of its inputs.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hash(parts: &[u64]) -> u64 {
    parts.iter().fold(0x5eed_u64, |h, p| mix(h ^ mix(*p)))
}

/// Uniform in `[0, 1)`.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

impl TrafficModel {
    /// Chooses pairs among `hosts` hosts: each host sends to `pairs_per_host` distinct others.
    pub fn new(hosts: usize, config: TrafficConfig) -> TrafficModel {
        if let Some(Replay::Pairs { pairs, .. }) = config.replay.as_deref() {
            let pairs = pairs
                .iter()
                .filter(|(s, d)| *s < hosts && *d < hosts && s != d)
                .map(|&(src, dst)| Pair {
                    src,
                    dst,
                    base_bps: 0.0,
                })
                .collect();
            return TrafficModel {
                config,
                pairs,
                services: Services::default(),
            };
        }
        let mut pairs = Vec::new();
        if hosts >= 2 {
            let per_host = config.pairs_per_host.min(hosts - 1);
            for src in 0..hosts {
                let mut chosen: Vec<usize> = Vec::with_capacity(per_host);
                let mut attempt = 0u64;
                while chosen.len() < per_host {
                    let dst =
                        (hash(&[config.seed, 1, src as u64, attempt]) % hosts as u64) as usize;
                    attempt += 1;
                    if dst != src && !chosen.contains(&dst) {
                        chosen.push(dst);
                    }
                }
                for dst in chosen {
                    // Log-uniform over 0.25x..4x of the mean: a few heavy pairs, many light ones.
                    let u = unit(hash(&[config.seed, 2, src as u64, dst as u64]));
                    let base_bps = config.mean_pair_bps * 4f64.powf(2.0 * u - 1.0);
                    pairs.push(Pair { src, dst, base_bps });
                }
            }
        }
        let services = Services::choose(config.seed, &pairs, &config.trends);
        TrafficModel {
            config,
            pairs,
            services,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TrafficConfig {
        &self.config
    }

    /// All pairs.
    pub fn pairs(&self) -> &[Pair] {
        &self.pairs
    }

    /// The destinations whose demand follows a trend.
    pub fn services(&self) -> &[Service] {
        self.services.list()
    }

    /// Demand of pair `i` at model time `t` seconds, bits/s (0 for an unknown pair).
    pub fn rate_bps(&self, i: usize, t: f64) -> f64 {
        let Some(p) = self.pairs.get(i) else {
            return 0.0;
        };
        let c = &self.config;
        match c.replay.as_deref() {
            Some(Replay::Pairs {
                interval_secs,
                pairs,
                rates_bps,
            }) => {
                // Columns and model pairs line up unless a column named an absent host.
                let column = pairs.iter().position(|&(s, d)| s == p.src && d == p.dst);
                return column
                    .and_then(|c| rates_bps.get(c))
                    .map_or(0.0, |rows| Replay::at(*interval_secs, rows, t).max(0.0));
            }
            Some(Replay::Aggregate {
                interval_secs,
                shape,
            }) => {
                let noise = 1.0 + c.noise * self.smooth_noise(i, t);
                let trend = self.services.factor(p.dst, t);
                return (p.base_bps * Replay::at(*interval_secs, shape, t) * noise * trend)
                    .max(0.0);
            }
            None => {}
        }
        let day_phase = (t / DAY_SECS).fract();
        let daily = 1.0 - c.daily_amplitude * (2.0 * std::f64::consts::PI * day_phase).cos();
        let weekday = ((t / DAY_SECS).floor() as i64).rem_euclid(7);
        let weekly = if weekday >= 5 {
            1.0 - c.weekend_dip
        } else {
            1.0
        };
        let noise = 1.0 + c.noise * self.smooth_noise(i, t);
        let flash = if self.flash_active(p.dst, t) {
            c.flash_multiplier
        } else {
            1.0
        };
        let trend = self.services.factor(p.dst, t);
        (p.base_bps * daily * weekly * noise * flash * trend).max(0.0)
    }

    /// Whether destination host `dst` is under a flash crowd at model time `t`.
    pub fn flash_active(&self, dst: usize, t: f64) -> bool {
        let c = &self.config;
        let hour = (t / 3600.0).floor() as i64;
        // A crowd may spill over from the previous hour.
        (hour - 1..=hour).any(|h| {
            let r = hash(&[c.seed, 3, dst as u64, h as u64]);
            if unit(r) >= c.flash_probability {
                return false;
            }
            let start = h as f64 * 3600.0 + unit(mix(r)) * 3600.0;
            t >= start && t < start + c.flash_secs
        })
    }

    /// Noise in `[-1, 1]`, drawn per model minute and linearly interpolated between minutes.
    fn smooth_noise(&self, i: usize, t: f64) -> f64 {
        let m = t / 60.0;
        let m0 = m.floor();
        let at = |minute: f64| {
            2.0 * unit(hash(&[self.config.seed, 4, i as u64, minute as i64 as u64])) - 1.0
        };
        let w = m - m0;
        at(m0) * (1.0 - w) + at(m0 + 1.0) * w
    }
}

/// Monotonic counters of one port (as in `ofp_port_stats`).
#[derive(Debug, Default)]
pub struct PortCounters {
    /// Packets received.
    pub rx_packets: AtomicU64,
    /// Packets transmitted.
    pub tx_packets: AtomicU64,
    /// Bytes received.
    pub rx_bytes: AtomicU64,
    /// Bytes transmitted.
    pub tx_bytes: AtomicU64,
    /// Packets dropped on receive.
    pub rx_dropped: AtomicU64,
    /// Packets dropped on transmit.
    pub tx_dropped: AtomicU64,
}

/// A consistent copy of one port's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PortCounterValues {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets transmitted.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Packets dropped on receive.
    pub rx_dropped: u64,
    /// Packets dropped on transmit.
    pub tx_dropped: u64,
}

impl PortCounters {
    /// Counts a transmitted burst.
    pub fn add_tx(&self, packets: u64, bytes: u64) {
        self.tx_packets.fetch_add(packets, Ordering::Relaxed);
        self.tx_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts a received burst.
    pub fn add_rx(&self, packets: u64, bytes: u64) {
        self.rx_packets.fetch_add(packets, Ordering::Relaxed);
        self.rx_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Reads all counters.
    pub fn load(&self) -> PortCounterValues {
        PortCounterValues {
            rx_packets: self.rx_packets.load(Ordering::Relaxed),
            tx_packets: self.tx_packets.load(Ordering::Relaxed),
            rx_bytes: self.rx_bytes.load(Ordering::Relaxed),
            tx_bytes: self.tx_bytes.load(Ordering::Relaxed),
            rx_dropped: self.rx_dropped.load(Ordering::Relaxed),
            tx_dropped: self.tx_dropped.load(Ordering::Relaxed),
        }
    }
}

/// Counters of every port of every switch, shared between the traffic engine, the forwarding of
/// emulated packets and the switches answering PORT_STATS.
#[derive(Debug)]
pub struct FabricCounters {
    /// `ports[switch][port_no - 1]`.
    ports: Vec<Vec<PortCounters>>,
}

impl FabricCounters {
    /// Zeroed counters for every port of `topo`.
    pub fn new(topo: &SimTopology) -> FabricCounters {
        FabricCounters {
            ports: topo
                .switches
                .iter()
                .map(|s| s.ports.iter().map(|_| PortCounters::default()).collect())
                .collect(),
        }
    }

    /// Counters of a port, if it exists.
    pub fn port(&self, at: Endpoint) -> Option<&PortCounters> {
        let i = usize::try_from(at.port.0.checked_sub(1)?).ok()?;
        self.ports.get(at.switch)?.get(i)
    }
}

/// One hop of a route: leave `out`, arrive at `next_in`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hop {
    out: Endpoint,
    next_in: Endpoint,
}

/// No parent in a BFS tree.
const NONE: u32 = u32::MAX;

/// Turns demand into counters: routes each pair on a shortest path over the links that are up.
///
/// Routes are stored as indices into the table of directed link ends (4 bytes a hop), and BFS
/// trees live only while the routes from one source switch are extracted, so a ring of thousands
/// of switches stays within tens of megabytes.
#[derive(Debug)]
pub struct TrafficEngine {
    model: TrafficModel,
    /// Host attachment points.
    hosts: Vec<Endpoint>,
    /// Directed hops: `2 * link` is a→b, `2 * link + 1` is b→a.
    hops: Vec<Hop>,
    /// Per switch: ids of the directed hops leaving it.
    adjacency: Vec<Vec<u32>>,
    /// Per pair: the hop ids, or `None` when unreachable. Recomputed when link states change.
    routes: Vec<Option<Vec<u32>>>,
    routes_for: Vec<bool>,
    /// Per pair: bytes owed from earlier steps (fractions of a byte).
    carry: Vec<f64>,
    /// What each pair sent in the last step, `(pair, packets, bytes)`, when reported.
    sent: Option<Vec<PairSent>>,
}

/// What one pair sent in one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairSent {
    /// Index of the pair in [`TrafficModel::pairs`].
    pub pair: usize,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

impl TrafficEngine {
    /// An engine for `model` over `topo`.
    pub fn new(topo: &SimTopology, model: TrafficModel) -> TrafficEngine {
        let mut adjacency = vec![Vec::new(); topo.switches.len()];
        let mut hops = Vec::with_capacity(2 * topo.links.len());
        for l in &topo.links {
            for (out, next_in) in [(l.a, l.b), (l.b, l.a)] {
                let id = hops.len() as u32;
                hops.push(Hop { out, next_in });
                if let Some(v) = adjacency.get_mut(out.switch) {
                    v.push(id);
                }
            }
        }
        let carry = vec![0.0; model.pairs().len()];
        TrafficEngine {
            hosts: topo.hosts.iter().map(|h| h.attach).collect(),
            hops,
            adjacency,
            routes: Vec::new(),
            routes_for: Vec::new(),
            carry,
            model,
            sent: None,
        }
    }

    /// Keeps, after every step, what each pair sent in it ([`pair_sent`](Self::pair_sent)).
    pub fn report_pairs(&mut self) {
        self.sent.get_or_insert_with(Vec::new);
    }

    /// What each pair sent in the last step (pairs that sent nothing left out); empty unless
    /// [`report_pairs`](Self::report_pairs) was called.
    pub fn pair_sent(&self) -> &[PairSent] {
        self.sent.as_deref().unwrap_or_default()
    }

    /// Where pair `pair`'s traffic enters each switch of its current route, in order: the
    /// source host's edge port first, then the far end of every hop. Empty for an unknown or
    /// unreachable pair.
    pub fn ingresses(&self, pair: usize) -> Vec<Endpoint> {
        let Some(src) = self
            .model
            .pairs()
            .get(pair)
            .and_then(|p| self.hosts.get(p.src))
        else {
            return Vec::new();
        };
        let Some(route) = self.routes.get(pair).and_then(Option::as_ref) else {
            return Vec::new();
        };
        std::iter::once(*src)
            .chain(
                route
                    .iter()
                    .filter_map(|h| self.hops.get(*h as usize).map(|h| h.next_in)),
            )
            .collect()
    }

    /// The demand model.
    pub fn model(&self) -> &TrafficModel {
        &self.model
    }

    /// Adds the traffic of model time `[t0, t1)` to `counters`; `link_up[i]` tells whether link `i`
    /// of the topology carries traffic.
    pub fn step(&mut self, t0: f64, t1: f64, link_up: &[bool], counters: &FabricCounters) {
        self.step_scaled(t0, t1, 1.0, link_up, counters);
    }

    /// As [`step`](Self::step), with the volume of the interval multiplied by `volume`: with time
    /// compressed `speedup` times, `1 / speedup` makes counters move at the model's rates per
    /// wall-clock second (the cycles run fast, the rates keep their size).
    pub fn step_scaled(
        &mut self,
        t0: f64,
        t1: f64,
        volume: f64,
        link_up: &[bool],
        counters: &FabricCounters,
    ) {
        if let Some(sent) = self.sent.as_mut() {
            sent.clear();
        }
        if t1 <= t0 || volume.is_nan() || volume <= 0.0 {
            return;
        }
        if self.routes_for != link_up {
            self.reroute(link_up);
        }
        let dt = t1 - t0;
        let mid = t0 + dt / 2.0;
        for (i, pair) in self.model.pairs().iter().enumerate() {
            let (Some(&src), Some(&dst)) = (self.hosts.get(pair.src), self.hosts.get(pair.dst))
            else {
                continue;
            };
            let Some(carry) = self.carry.get_mut(i) else {
                continue;
            };
            let want = self.model.rate_bps(i, mid) * dt * volume / 8.0 + *carry;
            let bytes = want.floor().max(0.0);
            *carry = want - bytes;
            let bytes = bytes as u64;
            if bytes == 0 {
                continue;
            }
            let packets = bytes.div_ceil(MEAN_PACKET_BYTES);
            if let Some(sent) = self.sent.as_mut() {
                sent.push(PairSent {
                    pair: i,
                    packets,
                    bytes,
                });
            }
            let Some(ingress) = counters.port(src) else {
                continue;
            };
            ingress.add_rx(packets, bytes);
            match self.routes.get(i).and_then(Option::as_ref) {
                Some(route) => {
                    for hop in route.iter().filter_map(|h| self.hops.get(*h as usize)) {
                        if let Some(c) = counters.port(hop.out) {
                            c.add_tx(packets, bytes);
                        }
                        if let Some(c) = counters.port(hop.next_in) {
                            c.add_rx(packets, bytes);
                        }
                    }
                    if let Some(c) = counters.port(dst) {
                        c.add_tx(packets, bytes);
                    }
                }
                None => {
                    ingress.rx_dropped.fetch_add(packets, Ordering::Relaxed);
                }
            }
        }
    }

    fn reroute(&mut self, link_up: &[bool]) {
        self.routes_for = link_up.to_vec();
        let pairs = self.model.pairs();
        let mut routes: Vec<Option<Vec<u32>>> = vec![None; pairs.len()];
        // Pairs grouped by source switch: one BFS per source, dropped once its routes are out.
        let mut by_source: Vec<(usize, usize)> = pairs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((self.hosts.get(p.src)?.switch, i)))
            .collect();
        by_source.sort_unstable();
        let mut k = 0;
        while let Some(&(src, _)) = by_source.get(k) {
            let parent = self.bfs(src, link_up);
            while let Some(&(s, i)) = by_source.get(k) {
                if s != src {
                    break;
                }
                k += 1;
                let dst = pairs
                    .get(i)
                    .and_then(|p| self.hosts.get(p.dst))
                    .map(|e| e.switch);
                if let (Some(dst), Some(slot)) = (dst, routes.get_mut(i)) {
                    *slot = self.path(&parent, src, dst);
                }
            }
        }
        self.routes = routes;
    }

    /// Parent hop id of every switch on a BFS tree from `root` (`NONE` for the root and
    /// unreachable switches).
    fn bfs(&self, root: usize, link_up: &[bool]) -> Vec<u32> {
        let mut parent = vec![NONE; self.adjacency.len()];
        let mut seen = vec![false; self.adjacency.len()];
        let mut queue = VecDeque::new();
        if let Some(s) = seen.get_mut(root) {
            *s = true;
            queue.push_back(root);
        }
        while let Some(u) = queue.pop_front() {
            for &h in self.adjacency.get(u).map(Vec::as_slice).unwrap_or_default() {
                if !link_up.get(h as usize / 2).copied().unwrap_or(true) {
                    continue;
                }
                let Some(hop) = self.hops.get(h as usize) else {
                    continue;
                };
                let v = hop.next_in.switch;
                if let (Some(s), Some(p)) = (seen.get_mut(v), parent.get_mut(v)) {
                    if !*s {
                        *s = true;
                        *p = h;
                        queue.push_back(v);
                    }
                }
            }
        }
        parent
    }

    fn path(&self, parent: &[u32], src: usize, dst: usize) -> Option<Vec<u32>> {
        let mut route = Vec::new();
        let mut at = dst;
        while at != src {
            let h = *parent.get(at)?;
            let hop = self.hops.get(h as usize)?;
            route.push(h);
            at = hop.out.switch;
            if route.len() > parent.len() {
                return None;
            }
        }
        route.reverse();
        Some(route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{PortPeer, TopologyKind};

    fn snapshot(topo: &SimTopology, c: &FabricCounters) -> Vec<PortCounterValues> {
        topo.switches
            .iter()
            .enumerate()
            .flat_map(|(s, sw)| {
                sw.ports
                    .iter()
                    .map(move |&port| Endpoint { switch: s, port })
                    .collect::<Vec<_>>()
            })
            .map(|e| c.port(e).map(PortCounters::load).unwrap_or_default())
            .collect()
    }

    #[test]
    fn rates_are_deterministic_and_follow_the_daily_cycle() {
        let cfg = TrafficConfig {
            noise: 0.0,
            flash_probability: 0.0,
            ..TrafficConfig::default()
        };
        let a = TrafficModel::new(12, cfg.clone());
        let b = TrafficModel::new(12, cfg);
        assert_eq!(a.pairs(), b.pairs());
        assert_eq!(a.pairs().len(), 36);
        let night = a.rate_bps(0, 0.0);
        let noon = a.rate_bps(0, DAY_SECS / 2.0);
        assert!(noon > 3.0 * night, "noon {noon} vs midnight {night}");
        // Saturday noon is below Monday noon by the weekend dip.
        let saturday = a.rate_bps(0, 5.0 * DAY_SECS + DAY_SECS / 2.0);
        assert!((saturday / noon - 0.7).abs() < 1e-9);
        assert_eq!(a.rate_bps(999, 0.0), 0.0);
    }

    #[test]
    fn flash_crowds_happen_and_multiply_demand() {
        let cfg = TrafficConfig {
            noise: 0.0,
            flash_probability: 0.5,
            ..TrafficConfig::default()
        };
        let m = TrafficModel::new(4, cfg);
        let dst = m.pairs()[0].dst;
        let t = (0..48 * 60)
            .map(|minute| minute as f64 * 60.0)
            .find(|&t| m.flash_active(dst, t))
            .expect("a flash crowd within two days at p=0.5/hour");
        let quiet = TrafficModel::new(
            4,
            TrafficConfig {
                flash_probability: 0.0,
                noise: 0.0,
                ..m.config().clone()
            },
        );
        assert!((m.rate_bps(0, t) / quiet.rate_bps(0, t) - 5.0).abs() < 1e-9);
    }

    #[test]
    fn counters_are_monotonic_and_agree_along_links() {
        let topo = SimTopology::generate(TopologyKind::FatTree(4)).unwrap();
        let counters = FabricCounters::new(&topo);
        let mut engine = TrafficEngine::new(
            &topo,
            TrafficModel::new(topo.hosts.len(), TrafficConfig::default()),
        );
        let mut up = vec![true; topo.links.len()];
        let mut before = snapshot(&topo, &counters);
        for step in 0..50 {
            if step == 25 {
                up[3] = false;
            }
            engine.step(step as f64 * 60.0, (step + 1) as f64 * 60.0, &up, &counters);
            let now = snapshot(&topo, &counters);
            for (b, n) in before.iter().zip(&now) {
                assert!(n.tx_bytes >= b.tx_bytes && n.rx_bytes >= b.rx_bytes);
                assert!(n.tx_packets >= b.tx_packets && n.rx_packets >= b.rx_packets);
            }
            before = now;
        }
        let mut moved = 0;
        for l in &topo.links {
            let a = counters.port(l.a).unwrap().load();
            let b = counters.port(l.b).unwrap().load();
            assert_eq!(a.tx_bytes, b.rx_bytes);
            assert_eq!(a.rx_bytes, b.tx_bytes);
            assert_eq!(a.tx_packets, b.rx_packets);
            moved += a.tx_bytes + b.tx_bytes;
        }
        assert!(moved > 0);
        // The downed link carries nothing after it went down: its counters stopped at step 25.
        let l = topo.links[3];
        let frozen = counters.port(l.a).unwrap().load();
        engine.step(3000.0, 3600.0, &up, &counters);
        assert_eq!(counters.port(l.a).unwrap().load(), frozen);
    }

    #[test]
    fn a_compressed_clock_keeps_rates_at_the_models_size() {
        // An hour of model time in 12 wall seconds (speedup 300): counters move by 1/300 of the
        // hour's volume, i.e. 12 seconds' worth at the model's rates.
        let topo = SimTopology::generate(TopologyKind::Linear(3)).unwrap();
        let total = |volume: f64| {
            let counters = FabricCounters::new(&topo);
            let mut engine =
                TrafficEngine::new(&topo, TrafficModel::new(3, TrafficConfig::default()));
            engine.step_scaled(0.0, 3600.0, volume, &[true, true], &counters);
            topo.hosts
                .iter()
                .map(|h| counters.port(h.attach).unwrap().load().rx_bytes)
                .sum::<u64>() as f64
        };
        let (full, compressed) = (total(1.0), total(1.0 / 300.0));
        assert!(full > 0.0);
        assert!(
            (compressed * 300.0 / full - 1.0).abs() < 1e-3,
            "{compressed} vs {full}"
        );
        assert_eq!(total(0.0), 0.0);
    }

    #[test]
    fn host_ports_see_what_hosts_send_and_receive() {
        let topo = SimTopology::generate(TopologyKind::Linear(3)).unwrap();
        let counters = FabricCounters::new(&topo);
        let mut engine = TrafficEngine::new(&topo, TrafficModel::new(3, TrafficConfig::default()));
        engine.step(0.0, 3600.0, &[true, true], &counters);
        // Everything entering at host ports leaves at host ports: nothing is lost on a connected net.
        let (mut sent, mut delivered) = (0, 0);
        for (i, h) in topo.hosts.iter().enumerate() {
            assert_eq!(topo.peer(h.attach), Some(PortPeer::Host(i)));
            let c = counters.port(h.attach).unwrap().load();
            sent += c.rx_bytes;
            delivered += c.tx_bytes;
        }
        assert!(sent > 0);
        assert_eq!(sent, delivered);
        // Splitting the line drops what crosses the cut.
        engine.step(3600.0, 7200.0, &[false, true], &counters);
        let dropped: u64 = topo
            .hosts
            .iter()
            .map(|h| counters.port(h.attach).unwrap().load().rx_dropped)
            .sum();
        assert!(dropped > 0);
    }

    #[test]
    fn a_replayed_trace_drives_the_demand_row_by_row() {
        let replay = Replay::Pairs {
            interval_secs: 300.0,
            pairs: vec![(0, 1), (2, 0)],
            rates_bps: vec![vec![1e6, 3e6], vec![5e6, 5e6]],
        };
        let model = TrafficModel::new(
            3,
            TrafficConfig {
                replay: Some(Arc::new(replay)),
                ..TrafficConfig::default()
            },
        );
        assert_eq!(model.pairs().len(), 2);
        assert_eq!(model.rate_bps(0, 0.0), 1e6);
        assert_eq!(model.rate_bps(0, 150.0), 2e6, "halfway between rows");
        assert_eq!(model.rate_bps(0, 600.0), 1e6, "the trace repeats");
        assert_eq!(model.rate_bps(1, 42.0), 5e6);
    }

    #[test]
    fn an_aggregate_trace_shapes_the_synthetic_pairs() {
        let shaped = |shape: Vec<f64>| {
            TrafficModel::new(
                4,
                TrafficConfig {
                    noise: 0.0,
                    replay: Some(Arc::new(Replay::Aggregate {
                        interval_secs: 60.0,
                        shape,
                    })),
                    ..TrafficConfig::default()
                },
            )
        };
        let m = shaped(vec![0.5, 1.5]);
        let low = m.rate_bps(0, 0.0);
        let high = m.rate_bps(0, 60.0);
        assert!((high / low - 3.0).abs() < 1e-9, "{low} {high}");
    }

    #[test]
    fn pair_reports_sum_to_the_ingress_counters_and_routes_start_at_the_source_edge() {
        let topo = SimTopology::generate(TopologyKind::Abilene).unwrap();
        let counters = FabricCounters::new(&topo);
        let model = TrafficModel::new(topo.hosts.len(), TrafficConfig::default());
        let mut engine = TrafficEngine::new(&topo, model);
        let up = vec![true; topo.links.len()];
        engine.step(0.0, 60.0, &up, &counters);
        assert!(engine.pair_sent().is_empty(), "not reported unless asked");
        engine.report_pairs();
        engine.step(60.0, 120.0, &up, &counters);
        let sent = engine.pair_sent().to_vec();
        assert_eq!(sent.len(), engine.model().pairs().len());
        for s in &sent {
            let pair = engine.model().pairs()[s.pair];
            let route = engine.ingresses(s.pair);
            assert_eq!(route.first(), Some(&topo.hosts[pair.src].attach));
            assert_eq!(
                route.last().map(|e| e.switch),
                Some(topo.hosts[pair.dst].attach.switch)
            );
            assert_eq!(s.packets, s.bytes.div_ceil(MEAN_PACKET_BYTES));
        }
        // Each host's edge port received in the second step exactly what its pairs reported
        // (the first step's share, replayed by a twin engine, is taken off).
        let before = FabricCounters::new(&topo);
        let mut again = TrafficEngine::new(
            &topo,
            TrafficModel::new(topo.hosts.len(), TrafficConfig::default()),
        );
        again.step(0.0, 60.0, &up, &before);
        for (h, host) in topo.hosts.iter().enumerate() {
            let first = before.port(host.attach).unwrap().load().rx_bytes;
            let total = counters.port(host.attach).unwrap().load().rx_bytes;
            let reported: u64 = sent
                .iter()
                .filter(|s| engine.model().pairs()[s.pair].src == h)
                .map(|s| s.bytes)
                .sum();
            assert_eq!(total - first, reported, "host {h}");
        }
        engine.step(120.0, 120.0, &up, &counters);
        assert!(
            engine.pair_sent().is_empty(),
            "an empty step reports nothing"
        );
    }
}
