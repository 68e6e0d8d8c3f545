//! Heap bytes a forecast series' predictor holds, counted by an instrumented global allocator in
//! this test binary only: at 10,000 switches the controller keeps several predictors per switch,
//! so what a new one and a young one hold is most of the controller's memory per switch.

use prescient_predict::season::periods_for_interval;
use prescient_predict::{ModelKind, Predictor, PredictorConfig, Seasons};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes a new predictor may hold (13,128 measured in session 10: `auto`'s stacking systems keep
/// the lower triangle and its error table is one allocation; 14,520 before, 15,448 in session 8).
const NEW_BOUND: isize = 13_300;

/// Bytes a predictor may hold after its fit and 100 observations (28,792 measured in session 10,
/// 30,184 before, 40,668 in session 8).
const YOUNG_BOUND: isize = 29_000;

/// Bytes a predictor may hold once its windows are full (5,000 observations: 58,925 measured in
/// session 10, 60,317 before, 83,084 in session 8).
const FULL_BOUND: isize = 59_200;

/// The predictor the controller's core builds for a series sampled every second (model `auto`,
/// horizon 12, a 2,048-value history, sized at a 1 % violation target with time-of-day
/// conditional quantiles), as `controller/src/core/series.rs` does.
fn core_predictor() -> Predictor {
    let periods = periods_for_interval(1);
    // No daily season fits 4,096 steps of a second: a plain series keeps one refit period (2,048).
    let (seasons, history) = match periods {
        s if s.day.is_some_and(|d| d + d / 2 <= 4096) => (s, 4096),
        _ => (Seasons::default(), 2048),
    };
    let cfg = PredictorConfig {
        history,
        horizon: 12,
        day: periods.day,
        sizing_level: Some(0.99),
        ..PredictorConfig::default()
    };
    Predictor::new(ModelKind::Auto, seasons, cfg)
}

/// A traffic-like series: a slow swing with irregular noise.
fn value(t: usize) -> f64 {
    let x = t as f64;
    1000.0 + 300.0 * (x * 0.05).sin() + 50.0 * ((x * 1.7).sin() * 3.1).cos()
}

/// Net bytes allocated (and not freed) since `region` began. A reallocation's growth is already
/// in `bytes_allocated` (its shrinking in `bytes_deallocated`); `bytes_reallocated` repeats it.
fn held(region: &Region<'_, System>) -> isize {
    let c = region.change();
    c.bytes_allocated as isize - c.bytes_deallocated as isize
}

// One test in this binary: the allocator's counters are global, a concurrent test would count too.
#[test]
fn a_predictor_holds_no_more_than_its_bound_and_reports_what_it_holds() {
    // One-time allocations of the process (thread locals, lazily built statics) are not the
    // predictor's: let a first predictor make them.
    let mut warm = core_predictor();
    warm.fit();
    warm.observe(Some(value(0)));
    drop(warm);
    let region = Region::new(GLOBAL);
    let mut p = core_predictor();
    let new = (held(&region), p.heap_bytes());
    p.fit();
    eprintln!("after fit {}", held(&region));
    for t in 0..100 {
        p.observe(Some(value(t)));
        if [0, 2, 5, 11].contains(&t) {
            eprintln!("after {} obs {}", t + 1, held(&region));
        }
    }
    let young = (held(&region), p.heap_bytes());
    for t in 100..5_000 {
        p.observe(Some(value(t)));
    }
    let full = (held(&region), p.heap_bytes());
    // The predictor did its work: a forecast with calibrated 95 % bounds for every step.
    let f = p.forecast(12);
    assert_eq!(f.points.len(), 12);
    assert!(f
        .bounds
        .iter()
        .all(|b| b[1].0.is_finite() && b[1].1.is_finite()));
    drop(f);
    eprintln!(
        "predictor heap (counted, reported): new {new:?}, after 100 observations {young:?}, \
         after 5,000 {full:?}"
    );
    for ((counted, _), bound, when) in [
        (new, NEW_BOUND, "new"),
        (young, YOUNG_BOUND, "after 100 observations"),
        (full, FULL_BOUND, "after 5,000 observations"),
    ] {
        assert!(
            counted <= bound,
            "{when} a predictor holds {counted} B, bound {bound}"
        );
    }
    // What the controller reports per series (`heap_bytes`) is what it holds, within 5 %.
    for (counted, reported) in [new, young, full] {
        let gap = (counted - reported as isize).abs() as f64 / counted as f64;
        assert!(gap < 0.05, "heap_bytes says {reported} B, {counted} B held");
    }
}
