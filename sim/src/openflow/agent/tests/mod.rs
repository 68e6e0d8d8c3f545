use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use prescient_southbound::openflow::wire::error::{
    BadRequestCode, FlowModFailedCode, GroupModFailedCode,
};
use prescient_southbound::openflow::wire::multipart::FlowStatsRequest;
use prescient_southbound::openflow::wire::{
    Action, Bucket, ControllerRole, DatapathId, ErrorKind, FlowMod, FlowModCommand, FlowModFlags,
    FlowRemovedReason, Frame, GroupCommand, GroupId, GroupMod, GroupType, Hello, Instruction,
    Match, Message, MultipartReplyBody, MultipartRequest, MultipartRequestBody, OxmField,
    PacketInReason, PacketOut, PortNo, Role, TableId, Xid,
};

use super::*;
use crate::openflow::packet::{arp_request, udp_packet, ETH_IPV4};
use crate::topology::{SimTopology, TopologyKind};

mod roles;

const NOW: Duration = Duration::from_secs(1);

fn agent() -> SwitchAgent {
    let topo = SimTopology::generate(TopologyKind::Ring(4)).unwrap();
    let counters = Arc::new(FabricCounters::new(&topo));
    let ports = (1..=3)
        .map(|n| SimPort {
            no: PortNo(n),
            hw_addr: [2, 0, 0, 0, 1, n as u8],
            name: format!("s1-eth{n}"),
            up: true,
            speed_kbps: 1_000_000,
        })
        .collect();
    let mut a = SwitchAgent::new(DatapathId(1), "s1".into(), 0, ports, counters);
    assert!(matches!(
        a.on_connect(),
        Effect::Send(Frame {
            message: Message::Hello(_),
            ..
        })
    ));
    let mut out = Vec::new();
    a.handle(NOW, Xid(1), Message::Hello(Hello::ofp13()), &[], &mut out);
    assert!(out.is_empty());
    a
}

fn send(a: &mut SwitchAgent, m: Message) -> Vec<Effect> {
    let mut out = Vec::new();
    let raw = m.to_vec(Xid(77)).unwrap();
    a.handle(NOW, Xid(77), m, &raw, &mut out);
    out
}

fn messages(out: &[Effect]) -> Vec<Message> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Send(f) | Effect::Notify { frame: f, .. } => Some(f.message.clone()),
            _ => None,
        })
        .collect()
}

fn error_of(out: &[Effect]) -> Option<ErrorKind> {
    messages(out).into_iter().find_map(|m| match m {
        Message::Error(e) => Some(e.kind),
        _ => None,
    })
}

fn out_port(port: u32) -> Vec<Instruction> {
    vec![Instruction::ApplyActions(vec![Action::output(PortNo(
        port,
    ))])]
}

fn packet(dst_ip: [u8; 4]) -> Bytes {
    udp_packet(
        prescient_southbound::openflow::wire::MacAddr([0, 0, 0, 0, 0, 1]),
        prescient_southbound::openflow::wire::MacAddr([0, 0, 0, 0, 0, 2]),
        "10.0.0.1".parse().unwrap(),
        dst_ip.into(),
        (5, 6),
        20,
    )
}

#[test]
fn incompatible_hello_is_refused_and_closed() {
    let topo = SimTopology::generate(TopologyKind::Ring(1)).unwrap();
    let mut a = SwitchAgent::new(
        DatapathId(9),
        "s".into(),
        0,
        Vec::new(),
        Arc::new(FabricCounters::new(&topo)),
    );
    a.on_connect();
    let mut out = Vec::new();
    let old = Hello {
        version: 1,
        elements: Vec::new(),
    };
    a.handle(NOW, Xid(1), Message::Hello(old), &[], &mut out);
    assert!(matches!(error_of(&out), Some(ErrorKind::HelloFailed(_))));
    assert_eq!(out.last(), Some(&Effect::Close));
}

#[test]
fn features_echo_barrier_and_config_are_answered() {
    let mut a = agent();
    match messages(&send(&mut a, Message::FeaturesRequest)).as_slice() {
        [Message::FeaturesReply(f)] => {
            assert_eq!(f.datapath_id, DatapathId(1));
            assert_eq!(f.n_tables, N_TABLES);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        messages(&send(
            &mut a,
            Message::EchoRequest(Bytes::from_static(b"hi"))
        )),
        vec![Message::EchoReply(Bytes::from_static(b"hi"))]
    );
    assert_eq!(
        messages(&send(&mut a, Message::BarrierRequest)),
        vec![Message::BarrierReply]
    );
    let cfg = SwitchConfig {
        flags: 0,
        miss_send_len: 0xffff,
    };
    assert!(send(&mut a, Message::SetConfig(cfg)).is_empty());
    assert_eq!(
        messages(&send(&mut a, Message::GetConfigRequest)),
        vec![Message::GetConfigReply(cfg)]
    );
    assert_eq!(
        error_of(&send(&mut a, Message::BarrierReply)),
        Some(ErrorKind::BadRequest(BadRequestCode::BadType))
    );
}

#[test]
fn installed_flow_forwards_and_table_miss_punts() {
    let mut a = agent();
    let m = Match::new()
        .with(OxmField::EthType(ETH_IPV4))
        .with(OxmField::Ipv4Dst {
            addr: "10.0.0.2".parse().unwrap(),
            mask: None,
        });
    assert!(send(
        &mut a,
        Message::FlowMod(FlowMod::add(TableId(0), 10, m, out_port(2)))
    )
    .is_empty());
    let miss = vec![Instruction::ApplyActions(vec![Action::output(
        PortNo::CONTROLLER,
    )])];
    assert!(send(
        &mut a,
        Message::FlowMod(FlowMod::add(TableId(0), 0, Match::new(), miss))
    )
    .is_empty());
    let mut out = Vec::new();
    a.receive(NOW, PortNo(1), packet([10, 0, 0, 2]), 0, &mut out);
    assert!(
        matches!(
            out.as_slice(),
            [Effect::Emit {
                port: PortNo(2),
                hops: 1,
                ..
            }]
        ),
        "{out:?}"
    );
    out.clear();
    a.receive(NOW, PortNo(3), packet([10, 0, 0, 3]), 0, &mut out);
    match messages(&out).as_slice() {
        [Message::PacketIn(pi)] => {
            assert_eq!(pi.reason, PacketInReason::NoMatch);
            assert_eq!(pi.in_port(), Some(PortNo(3)));
            assert_eq!(pi.data, packet([10, 0, 0, 3]));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(a.stats().packet_ins, 1);
}

#[test]
fn packet_out_floods_all_ports_but_the_ingress() {
    let mut a = agent();
    let po = PacketOut {
        buffer_id: prescient_southbound::openflow::wire::BufferId::NO_BUFFER,
        in_port: PortNo(2),
        actions: vec![Action::output(PortNo::FLOOD)],
        data: packet([1, 2, 3, 4]),
    };
    let out = send(&mut a, Message::PacketOut(po));
    let ports: Vec<PortNo> = out
        .iter()
        .filter_map(|e| match e {
            Effect::Emit { port, .. } => Some(*port),
            _ => None,
        })
        .collect();
    assert_eq!(ports, vec![PortNo(1), PortNo(3)]);
    let bad = PacketOut::to_port(PortNo(1), packet([1, 2, 3, 4]));
    let bad = PacketOut {
        buffer_id: prescient_southbound::openflow::wire::BufferId(3),
        ..bad
    };
    assert_eq!(
        error_of(&send(&mut a, Message::PacketOut(bad))),
        Some(ErrorKind::BadRequest(BadRequestCode::BufferUnknown))
    );
}

#[test]
fn refused_flow_mods_get_the_ovs_error_with_the_request_xid() {
    let mut a = agent();
    let out = send(
        &mut a,
        Message::FlowMod(FlowMod::add(TableId(200), 1, Match::new(), out_port(1))),
    );
    match out.as_slice() {
        [Effect::Send(Frame {
            xid: Xid(77),
            message: Message::Error(e),
        })] => {
            assert_eq!(
                e.kind,
                ErrorKind::FlowModFailed(FlowModFailedCode::BadTableId)
            );
            assert!(!e.data.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let gm = GroupMod {
        command: GroupCommand::Modify,
        group_type: GroupType::All,
        group_id: GroupId(5),
        buckets: vec![],
    };
    assert_eq!(
        error_of(&send(&mut a, Message::GroupMod(gm))),
        Some(ErrorKind::GroupModFailed(GroupModFailedCode::UnknownGroup))
    );
}

#[test]
fn delete_sends_flow_removed_for_send_flow_rem_entries() {
    let mut a = agent();
    let mut fm = FlowMod::add(
        TableId(0),
        5,
        Match::new().with(OxmField::InPort(PortNo(1))),
        out_port(2),
    );
    fm.flags = FlowModFlags::SEND_FLOW_REM;
    fm.cookie = 0x42;
    send(&mut a, Message::FlowMod(fm));
    send(
        &mut a,
        Message::FlowMod(FlowMod::add(TableId(0), 6, Match::new(), out_port(3))),
    );
    let out = send(
        &mut a,
        Message::FlowMod(FlowMod::delete(TableId::ALL, Match::new())),
    );
    match messages(&out).as_slice() {
        [Message::FlowRemoved(r)] => {
            assert_eq!(r.cookie, 0x42);
            assert_eq!(r.reason, FlowRemovedReason::Delete);
        }
        other => panic!("{other:?}"),
    }
    assert!(a.tables().is_empty());
}

#[test]
fn idle_timeout_sends_flow_removed_on_tick() {
    let mut a = agent();
    let mut fm = FlowMod::add(TableId(0), 5, Match::new(), out_port(2));
    fm.flags = FlowModFlags::SEND_FLOW_REM;
    fm.idle_timeout = 5;
    send(&mut a, Message::FlowMod(fm));
    let mut out = Vec::new();
    a.tick(Duration::from_secs(3), &mut out);
    assert!(out.is_empty());
    a.tick(Duration::from_secs(7), &mut out);
    assert!(
        matches!(messages(&out).as_slice(), [Message::FlowRemoved(r)] if r.reason == FlowRemovedReason::IdleTimeout)
    );
}

#[test]
fn large_flow_stats_replies_are_split_with_reply_more() {
    let mut a = agent();
    a.set_multipart_limit(4096);
    for i in 0..500u32 {
        let m = Match::new()
            .with(OxmField::EthType(ETH_IPV4))
            .with(OxmField::Ipv4Dst {
                addr: i.into(),
                mask: None,
            });
        assert!(send(
            &mut a,
            Message::FlowMod(FlowMod::add(TableId(0), 10, m, out_port(1)))
        )
        .is_empty());
    }
    let req = FlowStatsRequest {
        table_id: TableId::ALL,
        out_port: PortNo::ANY,
        out_group: GroupId::ANY,
        cookie: 0,
        cookie_mask: 0,
        match_: Match::new(),
    };
    let out = messages(&send(
        &mut a,
        Message::MultipartRequest(MultipartRequest::new(MultipartRequestBody::Flow(req))),
    ));
    assert!(out.len() > 10, "{} replies", out.len());
    let mut total = 0;
    for (i, m) in out.iter().enumerate() {
        let Message::MultipartReply(r) = m else {
            panic!("{m:?}")
        };
        assert_eq!(r.more, i + 1 < out.len());
        assert!(m.buffer_len() <= 4096 + 16 + 8);
        let MultipartReplyBody::Flow(f) = &r.body else {
            panic!()
        };
        total += f.len();
    }
    assert_eq!(total, 500);
}

#[test]
fn port_desc_and_stats_report_every_port() {
    let mut a = agent();
    let out = messages(&send(
        &mut a,
        Message::MultipartRequest(MultipartRequest::new(MultipartRequestBody::PortDesc)),
    ));
    match out.as_slice() {
        [Message::MultipartReply(r)] => match &r.body {
            MultipartReplyBody::PortDesc(p) => {
                // Three ports and the local port, named after the switch as on Open vSwitch.
                assert_eq!(p.len(), 4);
                assert_eq!(p[0].name, "s1-eth1");
                assert!(p[0].is_up());
                assert_eq!((p[3].port_no, p[3].name.as_str()), (PortNo::LOCAL, "s1"));
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    let bad = MultipartRequest::new(MultipartRequestBody::PortStats(PortNo(9)));
    assert_eq!(
        error_of(&send(&mut a, Message::MultipartRequest(bad))),
        Some(ErrorKind::BadRequest(BadRequestCode::BadPort))
    );
}

#[test]
fn select_group_keeps_a_flow_on_one_bucket_and_ff_fails_over() {
    let mut a = agent();
    let gm = GroupMod {
        command: GroupCommand::Add,
        group_type: GroupType::Select,
        group_id: GroupId(1),
        buckets: vec![
            Bucket::weighted(1, vec![Action::output(PortNo(2))]),
            Bucket::weighted(1, vec![Action::output(PortNo(3))]),
        ],
    };
    assert!(send(&mut a, Message::GroupMod(gm)).is_empty());
    let watch = |p: u32| Bucket {
        weight: 0,
        watch_port: PortNo(p),
        watch_group: GroupId::ANY,
        actions: vec![Action::output(PortNo(p))],
    };
    let ff = GroupMod {
        command: GroupCommand::Add,
        group_type: GroupType::FastFailover,
        group_id: GroupId(2),
        buckets: vec![watch(2), watch(1)],
    };
    assert!(send(&mut a, Message::GroupMod(ff)).is_empty());
    let via = |g: u32| vec![Instruction::ApplyActions(vec![Action::Group(GroupId(g))])];
    send(
        &mut a,
        Message::FlowMod(FlowMod::add(
            TableId(0),
            5,
            Match::new().with(OxmField::InPort(PortNo(1))),
            via(1),
        )),
    );
    send(
        &mut a,
        Message::FlowMod(FlowMod::add(
            TableId(0),
            5,
            Match::new().with(OxmField::InPort(PortNo(3))),
            via(2),
        )),
    );
    let egress = |a: &mut SwitchAgent, in_port: u32| {
        let mut out = Vec::new();
        a.receive(NOW, PortNo(in_port), packet([10, 0, 0, 9]), 0, &mut out);
        out.iter()
            .filter_map(|e| match e {
                Effect::Emit { port, .. } => Some(*port),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let first = egress(&mut a, 1);
    assert_eq!(first.len(), 1);
    assert_eq!(egress(&mut a, 1), first);
    assert_eq!(egress(&mut a, 3), vec![PortNo(2)]);
    let mut out = Vec::new();
    assert!(a.set_port_up(PortNo(2), false, &mut out));
    assert!(matches!(messages(&out).as_slice(), [Message::PortStatus(s)] if !s.desc.is_up()));
    // Port 2 is dead: the fast-failover group moves to its second bucket.
    assert_eq!(egress(&mut a, 3), vec![PortNo(1)]);
    assert!(
        !a.set_port_up(PortNo(3), true, &mut out),
        "already up: no change"
    );
    let gd = GroupMod {
        command: GroupCommand::Delete,
        group_type: GroupType::All,
        group_id: GroupId(1),
        buckets: vec![],
    };
    send(&mut a, Message::GroupMod(gd));
    assert_eq!(
        a.tables().len(),
        1,
        "the flow using the deleted group is gone"
    );
    let _ = FlowModCommand::Add;
}

#[test]
fn arp_matches_and_set_field_rewrites_before_output() {
    let mut a = agent();
    let rewrite = vec![Instruction::ApplyActions(vec![
        Action::SetField(OxmField::Ipv4Dst {
            addr: "192.168.0.9".parse().unwrap(),
            mask: None,
        }),
        Action::output(PortNo(2)),
    ])];
    let m = Match::new()
        .with(OxmField::EthType(ETH_IPV4))
        .with(OxmField::Ipv4Dst {
            addr: "10.0.0.2".parse().unwrap(),
            mask: None,
        });
    send(
        &mut a,
        Message::FlowMod(FlowMod::add(TableId(0), 10, m, rewrite)),
    );
    let mut out = Vec::new();
    a.receive(NOW, PortNo(1), packet([10, 0, 0, 2]), 0, &mut out);
    match out.as_slice() {
        [Effect::Emit { frame, .. }] => assert_eq!(&frame[30..34], &[192, 168, 0, 9]),
        other => panic!("{other:?}"),
    }
    // An ARP request is not IPv4: it misses (no table-miss entry) and is dropped.
    out.clear();
    let arp = arp_request(
        prescient_southbound::openflow::wire::MacAddr([0, 0, 0, 0, 0, 1]),
        "10.0.0.1".parse().unwrap(),
        "10.0.0.2".parse().unwrap(),
    );
    a.receive(NOW, PortNo(1), arp, 0, &mut out);
    assert!(out.is_empty());
    assert_eq!(a.stats().dropped, 1);
}

fn emitted(out: &[Effect]) -> Vec<PortNo> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Emit { port, .. } => Some(*port),
            _ => None,
        })
        .collect()
}

#[test]
fn meter_drop_band_limits_forwarded_packets() {
    use prescient_southbound::openflow::wire::{
        MeterBand, MeterCommand, MeterFlags, MeterId, MeterMod,
    };
    let mut a = agent();
    let mm = MeterMod {
        command: MeterCommand::Add,
        flags: MeterFlags::PKTPS,
        meter_id: MeterId(1),
        bands: vec![MeterBand::Drop {
            rate: 5,
            burst_size: 0,
        }],
    };
    assert!(send(&mut a, Message::MeterMod(mm)).is_empty());
    let ins = vec![
        Instruction::Meter(MeterId(1)),
        Instruction::ApplyActions(vec![Action::output(PortNo(2))]),
    ];
    assert!(send(
        &mut a,
        Message::FlowMod(FlowMod::add(TableId(0), 1, Match::new(), ins))
    )
    .is_empty());
    let mut out = Vec::new();
    for _ in 0..20 {
        a.receive(NOW, PortNo(1), packet([10, 0, 0, 2]), 0, &mut out);
    }
    // A bucket of one second at 5 packets/s: 5 pass, 15 are dropped.
    assert_eq!(emitted(&out).len(), 5);
    assert_eq!(a.stats().dropped, 15);
    // A flow naming a meter that does not exist is refused.
    let bad = vec![Instruction::Meter(MeterId(9))];
    let out = send(
        &mut a,
        Message::FlowMod(FlowMod::add(TableId(0), 2, Match::new(), bad)),
    );
    assert!(matches!(error_of(&out), Some(ErrorKind::MeterModFailed(_))));
}

#[test]
fn write_actions_and_goto_table_run_the_action_set_at_the_end() {
    let mut a = agent();
    let t0 = vec![
        Instruction::WriteActions(vec![Action::output(PortNo(2))]),
        Instruction::GotoTable(TableId(1)),
    ];
    send(
        &mut a,
        Message::FlowMod(FlowMod::add(TableId(0), 1, Match::new(), t0)),
    );
    let new_mac = prescient_southbound::openflow::wire::MacAddr([2, 2, 2, 2, 2, 2]);
    let t1 = vec![Instruction::WriteActions(vec![
        Action::output(PortNo(3)),
        Action::SetField(OxmField::EthDst {
            addr: new_mac,
            mask: None,
        }),
    ])];
    send(
        &mut a,
        Message::FlowMod(FlowMod::add(TableId(1), 1, Match::new(), t1)),
    );
    let mut out = Vec::new();
    a.receive(NOW, PortNo(1), packet([10, 0, 0, 2]), 0, &mut out);
    // Table 1's output replaced table 0's; the set-field ran before the output.
    match out.as_slice() {
        [Effect::Emit {
            port: PortNo(3),
            frame,
            ..
        }] => assert_eq!(&frame[..6], &new_mac.0),
        other => panic!("{other:?}"),
    }
    let stats = messages(&send(
        &mut a,
        Message::MultipartRequest(MultipartRequest::new(MultipartRequestBody::Table)),
    ));
    match stats.as_slice() {
        [Message::MultipartReply(r)] => match &r.body {
            MultipartReplyBody::Table(t) => {
                assert_eq!(t.len(), usize::from(N_TABLES));
                assert_eq!(
                    (t[0].active_count, t[0].lookup_count, t[0].matched_count),
                    (1, 1, 1)
                );
                assert_eq!((t[1].active_count, t[1].lookup_count), (1, 1));
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn modelled_traffic_counts_on_the_entry_it_hits_and_a_miss_runs_as_a_first_packet() {
    let mut a = agent();
    let miss = vec![Instruction::ApplyActions(vec![Action::output(
        PortNo::CONTROLLER,
    )])];
    send(
        &mut a,
        Message::FlowMod(FlowMod::add(TableId(0), 0, Match::new(), miss)),
    );
    // Only the table-miss entry: nothing counted; as a first packet it reaches the controller.
    let mut out = Vec::new();
    a.account(
        NOW,
        PortNo(1),
        packet([10, 0, 0, 2]),
        (10, 8000),
        false,
        &mut out,
    );
    assert!(out.is_empty(), "{out:?}");
    a.account(
        NOW,
        PortNo(1),
        packet([10, 0, 0, 2]),
        (10, 8000),
        true,
        &mut out,
    );
    assert!(
        matches!(messages(&out).as_slice(), [Message::PacketIn(_)]),
        "{out:?}"
    );
    let miss_entry = |a: &SwitchAgent| {
        a.tables()
            .entries()
            .find(|e| e.priority == 0)
            .map(|e| e.packet_count)
    };
    assert_eq!(miss_entry(&a), Some(1), "the real first packet only");
    // The controller installs the pair's flow: the bulk is counted there, nothing is sent.
    let m = Match::new()
        .with(OxmField::InPort(PortNo(1)))
        .with(OxmField::EthType(ETH_IPV4))
        .with(OxmField::Ipv4Dst {
            addr: "10.0.0.2".parse().unwrap(),
            mask: None,
        });
    let mut fm = FlowMod::add(TableId(0), 10, m, out_port(2));
    fm.idle_timeout = 5;
    send(&mut a, Message::FlowMod(fm));
    out.clear();
    let later = NOW + Duration::from_secs(4);
    a.account(
        later,
        PortNo(1),
        packet([10, 0, 0, 2]),
        (10, 8000),
        true,
        &mut out,
    );
    a.account(
        later,
        PortNo(1),
        packet([10, 0, 0, 2]),
        (5, 4000),
        true,
        &mut out,
    );
    assert!(out.is_empty(), "counted, not forwarded: {out:?}");
    let flow = a.tables().entries().find(|e| e.priority == 10).unwrap();
    assert_eq!((flow.packet_count, flow.byte_count), (15, 12_000));
    // Counted traffic keeps the entry alive past its idle timeout from install.
    assert!(flow.expired(NOW + Duration::from_secs(6)).is_none());
    // Another in_port misses the entry.
    a.account(
        NOW,
        PortNo(3),
        packet([10, 0, 0, 2]),
        (1, 800),
        false,
        &mut out,
    );
    assert_eq!(
        a.tables()
            .entries()
            .find(|e| e.priority == 10)
            .unwrap()
            .packet_count,
        15
    );
}

#[test]
fn flood_skips_ports_off_the_spanning_tree_but_all_does_not() {
    let mut a = agent();
    a.set_no_flood(vec![PortNo(3)]);
    let po = |port| PacketOut {
        buffer_id: prescient_southbound::openflow::wire::BufferId::NO_BUFFER,
        in_port: PortNo(1),
        actions: vec![Action::output(port)],
        data: packet([1, 2, 3, 4]),
    };
    assert_eq!(
        emitted(&send(&mut a, Message::PacketOut(po(PortNo::FLOOD)))),
        vec![PortNo(2)]
    );
    assert_eq!(
        emitted(&send(&mut a, Message::PacketOut(po(PortNo::ALL)))),
        vec![PortNo(2), PortNo(3)]
    );
}
