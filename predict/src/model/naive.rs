//! Naive and seasonal naive forecasts: the baselines every other model must beat.

use super::{Forecaster, ModelKind};
use crate::{History, Seasons};

/// Forecasts the last observed value for every step.
#[derive(Debug, Clone, Copy, Default)]
pub struct Naive;

impl Forecaster for Naive {
    fn kind(&self) -> ModelKind {
        ModelKind::Naive
    }
    fn fit(&mut self, _hist: &History) {}
    fn observe(&mut self, _hist: &History) {}
    fn forecast(&self, hist: &History, h: usize, out: &mut Vec<f64>) {
        out.clear();
        let last = hist.lag_filled(1).unwrap_or(0.0);
        out.extend(std::iter::repeat_n(last, h));
    }
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// Forecasts the value one season earlier; the weekly season when the history covers it, else
/// the daily one, else the last value.
#[derive(Debug, Clone, Copy)]
pub struct SeasonalNaive {
    seasons: Seasons,
}

impl SeasonalNaive {
    /// A seasonal naive model for the given seasons.
    pub fn new(seasons: Seasons) -> Self {
        Self { seasons }
    }

    fn period(&self, hist: &History) -> Option<usize> {
        [self.seasons.week, self.seasons.day]
            .into_iter()
            .flatten()
            .find(|&p| hist.len() >= p)
    }
}

impl Forecaster for SeasonalNaive {
    fn kind(&self) -> ModelKind {
        ModelKind::SeasonalNaive
    }
    fn fit(&mut self, _hist: &History) {}
    fn observe(&mut self, _hist: &History) {}
    fn forecast(&self, hist: &History, h: usize, out: &mut Vec<f64>) {
        out.clear();
        let last = hist.lag_filled(1).unwrap_or(0.0);
        match self.period(hist) {
            Some(p) => {
                out.extend((1..=h).map(|s| hist.lag_filled(p - (s - 1) % p).unwrap_or(last)));
            }
            None => out.extend(std::iter::repeat_n(last, h)),
        }
    }
    fn heap_bytes(&self) -> usize {
        0
    }

    fn ready(&self, hist: &History) -> bool {
        self.period(hist).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::history;

    #[test]
    fn seasonal_naive_repeats_the_last_season() {
        let v: Vec<f64> = (0..40).map(|t| (t % 10) as f64).collect();
        let hist = history(&v);
        let m = SeasonalNaive::new(Seasons {
            day: Some(10),
            week: None,
            clock: None,
        });
        let mut out = Vec::new();
        m.forecast(&hist, 12, &mut out);
        let want: Vec<f64> = (0..12).map(|t| (t % 10) as f64).collect();
        assert_eq!(out, want);
        Naive.forecast(&hist, 2, &mut out);
        assert_eq!(out, vec![9.0, 9.0]);
    }
}
