//! A webhook orchestrator for tests: it records every call it receives (idempotency key and JSON
//! body) and answers as scripted, so a test can check what the controller's hooks executor sent
//! and how it retried.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

/// The calls a webhook received, in order: `(Idempotency-Key, body)`.
pub type Calls = Arc<Mutex<Vec<(String, Value)>>>;

#[derive(Clone)]
struct Hook {
    calls: Calls,
    fail_first: usize,
}

async fn answer(
    State(hook): State<Hook>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    // A poisoned lock only means another handler panicked; the list itself is intact.
    let mut calls = hook.calls.lock().unwrap_or_else(|p| p.into_inner());
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    calls.push((key, serde_json::from_slice(&body).unwrap_or_default()));
    if calls.len() <= hook.fail_first {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

/// Serves a webhook on 127.0.0.1 until the test ends: its URL, and the calls it records. The
/// first `fail_first` calls are answered 503 (the orchestrator is down), later ones 200.
pub async fn webhook(fail_first: usize) -> anyhow::Result<(String, Calls)> {
    let calls: Calls = Arc::default();
    let app = Router::new()
        .route("/scale", post(answer))
        .with_state(Hook {
            calls: calls.clone(),
            fail_first,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((format!("http://{addr}/scale"), calls))
}
