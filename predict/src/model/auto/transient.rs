//! Model `auto`'s transients: hours in which its best member errs many times its usual.
//!
//! A regime change (a level shift, half a day at another level) makes the best member err many
//! times its usual for as long as the new regime lasts, while members that follow the last
//! values recover within an hour. The guard's four-day memory of squared errors then took the
//! member that recovered first for the best and kept it as its anchor for days after the series
//! had settled back (a half-day shift on a synthetic trace: `auto` 1.05-1.4 × the regression for
//! four days). A burst looks the same when it starts, but recurs, and a guard that does not learn
//! from bursts keeps trusting the member they break (one 12-step burst left out: 1.04 → 1.14 ×
//! AR(12) on a bursty trace). So `auto` keeps two guards, one learning from every error and a calm
//! one that takes no errors and stands aside during a transient, and weighs them by their own
//! recent errors: the series shows which one its changes call for. A change that lasts longer than
//! a selector memory (a day) is the new regime, and the calm guard learns it too.

use super::{Ewm, Layout};

/// How many times its slow error the anchor's error over the last hour must be.
const OFF: f64 = 9.0;

/// How many times the lowest recent error of the other members the anchor's must be: a broken
/// anchor, not a flash crowd every member errs through alike (where the anchor is still the
/// member to fall back on).
const BROKEN: f64 = 1.25;

/// Whether a horizon is in a transient: its best member is off its usual ([`off_its_usual`]),
/// and has been for fewer than `seasoned` steps (the count kept at [`Layout::transient`]).
pub(super) fn in_transient(l: Layout, floats: &[f64], seasoned: u32, off: bool) -> bool {
    off && floats
        .get(l.transient())
        .is_some_and(|&t| t < f64::from(seasoned))
}

/// Whether the candidate of lowest slow error (the calm guard's) among the `ready` ones with
/// `seasoned` scored errors errs over the last hour (rung 1 of the ladder; rung 0 if it is the only one)
/// more than [`OFF`] × its slow error and more than [`BROKEN`] × the lowest recent error of the
/// others. Younger than `seasoned`, a slow error has not seen the daily peak, where errors of
/// multiplicative noise are several times the trough's.
pub(super) fn off_its_usual(
    l: Layout,
    floats: &[f64],
    errors: &[Ewm],
    seasoned: u32,
    ready: impl Fn(usize) -> bool,
) -> bool {
    let slow = |c: usize| {
        floats
            .get(l.calm_means().start + c)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let recent = |c: usize| {
        if l.rungs > 1 {
            floats.get(l.rung_mean(1, c)).copied().unwrap_or(f64::NAN)
        } else {
            errors.get(c).map_or(f64::NAN, Ewm::value)
        }
    };
    let anchor = (0..l.n)
        .filter(|&c| ready(c) && errors.get(c).is_some_and(|e| e.n >= seasoned))
        .filter(|&c| slow(c).is_finite())
        .min_by(|&a, &b| slow(a).total_cmp(&slow(b)));
    let Some(c) = anchor else {
        return false;
    };
    let others = (0..l.n)
        .filter(|&o| o != c && ready(o) && errors.get(o).is_some_and(Ewm::is_scored))
        .map(recent)
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min);
    let own = recent(c);
    own > OFF * slow(c) && own > BROKEN * others
}
