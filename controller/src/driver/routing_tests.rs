//! Every action reaches the driver of each device it touches, and only that one: OpenFlow
//! commands name exactly the OpenFlow devices, the P4 plan yields entries on exactly the
//! P4Runtime devices, on a path that alternates between the two protocols.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use prescient_topology::{
    DeviceId, LinkKey, MacAddr, PortNo, PortRef, Protocol, ReservationId, Snapshot, SnapshotLink,
    Subject, Timestamp,
};

use super::p4runtime::desired::{device_entries, pair_meter_key, EntryKey, Fabric, HostEntry};
use super::p4runtime::plan::P4Plan;
use super::{devices_touched, openflow};
use crate::core::Action;

fn port(device: DeviceId, no: u32) -> PortRef {
    PortRef {
        device,
        port: PortNo(no),
    }
}

const H1: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const H4: MacAddr = MacAddr([2, 0, 0, 0, 0, 4]);

/// of:1 - p4:2 - of:3 - p4:4 in a line (port 2 to the next device's port 1), h1 on of:1 port 3,
/// h4 on p4:4 port 3, both with addresses.
fn mixed_line() -> (Vec<DeviceId>, Fabric) {
    let devices = vec![
        DeviceId::openflow(1),
        DeviceId::p4runtime(2),
        DeviceId::openflow(3),
        DeviceId::p4runtime(4),
    ];
    let mut links = Vec::new();
    for w in devices.windows(2) {
        for key in [
            LinkKey {
                src: port(w[0], 2),
                dst: port(w[1], 1),
            },
            LinkKey {
                src: port(w[1], 1),
                dst: port(w[0], 2),
            },
        ] {
            links.push(SnapshotLink {
                key,
                capacity_bps: 1_000_000_000,
                cost: 1,
            });
        }
    }
    let at = BTreeMap::from([(H1, port(devices[0], 3)), (H4, port(devices[3], 3))]);
    let snapshot = Arc::new(Snapshot::build(
        Timestamp(1),
        1,
        devices.clone(),
        links,
        at.clone(),
    ));
    let hosts = at
        .iter()
        .enumerate()
        .map(|(i, (mac, at))| {
            let entry = HostEntry {
                at: *at,
                ips: [Ipv4Addr::new(10, 0, 0, mac.0[5])].into(),
                last_seen: Timestamp(i as u64),
                port_bps: Some(1_000_000_000),
            };
            (*mac, entry)
        })
        .collect();
    (devices, Fabric { snapshot, hosts })
}

/// Devices the OpenFlow driver writes for `action`, and those the P4 plan meters on.
fn realised(action: &Action, devices: &[DeviceId], fabric: &Fabric) -> BTreeSet<DeviceId> {
    let mut out: BTreeSet<DeviceId> = openflow::commands(action)
        .into_iter()
        .map(|(dpid, _)| DeviceId::openflow(dpid.0))
        .collect();
    let mut plan = P4Plan::new();
    plan.apply(action);
    let pair = pair_meter_key(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 4));
    for d in devices.iter().filter(|d| d.protocol == Protocol::P4Runtime) {
        if device_entries(*d, fabric, &plan)
            .entries
            .contains_key(&pair)
        {
            out.insert(*d);
        }
    }
    out
}

#[test]
fn a_reservation_across_both_protocols_is_carried_out_on_exactly_its_hops() {
    let (devices, fabric) = mixed_line();
    // Egress ports of h1 -> h4: of:1 p2, p4:2 p2, of:3 p2.
    let action = Action::InstallMeter {
        reservation: ReservationId(1),
        subject: Subject::HostPair { src: H1, dst: H4 },
        rate_bps: 8_000_000,
        police: true,
        ports: devices[..3].iter().map(|d| port(*d, 2)).collect(),
    };
    let touched = devices_touched(&action);
    assert_eq!(touched, devices[..3].iter().copied().collect());
    assert_eq!(realised(&action, &devices, &fabric), touched);

    // OpenFlow commands go to OpenFlow switches only, each hop getting its meter and flow once.
    let mut per_switch: BTreeMap<u64, usize> = BTreeMap::new();
    for (dpid, _) in openflow::commands(&action) {
        *per_switch.entry(dpid.0).or_default() += 1;
    }
    assert_eq!(per_switch, BTreeMap::from([(1, 2), (3, 2)]));
}

#[test]
fn a_steered_path_reroutes_only_its_p4_hops_in_the_p4_plan() {
    let (devices, fabric) = mixed_line();
    let links: Vec<LinkKey> = devices
        .windows(2)
        .map(|w| LinkKey {
            src: port(w[0], 2),
            dst: port(w[1], 1),
        })
        .collect();
    let action = Action::InstallPath {
        src: H1,
        dst: H4,
        links,
        exit: None,
        decision: 1,
    };
    let of: BTreeSet<u64> = openflow::commands(&action)
        .into_iter()
        .map(|(d, _)| d.0)
        .collect();
    assert_eq!(of, BTreeSet::from([1, 3]));
    let mut plan = P4Plan::new();
    assert!(plan.apply(&action), "p4:2 is a hop, so the plan takes it");
    let route = |d: u64| {
        device_entries(DeviceId::p4runtime(d), &fabric, &plan)
            .entries
            .contains_key(&EntryKey::Route(Ipv4Addr::new(10, 0, 0, 4)))
    };
    assert!(route(2) && route(4));
}
