//! The control tick: expire what ended, turn counters into one observation per series, forecast,
//! flag anomalies, run the congestion planner, keep forecast reservations on the predicted
//! paths, then plan services (scale, migrate, program).
//!
//! Stride: forecasting costs about as much per series as it does, and a network of thousands
//! of switches has tens of thousands of series, more than one control interval can forecast. With
//! a stride of k (the driver sets it from what ticks cost, `set_series_stride`), each series is
//! observed and forecast every k ticks, a fixed share of them per tick (by a hash of its key), as
//! a series with k control intervals per step; the planners read the others' latest forecasts.
//! A series made at another stride keeps its history and steps at the new length from then on.
//!
//! Warm-up: a series' peak reaches the planners only once it is warm (at least
//! `max(horizon, planning.warmup_points)` observations and `planning.warmup_scored` one-step
//! forecasts scored): a model fitted on two or three points extrapolates wild peaks.

use std::collections::BTreeMap;
use std::time::Duration;

use prescient_topology::{LinkKey, MacAddr, Timestamp};

use super::auto_reserve::is_warm;
use super::naming::link_id;
use super::planner::{self, Draft, Inputs};
use super::records::{Action, ControllerEvent, Rule, SeriesKey};
use super::ControllerCore;
use prescient_predict::Calendar;

impl ControllerCore {
    /// One control interval: returns the actions the plan asks for.
    pub fn tick(&mut self, now: Timestamp) -> Vec<Action> {
        let mut actions = self.expire(now);
        actions.extend(self.advance_restoring(now));
        // Room freed by releases and expiries since the last tick.
        actions.extend(self.retry_failed(now));
        let snapshot = self.topology.snapshot();
        let cals = self.series_calendars(now);
        let cals = (&cals.0, &cals.1);
        let turn = self.ticks % u64::from(self.stride);
        self.ticks += 1;
        self.observed_last = 0;
        self.forecast_cost_last = Duration::ZERO;
        let mut link_peaks: BTreeMap<LinkKey, f64> = BTreeMap::new();
        let mut due = Vec::new();
        for link in snapshot.links() {
            let key = SeriesKey::Link(*link);
            if self.due(&key, turn) {
                let rate = self
                    .rates
                    .link_rate(*link, now)
                    .map(|(r, _)| r.bits_per_sec);
                due.push((key, rate));
            } else if let Some((peak, _)) = self.latest_peaks(&key) {
                link_peaks.insert(*link, peak);
            }
        }
        for (key, peaks) in self.observe_due(now, &due, cals) {
            if let (SeriesKey::Link(link), Some((peak, _))) = (key, peaks) {
                link_peaks.insert(link, peak);
            }
        }
        let mut pair_peaks: BTreeMap<(MacAddr, MacAddr), f64> = BTreeMap::new();
        let mut pair_bounds: BTreeMap<(MacAddr, MacAddr), f64> = BTreeMap::new();
        let matrix: BTreeMap<(MacAddr, MacAddr), Option<f64>> = self
            .rates
            .traffic_matrix(now)
            .into_iter()
            .map(|c| ((c.src, c.dst), c.bits_per_sec))
            .collect();
        let known: Vec<(MacAddr, MacAddr)> = self
            .series
            .keys()
            .filter_map(|k| match k {
                SeriesKey::Pair(s, d) => Some((*s, *d)),
                SeriesKey::Link(_) => None,
            })
            .collect();
        let mut pairs: Vec<(MacAddr, MacAddr)> = matrix.keys().copied().collect();
        pairs.extend(known);
        pairs.sort_unstable();
        pairs.dedup();
        let mut due = Vec::new();
        for (s, d) in pairs {
            let key = SeriesKey::Pair(s, d);
            if self.due(&key, turn) {
                due.push((key, matrix.get(&(s, d)).copied().flatten()));
            } else if let Some((peak, bound)) = self.latest_peaks(&key) {
                pair_peaks.insert((s, d), peak);
                pair_bounds.insert((s, d), bound);
            }
        }
        for (key, peaks) in self.observe_due(now, &due, cals) {
            if let (SeriesKey::Pair(s, d), Some((peak, bound))) = (key, peaks) {
                pair_peaks.insert((s, d), peak);
                pair_bounds.insert((s, d), bound);
            }
        }
        // Only links some reservation is placed on: the planners read the others as 0, and a
        // map over every link cost 40,000 ledger look-ups a tick at 10,000 switches.
        let reserved: BTreeMap<LinkKey, u64> = self
            .ledger
            .reserved_links()
            .filter(|l| snapshot.link_idx(**l).is_some())
            .map(|l| (*l, self.reserved_now(*l, now)))
            .collect();
        let pair_reserved = self.api_pair_rates();
        let held_actuals: BTreeMap<LinkKey, f64> = self
            .hot
            .held
            .keys()
            .filter_map(|l| {
                let actual = self.series.get(&SeriesKey::Link(*l))?.last_actual()?;
                Some((*l, actual))
            })
            .collect();
        let inputs = Inputs {
            snapshot: &snapshot,
            link_peaks: &link_peaks,
            pair_peaks: &pair_peaks,
            pair_reserved: &pair_reserved,
            reserved: &reserved,
            threshold: self.config.hot_threshold,
            hysteresis: self.config.hysteresis,
            horizon: self.config.horizon,
            steered: &self.auto.steered,
            routed: &self.auto.routed,
            steered_at: &self.auto.steered_at,
            hold_down: self.config.control_interval.saturating_mul(
                u32::try_from(self.config.planning.steer_hold_down).unwrap_or(u32::MAX),
            ),
            now,
            held_actuals: &held_actuals,
        };
        let mut drafts = planner::plan(&inputs, &mut self.hot, self.next_decision);
        // A steered pair's API reservations go with it (`steer_reservations.rs`).
        self.steer_reservations(&mut drafts);
        let mut steering = Vec::new();
        for d in drafts {
            steering.extend(self.record(now, d));
        }
        // After the congestion rule, so a pair steered this round is reserved on its new path.
        let reserving = self.plan_forecast_reservations(now, &snapshot, &pair_bounds, &steering);
        actions.extend(steering);
        actions.extend(reserving);
        // Services plan after the congestion rule, so a backend's edge is judged on this
        // round's hot set.
        actions.extend(self.plan_services(now));
        self.last_tick = Some(now);
        self.outbox.push(ControllerEvent::Tick {
            at_ns: now.nanos(),
            series: self.series.len(),
            hot_links: self.hot.hot.iter().map(|l| link_id(*l)).collect(),
        });
        actions
    }

    /// Sets the forecast stride (at least 1; see the module docs).
    pub fn set_series_stride(&mut self, stride: u32) {
        self.stride = stride.max(1);
    }

    /// The forecast stride in force.
    pub fn series_stride(&self) -> u32 {
        self.stride
    }

    /// Series the last tick observed and forecast (all of them at stride 1).
    pub fn observed_last_tick(&self) -> usize {
        self.observed_last
    }

    /// Wall time the last tick spent observing and forecasting series: the part of a tick the
    /// stride divides (the snapshot, the planners and the other series' latest peaks cost the
    /// same at any stride).
    pub fn forecast_cost_last_tick(&self) -> Duration {
        self.forecast_cost_last
    }

    /// Whether `key`'s turn is `turn` (always at stride 1). A hash, not a position, so a link
    /// appearing or going does not move the others to another turn.
    fn due(&self, key: &SeriesKey, turn: u64) -> bool {
        if self.stride <= 1 {
            return true;
        }
        key_hash(key, 0) % u64::from(self.stride) == turn
    }

    /// The peaks of `key`'s latest forecast, as `observe` returns them, without observing.
    fn latest_peaks(&self, key: &SeriesKey) -> Option<(f64, f64)> {
        let cfg = &self.config;
        let series = self.series.get(key)?;
        series
            .predicted_peak()
            .zip(series.planned_peak())
            .filter(|_| is_warm(series, cfg.horizon, &cfg.planning))
    }

    /// The scheduled events concerning series, over the forecasts made at `now` (see
    /// `calendar::series_calendars`).
    fn series_calendars(&self, now: Timestamp) -> (Calendar<SeriesKey>, Calendar<SeriesKey>) {
        let from = now.nanos() / 1_000_000_000;
        let steps = u32::try_from(self.config.horizon.saturating_add(1)).unwrap_or(u32::MAX);
        let span = self.config.control_interval.saturating_mul(steps).as_secs();
        let events: Vec<_> = self.calendar.values().cloned().collect();
        super::calendar::series_calendars(&events, from, from.saturating_add(span + 1))
    }

    /// Reservations whose window ended, and links not refreshed by LLDP.
    fn expire(&mut self, now: Timestamp) -> Vec<Action> {
        let mut actions = Vec::new();
        for r in self.ledger.expire(now) {
            let acts: Vec<Action> = self.uninstall(r.id).into_iter().collect();
            actions.extend(self.record(
                now,
                Draft {
                    rule: Rule::ReservationExpired,
                    subject: format!("reservation/{}", r.id.0),
                    reason: format!("its window ended at {} ns", r.request.window.end.nanos()),
                    actions: acts,
                },
            ));
        }
        let events = self.topology.expire(now);
        actions.extend(self.after_topology(now, events));
        actions
    }
}

/// A hash of `key` salted with `salt`: SipHash with fixed keys, the same in every run. The turn
/// (salt 0) and the refit phase (salt 1) come from different salts, or the series of one turn
/// would share their refit phase modulo the stride.
pub(super) fn key_hash(key: &SeriesKey, salt: u8) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    if salt != 0 {
        salt.hash(&mut h);
    }
    key.hash(&mut h);
    h.finish()
}
