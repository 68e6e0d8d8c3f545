//! The emulated P4Runtime switch driven over real gRPC on loopback with the raw generated stubs:
//! arbitration (including a duplicate election id), permission checks, pipeline push (wrong P4Info
//! refused), per-update batch errors, wildcard reads, packet-out → packet-in across a link,
//! digests, moving counters and a device restart.

// Test helpers outside `#[test]` functions panic on purpose: a failed setup is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use prescient_sim::p4rt::{prescient_p4info, serve_listener, P4SimNetwork};
use prescient_southbound::p4runtime::proto::google::rpc::{Code, Status as RpcStatus};
use prescient_southbound::p4runtime::proto::p4::config::v1::P4Info;
use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use prescient_southbound::p4runtime::proto::p4::v1::p4_runtime_client::P4RuntimeClient;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

type Client = P4RuntimeClient<Channel>;

struct Harness {
    network: Arc<P4SimNetwork>,
    addr: String,
    shutdown: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(network: P4SimNetwork) -> Harness {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let network = Arc::new(network);
    let shutdown = CancellationToken::new();
    tokio::spawn(serve_listener(
        listener,
        Arc::clone(&network),
        shutdown.clone(),
    ));
    Harness {
        network,
        addr,
        shutdown,
    }
}

async fn client(h: &Harness) -> Client {
    P4RuntimeClient::connect(h.addr.clone()).await.unwrap()
}

fn eid(n: u64) -> Option<p4::Uint128> {
    Some(p4::Uint128 { high: 0, low: n })
}

struct Session {
    tx: mpsc::Sender<p4::StreamMessageRequest>,
    rx: tonic::Streaming<p4::StreamMessageResponse>,
}

impl Session {
    async fn open(c: &mut Client, device: u64, election: u64) -> Session {
        let (tx, out) = mpsc::channel(64);
        let rx = c
            .stream_channel(ReceiverStream::new(out))
            .await
            .unwrap()
            .into_inner();
        let s = Session { tx, rx };
        s.send(p4::stream_message_request::Update::Arbitration(
            p4::MasterArbitrationUpdate {
                device_id: device,
                election_id: eid(election),
                ..Default::default()
            },
        ))
        .await;
        s
    }

    async fn send(&self, u: p4::stream_message_request::Update) {
        self.tx
            .send(p4::StreamMessageRequest { update: Some(u) })
            .await
            .unwrap();
    }

    /// The next message, or the stream's terminal status.
    async fn next(&mut self) -> Result<p4::stream_message_response::Update, tonic::Status> {
        let msg = tokio::time::timeout(Duration::from_secs(5), self.rx.message())
            .await
            .expect("no stream message within 5 s")?;
        Ok(msg.and_then(|m| m.update).expect("stream ended"))
    }

    async fn arbitration_code(&mut self) -> i32 {
        match self.next().await.unwrap() {
            p4::stream_message_response::Update::Arbitration(a) => a.status.unwrap().code,
            other => panic!("expected arbitration, got {other:?}"),
        }
    }
}

fn config(info: P4Info, cookie: u64) -> Option<p4::ForwardingPipelineConfig> {
    Some(p4::ForwardingPipelineConfig {
        p4info: Some(info),
        p4_device_config: b"bmv2 json would go here".to_vec(),
        cookie: Some(p4::forwarding_pipeline_config::Cookie { cookie }),
    })
}

async fn push_pipeline(c: &mut Client, device: u64, election: u64) {
    c.set_forwarding_pipeline_config(p4::SetForwardingPipelineConfigRequest {
        device_id: device,
        election_id: eid(election),
        action: p4::set_forwarding_pipeline_config_request::Action::VerifyAndCommit as i32,
        config: config(prescient_p4info().unwrap(), 42),
        ..Default::default()
    })
    .await
    .unwrap();
}

fn ids(info: &P4Info, table: &str, action: &str) -> (u32, u32) {
    let t = info
        .tables
        .iter()
        .find(|t| t.preamble.as_ref().unwrap().name == table)
        .unwrap();
    let a = info
        .actions
        .iter()
        .find(|a| a.preamble.as_ref().unwrap().name == action)
        .unwrap();
    (
        t.preamble.as_ref().unwrap().id,
        a.preamble.as_ref().unwrap().id,
    )
}

fn translate_entry(info: &P4Info, ip: [u8; 4]) -> p4::TableEntry {
    let (t, a) = ids(
        info,
        "PrescientIngress.translate_dst",
        "PrescientIngress.set_physical_dst",
    );
    p4::TableEntry {
        table_id: t,
        r#match: vec![p4::FieldMatch {
            field_id: 1,
            field_match_type: Some(p4::field_match::FieldMatchType::Exact(
                p4::field_match::Exact { value: ip.to_vec() },
            )),
        }],
        action: Some(p4::TableAction {
            r#type: Some(p4::table_action::Type::Action(p4::Action {
                action_id: a,
                params: vec![
                    p4::action::Param {
                        param_id: 1,
                        value: vec![10, 0, 0, 9],
                    },
                    p4::action::Param {
                        param_id: 2,
                        value: vec![0, 0, 0, 0, 0, 9],
                    },
                ],
            })),
        }),
        ..Default::default()
    }
}

fn insert(e: p4::TableEntry) -> p4::Update {
    p4::Update {
        r#type: p4::update::Type::Insert as i32,
        entity: Some(p4::Entity {
            entity: Some(p4::entity::Entity::TableEntry(e)),
        }),
    }
}

fn write(device: u64, election: u64, updates: Vec<p4::Update>) -> p4::WriteRequest {
    p4::WriteRequest {
        device_id: device,
        election_id: eid(election),
        updates,
        ..Default::default()
    }
}

async fn read_all(c: &mut Client, device: u64, entity: p4::entity::Entity) -> Vec<p4::Entity> {
    let mut stream = c
        .read(p4::ReadRequest {
            device_id: device,
            entities: vec![p4::Entity {
                entity: Some(entity),
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut out = Vec::new();
    while let Some(r) = stream.message().await.unwrap() {
        out.extend(r.entities);
    }
    out
}

#[tokio::test]
async fn capabilities_report_the_api_version() {
    let h = start(P4SimNetwork::new(1).unwrap()).await;
    let mut c = client(&h).await;
    let caps = c
        .capabilities(p4::CapabilitiesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(caps.p4runtime_api_version, "1.4.0");
}

#[tokio::test]
async fn arbitration_elects_the_highest_id_and_refuses_duplicates_and_backups() {
    let h = start(P4SimNetwork::new(1).unwrap()).await;
    let mut c = client(&h).await;
    let mut a = Session::open(&mut c, 1, 10).await;
    assert_eq!(a.arbitration_code().await, Code::Ok as i32);
    let mut b = Session::open(&mut c, 1, 5).await;
    assert_eq!(b.arbitration_code().await, Code::AlreadyExists as i32);

    // Another client claiming the primary's election id is refused and its stream closed.
    let mut dup = Session::open(&mut c, 1, 10).await;
    let err = dup.next().await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    // A backup may not write or push a pipeline.
    let err = c.write(write(1, 5, vec![])).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    push_pipeline(&mut c, 1, 10).await;
    let denied = c
        .set_forwarding_pipeline_config(p4::SetForwardingPipelineConfigRequest {
            device_id: 1,
            election_id: eid(5),
            action: p4::set_forwarding_pipeline_config_request::Action::VerifyAndCommit as i32,
            config: config(prescient_p4info().unwrap(), 1),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    // A higher id takes over; the old primary is told it lost.
    let mut d = Session::open(&mut c, 1, 20).await;
    assert_eq!(d.arbitration_code().await, Code::Ok as i32);
    assert_eq!(a.arbitration_code().await, Code::AlreadyExists as i32);
    assert_eq!(
        c.write(write(1, 10, vec![])).await.unwrap_err().code(),
        tonic::Code::PermissionDenied
    );
    c.write(write(1, 20, vec![])).await.unwrap();

    // Unknown device.
    let mut nobody = Session::open(&mut c, 99, 1).await;
    assert_eq!(
        nobody.next().await.unwrap_err().code(),
        tonic::Code::NotFound
    );
}

#[tokio::test]
async fn wrong_p4info_is_refused_and_the_pipeline_reads_back() {
    let h = start(P4SimNetwork::new(1).unwrap()).await;
    let mut c = client(&h).await;
    let mut s = Session::open(&mut c, 1, 1).await;
    assert_eq!(s.arbitration_code().await, Code::Ok as i32);

    let mut other = prescient_p4info().unwrap();
    other
        .tables
        .retain(|t| t.preamble.as_ref().unwrap().name != "PrescientIngress.acl");
    let err = c
        .set_forwarding_pipeline_config(p4::SetForwardingPipelineConfigRequest {
            device_id: 1,
            election_id: eid(1),
            action: p4::set_forwarding_pipeline_config_request::Action::VerifyAndCommit as i32,
            config: config(other, 7),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("PrescientIngress.acl"),
        "{}",
        err.message()
    );

    // Writes before any pipeline fail with FAILED_PRECONDITION.
    let info = prescient_p4info().unwrap();
    let err = c
        .write(write(
            1,
            1,
            vec![insert(translate_entry(&info, [1, 2, 3, 4]))],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);

    push_pipeline(&mut c, 1, 1).await;
    let get = |response_type| p4::GetForwardingPipelineConfigRequest {
        device_id: 1,
        response_type,
    };
    use p4::get_forwarding_pipeline_config_request::ResponseType as R;
    let cookie_only = c
        .get_forwarding_pipeline_config(get(R::CookieOnly as i32))
        .await
        .unwrap()
        .into_inner();
    let cfg = cookie_only.config.unwrap();
    assert_eq!(cfg.cookie.unwrap().cookie, 42);
    assert!(cfg.p4info.is_none() && cfg.p4_device_config.is_empty());
    let all = c
        .get_forwarding_pipeline_config(get(R::All as i32))
        .await
        .unwrap()
        .into_inner()
        .config
        .unwrap();
    assert_eq!(all.p4info.unwrap().tables.len(), 7);
    assert_eq!(all.p4_device_config, b"bmv2 json would go here");
}

#[tokio::test]
async fn batch_errors_name_each_failed_update_and_reads_use_wildcards() {
    let h = start(P4SimNetwork::new(1).unwrap()).await;
    let mut c = client(&h).await;
    let mut s = Session::open(&mut c, 1, 3).await;
    assert_eq!(s.arbitration_code().await, Code::Ok as i32);
    push_pipeline(&mut c, 1, 3).await;
    let info = prescient_p4info().unwrap();

    let good = translate_entry(&info, [10, 1, 0, 1]);
    let mut too_wide = translate_entry(&info, [10, 1, 0, 2]);
    too_wide.r#match[0].field_match_type = Some(p4::field_match::FieldMatchType::Exact(
        p4::field_match::Exact {
            value: vec![1, 10, 1, 0, 2],
        },
    ));
    let updates = vec![
        insert(good.clone()),
        insert(too_wide),
        insert(good.clone()),
        insert(translate_entry(&info, [10, 1, 0, 3])),
    ];
    let err = c.write(write(1, 3, updates)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unknown);
    let status = RpcStatus::decode(err.details()).unwrap();
    let codes: Vec<i32> = status
        .details
        .iter()
        .map(|any| {
            p4::Error::decode(any.value.as_slice())
                .unwrap()
                .canonical_code
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            Code::Ok as i32,
            Code::InvalidArgument as i32,
            Code::AlreadyExists as i32,
            Code::Ok as i32
        ]
    );
    let message = p4::Error::decode(status.details[1].value.as_slice())
        .unwrap()
        .message;
    assert!(
        message.contains("hdr.ipv4.dst_addr") && message.contains("32 bits"),
        "{message}"
    );

    // CONTINUE_ON_ERROR kept the good ones; table_id 0 reads every table.
    let all = read_all(
        &mut c,
        1,
        p4::entity::Entity::TableEntry(p4::TableEntry::default()),
    )
    .await;
    assert_eq!(all.len(), 2);
    let Some(p4::entity::Entity::TableEntry(e)) = &all[0].entity else {
        panic!("not a table entry")
    };
    let Some(p4::table_action::Type::Action(a)) = e.action.as_ref().unwrap().r#type.as_ref() else {
        panic!()
    };
    assert_eq!(
        a.params[1].value,
        vec![9],
        "zero-padded MAC read back canonical"
    );

    // Indexed counters: every cell of both counters when no id and no index are given.
    let counters = read_all(
        &mut c,
        1,
        p4::entity::Entity::CounterEntry(p4::CounterEntry::default()),
    )
    .await;
    assert_eq!(counters.len(), 1024);
    // An unknown table id is refused.
    let err = c
        .read(p4::ReadRequest {
            device_id: 1,
            entities: vec![p4::Entity {
                entity: Some(p4::entity::Entity::TableEntry(p4::TableEntry {
                    table_id: 0x0200_0fff,
                    ..Default::default()
                })),
            }],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

fn packet_in_port(p: &p4::PacketIn) -> u32 {
    let md = p.metadata.iter().find(|m| m.metadata_id == 1).unwrap();
    md.value
        .iter()
        .fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
}

#[tokio::test]
async fn packet_out_arrives_as_packet_in_at_the_linked_device() {
    let h = start(P4SimNetwork::linear(2).unwrap()).await;
    let mut c = client(&h).await;
    let mut s1 = Session::open(&mut c, 1, 1).await;
    let mut s2 = Session::open(&mut c, 2, 1).await;
    assert_eq!(s1.arbitration_code().await, Code::Ok as i32);
    assert_eq!(s2.arbitration_code().await, Code::Ok as i32);
    push_pipeline(&mut c, 1, 1).await;
    push_pipeline(&mut c, 2, 1).await;

    let mut lldp = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e, 0, 0, 0, 0, 0, 1, 0x88, 0xcc];
    lldp.extend_from_slice(b"chassis 1 port 2");
    s1.send(p4::stream_message_request::Update::Packet(p4::PacketOut {
        payload: lldp.clone(),
        metadata: vec![p4::PacketMetadata {
            metadata_id: 1,
            value: vec![0, 2],
        }],
    }))
    .await;
    match s2.next().await.unwrap() {
        p4::stream_message_response::Update::Packet(p) => {
            assert_eq!(p.payload, lldp);
            assert_eq!(packet_in_port(&p), 1, "device 2 received it on port 1");
        }
        other => panic!("expected a packet-in, got {other:?}"),
    }

    // Digests: once configured, a new host on device 1 is reported and the list acknowledged.
    let info = prescient_p4info().unwrap();
    let digest_id = info.digests[0].preamble.as_ref().unwrap().id;
    let config = p4::Update {
        r#type: p4::update::Type::Insert as i32,
        entity: Some(p4::Entity {
            entity: Some(p4::entity::Entity::DigestEntry(p4::DigestEntry {
                digest_id,
                config: Some(p4::digest_entry::Config {
                    max_timeout_ns: 0,
                    max_list_size: 1,
                    ack_timeout_ns: 1_000_000,
                }),
            })),
        }),
    };
    c.write(write(1, 1, vec![config])).await.unwrap();
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[0, 0, 0, 0, 0, 0xaa, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&[
        0, 0, 0, 0, 0, 0xaa, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
    ]);
    h.network.inject(1, 3, arp.clone());
    let mut saw_digest = None;
    for _ in 0..2 {
        match s1.next().await.unwrap() {
            p4::stream_message_response::Update::Digest(d) => saw_digest = Some(d),
            p4::stream_message_response::Update::Packet(p) => {
                assert_eq!(p.payload, arp);
                assert_eq!(packet_in_port(&p), 3);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let d = saw_digest.expect("a learned_host_t digest");
    assert_eq!(d.digest_id, digest_id);
    let Some(p4::p4_data::Data::Struct(host)) = &d.data[0].data else {
        panic!("digest data is a struct")
    };
    let bits: Vec<Vec<u8>> = host
        .members
        .iter()
        .map(|m| match &m.data {
            Some(p4::p4_data::Data::Bitstring(b)) => b.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(bits, vec![vec![0xaa], vec![10, 0, 0, 1], vec![3]]);
    assert_eq!(h.network.pending_digests(1), 1);
    s1.send(p4::stream_message_request::Update::DigestAck(
        p4::DigestListAck {
            digest_id,
            list_id: d.list_id,
        },
    ))
    .await;
    tokio::time::timeout(Duration::from_secs(5), async {
        while h.network.pending_digests(1) != 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the ack is processed");
}

#[tokio::test]
async fn counters_move_with_traffic_and_restart_drops_everything() {
    let h = start(P4SimNetwork::linear(2).unwrap()).await;
    let mut c = client(&h).await;
    let mut s = Session::open(&mut c, 2, 1).await;
    assert_eq!(s.arbitration_code().await, Code::Ok as i32);
    push_pipeline(&mut c, 2, 1).await;
    let info = prescient_p4info().unwrap();
    let rx = info
        .counters
        .iter()
        .find(|x| x.preamble.as_ref().unwrap().name == "PrescientIngress.rx_port_counter")
        .unwrap();
    let rx_id = rx.preamble.as_ref().unwrap().id;
    let port1 = p4::entity::Entity::CounterEntry(p4::CounterEntry {
        counter_id: rx_id,
        index: Some(p4::Index { index: 1 }),
        data: None,
    });
    let read_packets = |entities: Vec<p4::Entity>| match &entities[0].entity {
        Some(p4::entity::Entity::CounterEntry(e)) => e.data.unwrap().packet_count,
        other => panic!("{other:?}"),
    };
    let before = read_packets(read_all(&mut c, 2, port1.clone()).await);
    h.network.advance_traffic(0.0, 60.0);
    let after = read_packets(read_all(&mut c, 2, port1.clone()).await);
    assert!(
        after > before + 1000,
        "port 1 of device 2 receives device 1's traffic: {before} -> {after}"
    );

    c.write(write(
        2,
        1,
        vec![insert(translate_entry(&info, [10, 7, 7, 7]))],
    ))
    .await
    .unwrap();
    h.network.restart(2).unwrap();
    let err = s.next().await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    let err = c
        .read(p4::ReadRequest {
            device_id: 2,
            entities: vec![p4::Entity {
                entity: Some(p4::entity::Entity::TableEntry(p4::TableEntry::default())),
            }],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        tonic::Code::FailedPrecondition,
        "the restarted device has no pipeline"
    );
    // Reconnect, re-arbitrate, re-push: the device is empty and usable again.
    let mut again = Session::open(&mut c, 2, 1).await;
    assert_eq!(again.arbitration_code().await, Code::Ok as i32);
    push_pipeline(&mut c, 2, 1).await;
    assert!(read_all(
        &mut c,
        2,
        p4::entity::Entity::TableEntry(p4::TableEntry::default())
    )
    .await
    .is_empty());
}
