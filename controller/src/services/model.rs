//! What a service is (a VIP in front of weighted backends, drawing instance addresses from a
//! tenant pool), the orchestration policy it follows, and the hook calls planning produces.
//!
//! Invariants of a checked [`ServiceSpec`]: a non-empty name and tenant of `[A-Za-z0-9._-]`,
//! at most 64 characters (they appear in URLs, hook keys and etcd keys);
//! `1 <= min_instances <= max_instances`; a non-zero per-instance capacity; backends unique by
//! address and by MAC, with non-zero weights, inside the pool; the VIP outside the pool (it is
//! logical, the pool physical).

use std::net::Ipv4Addr;
use std::time::Duration;

use ipnetwork::Ipv4Network;
use prescient_topology::MacAddr;
use serde::Serialize;

use super::pool::PoolError;
pub use crate::vocab::hooks::{HookCall, HookForecast, HookKind};

/// Longest service name.
pub const MAX_NAME: usize = 64;
/// Most instances a service may ask for.
pub const MAX_INSTANCES: u32 = 1024;

/// One instance of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backend {
    /// Physical address.
    pub ip: Ipv4Addr,
    /// Its MAC.
    pub mac: MacAddr,
    /// Relative weight in load balancing (at least 1).
    pub weight: u16,
}

/// A service as configured or posted.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    /// Unique name.
    pub name: String,
    /// Owner; pools are per tenant.
    pub tenant: String,
    /// Logical address clients use.
    pub vip: Ipv4Addr,
    /// MAC replies appear from; derived from the VIP (`02:50:` + its four bytes) when absent.
    pub vip_mac: Option<MacAddr>,
    /// Physical addresses instances get (a tenant pool).
    pub pool: Ipv4Network,
    /// Instances running now.
    pub backends: Vec<Backend>,
    /// Priority: when a pool runs short, higher tiers take shadow addresses from lower ones.
    pub tier: u8,
    /// Traffic one instance serves, bits/s.
    pub instance_capacity_bps: u64,
    /// Fewest instances (scale-down stops here).
    pub min_instances: u32,
    /// Most instances (scale-up stops here).
    pub max_instances: u32,
    /// Name of the policy it follows; the default policy when absent.
    pub policy: Option<String>,
}

impl ServiceSpec {
    /// The MAC replies appear from.
    pub fn logical_mac(&self) -> MacAddr {
        self.vip_mac.unwrap_or_else(|| {
            let [a, b, c, d] = self.vip.octets();
            // Locally administered, unicast: never collides with a vendor-assigned MAC.
            MacAddr([0x02, 0x50, a, b, c, d])
        })
    }

    /// Whether the pool can hold `min_instances` instances, one address each. Checked when a
    /// service is created, not when a stored one is put back: a service an older version
    /// accepted is restored as it was, not dropped.
    pub fn check_fits_pool(&self) -> Result<(), ServicesError> {
        // Every instance takes one address of the pool: a pool with fewer usable addresses
        // than the minimum could never run it, and the shortfall would only show at scale-up.
        let usable = super::pool::usable_count(self.pool);
        if u64::from(self.min_instances) > usable {
            return Err(ServicesError::invalid(
                "min_instances",
                self.min_instances.to_string(),
                format!(
                    "the pool {} has only {usable} usable addresses, one per instance",
                    self.pool
                ),
            ));
        }
        Ok(())
    }

    /// Checks the invariants in the module docs.
    pub fn check(&self) -> Result<(), ServicesError> {
        if !name_ok_chars(&self.name) {
            return Err(ServicesError::invalid(
                "name",
                format!("{:?}", self.name),
                format!("must be 1 to {MAX_NAME} characters of A-Z a-z 0-9 . _ -"),
            ));
        }
        // Tenants name etcd prefixes and URL segments of address records: no `/`.
        if !name_ok_chars(&self.tenant) {
            return Err(ServicesError::invalid(
                "tenant",
                format!("{:?}", self.tenant),
                format!("must be 1 to {MAX_NAME} characters of A-Z a-z 0-9 . _ -"),
            ));
        }
        if self.instance_capacity_bps == 0 {
            return Err(ServicesError::invalid(
                "instance_capacity_bps",
                "0".into(),
                "must be at least 1 bit/s".into(),
            ));
        }
        if self.min_instances == 0 || self.min_instances > self.max_instances {
            return Err(ServicesError::invalid(
                "min_instances",
                self.min_instances.to_string(),
                format!(
                    "must be between 1 and max_instances ({})",
                    self.max_instances
                ),
            ));
        }
        if self.max_instances > MAX_INSTANCES {
            return Err(ServicesError::invalid(
                "max_instances",
                self.max_instances.to_string(),
                format!("must be at most {MAX_INSTANCES}"),
            ));
        }
        // Clients reach a VIP by ARP and unicast IPv4: an unspecified, broadcast, multicast or
        // loopback address never gets its packets to the service (and ARP for the broadcast
        // address would be answered for every host).
        let vip = self.vip;
        if vip.is_unspecified() || vip.is_broadcast() || vip.is_multicast() || vip.is_loopback() {
            return Err(ServicesError::invalid(
                "vip",
                vip.to_string(),
                "must be a unicast address (not 0.0.0.0, 255.255.255.255, 224.0.0.0/4 or 127.0.0.0/8)"
                    .into(),
            ));
        }
        if self.pool.contains(self.vip) {
            return Err(ServicesError::invalid(
                "vip",
                self.vip.to_string(),
                format!(
                    "lies inside the physical pool {}; a VIP is a logical address",
                    self.pool
                ),
            ));
        }
        if self.logical_mac().is_multicast() {
            return Err(ServicesError::invalid(
                "vip_mac",
                self.logical_mac().to_string(),
                "is a multicast MAC".into(),
            ));
        }
        check_backends(&self.backends, self.pool, "backends")
    }
}

/// Whether `name` is 1 to [`MAX_NAME`] characters of `[A-Za-z0-9._-]`.
pub fn name_ok_chars(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Checks a backend list against its pool; `field` prefixes the field names in errors.
pub fn check_backends(
    backends: &[Backend],
    pool: Ipv4Network,
    field: &str,
) -> Result<(), ServicesError> {
    for (i, b) in backends.iter().enumerate() {
        let at = |f: &str| format!("{field}[{i}].{f}");
        if b.weight == 0 {
            return Err(ServicesError::invalid(
                &at("weight"),
                "0".into(),
                "must be at least 1".into(),
            ));
        }
        if !pool.contains(b.ip) {
            return Err(ServicesError::invalid(
                &at("ip"),
                b.ip.to_string(),
                format!("lies outside the service's pool {pool}"),
            ));
        }
        if b.mac.is_multicast() {
            return Err(ServicesError::invalid(
                &at("mac"),
                b.mac.to_string(),
                "is a multicast MAC".into(),
            ));
        }
        if let Some(j) = backends[..i]
            .iter()
            .position(|o| o.ip == b.ip || o.mac == b.mac)
        {
            return Err(ServicesError::invalid(
                &at("ip"),
                b.ip.to_string(),
                format!("duplicates {field}[{j}] (address or MAC)"),
            ));
        }
    }
    Ok(())
}

/// "Scale up when the predicted load exceeds `scale_up_at` of capacity, by at least
/// `scale_up_step`; scale down when it stays below `scale_down_below` for `cool_down`."
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Name services refer to.
    pub name: String,
    /// Share of the instances' capacity the forecast upper bound may reach (0, 1].
    pub scale_up_at: f64,
    /// Fewest instances one scale-up adds (the forecast may ask for more).
    pub scale_up_step: u32,
    /// Share of capacity (of one instance fewer) below which scale-down is considered.
    pub scale_down_below: f64,
    /// How long the forecast must stay low before a scale-down, and the quiet time after any
    /// scaling before a scale-down (cost-aware: no flapping on a dip).
    pub cool_down: Duration,
    /// Ask for migration when a backend's edge is predicted hot.
    pub migrate_on_hot_edge: bool,
}

impl Policy {
    /// The policy services without one follow.
    pub fn default_policy() -> Policy {
        Policy {
            name: "default".to_string(),
            scale_up_at: 0.8,
            scale_up_step: 1,
            scale_down_below: 0.5,
            cool_down: Duration::from_secs(300),
            migrate_on_hot_edge: true,
        }
    }

    /// Checks the shares; `field` prefixes the field names.
    pub fn check(&self, field: &str) -> Result<(), ServicesError> {
        if !(self.scale_up_at > 0.0 && self.scale_up_at <= 1.0) {
            return Err(ServicesError::invalid(
                &format!("{field}scale_up_at"),
                self.scale_up_at.to_string(),
                "must be a share of capacity in (0, 1]".into(),
            ));
        }
        if !(self.scale_down_below >= 0.0 && self.scale_down_below < self.scale_up_at) {
            return Err(ServicesError::invalid(
                &format!("{field}scale_down_below"),
                self.scale_down_below.to_string(),
                format!(
                    "must be in [0, scale_up_at = {}), or every scale-up would be undone",
                    self.scale_up_at
                ),
            ));
        }
        if self.scale_up_step == 0 {
            return Err(ServicesError::invalid(
                &format!("{field}scale_up_step"),
                "0".into(),
                "must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// Why a service, backend list or policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServicesError {
    /// A value that cannot be used.
    #[error("`{field}` = {value}: {why}")]
    Invalid {
        /// The field, dotted.
        field: String,
        /// The value given.
        value: String,
        /// Why.
        why: String,
    },
    /// No service of that name.
    #[error("no service named {0:?}")]
    Unknown(String),
    /// A service of that name exists.
    #[error("a service named {0:?} exists already")]
    Exists(String),
    /// Another service already uses this VIP.
    #[error("vip {vip} is already the VIP of service {other:?}")]
    VipTaken {
        /// The VIP.
        vip: Ipv4Addr,
        /// The service using it.
        other: String,
    },
    /// The service names a policy that does not exist.
    #[error("`policy` = {0:?}: no such policy")]
    UnknownPolicy(String),
    /// The pool refused.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// No instance of the service has that address.
    #[error("no instance of service {service:?} has address {ip}")]
    NoInstance {
        /// The service.
        service: String,
        /// The address asked for.
        ip: Ipv4Addr,
    },
    /// An instance call conflicts with the pool's state.
    #[error(transparent)]
    Conflict(#[from] InstanceConflict),
}

/// Why an instance call was refused in a way the caller may resolve (HTTP 409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstanceConflict {
    /// Neither a shadow of the service nor a free address is left.
    #[error("no address for a new instance of {service:?}: it has no shadow address reserved and pool {pool} is exhausted ({instances} address(es) held by instances, {shadows} by shadows of tier {tier} or above, which tier {tier} cannot take)")]
    Exhausted {
        /// The service.
        service: String,
        /// Its pool.
        pool: ipnetwork::Ipv4Network,
        /// Its tier.
        tier: u8,
        /// Addresses held by instances of any service.
        instances: usize,
        /// Shadows of other services.
        shadows: usize,
    },
    /// The service has `max_instances` instances already: a new one would pass the limit its
    /// spec sets (the planner never asks past it either). Instances are the addresses the
    /// service holds as an instance (announced, up or down), not its shadows.
    #[error("service {service:?} has {instances} instance(s) holding an address (announced, up or down) and its max_instances is {max}: release one (DELETE …/instances/{{address}}) before announcing another")]
    MaxInstances {
        /// The service.
        service: String,
        /// Its `max_instances`.
        max: u32,
        /// Its instances now.
        instances: usize,
    },
    /// The address is leased, but not as an instance of this service.
    #[error("{ip} is not an instance of {service:?}: {why}")]
    NotAnInstance {
        /// The service asked about.
        service: String,
        /// The address.
        ip: Ipv4Addr,
        /// Who holds it and how.
        why: String,
    },
}

impl ServicesError {
    /// An invalid value.
    pub fn invalid(field: &str, value: String, why: String) -> Self {
        ServicesError::Invalid {
            field: field.to_string(),
            value,
            why,
        }
    }
}

/// How a hook call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HookStatus {
    /// The endpoint accepted it (2xx) or the program exited 0.
    Delivered,
    /// The endpoint refused it for good (4xx other than 408/429): not retried.
    Refused,
    /// Every attempt failed (down, timeout, 5xx, non-zero exit).
    GaveUp,
}

/// The outcome of one hook call on one configured hook.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HookRecord {
    /// Idempotency key of the call.
    pub key: String,
    /// The configured hook's name.
    pub hook: String,
    /// The service.
    pub service: String,
    /// What was asked.
    pub action: HookKind,
    /// The decision that asked.
    pub decision: u64,
    /// How it ended.
    pub status: HookStatus,
    /// Attempts made.
    pub attempts: u32,
    /// Last HTTP status or exit code, if any.
    pub code: Option<i32>,
    /// Last error, if any.
    pub error: Option<String>,
    /// When it ended, nanoseconds since the epoch.
    pub at_ns: u64,
}
