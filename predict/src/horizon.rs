//! Adaptive planning horizon: how far ahead the controller should trust a series' forecast.
//!
//! The horizon is the longest step whose calibrated 80 % interval is narrower than `tolerance`
//! times the forecast level, clamped to `[min, max]`: it grows when recent errors are small and
//! shrinks when the series turns volatile, because the calibrator follows recent residuals.

use crate::Predictor;

/// Bounds and tolerance of the adaptive horizon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HorizonPolicy {
    /// Shortest horizon ever returned.
    pub min: usize,
    /// Longest horizon ever returned.
    pub max: usize,
    /// Largest acceptable 80 % interval width relative to the forecast level.
    pub tolerance: f64,
}

impl Default for HorizonPolicy {
    fn default() -> Self {
        Self {
            min: 1,
            max: 12,
            tolerance: 0.5,
        }
    }
}

impl HorizonPolicy {
    /// The planning horizon for `p`'s latest forecast.
    pub fn horizon(&self, p: &mut Predictor) -> usize {
        let max = self.max.max(self.min);
        let f = p.forecast(max);
        let mut h = 0;
        for (i, (&point, bounds)) in f.points.iter().zip(&f.bounds).enumerate() {
            let (lo, hi) = bounds[0];
            let level = point.abs().max(f64::EPSILON);
            if !(hi - lo).is_finite() || (hi - lo) / level > self.tolerance {
                break;
            }
            h = i + 1;
        }
        h.clamp(self.min, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::noise;
    use crate::{ModelKind, PredictorConfig, Seasons};

    fn run(noise_scale: f64) -> usize {
        let e = noise(3000, 17);
        let mut p = Predictor::new(
            ModelKind::Ets,
            Seasons::default(),
            PredictorConfig::default(),
        );
        p.preload((0..500).map(|_| Some(100.0)));
        p.fit();
        for x in &e[500..] {
            p.observe(Some((100.0 + noise_scale * x).max(0.0)));
        }
        HorizonPolicy {
            min: 1,
            max: 12,
            tolerance: 0.2,
        }
        .horizon(&mut p)
    }

    #[test]
    fn calm_series_get_long_horizons_and_volatile_ones_short() {
        let calm = run(1.0);
        let volatile = run(30.0);
        assert_eq!(calm, 12);
        assert!(volatile <= 2, "volatile {volatile} vs calm {calm}");
    }
}
