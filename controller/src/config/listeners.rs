//! `[openflow]` and `[http]`: where the controller listens for switches and for users.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

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
    /// Longest a busy session thread polls for more packet-ins before sleeping, microseconds
    /// (0: never; the window adapts to the traffic, an idle thread does not poll). Pays when
    /// the session threads have cores to themselves.
    pub busy_poll_us: u64,
    /// Certificate chain (PEM) to accept switches over TLS with (`ssl:` targets), with
    /// `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// CA (PEM) that must have signed every switch's certificate; switches then need one.
    pub tls_ca: Option<PathBuf>,
    /// Accept switches over plain TCP on an address other than loopback (refused otherwise).
    pub allow_plaintext: bool,
}

impl Default for OpenFlowSection {
    fn default() -> Self {
        OpenFlowSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 6653)),
            max_switches: 4096,
            idle_timeout_secs: 60,
            stats_interval_secs: 2,
            session_threads: 0,
            busy_poll_us: 0,
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            allow_plaintext: false,
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
