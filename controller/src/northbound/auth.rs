//! Bearer-token check: mutating methods always, reads only when configured. The comparison
//! takes the same time wherever the first differing byte is.

use axum::extract::{Request, State};
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
    let read = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if read && !state.config.protect_reads {
        return Ok(next.run(req).await);
    }
    let Some(expected) = state.config.token.as_deref() else {
        return Err(ApiError::Unauthorized(
            "no API token is configured (set PRESCIENT_API_TOKEN); this call needs one".into(),
        ));
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        None => Err(ApiError::Unauthorized(
            "missing header `Authorization: Bearer <token>`".into(),
        )),
        Some(t) if same(t.trim().as_bytes(), expected.as_bytes()) => Ok(next.run(req).await),
        Some(_) => Err(ApiError::Unauthorized("wrong bearer token".into())),
    }
}
