//! The P4 plan: the part of the core's actions that P4Runtime devices carry out, kept as desired
//! state (what should hold now) rather than as a queue of commands, so a device that was away,
//! restarted or lost a write is simply reconciled to it again.
//!
//! Invariants: a reservation or steered path is held only while its action touches at least
//! one P4Runtime device; an action that moves its subject entirely onto OpenFlow devices removes
//! the earlier record. Translations and service backends are fabric-wide (every P4Runtime
//! device holds them, including devices that join later), so they are held whatever devices
//! their action listed. [`P4Plan::apply`] is the only writer.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use prescient_topology::{LinkKey, MacAddr, PortRef, Protocol, ReservationId, Subject};

use crate::core::records::BackendTarget;
use crate::core::Action;

/// A reservation to police (and pin) on the P4 hops of its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterPlan {
    /// Which traffic.
    pub subject: Subject,
    /// Reserved rate, bits/s.
    pub rate_bps: u64,
    /// Whether a meter drops what exceeds the rate (API reservations); a forecast reservation
    /// only pins its path.
    pub police: bool,
    /// Egress port of every hop, source first (all protocols: the path is validated whole).
    pub ports: Vec<PortRef>,
}

/// A host pair steered onto a path (the planner moving it off a link predicted hot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SteerPlan {
    /// Links in order, source first.
    pub links: Vec<LinkKey>,
    /// The decision that asked for it (newer decisions take precedence).
    pub decision: u64,
}

/// Replies from an instance rewritten to come from its service's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TranslationPlan {
    /// The address clients use.
    pub logical_ip: Ipv4Addr,
    /// The MAC clients see for it.
    pub logical_mac: MacAddr,
}

/// Everything P4 devices should carry out, across all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct P4Plan {
    meters: BTreeMap<ReservationId, MeterPlan>,
    steered: BTreeMap<(MacAddr, MacAddr), SteerPlan>,
    translations: BTreeMap<Ipv4Addr, TranslationPlan>,
    services: BTreeMap<Ipv4Addr, Vec<BackendTarget>>,
}

fn p4(port: &PortRef) -> bool {
    port.device.protocol == Protocol::P4Runtime
}

impl P4Plan {
    /// An empty plan.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one core action into the plan; true when the plan changed. Actions that touch no
    /// P4Runtime device (and replace nothing that did) leave it as it is.
    pub fn apply(&mut self, action: &Action) -> bool {
        let before = self.clone();
        if let Action::InstallMeter {
            reservation,
            subject,
            rate_bps,
            police,
            ports,
        } = action
        {
            if ports.iter().any(p4) {
                let plan = MeterPlan {
                    subject: subject.clone(),
                    rate_bps: *rate_bps,
                    police: *police,
                    ports: ports.clone(),
                };
                self.meters.insert(*reservation, plan);
            } else {
                self.meters.remove(reservation);
            }
        } else if let Action::RemoveMeter { reservation, .. } = action {
            self.meters.remove(reservation);
        } else if let Action::InstallPath {
            src,
            dst,
            links,
            decision,
            // P4 devices route every known host from its own device: the last hop needs no pin.
            ..
        } = action
        {
            if links.iter().any(|l| p4(&l.src)) {
                let plan = SteerPlan {
                    links: links.clone(),
                    decision: *decision,
                };
                self.steered.insert((*src, *dst), plan);
            } else {
                self.steered.remove(&(*src, *dst));
            }
        } else if let Action::SetTranslation {
            logical_ip,
            logical_mac,
            physical_ip,
            ..
        } = action
        {
            let t = TranslationPlan {
                logical_ip: *logical_ip,
                logical_mac: *logical_mac,
            };
            self.translations.insert(*physical_ip, t);
        } else if let Action::RemoveTranslation { physical_ip, .. } = action {
            self.translations.remove(physical_ip);
        } else if let Action::SetServiceBackends { vip, backends, .. } = action {
            if backends.is_empty() {
                self.services.remove(vip);
            } else {
                self.services.insert(*vip, backends.clone());
            }
        }
        *self != before
    }

    /// Reservations to meter, by id.
    pub fn meters(&self) -> &BTreeMap<ReservationId, MeterPlan> {
        &self.meters
    }

    /// Steered host pairs, by (source, destination).
    pub fn steered(&self) -> &BTreeMap<(MacAddr, MacAddr), SteerPlan> {
        &self.steered
    }

    /// Reverse translations, by instance (physical) address.
    pub fn translations(&self) -> &BTreeMap<Ipv4Addr, TranslationPlan> {
        &self.translations
    }

    /// Service backends, by virtual address.
    pub fn services(&self) -> &BTreeMap<Ipv4Addr, Vec<BackendTarget>> {
        &self.services
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prescient_topology::{DeviceId, PortNo};

    fn port(device: DeviceId, no: u32) -> PortRef {
        PortRef {
            device,
            port: PortNo(no),
        }
    }

    fn meter(id: u64, ports: Vec<PortRef>) -> Action {
        Action::InstallMeter {
            reservation: ReservationId(id),
            subject: Subject::HostPair {
                src: MacAddr([2, 0, 0, 0, 0, 1]),
                dst: MacAddr([2, 0, 0, 0, 0, 2]),
            },
            rate_bps: 8_000_000,
            police: true,
            ports,
        }
    }

    #[test]
    fn only_actions_touching_p4_devices_enter_the_plan() {
        let mut plan = P4Plan::new();
        let of_only = meter(1, vec![port(DeviceId::openflow(1), 2)]);
        assert!(!plan.apply(&of_only));
        assert!(plan.meters().is_empty());
        let mixed = meter(
            2,
            vec![
                port(DeviceId::openflow(1), 2),
                port(DeviceId::p4runtime(3), 1),
            ],
        );
        assert!(plan.apply(&mixed));
        assert!(!plan.apply(&mixed), "the same action twice changes nothing");
        assert_eq!(plan.meters().len(), 1);
        let remove = Action::RemoveMeter {
            reservation: ReservationId(2),
            ports: Vec::new(),
        };
        assert!(plan.apply(&remove));
        assert!(plan.meters().is_empty());
    }

    #[test]
    fn a_steer_moved_onto_openflow_only_drops_the_p4_record() {
        let (a, b) = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
        let link = |d: DeviceId| LinkKey {
            src: port(d, 1),
            dst: port(DeviceId::openflow(9), 1),
        };
        let steer = |d: DeviceId, decision| Action::InstallPath {
            src: a,
            dst: b,
            links: vec![link(d)],
            exit: None,
            decision,
        };
        let mut plan = P4Plan::new();
        assert!(plan.apply(&steer(DeviceId::p4runtime(1), 4)));
        assert_eq!(plan.steered()[&(a, b)].decision, 4);
        assert!(plan.apply(&steer(DeviceId::openflow(1), 5)));
        assert!(plan.steered().is_empty());
    }

    #[test]
    fn translations_and_services_are_set_replaced_and_removed() {
        let vip = Ipv4Addr::new(100, 64, 0, 1);
        let physical = Ipv4Addr::new(10, 0, 0, 7);
        let mac = MacAddr([2, 0, 0, 0, 0, 7]);
        let set = |logical_ip| Action::SetTranslation {
            service_id: 1,
            service: "web".into(),
            logical_ip,
            logical_mac: mac,
            physical_ip: physical,
            devices: Vec::new(),
            clients: Vec::new(),
        };
        let mut plan = P4Plan::new();
        assert!(plan.apply(&set(vip)));
        assert!(!plan.apply(&set(vip)));
        assert_eq!(plan.translations()[&physical].logical_ip, vip);
        assert!(plan.apply(&Action::RemoveTranslation {
            service_id: 1,
            service: "web".into(),
            logical_ip: vip,
            physical_ip: physical,
            devices: Vec::new(),
        }));
        assert!(plan.translations().is_empty());

        let backends = |n: usize| Action::SetServiceBackends {
            service_id: 1,
            service: "web".into(),
            vip,
            backends: vec![
                BackendTarget {
                    ip: physical,
                    mac,
                    weight: 1,
                };
                n
            ],
            hops: Vec::new(),
        };
        assert!(plan.apply(&backends(2)));
        assert_eq!(plan.services()[&vip].len(), 2);
        assert!(plan.apply(&backends(0)), "no backends removes the service");
        assert!(plan.services().is_empty());
    }
}
