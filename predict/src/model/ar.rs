//! Plain autoregression: ordinary least squares of the next value on the last `p` values and an
//! intercept, fitted per series on its whole history, forecast recursively. No seasonal terms, no
//! robust weights: the reference a forecasting model has to beat (the "12-lag least-squares AR"
//! of the published Abilene comparisons), and a candidate `auto` can fall back on.

use super::{lag_ahead, Forecaster, ModelKind};
use crate::linalg::NormalEquations;
use crate::History;

/// Lags of the reference autoregression.
pub const AR_LAGS: usize = 12;

/// Least-squares autoregression on the last [`AR_LAGS`] values.
#[derive(Debug, Clone, Default)]
pub struct Ar {
    coef: Option<Vec<f64>>,
}

impl Ar {
    /// An unfitted model.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Forecaster for Ar {
    fn kind(&self) -> ModelKind {
        ModelKind::Ar
    }

    fn fit(&mut self, hist: &History) {
        let values = hist.to_vec();
        let mut ne = NormalEquations::new(AR_LAGS + 1);
        let mut x = vec![0.0; AR_LAGS + 1];
        let mut last = f64::NAN;
        let mut filled = values.clone();
        for v in filled.iter_mut() {
            if v.is_finite() {
                last = *v;
            } else {
                *v = last;
            }
        }
        let mut rows = 0;
        for (i, &y) in values.iter().enumerate().skip(AR_LAGS) {
            if !y.is_finite() {
                continue;
            }
            let mut ok = true;
            for (k, slot) in x.iter_mut().enumerate() {
                *slot = if k == 0 {
                    1.0
                } else {
                    match filled.get(i - k).copied().filter(|v| v.is_finite()) {
                        Some(v) => v,
                        None => {
                            ok = false;
                            0.0
                        }
                    }
                };
            }
            if ok {
                ne.add(&x, y, 1.0);
                rows += 1;
            }
        }
        // A ridge this small only rescues exactly collinear lags (a constant series).
        self.coef = if rows > 2 * (AR_LAGS + 1) {
            ne.solve(1e-9)
        } else {
            None
        };
    }

    fn observe(&mut self, _hist: &History) {}

    fn forecast(&self, hist: &History, h: usize, out: &mut Vec<f64>) {
        out.clear();
        let last = hist.lag_filled(1).unwrap_or(0.0);
        let Some(coef) = &self.coef else {
            out.extend(std::iter::repeat_n(last, h));
            return;
        };
        for s in 1..=h {
            let mut y = coef.first().copied().unwrap_or(0.0);
            for (k, c) in coef.iter().enumerate().skip(1) {
                y += c * lag_ahead(hist, out, s, k).unwrap_or(last);
            }
            out.push(y);
        }
    }

    fn heap_bytes(&self) -> usize {
        self.coef.as_ref().map_or(0, |c| c.capacity() * 8)
    }

    fn ready(&self, _hist: &History) -> bool {
        self.coef.is_some()
    }

    fn replays(&self) -> bool {
        true
    }

    fn fitted_copy(&self) -> Option<Box<dyn Forecaster>> {
        Some(Box::new(self.clone()))
    }

    fn replay(&self, values: &[f64], first: usize, h: usize, out: &mut Vec<f64>) {
        out.clear();
        // `filled[i]`: the latest value at or before `i` (NaN before the first), which is what
        // `lag_filled` reads from a history ending at `i`.
        let mut filled = values.to_vec();
        let mut known = f64::NAN;
        for v in filled.iter_mut() {
            if v.is_finite() {
                known = *v;
            } else {
                *v = known;
            }
        }
        // The value `lag_filled(j)` reads from a history of the first `end` values.
        let lag_filled = |end: usize, j: usize| {
            end.checked_sub(j)
                .and_then(|i| filled.get(i).copied())
                .filter(|v| v.is_finite())
        };
        let origins = filled.len().saturating_sub(first);
        out.resize(origins * h, 0.0);
        let Some(coef) = &self.coef else {
            for (o, ahead) in out.chunks_mut(h.max(1)).enumerate() {
                ahead.fill(lag_filled(first + 1 + o, 1).unwrap_or(0.0));
            }
            return;
        };
        // Origins `LANES` at a time: each one's sum in `forecast`'s order, so that a forecast
        // reads back to the bit, and the lanes' independent sums interleaved, so that one's
        // additions need not wait for the one before (a single chain of 144 dependent
        // additions an origin ran at their latency).
        const LANES: usize = 4;
        let c0 = coef.first().copied().unwrap_or(0.0);
        for (block, chunk) in out.chunks_mut(LANES * h.max(1)).enumerate() {
            let lanes = chunk.len() / h.max(1);
            let end0 = first + 1 + block * LANES;
            let last: [f64; LANES] =
                std::array::from_fn(|j| lag_filled(end0 + j, 1).unwrap_or(0.0));
            for s in 1..=h {
                let mut y = [c0; LANES];
                for (k, c) in coef.iter().enumerate().skip(1) {
                    for (j, y) in y.iter_mut().enumerate().take(lanes) {
                        let v = if k < s {
                            chunk.get(j * h + s - k - 1).copied()
                        } else {
                            lag_filled(end0 + j, k - s + 1)
                        };
                        *y += c * v.unwrap_or(last[j]);
                    }
                }
                for (j, y) in y.iter().enumerate().take(lanes) {
                    if let Some(slot) = chunk.get_mut(j * h + s - 1) {
                        *slot = *y;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::{history, noise};

    #[test]
    fn recovers_an_ar2_process() {
        let e = noise(5000, 4);
        let mut v = vec![0.0; 5000];
        for t in 2..5000 {
            v[t] = 1.0 + 0.6 * v[t - 1] + 0.2 * v[t - 2] + 0.1 * e[t];
        }
        let hist = history(&v);
        let mut ar = Ar::new();
        ar.fit(&hist);
        let mut out = Vec::new();
        ar.forecast(&hist, 1, &mut out);
        let want = 1.0 + 0.6 * v[4999] + 0.2 * v[4998];
        assert!((out[0] - want).abs() < 0.02, "{} vs {want}", out[0]);
    }

    #[test]
    fn a_replayed_forecast_is_the_one_made_from_the_history_as_it_stood() {
        let e = noise(400, 9);
        let mut hist = History::with_capacity(150);
        let mut ar = Ar::new();
        let mut made: Vec<Vec<f64>> = Vec::new();
        for (t, x) in e.iter().enumerate() {
            // Gaps, one of them a run, so filling reaches back.
            let gap = t % 37 == 5 || t == 398 || (300..306).contains(&t);
            hist.push((!gap).then_some(100.0 + 10.0 * (t as f64 * 0.2).sin() + x));
            if t == 200 {
                ar.fit(&hist);
            }
            let mut out = Vec::new();
            ar.forecast(&hist, 5, &mut out);
            made.push(out);
        }
        assert!(ar.replays());
        let mut out = Vec::new();
        // The last 120 origins of a 150-value history, fitted 199 values ago.
        ar.replay(&hist.to_vec(), 30, 5, &mut out);
        let want: Vec<f64> = made[280..].concat();
        assert_eq!(out, want);
        // Unfitted: the last value, from before a gap as well.
        Ar::new().replay(&hist.to_vec(), 147, 2, &mut out);
        let (a, b) = (hist.lag_filled(3), hist.lag_filled(1));
        let want: Vec<f64> = [a, a, a, a, b, b].into_iter().flatten().collect();
        assert_eq!(out, want);
    }

    #[test]
    fn short_or_constant_history_forecasts_the_last_value() {
        let hist = history(&[3.0; 10]);
        let mut ar = Ar::new();
        ar.fit(&hist);
        let mut out = Vec::new();
        ar.forecast(&hist, 3, &mut out);
        assert_eq!(out, vec![3.0; 3]);
        let hist = history(&[5.0; 200]);
        ar.fit(&hist);
        ar.forecast(&hist, 2, &mut out);
        assert!(out.iter().all(|y| (y - 5.0).abs() < 1e-6), "{out:?}");
    }
}
