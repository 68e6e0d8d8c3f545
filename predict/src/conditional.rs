//! Residual quantiles conditional on the time of day, for capacity sizing.
//!
//! A forecast's error is not equally wide at every hour: a network's busy hours swing more than
//! its nights. The plain split-conformal quantile ([`crate::interval::Calibrator::quantile`])
//! gives every hour the same offset, so the quiet hours are over-provisioned to pay for the busy
//! ones. Here each residual is divided by the mean absolute residual of its time-of-day bin (a
//! normalised nonconformity score: Papadopoulos et al., "Normalized nonconformity measures for
//! regression conformal prediction", 2008), the `level` quantile of those scores is taken, and
//! the offset for a target is that quantile times its own bin's scale.
//!
//! Whether the conditional offset earns its place is decided on the series' own past, rolling
//! origin: every residual, before it is recorded, scores the offsets each candidate (the plain
//! quantile, 4, 8 or 24 bins a day) held for it by the quantile (pinball) loss at the sizing
//! level, a proper scoring rule for quantiles (Gneiting & Raftery, JASA 2007). A conditional
//! candidate is used only once it scores clearly lower (by `MARGIN`) than the plain quantile over
//! at least [`evidence`] residuals; until then, and where it never does (a sparse series whose
//! bins hold a handful of residuals), the plain quantile stays.

use crate::interval::PhaseIter;
use std::collections::VecDeque;

/// Fine time-of-day phases a residual is tagged with (one per hour of a day).
pub const PHASES: usize = 24;

/// Bins per day of the conditional candidates (each divides [`PHASES`]); candidate 0 is the plain
/// quantile.
pub const BINS: [usize; 3] = [4, 8, 24];

const CANDIDATES: usize = BINS.len() + 1;

/// Residuals a bin needs before its own scale is used (else the mean over all bins).
const MIN_PER_BIN: usize = 10;

/// How much lower than the plain quantile's a conditional candidate's score must be: more
/// parameters must buy more than noise (on pattern-free Gaussian residuals the best of the three
/// bin counts scored within 0.4 % of the plain quantile, by chance).
const MARGIN: f64 = 0.02;

/// The phase (`0..PHASES`) of row `row` of a series with `day` rows a day.
pub fn phase(row: u64, day: usize) -> u8 {
    let day = day.max(1) as u64;
    ((row % day) * PHASES as u64 / day) as u8
}

/// The phase (`0..PHASES`) of row `row` of a series sampled every `step_secs` seconds, from the
/// exact day (for intervals that do not divide it, where a rounded day would drift).
pub fn clock_phase(row: u64, step_secs: u64) -> u8 {
    let share = crate::season::clock_phase(row, step_secs, crate::season::DAY_SECS);
    ((share * PHASES as f64) as usize).min(PHASES - 1) as u8
}

/// Scored residuals a conditional candidate needs before it may replace the plain quantile:
/// one expected violation's worth at the sizing level, `1 / (1 − level)` (100 at 99 %).
pub fn evidence(level: f64) -> f64 {
    (1.0 / (1.0 - level)).ceil()
}

/// The memory of the candidates' scores, in residuals: about twenty expected violations at the
/// sizing level (2,000 at 99 %), so the score of a tail quantile rests on more than a few.
fn memory(level: f64) -> f64 {
    20.0 / (1.0 - level)
}

/// The pinball loss of quantile offset `q` at `level` for residual `e`.
fn pinball(e: f64, q: f64, level: f64) -> f64 {
    let u = e - q;
    if u >= 0.0 {
        level * u
    } else {
        (level - 1.0) * u
    }
}

/// Values an [`Offsets`] holds: the plain quantile's, then one per bin of each of [`BINS`].
const SLOTS: usize = 1 + BINS[0] + BINS[1] + BINS[2];

/// Every candidate's offset: a bin's phases share one, so 37 values where a table of every
/// candidate and phase took 96 (every step of every series holds one).
#[derive(Debug, Clone)]
struct Offsets([f32; SLOTS]);

impl Offsets {
    /// Where candidate `k`'s offset for phase `p` (`< PHASES`) is.
    fn index(k: usize, p: usize) -> usize {
        match k {
            0 => 0,
            k => {
                let bins = BINS.get(k - 1).copied().unwrap_or(PHASES);
                1 + BINS.iter().take(k - 1).sum::<usize>() + p / (PHASES / bins)
            }
        }
    }

    /// Candidate `k`'s offset for a target in `phase`.
    fn get(&self, k: usize, phase: u8) -> f32 {
        let p = usize::from(phase).min(PHASES - 1);
        self.0.get(Self::index(k, p)).copied().unwrap_or(f32::NAN)
    }
}

#[derive(Debug, Clone)]
struct Step {
    /// Offsets per candidate and phase; `None` while too few residuals are held.
    offsets: Option<Box<Offsets>>,
    /// Residuals recorded since the offsets were computed.
    stale: usize,
    /// Discounted pinball loss per candidate.
    loss: [f64; CANDIDATES],
    /// Discounted count of scored residuals.
    scored: f64,
}

/// Conditional residual quantiles of every step of a horizon, at one sizing level, and the
/// running scores that choose between them and the plain quantile.
#[derive(Debug, Clone)]
pub struct Conditional {
    level: f64,
    fresh_needed: usize,
    horizon: usize,
    /// The steps scored or with offsets so far, `steps[step - 1]`; a step not here is new (no
    /// offsets, nothing scored): a young series' later steps have no residuals yet.
    steps: Vec<Step>,
}

impl Step {
    const NEW: Step = Step {
        offsets: None,
        stale: 0,
        loss: [0.0; CANDIDATES],
        scored: 0.0,
    };
}

impl Conditional {
    /// For steps `1..=horizon` at quantile `level` (0.5 < level < 1), refreshing offsets after
    /// `fresh_needed` new residuals (as the calibrator refreshes its own quantile).
    pub fn new(horizon: usize, level: f64, fresh_needed: usize) -> Self {
        Conditional {
            level,
            fresh_needed: fresh_needed.max(1),
            horizon: horizon.max(1),
            steps: Vec::new(),
        }
    }

    /// Makes step index `i` (and those before it) present, allocating exactly.
    fn grow_to(&mut self, i: usize) {
        if self.steps.len() <= i {
            self.steps.reserve_exact(i + 1 - self.steps.len());
            self.steps.resize(i + 1, Step::NEW);
        }
    }

    /// The sizing level.
    pub fn level(&self) -> f64 {
        self.level
    }

    fn index(&self, step: usize) -> usize {
        step.clamp(1, self.horizon) - 1
    }

    fn refresh(&mut self, i: usize, residuals: &VecDeque<f32>, phases: PhaseIter<'_>) {
        let level = self.level;
        let fresh_needed = self.fresh_needed;
        match self.steps.get_mut(i) {
            Some(s) => {
                if s.offsets.is_none() || s.stale >= fresh_needed {
                    s.offsets = offsets(residuals, phases, level);
                    s.stale = 0;
                }
            }
            // A new step stays new (not stored) until it has offsets.
            None => {
                if let Some(off) = offsets(residuals, phases, level) {
                    self.grow_to(i);
                    if let Some(s) = self.steps.get_mut(i) {
                        s.offsets = Some(off);
                    }
                }
            }
        }
    }

    /// Scores every candidate's offset for residual `e` of `step` (target in `phase`), held
    /// before `e` is known, and counts `e` towards the next refresh. Call before the calibrator
    /// records `e`; `residuals` and `phases` are what it holds for `step`.
    pub fn score(
        &mut self,
        step: usize,
        e: f64,
        phase: u8,
        residuals: &VecDeque<f32>,
        phases: PhaseIter<'_>,
    ) {
        if !e.is_finite() {
            return;
        }
        let i = self.index(step);
        self.grow_to(i);
        self.refresh(i, residuals, phases);
        let level = self.level;
        let d = 1.0 - 1.0 / memory(level);
        if let Some(s) = self.steps.get_mut(i) {
            if let Some(off) = &s.offsets {
                for (k, l) in s.loss.iter_mut().enumerate() {
                    *l = *l * d + pinball(e, f64::from(off.get(k, phase)), level);
                }
                s.scored = s.scored * d + 1.0;
            }
            s.stale += 1;
        }
    }

    /// The candidate in use for `step`: 0 for the plain quantile, else `k` for [`BINS`]`[k − 1]`
    /// bins a day.
    pub fn chosen(&self, step: usize) -> usize {
        let Some(s) = self.steps.get(self.index(step)) else {
            return 0;
        };
        if s.offsets.is_none() || s.scored < evidence(self.level) {
            return 0;
        }
        let mut best = 0;
        let mut to_beat = s.loss[0] * (1.0 - MARGIN);
        for (k, l) in s.loss.iter().enumerate().skip(1) {
            if *l < to_beat {
                best = k;
                to_beat = *l;
            }
        }
        best
    }

    /// The conditional offset for a target of `step` in `phase`, when a conditional candidate
    /// has earned its place there; `None`: use the plain quantile.
    pub fn quantile(
        &mut self,
        step: usize,
        phase: u8,
        residuals: &VecDeque<f32>,
        phases: PhaseIter<'_>,
    ) -> Option<f64> {
        let i = self.index(step);
        self.refresh(i, residuals, phases);
        let k = self.chosen(step);
        if k == 0 {
            return None;
        }
        let s = self.steps.get(i)?;
        let off = s.offsets.as_ref()?;
        Some(f64::from(off.get(k, phase)))
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.steps.capacity() * std::mem::size_of::<Step>()
            + self.steps.iter().filter(|s| s.offsets.is_some()).count()
                * std::mem::size_of::<Offsets>()
    }
}

/// The `⌈(n + 1)·level⌉`-th smallest of `v` (the conformal rank); `None` when `n` is too small.
fn conformal(v: &mut [f32], level: f64) -> Option<f32> {
    let n = v.len();
    let rank = ((n + 1) as f64 * level).ceil() as usize;
    if n < crate::interval::MIN_RESIDUALS || rank == 0 || rank > n {
        return None;
    }
    let (_, q, _) = v.select_nth_unstable_by(rank - 1, f32::total_cmp);
    Some(*q)
}

/// Every candidate's offset for every phase, from the residuals held and their phases.
fn offsets(residuals: &VecDeque<f32>, phases: PhaseIter<'_>, level: f64) -> Option<Box<Offsets>> {
    if residuals.len() != phases.len() {
        return None;
    }
    let mut buf: Vec<f32> = residuals.iter().copied().collect();
    let plain = conformal(&mut buf, level)?;
    let mut out = Box::new(Offsets([plain; SLOTS]));
    let (mut sum, mut count) = ([0.0f64; PHASES], [0usize; PHASES]);
    for (&e, &p) in residuals.iter().zip(phases.clone()) {
        let p = usize::from(p).min(PHASES - 1);
        sum[p] += f64::from(e.abs());
        count[p] += 1;
    }
    let total: f64 = sum.iter().sum();
    let n: usize = count.iter().sum();
    let mean = total / n.max(1) as f64;
    if !(mean > 0.0 && mean.is_finite()) {
        // No spread at all: every candidate is the plain quantile.
        return Some(out);
    }
    for (k, &bins) in BINS.iter().enumerate() {
        let width = PHASES / bins;
        let scale: Vec<f64> = (0..bins)
            .map(|b| {
                let range = b * width..(b + 1) * width;
                let s: f64 = sum[range.clone()].iter().sum();
                let c: usize = count[range].iter().sum();
                if c >= MIN_PER_BIN && s > 0.0 {
                    s / c as f64
                } else {
                    mean
                }
            })
            .collect();
        let of = |p: u8| scale[(usize::from(p).min(PHASES - 1)) / width];
        buf.clear();
        buf.extend(
            residuals
                .iter()
                .zip(phases.clone())
                .map(|(&e, &p)| (f64::from(e) / of(p)) as f32),
        );
        let Some(qz) = conformal(&mut buf, level) else {
            continue;
        };
        // Every phase of bin `b` reads `scale[b]`.
        for (b, s) in scale.iter().enumerate() {
            if let Some(o) = out.0.get_mut(Offsets::index(k + 1, b * width)) {
                *o = (f64::from(qz) * s) as f32;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::noise;

    #[test]
    fn clock_phases_at_35_minutes_stay_on_the_hour_of_day() {
        // Seven weeks of 35-minute steps end at midnight; the rounded day of 41 steps would put
        // that row 7 steps (4 hours) into the day.
        assert_eq!(clock_phase(7 * 288, 2_100), 0);
        assert_eq!(phase(7 * 288, 41), 4);
        // Row 2,000 is 48 days and 14 h 40 min in.
        assert_eq!(clock_phase(2_000, 2_100), 14);
        assert_eq!(clock_phase(41, 2_100), 23, "23:55");
    }

    /// Residuals whose spread is four times wider in the first quarter of each day than in the
    /// rest, `day` rows a day, as (residual, phase).
    fn busy_mornings(n: usize, day: usize) -> Vec<(f64, u8)> {
        noise(n, 7)
            .into_iter()
            .enumerate()
            .map(|(r, e)| {
                let ph = phase(r as u64, day);
                let wide = usize::from(ph) < PHASES / 4;
                (if wide { 4.0 * e } else { e }, ph)
            })
            .collect()
    }

    fn run(
        rows: &[(f64, u8)],
        level: f64,
        window: usize,
    ) -> (Conditional, VecDeque<f32>, VecDeque<u8>) {
        let mut c = Conditional::new(1, level, window / 20);
        let (mut res, mut ph) = (VecDeque::new(), VecDeque::new());
        for &(e, p) in rows {
            c.score(1, e, p, &res, ph.iter());
            if res.len() == window {
                res.pop_front();
                ph.pop_front();
            }
            res.push_back(e as f32);
            ph.push_back(p);
        }
        (c, res, ph)
    }

    #[test]
    fn a_busy_hour_gets_a_wider_offset_and_the_quiet_hours_a_narrower_one() {
        let day = 96;
        let rows = busy_mornings(20 * day, day);
        let (mut c, res, ph) = run(&rows, 0.95, 500);
        assert_ne!(c.chosen(1), 0, "the conditional quantile should win here");
        let busy = c.quantile(1, 0, &res, ph.iter()).expect("conditional");
        let quiet = c.quantile(1, 20, &res, ph.iter()).expect("conditional");
        assert!(busy > 2.5 * quiet, "busy {busy} quiet {quiet}");
        // Coverage holds where it matters: on fresh rows of the same process, the conditional
        // offsets are exceeded about 5 % of the time overall, and in the busy quarter too.
        let fresh = busy_mornings(40 * day, day);
        let (mut over, mut busy_over, mut busy_n) = (0, 0, 0);
        for &(e, p) in &fresh[20 * day..] {
            let q = c.quantile(1, p, &res, ph.iter()).expect("conditional");
            over += usize::from(e > q);
            if usize::from(p) < PHASES / 4 {
                busy_n += 1;
                busy_over += usize::from(e > q);
            }
        }
        let share = over as f64 / (20 * day) as f64;
        let busy_share = busy_over as f64 / busy_n as f64;
        assert!((0.02..0.09).contains(&share), "overall {share}");
        assert!(busy_share < 0.12, "busy hours {busy_share}");
    }

    #[test]
    fn the_plain_quantile_stays_where_the_hour_tells_nothing() {
        let day = 96;
        let rows: Vec<(f64, u8)> = noise(20 * day, 3)
            .into_iter()
            .enumerate()
            .map(|(r, e)| (e, phase(r as u64, day)))
            .collect();
        let (mut c, res, ph) = run(&rows, 0.95, 500);
        // With no hourly pattern the bins only add estimation noise, and the plain quantile
        // scores better.
        assert_eq!(c.chosen(1), 0, "{:?}", c.steps[0].loss);
        assert_eq!(c.quantile(1, 0, &res, ph.iter()), None);
        // Too little evidence: nothing but the plain quantile.
        let (mut short, r, p) = run(&rows[..30], 0.95, 500);
        assert_eq!(short.chosen(1), 0);
        assert_eq!(short.quantile(1, 0, &r, p.iter()), None);
    }

    #[test]
    fn constant_and_empty_residuals_do_not_divide_by_zero() {
        let rows: Vec<(f64, u8)> = (0..300).map(|r| (0.0, phase(r, 48))).collect();
        let (mut c, res, ph) = run(&rows, 0.99, 500);
        assert_eq!(c.quantile(1, 3, &res, ph.iter()), None);
        let mut empty = Conditional::new(2, 0.99, 10);
        assert_eq!(
            empty.quantile(2, 0, &VecDeque::new(), VecDeque::new().iter()),
            None
        );
        assert_eq!(phase(95, 96), 23);
        assert_eq!(phase(96, 96), 0);
        assert_eq!(phase(5, 0), 0);
    }
}
