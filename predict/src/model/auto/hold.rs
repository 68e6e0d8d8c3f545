//! The hold gate of model `auto`: where a series' values hold exactly (counts, gauges on steps,
//! report-on-change pollers), last value is the median of the next value while the
//! combination aims at its mean, so the combination loses on absolute error what it gains on
//! squared error. How long the value has held often tells the two apart (a count that has held
//! for an hour tends to go on holding; one that has just moved tends to move on), so per horizon
//! and per run length of exact repeats at the origin, the gate keeps a slow record of last
//! value against the guarded combination, and forecasts last value from the run lengths where
//! it has done better on absolute error and no worse on squared error.

use crate::History;

/// Run-length buckets: 0 (the last value differs from the one before), 1, 2-3, 4-7, 8-15, 16+.
pub(super) const BUCKETS: usize = 6;

/// Values per bucket: discounted `Σ |y − l| − |y − f|`, `Σ (y − l)² − (y − f)²`, `Σ (y − f)²`
/// and the discounted number of scores (`l` last value, `f` the guarded combination).
const PER_BUCKET: usize = 4;

/// Scores a bucket needs (discounted) before the gate trusts it.
const MIN_SCORES: f64 = 30.0;

/// How much higher last value's squared error may be, relative to the combination's, where it
/// has the lower absolute error.
fn tolerance() -> f64 {
    static TOL: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TOL.get_or_init(|| {
        std::env::var("PRESCIENT_HOLD_TOL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    })
}

/// `f64`s of one horizon's gate.
pub(super) fn len() -> usize {
    BUCKETS * PER_BUCKET
}

/// The run-length bucket of `hist` at its newest observation.
pub(super) fn bucket(hist: &History) -> usize {
    let mut run = 0;
    while run < 16 {
        match (hist.lag(run + 1), hist.lag(run + 2)) {
            (Some(a), Some(b)) if a == b => run += 1,
            _ => break,
        }
    }
    match run {
        0 => 0,
        1 => 1,
        2..=3 => 2,
        4..=7 => 3,
        8..=15 => 4,
        _ => 5,
    }
}

/// Scores last value `last` and the guarded combination `guarded`, forecast from `bucket`,
/// against actual `y`, forgetting by `decay` per score of that bucket.
pub(super) fn observe(state: &mut [f64], bucket: usize, last: f64, guarded: f64, y: f64, decay: f64) {
    if !(last.is_finite() && guarded.is_finite() && y.is_finite()) {
        return;
    }
    let Some(s) = state.get_mut(bucket * PER_BUCKET..(bucket + 1) * PER_BUCKET) else {
        return;
    };
    let keep = 1.0 - decay;
    let (el, ef) = (y - last, y - guarded);
    let adds = [el.abs() - ef.abs(), el * el - ef * ef, ef * ef, 1.0];
    for (v, add) in s.iter_mut().zip(adds) {
        *v = *v * keep + add;
    }
}

/// Whether to forecast last value from `bucket`.
pub(super) fn holds(state: &[f64], bucket: usize) -> bool {
    let Some(&[abs, sq, sq_f, n]) = state.get(bucket * PER_BUCKET..(bucket + 1) * PER_BUCKET)
    else {
        return false;
    };
    n >= MIN_SCORES && abs < 0.0 && sq <= tolerance() * sq_f
}
