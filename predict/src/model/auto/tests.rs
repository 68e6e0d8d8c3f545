//! Tests of model `auto`.

use super::*;
use crate::model::testutil::{history, noise};

fn run(values: &[f64], fit_len: usize, seasons: Seasons) -> Auto {
    let mut hist = history(&values[..fit_len]);
    let mut auto = Auto::new(seasons, AutoConfig::default());
    auto.fit(&hist);
    for &v in &values[fit_len..] {
        hist.push(Some(v));
        auto.observe(&hist);
    }
    auto
}

#[test]
fn picks_seasonal_model_on_a_strong_clean_season() {
    let m = 24;
    let e = noise(m * 40, 5);
    let v: Vec<f64> = (0..m * 40)
        .map(|t| 10.0 + 5.0 * (t as f64 * std::f64::consts::TAU / m as f64).sin() + 0.01 * e[t])
        .collect();
    let auto = run(
        &v,
        m * 30,
        Seasons {
            day: Some(m),
            week: None,
        },
    );
    let leader = auto.leader(1).expect("candidates");
    assert!(
        matches!(
            leader,
            ModelKind::SeasonalNaive | ModelKind::Ets | ModelKind::Regression
        ),
        "{leader:?}"
    );
    let naive_w = auto.weights(1)[0].1;
    assert!(naive_w < 0.05, "naive weight {naive_w}");
}

#[test]
fn a_young_series_is_not_stacked_until_a_selector_memory_of_errors() {
    // Hourly steps: the selector memory is 96 steps (a day, at least 96).
    let m = 24;
    let e = noise(m * 30, 8);
    let v: Vec<f64> = (0..m * 30)
        .map(|t| 10.0 + 3.0 * (t as f64 * std::f64::consts::TAU / m as f64).sin() + e[t])
        .collect();
    let seasons = Seasons {
        day: Some(m),
        week: None,
    };
    let weights = |auto: &Auto| -> (Vec<f64>, Vec<f64>) {
        let base = auto.base_weights(1).into_iter().map(|(_, w)| w).collect();
        let mixed = auto.mixed_weights(1).into_iter().map(|(_, w)| w).collect();
        (base, mixed)
    };
    // 80 scored steps: a correction is fitted, but nothing is moved by it yet.
    let young = run(&v[..m * 10 + 80], m * 10, seasons);
    assert!(young.beta(0).is_some(), "no correction fitted");
    let (base, mixed) = weights(&young);
    assert_eq!(base, mixed);
    // After 200 it moves the weights as its record earns.
    let (base, mixed) = weights(&run(&v[..m * 10 + 200], m * 10, seasons));
    let moved: f64 = base.iter().zip(&mixed).map(|(b, m)| (b - m).abs()).sum();
    assert!(moved > 1e-6, "{base:?} {mixed:?}");
}

#[test]
fn picks_naive_on_a_random_walk() {
    let e = noise(3000, 11);
    let mut v = vec![100.0; 3000];
    for t in 1..3000 {
        v[t] = v[t - 1] + e[t];
    }
    let auto = run(
        &v,
        2000,
        Seasons {
            day: Some(50),
            week: None,
        },
    );
    let w = auto.weights(1);
    let seasonal = w[1].1;
    assert!(seasonal < 0.05, "{w:?}");
}

/// Squared errors at step 1 of `auto` and of each candidate over observations `from..to`, auto
/// fitted on `values[..fit_len]` and rolled over the rest.
fn errors_over(
    values: &[f64],
    fit_len: usize,
    seasons: Seasons,
    (from, to): (usize, usize),
) -> (f64, Vec<f64>) {
    let mut hist = history(&values[..fit_len]);
    let mut auto = Auto::new(seasons, AutoConfig::default());
    auto.fit(&hist);
    let n = auto.weights(1).len();
    let (mut own, mut each) = (0.0, vec![0.0; n]);
    let mut out = Vec::new();
    for (t, &v) in values.iter().enumerate().skip(fit_len) {
        if (from..to).contains(&t) {
            auto.forecast(&hist, 1, &mut out);
            own += (v - out[0]).powi(2);
            let members = auto.members(1).expect("forecast made");
            for (e, p) in each.iter_mut().zip(members) {
                *e += (v - p).powi(2);
            }
        }
        hist.push(Some(v));
        auto.observe(&hist);
    }
    (own, each)
}

#[test]
fn returns_to_the_best_candidate_after_a_passing_regime() {
    // Half-hourly steps, a clean daily season; half a day at 1.8 × the level, then back. During
    // the change every candidate errs many times its usual, the seasonal ones most; a day after
    // it (once no lag of a day reaches into it) `auto` should be back within a few percent of
    // the best candidate. The guard took the change for the series and kept the member that
    // recovered first as its anchor: 1.11 × the best over the following days.
    let m = 48;
    let days = 24;
    let e = noise(m * days, 21);
    let blip = m * 14..m * 14 + m / 2;
    let v: Vec<f64> = (0..m * days)
        .map(|t| {
            let level = if blip.contains(&t) { 1.8 } else { 1.0 };
            level * (10.0 + 4.0 * (t as f64 * std::f64::consts::TAU / m as f64).sin()) + 0.3 * e[t]
        })
        .collect();
    let seasons = Seasons {
        day: Some(m),
        week: None,
    };
    let after = (blip.end + m + m / 4, blip.end + 4 * m);
    let (own, each) = errors_over(&v, m * 8, seasons, after);
    let best = each.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(own < 1.05 * best, "auto {own}, candidates {each:?}");
}
