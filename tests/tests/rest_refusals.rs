//! The REST API's answers where it once accepted what it could not honour, or answered a
//! conflict or a wrong path as something else: reservations police only their ends' traffic,
//! an endpoint paired with itself is refused, a MAC no host can have is refused, and conflicts
//! with current state are 409.

use axum::http::StatusCode;
use prescient::core::Action;
use prescient_tests::rest::{assert_error, fixture, get, post, H1, H2};
use prescient_topology::{MacAddr, Subject};
use serde_json::json;

#[tokio::test]
async fn a_flow_reservation_polices_only_its_ends_traffic() {
    let f = fixture(1);
    let h1 = MacAddr([0, 0, 0, 0, 0, 1]);
    let h2 = MacAddr([0, 0, 0, 0, 0, 2]);
    // TCP from h1 to h2: the flow the switches get carries both hosts' MACs, so the meter
    // polices h1's TCP to h2, not every host's TCP through the path.
    let body = json!({"src": H1, "dst": H2, "rate_bps": 1_000, "match": {"ip_proto": 6}});
    let r = post(&f, "/api/v1/reservations", &body.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let subject = &r.body["reservation"]["subject"];
    assert_eq!(subject["kind"], "flow", "{subject}");
    assert_eq!(subject["src_mac"], H1, "{subject}");
    assert_eq!(subject["dst_mac"], H2, "{subject}");
    let sent = f.core.take_actions();
    let installed: Vec<&Subject> = sent
        .iter()
        .filter_map(|a| match a {
            Action::InstallMeter { subject, .. } => Some(subject),
            _ => None,
        })
        .collect();
    assert!(
        matches!(&installed[..], [Subject::Flow(m)]
            if m.src_mac == Some(h1) && m.dst_mac == Some(h2) && m.ip_proto == Some(6)),
        "{sent:?}"
    );

    // From a switch to h2 with no match: h2's traffic along the path, not all IPv4.
    let body = json!({"src": "of:1", "dst": H2, "rate_bps": 1_000});
    let r = post(&f, "/api/v1/reservations", &body.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let subject = &r.body["reservation"]["subject"];
    assert_eq!(subject["dst_mac"], H2, "{subject}");
    assert!(subject.get("src_mac").is_none(), "{subject}");

    // Between two switches nothing names a host: refused unless the match names an address.
    for (m, why) in [
        (None, "there is no match"),
        (
            Some(json!({"ip_proto": 6})),
            "names neither src_ip nor dst_ip",
        ),
    ] {
        let mut body = json!({"src": "of:1", "dst": "of:4", "rate_bps": 1_000});
        if let Some(m) = m {
            body["match"] = m;
        }
        let r = post(&f, "/api/v1/reservations", &body.to_string()).await;
        assert_error(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some("match"),
        );
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{message}");
        let w = post(
            &f,
            "/api/v1/whatif",
            &json!({"demands": [body]}).to_string(),
        )
        .await;
        assert_error(
            &w,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some("demands[0].match"),
        );
    }
    let body = json!({"src": "of:1", "dst": "of:4", "rate_bps": 1_000,
        "match": {"src_ip": "192.0.2.1", "ip_proto": 17}});
    let r = post(&f, "/api/v1/reservations", &body.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn an_endpoint_paired_with_itself_or_a_scope_nothing_matches_is_refused() {
    let f = fixture(1);
    // One answer for "from an endpoint to itself", whichever way it is spelled.
    for (src, dst) in [(H1, H1), ("10.0.0.1", H1), ("of:1", "of:0000000000000001")] {
        let body = json!({"src": src, "dst": dst, "rate_bps": 1_000});
        let r = post(&f, "/api/v1/reservations", &body.to_string()).await;
        assert_error(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some("dst"),
        );
    }
    // Calendar scopes that no series can ever match: accepted, they were stored and listed
    // and never changed a forecast.
    let event = |scope: serde_json::Value| {
        json!({"name": "sale", "start_secs": 10, "end_secs": 20, "multiplier": 2, "scope": scope})
            .to_string()
    };
    for (scope, field, why) in [
        (
            json!({"kind": "pair", "src": H1, "dst": H1}),
            "scope.dst",
            "itself",
        ),
        (
            json!({"kind": "pair", "src": "10.0.0.1", "dst": H1}),
            "scope.dst",
            "itself",
        ),
        (
            json!({"kind": "pair", "src": "ff:ff:ff:ff:ff:ff", "dst": H1}),
            "scope.src",
            "group",
        ),
        (
            json!({"kind": "pair", "src": H1, "dst": "01:00:5e:00:00:01"}),
            "scope.dst",
            "group",
        ),
        (
            json!({"kind": "pair", "src": "00:00:00:00:00:00", "dst": H1}),
            "scope.src",
            "all-zero",
        ),
        (
            json!({"kind": "link", "link": "of:0000000000000001:0,of:0000000000000002:1"}),
            "scope.link",
            "not a physical port",
        ),
        (
            json!({"kind": "link", "link": "of:0000000000000001:1,of:0000000000000001:1"}),
            "scope.link",
            "to itself",
        ),
    ] {
        let r = post(&f, "/api/v1/calendar", &event(scope.clone())).await;
        assert_error(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some(field),
        );
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{scope}: {message}");
    }
    assert_eq!(get(&f, "/api/v1/calendar").await.body, json!([]));
    // Two different hosts, and a link between physical ports, are fine.
    for scope in [
        json!({"kind": "pair", "src": H1, "dst": H2}),
        json!({"kind": "link", "link": "of:0000000000000001:1,of:0000000000000002:1"}),
    ] {
        let r = post(&f, "/api/v1/calendar", &event(scope)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
}

#[tokio::test]
async fn a_name_or_vip_another_service_has_is_a_conflict() {
    let f = fixture(1);
    let service = |name: &str, vip: &str, pool: &str| {
        json!({"name": name, "tenant": "t", "vip": vip, "pool": pool,
               "instance_capacity_bps": 1_000_000})
        .to_string()
    };
    let r = post(
        &f,
        "/api/v1/services",
        &service("web", "100.64.0.1", "10.9.0.0/24"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // Well-formed requests that collide with what exists: 409 with a code a client can act
    // on (Kubernetes: AlreadyExists), not 422 as if the value were malformed.
    let r = post(
        &f,
        "/api/v1/services",
        &service("web", "100.64.0.2", "10.9.1.0/24"),
    )
    .await;
    assert_error(&r, StatusCode::CONFLICT, "name_in_use", Some("name"));
    let r = post(
        &f,
        "/api/v1/services",
        &service("api", "100.64.0.1", "10.9.1.0/24"),
    )
    .await;
    assert_error(&r, StatusCode::CONFLICT, "vip_in_use", Some("vip"));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"web\"")),
        "{}",
        r.text
    );
    let list = get(&f, "/api/v1/services").await.body;
    let names: Vec<&str> = list
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, vec!["web"]);
}

#[tokio::test]
async fn a_wrong_path_is_quoted_as_the_client_sent_it() {
    use axum::http::Method;
    use prescient_tests::rest::{call, TOKEN};
    let f = fixture(1);
    let demand = json!({"demands": [{"src": H1, "dst": H2, "rate_bps": 1}]}).to_string();
    // The doubled slash: once answered "no such endpoint: /whatif", a path that exists.
    let r = post(&f, "/api/v1//whatif", &demand).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found", None);
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(message, "no such endpoint: /api/v1//whatif");
    let r = get(&f, "/api/v1/nothing/here").await;
    assert_eq!(
        r.body["error"]["message"], "no such endpoint: /api/v1/nothing/here",
        "{}",
        r.text
    );
    let r = call(
        &f,
        Method::PATCH,
        "/api/v1/whatif",
        Some(&demand),
        Some(TOKEN),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", r.text);
    assert_eq!(
        r.body["error"]["message"], "/api/v1/whatif does not take PATCH",
        "{}",
        r.text
    );
}

#[tokio::test]
async fn a_service_given_the_all_zero_mac_is_refused() {
    // 00:00:00:00:00:00 is no host's address (Linux refuses it as a device address): a backend
    // or VIP given it would be translated to a destination no host answers for.
    let f = fixture(1);
    let service = |backend_mac: &str, vip_mac: Option<&str>| {
        let mut body = json!({"name": "web", "tenant": "t", "vip": "100.64.0.1",
            "pool": "10.9.0.0/24", "instance_capacity_bps": 1_000_000,
            "backends": [{"ip": "10.9.0.5", "mac": backend_mac}]});
        if let Some(m) = vip_mac {
            body["vip_mac"] = json!(m);
        }
        body.to_string()
    };
    for (body, field) in [
        (service("00:00:00:00:00:00", None), "backends[0].mac"),
        (
            service("00:00:00:00:09:05", Some("00:00:00:00:00:00")),
            "vip_mac",
        ),
    ] {
        let r = post(&f, "/api/v1/services", &body).await;
        assert_error(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some(field),
        );
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("all-zero"), "{message}");
    }
    assert_eq!(get(&f, "/api/v1/services").await.body, json!([]));
    let r = post(&f, "/api/v1/services", &service("00:00:00:00:09:05", None)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn an_instance_capacity_past_ten_terabits_is_refused() {
    // The document promises an int64 of at most 10^13 (as a reservation's rate); 2^63 was taken
    // and stored, a value the document says no client may send (schemathesis found it).
    let f = fixture(1);
    let service = |capacity: u64| {
        json!({"name": "web", "tenant": "t", "vip": "100.64.0.1", "pool": "10.9.0.0/24",
               "instance_capacity_bps": capacity})
        .to_string()
    };
    for capacity in [10_000_000_000_001, 1 << 63, u64::MAX] {
        let r = post(&f, "/api/v1/services", &service(capacity)).await;
        assert_error(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some("instance_capacity_bps"),
        );
    }
    assert_eq!(get(&f, "/api/v1/services").await.body, json!([]));
    let r = post(&f, "/api/v1/services", &service(10_000_000_000_000)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn calendar_times_past_the_year_9999_and_rates_past_ten_terabits_are_refused() {
    // The document promises int64 values; 2^63 seconds was taken and stored as an event's end.
    let f = fixture(1);
    let last_second: u64 = 253_402_300_799;
    let event = |change: serde_json::Value| {
        let mut body = json!({"name": "sale", "start_secs": 10, "end_secs": 20, "multiplier": 2});
        for (k, v) in change.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        if body.get("absolute_bps").is_some() {
            body.as_object_mut().map(|b| b.remove("multiplier"));
        }
        body.to_string()
    };
    for (change, field) in [
        (json!({"end_secs": 1u64 << 63}), "end_secs"),
        (json!({"end_secs": last_second + 1}), "end_secs"),
        (
            json!({"start_secs": last_second + 1, "end_secs": last_second + 2}),
            "start_secs",
        ),
        (json!({"every_secs": 1u64 << 63}), "every_secs"),
        (
            json!({"every_secs": 100, "until_secs": last_second + 1}),
            "until_secs",
        ),
        (
            json!({"absolute_bps": 10_000_000_000_001u64}),
            "absolute_bps",
        ),
    ] {
        let r = post(&f, "/api/v1/calendar", &event(change)).await;
        assert_error(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some(field),
        );
    }
    assert_eq!(get(&f, "/api/v1/calendar").await.body, json!([]));
    for change in [
        json!({"end_secs": last_second, "every_secs": last_second}),
        json!({"every_secs": 100, "until_secs": last_second}),
        json!({"absolute_bps": 10_000_000_000_000u64}),
    ] {
        let r = post(&f, "/api/v1/calendar", &event(change)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
}
