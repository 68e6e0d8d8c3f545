//! The TLS keys of the configuration (`[http]`, `[openflow]`, `[[p4runtime]]`, `[p4runtime_tls]`):
//! checked here to come in usable combinations. The P4Runtime files are read with the P4Info
//! when the service configuration is built; the REST API's and the OpenFlow listener's when the
//! service starts.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::services::Refusal;
use super::{Config, P4Section};
use crate::tls::client::P4TlsPaths;
use crate::tls::{ServerTls, TlsFiles};

/// `SECTION.tls_cert` and `SECTION.tls_key`: both (TLS) or neither (none).
pub fn server_files(
    section: &str,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Option<TlsFiles>, Refusal> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
        })),
        (None, None) => Ok(None),
        (Some(cert), None) => Err((
            format!("{section}.tls_cert"),
            format!("{:?}", cert.display().to_string()),
            format!("needs {section}.tls_key, the certificate's private key"),
        )),
        (None, Some(key)) => Err((
            format!("{section}.tls_key"),
            format!("{:?}", key.display().to_string()),
            format!("needs {section}.tls_cert, the certificate the key belongs to"),
        )),
    }
}

/// Every section's TLS keys checked (the P4Runtime devices' too); the REST API's and the
/// OpenFlow listener's server files.
pub fn servers(c: &Config) -> Result<(Option<TlsFiles>, Option<ServerTls>), Refusal> {
    for (i, t) in c.p4runtime.iter().enumerate() {
        p4_paths(&c.p4runtime_tls, i, t)?;
    }
    p4_global(&c.p4runtime_tls)?;
    let h = &c.http;
    let http = server_files("http", h.tls_cert.as_deref(), h.tls_key.as_deref())?;
    let o = &c.openflow;
    let openflow =
        match server_files("openflow", o.tls_cert.as_deref(), o.tls_key.as_deref())? {
            Some(files) => Some(ServerTls {
                files,
                client_ca: o.tls_ca.clone(),
            }),
            None => match &o.tls_ca {
                Some(ca) => return Err((
                    "openflow.tls_ca".into(),
                    quoted(ca),
                    "checks switches' certificates over TLS, which needs openflow.tls_cert and \
                     openflow.tls_key"
                        .into(),
                )),
                None => None,
            },
        };
    Ok((http, openflow))
}

/// `[p4runtime_tls]`: TLS to every `[[p4runtime]]` device that names no CA of its own (each
/// key also exists per device, prefixed `tls_`, and wins there).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct P4TlsSection {
    /// CA certificate(s) (PEM) the devices' certificates must chain to; turns TLS on.
    pub ca: Option<PathBuf>,
    /// Our certificate chain (PEM) for devices requiring mutual TLS, given with `key`.
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of `cert`.
    pub key: Option<PathBuf>,
    /// The name the devices' certificates carry, when it is not their address's host.
    pub server_name: Option<String>,
}

fn quoted(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

/// `[p4runtime_tls]` alone: `cert` and `key` both or neither, and only with a `ca`.
pub fn p4_global(g: &P4TlsSection) -> Result<(), Refusal> {
    let key = |k: &str| format!("p4runtime_tls.{k}");
    match (&g.cert, &g.key) {
        (Some(c), None) => Err((key("cert"), quoted(c), "needs p4runtime_tls.key".into())),
        (None, Some(k)) => Err((key("key"), quoted(k), "needs p4runtime_tls.cert".into())),
        (Some(c), Some(_)) if g.ca.is_none() => Err((
            key("cert"),
            quoted(c),
            "a client certificate is for TLS, which needs p4runtime_tls.ca to check the \
             devices' certificates"
                .into(),
        )),
        _ => Ok(()),
    }
}

/// Device `i`'s TLS: its own keys, else `[p4runtime_tls]`'s; `None` without a CA (plain).
pub fn p4_paths(g: &P4TlsSection, i: usize, d: &P4Section) -> Result<Option<P4TlsPaths>, Refusal> {
    let dev = |k: &str| format!("p4runtime[{i}].tls_{k}");
    let global = |k: &str| format!("p4runtime_tls.{k}");
    let identity = match (&d.tls_cert, &d.tls_key) {
        (Some(c), Some(k)) => Some(((dev("cert"), c.clone()), (dev("key"), k.clone()))),
        (Some(c), None) => {
            return Err((dev("cert"), quoted(c), format!("needs {}", dev("key"))));
        }
        (None, Some(k)) => {
            return Err((dev("key"), quoted(k), format!("needs {}", dev("cert"))));
        }
        (None, None) => match (&g.cert, &g.key) {
            (Some(c), Some(k)) => Some(((global("cert"), c.clone()), (global("key"), k.clone()))),
            _ => None,
        },
    };
    let ca = match (&d.tls_ca, &g.ca) {
        (Some(ca), _) => Some((dev("ca"), ca.clone())),
        (None, Some(ca)) => Some((global("ca"), ca.clone())),
        (None, None) => None,
    };
    let server_name = d.tls_server_name.clone().or_else(|| g.server_name.clone());
    match ca {
        Some(ca) => Ok(Some(P4TlsPaths::new(ca, identity, server_name))),
        None => match (&d.tls_cert, &d.tls_server_name) {
            (Some(c), _) => Err((
                dev("cert"),
                quoted(c),
                format!(
                    "TLS needs a CA to check the device's certificate: {} or p4runtime_tls.ca",
                    dev("ca")
                ),
            )),
            (None, Some(name)) => Err((
                dev("server_name"),
                format!("{name:?}"),
                format!(
                    "TLS needs a CA to check the device's certificate: {} or p4runtime_tls.ca",
                    dev("ca")
                ),
            )),
            (None, None) => Ok(None),
        },
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn a_certificate_without_its_key_is_refused_by_name() {
        let err = Config::parse("[http]\ntls_cert = \"cert.pem\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("http.tls_cert") && err.contains("http.tls_key"),
            "{err}"
        );
        let text = "[http]\nlisten = \"0.0.0.0:8443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n";
        let service = Config::parse(text, "c.toml")
            .and_then(|c| c.service("c.toml"))
            .expect("valid");
        let files = service.http_tls.expect("TLS configured");
        assert_eq!(files.cert, std::path::Path::new("c.pem"));
        assert!(!service.allow_plaintext);
    }

    const DEVICE: &str =
        "[[p4runtime]]\naddress = \"127.0.0.1:9559\"\ndevice_id = 1\nports = [1]\n";

    #[test]
    fn p4_tls_keys_come_in_usable_combinations() {
        let refused = |text: &str, key: &str| {
            let err = Config::parse(text, "c.toml").unwrap_err().to_string();
            assert!(err.contains(key), "{key} in {err}");
        };
        refused(
            &format!("{DEVICE}tls_cert = \"c.pem\"\n"),
            "p4runtime[0].tls_key",
        );
        refused(
            &format!("{DEVICE}tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n"),
            "p4runtime[0].tls_ca",
        );
        refused(
            "[p4runtime_tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n",
            "p4runtime_tls.ca",
        );
        refused("[p4runtime_tls]\nkey = \"k.pem\"\n", "p4runtime_tls.cert");
        // A global CA applies to every device; a CA file that is not there names its key.
        let text = format!("[p4runtime_tls]\nca = \"/nonexistent/ca.pem\"\n{DEVICE}");
        let config = Config::parse(&text, "c.toml").expect("the combination is valid");
        let err = config
            .service("c.toml")
            .expect_err("no CA file")
            .to_string();
        assert!(
            err.contains("p4runtime_tls.ca") && err.contains("/nonexistent/ca.pem"),
            "{err}"
        );
        let service = Config::parse(DEVICE, "c.toml").and_then(|c| c.service("c.toml"));
        assert!(service.expect("plain").p4[0].tls.is_none());
    }

    #[test]
    fn the_openflow_listener_takes_a_certificate_and_the_ca_switches_need() {
        let err = Config::parse("[openflow]\ntls_ca = \"switchca.pem\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("openflow.tls_ca") && err.contains("openflow.tls_cert"),
            "{err}"
        );
        let text =
            "[openflow]\nlisten = \"0.0.0.0:6653\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n\
                    tls_ca = \"switchca.pem\"\n";
        let service = Config::parse(text, "c.toml")
            .and_then(|c| c.service("c.toml"))
            .expect("valid");
        let tls = service.openflow_tls.expect("TLS configured");
        assert_eq!(tls.files.key, std::path::Path::new("k.pem"));
        assert_eq!(
            tls.client_ca.as_deref(),
            Some(std::path::Path::new("switchca.pem"))
        );
    }
}
