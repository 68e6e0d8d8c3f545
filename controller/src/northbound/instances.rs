//! Pre-assignment (the orchestrator's calls) and the listings of tenants, pools and address
//! records:
//! - `POST services/{name}/instances` with an `Idempotency-Key` header: the address the new
//!   instance will have, translated on the switches and announced to host agents (an
//!   `address` event) before the answer; 201 for a new one, 200 for a retried key.
//! - `GET services/{name}/instances`; `PUT …/instances/{address}` up (with its MAC) or down;
//!   `DELETE …/instances/{address}` releases it (a shadow again, aging back to the pool).
//! - `GET tenants`, `GET tenants/{tenant}/addresses` (what a tenant's agents program),
//!   `GET pools` (leases with their kind and age, shadows included).
//!
//! Conflicts are 409 with a code naming why (`max_instances`, `pool_exhausted`,
//! `not_an_instance`). With a state store, a change is answered only once committed (else
//! undone, 503).

use std::net::Ipv4Addr;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::ErrorBody;
use super::error::{ApiError, ApiJson};
use super::services::{api_error, commit, mac, weight};
use super::ApiState;
use crate::services::{AddressRecord, Instance, InstanceView, LeaseKind};
use crate::vocab::formats;

/// Longest idempotency key accepted.
const MAX_KEY: usize = 128;

/// `{name}/{address}` of an instance.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Describes the path for the document; the handlers parse it themselves.
struct InstancePath {
    /// Service name.
    name: String,
    /// The instance's address.
    #[param(schema_with = formats::ipv4)]
    address: String,
}

/// A new instance, before it boots.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceBody {
    /// The host it will run on: that host's agent configures the address.
    #[serde(default)]
    #[schema(schema_with = formats::optional_name)]
    pub host: Option<String>,
}

/// An instance reported up or down.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceStateBody {
    /// `up` (in service: a backend) or `down` (out of service; keeps its address).
    pub state: InstanceState,
    /// Its MAC, `aa:bb:cc:dd:ee:ff`, unicast (required for `up`).
    #[serde(default)]
    #[schema(schema_with = formats::optional_unicast_mac)]
    pub mac: Option<String>,
    /// Load-balancing weight when up (default 1).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 65535)]
    pub weight: Option<u16>,
}

/// Whether an instance is in service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    /// In service.
    Up,
    /// Not (yet, or no longer) in service.
    Down,
}

/// An announced instance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstanceDto {
    /// The service.
    pub service: String,
    /// Its tenant.
    pub tenant: String,
    /// The service's VIP (the logical address).
    pub vip: String,
    /// The instance's address.
    pub address: String,
    /// `pre_assigned`: a shadow reserved for the service; `dynamic`: none was left, a free
    /// address of the pool; `static`: reported with its own address.
    pub kind: LeaseKind,
    /// The idempotency key it was announced with (empty for instances reported otherwise).
    pub key: String,
    /// Host, when named.
    pub host: Option<String>,
    /// Up or down.
    pub state: InstanceState,
    /// MAC, once up.
    pub mac: Option<String>,
    /// Address handed out at, ns since the epoch.
    pub since_ns: u64,
}

/// The answer to an instance call.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstanceChangeDto {
    /// The instance after the change.
    pub instance: InstanceDto,
    /// What the switches were asked to do, one line each (none for a retried key).
    pub actions: Vec<String>,
}

/// A tenant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantDto {
    /// Name.
    pub name: String,
    /// Its pools.
    pub pools: Vec<String>,
    /// Its services.
    pub services: Vec<String>,
    /// Address records (instance addresses) its agents program.
    pub addresses: usize,
}

/// One lease of a pool.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LeaseDto {
    /// Address.
    pub ip: String,
    /// Service holding it.
    pub service: String,
    /// How it is leased (`shadow`: reserved ahead of a predicted instance).
    pub kind: LeaseKind,
    /// Leased since, ns since the epoch.
    pub since_ns: u64,
    /// Age, seconds.
    pub age_secs: u64,
    /// Idempotency key of the announced instance holding it.
    pub instance_key: Option<String>,
    /// Host of that instance.
    pub host: Option<String>,
}

/// A tenant pool with its leases.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PoolDto {
    /// Tenant.
    pub tenant: String,
    /// Network.
    pub network: String,
    /// An unused shadow goes back to the pool after this, seconds.
    pub shadow_idle_secs: u64,
    /// Addresses not leased.
    pub free: u64,
    /// Leases, by address.
    pub leases: Vec<LeaseDto>,
}

fn dto(service: &str, tenant: &str, vip: Ipv4Addr, i: &InstanceView) -> InstanceDto {
    InstanceDto {
        service: service.to_string(),
        tenant: tenant.to_string(),
        vip: vip.to_string(),
        address: i.ip.to_string(),
        kind: i.kind,
        key: i.key.clone(),
        host: i.host.clone(),
        state: if i.up {
            InstanceState::Up
        } else {
            InstanceState::Down
        },
        mac: i.mac.map(|m| m.to_string()),
        since_ns: i.since.nanos(),
    }
}

fn instance_of(s: &ApiState, name: &str, ip: Ipv4Addr) -> Option<InstanceDto> {
    s.core.read(|c| {
        let svc = c.services().view(name)?;
        let list = c.services().instances(name)?;
        list.iter()
            .find(|i| i.ip == ip)
            .map(|i| dto(name, &svc.spec.tenant, svc.spec.vip, i))
    })
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let field = "Idempotency-Key";
    let v = headers.get(field).ok_or_else(|| {
        ApiError::invalid(
            field,
            "header missing: a retried announcement must get the same address",
        )
    })?;
    let key = v
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                format!("{v:?}: must be 1 to {MAX_KEY} printable ASCII characters"),
            )
        })?;
    Ok(key.to_string())
}

fn address(text: &str) -> Result<Ipv4Addr, ApiError> {
    text.parse()
        .map_err(|_| ApiError::invalid("address", format!("{text:?} is not an IPv4 address")))
}

/// Announces an instance before it boots and answers with its address.
#[utoipa::path(post, path = "/api/v1/services/{name}/instances", tag = "services",
    params(("name" = String, Path, description = "Service name"),
        ("Idempotency-Key" = String, Header, pattern = "^[!-~]{1,128}$",
            description = "The orchestrator's key for this instance (1 to 128 printable ASCII characters): a retry with it gets the same address")),
    request_body = InstanceBody, security(("bearer" = [])),
    responses(
        (status = 201, description = "Address handed out, translated and announced", body = InstanceChangeDto),
        (status = 200, description = "The key had an address already (a retry): the same answer", body = InstanceChangeDto),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 409, description = "`max_instances`: the service has its `max_instances` instances already (announced, up or down; a retried key is answered all the same); `pool_exhausted`: no shadow left and no free address", body = ErrorBody),
        (status = 422, description = "Missing or invalid Idempotency-Key, invalid host", body = ErrorBody),
        (status = 503, description = "The state store could not commit it; nothing was handed out", body = ErrorBody)))]
pub async fn create(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<InstanceBody>,
) -> Result<(StatusCode, Json<InstanceChangeDto>), ApiError> {
    let key = idempotency_key(&headers)?;
    if let Some(h) = &body.host {
        if !crate::services::model::name_ok_chars(h) {
            return Err(ApiError::invalid(
                "host",
                format!("{h:?}: must be 1 to 64 characters of A-Z a-z 0-9 . _ -"),
            ));
        }
    }
    let instance = Instance {
        key,
        host: body.host,
    };
    let now = s.core.now();
    let (got, before, actions) = s
        .core
        .apply(|c| {
            let before = c.services().record(&name);
            c.pre_assign_instance(now, &name, instance)
                .map(|(got, a)| (got, before, a))
        })
        .map_err(api_error)?;
    let summaries: Vec<String> = actions.iter().map(|a| a.summary()).collect();
    if got.fresh {
        commit(&s, &name, before, actions, "no address was handed out").await?;
    }
    let instance = instance_of(&s, &name, got.ip)
        .ok_or_else(|| ApiError::NotFound(format!("instance {} of {name:?} vanished", got.ip)))?;
    let status = if got.fresh {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(InstanceChangeDto {
            instance,
            actions: summaries,
        }),
    ))
}

/// The service's instances (announced, reported up or down), by address.
#[utoipa::path(get, path = "/api/v1/services/{name}/instances", tag = "services",
    params(("name" = String, Path, description = "Service name")),
    responses(
        (status = 200, description = "Instances", body = [InstanceDto]),
        (status = 404, description = "No such service", body = ErrorBody)))]
pub async fn list(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<InstanceDto>>, ApiError> {
    s.core
        .read(|c| {
            let svc = c.services().view(&name)?;
            let list = c.services().instances(&name)?;
            Some(
                list.iter()
                    .map(|i| dto(&name, &svc.spec.tenant, svc.spec.vip, i))
                    .collect(),
            )
        })
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no service named {name:?}")))
}

/// Reports an instance up (a backend in service) or down (keeps its address).
#[utoipa::path(put, path = "/api/v1/services/{name}/instances/{address}", tag = "services",
    params(InstancePath),
    request_body = InstanceStateBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "Accepted", body = InstanceChangeDto),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such service or instance", body = ErrorBody),
        (status = 409, description = "`not_an_instance`: the address is a shadow or another service's", body = ErrorBody),
        (status = 422, description = "Invalid MAC or weight, MAC missing for `up`, MAC of another backend", body = ErrorBody),
        (status = 503, description = "The state store could not commit it; nothing changed", body = ErrorBody)))]
pub async fn set_state(
    State(s): State<ApiState>,
    Path((name, addr)): Path<(String, String)>,
    ApiJson(body): ApiJson<InstanceStateBody>,
) -> Result<Json<InstanceChangeDto>, ApiError> {
    let ip = address(&addr)?;
    let up = match body.state {
        InstanceState::Up => {
            let text = body.mac.as_deref().ok_or_else(|| {
                ApiError::invalid(
                    "mac",
                    "required when the instance is up (it is the backend's MAC)",
                )
            })?;
            Some((mac("mac", text)?, weight("weight", body.weight)?))
        }
        InstanceState::Down => {
            // Checked all the same: the body means one thing whatever the state.
            if let Some(text) = body.mac.as_deref() {
                mac("mac", text)?;
            }
            weight("weight", body.weight)?;
            None
        }
    };
    let now = s.core.now();
    let (before, actions) = s
        .core
        .apply(|c| {
            let before = c.services().record(&name);
            c.set_instance_state(now, &name, ip, up)
                .map(|a| (before, a))
        })
        .map_err(api_error)?;
    let summaries = actions.iter().map(|a| a.summary()).collect();
    commit(&s, &name, before, actions, "the instance is as it was").await?;
    let instance = instance_of(&s, &name, ip)
        .ok_or_else(|| ApiError::NotFound(format!("instance {ip} of {name:?} vanished")))?;
    Ok(Json(InstanceChangeDto {
        instance,
        actions: summaries,
    }))
}

/// Releases an instance: out of service, its address a shadow of the service again.
#[utoipa::path(delete, path = "/api/v1/services/{name}/instances/{address}", tag = "services",
    params(InstancePath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Released; the instance as it was", body = InstanceChangeDto),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such service or instance", body = ErrorBody),
        (status = 409, description = "`not_an_instance`: the address is a shadow or another service's", body = ErrorBody),
        (status = 503, description = "The state store could not commit it; the instance stays", body = ErrorBody)))]
pub async fn release(
    State(s): State<ApiState>,
    Path((name, addr)): Path<(String, String)>,
) -> Result<Json<InstanceChangeDto>, ApiError> {
    let ip = address(&addr)?;
    let instance = instance_of(&s, &name, ip);
    let now = s.core.now();
    let (before, actions) = s
        .core
        .apply(|c| {
            let before = c.services().record(&name);
            c.release_instance(now, &name, ip).map(|a| (before, a))
        })
        .map_err(api_error)?;
    let summaries = actions.iter().map(|a| a.summary()).collect();
    commit(&s, &name, before, actions, "the instance stays").await?;
    let instance = instance
        .ok_or_else(|| ApiError::NotFound(format!("instance {ip} of {name:?} vanished")))?;
    Ok(Json(InstanceChangeDto {
        instance,
        actions: summaries,
    }))
}

/// Tenants (those with a pool), with their pools, services and address record count.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "services",
    responses((status = 200, description = "Tenants", body = [TenantDto])))]
pub async fn tenants(State(s): State<ApiState>) -> Json<Vec<TenantDto>> {
    Json(s.core.read(|c| {
        let svc = c.services();
        let records = svc.address_records();
        let views = svc.views();
        svc.tenants()
            .into_iter()
            .map(|t| TenantDto {
                pools: svc
                    .pools()
                    .iter()
                    .filter(|p| p.tenant() == t)
                    .map(|p| p.network().to_string())
                    .collect(),
                services: views
                    .iter()
                    .filter(|v| v.spec.tenant == t)
                    .map(|v| v.spec.name.clone())
                    .collect(),
                addresses: records.iter().filter(|r| r.tenant == t).count(),
                name: t,
            })
            .collect()
    }))
}

/// A tenant's address records: what its host agents program (a full resync).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/addresses", tag = "services",
    params(("tenant" = String, Path, description = "Tenant name")),
    responses(
        (status = 200, description = "Address records, by VIP and address", body = [AddressRecord]),
        (status = 404, description = "No such tenant (no pool of it)", body = ErrorBody)))]
pub async fn addresses(
    State(s): State<ApiState>,
    Path(tenant): Path<String>,
) -> Result<Json<Vec<AddressRecord>>, ApiError> {
    s.core
        .read(|c| {
            let svc = c.services();
            svc.tenants().contains(&tenant).then(|| {
                svc.address_records()
                    .into_iter()
                    .filter(|r| r.tenant == tenant)
                    .collect()
            })
        })
        .map(Json)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no tenant named {tenant:?}: no pool of the controller belongs to it"
            ))
        })
}

/// Every pool with its leases (instances and shadows) and their age.
#[utoipa::path(get, path = "/api/v1/pools", tag = "services",
    responses((status = 200, description = "Pools, by network", body = [PoolDto])))]
pub async fn pools(State(s): State<ApiState>) -> Json<Vec<PoolDto>> {
    let now = s.core.now();
    Json(s.core.read(|c| {
        c.services()
            .pools()
            .iter()
            .map(|p| PoolDto {
                tenant: p.tenant().to_string(),
                network: p.network().to_string(),
                shadow_idle_secs: p.shadow_idle().as_secs(),
                free: p.free_count(),
                leases: p
                    .leases()
                    .iter()
                    .map(|(ip, l)| LeaseDto {
                        ip: ip.to_string(),
                        service: l.service.clone(),
                        kind: l.kind,
                        since_ns: l.since.nanos(),
                        age_secs: now.nanos().saturating_sub(l.since.nanos()) / 1_000_000_000,
                        instance_key: l.instance.as_ref().map(|i| i.key.clone()),
                        host: l.instance.as_ref().and_then(|i| i.host.clone()),
                    })
                    .collect(),
            })
            .collect()
    }))
}
