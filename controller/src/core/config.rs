//! Settings of the controller core, parsed once and then read-only.

use std::time::Duration;

use prescient_topology::TopologyConfig;

/// Everything the core is configured with.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Topology discovery, capacities and link costs.
    pub topology: TopologyConfig,
    /// Time between two `tick`s: one observation per series per tick.
    pub control_interval: Duration,
    /// A rate older than this is treated as missing.
    pub stale_after: Duration,
    /// Forecast steps (of `control_interval` each) planned against.
    pub horizon: usize,
    /// A link is predicted hot when its forecast upper 95 % bound exceeds this share of capacity.
    pub hot_threshold: f64,
    /// A hot link cools when the bound falls below `hot_threshold - hysteresis`, so a forecast
    /// hovering at the threshold does not flap decisions.
    pub hysteresis: f64,
    /// Actual and forecast points kept per series for the API.
    pub series_points: usize,
    /// Decisions kept (oldest dropped first).
    pub decision_log: usize,
    /// Anomalies kept (oldest dropped first).
    pub anomaly_log: usize,
    /// A reservation whose path broke with no other path to take (its switch restarting, say)
    /// waits this long for the path to come back before it is dropped; zero drops at once.
    pub path_grace: Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            topology: TopologyConfig::default(),
            control_interval: Duration::from_secs(1),
            stale_after: Duration::from_secs(5),
            horizon: 12,
            hot_threshold: 0.8,
            hysteresis: 0.1,
            series_points: 360,
            decision_log: 512,
            anomaly_log: 512,
            path_grace: Duration::from_secs(300),
        }
    }
}
