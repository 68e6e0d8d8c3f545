//! Prediction intervals by split conformal calibration on the model's own recent residuals, one
//! window per horizon (Vovk et al., "Algorithmic Learning in a Random World", 2005; the per-horizon
//! rolling variant of Stankeviciute et al., NeurIPS 2021).
//!
//! Residuals are signed (`actual − forecast`), so intervals may be asymmetric: traffic spikes up
//! more than it drops. With `n` residuals the `q` quantile is the `⌈(n+1)q⌉`-th smallest, which
//! gives at least nominal coverage for exchangeable residuals. Until `MIN_RESIDUALS` are known the
//! interval is unbounded rather than falsely narrow.

use std::collections::VecDeque;

use half::f16;

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

    /// Residual `r` of an observation outside this 99 % band, clipped at twice the band on the
    /// side it left: it still counts as a large residual, but one spike must not widen the
    /// intervals enough to hide the next (clipping at the band itself would let the band only
    /// shrink, a runaway). A side that does not reach past zero gives no scale to clip against
    /// and clips nothing: a series idle at exactly zero for its first residuals has a band of
    /// (0, 0), and clipping at it recorded every later residual as 0, so the band never left
    /// (0, 0) and every observation that was not 0 was an anomaly (a helpdesk's call counts
    /// from midnight: 94 % of them).
    pub(crate) fn clip_spike(self, r: f64) -> f64 {
        if !(self.lo.is_finite() && self.hi.is_finite()) {
            return r;
        }
        let lo = if self.lo < 0.0 {
            2.0 * self.lo
        } else {
            f64::NEG_INFINITY
        };
        let hi = if self.hi > 0.0 {
            2.0 * self.hi
        } else {
            f64::INFINITY
        };
        r.clamp(lo, hi)
    }
}

/// A step's bands and quantile as last computed, with the residuals recorded since. Bands and
/// quantiles are residuals (`f32`) or infinite, so `f32` holds them exactly.
#[derive(Debug, Clone, Copy)]
struct Cached {
    /// `(lo, hi)` at each of [`LEVELS`].
    bands: [(f32, f32); 3],
    /// Residuals recorded since the bands were computed (saturating).
    dirty: u32,
    /// Residuals recorded since the quantile was computed (saturating).
    qdirty: u32,
    /// The last quantile asked for: its level and value.
    quantile: Option<(f64, Option<f32>)>,
}

impl Cached {
    const NEW: Cached = Cached {
        bands: [(f32::NEG_INFINITY, f32::INFINITY); 3],
        dirty: 0,
        qdirty: 0,
        quantile: None,
    };

    fn bands(&self) -> [Band; 3] {
        self.bands.map(|(lo, hi)| Band {
            lo: f64::from(lo),
            hi: f64::from(hi),
        })
    }
}

/// What a step that recorded nothing holds.
static NO_RESIDUALS: VecDeque<f32> = VecDeque::new();

/// Rolling window of signed residuals per horizon, with cached quantile bands.
///
/// A step holds nothing until it records its first residual (steps `1..=s` have residuals once
/// `s` observations were scored): most of the series of a large network are young.
#[derive(Debug, Clone)]
pub struct Calibrator {
    window: usize,
    horizon: usize,
    /// Residuals of the steps that recorded any, `residuals[h - 1]`; empty when packed.
    residuals: Vec<VecDeque<f32>>,
    /// The same in two bytes each, when built [`Calibrator::packed`] (empty otherwise).
    packed: Vec<Packed>,
    /// What was computed from them, one per entry of `residuals`.
    cache: Vec<Cached>,
    /// The time-of-day phase of each residual's target; `None` unless built
    /// [`Calibrator::with_phases`]. Boxed: most calibrators (every compact series') have none.
    phases: Option<Box<Phases>>,
    /// Residuals go to `packed`.
    pack: bool,
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
    /// Per step that recorded any, the number of the target its newest residual was recorded
    /// for.
    last: Vec<u64>,
    /// Steps that skipped a target (a non-finite residual) keep their own phases from then on,
    /// since their residuals no longer line up with `shared`.
    own: Vec<(usize, VecDeque<u8>)>,
}

impl Phases {
    fn new() -> Self {
        Self {
            shared: VecDeque::new(),
            target: None,
            targets: 0,
            last: Vec::new(),
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
        grow_exact(&mut self.last, i + 1, 0);
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
        Self {
            window: window.max(MIN_RESIDUALS),
            horizon: horizon.max(1),
            residuals: Vec::new(),
            packed: Vec::new(),
            cache: Vec::new(),
            phases: None,
            pack: false,
        }
    }

    /// A calibrator keeping its residuals in two bytes each (half floats scaled per step), for
    /// the scale tier: 200 bytes a step per 100 residuals rather than 400, bands and quantiles
    /// within 2⁻¹¹ of the `f32` ones. Without phases.
    pub fn packed(horizon: usize, window: usize) -> Self {
        let mut c = Self::new(horizon, window);
        c.pack = true;
        c
    }

    /// A calibrator that also keeps the time-of-day phase of each residual's target
    /// ([`Calibrator::record_at`]), for conditional quantiles (`crate::conditional`).
    pub fn with_phases(horizon: usize, window: usize) -> Self {
        let mut c = Self::new(horizon, window);
        c.phases = Some(Box::new(Phases::new()));
        c
    }

    /// Residuals of `step`, oldest first, and their targets' phases (`None` without phases; a
    /// packed calibrator holds no `f32` residuals: see [`Calibrator::residuals`]).
    pub fn held(&self, step: usize) -> (&VecDeque<f32>, Option<PhaseIter<'_>>) {
        let i = self.index(step);
        let r = self.residuals.get(i).unwrap_or(&NO_RESIDUALS);
        (r, self.phases.as_ref().map(|p| p.of(i, r.len())))
    }

    /// Residuals of `step` as held, oldest first (unpacked from two bytes when packed).
    pub fn residuals(&self, step: usize) -> Vec<f32> {
        let i = self.index(step);
        if self.pack {
            return self.packed.get(i).map_or_else(Vec::new, Packed::values);
        }
        self.residuals
            .get(i)
            .map_or_else(Vec::new, |r| r.iter().copied().collect())
    }

    /// Residuals kept per horizon.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Horizons calibrated.
    pub fn horizon(&self) -> usize {
        self.horizon
    }

    /// Index of `step`'s state (steps beyond the horizon use the last one).
    fn index(&self, step: usize) -> usize {
        step.clamp(1, self.horizon) - 1
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
        let i = self.index(step);
        if let Some(p) = &mut self.phases {
            p.note(i, &self.residuals, self.window, target, phase);
        }
        grow_exact(&mut self.cache, i + 1, Cached::NEW);
        if self.pack {
            grow_exact(&mut self.packed, i + 1, Packed::default());
            if let (Some(p), Some(c)) = (self.packed.get_mut(i), self.cache.get_mut(i)) {
                p.push(residual, self.window);
                c.dirty = c.dirty.saturating_add(1);
                c.qdirty = c.qdirty.saturating_add(1);
            }
            return;
        }
        grow_exact(&mut self.residuals, i + 1, VecDeque::new());
        if let (Some(r), Some(c)) = (self.residuals.get_mut(i), self.cache.get_mut(i)) {
            if r.len() == self.window {
                r.pop_front();
            }
            grow_within(r, self.window);
            r.push_back(residual as f32);
            c.dirty = c.dirty.saturating_add(1);
            c.qdirty = c.qdirty.saturating_add(1);
        }
    }

    /// Residuals held for `step`.
    pub fn count(&self, step: usize) -> usize {
        let i = self.index(step);
        if self.pack {
            return self.packed.get(i).map_or(0, |p| p.q.len());
        }
        self.residuals.get(i).map_or(0, VecDeque::len)
    }

    /// The `level` quantile (0 < level < 1) of the signed residuals of `step` (steps beyond the
    /// horizon use the last one): the offset above a point forecast that actuals exceeded with
    /// probability `1 − level`, the `⌈(n+1)·level⌉`-th smallest of `n` residuals. `None` until
    /// [`MIN_RESIDUALS`] are held, or while too few are held for that rank (at least
    /// `level / (1 − level)`: 99 for 0.99), rather than a falsely narrow offset.
    pub fn quantile(&mut self, step: usize, level: f64) -> Option<f64> {
        let i = self.index(step);
        if !(level > 0.0 && level < 1.0) {
            return None;
        }
        // A step without residuals has no quantile (and nothing to cache).
        let c = self.cache.get_mut(i)?;
        // Cached like the bands: a long window's quantile moves slowly.
        let fresh_needed = (self.window / 20).max(1);
        let stale = c.qdirty as usize;
        if let Some((l, q)) = c.quantile {
            if l == level && stale < fresh_needed && (q.is_some() || stale == 0) {
                return q.map(f64::from);
            }
        }
        let q = quantile_of(values(&self.residuals, &self.packed, self.pack, i)?, level);
        c.quantile = Some((level, q));
        c.qdirty = 0;
        q.map(f64::from)
    }

    /// Bands for `step` at the three [`LEVELS`]; steps beyond the horizon use the last one.
    pub fn bands(&mut self, step: usize) -> [Band; 3] {
        let i = self.index(step);
        let Some(c) = self.cache.get_mut(i) else {
            return [Band::UNBOUNDED; 3];
        };
        // Quantiles of a long window move slowly: recompute after a twentieth of it is new (and
        // at once while the band is still unbounded), which keeps the per-forecast cost low.
        let fresh_needed = (self.window / 20).max(1);
        let stale = c.dirty as usize;
        let unbounded = c.bands[0].1.is_infinite();
        if stale >= fresh_needed || (stale > 0 && unbounded) {
            let Some(r) = values(&self.residuals, &self.packed, self.pack, i) else {
                return [Band::UNBOUNDED; 3];
            };
            c.bands = compute_bands(r);
            c.dirty = 0;
        }
        c.bands()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.residuals.capacity() * std::mem::size_of::<VecDeque<f32>>()
            + self
                .residuals
                .iter()
                .map(|r| r.capacity() * 4)
                .sum::<usize>()
            + self.packed.capacity() * std::mem::size_of::<Packed>()
            + self
                .packed
                .iter()
                .map(|p| p.q.capacity() * 2)
                .sum::<usize>()
            + self.cache.capacity() * std::mem::size_of::<Cached>()
            + self
                .phases
                .as_ref()
                .map_or(0, |p| std::mem::size_of::<Phases>() + p.heap_bytes())
    }
}

/// One step's residuals in two bytes each, for the scale tier: residual `k` is `q[k] · 2^exp`,
/// an IEEE half float times a power of two, `exp` the smallest that keeps the largest held
/// within 32,768 (an `f16` alone tops out at 65,504, and rates are in bit/s). A half float keeps
/// 11 significant bits at every magnitude, so each residual is within 2⁻¹¹ of itself (half an
/// ulp) however large the others are, and the near-zero residuals of a mostly idle link keep
/// their order; rounding is monotone, so a quantile of the packed residuals is the packed
/// quantile. Changing `exp` multiplies by a power of two: exact (short of the subnormals,
/// 2⁻³⁹ of the largest held).
#[derive(Debug, Clone, Default)]
struct Packed {
    q: VecDeque<f16>,
    exp: i16,
}

/// The lowest scale exponent: residuals below `2^-164` (none that a rate makes) round to zero.
const MIN_EXP: i16 = -140;
/// Largest scaled magnitude held: the exponent is the smallest that keeps every residual within it.
const TOP: f64 = 32_768.0;

impl Packed {
    fn scale(exp: i16) -> f64 {
        2f64.powi(i32::from(exp))
    }

    /// The smallest exponent that holds `r` (finite) within [`TOP`].
    fn exp_for(r: f64) -> i16 {
        if r == 0.0 {
            return MIN_EXP;
        }
        // `|r| < 2^(k + 1)`: `2^(k − 15)` is at most a step below the answer.
        let k = r.abs().log2().floor() as i32;
        let mut e = (k - 15).clamp(i32::from(MIN_EXP), i32::from(i16::MAX)) as i16;
        while (r / Self::scale(e)).abs() > TOP {
            e += 1;
        }
        e
    }

    /// Multiplies every held value by `2^by`.
    fn rescale(&mut self, by: i16) {
        let f = Self::scale(by);
        for q in &mut self.q {
            *q = f16::from_f64(q.to_f64() * f);
        }
    }

    fn push(&mut self, r: f64, window: usize) {
        // Rounded as the `f32` windows round it first, so packing is all that differs.
        let r = f64::from(r as f32);
        if self.q.is_empty() {
            self.exp = MIN_EXP;
        }
        if self.q.len() == window {
            let gone = self.q.pop_front().map_or(0.0, |q| q.to_f64().abs());
            // Only a value in the upper half of the range can have set the exponent.
            if gone > TOP / 2.0 {
                self.fall();
            }
        }
        let need = Self::exp_for(r);
        if need > self.exp {
            self.rescale(self.exp - need);
            self.exp = need;
        }
        grow_within(&mut self.q, window);
        self.q.push_back(f16::from_f64(r / Self::scale(self.exp)));
    }

    /// Lowers the exponent as far as the largest held residual allows.
    fn fall(&mut self) {
        let top = self.q.iter().fold(0f64, |m, q| m.max(q.to_f64().abs()));
        let mut shift = 0;
        // To the floor when nothing else is held: the next residual sets it.
        while self.exp - shift > MIN_EXP && top * Self::scale(shift + 1) <= TOP {
            shift += 1;
        }
        if shift > 0 {
            self.rescale(shift);
            self.exp -= shift;
        }
    }

    fn values(&self) -> Vec<f32> {
        let s = Self::scale(self.exp);
        self.q.iter().map(|q| (q.to_f64() * s) as f32).collect()
    }
}

/// Makes room for one more value in a window of at most `window`: by a quarter (doubling left a
/// young window up to half empty, and every step of every series holds one), never past the
/// window (a 500-residual window takes 500 slots, not 512).
fn grow_within<T>(q: &mut VecDeque<T>, window: usize) {
    if q.len() == q.capacity() && q.len() < window {
        let more = (q.len() / 4).max(4).min(window - q.len());
        q.reserve_exact(more);
    }
}

/// Lengthens `v` to `len` with `fill`, allocating exactly (a step at a time as steps first
/// record: doubling would overshoot the horizon).
fn grow_exact<T: Clone>(v: &mut Vec<T>, len: usize, fill: T) {
    if v.len() < len {
        v.reserve_exact(len - v.len());
        v.resize(len, fill);
    }
}

/// Step `i`'s residuals, from whichever store holds them.
fn values(plain: &[VecDeque<f32>], packed: &[Packed], pack: bool, i: usize) -> Option<Vec<f32>> {
    if pack {
        packed.get(i).map(Packed::values)
    } else {
        plain.get(i).map(|r| r.iter().copied().collect())
    }
}

/// The 1-based rank of the `level` quantile of `n` residuals, `⌈(n+1)·level⌉`: `None` below
/// [`MIN_RESIDUALS`] or beyond the sample.
pub(crate) fn quantile_rank(n: usize, level: f64) -> Option<usize> {
    if n < MIN_RESIDUALS {
        return None;
    }
    let rank = ((n + 1) as f64 * level).ceil() as usize;
    (rank != 0 && rank <= n).then_some(rank)
}

fn quantile_of(mut v: Vec<f32>, level: f64) -> Option<f32> {
    let rank = quantile_rank(v.len(), level)?;
    let (_, q, _) = v.select_nth_unstable_by(rank - 1, f32::total_cmp);
    Some(*q)
}

fn compute_bands(mut sorted: Vec<f32>) -> [(f32, f32); 3] {
    sorted.sort_unstable_by(f32::total_cmp);
    bands_of_sorted(&sorted)
}

/// `(lo, hi)` at each of [`LEVELS`] of residuals sorted by `f32::total_cmp` (unbounded below
/// [`MIN_RESIDUALS`]).
pub(crate) fn bands_of_sorted(sorted: &[f32]) -> [(f32, f32); 3] {
    let n = sorted.len();
    if n < MIN_RESIDUALS {
        return Cached::NEW.bands;
    }
    let at = |rank: usize| -> f32 {
        // rank is 1-based; beyond the sample the bound is unbounded.
        if rank == 0 {
            f32::NEG_INFINITY
        } else {
            sorted.get(rank - 1).copied().unwrap_or(f32::INFINITY)
        }
    };
    LEVELS.map(|level| {
        let tail = (1.0 - level) / 2.0;
        let hi_rank = ((n + 1) as f64 * (1.0 - tail)).ceil() as usize;
        let lo_rank = ((n + 1) as f64 * tail).floor() as usize;
        (at(lo_rank), at(hi_rank))
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
    fn packed_bands_and_quantiles_are_the_f32_ones_rounded_to_eleven_bits() {
        // Rates in bit/s (beyond an f16's range) and, at step 3, a mostly idle link's residuals
        // a millionth of them, with a spike 50 times the busy noise that raises the scale of
        // every step and then leaves the window, as a burst does.
        let (h, window) = (3, 100);
        let (mut plain, mut packed) = (Calibrator::new(h, window), Calibrator::packed(h, window));
        let e = noise(3_000, 7);
        // Per step, the magnitudes recorded over the last two windows: while a spike is held,
        // residuals a billionth of it are subnormal half floats.
        let mut seen: Vec<VecDeque<f64>> = vec![VecDeque::new(); h];
        let rel = 2f64.powi(-11);
        for (t, &x) in e.iter().enumerate() {
            let spike = if t == 1_000 { 5.0e8 } else { 0.0 };
            for step in 1..=h {
                let busy = if step == 3 { 0.01 } else { 1.0e7 };
                let r = busy * x * step as f64 + spike;
                plain.record(step, r);
                packed.record(step, r);
                let s = &mut seen[step - 1];
                if s.len() == 2 * window {
                    s.pop_front();
                }
                s.push_back(r.abs());
            }
            for step in 1..=h {
                let largest = seen[step - 1].iter().fold(0f64, |m, r| m.max(*r));
                let near = |p: f64, q: f64| (p - q).abs() <= p.abs() * rel + largest * 2e-11;
                let (pb, qb) = (plain.bands(step), packed.bands(step));
                for (p, q) in pb.iter().zip(&qb) {
                    if p.hi.is_finite() {
                        assert!(near(p.lo, q.lo), "t {t} step {step}: {pb:?} {qb:?}");
                        assert!(near(p.hi, q.hi), "t {t} step {step}: {pb:?} {qb:?}");
                    } else {
                        assert_eq!(p, q);
                    }
                }
                let (pq, qq) = (plain.quantile(step, 0.99), packed.quantile(step, 0.99));
                match (pq, qq) {
                    (Some(p), Some(q)) => assert!(near(p, q), "t {t}: {p} {q}"),
                    _ => assert_eq!(pq, qq, "t {t} step {step}"),
                }
                assert_eq!(plain.count(step), packed.count(step));
            }
        }
        // Long after the spike left, the scale fell back: every residual, the idle link's too,
        // is within 2⁻¹¹ of itself.
        for step in 1..=h {
            let (p, q) = (plain.residuals(step), packed.residuals(step));
            for (a, b) in p.iter().zip(&q) {
                let (a, b) = (f64::from(*a), f64::from(*b));
                assert!((a - b).abs() <= a.abs() * rel, "step {step}: {a} {b}");
            }
        }
        // Two bytes saved a residual, less the eight of the exponent and padding a step.
        let saved = plain.heap_bytes() - packed.heap_bytes();
        assert!(saved >= h * (2 * window - 8), "saved {saved} B");
    }

    #[test]
    fn packed_residuals_of_any_magnitude_and_zero_round_trip() {
        let mut cal = Calibrator::packed(1, 20);
        for r in [0.0, 1.0e-30, -3.0e30, 1.5, f64::NAN, 0.0] {
            cal.record(1, r);
        }
        let held = cal.residuals(1);
        // NaN is not recorded; beside 3e30, 1e-30 and 1.5 are below the smallest half float.
        assert_eq!(held, [0.0, 0.0, held[2], 0.0, 0.0]);
        assert!((f64::from(held[2]) + 3.0e30).abs() <= 3.0e30 * 2f64.powi(-11));
        // Once 3e30 has left, small residuals keep their own precision again.
        for _ in 0..20 {
            cal.record(1, 1.5);
        }
        cal.record(1, -1.0e-3);
        let held = cal.residuals(1);
        assert_eq!(held[18], 1.5);
        assert!((f64::from(held[19]) + 1.0e-3).abs() <= 1.0e-3 * 2f64.powi(-11));
    }

    #[test]
    fn too_few_residuals_give_unbounded_band() {
        let mut cal = Calibrator::new(2, 100);
        cal.record(1, 1.0);
        assert_eq!(cal.bands(1)[0].hi, f64::INFINITY);
    }
}
