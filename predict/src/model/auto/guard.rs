//! The last level of model `auto`: a guard that keeps the combination from losing to the best
//! single candidate.
//!
//! Per horizon, for every candidate `c`, a slow least squares fits how far the forecast should
//! move from `c` towards the combination `a`: `y − c ≈ w (a − c)`. With `c` the candidate of
//! lowest slow-memory error, the guarded forecast is `c + w (a − c)`, `w` clipped to `[0, 1]`:
//! 1 keeps the combination, 0 falls back on the candidate, and in between mixes the two where
//! their errors partly cancel. One coefficient fitted on a long memory has little variance, so the
//! guard costs almost nothing where the combination is sound, and undoes it where it is not (short
//! histories, sparse series, regimes its faster memories chase). Until evidence accumulates `w`
//! is shrunk towards 1 by `PRIOR_POINTS` pseudo-observations, so it moves only on sustained
//! evidence.

use super::Ewm;

/// Pseudo-observations pulling `w` towards 1 (trust the combination). Chosen on Abilene's
/// validation part (pooled MSE 26.12 / 26.00 / 25.94 / 25.97e-4 for 24 / 96 / 300 / 1000); the
/// test part was not looked at.
const PRIOR_POINTS: f64 = 300.0;

/// Values of a guard over `candidates` in its `f64` state (`sums`): per candidate the
/// discounted `Σ (a − c)(y − c)` and `Σ (a − c)²`, then the discounted number of points. Its
/// other state is each candidate's slow-memory MSE (`means`), counted by the candidate's lead
/// error (`leads`, [`Ewm::follow`]). Model `auto` keeps every horizon's
/// guard in its own two allocations: every step of every series holds one, and five small
/// allocations each were a quarter of a young series' memory.
pub(super) fn sums_len(candidates: usize) -> usize {
    2 * candidates + 1
}

/// Scores the candidates' forecasts `cands` and the combination's `combined` for actual `y`,
/// forgetting by `decay` per observation.
/// Each of `leads` has taken its candidate's error already.
pub(super) fn observe(
    sums: &mut [f64],
    means: &mut [f64],
    leads: &[Ewm],
    decay: f64,
    cands: &[f64],
    combined: f64,
    y: f64,
) {
    let keep = 1.0 - decay;
    let (pairs, n) = sums.split_at_mut(sums.len().saturating_sub(1));
    if let Some(n) = n.first_mut() {
        *n = *n * keep + 1.0;
    }
    let means = means.iter_mut().zip(leads);
    for ((s, (m, lead)), &c) in pairs.chunks_exact_mut(2).zip(means).zip(cands) {
        // A candidate that was not ready forecast nothing of its own (NaN).
        if !c.is_finite() {
            continue;
        }
        lead.follow(m, (y - c) * (y - c), decay);
        let d = combined - c;
        if let [sxy, sxx] = s {
            *sxy = *sxy * keep + d * (y - c);
            *sxx = *sxx * keep + d * d;
        }
    }
}

/// The candidate with the lowest slow-memory error among those `ready` accepts and how far
/// towards the combination to go from it; `None` before any score.
pub(super) fn anchor(
    sums: &[f64],
    means: &[f64],
    leads: &[Ewm],
    ready: impl Fn(usize) -> bool,
) -> Option<(usize, f64)> {
    let (best, _) = means
        .iter()
        .zip(leads)
        .enumerate()
        .filter(|(c, (_, lead))| ready(*c) && lead.is_scored())
        .min_by(|a, b| a.1 .0.total_cmp(b.1 .0))?;
    let sxy = sums.get(2 * best).copied().unwrap_or(f64::NAN);
    let sxx = sums.get(2 * best + 1).copied().unwrap_or(f64::NAN);
    let n = sums.last().copied().unwrap_or(0.0);
    if sxx <= 0.0 || !sxx.is_finite() || !sxy.is_finite() {
        return Some((best, 1.0));
    }
    // Prior: PRIOR_POINTS observations at the average spread, each saying w = 1.
    let prior = PRIOR_POINTS * sxx / n.max(1.0);
    let w = (sxy + prior) / (sxx + prior);
    Some((best, w.clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::noise;

    /// A guard's state with the lead errors model `auto` would keep (any memory counts).
    struct TestGuard {
        sums: Vec<f64>,
        means: Vec<f64>,
        leads: Vec<Ewm>,
    }

    impl TestGuard {
        fn new(candidates: usize) -> Self {
            Self {
                sums: vec![0.0; sums_len(candidates)],
                means: vec![0.0; candidates],
                leads: vec![Ewm::default(); candidates],
            }
        }

        fn observe(&mut self, decay: f64, cands: &[f64], combined: f64, y: f64) {
            for (lead, c) in self.leads.iter_mut().zip(cands) {
                lead.update((y - c) * (y - c), 0.5);
            }
            observe(
                &mut self.sums,
                &mut self.means,
                &self.leads,
                decay,
                cands,
                combined,
                y,
            );
        }
    }

    #[test]
    fn falls_back_on_a_candidate_the_combination_loses_to() {
        let e = noise(20_000, 3);
        let mut g = TestGuard::new(2);
        for (i, y) in e.iter().enumerate() {
            // Candidate 0 is the truth plus small noise; the combination is biased.
            let c0 = y + 0.1 * e[(i + 7) % e.len()];
            let c1 = 0.0;
            g.observe(1.0 / 5000.0, &[c0, c1], c0 + 1.0, *y);
        }
        let (best, w) = anchor(&g.sums, &g.means, &g.leads, |_| true).expect("scored");
        assert_eq!(best, 0);
        assert!(w < 0.1, "w {w}");
    }

    #[test]
    fn keeps_a_combination_that_is_better() {
        let e = noise(2000, 5);
        let mut g = TestGuard::new(1);
        for (i, y) in e.iter().enumerate() {
            let c = y + e[(i + 11) % e.len()];
            let a = y + 0.2 * e[(i + 13) % e.len()];
            g.observe(1.0 / 500.0, &[c], a, *y);
        }
        let (_, w) = anchor(&g.sums, &g.means, &g.leads, |_| true).expect("scored");
        assert!(w > 0.9, "w {w}");
    }
}
