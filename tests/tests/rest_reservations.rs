//! Reservations through the REST API, in process: admitted, refused with the bottleneck listed,
//! released; bad bodies answered 400, 415 or 422 naming the field, and well-formed ones naming
//! what the topology does not have 409 `not_in_topology`.

use axum::http::{Method, StatusCode};
use prescient::core::Action;
use prescient_tests::rest::{assert_error, call, fixture, get, post, post_as, H1, H2, TOKEN};
use serde_json::json;

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
    // The meters reach the southbound driver through the outlet: on both hops, and on the last
    // switch towards h2.
    let sent = f.core.take_actions();
    assert!(
        matches!(&sent[..], [Action::InstallMeter { rate_bps: 600_000_000, ports, .. }] if ports.len() == 3),
        "{sent:?}"
    );
    assert_eq!(first.body["reservation"]["subject"]["kind"], "host_pair");
    // A client's reservation is policed: its meters sit on the ports that hold its traffic.
    assert_eq!(first.body["reservation"]["policed"], true);
    assert_eq!(
        first.body["reservation"]["meter_ports"],
        first.body["reservation"]["held_ports"]
    );
    assert_eq!(
        first.body["reservation"]["meter_ports"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
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
        // Well-formed but not in the topology: a conflict with its state, not a bad request.
        (&format!("{{\"src\":\"{H1}\",\"dst\":\"{H2}\",\"rate_bps\":5,\"path\":[\"of:0000000000000001:2,of:0000000000000003:1\"]}}"), StatusCode::CONFLICT, "not_in_topology", Some("path")),
        (&format!("{{\"src\":\"{H1}\",\"dst\":\"{H2}\",\"rate_bps\":5,\"match\":{{\"ip_proto\":300}}}}"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("match.ip_proto")),
        ("{\"src\":\"00:00:00:00:00:09\",\"dst\":\"of:1\",\"rate_bps\":5}", StatusCode::CONFLICT, "not_in_topology", Some("src")),
        // JSON has one number type: an integral value written as a float is that integer.
        (&format!("{{\"src\":\"{H1}\",\"dst\":\"{H2}\",\"rate_bps\":0.0}}"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("rate_bps")),
        (&format!("{{\"src\":\"{H1}\",\"dst\":\"{H2}\",\"rate_bps\":5.5}}"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", Some("rate_bps")),
        ("\"hello\"", StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", None),
    ];
    for (body, status, code, field) in cases {
        let r = post(&f, "/api/v1/reservations", body).await;
        assert_error(&r, *status, code, *field);
    }
    // No content type.
    let r = post_as(&f, "/api/v1/reservations", None, "{}").await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        f.core.read(|c| c.ledger().reservations().count()),
        0,
        "nothing admitted"
    );
}
