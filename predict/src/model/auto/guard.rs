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

/// What the guard of one horizon knows of one candidate.
#[derive(Debug, Clone, Copy, Default)]
struct Candidate {
    /// Discounted `Σ (a − c)(y − c)`.
    sxy: f64,
    /// Discounted `Σ (a − c)²`.
    sxx: f64,
    /// Slow-memory MSE.
    mse: Ewm,
}

/// Guard state of one horizon: one allocation for its candidates (every step of every series
/// holds a guard).
#[derive(Debug, Clone)]
pub(super) struct Guard {
    cands: Vec<Candidate>,
    /// Discounted number of points.
    n: f64,
    decay: f64,
}

impl Guard {
    /// A guard over `candidates` with forgetting `decay` per observation.
    pub fn new(candidates: usize, decay: f64) -> Self {
        Self {
            cands: vec![Candidate::default(); candidates],
            n: 0.0,
            decay,
        }
    }

    /// Scores the candidates' forecasts `cands` and the combination's `combined` for actual `y`.
    pub fn observe(&mut self, cands: &[f64], combined: f64, y: f64) {
        let keep = 1.0 - self.decay;
        self.n = self.n * keep + 1.0;
        for (g, &c) in self.cands.iter_mut().zip(cands) {
            g.mse.update((y - c) * (y - c), self.decay);
            let d = combined - c;
            g.sxy = g.sxy * keep + d * (y - c);
            g.sxx = g.sxx * keep + d * d;
        }
    }

    /// The candidate with the lowest slow-memory error and how far towards the combination to
    /// go from it; `None` before any score.
    pub fn anchor(&self) -> Option<(usize, f64)> {
        let (best, g) = self
            .cands
            .iter()
            .enumerate()
            .filter(|(_, g)| g.mse.is_scored())
            .min_by(|a, b| { a.1.mse.mean }.total_cmp(&{ b.1.mse.mean }))?;
        let (sxy, sxx) = (g.sxy, g.sxx);
        if sxx <= 0.0 || !sxx.is_finite() || !sxy.is_finite() {
            return Some((best, 1.0));
        }
        // Prior: PRIOR_POINTS observations at the average spread, each saying w = 1.
        let prior = PRIOR_POINTS * sxx / self.n.max(1.0);
        let w = (sxy + prior) / (sxx + prior);
        Some((best, w.clamp(0.0, 1.0)))
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.cands.capacity() * std::mem::size_of::<Candidate>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::noise;

    #[test]
    fn falls_back_on_a_candidate_the_combination_loses_to() {
        let e = noise(20_000, 3);
        let mut g = Guard::new(2, 1.0 / 5000.0);
        for (i, y) in e.iter().enumerate() {
            // Candidate 0 is the truth plus small noise; the combination is biased.
            let c0 = y + 0.1 * e[(i + 7) % e.len()];
            let c1 = 0.0;
            g.observe(&[c0, c1], c0 + 1.0, *y);
        }
        let (best, w) = g.anchor().expect("scored");
        assert_eq!(best, 0);
        assert!(w < 0.1, "w {w}");
    }

    #[test]
    fn keeps_a_combination_that_is_better() {
        let e = noise(2000, 5);
        let mut g = Guard::new(1, 1.0 / 500.0);
        for (i, y) in e.iter().enumerate() {
            let c = y + e[(i + 11) % e.len()];
            let a = y + 0.2 * e[(i + 13) % e.len()];
            g.observe(&[c], a, *y);
        }
        let (_, w) = g.anchor().expect("scored");
        assert!(w > 0.9, "w {w}");
    }
}
