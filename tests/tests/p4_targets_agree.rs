//! One scenario, two targets: the same P4Runtime writes, frames and reads against the emulated
//! switch and against a real BMv2 running the compiled prescient.p4, and the answers must agree:
//! the entries read back through Prescient's client and as the target puts them on the wire
//! (byte-string forms, padded writes accepted; a wildcard read of every table; a table's default
//! entry), the direct counters, meter configurations and port counters after the same frames,
//! the packet-in of a punted frame with its metadata, the learned-host digest the first frame
//! raises, and the gRPC code of each bad write (eighteen of them). Where they differed, the
//! emulator changed: the default of an indirect table is refused as INVALID_ARGUMENT, an action
//! outside its scope as PERMISSION_DENIED, and an entry's action is checked before its existence.
//!
//! Needs root and the P4 toolchain for the BMv2 half (scripts/setup installs it); skips loudly
//! without.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use prescient::driver::p4runtime::{prescient_p4info, PRESCIENT_BMV2_JSON};
use prescient_sim::p4rt::{serve_listener, udp_frame, P4SimNetwork};
use prescient_southbound::p4runtime::pipeconf::{
    names, AclAction, AclRule, Backend, FlowKey, Intent,
};
use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use prescient_southbound::p4runtime::{ClientConfig, ClientError, P4InfoIndex, P4RuntimeClient};
use prescient_tests::bmv2::{lab_toolchain, HostId, Lab, SwitchOptions};
use tokio_util::sync::CancellationToken;

mod p4_raw;
use p4_raw::{entity, Raw, TABLES, TAKEOVER, WAIT};

const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x07];
/// The sender's MAC: the lab's first host.
const H1_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// The scenario's client; the second, raw one takes over with a higher election id.
const ELECTION: u64 = 5;
/// UDP frames sent through the route (and metered, and counted per pair).
const FRAMES: u64 = 3;

/// What a target answered to the scenario.
#[derive(Debug, PartialEq)]
struct Answers {
    /// Per owned table: its entries as Prescient's client reads them (debug form, sorted).
    tables: BTreeMap<&'static str, Vec<String>>,
    /// Per table or counter: what the target sent on the wire after the frames, with direct
    /// counters and meter configurations asked for (debug form, sorted).
    wire: BTreeMap<&'static str, Vec<String>>,
    /// Per bad write: the code of its single update.
    errors: Vec<(&'static str, Option<tonic::Code>)>,
    /// The packet-in of the punted ARP request, as sent on the wire (debug form).
    packet_in: String,
    /// The `learned_host_t` digest the first frame raised: its digest id and data as sent on
    /// the wire (debug form; list id and timestamp are the target's own).
    digest: String,
    /// The code of a second insert of the digest's configuration.
    digest_again: tonic::Code,
}

/// How the scenario's frames reach port 1 of the switch under test.
enum Wire<'a> {
    /// Handed to the emulated device 1 at port 1.
    Emulator(&'a P4SimNetwork),
    /// Sent by a raw socket from the namespace of the host cabled to port 1.
    Bmv2(&'a Lab, HostId),
}

impl Wire<'_> {
    async fn send(&self, frames: &[Vec<u8>]) {
        match self {
            Wire::Emulator(network) => {
                for f in frames {
                    network.inject(1, 1, f.clone());
                }
            }
            Wire::Bmv2(lab, host) => {
                const SEND: &str = "import socket, sys\n\
                    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n\
                    s.bind(('eth0', 0))\n\
                    for h in sys.argv[1:]:\n    s.send(bytes.fromhex(h))\n";
                let hex: Vec<String> = frames
                    .iter()
                    .map(|f| f.iter().map(|b| format!("{b:02x}")).collect())
                    .collect();
                let out = lab
                    .command(*host, "python3")
                    .args(["-c", SEND])
                    .args(&hex)
                    .output()
                    .await
                    .unwrap();
                assert!(
                    out.status.success(),
                    "sending raw frames: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

fn intents() -> Vec<Intent> {
    vec![
        Intent::ForwardToPort {
            dst: Ipv4Addr::new(10, 0, 0, 0),
            prefix_len: 16,
            port: 2,
            src_mac: MAC,
            dst_mac: [0, 0, 0, 0, 0, 1],
        },
        Intent::TranslateReverse {
            physical_ip: Ipv4Addr::new(10, 0, 0, 7),
            logical_ip: Ipv4Addr::new(10, 0, 0, 100),
            logical_mac: MAC,
        },
        Intent::TranslateLogical {
            logical_ip: Ipv4Addr::new(10, 0, 0, 101),
            physical_ip: Ipv4Addr::new(10, 0, 0, 8),
            physical_mac: MAC,
        },
        Intent::MeterFlow {
            flow: FlowKey {
                src: Some(Ipv4Addr::new(10, 0, 0, 1)),
                dst: Some(Ipv4Addr::new(10, 0, 0, 2)),
                ..FlowKey::default()
            },
            priority: 1,
            reserved_priority: 0,
            cir: 250_000,
            cburst: 3028,
            pir: 250_000,
            pburst: 3028,
        },
        Intent::CountPair {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
        },
        Intent::PuntArp,
        Intent::Acl {
            rule: AclRule {
                dst: Some((Ipv4Addr::new(10, 9, 0, 0), 16)),
                protocol: Some(6),
                l4_dst: Some(22),
                ..AclRule::default()
            },
            action: AclAction::Drop,
            priority: 10,
        },
        Intent::ServiceBackends {
            vip: Ipv4Addr::new(10, 0, 0, 100),
            backends: vec![
                Backend {
                    ip: Ipv4Addr::new(10, 0, 0, 7),
                    mac: MAC,
                    weight: 1,
                },
                Backend {
                    ip: Ipv4Addr::new(10, 0, 0, 8),
                    mac: [0, 0, 0, 0, 0, 8],
                    weight: 1,
                },
            ],
        },
    ]
}

/// A route whose byte strings are zero-padded to the full width of their fields (as a target
/// may send them, and as every target must accept them).
fn padded_route(index: &P4InfoIndex) -> p4::Update {
    let route = Intent::ForwardToPort {
        dst: Ipv4Addr::new(10, 4, 0, 0),
        prefix_len: 16,
        port: 3,
        src_mac: MAC,
        dst_mac: [0, 0, 0, 0, 0, 4],
    };
    let mut u = route.update(index, p4::update::Type::Insert).unwrap();
    if let Some(p4::entity::Entity::TableEntry(t)) =
        u.entity.as_mut().and_then(|e| e.entity.as_mut())
    {
        if let Some(p4::TableAction {
            r#type: Some(p4::table_action::Type::Action(a)),
        }) = t.action.as_mut()
        {
            let action = index.actions.by_id(a.action_id).unwrap();
            for p in &mut a.params {
                let width = action
                    .params
                    .iter()
                    .find(|i| i.id == p.param_id)
                    .unwrap()
                    .bitwidth;
                let bytes = width.div_ceil(8) as usize;
                assert!(p.value.len() <= bytes);
                let mut padded = vec![0; bytes - p.value.len()];
                padded.extend_from_slice(&p.value);
                p.value = padded;
            }
        }
    }
    u
}

fn arp_request() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&H1_MAC);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&H1_MAC);
    f.extend_from_slice(&[10, 0, 0, 1]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[10, 0, 0, 2]);
    f
}

fn frames() -> Vec<Vec<u8>> {
    (0..FRAMES)
        .map(|i| {
            udp_frame(
                0x0200_0000_0001,
                0x0200_0000_0002,
                u32::from(Ipv4Addr::new(10, 0, 0, 1)),
                u32::from(Ipv4Addr::new(10, 0, 0, 2)),
                40_000 + i as u16,
                7000,
                &[0x5a; 58],
            )
        })
        .collect()
}

async fn scenario(address: &str, device_id: u64, wire: Wire<'_>) -> Answers {
    let mut client =
        P4RuntimeClient::connect(ClientConfig::new(address, device_id, u128::from(ELECTION)))
            .await
            .unwrap();
    client
        .wait_for_primary(Duration::from_secs(10))
        .await
        .unwrap();
    client
        .set_pipeline(
            prescient_p4info().unwrap(),
            PRESCIENT_BMV2_JSON.to_vec(),
            None,
            true,
        )
        .await
        .unwrap();
    let index = client.index().unwrap().clone();
    let mut inserts: Vec<p4::Update> = intents()
        .iter()
        .map(|i| i.update(&index, p4::update::Type::Insert).unwrap())
        .collect();
    inserts.push(padded_route(&index));
    client.write(inserts).await.unwrap();

    let mut tables = BTreeMap::new();
    for table in TABLES {
        let mut entries: Vec<String> = client
            .read_table(table, false)
            .await
            .unwrap()
            .into_iter()
            .map(|e| format!("{e:?}"))
            .collect();
        entries.sort();
        tables.insert(table, entries);
    }

    let code = |r: Result<(), ClientError>| match r {
        Ok(()) => None,
        Err(ClientError::Write(w)) => Some(w.failures.first().map_or(w.code, |f| f.code)),
        Err(e) => panic!("not a write error: {e}"),
    };
    let route = &intents()[0];
    let mut errors = Vec::new();
    let again = route.update(&index, p4::update::Type::Insert).unwrap();
    errors.push((
        "insert of an existing entry",
        code(client.write(vec![again]).await),
    ));
    let missing = Intent::ForwardToPort {
        dst: Ipv4Addr::new(10, 2, 0, 0),
        prefix_len: 16,
        port: 2,
        src_mac: MAC,
        dst_mac: MAC,
    };
    let delete = missing.update(&index, p4::update::Type::Delete).unwrap();
    errors.push((
        "delete of a missing entry",
        code(client.write(vec![delete]).await),
    ));
    let modify = missing.update(&index, p4::update::Type::Modify).unwrap();
    errors.push((
        "modify of a missing entry",
        code(client.write(vec![modify]).await),
    ));
    let with_entry = |f: &dyn Fn(&mut p4::TableEntry)| {
        let mut u = missing.update(&index, p4::update::Type::Insert).unwrap();
        if let Some(p4::entity::Entity::TableEntry(t)) =
            u.entity.as_mut().and_then(|e| e.entity.as_mut())
        {
            f(t);
        }
        u
    };
    let with_action = |f: &dyn Fn(&mut p4::Action)| {
        with_entry(&|t: &mut p4::TableEntry| {
            if let Some(p4::TableAction {
                r#type: Some(p4::table_action::Type::Action(a)),
            }) = t.action.as_mut()
            {
                f(a);
            }
        })
    };
    let unknown_table = with_entry(&|t| t.table_id = 0x0200_0fff);
    errors.push((
        "an unknown table id",
        code(client.write(vec![unknown_table]).await),
    ));
    let unknown_action = with_action(&|a| a.action_id = 0x0100_0fff);
    errors.push((
        "an unknown action id",
        code(client.write(vec![unknown_action]).await),
    ));
    // `port` is 9 bits wide: 0x200 does not fit.
    let wide = with_action(&|a| a.params[0].value = vec![0x02, 0x00]);
    errors.push((
        "a parameter wider than its bitwidth",
        code(client.write(vec![wide]).await),
    ));
    let long = with_action(&|a| a.params[0].value = vec![0, 0, 0, 2]);
    errors.push((
        "a parameter padded beyond its width",
        code(client.write(vec![long]).await),
    ));
    let short_match = with_entry(&|t| {
        t.r#match[0].field_match_type =
            Some(p4::field_match::FieldMatchType::Lpm(p4::field_match::Lpm {
                value: vec![10, 5, 0, 0, 0],
                prefix_len: 16,
            }))
    });
    errors.push((
        "a match value wider than its field",
        code(client.write(vec![short_match]).await),
    ));

    let host_bits = with_entry(&|t| {
        t.r#match[0].field_match_type =
            Some(p4::field_match::FieldMatchType::Lpm(p4::field_match::Lpm {
                value: vec![10, 6, 0, 1],
                prefix_len: 16,
            }))
    });
    errors.push((
        "an LPM value with bits beyond its prefix",
        code(client.write(vec![host_bits]).await),
    ));
    let with_priority = with_entry(&|t| t.priority = 7);
    errors.push((
        "a priority on an LPM table",
        code(client.write(vec![with_priority]).await),
    ));
    let acl = &intents()[6];
    let acl_with = |f: &dyn Fn(&mut p4::TableEntry), op| {
        let mut u = acl.update(&index, op).unwrap();
        if let Some(p4::entity::Entity::TableEntry(t)) =
            u.entity.as_mut().and_then(|e| e.entity.as_mut())
        {
            f(t);
        }
        u
    };
    let no_priority = acl_with(&|t| t.priority = 0, p4::update::Type::Insert);
    errors.push((
        "a ternary entry without a priority",
        code(client.write(vec![no_priority]).await),
    ));
    let other_priority = acl_with(&|t| t.priority = 11, p4::update::Type::Delete);
    errors.push((
        "a delete of a ternary entry at another priority",
        code(client.write(vec![other_priority]).await),
    ));
    let outside_mask = acl_with(
        &|t| {
            if let Some(p4::field_match::FieldMatchType::Ternary(x)) =
                t.r#match[0].field_match_type.as_mut()
            {
                x.value = vec![10, 9, 0, 1];
            }
            t.priority = 12;
        },
        p4::update::Type::Insert,
    );
    errors.push((
        "a ternary value with bits outside its mask",
        code(client.write(vec![outside_mask]).await),
    ));
    let default_entry = |action_id: u32| p4::Update {
        r#type: p4::update::Type::Modify as i32,
        entity: Some(entity(p4::entity::Entity::TableEntry(p4::TableEntry {
            table_id: index.table(names::SERVICE_SELECT).unwrap().id,
            action: Some(p4::TableAction {
                r#type: Some(p4::table_action::Type::Action(p4::Action {
                    action_id,
                    params: Vec::new(),
                })),
            }),
            is_default_action: true,
            ..Default::default()
        }))),
    };
    let no_action = index.actions.by_name("NoAction").unwrap().id;
    errors.push((
        "a modify of the (const) default of an indirect table",
        code(client.write(vec![default_entry(no_action)]).await),
    ));
    let pair = &intents()[4];
    let mut default_only = pair.update(&index, p4::update::Type::Insert).unwrap();
    if let Some(p4::entity::Entity::TableEntry(t)) =
        default_only.entity.as_mut().and_then(|e| e.entity.as_mut())
    {
        t.r#match[0].field_match_type = Some(p4::field_match::FieldMatchType::Exact(
            p4::field_match::Exact {
                value: vec![10, 0, 0, 9],
            },
        ));
        t.action = Some(p4::TableAction {
            r#type: Some(p4::table_action::Type::Action(p4::Action {
                action_id: no_action,
                params: Vec::new(),
            })),
        });
    }
    errors.push((
        "a default-only action in an entry",
        code(client.write(vec![default_only]).await),
    ));
    let service = &intents()[7];
    let mut direct = service.update(&index, p4::update::Type::Insert).unwrap();
    if let Some(p4::entity::Entity::TableEntry(t)) =
        direct.entity.as_mut().and_then(|e| e.entity.as_mut())
    {
        t.r#match[0].field_match_type = Some(p4::field_match::FieldMatchType::Exact(
            p4::field_match::Exact {
                value: vec![10, 0, 0, 99],
            },
        ));
        if let Some(p4::TableAction {
            r#type: Some(p4::table_action::Type::ActionProfileActionSet(set)),
        }) = t.action.take()
        {
            t.action = Some(p4::TableAction {
                r#type: set.action_profile_actions[0]
                    .action
                    .clone()
                    .map(p4::table_action::Type::Action),
            });
        }
    }
    errors.push((
        "a direct action in an indirect table",
        code(client.write(vec![direct]).await),
    ));
    let indirect = with_entry(&|t| {
        t.action = Some(p4::TableAction {
            r#type: Some(p4::table_action::Type::ActionProfileMemberId(1)),
        })
    });
    errors.push((
        "an indirect action in a direct table",
        code(client.write(vec![indirect]).await),
    ));
    let mut wildcard = client
        .read(vec![entity(p4::entity::Entity::TableEntry(
            p4::TableEntry::default(),
        ))])
        .await
        .unwrap()
        .iter()
        .map(|e| format!("{e:?}"))
        .collect::<Vec<_>>();
    wildcard.sort();
    tables.insert("every table (table id 0)", wildcard);
    let lpm_default = p4::TableEntry {
        table_id: index.table(names::IPV4_LPM).unwrap().id,
        is_default_action: true,
        ..Default::default()
    };
    let defaults = client
        .read(vec![entity(p4::entity::Entity::TableEntry(lpm_default))])
        .await
        .unwrap()
        .iter()
        .map(|e| format!("{e:?}"))
        .collect::<Vec<_>>();
    tables.insert("ipv4_lpm's default entry", defaults);

    // Another client takes over; the first one's writes are refused by the target.
    let mut raw = Raw::take_over(address, device_id).await;
    let late = missing.update(&index, p4::update::Type::Insert).unwrap();
    let refused = raw.write_as(ELECTION, late).await;
    errors.push(("a write from a backup", Some(refused)));
    drop(client);

    // Learned-host digests on, as the controller asks for them: one per list, sent at once.
    let digest_config = index
        .encode_digest_config(
            names::LEARNED_HOST,
            p4::digest_entry::Config {
                max_timeout_ns: 0,
                max_list_size: 1,
                ack_timeout_ns: 1_000_000_000,
            },
        )
        .unwrap();
    let digest_update = p4::Update {
        r#type: p4::update::Type::Insert as i32,
        entity: Some(entity(p4::entity::Entity::DigestEntry(digest_config))),
    };
    assert_eq!(
        raw.write_as(TAKEOVER, digest_update.clone()).await,
        tonic::Code::Ok
    );
    let digest_again = raw.write_as(TAKEOVER, digest_update).await;

    // The same frames in: three routed, metered and counted UDP frames, one punted ARP request.
    wire.send(&frames()).await;
    wire.send(&[arp_request()]).await;
    // Both arrive on the stream, in either order.
    let (mut packet_in, mut digest) = (None, None);
    while packet_in.is_none() || digest.is_none() {
        let got = raw
            .next(WAIT, |u| match u {
                p4::stream_message_response::Update::Packet(p) => Some((true, format!("{p:?}"))),
                p4::stream_message_response::Update::Digest(d) => {
                    Some((false, format!("digest {:#x}: {:?}", d.digest_id, d.data)))
                }
                _ => None,
            })
            .await;
        match got {
            Some((true, p)) => packet_in = Some(p),
            Some((false, d)) => digest = digest.or(Some(d)),
            None => panic!(
                "no packet-in for the ARP request ({packet_in:?}) or no learned_host_t \
                 digest for the sender ({digest:?})"
            ),
        }
    }
    let (packet_in, digest) = (packet_in.unwrap(), digest.unwrap());
    let deadline = tokio::time::Instant::now() + WAIT;
    while raw.routed(&index).await < FRAMES as i64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the route never counted the {FRAMES} frames"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wire = raw.snapshot(&index).await;
    Answers {
        tables,
        wire,
        errors,
        packet_in,
        digest,
        digest_again,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_and_bmv2_answer_the_same_scenario_alike() {
    let test = "the_emulator_and_bmv2_answer_the_same_scenario_alike";
    let Some(toolchain) = lab_toolchain(test) else {
        return;
    };
    let mut lab = Lab::new(toolchain, test).unwrap();
    let s1 = lab.switch(SwitchOptions::default()).unwrap();
    let h1 = lab.host(s1, Ipv4Addr::new(10, 0, 3, 1)).unwrap();
    lab.host(s1, Ipv4Addr::new(10, 0, 3, 2)).unwrap();
    assert_eq!(lab.mac(h1), H1_MAC);
    lab.start().await.unwrap();
    let target = lab.target(s1);
    let on_bmv2 = scenario(&target.address, target.device_id, Wire::Bmv2(&lab, h1)).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let stop = CancellationToken::new();
    let network = Arc::new(P4SimNetwork::new(1).unwrap());
    tokio::spawn(serve_listener(listener, network.clone(), stop.clone()));
    let on_emulator = scenario(&address, 1, Wire::Emulator(&network)).await;
    stop.cancel();

    for (table, entries) in &on_bmv2.tables {
        assert_eq!(
            on_emulator.tables.get(table),
            Some(entries),
            "{table} read back differently (left: emulator, right: BMv2)"
        );
    }
    for (what, sent) in &on_bmv2.wire {
        assert_eq!(
            on_emulator.wire.get(what),
            Some(sent),
            "{what} on the wire (left: emulator, right: BMv2)"
        );
    }
    assert_eq!(
        on_emulator.errors, on_bmv2.errors,
        "error codes of bad writes (left: emulator, right: BMv2)"
    );
    assert_eq!(
        on_emulator.packet_in, on_bmv2.packet_in,
        "the packet-in (left: emulator, right: BMv2)"
    );
    assert_eq!(
        (&on_emulator.digest, on_emulator.digest_again),
        (&on_bmv2.digest, on_bmv2.digest_again),
        "the learned-host digest (left: emulator, right: BMv2)"
    );
    // What the two agree on is what a user would expect of the scenario.
    assert_eq!(on_bmv2.digest_again, tonic::Code::AlreadyExists);
    assert_eq!(
        on_bmv2.errors.last(),
        Some(&("a write from a backup", Some(tonic::Code::PermissionDenied)))
    );
    assert!(on_bmv2.tables[names::IPV4_LPM].len() == 2, "{on_bmv2:?}");
}
