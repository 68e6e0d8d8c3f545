//! Reservations: create (admission; refusals name the bottleneck link and the missing
//! bandwidth), list, get, delete; and the what-if planner on hypothetical demands.
//!
//! With a state store, a creation is answered 201 only after its commit, and a deletion only
//! after the store forgot it; when the commit fails the change is undone in the core (no meters
//! left behind, nothing removed) and the answer is 503 `store_unavailable`.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use prescient_topology::{FlowMatch, Reservation, ReservationId, Timestamp, Window};

use super::dto::{
    CreatedDto, ErrorBody, FlowMatchDto, LinkProjectionDto, ReservationBody, ReservationDto,
    ReservationStateDto, WhatIfBody, WhatIfDto, WhatIfOutcomeDto,
};
use super::error::{ApiError, ApiJson};
use super::topology::endpoint;
use super::ApiState;
use crate::core::naming::{link_id, parse_link, port_id};
use crate::core::{
    reserve, ControllerCore, ReservationState, ReserveSpec, SharedCore, WhatIfOutcome,
};
use crate::vocab::MAX_RATE_BPS;

/// Highest tier.
const MAX_TIER: u8 = 7;
/// Longest window and furthest start: ten years.
const MAX_SECS: u64 = 10 * 365 * 86_400;
/// Most demands in one what-if.
const MAX_DEMANDS: usize = 64;

/// Checks a request body's values and turns it into a core spec; `prefix` qualifies field
/// names (`demands[2].rate_bps`).
fn spec(
    core: &SharedCore,
    now: Timestamp,
    b: &ReservationBody,
    prefix: &str,
) -> Result<ReserveSpec, ApiError> {
    let f = |name: &str| format!("{prefix}{name}");
    let src = endpoint(&b.src, &f("src"), core)?;
    let dst = endpoint(&b.dst, &f("dst"), core)?;
    // Nothing between an endpoint and itself crosses a link: such a reservation would hold no
    // capacity and police nothing, yet read as granted.
    if src == dst {
        return Err(ApiError::invalid(
            f("dst"),
            format!(
                "dst {} is src: a reservation between an endpoint and itself crosses no link",
                b.dst
            ),
        ));
    }
    if b.rate_bps == 0 || b.rate_bps > MAX_RATE_BPS {
        return Err(ApiError::invalid(
            f("rate_bps"),
            format!("rate_bps {} is outside 1 ..= {MAX_RATE_BPS}", b.rate_bps),
        ));
    }
    if b.tier > MAX_TIER {
        return Err(ApiError::invalid(
            f("tier"),
            format!("tier {} is outside 0 ..= {MAX_TIER}", b.tier),
        ));
    }
    if b.start_in_secs > MAX_SECS {
        return Err(ApiError::invalid(
            f("start_in_secs"),
            format!(
                "start_in_secs {} is beyond ten years ({MAX_SECS})",
                b.start_in_secs
            ),
        ));
    }
    let start = now.plus(Duration::from_secs(b.start_in_secs));
    let end = match b.duration_secs {
        None => Timestamp(u64::MAX),
        Some(d) if d == 0 || d > MAX_SECS => {
            return Err(ApiError::invalid(
                f("duration_secs"),
                format!("duration_secs {d} is outside 1 ..= {MAX_SECS}"),
            ))
        }
        Some(d) => start.plus(Duration::from_secs(d)),
    };
    if let Some(m) = &b.flow {
        flow_matchable(m, &f("match"))?;
    }
    let path = match &b.path {
        None => None,
        Some(ids) => Some(
            ids.iter()
                .enumerate()
                .map(|(i, id)| {
                    parse_link(id).ok_or_else(|| {
                        ApiError::invalid(
                            format!("{prefix}path[{i}]"),
                            format!("{id:?} is not a link id `<device>:<port>,<device>:<port>`"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let spec = ReserveSpec {
        src,
        dst,
        rate_bps: b.rate_bps,
        tier: b.tier,
        window: Window::new(start, end),
        // The core adds the ends' MACs where they are hosts.
        flow: b.flow.as_ref().map(|m| FlowMatch {
            src_mac: None,
            dst_mac: None,
            src_ip: m.src_ip,
            dst_ip: m.dst_ip,
            ip_proto: m.ip_proto,
            src_port: m.src_port,
            dst_port: m.dst_port,
        }),
        path,
    };
    // Checked here too, so a what-if demand naming no host is refused as a bad request, not
    // answered as a refused admission.
    reserve::subject(&spec).map_err(|e| ApiError::invalid(f("match"), e.to_string()))?;
    Ok(spec)
}

/// Refuses a match the switches cannot hold as asked: OpenFlow matches a transport port only
/// under its protocol (TCP 6 or UDP 17), so a port without one would be installed as every
/// IPv4 packet of the ends (or, between switches, of everyone) on the path's ports; an empty
/// match narrows nothing and says so.
fn flow_matchable(m: &FlowMatchDto, field: &str) -> Result<(), ApiError> {
    let port = m
        .src_port
        .map(|p| ("src_port", p))
        .or(m.dst_port.map(|p| ("dst_port", p)));
    if let Some((name, p)) = port {
        match m.ip_proto {
            Some(6 | 17) => {}
            Some(proto) => {
                return Err(ApiError::invalid(
                    format!("{field}.ip_proto"),
                    format!(
                        "{name} {p} with ip_proto {proto}: transport ports are matched under TCP (6) or UDP (17) only"
                    ),
                ))
            }
            None => {
                return Err(ApiError::invalid(
                    format!("{field}.ip_proto"),
                    format!(
                        "{name} {p} without ip_proto: give 6 (TCP) or 17 (UDP), or the port could not be matched"
                    ),
                ))
            }
        }
    }
    let empty = m.src_ip.is_none() && m.dst_ip.is_none() && m.ip_proto.is_none() && port.is_none();
    if empty {
        return Err(ApiError::invalid(
            field,
            "an empty match narrows nothing and would select every IPv4 packet on the path; omit `match` to reserve for the traffic between src and dst",
        ));
    }
    Ok(())
}

/// The representation of `r` as the core now sees it.
fn dto(c: &ControllerCore, r: &Reservation) -> ReservationDto {
    let state = match c.reservation_state(r.id) {
        Some(ReservationState::Restoring) => ReservationStateDto::Restoring,
        Some(ReservationState::Failed) => ReservationStateDto::Failed,
        _ => ReservationStateDto::Active,
    };
    let failed = state == ReservationStateDto::Failed;
    let held_ports: Vec<String> = c
        .desired_meters()
        .get(&r.id)
        .map(|ps| ps.iter().map(|p| port_id(*p)).collect())
        .unwrap_or_default();
    let policed = c.policed(r.id);
    ReservationDto {
        id: r.id.0,
        state,
        origin: c.reservation_origin(r.id),
        policed,
        meter_ports: if policed {
            held_ports.clone()
        } else {
            Vec::new()
        },
        held_ports,
        src: r.request.src.to_string(),
        dst: r.request.dst.to_string(),
        subject: serde_json::to_value(&r.request.subject).unwrap_or(serde_json::Value::Null),
        rate_bps: r.request.rate_bps,
        tier: r.request.tier,
        start_ns: r.request.window.start.nanos(),
        end_ns: r.request.window.end.nanos(),
        // A failed reservation holds no path.
        path: if failed {
            Vec::new()
        } else {
            r.request.path.iter().map(|l| link_id(*l)).collect()
        },
    }
}

/// Why a commit failed, for the client.
fn unavailable(e: &crate::store::StoreError, what: &str) -> ApiError {
    ApiError::StoreUnavailable(format!(
        "the state store could not commit it, so {what}: {e}"
    ))
}

fn parse_id(text: &str) -> Result<ReservationId, ApiError> {
    text.parse::<u64>().map(ReservationId).map_err(|_| {
        ApiError::invalid(
            "id",
            format!("{text:?} is not a reservation id (an integer)"),
        )
    })
}

/// Admits a reservation.
#[utoipa::path(post, path = "/api/v1/reservations", tag = "reservations",
    request_body = ReservationBody, security(("bearer" = [])),
    responses(
        (status = 201, description = "Admitted", body = CreatedDto),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 409, description = "`insufficient_bandwidth` (names the bottleneck), `no_path`, or `not_in_topology` (a host, device or link the topology does not have)", body = ErrorBody),
        (status = 422, description = "Invalid value", body = ErrorBody),
        (status = 503, description = "The state store could not commit it; nothing was reserved", body = ErrorBody)))]
pub async fn create(
    State(s): State<ApiState>,
    ApiJson(body): ApiJson<ReservationBody>,
) -> Result<(StatusCode, Json<CreatedDto>), ApiError> {
    let now = s.core.now();
    let spec = spec(&s.core, now, &body, "")?;
    let (done, view) = s.core.apply(|c| {
        c.reserve(now, &spec).map(|done| {
            let view = dto(c, &done.reservation);
            (done, view)
        })
    })?;
    if let Some(store) = &s.store {
        if let Err(e) = store.sync_async(&s.core).await {
            let undo = s
                .core
                .apply(|c| c.undo_admission(now, &done, &format!("store: {e}")));
            s.core.dispatch(undo);
            return Err(unavailable(&e, "nothing was reserved"));
        }
    }
    s.core.dispatch(done.actions.clone());
    Ok((
        StatusCode::CREATED,
        Json(CreatedDto {
            reservation: view,
            preempted: done.preempted.iter().map(|r| r.id.0).collect(),
            actions: done.actions.iter().map(|a| a.summary()).collect(),
            decision: done.decision,
        }),
    ))
}

/// All reservations.
#[utoipa::path(get, path = "/api/v1/reservations", tag = "reservations",
    responses((status = 200, description = "Reservations", body = [ReservationDto])))]
pub async fn list(State(s): State<ApiState>) -> Json<Vec<ReservationDto>> {
    Json(s.core.read(|c| {
        c.ledger()
            .reservations()
            .chain(c.failed_reservations())
            .map(|r| dto(c, r))
            .collect()
    }))
}

/// One reservation.
#[utoipa::path(get, path = "/api/v1/reservations/{id}", tag = "reservations",
    params(("id" = u64, Path, description = "Reservation id")),
    responses(
        (status = 200, description = "The reservation", body = ReservationDto),
        (status = 404, description = "No such reservation", body = ErrorBody),
        (status = 422, description = "Not an id", body = ErrorBody)))]
pub async fn get_one(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<ReservationDto>, ApiError> {
    let id = parse_id(&id)?;
    s.core
        .read(|c| c.reservation(id).map(|r| dto(c, r)))
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("reservation {} does not exist", id.0)))
}

/// Releases a reservation.
#[utoipa::path(delete, path = "/api/v1/reservations/{id}", tag = "reservations",
    params(("id" = u64, Path, description = "Reservation id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Released; the reservation as it was", body = ReservationDto),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such reservation", body = ErrorBody),
        (status = 409, description = "A forecast reservation: the planning policy owns it (turn off planning.reserve to have none)", body = ErrorBody),
        (status = 503, description = "The state store could not commit it; the reservation stays", body = ErrorBody)))]
pub async fn delete(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<ReservationDto>, ApiError> {
    let id = parse_id(&id)?;
    let now = s.core.now();
    let (r, actions, view, prior) = s
        .core
        .apply(|c| {
            // Released, the policy would admit it again at the next tick: a DELETE that
            // answers 200 and changes nothing would mislead.
            if c.reservation_origin(id) == crate::core::Origin::Forecast {
                return Err(ApiError::PolicyOwned(format!(
                    "reservation {} is a forecast reservation owned by the planning policy, which would admit it again at its next round; set planning.reserve = false to have none",
                    id.0
                )));
            }
            let view = c.reservation(id).map(|r| dto(c, r));
            let prior = c.prior(id);
            c.release(now, id)
                .map(|(r, actions)| (r, actions, view, prior))
                .map_err(|e| ApiError::from(crate::core::ReserveError::from(e)))
        })?;
    if let Some(store) = &s.store {
        if let Err(e) = store.sync_async(&s.core).await {
            let why = format!("store: {e}");
            let undone = match prior {
                Some(prior) => s
                    .core
                    .apply(|c| c.undo_release(now, r.clone(), prior, &why))
                    .map_err(|e| e.to_string()),
                None => Err("it was not found as it stood before".to_string()),
            };
            if let Err(kept) = undone {
                // Capacity was taken meanwhile: the release stands, the store retries it.
                s.core.dispatch(actions);
                return Err(ApiError::StoreUnavailable(format!(
                    "the state store could not commit the release ({e}), and the reservation could not be put back as it was ({kept}): it is released, and the store forgets it at its next write"
                )));
            }
            return Err(unavailable(
                &e,
                "the reservation was not released and stands as it was",
            ));
        }
    }
    s.core.dispatch(actions);
    Ok(Json(view.unwrap_or_else(|| s.core.read(|c| dto(c, &r)))))
}

/// Runs admission of hypothetical demands on a copy of the ledger: nothing is reserved and no
/// switch is touched.
#[utoipa::path(post, path = "/api/v1/whatif", tag = "reservations",
    request_body = WhatIfBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "What would happen", body = WhatIfDto),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 409, description = "`not_in_topology`: a demand names a host, device or link the topology does not have", body = ErrorBody),
        (status = 422, description = "Invalid value", body = ErrorBody)))]
pub async fn what_if(
    State(s): State<ApiState>,
    ApiJson(body): ApiJson<WhatIfBody>,
) -> Result<Json<WhatIfDto>, ApiError> {
    if body.demands.is_empty() || body.demands.len() > MAX_DEMANDS {
        return Err(ApiError::invalid(
            "demands",
            format!("{} demands; give 1 ..= {MAX_DEMANDS}", body.demands.len()),
        ));
    }
    let now = s.core.now();
    let specs = body
        .demands
        .iter()
        .enumerate()
        .map(|(i, d)| spec(&s.core, now, d, &format!("demands[{i}].")))
        .collect::<Result<Vec<_>, _>>()?;
    let w = s.core.read(|c| c.what_if(&specs));
    Ok(Json(WhatIfDto {
        outcomes: w
            .outcomes
            .into_iter()
            .map(|o| match o {
                WhatIfOutcome::Admitted { path, preempted } => WhatIfOutcomeDto {
                    admitted: true,
                    path: path.iter().map(|l| link_id(*l)).collect(),
                    preempted: preempted.iter().map(|r| r.0).collect(),
                    error: None,
                },
                WhatIfOutcome::Refused(e) => WhatIfOutcomeDto {
                    admitted: false,
                    path: Vec::new(),
                    preempted: Vec::new(),
                    error: Some(ApiError::from(e).detail().1),
                },
            })
            .collect(),
        links: w
            .links
            .into_iter()
            .map(|l| LinkProjectionDto {
                link: link_id(l.link),
                capacity_bps: l.capacity_bps,
                reserved_bps: l.reserved_bps,
                predicted_bps: l.predicted_bps,
                would_be_hot: l.would_be_hot,
            })
            .collect(),
    }))
}
