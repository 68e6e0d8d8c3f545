//! Unit tests of name resolution, validation and batch error mapping over a small P4Info
//! written here (independent of prescient.p4).

use super::entity::{ActionCall, EntryAction, TableEntrySpec};
use super::error::WriteError;
use super::error::{EntityKind, MatchKind, ResolveError};
use super::index::P4InfoIndex;
use super::p4info::parse_p4info;
use super::proto::p4::v1 as p4;
use super::status::encode_details;

const P4INFO: &str = r#"
tables {
  preamble { id: 33554433 name: "Ing.route" alias: "route" }
  match_fields { id: 1 name: "dst" bitwidth: 32 match_type: LPM }
  action_refs { id: 16777217 }
  action_refs { id: 16777218 scope: DEFAULT_ONLY }
  direct_resource_ids: 318767105
  size: 16
}
tables {
  preamble { id: 33554434 name: "Ing.acl" alias: "acl" }
  match_fields { id: 1 name: "port" bitwidth: 9 match_type: TERNARY }
  match_fields { id: 2 name: "proto" bitwidth: 8 match_type: RANGE }
  match_fields { id: 3 name: "vlan" bitwidth: 12 match_type: OPTIONAL }
  action_refs { id: 16777218 }
  size: 16
}
tables {
  preamble { id: 33554435 name: "Ing.lb" alias: "lb" }
  match_fields { id: 1 name: "vip" bitwidth: 32 match_type: EXACT }
  action_refs { id: 16777217 }
  implementation_id: 285212673
  size: 16
}
actions {
  preamble { id: 16777217 name: "Ing.fwd" alias: "fwd" }
  params { id: 1 name: "port" bitwidth: 9 }
  params { id: 2 name: "mac" bitwidth: 48 }
}
actions {
  preamble { id: 16777218 name: "Ing.drop" alias: "drop" }
}
action_profiles {
  preamble { id: 285212673 name: "Ing.sel" alias: "sel" }
  table_ids: 33554435
  with_selector: true
  size: 64
  max_group_size: 8
}
counters {
  preamble { id: 301989889 name: "Ing.rx" alias: "rx" }
  spec { unit: BOTH }
  size: 4
}
direct_counters {
  preamble { id: 318767105 name: "Ing.route_counter" }
  spec { unit: BOTH }
  direct_table_id: 33554433
}
controller_packet_metadata {
  preamble { id: 67108865 name: "packet_in" }
  metadata { id: 1 name: "ingress_port" bitwidth: 9 }
  metadata { id: 2 name: "_pad" bitwidth: 7 }
}
controller_packet_metadata {
  preamble { id: 67108866 name: "packet_out" }
  metadata { id: 1 name: "egress_port" bitwidth: 9 }
  metadata { id: 2 name: "_pad" bitwidth: 7 }
}
"#;

fn ix() -> P4InfoIndex {
    P4InfoIndex::new(parse_p4info(P4INFO.as_bytes()).expect("parses")).expect("indexes")
}

fn fwd(port: u64) -> ActionCall {
    ActionCall::new("fwd")
        .param("port", port.to_be_bytes().to_vec())
        .param("mac", vec![0, 0, 0, 0, 0, 1])
}

#[test]
fn names_and_aliases_resolve_to_the_same_ids() {
    let ix = ix();
    assert_eq!(ix.table("Ing.route").map(|t| t.id), Ok(0x0200_0001));
    assert_eq!(ix.table("route").map(|t| t.id), Ok(0x0200_0001));
    assert_eq!(
        ix.table("Ing.route").map(|t| t.direct_counter),
        Ok(Some(0x1300_0001))
    );
    assert_eq!(
        ix.table("nope").map(|t| t.id),
        Err(ResolveError::UnknownName {
            kind: EntityKind::Table,
            name: "nope".into()
        })
    );
}

#[test]
fn a_valid_entry_is_sent_canonical() {
    let ix = ix();
    let e = ix
        .encode_table_entry(
            &TableEntrySpec::new("route")
                .lpm("dst", vec![0, 10, 0, 0], 16)
                .action(fwd(5)),
        )
        .expect("valid");
    assert_eq!(e.table_id, 0x0200_0001);
    let Some(p4::table_action::Type::Action(a)) = e.action.and_then(|a| a.r#type) else {
        panic!("direct action expected");
    };
    assert_eq!(
        a.params[0].value,
        vec![5],
        "u64 port 5 padded to 8 bytes becomes one byte"
    );
}

#[test]
fn resolution_errors_name_the_culprit() {
    let ix = ix();
    let base = || TableEntrySpec::new("route").lpm("dst", vec![10, 0, 0, 0], 8);
    let cases: Vec<(TableEntrySpec, ResolveError)> = vec![
        (
            base().action(fwd(512)),
            ResolveError::ValueTooWide {
                what: "action `Ing.fwd` parameter `port`".into(),
                value: "0x0000000000000200".into(),
                bitwidth: 9,
            },
        ),
        (
            base().action(ActionCall::new("fwd").param("port", vec![1])),
            ResolveError::MissingParam {
                action: "Ing.fwd".into(),
                param: "mac".into(),
            },
        ),
        (
            base().action(fwd(1).param("vlan", vec![1])),
            ResolveError::UnknownParam {
                action: "Ing.fwd".into(),
                param: "vlan".into(),
            },
        ),
        (
            TableEntrySpec::new("route")
                .exact("dst", vec![1])
                .action(fwd(1)),
            ResolveError::WrongMatchKind {
                table: "Ing.route".into(),
                field: "dst".into(),
                expected: MatchKind::Lpm,
                given: MatchKind::Exact,
            },
        ),
        (
            TableEntrySpec::new("route")
                .lpm("src", vec![1], 8)
                .action(fwd(1)),
            ResolveError::UnknownMatchField {
                table: "Ing.route".into(),
                field: "src".into(),
            },
        ),
        (
            TableEntrySpec::new("route")
                .lpm("dst", vec![10, 0, 0, 1], 8)
                .action(fwd(1)),
            ResolveError::BitsOutsideMask {
                what: "table `Ing.route` match field `dst`".into(),
                value: "0x0a000001".into(),
                mask: "0xff000000".into(),
            },
        ),
        (
            TableEntrySpec::new("route")
                .lpm("dst", vec![10], 33)
                .action(fwd(1)),
            ResolveError::PrefixTooLong {
                table: "Ing.route".into(),
                field: "dst".into(),
                prefix_len: 33,
                bitwidth: 32,
            },
        ),
        (
            base().action(ActionCall::new("drop")),
            ResolveError::ActionNotAllowed {
                table: "Ing.route".into(),
                action: "drop".into(),
                scope: "in entries",
            },
        ),
        (
            base().action(fwd(1)).priority(3),
            ResolveError::BadPriority {
                table: "Ing.route".into(),
                priority: 3,
                why: "only tables with ternary, range or optional keys take a priority",
            },
        ),
        (
            TableEntrySpec::new("acl")
                .ternary("port", vec![1], vec![0x01, 0xff])
                .action(ActionCall::new("drop")),
            ResolveError::BadPriority {
                table: "Ing.acl".into(),
                priority: 0,
                why: "tables with ternary, range or optional keys need a priority above 0",
            },
        ),
        (
            TableEntrySpec::new("acl")
                .range("proto", vec![9], vec![3])
                .priority(1)
                .action(ActionCall::new("drop")),
            ResolveError::InvertedRange {
                table: "Ing.acl".into(),
                field: "proto".into(),
                low: "0x09".into(),
                high: "0x03".into(),
            },
        ),
        (
            TableEntrySpec::new("lb").action(fwd(1)),
            ResolveError::MissingExactField {
                table: "Ing.lb".into(),
                field: "vip".into(),
            },
        ),
        (
            TableEntrySpec::new("lb")
                .exact("vip", vec![1])
                .action(fwd(1)),
            ResolveError::WrongImplementation {
                table: "Ing.lb".into(),
                why: "the table uses an action profile: give a member, group or one-shot set",
            },
        ),
        (
            base().indirect(EntryAction::Group(1)),
            ResolveError::WrongImplementation {
                table: "Ing.route".into(),
                why: "the table has no action selector: groups are not allowed",
            },
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(ix.encode_table_entry(&spec), Err(want.clone()), "{spec:?}");
        assert!(!want.to_string().is_empty());
    }
}

#[test]
fn default_action_scope_and_wildcards() {
    let ix = ix();
    let d = ix
        .encode_table_entry(&TableEntrySpec::default_action(
            "route",
            ActionCall::new("drop"),
        ))
        .expect("drop is DEFAULT_ONLY");
    assert!(d.is_default_action && d.r#match.is_empty());
    // Wildcards by value are omitted (spec: don't-care fields are not sent).
    let e = ix
        .encode_table_entry(
            &TableEntrySpec::new("acl")
                .ternary("port", vec![0], vec![0])
                .range("proto", vec![0], vec![0xff])
                .optional("vlan", vec![0x0f, 0xff])
                .priority(7)
                .action(ActionCall::new("drop")),
        )
        .expect("valid");
    assert_eq!(e.r#match.len(), 1);
    assert_eq!(e.r#match[0].field_id, 3);
    assert_eq!(e.priority, 7);
}

#[test]
fn members_groups_counters_and_packet_out() {
    let ix = ix();
    let m = ix.encode_member("sel", 7, &fwd(2)).expect("member");
    assert_eq!(m.action_profile_id, 0x1100_0001);
    let g = ix.encode_group("sel", 1, &[(7, 3)]).expect("group");
    assert_eq!(g.members[0].weight, 3);
    assert_eq!(
        ix.encode_counter("rx", Some(4), None).map(|c| c.counter_id),
        Err(ResolveError::IndexOutOfRange {
            kind: EntityKind::Counter,
            name: "Ing.rx".into(),
            index: 4,
            size: 4,
        })
    );
    let out = ix
        .encode_packet_out(vec![1, 2, 3], &[("egress_port", vec![0, 3])])
        .expect("packet out");
    assert_eq!(out.metadata.len(), 2);
    assert_eq!(out.metadata[0].value, vec![3]);
    assert_eq!(out.metadata[1].value, vec![0], "_pad defaults to 0");
    assert!(matches!(
        ix.encode_packet_out(vec![], &[("egress_port", vec![2, 0])]),
        Err(ResolveError::ValueTooWide { bitwidth: 9, .. })
    ));
    let pin = ix
        .decode_packet_in(p4::PacketIn {
            payload: vec![9],
            metadata: vec![p4::PacketMetadata {
                metadata_id: 1,
                value: vec![0, 0, 0x01, 0x02],
            }],
        })
        .expect("decodes zero-padded values");
    assert_eq!(pin.get("ingress_port"), Some(&[0x01, 0x02][..]));
    assert_eq!(pin.get_u128("ingress_port"), Some(258));
}

#[test]
fn one_bad_entry_in_a_thousand_names_itself() {
    let ix = ix();
    let updates: Vec<p4::Update> = (0..1000u32)
        .map(|i| p4::Update {
            r#type: p4::update::Type::Insert as i32,
            entity: Some(p4::Entity {
                entity: Some(p4::entity::Entity::TableEntry(
                    ix.encode_table_entry(
                        &TableEntrySpec::new("route")
                            .lpm("dst", (0x0a00_0000 | (i << 8)).to_be_bytes().to_vec(), 24)
                            .action(fwd(1)),
                    )
                    .expect("valid"),
                )),
            }),
        })
        .collect();
    let errors: Vec<p4::Error> = (0..1000)
        .map(|i| {
            if i == 637 {
                p4::Error {
                    canonical_code: tonic::Code::AlreadyExists as i32,
                    message: "entry exists".into(),
                    ..Default::default()
                }
            } else {
                p4::Error::default()
            }
        })
        .collect();
    let status = tonic::Status::with_details(
        tonic::Code::Unknown,
        "batch failed",
        encode_details(tonic::Code::Unknown, "batch failed", &errors).into(),
    );
    let err = WriteError::from_status(&status, &updates, Some(&ix));
    assert_eq!(err.failures.len(), 1);
    let f = &err.failures[0];
    assert_eq!(f.index, 637);
    assert_eq!(f.code, tonic::Code::AlreadyExists);
    assert!(f.entity.contains("Ing.route"), "{}", f.entity);
    assert!(f.entity.contains("dst=0x0a027d00/24"), "{}", f.entity);
    assert_eq!(err.applied.iter().filter(|a| **a).count(), 999);
    let msg = err.to_string();
    assert!(msg.contains("update #637 INSERT table Ing.route"), "{msg}");
}

#[test]
fn a_status_without_details_claims_nothing_applied() {
    let status = tonic::Status::new(tonic::Code::Unavailable, "gone");
    let updates = vec![p4::Update::default(); 3];
    let err = WriteError::from_status(&status, &updates, None);
    assert!(err.failures.is_empty());
    assert!(err.applied.iter().all(|a| !a));
    assert!(err.to_string().contains("no per-update details"));
}

#[test]
fn devices_running_one_program_share_one_index() {
    use std::sync::Arc;
    let info = parse_p4info(P4INFO.as_bytes()).expect("parses");
    // Equal content from two parses (two devices' configurations) finds the same index.
    let a = P4InfoIndex::shared(Arc::new(info.clone())).expect("indexes");
    let b = P4InfoIndex::shared(Arc::new(info.clone())).expect("indexes");
    assert!(Arc::ptr_eq(&a, &b), "one index for equal P4Infos");
    assert!(
        Arc::ptr_eq(a.p4info_arc(), b.p4info_arc()),
        "and one P4Info"
    );
    // Another program gets its own.
    let mut other = info;
    other.tables.truncate(1);
    let c = P4InfoIndex::shared(Arc::new(other)).expect("indexes");
    assert!(!Arc::ptr_eq(&a, &c));
    assert!(c.table("Ing.acl").is_err() && a.table("Ing.acl").is_ok());
}
