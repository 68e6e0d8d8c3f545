use prescient_topology::{DeviceId, MacAddr, PortNo};

use super::*;
use crate::core::Action;

fn pair() -> Subject {
    Subject::HostPair {
        src: MacAddr([0, 0, 0, 0, 0, 1]),
        dst: MacAddr([0, 0, 0, 0, 0, 2]),
    }
}

fn port(dpid: u64, no: u32) -> PortRef {
    PortRef {
        device: DeviceId::openflow(dpid),
        port: PortNo(no),
    }
}

fn install(id: u64, subject: Subject, rate_bps: u64, ports: Vec<PortRef>) -> Action {
    Action::InstallMeter {
        reservation: ReservationId(id),
        subject,
        rate_bps,
        police: true,
        ports,
    }
}

fn remove(id: u64, ports: Vec<PortRef>) -> Action {
    Action::RemoveMeter {
        reservation: ReservationId(id),
        ports,
    }
}

/// What a switch ends up holding after the commands, as the session's desired state keeps it.
fn held(
    cmds: &[Vec<(DatapathId, Command)>],
    dpid: DatapathId,
) -> prescient_southbound::openflow::session::DesiredState {
    let mut d = prescient_southbound::openflow::session::DesiredState::default();
    for (at, cmd) in cmds.iter().flatten() {
        if *at != dpid {
            continue;
        }
        match cmd {
            Command::FlowMod(fm) => d.apply_flow(fm),
            Command::MeterMod(mm) => d.apply_meter(mm),
            _ => {}
        }
    }
    d
}

/// The one reservation flow on a switch: its meter and output port, and that meter's rate.
fn only_entry(d: &prescient_southbound::openflow::session::DesiredState) -> (MeterId, OfPort, u32) {
    let flows = d.flows();
    assert_eq!(flows.len(), 1, "one flow entry for the subject: {flows:?}");
    let fm = flows[0];
    assert_eq!(fm.match_, subject_match(&pair()));
    let Instruction::Meter(meter) = fm.instructions[0] else {
        panic!("flow without a meter: {fm:?}");
    };
    let Instruction::ApplyActions(acts) = &fm.instructions[1] else {
        panic!("flow without an output: {fm:?}");
    };
    let [OfAction::Output { port, .. }] = acts[..] else {
        panic!("flow with other actions: {acts:?}");
    };
    assert_eq!(fm.cookie, RESERVATION_COOKIE | u64::from(meter.0));
    let meters: Vec<&MeterMod> = d.meters().collect();
    assert_eq!(meters.len(), 1, "one meter: {meters:?}");
    assert_eq!(meters[0].meter_id, meter);
    let [MeterBand::Drop { rate, .. }] = meters[0].bands[..] else {
        panic!("meter without a drop band: {:?}", meters[0]);
    };
    (meter, port, rate)
}

#[test]
fn two_reservations_of_one_pair_share_one_entry_at_the_sum_of_their_rates() {
    let mut r = ReservedFlows::default();
    let path = vec![port(1, 2), port(2, 3)];
    let cmds = vec![
        r.apply(&install(5, pair(), 10_000_000, path.clone())),
        r.apply(&install(9, pair(), 4_000_000, path.clone())),
    ];
    for dpid in [DatapathId(1), DatapathId(2)] {
        let (meter, _, rate) = only_entry(&held(&cmds, dpid));
        assert_eq!(meter, MeterId(5), "the entry keeps its first meter");
        assert_eq!(rate, 14_000, "kbit/s: 10 + 4 Mbit/s");
    }
    // The second reservation changed the meter's rate in place: no second flow on the wire.
    let flows = cmds[1]
        .iter()
        .filter(|(_, c)| matches!(c, Command::FlowMod(_)))
        .count();
    assert_eq!(flows, 0);
    assert!(cmds[1].iter().all(|(_, c)| matches!(
        c,
        Command::MeterMod(MeterMod {
            command: MeterCommand::Modify,
            ..
        })
    )));
}

#[test]
fn releasing_either_of_two_leaves_the_other_at_its_own_rate() {
    let path = vec![port(1, 2), port(2, 3)];
    for (gone, stays, rate) in [(9, 5, 10_000), (5, 9, 4_000)] {
        let mut r = ReservedFlows::default();
        let cmds = vec![
            r.apply(&install(5, pair(), 10_000_000, path.clone())),
            r.apply(&install(9, pair(), 4_000_000, path.clone())),
            r.apply(&remove(gone, path.clone())),
        ];
        for dpid in [DatapathId(1), DatapathId(2)] {
            let d = held(&cmds, dpid);
            let (meter, out, kbps) = only_entry(&d);
            assert_eq!(meter, MeterId(stays as u32), "released {gone}");
            assert_eq!(kbps, rate, "released {gone}");
            assert_eq!(out, OfPort(if dpid.0 == 1 { 2 } else { 3 }));
        }
        // On the wire, a meter still used by the flow is never deleted (that would delete
        // the flow with it): the flow moves to the remaining meter first.
        let last = &cmds[2];
        for (dpid, c) in last {
            if let Command::MeterMod(MeterMod {
                command: MeterCommand::Delete,
                meter_id,
                ..
            }) = c
            {
                assert_eq!(*meter_id, MeterId(gone as u32));
                let pos = last.iter().position(|x| x == &(*dpid, c.clone())).unwrap();
                assert!(last[..pos].iter().any(|(d, c)| d == dpid
                    && matches!(c, Command::FlowMod(fm) if fm.instructions[0]
                        == Instruction::Meter(MeterId(stays as u32)))));
            }
        }
    }
}

#[test]
fn releasing_the_last_removes_the_entry_and_its_meter() {
    let mut r = ReservedFlows::default();
    let path = vec![port(1, 2)];
    let cmds = vec![
        r.apply(&install(5, pair(), 10_000_000, path.clone())),
        r.apply(&install(9, pair(), 4_000_000, path.clone())),
        r.apply(&remove(5, path.clone())),
        r.apply(&remove(9, path.clone())),
    ];
    let d = held(&cmds, DatapathId(1));
    assert!(d.flows().is_empty());
    assert_eq!(d.meters().count(), 0);
}

#[test]
fn different_subjects_on_one_switch_keep_their_own_entries() {
    let mut r = ReservedFlows::default();
    let other = Subject::HostPair {
        src: MacAddr([0, 0, 0, 0, 0, 2]),
        dst: MacAddr([0, 0, 0, 0, 0, 1]),
    };
    let cmds = vec![
        r.apply(&install(5, pair(), 10_000_000, vec![port(1, 2)])),
        r.apply(&install(9, other, 4_000_000, vec![port(1, 1)])),
    ];
    let d = held(&cmds, DatapathId(1));
    assert_eq!(d.flows().len(), 2);
    assert_eq!(d.meters().count(), 2);
}

#[test]
fn a_removal_the_driver_never_installed_deletes_by_cookie_and_meter() {
    let mut r = ReservedFlows::default();
    let cmds = r.apply(&remove(7, vec![port(1, 2)]));
    assert_eq!(cmds.len(), 2);
    let Command::FlowMod(fm) = &cmds[0].1 else {
        panic!("expected the flow's deletion first: {cmds:?}");
    };
    assert_eq!(fm.cookie, RESERVATION_COOKIE | 7);
    assert_eq!(fm.cookie_mask, u64::MAX);
    assert!(matches!(
        cmds[1].1,
        Command::MeterMod(MeterMod {
            command: MeterCommand::Delete,
            meter_id: MeterId(7),
            ..
        })
    ));
}

/// A switch port as (datapath id, port number).
type Hop = (u64, u32);

fn steer(links: &[(Hop, Hop)]) -> Action {
    Action::InstallPath {
        src: MacAddr([0, 0, 0, 0, 0, 1]),
        dst: MacAddr([0, 0, 0, 0, 0, 2]),
        links: links
            .iter()
            .map(|&(a, b)| prescient_topology::LinkKey {
                src: port(a.0, a.1),
                dst: port(b.0, b.1),
            })
            .collect(),
        exit: None,
        decision: 1,
    }
}

/// The flow of the pair on a switch: its meter (if any) and output port.
fn pair_flow(
    d: &prescient_southbound::openflow::session::DesiredState,
) -> (Option<MeterId>, OfPort) {
    let flows = d.flows();
    assert_eq!(flows.len(), 1, "one flow entry for the pair: {flows:?}");
    let fm = flows[0];
    assert_eq!(fm.match_, subject_match(&pair()));
    assert_eq!(fm.priority, STEER_PRIORITY);
    let meter = fm.instructions.iter().find_map(|i| match i {
        Instruction::Meter(m) => Some(*m),
        _ => None,
    });
    let Some(Instruction::ApplyActions(acts)) = fm.instructions.last() else {
        panic!("flow without an output: {fm:?}");
    };
    let [OfAction::Output { port, .. }] = acts[..] else {
        panic!("flow with other actions: {acts:?}");
    };
    (meter, port)
}

#[test]
fn a_reserved_pair_steered_onto_a_new_path_keeps_its_meter_there() {
    // Reserved on 1 -> 2 -> 4 (ports 1:2, 2:3); steered onto 1 -> 3 -> 4 (ports 1:3, 3:2),
    // and its reservation follows (as the core moves it) after the steer.
    let mut r = ReservedFlows::default();
    let cmds = vec![
        r.apply(&install(
            5,
            pair(),
            10_000_000,
            vec![port(1, 2), port(2, 3)],
        )),
        r.apply(&steer(&[((1, 3), (3, 1)), ((3, 2), (4, 1))])),
        r.apply(&remove(5, vec![port(1, 2), port(2, 3)])),
        r.apply(&install(
            5,
            pair(),
            10_000_000,
            vec![port(1, 3), port(3, 2)],
        )),
    ];
    for (dpid, out) in [(1, 3), (3, 2)] {
        let d = held(&cmds, DatapathId(dpid));
        assert_eq!(
            pair_flow(&d),
            (Some(MeterId(5)), OfPort(out)),
            "switch {dpid}"
        );
        assert_eq!(d.meters().count(), 1, "switch {dpid}");
    }
    // The old path's second switch keeps nothing of the reservation.
    let d = held(&cmds, DatapathId(2));
    assert!(
        d.flows().is_empty() && d.meters().count() == 0,
        "{:?}",
        d.flows()
    );

    // The steer written after the reservation (in either order) never drops the meter.
    let mut r = ReservedFlows::default();
    let cmds = vec![
        r.apply(&install(
            5,
            pair(),
            10_000_000,
            vec![port(1, 3), port(3, 2)],
        )),
        r.apply(&steer(&[((1, 3), (3, 1)), ((3, 2), (4, 1))])),
    ];
    for (dpid, out) in [(1, 3), (3, 2)] {
        let d = held(&cmds, DatapathId(dpid));
        assert_eq!(pair_flow(&d), (Some(MeterId(5)), OfPort(out)));
    }
}

#[test]
fn releasing_the_reservation_of_a_steered_pair_leaves_its_path() {
    let mut r = ReservedFlows::default();
    let path = vec![port(1, 3), port(3, 2)];
    let cmds = vec![
        r.apply(&steer(&[((1, 3), (3, 1)), ((3, 2), (4, 1))])),
        r.apply(&install(5, pair(), 10_000_000, path.clone())),
        r.apply(&remove(5, path)),
    ];
    for (dpid, out) in [(1, 3), (3, 2)] {
        let d = held(&cmds, DatapathId(dpid));
        assert_eq!(pair_flow(&d), (None, OfPort(out)), "switch {dpid}");
        assert_eq!(d.meters().count(), 0);
        assert_eq!(
            d.flows()[0].cookie,
            0,
            "a path alone carries no reservation cookie"
        );
    }
    // The flow left the meter before the meter went (a meter's deletion takes its flows).
    let last = &cmds[2];
    let flow = last
        .iter()
        .position(|(_, c)| matches!(c, Command::FlowMod(_)))
        .expect("the flow rewritten without its meter");
    let meter = last
        .iter()
        .position(|(_, c)| matches!(c, Command::MeterMod(_)))
        .expect("the meter deleted");
    assert!(flow < meter, "{last:?}");
}

#[test]
fn a_new_path_for_a_reserved_pair_keeps_the_meter_on_the_switches_it_shares() {
    // A route around a dead link, written after the reservation: the traffic takes it, and
    // the first switch still meters it.
    let mut r = ReservedFlows::default();
    let cmds = vec![
        r.apply(&install(
            5,
            pair(),
            10_000_000,
            vec![port(1, 2), port(2, 3)],
        )),
        r.apply(&steer(&[((1, 3), (3, 1)), ((3, 2), (4, 1))])),
    ];
    let d = held(&cmds, DatapathId(1));
    assert_eq!(pair_flow(&d), (Some(MeterId(5)), OfPort(3)));
    let d = held(&cmds, DatapathId(3));
    assert_eq!(pair_flow(&d), (None, OfPort(2)));
}

#[test]
fn a_forecast_reservation_holds_the_path_without_a_meter() {
    let mut r = ReservedFlows::default();
    let forecast = Action::InstallMeter {
        reservation: ReservationId(5),
        subject: pair(),
        rate_bps: 10_000_000,
        police: false,
        ports: vec![port(1, 2)],
    };
    let cmds = vec![r.apply(&forecast)];
    let d = held(&cmds, DatapathId(1));
    assert_eq!(pair_flow(&d), (None, OfPort(2)));
    assert_eq!(d.meters().count(), 0, "nothing drops the pair's traffic");
    assert_eq!(
        d.flows()[0].cookie,
        RESERVATION_COOKIE | 5,
        "counted as reservation 5"
    );
    // Released: the flow goes with it.
    let cmds = vec![cmds[0].clone(), r.apply(&remove(5, vec![port(1, 2)]))];
    assert!(held(&cmds, DatapathId(1)).flows().is_empty());
}

#[test]
fn a_path_delivers_at_its_last_switch_too() {
    // Without an entry on s4 the pair would meet s4's block rule when the cable it arrives on
    // is outside the flood guard's spanning tree.
    let mut r = ReservedFlows::default();
    let Action::InstallPath {
        src, dst, links, ..
    } = steer(&[((1, 3), (3, 1)), ((3, 2), (4, 2))])
    else {
        unreachable!()
    };
    let cmds = vec![r.apply(&Action::InstallPath {
        src,
        dst,
        links,
        exit: Some(port(4, 10)),
        decision: 1,
    })];
    let d = held(&cmds, DatapathId(4));
    assert_eq!(pair_flow(&d), (None, OfPort(10)));
}

#[test]
fn a_flow_reservation_is_looked_up_before_its_pairs_path() {
    // A UDP flow between the pair's addresses overlaps the pair's MAC entry: at one priority
    // the switch would pick either (undefined), so the flow's meter could be skipped.
    let mut r = ReservedFlows::default();
    let flow = Subject::Flow(prescient_topology::FlowMatch {
        src_ip: Some(std::net::Ipv4Addr::new(10, 0, 0, 1)),
        dst_ip: Some(std::net::Ipv4Addr::new(10, 0, 0, 2)),
        ip_proto: Some(17),
        ..Default::default()
    });
    let cmds = vec![
        r.apply(&steer(&[((1, 3), (3, 1))])),
        r.apply(&install(5, flow.clone(), 10_000_000, vec![port(1, 3)])),
    ];
    let d = held(&cmds, DatapathId(1));
    let flows = d.flows();
    assert_eq!(flows.len(), 2, "{flows:?}");
    let path = flows
        .iter()
        .find(|f| f.match_ == subject_match(&pair()))
        .unwrap();
    let metered = flows
        .iter()
        .find(|f| f.match_ == subject_match(&flow))
        .unwrap();
    assert!(metered.priority > path.priority, "{flows:?}");
    assert_eq!(metered.instructions[0], Instruction::Meter(MeterId(5)));
}

/// A ring of four OpenFlow switches as the core learns it (s1:2-s2:1, s2:2-s3:1, s3:2-s4:1,
/// s4:2-s1:1), h1 on s1:10 with 10.0.0.1 and h3 on s3:10 with 10.0.0.3 (port 11 free).
fn ring_core() -> crate::core::ControllerCore {
    use crate::core::{ControllerCore, CoreConfig};
    use prescient_topology::{Port, Timestamp};
    let mut c = ControllerCore::new(CoreConfig::default());
    let t0 = Timestamp::from_secs(1);
    for d in 1..=4 {
        let ports = [1, 2, 10, 11]
            .into_iter()
            .map(|no| Port {
                no: PortNo(no),
                name: format!("p{no}"),
                mac: MacAddr([2, 0, 0, 0, d as u8, no as u8]),
                up: true,
                reported_speed_bps: Some(1_000_000_000),
            })
            .collect();
        c.device_up(t0, DeviceId::openflow(d), ports);
    }
    for d in 1..=4u64 {
        let (a, b) = (port(d, 2), port(d % 4 + 1, 1));
        c.lldp_received(t0, b, a).expect("link a->b");
        c.lldp_received(t0, a, b).expect("link b->a");
    }
    for (h, d) in [(1u8, 1u64), (3, 3)] {
        c.host_seen(
            t0,
            MacAddr([0, 0, 0, 0, 0, h]),
            Some(std::net::Ipv4Addr::new(10, 0, 0, h)),
            port(d, 10),
        )
        .expect("host");
    }
    c
}

/// The output port of the entry matching `subject` on a switch, if it has one.
fn output_of(
    d: &prescient_southbound::openflow::session::DesiredState,
    subject: &Subject,
) -> Option<OfPort> {
    let m = subject_match(subject);
    d.flows().into_iter().find(|f| f.match_ == m).and_then(|f| {
        f.instructions.iter().find_map(|i| match i {
            Instruction::ApplyActions(acts) => acts.iter().find_map(|a| match a {
                OfAction::Output { port, .. } => Some(*port),
                _ => None,
            }),
            _ => None,
        })
    })
}

#[test]
fn reservations_and_routed_pairs_deliver_at_their_last_switch_too() {
    // Two hops either way round the ring: whichever way, the path enters s3 over a cable
    // the flood guard may block, whose drop rule only an entry of the traffic there overrides.
    use crate::core::{Endpoint, ReserveSpec};
    use prescient_topology::{FlowMatch, Timestamp, Window};
    let h1 = MacAddr([0, 0, 0, 0, 0, 1]);
    let h3 = MacAddr([0, 0, 0, 0, 0, 3]);
    let mut c = ring_core();
    let now = Timestamp::from_secs(2);
    let window = Window::new(now, Timestamp::from_secs(3_600));
    let spec = |flow| ReserveSpec {
        src: Endpoint::Host(h1),
        dst: Endpoint::Host(h3),
        rate_bps: 4_000_000,
        tier: 1,
        window,
        flow,
        path: None,
    };
    let mut actions = c.reserve(now, &spec(None)).expect("room").actions;
    let udp = FlowMatch {
        src_mac: None,
        dst_mac: None,
        src_ip: Some(std::net::Ipv4Addr::new(10, 0, 0, 1)),
        dst_ip: Some(std::net::Ipv4Addr::new(10, 0, 0, 3)),
        ip_proto: Some(17),
        src_port: None,
        dst_port: Some(5201),
    };
    actions.extend(
        c.reserve(now, &spec(Some(udp.clone())))
            .expect("room")
            .actions,
    );
    // h3 -> h1 reaches the controller and is routed.
    actions.extend(c.pair_seen(now, h3, h1));
    let mut flows = ReservedFlows::default();
    let cmds: Vec<_> = actions.iter().map(|a| flows.apply(a)).collect();
    let reserved = Subject::HostPair { src: h1, dst: h3 };
    assert_eq!(
        output_of(&held(&cmds, DatapathId(3)), &reserved),
        Some(OfPort(10)),
        "{actions:?}"
    );
    // The flow as installed: narrowed to its end hosts.
    let udp = FlowMatch {
        src_mac: Some(h1),
        dst_mac: Some(h3),
        ..udp
    };
    assert_eq!(
        output_of(&held(&cmds, DatapathId(3)), &Subject::Flow(udp)),
        Some(OfPort(10)),
        "{actions:?}"
    );
    let routed = Subject::HostPair { src: h3, dst: h1 };
    assert_eq!(
        output_of(&held(&cmds, DatapathId(1)), &routed),
        Some(OfPort(10)),
        "{actions:?}"
    );

    // h3 moves to another port of s3: the entries there follow it.
    let moved = c
        .host_seen(Timestamp::from_secs(3), h3, None, port(3, 11))
        .expect("moved");
    let cmds: Vec<_> = cmds
        .into_iter()
        .chain(moved.iter().map(|a| flows.apply(a)))
        .collect();
    assert_eq!(
        output_of(&held(&cmds, DatapathId(3)), &reserved),
        Some(OfPort(11)),
        "{moved:?}"
    );
}

#[test]
fn installing_a_reservation_again_on_its_switches_leaves_its_flow_entry_and_its_counters() {
    // The core resizes a reservation on an unchanged path with one install over the old one
    // (`ControllerCore::reinstall`): a flow mod here would restart the entry's counters.
    let mut r = ReservedFlows::default();
    let ports = vec![port(1, 2), port(2, 3)];
    let first = r.apply(&install(5, pair(), 10_000_000, ports.clone()));
    assert!(!first.is_empty());
    let resized = r.apply(&install(5, pair(), 14_000_000, ports.clone()));
    assert!(
        resized
            .iter()
            .all(|(_, c)| matches!(c, Command::MeterMod(m) if m.command == MeterCommand::Modify)),
        "{resized:?}"
    );
    assert_eq!(resized.len(), 2, "one meter modify a switch: {resized:?}");
    let (_, _, rate) = only_entry(&held(&[first, resized], DatapathId(1)));
    assert_eq!(rate, 14_000);
    // Unpoliced (a forecast reservation): nothing to write at all.
    let forecast = |rate_bps| Action::InstallMeter {
        reservation: ReservationId(6),
        subject: Subject::HostPair {
            src: MacAddr([0, 0, 0, 0, 0, 3]),
            dst: MacAddr([0, 0, 0, 0, 0, 4]),
        },
        rate_bps,
        police: false,
        ports: ports.clone(),
    };
    assert!(!r.apply(&forecast(10_000_000)).is_empty());
    assert!(r.apply(&forecast(14_000_000)).is_empty());
}

/// The reservation flow entries `cmds` leave on switch `dpid` (cookie of a reservation).
fn reservation_matches(cmds: &[Vec<(DatapathId, Command)>], dpid: DatapathId) -> Vec<Match> {
    held(cmds, dpid)
        .flows()
        .into_iter()
        .filter(|f| f.cookie & RESERVATION_COOKIE == RESERVATION_COOKIE)
        .map(|f| f.match_.clone())
        .collect()
}

#[test]
fn a_flow_reservation_from_a_host_matches_only_that_hosts_traffic_on_every_switch() {
    // h1 -> h3, TCP only: matching the protocol alone, every switch of the path policed all
    // TCP crossing it, any host's, at h1's rate.
    use crate::core::{Endpoint, ReserveError, ReserveSpec};
    use prescient_topology::{FlowMatch, Timestamp, Window};
    let h1 = MacAddr([0, 0, 0, 0, 0, 1]);
    let h3 = MacAddr([0, 0, 0, 0, 0, 3]);
    let mut c = ring_core();
    let now = Timestamp::from_secs(2);
    let tcp = FlowMatch {
        ip_proto: Some(6),
        ..FlowMatch::default()
    };
    let spec = |src, dst, flow| ReserveSpec {
        src,
        dst,
        rate_bps: 4_000_000,
        tier: 1,
        window: Window::new(now, Timestamp::from_secs(3_600)),
        flow,
        path: None,
    };
    let done = c
        .reserve(
            now,
            &spec(Endpoint::Host(h1), Endpoint::Host(h3), Some(tcp.clone())),
        )
        .expect("room");
    let mut flows = ReservedFlows::default();
    let cmds: Vec<_> = done.actions.iter().map(|a| flows.apply(a)).collect();
    let eth = |m: &Match| {
        let src = m.fields.iter().find_map(|f| match f {
            OxmField::EthSrc { addr, mask: None } => Some(addr.0),
            _ => None,
        });
        let dst = m.fields.iter().find_map(|f| match f {
            OxmField::EthDst { addr, mask: None } => Some(addr.0),
            _ => None,
        });
        (src, dst)
    };
    let path = &done.reservation.request.path;
    assert_eq!(path.len(), 2, "{path:?}");
    for dpid in [1, path[0].dst.device.id, 3] {
        let matches = reservation_matches(&cmds, DatapathId(dpid));
        assert_eq!(matches.len(), 1, "s{dpid}: {matches:?}");
        assert_eq!(eth(&matches[0]), (Some(h1.0), Some(h3.0)), "s{dpid}");
        assert!(matches[0].fields.contains(&OxmField::IpProto(6)));
    }

    // From a switch to h3 with no match: the traffic towards h3, not every IPv4 packet.
    let done = c
        .reserve(
            now,
            &spec(
                Endpoint::Device(DeviceId::openflow(1)),
                Endpoint::Host(h3),
                None,
            ),
        )
        .expect("room");
    let mut flows = ReservedFlows::default();
    let cmds: Vec<_> = done.actions.iter().map(|a| flows.apply(a)).collect();
    let matches = reservation_matches(&cmds, DatapathId(1));
    assert_eq!(matches.len(), 1, "{matches:?}");
    assert_eq!(eth(&matches[0]), (None, Some(h3.0)));

    // Between two switches, with no address: nobody's traffic in particular, everyone's.
    let mut between_switches = |flow| {
        c.reserve(
            now,
            &spec(
                Endpoint::Device(DeviceId::openflow(1)),
                Endpoint::Device(DeviceId::openflow(3)),
                flow,
            ),
        )
        .map(|_| ())
    };
    assert_eq!(
        between_switches(None),
        Err(ReserveError::NoHost { matched: false })
    );
    assert_eq!(
        between_switches(Some(tcp)),
        Err(ReserveError::NoHost { matched: true })
    );
}
