//! The P4Runtime client against the emulated prescient.p4 switch over real gRPC on loopback:
//! arbitration (primary/backup, take-over, duplicate ids), pipeline push and cookie skip,
//! every write kind, reads, packet-out → packet-in, digests, a 1,000-entry batch with one bad
//! entry, and device/server restarts with desired-state replay.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use prescient_sim::p4rt::{serve_listener, udp_frame, P4SimNetwork};
use prescient_southbound::p4runtime::client::ReconnectReport;
use prescient_southbound::p4runtime::pipeconf::{names, Backend, FlowKey, Intent};
use prescient_southbound::p4runtime::proto::p4::config::v1::P4Info;
use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use prescient_southbound::p4runtime::{
    bytestr, client::DEVICES_PER_CONNECTION, entity, load_p4info_file, ActionCall, ChannelPool,
    ClientConfig, ClientError, EntryAction, Mastership, P4RuntimeClient, PipelineOutcome,
    StreamEvent, TableEntrySpec,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use p4::update::Type::{Delete, Insert, Modify};

const WAIT: Duration = Duration::from_secs(5);

struct Switch {
    addr: String,
    network: Arc<P4SimNetwork>,
    stop: CancellationToken,
}

async fn start_on(listener: TcpListener, network: Arc<P4SimNetwork>) -> Switch {
    let addr = listener.local_addr().expect("bound").to_string();
    let stop = CancellationToken::new();
    tokio::spawn({
        let (network, stop) = (network.clone(), stop.clone());
        async move {
            let _ = serve_listener(listener, network, stop).await;
        }
    });
    Switch {
        addr,
        network,
        stop,
    }
}

async fn start(network: P4SimNetwork) -> Switch {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    start_on(listener, Arc::new(network)).await
}

fn p4info() -> P4Info {
    load_p4info_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../p4/prescient.p4info.txt"
    ))
    .expect("prescient.p4info.txt")
}

fn config(addr: &str, device: u64, election: u128) -> ClientConfig {
    let mut c = ClientConfig::new(addr, device, election);
    c.backoff_initial = Duration::from_millis(20);
    c.backoff_max = Duration::from_millis(200);
    c.max_reconnect_attempts = Some(100);
    c
}

async fn primary_with_pipeline(addr: &str, device: u64) -> P4RuntimeClient {
    let mut c = P4RuntimeClient::connect(config(addr, device, 10))
        .await
        .expect("connect");
    c.wait_for_primary(WAIT).await.expect("primary");
    c.set_pipeline(p4info(), b"bmv2-json".to_vec(), None, false)
        .await
        .expect("pipeline");
    c
}

fn route(i: u32, port: u16) -> Intent {
    Intent::ForwardToPort {
        dst: Ipv4Addr::from(0x0a00_0000 | (i << 8)),
        prefix_len: 24,
        port,
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
    }
}

async fn next_matching<F: Fn(&StreamEvent) -> bool>(
    c: &mut P4RuntimeClient,
    want: F,
) -> StreamEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            match c.next_event().await {
                Some(ev) if want(&ev) => return ev,
                Some(_) => continue,
                None => panic!("event stream ended"),
            }
        }
    })
    .await
    .expect("event in time")
}

#[tokio::test]
async fn arbitration_pipeline_cookie_and_take_over() {
    let sw = start(P4SimNetwork::new(1).expect("net")).await;
    let mut a = P4RuntimeClient::connect(config(&sw.addr, 1, 10))
        .await
        .expect("connect a");
    a.wait_for_primary(WAIT).await.expect("a is primary");
    assert!(!a.capabilities().await.expect("caps").is_empty());
    assert_eq!(a.pipeline_cookie().await.expect("cookie"), None);

    let outcome = a
        .set_pipeline(p4info(), b"cfg".to_vec(), Some(42), false)
        .await
        .expect("push");
    assert_eq!(outcome, PipelineOutcome::Installed);
    assert_eq!(a.pipeline_cookie().await.expect("cookie"), Some(42));
    let again = a
        .set_pipeline(p4info(), b"cfg".to_vec(), Some(42), false)
        .await
        .expect("same cookie");
    assert_eq!(again, PipelineOutcome::AlreadyRunning);
    let forced = a
        .set_pipeline(p4info(), b"cfg".to_vec(), Some(42), true)
        .await
        .expect("forced");
    assert_eq!(forced, PipelineOutcome::Installed);

    // A second client with a lower id is a backup and may not write.
    let mut b = P4RuntimeClient::connect(config(&sw.addr, 1, 5))
        .await
        .expect("connect b");
    assert_eq!(b.mastership(), Mastership::Backup { primary: Some(10) });
    b.fetch_p4info().await.expect("backup can read the P4Info");
    let upd = route(1, 1)
        .update(b.index().expect("index"), Insert)
        .expect("valid");
    assert!(matches!(
        b.write(vec![upd.clone()]).await,
        Err(ClientError::NotPrimary {
            primary: Some(10),
            ..
        })
    ));

    // b takes over with a higher id; a is told it lost primary and its writes are refused.
    b.set_election_id(20).await.expect("re-arbitrate");
    b.wait_for_primary(WAIT).await.expect("b is primary");
    next_matching(&mut a, |e| {
        matches!(
            e,
            StreamEvent::Mastership(Mastership::Backup { primary: Some(20) })
        )
    })
    .await;
    assert!(matches!(
        a.write(vec![upd.clone()]).await,
        Err(ClientError::NotPrimary { .. })
    ));
    b.write(vec![upd]).await.expect("new primary writes");
    assert_eq!(
        b.read_table(names::IPV4_LPM, false)
            .await
            .expect("read")
            .len(),
        1
    );
    sw.stop.cancel();
}

#[tokio::test]
async fn duplicate_election_id_is_refused() {
    let sw = start(P4SimNetwork::new(1).expect("net")).await;
    let _a = P4RuntimeClient::connect(config(&sw.addr, 1, 7))
        .await
        .expect("connect a");
    let err = P4RuntimeClient::connect(config(&sw.addr, 1, 7))
        .await
        .err()
        .expect("same id must fail");
    assert!(
        matches!(err, ClientError::ElectionIdInUse { election_id: 7, .. }),
        "{err}"
    );
    sw.stop.cancel();
}

#[tokio::test]
async fn every_write_kind_and_reads() {
    let sw = start(P4SimNetwork::new(1).expect("net")).await;
    let mut c = primary_with_pipeline(&sw.addr, 1).await;
    let ix = c.index().expect("index").clone();
    let mac = [2, 0, 0, 0, 0, 9];

    // Table entries through the pipeconf: exact, LPM, ternary (with priority), direct meter.
    let intents = [
        route(1, 1),
        route(2, 2),
        Intent::TranslateLogical {
            logical_ip: Ipv4Addr::new(100, 64, 0, 1),
            physical_ip: Ipv4Addr::new(10, 0, 0, 7),
            physical_mac: mac,
        },
        Intent::TranslateReverse {
            physical_ip: Ipv4Addr::new(10, 0, 0, 7),
            logical_ip: Ipv4Addr::new(100, 64, 0, 1),
            logical_mac: mac,
        },
        Intent::MeterFlow {
            flow: FlowKey {
                src: Some(Ipv4Addr::new(10, 0, 0, 1)),
                dst: Some(Ipv4Addr::new(10, 0, 0, 2)),
                ..FlowKey::default()
            },
            priority: 1,
            reserved_priority: 0,
            cir: 1000,
            cburst: 100,
            pir: 2000,
            pburst: 200,
        },
        Intent::PuntLldp,
        Intent::ServiceBackends {
            vip: Ipv4Addr::new(100, 64, 1, 1),
            backends: vec![
                Backend {
                    ip: Ipv4Addr::new(10, 0, 0, 8),
                    mac,
                    weight: 1,
                },
                Backend {
                    ip: Ipv4Addr::new(10, 0, 0, 9),
                    mac,
                    weight: 3,
                },
            ],
        },
    ];
    let updates: Vec<_> = intents
        .iter()
        .map(|i| i.update(&ix, Insert).expect("valid intent"))
        .collect();
    c.write(updates).await.expect("intents written");

    // Action profile members and a group, and an entry pointing at the group.
    let member = |id, last| {
        ix.encode_member(
            names::SERVICE_SELECTOR,
            id,
            &ActionCall::new(names::SET_BACKEND)
                .param("backend_ip", vec![10, 0, 1, last])
                .param("backend_mac", vec![2, 0, 0, 0, 1, last]),
        )
        .expect("member")
    };
    let wrap = |t: p4::update::Type, e| p4::Update {
        r#type: t as i32,
        entity: Some(entity::entity(e)),
    };
    use p4::entity::Entity as E;
    c.write(vec![
        wrap(Insert, E::ActionProfileMember(member(1, 1))),
        wrap(Insert, E::ActionProfileMember(member(2, 2))),
    ])
    .await
    .expect("members");
    let group = ix
        .encode_group(names::SERVICE_SELECTOR, 100, &[(1, 1), (2, 1)])
        .expect("group");
    let vip2 = TableEntrySpec::new(names::SERVICE_SELECT)
        .exact("hdr.ipv4.dst_addr", vec![100, 64, 1, 2])
        .indirect(EntryAction::Group(100));
    c.write(vec![
        wrap(Insert, E::ActionProfileGroup(group)),
        c.table_update(Insert, &vip2).expect("group entry"),
    ])
    .await
    .expect("group + entry");

    // Default action modify, counter cell, direct meter, multicast group.
    let default = TableEntrySpec::default_action(names::TRANSLATE_DST, ActionCall::new("NoAction"));
    let flow_key = TableEntrySpec::new(names::FLOW_METER)
        .priority(1)
        .ternary("hdr.ipv4.src_addr", vec![10, 0, 0, 1], vec![0xff; 4])
        .ternary("hdr.ipv4.dst_addr", vec![10, 0, 0, 2], vec![0xff; 4]);
    let new_meter = p4::MeterConfig {
        cir: 5000,
        cburst: 500,
        pir: 9000,
        pburst: 900,
    };
    c.write(vec![
        c.table_update(Modify, &default).expect("default"),
        wrap(
            Modify,
            E::CounterEntry(
                ix.encode_counter(
                    names::RX_PORT_COUNTER,
                    Some(3),
                    Some(p4::CounterData {
                        byte_count: 0,
                        packet_count: 0,
                    }),
                )
                .expect("counter"),
            ),
        ),
        wrap(
            Modify,
            E::DirectMeterEntry(
                ix.encode_direct_meter(&flow_key, Some(new_meter))
                    .expect("direct meter"),
            ),
        ),
        entity_update(
            Insert,
            entity::multicast_group(5, &[(1, 0), (2, 0), (3, 1)]),
        ),
    ])
    .await
    .expect("default, counter, direct meter, multicast");

    // Reads.
    let routes = c.read_table(names::IPV4_LPM, true).await.expect("routes");
    assert_eq!(routes.len(), 2);
    assert!(
        routes.iter().all(|r| r.counter_data.is_some()),
        "direct counters read"
    );
    let meters = c
        .read_direct_meters(names::FLOW_METER)
        .await
        .expect("meters");
    assert_eq!(meters.len(), 1);
    assert_eq!(meters[0].config, Some(new_meter));
    let members = c
        .read_members(names::SERVICE_SELECTOR)
        .await
        .expect("members");
    assert_eq!(members.len(), 2);
    let groups = c
        .read_groups(names::SERVICE_SELECTOR)
        .await
        .expect("groups");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].members.len(), 2);
    let cells = c
        .read_counter(names::RX_PORT_COUNTER, None)
        .await
        .expect("counter cells");
    assert_eq!(cells.len(), 512, "a wildcard index reads every cell");
    let one = c
        .read_counter(names::RX_PORT_COUNTER, Some(3))
        .await
        .expect("one cell");
    assert_eq!(one.len(), 1);
    // A port poll: the named cells of both port counters in one read; a port the counters do
    // not have (512 cells) is skipped instead of failing the read.
    let cells = c
        .read_counter_cells(
            &[names::RX_PORT_COUNTER, names::TX_PORT_COUNTER],
            &[1, 3, 600],
        )
        .await
        .expect("the cells of two ports");
    let mut got: Vec<(u32, i64)> = cells
        .iter()
        .map(|c| (c.counter_id, c.index.map_or(-1, |i| i.index)))
        .collect();
    got.sort_unstable();
    let (rx, tx) = (
        ix.counters.by_name(names::RX_PORT_COUNTER).unwrap().id,
        ix.counters.by_name(names::TX_PORT_COUNTER).unwrap().id,
    );
    let mut want = vec![(rx, 1), (rx, 3), (tx, 1), (tx, 3)];
    want.sort_unstable();
    assert_eq!(got, want);
    let selects = c
        .read_table(names::SERVICE_SELECT, false)
        .await
        .expect("vips");
    assert_eq!(selects.len(), 2, "one-shot entry and group entry");

    // Modify and delete are reflected too.
    c.write(vec![route(1, 7).update(&ix, Modify).expect("modify")])
        .await
        .expect("modify");
    c.write(vec![route(2, 2).update(&ix, Delete).expect("delete")])
        .await
        .expect("delete");
    let routes = c.read_table(names::IPV4_LPM, false).await.expect("routes");
    assert_eq!(routes.len(), 1);
    let Some(p4::table_action::Type::Action(a)) =
        routes[0].action.as_ref().and_then(|a| a.r#type.as_ref())
    else {
        panic!("direct action expected");
    };
    assert_eq!(
        a.params[0].value,
        vec![7],
        "port modified to 7, read back canonical"
    );

    // Validation happens before sending: a bad name never reaches the switch.
    let bad = TableEntrySpec::new(names::IPV4_LPM)
        .lpm("hdr.ipv4.dst_addr", vec![10, 0, 0, 0], 8)
        .action(ActionCall::new(names::FORWARD).param("port", vec![2, 0]));
    assert!(matches!(
        c.table_update(Insert, &bad),
        Err(ClientError::Resolve(_))
    ));
    sw.stop.cancel();
}

fn entity_update(t: p4::update::Type, e: p4::Entity) -> p4::Update {
    p4::Update {
        r#type: t as i32,
        entity: Some(e),
    }
}

#[tokio::test]
async fn one_bad_entry_in_a_batch_of_a_thousand_names_itself() {
    let sw = start(P4SimNetwork::new(1).expect("net")).await;
    let mut c = primary_with_pipeline(&sw.addr, 1).await;
    let ix = c.index().expect("index").clone();
    c.write(vec![route(500, 1).update(&ix, Insert).expect("valid")])
        .await
        .expect("pre-existing entry");
    let batch: Vec<_> = (0..1000)
        .map(|i| route(i, 1).update(&ix, Insert).expect("valid"))
        .collect();
    let err = c.write(batch).await.expect_err("entry 500 exists");
    let ClientError::Write(w) = err else {
        panic!("write error expected, got {err}");
    };
    assert_eq!(w.failures.len(), 1, "{w}");
    assert_eq!(w.failures[0].index, 500);
    assert_eq!(w.failures[0].code, tonic_code_already_exists());
    assert!(w.failures[0].entity.contains(names::IPV4_LPM), "{w}");
    assert_eq!(
        c.read_table(names::IPV4_LPM, false)
            .await
            .expect("read")
            .len(),
        1000,
        "the other 999 were applied"
    );
    assert_eq!(
        c.desired().len(),
        1000,
        "desired state holds what the switch applied"
    );
    sw.stop.cancel();
}

fn tonic_code_already_exists() -> prescient_southbound::p4runtime::proto::TonicCode {
    prescient_southbound::p4runtime::proto::TonicCode::AlreadyExists
}

#[tokio::test]
async fn packet_out_crosses_a_link_and_comes_back_as_packet_in_and_digests_arrive() {
    let sw = start(P4SimNetwork::linear(2).expect("net")).await;
    let mut c1 = primary_with_pipeline(&sw.addr, 1).await;
    let mut c2 = primary_with_pipeline(&sw.addr, 2).await;
    // LLDP out of device 1 port 2 arrives on device 2 port 1 and is punted.
    let mut lldp = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e, 2, 0, 0, 0, 0, 1, 0x88, 0xcc];
    lldp.extend_from_slice(&[0x02, 0x07, 0x04, 1, 2, 3, 4, 5, 6, 0, 0]);
    c1.packet_out(lldp.clone(), &[("egress_port", bytestr::from_u64(2))])
        .await
        .expect("packet out");
    let StreamEvent::PacketIn(p) =
        next_matching(&mut c2, |e| matches!(e, StreamEvent::PacketIn(_))).await
    else {
        unreachable!()
    };
    assert_eq!(p.payload, lldp);
    assert_eq!(p.get_u128("ingress_port"), Some(1));

    // Learned-host digests once configured.
    let ix = c2.index().expect("index").clone();
    let cfg = ix
        .encode_digest_config(
            names::LEARNED_HOST,
            p4::digest_entry::Config {
                max_timeout_ns: 0,
                max_list_size: 1,
                ack_timeout_ns: 1_000_000_000,
            },
        )
        .expect("digest config");
    c2.write(vec![entity_update(
        Insert,
        entity::entity(p4::entity::Entity::DigestEntry(cfg)),
    )])
    .await
    .expect("digest configured");
    let frame = udp_frame(
        0x0200_0000_00aa,
        0x0200_0000_00bb,
        0x0a00_0005,
        0x0a00_0006,
        1,
        2,
        b"hi",
    );
    sw.network.inject(2, 3, frame);
    let StreamEvent::Digest(d) =
        next_matching(&mut c2, |e| matches!(e, StreamEvent::Digest(_))).await
    else {
        unreachable!()
    };
    assert_eq!(d.digest, names::LEARNED_HOST);
    let host = &d.entries[0];
    assert_eq!(host[0], ("mac".to_string(), vec![2, 0, 0, 0, 0, 0xaa]));
    assert_eq!(host[1], ("ip".to_string(), vec![10, 0, 0, 5]));
    assert_eq!(host[2], ("port".to_string(), vec![3]));
    c2.ack_digest(d.digest_id, d.list_id).await.expect("ack");
    sw.stop.cancel();
}

#[tokio::test]
async fn device_restart_replays_the_desired_state() {
    let sw = start(P4SimNetwork::new(1).expect("net")).await;
    let mut c = primary_with_pipeline(&sw.addr, 1).await;
    let ix = c.index().expect("index").clone();
    let batch: Vec<_> = (0..50)
        .map(|i| route(i, 1).update(&ix, Insert).expect("valid"))
        .collect();
    c.write(batch).await.expect("written");
    c.write(vec![Intent::PuntLldp.update(&ix, Insert).expect("valid")])
        .await
        .expect("acl");

    sw.network.restart(1).expect("restart");
    next_matching(&mut c, |e| matches!(e, StreamEvent::Disconnected { .. })).await;
    let report: ReconnectReport = c.reconnect().await.expect("reconnect");
    assert!(report.primary);
    assert_eq!(report.pipeline, Some(PipelineOutcome::Installed));
    assert_eq!(report.replayed, 51);
    assert_eq!(
        c.read_table(names::IPV4_LPM, false)
            .await
            .expect("read")
            .len(),
        50
    );
    assert_eq!(
        c.read_table(names::ACL, false).await.expect("read").len(),
        1
    );
    sw.stop.cancel();
}

/// A switch in its own runtime: shutting that runtime down kills every connection at once,
/// like a process exit (a graceful tonic shutdown would wait for our client to leave).
fn start_process(addr: &str) -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = std::net::TcpListener::bind(addr).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr").to_string();
    rt.spawn(async move {
        let listener = TcpListener::from_std(listener).expect("tokio listener");
        // Two devices: the shared-connection tests use both.
        let network = Arc::new(P4SimNetwork::new(2).expect("net"));
        let _ = serve_listener(listener, network, CancellationToken::new()).await;
    });
    (addr, rt)
}

#[tokio::test]
async fn server_restart_is_survived_with_backoff() {
    // The server comes back on the same port: one no parallel test can take meanwhile.
    let free = prescient_tests::bind_below_ephemeral(|a| {
        std::future::ready(std::net::TcpListener::bind(a).and_then(|l| l.local_addr()))
    })
    .await;
    let (addr, process) = start_process(&free.to_string());
    let mut c = primary_with_pipeline(&addr, 1).await;
    let ix = c.index().expect("index").clone();
    c.write(vec![route(9, 4).update(&ix, Insert).expect("valid")])
        .await
        .expect("written");

    // The switch process dies; it comes back on the same address a little later, empty.
    process.shutdown_background();
    next_matching(&mut c, |e| matches!(e, StreamEvent::Disconnected { .. })).await;
    let restarted = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || {
            std::thread::sleep(Duration::from_millis(300));
            start_process(&addr).1
        }
    });
    let report = c.reconnect().await.expect("reconnect with backoff");
    assert!(report.attempts > 1, "the first attempts hit a closed port");
    assert_eq!(report.pipeline, Some(PipelineOutcome::Installed));
    assert_eq!(report.replayed, 1);
    let routes = c.read_table(names::IPV4_LPM, false).await.expect("read");
    assert_eq!(routes.len(), 1);
    restarted
        .await
        .expect("server thread")
        .shutdown_background();
}

/// A client of `device` on `addr` that shares its connection through `pool`.
async fn pooled(addr: &str, device: u64, pool: &ChannelPool) -> P4RuntimeClient {
    let mut config = config(addr, device, 10);
    config.channels = Some(pool.clone());
    let mut c = P4RuntimeClient::connect(config).await.expect("connect");
    c.wait_for_primary(WAIT).await.expect("primary");
    c.set_pipeline(p4info(), b"bmv2-json".to_vec(), None, false)
        .await
        .expect("pipeline");
    c
}

#[tokio::test]
async fn devices_on_one_server_share_a_connection_and_one_restarts_alone() {
    let sw = start(P4SimNetwork::new(3).expect("net")).await;
    let pool = ChannelPool::new();
    let mut a = pooled(&sw.addr, 1, &pool).await;
    let mut b = pooled(&sw.addr, 2, &pool).await;
    let mut own = primary_with_pipeline(&sw.addr, 3).await;
    assert_eq!(pool.connections(), 1, "devices 1 and 2 on one connection");
    assert_eq!((a.connection_users(), own.connection_users()), (2, 1));
    for c in [&mut a, &mut b, &mut own] {
        let ix = c.index().expect("index").clone();
        c.write(vec![route(1, 1).update(&ix, Insert).expect("valid")])
            .await
            .expect("written");
    }

    // Device 1 restarts: its stream ends, device 2's stream on the same connection does not.
    sw.network.restart(1).expect("restart");
    next_matching(&mut a, |e| matches!(e, StreamEvent::Disconnected { .. })).await;
    let report = a.reconnect().await.expect("reconnect");
    assert_eq!((report.primary, report.replayed), (true, 1));
    assert!(!b.is_disconnected(), "device 2 kept its stream");
    assert!(b.is_primary());
    let ix = b.index().expect("index").clone();
    b.write(vec![route(2, 2).update(&ix, Insert).expect("valid")])
        .await
        .expect("device 2 still writes");
    assert_eq!(
        b.read_table(names::IPV4_LPM, false)
            .await
            .expect("read")
            .len(),
        2
    );
    assert_eq!(
        a.read_table(names::IPV4_LPM, false)
            .await
            .expect("read")
            .len(),
        1,
        "device 1 got its entry back"
    );
    assert_eq!(
        pool.connections(),
        1,
        "device 1 came back on the shared one"
    );
    assert_eq!(a.connection_users(), 2);
    sw.stop.cancel();
}

#[tokio::test]
async fn a_shared_connection_that_died_is_replaced_for_every_device() {
    let (addr, process) = start_process("127.0.0.1:0");
    let pool = ChannelPool::new();
    let mut a = pooled(&addr, 1, &pool).await;
    let mut b = pooled(&addr, 2, &pool).await;
    assert_eq!(a.connection_users(), 2);

    process.shutdown_background();
    for c in [&mut a, &mut b] {
        next_matching(c, |e| matches!(e, StreamEvent::Disconnected { .. })).await;
    }
    let restarted = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || {
            std::thread::sleep(Duration::from_millis(300));
            start_process(&addr).1
        }
    });
    for c in [&mut a, &mut b] {
        let report = c.reconnect().await.expect("reconnect with backoff");
        assert_eq!(report.pipeline, Some(PipelineOutcome::Installed));
        assert!(c.is_primary());
    }
    assert_eq!(pool.connections(), 1, "both on the new connection");
    assert_eq!(b.connection_users(), 2);
    assert!(!a.capabilities().await.expect("answers").is_empty());
    restarted
        .await
        .expect("server thread")
        .shutdown_background();
}

#[tokio::test]
async fn a_connection_carries_at_most_its_share_of_devices() {
    let devices = DEVICES_PER_CONNECTION as u64 + 1;
    let sw = start(P4SimNetwork::new(devices).expect("net")).await;
    let pool = ChannelPool::new();
    let mut clients = Vec::new();
    for device in 1..=devices {
        let mut config = config(&sw.addr, device, 10);
        config.channels = Some(pool.clone());
        clients.push(P4RuntimeClient::connect(config).await.expect("connect"));
    }
    assert_eq!(pool.connections(), 2, "the last device opened a second one");
    assert_eq!(clients[0].connection_users(), DEVICES_PER_CONNECTION);
    assert_eq!(clients[clients.len() - 1].connection_users(), 1);
    // A device that leaves makes room on its connection.
    clients.swap_remove(0);
    let mut config = config(&sw.addr, 1, 10);
    config.channels = Some(pool.clone());
    let again = P4RuntimeClient::connect(config).await.expect("connect");
    assert_eq!(again.connection_users(), DEVICES_PER_CONNECTION);
    assert_eq!(pool.connections(), 2);
    sw.stop.cancel();
}
