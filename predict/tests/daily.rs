//! Daily and longer sampling intervals: a day holds fewer than two steps, so the weekly season
//! (a day: 7 steps) must come from the timestamps' interval, and nothing may break at 12 h,
//! 1 day, 2 days or a week.

mod synthetic;

use prescient_predict::{ModelKind, Score};
use synthetic::{assert_every_model_finite, noise, scores};

const DAY: u64 = 86_400;

/// `weeks` weeks of daily traffic: five busy days with different levels, a quiet weekend, 3 %
/// noise.
fn working_weeks(weeks: usize, seed: u64) -> Vec<Option<f64>> {
    const SHAPE: [f64; 7] = [100.0, 108.0, 112.0, 104.0, 95.0, 52.0, 45.0];
    let e = noise(weeks * 7, seed);
    (0..weeks * 7)
        .map(|t| Some(SHAPE[t % 7] * (1.0 + 0.03 * e[t])))
        .collect()
}

fn mse(values: &[Option<f64>], interval: u64, kind: ModelKind) -> f64 {
    let s = scores(values, interval, kind).expect("scored");
    let s: &Score = &s[0];
    s.sse / s.n as f64
}

#[test]
fn seasonal_naive_on_daily_data_repeats_last_weeks_weekday() {
    let v = working_weeks(20, 1);
    let naive = mse(&v, DAY, ModelKind::Naive);
    let seasonal = mse(&v, DAY, ModelKind::SeasonalNaive);
    // Monday after Sunday is a jump of half the level; last Monday is within the noise.
    assert!(
        seasonal < 0.1 * naive,
        "seasonal naive {seasonal} vs naive {naive}"
    );
}

#[test]
fn exponential_smoothing_on_daily_data_learns_the_weekday_levels() {
    let v = working_weeks(20, 2);
    let naive = mse(&v, DAY, ModelKind::Naive);
    let ets = mse(&v, DAY, ModelKind::Ets);
    assert!(ets < 0.2 * naive, "ets {ets} vs naive {naive}");
}

#[test]
fn every_model_forecasts_finite_values_at_long_intervals_and_short_histories() {
    for interval in [DAY / 2, DAY, 2 * DAY, 7 * DAY, 30 * DAY] {
        for weeks in [2, 3, 8, 40] {
            let v = working_weeks(weeks, 4);
            assert_every_model_finite(&v, interval, &format!("{weeks} weeks"));
        }
    }
}

#[test]
fn auto_on_daily_data_beats_the_12_lag_autoregression() {
    // A year of working weeks: without the weekly season `auto` could only lean on lag 7 of its
    // autoregressive members and scored 0.99 x AR(12) on such a trace.
    let v = working_weeks(52, 6);
    let ar = mse(&v, DAY, ModelKind::Ar);
    let auto = mse(&v, DAY, ModelKind::Auto);
    assert!(auto < 0.85 * ar, "auto {auto} vs ar12 {ar}");
}
