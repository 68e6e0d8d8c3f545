//! The logical → physical address record: one instance address of a service, as the REST API
//! lists it (`GET /api/v1/tenants/{tenant}/addresses`), as the event stream announces it (an
//! `address` event, [`AddressChange`]), and as cluster mode keeps it in etcd, where host agents
//! and any other tool watch exactly their tenant's prefix. One type for all three, so a record
//! means the same wherever it is read.
//!
//! etcd layout: the value is the record as JSON, the key [`AddressRecord::etcd_key`]:
//! `/prescient/v1/address/<tenant>/<logical address>/<physical address>`. The physical address
//! ends the key because one logical address (a service's VIP) fronts several instances; a
//! watcher of [`tenant_prefix`] sees every record of its tenant and nothing of another's
//! (tenant names cannot contain `/`). Readers take the addresses from the value, not the key.
//!
//! Shadow addresses (reserved ahead of a predicted instance, no instance yet) are not records:
//! nothing is to be configured on a host for them. A pre-assigned instance is a record from the
//! moment its address is handed out, so its host has the address before the instance boots.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::pool::LeaseKind;

/// Root of the address records in etcd.
pub const ETCD_ROOT: &str = "/prescient/v1/address/";

/// One instance address of a tenant's service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AddressRecord {
    /// The tenant whose pool the physical address comes from.
    pub tenant: String,
    /// The logical address clients use (the service's VIP).
    #[schema(value_type = String, example = "192.0.2.10")]
    pub logical: Ipv4Addr,
    /// The instance's physical address.
    #[schema(value_type = String, example = "10.1.0.2")]
    pub physical: Ipv4Addr,
    /// Prefix length of the tenant pool holding `physical` (the agent routes the pool).
    pub prefix_len: u8,
    /// The owner: the service the address is leased to.
    pub owner: String,
    /// How the address was leased.
    pub kind: LeaseKind,
    /// The instance's MAC, `aa:bb:cc:dd:ee:ff`, once it is known (the instance reported up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The host the instance runs on, when the orchestrator named it: that host's agent puts
    /// the physical address on its interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl AddressRecord {
    /// The record's key in etcd.
    pub fn etcd_key(&self) -> String {
        format!(
            "{}{}/{}",
            tenant_prefix(&self.tenant),
            self.logical,
            self.physical
        )
    }

    /// What identifies the record within its tenant.
    pub fn id(&self) -> (Ipv4Addr, Ipv4Addr) {
        (self.logical, self.physical)
    }
}

/// The etcd prefix holding every address record of `tenant`.
pub fn tenant_prefix(tenant: &str) -> String {
    format!("{ETCD_ROOT}{tenant}/")
}

/// What happened to a record, as the event stream announces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddressOp {
    /// The record is new or changed.
    Put,
    /// The record is gone (the address was released or became a shadow again).
    Delete,
}

/// One change of an address record (the `address` event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AddressChange {
    /// Put or delete.
    pub op: AddressOp,
    /// The record (for a delete, as it was).
    pub record: AddressRecord,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_through_json_and_keys_under_its_tenant() {
        let r = AddressRecord {
            tenant: "red".into(),
            logical: Ipv4Addr::new(192, 0, 2, 10),
            physical: Ipv4Addr::new(10, 1, 0, 2),
            prefix_len: 24,
            owner: "web".into(),
            kind: LeaseKind::PreAssigned,
            mac: None,
            host: Some("h1".into()),
        };
        let text = serde_json::to_string(&r).expect("json");
        assert!(!text.contains("mac"), "{text}");
        assert_eq!(
            serde_json::from_str::<AddressRecord>(&text).ok(),
            Some(r.clone())
        );
        assert_eq!(
            r.etcd_key(),
            "/prescient/v1/address/red/192.0.2.10/10.1.0.2"
        );
        assert!(r.etcd_key().starts_with(&tenant_prefix("red")));
        assert!(!r.etcd_key().starts_with(&tenant_prefix("re")));
    }
}
