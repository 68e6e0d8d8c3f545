use std::time::Duration;

use super::*;
use crate::model::{CapacityConfig, DiscoveryConfig};

const SEC: u64 = 1_000_000_000;

fn t(secs: u64) -> Timestamp {
    Timestamp(secs * SEC)
}

fn port(no: u32, speed: Option<u64>) -> Port {
    Port {
        no: PortNo(no),
        name: format!("eth{no}"),
        mac: MacAddr([2, 0, 0, 0, 0, no as u8]),
        up: true,
        reported_speed_bps: speed,
    }
}

fn a() -> DeviceId {
    DeviceId::openflow(1)
}

fn b() -> DeviceId {
    DeviceId::p4runtime(2)
}

fn pr(d: DeviceId, p: u32) -> PortRef {
    PortRef::new(d, PortNo(p))
}

/// Two switches, a:1 <-> b:1 cabled, hosts possible on port 2 of each.
fn two_switches() -> Topology {
    let mut topo = Topology::new(TopologyConfig::default());
    topo.device_up(
        t(0),
        a(),
        vec![port(1, Some(10_000_000_000)), port(2, None)],
    );
    topo.device_up(t(0), b(), vec![port(1, Some(1_000_000_000)), port(2, None)]);
    topo
}

/// Delivers every probe across the a:1 <-> b:1 cable; returns the events.
fn deliver(topo: &mut Topology, now: Timestamp) -> Vec<TopologyEvent> {
    let probes = topo.probes(now);
    let mut events = Vec::new();
    for p in probes {
        let far = match (p.port.device == a(), p.port.port.0) {
            (true, 1) => pr(b(), 1),
            (false, 1) => pr(a(), 1),
            _ => continue,
        };
        events.extend(
            topo.lldp_frame_received(now, far, &p.frame)
                .expect("our probe"),
        );
    }
    events
}

fn mac(n: u8) -> MacAddr {
    MacAddr([0x0a, 0, 0, 0, 0, n])
}

#[test]
fn probes_discover_both_directions_then_refresh_quietly() {
    let mut topo = two_switches();
    let first = topo.probes(t(0));
    assert_eq!(first.len(), 4, "one probe per up physical port");
    let mut topo = two_switches();
    let events = deliver(&mut topo, t(0));
    assert_eq!(
        events,
        vec![
            TopologyEvent::LinkAdded {
                link: LinkKey::new(pr(a(), 1), pr(b(), 1))
            },
            TopologyEvent::LinkAdded {
                link: LinkKey::new(pr(b(), 1), pr(a(), 1))
            },
        ]
    );
    // Not yet due again.
    assert!(topo.probes(t(1)).is_empty());
    assert!(deliver(&mut topo, t(5)).is_empty());
    assert_eq!(topo.links().count(), 2);
    let snap = topo.snapshot();
    assert_eq!(snap.link_count(), 2);
    // Capacity is the smaller port: 1 Gb/s.
    assert_eq!(
        snap.capacity(LinkKey::new(pr(a(), 1), pr(b(), 1))),
        Some(1_000_000_000)
    );
}

#[test]
fn a_port_that_heard_a_late_neighbour_is_probed_at_the_next_poll() {
    let mut topo = two_switches();
    // a's probe out of a:1 is lost (b was not listening yet); b's out of b:1 reaches a:1.
    let first = topo.probes(t(0));
    let from_b = first
        .iter()
        .find(|p| p.port == pr(b(), 1))
        .expect("b probes its port 1");
    let events = topo
        .lldp_frame_received(t(0), pr(a(), 1), &from_b.frame)
        .expect("our probe");
    assert_eq!(events.len(), 1, "{events:?}");
    // Half a second later, not five: a:1 alone is probed again, and that finds a:1 -> b:1.
    let again = topo.probes(t(0).plus(Duration::from_millis(500)));
    assert_eq!(
        again.iter().map(|p| p.port).collect::<Vec<_>>(),
        vec![pr(a(), 1)]
    );
    let events = topo
        .lldp_frame_received(t(1), pr(b(), 1), &again[0].frame)
        .expect("our probe");
    assert_eq!(
        events,
        vec![TopologyEvent::LinkAdded {
            link: LinkKey::new(pr(a(), 1), pr(b(), 1))
        }]
    );
    // Both directions known: nothing more until the interval ends.
    assert!(topo.probes(t(2)).is_empty());
}

#[test]
fn links_expire_without_probes() {
    let mut topo = two_switches();
    deliver(&mut topo, t(0));
    assert!(topo.expire(t(16)).is_empty());
    let gone = topo.expire(t(17));
    assert_eq!(gone.len(), 2);
    assert!(gone.iter().all(|e| matches!(
        e,
        TopologyEvent::LinkRemoved {
            reason: LinkRemoval::Expired,
            ..
        }
    )));
    assert_eq!(topo.snapshot().link_count(), 0);
}

#[test]
fn port_down_and_device_down_remove_links_at_once() {
    let mut topo = two_switches();
    deliver(&mut topo, t(0));
    let mut down = port(1, Some(10_000_000_000));
    down.up = false;
    let events = topo.port_changed(t(1), a(), down).expect("known device");
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, TopologyEvent::LinkRemoved { .. }))
            .count(),
        2
    );
    assert_eq!(topo.links().count(), 0);
    // A probe arriving at a down port does not resurrect the link.
    assert_eq!(
        topo.lldp_received(t(2), pr(a(), 1), pr(b(), 1)),
        Err(TopologyError::PortUnavailable(pr(a(), 1)))
    );
    topo.port_changed(t(3), a(), port(1, Some(10_000_000_000)))
        .expect("up again");
    // a probes its revived port at once; b's probe comes on b's own schedule.
    deliver(&mut topo, t(3));
    assert_eq!(topo.links().count(), 1);
    deliver(&mut topo, t(5));
    assert_eq!(topo.links().count(), 2);
    let events = topo.device_down(t(4), b());
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, TopologyEvent::LinkRemoved { .. }))
            .count(),
        2
    );
    assert!(!topo.snapshot().contains_device(b()));
}

#[test]
fn hosts_are_learned_only_at_edge_ports_and_move() {
    let mut topo = two_switches();
    deliver(&mut topo, t(0));
    // Port 1 carries the inter-switch link: not a host port.
    assert_eq!(topo.host_seen(t(1), mac(1), None, pr(a(), 1)), Ok(vec![]));
    assert!(topo.host(mac(1)).is_none());
    let ip = "10.0.0.1".parse().ok();
    assert_eq!(
        topo.host_seen(t(1), mac(1), ip, pr(a(), 2)),
        Ok(vec![TopologyEvent::HostAdded {
            mac: mac(1),
            at: pr(a(), 2)
        }])
    );
    assert_eq!(
        topo.host_seen(t(2), mac(1), None, pr(b(), 2)),
        Ok(vec![TopologyEvent::HostMoved {
            mac: mac(1),
            from: pr(a(), 2),
            to: pr(b(), 2)
        }])
    );
    assert_eq!(topo.hosts().count(), 1);
    assert_eq!(topo.snapshot().host(mac(1)), Some(pr(b(), 2)));
    assert_eq!(
        topo.host_seen(t(2), MacAddr([1, 0, 0, 0, 0, 1]), None, pr(b(), 2)),
        Err(TopologyError::GroupMac(MacAddr([1, 0, 0, 0, 0, 1])))
    );
    // A frame from 00:00:00:00:00:00 (a broken or spoofing sender) is no host either.
    assert_eq!(
        topo.host_seen(t(2), MacAddr([0; 6]), None, pr(b(), 3)),
        Err(TopologyError::ZeroMac(MacAddr([0; 6])))
    );
    assert_eq!(topo.hosts().count(), 1);
}

#[test]
fn a_link_found_at_a_host_port_drops_the_host() {
    let mut topo = two_switches();
    topo.host_seen(t(0), mac(9), None, pr(b(), 1))
        .expect("edge for now");
    let events = deliver(&mut topo, t(1));
    assert!(events.contains(&TopologyEvent::HostRemoved {
        mac: mac(9),
        at: pr(b(), 1)
    }));
    assert!(topo.host(mac(9)).is_none());
}

#[test]
fn a_host_relayed_over_a_link_not_yet_found_stays_where_it_is() {
    // Before discovery the controller floods a host's ARP out of every port, the cable's
    // too: the neighbour reports the host at its end of the cable, and the frame flooded
    // back reports it at this end. Finding the cable must not lose the host.
    let mut topo = two_switches();
    let ip: Option<Ipv4Addr> = "10.0.0.1".parse().ok();
    topo.host_seen(t(1), mac(1), ip, pr(a(), 2)).expect("edge");
    topo.host_seen(t(1), mac(1), ip, pr(b(), 1))
        .expect("no link known yet");
    topo.host_seen(t(1), mac(1), ip, pr(a(), 1))
        .expect("no link known yet");
    let events = deliver(&mut topo, t(2));
    assert!(
        events.contains(&TopologyEvent::HostMoved {
            mac: mac(1),
            from: pr(a(), 1),
            to: pr(a(), 2)
        }),
        "{events:?}"
    );
    let host = topo.host(mac(1)).expect("still known");
    assert_eq!(
        (host.at, host.ips.iter().copied().collect()),
        (pr(a(), 2), ip.into_iter().collect::<Vec<_>>())
    );
    assert_eq!(topo.snapshot().host(mac(1)), Some(pr(a(), 2)));

    // A quiet host, misplaced while its link had expired, goes back too...
    let mut topo = two_switches();
    topo.host_seen(t(0), mac(2), None, pr(a(), 2))
        .expect("edge");
    topo.host_seen(t(100), mac(2), None, pr(b(), 1))
        .expect("no link known yet");
    deliver(&mut topo, t(100));
    assert_eq!(topo.host(mac(2)).map(|h| h.at), Some(pr(a(), 2)));
    // ...but not to a place past the host timeout (300 s): it would have aged out there.
    let mut topo = two_switches();
    topo.host_seen(t(0), mac(3), None, pr(a(), 2))
        .expect("edge");
    topo.host_seen(t(400), mac(3), None, pr(b(), 1))
        .expect("no link known yet");
    deliver(&mut topo, t(400));
    assert!(topo.host(mac(3)).is_none());
}

#[test]
fn hosts_age_out() {
    let mut topo = two_switches();
    topo.host_seen(t(0), mac(3), None, pr(a(), 2))
        .expect("edge");
    assert!(topo.expire(t(300)).is_empty());
    assert_eq!(
        topo.expire(t(301)),
        vec![TopologyEvent::HostRemoved {
            mac: mac(3),
            at: pr(a(), 2)
        }]
    );
}

#[test]
fn foreign_and_garbage_probes_are_refused() {
    let mut other = Topology::new(TopologyConfig {
        discovery: DiscoveryConfig {
            cookie: 1,
            ..DiscoveryConfig::default()
        },
        ..TopologyConfig::default()
    });
    other.device_up(t(0), a(), vec![port(1, None)]);
    let frame = other.probes(t(0)).remove(0).frame;
    let mut topo = two_switches();
    assert_eq!(
        topo.lldp_frame_received(t(0), pr(b(), 1), &frame),
        Err(TopologyError::ForeignProbe {
            at: pr(b(), 1),
            cookie: Some(1)
        })
    );
    assert!(matches!(
        topo.lldp_frame_received(t(0), pr(b(), 1), &[0u8; 10]),
        Err(TopologyError::BadProbe { .. })
    ));
    assert_eq!(
        topo.lldp_received(t(0), pr(a(), 1), pr(a(), 1)),
        Err(TopologyError::SelfLoop(pr(a(), 1)))
    );
}

#[test]
fn probe_latency_is_measured() {
    let mut topo = two_switches();
    let p = topo
        .probes(t(0))
        .into_iter()
        .find(|p| p.port == pr(a(), 1))
        .expect("probe");
    topo.lldp_frame_received(Timestamp(3_000_000), pr(b(), 1), &p.frame)
        .expect("ours");
    let link = topo.links().next().expect("link");
    assert_eq!(link.latency, Some(Duration::from_millis(3)));
}

#[test]
fn capacity_overrides_win_in_order() {
    let mut topo = two_switches();
    assert_eq!(
        topo.port_capacity(pr(a(), 2)),
        Some(0),
        "nothing reported, no default"
    );
    let mut config = topo.config().clone();
    config.capacity = CapacityConfig {
        default_bps: Some(5),
        per_device: [(b(), 7)].into_iter().collect(),
        per_port: [(pr(b(), 1), 9)].into_iter().collect(),
    };
    topo.set_config(config);
    assert_eq!(topo.port_capacity(pr(a(), 1)), Some(10_000_000_000));
    assert_eq!(topo.port_capacity(pr(a(), 2)), Some(5));
    assert_eq!(topo.port_capacity(pr(b(), 2)), Some(7));
    assert_eq!(topo.port_capacity(pr(b(), 1)), Some(9));
    deliver(&mut topo, t(0));
    assert_eq!(
        topo.snapshot()
            .capacity(LinkKey::new(pr(a(), 1), pr(b(), 1))),
        Some(9)
    );
}

#[test]
fn readers_see_published_snapshots_and_keep_old_ones() {
    let mut topo = two_switches();
    let reader = topo.reader();
    let before = topo.snapshot();
    deliver(&mut topo, t(0));
    assert_eq!(
        reader.load().link_count(),
        0,
        "not published until snapshot()"
    );
    let after = topo.snapshot();
    assert_eq!(reader.load().link_count(), 2);
    assert_eq!(before.link_count(), 0);
    assert!(after.version() > before.version());
    // No change: the same snapshot is returned, not rebuilt.
    assert!(Arc::ptr_eq(&after, &topo.snapshot()));
}

#[test]
fn port_removal_and_reserved_ports() {
    let mut topo = two_switches();
    deliver(&mut topo, t(0));
    let events = topo.port_removed(t(1), pr(b(), 1));
    assert!(events.contains(&TopologyEvent::PortRemoved { port: pr(b(), 1) }));
    assert_eq!(topo.links().count(), 0);
    topo.port_added(t(2), a(), port(0xffff_fffe, None))
        .expect("device up");
    assert!(topo.probes(t(10)).iter().all(|p| p.port.port.is_physical()));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Lldp(u8, u8, u8, u8),
        Host(u8, u8, u8),
        PortState(u8, u8, bool),
        DeviceDown(u8),
        DeviceUp(u8),
        Expire,
        Probe,
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..3, 0u8..4, 0u8..3, 0u8..4).prop_map(|(a, b, c, d)| Op::Lldp(a, b, c, d)),
            3 => (0u8..6, 0u8..3, 0u8..4).prop_map(|(m, d, p)| Op::Host(m, d, p)),
            2 => (0u8..3, 0u8..4, any::<bool>()).prop_map(|(d, p, up)| Op::PortState(d, p, up)),
            1 => (0u8..3).prop_map(Op::DeviceDown),
            1 => (0u8..3).prop_map(Op::DeviceUp),
            1 => Just(Op::Expire),
            1 => Just(Op::Probe),
        ]
    }

    fn devs() -> [DeviceId; 3] {
        [
            DeviceId::openflow(1),
            DeviceId::openflow(2),
            DeviceId::p4runtime(3),
        ]
    }

    fn ports() -> Vec<Port> {
        (1..=3).map(|p| port(p, Some(1_000))).collect()
    }

    fn check(topo: &Topology) -> Result<(), TestCaseError> {
        for l in topo.links() {
            for end in [l.key.src, l.key.dst] {
                prop_assert!(
                    topo.up_port(end).is_ok(),
                    "link {} has a dead end {end}",
                    l.key
                );
                prop_assert!(topo
                    .port_links
                    .get(&end)
                    .is_some_and(|s| s.contains(&l.key)));
            }
        }
        let indexed: usize = topo.port_links.values().map(|s| s.len()).sum();
        prop_assert_eq!(indexed, 2 * topo.links().count());
        for h in topo.hosts() {
            prop_assert!(
                !topo.port_links.contains_key(&h.at),
                "host {} on a link port",
                h.mac
            );
            prop_assert!(topo.up_port(h.at).is_ok(), "host {} on a dead port", h.mac);
        }
        let snap = topo.snapshot();
        prop_assert_eq!(snap.link_count(), topo.links().count());
        prop_assert_eq!(
            snap.devices().len(),
            topo.devices().filter(|d| d.up).count()
        );
        Ok(())
    }

    proptest! {
        #[test]
        fn model_invariants_hold(ops in proptest::collection::vec(arb_op(), 1..80)) {
            let mut topo = Topology::new(TopologyConfig::default());
            for d in devs() {
                topo.device_up(t(0), d, ports());
            }
            let mut now = 0;
            for op in ops {
                now += 1;
                let ts = t(now);
                let dev = |i: u8| devs()[usize::from(i) % 3];
                match op {
                    Op::Lldp(a, b, c, d) => {
                        let _ = topo.lldp_received(ts, pr(dev(a), b.into()), pr(dev(c), d.into()));
                    }
                    Op::Host(m, d, p) => {
                        let _ = topo.host_seen(ts, mac(m), None, pr(dev(d), p.into()));
                    }
                    Op::PortState(d, p, up) => {
                        let mut port = port(p.into(), Some(1_000));
                        port.up = up;
                        let _ = topo.port_changed(ts, dev(d), port);
                    }
                    Op::DeviceDown(d) => {
                        topo.device_down(ts, dev(d));
                    }
                    Op::DeviceUp(d) => {
                        topo.device_up(ts, dev(d), ports());
                    }
                    Op::Expire => {
                        topo.expire(ts);
                    }
                    Op::Probe => {
                        let probes = topo.probes(ts);
                        // Loop every probe back in on port 1 of the next device.
                        for p in probes {
                            let next = devs().iter().position(|d| *d == p.port.device).map_or(0, |i| (i + 1) % 3);
                            let _ = topo.lldp_frame_received(ts, pr(devs()[next], 1), &p.frame);
                        }
                    }
                }
                check(&topo)?;
            }
        }
    }
}

#[test]
fn configured_names_win_over_reported_ones_and_survive_reconnects() {
    let mut config = TopologyConfig::default();
    config.names.insert(a(), "ATLAM5".into());
    let mut topo = Topology::new(config);
    topo.device_up(t(0), a(), vec![port(1, None)]);
    topo.device_up(t(0), b(), vec![port(1, None)]);
    let name = |topo: &Topology, d: DeviceId| {
        topo.devices()
            .find(|x| x.id == d)
            .and_then(|x| x.name.clone())
    };
    assert_eq!(
        name(&topo, a()).as_deref(),
        Some("ATLAM5"),
        "named at connect"
    );
    assert!(topo.set_device_name(a(), "s1".into()));
    assert!(topo.set_device_name(b(), "s2".into()));
    assert_eq!(
        name(&topo, a()).as_deref(),
        Some("ATLAM5"),
        "the bridge name loses"
    );
    assert_eq!(
        name(&topo, b()).as_deref(),
        Some("s2"),
        "reported, not configured"
    );
    topo.device_down(t(1), b());
    topo.device_up(t(2), b(), vec![port(1, None)]);
    assert_eq!(
        name(&topo, b()).as_deref(),
        Some("s2"),
        "kept across a reconnect"
    );
    assert!(!topo.set_device_name(DeviceId::openflow(9), "x".into()));
}

/// An LLDP frame of a switch's own agent (not a Prescient probe): chassis by MAC, port by
/// name, and a System Name.
fn agent_frame(name: &str) -> Vec<u8> {
    let tlv = |kind: u16, value: &[u8]| {
        let mut out = ((kind << 9) | value.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(value);
        out
    };
    let mut f = vec![
        0x01, 0x80, 0xc2, 0, 0, 0x0e, 0x02, 0, 0, 0, 0, 9, 0x88, 0xcc,
    ];
    f.extend(tlv(1, &[4, 0x02, 0, 0, 0, 0, 9]));
    f.extend(tlv(2, b"\x05Ethernet1"));
    f.extend(tlv(3, &120u16.to_be_bytes()));
    f.extend(tlv(5, name.as_bytes()));
    f.extend(tlv(0, &[]));
    f
}

#[test]
fn a_p4_switchs_own_lldp_names_it_across_a_discovered_link() {
    let name = |topo: &Topology, d: DeviceId| {
        topo.devices()
            .find(|x| x.id == d)
            .and_then(|x| x.name.clone())
    };
    let mut topo = two_switches();
    // Before any link is known the frame names nobody.
    assert!(topo
        .lldp_frame_received(t(0), pr(a(), 1), &agent_frame("leaf-3"))
        .is_err());
    deliver(&mut topo, t(1));
    // b (P4) sends it out of b:1; it reaches the controller from a:1.
    let events = topo
        .lldp_frame_received(t(2), pr(a(), 1), &agent_frame("leaf-3"))
        .expect("used to name b");
    assert!(events.is_empty());
    assert_eq!(name(&topo, b()).as_deref(), Some("leaf-3"));
    // Its operating system renames it: the P4 device follows.
    topo.lldp_frame_received(t(3), pr(a(), 1), &agent_frame("leaf-4"))
        .expect("used");
    assert_eq!(name(&topo, b()).as_deref(), Some("leaf-4"));
    // a (OpenFlow) named itself; an LLDP agent behind it does not rename it.
    topo.set_device_name(a(), "s1".into());
    let _ = topo.lldp_frame_received(t(4), pr(b(), 1), &agent_frame("other"));
    assert_eq!(name(&topo, a()).as_deref(), Some("s1"));
    // A configured name wins over the agent's.
    let mut config = TopologyConfig::default();
    config.names.insert(b(), "spine".into());
    let mut topo = Topology::new(config);
    topo.device_up(t(0), a(), vec![port(1, None)]);
    topo.device_up(t(0), b(), vec![port(1, None)]);
    deliver(&mut topo, t(1));
    let _ = topo.lldp_frame_received(t(2), pr(a(), 1), &agent_frame("leaf-3"));
    assert_eq!(name(&topo, b()).as_deref(), Some("spine"));
}
