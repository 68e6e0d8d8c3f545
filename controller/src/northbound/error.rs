//! The API's errors: one enum, one `IntoResponse` (the only place a status is chosen), one
//! `From` for the core's reservation errors, and extractors whose rejections become these
//! errors, so bad input is a 400/404/409/413/415/422 and never a 500.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use prescient_topology::{LedgerError, PathError};
use serde::de::DeserializeOwned;

use super::dto::{ErrorBody, ErrorDetail};
use crate::core::naming::link_id;
use crate::core::ReserveError;

/// Longest request body taken (axum's default limit, stated so that the answer can say it).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Everything a request can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON at all.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The body is not `application/json`.
    #[error("expected a body with content-type application/json")]
    UnsupportedMediaType,
    /// The body is longer than [`MAX_BODY_BYTES`].
    #[error("the body is longer than the {MAX_BODY_BYTES} bytes a request may carry")]
    PayloadTooLarge,
    /// Valid syntax, invalid value.
    #[error("{message}")]
    Invalid {
        /// The field at fault.
        field: Option<String>,
        /// Which value and why.
        message: String,
    },
    /// No such resource.
    #[error("{0}")]
    NotFound(String),
    /// The resource exists but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The endpoints are not connected.
    #[error("{0}")]
    NoPath(String),
    /// Well-formed, but names a device, host or link the topology does not have (now): a
    /// conflict with the current state, not a malformed request.
    #[error("{message}")]
    NotInTopology {
        /// The field naming it.
        field: String,
        /// Which and why.
        message: String,
    },
    /// Not enough capacity on a link.
    #[error("{message}")]
    Insufficient {
        /// Bottleneck link id.
        link: String,
        /// Bits/s missing there.
        missing_bps: u64,
        /// The full explanation.
        message: String,
    },
    /// Missing or wrong bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// The token is right but its scope does not cover the call.
    #[error("{0}")]
    Forbidden(String),
    /// The state store could not commit the change; nothing was changed.
    #[error("{0}")]
    StoreUnavailable(String),
    /// The resource belongs to a controller policy, which would recreate it at once.
    #[error("{0}")]
    PolicyOwned(String),
    /// The request conflicts with the current state; `code` says how.
    #[error("{message}")]
    Conflict {
        /// Machine-readable reason (`pool_exhausted`, `not_an_instance`, `name_in_use`,
        /// `vip_in_use`).
        code: &'static str,
        /// The field whose value conflicts, when one does.
        field: Option<&'static str>,
        /// Which value and why.
        message: String,
    },
}

impl ApiError {
    /// An invalid value of `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A well-formed `field` naming something the topology does not have.
    pub fn not_in_topology(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::NotInTopology {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The status and body for this error.
    pub fn detail(&self) -> (StatusCode, ErrorDetail) {
        let (status, code, field) = match self {
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json", None),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                None,
            ),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None),
            ApiError::Invalid { field, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_value",
                field.clone(),
            ),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None)
            }
            ApiError::NoPath(_) => (StatusCode::CONFLICT, "no_path", None),
            ApiError::NotInTopology { field, .. } => {
                (StatusCode::CONFLICT, "not_in_topology", Some(field.clone()))
            }
            ApiError::Insufficient { .. } => (
                StatusCode::CONFLICT,
                "insufficient_bandwidth",
                Some("rate_bps".to_string()),
            ),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "insufficient_scope", None),
            ApiError::StoreUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", None)
            }
            ApiError::PolicyOwned(_) => (StatusCode::CONFLICT, "policy_owned", None),
            ApiError::Conflict { code, field, .. } => {
                (StatusCode::CONFLICT, *code, field.map(str::to_string))
            }
        };
        let (bottleneck_link, missing_bps) = match self {
            ApiError::Insufficient {
                link, missing_bps, ..
            } => (Some(link.clone()), Some(*missing_bps)),
            _ => (None, None),
        };
        (
            status,
            ErrorDetail {
                code: code.to_string(),
                message: self.to_string(),
                field,
                bottleneck_link,
                missing_bps,
            },
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error) = self.detail();
        let mut resp = (status, Json(ErrorBody { error })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

impl From<ReserveError> for ApiError {
    fn from(e: ReserveError) -> Self {
        match e {
            ReserveError::Path { field, source } => match source {
                PathError::Unreachable { .. } => ApiError::NoPath(source.to_string()),
                PathError::UnknownDevice(_) | PathError::UnknownHost(_) => {
                    ApiError::not_in_topology(field, source.to_string())
                }
                other => ApiError::invalid(field, other.to_string()),
            },
            ReserveError::Ledger(l) => match l {
                LedgerError::Insufficient {
                    link, missing_bps, ..
                } => ApiError::Insufficient {
                    link: link_id(link),
                    missing_bps,
                    message: format!(
                        "bottleneck link {} lacks {missing_bps} bit/s: {l}",
                        link_id(link)
                    ),
                },
                LedgerError::ZeroRate => ApiError::invalid("rate_bps", l.to_string()),
                LedgerError::EmptyWindow { .. } => {
                    ApiError::invalid("duration_secs", l.to_string())
                }
                LedgerError::UnknownLink(_) | LedgerError::BrokenPath { .. } => {
                    ApiError::not_in_topology("path", l.to_string())
                }
                LedgerError::UnknownReservation(_) => ApiError::NotFound(l.to_string()),
                LedgerError::DuplicateId(_) => ApiError::invalid("id", l.to_string()),
            },
            ReserveError::NoEgress { .. } => ApiError::not_in_topology("dst", e.to_string()),
            ReserveError::NoHost { .. } => ApiError::invalid("match", e.to_string()),
        }
    }
}

/// Pulls the field name out of serde's message: axum prefixes data errors with their path
/// (`rate_bps: invalid type ...`); unknown, missing and duplicate fields name theirs in backquotes.
fn field_of(text: &str) -> Option<String> {
    let body = text.split_once("target type: ").map_or(text, |(_, b)| b);
    let body = body.split_once("query string: ").map_or(body, |(_, b)| b);
    if let Some((path, _)) = body.split_once(": ") {
        if path != "." && !path.is_empty() && !path.contains(' ') {
            return Some(path.to_string());
        }
    }
    for marker in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some((_, rest)) = body.split_once(marker) {
            return rest.split_once('`').map(|(f, _)| f.to_string());
        }
    }
    None
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => {
                let text = e.body_text();
                ApiError::Invalid {
                    field: field_of(&text),
                    message: text,
                }
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            // Past the body limit: not malformed, too long (a client may split it).
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            other => ApiError::MalformedJson(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        let text = r.body_text();
        ApiError::Invalid {
            field: field_of(&text),
            message: text,
        }
    }
}

/// `Json` whose rejections are [`ApiError`]s.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(mut value) = Json::<serde_json::Value>::from_request(req, state)
            .await
            .map_err(ApiError::from)?;
        integral_floats_to_integers(&mut value);
        serde_path_to_error::deserialize(value)
            .map(ApiJson)
            .map_err(|e| {
                let path = e.path().to_string();
                let text = if path == "." {
                    format!(
                        "Failed to deserialize the JSON body into the target type: {}",
                        e.inner()
                    )
                } else {
                    format!(
                        "Failed to deserialize the JSON body into the target type: {path}: {}",
                        e.inner()
                    )
                };
                ApiError::Invalid {
                    field: field_of(&text),
                    message: text,
                }
            })
    }
}

/// JSON has one number type: `1.0` is the integer 1 to JSON Schema (and to the OpenAPI
/// document's `integer` fields), though serde refuses it for an integer field. Integral values
/// written with a fraction or exponent become integers, so every integer the document allows
/// is accepted; fractional ones stay and are refused by the integer fields that get them.
fn integral_floats_to_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                // Within the range where the cast is exact for integral values.
                if f.fract() == 0.0 && (0.0..1.8e19).contains(&f) {
                    *n = serde_json::Number::from(f as u64);
                } else if f.fract() == 0.0 && (-9.2e18..0.0).contains(&f) {
                    *n = serde_json::Number::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_to_integers),
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

/// `Query` whose rejections are [`ApiError`]s.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(ApiError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_in_serde_messages() {
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: rate_bps: invalid type: string \"x\", expected u64 at line 1 column 20").as_deref(),
            Some("rate_bps")
        );
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: unknown field `colour`, expected one of `src`").as_deref(),
            Some("colour")
        );
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: missing field `dst` at line 1 column 2").as_deref(),
            Some("dst")
        );
        // `?limit=1&limit=2`: the repeated parameter is named.
        assert_eq!(
            field_of("Failed to deserialize query string: duplicate field `limit`").as_deref(),
            Some("limit")
        );
    }
}
