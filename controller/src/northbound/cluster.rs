//! Cluster mode over REST: `GET /api/v1/cluster`, and the layer that sends writes to the
//! leader. A write to a follower is answered 307 with the leader's API address (a client
//! repeats the same method and body there); with no leader it is 503 `no_leader` with
//! `leader: null`; on a node cut off from etcd it is 503 `store_unavailable`, while reads keep
//! answering from the node's replica.

use axum::extract::{OriginalUri, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::dto::ErrorDetail;
use super::{ApiError, ApiState};
use crate::cluster::ClusterView;

/// The cluster: leader, term, members with their role and health.
#[utoipa::path(get, path = "/api/v1/cluster", tag = "cluster",
    responses((status = 200, description = "The cluster as this node sees it (single-process mode: no leader, term 0, no members)", body = ClusterView)))]
pub async fn view(State(s): State<ApiState>) -> Json<ClusterView> {
    Json(match &s.cluster {
        Some(c) => c.view(),
        None => ClusterView {
            leader: None,
            term: 0,
            node: None,
            members: Vec::new(),
        },
    })
}

/// The body of a 503 while no node leads.
#[derive(Debug, Serialize)]
struct NoLeader {
    error: ErrorDetail,
    leader: Option<String>,
}

/// Lets reads through everywhere and writes through on the leader only.
pub async fn route_writes(State(s): State<ApiState>, req: Request, next: Next) -> Response {
    let Some(cluster) = &s.cluster else {
        return next.run(req).await;
    };
    let read = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        // Admission on a copy of the ledger: changes nothing, any node answers it.
        || req.uri().path() == "/whatif";
    if read || cluster.is_leader() {
        return next.run(req).await;
    }
    let status = cluster.status();
    let path = req
        .extensions()
        .get::<OriginalUri>()
        .map(|u| u.0.clone())
        .unwrap_or_else(|| req.uri().clone());
    let path = path
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    match status.current {
        _ if !status.etcd_reachable => ApiError::StoreUnavailable(format!(
            "node {} cannot reach etcd at {}; nothing was changed (reads still answer from this node's copy)",
            cluster.me().name,
            cluster.config().endpoints.join(",")
        ))
        .into_response(),
        Some((leader, _)) if leader.name != cluster.me().name => {
            let location = format!("{}{path}", leader.api.trim_end_matches('/'));
            let mut resp = (
                StatusCode::TEMPORARY_REDIRECT,
                Json(serde_json::json!({ "leader": leader.name, "api": leader.api })),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp
        }
        // This node is named leader but may not act (its lease is not fresh): its writes
        // would be fenced off, so it says so rather than redirecting to itself.
        Some(_) => ApiError::StoreUnavailable(format!(
            "node {} has not renewed its leadership in time; nothing was changed",
            cluster.me().name
        ))
        .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(NoLeader {
                error: ErrorDetail {
                    code: "no_leader".into(),
                    message: "no node leads the cluster right now (an election is under way); retry shortly".into(),
                    field: None,
                    bottleneck_link: None,
                    missing_bps: None,
                },
                leader: None,
            }),
        )
            .into_response(),
    }
}
