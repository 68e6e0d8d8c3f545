//! Which host pairs' traffic an API reservation holds: one answer for every question asked of
//! it (which pairs get no forecast reservation, what rate a steered pair must keep room for,
//! which reservations follow a steered pair onto its new path).
//!
//! A host-pair reservation holds its pair; a flow naming both addresses holds the pairs of the
//! hosts known with them. A flow leaving an address open matches, on every switch of its path,
//! all traffic from (or to) the address it names, at a priority above the pairs' own entries:
//! the pairs it holds are those from a host at its ingress device to one at its egress device,
//! each owning the address the flow names on its side. Like an ONOS intent whose selector
//! names one address, it is one reservation between two points, and it moves with the path of
//! the traffic it carries. A flow reserved from or to a host carries that host's MAC, and holds
//! only that host on its side. A flow naming no host holds no pair (the API refuses new ones).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use prescient_topology::{DeviceId, MacAddr, Reservation, ReservationId, Subject};

use super::ControllerCore;

/// A host pair: (source, destination) hosts.
pub(super) type Pair = (MacAddr, MacAddr);

/// What the pairs of a reservation are found from: the hosts known with each IPv4 address
/// and the hosts attached to each device.
#[derive(Debug, Default)]
pub(super) struct Hosts {
    owners: BTreeMap<Ipv4Addr, Vec<MacAddr>>,
    at: BTreeMap<DeviceId, Vec<MacAddr>>,
}

impl Hosts {
    /// The host pairs whose traffic `r` holds (see the module docs); none while the hosts
    /// are not known (such a flow is not metered on a P4 switch either until they are).
    pub(super) fn pairs(&self, r: &Reservation) -> Vec<Pair> {
        let none = Vec::new();
        match &r.request.subject {
            Subject::HostPair { src, dst } => vec![(*src, *dst)],
            Subject::Flow(f) => {
                let owners = |ip: Ipv4Addr| self.owners.get(&ip).cloned().unwrap_or_default();
                // An end reserved from a host (its MAC in the match) holds that host only.
                let named = |mac: Option<MacAddr>, ip: Option<Ipv4Addr>| match (mac, ip) {
                    (Some(mac), _) => Some(vec![mac]),
                    (None, Some(ip)) => Some(owners(ip)),
                    (None, None) => None,
                };
                match (named(f.src_mac, f.src_ip), named(f.dst_mac, f.dst_ip)) {
                    (Some(srcs), Some(dsts)) => cross(&srcs, &dsts),
                    // A flow naming no host is traffic between two switches, no pair's.
                    (None, None) => Vec::new(),
                    (s, d) => {
                        let end = |dev: DeviceId, named: Option<Vec<MacAddr>>| -> Vec<MacAddr> {
                            let here = self.at.get(&dev).unwrap_or(&none);
                            match named {
                                Some(named) => {
                                    here.iter().filter(|h| named.contains(h)).copied().collect()
                                }
                                None => here.clone(),
                            }
                        };
                        cross(&end(r.request.src, s), &end(r.request.dst, d))
                    }
                }
            }
        }
    }
}

fn cross(srcs: &[MacAddr], dsts: &[MacAddr]) -> Vec<Pair> {
    srcs.iter()
        .flat_map(|s| dsts.iter().filter(move |d| *d != s).map(move |d| (*s, *d)))
        .collect()
}

impl ControllerCore {
    /// The hosts by address and by device, as [`Hosts::pairs`] reads them.
    pub(super) fn hosts_index(&self) -> Hosts {
        let mut hosts = Hosts::default();
        for h in self.topology.hosts() {
            for ip in &h.ips {
                hosts.owners.entry(*ip).or_default().push(h.mac);
            }
            hosts.at.entry(h.at.device).or_default().push(h.mac);
        }
        hosts
    }

    /// Every API reservation (forecast ones left out) with each host pair whose traffic it
    /// holds, one item per (pair, reservation).
    pub(super) fn api_reservations_by_pair(
        &self,
    ) -> impl Iterator<Item = (Pair, &Reservation)> + '_ {
        let forecast: BTreeSet<ReservationId> =
            self.forecast_reservations().map(|(_, id)| id).collect();
        // Built once, and only when a flow names addresses: one pass over the hosts per call,
        // not one per flow reservation.
        let hosts = if self
            .ledger
            .reservations()
            .any(|r| matches!(r.request.subject, Subject::Flow(_)))
        {
            self.hosts_index()
        } else {
            Hosts::default()
        };
        self.ledger
            .reservations()
            .filter(move |r| !forecast.contains(&r.id))
            .flat_map(move |r| hosts.pairs(r).into_iter().map(move |p| (p, r)))
    }
}
