//! Services: VIPs in front of weighted backends, per-tenant address pools with shadow
//! addresses reserved ahead of predicted scale-out, orchestration policies, and the hook calls
//! (scale up, scale down, migrate) planning asks for. Pure: no IO, time passed in; the core
//! owns a [`Services`] registry, turns its drafts into decisions, and the hooks executor
//! (`crate::hooks`) drains the calls.
//!
//! Invariants: service names and VIPs are unique; every backend and shadow address is leased
//! in its service's pool; what the registry last emitted per service ([`dataplane`]) is what
//! the switches were asked to hold, so only differences are emitted; a hook call is queued
//! once per decision (the queue keeps the newest [`HOOK_QUEUE`] when nobody drains it).

pub mod address_record;
pub mod dataplane;
pub mod model;
pub mod plan;
pub mod pool;
mod registry;

pub use address_record::{AddressChange, AddressOp, AddressRecord};
pub use model::{
    check_backends, Backend, HookCall, HookForecast, HookKind, HookRecord, HookStatus,
    InstanceConflict, Policy, ServiceSpec, ServicesError,
};
pub use plan::{Demand, ScalingState, Step};
pub use pool::{
    AddressPool, Instance, Lease, LeaseKind, PoolError, Pools, PreAssignment, DEFAULT_SHADOW_IDLE,
};
pub use registry::{
    BackendReport, InstanceView, Placed, PoolConfig, RestoreReport, ServiceRecord, ServiceView,
    Services, ServicesConfig, TranslationRecord, HOOK_LOG, HOOK_QUEUE,
};
