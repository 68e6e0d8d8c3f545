//! Intervals that do not divide the day (7, 25, 35, 55 minutes, 70 s): the day and week are a
//! fractional number of steps, yet the seasons must still come from the timestamps' interval.

use prescient_predict::{evaluate_series, BacktestConfig, ModelKind, Pooled, Score};

const DAY: u64 = 86_400;

/// A small deterministic noise in [-1, 1] (an LCG: tests must not depend on a random source).
fn noise(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((x >> 33) as f64 / (1u64 << 31) as f64) * 2.0 - 1.0
        })
        .collect()
}

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
    evaluate_series(
        values,
        Some(interval),
        kind,
        &BacktestConfig::default(),
        &Pooled::default(),
    )
    .expect("scored")
    .iter()
    .map(|s: &Score| s.sse / s.n as f64)
    .collect()
}

#[test]
fn seasonal_naive_at_35_minutes_repeats_last_weeks_hour() {
    // A week is exactly 288 steps of 35 minutes: its lag lands on the same hour and weekday.
    // Without seasons seasonal naive is the last value, which misses every hourly jump and
    // every weekend edge.
    let v = hourly_levels(2_100, 56, true, 1);
    let naive = mse(&v, 2_100, ModelKind::Naive);
    let seasonal = mse(&v, 2_100, ModelKind::SeasonalNaive);
    for h in 0..3 {
        assert!(
            seasonal[h] < 0.2 * naive[h],
            "h{}: seasonal naive {} vs naive {}",
            h + 1,
            seasonal[h],
            naive[h]
        );
    }
}

#[test]
fn auto_at_7_minutes_learns_the_hourly_levels() {
    // 205.7 steps a day: the rounded daily lag (206 steps, 2 minutes late) still lands in the
    // same hour but for 2 minutes of each hour's 60.
    let v = hourly_levels(420, 14, false, 2);
    let naive = mse(&v, 420, ModelKind::Naive);
    let auto = mse(&v, 420, ModelKind::Auto);
    for h in 0..3 {
        assert!(
            auto[h] < 0.5 * naive[h],
            "h{}: auto {} vs naive {}",
            h + 1,
            auto[h],
            naive[h]
        );
    }
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
            for kind in ModelKind::ALL {
                let Some(scores) = evaluate_series(
                    &v,
                    Some(interval),
                    kind,
                    &BacktestConfig::default(),
                    &Pooled::default(),
                ) else {
                    continue;
                };
                for s in scores {
                    assert!(
                        s.sse.is_finite() && s.sae.is_finite(),
                        "{} at {interval} s over {days} days: {s:?}",
                        kind.name()
                    );
                }
            }
        }
    }
}
