//! The northbound REST API end to end, in process (see `prescient_tests::rest` for the fixture:
//! a core fed a small topology through its entry points, the axum router driven with
//! `tower::ServiceExt::oneshot`, and once over real TCP on 127.0.0.1:0): live topology, paths,
//! forecasts, what-if, OpenAPI drift and the live evaluation. Reservations, authorisation, bad
//! input and the dashboard have files of their own (`rest_*.rs`).
//!
//! Regenerate the checked-in OpenAPI document with
//! `PRESCIENT_UPDATE_OPENAPI=1 cargo test -p prescient-tests --test rest_api openapi`.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use prescient_tests::rest::{assert_error, call, fixture, get, post, GBPS, H1, H2, HOT_LINK};
use prescient_topology::{DeviceId, Timestamp};
use serde_json::{json, Value};

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
        StatusCode::CONFLICT,
        "not_in_topology",
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
        StatusCode::CONFLICT,
        "not_in_topology",
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
    // A few series, far below `[planning] compact_above_series`: full settings.
    assert_eq!(r.body["tier"], "full");
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
