//! Typed intents for the southbound ([`Action`]) and a decision before the core gives it an id
//! and a time ([`Draft`]).

use std::net::Ipv4Addr;

use prescient_topology::{DeviceId, LinkKey, MacAddr, PortNo, PortRef, ReservationId, Subject};
use serde::Serialize;

use super::hooks::HookCall;
use super::naming::{link_id, port_id};
use super::rules::Rule;

/// A protocol-neutral intent; the lead turns it into OpenFlow or P4Runtime writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Hold a reservation's traffic on its path, with its egress port on each hop; when
    /// `police`, meter it there at `rate_bps` (what exceeds it is dropped).
    InstallMeter {
        /// The reservation.
        reservation: ReservationId,
        /// Which traffic.
        subject: Subject,
        /// Bits per second.
        rate_bps: u64,
        /// Whether a meter drops what exceeds `rate_bps`: true for API reservations (a client
        /// asked for that rate), false for forecast ones (capacity set aside, never a drop).
        police: bool,
        /// Egress port of every hop, source first.
        ports: Vec<PortRef>,
    },
    /// Remove a reservation's meters from these ports.
    RemoveMeter {
        /// The reservation.
        reservation: ReservationId,
        /// Where it was installed.
        ports: Vec<PortRef>,
    },
    /// Steer a host pair's traffic onto this path (moving it off a link predicted to saturate).
    InstallPath {
        /// Source host.
        src: MacAddr,
        /// Destination host.
        dst: MacAddr,
        /// Links in order, source first.
        links: Vec<LinkKey>,
        /// The destination host's port, where the last switch delivers the pair: without an
        /// entry of the pair there, a path entering that switch over a link the flood guard
        /// blocks would end in its drop rule. `None` when the host's port is not known.
        exit: Option<PortRef>,
        /// The decision that asked for it.
        decision: u64,
    },
    /// Make replies from `physical_ip` appear to come from `logical_ip` / `logical_mac`
    /// (address translation, reverse direction). Also programmed for shadow addresses ahead of
    /// a predicted scale-out, so an instance started there is translated from its first reply.
    SetTranslation {
        /// Service number (stable for the service's life; names its switch entries).
        service_id: u32,
        /// Service name.
        service: String,
        /// The address clients use (the VIP).
        logical_ip: Ipv4Addr,
        /// The MAC clients see for it.
        logical_mac: MacAddr,
        /// The instance's real address.
        physical_ip: Ipv4Addr,
        /// Every device whose translation table holds the entry (P4: all of them).
        devices: Vec<DeviceId>,
        /// Where replies leave the fabric towards clients: each known host and its port
        /// (OpenFlow rewrites at that last hop, where the output port is known).
        clients: Vec<(MacAddr, PortRef)>,
    },
    /// Remove the translation of `physical_ip` from these devices.
    RemoveTranslation {
        /// Service number.
        service_id: u32,
        /// Service name.
        service: String,
        /// The address clients use.
        logical_ip: Ipv4Addr,
        /// The instance address no longer translated.
        physical_ip: Ipv4Addr,
        /// Devices holding it.
        devices: Vec<DeviceId>,
    },
    /// Balance traffic towards `vip` over `backends` (P4 action selector, OpenFlow select
    /// group); no backends removes the service from the data plane.
    SetServiceBackends {
        /// Service number.
        service_id: u32,
        /// Service name.
        service: String,
        /// Virtual address.
        vip: Ipv4Addr,
        /// Live backends.
        backends: Vec<BackendTarget>,
        /// Per device, the egress port towards each backend (in `backends` order; `None`:
        /// unreachable from there). P4 routes after the rewrite and ignores the ports.
        hops: Vec<ServiceHop>,
    },
    /// Ask the orchestrator (webhook or program) for compute: scale up or down, migrate.
    CallHook(HookCall),
}

/// One backend as the data plane sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BackendTarget {
    /// Physical address.
    pub ip: Ipv4Addr,
    /// Its MAC.
    pub mac: MacAddr,
    /// Relative weight (at least 1).
    pub weight: u16,
}

/// The egress ports of one device towards a service's backends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceHop {
    /// The device.
    pub device: DeviceId,
    /// One per backend, in the action's order.
    pub ports: Vec<Option<PortNo>>,
}

impl Action {
    /// One line for people (decision logs, the dashboard).
    pub fn summary(&self) -> String {
        let ports = |ps: &[PortRef]| ps.iter().map(|p| port_id(*p)).collect::<Vec<_>>().join(" ");
        match self {
            Action::InstallMeter {
                reservation,
                rate_bps,
                police: true,
                ports: ps,
                ..
            } => format!(
                "install meter for reservation {} at {} bit/s on [{}]",
                reservation.0,
                rate_bps,
                ports(ps)
            ),
            Action::InstallMeter {
                reservation,
                rate_bps,
                police: false,
                ports: ps,
                ..
            } => format!(
                "hold reservation {} ({} bit/s set aside, not policed) on [{}]",
                reservation.0,
                rate_bps,
                ports(ps)
            ),
            Action::RemoveMeter {
                reservation,
                ports: ps,
            } => format!(
                "remove meter of reservation {} from [{}]",
                reservation.0,
                ports(ps)
            ),
            Action::InstallPath {
                src, dst, links, ..
            } => format!(
                "steer {src} -> {dst} over [{}]",
                links
                    .iter()
                    .map(|l| link_id(*l))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Action::SetTranslation {
                service,
                logical_ip,
                physical_ip,
                devices,
                ..
            } => format!(
                "translate replies of {physical_ip} to {logical_ip} (service {service}) on {} device(s)",
                devices.len()
            ),
            Action::RemoveTranslation {
                service,
                physical_ip,
                devices,
                ..
            } => format!(
                "remove translation of {physical_ip} (service {service}) from {} device(s)",
                devices.len()
            ),
            Action::SetServiceBackends {
                service,
                vip,
                backends,
                ..
            } if backends.is_empty() => {
                format!("remove service {service} ({vip}) from the data plane")
            }
            Action::SetServiceBackends {
                service,
                vip,
                backends,
                ..
            } => format!(
                "balance {vip} (service {service}) over [{}]",
                backends
                    .iter()
                    .map(|b| format!("{} w{}", b.ip, b.weight))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Action::CallHook(call) => call.summary(),
        }
    }
}

/// A decision before it gets its id and time.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// The rule.
    pub rule: Rule,
    /// What it is about.
    pub subject: String,
    /// Why.
    pub reason: String,
    /// What to do.
    pub actions: Vec<Action>,
}
