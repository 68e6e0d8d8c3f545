//! Season detection: daily and weekly periods, derived from the sampling interval and confirmed by
//! the autocorrelation of the series itself (no period is tuned to one trace).
//!
//! At intervals longer than half a day a day holds fewer than two steps and has no season, but a
//! week still does (a day: 7 steps), so daily data keeps its day-of-week pattern.
//!
//! At intervals of at most an hour that do not divide the day (7 or 35 minutes, 70 s) the day and
//! week are a fractional number of steps. Their lags round to the nearest step (an offset of at
//! most half a step, constant over time), while phases (time-of-day harmonics and bins) come
//! from the exact length via [`Seasons::phase`]: a rounded period would drift a whole cycle
//! within months.
//!
//! Invariant: a reported period `p` satisfies `2 <= p` and the history used to confirm it held at
//! least `p + p / 2` points, so a season is never claimed from less than one and a half cycles.

use std::num::NonZeroU32;

/// Seconds in a day.
pub(crate) const DAY_SECS: u64 = 86_400;
/// Seconds in a week.
pub(crate) const WEEK_SECS: u64 = 7 * DAY_SECS;
/// Autocorrelation a candidate period must reach to count as a season.
const MIN_ACF: f64 = 0.2;
/// Longest lag searched when the sampling interval is unknown.
const MAX_BLIND_LAG: usize = 2_000;

/// Seasonal periods of one series, in steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seasons {
    /// Daily period, if present (rounded to the nearest step where the interval does not divide
    /// the day).
    pub day: Option<usize>,
    /// Weekly period, if present (rounded likewise).
    pub week: Option<usize>,
    /// The sampling interval in seconds when it does not divide the day: phases then follow the
    /// exact day and week, not the rounded periods. `None` when the periods are whole. (Four
    /// bytes: every model of every series holds its seasons.)
    pub clock: Option<NonZeroU32>,
}

impl Seasons {
    /// The longest detected period (used by seasonal naive), if any.
    pub fn longest(&self) -> Option<usize> {
        self.week.or(self.day)
    }

    /// The shortest detected period (used by exponential smoothing), if any.
    pub fn shortest(&self) -> Option<usize> {
        self.day.or(self.week)
    }

    /// Phase in `[0, 1)` of absolute step `t` within the cycle of `period` steps (one of
    /// `day` / `week`): from the exact day or week when `clock` is set, else `t mod period`.
    pub fn phase(&self, t: u64, period: usize) -> f64 {
        let cycle_secs = match self.clock {
            Some(_) if Some(period) == self.week => Some(WEEK_SECS),
            Some(_) if Some(period) == self.day => Some(DAY_SECS),
            _ => None,
        };
        match (self.clock, cycle_secs) {
            (Some(step), Some(cycle)) => clock_phase(t, u64::from(step.get()), cycle),
            _ => {
                let p = period.max(1) as u64;
                (t % p) as f64 / p as f64
            }
        }
    }
}

/// Phase in `[0, 1)` of step `t` sampled every `step_secs` within a cycle of `cycle_secs`,
/// in whole seconds (exact however long the history).
pub fn clock_phase(t: u64, step_secs: u64, cycle_secs: u64) -> f64 {
    let cycle = u128::from(cycle_secs.max(1));
    let secs = u128::from(t) * u128::from(step_secs) % cycle;
    secs as f64 / cycle as f64
}

/// Longest interval given a fractional day: an hour (a day of at least 24 steps), where the
/// rounded lag is off by at most a 48th of the cycle.
const MAX_FRACTIONAL_SECS: u64 = 3_600;

/// Daily and weekly periods in steps implied by a sampling interval: both when it divides a day
/// into at least two steps; only the weekly one when a day holds fewer than two steps but the
/// interval divides a week into at least two (1 day: 7, 1.75 days: 4, 3.5 days: 2). Up to an
/// hour, an interval that does not divide the day gets both rounded to the nearest step and
/// `clock` set (35 minutes: day 41, week 288 exactly; 7 minutes: 206 and 1,440); none
/// otherwise.
pub fn periods_for_interval(interval_secs: u64) -> Seasons {
    if interval_secs == 0 {
        return Seasons::default();
    }
    if DAY_SECS % interval_secs == 0 && DAY_SECS / interval_secs >= 2 {
        let day = (DAY_SECS / interval_secs) as usize;
        return Seasons {
            day: Some(day),
            week: Some(day * 7),
            clock: None,
        };
    }
    if interval_secs <= MAX_FRACTIONAL_SECS {
        // The week rounded on its own, not 7 rounded days: exact where the interval divides
        // the week (35 and 7 minutes, 70 s), at most half a step off otherwise.
        let round = |cycle: u64| ((cycle + interval_secs / 2) / interval_secs) as usize;
        return Seasons {
            day: Some(round(DAY_SECS)),
            week: Some(round(WEEK_SECS)),
            clock: u32::try_from(interval_secs).ok().and_then(NonZeroU32::new),
        };
    }
    // Only past half a day: shorter intervals that divide the week but not the day (7 minutes)
    // have a daily season of a fractional step, which a week-only answer would hide.
    if interval_secs > DAY_SECS / 2
        && WEEK_SECS % interval_secs == 0
        && WEEK_SECS / interval_secs >= 2
    {
        return Seasons {
            day: None,
            week: Some((WEEK_SECS / interval_secs) as usize),
            clock: None,
        };
    }
    Seasons::default()
}

/// The shortest calendar cycle in steps at `interval_secs` (a day, or a week where a day holds
/// fewer than two steps): the period a refit cadence, calibration window or time-of-day sizing
/// bins follow.
pub fn cycle_for_interval(interval_secs: u64) -> Option<usize> {
    periods_for_interval(interval_secs).shortest()
}

/// Sample autocorrelation at `lag`, over the pairs where both values are present.
pub fn acf(values: &[f64], lag: usize) -> f64 {
    if lag == 0 || lag >= values.len() {
        return 0.0;
    }
    Moments::of(values).map_or(0.0, |m| m.acf(values, lag))
}

/// Mean and variance of a series' present values: what [`acf`] needs at every lag, computed
/// once for a search over many lags (the blind search recomputed them, and copied the series,
/// at each of its 2,000 lags).
#[derive(Debug, Clone, Copy)]
struct Moments {
    mean: f64,
    var: f64,
}

impl Moments {
    /// `None` where every lag's autocorrelation is 0: fewer than two present values, or no
    /// spread.
    fn of(values: &[f64]) -> Option<Self> {
        let present: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if present.len() < 2 {
            return None;
        }
        let mean = present.iter().sum::<f64>() / present.len() as f64;
        let var = present.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / present.len() as f64;
        // Not `var > 0.0`: a NaN variance (values near f64::MAX) went on to the lag sums before.
        if var <= 0.0 {
            None
        } else {
            Some(Self { mean, var })
        }
    }

    /// [`acf`] of `values` (the series these moments are of) at `lag`.
    fn acf(self, values: &[f64], lag: usize) -> f64 {
        if lag == 0 || lag >= values.len() {
            return 0.0;
        }
        let Self { mean, var } = self;
        let (mut sum, mut n) = (0.0, 0usize);
        for (a, b) in values.iter().zip(values.iter().skip(lag)) {
            if a.is_finite() && b.is_finite() {
                sum += (a - mean) * (b - mean);
                n += 1;
            }
        }
        if n == 0 {
            0.0
        } else {
            sum / n as f64 / var
        }
    }
}

/// Detects the daily and weekly seasons of `values` sampled every `interval_secs` (if known).
///
/// With a known interval, the candidate periods are a day and a week; each is kept when the history
/// covers one and a half cycles and the autocorrelation at that lag reaches `MIN_ACF`. Without an
/// interval, the strongest autocorrelation peak up to `MAX_BLIND_LAG` becomes the single season.
pub fn detect(values: &[f64], interval_secs: Option<u64>) -> Seasons {
    let moments = Moments::of(values);
    let acf = |lag: usize| moments.map_or(0.0, |m| m.acf(values, lag));
    let confirmed = |p: usize| p >= 2 && values.len() >= p + p / 2 && acf(p) >= MIN_ACF;
    match interval_secs {
        Some(secs) => {
            let cand = periods_for_interval(secs);
            Seasons {
                day: cand.day.filter(|&p| confirmed(p)),
                week: cand.week.filter(|&p| confirmed(p)),
                clock: cand.clock,
            }
        }
        None => {
            let max_lag = MAX_BLIND_LAG.min(values.len() * 2 / 3);
            let acfs: Vec<f64> = (0..=max_lag).map(acf).collect();
            // A peak is a local maximum from lag 2 on. Skipping the short lags up to the first
            // dip below `MIN_ACF` reads as the better rule (any smooth series correlates with
            // itself there), and the code claimed to until session 22; measured then on
            // development traces without a time column, it lost: the UK backbone at 1 day 6.2 ×
            // the MSE, an Abilene pair 1.04-1.08 × (docs/forecasts.md).
            let peaks: Vec<(usize, f64)> = (2..max_lag)
                .filter_map(|l| match (acfs.get(l - 1), acfs.get(l), acfs.get(l + 1)) {
                    (Some(a), Some(&b), Some(c)) if b >= *a && b >= *c => Some((l, b)),
                    _ => None,
                })
                .collect();
            // Multiples of the period correlate about as well as the period itself: take the
            // shortest peak close to the strongest.
            let top = peaks.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
            let best = peaks.iter().find(|p| p.1 >= 0.9 * top).map(|p| p.0);
            Seasons {
                day: best.filter(|&p| confirmed(p)),
                week: None,
                clock: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(period: usize, n: usize) -> Vec<f64> {
        (0..n)
            .map(|t| (t as f64 * std::f64::consts::TAU / period as f64).sin())
            .collect()
    }

    #[test]
    fn five_minute_interval_gives_day_of_288_steps() {
        let s = periods_for_interval(300);
        assert_eq!(s.day, Some(288));
        assert_eq!(s.week, Some(2016));
        assert_eq!(periods_for_interval(4_000), Seasons::default());
    }

    #[test]
    fn intervals_that_do_not_divide_the_day_get_rounded_seasons_on_the_clock() {
        let s = periods_for_interval(2_100);
        assert_eq!(
            s,
            Seasons {
                day: Some(41),
                week: Some(288),
                clock: NonZeroU32::new(2_100),
            },
            "35 minutes: 41.14 steps a day, exactly 288 a week"
        );
        let rounded = |i: u64| {
            let s = periods_for_interval(i);
            (s.day, s.week)
        };
        assert_eq!(rounded(420), (Some(206), Some(1_440)), "7 minutes");
        assert_eq!(rounded(70), (Some(1_234), Some(8_640)), "70 s");
        assert_eq!(rounded(1_500), (Some(58), Some(403)), "25 minutes");
        assert_eq!(rounded(3_300), (Some(26), Some(183)), "55 minutes");
        assert_eq!(rounded(660), (Some(131), Some(916)), "11 minutes");
        assert_eq!(cycle_for_interval(2_100), Some(41));
    }

    #[test]
    fn phases_follow_the_exact_day_not_the_rounded_period() {
        let s = periods_for_interval(2_100);
        // 288 steps of 35 minutes are exactly a week: midnight again, though 288 is not a
        // multiple of the rounded day of 41 steps (288 mod 41 = 1).
        assert_eq!(s.phase(288, 41), 0.0);
        assert_eq!(s.phase(288, 288), 0.0);
        // A year of weeks later still midnight: a rounded day would be 52 x 288 mod 41 = 21
        // steps (half a day) off by then.
        assert_eq!(s.phase(52 * 288, 41), 0.0);
        // Step 41 is 23 h 55 min into the day.
        assert!((s.phase(41, 41) - 1_435.0 / 1_440.0).abs() < 1e-12);
        // Whole periods keep `t mod p`.
        let whole = periods_for_interval(300);
        assert_eq!(whole.phase(288 + 72, 288), 0.25);
    }

    #[test]
    fn daily_and_longer_intervals_keep_the_week() {
        let week = |s: u64| periods_for_interval(s);
        assert_eq!(
            week(86_400),
            Seasons {
                day: None,
                week: Some(7),
                clock: None,
            }
        );
        assert_eq!(
            week(43_200),
            Seasons {
                day: Some(2),
                week: Some(14),
                clock: None,
            }
        );
        assert_eq!(
            week(28_800),
            Seasons {
                day: Some(3),
                week: Some(21),
                clock: None,
            }
        );
        assert_eq!(week(151_200).week, Some(4), "1.75 days");
        assert_eq!(week(302_400).week, Some(2), "half a week");
        // Two days do not divide a week; a week is one step; a fortnight is less than one.
        for s in [172_800, 604_800, 1_209_600, 0] {
            assert_eq!(week(s), Seasons::default(), "{s} s");
        }
        assert_eq!(cycle_for_interval(86_400), Some(7));
        assert_eq!(cycle_for_interval(300), Some(288));
    }

    #[test]
    fn a_weekly_pattern_in_daily_data_is_detected() {
        // Five busy days, a quiet weekend, ten weeks.
        let v: Vec<f64> = (0..70)
            .map(|t| if t % 7 < 5 { 10.0 } else { 4.0 })
            .collect();
        let s = detect(&v, Some(86_400));
        assert_eq!(
            s,
            Seasons {
                day: None,
                week: Some(7),
                clock: None,
            }
        );
        assert_eq!(detect(&v[..9], Some(86_400)).week, None, "under 1.5 weeks");
    }

    #[test]
    fn daily_sine_is_detected_and_weekly_needs_enough_history() {
        let v = sine(288, 288 * 3);
        let s = detect(&v, Some(300));
        assert_eq!(s.day, Some(288));
        assert_eq!(s.week, None, "three days cannot confirm a week");
    }

    #[test]
    fn the_blind_search_reads_the_same_autocorrelations_as_one_lag_at_a_time() {
        // The pre-perf22 `acf`, which recomputed the moments at every lag: the search's
        // shared moments must give the same bits.
        fn direct(values: &[f64], lag: usize) -> f64 {
            if lag == 0 || lag >= values.len() {
                return 0.0;
            }
            let present: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
            if present.len() < 2 {
                return 0.0;
            }
            let mean = present.iter().sum::<f64>() / present.len() as f64;
            let var =
                present.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / present.len() as f64;
            if var <= 0.0 {
                return 0.0;
            }
            let (mut sum, mut n) = (0.0, 0usize);
            for (a, b) in values.iter().zip(values.iter().skip(lag)) {
                if a.is_finite() && b.is_finite() {
                    sum += (a - mean) * (b - mean);
                    n += 1;
                }
            }
            if n == 0 {
                0.0
            } else {
                sum / n as f64 / var
            }
        }
        // A period of 37 with noise and a gap every 11th value.
        let v: Vec<f64> = sine(37, 900)
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let e = ((i as u64).wrapping_mul(6364136223846793005) >> 40) % 100;
                if i % 11 == 5 {
                    f64::NAN
                } else {
                    5.0 + s + 0.004 * e as f64
                }
            })
            .collect();
        let m = Moments::of(&v).expect("spread");
        for lag in 0..=600 {
            assert_eq!(
                m.acf(&v, lag).to_bits(),
                direct(&v, lag).to_bits(),
                "lag {lag}"
            );
            assert_eq!(
                acf(&v, lag).to_bits(),
                direct(&v, lag).to_bits(),
                "lag {lag}"
            );
        }
        assert_eq!(detect(&v, None).day, Some(37));
        assert!(
            Moments::of(&[3.0; 10]).is_none(),
            "no spread, no autocorrelation"
        );
    }

    #[test]
    fn noise_has_no_season_and_blind_search_finds_the_period() {
        let noise: Vec<f64> = (0..2000u64)
            .map(|i| ((i.wrapping_mul(6364136223846793005) >> 33) % 1000) as f64)
            .collect();
        assert_eq!(detect(&noise, Some(300)).day, None);
        assert_eq!(detect(&sine(50, 600), None).day, Some(50));
    }
}
