//! Short histories: a constant series forecasts its constant at every step, at any interval
//! (1 s, 5 min, 15 min, 1 h), after 12 to 48 observations and at its first day, whichever step
//! its model was refitted at (the controller refits a new series once between 16 and 23
//! observations, by a hash of its key). Also when its first value was a start-up transient (a
//! new pair's first rate reads 0): once a day of steps is held a seasonal naive forecast reads
//! that value, and `auto` weighed it by the record it had made repeating the last value (its
//! step 1 read 23 % low at 24 hourly observations, the calendar_persistence flake).

use prescient_predict::season::periods_for_interval;
use prescient_predict::{ModelKind, Predictor, PredictorConfig, Seasons};

const LEVEL: f64 = 1e7;

/// Feeds `first` then `LEVEL` until `last` observations, as the controller's series does (a
/// fit on the first value, a refit at observation `refit`), and checks the forecast at each
/// count in `checked` against `tolerance` (relative, every step).
fn check(interval: u64, first: Option<f64>, refit: u64, last: usize, tolerance: f64) {
    let periods = periods_for_interval(interval);
    // As the controller chooses: seasons only where 4,096 steps hold one and a half days.
    let seasons = match periods.day {
        Some(d) if d + d / 2 <= 4096 => periods,
        _ => Seasons::default(),
    };
    let cfg = PredictorConfig {
        horizon: 12,
        day: periods.day,
        sizing_level: Some(0.99),
        ..PredictorConfig::default()
    };
    let mut p = Predictor::new(ModelKind::Auto, seasons, cfg);
    p.preload([first]);
    p.fit();
    let day = periods.day.unwrap_or(0);
    for n in 2..=last {
        p.observe(Some(LEVEL));
        if n as u64 == refit {
            p.fit();
        }
        if (12..=48).contains(&n) || n == day || n == day + 1 {
            let points = p.points();
            assert_eq!(points.len(), 12);
            for (s, y) in points.iter().enumerate() {
                assert!(
                    (y / LEVEL - 1.0).abs() <= tolerance,
                    "interval {interval} s, first {first:?}, refit at {refit}: after {n} \
                     observations step {} forecasts {y}",
                    s + 1
                );
            }
        }
    }
}

/// Observations to feed at `interval` seconds: 48, or a day and one more (at most 291).
fn history_len(interval: u64) -> usize {
    periods_for_interval(interval)
        .day
        .map_or(48, |d| d.clamp(48, 290) + 1)
}

#[test]
fn a_constant_series_forecasts_its_constant_from_a_short_history() {
    for interval in [1, 300, 900, 3600] {
        let last = history_len(interval);
        for refit in [0, 16, 19, 23] {
            for first in [Some(LEVEL), None] {
                check(interval, first, refit, last, 1e-6);
            }
        }
    }
}

#[test]
fn a_start_up_value_does_not_pull_a_short_historys_forecast() {
    for interval in [1, 300, 900, 3600] {
        let last = history_len(interval);
        for refit in [0, 16, 17, 18, 19, 20, 21, 22, 23] {
            check(interval, Some(0.0), refit, last, 0.03);
        }
    }
}
