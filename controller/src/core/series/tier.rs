//! The scale tier: what a series keeps when the core holds so many that full series would not
//! fit (`[planning] compact_above_series`).
//!
//! A full series, once it has run for hours, holds about 64 KB at a 1 s step and more with a
//! daily season (its twelve calibration windows of 500 residuals, time-of-day quantiles, a
//! history of 2,048 or 4,096 values, model `auto`'s per-candidate state, 360 ticks for the API);
//! a 10,000-switch network has about four link series a switch. A compact series forecasts with
//! the 12-lag autoregression (`ar12`: its coefficients are its whole model state), fitted on
//! a short history at the core's refit schedule once it holds the whole of it
//! ([`COMPACT_FIRST_FIT`]), calibrates each step on the last
//! [`COMPACT_CALIBRATION`] residuals (enough for the 99 % planning quantile at the default
//! violation target; the 99 % anomaly band needs 199 and stays open, so compact series raise no
//! anomalies), which it does not keep: `ar12` forecasts from its fit and the history alone, so
//! they are replayed from the history when the bands are due (`PredictorConfig::
//! replayed_residuals`: the bands and quantiles a step, 36 bytes, where 100 residuals in two
//! bytes each and the pending forecasts took 3.5 KB). It sizes with the plain quantile (no
//! time-of-day conditioning), keeps its latest forecast in `f32`, and [`COMPACT_POINTS`] ticks
//! and [`COMPACT_ERRORS`] scored forecasts for the API.

use std::time::Duration;

use prescient_predict::{ModelKind, Predictor, PredictorConfig, Seasons};

use super::Series;
use crate::sizing;

/// Which settings a series runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Model `auto` with full calibration windows and history (every series below the threshold).
    Full,
    /// The scale tier (see the module docs).
    Compact,
}

impl Tier {
    /// Whether a series of this tier refits at its `n`-th observation when its schedule says so.
    pub(super) fn fits_at(self, n: u64) -> bool {
        self == Tier::Full || n >= COMPACT_FIRST_FIT
    }

    /// The name `/metrics` and the REST series use.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Full => "full",
            Tier::Compact => "compact",
        }
    }
}

/// Values of history a compact series keeps: what `ar12` refits on (244 rows of 12 lags).
pub const COMPACT_HISTORY: usize = 256;
/// Residuals kept per forecast step: the `⌈(n + 1) · 0.99⌉`-th of `n` needs `n ≥ 99`.
pub const COMPACT_CALIBRATION: usize = 100;
/// Observations before a compact series' model is first fitted (then at the core's refit
/// schedule): `ar12` fitted on 52 rows (the schedule's 64th observation) extrapolated wildly on
/// short traces (validation one-step MSE 0.30 on Abilene's one-day variant where the last value
/// scored 0.027); until then it forecasts the last value, as an unfitted `ar12` does.
pub const COMPACT_FIRST_FIT: u64 = COMPACT_HISTORY as u64;
/// Ticks kept for the API (68 minutes at a 1 s interval and stride 128; the forecast ahead is
/// 12 of them).
pub const COMPACT_POINTS: usize = 32;
/// Scored forecasts kept for the recent error (`/api/v1/forecasts`' `error`), unless warming up
/// needs more (`[planning] warmup_scored`).
pub const COMPACT_ERRORS: usize = 32;

/// The predictor of a compact series forecasting `horizon` steps.
pub(super) fn compact_predictor(horizon: usize) -> Predictor {
    let cfg = PredictorConfig {
        history: COMPACT_HISTORY,
        horizon: horizon.max(1),
        calibration_window: COMPACT_CALIBRATION,
        day: None,
        sizing_level: None,
        // Kept in two bytes each should the model not replay (`ar12` does).
        packed_residuals: true,
        replayed_residuals: true,
        ..PredictorConfig::default()
    };
    Predictor::new(ModelKind::Ar, Seasons::default(), cfg)
}

impl Series {
    /// A new compact series (see the module docs) sampled every `interval`, forecasting
    /// `horizon` steps, planning for violation target `violation`, keeping enough scored
    /// forecasts to count `warmup_scored` of them.
    pub fn compact_for(
        interval: Duration,
        horizon: usize,
        violation: f64,
        warmup_scored: usize,
    ) -> Self {
        let violation = if sizing::valid_violation(violation) {
            violation
        } else {
            sizing::DEFAULT_VIOLATION_TARGET
        };
        let mut s = Series::with_predictor(compact_predictor(horizon), interval, COMPACT_POINTS);
        s.violation = violation;
        s.tier = Tier::Compact;
        s.error_window = COMPACT_ERRORS.max(warmup_scored);
        s
    }

    /// Which settings this series runs.
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// Moves a full series to the compact tier: its model restarts as `ar12` on the last
    /// [`COMPACT_HISTORY`] values it learned from (fitted if it has that many), its window keeps the newest
    /// [`COMPACT_POINTS`] ticks. Its intervals are the new model's residuals replayed on that
    /// history (in sample at first); its recent errors go (a new model's errors are not the
    /// old one's): it is planned on again only once the new model has been scored
    /// `warmup_scored` times, as a new series is (`is_warm`).
    pub fn compact(&mut self, warmup_scored: usize) {
        if self.tier == Tier::Compact {
            return;
        }
        let mut p = compact_predictor(self.predictor.horizon());
        let h = self.predictor.history();
        let n = h.len().min(COMPACT_HISTORY);
        p.preload((1..=n).rev().map(|k| h.lag(k)));
        if Tier::Compact.fits_at(n as u64) {
            p.fit();
        }
        self.predictor = p;
        self.window.shrink(COMPACT_POINTS);
        self.errors = Default::default();
        self.error_window = COMPACT_ERRORS.max(warmup_scored);
        self.tier = Tier::Compact;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prescient_topology::Timestamp;

    #[test]
    fn a_compact_series_forecasts_the_last_value_until_it_has_a_full_history_to_fit_on() {
        let mut s = Series::compact_for(Duration::from_secs(64), 12, 0.01, 10);
        let ramp = |t: u64| 1_000.0 + 10.0 * t as f64;
        let values = |s: &Series| s.forecast().iter().map(|p| p.value).collect::<Vec<_>>();
        for t in 0..COMPACT_FIRST_FIT - 1 {
            s.observe(Timestamp::from_secs(64 * t), Some(ramp(t)));
        }
        // Past the schedule's refits at 16 and 64 observations: still the last value.
        let last = ramp(COMPACT_FIRST_FIT - 2);
        assert_eq!(values(&s), vec![last; 12]);
        for t in COMPACT_FIRST_FIT - 1..COMPACT_FIRST_FIT + 200 {
            s.observe(Timestamp::from_secs(64 * t), Some(ramp(t)));
        }
        // Fitted on 256 values (at 256 to 383 observations, by its refit phase): the ramp.
        let ahead = values(&s);
        let next = ramp(COMPACT_FIRST_FIT + 200);
        assert!((ahead[0] - next).abs() < 1.0, "{ahead:?}");
        assert!((ahead[11] - (next + 110.0)).abs() < 5.0, "{ahead:?}");
    }
}
