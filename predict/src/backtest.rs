//! The backtest protocol: chronological split 70 % train / 10 % validation / 20 % test, each series
//! divided by its own maximum over the whole trace (the published Abilene protocol; optional),
//! rolling origin over validation and test with the model updated by every actual, errors pooled
//! over all series and test points.
//!
//! Missing cells: never scored (a missing actual contributes no error), never invented in the
//! history (models read the last known value as input), excluded from the maximum. A series with no
//! positive value is skipped. The validation part warms the calibrator and model `auto`'s error
//! weights; no test value is seen before it is forecast.
//!
//! The library does not time anything (no clock here); callers time [`evaluate_series`] calls.

use crate::model::{
    Auto, AutoConfig, Boosted, BoostedConfig, Forecaster, ModelKind, Regression, RegressionConfig,
};
use crate::predictor::{Predictor, PredictorConfig};
use crate::season::{cycle_for_interval, detect, periods_for_interval};
use crate::History;
use crate::PredictError;
use rayon::prelude::*;

mod stack;
pub use stack::{choose_stack, evaluate_auto_stacked, StackConfig};

/// How each series is scaled before forecasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalise {
    /// Divide by the series' maximum over the whole trace (the published protocol).
    Max,
    /// Divide by the maximum of the training part only (no look-ahead).
    TrainMax,
    /// Raw values.
    None,
}

/// How much of the trace the models may see before they forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Nothing from the test part reaches a model before it is forecast: series are scaled for
    /// the models by the maximum of their training part, and every setting `auto` chooses is
    /// chosen on the training and validation parts. Errors are still reported on the scale
    /// `normalise` names, so figures compare with published ones.
    Strict,
    /// The published protocol: models see the series already divided by its maximum over the
    /// whole trace (a look-ahead: the scale carries a hint of the test part's peak).
    Published,
}

/// Which part of the trace is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The validation part (for choosing settings; the test part is then never run).
    Validation,
    /// The test part (the reported figures).
    Test,
}

/// What an empty cell means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Unknown: not scored, models carry the last value forward as input.
    Skip,
    /// Zero traffic (SNDlib omits zero demands): filled with 0 and scored.
    Zero,
}

/// Backtest settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestConfig {
    /// Horizons scored (steps ahead).
    pub horizons: Vec<usize>,
    /// Scaling.
    pub normalise: Normalise,
    /// Meaning of empty cells.
    pub missing: Missing,
    /// Refit every model once per day of steps during validation and test.
    pub refit_daily: bool,
    /// Fraction of rows used for fitting.
    pub train: f64,
    /// Fraction of rows after training used for validation (warm-up of weights and intervals).
    pub validation: f64,
    /// What the models may see (strict by default).
    pub protocol: Protocol,
    /// Which part is scored.
    pub part: Part,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        Self {
            horizons: vec![1, 2, 3],
            normalise: Normalise::Max,
            missing: Missing::Skip,
            refit_daily: true,
            train: 0.7,
            validation: 0.1,
            protocol: Protocol::Strict,
            part: Part::Test,
        }
    }
}

impl BacktestConfig {
    /// Checks the fractions and horizons.
    pub fn validate(&self) -> Result<(), PredictError> {
        if self.horizons.is_empty() || self.horizons.contains(&0) {
            return Err(PredictError::InvalidConfig {
                field: "horizon",
                value: format!("{:?}", self.horizons),
                why: "need at least one horizon, each at least 1",
            });
        }
        let repeated = |(i, h): (usize, &usize)| self.horizons[..i].contains(h);
        if self.horizons.iter().enumerate().any(repeated) {
            return Err(PredictError::InvalidConfig {
                field: "horizon",
                value: format!("{:?}", self.horizons),
                why: "a horizon is listed twice (it would print the same rows twice)",
            });
        }
        if !(self.train > 0.0 && self.validation >= 0.0 && self.train + self.validation < 1.0) {
            return Err(PredictError::InvalidConfig {
                field: "split",
                value: format!("{}/{}", self.train, self.validation),
                why: "train > 0 and train + validation < 1",
            });
        }
        Ok(())
    }

    /// Checks that a trace of `rows` rows can be backtested: training rows to fit on, a test
    /// part, and every horizon short enough that some test row has a forecast from that far
    /// back (forecasts start at the end of training). A horizon beyond that scored nothing and
    /// printed an error of 0; a huge one reserved memory for every step before failing.
    pub fn check_rows(&self, rows: usize) -> Result<(), PredictError> {
        let usable = |n: usize| {
            let (train_end, val_end) = split_points(n, self);
            train_end >= 2 && val_end < n
        };
        if !usable(rows) {
            // The fewest rows the split leaves both parts in (3 at 70 % / 10 %).
            let needed = (rows + 1..rows.saturating_add(10_000_000))
                .find(|&n| usable(n))
                .unwrap_or(rows + 1);
            return Err(PredictError::TooShort { rows, needed });
        }
        let (train_end, _) = split_points(rows, self);
        let forecast = rows - train_end;
        match self.horizons.iter().find(|&&h| h > forecast) {
            Some(&horizon) => Err(PredictError::HorizonTooLong {
                horizon,
                rows,
                forecast,
            }),
            None => Ok(()),
        }
    }
}

/// Error sums of one model at one horizon.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Score {
    /// Sum of squared errors.
    pub sse: f64,
    /// Sum of absolute errors.
    pub sae: f64,
    /// Points scored.
    pub n: u64,
    /// Points inside the 80 % interval.
    pub in80: u64,
    /// Points inside the 95 % interval.
    pub in95: u64,
}

impl Score {
    /// Adds another score.
    pub fn merge(&mut self, o: &Score) {
        self.sse += o.sse;
        self.sae += o.sae;
        self.n += o.n;
        self.in80 += o.in80;
        self.in95 += o.in95;
    }
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BacktestRow {
    /// Model name.
    pub model: String,
    /// Steps ahead.
    pub horizon: usize,
    /// Mean squared error.
    pub mse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Fraction of actuals inside the 80 % interval.
    pub coverage80: f64,
    /// Fraction of actuals inside the 95 % interval.
    pub coverage95: f64,
    /// Wall time per series (fit + rolling forecast), measured by the caller.
    pub seconds_per_series: f64,
    /// Points scored.
    pub points: u64,
    /// How a pooled model's rows were fitted when its pooled fit was not available (no pooled
    /// fit on this trace, or pooling turned off): `per-series`. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fitted_as: Option<String>,
}

impl BacktestRow {
    /// A row from pooled sums and the caller's timing.
    pub fn from_score(
        model: ModelKind,
        horizon: usize,
        s: &Score,
        seconds_per_series: f64,
    ) -> Self {
        let n = s.n.max(1) as f64;
        Self {
            model: model.name().to_string(),
            horizon,
            mse: s.sse / n,
            mae: s.sae / n,
            rmse: (s.sse / n).sqrt(),
            coverage80: s.in80 as f64 / n,
            coverage95: s.in95 as f64 / n,
            seconds_per_series,
            points: s.n,
            fitted_as: None,
        }
    }
}

/// Row indices where validation and test start, for `rows` rows.
pub fn split_points(rows: usize, cfg: &BacktestConfig) -> (usize, usize) {
    // The epsilon keeps 0.7 + 0.1 from flooring 1000 × 0.7999… to 799.
    let train_end = ((rows as f64) * cfg.train + 1e-9).floor() as usize;
    let val_end = ((rows as f64) * (cfg.train + cfg.validation) + 1e-9).floor() as usize;
    (train_end, val_end.max(train_end))
}

/// The series as the protocol scores it: missing cells per `cfg.missing`, scaled per
/// `cfg.normalise`; `None` when it has no positive value or too few rows.
pub fn prepare(values: &[Option<f64>], cfg: &BacktestConfig) -> Option<Vec<Option<f64>>> {
    prepared(values, cfg).map(|p| p.scored)
}

/// A series ready for the backtest: what is scored, what the models see, and the factor from
/// the models' scale to the scored one.
struct Prepared {
    scored: Vec<Option<f64>>,
    seen: Vec<Option<f64>>,
    seen_to_scored: f64,
}

fn max_of(values: &[Option<f64>]) -> f64 {
    values
        .iter()
        .flatten()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max)
}

fn prepared(values: &[Option<f64>], cfg: &BacktestConfig) -> Option<Prepared> {
    let zero_filled: Vec<Option<f64>>;
    let values = match cfg.missing {
        Missing::Skip => values,
        Missing::Zero => {
            zero_filled = values.iter().map(|v| Some(v.unwrap_or(0.0))).collect();
            &zero_filled
        }
    };
    let n = values.len();
    let (train_end, val_end) = split_points(n, cfg);
    if train_end < 2 || val_end >= n {
        return None;
    }
    let train_max = max_of(values.get(..train_end)?);
    let scored_scale = match cfg.normalise {
        Normalise::None => 1.0,
        Normalise::TrainMax if train_max > 0.0 => train_max,
        Normalise::Max => Some(max_of(values)).filter(|&m| m > 0.0)?,
        Normalise::TrainMax => return None,
    };
    // Under the strict protocol the models never see a scale taken from the test part. A
    // series silent through its training part is seen unscaled until it has a maximum.
    let seen_scale = match (cfg.protocol, cfg.normalise) {
        (_, Normalise::None) => 1.0,
        (Protocol::Strict, _) if train_max > 0.0 => train_max,
        (Protocol::Strict, _) => scored_scale,
        (Protocol::Published, _) => scored_scale,
    };
    let scale = |s: f64| -> Vec<Option<f64>> { values.iter().map(|v| v.map(|v| v / s)).collect() };
    Some(Prepared {
        scored: scale(scored_scale),
        seen: scale(seen_scale),
        seen_to_scored: seen_scale / scored_scale,
    })
}

/// Models fitted once on the pooled training parts of every series of a trace; model `auto` adds
/// them to its candidates, and `pooled-regression` / `boosted-trees` are scored with them.
#[derive(Debug, Clone, Default)]
pub struct Pooled {
    /// The regression with coefficients shared by every series.
    pub regression: Option<Regression>,
    /// The gradient-boosted trees shared by every series.
    pub boosted: Option<Boosted>,
}

impl Pooled {
    /// Whether `kind` is a pooled model these fits lack, so that [`evaluate_series`] scores
    /// it with a per-series fit of the same family under its name.
    pub fn falls_back(&self, kind: ModelKind) -> bool {
        match kind {
            ModelKind::PooledRegression => self.regression.is_none(),
            ModelKind::Boosted => self.boosted.is_none(),
            _ => false,
        }
    }

    /// The pooled models as extra candidates of `auto`.
    fn extras(&self) -> Vec<Box<dyn Forecaster>> {
        let mut out: Vec<Box<dyn Forecaster>> = Vec::new();
        if let Some(r) = &self.regression {
            out.push(Box::new(r.clone()));
        }
        if let Some(b) = &self.boosted {
            out.push(Box::new(b.clone()));
        }
        out
    }
}

/// Fits the pooled models on the training parts of all `columns` (each prepared as the
/// protocol shows it to models). Models that cannot be fitted are left out.
pub fn fit_pooled(
    columns: &[Vec<Option<f64>>],
    interval_secs: Option<u64>,
    cfg: &BacktestConfig,
) -> Pooled {
    let mut histories = Vec::new();
    let mut total: Vec<f64> = Vec::new();
    for col in columns {
        let Some(scaled) = prepared(col, cfg).map(|p| p.seen) else {
            continue;
        };
        let (train_end, _) = split_points(scaled.len(), cfg);
        let mut h = History::with_capacity(train_end);
        for (i, v) in scaled.iter().take(train_end).enumerate() {
            h.push(*v);
            if let Some(slot) = total.get_mut(i) {
                *slot += v.unwrap_or(0.0);
            } else {
                total.push(v.unwrap_or(0.0));
            }
        }
        histories.push(h);
    }
    // Seasons of the aggregate: what the series share.
    let seasons = detect(&total, interval_secs);
    let shortest = histories.iter().map(History::len).min().unwrap_or(0);
    let (regression, boosted) = rayon::join(
        || {
            Regression::fit_pooled(
                histories.iter(),
                seasons,
                RegressionConfig::for_pooled(seasons, shortest),
            )
        },
        || Boosted::fit_pooled(histories.iter(), seasons, BoostedConfig::default()),
    );
    Pooled {
        regression,
        boosted,
    }
}

/// Backtests `kind` on every column, on every core; returns the scores pooled over the series
/// (one per configured horizon) and how many series were scored. Each series is scored on its
/// own and the scores are summed in column order, so the figures do not depend on the number of
/// cores. `each` is called once per column as it finishes (a progress bar).
pub fn evaluate_columns(
    columns: &[Vec<Option<f64>>],
    interval_secs: Option<u64>,
    kind: ModelKind,
    cfg: &BacktestConfig,
    pooled: &Pooled,
    each: &(dyn Fn() + Sync),
) -> (Vec<Score>, usize) {
    let per_series: Vec<Option<Vec<Score>>> = columns
        .par_iter()
        .map(|col| {
            let scores = evaluate_series(col, interval_secs, kind, cfg, pooled);
            each();
            scores
        })
        .collect();
    let mut total = vec![Score::default(); cfg.horizons.len()];
    let mut series = 0;
    for scores in per_series.iter().flatten() {
        series += 1;
        total.iter_mut().zip(scores).for_each(|(t, s)| t.merge(s));
    }
    (total, series)
}

/// Pooled MSE of model `auto` over every series' validation part, summed over the horizons.
fn validation_error(
    columns: &[Vec<Option<f64>>],
    interval_secs: Option<u64>,
    cfg: &BacktestConfig,
    pooled: &Pooled,
) -> f64 {
    let cfg = BacktestConfig {
        part: Part::Validation,
        ..cfg.clone()
    };
    let (total, _) = evaluate_columns(
        columns,
        interval_secs,
        ModelKind::Auto,
        &cfg,
        pooled,
        &|| {},
    );
    total
        .iter()
        .map(|s| if s.n > 0 { s.sse / s.n as f64 } else { 0.0 })
        .sum()
}

/// Which pooled models `auto` keeps: each subset of `fitted` is run on the validation part
/// and the one with the lowest error wins (the test part is never looked at). Returns the
/// chosen pool and, for the report, each subset's name and validation error.
pub fn choose_pooled(
    columns: &[Vec<Option<f64>>],
    interval_secs: Option<u64>,
    cfg: &BacktestConfig,
    fitted: &Pooled,
) -> (Pooled, Vec<(String, f64)>) {
    let mut subsets: Vec<(Pooled, String)> = Vec::new();
    for with_regression in [false, true] {
        for with_trees in [false, true] {
            let regression = fitted.regression.clone().filter(|_| with_regression);
            let boosted = fitted.boosted.clone().filter(|_| with_trees);
            if (with_regression && regression.is_none()) || (with_trees && boosted.is_none()) {
                continue;
            }
            let pool = Pooled {
                regression,
                boosted,
            };
            let name = match (with_regression, with_trees) {
                (false, false) => "per-series candidates only",
                (true, false) => "+ pooled regression",
                (false, true) => "+ boosted trees",
                (true, true) => "+ pooled regression + boosted trees",
            };
            subsets.push((pool, name.to_string()));
        }
    }
    let tried: Vec<(Pooled, String, f64)> = subsets
        .into_par_iter()
        .map(|(pool, name)| {
            let err = validation_error(columns, interval_secs, cfg, &pool);
            (pool, name, err)
        })
        .collect();
    let report = tried.iter().map(|(_, n, e)| (n.clone(), *e)).collect();
    let best = tried
        .into_iter()
        .min_by(|a, b| a.2.total_cmp(&b.2))
        .map(|t| t.0)
        .unwrap_or_default();
    (best, report)
}

/// One series ready for a backtest: its values, the split, and a predictor of its model fitted
/// on the training part. [`evaluate_series`] and the lockstep run of the pooled stacking layer
/// both start here, so a series is set up alike whichever scores it.
struct SetUp {
    prepared: Prepared,
    train_end: usize,
    val_end: usize,
    /// Steps between refits (a day, as a live store does), or none.
    refit_every: Option<usize>,
    /// The longest scored horizon.
    horizon: usize,
    predictor: Predictor,
}

/// Sets `values` up for a backtest of `kind` (see [`SetUp`]); `None` when the series has no
/// positive value or too little training data.
fn set_up(
    values: &[Option<f64>],
    interval_secs: Option<u64>,
    kind: ModelKind,
    cfg: &BacktestConfig,
    pooled: &Pooled,
) -> Option<SetUp> {
    let prepared = prepared(values, cfg)?;
    let n = prepared.seen.len();
    let (train_end, val_end) = split_points(n, cfg);
    let train: Vec<f64> = prepared
        .seen
        .get(..train_end)?
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect();
    let seasons = detect(&train, interval_secs);
    // Refit daily (every day period of steps; weekly where a day is under two steps) as a live
    // store does: rolling origin with the model's parameters following the series.
    let refit_every = if cfg.refit_daily {
        seasons.day.or(interval_secs.and_then(cycle_for_interval))
    } else {
        None
    };
    let horizon = cfg.horizons.iter().copied().max().unwrap_or(1);
    let pcfg = PredictorConfig {
        history: n,
        horizon,
        ..PredictorConfig::default()
    };
    let model: Box<dyn Forecaster> = match kind {
        // Tracking only the scored horizons keeps the weights of each exactly as a live
        // predictor's and spares forecasting steps nobody scores.
        ModelKind::Auto => Box::new(Auto::with_extra(
            seasons,
            AutoConfig {
                tracked_horizon: horizon,
                ..AutoConfig::default()
            },
            pooled.extras(),
        )),
        ModelKind::PooledRegression => match &pooled.regression {
            Some(r) => Box::new(r.clone()),
            None => kind.build(seasons),
        },
        ModelKind::Boosted => match &pooled.boosted {
            Some(b) => Box::new(b.clone()),
            None => kind.build(seasons),
        },
        _ => kind.build(seasons),
    };
    let mut predictor = Predictor::with_model(model, pcfg);
    predictor.preload(prepared.seen.get(..train_end)?.iter().copied());
    predictor.fit();
    Some(SetUp {
        prepared,
        train_end,
        val_end,
        refit_every,
        horizon,
        predictor,
    })
}

/// Backtests `kind` on one series; returns one score per configured horizon, or `None` when the
/// series has no positive value or too little training data. Model `auto` also weighs the
/// `pooled` models, and the pooled kinds are scored with them.
pub fn evaluate_series(
    values: &[Option<f64>],
    interval_secs: Option<u64>,
    kind: ModelKind,
    cfg: &BacktestConfig,
    pooled: &Pooled,
) -> Option<Vec<Score>> {
    let SetUp {
        prepared:
            Prepared {
                scored,
                seen: scaled,
                seen_to_scored,
            },
        train_end,
        val_end,
        refit_every,
        horizon,
        predictor: mut p,
    } = set_up(values, interval_secs, kind, cfg, pooled)?;
    let n = scaled.len();
    let mut scores = vec![Score::default(); cfg.horizons.len()];
    // Forecasts from recent origins, newest first; origin t forecasts rows t, t+1, ….
    let mut recent: std::collections::VecDeque<crate::Forecast> =
        std::collections::VecDeque::with_capacity(horizon + 1);
    let (score_from, score_to) = match cfg.part {
        Part::Validation => (train_end, val_end),
        Part::Test => (val_end, n),
    };
    for (t, &actual) in scaled
        .iter()
        .enumerate()
        .skip(train_end)
        .take(score_to - train_end)
    {
        recent.push_front(p.forecast(horizon));
        recent.truncate(horizon);
        let truth = scored.get(t).copied().flatten();
        if let (true, Some(y)) = (t >= score_from, truth) {
            for (score, &h) in scores.iter_mut().zip(&cfg.horizons) {
                let Some(f) = recent.get(h - 1) else { continue };
                let (Some(&point), Some(b80), Some(b95)) =
                    (f.points.get(h - 1), f.interval(h, 0), f.interval(h, 1))
                else {
                    continue;
                };
                let k = seen_to_scored;
                let e = y - point * k;
                score.sse += e * e;
                score.sae += e.abs();
                score.n += 1;
                score.in80 += u64::from(b80.0 * k <= y && y <= b80.1 * k);
                score.in95 += u64::from(b95.0 * k <= y && y <= b95.1 * k);
            }
        }
        p.observe(actual);
        let since = t + 1 - train_end;
        if refit_every.is_some_and(|r| since % r == 0) {
            p.refit(None);
        }
    }
    Some(scores)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::noise;

    #[test]
    fn seasonal_series_beats_naive_and_covers() {
        let e = noise(288 * 12, 9);
        let v: Vec<Option<f64>> = (0..288 * 12)
            .map(|t| {
                let day = (t as f64 * std::f64::consts::TAU / 288.0).sin();
                Some(10.0 + 4.0 * day + 0.3 * e[t])
            })
            .collect();
        let cfg = BacktestConfig::default();
        let naive = evaluate_series(&v, Some(300), ModelKind::Naive, &cfg, &Pooled::default())
            .expect("scored");
        let auto = evaluate_series(&v, Some(300), ModelKind::Auto, &cfg, &Pooled::default())
            .expect("scored");
        let mse = |s: &Score| s.sse / s.n as f64;
        assert!(
            mse(&auto[0]) < 0.8 * mse(&naive[0]),
            "{auto:?} vs {naive:?}"
        );
        let c95 = auto[0].in95 as f64 / auto[0].n as f64;
        assert!((0.90..=0.99).contains(&c95), "coverage95 {c95}");
    }

    #[test]
    fn a_trace_too_short_or_a_horizon_too_long_is_refused_by_name() {
        let cfg = BacktestConfig::default();
        // 0-2 rows leave no training pair or no test row; 3 rows train on 2 and test 1.
        for rows in 0..3 {
            assert_eq!(
                cfg.check_rows(rows),
                Err(PredictError::TooShort { rows, needed: 3 })
            );
        }
        assert_eq!(
            cfg.check_rows(3),
            Err(PredictError::HorizonTooLong {
                horizon: 2,
                rows: 3,
                forecast: 1
            })
        );
        // 3,000 rows: forecasts from row 2,100 on reach the last row from 900 steps back.
        let far = |h| BacktestConfig {
            horizons: vec![1, h],
            ..BacktestConfig::default()
        };
        assert_eq!(far(900).check_rows(3000), Ok(()));
        let e = far(901).check_rows(3000).expect_err("too long");
        assert!(e.to_string().contains("horizon = 901"), "{e}");
        assert!(e.to_string().contains("at most 900"), "{e}");
        assert!(far(usize::MAX).check_rows(3000).is_err());
        // What the check allows scores at least one point at every horizon.
        let v: Vec<Option<f64>> = (0..3000).map(|t| Some((t % 7) as f64 + 1.0)).collect();
        let s = evaluate_series(&v, None, ModelKind::Naive, &far(900), &Pooled::default())
            .expect("scored");
        assert_eq!(s.iter().map(|s| s.n).collect::<Vec<_>>(), vec![600, 1]);
    }

    #[test]
    fn horizons_must_be_positive_and_listed_once() {
        let with = |horizons: Vec<usize>| BacktestConfig {
            horizons,
            ..BacktestConfig::default()
        };
        assert!(with(vec![1, 2, 3]).validate().is_ok());
        for bad in [vec![], vec![0, 1], vec![1, 2, 1]] {
            let e = with(bad.clone()).validate().expect_err("refused");
            assert!(e.to_string().contains("horizon"), "{bad:?}: {e}");
        }
        let e = with(vec![1, 1]).validate().expect_err("twice");
        assert!(e.to_string().contains("twice"), "{e}");
    }

    #[test]
    fn missing_actuals_are_not_scored() {
        let mut v: Vec<Option<f64>> = (0..1000).map(|t| Some((t % 7) as f64 + 1.0)).collect();
        for c in v.iter_mut().skip(900).step_by(2) {
            *c = None;
        }
        let s = evaluate_series(
            &v,
            None,
            ModelKind::Naive,
            &BacktestConfig::default(),
            &Pooled::default(),
        )
        .expect("scored");
        assert_eq!(s[0].n, 150);
    }
}
