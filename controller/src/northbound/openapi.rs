//! The OpenAPI 3 document, generated from the handlers and DTOs. Checked in at
//! `controller/openapi.json`; `tests/tests/rest_api.rs` fails when the two drift.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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
    modifiers(&Bearer),
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
