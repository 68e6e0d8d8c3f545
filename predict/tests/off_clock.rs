//! Intervals that do not divide the day (7, 25, 35, 55 minutes, 70 s): the day and week are a
//! fractional number of steps, yet the seasons must still come from the timestamps' interval.

mod synthetic;

use prescient_predict::{ModelKind, Score};
use synthetic::{assert_every_model_finite, noise, scores};

const DAY: u64 = 86_400;

/// `days` days sampled every `interval` seconds of a level set by the hour of the day (24 fixed
/// levels between 20 and 100) and, with `weekend`, lowered to 40 % on days 5 and 6 of each week;
/// 2 % noise. The pattern follows the clock, not the step count.
fn hourly_levels(interval: u64, days: u64, weekend: bool, seed: u64) -> Vec<Option<f64>> {
    let hours: Vec<f64> = noise(24, 99).iter().map(|e| 60.0 + 40.0 * e).collect();
    let n = (days * DAY / interval) as usize;
    let e = noise(n, seed);
    (0..n)
        .map(|i| {
            let secs = i as u64 * interval;
            let hour = ((secs % DAY) / 3_600) as usize;
            let quiet = weekend && (secs / DAY) % 7 >= 5;
            let level = hours[hour] * if quiet { 0.4 } else { 1.0 };
            Some(level * (1.0 + 0.02 * e[i]))
        })
        .collect()
}

/// Test-part MSE at horizons 1, 2, 3 (strict protocol).
fn mse(values: &[Option<f64>], interval: u64, kind: ModelKind) -> Vec<f64> {
    scores(values, interval, kind)
        .expect("scored")
        .iter()
        .map(|s: &Score| s.sse / s.n as f64)
        .collect()
}

/// Asserts that `model`'s MSE is under `factor` times naive's at each of horizons 1, 2, 3;
/// `name` names the model in the failure.
fn assert_below_naive(model: &[f64], naive: &[f64], factor: f64, name: &str) {
    for h in 0..3 {
        assert!(
            model[h] < factor * naive[h],
            "h{}: {name} {} vs naive {}",
            h + 1,
            model[h],
            naive[h]
        );
    }
}

#[test]
fn seasonal_naive_at_35_minutes_repeats_last_weeks_hour() {
    // A week is exactly 288 steps of 35 minutes: its lag lands on the same hour and weekday.
    // Without seasons seasonal naive is the last value, which misses every hourly jump and
    // every weekend edge.
    let v = hourly_levels(2_100, 56, true, 1);
    let naive = mse(&v, 2_100, ModelKind::Naive);
    let seasonal = mse(&v, 2_100, ModelKind::SeasonalNaive);
    assert_below_naive(&seasonal, &naive, 0.2, "seasonal naive");
}

#[test]
fn auto_at_7_minutes_learns_the_hourly_levels() {
    // 205.7 steps a day: the rounded daily lag (206 steps, 2 minutes late) still lands in the
    // same hour but for 2 minutes of each hour's 60.
    let v = hourly_levels(420, 14, false, 2);
    let naive = mse(&v, 420, ModelKind::Naive);
    let auto = mse(&v, 420, ModelKind::Auto);
    assert_below_naive(&auto, &naive, 0.5, "auto");
}

#[test]
fn every_model_forecasts_finite_values_at_intervals_that_do_not_divide_the_day() {
    for interval in [70, 420, 660, 1_500, 2_100, 3_300, 4_000] {
        for days in [1, 3, 10] {
            let v = hourly_levels(interval, days, true, 3);
            // Longer series at the finest intervals would only slow the test down.
            if v.len() > 4_000 {
                continue;
            }
            assert_every_model_finite(&v, interval, &format!("{days} days"));
        }
    }
}
