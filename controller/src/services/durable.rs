//! What of the registry survives a controller restart: each service's definition, its backends
//! as last reported, its number, and every address lease it holds (backends and shadows, with
//! their kind and age), so an address once given to an instance stays with it.
//!
//! The configuration wins over the store: a service of the configuration file keeps the file's
//! definition; the store only adds what happened since (the backends the orchestrator reported,
//! the leases and shadows). When the file resized its pool, the leases (and instances) that
//! still lie in it are kept and the others given up (reported as trimmed); when the rest no
//! longer fits the file's definition (an address is now another service's), the stored state
//! is dropped and the file's service stands. A stored service that came from the file and is no longer in it stays gone (and one
//! of the file deleted through the API comes back from the file, with fresh leases); one
//! created through the API comes back unless the file now uses its name, VIP or addresses.
//! Planning state (scale-up episodes, the demand forecast) is not kept: it is rebuilt from the
//! forecasts within a few ticks.

use std::net::Ipv4Addr;

use prescient_topology::{Snapshot, Timestamp};

use super::super::pool::{usable_in, Lease, DEFAULT_SHADOW_IDLE};
use super::{reconcile_entry, Entry, ScalingState, ServiceSpec, Services, ServicesError};
use crate::vocab::Action;

/// One service as it must come back after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRecord {
    /// Service number (names its switch entries).
    pub id: u32,
    /// Defined by the configuration file.
    pub config: bool,
    /// Definition and backends.
    pub spec: ServiceSpec,
    /// Every address it leases, by address.
    pub leases: Vec<(Ipv4Addr, Lease)>,
}

/// What [`Services::restore`] did with the stored services.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RestoreReport {
    /// Services put back, by name.
    pub restored: Vec<String>,
    /// Stored services not put back, with why.
    pub dropped: Vec<(String, String)>,
    /// Services put back without the addresses their resized pool no longer holds.
    pub trimmed: Vec<(String, Vec<Ipv4Addr>)>,
}

impl Services {
    /// Every service as the store keeps it, by name.
    pub fn records(&self) -> Vec<ServiceRecord> {
        self.entries.values().map(|e| self.record_of(e)).collect()
    }

    /// One service as the store keeps it.
    pub fn record(&self, name: &str) -> Option<ServiceRecord> {
        self.entries.get(name).map(|e| self.record_of(e))
    }

    fn record_of(&self, e: &Entry) -> ServiceRecord {
        let leases = self
            .pools
            .get(e.spec.pool)
            .map(|p| {
                p.leases()
                    .iter()
                    .filter(|(_, l)| l.service == e.spec.name)
                    .map(|(ip, l)| (*ip, l.clone()))
                    .collect()
            })
            .unwrap_or_default();
        ServiceRecord {
            id: e.id,
            config: e.config,
            spec: e.spec.clone(),
            leases,
        }
    }

    /// Puts a service back exactly as `record` has it, replacing a service of the same name
    /// (whose addresses are given back first). All or nothing: a refusal changes nothing.
    /// Backends without a lease in the record get their address as a static lease at `now`.
    /// Nothing is programmed here: the next reconciliation (or [`Services::reconcile_service`])
    /// brings the switches in line.
    pub fn put_back(&mut self, record: ServiceRecord, now: Timestamp) -> Result<(), ServicesError> {
        let ServiceRecord {
            id,
            config,
            spec,
            leases,
        } = record;
        spec.check()?;
        let policy = spec.policy.clone().unwrap_or_else(|| "default".to_string());
        if !self.policies.contains_key(&policy) {
            return Err(ServicesError::UnknownPolicy(policy));
        }
        if let Some(other) = self
            .entries
            .values()
            .find(|e| e.spec.vip == spec.vip && e.spec.name != spec.name)
        {
            return Err(ServicesError::VipTaken {
                vip: spec.vip,
                other: other.spec.name.clone(),
            });
        }
        let mut pools = self.pools.clone();
        let old = self.entries.get(&spec.name).map(|o| {
            (
                o.spec.pool,
                o.programmed.clone(),
                o.scaling.clone(),
                o.demand,
            )
        });
        if let Some(p) = old.as_ref().and_then(|o| pools.get_mut(o.0)) {
            p.release_service(&spec.name);
        }
        pools.add(&spec.tenant, spec.pool, DEFAULT_SHADOW_IDLE)?;
        let pool = pools.get_mut(spec.pool).ok_or(ServicesError::Pool(
            super::super::pool::PoolError::Exhausted { pool: spec.pool },
        ))?;
        for (i, (ip, lease)) in leases.into_iter().enumerate() {
            if lease.service != spec.name {
                return Err(ServicesError::invalid(
                    &format!("leases[{i}].service"),
                    format!("{:?}", lease.service),
                    format!("a lease of service {:?} must name it", spec.name),
                ));
            }
            pool.restore_lease(ip, lease).map_err(|e| {
                ServicesError::invalid(&format!("leases[{i}].ip"), ip.to_string(), e.to_string())
            })?;
        }
        for b in &spec.backends {
            if !pool.leases().contains_key(&b.ip) {
                pool.assign(&spec.name, spec.tier, Some(b.ip), now)?;
            }
        }
        // The stored number names the switch entries; a clash (the file's services were
        // numbered differently this time) takes a fresh one.
        let id = if id != 0
            && !self
                .entries
                .values()
                .any(|e| e.id == id && e.spec.name != spec.name)
        {
            id
        } else {
            self.fresh_id()
        };
        self.next_id = self.next_id.max(id.saturating_add(1));
        let (programmed, scaling, demand) = match old {
            Some((_, programmed, scaling, demand)) => (programmed, scaling, demand),
            None => (Default::default(), ScalingState::default(), None),
        };
        self.pools = pools;
        self.entries.insert(
            spec.name.clone(),
            Entry {
                id,
                spec,
                scaling,
                demand,
                programmed,
                config,
            },
        );
        self.reconciled = None;
        Ok(())
    }

    fn fresh_id(&mut self) -> u32 {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1).max(1);
            if !self.entries.values().any(|e| e.id == id) {
                return id;
            }
        }
    }

    /// Puts back the services a store kept, at start (after the configuration's services were
    /// created); see the module docs for how a stored service relates to a configured one.
    pub fn restore(&mut self, records: Vec<ServiceRecord>, now: Timestamp) -> RestoreReport {
        let mut report = RestoreReport::default();
        for mut r in records {
            let name = r.spec.name.clone();
            let mut outside = Vec::new();
            match self.entries.get(&name) {
                Some(e) if e.config => {
                    let backends = std::mem::take(&mut r.spec.backends);
                    r.spec = ServiceSpec {
                        backends,
                        ..e.spec.clone()
                    };
                    r.config = true;
                    let pool = r.spec.pool;
                    outside = r
                        .leases
                        .iter()
                        .map(|(ip, _)| *ip)
                        .filter(|ip| !usable_in(pool, *ip))
                        .collect();
                    r.leases.retain(|(ip, _)| usable_in(pool, *ip));
                    r.spec.backends.retain(|b| usable_in(pool, b.ip));
                }
                Some(_) => {
                    report
                        .dropped
                        .push((name, "a service of that name exists".to_string()));
                    continue;
                }
                None if r.config => {
                    report
                        .dropped
                        .push((name, "no longer in the configuration".to_string()));
                    continue;
                }
                None => {}
            }
            match self.put_back(r, now) {
                Ok(()) => {
                    if !outside.is_empty() {
                        report.trimmed.push((name.clone(), outside));
                    }
                    report.restored.push(name);
                }
                Err(e) => report.dropped.push((name, e.to_string())),
            }
        }
        report
    }

    /// Brings one service's switch entries to what it wants now; returns the actions.
    pub fn reconcile_service(&mut self, name: &str, snapshot: &Snapshot) -> Vec<Action> {
        match self.entries.get_mut(name) {
            Some(e) => reconcile_entry(e, &self.pools, snapshot, &mut self.egress),
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use ipnetwork::Ipv4Network;
    use prescient_topology::{MacAddr, Snapshot, Timestamp};

    use super::super::super::pool::LeaseKind;
    use super::super::{BackendReport, ServicesConfig};
    use super::*;
    use crate::services::Backend;

    fn spec(name: &str, vip: [u8; 4], backends: Vec<Backend>) -> ServiceSpec {
        ServiceSpec {
            name: name.into(),
            tenant: "red".into(),
            vip: Ipv4Addr::from(vip),
            vip_mac: None,
            pool: "10.1.0.0/28".parse().expect("net"),
            backends,
            tier: 1,
            instance_capacity_bps: 100_000_000,
            min_instances: 1,
            max_instances: 4,
            policy: None,
        }
    }

    fn backend(last: u8) -> Backend {
        Backend {
            ip: Ipv4Addr::new(10, 1, 0, last),
            mac: MacAddr([2, 0, 0, 0, 1, last]),
            weight: 1,
        }
    }

    /// `web` created through the API with a static backend, then two instances reported
    /// without addresses after two shadows were reserved: one pre-assigned, one dynamic... and
    /// a shadow left over.
    fn busy_registry() -> Services {
        let t = Timestamp::from_secs(10);
        let mut s = Services::default();
        s.create(spec("web", [192, 0, 2, 10], vec![backend(5)]), t)
            .expect("created");
        let pool = s
            .pools
            .get_mut("10.1.0.0/28".parse().expect("net"))
            .expect("pool");
        let got = pool.reserve_shadows("web", 1, 2, Timestamp::from_secs(20));
        assert_eq!(got.taken.len(), 2);
        let reports = [
            BackendReport {
                ip: Some(Ipv4Addr::new(10, 1, 0, 5)),
                mac: backend(5).mac,
                weight: 1,
            },
            BackendReport {
                ip: None,
                mac: MacAddr([2, 0, 0, 0, 9, 9]),
                weight: 3,
            },
        ];
        s.set_backends(
            "web",
            &reports,
            Timestamp::from_secs(30),
            &Snapshot::empty(),
        )
        .expect("reported");
        s
    }

    #[test]
    fn a_service_put_back_in_a_fresh_registry_has_the_same_addresses_and_number() {
        let before = busy_registry();
        let records = before.records();
        let mut after = Services::default();
        let report = after.restore(records, Timestamp::from_secs(99));
        assert_eq!(report.restored, vec!["web".to_string()]);
        assert!(report.dropped.is_empty());
        assert_eq!(after.views(), before.views());
        assert_eq!(after.translations(), before.translations());
        let kinds: Vec<LeaseKind> = after.translations().iter().map(|t| t.kind).collect();
        assert!(kinds.contains(&LeaseKind::Shadow));
        assert!(kinds.contains(&LeaseKind::PreAssigned));
        // A service created next does not take the restored number.
        let id = after
            .create(
                spec("api", [192, 0, 2, 11], vec![]),
                Timestamp::from_secs(100),
            )
            .expect("created");
        assert_ne!(Some(id), after.view("web").map(|v| v.id));
    }

    #[test]
    fn the_configuration_defines_a_service_and_the_store_keeps_its_instances() {
        let stored = busy_registry().record("web").expect("record");
        let mut edited = spec("web", [192, 0, 2, 10], vec![backend(5)]);
        edited.max_instances = 2;
        let config = ServicesConfig {
            services: vec![edited],
            ..ServicesConfig::default()
        };
        let mut s = Services::new(&config, Timestamp::from_secs(50)).expect("config");
        let report = s.restore(
            vec![ServiceRecord {
                config: true,
                ..stored.clone()
            }],
            Timestamp::from_secs(60),
        );
        assert_eq!(report.restored, vec!["web".to_string()]);
        let view = s.view("web").expect("web");
        assert_eq!(view.spec.max_instances, 2, "the file's definition wins");
        assert_eq!(
            view.spec.backends, stored.spec.backends,
            "reported instances kept"
        );
        assert_eq!(s.record("web").map(|r| r.leases), Some(stored.leases));
    }

    #[test]
    fn a_pool_the_configuration_shrank_keeps_what_still_lies_in_it() {
        let stored = busy_registry().record("web").expect("record");
        let mut resized = spec("web", [192, 0, 2, 10], vec![]);
        // The first quarter of the stored /28: a /30, .1 and .2 usable.
        let quarter =
            Ipv4Network::new(resized.pool.network(), resized.pool.prefix() + 2).expect("quarter");
        resized.pool = quarter;
        let config = ServicesConfig {
            services: vec![resized],
            ..ServicesConfig::default()
        };
        let mut s = Services::new(&config, Timestamp::from_secs(50)).expect("config");
        let report = s.restore(
            vec![ServiceRecord {
                config: true,
                ..stored.clone()
            }],
            Timestamp::from_secs(60),
        );
        assert_eq!(report.restored, vec!["web".to_string()], "{report:?}");
        let fits = |ip: &Ipv4Addr| usable_in(quarter, *ip);
        let kept: Vec<Ipv4Addr> = stored
            .leases
            .iter()
            .map(|(ip, _)| *ip)
            .filter(fits)
            .collect();
        let gone: Vec<Ipv4Addr> = stored
            .leases
            .iter()
            .map(|(ip, _)| *ip)
            .filter(|ip| !fits(ip))
            .collect();
        assert!(!kept.is_empty() && !gone.is_empty(), "{:?}", stored.leases);
        assert_eq!(report.trimmed, vec![("web".to_string(), gone)]);
        let now: Vec<Ipv4Addr> = s
            .record("web")
            .map(|r| r.leases.iter().map(|(ip, _)| *ip).collect())
            .unwrap_or_default();
        assert_eq!(now, kept);
        let backends = s.view("web").map(|v| v.spec.backends).unwrap_or_default();
        assert!(backends.iter().all(|b| fits(&b.ip)), "{backends:?}");
    }

    #[test]
    fn stored_services_the_configuration_overrides_are_dropped_with_why() {
        let mut stored = busy_registry().record("web").expect("record");
        // Came from the file, which no longer has it.
        let mut gone = stored.clone();
        gone.config = true;
        gone.spec.name = "old".into();
        gone.spec.vip = Ipv4Addr::new(192, 0, 2, 99);
        gone.spec.backends.clear();
        gone.leases.clear();
        // Created through the API, but the file now gives its VIP to another service.
        stored.spec.name = "api".into();
        for (_, l) in &mut stored.leases {
            l.service = "api".into();
        }
        let config = ServicesConfig {
            services: vec![spec("file", [192, 0, 2, 10], vec![])],
            ..ServicesConfig::default()
        };
        let mut s = Services::new(&config, Timestamp::from_secs(50)).expect("config");
        let before = s.views();
        let report = s.restore(vec![gone, stored], Timestamp::from_secs(60));
        assert!(report.restored.is_empty());
        let why: Vec<&str> = report.dropped.iter().map(|(_, w)| w.as_str()).collect();
        assert_eq!(report.dropped[0].0, "old");
        assert!(why[0].contains("no longer in the configuration"), "{why:?}");
        assert_eq!(report.dropped[1].0, "api");
        assert!(why[1].contains("192.0.2.10"), "{why:?}");
        assert_eq!(s.views(), before, "a refusal changes nothing");
    }

    #[test]
    fn an_address_held_by_another_service_is_refused_and_changes_nothing() {
        let mut s = busy_registry();
        let mut other = s.record("web").expect("record");
        other.spec.name = "other".into();
        other.spec.vip = Ipv4Addr::new(192, 0, 2, 20);
        for (_, l) in &mut other.leases {
            l.service = "other".into();
        }
        let before = s.records();
        let err = s
            .put_back(other, Timestamp::from_secs(70))
            .expect_err("clash");
        assert!(err.to_string().contains("held by service \"web\""), "{err}");
        assert_eq!(s.records(), before);
    }
}
