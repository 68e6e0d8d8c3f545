//! A pooled stacking layer over model `auto` in the backtest: one forgetting, Huber-weighted
//! ridge least squares per horizon of the error of `auto`'s forecast on its members' deviations
//! from it (candidates and combinations), fitted on the rows of every series of the trace as
//! their actuals arrive. Each series' own weights learn from a few of its own noisy errors; the
//! pooled correction learns from all series at once, so a short memory still holds thousands
//! of rows. Series are run in lockstep, so the layer at an origin has seen exactly the actuals
//! before it, of every series.
//!
//! Invariant: the stacked point of an origin is made with the coefficients solved before the
//! origin's first target is observed, and rows enter the fit only once their actual is known.

use super::{
    periods_for_interval, set_up, split_points, BacktestConfig, Part, Pooled, Prepared, Score,
    SetUp,
};
use crate::interval::Calibrator;
use crate::linalg;
use crate::model::{within_reach, ModelKind};
use crate::predictor::{Forecast, Predictor, PredictorConfig};
use rayon::prelude::*;
use std::collections::VecDeque;

/// Settings of the pooled stacking layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StackConfig {
    /// Memory of the fit in steps (exponential forgetting, every series' rows of a step alike).
    pub memory_steps: usize,
    /// Ridge relative to the mean diagonal of the normal equations (pulls the correction to 0).
    pub ridge: f64,
    /// Rows whose residual exceeds `huber` times the pooled mean absolute residual are
    /// down-weighted to that bound (a few spikes must not bend the correction).
    pub huber: f64,
}

impl StackConfig {
    /// The layer for a trace of `series` series at `interval_secs`: a memory of a twelfth of a
    /// day (2 h; 24 steps without a known day) but at least 3,000 rows, ridge 0.03 (as `auto`'s
    /// own stacking), Huber bound 2. Chosen on Abilene March's validation part, where memories of
    /// 24 / 48 / 96 / 288 steps, ridges 0.03 / 0.1 / 0.3 and bounds 1 / 2 / none all lowered
    /// every horizon's MSE by 1.6-5 % (a flat optimum).
    pub fn for_trace(series: usize, interval_secs: Option<u64>) -> Self {
        let day = interval_secs
            .and_then(|s| periods_for_interval(s).day)
            .unwrap_or(288);
        let rows_floor = 3000_usize.div_ceil(series.max(1));
        Self {
            memory_steps: (day / 12).max(rows_floor).max(2),
            ridge: 0.03,
            huber: 2.0,
        }
    }
}

/// One horizon's pooled fit.
#[derive(Debug, Clone)]
struct Fit {
    /// Features: every series' `auto` has the same members.
    d: usize,
    /// Packed normal equations ([`linalg::packed_len`]).
    system: Vec<f64>,
    beta: Option<Vec<f64>>,
    /// Bias-corrected mean absolute residual (the Huber scale) and rows seen.
    scale: f64,
    rows: u64,
}

/// One origin of one series: `auto`'s points and bands, the members' deviations from the point
/// per step, and the stacked points with their own bands (`None` without the layer).
#[derive(Debug)]
struct Origin {
    forecast: Forecast,
    deviations: Vec<Vec<f64>>,
    stacked: Vec<f64>,
    bands: Option<Vec<[(f64, f64); 3]>>,
}

/// One series run by the lockstep backtest.
#[derive(Debug)]
struct Lane {
    p: Predictor,
    scored: Vec<Option<f64>>,
    seen: Vec<Option<f64>>,
    seen_to_scored: f64,
    refit_every: Option<usize>,
    recent: VecDeque<Origin>,
    scores: Vec<Score>,
    /// Split-conformal bands of the stacked forecast, on its own residuals as the predictor's
    /// are on `auto`'s.
    calibrator: Calibrator,
}

/// Model `auto` backtested on every series of a trace, with the pooled stacking layer when
/// `stack` is given (without it, the same scores as [`super::evaluate_series`] summed over the
/// series). Returns one pooled score per configured horizon, `None` when no series is scored.
pub fn evaluate_auto_stacked(
    columns: &[Vec<Option<f64>>],
    interval_secs: Option<u64>,
    cfg: &BacktestConfig,
    pooled: &Pooled,
    stack: Option<StackConfig>,
) -> Option<Vec<Score>> {
    let horizon = cfg.horizons.iter().copied().max().unwrap_or(1);
    // Every lane steps on its own core; only the layer's fit reads them all, in column order,
    // so the figures do not depend on the number of cores.
    let mut lanes: Vec<Lane> = columns
        .par_iter()
        .filter_map(|col| lane(col, interval_secs, cfg, pooled))
        .collect();
    let n = lanes.first()?.seen.len();
    let (train_end, val_end) = split_points(n, cfg);
    let (score_from, score_to) = match cfg.part {
        Part::Validation => (train_end, val_end),
        Part::Test => (val_end, n),
    };
    let mut fits: Vec<Fit> = Vec::new();
    let decay = stack.map_or(0.0, |s| 1.0 / s.memory_steps.max(2) as f64);
    for t in train_end..score_to {
        lanes.par_iter_mut().for_each(|lane| {
            lane.forecast(horizon, &fits, stack);
            if t >= score_from {
                lane.score(t, &cfg.horizons);
            }
        });
        if let Some(sc) = stack {
            learn(&mut fits, &lanes, t, horizon, decay, sc);
        }
        lanes.par_iter_mut().for_each(|lane| {
            lane.calibrate(t);
            lane.p.observe(lane.seen.get(t).copied().flatten());
            let since = t + 1 - train_end;
            if lane.refit_every.is_some_and(|r| since % r == 0) {
                lane.p.refit(None);
            }
        });
    }
    let mut total = vec![Score::default(); cfg.horizons.len()];
    for lane in &lanes {
        total
            .iter_mut()
            .zip(&lane.scores)
            .for_each(|(t, s)| t.merge(s));
    }
    Some(total)
}

fn dot(x: &[f64], b: &[f64]) -> f64 {
    x.iter().zip(b).map(|(x, b)| x * b).sum()
}

/// Adds row `t`'s actuals of every series to each horizon's fit (the origin that forecast row
/// `t` at step `s` was made `s − 1` rows before) and solves it anew.
fn learn(
    fits: &mut Vec<Fit>,
    lanes: &[Lane],
    t: usize,
    horizon: usize,
    decay: f64,
    sc: StackConfig,
) {
    for s in 1..=horizon {
        for lane in lanes {
            let (Some(Some(y)), Some(o)) = (lane.seen.get(t), lane.recent.get(s - 1)) else {
                continue;
            };
            let (Some(&a), Some(x)) = (o.forecast.points.get(s - 1), o.deviations.get(s - 1))
            else {
                continue;
            };
            while fits.len() < s {
                fits.push(Fit {
                    d: x.len(),
                    system: vec![0.0; linalg::packed_len(x.len())],
                    beta: None,
                    scale: 0.0,
                    rows: 0,
                });
            }
            let Some(fit) = fits.get_mut(s - 1).filter(|f| f.d == x.len()) else {
                continue;
            };
            let residual = (y - a - fit.beta.as_deref().map_or(0.0, |b| dot(x, b))).abs();
            let bound = sc.huber * fit.scale;
            let w = if fit.rows > 0 && residual > bound && bound > 0.0 {
                bound / residual
            } else {
                1.0
            };
            // The scale forgets as slowly as the fit, over every series' rows.
            fit.rows += 1;
            let rate = (decay / lanes.len().max(1) as f64).max(1.0 / fit.rows as f64);
            fit.scale += rate * (residual - fit.scale);
            linalg::add(&mut fit.system, fit.d, x, y - a, w);
        }
    }
    for fit in fits.iter_mut() {
        linalg::scale(&mut fit.system, 1.0 - decay);
        let mut beta = vec![0.0; fit.d];
        fit.beta = linalg::solve_into(&fit.system, fit.d, sc.ridge, &mut beta).then_some(beta);
    }
}

impl Lane {
    /// Forecasts from the newest origin: `auto`'s points, its members' deviations from them,
    /// and the points the layer's current `fits` make of them (with their bands).
    fn forecast(&mut self, horizon: usize, fits: &[Fit], stack: Option<StackConfig>) {
        let forecast = self.p.forecast(horizon);
        let deviations: Vec<Vec<f64>> = (1..=horizon)
            .map(|s| {
                let a = forecast.points.get(s - 1).copied().unwrap_or(f64::NAN);
                let members = self.p.model().members(s).unwrap_or_default();
                // A member not ready (NaN) deviates by nothing.
                members
                    .iter()
                    .map(|m| if m.is_finite() { m - a } else { 0.0 })
                    .collect()
            })
            .collect();
        let stacked: Vec<f64> = forecast
            .points
            .iter()
            .zip(&deviations)
            .enumerate()
            .map(|(s, (&a, x))| {
                let beta = fits.get(s).and_then(|f| f.beta.as_deref());
                match beta {
                    Some(b) if stack.is_some() && b.len() == x.len() => {
                        // Near its members' range, as `auto` keeps its own stacking: an
                        // affine correction of members that disagree by orders of magnitude
                        // lands far outside all of them.
                        let lo = x.iter().fold(a, |m, d| m.min(a + d));
                        let hi = x.iter().fold(a, |m, d| m.max(a + d));
                        within_reach(a + dot(x, b), lo, hi).max(0.0)
                    }
                    _ => a,
                }
            })
            .collect();
        let bands = stack.map(|_| {
            (1..=horizon)
                .map(|s| {
                    let p = stacked.get(s - 1).copied().unwrap_or(f64::NAN);
                    self.calibrator
                        .bands(s)
                        .map(|b| ((p + b.lo).max(0.0), p + b.hi))
                })
                .collect()
        });
        self.recent.push_front(Origin {
            forecast,
            deviations,
            stacked,
            bands,
        });
        self.recent.truncate(horizon);
    }
}

impl Lane {
    /// Scores the forecasts of row `t` made at the origins in `recent`.
    fn score(&mut self, t: usize, horizons: &[usize]) {
        let Some(Some(y)) = self.scored.get(t).copied() else {
            return;
        };
        let k = self.seen_to_scored;
        for (score, &h) in self.scores.iter_mut().zip(horizons) {
            let Some(o) = self.recent.get(h - 1) else {
                continue;
            };
            let band = |level: usize| match &o.bands {
                Some(b) => b.get(h - 1).and_then(|b| b.get(level)).copied(),
                None => o.forecast.interval(h, level),
            };
            let (Some(&point), Some(b80), Some(b95)) = (o.stacked.get(h - 1), band(0), band(1))
            else {
                continue;
            };
            let e = y - point * k;
            score.sse += e * e;
            score.sae += e.abs();
            score.n += 1;
            let inside = |b: (f64, f64)| b.0 * k <= y && y <= b.1 * k;
            score.in80 += u64::from(inside(b80));
            score.in95 += u64::from(inside(b95));
        }
    }
}

impl Lane {
    /// Records row `t`'s residuals of the stacked forecasts, as a predictor records its
    /// model's: a value outside the one-step 99 % band counts at most twice that band.
    fn calibrate(&mut self, t: usize) {
        let Some(Some(y)) = self.seen.get(t).copied() else {
            return;
        };
        let spike = self
            .recent
            .front()
            .and_then(|o| o.bands.as_ref()?.first().map(|b| b[2]))
            .is_some_and(|(lo, hi)| y < lo || y > hi);
        for (age, o) in self.recent.iter().enumerate() {
            if o.bands.is_none() {
                continue;
            }
            let Some(&p) = o.stacked.get(age) else {
                continue;
            };
            let mut r = y - p;
            if spike {
                r = self.calibrator.bands(age + 1)[2].clip_spike(r);
            }
            self.calibrator.record(age + 1, r);
        }
    }
}

/// A series set up as [`super::evaluate_series`] sets it up for model `auto` (the same
/// function), fitted on its training part.
fn lane(
    values: &[Option<f64>],
    interval_secs: Option<u64>,
    cfg: &BacktestConfig,
    pooled: &Pooled,
) -> Option<Lane> {
    let SetUp {
        prepared:
            Prepared {
                scored,
                seen,
                seen_to_scored,
            },
        refit_every,
        horizon,
        predictor,
        ..
    } = set_up(values, interval_secs, ModelKind::Auto, cfg, pooled)?;
    Some(Lane {
        p: predictor,
        scored,
        seen,
        seen_to_scored,
        refit_every,
        recent: VecDeque::with_capacity(horizon + 1),
        scores: vec![Score::default(); cfg.horizons.len()],
        calibrator: Calibrator::new(horizon, PredictorConfig::default().calibration_window),
    })
}

/// Whether the layer is used on this trace: run on the validation part with and without it,
/// it is kept only if it lowers both the MSE and the MAE at every scored horizon (the test
/// part is never looked at). Returns the choice and, for the report, each run's validation
/// `(mse, mae)` per horizon, plain `auto` first.
pub fn choose_stack(
    columns: &[Vec<Option<f64>>],
    interval_secs: Option<u64>,
    cfg: &BacktestConfig,
    pooled: &Pooled,
) -> (Option<StackConfig>, Vec<Vec<(f64, f64)>>) {
    let cfg = BacktestConfig {
        part: Part::Validation,
        ..cfg.clone()
    };
    let series = columns.len();
    let candidate = StackConfig::for_trace(series, interval_secs);
    let errors = |s: &[Score]| -> Vec<(f64, f64)> {
        s.iter()
            .map(|s| {
                let n = s.n.max(1) as f64;
                (s.sse / n, s.sae / n)
            })
            .collect()
    };
    let (plain, stacked) = rayon::join(
        || evaluate_auto_stacked(columns, interval_secs, &cfg, pooled, None),
        || evaluate_auto_stacked(columns, interval_secs, &cfg, pooled, Some(candidate)),
    );
    let (Some(plain), Some(stacked)) = (plain, stacked) else {
        return (None, Vec::new());
    };
    let (plain, stacked) = (errors(&plain), errors(&stacked));
    let better = plain
        .iter()
        .zip(&stacked)
        .all(|(p, s)| s.0 < p.0 && s.1 < p.1);
    (better.then_some(candidate), vec![plain, stacked])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::noise;
    use crate::{evaluate_series, ModelKind};

    /// `count` hourly series of 30 days sharing a daily shape, each with its own level and
    /// autocorrelated noise.
    fn trace(count: usize) -> Vec<Vec<Option<f64>>> {
        (0..count)
            .map(|i| {
                let e = noise(720, 40 + i as u64);
                let level = 1.0 + 0.1 * i as f64;
                let mut u = 0.0;
                (0..720)
                    .map(|t| {
                        u = 0.8 * u + e[t];
                        let day = (t as f64 * std::f64::consts::TAU / 24.0).sin();
                        Some(level * (10.0 + 4.0 * day + u))
                    })
                    .collect()
            })
            .collect()
    }

    fn mse(s: &Score) -> f64 {
        s.sse / s.n as f64
    }

    #[test]
    fn without_the_layer_the_lockstep_run_scores_as_each_series_alone() {
        let cols = trace(3);
        let cfg = BacktestConfig::default();
        let none = Pooled::default();
        let lockstep = evaluate_auto_stacked(&cols, Some(3600), &cfg, &none, None).expect("scored");
        let mut alone = vec![Score::default(); cfg.horizons.len()];
        for col in &cols {
            let s = evaluate_series(col, Some(3600), ModelKind::Auto, &cfg, &none).expect("scored");
            alone.iter_mut().zip(&s).for_each(|(a, s)| a.merge(s));
        }
        assert_eq!(lockstep, alone);
    }

    #[test]
    fn the_figures_are_the_same_on_one_core_and_on_several() {
        let cols = trace(4);
        let cfg = BacktestConfig::default();
        let run = || {
            let fitted = crate::fit_pooled(&cols, Some(3600), &cfg);
            let (pooled, tried) = crate::choose_pooled(&cols, Some(3600), &cfg, &fitted);
            let (kept, validation) = choose_stack(&cols, Some(3600), &cfg, &pooled);
            let layer = StackConfig::for_trace(cols.len(), Some(3600));
            let stacked = evaluate_auto_stacked(&cols, Some(3600), &cfg, &pooled, Some(layer));
            let each =
                crate::evaluate_columns(&cols, Some(3600), ModelKind::Ets, &cfg, &pooled, &|| {});
            (tried, kept.is_some(), validation, stacked, each)
        };
        let on = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a thread pool")
                .install(run)
        };
        let one = on(1);
        assert!(
            one.3.is_some() && one.4 .1 == cols.len(),
            "every series scored"
        );
        assert_eq!(one, on(4));
    }

    #[test]
    fn the_pooled_layer_lowers_autos_error_on_series_that_share_their_errors() {
        let cols = trace(24);
        let cfg = BacktestConfig::default();
        let none = Pooled::default();
        let layer = StackConfig::for_trace(cols.len(), Some(3600));
        let plain = evaluate_auto_stacked(&cols, Some(3600), &cfg, &none, None).expect("scored");
        let stacked =
            evaluate_auto_stacked(&cols, Some(3600), &cfg, &none, Some(layer)).expect("scored");
        for (p, s) in plain.iter().zip(&stacked) {
            assert_eq!(p.n, s.n);
            assert!(mse(s) < 0.99 * mse(p), "stacked {s:?} plain {p:?}");
        }
    }
}
