//! Observing the series due at a tick, on every core. Each series observes, forecasts and
//! scores on its own, so that part runs in parallel (rayon); what the series share runs in
//! the tick's order before it (making and re-tiering series: the tier of each depends on how
//! many came before it) and after it (the error per model, anomalies), so a tick decides and
//! reports the same on one core or many. A tick in steps (`tick.rs`) runs the three parts per
//! step, over consecutive shares of the same order: the same calls in the same order.

use std::collections::BTreeMap;
use std::time::Instant;

use prescient_predict::Calendar;
use prescient_topology::Timestamp;
use rayon::prelude::*;

use super::auto_reserve::is_warm;
use super::model_errors::Share;
use super::records::{Anomaly, ControllerEvent, SeriesKey};
use super::series::{Events, Outlier, Series, Tier};
use super::tick::key_hash;
use super::ControllerCore;

/// What one series' observation changed, for the part of the tick that runs in order.
struct Observed {
    /// Its share of the error per model before and after.
    errors: (Share, Share),
    outlier: Option<Outlier>,
    /// Its predicted peak and planning bound, once warm.
    peaks: Option<(f64, f64)>,
}

impl ControllerCore {
    /// Feeds each of `due` its observation (creating a series on its first sample) and returns
    /// each key with its predicted peak (upper 95 % bound) and its planning bound at the
    /// violation target once the series is warm (`is_warm`): nothing is planned on a cold
    /// model. Each steps `stride` control intervals. The wall time goes to the tick's forecast
    /// cost.
    pub(super) fn observe_due(
        &mut self,
        now: Timestamp,
        due: &[(SeriesKey, Option<f64>)],
        (scoped, all): (&Calendar<SeriesKey>, &Calendar<SeriesKey>),
        stride: u32,
    ) -> Vec<(SeriesKey, Option<(f64, f64)>)> {
        let started = Instant::now();
        let wanted: BTreeMap<SeriesKey, (usize, Option<f64>)> = due
            .iter()
            .enumerate()
            .filter(|(_, (key, value))| self.prepare(key, *value, stride))
            .map(|(i, (key, value))| (*key, (i, *value)))
            .collect();
        let (Some(&first), Some(&last)) = (wanted.keys().next(), wanted.keys().next_back()) else {
            self.forecast_cost_last += started.elapsed();
            return due.iter().map(|(key, _)| (*key, None)).collect();
        };
        let cfg = &self.config;
        // Only the span of keys due (a tick's links or its pairs), not every series.
        let work: Vec<(usize, &SeriesKey, &mut Box<Series>, Option<f64>)> = self
            .series
            .range_mut(first..=last)
            .filter_map(|(key, series)| {
                let &(i, value) = wanted.get(key)?;
                Some((i, key, series, value))
            })
            .collect();
        let observed: Vec<(usize, Observed)> = work
            .into_par_iter()
            .map(|(i, key, series, value)| {
                let before = series.model_error();
                let events = Events { key, scoped, all };
                let outlier = series.observe_with(now, value, Some(events));
                let peaks = series
                    .predicted_peak()
                    .zip(series.planned_peak())
                    .filter(|_| is_warm(series, cfg.horizon, &cfg.planning));
                let errors = (before, series.model_error());
                (
                    i,
                    Observed {
                        errors,
                        outlier,
                        peaks,
                    },
                )
            })
            .collect();
        let mut by_index: Vec<Option<Observed>> = due.iter().map(|_| None).collect();
        for (i, o) in observed {
            if let Some(slot) = by_index.get_mut(i) {
                *slot = Some(o);
            }
        }
        let mut peaks = Vec::with_capacity(due.len());
        for ((key, _), o) in due.iter().zip(by_index) {
            let Some(o) = o else {
                peaks.push((*key, None));
                continue;
            };
            self.model_errors.replace(o.errors.0, o.errors.1);
            if let Some(outlier) = o.outlier {
                self.anomaly(now, key, outlier);
            }
            peaks.push((*key, o.peaks));
        }
        self.forecast_cost_last += started.elapsed();
        peaks
    }

    /// Makes `key`'s series on its first sample, or moves it to the tick's step length and its
    /// tier; false when there is no series to observe (no sample yet).
    fn prepare(&mut self, key: &SeriesKey, value: Option<f64>, stride: u32) -> bool {
        let cfg = &self.config;
        let step = cfg.control_interval.saturating_mul(stride);
        // The scale tier (`series/tier.rs`): with more series than the threshold, new ones are
        // made compact and full ones become compact at their next observation. Host pairs go
        // last: reservations, steering and scale-ups are sized on their forecasts, while a
        // link's only tell which links turn hot; so a pair stays full while the pairs alone fit.
        let known = self.series.contains_key(key);
        let new = usize::from(!known);
        let compact = match key {
            SeriesKey::Link(_) => self.series.len() + new > cfg.compact_above_series,
            SeriesKey::Pair(..) => self.pair_series + new > cfg.compact_above_series,
        };
        let fresh = || {
            let s = if compact {
                Series::compact_for(
                    step,
                    cfg.horizon,
                    cfg.planning.violation_target,
                    cfg.planning.warmup_scored,
                )
            } else {
                Series::planning_for(
                    step,
                    cfg.horizon,
                    cfg.series_points,
                    cfg.planning.violation_target,
                )
            };
            Box::new(s.with_refit_phase(key_hash(key, 1)))
        };
        match self.series.get_mut(key) {
            Some(s) => {
                if s.interval() != step {
                    s.set_interval(step);
                }
                if compact && s.tier() == Tier::Full {
                    // Its errors go with its model: so does its share of the error per model.
                    let share = s.model_error();
                    s.compact(cfg.planning.warmup_scored);
                    self.model_errors.replace(share, s.model_error());
                    self.compact_series += 1;
                }
            }
            None if value.is_some() => {
                self.compact_series += usize::from(compact);
                self.pair_series += usize::from(matches!(key, SeriesKey::Pair(..)));
                self.series.entry(*key).or_insert_with(fresh);
            }
            None => return false,
        }
        // Only series count: a link with no rate yet costs nothing, and counting it made the
        // stride (cost per series times series) too short while thousands of links appeared.
        self.observed_last += 1;
        true
    }

    /// Records `key`'s value outside its 99 % band: in the anomaly log and on the event stream.
    fn anomaly(&mut self, now: Timestamp, key: &SeriesKey, o: Outlier) {
        let (lo, hi) = o.forecast.i99.unwrap_or((f64::NAN, f64::NAN));
        let anomaly = Anomaly {
            series: key.label(),
            at_ns: now.nanos(),
            actual_bps: o.actual,
            expected_bps: o.forecast.value,
            lower_bps: lo,
            upper_bps: hi,
        };
        self.outbox.push(ControllerEvent::Anomaly(anomaly.clone()));
        self.anomalies.push(anomaly);
    }
}
