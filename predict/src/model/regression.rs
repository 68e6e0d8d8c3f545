//! Linear regression on lag features (the last `lags` values), seasonal lags (a short average
//! around one day and one week back) and calendar features (harmonics of the time of day and of
//! the day of week), fitted by Huber-weighted ridge least squares so that a few traffic spikes do
//! not bend the coefficients. Multi-step forecasts are recursive: step `s` reads the forecasts of
//! steps `< s` as its most recent lags.
//!
//! Invariant: the feature vector has the same layout at fit and at forecast time; a seasonal lag
//! the history does not reach is replaced by the latest value (same at fit and forecast).

use super::{lag_ahead, Forecaster, ModelKind};
use crate::linalg::{NormalEquations, BATCH};
use crate::{History, Seasons};
use std::f64::consts::TAU;

/// Tunables of the regression model.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionConfig {
    /// Number of most recent values used as features.
    pub lags: usize,
    /// Windows (in steps) of running medians of the latest values used as features: they let
    /// the fit tell a one-interval spike from a level change.
    pub medians: [usize; 2],
    /// Adds the positive and negative parts of the latest value's excursion from its median.
    pub excursions: bool,
    /// Half-width of the average taken around each seasonal lag.
    pub seasonal_halfwidth: usize,
    /// Harmonics of each season used as calendar features.
    pub harmonics: usize,
    /// Ridge strength relative to the mean diagonal of `XᵀX`.
    pub ridge: f64,
    /// Reweighting passes of the Huber fit (0 gives plain least squares).
    pub robust_passes: usize,
    /// Minimum training rows per feature to include the weekly lag.
    pub min_rows_per_feature: usize,
}

impl Default for RegressionConfig {
    fn default() -> Self {
        Self {
            lags: 12,
            medians: [3, 5],
            excursions: true,
            seasonal_halfwidth: 2,
            harmonics: 2,
            ridge: 1e-4,
            robust_passes: 2,
            min_rows_per_feature: 20,
        }
    }
}

impl RegressionConfig {
    /// Defaults with the lag window spanning about four hours (a sixth of the daily period),
    /// between 12 and 48 steps: long enough to see a burst build and fade, short enough to fit
    /// from a few days of history.
    pub fn for_seasons(seasons: Seasons) -> Self {
        let lags = seasons.day.map_or(12, |d| (d / 6).clamp(12, 48));
        Self {
            lags,
            ..Self::default()
        }
    }
}

impl RegressionConfig {
    /// Settings of a regression fitted on the pooled rows of many series whose shortest history
    /// holds `shortest` values: a lag window of a whole day (at most 288 lags, at most a quarter
    /// of the shortest history, never shorter than [`RegressionConfig::for_seasons`]'s), which
    /// the pooled rows can afford where one series cannot. Chosen on Abilene March's validation
    /// part (strict): windows of 48 / 96 / 144 / 192 / 288 / 432 lags gave the pooled regression
    /// alone 29.54 / 28.07 / 27.68 / 27.18 / 26.57 / 26.29e-4 MSE at h = 1 and `auto` 25.92 /
    /// 25.27 / 25.24 / 25.16 / 25.08 / 25.04e-4; the day caps the fit's cost (rows × lags²).
    pub fn for_pooled(seasons: Seasons, shortest: usize) -> Self {
        let own = Self::for_seasons(seasons);
        let lags = seasons
            .day
            .map_or(own.lags, |d| d.min(288).min(shortest / 4).max(own.lags));
        Self { lags, ..own }
    }
}

/// Values (`f32`) in one block of the rows a fit holds: 64 KB.
const BLOCK_VALUES: usize = 16_384;

/// Visits training rows `(features, target)`, in the same order at every call.
type RowSource<'a> = dyn Fn(&mut dyn FnMut(&[f32], f32)) + 'a;

/// Robust ridge regression on lags, seasonal lags and calendar features.
#[derive(Debug, Clone)]
pub struct Regression {
    seasons: Seasons,
    cfg: RegressionConfig,
    /// Seasonal periods actually used as features (decided at fit time from the history length).
    periods: Vec<usize>,
    coef: Option<Vec<f64>>,
    /// Coefficients come from [`Regression::fit_pooled`] and are not refitted per series.
    pooled: bool,
}

impl Regression {
    /// An unfitted model.
    pub fn new(seasons: Seasons, cfg: RegressionConfig) -> Self {
        Self {
            seasons,
            cfg,
            periods: Vec::new(),
            coef: None,
            pooled: false,
        }
    }

    /// Writes the features of the value at absolute time `t`, reading lag `k` through `lag`.
    fn features(&self, t: u64, lag: impl Fn(usize) -> Option<f64>, x: &mut Vec<f64>) -> bool {
        x.clear();
        x.push(1.0);
        let Some(last) = lag(1) else { return false };
        for k in 1..=self.cfg.lags {
            x.push(lag(k).unwrap_or(last));
        }
        let mut window = [0f64; 16];
        for &w in &self.cfg.medians {
            let w = w.clamp(1, window.len());
            for (k, slot) in window.iter_mut().take(w).enumerate() {
                *slot = lag(k + 1).unwrap_or(last);
            }
            let part = &mut window[..w];
            part.sort_unstable_by(f64::total_cmp);
            x.push(part[w / 2]);
        }
        if self.cfg.excursions {
            // Split the latest value's distance from its running median by sign: spikes up and
            // dips revert at different speeds, which a single linear term cannot express.
            let med = x.last().copied().unwrap_or(last);
            x.push((last - med).max(0.0));
            x.push((last - med).min(0.0));
        }
        let hw = self.cfg.seasonal_halfwidth;
        for &p in &self.periods {
            let (mut sum, mut n) = (0.0, 0.0);
            for k in p.saturating_sub(hw).max(1)..=p + hw {
                if let Some(v) = lag(k) {
                    sum += v;
                    n += 1.0;
                }
            }
            x.push(if n > 0.0 { sum / n } else { last });
            let phase = self.seasons.phase(t, p);
            for j in 1..=self.cfg.harmonics {
                let a = TAU * j as f64 * phase;
                x.push(a.sin());
                x.push(a.cos());
            }
        }
        true
    }

    /// Seasonal periods whose lag enough rows of a `len`-long history reach.
    fn usable_periods(&self, len: usize) -> Vec<usize> {
        let base = 1 + self.cfg.lags + self.cfg.medians.len() + 2;
        [self.seasons.day, self.seasons.week]
            .into_iter()
            .flatten()
            .filter(|&p| {
                let rows = len.saturating_sub(p + self.cfg.seasonal_halfwidth);
                rows >= self.cfg.min_rows_per_feature * (base + 5)
            })
            .collect()
    }

    /// Calls `each(features, target)` for every training row of a history, for the current
    /// `periods` (features rounded to `f32`, as the rows of a fit are held).
    fn each_row(&self, hist: &History, each: &mut dyn FnMut(&[f32], f32)) {
        let raw = hist.to_vec();
        let t0 = hist.pushed() - raw.len() as u64;
        // Features read gaps as the last known value; targets must be real observations.
        let mut filled = raw.clone();
        let mut last = f64::NAN;
        for v in filled.iter_mut() {
            if v.is_finite() {
                last = *v;
            } else {
                *v = last;
            }
        }
        let lag_at = |i: usize, k: usize| -> Option<f64> {
            i.checked_sub(k)
                .and_then(|j| filled.get(j).copied())
                .filter(|v| v.is_finite())
        };
        let hw = self.cfg.seasonal_halfwidth;
        let start = self
            .cfg
            .lags
            .max(self.periods.iter().map(|p| p + hw).max().unwrap_or(0));
        let mut x = Vec::new();
        let mut xf: Vec<f32> = Vec::new();
        for (i, &y) in raw.iter().enumerate().skip(start) {
            if y.is_finite() && self.features(t0 + i as u64, |k| lag_at(i, k), &mut x) {
                xf.clear();
                xf.extend(x.iter().map(|&v| v as f32));
                each(&xf, y as f32);
            }
        }
    }

    /// Huber-weighted ridge fit (iteratively reweighted least squares) of the rows `rows`
    /// visits, in the same order at every call: the rows are read once per pass, never held
    /// (a pooled fit's rows of a day of lags took 300 MB for Abilene).
    fn solve(&self, rows: &RowSource<'_>) -> Option<Vec<f64>> {
        let mut n = 0;
        let mut count = 0usize;
        rows(&mut |x, _| {
            n = x.len();
            count += 1;
        });
        if n == 0 || count < 2 * n {
            return None;
        }
        let mut weights = vec![1.0; count];
        let mut coef: Option<Vec<f64>> = None;
        let mut xf = Vec::with_capacity(BATCH * n);
        for pass in 0..=self.cfg.robust_passes {
            let mut ne = NormalEquations::new(n);
            let mut i = 0;
            // Rows go in by fours ([`NormalEquations::add_rows`]: the same sums, faster).
            let (mut ys, mut ws) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
            xf.clear();
            rows(&mut |x, y| {
                xf.extend(x.iter().map(|&s| f64::from(s)));
                ys.push(f64::from(y));
                ws.push(weights.get(i).copied().unwrap_or(1.0));
                i += 1;
                if ys.len() == BATCH {
                    ne.add_rows(&xf, &ys, &ws);
                    xf.clear();
                    ys.clear();
                    ws.clear();
                }
            });
            ne.add_rows(&xf, &ys, &ws);
            let Some(c) = ne.solve(self.cfg.ridge) else {
                break;
            };
            if pass == self.cfg.robust_passes {
                return Some(c);
            }
            // Huber weights with the usual 1.345 · robust scale (MAD / 0.6745).
            let mut resid: Vec<f64> = Vec::with_capacity(count);
            rows(&mut |x, y| {
                let p: f64 = c.iter().zip(x).map(|(a, &b)| a * f64::from(b)).sum();
                resid.push((f64::from(y) - p).abs());
            });
            coef = Some(c);
            let mut sorted = resid.clone();
            let mid = sorted.len() / 2;
            let mad = *sorted.select_nth_unstable_by(mid, f64::total_cmp).1;
            let scale = 1.345 * mad / 0.6745;
            if scale <= 0.0 {
                break;
            }
            for (w, r) in weights.iter_mut().zip(resid) {
                *w = if r <= scale { 1.0 } else { scale / r };
            }
        }
        coef
    }

    /// One model fitted on the pooled rows of many series (scaled alike, e.g. each by its
    /// maximum): it learns the shape traffic shares, from far more data than any one series has.
    /// Its coefficients stay fixed when a series calls `fit`.
    pub fn fit_pooled<'a>(
        histories: impl IntoIterator<Item = &'a History>,
        seasons: Seasons,
        cfg: RegressionConfig,
    ) -> Option<Self> {
        let histories: Vec<&History> = histories.into_iter().collect();
        let mut model = Self::new(seasons, cfg);
        let shortest = histories.iter().map(|h| h.len()).min()?;
        model.periods = model.usable_periods(shortest);
        let rows = |each: &mut dyn FnMut(&[f32], f32)| {
            for h in &histories {
                model.each_row(h, each);
            }
        };
        model.coef = Some(model.solve(&rows)?);
        model.pooled = true;
        Some(model)
    }

    fn predict_row(&self, x: &[f64]) -> Option<f64> {
        let c = self.coef.as_ref()?;
        Some(c.iter().zip(x).map(|(a, b)| a * b).sum())
    }
}

impl Forecaster for Regression {
    fn kind(&self) -> ModelKind {
        if self.pooled {
            ModelKind::PooledRegression
        } else {
            ModelKind::Regression
        }
    }

    fn fit(&mut self, hist: &History) {
        if self.pooled {
            return;
        }
        self.periods = self.usable_periods(hist.len());
        // One series' rows are few: computed once and held (the live refit's cost as before),
        // `width` features then the target per row, in blocks of at most 64 KB: a `Vec` per row
        // cost an allocation per row at every refit, and one buffer of every row is mapped
        // fresh from the system (it raised a 600k-row backtest's peak memory from 189 to 265
        // MB), where blocks this small reuse freed heap as the rows did.
        let mut held: Vec<Vec<f32>> = Vec::new();
        let mut width = 0;
        self.each_row(hist, &mut |x, y| {
            width = x.len();
            let per_block = (BLOCK_VALUES / (width + 1)).max(1) * (width + 1);
            match held.last_mut() {
                Some(block) if block.len() < per_block => {}
                _ => held.push(Vec::with_capacity(per_block)),
            }
            if let Some(block) = held.last_mut() {
                block.extend_from_slice(x);
                block.push(y);
            }
        });
        self.coef = self.solve(&|each: &mut dyn FnMut(&[f32], f32)| {
            for row in held.iter().flat_map(|b| b.chunks_exact(width + 1)) {
                if let Some((y, x)) = row.split_last() {
                    each(x, *y);
                }
            }
        });
    }

    fn observe(&mut self, _hist: &History) {}

    fn forecast(&self, hist: &History, h: usize, out: &mut Vec<f64>) {
        out.clear();
        let last = hist.lag_filled(1).unwrap_or(0.0);
        if self.coef.is_none() {
            out.extend(std::iter::repeat_n(last, h));
            return;
        }
        let mut x = Vec::with_capacity(32);
        for s in 1..=h {
            let t = hist.pushed() + s as u64 - 1;
            let ahead = out.as_slice();
            let y = if self.features(t, |k| lag_ahead(hist, ahead, s, k), &mut x) {
                self.predict_row(&x).unwrap_or(last)
            } else {
                last
            };
            out.push(y);
        }
    }

    fn heap_bytes(&self) -> usize {
        self.coef.as_ref().map_or(0, |c| c.capacity() * 8) + self.periods.capacity() * 8
    }

    fn ready(&self, _hist: &History) -> bool {
        self.coef.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::{history, noise};

    #[test]
    fn recovers_trend_and_daily_season() {
        let m = 48;
        let e = noise(m * 30, 7);
        let f = |t: usize| 5.0 + 0.01 * t as f64 + 2.0 * (t as f64 * TAU / m as f64).sin();
        let v: Vec<f64> = (0..m * 30).map(|t| f(t) + 0.05 * e[t]).collect();
        let hist = history(&v);
        let mut r = Regression::new(
            Seasons {
                day: Some(m),
                week: None,
                clock: None,
            },
            RegressionConfig::default(),
        );
        r.fit(&hist);
        let mut out = Vec::new();
        r.forecast(&hist, 10, &mut out);
        for (s, y) in out.iter().enumerate() {
            let want = f(v.len() + s);
            assert!((y - want).abs() < 0.15, "step {}: {y} vs {want}", s + 1);
        }
    }

    #[test]
    fn pooled_window_spans_a_day_where_histories_allow_and_short_histories_still_fit() {
        let seasons = Seasons {
            day: Some(288),
            week: None,
            clock: None,
        };
        assert_eq!(RegressionConfig::for_pooled(seasons, 288 * 20).lags, 288);
        // A day of training steps (201 at 5 minutes) has no row with a day of lags.
        let hists: Vec<History> = (0..10)
            .map(|i| {
                let e = noise(201, 20 + i);
                let v: Vec<f64> = (0..201)
                    .map(|t| 5.0 + (t as f64 * TAU / 288.0).sin() + 0.1 * e[t])
                    .collect();
                history(&v)
            })
            .collect();
        let cfg = RegressionConfig::for_pooled(seasons, 201);
        assert!(cfg.lags <= 201 / 4, "{} lags", cfg.lags);
        assert!(Regression::fit_pooled(hists.iter(), seasons, cfg).is_some());
    }

    #[test]
    fn a_one_interval_spike_is_not_carried_into_the_forecast() {
        let e = noise(3000, 3);
        let mut v = vec![0.0; 3000];
        for t in 1..3000 {
            v[t] = 0.8 * v[t - 1] + e[t];
        }
        // Additive outliers: measurement spikes that do not propagate through the process.
        for t in (100..3000).step_by(97) {
            v[t] += 40.0;
        }
        let clean = v[2998];
        v[2999] = 0.8 * clean + 40.0;
        let hist = history(&v);
        let mut r = Regression::new(Seasons::default(), RegressionConfig::default());
        r.fit(&hist);
        let mut out = Vec::new();
        r.forecast(&hist, 1, &mut out);
        // The process value behind the spike forecasts about 0.64 · clean; a model that trusted
        // the spike would forecast about 0.8 · 40 = 32 more.
        assert!(
            (out[0] - 0.64 * clean).abs() < 8.0,
            "forecast {} after spike, clean {clean}",
            out[0]
        );
    }
}
