//! The planning round of the registry: shadows age back to the pool, each service's demand is
//! planned against its policy (scale up or down, shadows reserved ahead), hot backend edges ask
//! for migration, and the data plane follows the topology.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use prescient_topology::{LinkKey, Snapshot, Timestamp};

use super::super::model::{HookCall, HookForecast, HookKind, Policy, ServiceSpec};
use super::super::plan::{self, Demand, Step};
use super::{reconcile_entry, Services};
use crate::vocab::{Action, Draft, Rule};

impl Services {
    /// One planning round: shadows age back, each service's demand is planned against its
    /// policy, hot backend edges ask for migration, and the data plane follows the topology.
    pub fn plan(
        &mut self,
        now: Timestamp,
        demand_of: impl Fn(&ServiceSpec) -> Option<Demand>,
        snapshot: &Snapshot,
        hot: &BTreeSet<LinkKey>,
        horizon: usize,
        interval: Duration,
    ) -> Vec<Draft> {
        let mut drafts = self.age(now, snapshot);
        let names: Vec<String> = self.entries.keys().cloned().collect();
        for name in &names {
            let Some(entry) = self.entries.get_mut(name) else {
                continue;
            };
            entry.demand = demand_of(&entry.spec);
            let policy = entry
                .spec
                .policy
                .as_ref()
                .and_then(|p| self.policies.get(p))
                .or_else(|| self.policies.get("default"))
                .cloned()
                .unwrap_or_else(Policy::default_policy);
            if let Some(d) = entry.demand {
                drafts.extend(self.scale(name, &policy, d, now, snapshot, horizon, interval));
            }
            if policy.migrate_on_hot_edge {
                drafts.extend(self.migrations(name, snapshot, hot, horizon, interval));
            }
        }
        if self.reconciled != Some(snapshot.version()) {
            self.reconciled = Some(snapshot.version());
            for name in &names {
                let Some(e) = self.entries.get_mut(name) else {
                    continue;
                };
                let actions = reconcile_entry(e, &self.pools, snapshot, &mut self.egress);
                if !actions.is_empty() {
                    drafts.push(Draft {
                        rule: Rule::ServiceBackendsSet,
                        subject: format!("service/{name}"),
                        reason: format!(
                            "data plane brought in line with the topology ({} device(s), {} host(s))",
                            snapshot.devices().len(),
                            snapshot.view().hosts.len()
                        ),
                        actions,
                    });
                }
            }
        }
        drafts
    }

    fn age(&mut self, now: Timestamp, snapshot: &Snapshot) -> Vec<Draft> {
        let mut by_service: BTreeMap<String, Vec<Ipv4Addr>> = BTreeMap::new();
        let mut idle_of: BTreeMap<String, u64> = BTreeMap::new();
        for (net, service, ip) in self.pools.age(now) {
            let idle = self.pools.get(net).map_or(0, |p| p.shadow_idle().as_secs());
            idle_of.insert(service.clone(), idle);
            by_service.entry(service).or_default().push(ip);
        }
        let mut drafts = Vec::new();
        for (name, ips) in by_service {
            let idle = idle_of.get(&name).copied().unwrap_or(0);
            let actions = match self.entries.get_mut(&name) {
                Some(e) => {
                    // The instances asked for did not come: a later forecast may ask again.
                    e.scaling.asked = None;
                    reconcile_entry(e, &self.pools, snapshot, &mut self.egress)
                }
                None => Vec::new(),
            };
            drafts.push(Draft {
                rule: Rule::ShadowAddressesAged,
                subject: format!("service/{name}"),
                reason: format!(
                    "{} shadow address(es) [{}] unused for {idle} s went back to the pool",
                    ips.len(),
                    join(&ips)
                ),
                actions,
            });
        }
        drafts
    }

    #[allow(clippy::too_many_arguments)]
    fn scale(
        &mut self,
        name: &str,
        policy: &Policy,
        demand: Demand,
        now: Timestamp,
        snapshot: &Snapshot,
        horizon: usize,
        interval: Duration,
    ) -> Vec<Draft> {
        let Some(entry) = self.entries.get_mut(name) else {
            return Vec::new();
        };
        let Some(pool) = self.pools.get_mut(entry.spec.pool) else {
            return Vec::new();
        };
        let shadows = pool.shadows(name).len();
        let step = plan::step(
            &entry.spec,
            policy,
            &demand,
            shadows,
            now,
            &mut entry.scaling,
        );
        let current = u32::try_from(entry.spec.backends.len()).unwrap_or(u32::MAX);
        let forecast = HookForecast {
            point_bps: bps(demand.point_bps),
            upper95_bps: bps(demand.upper_bps),
            lower95_bps: bps(demand.lower_bps),
            capacity_bps: u64::from(current).saturating_mul(entry.spec.instance_capacity_bps),
            horizon_steps: horizon,
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
        };
        let share = |cap: u64| {
            if cap == 0 {
                "no capacity running".to_string()
            } else {
                format!(
                    "{:.0}% of capacity {cap} bit/s",
                    demand.planned_bps / cap as f64 * 100.0
                )
            }
        };
        match step {
            Step::Hold => Vec::new(),
            Step::ScaleUp {
                delta,
                target,
                needed,
            } => {
                let got = pool.reserve_shadows(name, entry.spec.tier, delta as usize, now);
                let mut actions = Vec::new();
                let mut victims = BTreeSet::new();
                for (other, _) in &got.preempted {
                    victims.insert(other.clone());
                }
                for v in &victims {
                    if let Some(e) = self.entries.get_mut(v) {
                        actions.extend(reconcile_entry(e, &self.pools, snapshot, &mut self.egress));
                    }
                }
                let Some(entry) = self.entries.get_mut(name) else {
                    return Vec::new();
                };
                actions.extend(reconcile_entry(
                    entry,
                    &self.pools,
                    snapshot,
                    &mut self.egress,
                ));
                let reserved = u32::try_from(got.taken.len()).unwrap_or(u32::MAX);
                let pending = target - delta;
                let mut reason = format!(
                    "planned peak {:.0} bit/s (forecast + residual quantile at the violation target) within {horizon} steps is {} (scale up above {:.0}%, policy {}); needs {needed} instance(s), {current} running and {} pre-reserved; {reserved} shadow address(es) [{}] reserved in pool {}",
                    demand.planned_bps,
                    share(forecast.capacity_bps),
                    policy.scale_up_at * 100.0,
                    policy.name,
                    pending - current,
                    join(&got.taken),
                    entry.spec.pool,
                );
                if !got.preempted.is_empty() {
                    reason.push_str(&format!(
                        ", {} taken from lower-tier service(s) [{}]",
                        got.preempted.len(),
                        victims.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
                if reserved < delta {
                    reason.push_str(&format!(
                        "; the pool had room for {reserved} of {delta}: the rest must come with addresses of their own"
                    ));
                }
                actions.push(Action::CallHook(HookCall {
                    key: String::new(),
                    service: name.to_string(),
                    tenant: entry.spec.tenant.clone(),
                    action: HookKind::ScaleUp,
                    delta,
                    current_instances: current,
                    target_instances: target,
                    addresses: got.taken,
                    forecast,
                    rule: Rule::ServicePredictedScaleUp,
                    decision: 0,
                    reason: reason.clone(),
                }));
                vec![Draft {
                    rule: Rule::ServicePredictedScaleUp,
                    subject: format!("service/{name}"),
                    reason,
                    actions,
                }]
            }
            Step::ScaleDown { target, remove } => {
                let freed = pool.shadows(name);
                for ip in &freed {
                    pool.release(name, *ip);
                }
                let mut actions = reconcile_entry(entry, &self.pools, snapshot, &mut self.egress);
                let reason = format!(
                    "planned peak {:.0} bit/s stayed below {:.0}% of one instance fewer for {} s (policy {}); {target} instance(s) suffice, {current} running; {} unused shadow address(es) released",
                    demand.planned_bps,
                    policy.scale_down_below * 100.0,
                    policy.cool_down.as_secs(),
                    policy.name,
                    freed.len()
                );
                actions.push(Action::CallHook(HookCall {
                    key: String::new(),
                    service: name.to_string(),
                    tenant: entry.spec.tenant.clone(),
                    action: HookKind::ScaleDown,
                    delta: current.saturating_sub(target),
                    current_instances: current,
                    target_instances: target,
                    addresses: remove,
                    forecast,
                    rule: Rule::ServiceScaleDown,
                    decision: 0,
                    reason: reason.clone(),
                }));
                vec![Draft {
                    rule: Rule::ServiceScaleDown,
                    subject: format!("service/{name}"),
                    reason,
                    actions,
                }]
            }
        }
    }

    fn migrations(
        &mut self,
        name: &str,
        snapshot: &Snapshot,
        hot: &BTreeSet<LinkKey>,
        horizon: usize,
        interval: Duration,
    ) -> Vec<Draft> {
        let Some(entry) = self.entries.get_mut(name) else {
            return Vec::new();
        };
        let current = u32::try_from(entry.spec.backends.len()).unwrap_or(u32::MAX);
        let mut drafts = Vec::new();
        let mut still_hot = BTreeSet::new();
        for b in &entry.spec.backends {
            let Some(at) = snapshot.host(b.mac) else {
                continue;
            };
            let edges: Vec<&LinkKey> = hot.iter().filter(|l| l.dst.device == at.device).collect();
            if edges.is_empty() {
                continue;
            }
            still_hot.insert(b.ip);
            if entry.scaling.migrating.contains(&b.ip) {
                continue;
            }
            let links: Vec<String> = edges
                .iter()
                .map(|l| crate::vocab::naming::link_id(**l))
                .collect();
            let reason = format!(
                "backend {} sits behind {} whose link(s) into it [{}] are predicted hot",
                b.ip,
                at.device,
                links.join(" ")
            );
            let demand = entry.demand.unwrap_or(Demand {
                point_bps: 0.0,
                upper_bps: 0.0,
                lower_bps: 0.0,
                planned_bps: 0.0,
                steps: 0,
                pairs: 0,
            });
            drafts.push(Draft {
                rule: Rule::ServiceBackendMigrate,
                subject: format!("service/{name}"),
                reason: reason.clone(),
                actions: vec![Action::CallHook(HookCall {
                    key: String::new(),
                    service: name.to_string(),
                    tenant: entry.spec.tenant.clone(),
                    action: HookKind::Migrate,
                    delta: 1,
                    current_instances: current,
                    target_instances: current,
                    addresses: vec![b.ip],
                    forecast: HookForecast {
                        point_bps: bps(demand.point_bps),
                        upper95_bps: bps(demand.upper_bps),
                        lower95_bps: bps(demand.lower_bps),
                        capacity_bps: u64::from(current)
                            .saturating_mul(entry.spec.instance_capacity_bps),
                        horizon_steps: horizon,
                        interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
                    },
                    rule: Rule::ServiceBackendMigrate,
                    decision: 0,
                    reason,
                })],
            });
        }
        entry.scaling.migrating = still_hot;
        drafts
    }
}

/// A forecast rate as whole bits/s (negative and non-finite forecasts count as 0).
fn bps(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 {
        v.min(u64::MAX as f64) as u64
    } else {
        0
    }
}

fn join(ips: &[Ipv4Addr]) -> String {
    ips.iter()
        .map(Ipv4Addr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
