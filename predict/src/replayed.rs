//! Calibration without kept residuals, for a model whose forecasts depend only on its fit and
//! the history ([`Forecaster::replays`]: the scale tier's `ar12`). Each step's residuals over the
//! last `window` targets are recomputed from the history the predictor keeps anyway (the model
//! forecasts again from every origin they need) whenever a [`Calibrator`](crate::interval)
//! would have recomputed its bands, and only what is read from them is kept: a step's bands,
//! one quantile and its largest residual, 36 bytes where 100 residuals took 200 in two bytes
//! each, and no pending forecasts to score.
//!
//! The replayed forecasts are the ones the model made, to the bit (the same coefficients on the
//! same `f32` history): origins before the last refit are replayed with a copy of the model as
//! it was before it (kept until the window no longer reaches them, `window + horizon`
//! observations), so a refitted model is not calibrated on its own fitting rows (in sample,
//! too narrow: on Abilene's 1-hour variant, just after the first fit, 95 % coverage at step 12
//! fell from 0.92 to 0.78). Residuals differ from kept ones only by the actual's rounding to
//! `f32` (seven digits, as the history holds it). A series moved to the tier is calibrated
//! from its history at once, with the last-value forecasts of its unfitted model.

use crate::interval::{bands_of_sorted, quantile_rank, Band, MIN_RESIDUALS};
use crate::model::Forecaster;
use crate::History;

/// What a step's replayed residuals gave.
#[derive(Debug, Clone, Copy)]
struct Summary {
    /// `(lo, hi)` at each of [`crate::interval::LEVELS`].
    bands: [(f32, f32); 3],
    /// The quantile at [`Replayed::level`] (NaN: none).
    at_level: f32,
    /// The largest residual (NaN: none).
    top: f32,
    /// Residuals the step had.
    n: u16,
}

/// Per-step summaries of replayed residuals (see the module docs).
#[derive(Debug)]
pub(crate) struct Replayed {
    window: usize,
    horizon: usize,
    /// One per step up to the last with [`MIN_RESIDUALS`] (none while young: the steps after
    /// have no bands or quantiles, and most series of a large network are young).
    steps: Vec<Summary>,
    /// Observations taken at the last replay; `None`: due (never replayed, or refitted since).
    at: Option<u64>,
    /// The level `at_level` holds (NaN: none asked yet).
    level: f64,
    /// Forecasts are clamped at zero, as the predictor clamps them.
    non_negative: bool,
    /// The model before the last refit, while the window reaches origins it forecast from.
    before: Option<Box<Before>>,
}

/// A model as it was before a refit.
#[derive(Debug)]
struct Before {
    model: Box<dyn Forecaster>,
    /// The observation (row) of the first origin the refitted model forecast from.
    until: u64,
}

impl Replayed {
    /// Replayed calibration of steps `1..=horizon` over the last `window` targets.
    pub(crate) fn new(horizon: usize, window: usize, non_negative: bool) -> Self {
        Self {
            window: window.clamp(MIN_RESIDUALS, usize::from(u16::MAX)),
            horizon: horizon.max(1),
            steps: Vec::new(),
            at: None,
            level: f64::NAN,
            non_negative,
            before: None,
        }
    }

    /// The model was refitted: `before` is a copy of it as it was (its forecasts from origins
    /// before row `from` are replayed with it); replays at the next read.
    pub(crate) fn refitted(&mut self, before: Option<Box<dyn Forecaster>>, from: u64) {
        self.at = None;
        self.before = before.map(|model| Box::new(Before { model, until: from }));
    }

    /// Replays if due after `rows` observations: as a kept window's bands, once a twentieth of
    /// the window is new, and at every observation while the window is not yet full.
    pub(crate) fn refresh(&mut self, hist: &History, model: &dyn Forecaster, rows: u64) {
        let due = match self.at {
            None => true,
            Some(at) => {
                let stale = rows.saturating_sub(at);
                let full = self.steps.len() == self.horizon
                    && self
                        .steps
                        .last()
                        .is_some_and(|s| usize::from(s.n) >= self.window);
                stale >= (self.window / 20).max(1) as u64 || (stale > 0 && !full)
            }
        };
        if due {
            self.replay(hist, model, rows);
            self.at = Some(rows);
        }
    }

    fn summary(&self, step: usize) -> Option<&Summary> {
        self.steps.get(step.clamp(1, self.horizon) - 1)
    }

    /// Bands of `step` (steps beyond the horizon use the last one) as of the last replay.
    pub(crate) fn bands(&self, step: usize) -> [Band; 3] {
        let b = self
            .summary(step)
            .map_or([(f32::NEG_INFINITY, f32::INFINITY); 3], |s| s.bands);
        b.map(|(lo, hi)| Band {
            lo: f64::from(lo),
            hi: f64::from(hi),
        })
    }

    /// Residuals `step` had at the last replay (of `hist`, for a step with fewer than
    /// [`MIN_RESIDUALS`]: the values after the `step`-th held, as a replay counts them while
    /// it reaches back to the oldest).
    pub(crate) fn count(&self, hist: &History, step: usize) -> usize {
        let step = step.clamp(1, self.horizon);
        match self.steps.get(step - 1) {
            Some(s) => usize::from(s.n),
            None => (1..=hist.len().saturating_sub(step))
                .filter(|&k| hist.lag(k).is_some())
                .count(),
        }
    }

    /// The `level` quantile of `step`'s residuals as of the last replay (the rule of
    /// `Calibrator::quantile`); replays again for a level other than the last one asked, unless
    /// it is the largest residual.
    pub(crate) fn quantile(
        &mut self,
        hist: &History,
        model: &dyn Forecaster,
        rows: u64,
        step: usize,
        level: f64,
    ) -> Option<f64> {
        if !(level > 0.0 && level < 1.0) {
            return None;
        }
        let n = self.count(hist, step);
        let rank = quantile_rank(n, level)?;
        if rank < n && level != self.level {
            self.level = level;
            self.replay(hist, model, rows);
        }
        let s = self.summary(step)?;
        let q = if rank == n { s.top } else { s.at_level };
        (!q.is_nan()).then_some(f64::from(q))
    }

    /// Recomputes every step's summary from the residuals of the forecasts the model makes
    /// again from the history.
    fn replay(&mut self, hist: &History, model: &dyn Forecaster, rows: u64) {
        let (h, len) = (self.horizon, hist.len());
        let values = hist.to_vec();
        // Targets: the newest `window` with a value, from the second held (the first has no
        // forecast made for it here).
        let mut first = len;
        let mut found = 0;
        while first > 1 && found < self.window {
            first -= 1;
            found += usize::from(values.get(first).is_some_and(|v| v.is_finite()));
        }
        let origin0 = first.saturating_sub(h);
        // Origins from `split` on were forecast from by the model as fitted now.
        let oldest = rows.saturating_sub(len as u64);
        let split = self.before.as_ref().map_or(0, |b| {
            usize::try_from(b.until.saturating_sub(oldest)).map_or(len, |s| s.min(len))
        });
        let mut made = Vec::new();
        match self.before.as_ref().filter(|_| split > origin0) {
            Some(b) => {
                b.model.replay(
                    values.get(..split).unwrap_or(&values),
                    origin0,
                    h,
                    &mut made,
                );
                let mut since = Vec::new();
                model.replay(&values, split, h, &mut since);
                made.append(&mut since);
            }
            None => {
                self.before = None;
                model.replay(&values, origin0, h, &mut made);
            }
        }
        let floor = if self.non_negative {
            0.0
        } else {
            f64::NEG_INFINITY
        };
        let forecast = |origin: usize, step: usize| -> Option<f64> {
            let f = made.get((origin.checked_sub(origin0)?) * h + step - 1)?;
            Some(f.max(floor))
        };
        let mut residuals: Vec<f32> = Vec::with_capacity(found);
        let mut steps = Vec::with_capacity(h);
        for step in 1..=h {
            residuals.clear();
            for t in first.max(step)..len {
                let Some(y) = values.get(t).copied().filter(|v| v.is_finite()) else {
                    continue;
                };
                if let Some(f) = forecast(t - step, step) {
                    let r = y - f;
                    if r.is_finite() {
                        residuals.push(r as f32);
                    }
                }
            }
            residuals.sort_unstable_by(f32::total_cmp);
            let n = residuals.len();
            let at = |rank: Option<usize>| {
                rank.and_then(|r| residuals.get(r - 1).copied())
                    .unwrap_or(f32::NAN)
            };
            steps.push(Summary {
                bands: bands_of_sorted(&residuals),
                at_level: at(quantile_rank(n, self.level).filter(|_| self.level < 1.0)),
                top: residuals.last().copied().unwrap_or(f32::NAN),
                n: u16::try_from(n).unwrap_or(u16::MAX),
            });
        }
        // Exactly as many as have bands: `n` only falls with the step.
        let calibrated = steps
            .iter()
            .take_while(|s| usize::from(s.n) >= MIN_RESIDUALS)
            .count();
        self.steps = steps
            .get(..calibrated)
            .map_or_else(Vec::new, <[Summary]>::to_vec);
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.steps.capacity() * std::mem::size_of::<Summary>()
            + self.before.as_ref().map_or(0, |b| {
                std::mem::size_of::<Before>()
                    + std::mem::size_of_val(b.model.as_ref())
                    + b.model.heap_bytes()
            })
    }
}
