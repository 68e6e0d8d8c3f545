//! Gradient-boosted regression trees (smartcore's XGBoost) over scale-free lag and calendar
//! features, fitted once on the pooled training rows of many series.
//!
//! A linear model gives every series the same response to a burst; trees can learn that a pair
//! at its daily low reverts differently from one at its peak, or that a spike after silence fades
//! faster than one on a plateau. One series rarely has the rows to learn that, so the trees are
//! pooled: every series is described relative to its own recent level `L` and spread `S`, so
//! a 10 Mbit/s pair and a 10 Gbit/s link share the same rows. The target is `(y − L) / S`,
//! clipped, and the forecast `L + S · tree(x)`, recursive over steps like the regression.
//!
//! Invariant: every feature is finite (the tree library sorts them with `partial_cmp`).

use super::forest::Forest;
use super::{lag_ahead, Forecaster, ModelKind};
use crate::{History, Seasons};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::xgboost::{XGRegressor, XGRegressorParameters};
use std::f64::consts::TAU;
use std::sync::Arc;

/// Values that define the recent level and spread.
const WINDOW: usize = 12;
/// Half-width of the average taken around a seasonal lag.
const SEASONAL_HALFWIDTH: usize = 2;
/// Largest standardised target kept: beyond it a row is a spike, not a pattern.
const TARGET_CLIP: f64 = 8.0;

type Trees = XGRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>;

/// Fitted trees: read into a [`Forest`] (the same predictions, without smartcore's copy of the
/// row per tree), or smartcore's own model where its text did not read.
#[derive(Debug)]
enum Fitted {
    Flat(Forest),
    Library(Trees),
}

impl Fitted {
    fn new(trees: Trees) -> Self {
        match Forest::from_model(&trees) {
            Some(forest) => Self::Flat(forest),
            None => Self::Library(trees),
        }
    }
}

/// Settings of the boosted trees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoostedConfig {
    /// Boosting rounds.
    pub rounds: usize,
    /// Depth of each tree.
    pub depth: u16,
    /// Shrinkage of each round.
    pub learning_rate: f64,
    /// Training rows kept at most (an even sample of the pooled rows).
    pub max_rows: usize,
    /// Minimum rows in a leaf.
    pub min_leaf: usize,
}

impl Default for BoostedConfig {
    fn default() -> Self {
        Self {
            rounds: 60,
            depth: 4,
            learning_rate: 0.15,
            max_rows: 20_000,
            min_leaf: 40,
        }
    }
}

/// Pooled gradient-boosted trees on standardised lags, seasonal lags and calendar phases.
#[derive(Debug, Clone)]
pub struct Boosted {
    seasons: Seasons,
    cfg: BoostedConfig,
    /// `None` until fitted (forecasts the last value meanwhile).
    trees: Option<Arc<Fitted>>,
    /// The trees come from [`Boosted::fit_pooled`] and a series' refit keeps them.
    pooled: bool,
}

/// The features of the value at time `t`, reading lag `k` through `lag`; `None` without a
/// latest value. Returns the level and spread used, to undo the standardisation.
fn features(
    seasons: Seasons,
    t: u64,
    lag: impl Fn(usize) -> Option<f64>,
    x: &mut Vec<f64>,
) -> Option<(f64, f64)> {
    x.clear();
    let last = lag(1)?;
    let recent: Vec<f64> = (1..=WINDOW).map(|k| lag(k).unwrap_or(last)).collect();
    let level = recent.iter().sum::<f64>() / WINDOW as f64;
    let mad = recent.iter().map(|v| (v - level).abs()).sum::<f64>() / WINDOW as f64;
    let spread = mad.max(0.02 * level.abs()).max(1e-9);
    let z = |v: f64| ((v - level) / spread).clamp(-50.0, 50.0);
    x.extend(recent.iter().map(|&v| z(v)));
    // The level relative to the spread: a quiet series near zero behaves unlike a busy one.
    x.push((level.abs() / spread).min(1e3).ln_1p());
    for p in [seasons.day, seasons.week] {
        match p {
            Some(p) => {
                let (mut sum, mut n) = (0.0, 0.0);
                for k in p.saturating_sub(SEASONAL_HALFWIDTH).max(1)..=p + SEASONAL_HALFWIDTH {
                    if let Some(v) = lag(k) {
                        sum += v;
                        n += 1.0;
                    }
                }
                x.push(if n > 0.0 { z(sum / n) } else { 0.0 });
                // Whole periods keep their original arithmetic, bit for bit.
                let phase = match seasons.clock {
                    Some(_) => TAU * seasons.phase(t, p),
                    None => TAU * (t % p as u64) as f64 / p as f64,
                };
                x.push(phase.sin());
                x.push(phase.cos());
            }
            None => x.extend([0.0, 0.0, 0.0]),
        }
    }
    Some((level, spread))
}

impl Boosted {
    /// Unfitted trees for one series (its `fit` trains them on its own history).
    pub fn new(seasons: Seasons, cfg: BoostedConfig) -> Self {
        Self {
            seasons,
            cfg,
            trees: None,
            pooled: false,
        }
    }

    /// Fits the trees on the rows of every history in `histories` (series scaled alike or not:
    /// the features are standardised per row). `None` when there are too few rows or the
    /// library refuses them.
    pub fn fit_pooled<'a>(
        histories: impl IntoIterator<Item = &'a History>,
        seasons: Seasons,
        cfg: BoostedConfig,
    ) -> Option<Self> {
        let trees = Self::train(histories, seasons, cfg)?;
        Some(Self {
            seasons,
            cfg,
            trees: Some(Arc::new(Fitted::new(trees))),
            pooled: true,
        })
    }

    fn train<'a>(
        histories: impl IntoIterator<Item = &'a History>,
        seasons: Seasons,
        cfg: BoostedConfig,
    ) -> Option<Trees> {
        let mut rows: Vec<Vec<f64>> = Vec::new();
        let mut targets: Vec<f64> = Vec::new();
        let histories: Vec<&History> = histories.into_iter().collect();
        let total: usize = histories.iter().map(|h| h.len()).sum();
        let stride = total.div_ceil(cfg.max_rows.max(1)).max(1);
        let start = WINDOW.max(seasons.week.or(seasons.day).unwrap_or(0) + SEASONAL_HALFWIDTH);
        let mut x = Vec::new();
        let mut counter = 0usize;
        for hist in histories {
            let raw = hist.to_vec();
            let t0 = hist.pushed() - raw.len() as u64;
            let filled = carried_forward(&raw);
            for (i, &y) in raw.iter().enumerate().skip(start) {
                counter += 1;
                if counter % stride != 0 || !y.is_finite() {
                    continue;
                }
                let lag = |k: usize| i.checked_sub(k).and_then(|j| filled.get(j).copied());
                let lag = |k: usize| lag(k).filter(|v| v.is_finite());
                if let Some((level, spread)) = features(seasons, t0 + i as u64, lag, &mut x) {
                    rows.push(x.clone());
                    targets.push(((y - level) / spread).clamp(-TARGET_CLIP, TARGET_CLIP));
                }
            }
        }
        if rows.len() < 20 * cfg.min_leaf {
            return None;
        }
        let data = DenseMatrix::from_2d_vec(&rows).ok()?;
        let params = XGRegressorParameters::default()
            .with_n_estimators(cfg.rounds)
            .with_max_depth(cfg.depth)
            .with_learning_rate(cfg.learning_rate)
            .with_min_child_weight(cfg.min_leaf)
            .with_lambda(1.0)
            .with_base_score(0.0)
            .with_subsample(0.8)
            .with_seed(7);
        Trees::fit(&data, &targets, params).ok()
    }

    fn predict(&self, x: &[f64]) -> Option<f64> {
        let out = match self.trees.as_deref()? {
            Fitted::Flat(forest) => forest.predict(x)?,
            Fitted::Library(trees) => {
                let row = DenseMatrix::from_2d_vec(&vec![x.to_vec()]).ok()?;
                trees.predict(&row).ok()?.first().copied()?
            }
        };
        Some(out).filter(|v| v.is_finite())
    }
}

/// The values with gaps replaced by the last known value (NaN before the first).
fn carried_forward(raw: &[f64]) -> Vec<f64> {
    let mut last = f64::NAN;
    raw.iter()
        .map(|&v| {
            if v.is_finite() {
                last = v;
            }
            last
        })
        .collect()
}

impl Forecaster for Boosted {
    fn kind(&self) -> ModelKind {
        ModelKind::Boosted
    }

    fn fit(&mut self, hist: &History) {
        if !self.pooled {
            self.trees =
                Self::train([hist], self.seasons, self.cfg).map(|t| Arc::new(Fitted::new(t)));
        }
    }

    fn observe(&mut self, _hist: &History) {}

    fn forecast(&self, hist: &History, h: usize, out: &mut Vec<f64>) {
        out.clear();
        let last = hist.lag_filled(1).unwrap_or(0.0);
        let mut x = Vec::with_capacity(WINDOW + 8);
        for s in 1..=h {
            let t = hist.pushed() + s as u64 - 1;
            let ahead = out.as_slice();
            let y = features(self.seasons, t, |k| lag_ahead(hist, ahead, s, k), &mut x)
                .and_then(|(level, spread)| self.predict(&x).map(|z| level + spread * z))
                .unwrap_or(last);
            out.push(y);
        }
    }

    fn heap_bytes(&self) -> usize {
        // Pooled trees are shared by every series; a series' own trees are counted roughly.
        if self.pooled || self.trees.is_none() {
            0
        } else {
            self.cfg.rounds * (1 << (self.cfg.depth + 1)) * 64
        }
    }

    fn ready(&self, _hist: &History) -> bool {
        self.trees.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::{history, noise};

    #[test]
    fn the_read_forest_predicts_as_smartcore_bit_for_bit() {
        let e = noise(4000, 5);
        let v: Vec<f64> = (0..4000)
            .map(|t| 10.0 + (t as f64 * TAU / 96.0).sin() + 0.3 * e[t])
            .collect();
        let seasons = Seasons {
            day: Some(96),
            week: None,
            clock: None,
        };
        let cfg = BoostedConfig::default();
        let trees = Boosted::train([&history(&v)], seasons, cfg).expect("enough rows");
        let forest = Forest::from_model(&trees).expect("smartcore's export reads as a forest");
        let hist = history(&v);
        let mut x = Vec::new();
        let mut splits_seen = 0;
        for t in 200..4000 {
            let lag = |k: usize| v.get(t - k).copied();
            features(seasons, t as u64, lag, &mut x).expect("a latest value");
            let row = DenseMatrix::from_2d_vec(&vec![x.clone()]).expect("one row");
            let theirs = trees.predict(&row).expect("fitted")[0];
            let ours = forest.predict(&x).expect("every feature present");
            assert_eq!(ours.to_bits(), theirs.to_bits(), "row {t}");
            splits_seen += usize::from(ours != 0.0);
        }
        assert!(splits_seen > 3000, "the trees split: {splits_seen}");
        // A fitted model predicts through the forest.
        let fitted = Boosted::fit_pooled([&hist], seasons, cfg).expect("enough rows");
        assert!(matches!(fitted.trees.as_deref(), Some(Fitted::Flat(_))));
        // An export that is not a fitted model's gives none (the caller keeps smartcore's
        // predict).
        assert_eq!(Forest::from_model(&"not a model"), None);
        assert_eq!(
            Forest::from_model(&serde_json::json!({"parameters": null, "regressors": null})),
            None
        );
    }

    #[test]
    fn learns_that_spikes_revert_across_series_of_different_scales() {
        // A persistent process with one-interval spikes on top: a spike says nothing about
        // the next value, which the trees must learn from the pooled rows whatever the scale.
        let make = |scale: f64, seed: u64| {
            let e = noise(3000, seed);
            let mut level = vec![0.0; 3000];
            for t in 1..3000 {
                level[t] = 0.95 * level[t - 1] + 0.1 * e[t];
            }
            (0..3000)
                .map(|t| {
                    let spike = if (t * 7 + seed as usize) % 23 == 0 {
                        3.0
                    } else {
                        0.0
                    };
                    scale * (5.0 + level[t] + spike)
                })
                .collect::<Vec<f64>>()
        };
        let series = [make(1.0, 1), make(1000.0, 2), make(0.01, 3)];
        let hists: Vec<History> = series.iter().map(|s| history(&s[..2500])).collect();
        let cfg = BoostedConfig {
            rounds: 30,
            max_rows: 3000,
            ..BoostedConfig::default()
        };
        let model =
            Boosted::fit_pooled(hists.iter(), Seasons::default(), cfg).expect("enough rows");
        // Score one-step forecasts on the held-out end of the small-scale series against naive.
        let s = &series[2];
        let (mut e_tree, mut e_naive) = (0.0, 0.0);
        let mut out = Vec::new();
        for t in 2500..2999 {
            let h = history(&s[..=t]);
            model.forecast(&h, 1, &mut out);
            e_tree += (s[t + 1] - out[0]).powi(2);
            e_naive += (s[t + 1] - s[t]).powi(2);
        }
        assert!(e_tree < 0.85 * e_naive, "trees {e_tree} vs naive {e_naive}");
    }
}
