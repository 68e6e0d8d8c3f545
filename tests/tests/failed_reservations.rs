//! A reservation that failed (its host moved to a switch no path with room leads to) as a REST
//! user sees it, through the whole controller with a state store, against the emulated
//! P4Runtime line s1 - s2 - s3: it is still `failed`, holding nothing, after a controller
//! restart (not back on the path it left), and is placed when room appears and its hosts are
//! seen again; a DELETE the store cannot commit leaves it `failed` and the answer says why.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use prescient::core::ReservationState;
use prescient::northbound::ApiConfig;
use prescient::service::{Service, ServiceConfig};
use prescient::store::{StoreConfig, StoreLocation};
use prescient_sim::p4rt::P4SimNetwork;
use prescient_tests::p4sim::{arp, controller, meters, pair_key, serve};
use prescient_tests::{wait_for, wait_links, TempDir};
use prescient_topology::{MacAddr, ReservationId};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(40);
const TOKEN: &str = "failed-reservations";
const H1: [u8; 6] = [2, 0, 0, 0, 0, 1];
const H2: [u8; 6] = [2, 0, 0, 0, 0, 2];
const H3: [u8; 6] = [2, 0, 0, 0, 0, 3];
const IP1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const IP2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const IP3: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
/// s3 -> s2, the only way from s3 towards h2.
const S3_S2: &str = "p4:3:1,p4:2:2";

/// The REST API with a bearer token, and the state store at `store` (`None`: in memory).
fn tune(c: &mut ServiceConfig, store: Option<&Path>) {
    c.http = Some("127.0.0.1:0".parse().unwrap());
    c.api = ApiConfig {
        token: Some(TOKEN.to_string()),
        protect_reads: false,
    };
    c.store = match store {
        Some(path) => StoreConfig {
            location: StoreLocation::File(path.to_owned()),
            restore_grace: None,
        },
        None => StoreConfig::default(),
    };
}

async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    prescient_tests::http::request(addr, method, path, Some(TOKEN), body.as_ref())
        .await
        .expect("the REST API answers")
}

/// `host` announces itself (a gratuitous ARP) at port `port` of switch `device`, until the
/// controller has it there.
async fn announce(
    service: &Service,
    network: &P4SimNetwork,
    (mac, ip): ([u8; 6], Ipv4Addr),
    (device, port): (u64, u32),
) {
    let want = prescient_topology::PortRef::new(
        prescient_topology::DeviceId::p4runtime(device),
        prescient_topology::PortNo(port),
    );
    wait_for("a host seen where it announced itself", WAIT, || {
        if service.core().snapshot().host(MacAddr(mac)) == Some(want) {
            return Some(());
        }
        network.inject(device, port, arp((mac, ip), ip, None));
        None
    })
    .await
    .unwrap();
}

async fn reserve(api: SocketAddr, src: Ipv4Addr, dst: Ipv4Addr, rate_bps: u64) -> u64 {
    let body = json!({"src": src.to_string(), "dst": dst.to_string(), "rate_bps": rate_bps});
    let (status, created) = http(api, "POST", "/api/v1/reservations", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    created["reservation"]["id"].as_u64().unwrap()
}

async fn get(api: SocketAddr, id: u64) -> Value {
    let (status, r) = http(api, "GET", &format!("/api/v1/reservations/{id}"), None).await;
    assert_eq!(status, 200, "{r}");
    r
}

/// Waits until reservation `id` is in `state` in the core, then returns it as REST shows it;
/// panics with that view (and `what`) if it never gets there.
async fn wait_state(service: &Service, id: u64, state: ReservationState, what: &str) -> Value {
    let reached = wait_for(what, WAIT, || {
        let now = service
            .core()
            .read(|c| c.reservation_state(ReservationId(id)));
        (now == Some(state)).then_some(())
    })
    .await;
    let r = get(service.http_addr().unwrap(), id).await;
    assert!(reached.is_ok(), "{what}: {r}");
    r
}

/// h1 (s1) -> h2 (s2) at 100 Mbit/s, and h3 (s3) -> h2 at 950 Mbit/s leaving 50 on s3 -> s2;
/// then h1 moves to s3's free port 2: no path from there has room, so h1's reservation fails.
/// Returns (h1's reservation, h3's).
async fn fail_one(service: &Service, network: &P4SimNetwork) -> (u64, u64) {
    let api = service.http_addr().unwrap();
    wait_links(service.core(), 4, "the line discovered", WAIT)
        .await
        .unwrap();
    announce(service, network, (H1, IP1), (1, 3)).await;
    announce(service, network, (H2, IP2), (2, 3)).await;
    announce(service, network, (H3, IP3), (3, 3)).await;
    let id = reserve(api, IP1, IP2, 100_000_000).await;
    let blocker = reserve(api, IP3, IP2, 950_000_000).await;
    let metered = BTreeMap::from([(pair_key(IP1, IP2), (12_500_000, 12_500_000))]);
    wait_for("h1's reservation metered on s1", WAIT, || {
        (meters(network, 1) == metered).then_some(())
    })
    .await
    .unwrap();

    announce(service, network, (H1, IP1), (3, 2)).await;
    let r = wait_state(
        service,
        id,
        ReservationState::Failed,
        "h1's reservation failed",
    )
    .await;
    assert_eq!(r["state"], "failed", "{r}");
    assert_eq!(
        r["path"],
        json!([]),
        "a failed reservation holds no path: {r}"
    );
    wait_for("h1's meter gone from s1", WAIT, || {
        meters(network, 1).is_empty().then_some(())
    })
    .await
    .unwrap();
    (id, blocker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reservation_is_still_failed_after_a_restart_and_placed_when_room_appears() {
    prescient_tests::trace_to_test_output();
    let dir = TempDir::new("prescient-failed-restart").unwrap();
    let store = dir.path().join("state.redb");
    let network = Arc::new(P4SimNetwork::linear(3).unwrap());
    let (address, stop_sim, server) = serve(network.clone()).await;
    let first = controller(&address, &network, 3, |c| tune(c, Some(&store))).await;
    let (id, blocker) = fail_one(&first, &network).await;
    first.shutdown().await;

    let second = controller(&address, &network, 3, |c| tune(c, Some(&store))).await;
    let api = second.http_addr().unwrap();
    let r = get(api, id).await;
    assert_eq!(
        r["state"], "failed",
        "it held nothing before the restart: {r}"
    );
    assert_eq!(r["path"], json!([]), "{r}");
    wait_links(second.core(), 4, "the line discovered again", WAIT)
        .await
        .unwrap();
    let r = get(api, id).await;
    assert_eq!(r["state"], "failed", "{r}");
    assert!(
        meters(&network, 1).is_empty(),
        "nothing back on its old path"
    );

    // Room on s3 -> s2, and h1 and h2 seen again (a restarted controller knows no host):
    // placed from where h1 now is.
    let (status, released) = http(
        api,
        "DELETE",
        &format!("/api/v1/reservations/{blocker}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{released}");
    announce(&second, &network, (H1, IP1), (3, 2)).await;
    announce(&second, &network, (H2, IP2), (2, 3)).await;
    let r = wait_state(
        &second,
        id,
        ReservationState::Active,
        "h1's reservation placed from s3",
    )
    .await;
    assert_eq!(r["path"], json!([S3_S2]), "{r}");
    assert_eq!(r["id"].as_u64(), Some(id), "same id");
    let metered = BTreeMap::from([(pair_key(IP1, IP2), (12_500_000, 12_500_000))]);
    wait_for("h1's reservation metered on s3", WAIT, || {
        (meters(&network, 3) == metered).then_some(())
    })
    .await
    .unwrap();
    assert!(meters(&network, 1).is_empty());

    second.shutdown().await;
    stop_sim.cancel();
    let _ = server.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_the_store_cannot_commit_leaves_a_failed_reservation_failed() {
    prescient_tests::trace_to_test_output();
    let network = Arc::new(P4SimNetwork::linear(3).unwrap());
    let (address, stop_sim, server) = serve(network.clone()).await;
    let service = controller(&address, &network, 3, |c| tune(c, None)).await;
    let (id, _) = fail_one(&service, &network).await;
    let api = service.http_addr().unwrap();

    service.store().close();
    let (status, error) = http(api, "DELETE", &format!("/api/v1/reservations/{id}"), None).await;
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["error"]["code"], "store_unavailable");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("not released") && message.contains("could not commit"),
        "{message}"
    );
    let r = get(api, id).await;
    assert_eq!(r["state"], "failed", "as it was before the DELETE: {r}");
    assert_eq!(r["path"], json!([]), "{r}");
    let (held, metered) = service.core().read(|c| {
        let id = ReservationId(id);
        (
            c.ledger().contains(id),
            c.desired_meters().contains_key(&id),
        )
    });
    assert!(!held, "it holds no capacity");
    assert!(!metered, "and no meters");

    service.shutdown().await;
    stop_sim.cancel();
    let _ = server.await;
}
