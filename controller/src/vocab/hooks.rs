//! The hook calls planning asks of the orchestrator (scale up, scale down, migrate), with the
//! forecast that fired them.

use std::net::Ipv4Addr;

use serde::Serialize;

use super::rules::Rule;

/// What a hook is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HookKind {
    /// Start `delta` instances (at the pre-reserved `addresses`).
    ScaleUp,
    /// Stop `delta` instances (these `addresses`).
    ScaleDown,
    /// Move the instance at `addresses[0]` away from its hot edge.
    Migrate,
}

/// The forecast that made a hook fire: the service's demand summed over the host pairs that
/// send to it, over the planning horizon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HookForecast {
    /// Highest point forecast over the horizon, bits/s.
    pub point_bps: u64,
    /// Highest upper 95 % bound over the horizon (the point where not calibrated), bits/s.
    pub upper95_bps: u64,
    /// Lower 95 % bound at the step of that highest upper bound, bits/s.
    pub lower95_bps: u64,
    /// Capacity of the instances running now, bits/s.
    pub capacity_bps: u64,
    /// Steps forecast.
    pub horizon_steps: usize,
    /// Length of a step, milliseconds.
    pub interval_ms: u64,
}

/// One request to the orchestrator, as planned (the executor delivers it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HookCall {
    /// Idempotency key, stable across retries: `<service>/<decision>`.
    pub key: String,
    /// The service.
    pub service: String,
    /// Its tenant.
    pub tenant: String,
    /// What is asked.
    pub action: HookKind,
    /// Instances to add or remove (1 for a migration).
    pub delta: u32,
    /// Instances running when asked.
    pub current_instances: u32,
    /// Instances wanted afterwards.
    pub target_instances: u32,
    /// Addresses concerned: pre-reserved for a scale-up, to stop for a scale-down, to move
    /// for a migration.
    #[schema(value_type = Vec<String>)]
    pub addresses: Vec<Ipv4Addr>,
    /// The forecast that fired the rule.
    pub forecast: HookForecast,
    /// The rule.
    pub rule: Rule,
    /// The decision it belongs to.
    pub decision: u64,
    /// Why, with the figures.
    pub reason: String,
}

impl HookCall {
    /// One line for the decision log.
    pub fn summary(&self) -> String {
        let verb = match self.action {
            HookKind::ScaleUp => "scale up",
            HookKind::ScaleDown => "scale down",
            HookKind::Migrate => "migrate",
        };
        format!(
            "ask the orchestrator to {verb} {} by {} ({} -> {} instances) [{}]",
            self.service,
            self.delta,
            self.current_instances,
            self.target_instances,
            self.addresses
                .iter()
                .map(Ipv4Addr::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}
