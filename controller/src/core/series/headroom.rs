//! The headroom a series plans with: the factor on its planning bounds that its own record of
//! what it planned one step ahead against what came asks for, by the rule `prescient evaluate`
//! chooses the predictive policy's headroom with on validation rows
//! ([`crate::sizing::predictive_headroom`]: shrunk towards 1 by one expected violation's worth of
//! pseudo-rows, never below 1). The bound it corrects is already a calibrated quantile; where
//! the series' errors have grown wider than its calibration window has caught up with (noise
//! that doubled, a regime the quantile lags), its bounds were exceeded more often than the
//! target, and the factor makes up for that, as evaluate measured it does.
//!
//! The factor is capped by a margin (session 29): a bound `b` is planned at
//! `min(factor × b, b + margin)`, the margin being the additive shortfall the same record asks
//! for by the same rule ([`sizing::predictive_margin`]). Where a series idles near zero and
//! bursts, a burst over a near-zero bound asks for a factor in the hundreds (session 28: 636 on
//! error counts at 1 minute), which multiplied into every larger bound held a hundred times the
//! demand; the margin is the most the record ever showed the bound falling short by, at the target.
//!
//! The evidence is the record's one-step rows (lead 1, the only lead a series records) at
//! headroom 1: each tick keeps the bound as planned, and [`Runs`] the headroom it was planned at,
//! so the evidence takes it back out (feeding planned bounds back would compound the factor).

use std::collections::VecDeque;

use super::Series;
use crate::sizing;

/// Observations between refreshes of a series' headroom at violation target `violation`,
/// `⌈1 / violation⌉` (one expected violation's worth of rows), and the fewest ticks its record
/// must keep for it to take a headroom at all: a record shorter than that cannot be expected to
/// hold a single violation, let alone say how far past the bound it went (a compact series'
/// 32 ticks at the default 1 %, so compact series plan at headroom 1 there).
pub(super) fn every(violation: f64) -> u64 {
    let v = if sizing::valid_violation(violation) {
        violation
    } else {
        sizing::DEFAULT_VIOLATION_TARGET
    };
    (1.0 / v).ceil() as u64
}

/// Whether a series with refit phase `phase` refreshes its headroom at its `n`-th observation:
/// every [`every`] observations, shifted by the phase so that series created in one tick do not
/// all sort their records in one tick.
pub(super) fn due(phase: u64, n: u64, violation: f64) -> bool {
    let every = every(violation);
    (n + phase % every) % every == 0
}

/// How a series raises its calibrated planning bounds: by `factor`, adding at most `margin`
/// (in the series' own unit) to any bound.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Headroom {
    /// The factor on a bound, at least 1.
    pub factor: f32,
    /// The most the factor adds to a bound.
    pub margin: f32,
}

impl Headroom {
    /// No headroom: every bound as the quantile asks for it.
    pub const NONE: Headroom = Headroom {
        factor: 1.0,
        margin: 0.0,
    };

    /// Whether bounds are planned as they are.
    pub fn is_none(self) -> bool {
        self.factor <= 1.0 || self.margin <= 0.0
    }

    /// The bound planned for calibrated bound `bound`.
    pub fn plan(self, bound: f64) -> f64 {
        if self.is_none() || bound <= 0.0 {
            return bound;
        }
        (bound * f64::from(self.factor)).min(bound + f64::from(self.margin))
    }

    /// The calibrated bound that [`Headroom::plan`] made `planned` from (both pieces of the
    /// planned bound increase with the bound, so there is one).
    pub fn base(self, planned: f64) -> f64 {
        if self.is_none() || planned <= 0.0 {
            return planned;
        }
        let (factor, margin) = (f64::from(self.factor), f64::from(self.margin));
        let scaled = planned / factor;
        if scaled * (factor - 1.0) <= margin {
            scaled
        } else {
            planned - margin
        }
    }
}

impl std::fmt::Display for Headroom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_none() {
            f.write_str("none")
        } else {
            write!(f, "x {:.3}, adding at most {:.0}", self.factor, self.margin)
        }
    }
}

/// The headroom `rows` of `(demand, bound at headroom 1)` ask for at `violation`: none without
/// rows, or where no finite factor meets the target (demand where every bound was zero).
pub(super) fn choose(rows: impl Iterator<Item = (f64, f64)>, violation: f64) -> Headroom {
    let rows: Vec<sizing::Evidence> = rows.map(|(y, b)| (1, y, b)).collect();
    let Some(factor) = sizing::predictive_headroom(&rows, 1, violation).filter(|&h| h > 1.0)
    else {
        return Headroom::NONE;
    };
    let margin = sizing::predictive_margin(rows.iter().map(|&(_, y, b)| (y, b)), violation);
    Headroom {
        factor: factor as f32,
        margin: margin.map_or(0.0, |m| m as f32),
    }
}

impl Series {
    /// The headroom on every planning bound this series issues (all steps of its forecast, and
    /// so the forecast reservations and service scale-ups sized on them): what its own record
    /// of one-step bounds against actuals asks for to meet its violation target, refreshed once
    /// an expected violation ([`every`]); none until the record has evidence, and for a series
    /// whose record is too short to hold one expected violation.
    pub fn headroom(&self) -> Headroom {
        self.headroom
    }

    /// Chooses the headroom anew on the record as it is now (from the next forecast on).
    pub(super) fn refresh_headroom(&mut self) {
        self.headroom = if (self.window.keep() as u64) < every(self.violation) {
            Headroom::NONE
        } else {
            choose(self.window.evidence(), self.violation)
        };
    }
}

/// The headroom each kept tick's forecast was planned at, as runs of equal headrooms, oldest
/// first, counting every tick (one without a forecast at none); `None` while every one was none,
/// as for most series, which then pay 8 bytes for it (a series whose record holds headrooms pays
/// 32 more and 12 a run; a headroom lasts [`every`] ticks, so a 360-tick record holds about five
/// runs at 1 %).
#[derive(Debug, Default)]
// Boxed on purpose: 8 bytes in every series where a `VecDeque` takes 32, and most series never
// hold a run.
#[allow(clippy::box_collection)]
pub(super) struct Runs(Option<Box<VecDeque<(u32, Headroom)>>>);

impl Runs {
    /// Appends a tick planned at `headroom`; `before` ticks are kept already.
    pub(super) fn push(&mut self, headroom: Headroom, before: usize) {
        let headroom = if headroom.is_none() {
            Headroom::NONE
        } else {
            headroom
        };
        if headroom == Headroom::NONE && self.0.is_none() {
            return;
        }
        let runs = self.0.get_or_insert_with(|| {
            let mut r = VecDeque::new();
            if before > 0 {
                r.push_back((u32::try_from(before).unwrap_or(u32::MAX), Headroom::NONE));
            }
            Box::new(r)
        });
        match runs.back_mut() {
            Some((n, h)) if *h == headroom && *n < u32::MAX => *n += 1,
            _ => runs.push_back((1, headroom)),
        }
    }

    /// Forgets the oldest tick; gives the room back once every tick left was planned at 1.
    pub(super) fn pop_front(&mut self) {
        let Some(runs) = &mut self.0 else {
            return;
        };
        if let Some(front) = runs.front_mut() {
            front.0 = front.0.saturating_sub(1);
            if front.0 == 0 {
                runs.pop_front();
            }
        }
        if runs.iter().all(|&(_, h)| h == Headroom::NONE) {
            self.0 = None;
        }
    }

    /// The headroom of each tick, oldest first (none past the last run: every tick while
    /// `None`).
    pub(super) fn headrooms(&self) -> impl Iterator<Item = Headroom> + '_ {
        self.0
            .iter()
            .flat_map(|r| r.iter())
            .flat_map(|&(n, h)| std::iter::repeat_n(h, n as usize))
            .chain(std::iter::repeat(Headroom::NONE))
    }

    /// Heap bytes held.
    pub(super) fn heap_bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |r| {
            std::mem::size_of::<VecDeque<(u32, Headroom)>>()
                + r.capacity() * std::mem::size_of::<(u32, Headroom)>()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prescient_topology::Timestamp;
    use std::time::Duration;

    /// A standard normal draw for step `i` (Box-Muller on two hashed uniforms).
    fn normal(i: u64) -> f64 {
        let u = |k: u64| {
            let x = (i.wrapping_mul(2).wrapping_add(k))
                .wrapping_mul(6364136223846793005)
                .rotate_left(29)
                >> 11;
            (x as f64 + 0.5) / (1u64 << 53) as f64
        };
        (-2.0 * u(0).ln()).sqrt() * (std::f64::consts::TAU * u(1)).cos()
    }

    /// Replays `value` through a series for `n` steps; from step `from` on, each step's
    /// one-step planning bound as issued and at headroom 1, with the actual that came.
    fn replay(value: impl Fn(u64) -> f64, n: u64, from: u64) -> (Series, Vec<[f64; 3]>) {
        let mut s = Series::new(Duration::from_secs(1), 3, 360).with_violation(0.01);
        let mut rows = Vec::new();
        for i in 0..n {
            let planned = s.forecast().first().map(|p| p.bound);
            let h = s.headroom();
            let y = value(i);
            s.observe(Timestamp::from_secs(i), Some(y));
            if let (Some(b), true) = (planned, i >= from) {
                rows.push([y, b, h.base(b)]);
            }
        }
        (s, rows)
    }

    #[test]
    fn a_series_whose_noise_doubles_plans_above_its_lagging_quantile_and_is_exceeded_less() {
        // 1,500 steps of noise around 1,000, then the noise doubles: the 500 residuals the
        // quantile is taken from hold the narrow noise for hundreds of steps, and the series'
        // own record shows its bound exceeded far more often than 1 %.
        let change = 1_500;
        let value = |i: u64| {
            let sd = if i < change { 100.0 } else { 200.0 };
            1_000.0 + sd * normal(i)
        };
        let (_, rows) = replay(value, change + 900, change);
        let over =
            |k: usize| rows.iter().filter(|r| r[0] > r[k]).count() as f64 / rows.len() as f64;
        let (planned, base) = (over(1), over(2));
        let highest = rows.iter().map(|r| r[1] / r[2]).fold(1.0, f64::max);
        assert!(highest > 1.02, "headroom stayed at {highest}");
        assert!(
            planned < base,
            "exceeded {planned} as planned, {base} at headroom 1"
        );
        // It comes from the evidence, not from nothing: before the change it was 1 or nearly.
        let (_, steady) = replay(value, change, 600);
        let before = steady.iter().map(|r| r[1] / r[2]).fold(1.0, f64::max);
        assert!(before < highest, "{before} before, {highest} after");
    }

    #[test]
    fn a_steady_series_keeps_its_headroom_at_one_or_within_a_few_percent() {
        // Traffic-like noise of 2 % of the level: within 1 % of 1 throughout.
        let calm = |i: u64| 1_000.0 + 20.0 * normal(i);
        let highest = |rows: &[[f64; 3]]| rows.iter().map(|r| r[1] / r[2]).fold(1.0, f64::max);
        let (s, rows) = replay(calm, 2_000, 200);
        assert!(
            highest(&rows) <= 1.01,
            "headroom reached {}",
            highest(&rows)
        );
        assert!(s.headroom().factor >= 1.0);
        // Noise of 10 %: the calibrated bound is exceeded in about 1 % of the record (3 or 4 of
        // 360 rows here), and the conformal rank asks for at most 2.6 (`⌈361 × 0.99⌉`-th of
        // 360, so that the share holds for the rows to come), so the factor sits a little above
        // 1 (here 1.016-1.021: the third largest ratio, about 1.025, shrunk by 360 / 460), as
        // evaluate's does on validation rows; it does not run away.
        let wide = |i: u64| 1_000.0 + 100.0 * normal(i);
        let (_, rows) = replay(wide, 2_000, 200);
        assert!(
            highest(&rows) <= 1.025,
            "headroom reached {}",
            highest(&rows)
        );
    }

    #[test]
    fn the_record_keeps_what_was_planned_and_the_evidence_what_the_quantile_asked() {
        // Noise that quadruples: the headroom leaves 1. What the record reads back as planned
        // is what the series issued (so the live comparison scores it), and the evidence is
        // that bound at headroom 1, not the planned one fed back.
        let value = |i: u64| 1_000.0 + if i < 800 { 20.0 } else { 80.0 } * normal(i);
        let mut s = Series::new(Duration::from_secs(1), 3, 360).with_violation(0.01);
        let mut issued = Vec::new();
        for i in 0..1_400 {
            let f = s.forecast().first().map(|p| (p.bound, s.headroom()));
            s.observe(Timestamp::from_secs(i), Some(value(i)));
            issued.push(f);
        }
        let past: Vec<f64> = s.past().map(|p| p.bound).collect();
        let recent: Vec<(f64, Headroom)> = issued[issued.len() - past.len()..]
            .iter()
            .map(|x| x.expect("forecast"))
            .collect();
        for (kept, (bound, h)) in past.iter().zip(&recent) {
            assert!(
                (kept - bound).abs() <= 1e-6 * bound,
                "{kept} kept, {bound} issued at {h:?}"
            );
        }
        // Every step of the forecast ahead is planned at the headroom (the bound as the quantile
        // asks for it, times the factor), and so is the forecast a service's demand sums.
        let h = s.headroom();
        assert!(!h.is_none(), "the scenario must end with a headroom, at {h:?}");
        let ahead = s.forecast();
        assert_eq!(ahead.len(), 3);
        for (i, p) in ahead.iter().enumerate() {
            let q = sizing::residual_quantile(&mut s.predictor, i + 1, 0.01);
            let want = h.plan(sizing::bound(p.value, q));
            assert!(
                (p.bound - want).abs() <= 1e-9 * want,
                "step {}: {p:?}, {want}",
                i + 1
            );
        }
        assert_eq!(s.scoped_forecast(), ahead);
        assert_eq!(
            s.planned_peak(),
            ahead.iter().map(|p| p.bound).reduce(f64::max)
        );
        let evidence: Vec<(f64, f64)> = s.window.evidence().collect();
        assert_eq!(evidence.len(), past.len());
        for ((_, base), (bound, h)) in evidence.iter().zip(&recent) {
            assert!(
                (base - h.base(*bound)).abs() <= 1e-5 * base,
                "{base} vs {bound} at {h:?}"
            );
        }
    }

    #[test]
    fn a_compact_series_record_is_too_short_for_a_headroom_at_one_percent() {
        let value = |i: u64| 1_000.0 + if i < 800 { 20.0 } else { 80.0 } * normal(i);
        let mut full = Series::new(Duration::from_secs(1), 3, 360).with_violation(0.01);
        let mut compact = Series::compact_for(Duration::from_secs(1), 3, 0.01, 10);
        let mut left_one = false;
        for i in 0..1_400 {
            for s in [&mut full, &mut compact] {
                s.observe(Timestamp::from_secs(i), Some(value(i)));
            }
            left_one |= !full.headroom().is_none();
            assert_eq!(compact.headroom(), Headroom::NONE);
        }
        assert!(left_one, "the scenario must move a full series' headroom");
        // Compacted, a full series takes the compact record's answer at once.
        full.compact(10);
        assert_eq!(full.headroom(), Headroom::NONE);
    }

    #[test]
    fn runs_give_each_tick_its_headroom_and_hold_nothing_while_all_are_none() {
        let h = |factor: f32| Headroom {
            factor,
            margin: 100.0,
        };
        let mut r = Runs::default();
        for _ in 0..5 {
            r.push(Headroom::NONE, 0);
        }
        // A factor with no margin to add is none too.
        r.push(Headroom { factor: 3.0, margin: 0.0 }, 5);
        assert!(r.0.is_none() && r.heap_bytes() == 0);
        r.push(h(1.5), 6);
        r.push(h(1.5), 7);
        r.push(h(1.2), 8);
        let f: Vec<f32> = r.headrooms().take(10).map(|h| h.factor).collect();
        assert_eq!(f, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.5, 1.5, 1.2, 1.0]);
        for _ in 0..7 {
            r.pop_front();
        }
        assert_eq!(r.headrooms().take(2).collect::<Vec<_>>(), [h(1.5), h(1.2)]);
        r.push(Headroom::NONE, 2);
        r.pop_front();
        r.pop_front();
        // Only ticks planned at 1 are left: the room goes back.
        assert!(r.0.is_none(), "{r:?}");
    }

    #[test]
    fn the_margin_caps_what_the_factor_adds_and_the_base_comes_back_out() {
        let h = Headroom {
            factor: 4.0,
            margin: 30.0,
        };
        // Small bounds take the factor (2 -> 8), large ones at most the margin (100 -> 130).
        assert_eq!(h.plan(2.0), 8.0);
        assert_eq!(h.plan(100.0), 130.0);
        assert_eq!(h.plan(0.0), 0.0);
        for b in [0.0, 0.5, 2.0, 9.99, 10.0, 10.01, 100.0, 1e9] {
            let planned = h.plan(b);
            assert!(planned >= b && planned <= b + 30.0 && planned <= 4.0 * b);
            assert!((h.base(planned) - b).abs() <= 1e-9 * b.max(1.0), "{b}");
        }
        assert_eq!(Headroom::NONE.plan(7.0), 7.0);
        assert_eq!(Headroom::NONE.base(7.0), 7.0);
    }

    #[test]
    fn a_series_that_idles_near_zero_and_bursts_adds_no_more_than_the_bursts_fell_short_by() {
        // Near zero for 47 steps in 50, then a burst of 300 for three: the ratio of a burst
        // to a near-zero bound is in the hundreds, and multiplied into the bound of a burst's
        // own forecast it would hold tens of thousands. The margin caps it near what a burst
        // needs above a near-zero bound.
        let value = |i: u64| {
            if i % 50 >= 47 {
                300.0 + 10.0 * normal(i)
            } else {
                (0.5 + 0.2 * normal(i)).max(0.0)
            }
        };
        let (s, rows) = replay(value, 2_400, 600);
        let h = s.headroom();
        assert!(!h.is_none(), "the scenario must take a headroom: {h:?}");
        let most_added = rows.iter().map(|r| r[1] - r[2]).fold(0.0, f64::max);
        assert!(most_added <= 400.0, "added up to {most_added}");
        let demand: f64 = rows.iter().map(|r| r[0]).sum();
        let held: f64 = rows.iter().map(|r| r[1]).sum();
        let unguarded: f64 = rows.iter().map(|r| r[2] * f64::from(h.factor)).sum();
        assert!(
            held < 0.5 * unguarded,
            "held {held} of demand {demand}, the factor alone {unguarded}"
        );
    }

    #[test]
    fn refreshes_come_once_an_expected_violation_at_the_series_phase() {
        let at = |phase| {
            (1..=300)
                .filter(|&n| due(phase, n, 0.01))
                .collect::<Vec<u64>>()
        };
        assert_eq!(at(0), [100, 200, 300]);
        assert_eq!(at(7), [93, 193, 293]);
        assert_eq!(every(0.05), 20);
        assert_eq!(
            every(0.7),
            100,
            "an invalid target refreshes at the default's"
        );
        assert_eq!(choose(std::iter::empty(), 0.01), Headroom::NONE);
    }
}
