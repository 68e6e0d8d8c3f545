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
//! the traffic it carries. A flow naming no address (a reservation between two switches) holds
//! no pair.

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
                let (srcs, dsts) = match (f.src_ip, f.dst_ip) {
                    (Some(s), Some(d)) => (
                        self.owners.get(&s).unwrap_or(&none),
                        self.owners.get(&d).unwrap_or(&none),
                    ),
                    // A flow naming no address is traffic between two switches, no pair's.
                    (None, None) => return Vec::new(),
                    (s, d) => {
                        let end = |dev: DeviceId, ip: Option<Ipv4Addr>| -> Vec<MacAddr> {
                            let here = self.at.get(&dev).unwrap_or(&none);
                            match ip.map(|ip| self.owners.get(&ip).unwrap_or(&none)) {
                                Some(owning) => here
                                    .iter()
                                    .filter(|h| owning.contains(h))
                                    .copied()
                                    .collect(),
                                None => here.clone(),
                            }
                        };
                        return cross(&end(r.request.src, s), &end(r.request.dst, d));
                    }
                };
                cross(srcs, dsts)
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
