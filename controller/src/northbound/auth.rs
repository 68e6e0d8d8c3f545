//! Bearer-token check: mutating methods always, reads only when configured. Several tokens,
//! each with a scope (`read` < `write` < `admin`, each including the ones before); a token
//! whose scope is too small is 403 `insufficient_scope`, a missing or unknown one 401. The
//! comparison takes the same time wherever the first differing byte is, and every token is
//! compared (no early exit), so timing tells neither which token nor how much of one matched.
//! The set is swapped whole on reload (`prescient run` re-reads its configuration on SIGHUP).
//!
//! `GET /events` also accepts the token as `?access_token=` (RFC 6750 §2.3), because a
//! browser's `EventSource` cannot send headers; nowhere else is a token in a URL accepted, so
//! tokens do not end up in the logs and histories of ordinary calls.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Deserialize;

use axum::extract::{Query, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::Response;

use super::{ApiError, ApiState};

/// What a token may do; each scope includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Reads (needed only when `protect_reads`).
    Read,
    /// Reads and every call that changes something.
    Write,
    /// Everything (the single `token` of the configuration or `PRESCIENT_API_TOKEN`).
    Admin,
}

/// A bearer token and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopedToken {
    /// The token.
    pub token: String,
    /// Its scope.
    pub scope: Scope,
}

/// The tokens the API takes, replaced whole on reload.
pub type Tokens = Arc<ArcSwap<Vec<ScopedToken>>>;

/// The token set of `admin` (the configuration's single token, if any) and `scoped`.
pub fn tokens(admin: Option<&str>, scoped: &[ScopedToken]) -> Tokens {
    Arc::new(ArcSwap::from_pointee(token_list(admin, scoped)))
}

/// `admin` as an admin token, then `scoped`; empty tokens are dropped (they would match an
/// empty header).
pub fn token_list(admin: Option<&str>, scoped: &[ScopedToken]) -> Vec<ScopedToken> {
    admin
        .map(|t| ScopedToken {
            token: t.to_string(),
            scope: Scope::Admin,
        })
        .into_iter()
        .chain(scoped.iter().cloned())
        .filter(|t| !t.token.is_empty())
        .collect()
}

/// The largest scope among the tokens equal to `given`, comparing every one in full.
fn scope_of(given: &str, tokens: &[ScopedToken]) -> Option<Scope> {
    tokens.iter().fold(None, |best, t| {
        if same(given.as_bytes(), t.token.as_bytes()) {
            best.max(Some(t.scope))
        } else {
            best
        }
    })
}

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
    let needed = if write { Scope::Write } else { Scope::Read };
    let tokens = state.tokens.load();
    if tokens.is_empty() {
        return Err(ApiError::Unauthorized(
            "no API token is configured (set PRESCIENT_API_TOKEN); this call needs one".into(),
        ));
    }
    let mut values = req.headers().get_all(header::AUTHORIZATION).iter();
    let first = values.next();
    if values.next().is_some() {
        // Taking either one would let a second header (a proxy's, or one a client library
        // appended) decide whose call this is.
        return Err(ApiError::Unauthorized(
            "more than one Authorization header; send exactly one".into(),
        ));
    }
    let header_token = match first {
        Some(v) => Some(bearer(v.to_str().unwrap_or_default())?),
        None => None,
    };
    let given = header_token.or_else(|| query_token(&req));
    match given.as_deref().map(|t| scope_of(t.trim(), &tokens)) {
        None if is_event_stream(&req) => Err(ApiError::Unauthorized(
            "missing header `Authorization: Bearer <token>` or query parameter `access_token`"
                .into(),
        )),
        None => Err(ApiError::Unauthorized(
            "missing header `Authorization: Bearer <token>`".into(),
        )),
        Some(None) => Err(ApiError::Unauthorized("wrong bearer token".into())),
        Some(Some(scope)) if scope < needed => Err(ApiError::Forbidden(format!(
            "this token's scope is {scope:?}; {} {} needs {needed:?}",
            req.method(),
            req.uri().path()
        ))),
        Some(Some(_)) => Ok(next.run(req).await),
    }
}

/// The token of an `Authorization` value: the scheme is case-insensitive (RFC 9110 11.1, so
/// `bearer x` is as good as `Bearer x`); another scheme is refused by name rather than as a
/// missing header.
fn bearer(value: &str) -> Result<String, ApiError> {
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        let shown: String = scheme.chars().take(32).collect();
        return Err(ApiError::Unauthorized(format!(
            "the Authorization header's scheme is {shown:?}; give `Authorization: Bearer <token>`"
        )));
    }
    Ok(token.to_string())
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
