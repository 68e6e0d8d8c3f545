//! Pre-assignment: the orchestrator announces an instance before it boots and gets its address
//! at once (`POST …/instances`), reports it up (a backend in service) or down, and releases it.
//! Also the address records host agents program ([`AddressRecord`]), derived from the leases.
//!
//! Invariants: an address is leased to at most one service, and within it to at most one
//! instance key (the pool's map is keyed by address); the same key always gets the address it
//! holds; a pending or down instance keeps its translation (programmed like a shadow), so the
//! switches are ready before it boots; a released instance's address becomes a shadow of its
//! service again and ages back to the pool by the pool's idle time.

use std::net::Ipv4Addr;

use prescient_topology::{MacAddr, Snapshot, Timestamp};

use super::super::address_record::AddressRecord;
use super::super::model::InstanceConflict;
use super::super::pool::{Instance, LeaseKind, PoolError, PreAssignment};
use super::{reconcile_entry, Backend, Services, ServicesError};
use crate::vocab::{Draft, Rule};

/// An instance announced through the orchestrator API, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    /// Its address.
    pub ip: Ipv4Addr,
    /// How the address was leased.
    pub kind: LeaseKind,
    /// The orchestrator's idempotency key.
    pub key: String,
    /// The host it runs on, when named.
    pub host: Option<String>,
    /// Its MAC once reported up.
    pub mac: Option<MacAddr>,
    /// In service (a backend).
    pub up: bool,
    /// Address handed out at.
    pub since: Timestamp,
}

impl Services {
    /// Hands an address to an instance of `name` that has not booted yet (see
    /// [`super::super::pool::AddressPool::pre_assign`]) and programs its translation. A retry
    /// with the same key gets the same answer and changes nothing (no draft); a new key when
    /// the service has `max_instances` instances is refused
    /// ([`InstanceConflict::MaxInstances`]).
    pub fn pre_assign(
        &mut self,
        name: &str,
        instance: Instance,
        now: Timestamp,
        snapshot: &Snapshot,
    ) -> Result<(PreAssignment, Option<Draft>), ServicesError> {
        let entry = self
            .entries
            .get_mut(name)
            .ok_or_else(|| ServicesError::Unknown(name.to_string()))?;
        let (pool_net, tier) = (entry.spec.pool, entry.spec.tier);
        let pool = self
            .pools
            .get_mut(pool_net)
            .ok_or(ServicesError::Pool(PoolError::Exhausted { pool: pool_net }))?;
        let key = instance.key.clone();
        let host = instance.host.clone();
        // A retried key is answered whatever the count (it holds its address already); a new
        // one only below the limit. Counted: every address the service holds as an instance
        // (announced, up, down, or a reported backend), not its shadows. A count past the limit
        // (a configuration that lowered it, restored over more instances) stays as it is:
        // nothing is taken away, new ones wait until releases bring it under.
        let retry = pool
            .leases()
            .values()
            .any(|l| l.service == name && l.instance.as_ref().is_some_and(|i| i.key == key));
        let instances = pool
            .leases()
            .values()
            .filter(|l| l.service == name && l.kind != LeaseKind::Shadow)
            .count();
        let max = entry.spec.max_instances;
        if !retry && instances >= max as usize {
            return Err(ServicesError::Conflict(InstanceConflict::MaxInstances {
                service: name.to_string(),
                max,
                instances,
            }));
        }
        let got = match pool.pre_assign(name, tier, instance, now) {
            Ok(got) => got,
            Err(PoolError::Exhausted { pool: net }) => {
                let leases = pool.leases();
                let shadows = leases
                    .values()
                    .filter(|l| l.kind == LeaseKind::Shadow)
                    .count();
                return Err(ServicesError::Conflict(InstanceConflict::Exhausted {
                    service: name.to_string(),
                    pool: net,
                    tier,
                    instances: leases.len() - shadows,
                    shadows,
                }));
            }
            Err(e) => return Err(e.into()),
        };
        if !got.fresh {
            return Ok((got, None));
        }
        let actions = reconcile_entry(entry, &self.pools, snapshot, &mut self.egress);
        let how = match got.kind {
            LeaseKind::PreAssigned => "a shadow address reserved for it",
            _ => "no shadow address left: dynamic allocation from the pool",
        };
        let on = host.map(|h| format!(" on host {h}")).unwrap_or_default();
        Ok((
            got,
            Some(Draft {
                rule: Rule::InstancePreAssigned,
                subject: format!("service/{name}"),
                reason: format!(
                    "instance {key:?}{on} pre-assigned {} ({how}) before it boots",
                    got.ip
                ),
                actions,
            }),
        ))
    }

    /// The instance of `name` at `ip` is up (`Some((mac, weight))`: a backend in service) or
    /// down (out of the backends, keeping its address and translation).
    pub fn set_instance_state(
        &mut self,
        name: &str,
        ip: Ipv4Addr,
        up: Option<(MacAddr, u16)>,
        snapshot: &Snapshot,
    ) -> Result<Draft, ServicesError> {
        self.instance_lease(name, ip)?;
        let entry = self
            .entries
            .get_mut(name)
            .ok_or_else(|| ServicesError::Unknown(name.to_string()))?;
        let mut backends: Vec<Backend> = entry
            .spec
            .backends
            .iter()
            .filter(|b| b.ip != ip)
            .copied()
            .collect();
        let state = match up {
            Some((mac, weight)) => {
                backends.push(Backend { ip, mac, weight });
                format!("up with MAC {mac}, weight {weight}")
            }
            None => "down (address and translation kept)".to_string(),
        };
        super::super::model::check_backends(&backends, entry.spec.pool, "backends")?;
        entry.spec.backends = backends;
        let actions = reconcile_entry(entry, &self.pools, snapshot, &mut self.egress);
        Ok(Draft {
            rule: Rule::InstanceStateSet,
            subject: format!("service/{name}"),
            reason: format!("instance at {ip} reported {state}"),
            actions,
        })
    }

    /// The instance of `name` at `ip` is gone: out of the backends, its address a shadow of
    /// the service again (aging back to the pool).
    pub fn release_instance(
        &mut self,
        name: &str,
        ip: Ipv4Addr,
        now: Timestamp,
        snapshot: &Snapshot,
    ) -> Result<Draft, ServicesError> {
        self.instance_lease(name, ip)?;
        let entry = self
            .entries
            .get_mut(name)
            .ok_or_else(|| ServicesError::Unknown(name.to_string()))?;
        entry.spec.backends.retain(|b| b.ip != ip);
        let idle = match self.pools.get_mut(entry.spec.pool) {
            Some(p) => {
                p.release_instance(name, ip, now);
                p.shadow_idle()
            }
            None => Default::default(),
        };
        let actions = reconcile_entry(entry, &self.pools, snapshot, &mut self.egress);
        Ok(Draft {
            rule: Rule::InstanceReleased,
            subject: format!("service/{name}"),
            reason: format!(
                "instance at {ip} released; the address stays reserved for {name} as a shadow and goes back to the pool after {} s unused",
                idle.as_secs()
            ),
            actions,
        })
    }

    /// Checks `ip` is an instance address of `name` (pre-assigned through the API or a
    /// backend); 404 when nothing holds it, 409 when it is a shadow or another's.
    fn instance_lease(&self, name: &str, ip: Ipv4Addr) -> Result<(), ServicesError> {
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| ServicesError::Unknown(name.to_string()))?;
        let lease = self
            .pools
            .get(entry.spec.pool)
            .and_then(|p| p.leases().get(&ip));
        let why = match lease {
            None => {
                return Err(ServicesError::NoInstance {
                    service: name.to_string(),
                    ip,
                })
            }
            Some(l) if l.service != name => format!("it is leased to service {:?}", l.service),
            Some(l) if l.kind == LeaseKind::Shadow => {
                "it is a shadow address (reserved, no instance announced)".to_string()
            }
            Some(_) => return Ok(()),
        };
        Err(ServicesError::Conflict(InstanceConflict::NotAnInstance {
            service: name.to_string(),
            ip,
            why,
        }))
    }

    /// Instance addresses of `name` that are not shadows (pre-assigned, up or down), by
    /// address.
    pub fn instances(&self, name: &str) -> Option<Vec<InstanceView>> {
        let entry = self.entries.get(name)?;
        let pool = self.pools.get(entry.spec.pool)?;
        Some(
            pool.leases()
                .iter()
                .filter(|(_, l)| l.service == name && l.kind != LeaseKind::Shadow)
                .map(|(ip, l)| {
                    let backend = entry.spec.backends.iter().find(|b| b.ip == *ip);
                    InstanceView {
                        ip: *ip,
                        kind: l.kind,
                        key: l
                            .instance
                            .as_ref()
                            .map(|i| i.key.clone())
                            .unwrap_or_default(),
                        host: l.instance.as_ref().and_then(|i| i.host.clone()),
                        mac: backend.map(|b| b.mac),
                        up: backend.is_some(),
                        since: l.since,
                    }
                })
                .collect(),
        )
    }

    /// Every address record (instance addresses, not shadows), by tenant, VIP and address.
    pub fn address_records(&self) -> Vec<AddressRecord> {
        let mut out = Vec::new();
        for e in self.entries.values() {
            let Some(pool) = self.pools.get(e.spec.pool) else {
                continue;
            };
            for (ip, l) in pool
                .leases()
                .iter()
                .filter(|(_, l)| l.service == e.spec.name && l.kind != LeaseKind::Shadow)
            {
                out.push(AddressRecord {
                    tenant: e.spec.tenant.clone(),
                    logical: e.spec.vip,
                    physical: *ip,
                    prefix_len: e.spec.pool.prefix(),
                    owner: e.spec.name.clone(),
                    kind: l.kind,
                    mac: e
                        .spec
                        .backends
                        .iter()
                        .find(|b| b.ip == *ip)
                        .map(|b| b.mac.to_string()),
                    host: l.instance.as_ref().and_then(|i| i.host.clone()),
                });
            }
        }
        out.sort_by(|a, b| (&a.tenant, a.id()).cmp(&(&b.tenant, b.id())));
        out
    }

    /// Tenants: those with a pool, by name.
    pub fn tenants(&self) -> Vec<String> {
        let mut t: Vec<String> = self.pools.iter().map(|p| p.tenant().to_string()).collect();
        t.sort();
        t.dedup();
        t
    }
}

#[cfg(test)]
#[path = "instances_tests.rs"]
mod tests;
