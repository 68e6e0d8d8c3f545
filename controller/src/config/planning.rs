//! `[discovery]`, `[planning]` and `[store]`: how links are found, how forecasts become
//! decisions, and where accepted state is kept. Defaults come from the core's own, so the file
//! and the library cannot disagree.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::services::Refusal;
use crate::core::CoreConfig;

/// Longest horizon, in steps: the most history a series keeps. Every series holds
/// horizon-long forecasts, so the memory grows with it: `horizon = 100000000` took 3 GB within
/// 9 s of four switches connecting, and a billion hung the controller.
pub const MAX_HORIZON: usize = crate::core::series::SEASONAL_HISTORY;

/// `[discovery]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoverySection {
    /// LLDP probe period per port, milliseconds.
    pub probe_interval_ms: u64,
    /// A link not refreshed for this long expires, milliseconds.
    pub link_timeout_ms: u64,
    /// Capacity assumed for ports that report no speed (P4 targets, userspace OVS), Mbit/s.
    pub default_port_speed_mbps: Option<u64>,
}

impl Default for DiscoverySection {
    fn default() -> Self {
        let d = CoreConfig::default().topology.discovery;
        DiscoverySection {
            probe_interval_ms: millis(d.probe_interval),
            link_timeout_ms: millis(d.link_timeout),
            default_port_speed_mbps: None,
        }
    }
}

/// `[planning]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PlanningSection {
    /// One observation per series and one planning round per this period, milliseconds.
    pub control_interval_ms: u64,
    /// Forecast steps planned against.
    pub horizon: usize,
    /// A link is predicted hot above this share of its capacity (upper 95 % bound).
    pub hot_threshold: f64,
    /// A series is planned on only after this many observations (and at least `horizon`).
    pub warmup_points: usize,
    /// ... and only once this many of its one-step forecasts were scored.
    pub warmup_scored: usize,
    /// Keep a forecast-origin reservation per host pair on its predicted path.
    pub reserve: bool,
    /// Share of intervals demand may exceed what is planned for it, in (0, 0.5): forecast
    /// reservations and service scale-ups are sized to the forecast plus the residual quantile
    /// that meets it.
    pub violation_target: f64,
    /// Smallest forecast reservation (planning bound times headroom), bits/s.
    pub reserve_min_bps: u64,
    /// An extra factor (at least 1) on the planning bound of forecast reservations.
    pub reserve_headroom: f64,
    /// A forecast reservation is resized only when its target moves by more than this share.
    pub reserve_hysteresis: f64,
    /// Tier of forecast reservations (0 ..= 7); API reservations of this tier or above take
    /// their room.
    pub reserve_tier: u8,
    /// A reservation whose path broke waits this long for it to come back, milliseconds.
    pub path_grace_ms: u64,
    /// A scheduled event (`/api/v1/calendar`) counts this long before it starts, seconds.
    pub calendar_lead_secs: u64,
    /// A scheduled event whose last occurrence ended this long ago is removed, seconds (0: at
    /// the first tick from its end on).
    pub calendar_retention_secs: u64,
    /// Control intervals a steered pair stays on its new path before it may be moved again.
    pub steer_hold_down_intervals: usize,
    /// With more series than this, link series run the compact scale tier, and host pairs too
    /// once the pairs alone are more.
    pub compact_above_series: usize,
}

impl Default for PlanningSection {
    fn default() -> Self {
        let c = CoreConfig::default();
        PlanningSection {
            control_interval_ms: millis(c.control_interval),
            horizon: c.horizon,
            hot_threshold: c.hot_threshold,
            warmup_points: c.planning.warmup_points,
            warmup_scored: c.planning.warmup_scored,
            reserve: c.planning.reserve,
            violation_target: c.planning.violation_target,
            reserve_min_bps: c.planning.reserve_min_bps,
            reserve_headroom: c.planning.reserve_headroom,
            reserve_hysteresis: c.planning.reserve_hysteresis,
            reserve_tier: c.planning.reserve_tier,
            path_grace_ms: millis(c.path_grace),
            calendar_lead_secs: c.planning.calendar_lead.as_secs(),
            calendar_retention_secs: c.planning.calendar_retention.as_secs(),
            steer_hold_down_intervals: c.planning.steer_hold_down,
            compact_above_series: c.compact_above_series,
        }
    }
}

/// `[store]`: where accepted reservations are kept across restarts.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// The redb file, created when missing (relative paths: from the working directory).
    pub path: PathBuf,
    /// How long a restored reservation waits for its path, milliseconds; absent: three times
    /// `discovery.link_timeout_ms`.
    pub restore_grace_ms: Option<u64>,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            path: PathBuf::from("prescient.redb"),
            restore_grace_ms: None,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn refuse(key: &str, value: impl ToString, why: &str) -> Refusal {
    (key.to_string(), value.to_string(), why.to_string())
}

impl DiscoverySection {
    /// Probes at all, and links that outlive the time between two probes.
    pub fn check(&self) -> Result<(), Refusal> {
        if self.probe_interval_ms == 0 {
            return Err(refuse(
                "discovery.probe_interval_ms",
                0,
                "must be at least 1",
            ));
        }
        if self.default_port_speed_mbps == Some(0) {
            return Err(refuse(
                "discovery.default_port_speed_mbps",
                0,
                "a port of capacity 0 refuses every reservation (leave the key out for ports \
                 without a speed to have no capacity assumed)",
            ));
        }
        if self.link_timeout_ms <= self.probe_interval_ms {
            return Err(refuse(
                "discovery.link_timeout_ms",
                self.link_timeout_ms,
                "must exceed discovery.probe_interval_ms, or every link would expire between probes",
            ));
        }
        Ok(())
    }
}

impl PlanningSection {
    /// Every value in the range the planners can use.
    pub fn check(&self) -> Result<(), Refusal> {
        let p = self;
        if p.control_interval_ms == 0 {
            return Err(refuse(
                "planning.control_interval_ms",
                0,
                "must be at least 1",
            ));
        }
        if p.horizon == 0 {
            return Err(refuse("planning.horizon", 0, "must be at least 1"));
        }
        if p.horizon > MAX_HORIZON {
            return Err(refuse(
                "planning.horizon",
                p.horizon,
                &format!(
                    "must be at most {MAX_HORIZON}, the most history a series keeps (a \
                     forecast further ahead than the series remembers; memory grows with it)"
                ),
            ));
        }
        if !(p.hot_threshold > 0.0 && p.hot_threshold <= 1.0) {
            return Err(refuse(
                "planning.hot_threshold",
                p.hot_threshold,
                "must be a share of capacity in (0, 1]",
            ));
        }
        if !crate::sizing::valid_violation(p.violation_target) {
            return Err(refuse(
                "planning.violation_target",
                p.violation_target,
                "must be a share in (0, 0.5)",
            ));
        }
        if !(p.reserve_headroom.is_finite() && p.reserve_headroom >= 1.0) {
            return Err(refuse(
                "planning.reserve_headroom",
                p.reserve_headroom,
                "must be a factor of at least 1 (a reservation below the forecast bound would police forecast traffic)",
            ));
        }
        if !(p.reserve_hysteresis.is_finite() && (0.0..1.0).contains(&p.reserve_hysteresis)) {
            return Err(refuse(
                "planning.reserve_hysteresis",
                p.reserve_hysteresis,
                "must be a share in [0, 1)",
            ));
        }
        if p.reserve_min_bps == 0 {
            return Err(refuse(
                "planning.reserve_min_bps",
                0,
                "must be at least 1 (a reservation must reserve something)",
            ));
        }
        if p.reserve_tier > 7 {
            return Err(refuse(
                "planning.reserve_tier",
                p.reserve_tier,
                "tiers are 0 ..= 7",
            ));
        }
        Ok(())
    }

    /// The core's planning settings these keys give.
    pub fn planning_config(&self) -> crate::core::PlanningConfig {
        crate::core::PlanningConfig {
            warmup_points: self.warmup_points,
            warmup_scored: self.warmup_scored,
            reserve: self.reserve,
            violation_target: self.violation_target,
            reserve_min_bps: self.reserve_min_bps,
            reserve_headroom: self.reserve_headroom,
            reserve_hysteresis: self.reserve_hysteresis,
            reserve_tier: self.reserve_tier,
            calendar_lead: Duration::from_secs(self.calendar_lead_secs),
            calendar_retention: Duration::from_secs(self.calendar_retention_secs),
            steer_hold_down: self.steer_hold_down_intervals,
        }
    }
}

impl StoreSection {
    /// A file to keep state in.
    pub fn check(&self) -> Result<(), Refusal> {
        if self.path.as_os_str().is_empty() {
            return Err(refuse(
                "store.path",
                "\"\"",
                "must name a file (the default is prescient.redb)",
            ));
        }
        Ok(())
    }

    /// The store settings these keys give.
    pub fn store_config(&self) -> crate::store::StoreConfig {
        crate::store::StoreConfig {
            location: crate::store::StoreLocation::File(self.path.clone()),
            restore_grace: self.restore_grace_ms.map(Duration::from_millis),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use crate::config::Config;

    #[test]
    fn forecast_reservation_keys_are_checked_and_reach_the_core() {
        let err = Config::parse("[planning]\nreserve_headroom = 0.5\n", "c.toml")
            .expect_err("headroom below 1");
        assert!(
            err.to_string().contains("planning.reserve_headroom"),
            "{err}"
        );
        for bad in ["0", "4097", "18446744073709551615"] {
            let err = Config::parse(&format!("[planning]\nhorizon = {bad}\n"), "c.toml")
                .expect_err("a horizon of no step or beyond the history kept")
                .to_string();
            assert!(
                err.contains("planning.horizon") && err.contains(bad),
                "{err}"
            );
        }
        let c = Config::parse("[planning]\nhorizon = 4096\n", "c.toml").expect("the longest");
        assert_eq!(c.service("c.toml").expect("builds").core.horizon, 4096);
        let err =
            Config::parse("[planning]\nreserve_tier = 9\n", "c.toml").expect_err("tier above 7");
        assert!(err.to_string().contains("planning.reserve_tier"), "{err}");
        for bad in ["0", "0.5", "-0.1"] {
            let err = Config::parse(&format!("[planning]\nviolation_target = {bad}\n"), "c.toml")
                .expect_err("not a share in (0, 0.5)");
            assert!(
                err.to_string().contains("planning.violation_target"),
                "{err}"
            );
        }
        let c = Config::parse(
            "[planning]\nreserve = false\nreserve_min_bps = 5000\nwarmup_points = 40\npath_grace_ms = 1500\nviolation_target = 0.05\ncompact_above_series = 7\n",
            "c.toml",
        )
        .expect("valid");
        let service = c.service("c.toml").expect("builds");
        assert!(!service.core.planning.reserve);
        assert_eq!(service.core.planning.reserve_min_bps, 5000);
        assert_eq!(service.core.planning.warmup_points, 40);
        assert_eq!(service.core.planning.violation_target, 0.05);
        assert_eq!(service.core.path_grace, Duration::from_millis(1500));
        assert_eq!(service.core.compact_above_series, 7);
    }

    #[test]
    fn a_default_port_speed_of_zero_is_refused() {
        let err = Config::parse("[discovery]\ndefault_port_speed_mbps = 0\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("discovery.default_port_speed_mbps"), "{err}");
        let c = Config::parse("[discovery]\ndefault_port_speed_mbps = 1\n", "c.toml").unwrap();
        let service = c.service("c.toml").expect("builds");
        assert_eq!(service.core.topology.capacity.default_bps, Some(1_000_000));
    }

    #[test]
    fn the_store_section_defaults_to_a_file_in_the_working_directory() {
        let service = Config::default().service("defaults").expect("builds");
        assert_eq!(
            service.store.location,
            crate::store::StoreLocation::File(PathBuf::from("prescient.redb"))
        );
        assert_eq!(service.store.restore_grace, None);
        let c = Config::parse(
            "[store]\npath = \"/var/lib/prescient/state.redb\"\nrestore_grace_ms = 1500\n",
            "c.toml",
        )
        .expect("parses");
        let service = c.service("c.toml").expect("builds");
        assert_eq!(
            service.store.location,
            crate::store::StoreLocation::File(PathBuf::from("/var/lib/prescient/state.redb"))
        );
        assert_eq!(
            service.store.restore_grace,
            Some(Duration::from_millis(1500))
        );
        let err = Config::parse("[store]\npaht = \"x\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("paht") && err.contains("line 2"), "{err}");
        let err = Config::parse("[store]\npath = \"\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("store.path"), "{err}");
    }
}
