//! What the agent wants on its interface for a tenant's address records, and the plan that
//! takes the kernel there. Pure: the kernel's state comes in as a [`HostState`] read back by
//! `kernel.rs`, which owns the netlink calls.
//!
//! From the records of its tenant, on its interface:
//! - the physical address of every record naming this host, as a /32;
//! - a route to every VIP (/32) and to every pool the records come from;
//! - a permanent neighbour entry for every other instance whose MAC is known.
//!
//! The state compared is only what the agent owns (tagged with its protocol number), so the
//! plan never removes anything else.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use prescient_topology::MacAddr;

use crate::core::naming::parse_mac;
use crate::services::AddressRecord;

/// Addresses, routes and neighbours on one interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostState {
    /// Addresses (/32).
    pub addresses: BTreeSet<Ipv4Addr>,
    /// Routes out of the interface.
    pub routes: BTreeSet<Ipv4Network>,
    /// Permanent neighbour entries.
    pub neighbours: BTreeMap<Ipv4Addr, MacAddr>,
}

/// The state `records` ask of the agent of `host`.
pub fn desired<'a>(records: impl IntoIterator<Item = &'a AddressRecord>, host: &str) -> HostState {
    let mut s = HostState::default();
    for r in records {
        s.routes.insert(Ipv4Network::from(r.logical));
        if let Ok(pool) = Ipv4Network::new(r.physical, r.prefix_len) {
            if let Ok(net) = Ipv4Network::new(pool.network(), pool.prefix()) {
                s.routes.insert(net);
            }
        }
        if r.host.as_deref() == Some(host) {
            s.addresses.insert(r.physical);
        } else if let Some(mac) = r.mac.as_deref().and_then(parse_mac) {
            s.neighbours.insert(r.physical, mac);
        }
    }
    // A VIP that is also one of this host's addresses needs no route of ours.
    for a in &s.addresses {
        s.routes.remove(&Ipv4Network::from(*a));
    }
    s
}

/// One change to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// Remove an address.
    DelAddress(Ipv4Addr),
    /// Remove a route.
    DelRoute(Ipv4Network),
    /// Remove a neighbour entry.
    DelNeighbour(Ipv4Addr),
    /// Add an address (/32).
    AddAddress(Ipv4Addr),
    /// Add a route.
    AddRoute(Ipv4Network),
    /// Add or replace a neighbour entry.
    SetNeighbour(Ipv4Addr, MacAddr),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::DelAddress(a) => write!(f, "- address {a}/32"),
            Change::DelRoute(r) => write!(f, "- route {r}"),
            Change::DelNeighbour(a) => write!(f, "- neighbour {a}"),
            Change::AddAddress(a) => write!(f, "+ address {a}/32"),
            Change::AddRoute(r) => write!(f, "+ route {r}"),
            Change::SetNeighbour(a, m) => write!(f, "+ neighbour {a} lladdr {m}"),
        }
    }
}

/// The changes taking `have` (what the agent owns now) to `want`: removals first, so an
/// address moving between kinds never exists twice.
pub fn plan(want: &HostState, have: &HostState) -> Vec<Change> {
    let mut out = Vec::new();
    out.extend(
        have.addresses
            .difference(&want.addresses)
            .map(|a| Change::DelAddress(*a)),
    );
    out.extend(
        have.routes
            .difference(&want.routes)
            .map(|r| Change::DelRoute(*r)),
    );
    // A neighbour whose MAC changed is replaced in place, not removed first.
    out.extend(
        have.neighbours
            .keys()
            .filter(|ip| !want.neighbours.contains_key(ip))
            .map(|ip| Change::DelNeighbour(*ip)),
    );
    out.extend(
        want.addresses
            .difference(&have.addresses)
            .map(|a| Change::AddAddress(*a)),
    );
    out.extend(
        want.routes
            .difference(&have.routes)
            .map(|r| Change::AddRoute(*r)),
    );
    for (ip, mac) in &want.neighbours {
        if have.neighbours.get(ip) != Some(mac) {
            out.push(Change::SetNeighbour(*ip, *mac));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::LeaseKind;

    fn rec(physical: [u8; 4], host: Option<&str>, mac: Option<&str>) -> AddressRecord {
        AddressRecord {
            tenant: "red".into(),
            logical: Ipv4Addr::new(192, 0, 2, 10),
            physical: Ipv4Addr::from(physical),
            prefix_len: 24,
            owner: "web".into(),
            kind: LeaseKind::PreAssigned,
            mac: mac.map(str::to_string),
            host: host.map(str::to_string),
        }
    }

    #[test]
    fn this_hosts_addresses_other_instances_neighbours_and_routes_to_vip_and_pool() {
        let records = [
            rec([10, 1, 0, 2], Some("h1"), None),
            rec([10, 1, 0, 3], Some("h2"), Some("02:00:00:00:00:03")),
            rec([10, 1, 0, 4], None, None),
        ];
        let s = desired(&records, "h1");
        assert_eq!(
            s.addresses.iter().copied().collect::<Vec<_>>(),
            vec![Ipv4Addr::new(10, 1, 0, 2)]
        );
        let routes: Vec<String> = s.routes.iter().map(|r| r.to_string()).collect();
        assert_eq!(routes, vec!["10.1.0.0/24", "192.0.2.10/32"]);
        assert_eq!(
            s.neighbours.get(&Ipv4Addr::new(10, 1, 0, 3)),
            Some(&MacAddr([2, 0, 0, 0, 0, 3]))
        );
        assert_eq!(s.neighbours.len(), 1);
    }

    #[test]
    fn the_plan_removes_only_what_it_had_and_adds_what_is_missing() {
        let want = desired(&[rec([10, 1, 0, 2], Some("h1"), None)], "h1");
        let mut have = HostState::default();
        have.addresses.insert(Ipv4Addr::new(10, 1, 0, 9));
        have.routes.insert("10.1.0.0/24".parse().expect("net"));
        have.neighbours
            .insert(Ipv4Addr::new(10, 1, 0, 7), MacAddr([2, 0, 0, 0, 0, 7]));
        let lines: Vec<String> = plan(&want, &have).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            lines,
            vec![
                "- address 10.1.0.9/32",
                "- neighbour 10.1.0.7",
                "+ address 10.1.0.2/32",
                "+ route 192.0.2.10/32",
            ]
        );
        assert!(plan(&want, &want).is_empty(), "converged: nothing to do");
    }
}
