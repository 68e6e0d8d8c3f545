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
mod tests;
