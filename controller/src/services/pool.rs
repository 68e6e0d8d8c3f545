//! Per-tenant address pools (address shadowing): physical addresses handed to instances,
//! reserved ahead of a predicted scale-out as *shadows*, assigned when the instance appears
//! (pre-assigned when it takes a shadow, dynamic when none was left), aged back to the pool when
//! a shadow stays unused.
//!
//! Invariants: pools never overlap (a new one overlapping another is refused, naming both);
//! every lease lies inside its pool and names one service; the network and broadcast addresses
//! of pools wider than /31 are never leased; a shadow is only taken from a strictly lower tier.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnetwork::Ipv4Network;
use prescient_topology::Timestamp;
use serde::{Deserialize, Serialize};

/// How an address came to be leased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeaseKind {
    /// Reserved ahead of a predicted instance; no instance yet.
    Shadow,
    /// An instance took an address reserved for it ahead of time.
    PreAssigned,
    /// An instance got a free address because no shadow was left.
    Dynamic,
    /// An instance came with its own address (configuration or the orchestrator).
    Static,
}

/// One leased address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The service holding it.
    pub service: String,
    /// The service's tier when leased.
    pub tier: u8,
    /// How it was leased.
    pub kind: LeaseKind,
    /// When it was leased (or became assigned).
    pub since: Timestamp,
    /// The instance it was pre-assigned to through the orchestrator API, if it was.
    pub instance: Option<Instance>,
}

/// An instance announced by the orchestrator before it boots (`POST …/instances`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The orchestrator's idempotency key: the same key gets the same address.
    pub key: String,
    /// The host it will run on, when named (that host's agent configures the address).
    pub host: Option<String>,
}

/// The address [`AddressPool::pre_assign`] handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreAssignment {
    /// The address.
    pub ip: Ipv4Addr,
    /// Pre-assigned (a shadow of the service) or dynamic (a free address).
    pub kind: LeaseKind,
    /// False when the key had an address already (a retried request).
    pub fresh: bool,
}

/// Why a pool operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The new pool overlaps an existing one.
    #[error("pool {new} of tenant {new_tenant:?} overlaps pool {existing} of tenant {existing_tenant:?}")]
    Overlap {
        /// The refused pool.
        new: Ipv4Network,
        /// Its tenant.
        new_tenant: String,
        /// The pool it overlaps.
        existing: Ipv4Network,
        /// That pool's tenant.
        existing_tenant: String,
    },
    /// The address is not in the pool.
    #[error("{ip} is outside pool {pool}")]
    Outside {
        /// The address.
        ip: Ipv4Addr,
        /// The pool.
        pool: Ipv4Network,
    },
    /// The address is the pool's network or broadcast address.
    #[error("{ip} is the network or broadcast address of pool {pool}")]
    Reserved {
        /// The address.
        ip: Ipv4Addr,
        /// The pool.
        pool: Ipv4Network,
    },
    /// Another service holds the address.
    #[error("{ip} is held by service {holder:?}")]
    InUse {
        /// The address.
        ip: Ipv4Addr,
        /// Who holds it.
        holder: String,
    },
    /// No address is left.
    #[error("pool {pool} has no free address left")]
    Exhausted {
        /// The pool.
        pool: Ipv4Network,
    },
}

/// One tenant's pool.
#[derive(Debug, Clone, PartialEq)]
pub struct AddressPool {
    tenant: String,
    network: Ipv4Network,
    idle: Duration,
    leases: BTreeMap<Ipv4Addr, Lease>,
}

/// How long a shadow address of a pool declared without one stays reserved unused.
pub const DEFAULT_SHADOW_IDLE: Duration = Duration::from_secs(600);

/// Addresses reserved by [`AddressPool::reserve_shadows`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shadows {
    /// Addresses reserved, lowest first.
    pub taken: Vec<Ipv4Addr>,
    /// Shadows taken from lower-tier services, with their former holder.
    pub preempted: Vec<(String, Ipv4Addr)>,
}

impl AddressPool {
    /// An empty pool whose shadows age back after `idle`.
    pub fn new(tenant: &str, network: Ipv4Network, idle: Duration) -> Self {
        AddressPool {
            tenant: tenant.to_string(),
            network,
            idle,
            leases: BTreeMap::new(),
        }
    }

    /// How long a shadow stays reserved unused.
    pub fn shadow_idle(&self) -> Duration {
        self.idle
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The network.
    pub fn network(&self) -> Ipv4Network {
        self.network
    }

    /// Leases, by address.
    pub fn leases(&self) -> &BTreeMap<Ipv4Addr, Lease> {
        &self.leases
    }

    /// Whether `ip` may ever be leased.
    fn usable(&self, ip: Ipv4Addr) -> bool {
        usable_in(self.network, ip)
    }

    fn check(&self, ip: Ipv4Addr) -> Result<(), PoolError> {
        if !self.network.contains(ip) {
            return Err(PoolError::Outside {
                ip,
                pool: self.network,
            });
        }
        if !self.usable(ip) {
            return Err(PoolError::Reserved {
                ip,
                pool: self.network,
            });
        }
        Ok(())
    }

    /// Free addresses, lowest first, at most `n`.
    fn free(&self, n: usize) -> Vec<Ipv4Addr> {
        self.network
            .iter()
            .filter(|ip| self.usable(*ip) && !self.leases.contains_key(ip))
            .take(n)
            .collect()
    }

    /// Addresses not leased.
    pub fn free_count(&self) -> u64 {
        let size = u64::from(self.network.size());
        let unusable = if self.network.prefix() >= 31 { 0 } else { 2 };
        size.saturating_sub(unusable)
            .saturating_sub(self.leases.len() as u64)
    }

    /// Reserves up to `n` shadow addresses for `service`: free ones first, then the youngest
    /// shadows of strictly lower tiers (they were the least likely to be needed soon).
    pub fn reserve_shadows(
        &mut self,
        service: &str,
        tier: u8,
        n: usize,
        now: Timestamp,
    ) -> Shadows {
        let mut out = Shadows {
            taken: self.free(n),
            preempted: Vec::new(),
        };
        if out.taken.len() < n {
            let mut victims: Vec<(Timestamp, Ipv4Addr)> = self
                .leases
                .iter()
                .filter(|(_, l)| l.kind == LeaseKind::Shadow && l.tier < tier)
                .map(|(ip, l)| (l.since, *ip))
                .collect();
            victims.sort_unstable_by(|a, b| b.cmp(a));
            for (_, ip) in victims.into_iter().take(n - out.taken.len()) {
                if let Some(old) = self.leases.remove(&ip) {
                    out.preempted.push((old.service, ip));
                }
                out.taken.push(ip);
            }
        }
        for ip in &out.taken {
            self.leases.insert(
                *ip,
                Lease {
                    service: service.to_string(),
                    tier,
                    kind: LeaseKind::Shadow,
                    since: now,
                    instance: None,
                },
            );
        }
        out.taken.sort_unstable();
        out
    }

    /// Leases an address to a running instance of `service`: `ip` when given (its own shadow
    /// becomes pre-assigned, a free one static), else its lowest shadow (pre-assigned), else
    /// the lowest free address (dynamic).
    pub fn assign(
        &mut self,
        service: &str,
        tier: u8,
        ip: Option<Ipv4Addr>,
        now: Timestamp,
    ) -> Result<(Ipv4Addr, LeaseKind), PoolError> {
        let (ip, kind) = match ip {
            Some(ip) => {
                self.check(ip)?;
                match self.leases.get(&ip) {
                    Some(l) if l.service != service => {
                        return Err(PoolError::InUse {
                            ip,
                            holder: l.service.clone(),
                        })
                    }
                    Some(l) if l.kind == LeaseKind::Shadow => (ip, LeaseKind::PreAssigned),
                    Some(l) => (ip, l.kind),
                    None => (ip, LeaseKind::Static),
                }
            }
            None => match self.shadows(service).first() {
                Some(ip) => (*ip, LeaseKind::PreAssigned),
                None => match self.free(1).first() {
                    Some(ip) => (*ip, LeaseKind::Dynamic),
                    None => {
                        return Err(PoolError::Exhausted { pool: self.network });
                    }
                },
            },
        };
        let (since, instance) = match self.leases.get(&ip) {
            Some(l) if l.kind == kind => (l.since, l.instance.clone()),
            _ => (now, None),
        };
        self.leases.insert(
            ip,
            Lease {
                service: service.to_string(),
                tier,
                kind,
                since,
                instance,
            },
        );
        Ok((ip, kind))
    }

    /// Hands an address to an instance of `service` that has not booted yet: the one its
    /// key already holds (a retry), else the service's lowest shadow (pre-assigned), else the
    /// lowest free address (dynamic). Never an address leased to anything else.
    pub fn pre_assign(
        &mut self,
        service: &str,
        tier: u8,
        instance: Instance,
        now: Timestamp,
    ) -> Result<PreAssignment, PoolError> {
        if let Some((ip, l)) = self.leases.iter().find(|(_, l)| {
            l.service == service && l.instance.as_ref().is_some_and(|i| i.key == instance.key)
        }) {
            return Ok(PreAssignment {
                ip: *ip,
                kind: l.kind,
                fresh: false,
            });
        }
        let (ip, kind) = match self.shadows(service).first() {
            Some(ip) => (*ip, LeaseKind::PreAssigned),
            None => match self.free(1).first() {
                Some(ip) => (*ip, LeaseKind::Dynamic),
                None => return Err(PoolError::Exhausted { pool: self.network }),
            },
        };
        self.leases.insert(
            ip,
            Lease {
                service: service.to_string(),
                tier,
                kind,
                since: now,
                instance: Some(instance),
            },
        );
        Ok(PreAssignment {
            ip,
            kind,
            fresh: true,
        })
    }

    /// The instance `service` pre-assigned `ip` to is gone: the address becomes a shadow of
    /// the service again from `now`, so it ages back to the pool by the pool's idle time (or
    /// the next instance takes it). False when `service` does not hold `ip`.
    pub fn release_instance(&mut self, service: &str, ip: Ipv4Addr, now: Timestamp) -> bool {
        match self.leases.get_mut(&ip) {
            Some(l) if l.service == service => {
                l.kind = LeaseKind::Shadow;
                l.since = now;
                l.instance = None;
                true
            }
            _ => false,
        }
    }

    /// Puts back a lease as the state store kept it (kind and age included), refusing an
    /// address outside the pool or held by another service.
    pub fn restore_lease(&mut self, ip: Ipv4Addr, lease: Lease) -> Result<(), PoolError> {
        self.check(ip)?;
        if let Some(l) = self.leases.get(&ip).filter(|l| l.service != lease.service) {
            return Err(PoolError::InUse {
                ip,
                holder: l.service.clone(),
            });
        }
        self.leases.insert(ip, lease);
        Ok(())
    }

    /// Shadow addresses of `service`, lowest first.
    pub fn shadows(&self, service: &str) -> Vec<Ipv4Addr> {
        self.leases
            .iter()
            .filter(|(_, l)| l.service == service && l.kind == LeaseKind::Shadow)
            .map(|(ip, _)| *ip)
            .collect()
    }

    /// Returns `ip` to the pool if `service` holds it.
    pub fn release(&mut self, service: &str, ip: Ipv4Addr) -> bool {
        if self.leases.get(&ip).is_some_and(|l| l.service == service) {
            self.leases.remove(&ip);
            true
        } else {
            false
        }
    }

    /// Returns every address of `service` to the pool.
    pub fn release_service(&mut self, service: &str) -> Vec<Ipv4Addr> {
        let mine: Vec<Ipv4Addr> = self
            .leases
            .iter()
            .filter(|(_, l)| l.service == service)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in &mine {
            self.leases.remove(ip);
        }
        mine
    }

    /// Shadows reserved more than `idle` ago go back to the pool; returns them with their
    /// former holder.
    pub fn age(&mut self, now: Timestamp, idle: Duration) -> Vec<(String, Ipv4Addr)> {
        let old: Vec<Ipv4Addr> = self
            .leases
            .iter()
            .filter(|(_, l)| {
                l.kind == LeaseKind::Shadow
                    && now.nanos().saturating_sub(l.since.nanos()) >= nanos(idle)
            })
            .map(|(ip, _)| *ip)
            .collect();
        old.into_iter()
            .filter_map(|ip| self.leases.remove(&ip).map(|l| (l.service, ip)))
            .collect()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Whether a pool on `network` may ever lease `ip` (inside it, and neither its network nor
/// its broadcast address unless it is a /31 or /32).
pub fn usable_in(network: Ipv4Network, ip: Ipv4Addr) -> bool {
    network.contains(ip)
        && (network.prefix() >= 31 || (ip != network.network() && ip != network.broadcast()))
}

/// How many addresses of `network` [`usable_in`] allows (all of a /31 or /32; else all but its
/// network and broadcast addresses).
pub fn usable_count(network: Ipv4Network) -> u64 {
    let size = 1u64 << (32 - u32::from(network.prefix()));
    if network.prefix() >= 31 {
        size
    } else {
        size - 2
    }
}

/// Every tenant's pools, keyed by (first address, prefix length).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pools {
    pools: BTreeMap<(u32, u8), AddressPool>,
}

fn overlaps(a: Ipv4Network, b: Ipv4Network) -> bool {
    a.contains(b.network()) || b.contains(a.network())
}

fn key(network: Ipv4Network) -> (u32, u8) {
    (u32::from(network.network()), network.prefix())
}

impl Pools {
    /// Adds `network` for `tenant` (shadows aging after `idle`); the same pool again is
    /// accepted (keeping its first settings), an overlapping one refused.
    pub fn add(
        &mut self,
        tenant: &str,
        network: Ipv4Network,
        idle: Duration,
    ) -> Result<(), PoolError> {
        // Normalise 10.0.0.7/24 to 10.0.0.0/24 so equal pools compare equal.
        let network = Ipv4Network::new(network.network(), network.prefix()).unwrap_or(network);
        let start = u32::from(network.network());
        // Pools are disjoint, so only two can overlap a new one: the last starting at or
        // before it (which may contain it) and the first starting at or after it (which may
        // lie inside it).
        let before = self.pools.range(..=(start, u8::MAX)).next_back();
        let after = self.pools.range((start, 0)..).next();
        let clash = [before, after]
            .into_iter()
            .flatten()
            .map(|(_, p)| p)
            .find(|p| overlaps(p.network, network));
        if let Some(p) = clash {
            if p.network == network && p.tenant == tenant {
                return Ok(());
            }
            return Err(PoolError::Overlap {
                new: network,
                new_tenant: tenant.to_string(),
                existing: p.network,
                existing_tenant: p.tenant.clone(),
            });
        }
        self.pools
            .insert(key(network), AddressPool::new(tenant, network, idle));
        Ok(())
    }

    /// The pool exactly `network`.
    pub fn get(&self, network: Ipv4Network) -> Option<&AddressPool> {
        self.pools.get(&key(network))
    }

    /// The pool exactly `network`, mutable.
    pub fn get_mut(&mut self, network: Ipv4Network) -> Option<&mut AddressPool> {
        self.pools.get_mut(&key(network))
    }

    /// All pools, by address.
    pub fn iter(&self) -> impl Iterator<Item = &AddressPool> {
        self.pools.values()
    }

    /// Ages every pool's shadows by its own idle time; returns `(pool, service, address)`.
    pub fn age(&mut self, now: Timestamp) -> Vec<(Ipv4Network, String, Ipv4Addr)> {
        let mut out = Vec::new();
        for p in self.pools.values_mut() {
            let net = p.network;
            let idle = p.idle;
            out.extend(p.age(now, idle).into_iter().map(|(s, ip)| (net, s, ip)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Network {
        s.parse().expect("network")
    }

    fn t(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    #[test]
    fn overlapping_pools_are_refused_naming_both() {
        let mut pools = Pools::default();
        pools
            .add("red", net("10.1.0.0/24"), DEFAULT_SHADOW_IDLE)
            .expect("first");
        pools
            .add("red", net("10.1.0.0/24"), DEFAULT_SHADOW_IDLE)
            .expect("same again");
        let err = pools
            .add("blue", net("10.1.0.128/25"), DEFAULT_SHADOW_IDLE)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("10.1.0.128/25") && text.contains("10.1.0.0/24"),
            "{text}"
        );
        assert!(text.contains("red") && text.contains("blue"), "{text}");
        pools
            .add("blue", net("10.2.0.0/16"), DEFAULT_SHADOW_IDLE)
            .expect("disjoint");
        assert!(matches!(
            pools.add("blue", net("10.0.0.0/8"), DEFAULT_SHADOW_IDLE),
            Err(PoolError::Overlap { .. })
        ));
        // Around and between existing pools: only real overlaps are refused.
        pools
            .add("green", net("10.1.1.0/24"), DEFAULT_SHADOW_IDLE)
            .expect("after red");
        pools
            .add("green", net("10.0.255.0/24"), DEFAULT_SHADOW_IDLE)
            .expect("before red");
        assert!(pools
            .add("green", net("10.1.0.255/32"), DEFAULT_SHADOW_IDLE)
            .is_err());
        assert!(pools
            .add("green", net("10.1.0.0/23"), DEFAULT_SHADOW_IDLE)
            .is_err());
        assert!(pools
            .get(net("10.1.0.0/24"))
            .is_some_and(|p| p.tenant() == "red"));
        assert_eq!(pools.iter().count(), 4);
    }

    #[test]
    fn shadows_are_pre_assigned_then_dynamic_allocation_takes_over() {
        let mut p = AddressPool::new("red", net("10.1.0.0/29"), DEFAULT_SHADOW_IDLE);
        // /29: .1 to .6 usable.
        let s = p.reserve_shadows("web", 1, 2, t(0));
        assert_eq!(
            s.taken,
            vec![Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 1, 0, 2)]
        );
        assert_eq!(p.free_count(), 4);
        let a = p.assign("web", 1, None, t(1)).expect("shadow");
        assert_eq!(a, (Ipv4Addr::new(10, 1, 0, 1), LeaseKind::PreAssigned));
        let b = p
            .assign("web", 1, Some(Ipv4Addr::new(10, 1, 0, 2)), t(1))
            .expect("own shadow");
        assert_eq!(b.1, LeaseKind::PreAssigned);
        let c = p.assign("web", 1, None, t(2)).expect("dynamic");
        assert_eq!(c, (Ipv4Addr::new(10, 1, 0, 3), LeaseKind::Dynamic));
        assert!(matches!(
            p.assign("db", 1, Some(Ipv4Addr::new(10, 1, 0, 3)), t(2)),
            Err(PoolError::InUse { .. })
        ));
        assert!(matches!(
            p.assign("db", 1, Some(Ipv4Addr::new(10, 1, 0, 7)), t(2)),
            Err(PoolError::Reserved { .. })
        ));
        for _ in 0..3 {
            p.assign("db", 1, None, t(3)).expect("room");
        }
        assert!(matches!(
            p.assign("db", 1, None, t(3)),
            Err(PoolError::Exhausted { .. })
        ));
    }

    #[test]
    fn shadows_age_back_and_higher_tiers_take_lower_tier_shadows() {
        let mut p = AddressPool::new("red", net("10.1.0.0/30"), DEFAULT_SHADOW_IDLE);
        // /30: .1 and .2 usable.
        p.reserve_shadows("batch", 0, 2, t(0));
        let s = p.reserve_shadows("web", 3, 1, t(5));
        assert_eq!(s.taken.len(), 1);
        assert_eq!(s.preempted.len(), 1);
        assert_eq!(s.preempted[0].0, "batch");
        // Equal tiers do not preempt each other.
        assert!(p.reserve_shadows("other", 0, 1, t(6)).taken.is_empty());
        let aged = p.age(t(100), Duration::from_secs(60));
        assert_eq!(aged.len(), 2);
        assert_eq!(p.free_count(), 2);
    }
}
