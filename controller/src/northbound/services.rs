//! Services, translations and hooks: create, list, get and delete services; the orchestrator
//! reports the instances it runs (`PUT .../backends`, an instance without an address gets a
//! pre-reserved shadow or a dynamic one); the translation records the controller programmed;
//! the hook calls waiting and their recent outcomes. Errors of the services layer map to the one
//! error shape here: unknown service 404, everything else a 422 naming the field.
//!
//! With a state store, a creation, a deletion and a backend report are answered only once the
//! service as it now stands (definition, backends, every address lease) is committed. When the
//! commit fails the change is undone in the core (the service as it was, programmed as it was)
//! and the answer is 503 `store_unavailable`.

use std::net::Ipv4Addr;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::ErrorBody;
use super::error::{ApiError, ApiJson};
use super::ApiState;
use crate::core::naming::parse_mac;
use crate::core::Action;
use crate::services::ServiceRecord;
use crate::services::{
    Backend, BackendReport, HookCall, HookRecord, InstanceConflict, LeaseKind, PoolError,
    ServiceSpec, ServiceView, ServicesError,
};
use crate::vocab::{formats, MAX_RATE_BPS};

/// A backend given when a service is created.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceBackendBody {
    /// Physical address (inside the service's pool).
    #[schema(schema_with = formats::ipv4)]
    pub ip: Ipv4Addr,
    /// MAC, `aa:bb:cc:dd:ee:ff`, unicast.
    #[schema(schema_with = formats::unicast_mac)]
    pub mac: String,
    /// Load-balancing weight (default 1).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 65535)]
    pub weight: Option<u16>,
}

/// A new service.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceBody {
    /// Unique name (`[A-Za-z0-9._-]`, at most 64).
    #[schema(schema_with = formats::name)]
    pub name: String,
    /// Owner; pools are per tenant (`[A-Za-z0-9._-]`, at most 64).
    #[schema(schema_with = formats::name)]
    pub tenant: String,
    /// Logical address clients use (outside the pool).
    #[schema(schema_with = formats::ipv4)]
    pub vip: Ipv4Addr,
    /// MAC replies appear from, unicast; derived from the VIP when absent.
    #[serde(default)]
    #[schema(schema_with = formats::optional_unicast_mac)]
    pub vip_mac: Option<String>,
    /// Pool of physical addresses, `a.b.c.d/len`.
    #[schema(schema_with = formats::ipv4_prefix)]
    pub pool: ipnetwork::Ipv4Network,
    /// Instances running now.
    #[serde(default)]
    pub backends: Vec<ServiceBackendBody>,
    /// Priority for pool addresses (default 0).
    #[serde(default)]
    #[schema(maximum = 255)]
    pub tier: u8,
    /// Traffic one instance serves, bits/s, 1 ..= 10^13.
    #[schema(minimum = 1, maximum = 10_000_000_000_000_u64)]
    pub instance_capacity_bps: u64,
    /// Fewest instances (default 1; at most `max_instances` and the pool's usable addresses).
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 1024)]
    pub min_instances: u32,
    /// Most instances (default 8).
    #[serde(default = "eight")]
    #[schema(minimum = 1, maximum = 1024)]
    pub max_instances: u32,
    /// Policy name (default `default`).
    #[serde(default)]
    pub policy: Option<String>,
}

fn one() -> u32 {
    1
}

fn eight() -> u32 {
    8
}

/// An instance as the orchestrator reports it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackendReportBody {
    /// Its address; absent: the controller assigns one (a shadow reserved for it, else a free
    /// address of the pool).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "10.1.0.2", format = Ipv4)]
    pub ip: Option<Ipv4Addr>,
    /// MAC, `aa:bb:cc:dd:ee:ff`, unicast.
    #[schema(schema_with = formats::unicast_mac)]
    pub mac: String,
    /// Load-balancing weight (default 1).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 65535)]
    pub weight: Option<u16>,
}

/// The instances running now (replaces the backend list).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackendsBody {
    /// Every instance running.
    pub backends: Vec<BackendReportBody>,
}

/// A backend and how its address was leased.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackendDto {
    /// Physical address.
    pub ip: String,
    /// MAC.
    pub mac: String,
    /// Weight.
    pub weight: u16,
    /// How the address was leased.
    pub lease: LeaseKind,
}

/// A service's forecast demand.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DemandDto {
    /// Highest point forecast over the horizon, bits/s.
    pub point_bps: f64,
    /// Highest upper 95 % bound over the horizon, bits/s.
    pub upper95_bps: f64,
    /// Lower 95 % bound at the step of that highest upper bound, bits/s.
    pub lower95_bps: f64,
    /// Host pairs sending to the service.
    pub pairs: usize,
}

/// A service.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceDto {
    /// Service number (names its switch entries).
    pub id: u32,
    /// Name.
    pub name: String,
    /// Tenant.
    pub tenant: String,
    /// Logical address.
    pub vip: String,
    /// MAC replies appear from.
    pub vip_mac: String,
    /// Pool of physical addresses.
    pub pool: String,
    /// Tier.
    pub tier: u8,
    /// Traffic one instance serves, bits/s.
    #[schema(minimum = 1)]
    pub instance_capacity_bps: u64,
    /// Fewest instances.
    pub min_instances: u32,
    /// Most instances.
    pub max_instances: u32,
    /// Policy followed.
    pub policy: String,
    /// Instances running.
    pub backends: Vec<BackendDto>,
    /// Addresses reserved ahead of predicted instances.
    pub shadows: Vec<String>,
    /// Latest demand forecast, when any host pair sends to it.
    pub demand: Option<DemandDto>,
    /// Instances that forecast needs under the policy.
    pub needed_instances: Option<u32>,
}

/// Answer to a change of a service.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceChangeDto {
    /// The service after (or, for a delete, before) the change.
    pub service: ServiceDto,
    /// What the switches are asked to do, one line each.
    pub actions: Vec<String>,
}

/// One logical → physical translation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TranslationDto {
    /// Service.
    pub service: String,
    /// Tenant.
    pub tenant: String,
    /// Logical address (the VIP).
    pub logical_ip: String,
    /// Logical MAC.
    pub logical_mac: String,
    /// Physical address.
    pub physical_ip: String,
    /// The instance's MAC; absent for a shadow (no instance yet).
    pub physical_mac: Option<String>,
    /// How the address is leased (`shadow`: reserved ahead of a predicted instance).
    pub kind: LeaseKind,
    /// Leased since, nanoseconds since the epoch.
    pub since_ns: u64,
    /// Devices it is programmed on.
    pub devices: usize,
}

/// Hook calls waiting and recently finished.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HooksDto {
    /// Calls not yet taken by the executor, oldest first.
    pub pending: Vec<HookCall>,
    /// Recent outcomes, oldest first.
    pub recent: Vec<HookRecord>,
}

pub(super) fn api_error(e: ServicesError) -> ApiError {
    let msg = e.to_string();
    match e {
        ServicesError::Unknown(_) | ServicesError::NoInstance { .. } => ApiError::NotFound(msg),
        ServicesError::Conflict(InstanceConflict::Exhausted { .. }) => ApiError::Conflict {
            code: "pool_exhausted",
            field: None,
            message: msg,
        },
        // As Kubernetes refuses a pod past a ResourceQuota: the caller may resolve it (release
        // an instance); the value is not malformed.
        ServicesError::Conflict(InstanceConflict::MaxInstances { .. }) => ApiError::Conflict {
            code: "max_instances",
            field: None,
            message: msg,
        },
        ServicesError::Conflict(InstanceConflict::NotAnInstance { .. }) => ApiError::Conflict {
            code: "not_an_instance",
            field: None,
            message: msg,
        },
        ServicesError::Invalid { field, .. } => ApiError::invalid(field, msg),
        // Conflicts with what exists, not bad values: 409, as Kubernetes answers AlreadyExists
        // and as a VIP a host already has is answered.
        ServicesError::Exists(_) => ApiError::Conflict {
            code: "name_in_use",
            field: Some("name"),
            message: msg,
        },
        ServicesError::VipTaken { .. } => ApiError::Conflict {
            code: "vip_in_use",
            field: Some("vip"),
            message: msg,
        },
        ServicesError::UnknownPolicy(_) => ApiError::invalid("policy", msg),
        ServicesError::Pool(PoolError::Overlap { .. }) => ApiError::invalid("pool", msg),
        ServicesError::Pool(_) => ApiError::invalid("backends", msg),
    }
}

/// A unicast MAC (every MAC a service is given: its VIP's and its backends').
pub(super) fn mac(field: &str, text: &str) -> Result<prescient_topology::MacAddr, ApiError> {
    let mac = parse_mac(text).ok_or_else(|| {
        ApiError::invalid(field, format!("{text:?} is not a MAC `aa:bb:cc:dd:ee:ff`"))
    })?;
    if mac.is_multicast() {
        return Err(ApiError::invalid(
            field,
            format!("{text}: a multicast MAC; a host's is unicast"),
        ));
    }
    if !mac.names_host() {
        return Err(ApiError::invalid(
            field,
            format!("{text}: the all-zero MAC, which no host sends from"),
        ));
    }
    Ok(mac)
}

pub(super) fn weight(field: &str, w: Option<u16>) -> Result<u16, ApiError> {
    match w.unwrap_or(1) {
        0 => Err(ApiError::invalid(field, "weight 0: must be at least 1")),
        w => Ok(w),
    }
}

fn dto(v: &ServiceView) -> ServiceDto {
    let s = &v.spec;
    ServiceDto {
        id: v.id,
        name: s.name.clone(),
        tenant: s.tenant.clone(),
        vip: s.vip.to_string(),
        vip_mac: s.logical_mac().to_string(),
        pool: s.pool.to_string(),
        tier: s.tier,
        instance_capacity_bps: s.instance_capacity_bps,
        min_instances: s.min_instances,
        max_instances: s.max_instances,
        policy: v.policy.clone(),
        backends: s
            .backends
            .iter()
            .zip(&v.leases)
            .map(|(b, l)| BackendDto {
                ip: b.ip.to_string(),
                mac: b.mac.to_string(),
                weight: b.weight,
                lease: *l,
            })
            .collect(),
        shadows: v.shadows.iter().map(Ipv4Addr::to_string).collect(),
        demand: v.demand.map(|d| DemandDto {
            point_bps: d.point_bps,
            upper95_bps: d.upper_bps,
            lower95_bps: d.lower_bps,
            pairs: d.pairs,
        }),
        needed_instances: v.needed,
    }
}

/// Commits the change to `name` when there is a store; when the commit fails, undoes it
/// (`before`: the service as it was, `None` when it did not exist) and says so. The change's
/// actions are dispatched either way, before the undo's, so the switches follow the registry.
pub(super) async fn commit(
    s: &ApiState,
    name: &str,
    before: Option<ServiceRecord>,
    actions: Vec<Action>,
    what: &str,
) -> Result<(), ApiError> {
    let Some(store) = &s.store else {
        s.core.dispatch(actions);
        return Ok(());
    };
    let Err(e) = store.sync_async(&s.core).await else {
        s.core.dispatch(actions);
        return Ok(());
    };
    s.core.dispatch(actions);
    let now = s.core.now();
    let why = format!("store: {e}");
    match s
        .core
        .apply(|c| c.undo_service_change(now, name, before, &why))
    {
        Ok(undo) => s.core.dispatch(undo),
        // Changed meanwhile (the name, VIP or an address taken): the change stands and the
        // store retries it.
        Err(u) => {
            tracing::error!(
                "service {name:?}: {e}; the change could not be undone ({u}), it stands"
            );
        }
    }
    Err(ApiError::StoreUnavailable(format!(
        "the state store could not commit it, so {what}: {e}"
    )))
}

fn find(s: &ApiState, name: &str) -> Result<ServiceDto, ApiError> {
    s.core
        .read(|c| c.services().view(name).map(|v| dto(&v)))
        .ok_or_else(|| ApiError::NotFound(format!("no service named {name:?}")))
}

/// Creates a service and programs it.
#[utoipa::path(post, path = "/api/v1/services", tag = "services",
    request_body = ServiceBody, security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = ServiceChangeDto),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 409, description = "`name_in_use`: a service of that name exists; `vip_in_use`: another service or a known host has the VIP's address", body = ErrorBody),
        (status = 422, description = "Invalid value, pool overlapping another tenant's", body = ErrorBody),
        (status = 503, description = "The state store could not commit it; nothing was created", body = ErrorBody)))]
pub async fn create(
    State(s): State<ApiState>,
    ApiJson(body): ApiJson<ServiceBody>,
) -> Result<(StatusCode, Json<ServiceChangeDto>), ApiError> {
    let backends = body
        .backends
        .iter()
        .enumerate()
        .map(|(i, b)| {
            Ok(Backend {
                ip: b.ip,
                mac: mac(&format!("backends[{i}].mac"), &b.mac)?,
                weight: weight(&format!("backends[{i}].weight"), b.weight)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let vip_mac = match &body.vip_mac {
        Some(m) => Some(mac("vip_mac", m)?),
        None => None,
    };
    // Bounded here, not in the spec's own check: a service stored before the bound existed is
    // still restored.
    if body.instance_capacity_bps > MAX_RATE_BPS {
        return Err(ApiError::invalid(
            "instance_capacity_bps",
            format!(
                "instance_capacity_bps {} is outside 1 ..= {MAX_RATE_BPS}",
                body.instance_capacity_bps
            ),
        ));
    }
    let spec = ServiceSpec {
        name: body.name.clone(),
        tenant: body.tenant,
        vip: body.vip,
        vip_mac,
        // Kept as its network (`10.9.3.5/24` is 10.9.3.0/24), as the tenant's pool list shows it.
        pool: ipnetwork::Ipv4Network::new(body.pool.network(), body.pool.prefix())
            .unwrap_or(body.pool),
        backends,
        tier: body.tier,
        instance_capacity_bps: body.instance_capacity_bps,
        min_instances: body.min_instances,
        max_instances: body.max_instances,
        policy: body.policy,
    };
    let now = s.core.now();
    let (view, actions) = s.core.apply(|c| {
        // A VIP a host already answers for would take that host's traffic (the controller
        // answers ARP for the VIP): refused while the host is known.
        if let Some(h) = c.topology().hosts().find(|h| h.ips.contains(&spec.vip)) {
            return Err(ApiError::Conflict {
                code: "vip_in_use",
                field: Some("vip"),
                message: format!(
                    "`vip` = {}: host {} has this address; a VIP must be an address no host uses",
                    spec.vip, h.mac
                ),
            });
        }
        c.create_service(now, spec)
            .map_err(api_error)
            .map(|(_, actions)| {
                let view = c.services().view(&body.name).map(|v| dto(&v));
                (view, actions)
            })
    })?;
    let summaries = actions.iter().map(|a| a.summary()).collect();
    commit(&s, &body.name, None, actions, "nothing was created").await?;
    let service = view.ok_or_else(|| ApiError::NotFound(format!("{:?} vanished", body.name)))?;
    Ok((
        StatusCode::CREATED,
        Json(ServiceChangeDto {
            service,
            actions: summaries,
        }),
    ))
}

/// Every service.
#[utoipa::path(get, path = "/api/v1/services", tag = "services",
    responses((status = 200, description = "Services", body = [ServiceDto])))]
pub async fn list(State(s): State<ApiState>) -> Json<Vec<ServiceDto>> {
    Json(
        s.core
            .read(|c| c.services().views().iter().map(dto).collect()),
    )
}

/// One service, with its shadows and latest demand forecast.
#[utoipa::path(get, path = "/api/v1/services/{name}", tag = "services",
    params(("name" = String, Path, description = "Service name")),
    responses(
        (status = 200, description = "The service", body = ServiceDto),
        (status = 404, description = "No such service", body = ErrorBody)))]
pub async fn get_one(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<ServiceDto>, ApiError> {
    find(&s, &name).map(Json)
}

/// Removes a service: its entries leave the switches, its addresses go back to the pool.
#[utoipa::path(delete, path = "/api/v1/services/{name}", tag = "services",
    params(("name" = String, Path, description = "Service name")), security(("bearer" = [])),
    responses(
        (status = 200, description = "Removed; the service as it was", body = ServiceChangeDto),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 503, description = "The state store could not commit it; the service stays", body = ErrorBody)))]
pub async fn delete(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<ServiceChangeDto>, ApiError> {
    let now = s.core.now();
    let (service, before, actions) = s
        .core
        .apply(|c| {
            let view = c.services().view(&name).map(|v| dto(&v));
            let before = c.services().record(&name);
            c.remove_service(now, &name).map(|(_, a)| (view, before, a))
        })
        .map_err(api_error)?;
    let summaries = actions.iter().map(|a| a.summary()).collect();
    commit(&s, &name, before, actions, "the service stays").await?;
    let service =
        service.ok_or_else(|| ApiError::NotFound(format!("no service named {name:?}")))?;
    Ok(Json(ServiceChangeDto {
        service,
        actions: summaries,
    }))
}

/// The orchestrator reports the instances running; the backend list is replaced, all or
/// nothing.
#[utoipa::path(put, path = "/api/v1/services/{name}/backends", tag = "services",
    params(("name" = String, Path, description = "Service name")),
    request_body = BackendsBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "Accepted; the service with its backends' leases", body = ServiceChangeDto),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 422, description = "Invalid value, address outside the pool or held by another service, pool exhausted", body = ErrorBody),
        (status = 503, description = "The state store could not commit it; the backends are as they were", body = ErrorBody)))]
pub async fn set_backends(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<BackendsBody>,
) -> Result<Json<ServiceChangeDto>, ApiError> {
    let reports = body
        .backends
        .iter()
        .enumerate()
        .map(|(i, b)| {
            Ok(BackendReport {
                ip: b.ip,
                mac: mac(&format!("backends[{i}].mac"), &b.mac)?,
                weight: weight(&format!("backends[{i}].weight"), b.weight)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let now = s.core.now();
    let (view, before, actions) = s
        .core
        .apply(|c| {
            let before = c.services().record(&name);
            c.set_service_backends(now, &name, &reports).map(|(_, a)| {
                let view = c.services().view(&name).map(|v| dto(&v));
                (view, before, a)
            })
        })
        .map_err(api_error)?;
    let summaries = actions.iter().map(|a| a.summary()).collect();
    commit(&s, &name, before, actions, "the backends are as they were").await?;
    let service = view.ok_or_else(|| ApiError::NotFound(format!("no service named {name:?}")))?;
    Ok(Json(ServiceChangeDto {
        service,
        actions: summaries,
    }))
}

/// Every logical → physical translation record, running and shadow instances.
#[utoipa::path(get, path = "/api/v1/translations", tag = "services",
    responses((status = 200, description = "Translations", body = [TranslationDto])))]
pub async fn translations(State(s): State<ApiState>) -> Json<Vec<TranslationDto>> {
    Json(s.core.read(|c| {
        c.services()
            .translations()
            .into_iter()
            .map(|t| TranslationDto {
                service: t.service,
                tenant: t.tenant,
                logical_ip: t.logical_ip.to_string(),
                logical_mac: t.logical_mac.to_string(),
                physical_ip: t.physical_ip.to_string(),
                physical_mac: t.physical_mac.map(|m| m.to_string()),
                kind: t.kind,
                since_ns: t.since.nanos(),
                devices: t.devices,
            })
            .collect()
    }))
}

/// Hook calls waiting for the executor and the recent outcomes.
#[utoipa::path(get, path = "/api/v1/hooks", tag = "services",
    responses((status = 200, description = "Hook calls", body = HooksDto)))]
pub async fn hooks(State(s): State<ApiState>) -> Json<HooksDto> {
    Json(s.core.read(|c| HooksDto {
        pending: c.services().pending_hooks().cloned().collect(),
        recent: c.services().hook_outcomes().iter().cloned().collect(),
    }))
}
