//! Prediction intervals by split conformal calibration on the model's own recent residuals, one
//! window per horizon (Vovk et al., "Algorithmic Learning in a Random World", 2005; the per-horizon
//! rolling variant of Stankeviciute et al., NeurIPS 2021).
//!
//! Residuals are signed (`actual − forecast`), so intervals may be asymmetric: traffic spikes up
//! more than it drops. With `n` residuals the `q` quantile is the `⌈(n+1)q⌉`-th smallest, which
//! gives at least nominal coverage for exchangeable residuals. Until `MIN_RESIDUALS` are known the
//! interval is unbounded rather than falsely narrow.

use std::collections::VecDeque;

/// Residuals needed before a horizon's interval becomes finite.
pub const MIN_RESIDUALS: usize = 20;

/// Nominal coverage levels reported with every forecast.
pub const LEVELS: [f64; 3] = [0.80, 0.95, 0.99];

/// The phases of one step's residuals, oldest first ([`Calibrator::held`]).
pub type PhaseIter<'a> = std::collections::vec_deque::Iter<'a, u8>;

/// Lower and upper offsets to add to a point forecast for one coverage level.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Band {
    /// Offset of the lower bound (usually negative).
    pub lo: f64,
    /// Offset of the upper bound (usually positive).
    pub hi: f64,
}

impl Band {
    const UNBOUNDED: Band = Band {
        lo: f64::NEG_INFINITY,
        hi: f64::INFINITY,
    };
}

/// Rolling window of signed residuals per horizon, with cached quantile bands.
#[derive(Debug, Clone)]
pub struct Calibrator {
    window: usize,
    residuals: Vec<VecDeque<f32>>,
    /// `bands[h - 1][level index]`, refreshed lazily.
    bands: Vec<[Band; 3]>,
    /// Residuals recorded since the bands of each horizon were last computed.
    dirty: Vec<usize>,
    /// Per horizon, the last quantile asked for: its level and value.
    quantiles: Vec<Option<(f64, Option<f64>)>>,
    /// Residuals recorded since each cached quantile was computed.
    qdirty: Vec<usize>,
    /// The time-of-day phase of each residual's target; `None` unless built
    /// [`Calibrator::with_phases`].
    phases: Option<Phases>,
}

/// The phases of the residuals' targets, kept once for every step: every step of a horizon
/// records a residual for the same target (one observation scores all the forecasts made for
/// it), so twelve copies of one phase queue would be 11 × 500 bytes of repetition per series.
#[derive(Debug, Clone)]
struct Phases {
    /// Phase of each target some step recorded a residual for, oldest first (at most one more
    /// than the window: a step that has not yet recorded the newest target reads one back).
    shared: VecDeque<u8>,
    /// Target (row) of the newest entry of `shared`.
    target: Option<u64>,
    /// Targets recorded so far: the number of the newest entry of `shared` is `targets − 1`.
    targets: u64,
    /// Per step, the number of the target its newest residual was recorded for.
    last: Vec<u64>,
    /// Steps that skipped a target (a non-finite residual) keep their own phases from then on,
    /// since their residuals no longer line up with `shared`.
    own: Vec<(usize, VecDeque<u8>)>,
}

impl Phases {
    fn new(horizon: usize) -> Self {
        Self {
            shared: VecDeque::new(),
            target: None,
            targets: 0,
            last: vec![0; horizon],
            own: Vec::new(),
        }
    }

    /// The phases of step `i`'s `n` residuals, oldest first.
    fn of(&self, i: usize, n: usize) -> std::collections::vec_deque::Iter<'_, u8> {
        if let Some((_, q)) = self.own.iter().find(|(s, _)| *s == i) {
            return q.iter();
        }
        if n == 0 {
            return self.shared.range(0..0);
        }
        // Entry number `k` of the targets sits at `k − (targets − len)` in `shared`.
        let first_kept = self.targets.saturating_sub(self.shared.len() as u64);
        let end = self
            .last
            .get(i)
            .map_or(0, |l| (l + 1).saturating_sub(first_kept)) as usize;
        self.shared.range(end.saturating_sub(n)..end)
    }

    /// Notes that step `i` records a residual for `target` in `phase`; `residuals` are what
    /// every step holds before it.
    fn note(
        &mut self,
        i: usize,
        residuals: &[VecDeque<f32>],
        window: usize,
        target: u64,
        phase: u8,
    ) {
        if self.target != Some(target) {
            // A new target: a shared step that did not record the previous one (its residual
            // was not finite) gets its own copy now, while `shared` still covers its residuals.
            if let Some(latest) = self.targets.checked_sub(1) {
                for (s, r) in residuals.iter().enumerate() {
                    let missed = self.last.get(s).is_some_and(|&t| t < latest);
                    if missed && !r.is_empty() && !self.own.iter().any(|(o, _)| *o == s) {
                        let copy: VecDeque<u8> = self.of(s, r.len()).copied().collect();
                        self.own.push((s, copy));
                    }
                }
            }
            if self.shared.len() > window {
                self.shared.pop_front();
            }
            grow_within(&mut self.shared, window + 1);
            self.shared.push_back(phase);
            self.target = Some(target);
            self.targets += 1;
        }
        if let Some(l) = self.last.get_mut(i) {
            *l = self.targets - 1;
        }
        let full = residuals.get(i).is_some_and(|r| r.len() == window);
        if let Some((_, q)) = self.own.iter_mut().find(|(s, _)| *s == i) {
            if full {
                q.pop_front();
            }
            grow_within(q, window);
            q.push_back(phase);
        }
    }

    fn heap_bytes(&self) -> usize {
        self.shared.capacity()
            + self.last.capacity() * std::mem::size_of::<u64>()
            + self.own.capacity() * std::mem::size_of::<(usize, VecDeque<u8>)>()
            + self.own.iter().map(|(_, q)| q.capacity()).sum::<usize>()
    }
}

impl Calibrator {
    /// Calibrator for horizons `1..=horizon`, keeping the last `window` residuals of each.
    pub fn new(horizon: usize, window: usize) -> Self {
        let horizon = horizon.max(1);
        Self {
            window: window.max(MIN_RESIDUALS),
            residuals: vec![VecDeque::new(); horizon],
            bands: vec![[Band::UNBOUNDED; 3]; horizon],
            dirty: vec![0; horizon],
            quantiles: vec![None; horizon],
            qdirty: vec![0; horizon],
            phases: None,
        }
    }

    /// A calibrator that also keeps the time-of-day phase of each residual's target
    /// ([`Calibrator::record_at`]), for conditional quantiles (`crate::conditional`).
    pub fn with_phases(horizon: usize, window: usize) -> Self {
        let mut c = Self::new(horizon, window);
        c.phases = Some(Phases::new(c.residuals.len()));
        c
    }

    /// Residuals of `step`, oldest first, and their targets' phases (`None` without phases).
    pub fn held(&self, step: usize) -> (&VecDeque<f32>, Option<PhaseIter<'_>>) {
        let i = step.clamp(1, self.residuals.len()) - 1;
        let r = &self.residuals[i];
        (r, self.phases.as_ref().map(|p| p.of(i, r.len())))
    }

    /// Residuals kept per horizon.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Horizons calibrated.
    pub fn horizon(&self) -> usize {
        self.residuals.len()
    }

    /// Records `actual − forecast` for a forecast made `step` steps ahead.
    pub fn record(&mut self, step: usize, residual: f64) {
        self.record_at(step, residual, 0, 0);
    }

    /// [`Calibrator::record`] for the observation numbered `target` (the same for every step
    /// scored by one observation), in time-of-day `phase` (kept when built
    /// [`Calibrator::with_phases`]).
    pub fn record_at(&mut self, step: usize, residual: f64, target: u64, phase: u8) {
        if !residual.is_finite() {
            return;
        }
        let i = step.clamp(1, self.residuals.len()) - 1;
        if let Some(p) = &mut self.phases {
            p.note(i, &self.residuals, self.window, target, phase);
        }
        if let (Some(r), Some(d)) = (self.residuals.get_mut(i), self.dirty.get_mut(i)) {
            if r.len() == self.window {
                r.pop_front();
            }
            grow_within(r, self.window);
            r.push_back(residual as f32);
            *d += 1;
        }
        if let Some(q) = self.qdirty.get_mut(i) {
            *q += 1;
        }
    }

    /// Residuals held for `step`.
    pub fn count(&self, step: usize) -> usize {
        let i = step.clamp(1, self.residuals.len()) - 1;
        self.residuals.get(i).map_or(0, VecDeque::len)
    }

    /// The `level` quantile (0 < level < 1) of the signed residuals of `step` (steps beyond the
    /// horizon use the last one): the offset above a point forecast that actuals exceeded with
    /// probability `1 − level`, the `⌈(n+1)·level⌉`-th smallest of `n` residuals. `None` until
    /// [`MIN_RESIDUALS`] are held, or while too few are held for that rank (at least
    /// `level / (1 − level)`: 99 for 0.99), rather than a falsely narrow offset.
    pub fn quantile(&mut self, step: usize, level: f64) -> Option<f64> {
        let i = step.clamp(1, self.residuals.len()) - 1;
        if !(level > 0.0 && level < 1.0) {
            return None;
        }
        // Cached like the bands: a long window's quantile moves slowly.
        let fresh_needed = (self.window / 20).max(1);
        let stale = self.qdirty.get(i).copied().unwrap_or(0);
        if let Some(Some((l, q))) = self.quantiles.get(i) {
            if *l == level && stale < fresh_needed && (q.is_some() || stale == 0) {
                return *q;
            }
        }
        let q = self.residuals.get(i).and_then(|r| quantile_of(r, level));
        if let (Some(c), Some(d)) = (self.quantiles.get_mut(i), self.qdirty.get_mut(i)) {
            *c = Some((level, q));
            *d = 0;
        }
        q
    }

    /// Bands for `step` at the three [`LEVELS`]; steps beyond the horizon use the last one.
    pub fn bands(&mut self, step: usize) -> [Band; 3] {
        let i = step.clamp(1, self.residuals.len()) - 1;
        // Quantiles of a long window move slowly: recompute after a twentieth of it is new (and
        // at once while the band is still unbounded), which keeps the per-forecast cost low.
        let fresh_needed = (self.window / 20).max(1);
        let stale = self.dirty.get(i).copied().unwrap_or(0);
        let unbounded = self.bands.get(i).is_none_or(|b| b[0].hi.is_infinite());
        if stale >= fresh_needed || (stale > 0 && unbounded) {
            let fresh = self.residuals.get(i).map(compute_bands);
            if let (Some(b), Some(fresh)) = (self.bands.get_mut(i), fresh) {
                *b = fresh;
            }
            if let Some(d) = self.dirty.get_mut(i) {
                *d = 0;
            }
        }
        self.bands.get(i).copied().unwrap_or([Band::UNBOUNDED; 3])
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.residuals
            .iter()
            .map(|r| r.capacity() * 4)
            .sum::<usize>()
            + self.bands.capacity() * std::mem::size_of::<[Band; 3]>()
            + self.quantiles.capacity() * std::mem::size_of::<Option<(f64, Option<f64>)>>()
            + (self.dirty.capacity() + self.qdirty.capacity()) * std::mem::size_of::<usize>()
            + self.phases.as_ref().map_or(0, Phases::heap_bytes)
    }
}

/// Makes room for one more value in a window of at most `window`: doubling as a `VecDeque` does,
/// but never past the window (a 500-residual window takes 500 slots, not 512: every step of every
/// series holds one).
fn grow_within<T>(q: &mut VecDeque<T>, window: usize) {
    if q.len() == q.capacity() && q.len() < window {
        let more = q.len().max(4).min(window - q.len());
        q.reserve_exact(more);
    }
}

fn quantile_of(res: &VecDeque<f32>, level: f64) -> Option<f64> {
    let n = res.len();
    if n < MIN_RESIDUALS {
        return None;
    }
    let rank = ((n + 1) as f64 * level).ceil() as usize;
    if rank == 0 || rank > n {
        return None;
    }
    let mut v: Vec<f32> = res.iter().copied().collect();
    let (_, q, _) = v.select_nth_unstable_by(rank - 1, f32::total_cmp);
    Some(f64::from(*q))
}

fn compute_bands(res: &VecDeque<f32>) -> [Band; 3] {
    let n = res.len();
    if n < MIN_RESIDUALS {
        return [Band::UNBOUNDED; 3];
    }
    let mut sorted: Vec<f32> = res.iter().copied().collect();
    sorted.sort_unstable_by(f32::total_cmp);
    let at = |rank: usize| -> f64 {
        // rank is 1-based; beyond the sample the bound is unbounded.
        if rank == 0 {
            f64::NEG_INFINITY
        } else {
            sorted
                .get(rank - 1)
                .map_or(f64::INFINITY, |&v| f64::from(v))
        }
    };
    LEVELS.map(|level| {
        let tail = (1.0 - level) / 2.0;
        let hi_rank = ((n + 1) as f64 * (1.0 - tail)).ceil() as usize;
        let lo_rank = ((n + 1) as f64 * tail).floor() as usize;
        Band {
            lo: at(lo_rank),
            hi: at(hi_rank),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::noise;

    #[test]
    fn gaussian_residuals_reach_nominal_coverage() {
        let mut cal = Calibrator::new(1, 500);
        let e = noise(20_000, 42);
        let (mut in80, mut in95, mut total) = (0, 0, 0);
        for &r in &e {
            if cal.count(1) >= 200 {
                let b = cal.bands(1);
                total += 1;
                in80 += usize::from(r >= b[0].lo && r <= b[0].hi);
                in95 += usize::from(r >= b[1].lo && r <= b[1].hi);
            }
            cal.record(1, r);
        }
        let c80 = in80 as f64 / total as f64;
        let c95 = in95 as f64 / total as f64;
        assert!((c80 - 0.80).abs() < 0.02, "coverage80 {c80}");
        assert!((c95 - 0.95).abs() < 0.015, "coverage95 {c95}");
    }

    #[test]
    fn quantile_is_the_conformal_rank_and_needs_enough_residuals() {
        let mut cal = Calibrator::new(2, 500);
        for r in 1..=98 {
            cal.record(2, f64::from(r));
        }
        // 98 residuals: rank ⌈99 × 0.99⌉ = 99 is beyond the sample.
        assert_eq!(cal.quantile(2, 0.99), None);
        cal.record(2, 99.0);
        assert_eq!(cal.quantile(2, 0.99), Some(99.0));
        // ⌈100 × 0.5⌉ = 50th smallest.
        assert_eq!(cal.quantile(2, 0.5), Some(50.0));
        assert_eq!(cal.quantile(1, 0.5), None);
        assert_eq!(cal.quantile(2, 1.0), None);
    }

    #[test]
    fn each_step_reads_the_phases_of_its_own_residuals_when_steps_skip_targets() {
        // Three steps, a window of 30: step 3 starts late, and steps skip targets now and then
        // (a non-finite residual), so their residuals stop lining up with the others'.
        let (h, window) = (3, 30);
        let mut cal = Calibrator::with_phases(h, window);
        let mut want: Vec<VecDeque<(f32, u8)>> = vec![VecDeque::new(); h];
        for target in 0..200u64 {
            let phase = (target * 7 % 24) as u8;
            for step in 1..=h {
                if step == 3 && target < 5 {
                    continue;
                }
                let skip = (step == 2 && target % 17 == 3) || (step == 1 && target == 50);
                let r = if skip {
                    f64::NAN
                } else {
                    target as f64 + step as f64 / 10.0
                };
                cal.record_at(step, r, target, phase);
                if !skip {
                    let w = &mut want[step - 1];
                    if w.len() == window {
                        w.pop_front();
                    }
                    w.push_back((r as f32, phase));
                }
                for (s, w) in want.iter().enumerate() {
                    let (res, ph) = cal.held(s + 1);
                    let got: Vec<(f32, u8)> = res
                        .iter()
                        .copied()
                        .zip(ph.expect("phases").copied())
                        .collect();
                    assert_eq!(
                        got,
                        w.iter().copied().collect::<Vec<_>>(),
                        "step {} after target {target}",
                        s + 1
                    );
                }
            }
        }
    }

    #[test]
    fn too_few_residuals_give_unbounded_band() {
        let mut cal = Calibrator::new(2, 100);
        cal.record(1, 1.0);
        assert_eq!(cal.bands(1)[0].hi, f64::INFINITY);
    }
}
