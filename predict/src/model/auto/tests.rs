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
            clock: None,
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
        clock: None,
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
            clock: None,
        },
    );
    let w = auto.weights(1);
    let seasonal = w[1].1;
    assert!(seasonal < 0.05, "{w:?}");
}

/// `run`, refitting after every `every`-th observation, as a backtest refits once a day of steps.
fn run_refitting(values: &[f64], fit_len: usize, seasons: Seasons, every: usize) -> Auto {
    let mut hist = history(&values[..fit_len]);
    let mut auto = Auto::new(seasons, AutoConfig::default());
    auto.fit(&hist);
    for (i, &v) in values[fit_len..].iter().enumerate() {
        hist.push(Some(v));
        auto.observe(&hist);
        if (i + 1) % every == 0 {
            auto.fit(&hist);
        }
    }
    auto
}

#[test]
fn a_refit_keeps_the_forecasts_made_before_it_scored_against_their_own_observation() {
    // A ramp: naive's error at step `s` is exactly `s`, at every origin, refitted or not.
    let v: Vec<f64> = (0..70).map(f64::from).collect();
    let auto = run_refitting(&v, 30, Seasons::default(), 3);
    for s in 1..=12 {
        let (_, errors) = auto.step(s - 1).expect("step scored");
        let naive = errors[0];
        // Origins made after 30..=70 observations; step `s` of the last `s − 1` is not due yet.
        assert_eq!({ naive.n }, 41 - s as u32, "step {s}: scored origins");
        assert_eq!(naive.value(), (s * s) as f64, "step {s}: squared error");
    }
}

#[test]
fn refits_every_two_steps_still_learn_the_step_3_weights() {
    // At 12 h a day is two steps and the backtest refits once a day: step 3 was never scored
    // (every pending forecast was dropped at each refit), so its weights stayed uniform.
    let m = 24;
    let e = noise(m * 20, 21);
    let v: Vec<f64> = (0..m * 20)
        .map(|t| 10.0 + 5.0 * (t as f64 * std::f64::consts::TAU / m as f64).sin() + 0.05 * e[t])
        .collect();
    let seasons = Seasons {
        day: Some(m),
        week: None,
        clock: None,
    };
    let auto = run_refitting(&v, m * 15, seasons, 2);
    let w = auto.weights(3);
    assert!(w[0].1 < 0.05, "naive still weighs {w:?}");
    let leader = auto.leader(3).expect("candidates");
    assert!(
        matches!(
            leader,
            ModelKind::SeasonalNaive | ModelKind::Ets | ModelKind::Regression
        ),
        "{w:?}"
    );
}

#[test]
fn a_stacking_correction_cannot_carry_the_forecast_far_past_every_candidate() {
    // Whatever the stacking correction has learned (here: all of it trusted, weights 6 and −5
    // that sum to one, as collinear candidates can get, and no guard evidence against it), the
    // step after a burst, which naive carries on and ETS has mostly not followed, must not be
    // forecast at several times the burst: at most the candidates' spread beyond them.
    let e = noise(1_000, 3);
    let v: Vec<f64> = (0..1_000).map(|t| 100.0 + 10.0 * e[t]).collect();
    let mut hist = history(&v[..300]);
    let mut auto = Auto::new(Seasons::default(), AutoConfig::default());
    auto.fit(&hist);
    for &y in &v[300..] {
        hist.push(Some(y));
        auto.observe(&hist);
    }
    hist.push(Some(50_000.0));
    auto.observe(&hist);
    let l = auto.layout();
    let (naive, ets) = (0, 2);
    assert!(auto.is_ready(naive) && auto.is_ready(ets));
    let beta = &mut auto.floats[l.beta()];
    beta.fill(0.0);
    beta[naive] = 6.0;
    beta[ets] = -5.0;
    // Nor has the guard any evidence against the combination yet.
    auto.floats[l.guard()].fill(0.0);
    auto.ewms[l.base_mse()] = Ewm {
        mean: 1.0,
        n: 100_000,
    };
    auto.ewms[l.stacked_mse()] = Ewm {
        mean: 1e-9,
        n: 100_000,
    };
    let cands = auto.candidate_forecasts(&hist, 1);
    let ready: Vec<f64> = (0..cands.len())
        .filter(|&c| auto.is_ready(c))
        .map(|c| cands[c][0])
        .collect();
    let lo = ready.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ready.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let raw: f64 = auto
        .weights(1)
        .iter()
        .zip(&cands)
        .map(|((_, w), c)| weighted(Some(c[0]), *w))
        .sum();
    let reach = reach::REACH_BEYOND_CANDIDATES * (hi - lo);
    assert!(
        raw > hi + reach,
        "the weights alone give {raw}, candidates {ready:?}"
    );
    let mut out = Vec::new();
    auto.forecast(&hist, 1, &mut out);
    assert!(
        (lo - reach..=hi + reach).contains(&out[0]),
        "{} beyond the candidates {ready:?}",
        out[0]
    );
}
