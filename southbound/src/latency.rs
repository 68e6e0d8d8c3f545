//! A lock-free latency histogram the sessions fill and anyone holding an `Arc` of it reads:
//! how long writes to devices take (OpenFlow: a batch of FLOW_MOD/GROUP_MOD/METER_MOD until its
//! BARRIER_REPLY; P4Runtime: one Write RPC).
//!
//! Invariants: bucket bounds are fixed (Prometheus-style cumulative `le` buckets, in seconds);
//! recording never blocks and never panics; a snapshot's bucket counts are cumulative and the
//! last equals `count` unless a record raced the snapshot (each field is read once, relaxed).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds (a final `+Inf` bucket is implied).
pub const BUCKETS_SECS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Write latencies, by bucket.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Non-cumulative counts; the last slot is `+Inf`.
    buckets: [AtomicU64; BUCKETS_SECS.len() + 1],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

/// A copy of a histogram at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencySnapshot {
    /// `(upper bound in seconds, cumulative count)`, ending with `(+Inf, count)`.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of all recorded latencies, in seconds.
    pub sum_secs: f64,
    /// Number of recorded latencies.
    pub count: u64,
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one latency.
    pub fn record(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let slot = BUCKETS_SECS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUCKETS_SECS.len());
        if let Some(b) = self.buckets.get(slot) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now, cumulative per bucket.
    pub fn snapshot(&self) -> LatencySnapshot {
        let mut acc = 0u64;
        let buckets = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                acc = acc.saturating_add(b.load(Ordering::Relaxed));
                (BUCKETS_SECS.get(i).copied().unwrap_or(f64::INFINITY), acc)
            })
            .collect();
        LatencySnapshot {
            buckets,
            sum_secs: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

impl LatencySnapshot {
    /// The smallest bucket bound below which at least `q` (0..=1) of the latencies fall;
    /// `None` when nothing was recorded.
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let want = (q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64;
        self.buckets
            .iter()
            .find(|(_, c)| *c >= want.max(1))
            .map(|(le, _)| *le)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_land_in_cumulative_buckets() {
        let h = LatencyHistogram::new();
        h.record(Duration::from_micros(50));
        h.record(Duration::from_micros(700));
        h.record(Duration::from_millis(3));
        h.record(Duration::from_secs(30));
        let s = h.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!(s.buckets.len(), BUCKETS_SECS.len() + 1);
        assert_eq!(s.buckets[0], (0.0001, 1));
        assert_eq!(s.buckets[3], (0.001, 2));
        assert_eq!(s.buckets[5], (0.005, 3));
        assert_eq!(s.buckets[13], (5.0, 3));
        assert_eq!(s.buckets[14], (f64::INFINITY, 4));
        assert!((s.sum_secs - 30.00375).abs() < 1e-9, "{}", s.sum_secs);
    }

    #[test]
    fn quantile_bounds_follow_the_counts() {
        let h = LatencyHistogram::new();
        assert_eq!(h.snapshot().quantile_bound(0.5), None);
        for _ in 0..9 {
            h.record(Duration::from_micros(200));
        }
        h.record(Duration::from_millis(40));
        let s = h.snapshot();
        assert_eq!(s.quantile_bound(0.5), Some(0.00025));
        assert_eq!(s.quantile_bound(0.9), Some(0.00025));
        assert_eq!(s.quantile_bound(0.99), Some(0.05));
        // A boundary value belongs to its own bucket (`le` is inclusive).
        let h = LatencyHistogram::new();
        h.record(Duration::from_millis(1));
        assert_eq!(h.snapshot().quantile_bound(1.0), Some(0.001));
    }
}
