//! Pre-assignment over the REST API, in process: an instance announced before it boots gets
//! a shadow reserved for its service (then a dynamic address, then a 409 naming the pool), the
//! same answer for a retried Idempotency-Key (also at the service's limit, past which a new
//! one is 409 `max_instances`), its translation on the switches and its address record on the
//! event bus before the answer; up, down and release; and the listings of tenants, pools and a
//! tenant's address records.

use std::net::Ipv4Addr;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use prescient::core::{Action, ControllerEvent, CoreConfig, SharedCore};
use prescient::northbound::{ApiConfig, ApiState};
use prescient::services::AddressOp;
use prescient_tests::rest::{port, request, send, Reply};
use prescient_topology::{DeviceId, MacAddr, PortNo, PortRef, Timestamp};
use serde_json::{json, Value};

const TOKEN: &str = "inst-token";

fn fixture() -> (Arc<SharedCore>, ApiState) {
    let core = SharedCore::with_clock(
        CoreConfig::default(),
        Arc::new(|| Timestamp::from_secs(100)),
    );
    let t0 = Timestamp::from_secs(1);
    core.apply(|c| {
        c.device_up(t0, DeviceId::openflow(1), vec![port(1), port(10)]);
        c.host_seen(
            t0,
            MacAddr([0, 0, 0, 0, 0, 1]),
            Some(Ipv4Addr::new(10, 0, 0, 1)),
            PortRef::new(DeviceId::openflow(1), PortNo(10)),
        )
        .expect("h1");
    });
    let state = ApiState::new(
        Arc::clone(&core),
        ApiConfig {
            token: Some(TOKEN.to_string()),
            protect_reads: false,
        },
    );
    (core, state)
}

async fn call(
    state: &ApiState,
    method: Method,
    uri: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> Reply {
    let body = body.map(|b| b.to_string());
    let mut req = request(method, uri, body.as_deref(), Some(TOKEN));
    if let Some(k) = key {
        req.headers_mut()
            .insert("Idempotency-Key", k.parse().expect("a header value"));
    }
    send(state, req).await
}

async fn create(state: &ApiState, name: &str, vip: &str, pool: &str, tenant: &str) {
    let body = json!({"name": name, "tenant": tenant, "vip": vip, "pool": pool,
        "instance_capacity_bps": 1_000_000u64});
    let r = call(state, Method::POST, "/api/v1/services", Some(body), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn an_instance_gets_its_address_translation_and_record_before_the_answer() {
    let (core, state) = fixture();
    // /30: two usable addresses.
    create(&state, "web", "192.0.2.10", "10.1.0.0/30", "red").await;
    core.take_actions();
    let mut bus = core.subscribe();
    let url = "/api/v1/services/web/instances";

    let r = call(&state, Method::POST, url, Some(json!({})), None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["error"]["field"], "Idempotency-Key", "{}", r.text);

    let r = call(
        &state,
        Method::POST,
        url,
        Some(json!({"host": "h1"})),
        Some("boot-1"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let ip = r.body["instance"]["address"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(ip, "10.1.0.1");
    assert_eq!(
        r.body["instance"]["kind"], "dynamic",
        "no shadow was reserved"
    );
    assert_eq!(r.body["instance"]["state"], "down");
    assert_eq!(r.body["instance"]["host"], "h1");
    let actions = core.take_actions();
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::SetTranslation { physical_ip, .. }
            if physical_ip.to_string() == ip)),
        "translated before the answer: {actions:?}"
    );
    let event = bus.try_recv().ok().and_then(|e| {
        std::iter::once(e)
            .chain(std::iter::from_fn(|| bus.try_recv().ok()))
            .find_map(|e| match e {
                ControllerEvent::Address(c) => Some(c),
                _ => None,
            })
    });
    let change = event.expect("the address record was announced before the answer");
    assert_eq!(change.op, AddressOp::Put);
    assert_eq!(change.record.physical.to_string(), ip);
    assert_eq!(change.record.host.as_deref(), Some("h1"));

    // A retry: same address, nothing new.
    let r = call(
        &state,
        Method::POST,
        url,
        Some(json!({"host": "h1"})),
        Some("boot-1"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["instance"]["address"], ip.as_str());
    let r = call(&state, Method::POST, url, Some(json!({})), Some("boot-2")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["instance"]["address"], "10.1.0.2");
    let r = call(&state, Method::POST, url, Some(json!({})), Some("boot-3")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "pool_exhausted");
    assert!(r.text.contains("10.1.0.0/30"), "{}", r.text);

    // Up, with its MAC: a backend; the record carries the MAC.
    let one = format!("{url}/{ip}");
    let r = call(
        &state,
        Method::PUT,
        &one,
        Some(json!({"state": "up"})),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["error"]["field"], "mac");
    let up = json!({"state": "up", "mac": "00:00:00:00:01:01"});
    let r = call(&state, Method::PUT, &one, Some(up), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["instance"]["state"], "up");
    let s = call(&state, Method::GET, "/api/v1/services/web", None, None).await;
    assert_eq!(s.body["backends"][0]["ip"], ip.as_str(), "{}", s.text);
    let a = call(
        &state,
        Method::GET,
        "/api/v1/tenants/red/addresses",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let rows = a.body.as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2, "{}", a.text);
    assert_eq!(rows[0]["mac"], "00:00:00:00:01:01");
    assert_eq!(rows[0]["logical"], "192.0.2.10");
    let r = call(
        &state,
        Method::GET,
        "/api/v1/tenants/blue/addresses",
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert!(r.text.contains("blue"), "{}", r.text);

    // Release: out of the backends, a shadow again, the record gone.
    let r = call(&state, Method::DELETE, &one, None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let s = call(&state, Method::GET, "/api/v1/services/web", None, None).await;
    assert_eq!(s.body["backends"], json!([]), "{}", s.text);
    assert_eq!(s.body["shadows"], json!([ip.as_str()]), "{}", s.text);
    let r = call(&state, Method::DELETE, &one, None, None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "not_an_instance");
    // The next announcement takes the released address back, as a pre-assigned one.
    let r = call(&state, Method::POST, url, Some(json!({})), Some("boot-4")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["instance"]["address"], ip.as_str());
    assert_eq!(r.body["instance"]["kind"], "pre_assigned");
    let r = call(
        &state,
        Method::DELETE,
        &format!("{url}/10.9.9.9"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
}

#[tokio::test]
async fn tenants_and_pools_are_listed_with_leases_and_their_age() {
    let (_core, state) = fixture();
    create(&state, "web", "192.0.2.10", "10.1.0.0/29", "red").await;
    create(&state, "db", "192.0.2.20", "10.2.0.0/29", "blue").await;
    let url = "/api/v1/services/db/instances";
    let r = call(
        &state,
        Method::POST,
        url,
        Some(json!({"host": "h2"})),
        Some("x"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let t = call(&state, Method::GET, "/api/v1/tenants", None, None).await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    assert_eq!(
        t.body,
        json!([
            {"name": "blue", "pools": ["10.2.0.0/29"], "services": ["db"], "addresses": 1},
            {"name": "red", "pools": ["10.1.0.0/29"], "services": ["web"], "addresses": 0},
        ])
    );
    // A tenant names an etcd prefix: no `/` in it.
    let bad = json!({"name": "x", "tenant": "red/x", "vip": "192.0.2.30", "pool": "10.3.0.0/29",
        "instance_capacity_bps": 1_000_000u64});
    let r = call(&state, Method::POST, "/api/v1/services", Some(bad), None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["error"]["field"], "tenant", "{}", r.text);
    let p = call(&state, Method::GET, "/api/v1/pools", None, None).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    let blue = &p.body[1];
    assert_eq!(blue["tenant"], "blue", "{}", p.text);
    assert_eq!(blue["free"], 5);
    assert_eq!(blue["leases"][0]["ip"], "10.2.0.1");
    assert_eq!(blue["leases"][0]["kind"], "dynamic");
    assert_eq!(blue["leases"][0]["instance_key"], "x");
    assert_eq!(blue["leases"][0]["host"], "h2");
    assert_eq!(blue["leases"][0]["age_secs"], 0);
}

#[tokio::test]
async fn an_instance_past_max_instances_is_409_and_a_retry_still_gets_its_address() {
    let (_core, state) = fixture();
    let body = json!({"name": "web", "tenant": "red", "vip": "192.0.2.10", "pool": "10.1.0.0/28",
        "instance_capacity_bps": 1_000_000u64, "max_instances": 2});
    let r = call(&state, Method::POST, "/api/v1/services", Some(body), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let url = "/api/v1/services/web/instances";
    let mut ips = Vec::new();
    for k in ["boot-1", "boot-2"] {
        let r = call(&state, Method::POST, url, Some(json!({})), Some(k)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        ips.push(
            r.body["instance"]["address"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    // Up or down, both hold an address and count.
    let up = json!({"state": "up", "mac": "00:00:00:00:01:01"});
    let r = call(
        &state,
        Method::PUT,
        &format!("{url}/{}", ips[0]),
        Some(up),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = call(&state, Method::POST, url, Some(json!({})), Some("boot-3")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "max_instances", "{}", r.text);
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    for part in ["\"web\"", "has 2 instance(s)", "max_instances is 2"] {
        assert!(message.contains(part), "{part} missing: {message}");
    }
    // Nothing was handed out: still two instances.
    let list = call(&state, Method::GET, url, None, None).await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(2), "{}", list.text);
    // A retried key (a lost answer) is answered with its address, not refused.
    let r = call(&state, Method::POST, url, Some(json!({})), Some("boot-2")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["instance"]["address"], ips[1].as_str());
    // A released instance makes room.
    let r = call(
        &state,
        Method::DELETE,
        &format!("{url}/{}", ips[1]),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = call(&state, Method::POST, url, Some(json!({})), Some("boot-3")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}
