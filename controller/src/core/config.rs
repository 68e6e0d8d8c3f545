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
    /// A rate older than this is treated as missing (a flow's as 0). The service raises it to
    /// [`CoreConfig::stale_after_for_polls`] of its counter polling periods.
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
    /// With more series than this, link series run the compact scale tier (`series/tier.rs`),
    /// and host pairs too once the pairs alone are more.
    pub compact_above_series: usize,
    /// Decisions kept (oldest dropped first).
    pub decision_log: usize,
    /// Anomalies kept (oldest dropped first).
    pub anomaly_log: usize,
    /// A reservation whose path broke with no other path to take (its switch restarting, say)
    /// waits this long for the path to come back before it is dropped; zero drops at once.
    pub path_grace: Duration,
    /// Warm-up of forecasts and forecast-driven reservations.
    pub planning: PlanningConfig,
}

/// When a forecast is trusted, and how forecasts become reservations (`[planning]`).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanningConfig {
    /// A series is planned on only after `max(horizon, warmup_points)` observations: a model
    /// fitted on two or three points extrapolates wild peaks.
    pub warmup_points: usize,
    /// ... and only once this many of its one-step forecasts were scored against actuals.
    pub warmup_scored: usize,
    /// Whether host pairs get forecast-driven reservations.
    pub reserve: bool,
    /// A pair is reserved for only when its forecast bound (with headroom) reaches this, bits/s.
    pub reserve_min_bps: u64,
    /// Share of intervals in which demand may exceed what is planned for it: forecast
    /// reservations and service scale-ups are sized to the forecast plus the residual quantile
    /// that meets it ([`crate::sizing`]).
    pub violation_target: f64,
    /// An extra factor (at least 1) on the planning bound of forecast reservations; 1 leaves
    /// the sizing to the calibrated quantile.
    pub reserve_headroom: f64,
    /// A reservation is resized only when its target moved by more than this share of its
    /// rate, so a forecast that wobbles does not rewrite meters every tick.
    pub reserve_hysteresis: f64,
    /// Tier of forecast reservations; API reservations of this tier or above take their place.
    pub reserve_tier: u8,
    /// A scheduled event counts this long before it starts, so its scale-up comes ahead of it.
    pub calendar_lead: std::time::Duration,
    /// A scheduled event whose last occurrence ended this long ago is removed, as a DELETE
    /// would (zero: at the first tick from its end on). A repeating event without an end is
    /// never over.
    pub calendar_retention: std::time::Duration,
    /// Control intervals a pair the congestion rule steered stays on its new path before the
    /// rule may move it again: the move is a step in both links' series, and their bounds
    /// overshoot until the step's errors leave the calibration window.
    pub steer_hold_down: usize,
}

impl Default for PlanningConfig {
    fn default() -> Self {
        PlanningConfig {
            warmup_points: 20,
            warmup_scored: 10,
            reserve: true,
            reserve_min_bps: 1_000_000,
            violation_target: crate::sizing::DEFAULT_VIOLATION_TARGET,
            reserve_headroom: 1.0,
            reserve_hysteresis: 0.2,
            reserve_tier: 0,
            calendar_lead: std::time::Duration::from_secs(1800),
            // A week: an operator looking back at last week's events still finds them, and one
            // one-off event an hour fills 168 of the 1024 places a calendar has.
            calendar_retention: std::time::Duration::from_secs(7 * 86_400),
            steer_hold_down: prescient_predict::PredictorConfig::default().calibration_window,
        }
    }
}

/// How many poll periods a counter's last rate stays fresh: one reply late or lost is not a
/// drop to 0 (Faucet and ONOS read a flow's last rate until its next sample), two in a row is.
/// 2.5 x the default 2 s poll is the default `stale_after`, 5 s.
const POLLS_FRESH: f64 = 2.5;

impl CoreConfig {
    /// `stale_after` for counters polled every `polls` (the slowest counts): never less than
    /// [`POLLS_FRESH`] periods. Below one period, every flow read 0 between two of its
    /// readings (a 7 s poll against 5 s: 5 ticks of its rate, then 2 of 0, over and over).
    pub fn stale_after_for_polls(&self, polls: impl IntoIterator<Item = Duration>) -> Duration {
        polls
            .into_iter()
            .map(|p| p.mul_f64(POLLS_FRESH))
            .fold(self.stale_after, Duration::max)
    }
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
            compact_above_series: 2_000,
            decision_log: 512,
            anomaly_log: 512,
            path_grace: Duration::from_secs(300),
            planning: PlanningConfig::default(),
        }
    }
}
