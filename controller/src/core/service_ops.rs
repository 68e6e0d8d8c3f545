//! Service entry points of the core: the registry ([`crate::services`]) planned each tick from
//! the host-pair forecasts, changed through the API, and the hook outcomes the executor reports.
//! Each returns the actions to carry out; every change is a recorded decision.

use std::collections::BTreeMap;

use prescient_topology::{MacAddr, Timestamp};

use super::auto_reserve::is_warm;
use super::config::PlanningConfig;
use super::planner::Draft;
use super::records::{Action, Rule, SeriesKey};
use super::series::{Point, Series};
use super::ControllerCore;
pub use crate::services::Placed;
use crate::services::{
    self, BackendReport, HookCall, HookRecord, HookStatus, ServiceSpec, Services, ServicesError,
};

/// A sender whose series is still cold after this many times its warm-up length
/// (`max(horizon, warmup_points)` observations) is left out of its service's demand.
pub const COLD_SENDER_BOUND: u64 = 3;

/// A service's demand: the forecasts of every host pair sending to one of its backends or to
/// its VIP's MAC (before the rewrite), not counting traffic among its own backends, with the
/// events scoped to those pairs (events for the service or for everything are applied by the
/// caller, with their lead time). Unknown (`None`) while any of those series is cold
/// (`is_warm`): a sum with a model fitted on three points in it would ask the orchestrator
/// for a hundred instances. A sender still cold after [`COLD_SENDER_BOUND`] times its warm-up
/// is left out instead: its flows seldom yield a measured rate (a pair that sent a burst and
/// went quiet while its flow entry stayed), and waiting for it kept every other sender's
/// demand from scaling the service, for as long as that pair existed.
pub fn demand_of(
    series: &BTreeMap<SeriesKey, Box<Series>>,
    spec: &ServiceSpec,
    horizon: usize,
    planning: &PlanningConfig,
) -> Option<services::Demand> {
    let bound = COLD_SENDER_BOUND.saturating_mul(horizon.max(planning.warmup_points) as u64);
    let senders: Vec<&Series> = senders(series, spec)
        .into_iter()
        .filter(|s| is_warm(s, horizon, planning) || s.observed() < bound)
        .collect();
    if senders.iter().any(|s| !is_warm(s, horizon, planning)) {
        return None;
    }
    let forecasts: Vec<Vec<Point>> = senders.into_iter().map(Series::scoped_forecast).collect();
    services::plan::demand(forecasts.iter().map(Vec::as_slice))
}

/// The series of the host pairs sending to `spec` (see [`demand_of`]).
fn senders<'a>(
    series: &'a BTreeMap<SeriesKey, Box<Series>>,
    spec: &ServiceSpec,
) -> Vec<&'a Series> {
    let own: Vec<MacAddr> = spec.backends.iter().map(|b| b.mac).collect();
    let vip_mac = spec.logical_mac();
    series
        .iter()
        .filter_map(|(k, s)| match k {
            SeriesKey::Pair(src, dst)
                if (own.contains(dst) || *dst == vip_mac) && !own.contains(src) =>
            {
                Some(&**s)
            }
            _ => None,
        })
        .collect()
}

impl ControllerCore {
    /// Replaces the service registry (at start, from the configuration); the next tick
    /// programs its services.
    pub fn set_services(&mut self, services: Services) {
        self.services = services;
    }

    /// The service registry.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Plans services after forecasting (called by `tick`).
    pub(super) fn plan_services(&mut self, now: Timestamp) -> Vec<Action> {
        let snapshot = self.topology.snapshot();
        let series = &self.series;
        let (horizon, planning) = (self.config.horizon, &self.config.planning);
        let events: Vec<super::calendar::CalendarEvent> = self.calendar.values().cloned().collect();
        let lead = planning.calendar_lead;
        let influenced = std::cell::RefCell::new(BTreeMap::new());
        let mut drafts = self.services.plan(
            now,
            |spec| {
                let base = demand_of(series, spec, horizon, planning);
                let (d, mut why) = super::calendar::apply(&events, &spec.name, now, lead, base);
                // Events scoped to its senders' pairs reached the demand through them.
                for s in senders(series, spec).iter().filter(|_| base.is_some()) {
                    for e in s.scoped_events() {
                        if !why.contains(e) {
                            why.push(e.clone());
                        }
                    }
                }
                if !why.is_empty() {
                    influenced
                        .borrow_mut()
                        .insert(format!("service/{}", spec.name), why);
                }
                d
            },
            &snapshot,
            &self.hot.hot,
            self.config.horizon,
            self.config.control_interval,
        );
        let influenced = influenced.into_inner();
        for d in &mut drafts {
            let Some(why) = influenced.get(&d.subject) else {
                continue;
            };
            let names: Vec<String> = why
                .iter()
                .map(|(name, start)| format!("`{name}` (starting at {start} s)"))
                .collect();
            let verb = match d.rule {
                Rule::ServicePredictedScaleUp => "scaled up ahead of event",
                _ => "planned with event",
            };
            let note = format!("; {verb} {}", names.join(", "));
            d.reason.push_str(&note);
            for a in &mut d.actions {
                if let Action::CallHook(call) = a {
                    call.reason.push_str(&note);
                }
            }
        }
        let mut actions = Vec::new();
        for d in drafts {
            actions.extend(self.record_service(now, d));
        }
        actions
    }

    /// Scheduled events, by id.
    pub fn calendar(&self) -> impl Iterator<Item = &super::calendar::CalendarEvent> {
        self.calendar.values()
    }

    /// Adds a scheduled event (its id is given here); returns it as kept.
    pub fn add_event(
        &mut self,
        mut event: super::calendar::CalendarEvent,
    ) -> Result<super::calendar::CalendarEvent, super::calendar::EventError> {
        event.check()?;
        if self.calendar.len() >= super::calendar::MAX_EVENTS {
            return Err(super::calendar::EventError {
                field: "name",
                value: format!("{:?}", event.name),
                why: format!(
                    "the calendar holds {} events already; DELETE frees a place, and one that \
                     is over goes {} s after its end (calendar_retention_secs)",
                    self.calendar.len(),
                    self.config.planning.calendar_retention.as_secs()
                ),
            });
        }
        if let super::calendar::EventScope::Service { service } = &event.scope {
            if self.services.view(service).is_none() {
                return Err(super::calendar::EventError {
                    field: "scope.service",
                    value: format!("{service:?}"),
                    why: "no such service".into(),
                });
            }
        }
        event.id = self.next_event;
        self.next_event += 1;
        self.calendar.insert(event.id, event.clone());
        Ok(event)
    }

    /// Puts back an event as the store kept it (id included).
    pub fn restore_event(&mut self, event: super::calendar::CalendarEvent) {
        self.next_event = self.next_event.max(event.id.saturating_add(1));
        self.calendar.insert(event.id, event);
    }

    /// The id the next scheduled event gets.
    pub fn next_event_id(&self) -> u64 {
        self.next_event
    }

    /// Never gives an id below `next` again (ids the store says were handed out).
    pub fn skip_event_ids_below(&mut self, next: u64) {
        self.next_event = self.next_event.max(next);
    }

    /// Makes the calendar hold exactly `events` (a follower mirroring the store).
    pub fn replace_calendar(
        &mut self,
        events: impl IntoIterator<Item = super::calendar::CalendarEvent>,
    ) {
        self.calendar.clear();
        for e in events {
            self.restore_event(e);
        }
    }

    /// Removes a scheduled event.
    pub fn remove_event(&mut self, id: u64) -> Option<super::calendar::CalendarEvent> {
        self.calendar.remove(&id)
    }

    /// Removes the events over for longer than the retention (`calendar::CalendarEvent::
    /// expired`), each with a decision naming it. Only the core changes: the persister sees it
    /// gone and deletes it from the store as it does after a DELETE (in a cluster only the
    /// leader ticks, so only the leader writes, and followers mirror the deletion).
    pub(super) fn prune_calendar(&mut self, now: Timestamp) {
        let retention = self.config.planning.calendar_retention;
        let over: Vec<u64> = self
            .calendar
            .values()
            .filter(|e| e.expired(now, retention))
            .map(|e| e.id)
            .collect();
        for id in over {
            let Some(e) = self.calendar.remove(&id) else {
                continue;
            };
            let end = e.last_end().unwrap_or_default();
            let last = if e.every_secs.is_some() {
                "its last occurrence"
            } else {
                "it"
            };
            self.record(
                now,
                Draft {
                    rule: Rule::CalendarEventPruned,
                    subject: format!("calendar/{id}"),
                    reason: format!(
                        "event `{}` is over: {last} ended at {end} s, and the retention of \
                         {} s (calendar_retention_secs) has passed since",
                        e.name,
                        retention.as_secs()
                    ),
                    actions: Vec::new(),
                },
            );
        }
    }

    /// Registers a service and programs it on the current topology.
    pub fn create_service(
        &mut self,
        now: Timestamp,
        spec: ServiceSpec,
    ) -> Result<(u32, Vec<Action>), ServicesError> {
        let name = spec.name.clone();
        let vip = spec.vip;
        let backends = spec.backends.len();
        let id = self.services.create(spec, now)?;
        // An empty report keeps nothing; re-reporting the configured backends programs them.
        let reports: Vec<BackendReport> = self
            .services
            .view(&name)
            .map(|v| {
                v.spec
                    .backends
                    .iter()
                    .map(|b| BackendReport {
                        ip: Some(b.ip),
                        mac: b.mac,
                        weight: b.weight,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let snapshot = self.topology.snapshot();
        let (_, mut draft) = self
            .services
            .set_backends(&name, &reports, now, &snapshot)?;
        draft.reason = format!("service {name} created with VIP {vip} and {backends} backend(s)");
        Ok((id, self.record_service(now, draft)))
    }

    /// Removes a service and its data-plane entries.
    pub fn remove_service(
        &mut self,
        now: Timestamp,
        name: &str,
    ) -> Result<(ServiceSpec, Vec<Action>), ServicesError> {
        let (spec, draft) = self.services.remove(name)?;
        Ok((spec, self.record_service(now, draft)))
    }

    /// The orchestrator reports the instances running for `name`.
    pub fn set_service_backends(
        &mut self,
        now: Timestamp,
        name: &str,
        reports: &[BackendReport],
    ) -> Result<(Vec<Placed>, Vec<Action>), ServicesError> {
        let snapshot = self.topology.snapshot();
        let (placed, draft) = self.services.set_backends(name, reports, now, &snapshot)?;
        Ok((placed, self.record_service(now, draft)))
    }

    /// Puts back the services a state store kept (at start, before any switch connects);
    /// they are programmed by the first reconciliation, like configured ones.
    pub fn restore_services(
        &mut self,
        now: Timestamp,
        records: Vec<services::ServiceRecord>,
    ) -> services::RestoreReport {
        self.services.restore(records, now)
    }

    /// Undoes an API change of service `name` the state store could not commit: `before` is
    /// the service as it was (`None`: it did not exist). Recorded as a decision with `why`.
    pub fn undo_service_change(
        &mut self,
        now: Timestamp,
        name: &str,
        before: Option<services::ServiceRecord>,
        why: &str,
    ) -> Result<Vec<Action>, ServicesError> {
        let draft = match before {
            None => {
                let (_, mut draft) = self.services.remove(name)?;
                draft.reason = format!("creation undone: {why}");
                draft
            }
            Some(record) => {
                self.services.put_back(record, now)?;
                let snapshot = self.topology.snapshot();
                Draft {
                    rule: Rule::ServiceBackendsSet,
                    subject: format!("service/{name}"),
                    reason: format!("change undone, the service is as it was: {why}"),
                    actions: self.services.reconcile_service(name, &snapshot),
                }
            }
        };
        Ok(self.record_service(now, draft))
    }

    /// The orchestrator announces an instance of `name` (idempotency key and host in
    /// `instance`): its address, translated and announced to agents before this returns.
    pub fn pre_assign_instance(
        &mut self,
        now: Timestamp,
        name: &str,
        instance: services::Instance,
    ) -> Result<(services::PreAssignment, Vec<Action>), ServicesError> {
        let snapshot = self.topology.snapshot();
        let (got, draft) = self.services.pre_assign(name, instance, now, &snapshot)?;
        let actions = match draft {
            Some(d) => self.record_service(now, d),
            None => Vec::new(),
        };
        Ok((got, actions))
    }

    /// The announced instance of `name` at `ip` is up (with its MAC and weight) or down.
    pub fn set_instance_state(
        &mut self,
        now: Timestamp,
        name: &str,
        ip: std::net::Ipv4Addr,
        up: Option<(MacAddr, u16)>,
    ) -> Result<Vec<Action>, ServicesError> {
        let snapshot = self.topology.snapshot();
        let draft = self.services.set_instance_state(name, ip, up, &snapshot)?;
        Ok(self.record_service(now, draft))
    }

    /// The announced instance of `name` at `ip` is gone.
    pub fn release_instance(
        &mut self,
        now: Timestamp,
        name: &str,
        ip: std::net::Ipv4Addr,
    ) -> Result<Vec<Action>, ServicesError> {
        let snapshot = self.topology.snapshot();
        let draft = self.services.release_instance(name, ip, now, &snapshot)?;
        Ok(self.record_service(now, draft))
    }

    /// Takes the hook calls waiting for the executor.
    pub fn take_hook_calls(&mut self) -> Vec<HookCall> {
        self.services.take_hooks()
    }

    /// The executor reports how a hook call ended; recorded as a decision and kept for the API.
    pub fn hook_finished(&mut self, now: Timestamp, record: HookRecord) {
        let how = match record.status {
            HookStatus::Delivered => "delivered".to_string(),
            HookStatus::Refused => "refused by the endpoint (not retried)".to_string(),
            HookStatus::GaveUp => "given up".to_string(),
        };
        let detail = match (&record.code, &record.error) {
            (_, Some(e)) => format!("; last error: {e}"),
            (Some(c), None) => format!("; status {c}"),
            (None, None) => String::new(),
        };
        self.record(
            now,
            Draft {
                rule: Rule::HookCompleted,
                subject: format!("service/{}", record.service),
                reason: format!(
                    "hook {} for decision {} ({:?}, key {}) {how} after {} attempt(s){detail}",
                    record.hook, record.decision, record.action, record.key, record.attempts
                ),
                actions: Vec::new(),
            },
        );
        self.services.hook_finished(record);
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;
    use crate::services::Backend;

    const CLIENT: MacAddr = MacAddr([0, 0, 0, 0, 0, 1]);
    const BACKEND: MacAddr = MacAddr([0, 0, 0, 0, 0, 2]);

    fn web() -> ServiceSpec {
        ServiceSpec {
            name: "web".into(),
            tenant: "red".into(),
            vip: Ipv4Addr::new(192, 0, 2, 10),
            vip_mac: None,
            pool: "10.1.0.0/29".parse().expect("net"),
            backends: vec![Backend {
                ip: Ipv4Addr::new(10, 1, 0, 1),
                mac: BACKEND,
                weight: 1,
            }],
            tier: 0,
            instance_capacity_bps: 100_000_000,
            min_instances: 1,
            max_instances: 4,
            policy: None,
        }
    }

    /// A series towards the backend fed `points` samples of a steep ramp (what a cold model
    /// extrapolates wildly).
    fn ramp(points: u64) -> BTreeMap<SeriesKey, Box<Series>> {
        let mut s = Series::new(Duration::from_secs(1), 12, 360);
        for i in 0..points {
            s.observe(Timestamp::from_secs(i + 1), Some(1e6 * (i * i) as f64));
        }
        BTreeMap::from([(SeriesKey::Pair(CLIENT, BACKEND), Box::new(s))])
    }

    #[test]
    fn a_service_has_no_demand_while_a_sender_series_is_cold() {
        let planning = PlanningConfig::default();
        let cold = ramp(3);
        assert!(cold.values().all(|s| s.predicted_peak().is_some()));
        assert!(demand_of(&cold, &web(), 12, &planning).is_none());
        let warm = ramp(40);
        assert!(warm.values().all(|s| is_warm(s, 12, &planning)));
        assert!(demand_of(&warm, &web(), 12, &planning).is_some());
    }

    /// A second sender whose series took one measured rate and then `ticks` ticks without one.
    fn with_quiet_sender(
        mut series: BTreeMap<SeriesKey, Box<Series>>,
        ticks: u64,
    ) -> BTreeMap<SeriesKey, Box<Series>> {
        let mut s = Series::new(Duration::from_secs(1), 12, 360);
        s.observe(Timestamp::from_secs(1), Some(5e6));
        for i in 0..ticks {
            s.observe(Timestamp::from_secs(i + 2), None);
        }
        let other = MacAddr([0, 0, 0, 0, 0, 3]);
        series.insert(SeriesKey::Pair(other, BACKEND), Box::new(s));
        series
    }

    #[test]
    fn a_sender_cold_past_the_bound_no_longer_keeps_the_demand_unknown() {
        let planning = PlanningConfig::default();
        // Warm-up is 20 observations here: the bound is 60.
        let young = with_quiet_sender(ramp(40), 30);
        assert!(demand_of(&young, &web(), 12, &planning).is_none());
        let stuck = with_quiet_sender(ramp(40), 60);
        assert!(stuck.values().any(|s| !is_warm(s, 12, &planning)));
        let demand = demand_of(&stuck, &web(), 12, &planning).expect("the warm sender's demand");
        assert_eq!(demand.pairs, 1, "{demand:?}");
        // Only senders are left out: a service whose one sender is stuck has no demand.
        let alone = with_quiet_sender(BTreeMap::new(), 60);
        assert!(demand_of(&alone, &web(), 12, &planning).is_none());
    }
}
