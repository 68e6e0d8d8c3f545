//! Accepted reservations survive a controller restart: the whole controller (`Service`, with a
//! redb store in a temporary directory and the REST API on TCP) against an emulated OpenFlow
//! ring. A reservation admitted through the API is listed again after the restart with the
//! same id, `restoring` until its links are rediscovered, then `active` with its meters
//! installed again on the switches; a new reservation gets a fresh id. A store that cannot be
//! opened stops the controller from starting, with the path in the error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use prescient::service::{Service, ServiceConfig};
use prescient::store::StoreConfig;
use prescient_sim::openflow::SimHandle;
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_southbound::openflow::wire::{DatapathId, Instruction, MeterId};
use prescient_tests::{wait_for, TempDir};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(40);
const TOKEN: &str = "persist-me";

fn config(openflow: SocketAddr, store: &Path) -> ServiceConfig {
    let mut config = prescient_tests::controller::persistent(
        prescient_tests::controller::config(openflow, Some("127.0.0.1:0".parse().unwrap())),
        store,
        TOKEN,
    );
    config.stats_interval = Some(Duration::from_millis(500));
    // Long enough that nothing is rerouted or dropped while the ring reconnects.
    config.store.restore_grace = Some(Duration::from_secs(60));
    config
}

/// One HTTP/1.1 request over a fresh connection; the status and the JSON body.
async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    prescient_tests::http::request(addr, method, path, Some(TOKEN), body.as_ref())
        .await
        .expect("the REST API answers")
}

fn ring(service: &Service) -> SimHandle {
    prescient_tests::sim::spawn_quick(
        SimTopology::generate(TopologyKind::Ring(4)).unwrap(),
        service.openflow_addr(),
    )
}

async fn all_links_discovered(service: &Service, links: usize) {
    wait_for("every link of the ring discovered", WAIT, || {
        (service.core().snapshot().links().len() >= links).then_some(())
    })
    .await
    .unwrap();
}

/// The switches (dpids) of a reservation's meter ports, as the API lists them.
fn meter_switches(reservation: &Value) -> Vec<DatapathId> {
    reservation["meter_ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let port = p.as_str().unwrap();
            let (dev, _) = port.rsplit_once(':').unwrap();
            let hex = dev.strip_prefix("of:").unwrap();
            DatapathId(u64::from_str_radix(hex, 16).unwrap())
        })
        .collect()
}

/// When the flow metering reservation `id` was installed on `dpid`, if it is there.
async fn meter_flow_installed(sim: &SimHandle, dpid: DatapathId, id: u64) -> Option<Duration> {
    let meter = MeterId(u32::try_from(id).unwrap());
    sim.flow_table(dpid)
        .await
        .ok()?
        .into_iter()
        .find(|e| {
            e.instructions
                .iter()
                .any(|i| matches!(i, Instruction::Meter(m) if *m == meter))
        })
        .map(|e| e.installed)
}

/// Waits until every switch in `dpids` has the meter flow of `id`, installed after `after`.
async fn wait_meters(sim: &SimHandle, dpids: &[DatapathId], id: u64, after: Option<Duration>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut all = true;
        for d in dpids {
            match meter_flow_installed(sim, *d, id).await {
                Some(at) if after.is_none_or(|a| at > a) => {}
                _ => all = false,
            }
        }
        if all {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "meters of reservation {id} not (re)installed on {dpids:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admitted_reservation_survives_a_controller_restart() {
    let dir = TempDir::new("prescient-persistence-restart").unwrap();
    let store = dir.path().join("state.redb");
    let first = Service::start(config("127.0.0.1:0".parse().unwrap(), &store))
        .await
        .unwrap();
    let openflow = first.openflow_addr();
    let sim = ring(&first);
    assert!(sim.wait_connected(WAIT, |n| n == 4).await);
    all_links_discovered(&first, 8).await;

    let api = first.http_addr().unwrap();
    let (status, created) = http(
        api,
        "POST",
        "/api/v1/reservations",
        Some(json!({
            "src": "of:0000000000000001",
            "dst": "of:0000000000000003",
            // Between switches a reservation names its traffic (TEST-NET-1, no host).
            "match": {"src_ip": "192.0.2.1"},
            "rate_bps": 100_000_000u64,
            "tier": 2
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let before = created["reservation"].clone();
    let id = before["id"].as_u64().unwrap();
    assert_eq!(before["state"], "active");
    assert_eq!(before["path"].as_array().unwrap().len(), 2, "{before}");
    let switches = meter_switches(&before);
    assert_eq!(switches.len(), 2);
    wait_meters(&sim, &switches, id, None).await;
    let mut first_installed = Vec::new();
    for d in &switches {
        first_installed.push(meter_flow_installed(&sim, *d, id).await.unwrap());
    }
    first.shutdown().await;

    // Same store, same OpenFlow address: the switches reconnect on their own.
    let second = Service::start(config(openflow, &store)).await.unwrap();
    let api = second.http_addr().unwrap();
    let (status, listed) = http(api, "GET", "/api/v1/reservations", None).await;
    assert_eq!(status, 200);
    let listed = listed.as_array().unwrap().clone();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let after = &listed[0];
    assert_eq!(after["id"].as_u64(), Some(id), "same id after the restart");
    for field in [
        "src", "dst", "subject", "rate_bps", "tier", "start_ns", "end_ns", "path",
    ] {
        assert_eq!(
            after[field], before[field],
            "{field} changed across the restart"
        );
    }
    assert_eq!(
        after["state"], "restoring",
        "no links are known yet: {after}"
    );

    assert!(sim.wait_connected(WAIT, |n| n == 4).await);
    all_links_discovered(&second, 8).await;
    let active = wait_for("the restored reservation to become active", WAIT, || {
        let r = second
            .core()
            .read(|c| c.reservation_state(prescient_topology::ReservationId(id)));
        (r == Some(prescient::core::ReservationState::Active)).then_some(())
    })
    .await;
    assert!(active.is_ok(), "{active:?}");
    let (_, one) = http(api, "GET", &format!("/api/v1/reservations/{id}"), None).await;
    assert_eq!(one["state"], "active");
    assert_eq!(meter_switches(&one), switches);
    // Installed again by the new controller: each flow is newer than the first controller's.
    let newest = first_installed.iter().max().copied();
    wait_meters(&sim, &switches, id, newest).await;

    let (status, fresh) = http(
        api,
        "POST",
        "/api/v1/reservations",
        Some(json!({
            "src": "of:0000000000000002",
            "dst": "of:0000000000000004",
            // Between switches a reservation names its traffic (TEST-NET-1, no host).
            "match": {"src_ip": "192.0.2.1"},
            "rate_bps": 50_000_000u64
        })),
    )
    .await;
    assert_eq!(status, 201, "{fresh}");
    let fresh_id = fresh["reservation"]["id"].as_u64().unwrap();
    assert!(fresh_id > id, "fresh id {fresh_id} after restored {id}");

    // Released through the API: gone from the store too.
    let (status, _) = http(api, "DELETE", &format!("/api/v1/reservations/{id}"), None).await;
    assert_eq!(status, 200);
    second.shutdown().await;
    let third = Service::start(config("127.0.0.1:0".parse().unwrap(), &store))
        .await
        .unwrap();
    let ids: Vec<u64> = third
        .core()
        .read(|c| c.ledger().reservations().map(|r| r.id.0).collect());
    assert_eq!(ids, vec![fresh_id], "the released one stays released");
    third.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_be_opened_stops_the_start_and_names_the_path() {
    let dir = TempDir::new("prescient-persistence-bad").unwrap();
    let garbage = dir.path().join("not-a-store.redb");
    std::fs::write(&garbage, vec![0x42u8; 8192]).unwrap();
    let err = match Service::start(config("127.0.0.1:0".parse().unwrap(), &garbage)).await {
        Ok(_) => panic!("started on a file that is not a store"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&garbage.display().to_string()), "{err}");

    let nowhere = dir.path().join("missing/dir/state.redb");
    let err = match Service::start(config("127.0.0.1:0".parse().unwrap(), &nowhere)).await {
        Ok(_) => panic!("started without a store"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("missing/dir/state.redb"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_store_cannot_commit_nothing_changes_and_the_client_gets_503() {
    let mut cfg = config("127.0.0.1:0".parse().unwrap(), Path::new("unused"));
    cfg.store = StoreConfig::default();
    let service = Service::start(cfg).await.unwrap();
    let sim = ring(&service);
    assert!(sim.wait_connected(WAIT, |n| n == 4).await);
    all_links_discovered(&service, 8).await;
    let api = service.http_addr().unwrap();
    let body = json!({
        "src": "of:0000000000000001",
        "dst": "of:0000000000000003",
        // Between switches a reservation names its traffic (TEST-NET-1, no host).
        "match": {"src_ip": "192.0.2.1"},
        "rate_bps": 100_000_000u64
    });
    let (status, kept) = http(api, "POST", "/api/v1/reservations", Some(body.clone())).await;
    assert_eq!(status, 201, "{kept}");
    let kept = kept["reservation"]["id"].as_u64().unwrap();

    service.store().close();
    let (status, refused) = http(api, "POST", "/api/v1/reservations", Some(body)).await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["error"]["code"], "store_unavailable");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("nothing was reserved"), "{message}");
    let (ids, meters) = service.core().read(|c| {
        let ids: Vec<u64> = c.ledger().reservations().map(|r| r.id.0).collect();
        let meters: Vec<u64> = c.desired_meters().keys().map(|r| r.0).collect();
        (ids, meters)
    });
    assert_eq!(ids, vec![kept], "the refused admission was undone");
    assert_eq!(meters, vec![kept], "no meters for it either");

    let (status, error) = http(api, "DELETE", &format!("/api/v1/reservations/{kept}"), None).await;
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["error"]["code"], "store_unavailable");
    let (_, still) = http(api, "GET", &format!("/api/v1/reservations/{kept}"), None).await;
    assert_eq!(still["state"], "active", "the release was undone: {still}");
    assert_eq!(meter_switches(&still).len(), 2);

    // The refused one (the next id) never reached a switch.
    for d in 1..=4 {
        assert_eq!(
            meter_flow_installed(&sim, DatapathId(d), kept + 1).await,
            None
        );
    }
    service.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reroute_by_the_core_reaches_the_store() {
    let mut cfg = config("127.0.0.1:0".parse().unwrap(), Path::new("unused"));
    cfg.store = StoreConfig::default();
    let service = Service::start(cfg).await.unwrap();
    let sim = ring(&service);
    assert!(sim.wait_connected(WAIT, |n| n == 4).await);
    all_links_discovered(&service, 8).await;
    let api = service.http_addr().unwrap();
    let (status, created) = http(
        api,
        "POST",
        "/api/v1/reservations",
        Some(json!({
            "src": "of:0000000000000001",
            "dst": "of:0000000000000003",
            // Between switches a reservation names its traffic (TEST-NET-1, no host).
            "match": {"src_ip": "192.0.2.1"},
            "rate_bps": 100_000_000u64
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["reservation"]["id"].as_u64().unwrap();
    let path: Vec<String> = serde_json::from_value(created["reservation"]["path"].clone()).unwrap();
    let stored = service.store().load().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].path, path, "committed before the 201");

    // Cut the first cable of its path: the core reroutes it round the other side of the ring.
    let (a, b) = {
        let first = &path[0];
        let (src, dst) = first.split_once(',').unwrap();
        let dpid = |p: &str| {
            let (dev, _) = p.rsplit_once(':').unwrap();
            DatapathId(u64::from_str_radix(dev.strip_prefix("of:").unwrap(), 16).unwrap())
        };
        (dpid(src), dpid(dst))
    };
    sim.set_link(a, b, false).await.unwrap();
    let rerouted = wait_for("the rerouted path in the store", WAIT, || {
        let stored = service.store().load().ok()?;
        let r = stored.iter().find(|r| r.id == id)?;
        (!r.path.is_empty() && r.path != path).then(|| r.path.clone())
    })
    .await
    .unwrap();
    let live: Vec<String> = service.core().read(|c| {
        c.ledger()
            .get(prescient_topology::ReservationId(id))
            .map(|r| {
                r.request
                    .path
                    .iter()
                    .map(|l| prescient::core::naming::link_id(*l))
                    .collect()
            })
            .unwrap_or_default()
    });
    assert_eq!(rerouted, live, "the store holds the path the core uses");
    service.shutdown().await;
    sim.shutdown().await;
}
