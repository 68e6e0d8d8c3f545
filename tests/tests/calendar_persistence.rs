//! Scheduled events are kept in the state store like every other record: an event created
//! through the API (a pair-scoped x3, its hosts given by MAC) is listed again, with its id,
//! after the whole controller (`Service` with a redb file, REST on TCP) restarts, and it still
//! shapes that pair's forecast (x3 at the steps it covers, not before it, not for another
//! pair); deleted, it stays gone after the next restart, and its id is not handed out again.
//!
//! An event over for longer than the retention is pruned by a tick and deleted from the file
//! by the persister while the service runs (not only at shutdown), so a restart does not bring
//! it back; one over for less is kept across the restart.
//!
//! The control loop is slowed to an hour so the test drives the core's ticks itself, at
//! instants of its choosing (the event lies days ahead).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use prescient::core::SeriesKey;
use prescient::service::{Service, ServiceConfig};
use prescient_tests::TempDir;
use prescient_topology::{DeviceId, FlowKey, MacAddr, Timestamp};
use serde_json::{json, Value};

const TOKEN: &str = "persist-calendar";
const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

fn config(store: &Path) -> ServiceConfig {
    let mut config = ServiceConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        Some("127.0.0.1:0".parse().unwrap()),
    );
    config.core.control_interval = Duration::from_secs(3600);
    prescient_tests::controller::persistent(config, store, TOKEN)
}

async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    prescient_tests::http::request(addr, method, path, Some(TOKEN), body.as_ref())
        .await
        .expect("the REST API answers")
}

/// `steps` ticks `interval` seconds apart from `from` (seconds): a -> b and b -> a both at
/// 10 Mb/s.
fn drive(service: &Service, from: u64, steps: u64, interval: u64, bytes: &mut u64) {
    for i in 0..steps {
        let now = Timestamp::from_secs(from + i * interval);
        *bytes += interval * 10_000_000 / 8;
        let b = *bytes;
        service.core().apply(|c| {
            let key = |cookie| FlowKey {
                device: DeviceId::openflow(1),
                cookie,
            };
            c.flow_counters(now, key(1), Some((A, B)), b, b / 1000);
            c.flow_counters(now, key(2), Some((B, A)), b, b / 1000);
            c.tick(now);
        });
    }
}

/// The forecasts of a -> b and b -> a, read together: the service's own control loop ticks once
/// at the wall clock as it starts, and a tick between two reads (one more observation for each
/// series) made the two forecasts of different histories.
type Forecasts = (Vec<(u64, f64)>, Vec<(u64, f64)>);

fn forecasts(service: &Service) -> Forecasts {
    service.core().read(|c| {
        let of = |src, dst| {
            c.series(&SeriesKey::Pair(src, dst))
                .map(|s| {
                    s.forecast()
                        .iter()
                        .map(|p| (p.at.nanos() / 1_000_000_000, p.value))
                        .collect()
                })
                .unwrap_or_default()
        };
        (of(A, B), of(B, A))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_event_survives_a_restart_and_still_shapes_its_pairs_forecast() {
    let dir = TempDir::new("prescient-calendar-persistence").unwrap();
    let store = dir.path().join("state.redb");
    let interval = 3600;
    // Ten days ahead, on an interval boundary, covering three steps.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let start = (now / interval + 240) * interval;
    let first = Service::start(config(&store)).await.unwrap();
    let api = first.http_addr().unwrap();
    let event = json!({"name": "spring-sale", "start_secs": start,
        "end_secs": start + 3 * interval, "multiplier": 3.0,
        "scope": {"kind": "pair", "src": A.to_string(), "dst": B.to_string()}});
    let (status, created) = http(api, "POST", "/api/v1/calendar", Some(event)).await;
    assert_eq!(status, 201, "{created}");
    let (status, other) = http(
        api,
        "POST",
        "/api/v1/calendar",
        Some(
            json!({"name": "backup", "start_secs": start, "end_secs": start + 60,
            "absolute_bps": 5u64}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{other}");
    first.shutdown().await;

    let second = Service::start(config(&store)).await.unwrap();
    let api = second.http_addr().unwrap();
    let (status, list) = http(api, "GET", "/api/v1/calendar", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        list,
        json!([created.clone(), other.clone()]),
        "kept as created"
    );
    // Forecasts made 6 steps before the event (12-step horizon): x3 from its start to its end
    // for a -> b, b -> a as it is. Each pair's first sample is only a baseline; until session
    // 13 the traffic matrix read it as 0 bit/s, a false first observation that a seasonal naive
    // forecast repeated a day later (step 1 read 23 % low for both pairs, which their ratio
    // hid), so the levels are checked, not only the ratio, and the history holds no 0.
    // The service's control loop ticks once at the wall clock as it starts: driven after that
    // tick, the forecasts read are the driven ticks'. Once in CI (session 17) it came after the
    // drive, and the forecasts started from the wall clock, off the event's hourly grid.
    prescient_tests::wait_for("the service's first tick", Duration::from_secs(20), || {
        second.core().read(|c| c.last_tick())
    })
    .await
    .expect("the control loop ticks as the service starts");
    let mut bytes = 0;
    drive(&second, start - 30 * interval, 24, interval, &mut bytes);
    let observed: Vec<f64> = second.core().read(|c| {
        c.series(&SeriesKey::Pair(A, B))
            .map(|s| s.actuals().filter_map(|(_, v)| v).collect())
            .unwrap_or_default()
    });
    // 23 measured rates (the first sample is a baseline), one more when the service's own
    // wall-clock tick lands between two driven ones (it reads the latest rate again).
    assert!(
        (23..=24).contains(&observed.len())
            && observed.iter().all(|v| (v / 10e6 - 1.0).abs() < 1e-9),
        "a -> b observed its measured 10 Mb/s from its second sample on: {observed:?}"
    );
    let (ab, ba) = forecasts(&second);
    assert!(!ab.is_empty() && ab.len() == ba.len(), "{ab:?} {ba:?}");
    for ((at, x), (_, y)) in ab.iter().zip(&ba) {
        let want = if (start..start + 3 * interval).contains(at) {
            3.0
        } else {
            1.0
        };
        assert!(
            (x / y - want).abs() < 0.05,
            "at {at} (event {start}..{}): a->b {x}, b->a {y}",
            start + 3 * interval
        );
        assert!(
            (y / 10e6 - 1.0).abs() < 0.05,
            "at {at}: b->a forecasts {y} for its constant 10 Mb/s"
        );
    }
    assert!(ab.iter().any(|(at, _)| *at == start), "{ab:?}");
    // Deleted (the newest): gone after the next restart too; the other one stays.
    let id = other["id"].as_u64().unwrap();
    let (status, _) = http(api, "DELETE", &format!("/api/v1/calendar/{id}"), None).await;
    assert_eq!(status, 200);
    second.shutdown().await;
    let third = Service::start(config(&store)).await.unwrap();
    let (_, list) = http(third.http_addr().unwrap(), "GET", "/api/v1/calendar", None).await;
    assert_eq!(list, json!([created]));
    // Its id is not handed out again.
    let (status, next) = http(
        third.http_addr().unwrap(),
        "POST",
        "/api/v1/calendar",
        Some(
            json!({"name": "later", "start_secs": start, "end_secs": start + 60,
            "multiplier": 2.0}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{next}");
    assert!(next["id"].as_u64().unwrap() > other["id"].as_u64().unwrap());
    third.shutdown().await;
}

fn stored_names(service: &Service) -> Vec<String> {
    let events = service.store().load_events().unwrap();
    events.into_iter().map(|e| e.name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_pruned_by_the_tick_leaves_the_file_and_stays_gone_after_a_restart() {
    let dir = TempDir::new("prescient-calendar-retention").unwrap();
    let store = dir.path().join("state.redb");
    let retaining = || {
        let mut c = config(&store);
        c.core.planning.calendar_retention = Duration::from_secs(3600);
        c
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let first = Service::start(retaining()).await.unwrap();
    // The loop's own tick as it starts, out of the way: the one below decides.
    prescient_tests::wait_for("the service's first tick", Duration::from_secs(20), || {
        first.core().read(|c| c.last_tick())
    })
    .await
    .expect("the control loop ticks as the service starts");
    let api = first.http_addr().unwrap();
    let mut created = Vec::new();
    // Over for two hours, and for ten minutes.
    for (name, end) in [("old", now - 2 * 3600), ("recent", now - 600)] {
        let event = json!({"name": name, "start_secs": now - 3 * 3600, "end_secs": end,
            "multiplier": 2.0});
        let (status, body) = http(api, "POST", "/api/v1/calendar", Some(event)).await;
        assert_eq!(status, 201, "{body}");
        created.push(body);
    }
    assert_eq!(stored_names(&first), ["old", "recent"], "committed");
    first.core().apply(|c| c.tick(Timestamp::from_secs(now)));
    prescient_tests::wait_for(
        "the pruned event to leave the file",
        Duration::from_secs(20),
        || (stored_names(&first) == ["recent"]).then_some(()),
    )
    .await
    .expect("the persister deletes what the tick pruned");
    first.shutdown().await;
    let second = Service::start(retaining()).await.unwrap();
    let (_, list) = http(second.http_addr().unwrap(), "GET", "/api/v1/calendar", None).await;
    assert_eq!(list, json!([created[1].clone()]));
    second.shutdown().await;
}
