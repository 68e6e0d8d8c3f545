//! The OpenAPI 3 document, generated from the handlers and DTOs. Checked in at
//! `controller/openapi.json`; `tests/tests/rest_api.rs` fails when the two drift.

use axum::Json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::dto;
use super::{calendar, cluster, events, forecasts, instances, reservations, services, topology};
use crate::core::{Anomaly, ControllerEvent, Decision, Rule};

/// Declares the bearer scheme mutating calls reference.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// Documents the answers an operation can give whatever its handler does, so that a client (or
/// a schema-driven fuzzer) finds every status it can receive: a body that is not JSON (400),
/// not `application/json` (415) or not valid (422); a path or query parameter that does not
/// parse (422); the token missing (401: writes always, reads with `protect_reads`); and, in
/// cluster mode, a write sent to a follower (307 to the leader) or while there is no leader or
/// no store (503).
struct CommonAnswers;

impl CommonAnswers {
    fn add(op: &mut Operation, status: &str, why: &str) {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| {
                RefOr::T(
                    ResponseBuilder::new()
                        .description(why)
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("ErrorBody")))
                                .build(),
                        )
                        .build(),
                )
            });
    }
}

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.delete.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                exact_parameters(op);
            }
            let reads = [item.get.as_mut()];
            let writes = [item.post.as_mut(), item.put.as_mut(), item.delete.as_mut()];
            for op in reads.into_iter().flatten() {
                Self::add(
                    op,
                    "401",
                    "Missing or wrong bearer token (with `protect_reads`)",
                );
                Self::add(
                    op,
                    "403",
                    "`insufficient_scope`: the token may not read (with `protect_reads`)",
                );
                if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    Self::add(op, "422", "A parameter does not parse (`field` names it)");
                }
            }
            for op in writes.into_iter().flatten() {
                Self::add(op, "401", "Missing or wrong bearer token");
                Self::add(op, "403", "`insufficient_scope`: the token may only read");
                if op.request_body.is_some() {
                    Self::add(op, "400", "The body is not JSON");
                    Self::add(
                        op,
                        "413",
                        "The body is longer than 2 MiB (`payload_too_large`)",
                    );
                    Self::add(op, "415", "The body is not `application/json`");
                    Self::add(op, "422", "A field is invalid (`field` names it)");
                } else if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    Self::add(op, "422", "A parameter does not parse (`field` names it)");
                }
                Self::add(
                    op,
                    "307",
                    "Cluster mode: this node is a follower; repeat the request at `Location`, the leader",
                );
                Self::add(
                    op,
                    "503",
                    "Cluster mode: no leader (`no_leader`), or the store cannot commit (`store_unavailable`)",
                );
            }
        }
    }
}

/// utoipa infers path parameters from the handlers' `Path` extractors as plain strings; where
/// a handler describes them itself (with the pattern the server parses), that description wins
/// and the inferred duplicate goes. Path parameters are always required (the derive drops
/// `required` from parameters whose schema comes from a function).
fn exact_parameters(op: &mut Operation) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::Required;
    let Some(params) = op.parameters.as_mut() else {
        return;
    };
    let described = |p: &utoipa::openapi::path::Parameter| {
        serde_json::to_value(&p.schema).is_ok_and(|s| s.get("pattern").is_some())
    };
    let mut kept: Vec<utoipa::openapi::path::Parameter> = Vec::new();
    for p in params.drain(..) {
        match kept
            .iter_mut()
            .find(|k| k.name == p.name && k.parameter_in == p.parameter_in)
        {
            Some(k) if described(&p) && !described(k) => *k = p,
            Some(_) => {}
            None => kept.push(p),
        }
    }
    for p in &mut kept {
        if p.parameter_in == ParameterIn::Path {
            p.required = Required::True;
        }
    }
    *params = kept;
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Prescient northbound API", version = "1",
        description = "Predictive SDN controller: topology, forecasts, reservations, decisions."),
    paths(
        topology::devices, topology::links, topology::hosts, topology::paths,
        forecasts::link, forecasts::pair, forecasts::anomalies, forecasts::decisions,
        forecasts::evaluation,
        reservations::create, reservations::list, reservations::get_one, reservations::delete,
        reservations::what_if, events::stream, document,
        services::create, services::list, services::get_one, services::delete,
        services::set_backends, services::translations, services::hooks,
        instances::create, instances::list, instances::set_state, instances::release,
        instances::tenants, instances::addresses, instances::pools,
        cluster::view,
        calendar::list, calendar::create, calendar::delete,
    ),
    components(schemas(
        dto::ErrorBody, dto::ErrorDetail, dto::DeviceDto, dto::PortDto, dto::LinkDto,
        dto::ForecastSummary, dto::HostDto, dto::PathDto, dto::PointDto, dto::ErrorDto,
        dto::ForecastDto, dto::FlowMatchDto, dto::ReservationBody, dto::ReservationDto,
        dto::CreatedDto, dto::WhatIfBody, dto::WhatIfOutcomeDto, dto::LinkProjectionDto,
        dto::WhatIfDto, Anomaly, Decision, Rule, ControllerEvent,
        forecasts::LiveEvaluationDto, crate::evaluate::live::Comparison,
        crate::evaluate::PolicyScore, crate::evaluate::PolicyKind,
        services::ServiceBody, services::ServiceBackendBody, services::BackendReportBody,
        services::BackendsBody, services::BackendDto, services::DemandDto, services::ServiceDto,
        services::ServiceChangeDto, services::TranslationDto, services::HooksDto,
        crate::services::HookCall, crate::services::HookRecord, crate::services::HookForecast,
        crate::services::HookKind, crate::services::HookStatus, crate::services::LeaseKind,
        instances::InstanceBody, instances::InstanceStateBody, instances::InstanceState,
        instances::InstanceDto, instances::InstanceChangeDto, instances::TenantDto,
        instances::LeaseDto, instances::PoolDto, crate::services::AddressRecord,
        crate::services::AddressChange, crate::services::AddressOp,
        crate::cluster::ClusterView, crate::cluster::MemberView,
        calendar::EventBody, crate::core::calendar::CalendarEvent,
        crate::core::calendar::EventScope, crate::core::calendar::Effect,
    )),
    modifiers(&Bearer, &CommonAnswers),
)]
pub struct ApiDoc;

/// The document as pretty JSON with a trailing newline (the checked-in form).
pub fn pretty() -> String {
    let mut s = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3 document", body = Object)))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
