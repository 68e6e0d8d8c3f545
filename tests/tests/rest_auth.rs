//! Who may do what through the REST API: reads can be protected, no token means no mutations,
//! and every mutating route the OpenAPI document lists needs the token.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use prescient::northbound::{router, ApiConfig, ApiState};
use prescient_tests::rest::{assert_error, call, fixture, get, post, H1, H2, TOKEN};
use serde_json::{json, Value};
use tower::ServiceExt;

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

#[tokio::test]
async fn tokens_have_scopes_and_rotate_without_a_restart() {
    use prescient::northbound::auth::{token_list, tokens};
    use prescient::northbound::{Scope, ScopedToken};
    let scoped = |token: &str, scope| ScopedToken {
        token: token.into(),
        scope,
    };
    let mut f = fixture(2);
    let set = tokens(
        Some(TOKEN),
        &[
            scoped("viewer", Scope::Read),
            scoped("operator", Scope::Write),
        ],
    );
    f.state = ApiState::new(
        Arc::clone(&f.core),
        ApiConfig {
            token: Some(TOKEN.into()),
            protect_reads: true,
        },
    )
    .with_tokens(Arc::clone(&set));
    let body = json!({"src": H1, "dst": H2, "rate_bps": 5}).to_string();
    let reserve = |token: &'static str| {
        let (f, body) = (&f, body.as_str());
        async move {
            call(
                f,
                Method::POST,
                "/api/v1/reservations",
                Some(body),
                Some(token),
            )
            .await
        }
    };

    // A read token reads and is refused writes with 403, not 401: it is known, only too small.
    let r = call(&f, Method::GET, "/api/v1/devices", None, Some("viewer")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_error(
        &reserve("viewer").await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
        None,
    );
    assert_eq!(reserve("operator").await.status, StatusCode::CREATED);
    assert_eq!(reserve(TOKEN).await.status, StatusCode::CREATED);
    assert_error(
        &reserve("stranger").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    );

    // Rotation: the new set is in force for the next request, the old tokens are not.
    set.store(Arc::new(token_list(
        None,
        &[scoped("operator-2", Scope::Write)],
    )));
    assert_error(
        &reserve("operator").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    );
    assert_error(
        &reserve(TOKEN).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    );
    assert_eq!(reserve("operator-2").await.status, StatusCode::CREATED);
}
