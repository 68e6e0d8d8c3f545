//! One forecast series (a link or a host pair): its predictor, the recent actuals, the one-step
//! forecasts that were made for them (so charts can draw actual against forecast with its band),
//! the latest multi-step forecast, and the recent error. Scheduled events (`core::calendar`)
//! shape the forecast at the steps they cover, and are divided out of what the model learns.
//!
//! Invariants: one observation per control tick; `window` holds, for each observed tick, the
//! one-step forecast made at the tick before (every tick but a series' first); intervals that are not
//! calibrated yet (fewer than 20 residuals) are `None`, never a made-up width; anomalies are only
//! raised against calibrated 99 % intervals.

use std::collections::VecDeque;
use std::time::Duration;

use prescient_predict::{Calendar, Forecast, ModelKind, Predictor, PredictorConfig, Seasons};

use super::records::SeriesKey;
use crate::sizing;
pub use crate::vocab::series::{Interval, Point};
use kept::{push_bounded, Ahead, Window};
use prescient_topology::Timestamp;

mod kept;
mod tier;

pub use tier::{
    Tier, COMPACT_CALIBRATION, COMPACT_ERRORS, COMPACT_FIRST_FIT, COMPACT_HISTORY, COMPACT_POINTS,
};

/// The scheduled events a series' forecast takes (see `core::calendar`): those scoped to it
/// (a pair, a link) and those for everything.
#[derive(Debug, Clone, Copy)]
pub struct Events<'a> {
    /// Which series this is.
    pub key: &'a SeriesKey,
    /// Pair- and link-scoped events.
    pub scoped: &'a Calendar<SeriesKey>,
    /// Events for everything.
    pub all: &'a Calendar<SeriesKey>,
}

/// Refit after this many observations (the model's parameters were chosen on a short history),
/// each up to half as many again later by the series' refit phase ([`refit_due`]).
const REFIT_AT: [u64; 4] = [16, 64, 256, 1024];
/// Then every this many observations, at the series' own phase of the period.
const REFIT_EVERY: u64 = 2048;
/// History kept by a series whose steps hold a daily season (steps of 32 s or more): one and a
/// half days of it at least, and the weekly lags the seasonal candidates read.
pub(crate) const SEASONAL_HISTORY: usize = 4096;
/// History kept by a series without one (shorter steps, the 1 s control interval among them):
/// its candidates then read at most the last 17 values to forecast (regression: 12 lags and a
/// 5-step median; AR: 12 lags) and the whole window only to refit, every `REFIT_EVERY` steps, so
/// a refit period of history fits each refit on the steps since the last. Replaying both traces
/// of `../shared/data` through this predictor (`predict/examples/live_windows.rs`) the validation
/// part's errors and coverage were as good as with 4,096 (8 KB more per series, full).
const PLAIN_HISTORY: usize = REFIT_EVERY as usize;
/// Errors kept for the recent-error figures.
const ERROR_WINDOW: usize = 120;

/// Recent accuracy of a series' one-step forecasts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorSummary {
    /// Forecasts scored.
    pub scored: usize,
    /// Mean absolute error, bits/s.
    pub mae: f64,
    /// Share of actuals inside their 95 % interval, when any interval was calibrated.
    pub coverage95: Option<f64>,
}

/// An actual outside its calibrated 99 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outlier {
    /// What was observed.
    pub actual: f64,
    /// What had been forecast for it.
    pub forecast: Point,
}

/// What a forecast took from scheduled events.
#[derive(Debug, Default)]
struct Took {
    /// The latest forecast with only the events scoped to this series applied, when events
    /// for everything may change `latest` (otherwise it is `latest`).
    scoped: Option<Ahead>,
    /// The events the latest forecast took, as (name, occurrence start in seconds).
    events: Vec<(String, u64)>,
    /// Those of them scoped to this series.
    scoped_events: Vec<(String, u64)>,
}

/// One series.
#[derive(Debug)]
pub struct Series {
    predictor: Predictor,
    /// Share of intervals demand may exceed the planning bound in.
    violation: f64,
    interval: Duration,
    observed: u64,
    /// The last ticks: each one's actual and the one-step forecast made for it.
    window: Window,
    /// The latest forecast; its first step is the one-step forecast the next actual is
    /// scored against.
    latest: Ahead,
    /// What the latest forecast took from scheduled events, when it may have taken any (boxed:
    /// 96 bytes inline that few of tens of thousands of series use).
    took: Option<Box<Took>>,
    /// The last scored one-step forecasts: absolute error (as `f32`, 8 bytes an entry where
    /// `f64` took 16) and whether the actual was inside the 95 % band, when calibrated.
    errors: VecDeque<(f32, Option<bool>)>,
    /// Shifts this series' refits ([`refit_due`]); 0 for the plain schedule.
    refit_phase: u64,
    /// Full, or the scale tier's compact settings (`tier.rs`).
    tier: Tier,
    /// Scored forecasts kept in `errors` ([`ERROR_WINDOW`] for a full series).
    error_window: usize,
}

/// Whether a series with refit phase `phase` refits at its `n`-th observation. Series created
/// in one tick (thousands while a large network is discovered) would otherwise refit in one
/// tick too, every one of them at 1,024 observations and every 2,048 after, and a refit reads
/// the whole history (a thousand times an observation's work): their phases spread each early
/// refit over half its count of ticks and the periodic ones over the whole period.
fn refit_due(phase: u64, n: u64) -> bool {
    REFIT_AT.iter().any(|&at| n == at + phase % (at / 2))
        || (n > REFIT_AT[3] + REFIT_AT[3] / 2 && (n + phase) % REFIT_EVERY == 0)
}

/// The predictor of a series sampled every `interval`, forecasting `horizon` steps, sizing at
/// violation target `violation` (time-of-day conditional quantiles over its day, where they earn
/// their place).
fn predictor(interval: Duration, horizon: usize, violation: f64) -> Predictor {
    let secs = interval.as_secs();
    let periods = prescient_predict::season::periods_for_interval(secs);
    // Daily/weekly periods only when the history window can hold at least one and a half
    // days (weeks, at 12 h+ steps); otherwise seasonal models would chase a season they can
    // never see.
    let (seasons, history) = match periods {
        s if s.shortest().is_some_and(|d| d + d / 2 <= SEASONAL_HISTORY) => (s, SEASONAL_HISTORY),
        _ => (Seasons::default(), PLAIN_HISTORY),
    };
    // The time of day (day of the week at 12 h+ steps) needs no history, only the cycle's
    // length in steps.
    let cfg = sizing::predictor_config(
        PredictorConfig {
            history,
            horizon: horizon.max(1),
            clock: periods.clock,
            ..PredictorConfig::default()
        },
        periods.shortest(),
        violation,
    );
    Predictor::new(ModelKind::Auto, seasons, cfg)
}

fn finite(b: (f64, f64)) -> Interval {
    (b.0.is_finite() && b.1.is_finite()).then_some(b)
}

impl Series {
    /// A series sampled every `interval`, forecasting `horizon` steps, keeping `keep` points.
    pub fn new(interval: Duration, horizon: usize, keep: usize) -> Self {
        Self::planning_for(interval, horizon, keep, sizing::DEFAULT_VIOLATION_TARGET)
    }

    /// A new series planning for violation target `violation` (the default when it is not a
    /// share in (0, 0.5)). Builds its predictor once: the tick makes thousands of series while a
    /// large network is discovered, and a second predictor each was measurable there.
    pub fn planning_for(interval: Duration, horizon: usize, keep: usize, violation: f64) -> Self {
        let violation = if sizing::valid_violation(violation) {
            violation
        } else {
            sizing::DEFAULT_VIOLATION_TARGET
        };
        let mut s = Series::with_predictor(predictor(interval, horizon, violation), interval, keep);
        s.violation = violation;
        s
    }

    /// A new full series around `predictor`, keeping `keep` points, at the default target.
    fn with_predictor(predictor: Predictor, interval: Duration, keep: usize) -> Self {
        Series {
            predictor,
            violation: sizing::DEFAULT_VIOLATION_TARGET,
            interval,
            observed: 0,
            window: Window::new(keep.max(2)),
            latest: Ahead::default(),
            took: None,
            errors: VecDeque::new(),
            refit_phase: 0,
            tier: Tier::Full,
            error_window: ERROR_WINDOW,
        }
    }

    /// The same series refitting at its own `phase` (any number: a hash of its key), so that
    /// series created together do not refit together ([`refit_due`]).
    pub fn with_refit_phase(mut self, phase: u64) -> Self {
        self.refit_phase = phase;
        self
    }

    /// The same series planning for violation target `v` (a share in (0, 0.5)).
    pub fn with_violation(mut self, v: f64) -> Self {
        if sizing::valid_violation(v) {
            self.violation = v;
            // The predictor sizes at this level; before any observation, nothing is lost. (A
            // compact predictor sizes with the plain quantile at any level.)
            if self.observed == 0 && self.tier == Tier::Full {
                self.predictor = predictor(self.interval, self.predictor.horizon(), v);
            }
        }
        self
    }

    /// Takes the observation of tick `now` (`None`: no fresh rate), scores the forecast made for
    /// it, forecasts anew; returns the observation if it left its calibrated 99 % interval.
    pub fn observe(&mut self, now: Timestamp, value: Option<f64>) -> Option<Outlier> {
        self.observe_with(now, value, None)
    }

    /// [`Series::observe`], the new forecast taking the scheduled `events` at the steps they
    /// cover (so an event's traffic is forecast, planned for, and not judged an anomaly).
    pub fn observe_with(
        &mut self,
        now: Timestamp,
        value: Option<f64>,
        events: Option<Events<'_>>,
    ) -> Option<Outlier> {
        let value = value.filter(|v| v.is_finite());
        let mut outlier = None;
        // The one-step forecast made at the last observation (none before the first).
        let made = self.latest.point(0);
        if let Some(made) = made {
            if let Some(y) = value {
                let inside = made.i95.map(|(lo, hi)| lo <= y && y <= hi);
                // The 99 % band, not the 95 % one: a 95 % band is left by one sample in twenty
                // of perfectly ordinary traffic.
                if made.i99.is_some_and(|(lo, hi)| y < lo || y > hi) {
                    outlier = Some(Outlier {
                        actual: y,
                        forecast: made,
                    });
                }
                push_bounded(
                    &mut self.errors,
                    ((y - made.value).abs() as f32, inside),
                    self.error_window,
                );
            }
        }
        self.window.push(now, value, made.as_ref());
        // The model learns the usual traffic: what an event multiplies is divided out (the
        // calendar multiplies it back into the forecast), or it would count the event twice.
        let value = match events {
            Some(ev) => {
                let t = now.nanos() / 1_000_000_000;
                let m = ev.scoped.multiplier(ev.key, t) * ev.all.multiplier(ev.key, t);
                value.map(|y| if m > 0.0 && m.is_finite() { y / m } else { y })
            }
            None => value,
        };
        if self.observed == 0 {
            self.predictor.preload([value]);
            self.predictor.fit();
        } else {
            // Anomalies are judged here, against the recorded forecast the charts also show.
            self.predictor.observe(value);
            let n = self.observed + 1;
            if refit_due(self.refit_phase, n) && self.tier.fits_at(n) {
                self.predictor.fit();
            }
        }
        self.observed += 1;
        let f = self.predictor.forecast(usize::MAX);
        let quantiles: Vec<Option<f64>> = (1..=f.points.len())
            .map(|step| sizing::residual_quantile(&mut self.predictor, step, self.violation))
            .collect();
        let mut latest = self.points(now, &f, &quantiles);
        // A compact series keeps its forecast in `f32`, as its history keeps its actuals.
        let narrow = self.tier == Tier::Compact;
        // The last forecast's record, its room reused (boxed again only if anything was taken).
        let mut took = self.took.take().map_or_else(Took::default, |t| *t);
        took.events.clear();
        took.scoped_events.clear();
        if let Some(ev) = events {
            apply_events(&mut latest, ev.key, ev.scoped, &mut took.scoped_events);
            took.events.clone_from(&took.scoped_events);
        }
        // The forecast with only the scoped events is kept apart only when events for
        // everything may change it: without any (the usual case) it is the latest forecast, and
        // a copy of 12 steps is 768 bytes per series, four series per switch.
        took.scoped = match events.filter(|ev| !ev.all.is_empty()) {
            Some(ev) => {
                let scoped = Ahead::new(now, self.interval, &latest, narrow);
                apply_events(&mut latest, ev.key, ev.all, &mut took.events);
                Some(scoped)
            }
            None => None,
        };
        if took.scoped.is_some() || !took.events.is_empty() {
            self.took = Some(Box::new(took));
        }
        self.latest = Ahead::new(now, self.interval, &latest, narrow);
        outlier
    }

    fn points(&self, now: Timestamp, f: &Forecast, quantiles: &[Option<f64>]) -> Vec<Point> {
        f.points
            .iter()
            .enumerate()
            .map(|(i, &value)| {
                let step = i + 1;
                let at = now.plus(self.interval.saturating_mul(step as u32));
                Point {
                    at,
                    value,
                    i80: f.interval(step, 0).and_then(finite),
                    i95: f.interval(step, 1).and_then(finite),
                    i99: f.interval(step, 2).and_then(finite),
                    bound: sizing::bound(value, quantiles.get(i).copied().flatten()),
                }
            })
            .collect()
    }

    /// Recent actuals, oldest first (`None`: no fresh rate at that tick).
    pub fn actuals(&self) -> impl Iterator<Item = (Timestamp, Option<f64>)> + '_ {
        self.window.actuals()
    }

    /// One-step forecasts made for recent ticks, oldest first (values to `f32` precision, no
    /// 99 % band).
    pub fn past(&self) -> impl Iterator<Item = Point> + '_ {
        self.window.past()
    }

    /// The latest forecast, steps `1..=horizon` (made from what the series keeps: a copy).
    pub fn forecast(&self) -> Vec<Point> {
        self.latest.points()
    }

    /// Steps in the latest forecast (none before the first observation).
    pub fn forecast_len(&self) -> usize {
        self.latest.len()
    }

    /// The latest forecast with only the events scoped to this series (a pair, a link):
    /// what a service's demand sums, since it takes the events for everything itself.
    pub fn scoped_forecast(&self) -> Vec<Point> {
        self.took
            .as_ref()
            .and_then(|t| t.scoped.as_ref())
            .unwrap_or(&self.latest)
            .points()
    }

    /// The scheduled events the latest forecast took: (name, occurrence start, seconds).
    pub fn events(&self) -> &[(String, u64)] {
        self.took.as_ref().map_or(&[], |t| &t.events)
    }

    /// Those of [`Series::events`] scoped to this series (a pair, a link).
    pub fn scoped_events(&self) -> &[(String, u64)] {
        self.took.as_ref().map_or(&[], |t| &t.scoped_events)
    }

    /// The latest actual, if the last tick had one.
    pub fn last_actual(&self) -> Option<f64> {
        self.window.last_actual()
    }

    /// The highest value the latest forecast allows: the largest upper 95 % bound where
    /// calibrated, else the largest point forecast.
    pub fn predicted_peak(&self) -> Option<f64> {
        self.latest.peak()
    }

    /// The length of one step of this series (the control interval times the stride).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Makes the steps from now on `interval` long (the forecast stride changed). History and
    /// model stay: refitting every series at once would stall the tick that changed it, and
    /// without daily seasons (which need far more history than a short step keeps) a model of
    /// a rate has no notion of how long its steps are; its forecast points are placed at the
    /// new step length from the next observation on.
    pub fn set_interval(&mut self, interval: Duration) {
        self.interval = interval;
    }

    /// The capacity the latest forecast asks for: the largest planning bound over the horizon
    /// (forecast plus the residual quantile meeting the violation target), as forecast
    /// reservations are sized and `prescient evaluate` replays.
    pub fn planned_peak(&self) -> Option<f64> {
        self.latest.planned_peak()
    }

    /// The model in use.
    pub fn model(&self) -> ModelKind {
        self.predictor.model().kind()
    }

    /// Observations taken.
    pub fn observed(&self) -> u64 {
        self.observed
    }

    /// Heap bytes held: the predictor, the window of ticks, the latest forecasts, the events
    /// they took and the recent errors.
    pub fn heap_bytes(&self) -> usize {
        let names = |e: &Vec<(String, u64)>| {
            e.capacity() * std::mem::size_of::<(String, u64)>()
                + e.iter().map(|(n, _)| n.capacity()).sum::<usize>()
        };
        let took = self.took.as_ref().map_or(0, |t| {
            std::mem::size_of::<Took>()
                + t.scoped.as_ref().map_or(0, Ahead::heap_bytes)
                + names(&t.events)
                + names(&t.scoped_events)
        });
        self.predictor.heap_bytes()
            + self.window.heap_bytes()
            + self.latest.heap_bytes()
            + took
            + self.errors.capacity() * std::mem::size_of::<(f32, Option<bool>)>()
    }

    /// The model in use and the mean absolute error of recent one-step forecasts (that of
    /// [`Series::error`]), once any was scored.
    pub fn model_error(&self) -> Option<(ModelKind, f64)> {
        let scored = self.errors.len();
        (scored > 0).then(|| {
            let mae = self.errors.iter().map(|e| f64::from(e.0)).sum::<f64>() / scored as f64;
            (self.model(), mae)
        })
    }

    /// Accuracy of recent one-step forecasts.
    pub fn error(&self) -> ErrorSummary {
        let scored = self.errors.len();
        let mae = if scored == 0 {
            0.0
        } else {
            self.errors.iter().map(|e| f64::from(e.0)).sum::<f64>() / scored as f64
        };
        let judged: Vec<bool> = self.errors.iter().filter_map(|e| e.1).collect();
        let coverage95 = (!judged.is_empty())
            .then(|| judged.iter().filter(|&&x| x).count() as f64 / judged.len() as f64);
        ErrorSummary {
            scored,
            mae,
            coverage95,
        }
    }
}

/// `points` as the events of `cal` covering `key` at their instants make them; the events
/// (name, occurrence start) are added to `names`.
fn apply_events(
    points: &mut [Point],
    key: &SeriesKey,
    cal: &Calendar<SeriesKey>,
    names: &mut Vec<(String, u64)>,
) {
    if cal.is_empty() {
        return;
    }
    for p in points {
        let t = p.at.nanos() / 1_000_000_000;
        let mut any = false;
        for e in cal.active(key, t) {
            any = true;
            if !names.iter().any(|(n, s)| *n == e.name && *s == e.start) {
                names.push((e.name.clone(), e.start));
            }
        }
        if any {
            adjust(p, |x| cal.adjust(key, t, x));
        }
    }
}

/// `p` with every value and bound passed through `f`.
fn adjust(p: &mut Point, f: impl Fn(f64) -> f64) {
    p.value = f(p.value);
    p.bound = f(p.bound);
    for i in [&mut p.i80, &mut p.i95, &mut p.i99] {
        if let Some((lo, hi)) = i {
            *i = Some((f(*lo), f(*hi)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    #[test]
    fn steady_series_forecasts_its_level_and_flags_a_spike() {
        let mut s = Series::new(Duration::from_secs(1), 6, 100);
        // The 99 % interval needs 199 residuals before it is finite.
        for i in 0..250 {
            // Small deterministic ripple so the calibrated interval has a width.
            let v = 1_000.0 + f64::from((i % 5) as u8) * 10.0;
            assert!(s.observe(t(i), Some(v)).is_none(), "false alarm at {i}");
        }
        let peak = s.predicted_peak().unwrap_or(0.0);
        assert!((900.0..1_300.0).contains(&peak), "peak {peak}");
        assert_eq!(s.forecast().len(), 6);
        assert!(s.forecast().iter().all(|p| p.i95.is_some()));
        let e = s.error();
        assert!(e.scored == 120 && e.mae < 100.0, "{e:?}");
        assert!(e.coverage95.is_some_and(|c| c > 0.8), "{e:?}");
        let out = s.observe(t(250), Some(50_000.0));
        assert!(out.is_some(), "a 50x spike must be an anomaly");
    }

    #[test]
    fn the_planning_bound_is_the_forecast_plus_the_quantile_of_the_violation_target() {
        // Uniform noise on [1 000, 1 200): nothing a model can forecast.
        let ripple = |i: u64| {
            let x = i.wrapping_mul(6364136223846793005).rotate_left(23) >> 11;
            1_000.0 + 200.0 * (x as f64 / (1u64 << 53) as f64)
        };
        let mut strict = Series::new(Duration::from_secs(1), 3, 100).with_violation(0.01);
        let mut loose = Series::new(Duration::from_secs(1), 3, 100).with_violation(0.3);
        // Before any residual the bound is the point forecast.
        strict.observe(t(0), Some(1_000.0));
        assert!(strict.forecast().iter().all(|p| p.bound == p.value));
        for i in 1..400 {
            strict.observe(t(i), Some(ripple(i)));
            loose.observe(t(i), Some(ripple(i)));
        }
        let (s, l) = (
            strict.planned_peak().expect("forecast"),
            loose.planned_peak().expect("forecast"),
        );
        // A 1 % target reaches near the noise's top; a 30 % one lets its top part out.
        assert!((1_150.0..1_400.0).contains(&s), "strict {s}");
        assert!(l < s, "loose {l} strict {s}");
    }

    #[test]
    fn a_pair_idle_until_its_first_flow_is_not_flagged_at_every_tick_after_it() {
        // A host pair's rate is exactly 0 until its first flow, so its first residuals are all 0
        // and its bands (0, 0); the traffic after must widen them, not be flagged tick by tick.
        // Full and compact (residuals packed in two bytes) alike.
        for mut s in [
            Series::new(Duration::from_secs(1), 3, 100),
            Series::compact_for(Duration::from_secs(1), 3, 0.01, 10),
        ] {
            let mut flagged = 0;
            for i in 0..3_000u64 {
                let x = i.wrapping_mul(6364136223846793005).rotate_left(17) >> 11;
                let v = if i < 800 {
                    0.0
                } else {
                    1e6 * (1.0 + x as f64 / (1u64 << 53) as f64)
                };
                let out = s.observe(t(i), Some(v));
                flagged += usize::from(out.is_some() && i >= 1_500);
            }
            let tier = s.tier().name();
            assert!(flagged < 75, "{tier}: {flagged} of 1,500 ticks flagged");
            let peak = s.planned_peak().unwrap_or(0.0);
            assert!(
                peak > 1.5e6,
                "{tier}: planned for {peak} of traffic up to 2e6"
            );
        }
    }

    #[test]
    fn a_series_made_for_a_target_plans_as_one_given_that_target_later() {
        let value = |i: u64| 1_000.0 + 300.0 * ((i % 17) as f64 / 17.0);
        let mut direct = Series::planning_for(Duration::from_secs(1), 3, 100, 0.2);
        let mut later = Series::new(Duration::from_secs(1), 3, 100).with_violation(0.2);
        let mut default = Series::planning_for(Duration::from_secs(1), 3, 100, 0.7);
        let mut plain = Series::new(Duration::from_secs(1), 3, 100);
        for i in 0..200 {
            for s in [&mut direct, &mut later, &mut default, &mut plain] {
                s.observe(t(i), Some(value(i)));
            }
        }
        let bounds = |s: &Series| s.forecast().iter().map(|p| p.bound).collect::<Vec<_>>();
        assert_eq!(bounds(&direct), bounds(&later));
        // An invalid target plans at the default, as `with_violation` leaves it.
        assert_eq!(bounds(&default), bounds(&plain));
        assert_ne!(
            bounds(&direct),
            bounds(&plain),
            "the target must matter here"
        );
    }

    #[test]
    fn busy_hours_are_planned_wider_than_quiet_ones_once_that_has_paid() {
        // Hourly traffic whose noise is four times wider over six hours of each day: after
        // enough days the bound over a busy hour sits further above its forecast than over a
        // quiet one, since the conditional quantile scored better on the series' own past.
        let noise = |i: u64| {
            let x = i.wrapping_mul(6364136223846793005).rotate_left(29) >> 11;
            x as f64 / (1u64 << 53) as f64 - 0.5
        };
        let busy = |i: u64| i % 24 < 6;
        let value = |i: u64| 1_000.0 + if busy(i) { 400.0 } else { 100.0 } * noise(i);
        let mut s = Series::new(Duration::from_secs(3600), 1, 100).with_violation(0.01);
        let (mut wide, mut narrow) = (Vec::new(), Vec::new());
        for i in 0..(40 * 24) {
            s.observe(t(i * 3600), Some(value(i)));
            if i >= 30 * 24 {
                let p = s.forecast()[0];
                let width = p.bound - p.value;
                if busy(i + 1) {
                    wide.push(width);
                } else {
                    narrow.push(width);
                }
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (w, n) = (mean(&wide), mean(&narrow));
        assert!(w > 2.0 * n, "busy hours {w}, quiet hours {n}");
        // The quiet hours are not over-provisioned to pay for the busy ones: their bound covers
        // the quiet noise (±50) with little to spare.
        assert!((40.0..120.0).contains(&n), "quiet hours {n}");
    }

    #[test]
    fn a_scoped_forecast_leaves_out_the_events_for_everything_and_only_those() {
        use prescient_predict::calendar::{Event, Scope};
        use prescient_topology::MacAddr;
        let key = SeriesKey::Pair(MacAddr([0, 0, 0, 0, 0, 1]), MacAddr([0, 0, 0, 0, 0, 2]));
        let event = |name: &str, multiplier: f64, scope| Event {
            name: name.to_string(),
            start: 0,
            end: 10_000,
            multiplier,
            at_least: None,
            scope,
        };
        let mut scoped = Calendar::default();
        scoped
            .add(event("sale", 2.0, Scope::Only(vec![key])))
            .expect("valid");
        let mut all = Calendar::default();
        all.add(event("holiday", 3.0, Scope::All)).expect("valid");
        let none = Calendar::default();
        let (mut both, mut own, mut plain) = (
            Series::new(Duration::from_secs(1), 3, 10),
            Series::new(Duration::from_secs(1), 3, 10),
            Series::new(Duration::from_secs(1), 3, 10),
        );
        for i in 0..50 {
            let v = Some(1_000.0 + f64::from((i % 7) as u8));
            let ev = |all| Events {
                key: &key,
                scoped: &scoped,
                all,
            };
            both.observe_with(t(i), v, Some(ev(&all)));
            own.observe_with(t(i), v, Some(ev(&none)));
            plain.observe_with(t(i), v, None);
        }
        let values = |p: &[Point]| p.iter().map(|p| p.value).collect::<Vec<_>>();
        // Only scoped events: the scoped forecast is the forecast.
        assert_eq!(values(&own.scoped_forecast()), values(&own.forecast()));
        assert_eq!(own.scoped_events(), own.events());
        assert_eq!(own.events().len(), 1);
        // With an event for everything, the scoped forecast leaves it out.
        assert_eq!(both.scoped_forecast().len(), 3);
        for (b, s) in both.forecast().iter().zip(both.scoped_forecast()) {
            assert!(s.value > 0.0, "{s:?}");
            assert!(
                (b.value - 3.0 * s.value).abs() < 1e-9 * b.value,
                "{b:?} {s:?}"
            );
        }
        assert_eq!(both.events().len(), 2);
        assert_eq!(both.scoped_events().len(), 1);
        // Without events there is nothing to leave out.
        assert_eq!(values(&plain.scoped_forecast()), values(&plain.forecast()));
        assert!(plain.events().is_empty());
    }

    #[test]
    fn series_created_together_refit_in_different_ticks() {
        // 4,198 series (a 1,000-switch network's links) created in one tick, phases from a hash.
        let phases: Vec<u64> = (0..4_198u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17))
            .collect();
        let mut most = 0;
        for n in 1..=3 * REFIT_EVERY {
            let refitting = phases.iter().filter(|&&p| refit_due(p, n)).count();
            most = most.max(refitting);
        }
        // Without phases all 4,198 refit at 16, 64, 256, 1,024 and 2,048.
        assert!(most <= 4_198 / 4, "{most} series refit in one tick");
        for &p in &phases {
            let refits: Vec<u64> = (1..=3 * REFIT_EVERY).filter(|&n| refit_due(p, n)).collect();
            // Each early refit once, within half its count after it; then once a period.
            for (k, at) in REFIT_AT.iter().enumerate() {
                assert!((*at..at + at / 2).contains(&refits[k]), "{p}: {refits:?}");
            }
            assert!((6..=7).contains(&refits.len()), "{p}: {refits:?}");
            assert!(refits
                .windows(2)
                .skip(4)
                .all(|w| w[1] - w[0] == REFIT_EVERY));
        }
        // Phase 0 is the plain schedule.
        let plain: Vec<u64> = (1..=3 * REFIT_EVERY).filter(|&n| refit_due(0, n)).collect();
        assert_eq!(plain, [16, 64, 256, 1024, 2048, 4096, 6144]);
    }

    #[test]
    fn a_daily_series_sizes_its_quiet_weekdays_apart_from_its_wild_weekends() {
        // Two years of one value a day: weekdays within 1 % of their level, weekends within 30 %.
        let shape = [100.0, 108.0, 112.0, 104.0, 95.0, 52.0, 45.0];
        let day = 86_400;
        let mut s = Series::new(Duration::from_secs(day), 7, 100);
        // Up to a Friday, so that steps 1-2 (the shortest horizons) are the weekend.
        for i in 0..104 * 7 - 2u64 {
            let u = (i.wrapping_mul(6364136223846793005).rotate_left(23) >> 11) as f64
                / (1u64 << 53) as f64;
            let spread = if i % 7 >= 5 { 0.3 } else { 0.01 };
            let v = shape[(i % 7) as usize] * (1.0 + spread * (2.0 * u - 1.0));
            s.observe(t(i * day), Some(v));
        }
        let f = s.forecast();
        assert_eq!(f.len(), 7);
        let margin: Vec<f64> = f.iter().map(|p| p.bound - p.value).collect();
        // The week is the cycle the sizing quantile is conditioned on, per step where the
        // conditional quantile earned its place: the quiet Friday (step 7) gets a far narrower
        // margin than the wild Saturday (step 1), though its horizon is the longest. (One plain
        // quantile for every day gave both the weekend's width.)
        assert!(margin[6] < 0.25 * margin[0], "margins {margin:?}");
    }

    #[test]
    fn a_35_minute_series_sizes_its_wild_nights_apart_from_its_quiet_days_on_the_clock() {
        // 99 days of 35-minute steps (41.14 a day): within 30 % of the level from midnight to
        // 6:00, within 1 % otherwise. Bins on a rounded day of 41 steps would have slid 14
        // steps (8 hours) by the end.
        let step = 2_100;
        let mut s = Series::new(Duration::from_secs(step), 12, 100);
        // Up to 4:00, so steps 1-3 are night and steps 4-12 (6:20-11:00) day.
        for i in 0..=4_080u64 {
            let u = (i.wrapping_mul(6364136223846793005).rotate_left(23) >> 11) as f64
                / (1u64 << 53) as f64;
            let night = i * step % 86_400 < 6 * 3_600;
            let spread = if night { 0.3 } else { 0.01 };
            s.observe(t(i * step), Some(100.0 * (1.0 + spread * (2.0 * u - 1.0))));
        }
        let f = s.forecast();
        assert_eq!(f.len(), 12);
        let margin: Vec<f64> = f.iter().map(|p| p.bound - p.value).collect();
        // One plain quantile for every hour would give the night's width to all, growing with
        // the step.
        let mean = |m: &[f64]| m.iter().sum::<f64>() / m.len() as f64;
        assert!(
            mean(&margin[3..]) < 0.3 * mean(&margin[..3]),
            "margins {margin:?}"
        );
    }

    #[test]
    fn gaps_are_kept_as_gaps() {
        let mut s = Series::new(Duration::from_secs(1), 3, 10);
        s.observe(t(0), Some(5.0));
        s.observe(t(1), None);
        assert_eq!(s.last_actual(), None);
        assert_eq!(s.actuals().count(), 2);
        assert_eq!(s.past().count(), 1);
    }
}
