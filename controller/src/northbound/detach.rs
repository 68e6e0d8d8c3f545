//! Writes run to completion, whether or not their client waits for the answer.
//!
//! axum (hyper, under it) drops a handler's future when its client hangs up. A write's handler
//! decides in the core, awaits the state store's commit, then hands the change's actions to
//! the driver (or undoes the change if the store refused it): dropped at that await, the change
//! stood in the core and the store with its actions never sent, so a reservation was listed and
//! counted but no switch metered it, until a restart. Every call that may change state (any
//! method but the safe ones) therefore runs as a task of its own that the request only awaits,
//! as dropshot's `DetachFromClient`; reads stay cancellable (a long evaluation a client gave up
//! on is not worth finishing).

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Runs a state-changing call's handler as its own task; safe methods as they are.
pub async fn run_writes_to_completion(req: Request, next: Next) -> Response {
    if req.method().is_safe() {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    match tokio::spawn(next.run(req)).await {
        Ok(response) => response,
        // A handler that panics fails its request as it did when it ran in the request's own
        // task; the controller goes on either way.
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        // Only a runtime shutting down cancels a spawned task: no client reads this answer.
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{method} {path}: the controller is shutting down"),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests;
