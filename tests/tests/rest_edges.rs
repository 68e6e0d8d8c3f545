//! The REST API at its edges, as an unseen orchestrator's client sends them. Each case here
//! was once accepted, or answered with a misleading status or message; it is now answered with
//! the one error shape, naming the field, and leaves nothing behind.

use axum::http::{Method, StatusCode};
use prescient_tests::rest::{assert_error, call, fixture, get, post, H1, H2, TOKEN};
use serde_json::json;

#[tokio::test]
async fn a_body_over_the_limit_is_413_not_malformed_json() {
    let f = fixture(1);
    // Well-formed JSON, just long: a 3 MB name.
    let body =
        json!({"name": "a".repeat(3 << 20), "start_secs": 1, "end_secs": 2, "multiplier": 1})
            .to_string();
    for (method, uri) in [
        (Method::POST, "/api/v1/calendar"),
        (Method::POST, "/api/v1/reservations"),
        (Method::POST, "/api/v1/services"),
        (Method::PUT, "/api/v1/services/web/backends"),
    ] {
        let r = call(&f, method, uri, Some(&body), Some(TOKEN)).await;
        assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None);
    }
    // Just under the limit is read (and refused for its content, not its size).
    let name = "a".repeat((2 << 20) - 200);
    let body = json!({"name": name, "start_secs": 1, "end_secs": 2, "multiplier": 1}).to_string();
    let r = post(&f, "/api/v1/calendar", &body).await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("name"),
    );
    assert_eq!(get(&f, "/api/v1/calendar").await.body, json!([]));
}

#[tokio::test]
async fn a_flow_match_the_switches_cannot_hold_is_refused() {
    let f = fixture(1);
    let with = |m: serde_json::Value| {
        json!({"src": H1, "dst": H2, "rate_bps": 1_000_000, "match": m}).to_string()
    };
    // A port without its protocol (OpenFlow matches it only under TCP or UDP), a port under a
    // protocol without ports, and a match of nothing: each would be installed as "every IPv4
    // packet" on the path and police everyone's traffic there.
    for (m, field) in [
        (json!({"dst_port": 80}), "match.ip_proto"),
        (
            json!({"src_port": 5000, "dst_ip": "10.0.0.2"}),
            "match.ip_proto",
        ),
        (json!({"ip_proto": 1, "dst_port": 80}), "match.ip_proto"),
        (json!({}), "match"),
        (json!({"src_ip": null}), "match"),
    ] {
        let r = post(&f, "/api/v1/reservations", &with(m.clone())).await;
        assert_error(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some(field),
        );
        let w = json!({"demands": [serde_json::from_str::<serde_json::Value>(&with(m)).unwrap()]});
        let r = post(&f, "/api/v1/whatif", &w.to_string()).await;
        let prefixed = format!("demands[0].{field}");
        assert_error(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some(&prefixed),
        );
    }
    assert_eq!(get(&f, "/api/v1/reservations").await.body, json!([]));
    // Matches the switches hold are taken as before.
    for m in [
        json!({"ip_proto": 6, "dst_port": 80}),
        json!({"ip_proto": 17, "src_port": 53, "dst_port": 53}),
        json!({"ip_proto": 1}),
        json!({"dst_ip": "10.0.0.2"}),
    ] {
        let r = post(&f, "/api/v1/reservations", &with(m)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
}

#[tokio::test]
async fn a_vip_no_client_can_reach_is_refused() {
    let f = fixture(1);
    let service = |vip: &str| {
        json!({"name": "web", "tenant": "t", "vip": vip, "pool": "10.9.0.0/24",
               "instance_capacity_bps": 1_000_000})
        .to_string()
    };
    for vip in [
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "239.1.2.3",
        "127.0.0.1",
    ] {
        let r = post(&f, "/api/v1/services", &service(vip)).await;
        assert_error(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some("vip"),
        );
    }
    // h1's address: the controller would answer ARP for it and take h1's traffic.
    let r = post(&f, "/api/v1/services", &service("10.0.0.1")).await;
    assert_error(&r, StatusCode::CONFLICT, "vip_in_use", Some("vip"));
    assert!(r.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("00:00:00:00:00:01")));
    // Nothing was half-created: not the service, not its tenant's pool.
    assert_eq!(get(&f, "/api/v1/services").await.body, json!([]));
    assert_eq!(get(&f, "/api/v1/pools").await.body, json!([]));
    // A free unicast address is taken.
    let r = post(&f, "/api/v1/services", &service("100.64.0.1")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_another_scheme_is_named() {
    use axum::body::Body;
    use axum::http::{header, Request};
    use prescient_tests::rest::send;
    let f = fixture(1);
    // One event per scheme (each a new one, answered 201).
    let with = |auth: &str| {
        let body = json!({"name": auth.split(' ').next(), "start_secs": 1, "end_secs": 2,
                          "multiplier": 2});
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/calendar")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, auth)
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    // RFC 9110: the scheme is case-insensitive; clients that lower-case it are served.
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let r = send(&f.state, with(&format!("{scheme} {TOKEN}"))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{scheme}: {}", r.text);
    }
    // Another scheme is a 401 that says which scheme it got, not "missing header".
    let r = send(&f.state, with("Basic dG9rOnRvaw==")).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
    assert!(r.text.contains("Basic"), "{}", r.text);
    let r = send(&f.state, with("bearer wrong")).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
    // Two headers, one good: neither decides (the first used to win, whichever it was).
    for pair in [
        [format!("Bearer {TOKEN}"), "Bearer wrong".to_string()],
        ["Bearer wrong".to_string(), format!("Bearer {TOKEN}")],
    ] {
        let mut req = with("ignored");
        req.headers_mut().remove(header::AUTHORIZATION);
        for value in &pair {
            req.headers_mut()
                .append(header::AUTHORIZATION, value.parse().expect("header value"));
        }
        let r = send(&f.state, req).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized", None);
        assert!(r.text.contains("more than one"), "{}", r.text);
    }
    assert_eq!(
        get(&f, "/api/v1/calendar")
            .await
            .body
            .as_array()
            .map(Vec::len),
        Some(3)
    );
}

#[tokio::test]
async fn deleting_a_reservation_twice_is_404_naming_its_id() {
    let f = fixture(1);
    let body = json!({"src": H1, "dst": H2, "rate_bps": 1_000_000}).to_string();
    let r = post(&f, "/api/v1/reservations", &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let uri = format!("/api/v1/reservations/{}", r.body["reservation"]["id"]);
    let r = call(&f, Method::DELETE, &uri, None, Some(TOKEN)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = call(&f, Method::DELETE, &uri, None, Some(TOKEN)).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
    // The id as the client wrote it, not the server's type name around it.
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("reservation 1 ") && !message.contains("ReservationId"),
        "{message}"
    );
    // A backend's address likewise (it was shown as `Some(10.9.0.0)`).
    let service = json!({"name": "web", "tenant": "t", "vip": "100.64.0.1",
                         "pool": "10.9.0.0/24", "instance_capacity_bps": 1_000_000});
    let r = post(&f, "/api/v1/services", &service.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let backends = json!({"backends": [{"ip": "10.9.0.0", "mac": "00:00:00:00:09:01"}]});
    let r = call(
        &f,
        Method::PUT,
        "/api/v1/services/web/backends",
        Some(&backends.to_string()),
        Some(TOKEN),
    )
    .await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("backends[0].ip"),
    );
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("`backends[0].ip` = 10.9.0.0:"),
        "{message}"
    );
}

#[tokio::test]
async fn posting_the_same_event_again_schedules_it_once() {
    use prescient_tests::rest::{request, send};
    let f = fixture(1);
    let sale = json!({"name": "sale", "start_secs": 2_000_000_000u64, "end_secs": 2_000_003_600u64,
                      "multiplier": 2.0, "scope": {"kind": "pair", "src": "10.0.0.1", "dst": H2}});
    let first = post(&f, "/api/v1/calendar", &sale.to_string()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    // A retry (the pair's host given by MAC this time: the same event) is that event, 200.
    let mut again = sale.clone();
    again["scope"]["src"] = json!(H1);
    let r = post(&f, "/api/v1/calendar", &again.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body, first.body);
    // Twenty retries at once still leave one event (two copies would make it x4).
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let state = f.state.clone();
            let body = sale.to_string();
            tokio::spawn(async move {
                send(
                    &state,
                    request(Method::POST, "/api/v1/calendar", Some(&body), Some(TOKEN)),
                )
                .await
                .status
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("task"), StatusCode::OK);
    }
    assert_eq!(get(&f, "/api/v1/calendar").await.body, json!([first.body]));
    // Another effect is another event.
    let mut triple = sale.clone();
    triple["multiplier"] = json!(3.0);
    let r = post(&f, "/api/v1/calendar", &triple.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["id"], 2);
    // So is another last start of a repeating one; the same one again is that event.
    let mut weekly = sale.clone();
    weekly["every_secs"] = json!(7 * 86_400);
    weekly["until_secs"] = json!(2_000_000_000u64 + 4 * 7 * 86_400);
    let r = post(&f, "/api/v1/calendar", &weekly.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = post(&f, "/api/v1/calendar", &weekly.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["id"], 3);
    weekly["until_secs"] = json!(2_000_000_000u64 + 8 * 7 * 86_400);
    let r = post(&f, "/api/v1/calendar", &weekly.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["id"], 4);
}

#[tokio::test]
async fn a_repeated_parameter_is_named_and_a_pool_is_kept_as_its_network() {
    let f = fixture(1);
    let r = get(&f, "/api/v1/devices?limit=1&limit=2").await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("limit"),
    );
    // Host bits in the pool: the service shows the pool the tenant's list has.
    let service = json!({"name": "web", "tenant": "t", "vip": "100.64.0.1",
                         "pool": "10.9.3.5/24", "instance_capacity_bps": 1_000_000});
    let r = post(&f, "/api/v1/services", &service.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["service"]["pool"], "10.9.3.0/24");
    assert_eq!(
        get(&f, "/api/v1/tenants").await.body[0]["pools"],
        json!(["10.9.3.0/24"])
    );
}

#[tokio::test]
async fn a_reservation_from_a_host_to_itself_is_refused() {
    let f = fixture(1);
    let body = json!({"src": H1, "dst": H1, "rate_bps": 1_000_000}).to_string();
    let r = post(&f, "/api/v1/reservations", &body).await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("dst"),
    );
    let what_if = json!({"demands": [{"src": H2, "dst": H2, "rate_bps": 1}]}).to_string();
    let r = post(&f, "/api/v1/whatif", &what_if).await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("demands[0].dst"),
    );
    assert_eq!(get(&f, "/api/v1/reservations").await.body, json!([]));
}

#[tokio::test]
async fn a_pool_too_small_for_the_minimum_instances_is_refused() {
    let f = fixture(1);
    let service = |pool: &str, min: u32| {
        json!({"name": "web", "tenant": "t", "vip": "100.64.0.1", "pool": pool,
               "instance_capacity_bps": 1_000_000, "min_instances": min, "max_instances": 8})
        .to_string()
    };
    // A /30 leases two addresses (not its network or broadcast address): three instances
    // could never all run, and nothing said so until a scale-up found no address.
    let r = post(&f, "/api/v1/services", &service("10.9.0.0/30", 3)).await;
    assert_error(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("min_instances"),
    );
    assert!(r.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("10.9.0.0/30") && m.contains("2 usable")));
    assert_eq!(get(&f, "/api/v1/services").await.body, json!([]));
    // Two fit a /30, and a /31 leases both of its addresses.
    let r = post(&f, "/api/v1/services", &service("10.9.0.0/30", 2)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = post(
        &f,
        "/api/v1/services",
        &service("10.9.1.0/31", 2)
            .replace("\"web\"", "\"api\"")
            .replace("100.64.0.1", "100.64.0.2"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}
