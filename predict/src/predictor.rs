//! One series' forecaster: its history window, its model and its interval calibrator, driven one
//! observation at a time. Every observation scores the forecasts made for it (feeding the
//! calibrator), then a fresh forecast is made from the new origin.

use crate::interval::{Band, Calibrator};
use crate::model::{Forecaster, ModelKind};
use crate::{History, Seasons};
use std::collections::VecDeque;

/// Settings of a [`Predictor`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictorConfig {
    /// Observations kept in the history window.
    pub history: usize,
    /// Horizon forecast at every step (and calibrated).
    pub horizon: usize,
    /// Residuals kept per horizon for calibration.
    pub calibration_window: usize,
    /// Clamp forecasts and bounds at zero (traffic is never negative).
    pub non_negative: bool,
}

impl Default for PredictorConfig {
    fn default() -> Self {
        Self {
            history: 4096,
            horizon: 12,
            calibration_window: 500,
            non_negative: true,
        }
    }
}

/// A forecast from one origin: points and bounds for steps `1..=h`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Forecast {
    /// Point forecasts, `points[s - 1]` for step `s`.
    pub points: Vec<f64>,
    /// Per step, bands at 80 %, 95 % and 99 % as absolute bounds `(lo, hi)`.
    pub bounds: Vec<[(f64, f64); 3]>,
}

impl Forecast {
    /// Bounds of step `step` (1-based) at the level index (0: 80 %, 1: 95 %, 2: 99 %).
    pub fn interval(&self, step: usize, level: usize) -> Option<(f64, f64)> {
        self.bounds.get(step.checked_sub(1)?)?.get(level).copied()
    }
}

/// History, model and calibrator of one series.
#[derive(Debug)]
pub struct Predictor {
    cfg: PredictorConfig,
    hist: History,
    model: Box<dyn Forecaster>,
    cal: Calibrator,
    /// Point forecasts of recent origins, newest first.
    recent: VecDeque<Vec<f64>>,
}

impl Predictor {
    /// A predictor with a model of `kind` for a series with `seasons`.
    pub fn new(kind: ModelKind, seasons: Seasons, cfg: PredictorConfig) -> Self {
        Self::with_model(kind.build(seasons), cfg)
    }

    /// A predictor around an already-built model.
    pub fn with_model(model: Box<dyn Forecaster>, cfg: PredictorConfig) -> Self {
        let horizon = cfg.horizon.max(1);
        Self {
            hist: History::with_capacity(cfg.history),
            model,
            cal: Calibrator::new(horizon, cfg.calibration_window),
            recent: VecDeque::with_capacity(horizon + 1),
            cfg: PredictorConfig { horizon, ..cfg },
        }
    }

    /// Loads observations without forecasting (before the first `fit`).
    pub fn preload(&mut self, values: impl IntoIterator<Item = Option<f64>>) {
        for v in values {
            self.hist.push(v);
        }
    }

    /// Fits (or refits) the model on the history and forecasts from the latest observation.
    pub fn fit(&mut self) {
        self.model.fit(&self.hist);
        self.refresh();
    }

    /// Takes one observation (`None` for a gap): scores past forecasts, updates, forecasts anew.
    pub fn observe(&mut self, value: Option<f64>) {
        let value = value.filter(|v| v.is_finite());
        if let Some(y) = value {
            for (age, f) in self.recent.iter().enumerate() {
                if let Some(&p) = f.get(age) {
                    self.cal.record(age + 1, y - p);
                }
            }
        }
        self.hist.push(value);
        self.model.observe(&self.hist);
        self.refresh();
    }

    fn refresh(&mut self) {
        let h = self.cfg.horizon;
        let mut out = if self.recent.len() >= h {
            self.recent.pop_back()
        } else {
            None
        }
        .unwrap_or_default();
        self.model.forecast(&self.hist, h, &mut out);
        if self.cfg.non_negative {
            out.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        self.recent.push_front(out);
        self.recent.truncate(h);
    }

    /// The latest point forecasts (steps `1..=horizon`).
    pub fn points(&self) -> &[f64] {
        self.recent.front().map_or(&[], Vec::as_slice)
    }

    /// The latest forecast with its calibrated intervals, for steps `1..=h` (`h ≤ horizon`).
    pub fn forecast(&mut self, h: usize) -> Forecast {
        let h = h.min(self.cfg.horizon);
        let points: Vec<f64> = self.points().iter().take(h).copied().collect();
        let floor = if self.cfg.non_negative {
            0.0
        } else {
            f64::NEG_INFINITY
        };
        let bounds = points
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                self.cal
                    .bands(i + 1)
                    .map(|Band { lo, hi }| ((p + lo).max(floor), p + hi))
            })
            .collect();
        Forecast { points, bounds }
    }

    /// Interval bands (offsets) for `step` at 80/95/99 %.
    pub fn bands(&mut self, step: usize) -> [Band; 3] {
        self.cal.bands(step)
    }

    /// The series' history window.
    pub fn history(&self) -> &History {
        &self.hist
    }

    /// The model.
    pub fn model(&self) -> &dyn Forecaster {
        self.model.as_ref()
    }

    /// Residuals calibrated so far at `step`.
    pub fn calibrated(&self, step: usize) -> usize {
        self.cal.count(step)
    }

    /// Heap bytes held by history, model, calibrator and recent forecasts.
    pub fn heap_bytes(&self) -> usize {
        self.hist.heap_bytes()
            + self.model.heap_bytes()
            + self.cal.heap_bytes()
            + self.recent.iter().map(|f| f.capacity() * 8).sum::<usize>()
    }
}
