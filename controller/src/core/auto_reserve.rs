//! Forecast-driven reservations: for each host pair whose warm forecast (its planning bound
//! over the horizon — forecast plus the residual quantile meeting `violation_target`,
//! [`crate::sizing`] — times `reserve_headroom`) reaches `reserve_min_bps`, the core keeps one
//! reservation of its own ("origin" forecast) on the path the pair's traffic is predicted to
//! take (the path the congestion rule steered it onto, else its shortest path), for a window
//! of twice the horizon.
//!
//! Each tick: resize (or move to the predicted path) when the target moved by more than
//! `reserve_hysteresis` of the rate; renew when less than one horizon of window is left;
//! release when the target falls below the minimum less the same hysteresis. A resize keeps
//! the reservation's id (the ledger entry is replaced, and put back unchanged when the new
//! one does not fit). Refusals are decisions naming the bottleneck, recorded once per episode
//! (again only when the target moved by more than the hysteresis).
//!
//! Precedence: forecast reservations are admitted at `reserve_tier` and never preempt API
//! reservations of the same or a higher tier; such an API reservation that does not fit takes
//! the room of the forecast reservations sharing a link with its path
//! ([`ControllerCore::reserve`], and the what-if planner alike: [`admit_yielding`]).
//!
//! A pair an API reservation holds (its host pair, a flow whose two addresses are the pair's
//! hosts', or a flow naming one of them between the pair's switches: `held_pairs.rs`) gets no
//! forecast reservation, and loses the one it had when the API one is
//! admitted: both would hold the same traffic (one flow entry on OpenFlow, one address pair on
//! P4), so the ledger would set its capacity aside twice. And the forecast of a policed pair is
//! of what it offers, drops included (`pair_count` counts before the meter): it grows with the
//! excess the API reservation drops, so a forecast reservation sized on it would set aside room
//! for traffic the meter drops.
//!
//! Enforcement: a forecast reservation is installed unpoliced (`Action::InstallMeter` with
//! `police: false`): it sets capacity aside and pins the pair's path, but no meter drops what
//! the pair sends above the forecast. The forecast is the controller's guess; when it
//! under-shoots, the user must not lose packets the network could carry (README,
//! "Reservations"). API reservations keep their meters.
//!
//! Persistence: forecast reservations are derived state and are not written to the store
//! (`take_unsaved` skips them); after a restart they come back once the models are warm again.
//!
//! Invariant: every id in `owned` is in the ledger after `plan_forecast_reservations` (ids
//! that left it, by preemption, expiry or a topology drop, are forgotten at the next tick).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use prescient_topology::{
    DeviceId, Ledger, LedgerError, LinkKey, MacAddr, Reservation, ReservationId, Snapshot,
    Timestamp, Window,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::config::PlanningConfig;
use super::naming::link_id;
use super::planner::Draft;
use super::records::{Action, Rule, SeriesKey};
use super::reserve::{self, Endpoint, Planned, ReserveError, ReserveSpec};
use super::series::Series;
use super::ControllerCore;

/// Who asked for a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A client, through `POST /api/v1/reservations` (or restored from the store).
    Api,
    /// The controller, from a host pair's forecast.
    Forecast,
}

/// The forecast reservations the core owns and what it remembers about them.
#[derive(Debug, Default)]
pub(super) struct AutoState {
    /// One reservation per host pair.
    owned: BTreeMap<(MacAddr, MacAddr), ReservationId>,
    /// Pairs whose last attempt was refused, with the target then (refusals are recorded once
    /// per episode, not once per tick).
    refused: BTreeMap<(MacAddr, MacAddr), u64>,
    /// Paths the congestion rule steered pairs onto: where their traffic is predicted to go.
    pub(super) steered: BTreeMap<(MacAddr, MacAddr), Vec<LinkKey>>,
    /// When each pair in `steered` was steered there (its hold-down runs from then).
    pub(super) steered_at: BTreeMap<(MacAddr, MacAddr), Timestamp>,
    /// Pairs routed because their traffic was punted (`pair_routes.rs`), with the path.
    pub(super) routed: BTreeMap<(MacAddr, MacAddr), Vec<LinkKey>>,
}

impl AutoState {
    /// Whether `id` is a forecast reservation.
    pub(super) fn owns(&self, id: ReservationId) -> bool {
        self.owned.values().any(|o| *o == id)
    }
}

/// Whether a series has enough history and scored error to be planned on: at least
/// `max(horizon, warmup_points)` observations and `warmup_scored` one-step forecasts scored.
pub fn is_warm(series: &Series, horizon: usize, cfg: &PlanningConfig) -> bool {
    let need = horizon.max(cfg.warmup_points) as u64;
    series.observed() >= need && series.error().scored >= cfg.warmup_scored
}

/// The rate a forecast peak asks for: the peak times the headroom, rounded up
/// ([`crate::sizing::rate_bps`], as `prescient evaluate` sizes it).
fn target_of(peak: f64, cfg: &PlanningConfig) -> u64 {
    crate::sizing::rate_bps(peak, cfg.reserve_headroom)
}

/// A held reservation is released below this target (the minimum less the hysteresis), so a
/// pair whose forecast hovers at the minimum is not reserved and released every other tick.
fn release_below(cfg: &PlanningConfig) -> f64 {
    cfg.reserve_min_bps as f64 * (1.0 - cfg.reserve_hysteresis)
}

/// Whether `target` differs from `rate` by more than `share` of `rate`.
fn moved(target: u64, rate: u64, share: f64) -> bool {
    (target as f64 - rate as f64).abs() > share * rate.max(1) as f64
}

/// The links of `path` as the REST API names them, space-separated.
pub(super) fn links_text(path: &[LinkKey]) -> String {
    path.iter()
        .map(|l| link_id(*l))
        .collect::<Vec<_>>()
        .join(" ")
}

fn pair_subject((s, d): (MacAddr, MacAddr)) -> String {
    format!("pair/{s}->{d}")
}

/// A forecast reservation that made room for an API one: its pair and itself.
pub(super) type Yielded = (MacAddr, MacAddr, Reservation);

/// What changed in a maintained reservation.
struct Change {
    rate: Option<(u64, u64)>,
    path: Option<Vec<LinkKey>>,
    renew: bool,
}

/// Admits `spec` into `ledger`; when it does not fit, the reservations of `owned` (forecast
/// ones) of its tier or below that share a link with the path it would get make room. The
/// real admission and the what-if planner both use it, so they agree.
pub(super) fn admit_yielding(
    ledger: &mut Ledger,
    owned: &[((MacAddr, MacAddr), ReservationId)],
    snapshot: &Snapshot,
    spec: &ReserveSpec,
) -> Result<(Planned, Vec<Yielded>), ReserveError> {
    let first = match reserve::admit(ledger, snapshot, spec) {
        Ok(p) => return Ok((p, Vec::new())),
        Err(e @ ReserveError::Ledger(LedgerError::Insufficient { .. })) => e,
        Err(e) => return Err(e),
    };
    let yielding: Vec<((MacAddr, MacAddr), ReservationId)> = owned
        .iter()
        .filter(|(_, id)| ledger.get(*id).is_some_and(|r| r.request.tier <= spec.tier))
        .copied()
        .collect();
    if yielding.is_empty() {
        return Err(first);
    }
    let mut trial = ledger.clone();
    for (_, id) in &yielding {
        let _ = trial.release(*id);
    }
    let Ok(planned) = reserve::admit(&mut trial, snapshot, spec) else {
        return Err(first);
    };
    let on_path: BTreeSet<LinkKey> = planned.request.path.iter().copied().collect();
    let mut removed = Vec::new();
    for (pair, id) in yielding {
        let shares = ledger
            .get(id)
            .is_some_and(|r| r.request.path.iter().any(|l| on_path.contains(l)));
        if shares {
            if let Ok(r) = ledger.release(id) {
                removed.push((pair.0, pair.1, r));
            }
        }
    }
    let pinned = ReserveSpec {
        path: Some(planned.request.path),
        ..spec.clone()
    };
    match reserve::admit(ledger, snapshot, &pinned) {
        Ok(p) => Ok((p, removed)),
        Err(_) => {
            for (_, _, r) in removed {
                let _ = ledger.restore(r);
            }
            Err(first)
        }
    }
}

impl ControllerCore {
    /// Who asked for reservation `id`.
    pub fn reservation_origin(&self, id: ReservationId) -> Origin {
        if self.auto.owns(id) {
            Origin::Forecast
        } else {
            Origin::Api
        }
    }

    /// The forecast reservations, per host pair.
    pub fn forecast_reservations(
        &self,
    ) -> impl Iterator<Item = ((MacAddr, MacAddr), ReservationId)> + '_ {
        self.auto.owned.iter().map(|(k, v)| (*k, *v))
    }

    /// One planning round of forecast reservations; `steering` are this round's congestion
    /// actions (steered pairs are reserved on their new path).
    pub(super) fn plan_forecast_reservations(
        &mut self,
        now: Timestamp,
        snapshot: &Snapshot,
        pair_peaks: &BTreeMap<(MacAddr, MacAddr), f64>,
        steering: &[Action],
    ) -> Vec<Action> {
        for a in steering {
            if let Action::InstallPath {
                src, dst, links, ..
            } = a
            {
                self.auto.steered.insert((*src, *dst), links.clone());
                self.auto.steered_at.insert((*src, *dst), now);
            }
        }
        let steered = &self.auto.steered;
        self.auto.steered_at.retain(|k, _| steered.contains_key(k));
        let ledger = &self.ledger;
        self.auto.owned.retain(|_, id| ledger.contains(*id));
        let cfg = self.config.planning.clone();
        let mut pairs: BTreeSet<(MacAddr, MacAddr)> = self.auto.owned.keys().copied().collect();
        if cfg.reserve {
            pairs.extend(pair_peaks.keys().copied());
        }
        let held = self.api_held_pairs();
        let mut actions = Vec::new();
        for pair in pairs {
            if let Some(api) = held.get(&pair) {
                self.auto.refused.remove(&pair);
                if let Some(id) = self.auto.owned.get(&pair).copied() {
                    let why = format!(
                        "API reservation {} holds this traffic to its own rate (a forecast \
                         reservation would share its meter)",
                        api.0
                    );
                    actions.extend(self.release_forecast(now, pair, id, &why));
                }
                continue;
            }
            let peak = pair_peaks.get(&pair).copied().filter(|_| cfg.reserve);
            let target = peak.map(|p| target_of(p, &cfg));
            let existing = self.auto.owned.get(&pair).copied();
            match (existing, peak, target) {
                (Some(id), Some(peak), Some(t)) if t as f64 >= release_below(&cfg) => {
                    actions.extend(self.maintain(now, snapshot, pair, id, peak, t));
                }
                (Some(id), _, _) => {
                    let why = match target {
                        _ if !cfg.reserve => "forecast reservations are turned off".to_string(),
                        Some(t) => format!(
                            "forecast bound with headroom {t} bit/s fell below the minimum {} bit/s less the {:.0}% hysteresis",
                            cfg.reserve_min_bps,
                            cfg.reserve_hysteresis * 100.0
                        ),
                        None => "the pair has no warm forecast".to_string(),
                    };
                    actions.extend(self.release_forecast(now, pair, id, &why));
                }
                (None, Some(peak), Some(t)) if t >= cfg.reserve_min_bps => {
                    actions.extend(self.create_forecast(now, snapshot, pair, peak, t));
                }
                (None, _, _) => {
                    self.auto.refused.remove(&pair);
                }
            }
        }
        actions
    }

    /// The host pairs API reservations hold, each with the lowest such reservation.
    fn api_held_pairs(&self) -> BTreeMap<(MacAddr, MacAddr), ReservationId> {
        let mut held = BTreeMap::new();
        for (pair, r) in self.api_reservations_by_pair() {
            held.entry(pair)
                .and_modify(|id: &mut ReservationId| *id = (*id).min(r.id))
                .or_insert(r.id);
        }
        held
    }

    /// Takes out of the ledger the forecast reservations of the pairs API reservation `api`
    /// holds (see the module docs). Like yielded ones they stay owned until the next tick, so
    /// an admission undone puts them back as forecast reservations.
    pub(super) fn superseded_by(&mut self, api: &Reservation) -> Vec<Yielded> {
        let mut out = Vec::new();
        for pair in self.hosts_index().pairs(api) {
            let Some(id) = self.auto.owned.get(&pair).copied() else {
                continue;
            };
            if let Ok(r) = self.ledger.release(id) {
                out.push((pair.0, pair.1, r));
            }
        }
        out
    }

    /// Records the forecast reservations API reservation `by` superseded; returns their meter
    /// removals.
    pub(super) fn superseded(
        &mut self,
        now: Timestamp,
        removed: Vec<Yielded>,
        by: &Reservation,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        for (s, d, r) in removed {
            self.egress.remove(&r.id);
            self.restoring.remove(&r.id);
            let acts: Vec<Action> = self.uninstall(r.id).into_iter().collect();
            actions.extend(self.record(
                now,
                Draft {
                    rule: Rule::ForecastReleased,
                    subject: format!("reservation/{}", r.id.0),
                    reason: format!(
                        "{s} -> {d}: API reservation {} now holds this traffic to {} bit/s; \
                         its {} bit/s would have shared that meter",
                        by.id.0, by.request.rate_bps, r.request.rate_bps
                    ),
                    actions: acts,
                },
            ));
        }
        actions
    }

    /// The window a forecast reservation made at `now` covers: twice the horizon.
    fn forecast_window(&self, now: Timestamp) -> Window {
        Window::new(now, now.plus(self.horizon_span().saturating_mul(2)))
    }

    fn horizon_span(&self) -> Duration {
        let steps = u32::try_from(self.config.horizon.max(1)).unwrap_or(u32::MAX);
        self.config.control_interval.saturating_mul(steps)
    }

    /// The path the pair's traffic is predicted to take: where it was steered, while that path
    /// still exists and joins the pair's switches; else its shortest path.
    fn predicted_path(
        &mut self,
        snapshot: &Snapshot,
        (src, dst): (MacAddr, MacAddr),
    ) -> Option<(Vec<LinkKey>, &'static str)> {
        let (a, b) = snapshot.host_devices(src, dst).ok()?;
        if let Some(p) = self.auto.steered.get(&(src, dst)) {
            if joins(p, a, b, snapshot) {
                return Some((p.clone(), "steered"));
            }
            self.auto.steered.remove(&(src, dst));
        }
        snapshot
            .shortest_path(a, b)
            .ok()
            .map(|p| (p.links, "current"))
    }

    fn create_forecast(
        &mut self,
        now: Timestamp,
        snapshot: &Snapshot,
        pair: (MacAddr, MacAddr),
        peak: f64,
        target: u64,
    ) -> Vec<Action> {
        let cfg = self.config.planning.clone();
        let predicted = self.predicted_path(snapshot, pair);
        let which = predicted.as_ref().map_or("current", |p| p.1);
        let spec = ReserveSpec {
            src: Endpoint::Host(pair.0),
            dst: Endpoint::Host(pair.1),
            rate_bps: target,
            tier: cfg.reserve_tier,
            window: self.forecast_window(now),
            flow: None,
            path: predicted.map(|p| p.0),
        };
        let Planned {
            admitted,
            request,
            egress,
        } = match reserve::admit(&mut self.ledger, snapshot, &spec) {
            Ok(p) => p,
            Err(e) => {
                return self.refused(now, pair, target, &format!("reserving {target} bit/s: {e}"))
            }
        };
        self.auto.refused.remove(&pair);
        self.auto.owned.insert(pair, admitted.id);
        if let Some(port) = egress {
            self.egress.insert(admitted.id, port);
        }
        let r = Reservation {
            id: admitted.id,
            request,
        };
        let mut actions = self.preempt(now, &admitted.preempted, admitted.id.0);
        let install = self.install(&r);
        actions.extend(self.record(
            now,
            Draft {
                rule: Rule::ForecastReserved,
                subject: format!("reservation/{}", r.id.0),
                reason: format!(
                    "{} -> {}: planning bound (forecast + residual quantile at the violation target) {peak:.0} bit/s within {} steps x headroom {} = {target} bit/s reaches the minimum {} bit/s; reserved at tier {} on its {which} path [{}] until {} ns{}",
                    pair.0,
                    pair.1,
                    self.config.horizon,
                    cfg.reserve_headroom,
                    cfg.reserve_min_bps,
                    cfg.reserve_tier,
                    links_text(&r.request.path),
                    r.request.window.end.nanos(),
                    self.event_note(pair, "reserved ahead of event")
                ),
                actions: vec![install],
            },
        ));
        actions
    }

    fn maintain(
        &mut self,
        now: Timestamp,
        snapshot: &Snapshot,
        pair: (MacAddr, MacAddr),
        id: ReservationId,
        peak: f64,
        target: u64,
    ) -> Vec<Action> {
        // A reservation waiting for its broken path keeps its place until the grace ends.
        if self.restoring.contains_key(&id) {
            return Vec::new();
        }
        let Some(old) = self.ledger.get(id).cloned() else {
            return Vec::new();
        };
        let cfg = self.config.planning.clone();
        let rate = old.request.rate_bps;
        let path = self
            .predicted_path(snapshot, pair)
            .map_or_else(|| old.request.path.clone(), |p| p.0);
        let change = Change {
            rate: moved(target, rate, cfg.reserve_hysteresis).then_some((rate, target)),
            path: (path != old.request.path).then_some(path),
            renew: old.request.window.end <= now.plus(self.horizon_span()),
        };
        if change.rate.is_none() && change.path.is_none() && !change.renew {
            return Vec::new();
        }
        let mut request = old.request.clone();
        if let Some((_, t)) = change.rate {
            request.rate_bps = t;
        }
        if let Some(p) = &change.path {
            request.path = p.clone();
        }
        request.window = self.forecast_window(now);
        let new = Reservation { id, request };
        let _ = self.ledger.release(id);
        if let Err(e) = self.ledger.restore(new.clone()) {
            return self.keep_old(now, pair, old, target, &e);
        }
        self.auto.refused.remove(&pair);
        let mut meters = Vec::new();
        if change.rate.is_some() || change.path.is_some() {
            meters = self.reinstall(&new);
        }
        let (rule, mut reason) = match (&change.rate, &change.path) {
            (None, None) => (
                Rule::ForecastRenewed,
                format!(
                    "planning bound {peak:.0} bit/s still needs {rate} bit/s (within {:.0}% of it); window renewed until {} ns",
                    cfg.reserve_hysteresis * 100.0,
                    new.request.window.end.nanos()
                ),
            ),
            (rate_change, path_change) => {
                let mut parts = Vec::new();
                if let Some((from, to)) = rate_change {
                    parts.push(format!(
                        "planning bound {peak:.0} bit/s x headroom {} = {to} bit/s moved more than {:.0}% from {from} bit/s: resized",
                        cfg.reserve_headroom,
                        cfg.reserve_hysteresis * 100.0
                    ));
                }
                if let Some(p) = path_change {
                    parts.push(format!(
                        "the pair's traffic is predicted on [{}], not [{}]: moved",
                        links_text(p),
                        links_text(&old.request.path)
                    ));
                }
                (Rule::ForecastResized, parts.join("; "))
            }
        };
        reason.push_str(&self.event_note(
            pair,
            match rule {
                Rule::ForecastResized => "resized ahead of event",
                _ => "renewed with event",
            },
        ));
        self.record(
            now,
            Draft {
                rule,
                subject: format!("reservation/{}", id.0),
                reason: format!("{} -> {}: {reason}", pair.0, pair.1),
                actions: meters,
            },
        )
    }

    /// `; <verb> `name` (starting at <s> s), …` for the scheduled events the pair's forecast
    /// took, or nothing.
    fn event_note(&self, (src, dst): (MacAddr, MacAddr), verb: &str) -> String {
        let Some(series) = self.series.get(&SeriesKey::Pair(src, dst)) else {
            return String::new();
        };
        if series.events().is_empty() {
            return String::new();
        }
        let names: Vec<String> = series
            .events()
            .iter()
            .map(|(name, start)| format!("`{name}` (starting at {start} s)"))
            .collect();
        format!("; {verb} {}", names.join(", "))
    }

    /// Puts the old reservation back after its replacement did not fit; records the refusal.
    fn keep_old(
        &mut self,
        now: Timestamp,
        pair: (MacAddr, MacAddr),
        old: Reservation,
        target: u64,
        e: &LedgerError,
    ) -> Vec<Action> {
        let id = old.id;
        let why = format!(
            "changing reservation {} to {target} bit/s on the predicted path: {e}; it stays as it was",
            id.0
        );
        if self.ledger.restore(old).is_err() {
            // Cannot happen (its own room was just freed), but never leave meters behind.
            self.auto.owned.remove(&pair);
            let mut actions: Vec<Action> = self.uninstall(id).into_iter().collect();
            actions.extend(self.refused(now, pair, target, &why));
            return actions;
        }
        self.refused(now, pair, target, &why)
    }

    /// Records a refusal once per episode (again when the target moved past the hysteresis).
    fn refused(
        &mut self,
        now: Timestamp,
        pair: (MacAddr, MacAddr),
        target: u64,
        why: &str,
    ) -> Vec<Action> {
        let hysteresis = self.config.planning.reserve_hysteresis;
        if let Some(prev) = self.auto.refused.get(&pair) {
            if !moved(target, *prev, hysteresis) {
                return Vec::new();
            }
        }
        self.auto.refused.insert(pair, target);
        self.record(
            now,
            Draft {
                rule: Rule::ForecastRefused,
                subject: pair_subject(pair),
                reason: format!("{} -> {}: {why}", pair.0, pair.1),
                actions: Vec::new(),
            },
        )
    }

    fn release_forecast(
        &mut self,
        now: Timestamp,
        pair: (MacAddr, MacAddr),
        id: ReservationId,
        why: &str,
    ) -> Vec<Action> {
        self.auto.owned.remove(&pair);
        if self.ledger.release(id).is_err() {
            return Vec::new();
        }
        self.egress.remove(&id);
        self.restoring.remove(&id);
        let acts: Vec<Action> = self.uninstall(id).into_iter().collect();
        self.record(
            now,
            Draft {
                rule: Rule::ForecastReleased,
                subject: format!("reservation/{}", id.0),
                reason: format!("{} -> {}: {why}", pair.0, pair.1),
                actions: acts,
            },
        )
    }

    /// Admits an API reservation; when it does not fit, forecast reservations of its tier or
    /// below that share a link with the path it would get make room. Returns the admission
    /// and the forecast reservations removed (already out of the ledger, meters still on).
    pub(super) fn admit_over_forecasts(
        &mut self,
        snapshot: &Snapshot,
        spec: &ReserveSpec,
    ) -> Result<(Planned, Vec<Yielded>), ReserveError> {
        let owned: Vec<((MacAddr, MacAddr), ReservationId)> =
            self.auto.owned.iter().map(|(k, v)| (*k, *v)).collect();
        admit_yielding(&mut self.ledger, &owned, snapshot, spec)
    }

    /// The forecast reservations, for [`admit_yielding`] on a copy of the ledger.
    pub(super) fn forecast_owned(&self) -> Vec<((MacAddr, MacAddr), ReservationId)> {
        self.auto.owned.iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Records the forecast reservations that made room for API reservation `by`.
    pub(super) fn yielded(
        &mut self,
        now: Timestamp,
        removed: Vec<Yielded>,
        by: ReservationId,
        tier: u8,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        for (s, d, r) in removed {
            // Still owned until the next tick forgets ids gone from the ledger: an admission
            // undone (store failure) puts it back, and it must come back as forecast-origin.
            self.egress.remove(&r.id);
            let acts: Vec<Action> = self.uninstall(r.id).into_iter().collect();
            actions.extend(self.record(
                now,
                Draft {
                    rule: Rule::ForecastReleased,
                    subject: format!("reservation/{}", r.id.0),
                    reason: format!(
                        "{s} -> {d}: yielded its {} bit/s to API reservation {} (tier {tier}), which needed room on [{}]",
                        r.request.rate_bps,
                        by.0,
                        links_text(&r.request.path)
                    ),
                    actions: acts,
                },
            ));
        }
        actions
    }
}

/// Whether `path` leads from device `a` to device `b` over links `snapshot` holds.
pub(super) fn joins(path: &[LinkKey], a: DeviceId, b: DeviceId, snapshot: &Snapshot) -> bool {
    path.first().is_some_and(|l| l.src.device == a)
        && path.last().is_some_and(|l| l.dst.device == b)
        && path.windows(2).all(|w| w[0].dst.device == w[1].src.device)
        && path.iter().all(|l| snapshot.link_idx(*l).is_some())
}

#[cfg(test)]
mod tests;
