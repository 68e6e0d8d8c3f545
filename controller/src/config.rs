//! The controller's configuration file (TOML), parsed once into typed values.
//!
//! Strict, as Faucet's: an unknown key is refused with its name and line, a value of the wrong
//! type or out of range names the key and why. Every setting has a default, so an empty file
//! (or none) is a valid configuration; `prescient config example` prints [`EXAMPLE`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::core::CoreConfig;
use crate::driver::p4runtime::{prescient_p4info, P4Target};
use crate::northbound::ApiConfig;
use crate::service::ServiceConfig;

pub mod cluster;
pub mod devices;
pub mod services;
pub mod tls;

/// A commented configuration with every key at its default (P4Runtime targets commented out).
pub const EXAMPLE: &str = include_str!("../prescient.example.toml");

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML, an unknown key, or a value of the wrong type (the message names the
    /// key and its line).
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// What the parser said, with line and column.
        message: String,
    },
    /// A value that parses but cannot be used.
    #[error("{path}: `{key}` = {value}: {why}")]
    Invalid {
        /// The file.
        path: String,
        /// The key, dotted.
        key: String,
        /// The value given.
        value: String,
        /// Why it is refused.
        why: String,
    },
    /// A P4Info file that does not load.
    #[error("{path}: `{key}`: {source}")]
    P4Info {
        /// The file.
        path: String,
        /// The key naming the P4Info.
        key: String,
        /// Why.
        source: prescient_southbound::p4runtime::P4InfoError,
    },
}

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// OpenFlow listener.
    pub openflow: OpenFlowSection,
    /// REST API and dashboard.
    pub http: HttpSection,
    /// Link discovery.
    pub discovery: DiscoverySection,
    /// Forecasting and planning.
    pub planning: PlanningSection,
    /// P4Runtime devices to drive.
    pub p4runtime: Vec<P4Section>,
    /// TLS to every P4Runtime device that names no CA of its own.
    pub p4runtime_tls: tls::P4TlsSection,
    /// The state store.
    pub store: StoreSection,
    /// Tenant address pools.
    pub pools: Vec<services::PoolSection>,
    /// Orchestration policies.
    pub policies: Vec<services::PolicySection>,
    /// Services (VIPs, backends, scaling bounds).
    pub services: Vec<services::ServiceSection>,
    /// Where hook calls go.
    pub hooks: Vec<services::HookSection>,
    /// Cluster mode (etcd); absent: single process.
    pub cluster: cluster::ClusterSection,
    /// Switch names.
    pub devices: Vec<devices::DeviceSection>,
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

/// `[openflow]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OpenFlowSection {
    /// Listen address.
    pub listen: SocketAddr,
    /// Most switches connected at once.
    pub max_switches: usize,
    /// Idle timeout of reactive flows, seconds.
    pub idle_timeout_secs: u16,
    /// Port and flow counter polling period, seconds (0: never).
    pub stats_interval_secs: u64,
    /// Threads the switch sessions run on (0: one per core).
    pub session_threads: usize,
    /// Certificate chain (PEM) to accept switches over TLS with (`ssl:` targets), with
    /// `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// CA (PEM) that must have signed every switch's certificate; switches then need one.
    pub tls_ca: Option<PathBuf>,
}

impl Default for OpenFlowSection {
    fn default() -> Self {
        OpenFlowSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 6653)),
            max_switches: 4096,
            idle_timeout_secs: 60,
            stats_interval_secs: 2,
            session_threads: 0,
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
        }
    }
}

/// `[http]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// Listen address of the REST API and dashboard.
    pub listen: SocketAddr,
    /// Serve HTTP at all.
    pub enabled: bool,
    /// Bearer token for mutating calls; `PRESCIENT_API_TOKEN` is used when absent.
    pub token: Option<String>,
    /// Require the token for reads too.
    pub protect_reads: bool,
    /// More tokens, each with a scope (`read`, `write`, `admin`); re-read on SIGHUP.
    pub tokens: Vec<crate::northbound::ScopedToken>,
    /// Certificate chain (PEM) to serve HTTPS with, given with `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on an address other than loopback (refused otherwise).
    pub allow_plaintext: bool,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            enabled: true,
            token: None,
            protect_reads: false,
            tokens: Vec::new(),
            tls_cert: None,
            tls_key: None,
            allow_plaintext: false,
        }
    }
}

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
        }
    }
}

/// One `[[p4runtime]]` device.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct P4Section {
    /// `host:port` of its P4Runtime server.
    pub address: String,
    /// Device id on that server.
    pub device_id: u64,
    /// Data-plane port numbers.
    pub ports: Vec<u32>,
    /// Port speed, Mbit/s (P4Runtime reports none; 1000 when absent, never 0).
    #[serde(default = "gigabit")]
    pub port_speed_mbps: u64,
    /// Election id (must differ between controllers sharing the device); in cluster mode
    /// ids follow the election instead (the leader's is the highest).
    #[serde(default = "one")]
    pub election_id: u64,
    /// P4Info file (text or binary, by content); prescient.p4's embedded one when absent.
    #[serde(default)]
    pub p4info: Option<PathBuf>,
    /// Target pipeline file (BMv2 JSON from p4c); prescient.p4's embedded one when absent.
    #[serde(default)]
    pub device_config: Option<PathBuf>,
    /// Counter read period, seconds.
    #[serde(default = "two")]
    pub stats_interval_secs: u64,
    /// Priority queues per port the target was started with (BMv2 `--priority-queues N`).
    #[serde(default = "one_queue")]
    pub priority_queues: u8,
    /// CA certificate(s) (PEM) the device's certificate must chain to: P4Runtime over TLS.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// Our certificate chain (PEM) for a device requiring mutual TLS, given with `tls_key`.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// The name the device's certificate carries, when it is not the address's host.
    #[serde(default)]
    pub tls_server_name: Option<String>,
}

fn gigabit() -> u64 {
    1000
}

fn one_queue() -> u8 {
    1
}

fn one() -> u64 {
    1
}

fn two() -> u64 {
    2
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and checks `text`; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        config.check(path)?;
        Ok(config)
    }

    fn check(&self, path: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: String, why: &str| ConfigError::Invalid {
            path: path.to_string(),
            key: key.to_string(),
            value,
            why: why.to_string(),
        };
        let d = &self.discovery;
        if d.probe_interval_ms == 0 {
            return Err(invalid(
                "discovery.probe_interval_ms",
                "0".into(),
                "must be at least 1",
            ));
        }
        if d.link_timeout_ms <= d.probe_interval_ms {
            return Err(invalid(
                "discovery.link_timeout_ms",
                d.link_timeout_ms.to_string(),
                "must exceed discovery.probe_interval_ms, or every link would expire between probes",
            ));
        }
        let p = &self.planning;
        if p.control_interval_ms == 0 {
            return Err(invalid(
                "planning.control_interval_ms",
                "0".into(),
                "must be at least 1",
            ));
        }
        if p.horizon == 0 {
            return Err(invalid(
                "planning.horizon",
                "0".into(),
                "must be at least 1",
            ));
        }
        if !(p.hot_threshold > 0.0 && p.hot_threshold <= 1.0) {
            return Err(invalid(
                "planning.hot_threshold",
                p.hot_threshold.to_string(),
                "must be a share of capacity in (0, 1]",
            ));
        }
        if !crate::sizing::valid_violation(p.violation_target) {
            return Err(invalid(
                "planning.violation_target",
                p.violation_target.to_string(),
                "must be a share in (0, 0.5)",
            ));
        }
        if !(p.reserve_headroom.is_finite() && p.reserve_headroom >= 1.0) {
            return Err(invalid(
                "planning.reserve_headroom",
                p.reserve_headroom.to_string(),
                "must be a factor of at least 1 (a reservation below the forecast bound would police forecast traffic)",
            ));
        }
        if !(p.reserve_hysteresis.is_finite() && (0.0..1.0).contains(&p.reserve_hysteresis)) {
            return Err(invalid(
                "planning.reserve_hysteresis",
                p.reserve_hysteresis.to_string(),
                "must be a share in [0, 1)",
            ));
        }
        if p.reserve_min_bps == 0 {
            return Err(invalid(
                "planning.reserve_min_bps",
                "0".into(),
                "must be at least 1 (a reservation must reserve something)",
            ));
        }
        if p.reserve_tier > 7 {
            return Err(invalid(
                "planning.reserve_tier",
                p.reserve_tier.to_string(),
                "tiers are 0 ..= 7",
            ));
        }
        if self.store.path.as_os_str().is_empty() {
            return Err(invalid(
                "store.path",
                "\"\"".into(),
                "must name a file (the default is prescient.redb)",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, t) in self.p4runtime.iter().enumerate() {
            if !seen.insert(t.device_id) {
                return Err(invalid(
                    &format!("p4runtime[{i}].device_id"),
                    t.device_id.to_string(),
                    "names a device already configured (device ids must be unique)",
                ));
            }
            if t.port_speed_mbps == 0 {
                return Err(invalid(
                    &format!("p4runtime[{i}].port_speed_mbps"),
                    "0".into(),
                    "a port of capacity 0 refuses every reservation (the default is 1000)",
                ));
            }
            if !(1..=8).contains(&t.priority_queues) {
                return Err(invalid(
                    &format!("p4runtime[{i}].priority_queues"),
                    t.priority_queues.to_string(),
                    "BMv2 has 1 ..= 8 priority queues per port (1 when started without \
                     --priority-queues)",
                ));
            }
            if t.ports.is_empty() {
                return Err(invalid(
                    &format!("p4runtime[{i}].ports"),
                    "[]".into(),
                    "a device needs at least one port for discovery",
                ));
            }
            if t.stats_interval_secs == 0 {
                return Err(invalid(
                    &format!("p4runtime[{i}].stats_interval_secs"),
                    "0".into(),
                    "must be at least 1",
                ));
            }
        }
        self.services_and_hooks(path)?;
        self.device_names(path)?;
        self.tls(path)?;
        Ok(())
    }

    /// The TLS keys of every section, checked to come in usable combinations: the REST API's
    /// and the OpenFlow listener's.
    fn tls(
        &self,
        path: &str,
    ) -> Result<(Option<crate::tls::TlsFiles>, Option<crate::tls::ServerTls>), ConfigError> {
        tls::servers(self).map_err(|(key, value, why)| ConfigError::Invalid {
            path: path.to_string(),
            key,
            value,
            why,
        })
    }

    /// The `[[devices]]` names, checked.
    fn device_names(
        &self,
        path: &str,
    ) -> Result<std::collections::BTreeMap<prescient_topology::DeviceId, String>, ConfigError> {
        devices::names(&self.devices).map_err(|(key, value, why)| ConfigError::Invalid {
            path: path.to_string(),
            key,
            value,
            why,
        })
    }

    /// The services and hooks sections, checked.
    fn services_and_hooks(
        &self,
        path: &str,
    ) -> Result<(crate::services::ServicesConfig, crate::hooks::HooksConfig), ConfigError> {
        let invalid = |(key, value, why): services::Refusal| ConfigError::Invalid {
            path: path.to_string(),
            key,
            value,
            why,
        };
        let svc = services::services_config(&self.pools, &self.policies, &self.services)
            .map_err(invalid)?;
        let hooks = services::hooks_config(&self.hooks).map_err(invalid)?;
        Ok((svc, hooks))
    }

    /// The service configuration this file describes (P4Info and pipeline files are read).
    pub fn service(&self, path: &str) -> Result<ServiceConfig, ConfigError> {
        let http = self.http.enabled.then_some(self.http.listen);
        let mut service = ServiceConfig::new(self.openflow.listen, http);
        service.max_switches = self.openflow.max_switches;
        service.idle_timeout = self.openflow.idle_timeout_secs;
        service.session_threads = self.openflow.session_threads;
        service.stats_interval = (self.openflow.stats_interval_secs > 0)
            .then(|| Duration::from_secs(self.openflow.stats_interval_secs));
        let env = ApiConfig::from_env();
        service.api = ApiConfig {
            token: self.http.token.clone().or(env.token),
            protect_reads: self.http.protect_reads,
        };
        service.api_tokens = self.http.tokens.clone();
        (service.http_tls, service.openflow_tls) = self.tls(path)?;
        service.allow_plaintext = self.http.allow_plaintext;
        service.store = crate::store::StoreConfig {
            location: crate::store::StoreLocation::File(self.store.path.clone()),
            restore_grace: self.store.restore_grace_ms.map(Duration::from_millis),
        };
        service.cluster =
            self.cluster
                .cluster()
                .map_err(|(key, value, why)| ConfigError::Invalid {
                    path: path.to_string(),
                    key,
                    value,
                    why,
                })?;
        let core = &mut service.core;
        core.topology.discovery.probe_interval =
            Duration::from_millis(self.discovery.probe_interval_ms);
        core.topology.discovery.link_timeout =
            Duration::from_millis(self.discovery.link_timeout_ms);
        core.topology.names = self.device_names(path)?;
        if let Some(mbps) = self.discovery.default_port_speed_mbps {
            core.topology.capacity.default_bps = Some(mbps.saturating_mul(1_000_000));
        }
        core.control_interval = Duration::from_millis(self.planning.control_interval_ms);
        core.horizon = self.planning.horizon;
        core.hot_threshold = self.planning.hot_threshold;
        core.path_grace = Duration::from_millis(self.planning.path_grace_ms);
        core.planning = crate::core::PlanningConfig {
            warmup_points: self.planning.warmup_points,
            warmup_scored: self.planning.warmup_scored,
            reserve: self.planning.reserve,
            violation_target: self.planning.violation_target,
            reserve_min_bps: self.planning.reserve_min_bps,
            reserve_headroom: self.planning.reserve_headroom,
            reserve_hysteresis: self.planning.reserve_hysteresis,
            reserve_tier: self.planning.reserve_tier,
            calendar_lead: Duration::from_secs(self.planning.calendar_lead_secs),
        };
        for (i, t) in self.p4runtime.iter().enumerate() {
            let p4info_err = |source| ConfigError::P4Info {
                path: path.to_string(),
                key: format!("p4runtime[{i}].p4info"),
                source,
            };
            let p4info = match &t.p4info {
                Some(file) => {
                    prescient_southbound::p4runtime::load_p4info_file(file).map_err(p4info_err)?
                }
                None => prescient_p4info().map_err(p4info_err)?,
            };
            let device_config = match &t.device_config {
                Some(file) => std::fs::read(file).map_err(|source| ConfigError::Read {
                    path: file.clone(),
                    source,
                })?,
                None => crate::driver::p4runtime::PRESCIENT_BMV2_JSON.to_vec(),
            };
            service.p4.push(P4Target {
                address: t.address.clone(),
                device_id: t.device_id,
                ports: t.ports.clone(),
                port_speed_bps: Some(t.port_speed_mbps.saturating_mul(1_000_000)),
                election_id: u128::from(t.election_id),
                p4info,
                device_config,
                stats_interval: Duration::from_secs(t.stats_interval_secs),
                priority_queues: t.priority_queues,
                tls: tls::p4_paths(&self.p4runtime_tls, i, t)
                    .and_then(|paths| paths.map(|p| p.load()).transpose())
                    .map_err(|(key, value, why)| ConfigError::Invalid {
                        path: path.to_string(),
                        key,
                        value,
                        why,
                    })?,
            });
        }
        (service.services, service.hooks) = self.services_and_hooks(path)?;
        Ok(service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_the_defaults_and_builds_a_service() {
        let example = Config::parse(EXAMPLE, "example").expect("the example parses");
        let defaults = Config {
            p4runtime: example.p4runtime.clone(),
            ..Config::default()
        };
        assert_eq!(
            example, defaults,
            "the example's values drifted from the defaults"
        );
        example.service("example").expect("the example builds");
        assert_eq!(Config::parse("", "empty").unwrap(), Config::default());
    }

    #[test]
    fn devices_sections_name_switches_and_bad_ids_name_the_entry() {
        let text = "[[devices]]\nid = \"of:000000000000000b\"\nname = \"ATLAM5\"\n";
        let service = Config::parse(text, "c.toml")
            .and_then(|c| c.service("c.toml"))
            .expect("valid");
        let names = &service.core.topology.names;
        assert_eq!(
            names.get(&prescient_topology::DeviceId::openflow(11)),
            Some(&"ATLAM5".to_string())
        );
        let err = Config::parse("[[devices]]\nid = \"s11\"\nname = \"x\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("devices[0].id") && err.contains("\"s11\""),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name_and_line() {
        let err = Config::parse(
            "[openflow]\nlisten = \"127.0.0.1:6653\"\nlistne = 1\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("listne"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn wrong_types_and_out_of_range_values_name_the_key() {
        let err = Config::parse("[openflow]\nmax_switches = \"many\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_switches"), "{err}");
        let err = Config::parse("[planning]\nhot_threshold = 1.5\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("planning.hot_threshold") && err.contains("1.5"),
            "{err}"
        );
        let err = Config::parse(
            "[discovery]\nprobe_interval_ms = 1000\nlink_timeout_ms = 500\n",
            "c.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("discovery.link_timeout_ms"), "{err}");
    }

    #[test]
    fn forecast_reservation_keys_are_checked_and_reach_the_core() {
        let err = Config::parse("[planning]\nreserve_headroom = 0.5\n", "c.toml")
            .expect_err("headroom below 1");
        assert!(
            err.to_string().contains("planning.reserve_headroom"),
            "{err}"
        );
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
            "[planning]\nreserve = false\nreserve_min_bps = 5000\nwarmup_points = 40\npath_grace_ms = 1500\nviolation_target = 0.05\n",
            "c.toml",
        )
        .expect("valid");
        let service = c.service("c.toml").expect("builds");
        assert!(!service.core.planning.reserve);
        assert_eq!(service.core.planning.reserve_min_bps, 5000);
        assert_eq!(service.core.planning.warmup_points, 40);
        assert_eq!(service.core.planning.violation_target, 0.05);
        assert_eq!(service.core.path_grace, Duration::from_millis(1500));
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

    #[test]
    fn p4_ports_default_to_a_gigabit_and_zero_is_refused() {
        let text = "[[p4runtime]]\naddress = \"127.0.0.1:9559\"\ndevice_id = 1\nports = [1]\n";
        let config = Config::parse(text, "t").expect("parses");
        let service = config.service("t").expect("builds");
        assert_eq!(service.p4[0].port_speed_bps, Some(1_000_000_000));
        assert_eq!(
            service.p4[0].reserved_priority(),
            0,
            "no priority queues by default"
        );
        assert!(
            service.p4[0].device_config.starts_with(b"{"),
            "the embedded BMv2 JSON is pushed when none is configured"
        );
        let zero = format!("{text}port_speed_mbps = 0\n");
        let err = Config::parse(&zero, "t").unwrap_err().to_string();
        assert!(err.contains("p4runtime[0].port_speed_mbps"), "{err}");
        let queues = format!("{text}priority_queues = 2\n");
        let service = Config::parse(&queues, "t").unwrap().service("t").unwrap();
        assert_eq!(service.p4[0].reserved_priority(), 1);
    }

    #[test]
    fn duplicate_p4_device_ids_are_refused() {
        let text = "[[p4runtime]]\naddress = \"127.0.0.1:9559\"\ndevice_id = 1\nports = [1]\n\
                    [[p4runtime]]\naddress = \"127.0.0.1:9560\"\ndevice_id = 1\nports = [1]\n";
        let err = Config::parse(text, "c.toml").unwrap_err().to_string();
        assert!(err.contains("p4runtime[1].device_id"), "{err}");
    }
}
