//! The data-plane state a service wants on the current topology, as core [`Action`]s, and the
//! diff against what was last asked for (desired state: the registry remembers what it emitted
//! per service and only emits what changed).
//!
//! Per service: one `SetServiceBackends` (every device, with its egress port towards each
//! backend) and one `SetTranslation` per instance address, running or shadow. A service with
//! no devices to program wants nothing.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use prescient_topology::{DeviceId, MacAddr, PortNo, PortRef, Snapshot};

use super::model::ServiceSpec;
use crate::vocab::{Action, BackendTarget, ServiceHop};

/// What one service has asked of the switches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Programmed {
    /// The balancing entry, if any.
    pub backends: Option<Action>,
    /// Translations by instance address.
    pub translations: BTreeMap<Ipv4Addr, Action>,
}

/// First hops between switches, computed once per topology version: every service's
/// backends share them, so re-programming after a change costs one path per switch pair
/// instead of one per switch, backend and service.
#[derive(Debug, Clone, Default)]
pub struct Egress {
    version: Option<u64>,
    first_hop: HashMap<(DeviceId, DeviceId), Option<PortNo>>,
}

impl Egress {
    /// The port on `device` towards `at` (the host's port when it is on `device`).
    pub fn port(&mut self, snapshot: &Snapshot, device: DeviceId, at: PortRef) -> Option<PortNo> {
        if at.device == device {
            return Some(at.port);
        }
        if self.version != Some(snapshot.version()) {
            self.version = Some(snapshot.version());
            self.first_hop.clear();
        }
        *self
            .first_hop
            .entry((device, at.device))
            .or_insert_with(|| {
                snapshot
                    .shortest_path(device, at.device)
                    .ok()
                    .and_then(|p| p.links.first().map(|l| l.src.port))
            })
    }
}

/// What `spec` (with service number `id` and these shadow addresses) wants on `snapshot`.
pub fn desired(
    id: u32,
    spec: &ServiceSpec,
    shadows: &[Ipv4Addr],
    snapshot: &Snapshot,
    egress: &mut Egress,
) -> Programmed {
    let devices: Vec<DeviceId> = snapshot.devices().to_vec();
    if devices.is_empty() {
        return Programmed::default();
    }
    let backends: Vec<BackendTarget> = spec
        .backends
        .iter()
        .map(|b| BackendTarget {
            ip: b.ip,
            mac: b.mac,
            weight: b.weight,
        })
        .collect();
    let places: Vec<Option<PortRef>> = spec.backends.iter().map(|b| snapshot.host(b.mac)).collect();
    let hops = devices
        .iter()
        .map(|d| ServiceHop {
            device: *d,
            ports: places
                .iter()
                .map(|at| at.and_then(|at| egress.port(snapshot, *d, at)))
                .collect(),
        })
        .collect();
    let balance = (!backends.is_empty()).then(|| Action::SetServiceBackends {
        service_id: id,
        service: spec.name.clone(),
        vip: spec.vip,
        backends,
        hops,
    });
    let own: Vec<MacAddr> = spec.backends.iter().map(|b| b.mac).collect();
    let clients: Vec<(MacAddr, PortRef)> = snapshot
        .view()
        .hosts
        .iter()
        .filter(|(mac, _)| !own.contains(mac))
        .map(|(mac, at)| (*mac, *at))
        .collect();
    let translations = spec
        .backends
        .iter()
        .map(|b| b.ip)
        .chain(shadows.iter().copied())
        .map(|ip| {
            (
                ip,
                Action::SetTranslation {
                    service_id: id,
                    service: spec.name.clone(),
                    logical_ip: spec.vip,
                    logical_mac: spec.logical_mac(),
                    physical_ip: ip,
                    devices: devices.clone(),
                    clients: clients.clone(),
                },
            )
        })
        .collect();
    Programmed {
        backends: balance,
        translations,
    }
}

/// The actions that take the switches from `had` to `want`.
pub fn diff(had: &Programmed, want: &Programmed) -> Vec<Action> {
    let mut out = Vec::new();
    for (ip, old) in &had.translations {
        if want.translations.contains_key(ip) {
            continue;
        }
        if let Action::SetTranslation {
            service_id,
            service,
            logical_ip,
            devices,
            ..
        } = old
        {
            out.push(Action::RemoveTranslation {
                service_id: *service_id,
                service: service.clone(),
                logical_ip: *logical_ip,
                physical_ip: *ip,
                devices: devices.clone(),
            });
        }
    }
    match (&had.backends, &want.backends) {
        (Some(a), Some(b)) if a == b => {}
        (_, Some(b)) => out.push(b.clone()),
        (
            Some(Action::SetServiceBackends {
                service_id,
                service,
                vip,
                hops,
                ..
            }),
            None,
        ) => out.push(Action::SetServiceBackends {
            service_id: *service_id,
            service: service.clone(),
            vip: *vip,
            backends: Vec::new(),
            hops: hops
                .iter()
                .map(|h| ServiceHop {
                    device: h.device,
                    ports: Vec::new(),
                })
                .collect(),
        }),
        _ => {}
    }
    for (ip, new) in &want.translations {
        if had.translations.get(ip) != Some(new) {
            out.push(new.clone());
        }
    }
    out
}
