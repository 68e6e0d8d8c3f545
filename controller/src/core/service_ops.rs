//! Service entry points of the core: the registry ([`crate::services`]) planned each tick from
//! the host-pair forecasts, changed through the API, and the hook outcomes the executor reports.
//! Each returns the actions to carry out; every change is a recorded decision.

use std::collections::BTreeMap;

use prescient_topology::{MacAddr, Timestamp};

use super::planner::Draft;
use super::records::{Action, Rule, SeriesKey};
use super::series::Series;
use super::ControllerCore;
use crate::services::{
    self, Backend, BackendReport, HookCall, HookRecord, HookStatus, LeaseKind, ServiceSpec,
    Services, ServicesError,
};

/// A reported instance with the address it got and how.
pub type Placed = (Backend, LeaseKind);

/// A service's demand: the forecasts of every host pair sending to one of its backends or to
/// its VIP's MAC (before the rewrite), not counting traffic among its own backends.
pub fn demand_of(
    series: &BTreeMap<SeriesKey, Series>,
    spec: &ServiceSpec,
) -> Option<services::Demand> {
    let own: Vec<MacAddr> = spec.backends.iter().map(|b| b.mac).collect();
    let vip_mac = spec.logical_mac();
    services::plan::demand(series.iter().filter_map(|(k, s)| match k {
        SeriesKey::Pair(src, dst)
            if (own.contains(dst) || *dst == vip_mac) && !own.contains(src) =>
        {
            Some(s.forecast())
        }
        _ => None,
    }))
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
        let drafts = self.services.plan(
            now,
            |spec| demand_of(series, spec),
            &snapshot,
            &self.hot,
            self.config.horizon,
            self.config.control_interval,
        );
        let mut actions = Vec::new();
        for d in drafts {
            actions.extend(self.record_service(now, d));
        }
        actions
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
