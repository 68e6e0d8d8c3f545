//! OpenFlow 1.3 realisation of the service actions (single table, beside L2 learning).
//!
//! - Balancing (`SetServiceBackends`): on every OpenFlow switch, IPv4 to the VIP goes to a
//!   SELECT group (OpenFlow 1.3.5 §5.6.1) whose buckets, weighted, rewrite `eth_dst`/`ipv4_dst`
//!   to a backend and output towards it. The group is deleted before it is added: ADD of an
//!   existing group is an error, DELETE of a missing one is not (§7.3.4.2), and deleting a group
//!   drops the flows using it, so the flow is re-added after the group.
//! - Reverse translation (`SetTranslation`): at each client's own switch, IPv4 from the
//!   instance to that client has its source rewritten to the VIP and its MAC, and leaves on the
//!   client's port (the last hop is where the output port is known without a second table).
//!   The previous entries of the instance are deleted first (by match, under the service
//!   cookie) so clients that left lose theirs.
//!
//! - ARP for a VIP is answered with the VIP's MAC by the switch's session itself
//!   ([`crate::openflow_app::punt::PuntFilter::vip_reply`]), not here.
//!
//! Priorities sit above steered paths and the flood guard: a packet is translated before
//! anything else decides where it goes.

use prescient_southbound::openflow::session::Command;
use prescient_southbound::openflow::wire::{
    Action as OfAction, Bucket, DatapathId, FlowMod, FlowModCommand, GroupCommand, GroupId,
    GroupMod, GroupType, Instruction, MacAddr as OfMac, Match, OxmField, PortNo as OfPort, TableId,
};
use prescient_topology::{DeviceId, Protocol};

use crate::core::records::{BackendTarget, ServiceHop};
use crate::core::Action;

/// Priority of service balancing and translation rules.
pub const SERVICE_PRIORITY: u16 = 61_000;
/// Cookie tag of service rules ("SVC"; low 32 bits: the service number).
pub const SERVICE_COOKIE: u64 = 0x5356_4300_0000_0000;
const ETH_TYPE_IPV4: u16 = 0x0800;

fn openflow(d: &DeviceId) -> Option<DatapathId> {
    (d.protocol == Protocol::OpenFlow).then_some(DatapathId(d.id))
}

fn cookie(service_id: u32) -> u64 {
    SERVICE_COOKIE | u64::from(service_id)
}

/// Group ids are 32-bit with the top range reserved; service numbers are folded into range.
fn group_id(service_id: u32) -> GroupId {
    GroupId((service_id % GroupId::MAX.0).max(1))
}

fn vip_match(vip: std::net::Ipv4Addr) -> Match {
    Match::new()
        .with(OxmField::EthType(ETH_TYPE_IPV4))
        .with(OxmField::Ipv4Dst {
            addr: vip,
            mask: None,
        })
}

fn source_match(ip: std::net::Ipv4Addr) -> Match {
    Match::new()
        .with(OxmField::EthType(ETH_TYPE_IPV4))
        .with(OxmField::Ipv4Src {
            addr: ip,
            mask: None,
        })
}

/// Deletes the service's rules matching `m` (non-strict, under its cookie).
fn delete_under_cookie(service_id: u32, m: Match) -> FlowMod {
    let mut fm = FlowMod::delete(TableId(0), m);
    fm.cookie = cookie(service_id);
    fm.cookie_mask = u64::MAX;
    fm
}

fn group_delete(service_id: u32) -> GroupMod {
    GroupMod {
        command: GroupCommand::Delete,
        group_type: GroupType::Select,
        group_id: group_id(service_id),
        buckets: Vec::new(),
    }
}

fn buckets(backends: &[BackendTarget], hop: &ServiceHop) -> Vec<Bucket> {
    backends
        .iter()
        .zip(&hop.ports)
        .filter_map(|(b, port)| {
            let port = (*port)?;
            Some(Bucket::weighted(
                b.weight.max(1),
                vec![
                    OfAction::SetField(OxmField::EthDst {
                        addr: OfMac(b.mac.0),
                        mask: None,
                    }),
                    OfAction::SetField(OxmField::Ipv4Dst {
                        addr: b.ip,
                        mask: None,
                    }),
                    OfAction::output(OfPort(port.0)),
                ],
            ))
        })
        .collect()
}

/// The messages for one service action; `None` for actions that are not about services.
pub fn commands(action: &Action) -> Option<Vec<(DatapathId, Command)>> {
    let mut out = Vec::new();
    match action {
        Action::SetServiceBackends {
            service_id,
            vip,
            backends,
            hops,
            ..
        } => {
            for hop in hops {
                let Some(dpid) = openflow(&hop.device) else {
                    continue;
                };
                let buckets = buckets(backends, hop);
                let mut flow = FlowMod::add(
                    TableId(0),
                    SERVICE_PRIORITY,
                    vip_match(*vip),
                    vec![Instruction::ApplyActions(vec![OfAction::Group(group_id(
                        *service_id,
                    ))])],
                );
                flow.cookie = cookie(*service_id);
                if buckets.is_empty() {
                    flow.command = FlowModCommand::DeleteStrict;
                    flow.instructions.clear();
                    out.push((dpid, Command::FlowMod(flow)));
                    out.push((dpid, Command::GroupMod(group_delete(*service_id))));
                    continue;
                }
                out.push((dpid, Command::GroupMod(group_delete(*service_id))));
                out.push((
                    dpid,
                    Command::GroupMod(GroupMod {
                        command: GroupCommand::Add,
                        group_type: GroupType::Select,
                        group_id: group_id(*service_id),
                        buckets,
                    }),
                ));
                out.push((dpid, Command::FlowMod(flow)));
            }
        }
        Action::SetTranslation {
            service_id,
            logical_ip,
            logical_mac,
            physical_ip,
            devices,
            clients,
            ..
        } => {
            for dpid in devices.iter().filter_map(openflow) {
                out.push((
                    dpid,
                    Command::FlowMod(delete_under_cookie(*service_id, source_match(*physical_ip))),
                ));
            }
            for (mac, at) in clients {
                let Some(dpid) = openflow(&at.device) else {
                    continue;
                };
                let m = source_match(*physical_ip).with(OxmField::EthDst {
                    addr: OfMac(mac.0),
                    mask: None,
                });
                let mut fm = FlowMod::add(
                    TableId(0),
                    SERVICE_PRIORITY,
                    m,
                    vec![Instruction::ApplyActions(vec![
                        OfAction::SetField(OxmField::EthSrc {
                            addr: OfMac(logical_mac.0),
                            mask: None,
                        }),
                        OfAction::SetField(OxmField::Ipv4Src {
                            addr: *logical_ip,
                            mask: None,
                        }),
                        OfAction::output(OfPort(at.port.0)),
                    ])],
                );
                fm.cookie = cookie(*service_id);
                out.push((dpid, Command::FlowMod(fm)));
            }
        }
        Action::RemoveTranslation {
            service_id,
            physical_ip,
            devices,
            ..
        } => {
            for dpid in devices.iter().filter_map(openflow) {
                out.push((
                    dpid,
                    Command::FlowMod(delete_under_cookie(*service_id, source_match(*physical_ip))),
                ));
            }
        }
        // Hooks reach the orchestrator through the hooks executor, not the switches.
        Action::CallHook(_) => {}
        Action::InstallMeter { .. } | Action::RemoveMeter { .. } | Action::InstallPath { .. } => {
            return None
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use prescient_topology::{MacAddr, PortNo, PortRef};

    use super::*;

    const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

    fn backend(n: u8, weight: u16) -> BackendTarget {
        BackendTarget {
            ip: Ipv4Addr::new(10, 1, 0, n),
            mac: MacAddr([0, 0, 0, 0, 1, n]),
            weight,
        }
    }

    #[test]
    fn a_vip_becomes_a_weighted_select_group_rewriting_to_each_backend() {
        let action = Action::SetServiceBackends {
            service_id: 3,
            service: "web".into(),
            vip: VIP,
            backends: vec![backend(1, 3), backend(2, 1)],
            hops: vec![
                ServiceHop {
                    device: DeviceId::openflow(1),
                    ports: vec![Some(PortNo(4)), None],
                },
                ServiceHop {
                    device: DeviceId::p4runtime(9),
                    ports: vec![Some(PortNo(1)), Some(PortNo(2))],
                },
            ],
        };
        let cmds = commands(&action).expect("a service action");
        assert_eq!(cmds.len(), 3, "P4 devices get nothing here: {cmds:?}");
        assert!(cmds.iter().all(|(d, _)| *d == DatapathId(1)));
        assert!(matches!(&cmds[0].1, Command::GroupMod(g) if g.command == GroupCommand::Delete));
        match &cmds[1].1 {
            Command::GroupMod(g) => {
                assert_eq!(g.group_type, GroupType::Select);
                assert_eq!(g.group_id, GroupId(3));
                // The unreachable backend has no bucket on this switch.
                assert_eq!(g.buckets.len(), 1);
                assert_eq!(g.buckets[0].weight, 3);
                assert_eq!(
                    g.buckets[0].actions,
                    vec![
                        OfAction::SetField(OxmField::EthDst {
                            addr: OfMac([0, 0, 0, 0, 1, 1]),
                            mask: None
                        }),
                        OfAction::SetField(OxmField::Ipv4Dst {
                            addr: Ipv4Addr::new(10, 1, 0, 1),
                            mask: None
                        }),
                        OfAction::output(OfPort(4)),
                    ]
                );
            }
            other => panic!("expected the group, got {other:?}"),
        }
        match &cmds[2].1 {
            Command::FlowMod(f) => {
                assert_eq!(f.priority, SERVICE_PRIORITY);
                assert!(f.priority > super::super::STEER_PRIORITY);
                assert_eq!(f.match_, vip_match(VIP));
                assert_eq!(
                    f.instructions,
                    vec![Instruction::ApplyActions(vec![OfAction::Group(GroupId(3))])]
                );
            }
            other => panic!("expected the flow, got {other:?}"),
        }
    }

    #[test]
    fn no_backends_removes_the_flow_and_the_group() {
        let action = Action::SetServiceBackends {
            service_id: 3,
            service: "web".into(),
            vip: VIP,
            backends: Vec::new(),
            hops: vec![ServiceHop {
                device: DeviceId::openflow(1),
                ports: Vec::new(),
            }],
        };
        let cmds = commands(&action).expect("a service action");
        assert!(
            matches!(&cmds[0].1, Command::FlowMod(f) if f.command == FlowModCommand::DeleteStrict && f.match_ == vip_match(VIP))
        );
        assert!(
            matches!(&cmds[1].1, Command::GroupMod(g) if g.command == GroupCommand::Delete && g.group_id == GroupId(3))
        );
    }

    #[test]
    fn replies_are_rewritten_to_the_vip_at_each_clients_last_hop() {
        let client = MacAddr([0, 0, 0, 0, 0, 7]);
        let action = Action::SetTranslation {
            service_id: 3,
            service: "web".into(),
            logical_ip: VIP,
            logical_mac: MacAddr([2, 0x50, 192, 0, 2, 10]),
            physical_ip: Ipv4Addr::new(10, 1, 0, 1),
            devices: vec![DeviceId::openflow(1), DeviceId::openflow(2)],
            clients: vec![(client, PortRef::new(DeviceId::openflow(2), PortNo(5)))],
        };
        let cmds = commands(&action).expect("a service action");
        assert_eq!(cmds.len(), 3);
        // Old entries go first, on every switch, only under the service's cookie.
        for (_, c) in &cmds[..2] {
            assert!(
                matches!(c, Command::FlowMod(f) if f.command == FlowModCommand::Delete && f.cookie_mask == u64::MAX && f.cookie == cookie(3))
            );
        }
        let (dpid, Command::FlowMod(f)) = &cmds[2] else {
            panic!("expected a flow: {cmds:?}");
        };
        assert_eq!(*dpid, DatapathId(2));
        assert!(f.match_.fields.contains(&OxmField::EthDst {
            addr: OfMac(client.0),
            mask: None
        }));
        assert_eq!(
            f.instructions,
            vec![Instruction::ApplyActions(vec![
                OfAction::SetField(OxmField::EthSrc {
                    addr: OfMac([2, 0x50, 192, 0, 2, 10]),
                    mask: None
                }),
                OfAction::SetField(OxmField::Ipv4Src {
                    addr: VIP,
                    mask: None
                }),
                OfAction::output(OfPort(5)),
            ])]
        );
        let remove = Action::RemoveTranslation {
            service_id: 3,
            service: "web".into(),
            logical_ip: VIP,
            physical_ip: Ipv4Addr::new(10, 1, 0, 1),
            devices: vec![DeviceId::openflow(1), DeviceId::p4runtime(4)],
        };
        assert_eq!(commands(&remove).map(|c| c.len()), Some(1));
    }
}
