//! `[[p4runtime]]`: the P4Runtime devices to drive, checked, then turned into targets with
//! their P4Info, pipeline and TLS files read.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use prescient_southbound::p4runtime::proto::p4::config::v1::P4Info;
use prescient_southbound::p4runtime::SharedTls;
use serde::Deserialize;

use super::services::Refusal;
use super::{tls, Config, ConfigError};
use crate::driver::p4runtime::{prescient_p4info, P4Target};

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

/// Every device's values usable, and no device id twice.
pub fn check(devices: &[P4Section]) -> Result<(), Refusal> {
    let refuse = |i: usize, key: &str, value: String, why: &str| {
        (format!("p4runtime[{i}].{key}"), value, why.to_string())
    };
    let mut seen = std::collections::BTreeSet::new();
    for (i, t) in devices.iter().enumerate() {
        if !seen.insert(t.device_id) {
            return Err(refuse(
                i,
                "device_id",
                t.device_id.to_string(),
                "names a device already configured (device ids must be unique)",
            ));
        }
        if let Err(why) = target_address(&t.address) {
            return Err(refuse(i, "address", format!("{:?}", t.address), &why));
        }
        if t.port_speed_mbps == 0 {
            return Err(refuse(
                i,
                "port_speed_mbps",
                "0".into(),
                "a port of capacity 0 refuses every reservation (the default is 1000)",
            ));
        }
        if !(1..=8).contains(&t.priority_queues) {
            return Err(refuse(
                i,
                "priority_queues",
                t.priority_queues.to_string(),
                "BMv2 has 1 ..= 8 priority queues per port (1 when started without \
                 --priority-queues)",
            ));
        }
        if t.ports.is_empty() {
            return Err(refuse(
                i,
                "ports",
                "[]".into(),
                "a device needs at least one port for discovery",
            ));
        }
        // The driver floods out of every listed port and reads each one's counter cells: a
        // port listed twice got every flooded packet twice.
        if let Some((k, port)) = t
            .ports
            .iter()
            .enumerate()
            .find(|(k, p)| t.ports[..*k].contains(p))
        {
            return Err(refuse(
                i,
                &format!("ports[{k}]"),
                port.to_string(),
                "is listed already (each port once)",
            ));
        }
        if t.stats_interval_secs == 0 {
            return Err(refuse(
                i,
                "stats_interval_secs",
                "0".into(),
                "must be at least 1",
            ));
        }
    }
    Ok(())
}

/// Why `address` cannot be connected to, if it cannot: it must be what the P4Runtime client
/// makes a URI of (`host:port`, or an `http://` or `https://` URL) with a host and a port
/// (without one, the client would dial port 80, not a P4Runtime server's 9559). Checked at
/// load: the driver retries a bad one every few hundred milliseconds forever, warning.
fn target_address(address: &str) -> Result<(), String> {
    let uri = if address.contains("://") {
        address.to_string()
    } else {
        format!("http://{address}")
    };
    let uri: hyper::Uri = uri.parse().map_err(|e| format!("is not host:port ({e})"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err("a URL here is http:// or https://".into());
    }
    match (uri.host(), uri.port_u16()) {
        (Some(host), Some(_)) if !host.is_empty() => Ok(()),
        _ => Err("must be host:port (P4Runtime servers listen on 9559 by default)".into()),
    }
}

/// The shared copy of `value`: an equal one already in `seen`, else `value` made shared and
/// remembered.
fn share<T, S: Clone>(
    seen: &mut Vec<S>,
    value: T,
    equal: impl Fn(&S, &T) -> bool,
    make: impl FnOnce(T) -> S,
) -> S {
    if let Some(s) = seen.iter().find(|s| equal(s, &value)) {
        return s.clone();
    }
    let s = make(value);
    seen.push(s.clone());
    s
}

/// The targets of every `[[p4runtime]]` device of `config`, their files read; `path` names the
/// configuration in errors.
pub fn targets(config: &Config, path: &str) -> Result<Vec<P4Target>, ConfigError> {
    let mut targets = Vec::with_capacity(config.p4runtime.len());
    // Devices running one program share its P4Info and device config (equal content, whatever
    // file it came from): a hundred devices held a hundred copies of a 104 KB BMv2 JSON.
    let mut p4infos: Vec<Arc<P4Info>> = Vec::new();
    // Each file (or the embedded P4Info) parsed once: parsing text builds a 1 MB descriptor
    // pool.
    let mut parsed: Vec<(Option<&std::path::Path>, Arc<P4Info>)> = Vec::new();
    let mut device_configs: Vec<Bytes> = Vec::new();
    for (i, t) in config.p4runtime.iter().enumerate() {
        let p4info_err = |source| ConfigError::P4Info {
            path: path.to_string(),
            key: format!("p4runtime[{i}].p4info"),
            source,
        };
        let source = t.p4info.as_deref();
        let p4info = match parsed.iter().find(|(s, _)| *s == source) {
            Some((_, p4info)) => p4info.clone(),
            None => {
                let p4info = match source {
                    Some(file) => prescient_southbound::p4runtime::load_p4info_file(file)
                        .map_err(p4info_err)?,
                    None => prescient_p4info().map_err(p4info_err)?,
                };
                let p4info = share(&mut p4infos, p4info, |a, b| **a == *b, Arc::new);
                parsed.push((source, p4info.clone()));
                p4info
            }
        };
        let device_config = match &t.device_config {
            Some(file) => std::fs::read(file).map_err(|source| ConfigError::Read {
                path: file.clone(),
                source,
            })?,
            None => crate::driver::p4runtime::PRESCIENT_BMV2_JSON.to_vec(),
        };
        let device_config = share(
            &mut device_configs,
            device_config,
            |a, b| a[..] == b[..],
            Bytes::from,
        );
        let tls_files = tls::p4_paths(&config.p4runtime_tls, i, t)
            .map_err(|refusal| ConfigError::invalid(path, refusal))?;
        targets.push(P4Target {
            address: t.address.clone(),
            device_id: t.device_id,
            ports: t.ports.clone(),
            port_speed_bps: Some(t.port_speed_mbps.saturating_mul(1_000_000)),
            election_id: u128::from(t.election_id),
            p4info,
            device_config,
            stats_interval: Duration::from_secs(t.stats_interval_secs),
            priority_queues: t.priority_queues,
            tls: tls_files
                .as_ref()
                .map(|files| files.load().map(SharedTls::new))
                .transpose()
                .map_err(|e| {
                    let value = format!("{:?}", e.path.display().to_string());
                    ConfigError::invalid(path, (e.key, value, e.why))
                })?,
            tls_files,
        });
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

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
        let two = format!(
            "{text}\n[[p4runtime]]\naddress = \"127.0.0.1:9559\"\ndevice_id = 2\nports = [1]\n"
        );
        let service = Config::parse(&two, "t").unwrap().service("t").unwrap();
        assert!(
            std::sync::Arc::ptr_eq(&service.p4[0].p4info, &service.p4[1].p4info)
                && service.p4[0].device_config.as_ptr() == service.p4[1].device_config.as_ptr(),
            "devices running one program share its P4Info and device config"
        );
        let zero = format!("{text}port_speed_mbps = 0\n");
        let err = Config::parse(&zero, "t").unwrap_err().to_string();
        assert!(err.contains("p4runtime[0].port_speed_mbps"), "{err}");
        let queues = format!("{text}priority_queues = 2\n");
        let service = Config::parse(&queues, "t").unwrap().service("t").unwrap();
        assert_eq!(service.p4[0].reserved_priority(), 1);
    }

    #[test]
    fn p4_addresses_the_client_cannot_dial_are_refused_at_load() {
        let device = |address: &str| {
            format!("[[p4runtime]]\naddress = \"{address}\"\ndevice_id = 1\nports = [1]\n")
        };
        for bad in [
            "not an address",
            "",
            "127.0.0.1",
            "ftp://127.0.0.1:9559",
            "host:port",
        ] {
            let err = Config::parse(&device(bad), "c.toml")
                .expect_err(bad)
                .to_string();
            assert!(
                err.contains("p4runtime[0].address") && err.contains(&format!("{bad:?}")),
                "{err}"
            );
        }
        for good in [
            "127.0.0.1:9559",
            "switch-1:9559",
            "[::1]:9559",
            "http://10.0.0.1:50001",
        ] {
            Config::parse(&device(good), "c.toml").expect(good);
        }
    }

    #[test]
    fn a_port_listed_twice_is_refused_naming_it() {
        let text =
            "[[p4runtime]]\naddress = \"127.0.0.1:9559\"\ndevice_id = 1\nports = [1, 2, 1]\n";
        let err = Config::parse(text, "c.toml").unwrap_err().to_string();
        assert!(
            err.contains("p4runtime[0].ports[2]") && err.contains("= 1:"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_p4_device_ids_are_refused() {
        let text = "[[p4runtime]]\naddress = \"127.0.0.1:9559\"\ndevice_id = 1\nports = [1]\n\
                    [[p4runtime]]\naddress = \"127.0.0.1:9560\"\ndevice_id = 1\nports = [1]\n";
        let err = Config::parse(text, "c.toml").unwrap_err().to_string();
        assert!(err.contains("p4runtime[1].device_id"), "{err}");
    }
}
