//! The registry of services the core owns: create, remove, backends reported by the
//! orchestrator, and the planning round (aging, scaling, migration, topology reconciliation).
//! Every outcome is a [`Draft`] the core records as a decision; hook calls inside drafts get
//! their decision id and idempotency key from the core, which then queues them here.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnetwork::Ipv4Network;
use prescient_topology::{MacAddr, Snapshot, Timestamp};

use super::dataplane::{self, Egress, Programmed};
use super::model::{Backend, HookCall, HookRecord, Policy, ServiceSpec, ServicesError};
use super::plan::{self, Demand, ScalingState};
use super::pool::{LeaseKind, Pools};
use crate::vocab::{Action, BoundedLog, Draft, Rule};

#[path = "durable.rs"]
mod durable;
#[path = "instances.rs"]
mod instances;
#[path = "planning.rs"]
mod planning;
pub use durable::{RestoreReport, ServiceRecord};
pub use instances::InstanceView;

/// Hook calls kept for the executor; the oldest are dropped beyond this (and a warning logged).
pub const HOOK_QUEUE: usize = 256;
/// Hook outcomes kept for the API.
pub const HOOK_LOG: usize = 256;

/// A tenant pool declared ahead of its services.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    /// The tenant.
    pub tenant: String,
    /// Its physical addresses.
    pub network: Ipv4Network,
    /// A shadow address not taken by an instance within this time goes back to the pool.
    pub shadow_idle: Duration,
}

/// Services, pools and policies the controller starts with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServicesConfig {
    /// Tenant pools (a service's pool not declared here is created with default settings).
    pub pools: Vec<PoolConfig>,
    /// Policies by name (`default` replaces the built-in default).
    pub policies: Vec<Policy>,
    /// Services.
    pub services: Vec<ServiceSpec>,
}

/// A reported instance with the address it got and how.
pub type Placed = (Backend, LeaseKind);

/// An instance as the orchestrator reports it; no address asks the pool for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendReport {
    /// Its address, if it has one already.
    pub ip: Option<Ipv4Addr>,
    /// Its MAC.
    pub mac: MacAddr,
    /// Weight (at least 1).
    pub weight: u16,
}

/// A service as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceView {
    /// Service number.
    pub id: u32,
    /// The service.
    pub spec: ServiceSpec,
    /// How each backend's address was leased, in backend order.
    pub leases: Vec<LeaseKind>,
    /// Shadow addresses reserved ahead of predicted instances.
    pub shadows: Vec<Ipv4Addr>,
    /// The latest demand forecast, if any pair sends to it.
    pub demand: Option<Demand>,
    /// Instances that forecast needs under the policy.
    pub needed: Option<u32>,
    /// The policy followed.
    pub policy: String,
}

/// One logical → physical translation record.
#[derive(Debug, Clone, PartialEq)]
pub struct TranslationRecord {
    /// The service.
    pub service: String,
    /// Its tenant.
    pub tenant: String,
    /// Logical address (the VIP).
    pub logical_ip: Ipv4Addr,
    /// Logical MAC.
    pub logical_mac: MacAddr,
    /// Physical address.
    pub physical_ip: Ipv4Addr,
    /// The instance's MAC; `None` for a shadow.
    pub physical_mac: Option<MacAddr>,
    /// How the address is leased.
    pub kind: LeaseKind,
    /// Leased since.
    pub since: Timestamp,
    /// Devices the translation is programmed on.
    pub devices: usize,
}

#[derive(Debug, Clone)]
struct Entry {
    id: u32,
    spec: ServiceSpec,
    scaling: ScalingState,
    demand: Option<Demand>,
    programmed: Programmed,
    /// Defined by the configuration file (which wins over the state store on restart).
    config: bool,
}

/// The registry; see the module docs.
#[derive(Debug, Clone)]
pub struct Services {
    policies: BTreeMap<String, Policy>,
    pools: Pools,
    entries: BTreeMap<String, Entry>,
    next_id: u32,
    pending: VecDeque<HookCall>,
    outcomes: BoundedLog<HookRecord>,
    reconciled: Option<u64>,
    egress: Egress,
}

impl Default for Services {
    fn default() -> Self {
        let d = Policy::default_policy();
        Services {
            policies: BTreeMap::from([(d.name.clone(), d)]),
            pools: Pools::default(),
            entries: BTreeMap::new(),
            next_id: 1,
            pending: VecDeque::new(),
            outcomes: BoundedLog::new(HOOK_LOG),
            reconciled: None,
            egress: Egress::default(),
        }
    }
}

impl Services {
    /// A registry holding `config`'s pools, policies and services.
    pub fn new(config: &ServicesConfig, now: Timestamp) -> Result<Services, ServicesError> {
        let mut s = Services::default();
        for (i, p) in config.policies.iter().enumerate() {
            p.check(&format!("policies[{i}]."))?;
            s.policies.insert(p.name.clone(), p.clone());
        }
        for p in &config.pools {
            s.pools.add(&p.tenant, p.network, p.shadow_idle)?;
        }
        for spec in &config.services {
            s.create(spec.clone(), now)?;
            if let Some(e) = s.entries.get_mut(&spec.name) {
                e.config = true;
            }
        }
        Ok(s)
    }

    /// Registers a service; its backends' addresses are leased in its pool (created for its
    /// tenant when new). Nothing is programmed until the next reconciliation.
    pub fn create(&mut self, spec: ServiceSpec, now: Timestamp) -> Result<u32, ServicesError> {
        spec.check()?;
        spec.check_fits_pool()?;
        let policy = spec.policy.clone().unwrap_or_else(|| "default".to_string());
        if !self.policies.contains_key(&policy) {
            return Err(ServicesError::UnknownPolicy(policy));
        }
        if self.entries.contains_key(&spec.name) {
            return Err(ServicesError::Exists(spec.name));
        }
        if let Some(other) = self.entries.values().find(|e| e.spec.vip == spec.vip) {
            return Err(ServicesError::VipTaken {
                vip: spec.vip,
                other: other.spec.name.clone(),
            });
        }
        let mut pools = self.pools.clone();
        pools.add(&spec.tenant, spec.pool, super::pool::DEFAULT_SHADOW_IDLE)?;
        let pool = pools.get_mut(spec.pool).ok_or(ServicesError::Pool(
            super::pool::PoolError::Exhausted { pool: spec.pool },
        ))?;
        for b in &spec.backends {
            pool.assign(&spec.name, spec.tier, Some(b.ip), now)?;
        }
        self.pools = pools;
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.entries.insert(
            spec.name.clone(),
            Entry {
                id,
                spec,
                scaling: ScalingState::default(),
                demand: None,
                programmed: Programmed::default(),
                config: false,
            },
        );
        self.reconciled = None;
        Ok(id)
    }

    /// Removes a service: its addresses go back to the pool, its entries leave the switches.
    pub fn remove(&mut self, name: &str) -> Result<(ServiceSpec, Draft), ServicesError> {
        let entry = self
            .entries
            .remove(name)
            .ok_or_else(|| ServicesError::Unknown(name.to_string()))?;
        let freed = self
            .pools
            .get_mut(entry.spec.pool)
            .map(|p| p.release_service(name))
            .unwrap_or_default();
        let actions = dataplane::diff(&entry.programmed, &Programmed::default());
        let draft = Draft {
            rule: Rule::ServiceRemoved,
            subject: format!("service/{name}"),
            reason: format!(
                "removed through the API; {} address(es) back to pool {}",
                freed.len(),
                entry.spec.pool
            ),
            actions,
        };
        Ok((entry.spec, draft))
    }

    /// The instances the orchestrator reports running replace the backends: reported
    /// addresses are leased, missing ones taken from the service's shadows (pre-assigned) or
    /// the pool (dynamic); addresses of instances no longer reported go back to the pool.
    /// All or nothing: a refused report changes nothing.
    pub fn set_backends(
        &mut self,
        name: &str,
        reports: &[BackendReport],
        now: Timestamp,
        snapshot: &Snapshot,
    ) -> Result<(Vec<Placed>, Draft), ServicesError> {
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| ServicesError::Unknown(name.to_string()))?;
        if reports.len() > super::model::MAX_INSTANCES as usize {
            return Err(ServicesError::invalid(
                "backends",
                reports.len().to_string(),
                format!("more than {} instances", super::model::MAX_INSTANCES),
            ));
        }
        let spec = &entry.spec;
        let mut pools = self.pools.clone();
        let pool = pools.get_mut(spec.pool).ok_or(ServicesError::Pool(
            super::pool::PoolError::Exhausted { pool: spec.pool },
        ))?;
        let mut out: Vec<(Backend, LeaseKind)> = Vec::new();
        // Reported addresses first, so a dynamic allocation never takes one of them.
        let mut order: Vec<usize> = (0..reports.len()).collect();
        order.sort_by_key(|&i| reports.get(i).is_some_and(|r| r.ip.is_none()));
        let mut placed: Vec<Option<(Backend, LeaseKind)>> = vec![None; reports.len()];
        for i in order {
            let Some(r) = reports.get(i) else { continue };
            // An instance reported again without its address keeps the one it had.
            let known = spec.backends.iter().find(|b| b.mac == r.mac).map(|b| b.ip);
            let ip = r.ip.or(known);
            let (ip, kind) = pool.assign(name, spec.tier, ip, now).map_err(|e| {
                ServicesError::invalid(
                    &format!("backends[{i}].ip"),
                    ip.map_or_else(|| "absent".to_string(), |ip| ip.to_string()),
                    e.to_string(),
                )
            })?;
            if let Some(slot) = placed.get_mut(i) {
                *slot = Some((
                    Backend {
                        ip,
                        mac: r.mac,
                        weight: r.weight,
                    },
                    kind,
                ));
            }
        }
        out.extend(placed.into_iter().flatten());
        let backends: Vec<Backend> = out.iter().map(|(b, _)| *b).collect();
        super::model::check_backends(&backends, spec.pool, "backends")?;
        for old in &spec.backends {
            if !backends.iter().any(|b| b.ip == old.ip) {
                pool.release(name, old.ip);
            }
        }
        let shadows_left = pool.shadows(name).len();
        self.pools = pools;
        let count = |k: LeaseKind| out.iter().filter(|(_, l)| *l == k).count();
        let reason = format!(
            "the orchestrator reports {} instance(s): {} pre-assigned, {} dynamic, {} static; {} shadow address(es) still reserved",
            out.len(),
            count(LeaseKind::PreAssigned),
            count(LeaseKind::Dynamic),
            count(LeaseKind::Static),
            shadows_left
        );
        let actions = match self.entries.get_mut(name) {
            Some(e) => {
                e.spec.backends = backends;
                reconcile_entry(e, &self.pools, snapshot, &mut self.egress)
            }
            None => Vec::new(),
        };
        let draft = Draft {
            rule: Rule::ServiceBackendsSet,
            subject: format!("service/{name}"),
            reason,
            actions,
        };
        Ok((out, draft))
    }

    /// Queues a hook call (with its decision id) for the executor.
    pub fn queue_hook(&mut self, call: HookCall) {
        if self.pending.len() >= HOOK_QUEUE {
            if let Some(old) = self.pending.pop_front() {
                tracing::warn!(key = %old.key, "hook queue full: oldest call dropped");
            }
        }
        self.pending.push_back(call);
    }

    /// Takes the queued hook calls, oldest first.
    pub fn take_hooks(&mut self) -> Vec<HookCall> {
        self.pending.drain(..).collect()
    }

    /// Keeps the outcome of a hook call for the API.
    pub fn hook_finished(&mut self, record: HookRecord) {
        self.outcomes.push(record);
    }

    /// Recent hook outcomes, oldest first.
    pub fn hook_outcomes(&self) -> &BoundedLog<HookRecord> {
        &self.outcomes
    }

    /// Hook calls waiting for the executor.
    pub fn pending_hooks(&self) -> impl Iterator<Item = &HookCall> {
        self.pending.iter()
    }

    /// Every service's VIP and the MAC it answers ARP with, in the order of the services'
    /// names.
    pub fn vip_macs(&self) -> impl Iterator<Item = (Ipv4Addr, MacAddr)> + '_ {
        self.entries
            .values()
            .map(|e| (e.spec.vip, e.spec.logical_mac()))
    }

    /// Every service, by name.
    pub fn views(&self) -> Vec<ServiceView> {
        self.entries.values().map(|e| self.view_of(e)).collect()
    }

    /// One service.
    pub fn view(&self, name: &str) -> Option<ServiceView> {
        self.entries.get(name).map(|e| self.view_of(e))
    }

    fn view_of(&self, e: &Entry) -> ServiceView {
        let pool = self.pools.get(e.spec.pool);
        let policy_name = e.spec.policy.clone().unwrap_or_else(|| "default".into());
        let policy = self.policies.get(&policy_name);
        ServiceView {
            id: e.id,
            spec: e.spec.clone(),
            leases: e
                .spec
                .backends
                .iter()
                .map(|b| {
                    pool.and_then(|p| p.leases().get(&b.ip))
                        .map_or(LeaseKind::Static, |l| l.kind)
                })
                .collect(),
            shadows: pool.map(|p| p.shadows(&e.spec.name)).unwrap_or_default(),
            demand: e.demand,
            needed: e
                .demand
                .zip(policy)
                .map(|(d, p)| plan::needed(&e.spec, p, d.planned_bps)),
            policy: policy_name,
        }
    }

    /// Every translation record (running and shadow instances), by service then address.
    pub fn translations(&self) -> Vec<TranslationRecord> {
        let mut out = Vec::new();
        for e in self.entries.values() {
            let Some(pool) = self.pools.get(e.spec.pool) else {
                continue;
            };
            for (ip, lease) in pool
                .leases()
                .iter()
                .filter(|(_, l)| l.service == e.spec.name)
            {
                let devices = match e.programmed.translations.get(ip) {
                    Some(Action::SetTranslation { devices, .. }) => devices.len(),
                    _ => 0,
                };
                out.push(TranslationRecord {
                    service: e.spec.name.clone(),
                    tenant: e.spec.tenant.clone(),
                    logical_ip: e.spec.vip,
                    logical_mac: e.spec.logical_mac(),
                    physical_ip: *ip,
                    physical_mac: e.spec.backends.iter().find(|b| b.ip == *ip).map(|b| b.mac),
                    kind: lease.kind,
                    since: lease.since,
                    devices,
                });
            }
        }
        out
    }

    /// The pools.
    pub fn pools(&self) -> &Pools {
        &self.pools
    }
}

/// Brings one service's programmed state to what it wants now; returns the actions.
fn reconcile_entry(
    e: &mut Entry,
    pools: &Pools,
    snapshot: &Snapshot,
    egress: &mut Egress,
) -> Vec<Action> {
    // Shadows and instances announced but not in service: translated ahead of the instance.
    let shadows: Vec<Ipv4Addr> = pools
        .get(e.spec.pool)
        .map(|p| {
            p.leases()
                .iter()
                .filter(|(ip, l)| {
                    l.service == e.spec.name && !e.spec.backends.iter().any(|b| b.ip == **ip)
                })
                .map(|(ip, _)| *ip)
                .collect()
        })
        .unwrap_or_default();
    let want = dataplane::desired(e.id, &e.spec, &shadows, snapshot, egress);
    let actions = dataplane::diff(&e.programmed, &want);
    e.programmed = want;
    actions
}
