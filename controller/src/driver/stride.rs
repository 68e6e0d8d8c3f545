//! The forecast stride (see `core::tick`): how many ticks a full forecast round may take so that
//! one tick stays within its share of the control interval, from what the last tick cost.

use std::time::Duration;

/// Share of the control interval one tick may spend (the rest is for the events, the probes and
/// the writes the same loop carries).
pub const BUDGET: f64 = 0.4;
/// The longest round: a series then steps every this many control intervals.
pub const MAX_STRIDE: u32 = 128;

/// The stride the next ticks should run at, after a tick at `current` that took `took` to
/// observe `observed` of `total` series. Powers of two only, growing as soon as a round would
/// not fit and shrinking only when a quarter of it would: a change makes every series' steps
/// longer or shorter, which the models take in stride only when it is rare.
pub fn next_stride(
    current: u32,
    took: Duration,
    observed: usize,
    total: usize,
    interval: Duration,
) -> u32 {
    let current = current.max(1);
    if observed == 0 || total == 0 || interval.is_zero() {
        return current;
    }
    let whole_round = took.as_secs_f64() / observed as f64 * total as f64;
    let ticks = (whole_round / (BUDGET * interval.as_secs_f64())).ceil();
    // `ticks` is at least 0 and finite here (a NaN would clamp to 1 via `max`).
    let wanted = (ticks.clamp(1.0, f64::from(MAX_STRIDE)) as u32).next_power_of_two();
    if wanted > current || wanted.saturating_mul(4) <= current {
        wanted
    } else {
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn a_round_that_fits_keeps_stride_one() {
        assert_eq!(
            next_stride(1, Duration::from_millis(100), 4000, 4000, SEC),
            1
        );
    }

    #[test]
    fn a_round_of_two_seconds_spreads_over_eight_ticks() {
        // 2 s for everything, 0.4 s a tick: 5 ticks, rounded up to a power of two.
        assert_eq!(next_stride(1, 2 * SEC, 4000, 4000, SEC), 8);
        // At stride 8 a tick did an eighth for 250 ms: the same 2 s round, so it stays.
        assert_eq!(
            next_stride(8, Duration::from_millis(250), 500, 4000, SEC),
            8
        );
    }

    #[test]
    fn it_shrinks_only_when_a_quarter_would_do_and_never_past_the_cap() {
        // Round now 0.9 s (wants 4 at stride 8): kept, a restart is not worth it.
        assert_eq!(
            next_stride(8, Duration::from_millis(112), 500, 4000, SEC),
            8
        );
        // Round 0.3 s: wants 1, a quarter of 8 or less: shrinks.
        assert_eq!(next_stride(8, Duration::from_millis(37), 500, 4000, SEC), 1);
        assert_eq!(next_stride(1, 1000 * SEC, 10, 10, SEC), MAX_STRIDE);
        // Nothing observed (no series yet): unchanged.
        assert_eq!(next_stride(4, SEC, 0, 0, SEC), 4);
    }
}
