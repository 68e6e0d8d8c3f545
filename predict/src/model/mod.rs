//! Forecasting models. Each model reads its inputs from the series' [`History`] (shared, not
//! copied), keeps only its fitted parameters and small state, and produces point forecasts for
//! steps `1..=h`. Intervals are added around any model by [`crate::interval::Calibrator`].
//!
//! Protocol every model follows: `fit` once on the history so far (it may be called again to refit),
//! then after each `History::push` exactly one `observe`; `forecast` may be called at any time and
//! never changes state.

mod ar;
mod auto;
mod boosted;
mod ets;
mod forest;
mod naive;
mod regression;

pub use ar::{Ar, AR_LAGS};
pub(crate) use auto::within_reach;
pub use auto::{Auto, AutoConfig};
pub use boosted::{Boosted, BoostedConfig};
pub use ets::Ets;
pub use naive::{Naive, SeasonalNaive};
pub use regression::{Regression, RegressionConfig};

use crate::{History, PredictError, Seasons};
use std::fmt;
use std::str::FromStr;

/// A forecasting model for one series.
pub trait Forecaster: Send + fmt::Debug {
    /// Which model this is.
    fn kind(&self) -> ModelKind;
    /// Fits the parameters on everything `hist` holds (may be called again to refit).
    fn fit(&mut self, hist: &History);
    /// Takes in the observation just pushed onto `hist` (a gap if `hist.lag(1)` is `None`).
    fn observe(&mut self, hist: &History);
    /// Writes the point forecasts for steps `1..=h` after the latest observation into `out`.
    fn forecast(&self, hist: &History, h: usize, out: &mut Vec<f64>);
    /// Heap bytes held by the model's state.
    fn heap_bytes(&self) -> usize;
    /// Whether `forecast` from `hist` would be the model's own, not the last value it falls
    /// back on while it has too short a history or no fit: model `auto` neither weighs nor
    /// scores a fallback, or a model would inherit naive's record and be trusted on it the
    /// moment it starts forecasting for itself.
    fn ready(&self, _hist: &History) -> bool {
        true
    }
    /// What the members of a combination forecast for `step` at the newest origin (model
    /// `auto`: its candidates, NaN for one not ready, then its combinations), for a layer that
    /// stacks them across series; `None` for a single model.
    fn members(&self, _step: usize) -> Option<&[f64]> {
        None
    }
    /// Whether [`Forecaster::replay`] reproduces past forecasts: the model's forecasts depend
    /// only on its fit and the history, nothing it learned online since.
    fn replays(&self) -> bool {
        false
    }
    /// Writes into `out`, origin after origin, the forecasts for steps `1..=h` that `forecast`
    /// makes from a history of `values` (oldest first, gaps NaN: [`History::to_vec`]) as it
    /// stood after each value from number `first` (0: the oldest) to the latest, as far as the
    /// values tell (a gap filled from before the oldest is filled as `forecast` fills one from
    /// an empty history). Writes nothing for a model that does not [`Forecaster::replays`].
    fn replay(&self, _values: &[f64], _first: usize, _h: usize, out: &mut Vec<f64>) {
        out.clear();
    }
    /// A copy of the model as fitted now, to replay the forecasts it made once it is refitted
    /// (`None` for a model that does not [`Forecaster::replays`]).
    fn fitted_copy(&self) -> Option<Box<dyn Forecaster>> {
        None
    }
}

/// The models Prescient knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Last observed value.
    Naive,
    /// Value one season ago.
    SeasonalNaive,
    /// Additive Holt-Winters with damped trend, parameters chosen on the fit history.
    Ets,
    /// Robust linear regression on lags, seasonal lags and calendar features.
    Regression,
    /// Ordinary least squares on the last 12 values: the reference autoregression.
    Ar,
    /// The regression fitted once on the pooled rows of every series of a trace (per series
    /// where there is no pool).
    PooledRegression,
    /// Gradient-boosted trees (smartcore) on standardised lags and calendar phases, pooled over
    /// the series of a trace (fitted on the series' own history where there is no pool).
    Boosted,
    /// Per-series combination of the others, weighted by their recent error.
    Auto,
}

impl ModelKind {
    /// All models, `auto` last.
    pub const ALL: [ModelKind; 8] = [
        ModelKind::Naive,
        ModelKind::SeasonalNaive,
        ModelKind::Ets,
        ModelKind::Regression,
        ModelKind::Ar,
        ModelKind::PooledRegression,
        ModelKind::Boosted,
        ModelKind::Auto,
    ];

    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Naive => "naive",
            ModelKind::SeasonalNaive => "seasonal-naive",
            ModelKind::Ets => "ets",
            ModelKind::Regression => "regression",
            ModelKind::Ar => "ar12",
            ModelKind::PooledRegression => "pooled-regression",
            ModelKind::Boosted => "boosted-trees",
            ModelKind::Auto => "auto",
        }
    }

    /// A fresh, unfitted model of this kind for a series with the given seasons.
    pub fn build(self, seasons: Seasons) -> Box<dyn Forecaster> {
        match self {
            ModelKind::Naive => Box::new(Naive),
            ModelKind::SeasonalNaive => Box::new(SeasonalNaive::new(seasons)),
            ModelKind::Ets => Box::new(Ets::new(seasons)),
            ModelKind::Regression => {
                Box::new(Regression::new(seasons, RegressionConfig::default()))
            }
            ModelKind::Ar => Box::new(Ar::new()),
            ModelKind::PooledRegression => Box::new(Regression::new(
                seasons,
                RegressionConfig::for_seasons(seasons),
            )),
            ModelKind::Boosted => Box::new(Boosted::new(seasons, BoostedConfig::default())),
            ModelKind::Auto => Box::new(Auto::new(seasons, AutoConfig::default())),
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = PredictError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| PredictError::UnknownModel(s.to_string()))
    }
}

/// Value of the series at `lag` steps before the step being forecast, where forecast step `step`
/// (1-based) may reach into the already-forecast values `ahead` (ahead[0] is step 1).
pub(crate) fn lag_ahead(hist: &History, ahead: &[f64], step: usize, lag: usize) -> Option<f64> {
    if lag < step {
        ahead.get(step - lag - 1).copied()
    } else {
        hist.lag_filled(lag - step + 1)
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use crate::History;

    /// Pushes `values` into a fresh history of enough capacity.
    pub fn history(values: &[f64]) -> History {
        let mut h = History::with_capacity(values.len() + 16);
        for &v in values {
            h.push(Some(v));
        }
        h
    }

    /// Deterministic pseudo-random standard normal values (Box-Muller over a LCG).
    pub fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed
            .wrapping_mul(2862933555777941757)
            .wrapping_add(3037000493);
        let mut uni = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                let (a, b) = (uni(), uni());
                (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
            })
            .collect()
    }
}
