//! Services over the REST API, in process: create a service, let predicted demand towards its
//! backend reserve shadow addresses (translations programmed, a scale-up hook queued), the
//! orchestrator report its instances (a pre-assigned address, a dynamic one), delete it; and
//! bad input, auth, and the hooks view. Also the REST series of the pair feeding it: its first
//! observation is its first measured rate, never the unmeasured 0 its counter's baseline read as.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use prescient::core::{Action, CoreConfig, SharedCore};
use prescient::northbound::{ApiConfig, ApiState};
use prescient_tests::rest::{at, port, request, send, Reply};
use prescient_topology::{DeviceId, FlowKey, MacAddr, Timestamp};
use serde_json::{json, Value};

const TOKEN: &str = "svc-token";
const H1: MacAddr = MacAddr([0, 0, 0, 0, 0, 1]);
const B1: MacAddr = MacAddr([0, 0, 0, 0, 1, 1]);

struct Fixture {
    core: Arc<SharedCore>,
    clock: Arc<AtomicU64>,
    state: ApiState,
    bytes: u64,
}

fn refresh(c: &mut prescient::core::ControllerCore, now: Timestamp) {
    c.lldp_received(now, at(2, 1), at(1, 1)).expect("s1->s2");
    c.lldp_received(now, at(1, 1), at(2, 1)).expect("s2->s1");
}

/// s1 -1- s2; client h1 on s1:10, instance b1 on s2:10.
fn fixture() -> Fixture {
    let clock = Arc::new(AtomicU64::new(Timestamp::from_secs(1).nanos()));
    let c2 = Arc::clone(&clock);
    let core = SharedCore::with_clock(
        CoreConfig::default(),
        Arc::new(move || Timestamp(c2.load(Ordering::SeqCst))),
    );
    let t0 = Timestamp::from_secs(1);
    core.apply(|c| {
        for d in 1..=2 {
            c.device_up(t0, DeviceId::openflow(d), vec![port(1), port(10), port(11)]);
        }
        refresh(c, t0);
        c.host_seen(t0, H1, Some(Ipv4Addr::new(10, 0, 0, 1)), at(1, 10))
            .expect("h1");
        c.host_seen(t0, B1, Some(Ipv4Addr::new(10, 1, 0, 1)), at(2, 10))
            .expect("b1");
    });
    let state = ApiState::new(
        Arc::clone(&core),
        ApiConfig {
            token: Some(TOKEN.to_string()),
            protect_reads: false,
        },
    );
    Fixture {
        core,
        clock,
        state,
        bytes: 0,
    }
}

/// `secs` ticks of `rate` bits/s from h1 to b1; returns the actions the ticks asked for.
fn drive(f: &mut Fixture, from: u64, secs: u64, rate: f64) -> Vec<Action> {
    let mut actions = Vec::new();
    for s in from..from + secs {
        let now = Timestamp::from_secs(s);
        f.bytes += (rate / 8.0) as u64;
        let bytes = f.bytes;
        actions.extend(f.core.apply(|c| {
            refresh(c, now);
            let key = FlowKey {
                device: DeviceId::openflow(1),
                cookie: 9,
            };
            c.flow_counters(now, key, Some((H1, B1)), bytes, bytes / 1000);
            c.tick(now)
        }));
        f.clock.store(now.nanos(), Ordering::SeqCst);
    }
    actions
}

async fn call(f: &Fixture, method: Method, uri: &str, body: Option<Value>, auth: bool) -> Reply {
    let body = body.map(|b| b.to_string());
    let req = request(method, uri, body.as_deref(), auth.then_some(TOKEN));
    send(&f.state, req).await
}

fn web() -> Value {
    json!({
        "name": "web",
        "tenant": "red",
        "vip": "192.0.2.10",
        "pool": "10.1.0.0/29",
        "instance_capacity_bps": 100_000_000u64,
        "max_instances": 4,
        "backends": [{"ip": "10.1.0.1", "mac": "00:00:00:00:01:01"}]
    })
}

#[tokio::test]
async fn a_service_scales_ahead_of_its_forecast_and_takes_reported_instances() {
    let mut f = fixture();
    let r = call(&f, Method::POST, "/api/v1/services", Some(web()), true).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["service"]["vip_mac"], "02:50:c0:00:02:0a");
    assert_eq!(r.body["service"]["backends"][0]["lease"], "static");
    let actions: Vec<String> = serde_json::from_value(r.body["actions"].clone()).expect("lines");
    assert!(
        actions.iter().any(|a| a.contains("balance 192.0.2.10")),
        "{actions:?}"
    );
    assert!(!f.core.take_actions().is_empty(), "the switches are asked");

    // 150 Mb/s towards the only 100 Mb/s instance: one more is needed before it arrives.
    // 21 ticks: the flow counter's baseline, then the 20 measured rates that warm h1 -> b1 up.
    drive(&mut f, 9, 21, 150e6);
    let r = call(&f, Method::GET, "/api/v1/services/web", None, false).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["shadows"], json!(["10.1.0.2"]), "{}", r.text);
    assert_eq!(r.body["needed_instances"], 2, "{}", r.text);
    assert!(r.body["demand"]["upper95_bps"].as_f64().unwrap_or(0.0) > 80e6);
    let t = call(&f, Method::GET, "/api/v1/translations", None, false).await;
    let rows = t.body.as_array().expect("array");
    assert_eq!(rows.len(), 2, "{}", t.text);
    let shadow = rows
        .iter()
        .find(|r| r["physical_ip"] == "10.1.0.2")
        .expect("the shadow's translation");
    assert_eq!(shadow["kind"], "shadow");
    assert_eq!(shadow["logical_ip"], "192.0.2.10");
    assert_eq!(shadow["devices"], 2);
    let h = call(&f, Method::GET, "/api/v1/hooks", None, false).await;
    let pending = h.body["pending"].as_array().expect("array");
    assert_eq!(pending.len(), 1, "{}", h.text);
    assert_eq!(pending[0]["action"], "scale_up");
    assert_eq!(pending[0]["addresses"], json!(["10.1.0.2"]));
    let key = pending[0]["key"].as_str().unwrap_or_default().to_string();
    let decision = pending[0]["decision"].as_u64().unwrap_or(0);
    assert_eq!(key, format!("web/{decision}"));
    let d = call(&f, Method::GET, "/api/v1/decisions", None, false).await;
    assert!(d.text.contains("service_predicted_scale_up"), "{}", d.text);

    // The orchestrator starts one instance without an address and one more with none either.
    let report = json!({"backends": [
        {"ip": "10.1.0.1", "mac": "00:00:00:00:01:01"},
        {"mac": "00:00:00:00:01:02", "weight": 2},
        {"mac": "00:00:00:00:01:03"}
    ]});
    let r = call(
        &f,
        Method::PUT,
        "/api/v1/services/web/backends",
        Some(report),
        true,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let b = &r.body["service"]["backends"];
    assert_eq!(b[1]["ip"], "10.1.0.2");
    assert_eq!(b[1]["lease"], "pre_assigned");
    assert_eq!(b[2]["ip"], "10.1.0.3");
    assert_eq!(b[2]["lease"], "dynamic");
    assert_eq!(r.body["service"]["shadows"], json!([]));

    let r = call(&f, Method::DELETE, "/api/v1/services/web", None, true).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["service"]["backends"].as_array().map(Vec::len),
        Some(3)
    );
    let r = call(&f, Method::GET, "/api/v1/services/web", None, false).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let t = call(&f, Method::GET, "/api/v1/translations", None, false).await;
    assert_eq!(t.body, json!([]));
}

fn assert_error(r: &Reply, status: StatusCode, code: &str, field: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["error"]["code"], code, "{}", r.text);
    if let Some(field) = field {
        assert_eq!(r.body["error"]["field"], field, "{}", r.text);
    }
}

#[tokio::test]
async fn bad_service_input_is_refused_with_the_field() {
    let f = fixture();
    let r = call(&f, Method::POST, "/api/v1/services", Some(web()), false).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
    let mut bad = web();
    bad["vip"] = json!("10.1.0.5");
    let r = call(&f, Method::POST, "/api/v1/services", Some(bad), true).await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("vip"),
    );
    let mut bad = web();
    bad["backends"][0]["mac"] = json!("nope");
    let r = call(&f, Method::POST, "/api/v1/services", Some(bad), true).await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("backends[0].mac"),
    );
    let mut bad = web();
    bad["colour"] = json!("red");
    let r = call(&f, Method::POST, "/api/v1/services", Some(bad), true).await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("colour"),
    );
    let mut bad = web();
    bad["pool"] = json!("10.1.0.0/33");
    let r = call(&f, Method::POST, "/api/v1/services", Some(bad), true).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);

    let r = call(&f, Method::POST, "/api/v1/services", Some(web()), true).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = call(&f, Method::POST, "/api/v1/services", Some(web()), true).await;
    assert_error(&r, StatusCode::CONFLICT, "name_in_use", Some("name"));
    let mut other = web();
    other["name"] = json!("api");
    other["tenant"] = json!("blue");
    other["vip"] = json!("192.0.2.11");
    other["pool"] = json!("10.1.0.0/28");
    other["backends"] = json!([]);
    let r = call(&f, Method::POST, "/api/v1/services", Some(other), true).await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("pool"),
    );
    assert!(
        r.text.contains("red") && r.text.contains("blue"),
        "{}",
        r.text
    );

    let outside = json!({"backends": [{"ip": "10.9.0.1", "mac": "00:00:00:00:01:09"}]});
    let r = call(
        &f,
        Method::PUT,
        "/api/v1/services/web/backends",
        Some(outside),
        true,
    )
    .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("backends[0].ip"),
    );
    // All or nothing: the refused report left the backends as they were.
    let r = call(&f, Method::GET, "/api/v1/services/web", None, false).await;
    assert_eq!(r.body["backends"].as_array().map(Vec::len), Some(1));
    let r = call(
        &f,
        Method::PUT,
        "/api/v1/services/nope/backends",
        Some(json!({"backends": []})),
        true,
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
    let r = call(&f, Method::DELETE, "/api/v1/services/nope", None, true).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
    let r = call(&f, Method::GET, "/api/v1/services", None, false).await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1));
}

/// The values of h1 -> b1's REST history, or the status when it has none.
async fn pair_history(f: &Fixture) -> Result<Vec<Value>, StatusCode> {
    let uri = format!("/api/v1/forecasts/pairs/{H1}/{B1}");
    let r = call(f, Method::GET, &uri, None, false).await;
    if r.status != StatusCode::OK {
        return Err(r.status);
    }
    let history = r.body["history"].as_array().cloned().unwrap_or_default();
    Ok(history.iter().map(|p| p["value"].clone()).collect())
}

#[tokio::test]
async fn a_new_pairs_rest_series_starts_at_its_measured_rate_and_a_stopped_flow_reads_0() {
    let mut f = fixture();
    // The flow's first sample is only its counter's baseline: no rate, so no series yet.
    drive(&mut f, 2, 1, 150e6);
    assert_eq!(pair_history(&f).await, Err(StatusCode::NOT_FOUND));
    drive(&mut f, 3, 3, 150e6);
    assert_eq!(
        pair_history(&f).await,
        Ok(vec![json!(150e6), json!(150e6), json!(150e6)]),
        "three measured rates, no 0 before them"
    );
    // The flow stops being counted (its entry went): once its rate is stale (5 s) it reads 0.
    for s in 6..=11 {
        let now = Timestamp::from_secs(s);
        f.core.apply(|c| {
            refresh(c, now);
            c.tick(now)
        });
        f.clock.store(now.nanos(), Ordering::SeqCst);
    }
    let history = pair_history(&f).await.expect("a series");
    assert_eq!(history.len(), 9, "{history:?}");
    assert_eq!(history.last(), Some(&json!(0.0)), "{history:?}");
}
