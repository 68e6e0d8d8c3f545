//! Counter samples into rates, per port, per link and per flow, and the traffic matrix.
//!
//! Policies (each has a test):
//! - Counters are 64-bit. A decrease whose wrapped difference is below [`WRAP_WINDOW`] is a wrap
//!   (2^48 bytes is over an hour at 400 Gb/s); any other decrease is a reset (switch restart,
//!   flow re-installed): the sample becomes the new baseline and yields no rate, never a spike.
//! - A sample with the same timestamp as the last one is a duplicate; an older one is out of
//!   order; both are ignored. Missing samples are not invented: the next rate averages the gap.
//! - A link's rate is the transmit rate of its source port; if that is missing or stale, the
//!   receive rate of its destination port. The ends can disagree (drops, sampling skew): the
//!   sender's view is preferred because reservations are made at the sender.
//! - Traffic matrix: a flow (same cookie) counted on several switches along its path is counted
//!   once, with its largest figures; the flows of one host pair are summed. While one of them
//!   has only a baseline (new, or reset) the pair's rate is unknown, not the others' part.
//! - A complete read of a device's flow table ([`RateTracker::sweep_flows`]) forgets the entries
//!   it no longer lists (replaced on a reroute, removed): their last rate would otherwise stay
//!   fresh for `stale_after` beside the entry that replaced it, and every entry a switch ever
//!   held would stay tracked. What they counted stays in their pair's bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde::Serialize;

use crate::ids::{DeviceId, LinkKey, MacAddr, PortRef, Timestamp};

/// Differences above this on a decreasing counter are resets, not wraps.
pub const WRAP_WINDOW: u64 = 1 << 48;

/// How a counter moved between two samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterDelta {
    /// It increased by this much (possibly across a wrap).
    Increase(u64),
    /// It was reset.
    Reset,
}

/// How `cur` follows `prev` on a 64-bit counter.
pub fn counter_delta(prev: u64, cur: u64) -> CounterDelta {
    if cur >= prev {
        return CounterDelta::Increase(cur - prev);
    }
    // Wrapped difference: (2^64 - prev) + cur, computed without overflow.
    let wrapped = (u64::MAX - prev).saturating_add(cur).saturating_add(1);
    if wrapped < WRAP_WINDOW {
        CounterDelta::Increase(wrapped)
    } else {
        CounterDelta::Reset
    }
}

/// What a sample did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleOutcome {
    /// First sample of this counter: a baseline, no rate yet.
    Baseline,
    /// A new rate was computed.
    Updated,
    /// The counter was reset; this sample is the new baseline.
    Reset,
    /// Same timestamp as the last sample: ignored.
    Duplicate,
    /// Older than the last sample: ignored.
    OutOfOrder,
}

/// A rate in bits/s and packets/s over an interval ending at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    /// Bits per second.
    pub bits_per_sec: f64,
    /// Packets per second.
    pub packets_per_sec: f64,
    /// End of the interval.
    pub at: Timestamp,
}

/// Port counters as reported (OpenFlow `ofp_port_stats`, P4Runtime counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PortCounters {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets transmitted.
    pub tx_packets: u64,
}

/// One flow entry's counters on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FlowKey {
    /// The device holding the entry.
    pub device: DeviceId,
    /// The entry's cookie (OpenFlow cookie, P4 entry handle); same cookie = same flow.
    pub cookie: u64,
}

/// The last sample of a set of counters and the rates it gave. 80 B for a port's four (it was
/// 160 with running totals only flows read and a second copy of `at`): one a port, about five
/// ports a switch.
#[derive(Debug, Clone)]
struct Counter<const N: usize> {
    at: Timestamp,
    values: [u64; N],
    /// Per second between the sample before and the one at `at`.
    rates: Option<[f64; N]>,
}

impl<const N: usize> Counter<N> {
    fn new(at: Timestamp, values: [u64; N]) -> Self {
        Counter {
            at,
            values,
            rates: None,
        }
    }

    /// Takes a sample; also returns what it counted that the last did not (all of it after
    /// a reset, nothing for a sample out of order).
    fn update(&mut self, at: Timestamp, values: [u64; N]) -> (SampleOutcome, [u64; N]) {
        if at == self.at {
            return (SampleOutcome::Duplicate, [0; N]);
        }
        if at < self.at {
            return (SampleOutcome::OutOfOrder, [0; N]);
        }
        let mut deltas = [0u64; N];
        let mut reset = false;
        for (i, d) in deltas.iter_mut().enumerate() {
            match counter_delta(self.values[i], values[i]) {
                CounterDelta::Increase(v) => *d = v,
                CounterDelta::Reset => reset = true,
            }
        }
        let secs = at.since(self.at).as_secs_f64();
        self.at = at;
        self.values = values;
        if reset {
            // Everything counted since the restart is new traffic.
            self.rates = None;
            return (SampleOutcome::Reset, values);
        }
        self.rates = Some(deltas.map(|d| d as f64 / secs));
        (SampleOutcome::Updated, deltas)
    }
}

/// (source, destination) hosts.
type HostPair = (MacAddr, MacAddr);
/// Bytes, (bits/s, packets/s) once some device has a fresh rate for the flow, and whether some
/// device's copy of it is a recent baseline with no rate yet.
type FlowFigures = (u128, Option<(f64, f64)>, bool);

#[derive(Debug, Clone)]
struct FlowState {
    pair: Option<(MacAddr, MacAddr)>,
    counter: Counter<2>,
    /// Bytes counted since the flow was first seen, across counter resets.
    bytes: u128,
}

/// One cell of the traffic matrix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MatrixCell {
    /// Source host.
    pub src: MacAddr,
    /// Destination host.
    pub dst: MacAddr,
    /// Bytes counted since the flows were first seen.
    pub bytes: u128,
    /// Current rate, bits/s, summed over the pair's flows with a fresh rate; `None` when none
    /// has one.
    pub bits_per_sec: Option<f64>,
    /// Current rate, packets/s, as `bits_per_sec`.
    pub packets_per_sec: Option<f64>,
}

/// Which port a link's rate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateSource {
    /// Transmit counters of the source port.
    SourceTx,
    /// Receive counters of the destination port.
    DestinationRx,
}

/// Turns counter samples into rates.
#[derive(Debug, Clone)]
pub struct RateTracker {
    stale_after: Duration,
    ports: BTreeMap<PortRef, Counter<4>>,
    flows: BTreeMap<FlowKey, FlowState>,
    /// Per (pair, cookie) some of whose entries were forgotten while others are still tracked:
    /// the most bytes a forgotten one counted (the flow is counted once, at its largest).
    retiring: BTreeMap<(HostPair, u64), u128>,
    /// Per pair, the bytes of its flows no entry of which is tracked any more.
    retired: BTreeMap<HostPair, u128>,
}

impl RateTracker {
    /// A tracker; a rate older than `stale_after` (relative to the `now` of a query) is ignored.
    pub fn new(stale_after: Duration) -> Self {
        RateTracker {
            stale_after,
            ports: BTreeMap::new(),
            flows: BTreeMap::new(),
            retiring: BTreeMap::new(),
            retired: BTreeMap::new(),
        }
    }

    /// Records a port counter sample taken at `at`.
    pub fn port_sample(&mut self, port: PortRef, at: Timestamp, c: PortCounters) -> SampleOutcome {
        let values = [c.rx_bytes, c.tx_bytes, c.rx_packets, c.tx_packets];
        match self.ports.get_mut(&port) {
            Some(counter) => counter.update(at, values).0,
            None => {
                self.ports.insert(port, Counter::new(at, values));
                SampleOutcome::Baseline
            }
        }
    }

    /// Forgets a port (removed, or its device restarted with new numbering).
    pub fn forget_port(&mut self, port: PortRef) {
        self.ports.remove(&port);
    }

    fn fresh<const N: usize>(&self, c: &Counter<N>, now: Timestamp) -> Option<[f64; N]> {
        let rates = c.rates?;
        (now.since(c.at) <= self.stale_after).then_some(rates)
    }

    /// (receive, transmit) rates of a port, if fresh at `now`.
    pub fn port_rates(&self, port: PortRef, now: Timestamp) -> Option<(Rate, Rate)> {
        let c = self.ports.get(&port)?;
        let [rxb, txb, rxp, txp] = self.fresh(c, now)?;
        let at = c.at;
        Some((
            Rate {
                bits_per_sec: rxb * 8.0,
                packets_per_sec: rxp,
                at,
            },
            Rate {
                bits_per_sec: txb * 8.0,
                packets_per_sec: txp,
                at,
            },
        ))
    }

    /// The rate over a link (see the module policy) and where it came from.
    pub fn link_rate(&self, link: LinkKey, now: Timestamp) -> Option<(Rate, RateSource)> {
        if let Some((_, tx)) = self.port_rates(link.src, now) {
            return Some((tx, RateSource::SourceTx));
        }
        let (rx, _) = self.port_rates(link.dst, now)?;
        Some((rx, RateSource::DestinationRx))
    }

    /// Records a flow counter sample; `pair` is the (source, destination) hosts it carries, if known.
    pub fn flow_sample(
        &mut self,
        key: FlowKey,
        pair: Option<(MacAddr, MacAddr)>,
        at: Timestamp,
        bytes: u64,
        packets: u64,
    ) -> SampleOutcome {
        match self.flows.get_mut(&key) {
            Some(state) => {
                if pair.is_some() {
                    state.pair = pair;
                }
                let (outcome, [counted, _]) = state.counter.update(at, [bytes, packets]);
                state.bytes += u128::from(counted);
                outcome
            }
            None => {
                self.flows.insert(
                    key,
                    FlowState {
                        pair,
                        counter: Counter::new(at, [bytes, packets]),
                        bytes: u128::from(bytes),
                    },
                );
                SampleOutcome::Baseline
            }
        }
    }

    /// Forgets a flow entry (removed from its switch).
    pub fn forget_flow(&mut self, key: FlowKey) {
        self.flows.remove(&key);
    }

    /// Forgets the entries of `device` that a complete read of its flow tables did not list
    /// (`listed`: the cookies it did list), keeping what they counted in their pairs' bytes.
    /// Returns how many were forgotten.
    pub fn sweep_flows(&mut self, device: DeviceId, listed: &BTreeSet<u64>) -> usize {
        let gone: Vec<FlowKey> = self
            .flows
            .range(
                FlowKey { device, cookie: 0 }..=FlowKey {
                    device,
                    cookie: u64::MAX,
                },
            )
            .map(|(k, _)| *k)
            .filter(|k| !listed.contains(&k.cookie))
            .collect();
        if gone.is_empty() {
            return 0;
        }
        let mut ended = BTreeSet::new();
        for key in &gone {
            let Some(state) = self.flows.remove(key) else {
                continue;
            };
            if let Some(pair) = state.pair {
                let kept = self.retiring.entry((pair, key.cookie)).or_insert(0);
                *kept = (*kept).max(state.bytes);
                ended.insert((pair, key.cookie));
            }
        }
        // One pass over what is still tracked, not one per forgotten entry: a restarted
        // switch's whole table goes at once.
        for (key, state) in &self.flows {
            if let Some(pair) = state.pair {
                ended.remove(&(pair, key.cookie));
            }
        }
        for flow in ended {
            if let Some(bytes) = self.retiring.remove(&flow) {
                *self.retired.entry(flow.0).or_insert(0) += bytes;
            }
        }
        gone.len()
    }

    /// Flow entries tracked (every device, every cookie).
    pub fn flows_tracked(&self) -> usize {
        self.flows.len()
    }

    /// A flow entry's rate, if fresh.
    pub fn flow_rate(&self, key: FlowKey, now: Timestamp) -> Option<Rate> {
        let c = &self.flows.get(&key)?.counter;
        let [b, p] = self.fresh(c, now)?;
        Some(Rate {
            bits_per_sec: b * 8.0,
            packets_per_sec: p,
            at: c.at,
        })
    }

    /// Bytes and rate per (source host, destination host), sorted by pair. A flow with only a
    /// baseline sample has no rate yet and a pair with such a flow has none (`None`) until it
    /// has (within `stale_after` of that sample): read as 0 bit/s, every new pair's first
    /// observation was a false 0 in its forecast history, and a pair moving onto a new entry
    /// read a false dip.
    /// A stale flow (its switch stopped counting it) adds 0, and a pair none of whose entries is
    /// tracked any more (see [`RateTracker::sweep_flows`]) reads 0.
    pub fn traffic_matrix(&self, now: Timestamp) -> Vec<MatrixCell> {
        // Every tick reads the whole matrix (160,000 entries at 40,000 pairs): the copies of a
        // flow are gathered in a hash map of integer keys, and only the flows are sorted.
        // A flow is counted once, at its largest figures over the devices that count it.
        let merge = |(bytes, rate, new): FlowFigures, (b, r, n): FlowFigures| -> FlowFigures {
            let rate = match (rate, r) {
                (Some((bps, pps)), Some((b, p))) => Some((bps.max(b), pps.max(p))),
                (rate, r) => rate.or(r),
            };
            (bytes.max(b), rate, new || n)
        };
        let mut flows: HashMap<(u128, u64), FlowFigures, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(self.retiring.len(), Default::default());
        for ((pair, cookie), bytes) in &self.retiring {
            flows.insert(pack(*pair, *cookie), (*bytes, None, false));
        }
        for (key, state) in &self.flows {
            let Some(pair) = state.pair else { continue };
            let figures = if state.counter.rates.is_some() {
                let [b, p] = self.fresh(&state.counter, now).unwrap_or([0.0, 0.0]);
                (state.bytes, Some((b * 8.0, p)), false)
            } else {
                let new = now.since(state.counter.at) <= self.stale_after;
                (state.bytes, None, new)
            };
            let e = flows
                .entry(pack(pair, key.cookie))
                .or_insert((0, None, false));
            *e = merge(*e, figures);
        }
        let mut rows: Vec<((u128, u64), FlowFigures)> = flows.into_iter().collect();
        rows.sort_unstable_by_key(|(flow, _)| *flow);
        let mut cells: Vec<MatrixCell> = Vec::new();
        // Whether the pair of the last cell has an entry with no rate yet.
        let mut pending = false;
        for ((bits, _), (bytes, rate, new)) in rows {
            let (src, dst) = unpack(bits);
            if cells.last().is_none_or(|c| (c.src, c.dst) != (src, dst)) {
                settle_pending(&mut cells, pending);
                pending = false;
                cells.push(MatrixCell {
                    src,
                    dst,
                    bytes: 0,
                    bits_per_sec: None,
                    packets_per_sec: None,
                });
            }
            pending |= new;
            if let Some(cell) = cells.last_mut() {
                cell.bytes += bytes;
                if let Some((bps, pps)) = rate {
                    cell.bits_per_sec = Some(cell.bits_per_sec.unwrap_or(0.0) + bps);
                    cell.packets_per_sec = Some(cell.packets_per_sec.unwrap_or(0.0) + pps);
                }
            }
        }
        settle_pending(&mut cells, pending);
        // A pair none of whose entries is tracked any more (removed: its traffic stopped)
        // carries nothing, as a stale one does. Both lists are sorted by pair: merge them.
        let mut merged = Vec::with_capacity(cells.len() + self.retired.len());
        let mut retired = self.retired.iter().peekable();
        for cell in cells {
            while let Some((&(src, dst), &bytes)) =
                retired.next_if(|(pair, _)| **pair < (cell.src, cell.dst))
            {
                merged.push(retired_cell(src, dst, bytes));
            }
            let mut cell = cell;
            if let Some((_, &bytes)) = retired.next_if(|(pair, _)| **pair == (cell.src, cell.dst)) {
                cell.bytes += bytes;
            }
            merged.push(cell);
        }
        merged.extend(retired.map(|(&(src, dst), &bytes)| retired_cell(src, dst, bytes)));
        merged
    }
}

/// An entry counting the pair with no rate yet (new, or restarted from zero) may carry its
/// traffic since its first reading: the pair's other entries then measured only part of the
/// interval (a reservation's entry taking over from the routed one read 2/3 of the pair in the
/// sim), and a copy elsewhere on the path reading 0 beside a restarted one is no 0. Unknown
/// until it has a rate, not a dip: the last cell's rates are cleared when `pending`.
fn settle_pending(cells: &mut [MatrixCell], pending: bool) {
    if let (true, Some(cell)) = (pending, cells.last_mut()) {
        cell.bits_per_sec = None;
        cell.packets_per_sec = None;
    }
}

/// A (pair, cookie) as integers, ordered as the pair then the cookie: sorting 160,000 of them
/// by integer compares, not MAC byte arrays, is most of what a matrix costs.
fn pack((src, dst): HostPair, cookie: u64) -> (u128, u64) {
    let bits = |m: MacAddr| m.0.iter().fold(0u128, |acc, b| acc << 8 | u128::from(*b));
    (bits(src) << 48 | bits(dst), cookie)
}

fn unpack(pair: u128) -> HostPair {
    let mac = |bits: u128| MacAddr(std::array::from_fn(|i| (bits >> (40 - 8 * i)) as u8));
    (mac(pair >> 48), mac(pair))
}

/// The cell of a pair whose flows are all gone: what they counted, at no rate.
fn retired_cell(src: MacAddr, dst: MacAddr, bytes: u128) -> MatrixCell {
    MatrixCell {
        src,
        dst,
        bytes,
        bits_per_sec: Some(0.0),
        packets_per_sec: Some(0.0),
    }
}

#[cfg(test)]
mod tests;
