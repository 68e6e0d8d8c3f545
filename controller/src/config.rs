//! The controller's configuration file (TOML), parsed once into typed values.
//!
//! Strict, as Faucet's: an unknown key is refused with its name and line, a value of the wrong
//! type or out of range names the key and why. Every setting has a default, so an empty file
//! (or none) is a valid configuration; `prescient config example` prints [`EXAMPLE`].
//!
//! One module per group of sections (each section's keys, defaults and checks together):
//! [`listeners`] (`[openflow]`, `[http]`), [`planning`] (`[discovery]`, `[planning]`,
//! `[store]`), [`p4runtime`], [`tls`], [`services`] (pools, policies, services, hooks),
//! [`cluster`], [`devices`]; [`durations`] bounds every duration key of them all. This file
//! holds the whole and builds the service from it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::northbound::ApiConfig;
use crate::service::ServiceConfig;

pub mod cluster;
pub mod devices;
pub mod durations;
pub mod listeners;
pub mod p4runtime;
pub mod planning;
pub mod services;
pub mod tls;

pub use listeners::{HttpSection, OpenFlowSection};
pub use p4runtime::P4Section;
pub use planning::{DiscoverySection, PlanningSection, StoreSection};

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

impl ConfigError {
    /// The refusal `(key, value, why)` of a value in the file `path`.
    fn invalid(path: &str, (key, value, why): services::Refusal) -> ConfigError {
        ConfigError::Invalid {
            path: path.to_string(),
            key,
            value,
            why,
        }
    }
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
        let invalid = |refusal| ConfigError::invalid(path, refusal);
        durations::check(self).map_err(invalid)?;
        self.openflow.check().map_err(invalid)?;
        self.http.check().map_err(invalid)?;
        self.listeners_apart().map_err(invalid)?;
        self.discovery.check().map_err(invalid)?;
        self.planning.check().map_err(invalid)?;
        self.store.check().map_err(invalid)?;
        p4runtime::check(&self.p4runtime).map_err(invalid)?;
        self.services_and_hooks(path)?;
        self.device_names(path)?;
        self.tls(path)?;
        Ok(())
    }

    /// The OpenFlow listener and the REST API on addresses that do not collide: on one port,
    /// the second to bind failed at start with "cannot listen for OpenFlow on ...: Address
    /// already in use", which named neither key.
    fn listeners_apart(&self) -> Result<(), services::Refusal> {
        let (of, http) = (self.openflow.listen, self.http.listen);
        let overlap =
            of.ip() == http.ip() || of.ip().is_unspecified() || http.ip().is_unspecified();
        if self.http.enabled && of.port() != 0 && of.port() == http.port() && overlap {
            return Err((
                "http.listen".into(),
                format!("\"{http}\""),
                format!("collides with openflow.listen = \"{of}\": one port cannot serve both"),
            ));
        }
        Ok(())
    }

    /// The TLS keys of every section, checked to come in usable combinations: the REST API's
    /// and the OpenFlow listener's.
    fn tls(
        &self,
        path: &str,
    ) -> Result<(Option<crate::tls::TlsFiles>, Option<crate::tls::ServerTls>), ConfigError> {
        tls::servers(self).map_err(|refusal| ConfigError::invalid(path, refusal))
    }

    /// The `[[devices]]` names, checked.
    fn device_names(
        &self,
        path: &str,
    ) -> Result<std::collections::BTreeMap<prescient_topology::DeviceId, String>, ConfigError> {
        devices::names(&self.devices).map_err(|refusal| ConfigError::invalid(path, refusal))
    }

    /// The services and hooks sections, checked.
    fn services_and_hooks(
        &self,
        path: &str,
    ) -> Result<(crate::services::ServicesConfig, crate::hooks::HooksConfig), ConfigError> {
        let invalid = |refusal| ConfigError::invalid(path, refusal);
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
        service.busy_poll = Duration::from_micros(self.openflow.busy_poll_us);
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
        service.openflow_allow_plaintext = self.openflow.allow_plaintext;
        service.store = self.store.store_config();
        service.cluster = self
            .cluster
            .cluster()
            .map_err(|refusal| ConfigError::invalid(path, refusal))?;
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
        core.compact_above_series = self.planning.compact_above_series;
        core.planning = self.planning.planning_config();
        service.p4 = p4runtime::targets(self, path)?;
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
    fn the_openflow_listener_and_the_api_on_one_port_are_refused() {
        let text = |of: &str, http: &str| {
            format!("[openflow]\nlisten = \"{of}\"\n[http]\nlisten = \"{http}\"\n")
        };
        for (of, http) in [
            ("127.0.0.1:18930", "127.0.0.1:18930"),
            ("0.0.0.0:18930", "127.0.0.1:18930"),
        ] {
            let err = Config::parse(&text(of, http), "c.toml")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("http.listen") && err.contains("openflow.listen") && err.contains(of),
                "{err}"
            );
        }
        for (of, http) in [
            ("127.0.0.1:0", "127.0.0.1:0"),
            ("127.0.0.1:18930", "127.0.0.2:18930"),
        ] {
            Config::parse(&text(of, http), "c.toml").expect("apart");
        }
        let off = format!(
            "{}enabled = false\n",
            text("127.0.0.1:18930", "127.0.0.1:18930")
        );
        Config::parse(&off, "c.toml").expect("no API, no collision");
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
}
