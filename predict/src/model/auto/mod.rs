//! Model `auto`: runs every candidate model on the series, scores each one's forecasts per horizon
//! against the actuals as they arrive (a rolling-origin backtest that never stops), and forecasts a
//! combination weighted by recent error, so the choice follows the series as it evolves.
//!
//! Invariant: the forecasts of the origin made `i + 1` observations ago are held from step
//! `i + 1` on ([`Pending`]), so the forecast of step `s` made at that origin is scored against the
//! observation `s` steps later.

mod guard;
mod pending;
mod reach;

use super::{Ar, Ets, Forecaster, ModelKind, Naive, Regression, RegressionConfig, SeasonalNaive};
use crate::linalg;
use crate::{History, Seasons};
use pending::Pending;
pub(crate) use reach::within_reach;

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

    /// Takes squared error `e2` into `mean`, another memory (forgetting `decay`) of the errors
    /// this one counts, after this one took it: every memory of one candidate's errors takes the
    /// same errors, so one count serves them all (8 bytes a memory, not 12).
    pub fn follow(&self, mean: &mut f64, e2: f64, decay: f64) {
        if !e2.is_finite() {
            return;
        }
        let rate = decay.max(1.0 / f64::from(self.n));
        *mean += rate * (e2 - *mean);
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

/// Normalised `mse^-power` weights. `None` (a candidate not forecasting for itself) weighs
/// nothing; an unscored entry (NaN) weighs nothing while another is scored, and all weigh alike
/// while none is. An unscored entry weighing one against `mse^-power` of the others depended on
/// the series' units: in bits/s (MSE ~1e12) it took all the weight.
fn inverse_power_weights(mse: impl Iterator<Item = Option<f64>>, power: f64) -> Vec<f64> {
    let mse: Vec<Option<f64>> = mse.collect();
    let any_scored = mse.iter().any(|e| e.is_some_and(f64::is_finite));
    let raw: Vec<f64> = mse
        .into_iter()
        .map(|e| match e {
            None => 0.0,
            Some(e) if e.is_finite() => e.max(1e-18).powf(-power),
            Some(_) if any_scored => 0.0,
            Some(_) => 1.0,
        })
        .collect();
    let total: f64 = raw.iter().sum();
    raw.into_iter()
        .map(|w| if total > 0.0 { w / total } else { 0.0 })
        .collect()
}

/// `value · weight`, nothing for a weightless candidate (whose forecast may be held as NaN).
fn weighted(value: Option<f64>, weight: f64) -> f64 {
    if weight == 0.0 {
        0.0
    } else {
        value.unwrap_or(0.0) * weight
    }
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

/// Where model `auto` keeps what it learns about one horizon, in two allocations for every
/// horizon scored so far (a horizon took five small allocations of its own, and nested error
/// tables 19 a series): `f64` values per horizon, then `Ewm`s per horizon.
///
/// Per horizon, the `f64`s: the stacking system (forgetting least squares of the base
/// combination's error on the candidates' deviations from it, packed by
/// [`crate::linalg::packed_len`]), its current coefficients (NaN first while not solvable), the
/// guard's sums ([`guard::sums_len`]), the error means of every candidate under rungs `1..`
/// (`[rung − 1][candidate]`), then under the guard's slow memory. The `Ewm`s: every
/// candidate's error under rung 0 (the lead: its count is every memory's count of that
/// candidate's errors, [`Ewm::follow`]), each rung's combined forecast's error (selector memory),
/// and the selector-memory errors of the base combination and of the stacked one.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// Candidates.
    n: usize,
    /// Rungs of the memory ladder (at least one).
    rungs: usize,
}

impl Layout {
    fn stack(self) -> std::ops::Range<usize> {
        0..linalg::packed_len(self.n)
    }

    fn beta(self) -> std::ops::Range<usize> {
        let at = linalg::packed_len(self.n);
        at..at + self.n
    }

    fn guard(self) -> std::ops::Range<usize> {
        let at = linalg::packed_len(self.n) + self.n;
        at..at + guard::sums_len(self.n)
    }

    /// Where the error means of rungs `1..` start.
    fn means(self) -> usize {
        self.guard().end
    }

    /// The error mean of candidate `c` under rung `r >= 1`.
    fn rung_mean(self, r: usize, c: usize) -> usize {
        self.means() + (r - 1) * self.n + c
    }

    /// The guard's error means of the candidates.
    fn guard_means(self) -> std::ops::Range<usize> {
        let at = self.means() + (self.rungs - 1) * self.n;
        at..at + self.n
    }

    /// `f64`s per horizon.
    fn floats(self) -> usize {
        self.guard_means().end
    }

    /// Every candidate's lead error (rung 0).
    fn leads(self) -> std::ops::Range<usize> {
        0..self.n
    }

    fn rung_mse(self, r: usize) -> usize {
        self.n + r
    }

    fn base_mse(self) -> usize {
        self.n + self.rungs
    }

    fn stacked_mse(self) -> usize {
        self.base_mse() + 1
    }

    /// `Ewm`s per horizon.
    fn ewms(self) -> usize {
        self.stacked_mse() + 1
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
    selector_decay: f64,
    /// Forgetting of the guards' errors.
    guard_decay: f64,
    /// What the candidates and the combinations forecast at recent origins, to be scored.
    pending: Pending,
    /// The `f64` state of each horizon scored so far ([`Layout`]). An origin's step `s` is first
    /// scored `s` observations after it: a horizon not yet scored holds nothing, and reads as
    /// new (no error known, no stacking correction, no guard). At 10,000 switches a series
    /// steps every minute or two, so most series have scored few horizons.
    floats: Vec<f64>,
    /// The errors of each horizon scored so far ([`Layout`]), as many horizons as `floats`.
    ewms: Vec<Ewm>,
    /// `hist.pushed()` at which the newest pending origin was made.
    made_at: u64,
    /// Bit `c` set: candidate `c` forecast for itself at the newest origin ([`Forecaster::ready`]).
    /// The others weigh nothing, and their fallback forecasts are held as NaN, so never scored.
    ready: u64,
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
            decays,
            selector_decay: 1.0 / selector as f64,
            guard_decay: 1.0 / guard_memory as f64,
            candidates,
            pending: Pending::new(width, h),
            floats: Vec::new(),
            ewms: Vec::new(),
            made_at: u64::MAX,
            ready: u64::MAX,
            cfg: AutoConfig {
                tracked_horizon: h,
                ..cfg
            },
        }
    }

    fn layout(&self) -> Layout {
        Layout {
            n: self.candidates.len(),
            rungs: self.decays.len(),
        }
    }

    /// Horizons with state so far.
    fn scored(&self) -> usize {
        self.floats.len() / self.layout().floats().max(1)
    }

    /// The state of horizon index `hi`, if it was scored.
    fn step(&self, hi: usize) -> Option<(&[f64], &[Ewm])> {
        let l = self.layout();
        let (f, e) = (l.floats(), l.ewms());
        Some((
            self.floats.get(hi * f..(hi + 1) * f)?,
            self.ewms.get(hi * e..(hi + 1) * e)?,
        ))
    }

    /// Makes room for the state of horizon index `hi` and those before it, exactly (a new
    /// horizon is scored once per origin until all are: growing by doubling would overshoot).
    fn grow_to(&mut self, hi: usize) {
        let l = self.layout();
        while self.scored() <= hi {
            self.floats.reserve_exact(l.floats());
            let at = self.floats.len();
            self.floats.resize(at + l.floats(), 0.0);
            // No stacking coefficients yet.
            if let Some(b) = self.floats.get_mut(at + l.beta().start) {
                *b = f64::NAN;
            }
            self.ewms.reserve_exact(l.ewms());
            self.ewms.resize(self.ewms.len() + l.ewms(), Ewm::default());
        }
    }

    fn horizon_index(&self, step: usize) -> usize {
        step.clamp(1, self.cfg.tracked_horizon) - 1
    }

    /// The stacking coefficients of horizon index `hi`, once solvable.
    fn beta(&self, hi: usize) -> Option<&[f64]> {
        let (f, _) = self.step(hi)?;
        f.get(self.layout().beta())
            .filter(|b| b.first().is_some_and(|b| !b.is_nan()))
    }

    /// Whether candidate `c` forecast for itself at the newest origin.
    fn is_ready(&self, c: usize) -> bool {
        c >= 64 || (self.ready >> c) & 1 == 1
    }

    /// Candidate `c`'s forecast `f`, if it is ready and finite.
    fn ready_forecast(&self, c: usize, f: Option<f64>) -> Option<f64> {
        f.filter(|f| f.is_finite() && self.is_ready(c))
    }

    /// Readiness of every candidate for `hist`, as [`Auto::ready`] holds it. Naive is always
    /// ready; should no candidate be, all count as ready rather than none weighing anything.
    fn readiness(&self, hist: &History) -> u64 {
        let mask = self
            .candidates
            .iter()
            .enumerate()
            .filter(|(c, m)| *c < 64 && m.ready(hist))
            .fold(0u64, |acc, (c, _)| acc | 1 << c);
        if mask == 0 {
            u64::MAX
        } else {
            mask
        }
    }

    /// Weights of the candidates within rung `r` at horizon index `hi`.
    fn rung_weights(&self, r: usize, hi: usize) -> Vec<f64> {
        let l = self.layout();
        let step = self.step(hi);
        inverse_power_weights(
            (0..l.n).map(|c| {
                if !self.is_ready(c) {
                    return None;
                }
                let Some((f, e)) = step else {
                    return Some(f64::NAN);
                };
                let lead = e.get(c).copied().unwrap_or_default();
                Some(match r {
                    0 => lead.value(),
                    _ if lead.is_scored() => f.get(l.rung_mean(r, c)).copied().unwrap_or(f64::NAN),
                    _ => f64::NAN,
                })
            }),
            self.cfg.power,
        )
    }

    /// Effective weight of each candidate for forecast step `step`: the combination's weights
    /// moved by the guard towards its anchor candidate.
    pub fn weights(&self, step: usize) -> Vec<(ModelKind, f64)> {
        let hi = self.horizon_index(step);
        let l = self.layout();
        let mut w = self.mixed_weights(step);
        let anchor = self.step(hi).and_then(|(f, e)| {
            guard::anchor(
                f.get(l.guard())?,
                f.get(l.guard_means())?,
                e.get(l.leads())?,
                |c| self.is_ready(c),
            )
        });
        if let Some((anchor, g)) = anchor {
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
        let l = self.layout();
        let base = self.base_weights(step);
        let errors = self.step(hi).map(|(_, e)| e);
        let error = |i: usize| errors.and_then(|e| e.get(i)).map_or(f64::NAN, Ewm::value);
        // The correction weighs nothing until its stacked forecast has a selector memory of
        // errors: fitted on fewer, on validation parts of 29-58 steps it made `auto` 1.07-1.63 ×
        // its best candidate (MSE), against 0.87-1.03 × without it.
        let seasoned = errors.and_then(|e| e.get(l.stacked_mse()));
        let seasoned = seasoned.is_some_and(|e| f64::from(e.n) * self.selector_decay >= 1.0);
        let top = inverse_power_weights(
            [
                Some(error(l.base_mse())),
                seasoned.then(|| error(l.stacked_mse())),
            ]
            .into_iter(),
            self.cfg.power,
        );
        let share = top.get(1).copied().unwrap_or(0.0);
        // A horizon never scored has a zero correction, which moves no weight (the base).
        match self.beta(hi) {
            Some(beta) => {
                let sum: f64 = beta.iter().sum();
                base.into_iter()
                    .zip(beta)
                    .enumerate()
                    .map(|(c, ((k, w), b))| {
                        // A correction fitted while a candidate was ready may still name it.
                        let w = w + share * (b - sum * w);
                        (k, if self.is_ready(c) { w } else { 0.0 })
                    })
                    .collect()
            }
            _ => base,
        }
    }

    /// Stacked-forecast weights (base moved fully by the correction) at `step`.
    fn stacked_weights(&self, step: usize) -> Vec<f64> {
        let hi = self.horizon_index(step);
        let base = self.base_weights(step);
        match self.beta(hi) {
            Some(beta) => {
                let sum: f64 = beta.iter().sum();
                base.into_iter()
                    .zip(beta)
                    .enumerate()
                    .map(|(c, ((_, w), b))| {
                        let w = w + b - sum * w;
                        if self.is_ready(c) {
                            w
                        } else {
                            0.0
                        }
                    })
                    .collect()
            }
            _ => base.into_iter().map(|(_, w)| w).collect(),
        }
    }

    /// Weights of the two-level error-weighted combination at `step` (sum to one).
    fn base_weights(&self, step: usize) -> Vec<(ModelKind, f64)> {
        let hi = self.horizon_index(step);
        let l = self.layout();
        let errors = self.step(hi).map(|(_, e)| e);
        let top = inverse_power_weights(
            (0..l.rungs).map(|r| {
                Some(
                    errors
                        .and_then(|e| e.get(l.rung_mse(r)))
                        .map_or(f64::NAN, Ewm::value),
                )
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
                    .map(|(f, w)| weighted(f.get(s - 1).copied(), w))
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
                .map(|(c, (_, w))| weighted(at(c, s), *w))
                .sum();
            let range = reach::range(
                (0..self.candidates.len()).filter_map(|c| self.ready_forecast(c, at(c, s))),
            );
            out.push(reach::within(y, range));
        }
    }

    fn push_origin(&mut self, hist: &History) {
        let h = self.cfg.tracked_horizon;
        self.ready = self.readiness(hist);
        let mut per_model = self.candidate_forecasts(hist, h);
        // A fallback forecast is held as NaN: never scored, never a stacking deviation.
        for (c, f) in per_model.iter_mut().enumerate() {
            if !self.is_ready(c) {
                f.iter_mut().for_each(|v| *v = f64::NAN);
            }
        }
        // Each step's range of candidate forecasts, once for the three combinations below.
        let ranges: Vec<Option<(f64, f64)>> = (1..=h)
            .map(|s| {
                reach::range(
                    per_model
                        .iter()
                        .enumerate()
                        .filter_map(|(c, f)| self.ready_forecast(c, f.get(s - 1).copied())),
                )
            })
            .collect();
        let dot = |w: &[f64], s: usize| -> f64 {
            let y = per_model
                .iter()
                .zip(w)
                .map(|(f, &w)| weighted(f.get(s - 1).copied(), w))
                .sum();
            reach::within(y, ranges.get(s - 1).copied().flatten())
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
        // Forecasts made before a refit were honest when issued: scoring them as they come due
        // keeps the evidence (a refit every day of steps cleared all of them, so at 12 h step 3
        // was never scored and its weights stayed uniform). Only the origin made at this very
        // observation is superseded by the refitted models' forecast; one made at another
        // count could not be matched to its observations.
        if self.made_at == hist.pushed() {
            self.pending.drop_newest();
        } else {
            self.pending.clear();
        }
        self.push_origin(hist);
    }

    fn observe(&mut self, hist: &History) {
        for c in &mut self.candidates {
            c.observe(hist);
        }
        let l = self.layout();
        if let Some(y) = hist.lag(1) {
            let (n, rungs) = (l.n, l.rungs);
            let h = self.cfg.tracked_horizon;
            if let Some(oldest) = self.pending.len().checked_sub(1) {
                self.grow_to(oldest.min(h - 1));
            }
            for age in 0..self.pending.len() {
                // Made `age + 1` observations ago: its step `age + 1` targets this observation.
                let Some(slot) = self.pending.due(age) else {
                    continue;
                };
                let (fl, el) = (l.floats(), l.ewms());
                let (Some(floats), Some(errors)) = (
                    self.floats.get_mut(age * fl..(age + 1) * fl),
                    self.ewms.get_mut(age * el..(age + 1) * el),
                ) else {
                    continue;
                };
                let at = |which: Made| slot.get(which.index(n, rungs)).copied();
                let origin = slot.get(..n).unwrap_or_default();
                for (ci, &p) in origin.iter().enumerate() {
                    let e2 = (y - p) * (y - p);
                    let Some(lead) = errors.get_mut(ci).filter(|_| ci < n) else {
                        continue;
                    };
                    lead.update(e2, self.decays.first().copied().unwrap_or(1.0));
                    for (r, &decay) in self.decays.iter().enumerate().skip(1) {
                        if let Some(m) = floats.get_mut(l.rung_mean(r, ci)) {
                            lead.follow(m, e2, decay);
                        }
                    }
                }
                if let Some(mixed) = at(Made::Mixed) {
                    let (head, means) = floats.split_at_mut(l.means().min(floats.len()));
                    let sums = head.get_mut(l.guard()).unwrap_or_default();
                    let at = l.guard_means().start - l.means();
                    let means = means.get_mut(at..at + n).unwrap_or_default();
                    let leads = errors.get(l.leads()).unwrap_or_default();
                    guard::observe(sums, means, leads, self.guard_decay, origin, mixed, y);
                }
                if let (Some(base), Some(stacked)) = (at(Made::Base), at(Made::Stacked)) {
                    if let Some(m) = errors.get_mut(l.base_mse()) {
                        m.update((y - base) * (y - base), self.selector_decay);
                    }
                    if let Some(m) = errors.get_mut(l.stacked_mse()) {
                        m.update((y - stacked) * (y - stacked), self.selector_decay);
                    }
                    // A candidate that was not ready deviates by nothing (its forecast is NaN).
                    let x: Vec<f64> = origin
                        .iter()
                        .map(|p| if p.is_finite() { p - base } else { 0.0 })
                        .collect();
                    let stack = floats.get_mut(l.stack()).unwrap_or_default();
                    linalg::scale(stack, 1.0 - self.selector_decay);
                    linalg::add(stack, n, &x, y - base, 1.0);
                }
                for r in 0..rungs {
                    if let (Some(p), Some(m)) = (at(Made::Rung(r)), errors.get_mut(l.rung_mse(r))) {
                        m.update((y - p) * (y - p), self.selector_decay);
                    }
                }
            }
        }
        let ridge = self.cfg.stack_ridge;
        for floats in self.floats.chunks_exact_mut(l.floats().max(1)) {
            let (stack, rest) = floats.split_at_mut(l.stack().end.min(floats.len()));
            if let Some(beta) = rest.get_mut(..l.n) {
                if !linalg::solve_into(stack, l.n, ridge, beta) {
                    if let Some(b) = beta.first_mut() {
                        *b = f64::NAN;
                    }
                }
            }
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

    fn members(&self, step: usize) -> Option<&[f64]> {
        // Every candidate, then each rung's combination, the base, stacked and mixed ones.
        self.pending.latest(step)
    }

    fn heap_bytes(&self) -> usize {
        use std::mem::{size_of, size_of_val};
        let cands = self.candidates.capacity() * size_of::<Box<dyn Forecaster>>()
            + self
                .candidates
                .iter()
                .map(|c| size_of_val(c.as_ref()) + c.heap_bytes())
                .sum::<usize>();
        cands
            + self.decays.capacity() * 8
            + self.floats.capacity() * size_of::<f64>()
            + self.ewms.capacity() * size_of::<Ewm>()
            + self.pending.heap_bytes()
    }
}

#[cfg(test)]
mod tests;
