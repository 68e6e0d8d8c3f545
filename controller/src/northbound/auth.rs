//! Bearer-token check: mutating methods always, reads only when configured. The comparison
//! takes the same time wherever the first differing byte is.
//!
//! `GET /events` also accepts the token as `?access_token=` (RFC 6750 §2.3), because a
//! browser's `EventSource` cannot send headers; nowhere else is a token in a URL accepted, so
//! tokens do not end up in the logs and histories of ordinary calls.

use std::collections::HashMap;

use axum::extract::{Query, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::Response;

use super::{ApiError, ApiState};

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refuses requests that need the token and do not carry it.
pub async fn require_token(
    State(state): State<ApiState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    // Only the methods that change something need the token; anything else (a read, or a
    // method no route has, which the router answers 405) is let through unless reads are
    // protected.
    let write = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if !write && !state.config.protect_reads {
        return Ok(next.run(req).await);
    }
    let Some(expected) = state.config.token.as_deref() else {
        return Err(ApiError::Unauthorized(
            "no API token is configured (set PRESCIENT_API_TOKEN); this call needs one".into(),
        ));
    };
    let header_token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let given = header_token.or_else(|| query_token(&req));
    match given.as_deref() {
        None if is_event_stream(&req) => Err(ApiError::Unauthorized(
            "missing header `Authorization: Bearer <token>` or query parameter `access_token`"
                .into(),
        )),
        None => Err(ApiError::Unauthorized(
            "missing header `Authorization: Bearer <token>`".into(),
        )),
        Some(t) if same(t.trim().as_bytes(), expected.as_bytes()) => Ok(next.run(req).await),
        Some(_) => Err(ApiError::Unauthorized("wrong bearer token".into())),
    }
}

/// The event stream, seen from inside the `/api/v1` nest (which strips its prefix).
fn is_event_stream(req: &Request) -> bool {
    req.method() == Method::GET && req.uri().path() == "/events"
}

/// `access_token` from the query string, on the event stream only.
fn query_token(req: &Request) -> Option<String> {
    if !is_event_stream(req) {
        return None;
    }
    let Query(mut q) = Query::<HashMap<String, String>>::try_from_uri(req.uri()).ok()?;
    q.remove("access_token")
}
