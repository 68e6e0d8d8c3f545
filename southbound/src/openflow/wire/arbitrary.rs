//! proptest strategies for every wire value, and the `parse(emit(x)) == x` property per message.
//!
//! Strategies only build values that are canonical on the wire (e.g. `Unknown` variants never
//! carry a value the codec names), since those are the values the round trip must preserve.

use core::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;

use super::action::{Action, ActionType};
use super::config::SwitchConfig;
use super::error::{ErrorKind, ErrorMsg};
use super::features::FeaturesReply;
use super::flow_mod::{FlowMod, FlowModCommand, FlowModFlags};
use super::flow_removed::{FlowRemoved, FlowRemovedReason};
use super::group_mod::{Bucket, GroupCommand, GroupMod, GroupType};
use super::header::MsgType;
use super::hello::{Hello, HelloElement};
use super::instruction::{Instruction, InstructionType};
use super::message::Message;
use super::meter_mod::{MeterBand, MeterCommand, MeterFlags, MeterMod};
use super::multipart::{
    AggregateStats, BandStats, Desc, FlowStats, FlowStatsRequest, GroupDesc, MeterConfig,
    MeterStats, MultipartReply, MultipartReplyBody, MultipartRequest, MultipartRequestBody,
    MultipartType, PortStats, TableStats,
};
use super::oxm::{field_name, Match, OxmField, CLASS_OPENFLOW_BASIC};
use super::packet_in::{PacketIn, PacketInReason};
use super::packet_out::PacketOut;
use super::port_status::{Port, PortReason, PortStatus};
use super::role::{ControllerRole, Role};
use super::types::{BufferId, DatapathId, GroupId, MacAddr, MeterId, PortNo, TableId, Xid};

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

fn port() -> impl Strategy<Value = PortNo> {
    prop_oneof![
        any::<u32>().prop_map(PortNo),
        Just(PortNo::CONTROLLER),
        Just(PortNo::ANY)
    ]
}

/// Any OXM field, named or unknown.
pub(crate) fn oxm() -> impl Strategy<Value = OxmField> {
    prop_oneof![
        port().prop_map(OxmField::InPort),
        port().prop_map(OxmField::InPhyPort),
        (any::<u64>(), proptest::option::of(any::<u64>()))
            .prop_map(|(value, mask)| OxmField::Metadata { value, mask }),
        (mac(), proptest::option::of(mac()))
            .prop_map(|(addr, mask)| OxmField::EthDst { addr, mask }),
        (mac(), proptest::option::of(mac()))
            .prop_map(|(addr, mask)| OxmField::EthSrc { addr, mask }),
        any::<u16>().prop_map(OxmField::EthType),
        (any::<u16>(), proptest::option::of(any::<u16>()))
            .prop_map(|(vid, mask)| OxmField::VlanVid { vid, mask }),
        any::<u8>().prop_map(OxmField::VlanPcp),
        any::<u8>().prop_map(OxmField::IpDscp),
        any::<u8>().prop_map(OxmField::IpEcn),
        any::<u8>().prop_map(OxmField::IpProto),
        (v4(), proptest::option::of(v4()))
            .prop_map(|(addr, mask)| OxmField::Ipv4Src { addr, mask }),
        (v4(), proptest::option::of(v4()))
            .prop_map(|(addr, mask)| OxmField::Ipv4Dst { addr, mask }),
        any::<u16>().prop_map(OxmField::TcpSrc),
        any::<u16>().prop_map(OxmField::TcpDst),
        any::<u16>().prop_map(OxmField::UdpSrc),
        any::<u16>().prop_map(OxmField::UdpDst),
        any::<u8>().prop_map(OxmField::Icmpv4Type),
        any::<u8>().prop_map(OxmField::Icmpv4Code),
        any::<u16>().prop_map(OxmField::ArpOp),
        (v4(), proptest::option::of(v4())).prop_map(|(addr, mask)| OxmField::ArpSpa { addr, mask }),
        (v4(), proptest::option::of(v4())).prop_map(|(addr, mask)| OxmField::ArpTpa { addr, mask }),
        (mac(), proptest::option::of(mac()))
            .prop_map(|(addr, mask)| OxmField::ArpSha { addr, mask }),
        (mac(), proptest::option::of(mac()))
            .prop_map(|(addr, mask)| OxmField::ArpTha { addr, mask }),
        (v6(), proptest::option::of(v6()))
            .prop_map(|(addr, mask)| OxmField::Ipv6Src { addr, mask }),
        (v6(), proptest::option::of(v6()))
            .prop_map(|(addr, mask)| OxmField::Ipv6Dst { addr, mask }),
        (any::<u16>(), 0u8..128, any::<bool>(), bytes(40))
            .prop_filter("named basic fields are not Unknown", |(c, f, _, _)| {
                *c != CLASS_OPENFLOW_BASIC || field_name(*c, *f) == "UNKNOWN_FIELD"
            })
            .prop_map(|(class, field, has_mask, value)| OxmField::Unknown {
                class,
                field,
                has_mask,
                value
            }),
    ]
}

/// A match of up to 6 fields.
pub(crate) fn match_() -> impl Strategy<Value = Match> {
    vec(oxm(), 0..6).prop_map(|fields| Match { fields })
}

fn unknown_u16<T: Copy + core::fmt::Debug + Into<u16> + From<u16> + 'static>(
    named: &'static [T],
) -> impl Strategy<Value = T> {
    prop_oneof![
        proptest::sample::select(named),
        any::<u16>().prop_map(T::from),
    ]
}

/// Any action.
pub(crate) fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (port(), any::<u16>()).prop_map(|(port, max_len)| Action::Output { port, max_len }),
        Just(Action::CopyTtlOut),
        Just(Action::CopyTtlIn),
        any::<u8>().prop_map(Action::SetMplsTtl),
        Just(Action::DecMplsTtl),
        any::<u16>().prop_map(Action::PushVlan),
        Just(Action::PopVlan),
        any::<u16>().prop_map(Action::PushMpls),
        any::<u16>().prop_map(Action::PopMpls),
        any::<u32>().prop_map(Action::SetQueue),
        any::<u32>().prop_map(|g| Action::Group(GroupId(g))),
        any::<u8>().prop_map(Action::SetNwTtl),
        Just(Action::DecNwTtl),
        oxm().prop_map(Action::SetField),
        any::<u16>().prop_map(Action::PushPbb),
        Just(Action::PopPbb),
        (any::<u16>(), bytes(24))
            .prop_filter("named types are not Unknown", |(t, _)| {
                matches!(
                    ActionType::from(*t),
                    ActionType::Unknown(_) | ActionType::Experimenter
                )
            })
            .prop_map(|(action_type, body)| Action::Unknown { action_type, body }),
    ]
}

/// Any instruction.
pub(crate) fn instruction() -> impl Strategy<Value = Instruction> {
    prop_oneof![
        any::<u8>().prop_map(|t| Instruction::GotoTable(TableId(t))),
        (any::<u64>(), any::<u64>())
            .prop_map(|(metadata, mask)| Instruction::WriteMetadata { metadata, mask }),
        vec(action(), 0..4).prop_map(Instruction::WriteActions),
        vec(action(), 0..4).prop_map(Instruction::ApplyActions),
        Just(Instruction::ClearActions),
        any::<u32>().prop_map(|m| Instruction::Meter(MeterId(m))),
        (any::<u16>(), bytes(24))
            .prop_filter("named types are not Unknown", |(t, _)| {
                matches!(
                    InstructionType::from(*t),
                    InstructionType::Unknown(_) | InstructionType::Experimenter
                )
            })
            .prop_map(|(instruction_type, body)| Instruction::Unknown {
                instruction_type,
                body
            }),
    ]
}

fn bucket() -> impl Strategy<Value = Bucket> {
    (any::<u16>(), port(), any::<u32>(), vec(action(), 0..3)).prop_map(|(w, p, g, actions)| {
        Bucket {
            weight: w,
            watch_port: p,
            watch_group: GroupId(g),
            actions,
        }
    })
}

fn band() -> impl Strategy<Value = MeterBand> {
    prop_oneof![
        (any::<u32>(), any::<u32>())
            .prop_map(|(rate, burst_size)| MeterBand::Drop { rate, burst_size }),
        (any::<u32>(), any::<u32>(), any::<u8>()).prop_map(|(rate, burst_size, prec_level)| {
            MeterBand::DscpRemark {
                rate,
                burst_size,
                prec_level,
            }
        }),
        (3u16.., any::<u32>(), any::<u32>(), bytes(12)).prop_map(
            |(band_type, rate, burst_size, body)| MeterBand::Unknown {
                band_type,
                rate,
                burst_size,
                body
            }
        ),
    ]
}

fn name(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[a-zA-Z0-9 _.-]{{0,{max}}}")).unwrap()
}

fn ofp_port() -> impl Strategy<Value = Port> {
    (port(), mac(), name(15), any::<[u32; 8]>()).prop_map(|(port_no, hw_addr, name, v)| Port {
        port_no,
        hw_addr,
        name,
        config: v[0],
        state: v[1],
        curr: v[2],
        advertised: v[3],
        supported: v[4],
        peer: v[5],
        curr_speed: v[6],
        max_speed: v[7],
    })
}

fn error_kind() -> impl Strategy<Value = ErrorKind> {
    prop_oneof![
        (0u16..0xffff, any::<u16>()).prop_map(|(t, c)| ErrorKind::from_parts(t, c)),
        (any::<u16>(), any::<u32>()).prop_map(|(exp_type, experimenter)| ErrorKind::Experimenter {
            exp_type,
            experimenter
        }),
    ]
}

fn flow_stats_request() -> impl Strategy<Value = FlowStatsRequest> {
    (
        any::<u8>(),
        port(),
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        match_(),
    )
        .prop_map(
            |(t, out_port, g, cookie, cookie_mask, match_)| FlowStatsRequest {
                table_id: TableId(t),
                out_port,
                out_group: GroupId(g),
                cookie,
                cookie_mask,
                match_,
            },
        )
}

fn flow_stats() -> impl Strategy<Value = FlowStats> {
    (
        any::<(u8, u32, u32, u16, u16, u16, u16)>(),
        any::<(u64, u64, u64)>(),
        match_(),
        vec(instruction(), 0..3),
    )
        .prop_map(
            |((t, ds, dn, prio, idle, hard, flags), (cookie, pc, bc), match_, instructions)| {
                FlowStats {
                    table_id: TableId(t),
                    duration_sec: ds,
                    duration_nsec: dn,
                    priority: prio,
                    idle_timeout: idle,
                    hard_timeout: hard,
                    flags: FlowModFlags(flags),
                    cookie,
                    packet_count: pc,
                    byte_count: bc,
                    match_,
                    instructions,
                }
            },
        )
}

fn multipart_type_unknown() -> impl Strategy<Value = u16> {
    any::<u16>().prop_filter("modelled types are not Unknown", |t| {
        matches!(
            MultipartType::from(*t),
            MultipartType::Unknown(_)
                | MultipartType::Queue
                | MultipartType::Group
                | MultipartType::GroupFeatures
                | MultipartType::MeterFeatures
                | MultipartType::TableFeatures
                | MultipartType::Experimenter
        )
    })
}

fn mp_request() -> impl Strategy<Value = MultipartRequest> {
    use MultipartRequestBody as B;
    let body = prop_oneof![
        Just(B::Desc),
        flow_stats_request().prop_map(B::Flow),
        flow_stats_request().prop_map(B::Aggregate),
        Just(B::Table),
        port().prop_map(B::PortStats),
        Just(B::PortDesc),
        Just(B::GroupDesc),
        any::<u32>().prop_map(|m| B::Meter(MeterId(m))),
        any::<u32>().prop_map(|m| B::MeterConfig(MeterId(m))),
        (multipart_type_unknown(), bytes(32))
            .prop_map(|(mp_type, body)| B::Unknown { mp_type, body }),
    ];
    (any::<bool>(), body).prop_map(|(more, body)| MultipartRequest { more, body })
}

fn mp_reply() -> impl Strategy<Value = MultipartReply> {
    use MultipartReplyBody as B;
    let desc =
        (name(40), name(40), name(40), name(31), name(40)).prop_map(|(a, b, c, d, e)| Desc {
            mfr_desc: a,
            hw_desc: b,
            sw_desc: c,
            serial_num: d,
            dp_desc: e,
        });
    let table = any::<(u8, u32, u64, u64)>().prop_map(|(t, a, l, m)| TableStats {
        table_id: TableId(t),
        active_count: a,
        lookup_count: l,
        matched_count: m,
    });
    let port_stats =
        (port(), any::<[u64; 12]>(), any::<(u32, u32)>()).prop_map(|(p, c, (s, n))| PortStats {
            port_no: p,
            rx_packets: c[0],
            tx_packets: c[1],
            rx_bytes: c[2],
            tx_bytes: c[3],
            rx_dropped: c[4],
            tx_dropped: c[5],
            rx_errors: c[6],
            tx_errors: c[7],
            rx_frame_err: c[8],
            rx_over_err: c[9],
            rx_crc_err: c[10],
            collisions: c[11],
            duration_sec: s,
            duration_nsec: n,
        });
    let group_desc = (unknown_u8_group_type(), any::<u32>(), vec(bucket(), 0..3)).prop_map(
        |(group_type, g, buckets)| GroupDesc {
            group_type,
            group_id: GroupId(g),
            buckets,
        },
    );
    let meter_stats = (
        any::<(u32, u32, u64, u64, u32, u32)>(),
        vec(any::<(u64, u64)>(), 0..3),
    )
        .prop_map(|((m, fc, pc, bc, ds, dn), bands)| MeterStats {
            meter_id: MeterId(m),
            flow_count: fc,
            packet_in_count: pc,
            byte_in_count: bc,
            duration_sec: ds,
            duration_nsec: dn,
            band_stats: bands
                .into_iter()
                .map(|(p, b)| BandStats {
                    packet_band_count: p,
                    byte_band_count: b,
                })
                .collect(),
        });
    let meter_config =
        (any::<u16>(), any::<u32>(), vec(band(), 0..3)).prop_map(|(f, m, bands)| MeterConfig {
            flags: MeterFlags(f),
            meter_id: MeterId(m),
            bands,
        });
    let body = prop_oneof![
        desc.prop_map(B::Desc),
        vec(flow_stats(), 0..3).prop_map(B::Flow),
        any::<(u64, u64, u32)>().prop_map(|(p, b, f)| B::Aggregate(AggregateStats {
            packet_count: p,
            byte_count: b,
            flow_count: f
        })),
        vec(table, 0..3).prop_map(B::Table),
        vec(port_stats, 0..3).prop_map(B::PortStats),
        vec(ofp_port(), 0..3).prop_map(B::PortDesc),
        vec(group_desc, 0..3).prop_map(B::GroupDesc),
        vec(meter_stats, 0..3).prop_map(B::Meter),
        vec(meter_config, 0..3).prop_map(B::MeterConfig),
        (multipart_type_unknown(), bytes(32))
            .prop_map(|(mp_type, body)| B::Unknown { mp_type, body }),
    ];
    (any::<bool>(), body).prop_map(|(more, body)| MultipartReply { more, body })
}

fn unknown_u8_group_type() -> impl Strategy<Value = GroupType> {
    any::<u8>().prop_map(GroupType::from)
}

/// Any message.
pub(crate) fn message() -> impl Strategy<Value = Message> {
    let hello = (
        any::<u8>(),
        vec(
            prop_oneof![
                vec(any::<u32>(), 0..3).prop_map(HelloElement::VersionBitmap),
                (2u16.., bytes(12))
                    .prop_map(|(elem_type, body)| HelloElement::Unknown { elem_type, body }),
            ],
            0..3,
        ),
    )
        .prop_map(|(version, elements)| Message::Hello(Hello { version, elements }));
    let features = any::<(u64, u32, u8, u8, u32, u32)>().prop_map(|(d, b, t, a, c, r)| {
        Message::FeaturesReply(FeaturesReply {
            datapath_id: DatapathId(d),
            n_buffers: b,
            n_tables: t,
            auxiliary_id: a,
            capabilities: c,
            reserved: r,
        })
    });
    let config = any::<(u16, u16)>().prop_map(|(flags, miss_send_len)| SwitchConfig {
        flags,
        miss_send_len,
    });
    let packet_in = (any::<(u32, u16, u8, u8, u64)>(), match_(), bytes(64)).prop_map(
        |((b, tl, r, t, c), match_, data)| {
            Message::PacketIn(PacketIn {
                buffer_id: BufferId(b),
                total_len: tl,
                reason: PacketInReason::from(r),
                table_id: TableId(t),
                cookie: c,
                match_,
                data,
            })
        },
    );
    let packet_out = (any::<u32>(), port(), vec(action(), 0..4), bytes(64)).prop_map(
        |(b, in_port, actions, data)| {
            Message::PacketOut(PacketOut {
                buffer_id: BufferId(b),
                in_port,
                actions,
                data,
            })
        },
    );
    let flow_mod = (
        any::<(u64, u64, u8, u8, u16, u16, u16)>(),
        any::<(u32, u32, u32, u16)>(),
        match_(),
        vec(instruction(), 0..4),
    )
        .prop_map(
            |((c, cm, t, cmd, idle, hard, prio), (b, op, og, fl), match_, instructions)| {
                Message::FlowMod(FlowMod {
                    cookie: c,
                    cookie_mask: cm,
                    table_id: TableId(t),
                    command: FlowModCommand::from(cmd),
                    idle_timeout: idle,
                    hard_timeout: hard,
                    priority: prio,
                    buffer_id: BufferId(b),
                    out_port: PortNo(op),
                    out_group: GroupId(og),
                    flags: FlowModFlags(fl),
                    match_,
                    instructions,
                })
            },
        );
    let flow_removed = (
        any::<(u64, u16, u8, u8, u32, u32)>(),
        any::<(u16, u16, u64, u64)>(),
        match_(),
    )
        .prop_map(|((c, p, r, t, ds, dn), (idle, hard, pc, bc), match_)| {
            Message::FlowRemoved(FlowRemoved {
                cookie: c,
                priority: p,
                reason: FlowRemovedReason::from(r),
                table_id: TableId(t),
                duration_sec: ds,
                duration_nsec: dn,
                idle_timeout: idle,
                hard_timeout: hard,
                packet_count: pc,
                byte_count: bc,
                match_,
            })
        });
    let group_mod = (
        unknown_u16(GroupCommand::NAMED),
        unknown_u8_group_type(),
        any::<u32>(),
        vec(bucket(), 0..4),
    )
        .prop_map(|(command, group_type, g, buckets)| {
            Message::GroupMod(GroupMod {
                command,
                group_type,
                group_id: GroupId(g),
                buckets,
            })
        });
    let meter_mod = (
        unknown_u16(MeterCommand::NAMED),
        any::<u16>(),
        any::<u32>(),
        vec(band(), 0..4),
    )
        .prop_map(|(command, f, m, bands)| {
            Message::MeterMod(MeterMod {
                command,
                flags: MeterFlags(f),
                meter_id: MeterId(m),
                bands,
            })
        });
    let role = (any::<u32>(), any::<u64>()).prop_map(|(r, generation_id)| Role {
        role: ControllerRole::from(r),
        generation_id,
    });
    let port_status = (any::<u8>(), ofp_port()).prop_map(|(r, desc)| {
        Message::PortStatus(PortStatus {
            reason: PortReason::from(r),
            desc,
        })
    });
    prop_oneof![
        hello,
        (error_kind(), bytes(64)).prop_map(|(kind, data)| Message::Error(ErrorMsg { kind, data })),
        bytes(32).prop_map(Message::EchoRequest),
        bytes(32).prop_map(Message::EchoReply),
        Just(Message::FeaturesRequest),
        features,
        Just(Message::GetConfigRequest),
        config.clone().prop_map(Message::GetConfigReply),
        config.prop_map(Message::SetConfig),
        packet_in,
        flow_removed,
        port_status,
        packet_out,
        flow_mod,
        group_mod,
        mp_request().prop_map(Message::MultipartRequest),
        mp_reply().prop_map(Message::MultipartReply),
        Just(Message::BarrierRequest),
        Just(Message::BarrierReply),
        role.clone().prop_map(Message::RoleRequest),
        role.prop_map(Message::RoleReply),
        meter_mod,
        (any::<u8>(), bytes(32))
            .prop_filter("modelled types are not Unknown", |(t, _)| {
                matches!(
                    MsgType::from(*t),
                    MsgType::Unknown(_)
                        | MsgType::Experimenter
                        | MsgType::PortMod
                        | MsgType::TableMod
                        | MsgType::QueueGetConfigRequest
                        | MsgType::QueueGetConfigReply
                        | MsgType::GetAsyncRequest
                        | MsgType::GetAsyncReply
                        | MsgType::SetAsync
                )
            })
            .prop_map(|(msg_type, body)| Message::Unknown { msg_type, body }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_message_round_trips(msg in message(), xid in any::<u32>()) {
        let bytes = msg.to_vec(Xid(xid)).unwrap();
        prop_assert_eq!(bytes.len(), msg.buffer_len());
        let (x, back) = Message::parse(&bytes).unwrap();
        prop_assert_eq!(x, Xid(xid));
        prop_assert_eq!(&back, &msg);
        let (_, shared) = Message::parse_bytes(&Bytes::from(bytes)).unwrap();
        prop_assert_eq!(shared, msg);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic(msg in message(), cut in any::<prop::sample::Index>()) {
        let bytes = msg.to_vec(Xid(1)).unwrap();
        let n = cut.index(bytes.len());
        let mut short = bytes[..n].to_vec();
        if short.len() >= 4 {
            // Keep the header consistent so the body parsers see the truncation.
            let len = u16::try_from(short.len()).unwrap().to_be_bytes();
            short[2] = len[0];
            short[3] = len[1];
        }
        let _ = Message::parse(&short);
    }

    #[test]
    fn match_and_actions_round_trip_alone(m in match_(), a in action(), i in instruction()) {
        let mut out = vec![0u8; m.buffer_len()];
        m.emit(&mut out);
        prop_assert_eq!(Match::parse(&out).unwrap(), (m, out.len()));
        let mut out = vec![0u8; a.buffer_len()];
        a.emit(&mut out);
        prop_assert_eq!(Action::parse(&out).unwrap(), (a, out.len()));
        let mut out = vec![0u8; i.buffer_len()];
        i.emit(&mut out);
        prop_assert_eq!(Instruction::parse(&out).unwrap(), (i, out.len()));
    }

    #[test]
    fn random_bytes_never_panic(data in vec(any::<u8>(), 0..256)) {
        let _ = Message::parse(&data);
        let _ = Match::parse(&data);
        let _ = super::packet_in::PacketInView::new_checked(&data[..]);
    }
}
