//! `GET/POST /api/v1/calendar`, `DELETE /api/v1/calendar/{id}`: scheduled events that feed
//! the services' demand and the series' forecasts (see `core::calendar`): from the configured
//! lead time (`[planning] calendar_lead_secs`) before an event until its end, the services it
//! concerns are planned on its multiplier or absolute demand; the forecasts of the host pairs
//! and links it concerns take it at the steps it covers; the decisions say so. Events are
//! kept in the state store (redb, or etcd in cluster mode): a change is answered once
//! committed, and undone when the store refuses it (503). One that is over is removed by the
//! control tick once `[planning] calendar_retention_secs` have passed since its last
//! occurrence's end, as a DELETE would (a `calendar_event_pruned` decision says so).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::dto::ErrorBody;
use super::error::{ApiError, ApiJson};
use super::topology::endpoint;
use super::ApiState;
use crate::core::calendar::{CalendarEvent, Effect, EventScope};
use crate::core::Endpoint;
use crate::vocab::{formats, MAX_RATE_BPS};

/// The last second of the year 9999 (RFC 3339's last), seconds since the epoch: the latest
/// time, and the longest period, an event may be given.
const LAST_SECOND: u64 = 253_402_300_799;

/// A new scheduled event: exactly one of `multiplier` and `absolute_bps`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// Name (`[A-Za-z0-9._-]`, at most 64), quoted in the decisions it influences.
    #[schema(schema_with = formats::name)]
    pub name: String,
    /// Start, seconds since the epoch (at most the last second of the year 9999).
    #[schema(maximum = 253_402_300_799_u64)]
    pub start_secs: u64,
    /// End, seconds since the epoch (after the start; at most the last second of 9999).
    #[schema(maximum = 253_402_300_799_u64)]
    pub end_secs: u64,
    /// Repeats every this many seconds (longer than the event; at most 9999 years).
    #[serde(default)]
    #[schema(maximum = 253_402_300_799_u64)]
    pub every_secs: Option<u64>,
    /// With `every_secs`: the last start a repetition may have, seconds since the epoch
    /// (inclusive, as iCalendar's RRULE UNTIL; at or after `start_secs`, at most the last
    /// second of 9999). Absent: it repeats forever.
    #[serde(default)]
    #[schema(maximum = 253_402_300_799_u64)]
    pub until_secs: Option<u64>,
    /// What it concerns (default everything: every service and every series). A pair's hosts
    /// are given by MAC or by a known host's IPv4 address (kept as MACs).
    #[serde(default = "all")]
    pub scope: EventScope,
    /// Expected demand, times the forecast (finite, at least 0).
    #[serde(default)]
    #[schema(minimum = 0)]
    pub multiplier: Option<f64>,
    /// Expected demand, bits/s (at least; the forecast wins when higher), at most 10^13.
    #[serde(default)]
    #[schema(maximum = 10_000_000_000_000_u64)]
    pub absolute_bps: Option<u64>,
}

fn all() -> EventScope {
    EventScope::All
}

/// Every scheduled event, by id.
///
/// Those to come, those on, and those over for less than the retention,
/// `[planning] calendar_retention_secs` (7 days by default): the control tick removes them
/// then, as a DELETE would, with a `calendar_event_pruned` decision. A repeating event
/// without `until_secs` is never over.
#[utoipa::path(get, path = "/api/v1/calendar", tag = "calendar",
    responses((status = 200, description = "Scheduled events", body = [CalendarEvent])))]
pub async fn list(State(s): State<ApiState>) -> Json<Vec<CalendarEvent>> {
    Json(s.core.read(|c| c.calendar().cloned().collect()))
}

/// Schedules an event.
#[utoipa::path(post, path = "/api/v1/calendar", tag = "calendar",
    request_body = EventBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "An identical event (every field but the id) is scheduled already: that one, unchanged (a repeated POST schedules nothing)", body = CalendarEvent),
        (status = 201, description = "Scheduled", body = CalendarEvent),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 409, description = "`not_in_topology`: a pair's host given by an IPv4 address no known host has", body = ErrorBody),
        (status = 422, description = "Invalid value (times, effect, names; `until_secs` without `every_secs` or before `start_secs`; a scope no series can match: a host paired with itself, a group or the all-zero MAC, a link from a port to itself or on port 0; `name` when the calendar holds 1024 events already)", body = ErrorBody),
        (status = 503, description = "The state store could not commit it; nothing was scheduled", body = ErrorBody)))]
pub async fn create(
    State(s): State<ApiState>,
    ApiJson(body): ApiJson<EventBody>,
) -> Result<(StatusCode, Json<CalendarEvent>), ApiError> {
    // Bounded here, not in the event's own check, so an event stored before the bounds is still
    // restored: past them the values leave the `int64` the document promises.
    for (field, value, max) in [
        ("start_secs", Some(body.start_secs), LAST_SECOND),
        ("end_secs", Some(body.end_secs), LAST_SECOND),
        ("every_secs", body.every_secs, LAST_SECOND),
        ("until_secs", body.until_secs, LAST_SECOND),
        ("absolute_bps", body.absolute_bps, MAX_RATE_BPS),
    ] {
        if let Some(v) = value.filter(|v| *v > max) {
            return Err(ApiError::invalid(
                field,
                format!("{field} {v} is past the largest accepted, {max}"),
            ));
        }
    }
    let effect = match (body.multiplier, body.absolute_bps) {
        (Some(m), None) => Effect::Multiplier(m),
        (None, Some(b)) => Effect::AbsoluteBps(b),
        _ => {
            return Err(ApiError::invalid(
                "multiplier",
                "give exactly one of multiplier and absolute_bps",
            ))
        }
    };
    let scope = match body.scope {
        EventScope::Pair { src, dst } => EventScope::Pair {
            src: host(&src, "scope.src", &s)?,
            dst: host(&dst, "scope.dst", &s)?,
        },
        other => other,
    };
    let event = CalendarEvent {
        id: 0,
        name: body.name,
        start_secs: body.start_secs,
        end_secs: body.end_secs,
        every_secs: body.every_secs,
        until_secs: body.until_secs,
        scope,
        effect,
    };
    // A POST repeated after a lost answer must not schedule the event twice: overlapping
    // multipliers compound, so a copy would double its effect. An identical event (every
    // field but the id) is answered as it stands, 200, and nothing is written.
    let (kept, created) = s
        .core
        .apply(|c| {
            let same = c.calendar().find(|e| {
                CalendarEvent {
                    id: e.id,
                    ..event.clone()
                } == **e
            });
            match same {
                Some(e) => Ok((e.clone(), false)),
                None => c.add_event(event).map(|e| (e, true)),
            }
        })
        .map_err(|e| ApiError::invalid(e.field, e.to_string()))?;
    if !created {
        return Ok((StatusCode::OK, Json(kept)));
    }
    if let Err(e) = commit(&s).await {
        s.core.apply(|c| c.remove_event(kept.id));
        return Err(ApiError::StoreUnavailable(format!(
            "the state store could not commit it, so nothing was scheduled: {e}"
        )));
    }
    Ok((StatusCode::CREATED, Json(kept)))
}

/// A pair scope's host as its MAC's text.
fn host(text: &str, field: &str, s: &ApiState) -> Result<String, ApiError> {
    match endpoint(text, field, &s.core)? {
        Endpoint::Host(mac) => Ok(mac.to_string()),
        Endpoint::Device(d) => Err(ApiError::invalid(
            field,
            format!("{d} is a device; a pair is two hosts (MAC or IPv4 address)"),
        )),
    }
}

/// Writes the calendar (and whatever else is pending) when there is a store.
async fn commit(s: &ApiState) -> Result<(), crate::store::StoreError> {
    match &s.store {
        Some(store) => store.sync_async(&s.core).await.map(|_| ()),
        None => Ok(()),
    }
}

/// Removes a scheduled event.
#[utoipa::path(delete, path = "/api/v1/calendar/{id}", tag = "calendar",
    params(("id" = u64, Path, description = "Event id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Removed; the event as it was", body = CalendarEvent),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such event (never scheduled, deleted, or pruned once over for `calendar_retention_secs`)", body = ErrorBody),
        (status = 503, description = "The state store could not commit it; the event stays", body = ErrorBody)))]
pub async fn delete(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<CalendarEvent>, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::invalid("id", format!("{id:?} is not an event id")))?;
    let gone = s
        .core
        .apply(|c| c.remove_event(id))
        .ok_or_else(|| ApiError::NotFound(format!("no scheduled event {id}")))?;
    if let Err(e) = commit(&s).await {
        s.core.apply(|c| c.restore_event(gone.clone()));
        return Err(ApiError::StoreUnavailable(format!(
            "the state store could not commit it, so the event stays: {e}"
        )));
    }
    Ok(Json(gone))
}
