//! Per-link accounting: the port counters of the fabric, and the engine that routes each pair's
//! demand on a shortest path over the links that are up and adds it to the counters it crosses.
//!
//! Invariants: [`TrafficEngine::step`] adds the same byte and packet count to the transmit counter
//! of a port and to the receive counter of the port linked to it, so counters agree along links,
//! and only ever adds; traffic to an unreachable destination is counted as dropped at the ingress.
//! No port carries more than its line rate: where a step offers a port more than its capacity
//! allows in the step's (wall-clock) time, every pair through it loses the same share there,
//! counted as dropped (transmit drops at a switch's egress; receive drops at the edge port when a
//! host offers more than its own link), as a switch's full queue would.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use super::shapes::{TrafficModel, MEAN_PACKET_BYTES};
use crate::topology::{Endpoint, SimTopology, DEFAULT_LINK_BPS};

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
    /// Origin of `stepped_ns` (tokio's clock, so paused tests agree).
    epoch: tokio::time::Instant,
    /// When a traffic step last moved the counters, after `epoch`; `u64::MAX`: never.
    stepped_ns: AtomicU64,
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
            epoch: tokio::time::Instant::now(),
            stepped_ns: AtomicU64::new(u64::MAX),
        }
    }

    /// Records that a traffic step brought the counters up to `at`.
    pub fn mark_stepped(&self, at: tokio::time::Instant) {
        let ns = u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(0);
        self.stepped_ns.store(ns, Ordering::Release);
    }

    /// How long before `now` the counters last moved by a traffic step (zero when none has):
    /// a switch reports its counters as of then, as a real one reports them as of its last
    /// refresh, so their rate over the switch's own clock is the rate they were moved at.
    pub fn age(&self, now: tokio::time::Instant) -> std::time::Duration {
        match self.stepped_ns.load(Ordering::Acquire) {
            u64::MAX => std::time::Duration::ZERO,
            ns => now
                .saturating_duration_since(self.epoch)
                .saturating_sub(std::time::Duration::from_nanos(ns)),
        }
    }

    /// Counters of a port, if it exists.
    pub fn port(&self, at: Endpoint) -> Option<&PortCounters> {
        let i = usize::try_from(at.port.0.checked_sub(1)?).ok()?;
        self.ports.get(at.switch)?.get(i)
    }
}

/// One hop of a route: leave `out`, arrive at `next_in`, over a link of `capacity_bps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hop {
    out: Endpoint,
    next_in: Endpoint,
    capacity_bps: u64,
}

/// Per step: what each pair offers; per port direction (hops, host uplinks, host downlinks) the
/// load offered, the share of it that passes, and the bytes it may still carry (buffers kept
/// between steps).
#[derive(Debug, Default)]
struct Step {
    offered: Vec<(usize, u64)>,
    hops: Limits,
    uplinks: Limits,
    downlinks: Limits,
}

#[derive(Debug, Default)]
struct Limits {
    load: Vec<f64>,
    share: Vec<f64>,
    budget: Vec<u64>,
}

impl Limits {
    fn reset(&mut self, n: usize) {
        self.load.clear();
        self.load.resize(n, 0.0);
        self.share.clear();
        self.share.resize(n, 1.0);
        self.budget.clear();
    }

    fn add(&mut self, i: usize, bytes: f64) {
        if let Some(load) = self.load.get_mut(i) {
            *load += bytes;
        }
    }

    fn share(&self, i: usize) -> f64 {
        self.share.get(i).copied().unwrap_or(1.0)
    }

    /// New shares from the loads offered, for ports of `capacity(i)` bytes; loads zeroed.
    fn settle(&mut self, capacity: impl Fn(usize) -> f64) {
        for (i, (load, share)) in self.load.iter_mut().zip(&mut self.share).enumerate() {
            let cap = capacity(i);
            *share = if *load > cap { cap / *load } else { 1.0 };
            *load = 0.0;
        }
    }

    /// `at` bytes arriving at port direction `i` pass as many as its share and what is left of
    /// its capacity allow.
    fn pass(&mut self, i: usize, at: u64) -> u64 {
        let want = (at as f64 * self.share(i)).floor() as u64;
        match self.budget.get_mut(i) {
            Some(budget) => {
                let left = want.min(*budget);
                *budget -= left;
                left
            }
            None => want,
        }
    }
}

/// Rounds of share estimates: drops upstream relieve the ports downstream, which the next
/// round sees.
const SHARE_ROUNDS: usize = 6;

fn packets(bytes: u64) -> u64 {
    bytes.div_ceil(MEAN_PACKET_BYTES)
}

/// Of `at` bytes reaching egress `out`, `left` leave (to `next_in`, a switch port, if any) and
/// the rest is dropped there.
fn egress(counters: &FabricCounters, out: Endpoint, next_in: Option<Endpoint>, at: u64, left: u64) {
    if let Some(c) = counters.port(out) {
        c.tx_dropped
            .fetch_add(packets(at) - packets(left), Ordering::Relaxed);
        c.add_tx(packets(left), left);
    }
    if let Some(c) = next_in.and_then(|e| counters.port(e)) {
        c.add_rx(packets(left), left);
    }
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
    step: Step,
}

/// What one pair sent into the network (its first switch) in one step.
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
                hops.push(Hop {
                    out,
                    next_in,
                    capacity_bps: l.capacity_bps,
                });
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
            step: Step::default(),
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
        let mut step = std::mem::take(&mut self.step);
        step.offered.clear();
        for (i, carry) in self.carry.iter_mut().enumerate() {
            let want = self.model.rate_bps(i, mid) * dt * volume / 8.0 + *carry;
            let bytes = want.floor().max(0.0);
            *carry = want - bytes;
            if bytes >= 1.0 {
                step.offered.push((i, bytes as u64));
            }
        }
        self.limit_to_line_rate(&mut step, dt * volume);
        let pairs = self.model.pairs();
        for &(i, bytes) in &step.offered {
            let Some(pair) = pairs.get(i) else { continue };
            let (Some(&src), Some(&dst)) = (self.hosts.get(pair.src), self.hosts.get(pair.dst))
            else {
                continue;
            };
            let Some(ingress) = counters.port(src) else {
                continue;
            };
            // What the source's own link lets into its switch.
            let mut at = step.uplinks.pass(pair.src, bytes);
            ingress
                .rx_dropped
                .fetch_add(packets(bytes) - packets(at), Ordering::Relaxed);
            if at == 0 {
                continue;
            }
            ingress.add_rx(packets(at), at);
            if let Some(sent) = self.sent.as_mut() {
                sent.push(PairSent {
                    pair: i,
                    packets: packets(at),
                    bytes: at,
                });
            }
            let Some(route) = self.routes.get(i).and_then(Option::as_ref) else {
                ingress.rx_dropped.fetch_add(packets(at), Ordering::Relaxed);
                continue;
            };
            for &h in route {
                let Some(hop) = self.hops.get(h as usize) else {
                    continue;
                };
                let left = step.hops.pass(h as usize, at);
                egress(counters, hop.out, Some(hop.next_in), at, left);
                at = left;
            }
            let left = step.downlinks.pass(pair.dst, at);
            egress(counters, dst, None, at, left);
        }
        self.step = step;
    }

    /// Sets `step`'s shares and budgets for `secs` of wall-clock time: each port direction
    /// passes the share of what reaches it that its capacity allows, estimated over
    /// [`SHARE_ROUNDS`] rounds, and never more than its capacity (the budget).
    fn limit_to_line_rate(&self, step: &mut Step, secs: f64) {
        let bytes_of = |bps: u64| bps as f64 * secs / 8.0;
        let host = bytes_of(DEFAULT_LINK_BPS);
        let hop_capacity = |h: usize| self.hops.get(h).map_or(0.0, |h| bytes_of(h.capacity_bps));
        step.hops.reset(self.hops.len());
        step.uplinks.reset(self.hosts.len());
        step.downlinks.reset(self.hosts.len());
        let pairs = self.model.pairs();
        for &(i, bytes) in &step.offered {
            if let Some(pair) = pairs.get(i) {
                step.uplinks.add(pair.src, bytes as f64);
            }
        }
        step.uplinks.settle(|_| host);
        for _ in 0..SHARE_ROUNDS {
            for &(i, bytes) in &step.offered {
                let Some(pair) = pairs.get(i) else { continue };
                let Some(route) = self.routes.get(i).and_then(Option::as_ref) else {
                    continue;
                };
                let mut at = bytes as f64 * step.uplinks.share(pair.src);
                for &h in route {
                    step.hops.add(h as usize, at);
                    at *= step.hops.share(h as usize);
                }
                step.downlinks.add(pair.dst, at);
            }
            step.hops.settle(hop_capacity);
            step.downlinks.settle(|_| host);
        }
        let budget = |n: usize, capacity: &dyn Fn(usize) -> f64| -> Vec<u64> {
            (0..n).map(|i| capacity(i).floor() as u64).collect()
        };
        step.hops.budget = budget(self.hops.len(), &hop_capacity);
        step.uplinks.budget = budget(self.hosts.len(), &|_| host);
        step.downlinks.budget = budget(self.hosts.len(), &|_| host);
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
    use crate::traffic::TrafficConfig;

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

    #[test]
    fn no_port_carries_more_than_its_line_rate_and_every_packet_is_delivered_or_dropped() {
        // Every host offers 3 Gbit/s to each of two others over 1 Gbit/s links, a day compressed
        // 60 times: each step is a wall second of counters.
        let topo = SimTopology::generate(TopologyKind::FatTree(4)).unwrap();
        let counters = FabricCounters::new(&topo);
        let config = TrafficConfig {
            pairs_per_host: 2,
            mean_pair_bps: 3e9,
            ..TrafficConfig::default()
        };
        let mut engine = TrafficEngine::new(&topo, TrafficModel::new(topo.hosts.len(), config));
        engine.report_pairs();
        let up = vec![true; topo.links.len()];
        let (steps, speedup) = (10_u64, 60.0);
        let mut offered = 0;
        for step in 0..steps {
            let t0 = step as f64 * speedup;
            let before: u64 = topo
                .hosts
                .iter()
                .map(|h| counters.port(h.attach).unwrap().load())
                .map(|c| c.rx_packets + c.rx_dropped)
                .sum();
            engine.step_scaled(t0, t0 + speedup, 1.0 / speedup, &up, &counters);
            let after: u64 = topo
                .hosts
                .iter()
                .map(|h| counters.port(h.attach).unwrap().load())
                .map(|c| c.rx_packets + c.rx_dropped)
                .sum();
            offered += after - before;
        }
        let line = DEFAULT_LINK_BPS / 8 * steps;
        let all = snapshot(&topo, &counters);
        for c in &all {
            assert!(c.tx_bytes <= line, "{c:?} over {line} bytes in {steps} s");
            assert!(c.rx_bytes <= line, "{c:?} over {line} bytes in {steps} s");
        }
        let busiest = all.iter().map(|c| c.tx_bytes).max().unwrap();
        assert!(
            busiest as f64 > 0.99 * line as f64,
            "the busiest port runs at line rate: {busiest} of {line}"
        );
        for l in &topo.links {
            let (a, b) = (
                counters.port(l.a).unwrap().load(),
                counters.port(l.b).unwrap().load(),
            );
            assert_eq!((a.tx_bytes, a.tx_packets), (b.rx_bytes, b.rx_packets));
            assert_eq!((b.tx_bytes, b.tx_packets), (a.rx_bytes, a.rx_packets));
        }
        // Offered packets (received or dropped at the edge) all end up delivered to a host or
        // counted dropped at some port: drops are counted, not lost.
        let delivered: u64 = topo
            .hosts
            .iter()
            .map(|h| counters.port(h.attach).unwrap().load().tx_packets)
            .sum();
        let dropped: u64 = all.iter().map(|c| c.tx_dropped + c.rx_dropped).sum();
        assert!(dropped > 0 && delivered > 0);
        assert_eq!(delivered + dropped, offered);
        // Pair reports say what entered the network: each at most a host link's worth.
        for s in engine.pair_sent() {
            assert!(s.bytes <= DEFAULT_LINK_BPS / 8, "{s:?}");
        }
    }

    #[test]
    fn counters_tell_how_long_ago_a_step_last_moved_them() {
        let topo = SimTopology::generate(TopologyKind::Linear(2)).unwrap();
        let counters = FabricCounters::new(&topo);
        let t0 = tokio::time::Instant::now();
        let ms = std::time::Duration::from_millis;
        assert_eq!(counters.age(t0 + ms(5000)), ms(0), "never stepped");
        counters.mark_stepped(t0 + ms(1000));
        assert_eq!(counters.age(t0 + ms(1300)), ms(300));
        counters.mark_stepped(t0 + ms(1500));
        assert_eq!(counters.age(t0 + ms(1500)), ms(0));
        assert_eq!(
            counters.age(t0 + ms(1400)),
            ms(0),
            "a clock read before the step"
        );
    }
}
