//! Unit tests of write/read semantics and of the prescient.p4 data plane over one device state.

use std::sync::Arc;

use p4::field_match::FieldMatchType as M;
use prescient_southbound::p4runtime::proto::google::rpc::Code;
use prescient_southbound::p4runtime::proto::p4::v1 as p4;

use super::process::{udp_frame, CPU_PORT};
use super::schema::{prescient_p4info, Schema};
use super::state::DeviceState;

fn state() -> DeviceState {
    DeviceState::new(Arc::new(
        Schema::from_p4info(&prescient_p4info().unwrap()).unwrap(),
    ))
}

fn tid(s: &DeviceState, name: &str) -> u32 {
    s.schema.table_by_name(name).unwrap().id
}

fn action(s: &DeviceState, name: &str, params: &[u128]) -> p4::Action {
    let info = s.schema.action_by_name(name).unwrap();
    p4::Action {
        action_id: info.id,
        params: info
            .params
            .iter()
            .zip(params)
            .map(|((id, _, w), v)| p4::action::Param {
                param_id: *id,
                // Zero-padded to the full width, as many clients send.
                value: v.to_be_bytes()[16 - (*w as usize).div_ceil(8)..].to_vec(),
            })
            .collect(),
    }
}

fn exact(id: u32, v: &[u8]) -> p4::FieldMatch {
    p4::FieldMatch {
        field_id: id,
        field_match_type: Some(M::Exact(p4::field_match::Exact { value: v.to_vec() })),
    }
}

fn ternary(id: u32, v: &[u8], m: &[u8]) -> p4::FieldMatch {
    p4::FieldMatch {
        field_id: id,
        field_match_type: Some(M::Ternary(p4::field_match::Ternary {
            value: v.to_vec(),
            mask: m.to_vec(),
        })),
    }
}

fn lpm(v: [u8; 4], len: i32) -> p4::FieldMatch {
    p4::FieldMatch {
        field_id: 1,
        field_match_type: Some(M::Lpm(p4::field_match::Lpm {
            value: v.to_vec(),
            prefix_len: len,
        })),
    }
}

fn direct(a: p4::Action) -> Option<p4::TableAction> {
    Some(p4::TableAction {
        r#type: Some(p4::table_action::Type::Action(a)),
    })
}

fn update(t: p4::update::Type, e: p4::entity::Entity) -> p4::Update {
    p4::Update {
        r#type: t as i32,
        entity: Some(p4::Entity { entity: Some(e) }),
    }
}

fn insert(e: p4::TableEntry) -> p4::Update {
    update(p4::update::Type::Insert, p4::entity::Entity::TableEntry(e))
}

const HOST_A: u32 = 0x0a00_0001; // 10.0.0.1
const HOST_B: u32 = 0x0a00_0102; // 10.0.1.2
const MAC_A: u64 = 0x0000_0000_00aa;
const MAC_SW: u64 = 0x0000_0000_0f0f;

fn route(s: &mut DeviceState, prefix: [u8; 4], len: i32, port: u128, dst_mac: u128) {
    let e = p4::TableEntry {
        table_id: tid(s, "PrescientIngress.ipv4_lpm"),
        r#match: vec![lpm(prefix, len)],
        action: direct(action(
            s,
            "PrescientIngress.forward",
            &[port, u128::from(MAC_SW), dst_mac],
        )),
        ..Default::default()
    };
    s.apply(&insert(e)).unwrap();
}

fn ipv4_checksum_ok(f: &[u8]) -> bool {
    let hdr = &f[14..34];
    let mut sum: u32 = hdr
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

fn udp_checksum_ok(f: &[u8]) -> bool {
    let seg = &f[34..];
    let mut words = Vec::new();
    words.extend_from_slice(&f[26..34]);
    words.extend_from_slice(&[0, 17]);
    words.extend_from_slice(&(seg.len() as u16).to_be_bytes());
    words.extend_from_slice(seg);
    if words.len() % 2 == 1 {
        words.push(0);
    }
    let mut sum: u32 = words
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

#[test]
fn insert_modify_delete_follow_the_spec_codes() {
    let mut s = state();
    let t = tid(&s, "PrescientIngress.translate_dst");
    let e = p4::TableEntry {
        table_id: t,
        r#match: vec![exact(1, &[0, 0, 0, 0, 10, 9, 9, 9])], // zero-padded beyond the width
        action: direct(action(
            &s,
            "PrescientIngress.set_physical_dst",
            &[0x0a00_0001, 0xaa],
        )),
        ..Default::default()
    };
    s.apply(&insert(e.clone())).unwrap();
    assert_eq!(
        s.apply(&insert(e.clone())).unwrap_err().code,
        Code::AlreadyExists
    );
    let modify = update(
        p4::update::Type::Modify,
        p4::entity::Entity::TableEntry(e.clone()),
    );
    s.apply(&modify).unwrap();
    let delete = update(
        p4::update::Type::Delete,
        p4::entity::Entity::TableEntry(e.clone()),
    );
    s.apply(&delete).unwrap();
    assert_eq!(s.apply(&delete).unwrap_err().code, Code::NotFound);
    assert_eq!(s.apply(&modify).unwrap_err().code, Code::NotFound);
    let unknown = p4::TableEntry {
        table_id: 0x0200_0999,
        ..e
    };
    let err = s.apply(&insert(unknown)).unwrap_err();
    assert_eq!(err.code, Code::InvalidArgument);
    assert!(err.message.contains("unknown table id"), "{err}");
}

#[test]
fn full_table_is_resource_exhausted() {
    let mut s = state();
    let t = tid(&s, "PrescientIngress.flow_meter");
    let meter = action(&s, "PrescientIngress.meter_flow", &[0]);
    for i in 0..1024u32 {
        let e = p4::TableEntry {
            table_id: t,
            r#match: vec![ternary(1, &i.to_be_bytes(), &[0xff; 4])],
            action: direct(meter.clone()),
            priority: 1,
            ..Default::default()
        };
        s.apply(&insert(e)).unwrap();
    }
    let e = p4::TableEntry {
        table_id: t,
        r#match: vec![ternary(1, &[9, 9, 9, 9], &[0xff; 4])],
        action: direct(meter),
        priority: 1,
        ..Default::default()
    };
    let err = s.apply(&insert(e)).unwrap_err();
    assert_eq!(err.code, Code::ResourceExhausted);
    assert!(err.message.contains("full (1024 entries)"));
}

#[test]
fn reads_wildcard_tables_and_return_canonical_bytes() {
    let mut s = state();
    route(&mut s, [10, 0, 1, 0], 24, 2, 0xbb);
    route(&mut s, [10, 0, 0, 0], 24, 1, 0xaa);
    let acl = p4::TableEntry {
        table_id: tid(&s, "PrescientIngress.acl"),
        r#match: vec![ternary(4, &[0x08, 0x06], &[0xff, 0xff])],
        priority: 100,
        action: direct(action(&s, "PrescientIngress.punt_to_cpu", &[])),
        ..Default::default()
    };
    s.apply(&insert(acl)).unwrap();
    let all = |table_id| p4::Entity {
        entity: Some(p4::entity::Entity::TableEntry(p4::TableEntry {
            table_id,
            ..Default::default()
        })),
    };
    assert_eq!(s.read(&all(0)).unwrap().len(), 3);
    let lpm_id = tid(&s, "PrescientIngress.ipv4_lpm");
    let routes = s.read(&all(lpm_id)).unwrap();
    assert_eq!(routes.len(), 2);
    let Some(p4::entity::Entity::TableEntry(e)) = &routes[0].entity else {
        panic!("not a table entry")
    };
    let Some(p4::table_action::Type::Action(a)) = e.action.as_ref().and_then(|a| a.r#type.as_ref())
    else {
        panic!()
    };
    assert_eq!(
        a.params[0].value,
        vec![1],
        "port sent as 2 bytes, read back canonical"
    );
    assert_eq!(e.counter_data, None, "direct counters only when asked for");
    let with_counters = p4::Entity {
        entity: Some(p4::entity::Entity::TableEntry(p4::TableEntry {
            table_id: lpm_id,
            counter_data: Some(p4::CounterData::default()),
            ..Default::default()
        })),
    };
    let Some(p4::entity::Entity::TableEntry(e)) = &s.read(&with_counters).unwrap()[0].entity else {
        panic!("not a table entry")
    };
    assert_eq!(
        e.counter_data,
        Some(p4::CounterData::default()),
        "direct counter attached"
    );
    let one = p4::Entity {
        entity: Some(p4::entity::Entity::TableEntry(p4::TableEntry {
            table_id: lpm_id,
            r#match: vec![lpm([10, 0, 1, 0], 24)],
            ..Default::default()
        })),
    };
    assert_eq!(s.read(&one).unwrap().len(), 1);
    let counters = p4::Entity {
        entity: Some(p4::entity::Entity::CounterEntry(p4::CounterEntry::default())),
    };
    assert_eq!(
        s.read(&counters).unwrap().len(),
        1024,
        "two counters of 512 cells"
    );
}

#[test]
fn action_profiles_check_references() {
    let mut s = state();
    let t = s
        .schema
        .table_by_name("PrescientIngress.service_select")
        .unwrap()
        .clone();
    let profile = t.implementation.unwrap();
    let backend = s
        .schema
        .action_by_name("PrescientIngress.set_backend")
        .unwrap()
        .id;
    let member = |id, ip: u128| {
        let mut a = p4::Action {
            action_id: backend,
            params: vec![],
        };
        a.params.push(p4::action::Param {
            param_id: 1,
            value: (ip as u32).to_be_bytes().to_vec(),
        });
        a.params.push(p4::action::Param {
            param_id: 2,
            value: vec![0xcc],
        });
        update(
            p4::update::Type::Insert,
            p4::entity::Entity::ActionProfileMember(p4::ActionProfileMember {
                action_profile_id: profile,
                member_id: id,
                action: Some(a),
            }),
        )
    };
    s.apply(&member(1, 0x0a00_0101)).unwrap();
    s.apply(&member(2, 0x0a00_0102)).unwrap();
    let group = |members: &[u32]| p4::ActionProfileGroup {
        action_profile_id: profile,
        group_id: 7,
        members: members
            .iter()
            .map(|m| p4::action_profile_group::Member {
                member_id: *m,
                weight: 1,
                watch_kind: None,
            })
            .collect(),
        max_size: 8,
    };
    let err = s
        .apply(&update(
            p4::update::Type::Insert,
            p4::entity::Entity::ActionProfileGroup(group(&[1, 3])),
        ))
        .unwrap_err();
    assert_eq!(err.code, Code::NotFound);
    s.apply(&update(
        p4::update::Type::Insert,
        p4::entity::Entity::ActionProfileGroup(group(&[1, 2])),
    ))
    .unwrap();
    let vip = |a| p4::TableEntry {
        table_id: t.id,
        r#match: vec![exact(1, &[10, 0, 9, 9])],
        action: Some(a),
        ..Default::default()
    };
    let bad = vip(p4::TableAction {
        r#type: Some(p4::table_action::Type::Action(action(
            &s,
            "PrescientIngress.set_backend",
            &[1, 1],
        ))),
    });
    assert_eq!(
        s.apply(&insert(bad)).unwrap_err().code,
        Code::InvalidArgument
    );
    s.apply(&insert(vip(p4::TableAction {
        r#type: Some(p4::table_action::Type::ActionProfileGroupId(7)),
    })))
    .unwrap();
    let del_member = update(
        p4::update::Type::Delete,
        p4::entity::Entity::ActionProfileMember(p4::ActionProfileMember {
            action_profile_id: profile,
            member_id: 1,
            action: None,
        }),
    );
    assert_eq!(
        s.apply(&del_member).unwrap_err().code,
        Code::FailedPrecondition
    );

    // The group spreads flows over both backends.
    route(&mut s, [10, 0, 1, 0], 24, 2, 0xbb);
    let mut backends = std::collections::BTreeSet::new();
    for sport in 1000..1040 {
        let f = udp_frame(MAC_A, MAC_SW, HOST_A, 0x0a00_0909, sport, 80, b"x");
        let out = s.process(3, &f, 0.0);
        let (_, frame) = &out.outputs[0];
        backends.insert(u32::from_be_bytes(frame[30..34].try_into().unwrap()));
        assert!(udp_checksum_ok(frame));
    }
    assert_eq!(backends, [0x0a00_0101, 0x0a00_0102].into_iter().collect());
}

#[test]
fn forwarding_rewrites_macs_ttl_and_counts() {
    let mut s = state();
    route(&mut s, [10, 0, 1, 0], 24, 2, 0xbb);
    let f = udp_frame(MAC_A, MAC_SW, HOST_A, HOST_B, 5000, 53, b"hello");
    let out = s.process(3, &f, 0.0);
    assert_eq!(out.outputs.len(), 1);
    let (port, frame) = &out.outputs[0];
    assert_eq!(*port, 2);
    assert_eq!(&frame[0..6], &[0, 0, 0, 0, 0, 0xbb]);
    assert_eq!(&frame[6..12], &MAC_SW.to_be_bytes()[2..]);
    assert_eq!(frame[22], 63, "TTL decremented");
    assert!(ipv4_checksum_ok(frame));
    assert_eq!(out.learned, vec![(MAC_A, HOST_A, 3)]);
    assert!(
        s.process(3, &f, 0.0).learned.is_empty(),
        "a host is reported once"
    );

    let lpm_id = tid(&s, "PrescientIngress.ipv4_lpm");
    let read = p4::Entity {
        entity: Some(p4::entity::Entity::TableEntry(p4::TableEntry {
            table_id: lpm_id,
            counter_data: Some(p4::CounterData::default()),
            ..Default::default()
        })),
    };
    let Some(p4::entity::Entity::TableEntry(e)) = &s.read(&read).unwrap()[0].entity else {
        panic!()
    };
    assert_eq!(e.counter_data.unwrap().packet_count, 2);
    let rx = s
        .schema
        .counter_by_name("PrescientIngress.rx_port_counter")
        .unwrap()
        .id;
    let tx = s
        .schema
        .counter_by_name("PrescientEgress.tx_port_counter")
        .unwrap()
        .id;
    assert_eq!(s.counters[&rx][3].packet_count, 2);
    assert_eq!(s.counters[&tx][2].byte_count, 2 * f.len() as i64);

    // No route: the default action drops.
    let lost = udp_frame(MAC_A, MAC_SW, HOST_A, 0x0b00_0001, 5000, 53, b"x");
    assert!(s.process(3, &lost, 0.0).outputs.is_empty());
    // TTL 1 is dropped.
    let mut dying = f.clone();
    dying[22] = 1;
    assert!(s.process(3, &dying, 0.0).outputs.is_empty());
}

#[test]
fn longest_prefix_wins() {
    let mut s = state();
    route(&mut s, [10, 0, 0, 0], 8, 1, 0x11);
    route(&mut s, [10, 0, 1, 0], 24, 2, 0x22);
    let f = udp_frame(MAC_A, MAC_SW, HOST_A, HOST_B, 1, 2, b"");
    assert_eq!(s.process(3, &f, 0.0).outputs[0].0, 2);
    let g = udp_frame(MAC_A, MAC_SW, HOST_A, 0x0a05_0505, 1, 2, b"");
    assert_eq!(s.process(3, &g, 0.0).outputs[0].0, 1);
    // A default route is the entry with the LPM field omitted.
    let default_route = p4::TableEntry {
        table_id: tid(&s, "PrescientIngress.ipv4_lpm"),
        action: direct(action(
            &s,
            "PrescientIngress.forward",
            &[9, u128::from(MAC_SW), 0x99],
        )),
        ..Default::default()
    };
    s.apply(&insert(default_route)).unwrap();
    let h = udp_frame(MAC_A, MAC_SW, HOST_A, 0x0808_0808, 1, 2, b"");
    assert_eq!(s.process(3, &h, 0.0).outputs[0].0, 9);
    assert_eq!(s.process(3, &g, 0.0).outputs[0].0, 1);
}

#[test]
fn translation_rewrites_both_directions_with_valid_checksums() {
    let mut s = state();
    route(&mut s, [10, 0, 1, 0], 24, 2, 0xbb);
    route(&mut s, [10, 0, 0, 0], 24, 1, 0xaa);
    let logical: u32 = 0xc0a8_0001; // 192.168.0.1 is the address clients see
    let dst = p4::TableEntry {
        table_id: tid(&s, "PrescientIngress.translate_dst"),
        r#match: vec![exact(1, &logical.to_be_bytes())],
        action: direct(action(
            &s,
            "PrescientIngress.set_physical_dst",
            &[u128::from(HOST_B), 0xbb],
        )),
        ..Default::default()
    };
    let src = p4::TableEntry {
        table_id: tid(&s, "PrescientIngress.translate_src"),
        r#match: vec![exact(1, &HOST_B.to_be_bytes())],
        action: direct(action(
            &s,
            "PrescientIngress.set_logical_src",
            &[u128::from(logical), 0x77],
        )),
        ..Default::default()
    };
    s.apply(&insert(dst)).unwrap();
    s.apply(&insert(src)).unwrap();
    let request = udp_frame(MAC_A, MAC_SW, HOST_A, logical, 4000, 80, b"GET");
    let (port, f) = s.process(3, &request, 0.0).outputs.remove(0);
    assert_eq!(port, 2);
    assert_eq!(&f[30..34], &HOST_B.to_be_bytes());
    assert!(ipv4_checksum_ok(&f) && udp_checksum_ok(&f));
    let reply = udp_frame(0xbb, MAC_SW, HOST_B, HOST_A, 80, 4000, b"200");
    let (port, f) = s.process(2, &reply, 0.0).outputs.remove(0);
    assert_eq!(port, 1);
    assert_eq!(
        &f[26..30],
        &logical.to_be_bytes(),
        "reply leaves with the logical source"
    );
    assert_eq!(&f[6..12], &[0, 0, 0, 0, 0, 0x77]);
    assert!(ipv4_checksum_ok(&f) && udp_checksum_ok(&f));
}

#[test]
fn acl_drop_and_punt_by_priority() {
    let mut s = state();
    route(&mut s, [10, 0, 1, 0], 24, 2, 0xbb);
    let acl_id = tid(&s, "PrescientIngress.acl");
    let drop = action(&s, "PrescientIngress.drop", &[]);
    let punt = action(&s, "PrescientIngress.punt_to_cpu", &[]);
    let acl = |prio, port: &[u8], a: &p4::Action| p4::TableEntry {
        table_id: acl_id,
        r#match: vec![ternary(9, port, &[0xff, 0xff])],
        priority: prio,
        action: direct(a.clone()),
        ..Default::default()
    };
    s.apply(&insert(acl(10, &[0, 22], &drop))).unwrap();
    s.apply(&insert(acl(20, &[0, 22], &punt))).unwrap();
    let ssh = udp_frame(MAC_A, MAC_SW, HOST_A, HOST_B, 999, 22, b"");
    let out = s.process(3, &ssh, 0.0);
    assert_eq!(
        out.outputs,
        vec![(CPU_PORT, ssh.clone())],
        "priority 20 punts before 10 drops"
    );
    let web = udp_frame(MAC_A, MAC_SW, HOST_A, HOST_B, 999, 80, b"");
    assert_eq!(s.process(3, &web, 0.0).outputs[0].0, 2);
}

#[test]
fn lldp_and_arp_are_punted_and_arp_learns() {
    let mut s = state();
    let mut lldp = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e, 0, 0, 0, 0, 0, 1, 0x88, 0xcc];
    lldp.extend_from_slice(&[0; 20]);
    assert_eq!(
        s.process(1, &lldp, 0.0).outputs,
        vec![(CPU_PORT, lldp.clone())]
    );
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&MAC_A.to_be_bytes()[2..]);
    arp.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&MAC_A.to_be_bytes()[2..]);
    arp.extend_from_slice(&HOST_A.to_be_bytes());
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&HOST_B.to_be_bytes());
    let out = s.process(4, &arp, 0.0);
    assert_eq!(out.outputs, vec![(CPU_PORT, arp.clone())]);
    assert_eq!(out.learned, vec![(MAC_A, HOST_A, 4)]);
    // Truncated frames are dropped, never a panic.
    for n in 0..arp.len() {
        let _ = s.process(4, &arp[..n], 0.0);
    }
}

#[test]
fn packet_out_goes_to_its_port_as_is() {
    let mut s = state();
    let payload = b"\x01\x80\xc2\x00\x00\x0e frame".to_vec();
    let mut f = vec![(300u32 >> 1) as u8, ((300u32 & 1) << 7) as u8];
    f.extend_from_slice(&payload);
    assert_eq!(s.process(CPU_PORT, &f, 0.0).outputs, vec![(300, payload)]);
}

#[test]
fn red_traffic_is_dropped_by_the_flow_meter() {
    let mut s = state();
    route(&mut s, [10, 0, 1, 0], 24, 2, 0xbb);
    let e = p4::TableEntry {
        table_id: tid(&s, "PrescientIngress.flow_meter"),
        r#match: vec![
            ternary(1, &HOST_A.to_be_bytes(), &[0xff; 4]),
            ternary(2, &HOST_B.to_be_bytes(), &[0xff; 4]),
        ],
        action: direct(action(&s, "PrescientIngress.meter_flow", &[0])),
        priority: 1,
        // 1000 B/s committed, 2000 B/s peak, bursts of 1500 / 3000 bytes.
        meter_config: Some(p4::MeterConfig {
            cir: 1000,
            cburst: 1500,
            pir: 2000,
            pburst: 3000,
        }),
        ..Default::default()
    };
    s.apply(&insert(e)).unwrap();
    let f = udp_frame(MAC_A, MAC_SW, HOST_A, HOST_B, 1, 2, &[0; 958]); // 1000-byte frame
    let passed = (0..10)
        .filter(|_| !s.process(3, &f, 0.0).outputs.is_empty())
        .count();
    assert_eq!(
        passed, 3,
        "the peak bucket holds three frames at one instant"
    );
    assert!(
        !s.process(3, &f, 2.0).outputs.is_empty(),
        "buckets refill with time"
    );
}

/// A `flow_meter` entry of HOST_A -> HOST_B narrowed by `extra` fields, at `priority`, that lets
/// one 1000-byte frame through at an instant (then RED).
fn narrow_meter(s: &DeviceState, extra: &[p4::FieldMatch], priority: i32) -> p4::TableEntry {
    let mut r#match = vec![
        ternary(1, &HOST_A.to_be_bytes(), &[0xff; 4]),
        ternary(2, &HOST_B.to_be_bytes(), &[0xff; 4]),
    ];
    r#match.extend_from_slice(extra);
    p4::TableEntry {
        table_id: tid(s, "PrescientIngress.flow_meter"),
        r#match,
        action: direct(action(s, "PrescientIngress.meter_flow", &[0])),
        meter_config: Some(p4::MeterConfig {
            cir: 1000,
            cburst: 1000,
            pir: 1000,
            pburst: 1000,
        }),
        priority,
        ..Default::default()
    }
}

/// How many of ten copies of `f` at one instant leave the switch.
fn passed(s: &mut DeviceState, f: &[u8]) -> usize {
    (0..10)
        .filter(|_| !s.process(3, f, 0.0).outputs.is_empty())
        .count()
}

#[test]
fn a_udp_meter_polices_the_pairs_udp_and_leaves_its_tcp_alone() {
    let mut s = state();
    route(&mut s, [10, 0, 1, 0], 24, 2, 0xbb);
    let udp_only = narrow_meter(&s, &[ternary(3, &[17], &[0xff])], 100);
    s.apply(&insert(udp_only)).unwrap();
    let udp = udp_frame(MAC_A, MAC_SW, HOST_A, HOST_B, 1, 2, &[0; 958]);
    let mut tcp = udp.clone();
    tcp[14 + 9] = 6; // The same addresses and ports, protocol TCP.
    assert_eq!(passed(&mut s, &udp), 1, "UDP above the rate is dropped");
    assert_eq!(passed(&mut s, &tcp), 10, "the pair's TCP is not metered");
}

#[test]
fn the_more_specific_meter_wins_by_priority_whatever_the_order() {
    let mut s = state();
    route(&mut s, [10, 0, 1, 0], 24, 2, 0xbb);
    // The pair's entry is generous, port 5001's is not: port 5001 takes the stricter one.
    let mut pair = narrow_meter(&s, &[], 1);
    pair.meter_config = Some(p4::MeterConfig {
        cir: 1_000_000,
        cburst: 1_000_000,
        pir: 1_000_000,
        pburst: 1_000_000,
    });
    let port = narrow_meter(
        &s,
        &[
            ternary(3, &[17], &[0xff]),
            ternary(5, &[0x13, 0x89], &[0xff, 0xff]),
        ],
        100,
    );
    s.apply(&insert(port)).unwrap();
    s.apply(&insert(pair)).unwrap();
    let to_5001 = udp_frame(MAC_A, MAC_SW, HOST_A, HOST_B, 1, 5001, &[0; 958]);
    let to_5002 = udp_frame(MAC_A, MAC_SW, HOST_A, HOST_B, 1, 5002, &[0; 958]);
    assert_eq!(passed(&mut s, &to_5001), 1);
    assert_eq!(passed(&mut s, &to_5002), 10);
}

#[test]
fn default_action_can_be_modified_but_not_inserted() {
    let mut s = state();
    let t = tid(&s, "PrescientIngress.ipv4_lpm");
    let e = p4::TableEntry {
        table_id: t,
        is_default_action: true,
        action: direct(action(
            &s,
            "PrescientIngress.forward",
            &[5, u128::from(MAC_SW), 0xee],
        )),
        ..Default::default()
    };
    assert_eq!(
        s.apply(&insert(e.clone())).unwrap_err().code,
        Code::InvalidArgument
    );
    s.apply(&update(
        p4::update::Type::Modify,
        p4::entity::Entity::TableEntry(e),
    ))
    .unwrap();
    let f = udp_frame(MAC_A, MAC_SW, HOST_A, 0x0808_0808, 1, 2, b"");
    assert_eq!(s.process(3, &f, 0.0).outputs[0].0, 5);
    let sel = tid(&s, "PrescientIngress.service_select");
    let c = p4::TableEntry {
        table_id: sel,
        is_default_action: true,
        action: direct(action(&s, "NoAction", &[])),
        ..Default::default()
    };
    assert_eq!(
        s.apply(&update(
            p4::update::Type::Modify,
            p4::entity::Entity::TableEntry(c)
        ))
        .unwrap_err()
        .code,
        // service_select is indirect (its P4Info still declares a const NoAction): PI refuses
        // the default of an indirect table first, as INVALID_ARGUMENT.
        Code::InvalidArgument
    );
}

#[test]
fn actions_out_of_scope_are_refused_before_the_entry_is_looked_up() {
    let mut s = state();
    let t = tid(&s, "PrescientIngress.pair_count");
    let entry = |a: p4::Action| p4::TableEntry {
        table_id: t,
        r#match: vec![exact(1, &[10, 0, 0, 1]), exact(2, &[10, 0, 0, 2])],
        action: direct(a),
        ..Default::default()
    };
    s.apply(&insert(entry(action(
        &s,
        "PrescientIngress.count_pair",
        &[],
    ))))
    .unwrap();
    // NoAction is @defaultonly in pair_count: PERMISSION_DENIED (PI's code), even for a key
    // that exists (the action is checked first, as PI does).
    let no_action = entry(action(&s, "NoAction", &[]));
    assert_eq!(
        s.apply(&insert(no_action)).unwrap_err().code,
        Code::PermissionDenied
    );
}

mod meter_bursts;
