//! The forecast stride (see `core::tick`): how many ticks a full forecast round may take so that
//! one tick stays within its share of the control interval, from what the last tick cost.

use std::time::Duration;

/// Share of the control interval one tick may spend (the rest is for the events, the probes and
/// the writes the same loop carries).
pub const BUDGET: f64 = 0.4;
/// The longest round: a series then steps every this many control intervals.
pub const MAX_STRIDE: u32 = 128;

/// Share of the control interval series get at least, however much of it a tick's fixed part
/// takes: a longer stride cannot make the fixed part cheaper, only forecasts staler.
pub const FLOOR: f64 = BUDGET / 4.0;

/// What one tick cost.
#[derive(Debug, Clone, Copy)]
pub struct TickCost {
    /// The whole tick.
    pub took: Duration,
    /// Of it, observing and forecasting series (`ControllerCore::forecast_cost_last_tick`).
    pub forecast: Duration,
    /// Series it observed.
    pub observed: usize,
    /// Series there are.
    pub total: usize,
}

/// The stride the next ticks should run at, after a tick at `current` that cost `cost`. Only
/// the forecasting part scales with the stride: the round is its cost per series times the
/// series, spread over ticks so that each fits what the fixed part (snapshot, planners, the
/// other series' latest peaks) leaves of the budget. Powers of two only, growing as soon as a
/// round would not fit and shrinking only when a quarter of it would: a change makes every
/// series' steps longer or shorter, which the models take in stride only when it is rare.
pub fn next_stride(current: u32, cost: TickCost, interval: Duration) -> u32 {
    let current = current.max(1);
    if cost.observed == 0 || cost.total == 0 || interval.is_zero() {
        return current;
    }
    let whole_round = cost.forecast.as_secs_f64() / cost.observed as f64 * cost.total as f64;
    let fixed = cost.took.saturating_sub(cost.forecast).as_secs_f64();
    let room = (BUDGET * interval.as_secs_f64() - fixed).max(FLOOR * interval.as_secs_f64());
    let ticks = (whole_round / room).ceil();
    // `ticks` is at least 0 and finite here (a NaN would clamp to 1 via `max`).
    let wanted = (ticks.clamp(1.0, f64::from(MAX_STRIDE)) as u32).next_power_of_two();
    if wanted > current || wanted.saturating_mul(4) <= current {
        wanted
    } else {
        current
    }
}

/// Chooses the stride tick after tick with [`next_stride`], except that it shrinks only after a
/// whole round of ticks (as many as the stride) each found that a quarter of it would do, and
/// then to what the most demanding of them wanted. One cheap tick (a turn that happened to hold
/// few series, or none to create) otherwise shortened every series' step only for the next
/// costly one to lengthen it again: 64 -> 16 -> 64 within five seconds at 10,000 switches, each
/// change a jump in how many series a tick forecasts. It grows at once.
#[derive(Debug, Default)]
pub struct Governor {
    /// Ticks in a row that wanted a smaller stride.
    cheap: u32,
    /// The largest stride those ticks wanted.
    wanted: u32,
}

impl Governor {
    /// The stride the next ticks should run at (see [`next_stride`] for the arguments).
    pub fn next(&mut self, current: u32, cost: TickCost, interval: Duration) -> u32 {
        let current = current.max(1);
        let wanted = next_stride(current, cost, interval);
        if wanted >= current {
            self.cheap = 0;
            self.wanted = 0;
            return wanted;
        }
        self.cheap += 1;
        self.wanted = self.wanted.max(wanted);
        if self.cheap < current {
            return current;
        }
        let next = self.wanted;
        self.cheap = 0;
        self.wanted = 0;
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    /// A tick that spent all of `took` forecasting `observed` of `total` series.
    fn forecast_only(took: Duration, observed: usize, total: usize) -> TickCost {
        TickCost {
            took,
            forecast: took,
            observed,
            total,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_round_that_fits_keeps_stride_one() {
        assert_eq!(
            next_stride(
                1,
                forecast_only(Duration::from_millis(100), 4000, 4000),
                SEC
            ),
            1
        );
    }

    #[test]
    fn a_round_of_two_seconds_spreads_over_eight_ticks() {
        // 2 s for everything, 0.4 s a tick: 5 ticks, rounded up to a power of two.
        assert_eq!(next_stride(1, forecast_only(2 * SEC, 4000, 4000), SEC), 8);
        // At stride 8 a tick did an eighth for 250 ms: the same 2 s round, so it stays.
        assert_eq!(
            next_stride(8, forecast_only(Duration::from_millis(250), 500, 4000), SEC),
            8
        );
    }

    #[test]
    fn it_shrinks_only_when_a_quarter_would_do_and_never_past_the_cap() {
        // Round now 0.9 s (wants 4 at stride 8): kept, a restart is not worth it.
        assert_eq!(
            next_stride(8, forecast_only(Duration::from_millis(112), 500, 4000), SEC),
            8
        );
        // Round 0.3 s: wants 1, a quarter of 8 or less: shrinks.
        assert_eq!(
            next_stride(8, forecast_only(Duration::from_millis(37), 500, 4000), SEC),
            1
        );
        assert_eq!(
            next_stride(1, forecast_only(1000 * SEC, 10, 10), SEC),
            MAX_STRIDE
        );
        // Nothing observed (no series yet): unchanged.
        assert_eq!(next_stride(4, forecast_only(SEC, 0, 0), SEC), 4);
    }

    #[test]
    fn one_cheap_tick_does_not_shrink_a_whole_round_does() {
        let mut g = Governor::default();
        // At 8, a round of 0.3 s wants 1 (a quarter or less of 8), a round of 0.9 s wants 4.
        let cheap = Duration::from_millis(37);
        let middling = Duration::from_millis(112);
        for _ in 0..7 {
            assert_eq!(g.next(8, forecast_only(cheap, 500, 4000), SEC), 8);
        }
        // A tick that would keep 8 starts the count again.
        assert_eq!(
            g.next(8, forecast_only(Duration::from_millis(250), 500, 4000), SEC),
            8
        );
        for _ in 0..7 {
            assert_eq!(g.next(8, forecast_only(cheap, 500, 4000), SEC), 8);
        }
        // The eighth cheap tick in a row: a whole round wanted less; the most it wanted wins.
        assert_eq!(g.next(8, forecast_only(middling, 500, 4000), SEC), 8);
        // (`middling` alone wants 4, which is not a quarter of 8: it kept 8 and reset.)
        for _ in 0..7 {
            assert_eq!(g.next(8, forecast_only(cheap, 500, 4000), SEC), 8);
        }
        assert_eq!(g.next(8, forecast_only(cheap, 500, 4000), SEC), 1);
    }

    #[test]
    fn it_grows_at_once() {
        let mut g = Governor::default();
        assert_eq!(
            g.next(8, forecast_only(Duration::from_millis(37), 500, 4000), SEC),
            8
        );
        // 2 s a tick for an eighth: a 16 s round, 40 ticks, 64.
        assert_eq!(g.next(8, forecast_only(2 * SEC, 500, 4000), SEC), 64);
        assert_eq!(g.next(1, forecast_only(2 * SEC, 4000, 4000), SEC), 8);
    }

    #[test]
    fn a_ticks_fixed_part_does_not_lengthen_every_series_step() {
        // 450 ms a tick, of which 100 forecast all 4,000 series: the 350 others cost the same
        // at any stride, so the round fits one tick (the whole tick read as forecasting: 2).
        let fixed_heavy = TickCost {
            took: ms(450),
            forecast: ms(100),
            observed: 4000,
            total: 4000,
        };
        assert_eq!(next_stride(1, fixed_heavy, SEC), 1);
        assert_eq!(next_stride(1, forecast_only(ms(450), 4000, 4000), SEC), 2);
        // 10,000 switches at stride 128: 400 ms a tick, 10 of them for its 314 series. The
        // round is 1.28 s and the fixed part leaves less than the floor (100 ms): 13 ticks, 16,
        // a quarter of 128 or less, so it shrinks (read as all forecasting it stayed at 128).
        let at_scale = TickCost {
            took: ms(400),
            forecast: ms(10),
            observed: 314,
            total: 40_198,
        };
        assert_eq!(next_stride(128, at_scale, SEC), 16);
        assert_eq!(
            next_stride(128, forecast_only(ms(400), 314, 40_198), SEC),
            128
        );
    }
}
