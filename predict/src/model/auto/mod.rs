//! Model `auto`: runs every candidate model on the series, scores each one's forecasts per horizon
//! against the actuals as they arrive (a rolling-origin backtest that never stops), and forecasts a
//! combination weighted by recent error, so the choice follows the series as it evolves.
//!
//! Invariant: `pending[i]` holds the candidates' forecasts made `i + 1` observations ago, so the
//! forecast of step `s` made at that origin is scored against the observation `s` steps later.

mod guard;

use super::{Ar, Ets, Forecaster, ModelKind, Naive, Regression, RegressionConfig, SeasonalNaive};
use crate::linalg::NormalEquations;
use crate::{History, Seasons};
use guard::Guard;
use std::collections::VecDeque;

/// Tunables of model `auto`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoConfig {
    /// Horizons scored separately; longer horizons reuse the weights of the last one.
    pub tracked_horizon: usize,
    /// Error memory in steps (exponential forgetting). `None` runs a ladder of memories derived
    /// from the daily period (a 96th, a 24th and a 6th of a day: 15 min, 1 h, 4 h at any
    /// interval; 3, 12 and 48 steps without a day period) and lets each series pick among them
    /// by their own recent error: how fast a series switches regime is a property of the
    /// series, so it is chosen per series on its past (the validation split warms it) rather
    /// than fixed once for every trace.
    pub memory: Option<usize>,
    /// Memory in steps of the error that weighs the ladder's combinations; `None` uses a day
    /// (or 288 steps): slower than any rung, so it judges them over a full daily cycle.
    pub selector_memory: Option<usize>,
    /// Weight exponent: weights are `mse^-power` (larger concentrates on the best model).
    pub power: f64,
    /// Ridge of the stacking correction, relative to the mean diagonal of its normal equations
    /// (about `stack_ridge × selector memory` pseudo-observations pulling it to zero). 0.03 had
    /// the lowest pooled MSE on the second half of Abilene's validation split among
    /// 0.01 / 0.03 / 0.1 / 0.3 / 1.
    pub stack_ridge: f64,
}

impl Default for AutoConfig {
    fn default() -> Self {
        Self {
            tracked_horizon: 12,
            memory: None,
            selector_memory: None,
            power: 2.0,
            stack_ridge: 0.03,
        }
    }
}

/// Exponentially weighted mean of squared errors, bias-corrected: until `memory` errors have been
/// seen it is their plain mean (a slow memory must not stay stuck on its first error).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Ewm {
    /// The weighted mean; meaningless while `n == 0`.
    pub mean: f64,
    /// Errors seen.
    pub n: u64,
}

impl Ewm {
    /// Takes one squared error with forgetting `decay` (1 / memory).
    pub fn update(&mut self, e2: f64, decay: f64) {
        if !e2.is_finite() {
            return;
        }
        self.n += 1;
        let rate = decay.max(1.0 / self.n as f64);
        self.mean += rate * (e2 - self.mean);
    }

    /// True once an error has been seen.
    pub fn is_scored(&self) -> bool {
        self.n > 0
    }

    /// The mean, NaN before the first error.
    pub fn value(&self) -> f64 {
        if self.is_scored() {
            self.mean
        } else {
            f64::NAN
        }
    }
}

/// Normalised `mse^-power` weights; an unscored entry counts as weight one before normalising.
fn inverse_power_weights(mse: impl Iterator<Item = f64>, power: f64) -> Vec<f64> {
    let raw: Vec<f64> = mse
        .map(|e| {
            if e.is_finite() {
                e.max(1e-18).powf(-power)
            } else {
                1.0
            }
        })
        .collect();
    let total: f64 = raw.iter().sum();
    raw.into_iter()
        .map(|w| if total > 0.0 { w / total } else { 0.0 })
        .collect()
}

/// A combination's forecasts in one of `Auto`'s `pending_made` vectors: the rungs' in order, then
/// the base, stacked and mixed ones, `tracked_horizon` steps each.
#[derive(Debug, Clone, Copy)]
enum Made {
    Rung(usize),
    Base,
    Stacked,
    Mixed,
}

impl Made {
    /// Index of step `age + 1` of this combination with `rungs` rungs and `horizon` steps each.
    fn index(self, rungs: usize, horizon: usize, age: usize) -> usize {
        let slot = match self {
            Made::Rung(r) => r,
            Made::Base => rungs,
            Made::Stacked => rungs + 1,
            Made::Mixed => rungs + 2,
        };
        slot * horizon + age
    }
}

/// Error-weighted combination of naive, seasonal naive, ETS, regression and the reference
/// autoregression, guarded against losing to the best of them.
///
/// Two levels: for each memory of the ladder, candidates are weighted by `mse^-power` of their
/// errors under that memory (one combination per rung); the rungs' combinations are themselves
/// scored, with the slower selector memory, and weighted the same way. Both levels are linear,
/// so the forecast is one weighted sum of the candidates' forecasts ([`Auto::weights`]).
#[derive(Debug)]
pub struct Auto {
    cfg: AutoConfig,
    candidates: Vec<Box<dyn Forecaster>>,
    /// Forgetting factor of each rung of the memory ladder.
    decays: Vec<f64>,
    /// Exponentially weighted mean squared error, `[rung][candidate][horizon - 1]`.
    mse: Vec<Vec<Vec<Ewm>>>,
    /// Same for each rung's combined forecast, `[rung][horizon - 1]`, with `selector_decay`.
    rung_mse: Vec<Vec<Ewm>>,
    selector_decay: f64,
    /// Candidates' forecasts at recent origins, newest first: `[origin][candidate][step - 1]`.
    pending: VecDeque<Vec<Vec<f64>>>,
    /// What the combinations forecast at the same origins, one flat vector per origin (one
    /// allocation instead of seven: a series holds twelve origins): each rung's combination, then
    /// the base, stacked and mixed ones, `tracked_horizon` steps each (see [`Made`]).
    pending_made: VecDeque<Vec<f64>>,
    /// Stacking: per horizon, forgetting least squares of the base combination's error on the
    /// candidates' deviations from it.
    stack: Vec<NormalEquations>,
    /// Current stacking coefficients per horizon (`None` until solvable).
    beta: Vec<Option<Vec<f64>>>,
    /// Selector-memory MSE of the base combination and of the stacked one, per horizon.
    base_mse: Vec<Ewm>,
    stacked_mse: Vec<Ewm>,
    /// Per horizon, the guard against losing to the best single candidate.
    guards: Vec<Guard>,
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
            Box::new(Ar::new()),
        ];
        candidates.extend(extra);
        let day = seasons.day.unwrap_or(288);
        // Memories are spans of time (15 min, 1 h, 4 h, a day) with a floor in steps: at long
        // intervals, or when the "day" is a short period found blind, a memory of one or two
        // steps would weigh the candidates by noise.
        let memories: Vec<usize> = match cfg.memory {
            Some(m) => vec![m],
            None => vec![(day / 96).max(4), (day / 24).max(12), (day / 6).max(48)],
        };
        let decays: Vec<f64> = memories.iter().map(|&m| 1.0 / m.max(2) as f64).collect();
        let selector = cfg.selector_memory.unwrap_or(day.max(96)).max(2);
        let guard_memory = (4 * day).max(384);
        let h = cfg.tracked_horizon.max(1);
        let n_cand = candidates.len();
        Self {
            mse: vec![vec![vec![Ewm::default(); h]; candidates.len()]; decays.len()],
            rung_mse: vec![vec![Ewm::default(); h]; decays.len()],
            decays,
            selector_decay: 1.0 / selector as f64,
            candidates,
            pending: VecDeque::with_capacity(h + 1),
            pending_made: VecDeque::with_capacity(h + 1),
            stack: vec![NormalEquations::new(n_cand); h],
            beta: vec![None; h],
            base_mse: vec![Ewm::default(); h],
            stacked_mse: vec![Ewm::default(); h],
            guards: vec![Guard::new(n_cand, 1.0 / guard_memory as f64); h],
            made_at: u64::MAX,
            cfg: AutoConfig {
                tracked_horizon: h,
                ..cfg
            },
        }
    }

    fn horizon_index(&self, step: usize) -> usize {
        step.clamp(1, self.cfg.tracked_horizon) - 1
    }

    /// Weights of the candidates within rung `r` at horizon index `hi`.
    fn rung_weights(&self, r: usize, hi: usize) -> Vec<f64> {
        let rung = self.mse.get(r);
        inverse_power_weights(
            (0..self.candidates.len()).map(|c| {
                rung.and_then(|m| m.get(c))
                    .and_then(|m| m.get(hi))
                    .map_or(f64::NAN, Ewm::value)
            }),
            self.cfg.power,
        )
    }

    /// Effective weight of each candidate for forecast step `step`: the combination's weights
    /// moved by the guard towards its anchor candidate.
    pub fn weights(&self, step: usize) -> Vec<(ModelKind, f64)> {
        let hi = self.horizon_index(step);
        let mut w = self.mixed_weights(step);
        if let Some((anchor, g)) = self.guards.get(hi).and_then(Guard::anchor) {
            for (i, (_, wi)) in w.iter_mut().enumerate() {
                *wi = g * *wi + if i == anchor { 1.0 - g } else { 0.0 };
            }
        }
        w
    }

    /// Weights before the guard: the base combination's weights (which sum to one) moved by the
    /// stacking correction in proportion to its share.
    fn mixed_weights(&self, step: usize) -> Vec<(ModelKind, f64)> {
        let hi = self.horizon_index(step);
        let base = self.base_weights(step);
        let top = inverse_power_weights(
            [
                self.base_mse.get(hi).map_or(f64::NAN, Ewm::value),
                self.stacked_mse.get(hi).map_or(f64::NAN, Ewm::value),
            ]
            .into_iter(),
            self.cfg.power,
        );
        let share = top.get(1).copied().unwrap_or(0.0);
        match self.beta.get(hi) {
            Some(Some(beta)) => {
                let sum: f64 = beta.iter().sum();
                base.into_iter()
                    .zip(beta)
                    .map(|((k, w), b)| (k, w + share * (b - sum * w)))
                    .collect()
            }
            _ => base,
        }
    }

    /// Stacked-forecast weights (base moved fully by the correction) at `step`.
    fn stacked_weights(&self, step: usize) -> Vec<f64> {
        let hi = self.horizon_index(step);
        let base = self.base_weights(step);
        match self.beta.get(hi) {
            Some(Some(beta)) => {
                let sum: f64 = beta.iter().sum();
                base.into_iter()
                    .zip(beta)
                    .map(|((_, w), b)| w + b - sum * w)
                    .collect()
            }
            _ => base.into_iter().map(|(_, w)| w).collect(),
        }
    }

    /// Weights of the two-level error-weighted combination at `step` (sum to one).
    fn base_weights(&self, step: usize) -> Vec<(ModelKind, f64)> {
        let hi = self.horizon_index(step);
        let top = inverse_power_weights(
            self.rung_mse
                .iter()
                .map(|m| m.get(hi).map_or(f64::NAN, Ewm::value)),
            self.cfg.power,
        );
        let mut w = vec![0.0; self.candidates.len()];
        for (r, tw) in top.iter().enumerate() {
            for (acc, cw) in w.iter_mut().zip(self.rung_weights(r, hi)) {
                *acc += tw * cw;
            }
        }
        self.candidates
            .iter()
            .zip(w)
            .map(|(c, w)| (c.kind(), w))
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

    /// Appends each rung's combined forecast of steps `1..=h` to `out`, rung after rung.
    fn rung_forecasts(&self, per_model: &[Vec<f64>], h: usize, out: &mut Vec<f64>) {
        for r in 0..self.decays.len() {
            out.extend((1..=h).map(|s| -> f64 {
                per_model
                    .iter()
                    .zip(self.rung_weights(r, self.horizon_index(s)))
                    .map(|(f, w)| f.get(s - 1).copied().unwrap_or(0.0) * w)
                    .sum()
            }));
        }
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

    fn push_origin(&mut self, hist: &History) {
        let h = self.cfg.tracked_horizon;
        let per_model = self.candidate_forecasts(hist, h);
        let dot = |w: &[f64], s: usize| -> f64 {
            per_model
                .iter()
                .zip(w)
                .map(|(f, w)| f.get(s - 1).copied().unwrap_or(0.0) * w)
                .sum()
        };
        let base: Vec<f64> = (1..=h)
            .map(|s| {
                let w: Vec<f64> = self.base_weights(s).into_iter().map(|(_, w)| w).collect();
                dot(&w, s)
            })
            .collect();
        let stacked: Vec<f64> = (1..=h).map(|s| dot(&self.stacked_weights(s), s)).collect();
        let mixed: Vec<f64> = (1..=h)
            .map(|s| {
                let w: Vec<f64> = self.mixed_weights(s).into_iter().map(|(_, w)| w).collect();
                dot(&w, s)
            })
            .collect();
        let mut made = Vec::with_capacity((self.decays.len() + 3) * h);
        self.rung_forecasts(&per_model, h, &mut made);
        made.extend(base);
        made.extend(stacked);
        made.extend(mixed);
        self.pending_made.push_front(made);
        self.pending_made.truncate(h);
        self.pending.push_front(per_model);
        self.pending.truncate(h);
        self.made_at = hist.pushed();
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
        self.pending_made.clear();
        self.push_origin(hist);
    }

    fn observe(&mut self, hist: &History) {
        for c in &mut self.candidates {
            c.observe(hist);
        }
        if let Some(y) = hist.lag(1) {
            let (rungs, horizon) = (self.decays.len(), self.cfg.tracked_horizon);
            for (age, (origin, made)) in self.pending.iter().zip(&self.pending_made).enumerate() {
                let at = |which: Made| made.get(which.index(rungs, horizon, age)).copied();
                // Made `age + 1` observations ago: its step `age + 1` targets this observation.
                for (ci, f) in origin.iter().enumerate() {
                    let Some(&p) = f.get(age) else { continue };
                    let e2 = (y - p) * (y - p);
                    for (rung, &decay) in self.mse.iter_mut().zip(&self.decays) {
                        if let Some(m) = rung.get_mut(ci).and_then(|m| m.get_mut(age)) {
                            m.update(e2, decay);
                        }
                    }
                }
                if let (Some(mixed), Some(guard)) = (at(Made::Mixed), self.guards.get_mut(age)) {
                    let cands: Vec<f64> = origin
                        .iter()
                        .map(|f| f.get(age).copied().unwrap_or(mixed))
                        .collect();
                    guard.observe(&cands, mixed, y);
                }
                if let (Some(base), Some(stacked)) = (at(Made::Base), at(Made::Stacked)) {
                    if let Some(m) = self.base_mse.get_mut(age) {
                        m.update((y - base) * (y - base), self.selector_decay);
                    }
                    if let Some(m) = self.stacked_mse.get_mut(age) {
                        m.update((y - stacked) * (y - stacked), self.selector_decay);
                    }
                    let x: Vec<f64> = origin
                        .iter()
                        .map(|f| f.get(age).copied().unwrap_or(base) - base)
                        .collect();
                    if let Some(ne) = self.stack.get_mut(age) {
                        ne.scale(1.0 - self.selector_decay);
                        ne.add(&x, y - base, 1.0);
                    }
                }
                for r in 0..rungs {
                    if let (Some(p), Some(m)) = (
                        at(Made::Rung(r)),
                        self.rung_mse.get_mut(r).and_then(|m| m.get_mut(age)),
                    ) {
                        m.update((y - p) * (y - p), self.selector_decay);
                    }
                }
            }
        }
        let ridge = self.cfg.stack_ridge;
        for (beta, ne) in self.beta.iter_mut().zip(&self.stack) {
            *beta = ne.solve(ridge);
        }
        self.push_origin(hist);
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
        let r = self.decays.len();
        self.candidates
            .iter()
            .map(|c| c.heap_bytes())
            .sum::<usize>()
            + r * (n + 1) * h * 16
            + self.pending.len() * (n + r + 3) * h * 8
            + self.guards.iter().map(Guard::heap_bytes).sum::<usize>()
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
