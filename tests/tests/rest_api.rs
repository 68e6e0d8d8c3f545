//! The northbound REST API end to end, in process: a core fed a small topology through its
//! entry points, the axum router driven with `tower::ServiceExt::oneshot` (and once over real
//! TCP on 127.0.0.1:0), every endpoint including bad input, auth, SSE and OpenAPI drift.
//!
//! Regenerate the checked-in OpenAPI document with
//! `PRESCIENT_UPDATE_OPENAPI=1 cargo test -p prescient-tests --test rest_api openapi`.

mod cdp;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use futures::StreamExt;
use prescient::core::{Action, CoreConfig, SharedCore};
use prescient::northbound::{router, ApiConfig, ApiState};
use prescient_topology::{
    DeviceId, FlowKey, MacAddr, Port, PortCounters, PortNo, PortRef, Protocol, Timestamp,
};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const TOKEN: &str = "s3cret-token";
const GBPS: u64 = 1_000_000_000;
const H1: &str = "00:00:00:00:00:01";
const H2: &str = "00:00:00:00:00:02";
/// s1 -> s2 over s1:1.
const HOT_LINK: &str = "of:0000000000000001:1,of:0000000000000002:1";

fn port(no: u32) -> Port {
    Port {
        no: PortNo(no),
        name: format!("p{no}"),
        mac: MacAddr([2, 0, 0, 0, 0, no as u8]),
        up: true,
        reported_speed_bps: Some(GBPS),
    }
}

fn at(d: u64, p: u32) -> PortRef {
    PortRef::new(DeviceId::openflow(d), PortNo(p))
}

/// LLDP over every cable (links not refreshed within the timeout expire).
fn refresh_links(c: &mut prescient::core::ControllerCore, now: Timestamp) {
    for (a, b) in [
        (at(1, 1), at(2, 1)),
        (at(1, 2), at(3, 1)),
        (at(2, 2), at(4, 1)),
        (at(3, 2), at(4, 2)),
    ] {
        c.lldp_received(now, b, a).expect("a->b");
        c.lldp_received(now, a, b).expect("b->a");
    }
}

struct Fixture {
    core: Arc<SharedCore>,
    clock: Arc<AtomicU64>,
    state: ApiState,
}

/// Four switches in a square (s1-s2-s4, s1-s3-s4), h1 on s1, h2 on s4, 1 Gb/s links, and
/// `ticks` seconds of ~300 Mb/s from h1 to h2 over s1->s2.
fn fixture(ticks: u64) -> Fixture {
    let clock = Arc::new(AtomicU64::new(Timestamp::from_secs(1).nanos()));
    let c2 = Arc::clone(&clock);
    let core = SharedCore::with_clock(
        CoreConfig::default(),
        Arc::new(move || Timestamp(c2.load(Ordering::SeqCst))),
    );
    let t0 = Timestamp::from_secs(1);
    core.apply(|c| {
        for d in 1..=4 {
            c.device_up(t0, DeviceId::openflow(d), vec![port(1), port(2), port(10)]);
        }
        refresh_links(c, t0);
        c.host_seen(
            t0,
            MacAddr([0, 0, 0, 0, 0, 1]),
            Some(Ipv4Addr::new(10, 0, 0, 1)),
            at(1, 10),
        )
        .expect("h1");
        c.host_seen(
            t0,
            MacAddr([0, 0, 0, 0, 0, 2]),
            Some(Ipv4Addr::new(10, 0, 0, 2)),
            at(4, 10),
        )
        .expect("h2");
    });
    let mut bytes = 0u64;
    for s in 2..2 + ticks {
        let now = Timestamp::from_secs(s);
        bytes += (3e8 / 8.0) as u64 + (s % 3) * 100_000;
        core.apply(|c| {
            refresh_links(c, now);
            let counters = PortCounters {
                tx_bytes: bytes,
                tx_packets: bytes / 1000,
                ..PortCounters::default()
            };
            c.port_counters(now, at(1, 1), counters);
            c.flow_counters(
                now,
                FlowKey {
                    device: DeviceId::openflow(1),
                    cookie: 7,
                },
                Some((MacAddr([0, 0, 0, 0, 0, 1]), MacAddr([0, 0, 0, 0, 0, 2]))),
                bytes,
                bytes / 1000,
            );
            c.tick(now);
        });
        clock.store(now.nanos(), Ordering::SeqCst);
    }
    core.metrics().count_messages("packet_in", 3);
    let state = ApiState::new(
        Arc::clone(&core),
        ApiConfig {
            token: Some(TOKEN.to_string()),
            protect_reads: false,
        },
    );
    Fixture { core, clock, state }
}

struct Reply {
    status: StatusCode,
    body: Value,
    text: String,
}

async fn call(
    f: &Fixture,
    method: Method,
    uri: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req
        .body(
            body.map(|b| Body::from(b.to_string()))
                .unwrap_or_else(Body::empty),
        )
        .expect("request");
    let resp = router(f.state.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&bytes).to_string();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply { status, body, text }
}

async fn get(f: &Fixture, uri: &str) -> Reply {
    call(f, Method::GET, uri, None, None).await
}

async fn post(f: &Fixture, uri: &str, body: &str) -> Reply {
    call(f, Method::POST, uri, Some(body), Some(TOKEN)).await
}

fn assert_error(r: &Reply, status: StatusCode, code: &str, field: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["error"]["code"], code, "{}", r.text);
    assert!(r.body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    match field {
        Some(f) => assert_eq!(r.body["error"]["field"], f, "{}", r.text),
        None => assert!(r.body["error"]["field"].is_null(), "{}", r.text),
    }
}

#[tokio::test]
async fn devices_links_and_hosts_show_live_state() {
    let f = fixture(30);
    let d = get(&f, "/api/v1/devices").await;
    assert_eq!(d.status, StatusCode::OK);
    let devices = d.body.as_array().expect("array");
    assert_eq!(devices.len(), 4);
    let s1 = &devices[0];
    assert_eq!(s1["id"], "of:0000000000000001");
    let p1 = &s1["ports"][0];
    assert_eq!(p1["capacity_bps"], GBPS);
    let tx = p1["tx_bps"].as_f64().expect("live rate");
    assert!((2.9e8..3.2e8).contains(&tx), "tx {tx}");

    let l = get(&f, "/api/v1/links").await;
    let links = l.body.as_array().expect("array");
    assert_eq!(links.len(), 8);
    let hot = links.iter().find(|l| l["id"] == HOT_LINK).expect("s1->s2");
    let u = hot["utilisation"].as_f64().expect("utilisation");
    assert!((0.29..0.32).contains(&u), "{u}");
    assert_eq!(hot["forecast"]["model"], "auto");
    assert!(hot["forecast"]["peak_bps"]
        .as_f64()
        .is_some_and(|p| p > 2e8));

    let h = get(&f, "/api/v1/hosts").await;
    assert_eq!(h.body.as_array().map(Vec::len), Some(2));
    assert_eq!(h.body[0]["ips"][0], "10.0.0.1");
    assert_eq!(h.body[0]["at"], "of:0000000000000001:10");
}

#[tokio::test]
async fn paths_are_bandwidth_constrained_and_bad_queries_name_the_parameter() {
    let f = fixture(3);
    let r = get(&f, &format!("/api/v1/paths?src={H1}&dst={H2}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["links"].as_array().map(Vec::len), Some(2));
    assert_eq!(r.body["fit"], "satisfies");
    // The hosts' IPv4 addresses name them as well as their MACs do.
    let by_ip = get(&f, "/api/v1/paths?src=10.0.0.1&dst=10.0.0.2").await;
    assert_eq!(by_ip.body["links"], r.body["links"], "{}", by_ip.text);
    assert_error(
        &get(&f, "/api/v1/paths?src=10.9.9.9&dst=10.0.0.2").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("src"),
    );
    let r = get(
        &f,
        &format!("/api/v1/paths?src={H1}&dst=of:4&bandwidth=2000000000"),
    )
    .await;
    assert_eq!(r.body["fit"], "widest_only", "{}", r.text);
    assert_eq!(r.body["bottleneck_bps"], GBPS);
    assert_error(
        &get(&f, "/api/v1/paths?src=nowhere&dst=of:4").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("src"),
    );
    assert_error(
        &get(&f, "/api/v1/paths?src=of:1&dst=of:9").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("dst"),
    );
    assert_error(
        &get(&f, "/api/v1/paths?src=of:1&dst=of:4&bandwidth=lots").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("bandwidth"),
    );
    assert_error(
        &get(&f, "/api/v1/paths?src=of:1&dst=of:4&bandwidth=0").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("bandwidth"),
    );
    assert_error(
        &get(&f, "/api/v1/paths?src=of:1&dst=of:4&colour=red").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("colour"),
    );
    assert_error(
        &get(&f, "/api/v1/paths?src=of:1").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("dst"),
    );
    // Switch 1 disconnects: no path any more.
    f.core
        .apply(|c| c.device_down(Timestamp::from_secs(9), DeviceId::openflow(2)));
    f.core
        .apply(|c| c.device_down(Timestamp::from_secs(9), DeviceId::openflow(3)));
    assert_error(
        &get(&f, "/api/v1/paths?src=of:1&dst=of:4").await,
        StatusCode::CONFLICT,
        "no_path",
        None,
    );
}

#[tokio::test]
async fn forecasts_have_history_intervals_model_and_error() {
    let f = fixture(60);
    let r = get(&f, &format!("/api/v1/forecasts/links/{HOT_LINK}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["model"], "auto");
    assert_eq!(r.body["forecast"].as_array().map(Vec::len), Some(12));
    assert!(r.body["history"].as_array().is_some_and(|h| h.len() >= 55));
    let step1 = &r.body["forecast"][0];
    let (lo, v, hi) = (
        step1["lo95"].as_f64(),
        step1["value"].as_f64(),
        step1["hi95"].as_f64(),
    );
    let (lo, v, hi) = (
        lo.expect("calibrated"),
        v.expect("point"),
        hi.expect("calibrated"),
    );
    assert!(
        lo <= v && v <= hi && (2.5e8..3.5e8).contains(&v),
        "{lo} {v} {hi}"
    );
    assert!(step1["lo80"].as_f64().is_some_and(|l80| l80 >= lo));
    assert!(r.body["error"]["scored"].as_u64().is_some_and(|n| n > 50));
    assert!(r.body["error"]["mae_bps"].as_f64().is_some_and(|e| e < 2e7));
    assert!(!r.body["past_forecasts"]
        .as_array()
        .expect("past")
        .is_empty());

    let p = get(&f, &format!("/api/v1/forecasts/pairs/{H1}/{H2}")).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert_eq!(p.body["series"], format!("pair/{H1}/{H2}"));

    assert_error(
        &get(
            &f,
            "/api/v1/forecasts/links/of:0000000000000003:1,of:0000000000000001:2",
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    assert_error(
        &get(&f, "/api/v1/forecasts/links/not-a-link").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("id"),
    );
    assert_error(
        &get(&f, &format!("/api/v1/forecasts/pairs/{H1}/zz")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("dst"),
    );
    assert_error(
        &get(&f, "/api/v1/nothing/here").await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );

    let a = get(&f, "/api/v1/anomalies").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.is_array());
}

#[tokio::test]
async fn reservations_are_admitted_refused_with_the_bottleneck_listed_and_released() {
    let f = fixture(3);
    let body =
        json!({"src": H1, "dst": H2, "rate_bps": 600_000_000u64, "tier": 2, "duration_secs": 600})
            .to_string();
    // Auth first.
    let r = call(&f, Method::POST, "/api/v1/reservations", Some(&body), None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
    let r = call(
        &f,
        Method::POST,
        "/api/v1/reservations",
        Some(&body),
        Some("guess"),
    )
    .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);

    let first = post(&f, "/api/v1/reservations", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    // The meters reach the southbound driver through the outlet.
    let sent = f.core.take_actions();
    assert!(
        matches!(&sent[..], [Action::InstallMeter { rate_bps: 600_000_000, ports, .. }] if ports.len() == 2),
        "{sent:?}"
    );
    assert_eq!(first.body["reservation"]["subject"]["kind"], "host_pair");
    assert!(first.body["actions"][0]
        .as_str()
        .is_some_and(|a| a.contains("install meter")));
    let second = post(&f, "/api/v1/reservations", &body).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    assert_ne!(
        first.body["reservation"]["path"],
        second.body["reservation"]["path"]
    );

    let third = post(&f, "/api/v1/reservations", &body).await;
    assert_error(
        &third,
        StatusCode::CONFLICT,
        "insufficient_bandwidth",
        Some("rate_bps"),
    );
    assert_eq!(third.body["error"]["missing_bps"], 200_000_000u64);
    let link = third.body["error"]["bottleneck_link"]
        .as_str()
        .expect("bottleneck named");
    assert!(third.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains(link)));

    let list = get(&f, "/api/v1/reservations").await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(2));
    let id = first.body["reservation"]["id"].as_u64().expect("id");
    let one = get(&f, &format!("/api/v1/reservations/{id}")).await;
    assert_eq!(one.body["rate_bps"], 600_000_000u64);
    assert_error(
        &get(&f, "/api/v1/reservations/999").await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    assert_error(
        &get(&f, "/api/v1/reservations/abc").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("id"),
    );

    let r = call(
        &f,
        Method::DELETE,
        &format!("/api/v1/reservations/{id}"),
        None,
        None,
    )
    .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
    let r = call(
        &f,
        Method::DELETE,
        &format!("/api/v1/reservations/{id}"),
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let sent = f.core.take_actions();
    assert!(
        sent.iter()
            .any(|a| matches!(a, Action::RemoveMeter { reservation, .. } if reservation.0 == id)),
        "{sent:?}"
    );
    assert_error(
        &get(&f, &format!("/api/v1/reservations/{id}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    let r = call(
        &f,
        Method::DELETE,
        &format!("/api/v1/reservations/{id}"),
        None,
        Some(TOKEN),
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
    // Room again for the third.
    assert_eq!(
        post(&f, "/api/v1/reservations", &body).await.status,
        StatusCode::CREATED
    );

    let d = get(&f, "/api/v1/decisions").await;
    let rules: Vec<&str> = d
        .body
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|d| d["rule"].as_str())
        .collect();
    assert_eq!(
        rules
            .iter()
            .filter(|r| **r == "reservation_admitted")
            .count(),
        3
    );
    assert!(rules.contains(&"reservation_released"));
}

#[tokio::test]
async fn bad_reservation_bodies_get_400_415_or_422_naming_the_field() {
    let f = fixture(2);
    let cases: &[(&str, StatusCode, &str, Option<&str>)] = &[
        ("{\"src\": ", StatusCode::BAD_REQUEST, "malformed_json", None),
        (&format!("{{\"src\":\"{H1}\",\"dst\":\"{H2}\",\"rate_bps\":\"fast\"}}"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("rate_bps")),
        (&format!("{{\"src\":\"{H1}\",\"dst\":\"{H2}\",\"rate_bps\":5,\"colour\":\"red\"}}"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("colour")),
        (&format!("{{\"src\":\"{H1}\",\"rate_bps\":5}}"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("dst")),
        (&format!("{{\"src\":\"{H1}\",\"dst\":\"{H2}\",\"rate_bps\":0}}"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("rate_bps")),
        (&format!("{{\"src\":\"{H1}\",\"dst\":\"{H2}\",\"rate_bps\":-4}}"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("rate_bps")),
        (&format!("{{\"src\":\"{H1}\",\"dst\":\"{H2}\",\"rate_bps\":5,\"tier\":9}}"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("tier")),
        (&format!("{{\"src\":\"{H1}\",\"dst\":\"{H2}\",\"rate_bps\":5,\"duration_secs\":0}}"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("duration_secs")),
        (&format!("{{\"src\":\"{H1}\",\"dst\":\"{H2}\",\"rate_bps\":5,\"path\":[\"x\"]}}"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("path[0]")),
        (&format!("{{\"src\":\"{H1}\",\"dst\":\"{H2}\",\"rate_bps\":5,\"path\":[\"of:0000000000000001:2,of:0000000000000003:1\"]}}"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("path")),
        (&format!("{{\"src\":\"{H1}\",\"dst\":\"{H2}\",\"rate_bps\":5,\"match\":{{\"ip_proto\":300}}}}"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("match.ip_proto")),
        ("{\"src\":\"00:00:00:00:00:09\",\"dst\":\"of:1\",\"rate_bps\":5}", StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("src")),
        ("\"hello\"", StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", None),
    ];
    for (body, status, code, field) in cases {
        let r = post(&f, "/api/v1/reservations", body).await;
        assert_error(&r, *status, code, *field);
    }
    // No content type.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/reservations")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::from("{}"))
        .expect("request");
    let resp = router(f.state.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        f.core.read(|c| c.ledger().reservations().count()),
        0,
        "nothing admitted"
    );
}

#[tokio::test]
async fn what_if_plans_on_a_copy_and_reports_each_demand() {
    let f = fixture(20);
    let d = json!({"src": H1, "dst": H2, "rate_bps": 700_000_000u64, "duration_secs": 60});
    let body = json!({"demands": [d, d, d]}).to_string();
    let r = post(&f, "/api/v1/whatif", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let o = r.body["outcomes"].as_array().expect("outcomes");
    assert_eq!(o.len(), 3);
    assert_eq!(o[0]["admitted"], true);
    assert_eq!(o[1]["admitted"], true);
    assert_eq!(o[2]["admitted"], false);
    assert_eq!(o[2]["error"]["code"], "insufficient_bandwidth");
    assert_eq!(o[2]["error"]["missing_bps"], 400_000_000u64);
    let links = r.body["links"].as_array().expect("links");
    assert_eq!(links.len(), 4);
    // 700 Mb/s reserved plus the ~300 Mb/s forecast on s1->s2 crosses 80 %.
    let hot = links
        .iter()
        .find(|l| l["link"] == HOT_LINK)
        .expect("s1->s2 used");
    assert_eq!(hot["would_be_hot"], true, "{hot}");
    // The controller's own forecast reservation of the loaded pair may be there; no API one.
    assert_eq!(
        f.core.read(|c| c
            .ledger()
            .reservations()
            .filter(|r| c.reservation_origin(r.id) == prescient::core::Origin::Api)
            .count()),
        0,
        "what-if reserved nothing"
    );
    assert_error(
        &post(&f, "/api/v1/whatif", "{\"demands\": []}").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("demands"),
    );
    let bad = json!({"demands": [d, {"src": H1, "dst": H2, "rate_bps": 1, "tier": 8}]}).to_string();
    assert_error(
        &post(&f, "/api/v1/whatif", &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("demands[1].tier"),
    );
    let r = call(&f, Method::POST, "/api/v1/whatif", Some(&body), None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
}

#[tokio::test]
async fn reads_can_be_protected_and_no_token_means_no_mutations() {
    let mut f = fixture(2);
    f.state = ApiState::new(
        Arc::clone(&f.core),
        ApiConfig {
            token: None,
            protect_reads: false,
        },
    );
    let body = json!({"src": H1, "dst": H2, "rate_bps": 5}).to_string();
    assert_error(
        &post(&f, "/api/v1/reservations", &body).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    );
    f.state = ApiState::new(
        Arc::clone(&f.core),
        ApiConfig {
            token: Some(TOKEN.into()),
            protect_reads: true,
        },
    );
    assert_error(
        &get(&f, "/api/v1/devices").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    );
    let r = call(&f, Method::GET, "/api/v1/devices", None, Some(TOKEN)).await;
    assert_eq!(r.status, StatusCode::OK);

    // The event stream takes the token in the query too (EventSource sends no headers)...
    let events = |uri: &str| {
        let req = Request::builder()
            .uri(uri)
            .body(Body::empty())
            .expect("request");
        router(f.state.clone()).oneshot(req)
    };
    let open = events(&format!("/api/v1/events?access_token={TOKEN}"))
        .await
        .expect("infallible");
    assert_eq!(open.status(), StatusCode::OK);
    assert!(open.headers()[header::CONTENT_TYPE]
        .to_str()
        .is_ok_and(|c| c.starts_with("text/event-stream")));
    drop(open);
    let escaped = TOKEN.replace('-', "%2D");
    let open = events(&format!("/api/v1/events?x=1&access_token={escaped}"))
        .await
        .expect("infallible");
    assert_eq!(open.status(), StatusCode::OK, "percent-decoded");
    drop(open);
    for uri in [
        "/api/v1/events",
        "/api/v1/events?access_token=guess",
        "/api/v1/events?access_token=",
    ] {
        let r = events(uri).await.expect("infallible");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
    let r = get(&f, "/api/v1/events").await;
    assert!(
        r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("access_token")),
        "{}",
        r.text
    );
    // ...and nowhere else: not for other reads, not for mutations.
    assert_error(
        &get(&f, &format!("/api/v1/devices?access_token={TOKEN}")).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    );
    let body = json!({"src": H1, "dst": H2, "rate_bps": 5}).to_string();
    assert_error(
        &call(
            &f,
            Method::POST,
            &format!("/api/v1/reservations?access_token={TOKEN}"),
            Some(&body),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    );
    // /metrics wants the token too; the dashboard's own files stay readable: the page must
    // load to ask for it.
    assert_error(
        &get(&f, "/metrics").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    );
    let m = call(&f, Method::GET, "/metrics", None, Some(TOKEN)).await;
    assert!(
        m.status == StatusCode::OK && m.text.contains("prescient_links 8"),
        "{}",
        m.text
    );
    assert_eq!(get(&f, "/").await.status, StatusCode::OK);
    assert_eq!(get(&f, "/assets/app.js").await.status, StatusCode::OK);
}

#[tokio::test]
async fn events_stream_delivers_topology_changes_and_decisions() {
    let f = fixture(2);
    let req = Request::builder()
        .uri("/api/v1/events")
        .body(Body::empty())
        .expect("request");
    let resp = router(f.state.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()[header::CONTENT_TYPE]
        .to_str()
        .is_ok_and(|c| c.starts_with("text/event-stream")));
    let mut body = resp.into_body().into_data_stream();
    let mut seen = String::new();
    let mut next = async || {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next()).await;
        String::from_utf8_lossy(&chunk.expect("event in time").expect("open").expect("chunk"))
            .to_string()
    };
    seen.push_str(&next().await);
    assert!(seen.contains("event: hello"), "{seen}");
    f.core
        .apply(|c| c.device_down(Timestamp::from_secs(3), DeviceId::openflow(3)));
    let now = Timestamp::from_secs(4);
    f.clock.store(now.nanos(), Ordering::SeqCst);
    let body_json = json!({"src": H1, "dst": H2, "rate_bps": 1000}).to_string();
    assert_eq!(
        post(&f, "/api/v1/reservations", &body_json).await.status,
        StatusCode::CREATED
    );
    while !(seen.contains("event: topology") && seen.contains("event: decision")) {
        seen.push_str(&next().await);
    }
    assert!(seen.contains("device of:0000000000000003 down"), "{seen}");
    assert!(seen.contains("reservation_admitted"), "{seen}");
}

#[tokio::test]
async fn metrics_and_dashboard_are_served() {
    let f = fixture(5);
    let writes = f.core.metrics().write_latency(Protocol::OpenFlow);
    writes.record(Duration::from_micros(800));
    writes.record(Duration::from_millis(40));
    let m = get(&f, "/metrics").await;
    assert_eq!(m.status, StatusCode::OK);
    assert!(
        m.text
            .contains("prescient_devices_connected{protocol=\"openflow\"} 4"),
        "{}",
        m.text
    );
    assert!(m
        .text
        .contains("prescient_devices_connected{protocol=\"p4runtime\"} 0"));
    // Write latency: a histogram per protocol, cumulative buckets, sum and count.
    assert!(m
        .text
        .contains("# TYPE prescient_southbound_write_seconds histogram"));
    for line in [
        "prescient_southbound_write_seconds_bucket{protocol=\"openflow\",le=\"0.0005\"} 0",
        "prescient_southbound_write_seconds_bucket{protocol=\"openflow\",le=\"0.001\"} 1",
        "prescient_southbound_write_seconds_bucket{protocol=\"openflow\",le=\"0.05\"} 2",
        "prescient_southbound_write_seconds_bucket{protocol=\"openflow\",le=\"+Inf\"} 2",
        "prescient_southbound_write_seconds_count{protocol=\"openflow\"} 2",
        "prescient_southbound_write_seconds_sum{protocol=\"openflow\"} 0.0408",
        "prescient_southbound_write_seconds_count{protocol=\"p4runtime\"} 0",
    ] {
        assert!(m.text.contains(line), "{line} missing:\n{}", m.text);
    }
    // Messages per second over the last ten seconds sit beside the totals.
    assert!(m
        .text
        .contains("# TYPE prescient_southbound_messages_per_second gauge"));
    assert!(m
        .text
        .contains("prescient_southbound_messages_per_second{type=\"packet_in\"} 0"));
    assert!(m.text.contains("prescient_reservations 0"));
    assert!(m.text.contains("prescient_links 8"));
    assert!(m
        .text
        .contains("prescient_southbound_messages_total{type=\"packet_in\"} 3"));
    assert!(m
        .text
        .contains("prescient_forecast_mae_bps{model=\"auto\"}"));
    let page = get(&f, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("<svg id=\"graph\"") && page.text.contains("/assets/app.js"));
    assert!(
        !page.text.contains("http://") && !page.text.contains("https://"),
        "no CDN"
    );
    let js = get(&f, "/assets/app.js").await;
    assert!(js.status == StatusCode::OK && js.text.contains("EventSource"));
    assert_eq!(get(&f, "/assets/style.css").await.status, StatusCode::OK);
}

#[tokio::test]
async fn openapi_is_served_and_matches_the_checked_in_copy() {
    let f = fixture(1);
    let served = get(&f, "/api/v1/openapi.json").await;
    assert_eq!(served.status, StatusCode::OK);
    let generated = prescient::northbound::openapi::pretty();
    let parsed: Value = serde_json::from_str(&generated).expect("json");
    assert_eq!(served.body, parsed);
    for p in [
        "/api/v1/devices",
        "/api/v1/links",
        "/api/v1/reservations/{id}",
        "/api/v1/whatif",
        "/api/v1/events",
        "/api/v1/forecasts/pairs/{src}/{dst}",
    ] {
        assert!(
            parsed["paths"][p].is_object(),
            "{p} missing from the document"
        );
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../controller/openapi.json");
    if std::env::var_os("PRESCIENT_UPDATE_OPENAPI").is_some() {
        std::fs::write(path, &generated).expect("write openapi.json");
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "controller/openapi.json differs from the API the code serves; regenerate it with \
         PRESCIENT_UPDATE_OPENAPI=1 cargo test -p prescient-tests --test rest_api openapi"
    );
}

#[tokio::test]
async fn serves_over_tcp_and_shuts_down() {
    let f = fixture(1);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(prescient::northbound::serve_on(
        listener,
        f.state.clone(),
        stop.clone(),
    ));
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    conn.write_all(b"GET /api/v1/hosts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await.expect("read");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("00:00:00:00:00:02"));
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("shuts down")
        .expect("join")
        .expect("serve");
}

/// Where tests leave files for people to look at: `$PRESCIENT_ARTEFACT_DIR`, else
/// `target/test-artefacts/` of the workspace.
fn artefact_dir() -> PathBuf {
    std::env::var_os("PRESCIENT_ARTEFACT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artefacts"))
}

/// Serves `state` on 127.0.0.1:0 until the returned token is cancelled.
async fn serve(state: ApiState) -> (std::net::SocketAddr, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    tokio::spawn(prescient::northbound::serve_on(
        listener,
        state,
        stop.clone(),
    ));
    (addr, stop)
}

/// Centre of the element `selector` in page coordinates.
async fn centre(page: &mut cdp::Page, selector: &str) -> (f64, f64) {
    let v = page
        .eval(&format!(
            "(() => {{ const r = document.querySelector({selector:?}).getBoundingClientRect(); \
             return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ))
        .await
        .expect("element on the page");
    (v[0].as_f64().expect("x"), v[1].as_f64().expect("y"))
}

/// The dashboard in a real browser, driven like a user: headless Chromium loads `/`, the
/// topology drawn must match the API's counts, a click on a link must bring up its forecast
/// chart with data, a reservation made meanwhile must appear through the event stream alone,
/// and a screenshot is saved as a test artefact. Skipped, saying so, without Chromium.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium_draws_the_api_follows_clicks_and_events() {
    if !Path::new(cdp::CHROMIUM).exists() {
        eprintln!("SKIPPED: {} is not installed", cdp::CHROMIUM);
        return;
    }
    // Enough ticks for calibrated 95 % intervals (39 residuals), so the band is drawn.
    let f = fixture(60);
    let body = json!({"src": H1, "dst": H2, "rate_bps": 100_000_000u64}).to_string();
    assert_eq!(
        post(&f, "/api/v1/reservations", &body).await.status,
        StatusCode::CREATED
    );
    let links = get(&f, "/api/v1/links").await.body;
    let links = links.as_array().expect("links").len();
    let devices = get(&f, "/api/v1/devices").await.body;
    let devices = devices
        .as_array()
        .expect("devices")
        .iter()
        .filter(|d| d["up"] == true)
        .count();
    let hosts = get(&f, "/api/v1/hosts").await.body;
    let hosts = hosts.as_array().expect("hosts").len();
    assert_eq!((devices, links, hosts), (4, 8, 2));
    // The API one and the controller's forecast reservation of the loaded pair.
    let reservations = get(&f, "/api/v1/reservations").await.body;
    let reservations = reservations.as_array().expect("reservations").len();
    let (addr, stop) = serve(f.state.clone()).await;

    let mut browser = cdp::Browser::launch(1280, 1600).await.expect("chromium");
    let page = browser.page();
    page.call("Page.navigate", json!({"url": format!("http://{addr}/")}))
        .await
        .expect("navigate");
    let wait = Duration::from_secs(20);
    page.wait_for(
        &format!("document.querySelectorAll('line.link').length === {links}"),
        wait,
    )
    .await
    .expect("topology drawn");
    let drawn = page
        .eval(
            "({links: document.querySelectorAll('#graph line.link[data-link]').length, \
              switches: document.querySelectorAll('#graph circle.node').length, \
              hosts: document.querySelectorAll('#graph circle.host').length, \
              halos: document.querySelectorAll('#graph line.halo').length, \
              summary: document.getElementById('summary').textContent})",
        )
        .await
        .expect("eval");
    assert_eq!(drawn["links"], links, "{drawn}");
    assert_eq!(drawn["switches"], devices, "{drawn}");
    assert_eq!(drawn["hosts"], hosts, "{drawn}");
    // Forecast halos on the links that have a forecast (at least the loaded one).
    assert!(drawn["halos"].as_u64().is_some_and(|h| h >= 1), "{drawn}");
    assert_eq!(
        drawn["summary"],
        format!("4 devices · 8 links · 2 hosts · {reservations} reservations"),
        "{drawn}"
    );
    page.wait_for(
        "document.getElementById('status').textContent === 'live'",
        wait,
    )
    .await
    .expect("event stream connected");
    // Nothing selected yet: the chart is empty until the user clicks a link.
    assert_eq!(
        page.eval("document.querySelectorAll('#chart path').length")
            .await
            .expect("eval"),
        0
    );
    let (x, y) = centre(page, &format!("[data-link=\"{HOT_LINK}\"]")).await;
    page.click(x, y).await.expect("click");
    page.wait_for(
        &format!(
            "document.getElementById('chart-title').textContent === {HOT_LINK:?} && \
             document.querySelector('#chart path.actual') !== null"
        ),
        wait,
    )
    .await
    .expect("the clicked link's chart");
    let chart = page
        .eval(
            "({actual: document.querySelector('#chart path.actual').getAttribute('d').split(/[ML]/).length - 1, \
              forecast: document.querySelectorAll('#chart path.fcline').length, \
              band: document.querySelectorAll('#chart polygon.band').length, \
              model: document.getElementById('chart-model').textContent, \
              selected: document.querySelectorAll('line.link.selected').length})",
        )
        .await
        .expect("eval");
    assert!(
        chart["actual"].as_u64().is_some_and(|n| n >= 55),
        "actuals plotted: {chart}"
    );
    assert!(
        chart["forecast"].as_u64().is_some_and(|n| n >= 1),
        "{chart}"
    );
    assert!(chart["band"].as_u64().is_some_and(|n| n >= 1), "{chart}");
    assert!(
        chart["model"]
            .as_str()
            .is_some_and(|m| m.starts_with("model auto")),
        "{chart}"
    );
    assert_eq!(chart["selected"], 1, "{chart}");
    // A reservation made elsewhere reaches the page through the event stream alone.
    let body = json!({"src": H2, "dst": H1, "rate_bps": 50_000_000u64}).to_string();
    assert_eq!(
        post(&f, "/api/v1/reservations", &body).await.status,
        StatusCode::CREATED
    );
    page.wait_for(
        "document.querySelectorAll('#reservations tbody tr').length === 2 && \
         document.getElementById('decisions').textContent.includes('reservation_admitted')",
        wait,
    )
    .await
    .expect("live update from the event stream");
    // The southbound panel reads /metrics: rates by type, devices and writes by protocol.
    page.wait_for(
        "document.getElementById('messages').textContent.includes('packet_in') && \
         document.getElementById('writes').textContent.includes('openflow')",
        wait,
    )
    .await
    .expect("southbound panel");

    let shot = artefact_dir().join("dashboard.png");
    let size = page.screenshot(&shot).await.expect("screenshot");
    println!("dashboard screenshot: {}", shot.display());
    let png = std::fs::read(&shot).expect("saved");
    assert_eq!(png.len(), size);
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert!((1200..=1280).contains(&width), "IHDR width {width}");
    assert!(height >= 800, "the whole page, {height} px high");
    // A blank page compresses to a few kB; drawn graphs, charts and tables do not.
    assert!(
        size > 40_000,
        "{size} bytes is too small for the drawn dashboard"
    );
    browser.close().await;
    stop.cancel();
}

/// With `protect_reads`, the page asks for the token on the first 401, refuses a wrong one,
/// keeps the right one in sessionStorage and opens the event stream with `access_token`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_asks_for_the_token_when_reads_are_protected() {
    if !Path::new(cdp::CHROMIUM).exists() {
        eprintln!("SKIPPED: {} is not installed", cdp::CHROMIUM);
        return;
    }
    let f = fixture(5);
    let state = ApiState::new(
        Arc::clone(&f.core),
        ApiConfig {
            token: Some(TOKEN.into()),
            protect_reads: true,
        },
    );
    let (addr, stop) = serve(state).await;
    let mut browser = cdp::Browser::launch(1280, 900).await.expect("chromium");
    let page = browser.page();
    page.call("Page.navigate", json!({"url": format!("http://{addr}/")}))
        .await
        .expect("navigate");
    let wait = Duration::from_secs(20);
    page.wait_for("!document.getElementById('login').hidden", wait)
        .await
        .expect("asked for a token");
    assert_eq!(
        page.eval("document.querySelectorAll('line.link').length")
            .await
            .expect("eval"),
        0,
        "nothing drawn without the token"
    );
    for (typed, then) in [
        (
            "guess",
            "!document.getElementById('login').hidden && \
             document.getElementById('login-why').textContent.includes('refused')",
        ),
        (
            TOKEN,
            "document.querySelectorAll('line.link').length === 8 && \
             document.getElementById('login').hidden && \
             document.getElementById('status').textContent === 'live'",
        ),
    ] {
        let (x, y) = centre(page, "#token").await;
        page.click(x, y).await.expect("focus");
        page.call("Input.insertText", json!({"text": typed}))
            .await
            .expect("type");
        let (x, y) = centre(page, "#login button").await;
        page.click(x, y).await.expect("submit");
        page.wait_for(then, wait).await.expect(typed);
    }
    assert_eq!(
        page.eval("sessionStorage.getItem('prescient-token')")
            .await
            .expect("eval"),
        TOKEN
    );
    browser.close().await;
    stop.cancel();
}

/// Sends `body` with an explicit content type (or none) and the token.
async fn post_as(f: &Fixture, uri: &str, content_type: Option<&str>, body: &str) -> Reply {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    let req = req.body(Body::from(body.to_string())).expect("request");
    let resp = router(f.state.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .expect("body");
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text: String::from_utf8_lossy(&bytes).to_string(),
    }
}

#[tokio::test]
async fn bad_input_on_every_endpoint_is_a_4xx_naming_the_field() {
    let f = fixture(3);
    let invalid = StatusCode::UNPROCESSABLE_ENTITY;
    // Query strings and path segments.
    for (uri, status, code, field) in [
        ("/api/v1/paths", invalid, "invalid_value", Some("src")),
        (
            "/api/v1/paths?src=of:1&dst=of:4&bandwidth=-5",
            invalid,
            "invalid_value",
            Some("bandwidth"),
        ),
        (
            "/api/v1/paths?src=of:1&dst=of:4&bandwidth=99999999999999999999999",
            invalid,
            "invalid_value",
            Some("bandwidth"),
        ),
        (
            "/api/v1/paths?src=of:1&dst=of:4&bandwidth=1.5",
            invalid,
            "invalid_value",
            Some("bandwidth"),
        ),
        (
            "/api/v1/paths?src=of:zz&dst=of:4",
            invalid,
            "invalid_value",
            Some("src"),
        ),
        (
            "/api/v1/forecasts/links/of:0000000000000001:1,of:0000000000000002:99999999999",
            invalid,
            "invalid_value",
            Some("id"),
        ),
        (
            "/api/v1/forecasts/links/of:0000000000000001:1",
            invalid,
            "invalid_value",
            Some("id"),
        ),
        (
            "/api/v1/forecasts/pairs/zz/00:00:00:00:00:02",
            invalid,
            "invalid_value",
            Some("src"),
        ),
        (
            "/api/v1/forecasts/pairs/00:00:00:00:00:02/00:00:00:00:00:01",
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
        (
            "/api/v1/reservations/-1",
            invalid,
            "invalid_value",
            Some("id"),
        ),
        (
            "/api/v1/reservations/18446744073709551616",
            invalid,
            "invalid_value",
            Some("id"),
        ),
        (
            "/api/v1/reservations/4242",
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
    ] {
        let r = get(&f, uri).await;
        assert_error(&r, status, code, field);
    }
    let r = call(
        &f,
        Method::DELETE,
        "/api/v1/reservations/abc",
        None,
        Some(TOKEN),
    )
    .await;
    assert_error(&r, invalid, "invalid_value", Some("id"));

    // Reservation bodies: wrong types, out-of-range values, windows that cannot be.
    let with = |extra: &str| format!("{{\"src\":\"{H1}\",\"dst\":\"{H2}\",{extra}}}");
    for (body, field) in [
        (with("\"rate_bps\":100000000000000"), "rate_bps"),
        (with("\"rate_bps\":1e30"), "rate_bps"),
        (with("\"rate_bps\":5.5"), "rate_bps"),
        (with("\"rate_bps\":null"), "rate_bps"),
        (with("\"rate_bps\":5,\"tier\":\"high\""), "tier"),
        (with("\"rate_bps\":5,\"tier\":-1"), "tier"),
        (with("\"rate_bps\":5,\"tier\":256"), "tier"),
        (with("\"rate_bps\":5,\"tier\":8"), "tier"),
        (
            with("\"rate_bps\":5,\"start_in_secs\":-10"),
            "start_in_secs",
        ),
        (
            with("\"rate_bps\":5,\"start_in_secs\":400000000"),
            "start_in_secs",
        ),
        (with("\"rate_bps\":5,\"duration_secs\":-1"), "duration_secs"),
        (
            with("\"rate_bps\":5,\"duration_secs\":400000000"),
            "duration_secs",
        ),
        (
            with("\"rate_bps\":5,\"match\":{\"src_ip\":\"300.1.1.1\"}"),
            "match.src_ip",
        ),
        (
            with("\"rate_bps\":5,\"match\":{\"dst_port\":70000}"),
            "match.dst_port",
        ),
        (with("\"rate_bps\":5,\"path\":\"of:1\""), "path"),
        (
            format!("{{\"src\":5,\"dst\":\"{H2}\",\"rate_bps\":5}}"),
            "src",
        ),
        (
            format!("{{\"src\":null,\"dst\":\"{H2}\",\"rate_bps\":5}}"),
            "src",
        ),
    ] {
        let r = post(&f, "/api/v1/reservations", &body).await;
        assert_error(&r, invalid, "invalid_value", Some(field));
    }
    let r = post(
        &f,
        "/api/v1/reservations",
        &with("\"rate_bps\":5,\"match\":{\"colour\":1}"),
    )
    .await;
    assert_eq!(r.status, invalid, "{}", r.text);
    assert!(
        r.body["error"]["field"]
            .as_str()
            .is_some_and(|f| f.starts_with("match")),
        "{}",
        r.text
    );
    for body in ["[]", "null", "5"] {
        let r = post(&f, "/api/v1/reservations", body).await;
        assert_error(&r, invalid, "invalid_value", None);
    }
    for body in ["", "{", "{\"src\": \"a\",}", "\u{feff}{}"] {
        let r = post(&f, "/api/v1/reservations", body).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "malformed_json", None);
    }
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        let r = post_as(
            &f,
            "/api/v1/reservations",
            Some(ct),
            &with("\"rate_bps\":5"),
        )
        .await;
        assert_error(
            &r,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            None,
        );
        let r = post_as(&f, "/api/v1/whatif", Some(ct), "{\"demands\":[]}").await;
        assert_error(
            &r,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            None,
        );
    }
    // More than the network can carry, yet a valid rate: a conflict naming the bottleneck.
    let r = post(&f, "/api/v1/reservations", &with("\"rate_bps\":5000000000")).await;
    assert_error(
        &r,
        StatusCode::CONFLICT,
        "insufficient_bandwidth",
        Some("rate_bps"),
    );
    assert!(r.body["error"]["bottleneck_link"].is_string(), "{}", r.text);

    // What-if bodies.
    let d = json!({"src": H1, "dst": H2, "rate_bps": 5});
    for (body, status, code, field) in [
        (
            "{\"demands\": ".to_string(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            None,
        ),
        (
            json!({"demands": [d], "colour": 1}).to_string(),
            invalid,
            "invalid_value",
            Some("colour"),
        ),
        (
            json!({"demands": d}).to_string(),
            invalid,
            "invalid_value",
            Some("demands"),
        ),
        (
            json!({}).to_string(),
            invalid,
            "invalid_value",
            Some("demands"),
        ),
        (
            json!({"demands": vec![d.clone(); 65]}).to_string(),
            invalid,
            "invalid_value",
            Some("demands"),
        ),
        (
            json!({"demands": [{"src": H1, "dst": H2, "rate_bps": 0}]}).to_string(),
            invalid,
            "invalid_value",
            Some("demands[0].rate_bps"),
        ),
    ] {
        let r = post(&f, "/api/v1/whatif", &body).await;
        assert_error(&r, status, code, field);
    }
    // Wrong methods and unknown paths keep the one error shape.
    let r = call(
        &f,
        Method::PUT,
        "/api/v1/reservations/1",
        Some("{}"),
        Some(TOKEN),
    )
    .await;
    assert_error(
        &r,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        None,
    );
    assert_error(
        &get(&f, "/api/v1/reservation").await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    assert_eq!(
        f.core.read(|c| c.ledger().reservations().count()),
        0,
        "nothing admitted"
    );
}

/// Every mutating operation the OpenAPI document lists (so routes added later are covered too)
/// answers 401 without the token and with a wrong one, and changes nothing.
#[tokio::test]
async fn every_mutating_route_needs_the_token() {
    let f = fixture(2);
    let doc: Value = serde_json::from_str(&prescient::northbound::openapi::pretty()).expect("json");
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("operations").keys() {
            let method = match method.as_str() {
                "post" => Method::POST,
                "put" => Method::PUT,
                "patch" => Method::PATCH,
                "delete" => Method::DELETE,
                _ => continue,
            };
            // Placeholders get plausible values: auth is checked before the path is parsed.
            let uri = path
                .replace("{id}", "1")
                .replace("{name}", "web")
                .replace("{src}", H1)
                .replace("{dst}", H2);
            let body = Some("{}");
            for token in [None, Some("guess"), Some("")] {
                let r = call(&f, method.clone(), &uri, body, token).await;
                assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "POST/DELETE reservations and POST whatif at least, got {checked}"
    );
    assert_eq!(f.core.read(|c| c.ledger().reservations().count()), 0);
    assert!(f.core.take_actions().is_empty());
}

/// Mangled JSON and random bytes at the body-taking routes: answered with a 4xx in the error
/// shape (or accepted, when the mangling happened to leave a valid request), never a 5xx.
#[tokio::test]
async fn malformed_bodies_never_yield_a_500() {
    let f = fixture(2);
    let valid = json!({"src": H1, "dst": H2, "rate_bps": 1000, "tier": 1, "duration_secs": 60,
        "match": {"src_ip": "10.0.0.1", "ip_proto": 6, "dst_port": 80}})
    .to_string();
    let whatif = format!("{{\"demands\":[{valid}]}}");
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for base in [valid.as_bytes(), whatif.as_bytes()] {
        for cut in 0..base.len() {
            bodies.push(base[..cut].to_vec());
        }
        // Deterministic byte flips (xorshift), so a failure is reproducible.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..300 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut b = base.to_vec();
            let at = (x % b.len() as u64) as usize;
            b[at] = (x >> 32) as u8;
            bodies.push(b);
        }
    }
    bodies.push("[".repeat(10_000).into_bytes());
    bodies.push(format!("{{\"src\":\"{}\"}}", "a".repeat(100_000)).into_bytes());
    bodies.push(vec![0xff, 0xfe, 0x00, 0x7b]);
    let mut seen = BTreeMap::new();
    for body in &bodies {
        for uri in ["/api/v1/reservations", "/api/v1/whatif"] {
            let req = Request::builder()
                .method(Method::POST)
                .uri(uri)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .body(Body::from(body.clone()))
                .expect("request");
            let resp = router(f.state.clone())
                .oneshot(req)
                .await
                .expect("infallible");
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
                .await
                .expect("body");
            assert!(
                !status.is_server_error(),
                "{status} for {uri} {:?}: {}",
                String::from_utf8_lossy(body),
                String::from_utf8_lossy(&bytes)
            );
            if status.is_client_error() {
                let v: Value = serde_json::from_slice(&bytes).expect("JSON error body");
                assert!(v["error"]["code"].is_string(), "{v}");
            }
            *seen.entry(status.as_u16()).or_insert(0) += 1;
        }
    }
    // The corpus reaches the parser's every outcome, not just one.
    for s in [400, 422] {
        assert!(seen.get(&s).is_some_and(|n| *n > 10), "{seen:?}");
    }
}

#[tokio::test]
async fn live_evaluation_compares_what_was_planned_with_what_came() {
    let f = fixture(60);
    let r = get(&f, "/api/v1/evaluation").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let links = &r.body["links"];
    assert_eq!(links["lead"], 1);
    assert_eq!(links["violation_target"], 0.01);
    assert!(links["series_count"].as_u64().is_some_and(|n| n >= 1));
    // The second half of each link's window of 60 ticks is scored.
    assert!(links["scored_intervals"].as_u64().is_some_and(|n| n >= 25));
    let names: Vec<&str> = links["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .map(|p| p["policy"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["predictive", "reactive", "static", "oracle"]);
    let held = &links["policies"][0];
    assert!(held["under_provisioned"]
        .as_f64()
        .is_some_and(|u| (0.0..=1.0).contains(&u)));
    assert!(held["over_provisioning"].as_f64().is_some(), "{held}");
    assert_eq!(links["policies"][3]["under_provisioned"], 0.0);
    assert!(r.body["pairs"]["policies"].is_array());
}
