//! Bad input at every endpoint of the REST API is a 4xx naming the field, and mangled bodies
//! never yield a 500.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use prescient_tests::rest::{assert_error, call, fixture, get, post, post_as, send, H1, H2, TOKEN};
use serde_json::{json, Value};

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
            let r = send(&f.state, req).await;
            let status = r.status;
            assert!(
                !status.is_server_error(),
                "{status} for {uri} {:?}: {}",
                String::from_utf8_lossy(body),
                r.text
            );
            if status.is_client_error() {
                let v: Value = serde_json::from_str(&r.text).expect("JSON error body");
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
