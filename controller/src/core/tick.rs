//! The control tick: expire what ended (reservations, links, scheduled events over for longer
//! than their retention), turn counters into one observation per series, forecast,
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
//!
//! Steps: at tens of thousands of series a tick takes a tenth of a second with the cores free
//! and most of a second under a packet-in storm, and every API call needs the core too. So a
//! tick is three parts, and the driver (`SharedCore::tick_in_slices`) lets the core's lock go
//! between them: [`ControllerCore::tick_begin`] (expiries, restores, retries, which links are
//! due, the traffic matrix as of `now`, into an owned [`TickRound`]), [`ControllerCore::
//! tick_step`] (one step lists the pairs once the links are visited, as the one-call tick does
//! after observing them; the others visit a few hundred series each, in the one-call tick's
//! order) and [`ControllerCore::tick_finish`] (the planners, on the peaks gathered and the
//! topology as it is then). A step changes nothing another series' step reads, so the steps
//! decide and report what [`ControllerCore::tick`] does, which runs them back to back; a
//! stride changed between steps applies from the next tick. Only steps make series and no
//! call removes one; a step looks each up again when it comes to it.

use std::collections::BTreeMap;
use std::time::Duration;

use prescient_topology::{LinkKey, MacAddr, Timestamp};

use super::auto_reserve::is_warm;
use super::naming::link_id;
use super::planner::{self, Draft, Inputs};
use super::records::{Action, ControllerEvent, Rule, SeriesKey};
use super::ControllerCore;
use prescient_predict::Calendar;

/// A host pair and its rate (bits/s) in the traffic matrix, when it has one.
type PairValue = ((MacAddr, MacAddr), Option<f64>);

/// A control tick under way, between [`ControllerCore::tick_begin`] and
/// [`ControllerCore::tick_finish`]: what the beginning decided (owned, so the core's lock can be
/// let go between steps) and the peaks the steps have gathered so far.
#[derive(Debug)]
pub struct TickRound {
    now: Timestamp,
    /// The stride the due series were chosen at: their step length, whatever it is by the time
    /// a step reaches them.
    stride: u32,
    /// This tick's turn among `stride` (which series are due).
    turn: u64,
    /// The traffic matrix as of `now` (sorted by pair), until the step after the links lists
    /// the pairs.
    matrix: Option<Vec<PairValue>>,
    /// Actions of the beginning (expiries, restores, retries), returned first.
    actions: Vec<Action>,
    /// The scheduled events concerning series (scoped, all), over this tick's horizon.
    cals: (Calendar<SeriesKey>, Calendar<SeriesKey>),
    /// Every series this tick visits, links then pairs (listed once the links are visited), in
    /// the order the one-call tick visits them: those due with their value, the others only for
    /// their latest peaks.
    visits: Vec<(SeriesKey, Visit)>,
    /// Visits done.
    next: usize,
    link_peaks: BTreeMap<LinkKey, f64>,
    pair_peaks: BTreeMap<(MacAddr, MacAddr), f64>,
    pair_bounds: BTreeMap<(MacAddr, MacAddr), f64>,
}

/// What a tick does with one series.
#[derive(Debug, Clone, Copy)]
enum Visit {
    /// Observe this value (none: no sample this interval) and forecast.
    Due(Option<f64>),
    /// Not its turn: read its latest forecast's peaks.
    Latest,
}

impl TickRound {
    /// Takes the beginning's actions (expiries, restores, retries), so they can leave before
    /// the steps; [`ControllerCore::tick_finish`] then returns only the end's.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// Whether steps are left before [`ControllerCore::tick_finish`] (series to visit, or the
    /// pairs to list).
    pub fn steps_left(&self) -> bool {
        self.next < self.visits.len() || self.matrix.is_some()
    }

    fn gathered(&mut self, key: SeriesKey, peaks: Option<(f64, f64)>) {
        let Some((peak, bound)) = peaks else { return };
        match key {
            SeriesKey::Link(link) => {
                self.link_peaks.insert(link, peak);
            }
            SeriesKey::Pair(s, d) => {
                self.pair_peaks.insert((s, d), peak);
                self.pair_bounds.insert((s, d), bound);
            }
        }
    }
}

impl ControllerCore {
    /// One control interval: returns the actions the plan asks for. The same as
    /// [`Self::tick_begin`], [`Self::tick_step`] until done and [`Self::tick_finish`] back to
    /// back, which the driver runs with the core's lock let go between them.
    pub fn tick(&mut self, now: Timestamp) -> Vec<Action> {
        let round = self.tick_begin(now);
        self.tick_finish(round)
    }

    /// The first part of a tick: expire what ended, advance restores, retry failed
    /// reservations, decide which links are due (with their rates) and which are only read,
    /// and take the traffic matrix as of `now` (the pairs' values).
    pub fn tick_begin(&mut self, now: Timestamp) -> TickRound {
        let mut actions = self.expire(now);
        // Before the calendars below: an event gone no longer costs their scan.
        self.prune_calendar(now);
        actions.extend(self.advance_restoring(now));
        // Room freed by releases and expiries since the last tick.
        actions.extend(self.retry_failed(now));
        let snapshot = self.topology.snapshot();
        let cals = self.series_calendars(now);
        let turn = self.ticks % u64::from(self.stride);
        self.ticks += 1;
        self.observed_last = 0;
        self.forecast_cost_last = Duration::ZERO;
        let mut visits = Vec::new();
        for link in snapshot.links() {
            let key = SeriesKey::Link(*link);
            let visit = if self.due(&key, turn) {
                let rate = self
                    .rates
                    .link_rate(*link, now)
                    .map(|(r, _)| r.bits_per_sec);
                Visit::Due(rate)
            } else {
                Visit::Latest
            };
            visits.push((key, visit));
        }
        let matrix: Vec<PairValue> = self
            .rates
            .traffic_matrix(now)
            .into_iter()
            .map(|c| ((c.src, c.dst), c.bits_per_sec))
            .collect();
        TickRound {
            now,
            stride: self.stride,
            turn,
            matrix: Some(matrix),
            actions,
            cals,
            visits,
            next: 0,
            link_peaks: BTreeMap::new(),
            pair_peaks: BTreeMap::new(),
            pair_bounds: BTreeMap::new(),
        }
    }

    /// The next `max` visits of `round`: due series observed and forecast (on every core), the
    /// others' latest peaks read; once the links are visited, a step of its own lists the pairs.
    /// True once no step is left. A series that is gone by then is skipped, and none is made
    /// but on a due value, as in the one-call tick.
    pub fn tick_step(&mut self, round: &mut TickRound, max: usize) -> bool {
        if round.next == round.visits.len() {
            if let Some(matrix) = round.matrix.take() {
                self.list_pairs(round, &matrix);
            }
            return !round.steps_left();
        }
        let end = round.next.saturating_add(max).min(round.visits.len());
        let slice = round.visits.get(round.next..end).unwrap_or_default();
        let due: Vec<(SeriesKey, Option<f64>)> = slice
            .iter()
            .filter_map(|(key, visit)| match visit {
                Visit::Due(value) => Some((*key, *value)),
                Visit::Latest => None,
            })
            .collect();
        let latest: Vec<(SeriesKey, Option<(f64, f64)>)> = slice
            .iter()
            .filter(|(_, visit)| matches!(visit, Visit::Latest))
            .map(|(key, _)| (*key, self.latest_peaks(key)))
            .collect();
        let cals = (&round.cals.0, &round.cals.1);
        let observed = self.observe_due(round.now, &due, cals, round.stride);
        for (key, peaks) in observed.into_iter().chain(latest) {
            round.gathered(key, peaks);
        }
        round.next = end;
        !round.steps_left()
    }

    /// Appends the pairs' visits to `round`: every pair of the traffic matrix or with a series,
    /// after the links were observed (which makes only link series), as the one-call tick.
    fn list_pairs(&self, round: &mut TickRound, matrix: &[PairValue]) {
        // Both sides are sorted by pair (the series' map puts every pair after every link):
        // a merge, not a sort and a look-up per pair (80,000 of each at 40,000 pairs).
        let lowest = SeriesKey::Pair(MacAddr([0; 6]), MacAddr([0; 6]));
        let mut known = self
            .series
            .range(lowest..)
            .filter_map(|(k, _)| match k {
                SeriesKey::Pair(s, d) => Some((*s, *d)),
                SeriesKey::Link(_) => None,
            })
            .peekable();
        let mut measured = matrix.iter().peekable();
        loop {
            let (pair, value) = match (measured.peek(), known.peek()) {
                (Some(&&(m, value)), Some(&k)) if m <= k => {
                    measured.next();
                    if m == k {
                        known.next();
                    }
                    (m, value)
                }
                (_, Some(&k)) => {
                    known.next();
                    (k, None)
                }
                (Some(&&(m, value)), None) => {
                    measured.next();
                    (m, value)
                }
                (None, None) => break,
            };
            let key = SeriesKey::Pair(pair.0, pair.1);
            let visit = if self.due_at(&key, round.turn, round.stride) {
                Visit::Due(value)
            } else {
                Visit::Latest
            };
            round.visits.push((key, visit));
        }
    }

    /// The last part of a tick (the visits left first): the congestion planner on the peaks
    /// gathered and the topology as it is now, forecast reservations, services.
    pub fn tick_finish(&mut self, mut round: TickRound) -> Vec<Action> {
        while !self.tick_step(&mut round, usize::MAX) {}
        let now = round.now;
        let mut actions = std::mem::take(&mut round.actions);
        let snapshot = self.topology.snapshot();
        let (link_peaks, pair_peaks, pair_bounds) =
            (&round.link_peaks, &round.pair_peaks, &round.pair_bounds);
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
            link_peaks,
            pair_peaks,
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
        let reserving = self.plan_forecast_reservations(now, &snapshot, pair_bounds, &steering);
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
        self.due_at(key, turn, self.stride)
    }

    /// Whether `key`'s turn at `stride` is `turn`.
    fn due_at(&self, key: &SeriesKey, turn: u64, stride: u32) -> bool {
        if stride <= 1 {
            return true;
        }
        key_hash(key, 0) % u64::from(stride) == turn
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
