//! What every part of the traffic model shares: model time, host pairs, and the seeded hash every
//! random quantity is drawn from (so each is a pure function of its inputs).

/// Seconds per model day.
pub const DAY_SECS: f64 = 86_400.0;

/// Seconds per model week.
pub const WEEK_SECS: f64 = 7.0 * DAY_SECS;

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

/// SplitMix64: a tiny, well-mixed hash, so every random quantity is a pure function of its inputs.
pub(super) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(super) fn hash(parts: &[u64]) -> u64 {
    parts.iter().fold(0x5eed_u64, |h, p| mix(h ^ mix(*p)))
}

/// Uniform in `[0, 1)`.
pub(super) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}
