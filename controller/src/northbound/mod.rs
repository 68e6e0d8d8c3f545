//! The northbound REST API (axum), versioned under `/api/v1`, with its OpenAPI document, the
//! server-sent event stream, Prometheus metrics at `/metrics` and the dashboard at `/`.
//!
//! Endpoints (all JSON; ids as in `core::naming`):
//! - `GET devices`, `links`, `hosts`, `paths?src=&dst=&bandwidth=` — topology and live rates;
//! - `GET forecasts/links/{id}`, `forecasts/pairs/{src}/{dst}` — history, one-step forecasts
//!   made for it, the forecast ahead with 80/95 % intervals, model, recent error;
//! - `GET anomalies`, `decisions` — bounded logs, oldest first;
//! - `POST reservations`, `GET reservations[/{id}]`, `DELETE reservations/{id}`;
//!   `POST whatif` — admission on a copy of the ledger;
//! - `GET/POST services`, `GET/DELETE services/{name}`, `PUT services/{name}/backends` (the
//!   orchestrator's instances), `GET translations`, `GET hooks` — see [`services`];
//! - `POST/GET services/{name}/instances`, `PUT/DELETE services/{name}/instances/{address}`
//!   (pre-assignment), `GET tenants`, `tenants/{tenant}/addresses`, `pools` — see `instances`;
//! - `GET/POST calendar`, `DELETE calendar/{id}` — scheduled events, see `calendar`;
//! - `GET events` — server-sent events; `GET openapi.json`; and `/metrics`, `/` outside `/api/v1`;
//! - `GET cluster` — leader, term and members in cluster mode (see [`cluster`]).
//!
//! Invariants: every error is the one JSON shape of [`dto::ErrorBody`], its status chosen in
//! [`ApiError::detail`] only; bad input is never a 500; request bodies refuse unknown fields;
//! every mutating call needs the bearer token (and reads too when `protect_reads`); handlers hold
//! the core's lock only to copy out what they answer with.

pub mod auth;
mod calendar;
pub mod cluster;
mod dashboard;
mod detach;
pub mod dto;
pub mod error;
mod events;
mod forecasts;
mod instances;
mod metrics;
pub mod openapi;
pub mod page;
mod reservations;
pub mod services;
pub mod tls;
mod topology;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post, put, MethodRouter};
use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::core::SharedCore;

pub use auth::{Scope, ScopedToken, Tokens};
pub use error::ApiError;
pub use openapi::ApiDoc;

/// API settings.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    /// Bearer token required by mutating calls; `None` refuses every mutating call.
    pub token: Option<String>,
    /// Require the token for reads too.
    pub protect_reads: bool,
}

impl ApiConfig {
    /// Token from `PRESCIENT_API_TOKEN` (an empty value counts as none); reads open.
    pub fn from_env() -> Self {
        ApiConfig {
            token: std::env::var("PRESCIENT_API_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
            protect_reads: false,
        }
    }
}

/// What every handler gets.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The controller core.
    pub core: Arc<SharedCore>,
    /// Settings.
    pub config: Arc<ApiConfig>,
    /// Cancelled on shutdown; ends the event streams so graceful shutdown completes.
    pub shutdown: CancellationToken,
    /// The state store: reservation changes are committed to it before they are answered.
    pub store: Option<Arc<crate::store::Persister>>,
    /// Cluster mode: writes go to the leader only.
    pub cluster: Option<Arc<crate::cluster::ClusterState>>,
    /// The bearer tokens taken and their scopes (the configured `token` among them, as admin);
    /// replaced whole when the configuration is reloaded.
    pub tokens: Tokens,
}

impl ApiState {
    /// State for `core` with `config`.
    pub fn new(core: Arc<SharedCore>, config: ApiConfig) -> Self {
        let tokens = auth::tokens(config.token.as_deref(), &[]);
        ApiState {
            core,
            config: Arc::new(config),
            shutdown: CancellationToken::new(),
            store: None,
            cluster: None,
            tokens,
        }
    }

    /// The same state taking `tokens` (shared: whoever holds it can rotate them).
    pub fn with_tokens(mut self, tokens: Tokens) -> Self {
        self.tokens = tokens;
        self
    }

    /// The same state for a node of a cluster: writes on followers are redirected.
    pub fn with_cluster(mut self, cluster: Arc<crate::cluster::ClusterState>) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// The same state, committing reservation changes to `store` before answering.
    pub fn with_store(mut self, store: Arc<crate::store::Persister>) -> Self {
        self.store = Some(store);
        self
    }
}

/// The whole HTTP surface.
pub fn router(state: ApiState) -> Router {
    // Each route's methods take the token and leadership checks (route layers); a method a
    // path does not have is answered 405, and an unknown path 404, before either is asked.
    // Innermost, a write's handler runs to completion even if its client hangs up (detach.rs).
    let guard = |methods: MethodRouter<ApiState>| {
        methods
            .route_layer(axum::middleware::from_fn(detach::run_writes_to_completion))
            .route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                cluster::route_writes,
            ))
            .route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                auth::require_token,
            ))
    };
    let api = Router::new()
        .route("/devices", guard(get(topology::devices)))
        .route("/links", guard(get(topology::links)))
        .route("/hosts", guard(get(topology::hosts)))
        .route("/paths", guard(get(topology::paths)))
        .route("/forecasts/links/{id}", guard(get(forecasts::link)))
        .route("/forecasts/pairs/{src}/{dst}", guard(get(forecasts::pair)))
        .route("/anomalies", guard(get(forecasts::anomalies)))
        .route("/decisions", guard(get(forecasts::decisions)))
        .route("/evaluation", guard(get(forecasts::evaluation)))
        .route(
            "/reservations",
            guard(get(reservations::list).post(reservations::create)),
        )
        .route(
            "/reservations/{id}",
            guard(get(reservations::get_one).delete(reservations::delete)),
        )
        .route("/whatif", guard(post(reservations::what_if)))
        .route(
            "/services",
            guard(get(services::list).post(services::create)),
        )
        .route(
            "/services/{name}",
            guard(get(services::get_one).delete(services::delete)),
        )
        .route(
            "/services/{name}/backends",
            guard(put(services::set_backends)),
        )
        .route(
            "/services/{name}/instances",
            guard(get(instances::list).post(instances::create)),
        )
        .route(
            "/services/{name}/instances/{address}",
            guard(put(instances::set_state).delete(instances::release)),
        )
        .route("/tenants", guard(get(instances::tenants)))
        .route(
            "/tenants/{tenant}/addresses",
            guard(get(instances::addresses)),
        )
        .route("/pools", guard(get(instances::pools)))
        .route(
            "/calendar",
            guard(get(calendar::list).post(calendar::create)),
        )
        .route(
            "/calendar/{id}",
            guard(axum::routing::delete(calendar::delete)),
        )
        .route("/translations", guard(get(services::translations)))
        .route("/hooks", guard(get(services::hooks)))
        .route("/events", guard(get(events::stream)))
        .route("/cluster", guard(get(cluster::view)))
        .route("/openapi.json", guard(get(openapi::document)))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    // Behind the token too when reads are protected (Prometheus sends it as a bearer token).
    let metrics = get(metrics::render).route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_token,
    ));
    Router::new()
        .nest("/api/v1", api)
        .layer(axum::extract::DefaultBodyLimit::max(error::MAX_BODY_BYTES))
        .route("/metrics", metrics)
        .merge(dashboard::routes())
        .with_state(state)
}

// Under `nest("/api/v1")` a `Uri` has the prefix stripped (and `/api/v1//whatif` read as
// `/whatif`, a path that exists): the messages quote the path the client sent.
async fn not_found(axum::extract::OriginalUri(uri): axum::extract::OriginalUri) -> ApiError {
    ApiError::NotFound(format!("no such endpoint: {}", uri.path()))
}

async fn method_not_allowed(
    method: axum::http::Method,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
) -> ApiError {
    ApiError::MethodNotAllowed(format!("{} does not take {method}", uri.path()))
}

/// Serves the API on `addr` until `shutdown` is cancelled.
pub async fn serve(
    addr: SocketAddr,
    state: ApiState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(listener, state, shutdown).await
}

/// Serves the API on an already-bound listener (tests bind `127.0.0.1:0`).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    mut state: ApiState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    state.shutdown = shutdown.clone();
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
