use std::collections::BTreeMap;

use prescient_topology::{FlowMatch, PortNo, ReservationId, SnapshotLink};

use super::*;
use crate::core::Action;

const GIG: u64 = 1_000_000_000;

fn p4(d: u64, port: u32) -> PortRef {
    PortRef {
        device: DeviceId::p4runtime(d),
        port: PortNo(port),
    }
}

fn mac(n: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, n])
}

fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, n)
}

/// A ring of `n` P4 devices (port 2 of i to port 1 of i+1, both directions), with hosts
/// `(mac n, ip n)` at `(device, port)`.
fn ring(n: u64, hosts: &[(u8, u64, u32, bool)]) -> Fabric {
    let mut links = Vec::new();
    for i in 1..=n {
        let j = i % n + 1;
        for key in [
            LinkKey {
                src: p4(i, 2),
                dst: p4(j, 1),
            },
            LinkKey {
                src: p4(j, 1),
                dst: p4(i, 2),
            },
        ] {
            links.push(SnapshotLink {
                key,
                capacity_bps: GIG,
                cost: 1,
            });
        }
    }
    let devices = (1..=n).map(DeviceId::p4runtime).collect();
    let at: BTreeMap<MacAddr, PortRef> = hosts
        .iter()
        .map(|&(h, d, port, _)| (mac(h), p4(d, port)))
        .collect();
    let snapshot = Arc::new(Snapshot::build(Timestamp(1), 1, devices, links, at));
    let hosts = hosts
        .iter()
        .map(|&(h, d, port, with_ip)| {
            let entry = HostEntry {
                at: p4(d, port),
                ips: if with_ip {
                    BTreeSet::from([ip(h)])
                } else {
                    BTreeSet::new()
                },
                last_seen: Timestamp(u64::from(h)),
                port_bps: Some(GIG),
            };
            (mac(h), entry)
        })
        .collect();
    Fabric { snapshot, hosts }
}

fn route_port(e: &DeviceEntries, to: Ipv4Addr) -> Option<u16> {
    match e.entries.get(&EntryKey::Route(to)) {
        Some(Intent::ForwardToPort { port, .. }) => Some(*port),
        _ => None,
    }
}

#[test]
fn every_device_routes_every_addressed_host_keeping_host_macs() {
    // Ring of 4; h1 on device 1 port 3, h3 on device 3 port 3.
    let fabric = ring(4, &[(1, 1, 3, true), (3, 3, 3, true)]);
    let plan = P4Plan::new();
    let d1 = device_entries(DeviceId::p4runtime(1), &fabric, &plan);
    assert_eq!(route_port(&d1, ip(1)), Some(3), "own host: its port");
    match d1.entries.get(&EntryKey::Route(ip(1))) {
        Some(Intent::ForwardToPort {
            dst_mac,
            prefix_len,
            ..
        }) => {
            assert_eq!(*dst_mac, mac(1).0, "the host's own MAC, not a router's");
            assert_eq!(*prefix_len, 32);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        d1.entries.get(&EntryKey::Reverse(ip(1))),
        Some(&Intent::TranslateReverse {
            physical_ip: ip(1),
            logical_ip: ip(1),
            logical_mac: mac(1).0,
        }),
        "the identity entry restores the source MAC"
    );
    // Device 2 sits between them: towards 1 by port 1, towards 3 by port 2.
    let d2 = device_entries(DeviceId::p4runtime(2), &fabric, &plan);
    assert_eq!(route_port(&d2, ip(1)), Some(1));
    assert_eq!(route_port(&d2, ip(3)), Some(2));
    assert_eq!(d2.entries.len(), 4, "two routes, two identity entries");
    assert!(d2.notes.is_empty(), "{:?}", d2.notes);
}

#[test]
fn following_next_hops_reaches_the_host_from_every_device() {
    let fabric = ring(5, &[(4, 4, 3, true)]);
    let plan = P4Plan::new();
    for start in 1..=5u64 {
        let mut at = start;
        for _ in 0..5 {
            let e = device_entries(DeviceId::p4runtime(at), &fabric, &plan);
            let port = route_port(&e, ip(4)).expect("a route");
            if at == 4 {
                assert_eq!(port, 3);
                break;
            }
            let link = fabric
                .snapshot
                .links()
                .iter()
                .find(|l| l.src == p4(at, u32::from(port)))
                .expect("the route leaves by a link");
            at = link.dst.device.id;
        }
        assert_eq!(at, 4, "from {start}");
    }
}

#[test]
fn hosts_without_addresses_get_no_route() {
    let fabric = ring(3, &[(1, 1, 3, false), (2, 2, 3, true)]);
    let e = device_entries(DeviceId::p4runtime(1), &fabric, &P4Plan::new());
    assert_eq!(e.entries.len(), 2, "{:?}", e.entries);
    assert!(route_port(&e, ip(2)).is_some());
}

fn reservation(id: u64, subject: Subject, rate_bps: u64, ports: Vec<PortRef>) -> Action {
    Action::InstallMeter {
        reservation: ReservationId(id),
        subject,
        rate_bps,
        police: true,
        ports,
    }
}

fn pair(a: u8, b: u8) -> Subject {
    Subject::HostPair {
        src: mac(a),
        dst: mac(b),
    }
}

fn meter_of(e: &DeviceEntries, s: u8, d: u8) -> Option<(i64, i64, i64, i64)> {
    match e.entries.get(&pair_meter_key(ip(s), ip(d))) {
        Some(Intent::MeterFlow {
            cir,
            cburst,
            pir,
            pburst,
            ..
        }) => Some((*cir, *cburst, *pir, *pburst)),
        _ => None,
    }
}

#[test]
fn a_reservation_meters_its_addresses_in_bytes_on_every_hop() {
    // h1 on 1, h3 on 3; reserve 10 Mbit/s over 1 -> 2 -> 3.
    let fabric = ring(4, &[(1, 1, 3, true), (3, 3, 3, true)]);
    let mut plan = P4Plan::new();
    plan.apply(&reservation(
        7,
        pair(1, 3),
        10_000_000,
        vec![p4(1, 2), p4(2, 2)],
    ));
    for d in [1, 2] {
        let e = device_entries(DeviceId::p4runtime(d), &fabric, &plan);
        let (cir, cburst, pir, pburst) = meter_of(&e, 1, 3).expect("metered");
        assert_eq!(cir, 1_250_000, "10 Mbit/s is 1.25 MB/s");
        assert_eq!(cburst, 125_000, "100 ms of the rate, as on OpenFlow");
        assert_eq!(
            (pir, pburst),
            (cir, cburst),
            "peak = committed: above the reservation is red (dropped, as on OpenFlow)"
        );
    }
    let d3 = device_entries(DeviceId::p4runtime(3), &fabric, &plan);
    assert_eq!(meter_of(&d3, 1, 3), None, "device 3 is not an egress hop");
}

#[test]
fn a_host_without_an_address_is_explained_and_metered_once_learned() {
    let mut fabric = ring(3, &[(1, 1, 3, true), (2, 2, 3, false)]);
    let mut plan = P4Plan::new();
    plan.apply(&reservation(3, pair(1, 2), 1_000_000, vec![p4(1, 2)]));
    let e = device_entries(DeviceId::p4runtime(1), &fabric, &plan);
    assert_eq!(meter_of(&e, 1, 2), None);
    assert!(
        e.notes
            .iter()
            .any(|n| n.contains("reservation 3") && n.contains("no known IPv4 address")),
        "{:?}",
        e.notes
    );
    if let Some(h) = fabric.hosts.get_mut(&mac(2)) {
        h.ips.insert(ip(2));
    }
    let e = device_entries(DeviceId::p4runtime(1), &fabric, &plan);
    assert_eq!(meter_of(&e, 1, 2).map(|m| m.0), Some(125_000));
    assert!(e.notes.is_empty(), "{:?}", e.notes);
}

#[test]
fn reservations_of_one_pair_add_up() {
    let fabric = ring(3, &[(1, 1, 3, true), (2, 2, 3, true)]);
    let mut plan = P4Plan::new();
    plan.apply(&reservation(1, pair(1, 2), 8_000, vec![p4(1, 2)]));
    plan.apply(&reservation(2, pair(1, 2), 16_000, vec![p4(1, 2)]));
    let e = device_entries(DeviceId::p4runtime(1), &fabric, &plan);
    assert_eq!(meter_of(&e, 1, 2).map(|m| m.0), Some(3_000));
}

#[test]
fn a_reservation_pins_its_long_way_round_and_a_broken_pin_is_ignored() {
    // Ring of 4, h2 on device 2. Shortest from 1 is 1 -> 2 (port 2); the reservation goes
    // 1 -> 4 -> 3 -> 2 (ports 1, then 4's port 1, 3's port 1).
    let fabric = ring(4, &[(1, 1, 3, true), (2, 2, 3, true)]);
    let mut plan = P4Plan::new();
    let long = vec![p4(1, 1), p4(4, 1), p4(3, 1)];
    plan.apply(&reservation(9, pair(1, 2), 1_000_000, long));
    let port = |d: u64, plan: &P4Plan, fabric: &Fabric| {
        route_port(&device_entries(DeviceId::p4runtime(d), fabric, plan), ip(2))
    };
    assert_eq!(port(1, &plan, &fabric), Some(1));
    assert_eq!(port(4, &plan, &fabric), Some(1));
    assert_eq!(port(3, &plan, &fabric), Some(1));
    // A pin that does not end at the host's device is not followed.
    let mut stale = P4Plan::new();
    stale.apply(&reservation(
        9,
        pair(1, 2),
        1_000_000,
        vec![p4(1, 1), p4(4, 1)],
    ));
    assert_eq!(
        port(1, &stale, &fabric),
        Some(2),
        "back to the shortest path"
    );
}

#[test]
fn a_steered_path_pins_its_destination_and_newer_decisions_win() {
    let fabric = ring(4, &[(1, 1, 3, true), (2, 2, 3, true)]);
    let link = |a: (u64, u32), b: (u64, u32)| LinkKey {
        src: p4(a.0, a.1),
        dst: p4(b.0, b.1),
    };
    let long = vec![
        link((1, 1), (4, 2)),
        link((4, 1), (3, 2)),
        link((3, 1), (2, 2)),
    ];
    let short = vec![link((1, 2), (2, 1))];
    let mut plan = P4Plan::new();
    plan.apply(&Action::InstallPath {
        src: mac(1),
        dst: mac(2),
        links: long,
        exit: None,
        decision: 5,
    });
    let at1 = |plan: &P4Plan| {
        route_port(
            &device_entries(DeviceId::p4runtime(1), &fabric, plan),
            ip(2),
        )
    };
    assert_eq!(at1(&plan), Some(1));
    plan.apply(&Action::InstallPath {
        src: mac(3),
        dst: mac(2),
        links: short,
        exit: None,
        decision: 6,
    });
    assert_eq!(at1(&plan), Some(2), "decision 6 is newer");
}

#[test]
fn green_traffic_gets_the_reserved_priority_only_when_asked() {
    let fabric = ring(3, &[(1, 1, 3, true), (2, 1, 4, true)]);
    let mut plan = P4Plan::new();
    plan.apply(&reservation(4, pair(1, 2), 80_000_000, vec![p4(1, 4)]));
    let mut e = device_entries(DeviceId::p4runtime(1), &fabric, &plan);
    let priority = |e: &DeviceEntries| match e.entries.get(&pair_meter_key(ip(1), ip(2))) {
        Some(Intent::MeterFlow {
            reserved_priority, ..
        }) => Some(*reserved_priority),
        _ => None,
    };
    assert_eq!(
        priority(&e),
        Some(0),
        "one queue unless the target has more"
    );
    with_reserved_priority(&mut e, 1);
    assert_eq!(priority(&e), Some(1));
}

#[test]
fn rates_convert_to_bytes_rounding_up() {
    assert_eq!(bytes_per_second(0), 0);
    assert_eq!(bytes_per_second(1), 1);
    assert_eq!(bytes_per_second(8_000_001), 1_000_001);
    assert_eq!(
        bytes_per_second(u64::MAX),
        i64::try_from(u64::MAX / 8 + 1).unwrap_or(0)
    );
}

#[test]
fn a_reservation_within_one_switch_meters_at_the_host_port() {
    // Both hosts on device 1; the core meters at the egress port towards the destination.
    let fabric = ring(3, &[(1, 1, 3, true), (2, 1, 4, true)]);
    let mut plan = P4Plan::new();
    plan.apply(&reservation(4, pair(1, 2), 80_000_000, vec![p4(1, 4)]));
    let e = device_entries(DeviceId::p4runtime(1), &fabric, &plan);
    let (cir, _, pir, _) = meter_of(&e, 1, 2).expect("metered");
    assert_eq!((cir, pir), (10_000_000, 10_000_000));
    assert_eq!(route_port(&e, ip(2)), Some(4));
}

#[test]
fn a_translation_replaces_the_identity_entry_and_services_reach_every_device() {
    let fabric = ring(3, &[(1, 1, 3, true), (2, 2, 3, true)]);
    let vip = Ipv4Addr::new(100, 64, 0, 1);
    let vmac = MacAddr([2, 0xaa, 0, 0, 0, 1]);
    let mut plan = P4Plan::new();
    plan.apply(&Action::SetTranslation {
        service_id: 1,
        service: "web".into(),
        logical_ip: vip,
        logical_mac: vmac,
        physical_ip: ip(2),
        devices: Vec::new(),
        clients: Vec::new(),
    });
    plan.apply(&Action::SetServiceBackends {
        service_id: 1,
        service: "web".into(),
        vip,
        backends: vec![crate::core::records::BackendTarget {
            ip: ip(2),
            mac: mac(2),
            weight: 0,
        }],
        hops: Vec::new(),
    });
    for d in 1..=3 {
        let e = device_entries(DeviceId::p4runtime(d), &fabric, &plan);
        assert_eq!(
            e.entries.get(&EntryKey::Reverse(ip(2))),
            Some(&Intent::TranslateReverse {
                physical_ip: ip(2),
                logical_ip: vip,
                logical_mac: vmac.0,
            })
        );
        assert!(
            e.entries.contains_key(&EntryKey::Reverse(ip(1))),
            "other hosts keep their identity entry"
        );
        match e.entries.get(&EntryKey::Service(vip)) {
            Some(Intent::ServiceBackends { backends, .. }) => {
                assert_eq!(backends.len(), 1);
                assert_eq!(backends[0].weight, 1, "a zero weight still gets traffic");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn the_fabric_cache_reads_once_per_interval_and_counts_real_changes() {
    use crate::core::{CoreConfig, SharedCore};
    use prescient_topology::Port;

    let core = SharedCore::new(CoreConfig::default());
    let cache = FabricCache::default();
    let age = std::time::Duration::from_millis(100);
    let t0 = tokio::time::Instant::now();
    let (g0, f0) = cache.get(&core, t0, age);
    assert!(f0.hosts.is_empty());
    let device = DeviceId::p4runtime(1);
    let port3 = Port {
        no: PortNo(3),
        name: "p3".into(),
        mac: port_mac(1, 3),
        up: true,
        reported_speed_bps: Some(GIG),
    };
    let now = core.now();
    core.apply(|c| c.device_up(now, device, vec![port3]));
    core.apply(|c| c.host_seen(now, mac(1), Some(ip(1)), p4(1, 3)))
        .expect("host seen");
    // Within the interval the cached (older) read is served.
    let (g1, f1) = cache.get(&core, t0 + age / 2, age);
    assert_eq!((g1, f1.hosts.len()), (g0, 0));
    let (g2, f2) = cache.get(&core, t0 + age, age);
    assert_eq!(g2, g0 + 1);
    assert_eq!(f2.hosts[&mac(1)].ips, BTreeSet::from([ip(1)]));
    // Seen again, nothing else changed: same generation.
    core.apply(|c| c.host_seen(core.now(), mac(1), Some(ip(1)), p4(1, 3)))
        .expect("host seen");
    let (g3, _) = cache.get(&core, t0 + age * 2, age);
    assert_eq!(g3, g2);
}

#[test]
fn each_host_pair_is_counted_where_its_source_enters() {
    // h1 and h2 on device 1, h3 on device 3, h4 without an address on device 2.
    let fabric = ring(
        3,
        &[
            (1, 1, 3, true),
            (2, 1, 4, true),
            (3, 3, 3, true),
            (4, 2, 3, false),
        ],
    );
    let pairs = |d: u64| -> Vec<(Ipv4Addr, Ipv4Addr)> {
        device_entries(DeviceId::p4runtime(d), &fabric, &P4Plan::new())
            .entries
            .keys()
            .filter_map(|k| match k {
                EntryKey::Pair(s, d) => Some((*s, *d)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        pairs(1),
        vec![
            (ip(1), ip(2)),
            (ip(1), ip(3)),
            (ip(2), ip(1)),
            (ip(2), ip(3))
        ]
    );
    assert_eq!(pairs(2), vec![], "h4 has no address to count by");
    assert_eq!(pairs(3), vec![(ip(3), ip(1)), (ip(3), ip(2))]);
}

#[test]
fn a_forecast_reservation_pins_its_path_and_is_served_from_the_reserved_queue_without_a_drop() {
    // h1 on 1, h3 on 3; a forecast reservation the long way round, 1 -> 4 -> 3.
    let fabric = ring(4, &[(1, 1, 3, true), (3, 3, 3, true)]);
    let mut plan = P4Plan::new();
    plan.apply(&Action::InstallMeter {
        reservation: ReservationId(7),
        subject: pair(1, 3),
        rate_bps: 10_000_000,
        police: false,
        ports: vec![p4(1, 1), p4(4, 1)],
    });
    for d in [1, 4] {
        let mut e = device_entries(DeviceId::p4runtime(d), &fabric, &plan);
        let (cir, cburst, pir, pburst) = meter_of(&e, 1, 3).expect("an entry of the pair");
        assert_eq!(
            (cir, cburst),
            (1_250_000, 125_000),
            "GREEN up to the forecast"
        );
        // Above the forecast YELLOW (best effort), never RED: a peak no port reaches.
        assert!(pir >= 125_000_000_000, "1 Tbit/s at least: {pir}");
        assert!(
            pburst >= cburst && pburst <= i64::from(u32::MAX),
            "{pburst}"
        );
        with_reserved_priority(&mut e, 1);
        assert!(
            matches!(
                e.entries.get(&pair_meter_key(ip(1), ip(3))),
                Some(Intent::MeterFlow {
                    reserved_priority: 1,
                    ..
                })
            ),
            "within the forecast, the reserved queue"
        );
        assert_eq!(
            route_port(&e, ip(3)),
            Some(1),
            "device {d} keeps the pair on its path"
        );
    }
    // With a client's reservation of the same addresses, the entry polices the client's rate.
    plan.apply(&reservation(
        8,
        pair(1, 3),
        2_000_000,
        vec![p4(1, 1), p4(4, 1)],
    ));
    let e = device_entries(DeviceId::p4runtime(1), &fabric, &plan);
    assert_eq!(meter_of(&e, 1, 3), Some((250_000, 25_000, 250_000, 25_000)));
}

#[test]
fn a_reserved_pair_steered_the_long_way_is_metered_there_and_keeps_the_path_when_released() {
    // h1 on 1, h3 on 3: reserved the short way 1 -> 2 -> 3, then steered 1 -> 4 -> 3, the core
    // moving the reservation with it (its meter action on the new path, after the steer).
    let fabric = ring(4, &[(1, 1, 3, true), (3, 3, 3, true)]);
    let link = |a: (u64, u32), b: (u64, u32)| LinkKey {
        src: p4(a.0, a.1),
        dst: p4(b.0, b.1),
    };
    let mut plan = P4Plan::new();
    plan.apply(&reservation(
        7,
        pair(1, 3),
        10_000_000,
        vec![p4(1, 2), p4(2, 2)],
    ));
    plan.apply(&Action::InstallPath {
        src: mac(1),
        dst: mac(3),
        links: vec![link((1, 1), (4, 2)), link((4, 1), (3, 2))],
        exit: None,
        decision: 3,
    });
    plan.apply(&reservation(
        7,
        pair(1, 3),
        10_000_000,
        vec![p4(1, 1), p4(4, 1)],
    ));
    let at = |d: u64, plan: &P4Plan| device_entries(DeviceId::p4runtime(d), &fabric, plan);
    for d in [1, 4] {
        let e = at(d, &plan);
        assert_eq!(route_port(&e, ip(3)), Some(1), "device {d} the long way");
        assert_eq!(
            meter_of(&e, 1, 3).map(|m| m.0),
            Some(1_250_000),
            "device {d}"
        );
    }
    assert_eq!(
        meter_of(&at(2, &plan), 1, 3),
        None,
        "nothing left on the old path"
    );
    // Released: the steered path stays, without a meter.
    plan.apply(&Action::RemoveMeter {
        reservation: ReservationId(7),
        ports: vec![p4(1, 1), p4(4, 1)],
    });
    for d in [1, 4] {
        let e = at(d, &plan);
        assert_eq!(route_port(&e, ip(3)), Some(1), "device {d} still steered");
        assert_eq!(meter_of(&e, 1, 3), None);
    }
}

fn meters(e: &DeviceEntries) -> Vec<(FlowKey, i32, i64)> {
    e.entries
        .values()
        .filter_map(|i| match i {
            Intent::MeterFlow {
                flow,
                priority,
                cir,
                ..
            } => Some((*flow, *priority, *cir)),
            _ => None,
        })
        .collect()
}

fn hosts_flow(a: u8, b: u8, ip_proto: Option<u8>, dst_port: Option<u16>) -> Subject {
    Subject::Flow(FlowMatch {
        src_mac: Some(mac(a)),
        dst_mac: Some(mac(b)),
        ip_proto,
        dst_port,
        ..FlowMatch::default()
    })
}

#[test]
fn a_host_to_host_flow_naming_no_address_meters_its_protocol_between_the_hosts() {
    let fabric = ring(3, &[(1, 1, 3, true), (2, 2, 3, true)]);
    let mut plan = P4Plan::new();
    plan.apply(&reservation(
        1,
        hosts_flow(1, 2, Some(17), None),
        8_000,
        vec![p4(1, 2)],
    ));
    let e = device_entries(DeviceId::p4runtime(1), &fabric, &plan);
    let udp = FlowKey {
        src: Some(ip(1)),
        dst: Some(ip(2)),
        protocol: Some(17),
        ..FlowKey::default()
    };
    assert_eq!(meters(&e), vec![(udp, flow_priority(&udp), 1_000)]);
    assert!(e.notes.is_empty(), "{:?}", e.notes);
}

#[test]
fn a_protocol_narrowed_flow_leaves_the_pairs_other_traffic_to_the_pairs_reservation() {
    // A pair reservation of 16 kbit/s and a UDP port 5001 one of 8 kbit/s, h1 -> h2.
    let fabric = ring(3, &[(1, 1, 3, true), (2, 2, 3, true)]);
    let mut plan = P4Plan::new();
    plan.apply(&reservation(1, pair(1, 2), 16_000, vec![p4(1, 2)]));
    let narrowed = Subject::Flow(FlowMatch {
        src_ip: Some(ip(1)),
        dst_ip: Some(ip(2)),
        ip_proto: Some(17),
        dst_port: Some(5001),
        ..FlowMatch::default()
    });
    plan.apply(&reservation(2, narrowed, 8_000, vec![p4(1, 2)]));
    let e = device_entries(DeviceId::p4runtime(1), &fabric, &plan);
    let m = meters(&e);
    assert_eq!(m.len(), 2, "{m:?}");
    let (pair_key, pair_priority, pair_cir) = m
        .iter()
        .copied()
        .find(|(k, ..)| k.protocol.is_none())
        .expect("the pair's entry");
    let (udp_key, udp_priority, udp_cir) = m
        .iter()
        .copied()
        .find(|(k, ..)| k.protocol == Some(17))
        .expect("the flow's entry");
    assert_eq!(
        (pair_key.src, pair_key.dst, pair_cir),
        (Some(ip(1)), Some(ip(2)), 2_000),
        "the pair alone: the flow's rate is not added to it"
    );
    assert_eq!(
        (udp_key.l4_dst, udp_key.l4_src, udp_cir),
        (Some(5001), None, 1_000)
    );
    assert!(
        udp_priority > pair_priority,
        "the flow is looked up first, as on OpenFlow"
    );
    assert!(e.notes.is_empty(), "{:?}", e.notes);
}

#[test]
fn a_switch_to_host_flow_meters_any_source_to_the_host() {
    // From device 1 (no host end) to h2: the source stays a wildcard.
    let fabric = ring(3, &[(1, 1, 3, true), (2, 2, 3, true)]);
    let mut plan = P4Plan::new();
    let to_h2 = Subject::Flow(FlowMatch {
        dst_mac: Some(mac(2)),
        dst_ip: Some(ip(2)),
        ..FlowMatch::default()
    });
    plan.apply(&reservation(5, to_h2, 8_000, vec![p4(1, 2)]));
    let e = device_entries(DeviceId::p4runtime(1), &fabric, &plan);
    let key = FlowKey {
        dst: Some(ip(2)),
        ..FlowKey::default()
    };
    assert_eq!(meters(&e), vec![(key, flow_priority(&key), 1_000)]);
    assert!(e.notes.is_empty(), "{:?}", e.notes);
}

#[test]
fn flows_of_one_match_add_up_and_more_specific_matches_come_first() {
    let fabric = ring(3, &[(1, 1, 3, true), (2, 2, 3, true)]);
    let mut plan = P4Plan::new();
    plan.apply(&reservation(
        1,
        hosts_flow(1, 2, Some(6), None),
        8_000,
        vec![p4(1, 2)],
    ));
    plan.apply(&reservation(
        2,
        hosts_flow(1, 2, Some(6), None),
        8_000,
        vec![p4(1, 2)],
    ));
    plan.apply(&reservation(
        3,
        hosts_flow(1, 2, Some(6), Some(22)),
        8_000,
        vec![p4(1, 2)],
    ));
    let e = device_entries(DeviceId::p4runtime(1), &fabric, &plan);
    let m = meters(&e);
    let tcp = m.iter().find(|(k, ..)| k.l4_dst.is_none()).expect("TCP");
    let ssh = m.iter().find(|(k, ..)| k.l4_dst == Some(22)).expect("SSH");
    assert_eq!((m.len(), tcp.2, ssh.2), (2, 2_000, 1_000));
    assert!(ssh.1 > tcp.1, "port 22 is looked up before all TCP");
}

#[test]
fn a_flow_end_host_without_an_address_is_explained() {
    let fabric = ring(3, &[(1, 1, 3, true), (2, 2, 3, false)]);
    let mut plan = P4Plan::new();
    plan.apply(&reservation(
        4,
        hosts_flow(1, 2, Some(17), None),
        8_000,
        vec![p4(1, 2)],
    ));
    let e = device_entries(DeviceId::p4runtime(1), &fabric, &plan);
    assert!(meters(&e).is_empty());
    assert!(
        e.notes
            .iter()
            .any(|n| n.contains("reservation 4") && n.contains("no known IPv4 address")),
        "{:?}",
        e.notes
    );
}

#[test]
fn a_flow_naming_no_destination_address_pins_its_path_to_the_destination_host() {
    // Ring of 4, h2 on device 2: shortest from 1 is port 2; the reservation goes the long way.
    let fabric = ring(4, &[(1, 1, 3, true), (2, 2, 3, true)]);
    let mut plan = P4Plan::new();
    let long = vec![p4(1, 1), p4(4, 1), p4(3, 1)];
    plan.apply(&reservation(
        9,
        hosts_flow(1, 2, Some(17), None),
        8_000,
        long,
    ));
    for d in [1, 4, 3] {
        let e = device_entries(DeviceId::p4runtime(d), &fabric, &plan);
        assert_eq!(route_port(&e, ip(2)), Some(1), "device {d} the long way");
        assert_eq!(meters(&e).len(), 1, "device {d} meters it");
    }
}

mod bursts;
