//! Model `auto`: runs every candidate model on the series, scores each one's forecasts per horizon
//! against the actuals as they arrive (a rolling-origin backtest that never stops), and forecasts a
//! combination weighted by recent error, so the choice follows the series as it evolves.
//!
//! Invariant: the forecasts of the origin made `i + 1` observations ago are held from step
//! `i + 1` on ([`Pending`]), so the forecast of step `s` made at that origin is scored against the
//! observation `s` steps later.

mod guard;

use super::{Ar, Ets, Forecaster, ModelKind, Naive, Regression, RegressionConfig, SeasonalNaive};
use crate::linalg::NormalEquations;
use crate::{History, Seasons};
use guard::Guard;

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
///
/// Packed to 12 bytes (a series holds about 250 of them, 16 bytes each with padding); read its
/// fields by value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C, packed(4))]
pub(crate) struct Ewm {
    /// The weighted mean; meaningless while `n == 0`.
    pub mean: f64,
    /// Errors seen (saturating: past 4 billion, `1 / n` is far below any memory's decay).
    pub n: u32,
}

impl Ewm {
    /// Takes one squared error with forgetting `decay` (1 / memory).
    pub fn update(&mut self, e2: f64, decay: f64) {
        if !e2.is_finite() {
            return;
        }
        self.n = self.n.saturating_add(1);
        let rate = decay.max(1.0 / f64::from(self.n));
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

/// A combination's forecast in a [`Pending`] slot, after the candidates' own: the rungs' in
/// order, then the base, stacked and mixed ones.
#[derive(Debug, Clone, Copy)]
enum Made {
    Rung(usize),
    Base,
    Stacked,
    Mixed,
}

impl Made {
    /// Index in a slot of `candidates` candidates and `rungs` rungs.
    fn index(self, candidates: usize, rungs: usize) -> usize {
        candidates
            + match self {
                Made::Rung(r) => r,
                Made::Base => rungs,
                Made::Stacked => rungs + 1,
                Made::Mixed => rungs + 2,
            }
    }
}

/// The forecasts of recent origins that are still to be scored, as the triangle scoring reads:
/// step `s` of an origin is read once, `s` observations after it was made, so only the last `s`
/// origins' forecasts of step `s` are kept (78 slots for 12 steps, not 144). Step `s` of origin
/// number `o` lives in slot `o mod s`; the next origin overwrites the slot just read. Slots are
/// grouped by that index (group `j` holds slot `j` of steps `j + 1..=horizon`), so the storage
/// grows a group per origin until the horizon's worth: a series that has made few forecasts (at
/// 10,000 switches a series steps every 128 s) holds few. A slot holds every candidate's
/// forecast, then every combination's ([`Made`]).
#[derive(Debug, Clone)]
struct Pending {
    /// Values a slot holds.
    width: usize,
    /// Steps forecast per origin.
    horizon: usize,
    /// Group `j` starts at slot `j · horizon − j (j − 1) / 2`; as many groups as origins made,
    /// up to the horizon.
    values: Vec<f64>,
    /// Origins pushed since the last clear; the newest is number `origins − 1`.
    origins: u64,
}

impl Pending {
    fn new(width: usize, horizon: usize) -> Self {
        Self {
            width,
            horizon,
            values: Vec::new(),
            origins: 0,
        }
    }

    /// Origins held: the newest `min(origins, horizon)`.
    fn len(&self) -> usize {
        self.origins.min(self.horizon as u64) as usize
    }

    fn clear(&mut self) {
        self.origins = 0;
    }

    /// Index of the first value of step `step`'s (1-based) slot for origin number `origin`.
    fn at(&self, step: usize, origin: u64) -> usize {
        let j = (origin % step as u64) as usize;
        (group_start(j, self.horizon) + step - 1 - j) * self.width
    }

    /// The slot of step `step` (1-based) of origin number `origin`.
    fn slot(&self, step: usize, origin: u64) -> Option<&[f64]> {
        let at = self.at(step, origin);
        self.values.get(at..at + self.width)
    }

    /// The slot of step `age + 1` of the origin made `age + 1` observations ago (`age <
    /// len()`): the forecasts of the observation just taken.
    fn due(&self, age: usize) -> Option<&[f64]> {
        let origin = self.origins.checked_sub(1 + age as u64)?;
        self.slot(age + 1, origin)
    }

    /// The slot of step `step` of the newest origin.
    fn latest(&self, step: usize) -> Option<&[f64]> {
        self.slot(step, self.origins.checked_sub(1)?)
    }

    /// Stores a new origin: `fill(step, slot)` writes each step's slot.
    fn push(&mut self, mut fill: impl FnMut(usize, &mut [f64])) {
        let (w, h) = (self.width, self.horizon);
        let o = self.origins;
        // Origin `o` writes slot `o mod s` of every step: groups up to `min(o, h − 1)`.
        let needed = group_start((o as usize).min(h - 1) + 1, h) * w;
        if self.values.len() < needed {
            self.values.reserve_exact(needed - self.values.len());
            self.values.resize(needed, 0.0);
        }
        for s in 1..=h {
            let at = self.at(s, o);
            if let Some(slot) = self.values.get_mut(at..at + w) {
                fill(s, slot);
            }
        }
        self.origins += 1;
    }

    fn heap_bytes(&self) -> usize {
        self.values.capacity() * 8
    }
}

/// First slot of group `j` of a [`Pending`] over `horizon` steps (groups of `horizon − i` slots).
fn group_start(j: usize, horizon: usize) -> usize {
    j * horizon - j * j.saturating_sub(1) / 2
}

/// What model `auto` learns about one horizon beyond its candidates' errors.
#[derive(Debug, Clone)]
struct Step {
    /// Stacking: forgetting least squares of the base combination's error on the candidates'
    /// deviations from it.
    stack: NormalEquations,
    /// Current stacking coefficients (`None` until solvable).
    beta: Option<Vec<f64>>,
    /// Selector-memory MSE of the base combination and of the stacked one.
    base_mse: Ewm,
    stacked_mse: Ewm,
    /// The guard against losing to the best single candidate.
    guard: Guard,
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
    /// Exponentially weighted mean squared error of every horizon, rung and candidate, in one
    /// allocation ([`Auto::mse_index`]): nested vectors took 19 allocations a series. Like
    /// `steps`, it holds the horizons scored so far.
    mse: Vec<Ewm>,
    /// Same for each rung's combined forecast, `[horizon - 1][rung]`, with `selector_decay`.
    rung_mse: Vec<Ewm>,
    selector_decay: f64,
    /// Forgetting of the guards' errors.
    guard_decay: f64,
    /// What the candidates and the combinations forecast at recent origins, to be scored.
    pending: Pending,
    /// The state of each horizon scored so far (an origin's step `s` is first scored `s`
    /// observations after it): a horizon not yet scored holds nothing, and reads as new (no
    /// error known, no stacking correction, no guard). At 10,000 switches a series steps every
    /// minute or two, so most series have scored few horizons.
    steps: Vec<Step>,
    /// `hist.pushed()` at which the newest pending origin was made.
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
        let width = candidates.len() + decays.len() + 3;
        Self {
            mse: Vec::new(),
            rung_mse: Vec::new(),
            decays,
            selector_decay: 1.0 / selector as f64,
            guard_decay: 1.0 / guard_memory as f64,
            candidates,
            pending: Pending::new(width, h),
            steps: Vec::new(),
            made_at: u64::MAX,
            cfg: AutoConfig {
                tracked_horizon: h,
                ..cfg
            },
        }
    }

    /// Where [`Auto::mse`] keeps rung `r`'s error of candidate `c` at horizon index `hi`
    /// (`[horizon - 1][rung][candidate]`); `None` out of range.
    fn mse_index(&self, r: usize, c: usize, hi: usize) -> Option<usize> {
        let (rungs, n) = (self.decays.len(), self.candidates.len());
        (r < rungs && c < n && hi < self.cfg.tracked_horizon).then(|| (hi * rungs + r) * n + c)
    }

    /// Makes room for the state of horizon index `hi` and those before it, exactly (a new
    /// horizon is scored once per origin until all are: growing by doubling would overshoot).
    fn grow_to(&mut self, hi: usize) {
        let (rungs, n) = (self.decays.len(), self.candidates.len());
        while self.steps.len() <= hi {
            self.steps.reserve_exact(1);
            self.steps.push(Step {
                stack: NormalEquations::new(n),
                beta: None,
                base_mse: Ewm::default(),
                stacked_mse: Ewm::default(),
                guard: Guard::new(n, self.guard_decay),
            });
        }
        let steps = self.steps.len();
        for (v, per) in [(&mut self.mse, rungs * n), (&mut self.rung_mse, rungs)] {
            if v.len() < steps * per {
                v.reserve_exact(steps * per - v.len());
                v.resize(steps * per, Ewm::default());
            }
        }
    }

    fn horizon_index(&self, step: usize) -> usize {
        step.clamp(1, self.cfg.tracked_horizon) - 1
    }

    /// Weights of the candidates within rung `r` at horizon index `hi`.
    fn rung_weights(&self, r: usize, hi: usize) -> Vec<f64> {
        inverse_power_weights(
            (0..self.candidates.len()).map(|c| {
                self.mse_index(r, c, hi)
                    .and_then(|i| self.mse.get(i))
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
        if let Some((anchor, g)) = self.steps.get(hi).and_then(|st| st.guard.anchor()) {
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
        let step_state = self.steps.get(hi);
        let top = inverse_power_weights(
            [
                step_state.map_or(f64::NAN, |st| st.base_mse.value()),
                step_state.map_or(f64::NAN, |st| st.stacked_mse.value()),
            ]
            .into_iter(),
            self.cfg.power,
        );
        let share = top.get(1).copied().unwrap_or(0.0);
        // A horizon never scored has a zero correction, which moves no weight (the base).
        match step_state.and_then(|st| st.beta.as_ref()) {
            Some(beta) => {
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
        match self.steps.get(hi).and_then(|st| st.beta.as_ref()) {
            Some(beta) => {
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
        let rungs = self.decays.len();
        let top = inverse_power_weights(
            (0..rungs).map(|r| {
                self.rung_mse
                    .get(hi * rungs + r)
                    .map_or(f64::NAN, Ewm::value)
            }),
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

    /// Writes the forecast of steps `1..=h` into `out`, reading candidate `c`'s forecast of
    /// step `s` as `at(c, s)`.
    fn combine(&self, at: impl Fn(usize, usize) -> Option<f64>, h: usize, out: &mut Vec<f64>) {
        out.clear();
        for s in 1..=h {
            let w = self.weights(s);
            let y = w
                .iter()
                .enumerate()
                .map(|(c, (_, w))| at(c, s).unwrap_or(0.0) * w)
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
        let n = per_model.len();
        self.pending.push(|s, slot| {
            let (cands, combos) = slot.split_at_mut(n.min(slot.len()));
            for (v, f) in cands.iter_mut().zip(&per_model) {
                // Every model writes `h` steps (the `Forecaster` contract).
                *v = f.get(s - 1).copied().unwrap_or(f64::NAN);
            }
            for (k, v) in combos.iter_mut().enumerate() {
                *v = made.get(k * h + s - 1).copied().unwrap_or(f64::NAN);
            }
        });
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
        self.push_origin(hist);
    }

    fn observe(&mut self, hist: &History) {
        for c in &mut self.candidates {
            c.observe(hist);
        }
        if let Some(y) = hist.lag(1) {
            let (n, rungs) = (self.candidates.len(), self.decays.len());
            let h = self.cfg.tracked_horizon;
            if let Some(oldest) = self.pending.len().checked_sub(1) {
                self.grow_to(oldest.min(h - 1));
            }
            for age in 0..self.pending.len() {
                // Made `age + 1` observations ago: its step `age + 1` targets this observation.
                let Some(slot) = self.pending.due(age) else {
                    continue;
                };
                let at = |which: Made| slot.get(which.index(n, rungs)).copied();
                let origin = slot.get(..n).unwrap_or_default();
                for (ci, &p) in origin.iter().enumerate() {
                    let e2 = (y - p) * (y - p);
                    for (r, &decay) in self.decays.iter().enumerate() {
                        let i =
                            (r < rungs && ci < n && age < h).then(|| (age * rungs + r) * n + ci);
                        if let Some(m) = i.and_then(|i| self.mse.get_mut(i)) {
                            m.update(e2, decay);
                        }
                    }
                }
                let Some(st) = self.steps.get_mut(age) else {
                    continue;
                };
                if let Some(mixed) = at(Made::Mixed) {
                    st.guard.observe(origin, mixed, y);
                }
                if let (Some(base), Some(stacked)) = (at(Made::Base), at(Made::Stacked)) {
                    st.base_mse
                        .update((y - base) * (y - base), self.selector_decay);
                    st.stacked_mse
                        .update((y - stacked) * (y - stacked), self.selector_decay);
                    let x: Vec<f64> = origin.iter().map(|p| p - base).collect();
                    st.stack.scale(1.0 - self.selector_decay);
                    st.stack.add(&x, y - base, 1.0);
                }
                for r in 0..rungs {
                    if let (Some(p), Some(m)) =
                        (at(Made::Rung(r)), self.rung_mse.get_mut(age * rungs + r))
                    {
                        m.update((y - p) * (y - p), self.selector_decay);
                    }
                }
            }
        }
        let ridge = self.cfg.stack_ridge;
        for st in &mut self.steps {
            st.beta = st.stack.solve(ridge);
        }
        self.push_origin(hist);
    }

    fn forecast(&self, hist: &History, h: usize, out: &mut Vec<f64>) {
        if self.pending.len() > 0 && self.made_at == hist.pushed() && h <= self.cfg.tracked_horizon
        {
            let latest = |c: usize, s: usize| self.pending.latest(s)?.get(c).copied();
            self.combine(latest, h, out)
        } else {
            let per_model = self.candidate_forecasts(hist, h);
            self.combine(|c, s| per_model.get(c)?.get(s - 1).copied(), h, out)
        }
    }

    fn heap_bytes(&self) -> usize {
        use std::mem::{size_of, size_of_val};
        let ewms = |v: &Vec<Ewm>| v.capacity() * size_of::<Ewm>();
        let cands = self.candidates.capacity() * size_of::<Box<dyn Forecaster>>()
            + self
                .candidates
                .iter()
                .map(|c| size_of_val(c.as_ref()) + c.heap_bytes())
                .sum::<usize>();
        let steps = self.steps.capacity() * size_of::<Step>()
            + self
                .steps
                .iter()
                .map(|st| {
                    st.stack.heap_bytes()
                        + st.beta.as_ref().map_or(0, |b| b.capacity() * 8)
                        + st.guard.heap_bytes()
                })
                .sum::<usize>();
        cands
            + self.decays.capacity() * 8
            + ewms(&self.mse)
            + ewms(&self.rung_mse)
            + steps
            + self.pending.heap_bytes()
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
