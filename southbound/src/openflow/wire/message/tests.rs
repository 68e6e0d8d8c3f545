//! Whole-frame tests: bytes captured from Open vSwitch 3.1 `ovs-ofctl`, our encodings checked
//! with `ovs-ofctl ofp-parse` (its decoded text quoted above each), and malformed frames.

use core::net::Ipv4Addr;

use bytes::Bytes;

use super::*;
use crate::openflow::wire::multipart::{FlowStatsRequest, MultipartRequestBody, MultipartType};
use crate::openflow::wire::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Parses, checks the value, re-emits and checks the bytes are identical.
fn check(frame: &str, xid: u32, expect: &Message) {
    let bytes = hex(frame);
    let (x, msg) = Message::parse(&bytes).unwrap();
    assert_eq!(x, Xid(xid));
    assert_eq!(&msg, expect);
    assert_eq!(expect.to_vec(Xid(xid)).unwrap(), bytes);
}

const ARP: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1, 8, 6];

/// OVS `ovs-ofctl -O OpenFlow13` sends this HELLO (bitmap: 1.3 only).
#[test]
fn ovs_hello_capture() {
    check(
        "04000010000000010001000800000010",
        1,
        &Message::Hello(Hello {
            version: 4,
            elements: vec![HelloElement::VersionBitmap(vec![1 << 4])],
        }),
    );
    assert_eq!(
        Message::Hello(Hello::ofp13()).to_vec(Xid(1)).unwrap(),
        hex("04000010000000010001000800000010")
    );
}

/// OVS `add-meter "meter=1,kbps,burst,stats,bands=type=drop,rate=10000,burst_size=1000,
/// type=dscp_remark,rate=20000,burst_size=100,prec_level=1"`: captured from OVS's encoder.
#[test]
fn ovs_meter_mod_capture() {
    check(
        "041d0030000000020000000d000000010001001000002710000003e8000000000002001000004e200000006401000000",
        2,
        &Message::MeterMod(MeterMod {
            command: MeterCommand::Add,
            flags: MeterFlags::KBPS | MeterFlags::BURST | MeterFlags::STATS,
            meter_id: MeterId(1),
            bands: vec![
                MeterBand::Drop { rate: 10_000, burst_size: 1000 },
                MeterBand::DscpRemark { rate: 20_000, burst_size: 100, prec_level: 1 },
            ],
        }),
    );
}

/// OVS asks for TABLE_FEATURES before a flow mod; we keep the unmodelled type as bytes.
#[test]
fn ovs_table_features_request_is_kept() {
    let bytes = hex("0412001000000002000c000000000000");
    let (_, msg) = Message::parse(&bytes).unwrap();
    match &msg {
        Message::MultipartRequest(r) => assert_eq!(r.mp_type(), MultipartType::TableFeatures),
        other => panic!("expected a multipart request, got {other:?}"),
    }
    assert_eq!(msg.to_vec(Xid(2)).unwrap(), bytes);
}

/// `OFPT_FLOW_MOD (OF1.3) (xid=0x7): ADD priority=100,ip,in_port=1,nw_dst=10.0.0.0/8
/// cookie:0x1234 idle:30 send_flow_rem actions=set_field:aa:bb:cc:dd:ee:ff->eth_dst,group:5,
/// output:2`
#[test]
fn flow_mod_as_ovs_reads_it() {
    let mut fm = FlowMod::add(
        TableId(0),
        100,
        Match::new()
            .with(OxmField::InPort(PortNo(1)))
            .with(OxmField::EthType(0x0800))
            .with(OxmField::Ipv4Dst {
                addr: Ipv4Addr::new(10, 0, 0, 0),
                mask: Some(Ipv4Addr::new(255, 0, 0, 0)),
            }),
        vec![Instruction::ApplyActions(vec![
            Action::SetField(OxmField::EthDst {
                addr: MacAddr([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]),
                mask: None,
            }),
            Action::Group(GroupId(5)),
            Action::Output {
                port: PortNo(2),
                max_len: 0,
            },
        ])],
    );
    fm.cookie = 0x1234;
    fm.idle_timeout = 30;
    fm.flags = FlowModFlags::SEND_FLOW_REM;
    check(
        "040e008000000007000000000000123400000000000000000000001e00000064ffffffffffffffffffffffff\
         000100000001001e800000040000000180000a020800800019080a000000ff000000000000040030000000\
         000019001080000606aabbccddeeff0000001600080000000500000010000000020000000000000000",
        7,
        &Message::FlowMod(fm),
    );
}

/// `OFPT_FLOW_MOD (OF1.3) (xid=0xd): ADD table:2 priority=5,ipv6,dl_vlan=10,
/// ipv6_src=2001:db8::/32 actions=meter:2,pop_vlan,push_vlan:0x8100,set_queue:3,dec_ttl,
/// write_metadata:0x5/0xff,goto_table:3`
#[test]
fn flow_mod_with_every_instruction_as_ovs_reads_it() {
    let fm = FlowMod::add(
        TableId(2),
        5,
        Match::new()
            .with(OxmField::vlan(10))
            .with(OxmField::EthType(0x86dd))
            .with(OxmField::Ipv6Src {
                addr: "2001:db8::".parse().unwrap(),
                mask: Some("ffff:ffff::".parse().unwrap()),
            }),
        vec![
            Instruction::Meter(MeterId(2)),
            Instruction::ApplyActions(vec![
                Action::PopVlan,
                Action::PushVlan(0x8100),
                Action::SetQueue(3),
                Action::DecNwTtl,
            ]),
            Instruction::WriteMetadata {
                metadata: 5,
                mask: 0xff,
            },
            Instruction::GotoTable(TableId(3)),
        ],
    );
    check(
        "040e00b80000000d000000000000000000000000000000000200000000000005ffffffffffffffffffffffff\
         000000000001003480000c02100a80000a0286dd8000352020010db8000000000000000000000000ffffff\
         ff000000000000000000000000000000000006000800000002000400280000000000120008000000000011\
         000881000000001500080000000300180008000000000002001800000000000000000000000500000000000\
         000ff0001000803000000",
        13,
        &Message::FlowMod(fm),
    );
}

/// `OFPT_FLOW_MOD (OF1.3) (xid=0xa): DEL table:1 priority=0,tcp,tp_dst=80 cookie:0x10/0xff
/// out_port:2 actions=drop`
#[test]
fn delete_flows_as_ovs_reads_it() {
    let d = FlowMod::delete(
        TableId(1),
        Match::new()
            .with(OxmField::EthType(0x800))
            .with(OxmField::IpProto(6))
            .with(OxmField::TcpDst(80)),
    );
    let d = FlowMod {
        cookie: 0x10,
        cookie_mask: 0xff,
        out_port: PortNo(2),
        ..d
    };
    check(
        "040e00480000000a000000000000001000000000000000ff0103000000000000ffffffff00000002ffffffff\
         000000000001001580000a020800800014010680001c020050000000",
        10,
        &Message::FlowMod(d),
    );
}

/// `OFPT_GROUP_MOD (OF1.3) (xid=0x8): ADD group_id=1,type=select,bucket=weight:10,
/// watch_port:3,actions=output:3,bucket=weight:20,actions=output:4`
#[test]
fn group_mod_as_ovs_reads_it() {
    let g = GroupMod {
        command: GroupCommand::Add,
        group_type: GroupType::Select,
        group_id: GroupId(1),
        buckets: vec![
            Bucket {
                weight: 10,
                watch_port: PortNo(3),
                watch_group: GroupId::ANY,
                actions: vec![Action::output(PortNo(3))],
            },
            Bucket::weighted(20, vec![Action::output(PortNo(4))]),
        ],
    };
    check(
        "040f00500000000800000100000000010020000a00000003ffffffff000000000000001000000003ffff0000\
         0000000000200014ffffffffffffffff000000000000001000000004ffff000000000000",
        8,
        &Message::GroupMod(g),
    );
}

/// `OFPT_PACKET_OUT (OF1.3) (xid=0x9): in_port=CONTROLLER actions=FLOOD data_len=14`
#[test]
fn packet_out_as_ovs_reads_it() {
    check(
        "040d003600000009fffffffffffffffd001000000000000000000010fffffffbffff000000000000ffffffff\
         ffff0000000000010806",
        9,
        &Message::PacketOut(PacketOut::to_port(PortNo::FLOOD, Bytes::from_static(ARP))),
    );
}

/// `OFPT_PACKET_IN (OF1.3) (xid=0x0): cookie=0x0 total_len=14 in_port=3 (via no_match)
/// data_len=14 (unbuffered)`
#[test]
fn packet_in_as_ovs_reads_it() {
    let frame =
        "040a003800000000ffffffff000e000000000000000000000001000c8000000400000003000000000000\
                 ffffffffffff0000000000010806";
    let pi = PacketIn {
        buffer_id: BufferId::NO_BUFFER,
        total_len: 14,
        reason: PacketInReason::NoMatch,
        table_id: TableId(0),
        cookie: 0,
        match_: Match::new().with(OxmField::InPort(PortNo(3))),
        data: Bytes::from_static(ARP),
    };
    check(frame, 0, &Message::PacketIn(pi));
    let bytes = Bytes::from(hex(frame));
    let view = PacketInView::new_checked(bytes.clone()).unwrap();
    assert_eq!(view.in_port(), Some(PortNo(3)));
    assert_eq!(&view.data_bytes()[..], ARP);
    // The zero-copy parse shares the frame's memory.
    let (_, msg) = Message::parse_bytes(&bytes).unwrap();
    let Message::PacketIn(pi) = msg else {
        panic!("not a packet-in")
    };
    assert_eq!(pi.data.as_ptr(), bytes[bytes.len() - ARP.len()..].as_ptr());
}

/// `OFPST_FLOW request (OF1.3) (xid=0xb): table=0 in_port=1`
#[test]
fn flow_stats_request_as_ovs_reads_it() {
    let r = MultipartRequest::new(MultipartRequestBody::Flow(FlowStatsRequest {
        table_id: TableId(0),
        match_: Match::new().with(OxmField::InPort(PortNo(1))),
        ..Default::default()
    }));
    check(
        "041200400000000b000100000000000000000000ffffffffffffffff00000000000000000000000000000000\
         000000000001000c800000040000000100000000",
        11,
        &Message::MultipartRequest(r),
    );
}

/// `OFPT_ROLE_REQUEST (OF1.3) (xid=0xc): role=primary generation_id=3`
#[test]
fn role_request_as_ovs_reads_it() {
    check(
        "041800180000000c00000002000000000000000000000003",
        12,
        &Message::RoleRequest(Role {
            role: ControllerRole::Master,
            generation_id: 3,
        }),
    );
}

#[test]
fn bodyless_messages_and_echo() {
    check("0414000800000005", 5, &Message::BarrierRequest);
    let f = Frame::parse(&hex("0414000800000005")).unwrap();
    assert_eq!(f, Frame::new(Xid(5), Message::BarrierRequest));
    assert_eq!(f.to_vec().unwrap(), hex("0414000800000005"));
    check("0415000800000005", 5, &Message::BarrierReply);
    check("0405000800000001", 1, &Message::FeaturesRequest);
    check("0407000800000001", 1, &Message::GetConfigRequest);
    check(
        "0402000b00000003616263",
        3,
        &Message::EchoRequest(Bytes::from_static(b"abc")),
    );
}

#[test]
fn unknown_message_type_round_trips() {
    // PORT_MOD is not modelled: kept as bytes.
    let frame =
        "0410002800000004000000010000000000000000000000010000000000000000000000000000000000";
    let frame = &frame[..80];
    let (_, msg) = Message::parse(&hex(frame)).unwrap();
    assert!(matches!(msg, Message::Unknown { msg_type: 16, .. }));
    assert_eq!(msg.to_vec(Xid(4)).unwrap(), hex(frame));
    check(
        "04c8000a0000000401ff",
        4,
        &Message::Unknown {
            msg_type: 200,
            body: Bytes::from_static(&[1, 0xff]),
        },
    );
}

#[test]
fn malformed_frames_give_typed_errors() {
    // Header length disagrees with the buffer.
    assert_eq!(
        Message::parse(&hex("04140010000000050000")),
        Err(WireError::LengthMismatch {
            msg: "BARRIER_REQUEST",
            header: 16,
            actual: 10
        })
    );
    // Length below the header.
    assert_eq!(
        Message::parse(&hex("0414000400000005")),
        Err(WireError::HeaderTooShort { length: 4 })
    );
    // Too short for a header at all.
    assert!(matches!(
        Message::parse(&[4, 0]),
        Err(WireError::Truncated { .. })
    ));
    // OpenFlow 1.0 FEATURES_REQUEST.
    assert_eq!(
        Message::parse(&hex("0105000800000001")),
        Err(WireError::UnsupportedVersion {
            msg: "FEATURES_REQUEST",
            version: 1
        })
    );
    // A barrier with a body.
    assert_eq!(
        Message::parse(&hex("0414000c0000000500000000")),
        Err(WireError::TrailingBytes {
            msg: "BARRIER_REQUEST",
            field: "body",
            extra: 4
        })
    );
    // A FLOW_MOD whose match claims more bytes than the message has.
    let mut fm = hex(
        "040e00480000000a000000000000001000000000000000ff0103000000000000ffffffff00000002ffffffff\
         000000000001001580000a020800800014010680001c020050000000",
    );
    fm[51] = 0x60;
    let e = Message::parse(&fm).unwrap_err();
    assert_eq!(
        e.to_string(),
        "FLOW_MOD: match 0 (OXM) length 96 exceeds remaining 24 bytes"
    );
}

#[test]
fn emit_refuses_oversized_messages_and_short_buffers() {
    let big = Message::EchoRequest(Bytes::from(vec![0u8; 70_000]));
    assert_eq!(
        big.to_vec(Xid(1)),
        Err(WireError::TooLong {
            msg: "ECHO_REQUEST",
            len: 70_008
        })
    );
    let mut small = [0u8; 4];
    assert_eq!(
        Message::BarrierRequest.emit(Xid(1), &mut small),
        Err(WireError::BufferTooSmall {
            msg: "BARRIER_REQUEST",
            need: 8,
            have: 4
        })
    );
    let mut buf = bytes::BytesMut::from(&b"xy"[..]);
    assert!(big.emit_to(Xid(1), &mut buf).is_err());
    assert_eq!(&buf[..], b"xy");
    Message::BarrierReply.emit_to(Xid(2), &mut buf).unwrap();
    assert_eq!(&buf[..], &hex("78790415000800000002")[..]);
}
