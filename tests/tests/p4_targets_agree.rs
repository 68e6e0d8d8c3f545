//! One scenario, two targets: the same P4Runtime writes and reads through Prescient's client
//! against the emulated switch and against a real BMv2 running the compiled prescient.p4, and
//! the answers must agree — the entries read back (byte strings included), the error code of
//! each bad write. Where they differ, the emulator is what changes.
//!
//! Needs root and the P4 toolchain for the BMv2 half (scripts/setup installs it); skips loudly
//! without.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use prescient::driver::p4runtime::{prescient_p4info, PRESCIENT_BMV2_JSON};
use prescient_sim::p4rt::{serve_listener, P4SimNetwork};
use prescient_southbound::p4runtime::pipeconf::{names, AclAction, AclRule, Backend, Intent};
use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use prescient_southbound::p4runtime::{ClientConfig, ClientError, P4RuntimeClient};
use prescient_tests::bmv2::{lab_toolchain, Lab, SwitchOptions};
use tokio_util::sync::CancellationToken;

const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x07];

/// What a target answered to the scenario.
#[derive(Debug, PartialEq)]
struct Answers {
    /// Per owned table: its entries as read back, in a stable order (debug form).
    tables: BTreeMap<&'static str, Vec<String>>,
    /// Per bad write: the code of its single update.
    errors: Vec<(&'static str, Option<tonic::Code>)>,
}

fn intents() -> Vec<Intent> {
    vec![
        Intent::ForwardToPort {
            dst: Ipv4Addr::new(10, 1, 0, 0),
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
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
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

async fn scenario(address: &str, device_id: u64) -> Answers {
    let mut client = P4RuntimeClient::connect(ClientConfig::new(address, device_id, 5))
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
    let inserts: Vec<p4::Update> = intents()
        .iter()
        .map(|i| i.update(&index, p4::update::Type::Insert).unwrap())
        .collect();
    client.write(inserts).await.unwrap();

    let mut tables = BTreeMap::new();
    for table in [
        names::IPV4_LPM,
        names::TRANSLATE_SRC,
        names::TRANSLATE_DST,
        names::FLOW_METER,
        names::PAIR_COUNT,
        names::ACL,
    ] {
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
    let mut unknown = route.update(&index, p4::update::Type::Insert).unwrap();
    if let Some(p4::entity::Entity::TableEntry(t)) =
        unknown.entity.as_mut().and_then(|e| e.entity.as_mut())
    {
        t.table_id = 0x0200_0fff;
    }
    errors.push((
        "an unknown table id",
        code(client.write(vec![unknown]).await),
    ));
    let mut wide = route.update(&index, p4::update::Type::Insert).unwrap();
    if let Some(p4::entity::Entity::TableEntry(t)) =
        wide.entity.as_mut().and_then(|e| e.entity.as_mut())
    {
        if let Some(p4::TableAction {
            r#type: Some(p4::table_action::Type::Action(a)),
        }) = t.action.as_mut()
        {
            // `port` is 9 bits wide: 0x200 does not fit.
            a.params[0].value = vec![0x02, 0x00];
        }
        t.r#match[0] = p4::FieldMatch {
            field_id: t.r#match[0].field_id,
            field_match_type: Some(p4::field_match::FieldMatchType::Lpm(p4::field_match::Lpm {
                value: vec![10, 3, 0, 0],
                prefix_len: 16,
            })),
        };
    }
    errors.push((
        "a parameter wider than its bitwidth",
        code(client.write(vec![wide]).await),
    ));
    Answers { tables, errors }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_and_bmv2_answer_the_same_scenario_alike() {
    let test = "the_emulator_and_bmv2_answer_the_same_scenario_alike";
    let Some(toolchain) = lab_toolchain(test) else {
        return;
    };
    let mut lab = Lab::new(toolchain, test).unwrap();
    let s1 = lab.switch(SwitchOptions::default()).unwrap();
    lab.host(s1, Ipv4Addr::new(10, 0, 3, 1)).unwrap();
    lab.host(s1, Ipv4Addr::new(10, 0, 3, 2)).unwrap();
    lab.start().await.unwrap();
    let target = lab.target(s1);
    let on_bmv2 = scenario(&target.address, target.device_id).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let stop = CancellationToken::new();
    tokio::spawn(serve_listener(
        listener,
        Arc::new(P4SimNetwork::new(1).unwrap()),
        stop.clone(),
    ));
    let on_emulator = scenario(&address, 1).await;
    stop.cancel();

    for (table, entries) in &on_bmv2.tables {
        assert_eq!(
            on_emulator.tables.get(table),
            Some(entries),
            "{table} read back differently (left: emulator, right: BMv2)"
        );
    }
    assert_eq!(
        on_emulator.errors, on_bmv2.errors,
        "error codes of bad writes (left: emulator, right: BMv2)"
    );
}
