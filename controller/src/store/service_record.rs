//! The on-disk form of a service (schema 2): its definition, backends and address leases as
//! JSON with the REST API's text forms, keyed by name. Everything needed to put it back with
//! the same number and the same logical → physical mapping.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use prescient_topology::Timestamp;
use serde::{Deserialize, Serialize};

use crate::core::naming::parse_mac;
use crate::services::{Backend, Instance, Lease, LeaseKind, ServiceRecord, ServiceSpec};

/// Where a stored service was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredOrigin {
    /// The configuration file (which wins on restart).
    Config,
    /// The REST API.
    Api,
}

/// A backend, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredBackend {
    /// Physical address.
    pub ip: Ipv4Addr,
    /// MAC.
    pub mac: String,
    /// Weight.
    pub weight: u16,
}

/// A lease, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredLease {
    /// Physical address.
    pub ip: Ipv4Addr,
    /// How it was leased.
    pub kind: LeaseKind,
    /// The service's tier when leased.
    pub tier: u8,
    /// Leased since, ns since the epoch (shadows age from here).
    pub since_ns: u64,
    /// Idempotency key of the instance it was pre-assigned to (`POST …/instances`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_key: Option<String>,
    /// Host that instance runs on, when named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_host: Option<String>,
}

/// One service, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredService {
    /// Name (also the key).
    pub name: String,
    /// Where it was defined.
    pub origin: StoredOrigin,
    /// Service number.
    pub id: u32,
    /// Tenant.
    pub tenant: String,
    /// Logical address.
    pub vip: Ipv4Addr,
    /// MAC replies appear from, when not derived from the VIP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip_mac: Option<String>,
    /// Pool, `a.b.c.d/len`.
    pub pool: String,
    /// Tier.
    pub tier: u8,
    /// Traffic one instance serves, bits/s.
    pub instance_capacity_bps: u64,
    /// Fewest instances.
    pub min_instances: u32,
    /// Most instances.
    pub max_instances: u32,
    /// Policy name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Instances, as last reported.
    pub backends: Vec<StoredBackend>,
    /// Every address it leases (backends and shadows).
    pub leases: Vec<StoredLease>,
}

impl StoredService {
    /// The stored form of a service.
    pub fn new(r: &ServiceRecord) -> Self {
        let s = &r.spec;
        StoredService {
            name: s.name.clone(),
            origin: if r.config {
                StoredOrigin::Config
            } else {
                StoredOrigin::Api
            },
            id: r.id,
            tenant: s.tenant.clone(),
            vip: s.vip,
            vip_mac: s.vip_mac.map(|m| m.to_string()),
            pool: s.pool.to_string(),
            tier: s.tier,
            instance_capacity_bps: s.instance_capacity_bps,
            min_instances: s.min_instances,
            max_instances: s.max_instances,
            policy: s.policy.clone(),
            backends: s
                .backends
                .iter()
                .map(|b| StoredBackend {
                    ip: b.ip,
                    mac: b.mac.to_string(),
                    weight: b.weight,
                })
                .collect(),
            leases: r
                .leases
                .iter()
                .map(|(ip, l)| StoredLease {
                    ip: *ip,
                    kind: l.kind,
                    tier: l.tier,
                    since_ns: l.since.nanos(),
                    instance_key: l.instance.as_ref().map(|i| i.key.clone()),
                    instance_host: l.instance.as_ref().and_then(|i| i.host.clone()),
                })
                .collect(),
        }
    }

    /// The service again; the error names the field that does not parse.
    pub fn restored(&self) -> Result<ServiceRecord, String> {
        let mac = |field: &str, text: &str| {
            parse_mac(text).ok_or_else(|| format!("{field}: {text:?} is not a MAC"))
        };
        let pool: Ipv4Network = self
            .pool
            .parse()
            .map_err(|e| format!("pool: {:?} is not a network: {e}", self.pool))?;
        let backends = self
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| {
                Ok(Backend {
                    ip: b.ip,
                    mac: mac(&format!("backends[{i}].mac"), &b.mac)?,
                    weight: b.weight,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let vip_mac = self
            .vip_mac
            .as_deref()
            .map(|m| mac("vip_mac", m))
            .transpose()?;
        Ok(ServiceRecord {
            id: self.id,
            config: self.origin == StoredOrigin::Config,
            spec: ServiceSpec {
                name: self.name.clone(),
                tenant: self.tenant.clone(),
                vip: self.vip,
                vip_mac,
                pool,
                backends,
                tier: self.tier,
                instance_capacity_bps: self.instance_capacity_bps,
                min_instances: self.min_instances,
                max_instances: self.max_instances,
                policy: self.policy.clone(),
            },
            leases: self
                .leases
                .iter()
                .map(|l| {
                    (
                        l.ip,
                        Lease {
                            service: self.name.clone(),
                            tier: l.tier,
                            kind: l.kind,
                            since: Timestamp(l.since_ns),
                            instance: l.instance_key.as_ref().map(|key| Instance {
                                key: key.clone(),
                                host: l.instance_host.clone(),
                            }),
                        },
                    )
                })
                .collect(),
        })
    }
}
