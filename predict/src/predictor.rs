//! One series' forecaster: its history window, its model and its interval calibrator, driven one
//! observation at a time. Every observation scores the forecasts made for it (feeding the
//! calibrator), then a fresh forecast is made from the new origin.

use crate::conditional::{self, Conditional};
use crate::interval::{Band, Calibrator};
use crate::model::{Forecaster, ModelKind};
use crate::replayed::Replayed;
use crate::{History, Seasons};

/// Settings of a [`Predictor`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictorConfig {
    /// Observations kept in the history window.
    pub history: usize,
    /// Horizon forecast at every step (and calibrated).
    pub horizon: usize,
    /// Residuals kept per horizon for calibration.
    pub calibration_window: usize,
    /// Clamp forecasts and bounds at zero (traffic is never negative).
    pub non_negative: bool,
    /// Consecutive observations outside the 95 % interval that make a sustained anomaly.
    pub sustained_run: usize,
    /// Observations a day (the daily period in steps), for residual quantiles conditional on the
    /// time of day; at 12 h+ steps the week's (`season::cycle_for_interval`), binning by day of
    /// the week; `None`: plain quantiles only.
    pub day: Option<usize>,
    /// The sampling interval in seconds when it does not divide the day (`Seasons::clock`):
    /// time-of-day phases then follow the exact day, which `day` rounds.
    pub clock: Option<std::num::NonZeroU32>,
    /// The residual quantile level capacity is sized at (`1 −` the violation target): with
    /// `day`, [`Predictor::sizing_quantile`] may condition it on the time of day.
    pub sizing_level: Option<f64>,
    /// Keep calibration residuals in two bytes each ([`Calibrator::packed`]; the scale tier's
    /// memory), with bands and quantiles rounded to 11 significant bits; ignored with `day`
    /// and `sizing_level` (time-of-day quantiles read `f32` residuals).
    pub packed_residuals: bool,
    /// Keep no residuals: replay them from the history when intervals are due (`crate::replayed`;
    /// the scale tier's memory), for a model that [`Forecaster::replays`] and without `day` and
    /// `sizing_level`; otherwise ignored.
    pub replayed_residuals: bool,
}

impl Default for PredictorConfig {
    fn default() -> Self {
        Self {
            history: 4096,
            horizon: 12,
            calibration_window: 500,
            non_negative: true,
            sustained_run: 3,
            day: None,
            clock: None,
            sizing_level: None,
            packed_residuals: false,
            replayed_residuals: false,
        }
    }
}

/// A forecast from one origin: points and bounds for steps `1..=h`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Forecast {
    /// Point forecasts, `points[s - 1]` for step `s`.
    pub points: Vec<f64>,
    /// Per step, bands at 80 %, 95 % and 99 % as absolute bounds `(lo, hi)`.
    pub bounds: Vec<[(f64, f64); 3]>,
}

impl Forecast {
    /// Bounds of step `step` (1-based) at the level index (0: 80 %, 1: 95 %, 2: 99 %).
    pub fn interval(&self, step: usize, level: usize) -> Option<(f64, f64)> {
        self.bounds.get(step.checked_sub(1)?)?.get(level).copied()
    }
}

/// Why an observation is anomalous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyKind {
    /// Outside the 99 % interval of its one-step forecast.
    Outside99,
    /// The `n`-th consecutive observation outside the 95 % interval.
    Sustained95 {
        /// Length of the run so far.
        run: usize,
    },
}

/// An observation that left its forecast's interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Outlier {
    /// Which rule fired.
    pub kind: AnomalyKind,
    /// The interval the observation was expected in (99 % or 95 % per `kind`).
    pub expected: (f64, f64),
    /// The one-step point forecast.
    pub forecast: f64,
    /// The observation.
    pub actual: f64,
}

/// The interval `band` (offsets) puts around point `p`, both ends at least `floor`, and holding
/// the point. Clamping only the lower end inverted the interval where the residuals said the
/// point runs high (an upper offset below `−p`, after traffic fell): `(0, −2.9e9)`, above which
/// every observation was an anomaly. Offsets of one sign (a model creeping towards a count that
/// holds) put the band beside the point, a hair off the held count, which was flagged at every
/// tick.
fn bound_pair(p: f64, band: Band, floor: f64) -> (f64, f64) {
    (
        (p + band.lo.min(0.0)).max(floor),
        (p + band.hi.max(0.0)).max(floor),
    )
}

/// The conditional sizing state `cfg` asks for: a day of at least two steps and a level in
/// (0.5, 1).
fn conditional_for(cfg: &PredictorConfig, horizon: usize) -> Option<Conditional> {
    let level = cfg.sizing_level.filter(|l| *l > 0.5 && *l < 1.0)?;
    cfg.day.filter(|d| *d >= 2)?;
    // Refreshed as often as the calibrator refreshes its own quantiles.
    let window = cfg.calibration_window.max(crate::interval::MIN_RESIDUALS);
    Some(Conditional::new(horizon, level, window / 20))
}

/// One-step point forecast with its 95 % and 99 % bounds.
type Expectation = (f64, (f64, f64), (f64, f64));

/// The point forecasts of recent origins that scoring still reads: the latest whole, and of the
/// origin made `a` observations before it only step `a + 1` onwards (step `s` is read `s`
/// observations after its origin). As in model `auto`'s pending forecasts, step `s` of origin
/// number `o` lives in slot `o mod s`, slots grouped by that index (group `j` holds slot `j` of
/// steps `j + 1..=h`, growing a group per origin): 78 values for 12 steps where 12 whole
/// forecasts took 144 and 12 allocations.
#[derive(Debug)]
struct Recent {
    /// Steps per forecast.
    h: usize,
    /// The newest origin's forecast.
    latest: Vec<f64>,
    /// Group `j` starts at `j · h − j (j − 1) / 2`; NaN where a forecast had no such step.
    slots: Slots,
    /// Origins pushed; the newest is number `origins − 1`.
    origins: u64,
    /// The observation count the newest origin was made at.
    newest_row: u64,
}

impl Recent {
    fn new(h: usize, slots: Slots) -> Self {
        Self {
            h: h.max(1),
            latest: Vec::new(),
            slots,
            origins: 0,
            newest_row: 0,
        }
    }

    /// Origins whose forecasts are still read: the newest `min(origins, h)`.
    fn len(&self) -> usize {
        self.origins.min(self.h as u64) as usize
    }

    /// Index of step `step`'s (1-based) value of origin number `origin`.
    fn at(&self, step: usize, origin: u64) -> usize {
        let j = (origin % step as u64) as usize;
        j * self.h - j * j.saturating_sub(1) / 2 + step - 1 - j
    }

    /// Step `age + 1` of the origin made `age` origins before the newest (`age < len()`): the
    /// forecast it made for the observation after the newest origin. A step the forecast did
    /// not have is `None` (a NaN forecast scores nothing either).
    fn due(&self, age: usize) -> Option<f64> {
        let origin = self.origins.checked_sub(1 + age as u64)?;
        self.slots
            .get(self.at(age + 1, origin))
            .filter(|p| !p.is_nan())
    }

    /// Makes `forecast` the newest origin's, made after `row` observations. A second forecast
    /// from the same row (a refit between observations) replaces the newest: pushed as another
    /// origin, it would shift every older origin by one, and the next `h` observations would
    /// score each older forecast's step against the observation one row too early.
    fn push(&mut self, forecast: Vec<f64>, row: u64) {
        if self.origins > 0 && row == self.newest_row {
            self.origins -= 1;
        }
        self.newest_row = row;
        let (h, o) = (self.h, self.origins);
        // Origin `o` writes slot `o mod s` of every step: groups up to `min(o, h − 1)`.
        let groups = (o as usize).min(h - 1) + 1;
        let needed = groups * h - groups * (groups - 1) / 2;
        self.slots.grow(needed);
        for s in 1..=h {
            let at = self.at(s, o);
            self.slots
                .set(at, forecast.get(s - 1).copied().unwrap_or(f64::NAN));
        }
        self.latest = forecast;
        self.origins += 1;
    }

    fn heap_bytes(&self) -> usize {
        self.latest.capacity() * 8 + self.slots.heap_bytes()
    }
}

/// Pending forecasts as `f64`, or as `f32` for a predictor that packs its residuals (rounding a
/// forecast to seven digits moves its residual far less than packing does), or none for one
/// that replays them.
#[derive(Debug)]
enum Slots {
    Wide(Vec<f64>),
    Narrow(Vec<f32>),
    Off,
}

impl Slots {
    fn get(&self, at: usize) -> Option<f64> {
        match self {
            Slots::Wide(v) => v.get(at).copied(),
            Slots::Narrow(v) => v.get(at).map(|&p| f64::from(p)),
            Slots::Off => None,
        }
    }

    fn set(&mut self, at: usize, p: f64) {
        match self {
            Slots::Wide(v) => v.get_mut(at).map(|s| *s = p),
            Slots::Narrow(v) => v.get_mut(at).map(|s| *s = p as f32),
            Slots::Off => None,
        };
    }

    /// Lengthens to `needed` slots (NaN), allocating exactly.
    fn grow(&mut self, needed: usize) {
        fn grow<T: Clone>(v: &mut Vec<T>, needed: usize, nan: T) {
            if v.len() < needed {
                v.reserve_exact(needed - v.len());
                v.resize(needed, nan);
            }
        }
        match self {
            Slots::Wide(v) => grow(v, needed, f64::NAN),
            Slots::Narrow(v) => grow(v, needed, f32::NAN),
            Slots::Off => {}
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Slots::Wide(v) => v.capacity() * 8,
            Slots::Narrow(v) => v.capacity() * 4,
            Slots::Off => 0,
        }
    }
}

/// Where a predictor's intervals come from.
#[derive(Debug)]
enum Cal {
    /// Residuals kept per step.
    Kept(Calibrator),
    /// Residuals replayed from the history when due.
    Replayed(Replayed),
}

/// History, model and calibrator of one series.
#[derive(Debug)]
pub struct Predictor {
    cfg: PredictorConfig,
    hist: History,
    model: Box<dyn Forecaster>,
    cal: Cal,
    /// Time-of-day conditional sizing quantiles, when the config has a day and a sizing level
    /// (boxed: a compact series has none, and there are tens of thousands of those).
    cond: Option<Box<Conditional>>,
    /// Observations taken (gaps included): the row of the latest one is `rows − 1`.
    rows: u64,
    /// Point forecasts of recent origins, as far as scoring reads them.
    recent: Recent,
    /// One-step point, 95 % and 99 % bounds from the latest origin (if calibrated).
    expect: Option<Expectation>,
    /// Consecutive observations outside the 95 % interval.
    run95: usize,
}

impl Predictor {
    /// A predictor with a model of `kind` for a series with `seasons`.
    pub fn new(kind: ModelKind, seasons: Seasons, cfg: PredictorConfig) -> Self {
        Self::with_model(kind.build(seasons), cfg)
    }

    /// A predictor around an already-built model.
    pub fn with_model(model: Box<dyn Forecaster>, cfg: PredictorConfig) -> Self {
        let horizon = cfg.horizon.max(1);
        let cond = conditional_for(&cfg, horizon);
        let replayed = cfg.replayed_residuals && cond.is_none() && model.replays();
        let narrow = cfg.packed_residuals && cond.is_none();
        let (cal, slots) = if replayed {
            let r = Replayed::new(horizon, cfg.calibration_window, cfg.non_negative);
            (Cal::Replayed(r), Slots::Off)
        } else if cond.is_some() {
            let c = Calibrator::with_phases(horizon, cfg.calibration_window);
            (Cal::Kept(c), Slots::Wide(Vec::new()))
        } else if narrow {
            let c = Calibrator::packed(horizon, cfg.calibration_window);
            (Cal::Kept(c), Slots::Narrow(Vec::new()))
        } else {
            let c = Calibrator::new(horizon, cfg.calibration_window);
            (Cal::Kept(c), Slots::Wide(Vec::new()))
        };
        Self {
            hist: History::with_capacity(cfg.history),
            model,
            cal,
            cond: cond.map(Box::new),
            rows: 0,
            recent: Recent::new(horizon, slots),
            expect: None,
            run95: 0,
            cfg: PredictorConfig { horizon, ..cfg },
        }
    }

    /// Loads observations without forecasting (before the first `fit`).
    pub fn preload(&mut self, values: impl IntoIterator<Item = Option<f64>>) {
        for v in values {
            self.hist.push(v);
            self.rows += 1;
        }
    }

    /// Fits (or refits) the model on the history and forecasts from the latest observation.
    pub fn fit(&mut self) {
        let before = match self.cal {
            Cal::Replayed(_) => self.model.fitted_copy(),
            Cal::Kept(_) => None,
        };
        self.model.fit(&self.hist);
        if let Cal::Replayed(r) = &mut self.cal {
            // The forecast from the latest observation on is the refitted model's.
            r.refitted(before, self.rows.saturating_sub(1));
        }
        self.refresh();
    }

    /// Takes one observation (`None` for a gap): scores past forecasts, updates, forecasts anew.
    /// Returns the anomaly the observation is, if any (judged against the intervals the
    /// calibrator held before this observation).
    pub fn observe(&mut self, value: Option<f64>) -> Option<Outlier> {
        let value = value.filter(|v| v.is_finite());
        let outlier = value.and_then(|y| self.judge(y));
        let phase = self.phase(self.rows);
        if let (Some(y), Cal::Kept(cal)) = (value, &mut self.cal) {
            let spike = outlier.is_some_and(|o| o.kind == AnomalyKind::Outside99);
            for age in 0..self.recent.len() {
                if let Some(p) = self.recent.due(age) {
                    let mut r = y - p;
                    if spike {
                        r = cal.bands(age + 1)[2].clip_spike(r);
                    }
                    if let Some(c) = &mut self.cond {
                        if let (res, Some(ph)) = cal.held(age + 1) {
                            c.score(age + 1, r, phase, res, ph);
                        }
                    }
                    cal.record_at(age + 1, r, self.rows, phase);
                }
            }
        }
        self.rows += 1;
        self.hist.push(value);
        self.model.observe(&self.hist);
        self.refresh();
        outlier
    }

    fn judge(&mut self, y: f64) -> Option<Outlier> {
        let (forecast, b95, b99) = self.expect?;
        let outside = |b: (f64, f64)| y < b.0 || y > b.1;
        self.run95 = if outside(b95) { self.run95 + 1 } else { 0 };
        let kind = if outside(b99) {
            AnomalyKind::Outside99
        } else if self.run95 >= self.cfg.sustained_run.max(1) {
            AnomalyKind::Sustained95 { run: self.run95 }
        } else {
            return None;
        };
        let expected = if kind == AnomalyKind::Outside99 {
            b99
        } else {
            b95
        };
        Some(Outlier {
            kind,
            expected,
            forecast,
            actual: y,
        })
    }

    fn refresh(&mut self) {
        let h = self.cfg.horizon;
        let mut out = std::mem::take(&mut self.recent.latest);
        // Exactly `h` slots: pushing into an empty buffer would double it to 16 for a 12-step
        // horizon.
        out.reserve_exact(h.saturating_sub(out.len()));
        self.model.forecast(&self.hist, h, &mut out);
        if self.cfg.non_negative {
            out.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        let first = out.first().copied();
        self.recent.push(out, self.rows);
        let floor = if self.cfg.non_negative {
            0.0
        } else {
            f64::NEG_INFINITY
        };
        let bands = first.map(|_| self.step_bands(1));
        self.expect = first.zip(bands).and_then(|(p, [_, b95, b99])| {
            let calibrated = b99.hi.is_finite() && b99.lo.is_finite();
            calibrated.then(|| (p, bound_pair(p, b95, floor), bound_pair(p, b99, floor)))
        });
    }

    /// Refits the model on the current history, or swaps in a new model, keeping history and
    /// calibration.
    pub fn refit(&mut self, model: Option<Box<dyn Forecaster>>) {
        if let Some(m) = model {
            if matches!(self.cal, Cal::Replayed(_)) && !m.replays() {
                // Its residuals cannot be replayed: kept from now on.
                let h = self.cfg.horizon;
                self.cal = Cal::Kept(Calibrator::new(h, self.cfg.calibration_window));
                self.recent = Recent::new(h, Slots::Wide(Vec::new()));
            }
            self.model = m;
        }
        self.fit();
    }

    /// Bands of `step`, replayed first if due.
    fn step_bands(&mut self, step: usize) -> [Band; 3] {
        match &mut self.cal {
            Cal::Kept(c) => c.bands(step),
            Cal::Replayed(r) => {
                r.refresh(&self.hist, self.model.as_ref(), self.rows);
                r.bands(step)
            }
        }
    }

    /// Steps forecast (and calibrated) at every origin.
    pub fn horizon(&self) -> usize {
        self.cfg.horizon
    }

    /// The latest point forecasts (steps `1..=horizon`).
    pub fn points(&self) -> &[f64] {
        &self.recent.latest
    }

    /// The latest forecast with its calibrated intervals, for steps `1..=h` (`h ≤ horizon`).
    pub fn forecast(&mut self, h: usize) -> Forecast {
        let h = h.min(self.cfg.horizon);
        let points: Vec<f64> = self.points().iter().take(h).copied().collect();
        let floor = if self.cfg.non_negative {
            0.0
        } else {
            f64::NEG_INFINITY
        };
        let bounds = points
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                self.step_bands(i + 1)
                    .map(|band| bound_pair(p, band, floor))
            })
            .collect();
        Forecast { points, bounds }
    }

    /// Interval bands (offsets) for `step` at 80/95/99 %.
    pub fn bands(&mut self, step: usize) -> [Band; 3] {
        self.step_bands(step)
    }

    /// The `level` quantile of the signed residuals at `step`: what to add to the point forecast
    /// of that step for a bound actuals exceed with probability `1 − level`
    /// ([`Calibrator::quantile`]); `None` while too few residuals are held.
    pub fn residual_quantile(&mut self, step: usize, level: f64) -> Option<f64> {
        match &mut self.cal {
            Cal::Kept(c) => c.quantile(step, level),
            Cal::Replayed(r) => {
                let model = self.model.as_ref();
                r.refresh(&self.hist, model, self.rows);
                r.quantile(&self.hist, model, self.rows, step, level)
            }
        }
    }

    /// The residual quantile at `level` to size capacity with for `step`: the time-of-day
    /// conditional one ([`crate::conditional`]) when the predictor sizes at this level and it has
    /// earned its place on the series' past, else [`Predictor::residual_quantile`].
    pub fn sizing_quantile(&mut self, step: usize, level: f64) -> Option<f64> {
        // The target of `step` is row `rows − 1 + step`.
        let phase = self.phase((self.rows + step as u64).saturating_sub(1));
        if let (Some(c), Cal::Kept(cal)) =
            (self.cond.as_mut().filter(|c| c.level() == level), &self.cal)
        {
            if let (res, Some(ph)) = cal.held(step) {
                if let Some(q) = c.quantile(step, phase, res, ph) {
                    return Some(q);
                }
            }
        }
        self.residual_quantile(step, level)
    }

    /// Which sizing quantile `step` uses: 0 for the plain one, else the bins a day of the
    /// time-of-day conditional one.
    pub fn sizing_bins(&self, step: usize) -> usize {
        self.cond.as_ref().map_or(0, |c| match c.chosen(step) {
            0 => 0,
            k => conditional::BINS[k - 1],
        })
    }

    fn phase(&self, row: u64) -> u8 {
        match (self.cfg.day, self.cfg.clock) {
            (Some(_), Some(step)) => conditional::clock_phase(row, u64::from(step.get())),
            (day, _) => day.map_or(0, |d| conditional::phase(row, d)),
        }
    }

    /// The series' history window.
    pub fn history(&self) -> &History {
        &self.hist
    }

    /// The model.
    pub fn model(&self) -> &dyn Forecaster {
        self.model.as_ref()
    }

    /// Residuals calibrated so far at `step`.
    pub fn calibrated(&self, step: usize) -> usize {
        match &self.cal {
            Cal::Kept(c) => c.count(step),
            Cal::Replayed(r) => r.count(&self.hist, step),
        }
    }

    /// Heap bytes held by history, model, calibrator and recent forecasts.
    pub fn heap_bytes(&self) -> usize {
        self.hist.heap_bytes()
            + std::mem::size_of_val(self.model.as_ref())
            + self.model.heap_bytes()
            + match &self.cal {
                Cal::Kept(c) => c.heap_bytes(),
                Cal::Replayed(r) => r.heap_bytes(),
            }
            + self
                .cond
                .as_ref()
                .map_or(0, |c| std::mem::size_of::<Conditional>() + c.heap_bytes())
            + self.recent.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replayed_intervals_are_the_kept_ones_across_refits() {
        // A window of 20 recomputes at every observation either way, so the two can be
        // compared at each; gaps and a run of them, refits at 100 and 170.
        let cfg = |replayed_residuals| PredictorConfig {
            history: 200,
            horizon: 4,
            calibration_window: 20,
            replayed_residuals,
            ..PredictorConfig::default()
        };
        let (mut kept, mut replayed) = (
            Predictor::new(ModelKind::Ar, Seasons::default(), cfg(false)),
            Predictor::new(ModelKind::Ar, Seasons::default(), cfg(true)),
        );
        let e = crate::model::testutil::noise(400, 3);
        let value = |t: usize| {
            let gap = t % 23 == 7 || (250..255).contains(&t);
            // In `f32`, as the history keeps actuals (replayed residuals read them there).
            let v = 50.0 + 20.0 * (t as f64 * 0.3).sin() + 5.0 * e[t];
            (!gap).then_some(f64::from(v as f32))
        };
        let mut compared = 0;
        for t in 0..400 {
            for p in [&mut kept, &mut replayed] {
                if t == 0 {
                    p.preload([value(0)]);
                    p.fit();
                } else {
                    p.observe(value(t));
                    if t == 100 || t == 170 {
                        p.fit();
                    }
                }
            }
            assert_eq!(kept.points(), replayed.points(), "at {t}");
            // Before, at and just after each refit, the window holds both models' residuals.
            for step in 1..=5 {
                assert_eq!(kept.calibrated(step), replayed.calibrated(step), "at {t}");
                assert_eq!(kept.bands(step), replayed.bands(step), "{t} step {step}");
                for level in [0.9, 0.99, 0.5] {
                    assert_eq!(
                        kept.residual_quantile(step, level),
                        replayed.residual_quantile(step, level),
                        "{t} step {step} level {level}"
                    );
                }
            }
            compared += 1;
        }
        assert_eq!(compared, 400);
        assert!(kept.bands(1)[0].hi.is_finite());
        // 4 steps of 20 `f32` residuals and pending forecasts against 4 summaries.
        let (k, r) = (kept.heap_bytes(), replayed.heap_bytes());
        assert!(k - r >= 4 * 20 * 4, "kept {k} B, replayed {r} B");
    }

    #[test]
    fn a_refit_between_observations_scores_every_step_against_its_own_row() {
        // A ramp forecast by repeating the last value: the error at step `s` is exactly `s`.
        let cfg = PredictorConfig {
            horizon: 3,
            ..PredictorConfig::default()
        };
        let mut p = Predictor::new(ModelKind::Naive, Seasons::default(), cfg);
        p.preload((0..5).map(|v| Some(f64::from(v))));
        p.fit();
        for v in 5..40 {
            p.observe(Some(f64::from(v)));
            if v % 7 == 0 {
                p.refit(None);
            }
        }
        let Cal::Kept(cal) = &p.cal else {
            panic!("kept residuals");
        };
        for step in 1..=3 {
            let (held, _) = cal.held(step);
            assert!(held.len() >= 30, "step {step}: {} residuals", held.len());
            assert!(
                held.iter().all(|&r| r == step as f32),
                "step {step}: {held:?}"
            );
        }
    }

    #[test]
    fn a_series_idle_at_zero_before_its_traffic_starts_still_calibrates_its_bands() {
        // A new host pair or a helpdesk from midnight: 600 exact zeros, forecast as exactly 0,
        // fill the window with residuals of 0 and the bands with (0, 0). Then counts arrive.
        let cfg = PredictorConfig {
            horizon: 2,
            calibration_window: 200,
            ..PredictorConfig::default()
        };
        let mut p = Predictor::new(ModelKind::Naive, Seasons::default(), cfg);
        p.preload([Some(0.0)]);
        p.fit();
        let e = crate::model::testutil::noise(3_000, 7);
        let (mut outliers, mut judged) = (0, 0);
        for (t, n) in e.iter().enumerate().skip(1) {
            let y = if t < 600 {
                0.0
            } else {
                (3.0 + 2.0 * n).round().max(0.0)
            };
            let o = p.observe(Some(y));
            if t >= 1_500 {
                judged += 1;
                outliers += usize::from(o.is_some());
            }
            if t == 599 {
                assert_eq!(p.bands(1)[2], Band { lo: 0.0, hi: 0.0 });
            }
        }
        // The bands left (0, 0): observations off the last value are not all anomalies.
        let [_, _, b99] = p.bands(1);
        assert!(b99.hi > 1.0 && b99.lo < -1.0, "{b99:?}");
        assert!(outliers * 20 < judged, "{outliers} anomalies of {judged}");
        assert!(p.residual_quantile(1, 0.99).is_some_and(|q| q > 1.0));
    }
}
