//! `GET /api/v1/events`: the event bus as server-sent events. Each event's SSE name is its
//! `type` (`topology`, `tick`, `decision`, `anomaly`, `address`); a `hello` event opens the stream once the
//! subscription exists, and a subscriber that fell behind gets a `lagged` event with the number
//! of events it missed. The stream ends on shutdown.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

use super::dto::ErrorBody;
use super::ApiState;
use crate::core::ControllerEvent;

fn name(e: &ControllerEvent) -> &'static str {
    match e {
        ControllerEvent::Topology { .. } => "topology",
        ControllerEvent::Tick { .. } => "tick",
        ControllerEvent::Decision(_) => "decision",
        ControllerEvent::Anomaly(_) => "anomaly",
        ControllerEvent::Address(_) => "address",
    }
}

/// The live event stream.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(("access_token" = Option<String>, Query,
        description = "The API token, for clients that cannot send headers (EventSource); \
            accepted on this endpoint only, and only needed when reads are protected")),
    responses((status = 200, description = "text/event-stream of ControllerEvent JSON objects",
        content_type = "text/event-stream", body = ControllerEvent),
        (status = 401, description = "Reads are protected and no valid token was given",
        body = ErrorBody)))]
pub async fn stream(
    State(s): State<ApiState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = s.core.subscribe();
    let shutdown = s.shutdown.clone();
    let hello = stream::once(async { Ok(Event::default().event("hello").data("subscribed")) });
    let events = stream::unfold((rx, shutdown), |(mut rx, shutdown)| async move {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return None,
            r = rx.recv() => r,
        };
        let event = match next {
            Ok(e) => match Event::default().event(name(&e)).json_data(&e) {
                Ok(ev) => ev,
                // Serialising our own records cannot fail; say so rather than drop the stream.
                Err(err) => Event::default().event("error").data(err.to_string()),
            },
            Err(RecvError::Lagged(n)) => Event::default().event("lagged").data(n.to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), (rx, shutdown)))
    });
    Sse::new(futures::StreamExt::chain(hello, events)).keep_alive(KeepAlive::default())
}
