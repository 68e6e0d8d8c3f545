//! Helpers of the tests on synthetic series (`daily`, `off_clock`): deterministic noise, and
//! scoring every model on a series sampled at a given interval.

use prescient_predict::{evaluate_series, BacktestConfig, ModelKind, Pooled, Score};

/// A small deterministic noise in [-1, 1] (an LCG: tests must not depend on a random source).
pub fn noise(n: usize, seed: u64) -> Vec<f64> {
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

/// `kind`'s scores on `values` sampled every `interval` seconds (default backtest, nothing
/// pooled); `None` where the model declines the series.
pub fn scores(values: &[Option<f64>], interval: u64, kind: ModelKind) -> Option<Vec<Score>> {
    evaluate_series(
        values,
        Some(interval),
        kind,
        &BacktestConfig::default(),
        &Pooled::default(),
    )
}

/// Asserts that every model that scores `values` at `interval` s scores them with finite
/// errors; `over` says how long the series is, for the failure message.
pub fn assert_every_model_finite(values: &[Option<f64>], interval: u64, over: &str) {
    for kind in ModelKind::ALL {
        let Some(scores) = scores(values, interval, kind) else {
            continue;
        };
        for s in scores {
            assert!(
                s.sse.is_finite() && s.sae.is_finite(),
                "{} at {interval} s over {over}: {s:?}",
                kind.name()
            );
        }
    }
}
