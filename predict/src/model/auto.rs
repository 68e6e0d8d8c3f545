//! Model `auto`: runs every candidate model on the series, scores each one's forecasts per horizon
//! against the actuals as they arrive (a rolling-origin backtest that never stops), and forecasts a
//! combination weighted by recent error, so the choice follows the series as it evolves.
//!
//! Invariant: `pending[i]` holds the candidates' forecasts made `i + 1` observations ago, so the
//! forecast of step `s` made at that origin is scored against the observation `s` steps later.

use super::{Ets, Forecaster, ModelKind, Naive, Regression, RegressionConfig, SeasonalNaive};
use crate::{History, Seasons};
use std::collections::VecDeque;

/// Tunables of model `auto`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoConfig {
    /// Horizons scored separately; longer horizons reuse the weights of the last one.
    pub tracked_horizon: usize,
    /// Error memory in steps (exponential forgetting); `None` uses about an hour (a 24th of the
    /// daily period, or 12 steps): traffic switches regime quickly, and the model that was best
    /// in the last hour is the best guess for the next one.
    pub memory: Option<usize>,
    /// Weight exponent: weights are `mse^-power` (larger concentrates on the best model).
    pub power: f64,
}

impl Default for AutoConfig {
    fn default() -> Self {
        Self {
            tracked_horizon: 12,
            memory: None,
            power: 2.0,
        }
    }
}

/// Error-weighted combination of naive, seasonal naive, ETS and regression.
#[derive(Debug)]
pub struct Auto {
    cfg: AutoConfig,
    candidates: Vec<Box<dyn Forecaster>>,
    /// Exponentially weighted mean squared error, `[candidate][horizon - 1]`.
    mse: Vec<Vec<f64>>,
    /// Candidates' forecasts at recent origins, newest first: `[origin][candidate][step - 1]`.
    pending: VecDeque<Vec<Vec<f64>>>,
    decay: f64,
    /// `hist.pushed()` at which `pending[0]` was made.
    made_at: u64,
}

impl Auto {
    /// An unfitted combination for a series with the given seasons.
    pub fn new(seasons: Seasons, cfg: AutoConfig) -> Self {
        Self::with_extra(seasons, cfg, Vec::new())
    }

    /// A combination with further candidates besides the standard ones (e.g. a pooled model).
    pub fn with_extra(seasons: Seasons, cfg: AutoConfig, extra: Vec<Box<dyn Forecaster>>) -> Self {
        let mut candidates: Vec<Box<dyn Forecaster>> = vec![
            Box::new(Naive),
            Box::new(SeasonalNaive::new(seasons)),
            Box::new(Ets::new(seasons)),
            Box::new(Regression::new(
                seasons,
                RegressionConfig::for_seasons(seasons),
            )),
        ];
        candidates.extend(extra);
        let memory = cfg
            .memory
            .or(seasons.day.map(|d| d / 24))
            .unwrap_or(12)
            .max(2);
        let h = cfg.tracked_horizon.max(1);
        Self {
            mse: vec![vec![f64::NAN; h]; candidates.len()],
            candidates,
            pending: VecDeque::with_capacity(h + 1),
            decay: 1.0 / memory as f64,
            made_at: u64::MAX,
            cfg: AutoConfig {
                tracked_horizon: h,
                ..cfg
            },
        }
    }

    /// Current weight of each candidate for forecast step `step` (sums to one).
    pub fn weights(&self, step: usize) -> Vec<(ModelKind, f64)> {
        let hi = step.clamp(1, self.cfg.tracked_horizon) - 1;
        let raw: Vec<f64> = self
            .mse
            .iter()
            .map(|m| match m.get(hi) {
                Some(&e) if e.is_finite() => e.max(1e-18).powf(-self.cfg.power),
                _ => 1.0,
            })
            .collect();
        let total: f64 = raw.iter().sum();
        self.candidates
            .iter()
            .zip(raw)
            .map(|(c, w)| (c.kind(), if total > 0.0 { w / total } else { 0.0 }))
            .collect()
    }

    /// The candidate with the largest weight at `step`.
    pub fn leader(&self, step: usize) -> Option<ModelKind> {
        self.weights(step)
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(k, _)| k)
    }

    fn candidate_forecasts(&self, hist: &History, h: usize) -> Vec<Vec<f64>> {
        self.candidates
            .iter()
            .map(|c| {
                let mut out = Vec::with_capacity(h);
                c.forecast(hist, h, &mut out);
                out
            })
            .collect()
    }

    fn combine(&self, per_model: &[Vec<f64>], h: usize, out: &mut Vec<f64>) {
        out.clear();
        for s in 1..=h {
            let w = self.weights(s);
            let y = per_model
                .iter()
                .zip(&w)
                .map(|(f, (_, w))| f.get(s - 1).copied().unwrap_or(0.0) * w)
                .sum();
            out.push(y);
        }
    }
}

impl Forecaster for Auto {
    fn kind(&self) -> ModelKind {
        ModelKind::Auto
    }

    fn fit(&mut self, hist: &History) {
        for c in &mut self.candidates {
            c.fit(hist);
        }
        self.pending.clear();
        self.pending
            .push_front(self.candidate_forecasts(hist, self.cfg.tracked_horizon));
        self.made_at = hist.pushed();
    }

    fn observe(&mut self, hist: &History) {
        for c in &mut self.candidates {
            c.observe(hist);
        }
        if let Some(y) = hist.lag(1) {
            for (age, origin) in self.pending.iter().enumerate() {
                // Made `age + 1` observations ago: its step `age + 1` targets this observation.
                for (ci, f) in origin.iter().enumerate() {
                    if let (Some(&p), Some(m)) = (
                        f.get(age),
                        self.mse.get_mut(ci).and_then(|m| m.get_mut(age)),
                    ) {
                        let e2 = (y - p) * (y - p);
                        *m = if m.is_finite() {
                            *m + self.decay * (e2 - *m)
                        } else {
                            e2
                        };
                    }
                }
            }
        }
        let h = self.cfg.tracked_horizon;
        self.pending.push_front(self.candidate_forecasts(hist, h));
        self.pending.truncate(h);
        self.made_at = hist.pushed();
    }

    fn forecast(&self, hist: &History, h: usize, out: &mut Vec<f64>) {
        match self.pending.front() {
            Some(latest) if self.made_at == hist.pushed() && h <= self.cfg.tracked_horizon => {
                self.combine(latest, h, out)
            }
            _ => {
                let per_model = self.candidate_forecasts(hist, h);
                self.combine(&per_model, h, out)
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        let h = self.cfg.tracked_horizon;
        let n = self.candidates.len();
        self.candidates
            .iter()
            .map(|c| c.heap_bytes())
            .sum::<usize>()
            + n * h * 8
            + self.pending.len() * n * h * 8
    }
}

#[cfg(test)]
mod tests {
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
}
