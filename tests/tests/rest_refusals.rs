//! The REST API's answers where it once accepted what it could not honour, or answered a
//! conflict or a wrong path as something else: reservations police only their ends' traffic,
//! an endpoint paired with itself is refused, and conflicts with current state are 409.

use axum::http::StatusCode;
use prescient::core::Action;
use prescient_tests::rest::{assert_error, fixture, post, H1, H2};
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
