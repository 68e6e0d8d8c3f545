//! Scheduled events in cluster mode, on a real etcd (started by the test on loopback ports of
//! its own): an event created on the leader is under `/prescient/v1/calendar/<id>` in etcd,
//! listed by a follower (its watch mirrors it into the follower's core; a write to the follower
//! is redirected to the leader), kept by a node started afresh on the same etcd after every node
//! stopped; deleted, it leaves etcd and the follower,
//! and its id is not handed out again by a node started afterwards. An event over for longer
//! than the retention is pruned by the leader's tick: it leaves etcd, the leader's listing and
//! the follower's, and the leader's decision log names it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use etcd_client::GetOptions;
use prescient::cluster::ClusterConfig;
use prescient::northbound::ApiConfig;
use prescient::service::{Service, ServiceConfig};
use prescient_tests::etcd::Etcd;
use serde_json::{json, Value};

const TOKEN: &str = "cluster-calendar";
const WAIT: Duration = Duration::from_secs(30);

fn config(endpoint: &str, name: &str) -> ServiceConfig {
    let mut config = ServiceConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        Some("127.0.0.1:0".parse().unwrap()),
    );
    config.api = ApiConfig {
        token: Some(TOKEN.to_string()),
        protect_reads: false,
    };
    config.cluster = Some(ClusterConfig::new(vec![endpoint.to_string()], name));
    config
}

async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    prescient_tests::http::request(addr, method, path, Some(TOKEN), body.as_ref())
        .await
        .expect("the REST API answers")
}

/// [`config`] with scheduled events over for `retention` pruned.
fn config_retaining(endpoint: &str, name: &str, retention: Duration) -> ServiceConfig {
    let mut config = config(endpoint, name);
    config.core.planning.calendar_retention = retention;
    config
}

/// Waits until `node` leads.
async fn leads(node: &Service) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !node.cluster().unwrap().is_leader() {
        assert!(tokio::time::Instant::now() < deadline, "never led");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `GET /api/v1/calendar` on `addr` answers `want`.
async fn lists(addr: SocketAddr, want: &Value) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, list) = http(addr, "GET", "/api/v1/calendar", None).await;
        if &list == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} lists {list}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn etcd_events(etcd: &Etcd) -> Vec<(String, Value)> {
    let mut c = etcd.client().await.unwrap();
    let resp = c
        .get(
            "/prescient/v1/calendar/",
            Some(GetOptions::new().with_prefix()),
        )
        .await
        .unwrap();
    resp.kvs()
        .iter()
        .map(|kv| {
            (
                kv.key_str().unwrap().to_string(),
                serde_json::from_slice(kv.value()).unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scheduled_event_is_kept_in_etcd_mirrored_by_followers_and_survives_restarts() {
    let etcd = Etcd::start("calendar").await.unwrap();
    let leader = Service::start(config(&etcd.url(), "cal-lead"))
        .await
        .unwrap();
    leads(&leader).await;
    let follower = Service::start(config(&etcd.url(), "cal-follow"))
        .await
        .unwrap();
    let (lapi, fapi) = (leader.http_addr().unwrap(), follower.http_addr().unwrap());
    // Weekly, four times: the last start (`until_secs`) is kept, mirrored and restored with it.
    let event = json!({"name": "spring-sale", "start_secs": 2_000_000_000u64,
        "end_secs": 2_000_007_200u64, "every_secs": 604_800, "until_secs": 2_001_814_400u64,
        "multiplier": 3.0,
        "scope": {"kind": "link", "link": "of:0000000000000001:1,of:0000000000000002:1"}});
    let (status, created) = http(lapi, "POST", "/api/v1/calendar", Some(event)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["until_secs"], 2_001_814_400u64, "{created}");
    let id = created["id"].as_u64().unwrap();
    assert_eq!(
        etcd_events(&etcd).await,
        vec![(format!("/prescient/v1/calendar/{id}"), created.clone())],
        "committed before the answer"
    );
    lists(fapi, &json!([created.clone()])).await;
    // A follower does not write: once it knows the leader, it sends the client there.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let body = json!({"name": "x", "start_secs": 1, "end_secs": 2, "multiplier": 2.0});
        let (status, reply) = http(fapi, "POST", "/api/v1/calendar", Some(body)).await;
        if status == 307 {
            break;
        }
        assert!(
            status == 503 && tokio::time::Instant::now() < deadline,
            "{status} {reply}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every node stops; a node started afresh on the same etcd has it.
    follower.shutdown().await;
    leader.shutdown().await;
    let fresh = Service::start(config(&etcd.url(), "cal-fresh"))
        .await
        .unwrap();
    leads(&fresh).await;
    let api = fresh.http_addr().unwrap();
    lists(api, &json!([created.clone()])).await;
    let follower = Service::start(config(&etcd.url(), "cal-follow2"))
        .await
        .unwrap();
    let fapi = follower.http_addr().unwrap();
    lists(fapi, &json!([created.clone()])).await;

    let (status, _) = http(api, "DELETE", &format!("/api/v1/calendar/{id}"), None).await;
    assert_eq!(status, 200);
    assert!(etcd_events(&etcd).await.is_empty());
    lists(fapi, &json!([])).await;
    follower.shutdown().await;
    fresh.shutdown().await;
    let last = Service::start(config(&etcd.url(), "cal-last"))
        .await
        .unwrap();
    leads(&last).await;
    let again = json!({"name": "later", "start_secs": 2_000_000_000u64,
        "end_secs": 2_000_000_060u64, "multiplier": 2.0});
    let (status, next) = http(
        last.http_addr().unwrap(),
        "POST",
        "/api/v1/calendar",
        Some(again),
    )
    .await;
    assert_eq!(status, 201, "{next}");
    assert!(next["id"].as_u64().unwrap() > id, "{next} reuses {id}");
    last.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_over_for_the_retention_leaves_etcd_the_leader_and_the_follower() {
    let etcd = Etcd::start("calendar-prune").await.unwrap();
    let retention = Duration::from_secs(2);
    let leader = Service::start(config_retaining(&etcd.url(), "prune-lead", retention))
        .await
        .unwrap();
    leads(&leader).await;
    let follower = Service::start(config_retaining(&etcd.url(), "prune-follow", retention))
        .await
        .unwrap();
    let (lapi, fapi) = (leader.http_addr().unwrap(), follower.http_addr().unwrap());
    // Over in 8 s (the leader ticks every second at the wall clock), so pruned 2 s after: time
    // for the follower to mirror it first on a loaded machine. And one repeating every ten
    // minutes with no end, never over.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut created = Vec::new();
    for event in [
        json!({"name": "batch", "start_secs": now - 60, "end_secs": now + 8, "multiplier": 2.0}),
        json!({"name": "often", "start_secs": now - 3600, "end_secs": now - 3540,
            "every_secs": 600, "multiplier": 2.0}),
    ] {
        let (status, body) = http(lapi, "POST", "/api/v1/calendar", Some(event)).await;
        assert_eq!(status, 201, "{body}");
        created.push(body);
    }
    lists(fapi, &json!(created.clone())).await;
    let kept = json!([created[1].clone()]);
    lists(lapi, &kept).await;
    lists(fapi, &kept).await;
    let ids: Vec<String> = etcd_events(&etcd)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let often = created[1]["id"].as_u64().unwrap();
    assert_eq!(ids, [format!("/prescient/v1/calendar/{often}")]);
    let (_, decisions) = http(lapi, "GET", "/api/v1/decisions", None).await;
    let batch = created[0]["id"].as_u64().unwrap();
    let named = decisions.as_array().unwrap().iter().any(|d| {
        d["rule"] == "calendar_event_pruned"
            && d["subject"] == format!("calendar/{batch}")
            && d["reason"].as_str().is_some_and(|r| r.contains("`batch`"))
    });
    assert!(named, "{decisions}");
    follower.shutdown().await;
    leader.shutdown().await;
}
