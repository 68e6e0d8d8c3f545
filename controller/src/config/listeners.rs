//! `[openflow]` and `[http]`: where the controller listens for switches and for users.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::services::Refusal;

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

/// Most descriptors one process may hold by Linux's default (`fs.nr_open`): every switch
/// takes one, every session thread two (its runtime's epoll and wake-up descriptors), so
/// neither count can be larger.
pub const MAX_DESCRIPTORS: usize = 1 << 20;

impl OpenFlowSection {
    /// Room for at least one switch, and counts a process can hold.
    pub fn check(&self) -> Result<(), Refusal> {
        let refuse = |key: &str, value: usize, why: String| {
            Err((format!("openflow.{key}"), value.to_string(), why))
        };
        if self.max_switches == 0 {
            return refuse(
                "max_switches",
                0,
                "must be at least 1 (0 would refuse every switch)".into(),
            );
        }
        if self.idle_timeout_secs == 0 {
            return refuse(
                "idle_timeout_secs",
                0,
                "must be at least 1: OpenFlow reads 0 as never, so learned flows would \
                 outlive host moves and fill the switches' tables, and a new cluster leader \
                 removes flows without a timeout as stale"
                    .into(),
            );
        }
        for (key, value) in [
            ("max_switches", self.max_switches),
            ("session_threads", self.session_threads),
        ] {
            if value > MAX_DESCRIPTORS {
                return refuse(
                    key,
                    value,
                    format!(
                        "must be at most {MAX_DESCRIPTORS}, the descriptors one process may hold \
                         (fs.nr_open)"
                    ),
                );
            }
        }
        Ok(())
    }
}

impl HttpSection {
    /// Every token one a request can carry: an empty one was dropped (it would match an empty
    /// header), and with it `PRESCIENT_API_TOKEN`, which `token` overrides; a request's token
    /// is trimmed and must be printable ASCII to be a header value, so a token with spaces
    /// around it or other characters could never match.
    pub fn check(&self) -> Result<(), Refusal> {
        let given = self
            .token
            .iter()
            .map(|t| ("http.token".to_string(), t))
            .chain(
                self.tokens
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (format!("http.tokens[{i}].token"), &t.token)),
            );
        let mut seen: Vec<(String, &str)> = Vec::new();
        for (key, token) in given {
            // A token listed twice takes the larger of its scopes: the smaller was silently
            // not applied.
            if let Some((earlier, _)) = seen.iter().find(|(_, t)| *t == token.as_str()) {
                return Err((
                    key,
                    "(not shown)".into(),
                    format!("is the token of {earlier} already; a token has one scope"),
                ));
            }
            seen.push((key.clone(), token));
            if !usable_token(token) {
                // A token is a secret: only an empty one is shown.
                let shown = if token.is_empty() {
                    "\"\""
                } else {
                    "(not shown)"
                };
                return Err((
                    key,
                    shown.into(),
                    "a token must be printable ASCII, not empty and without spaces around it \
                     (a request could never carry it)"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

/// A token a request can carry in `Authorization: Bearer` and match after trimming.
fn usable_token(token: &str) -> bool {
    !token.is_empty()
        && token.trim() == token
        && token.chars().all(|c| c == ' ' || c.is_ascii_graphic())
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

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn refused(text: &str) -> String {
        Config::parse(text, "c.toml").unwrap_err().to_string()
    }

    #[test]
    fn tokens_no_request_can_carry_are_refused_by_name() {
        let e = refused("[http]\ntoken = \"\"\n");
        assert!(e.contains("http.token") && e.contains("\"\""), "{e}");
        let e = refused("[http]\ntoken = \" secret\"\n");
        assert!(e.contains("http.token") && !e.contains("secret"), "{e}");
        let e = refused(
            "[[http.tokens]]\ntoken = \"ok\"\nscope = \"read\"\n\
             [[http.tokens]]\ntoken = \"caf\u{e9}\"\nscope = \"admin\"\n",
        );
        assert!(e.contains("http.tokens[1].token"), "{e}");
        let e = refused(
            "[http]\ntoken = \"s3cret\"\n[[http.tokens]]\ntoken = \"viewer\"\nscope = \"read\"\n\
             [[http.tokens]]\ntoken = \"s3cret\"\nscope = \"read\"\n",
        );
        assert!(
            e.contains("http.tokens[1].token")
                && e.contains("http.token ")
                && !e.contains("s3cret"),
            "{e}"
        );
        let c = Config::parse("[http]\ntoken = \"two words\"\n", "c.toml").expect("valid");
        let service = c.service("c.toml").expect("builds");
        assert_eq!(service.api.token.as_deref(), Some("two words"));
    }

    #[test]
    fn an_idle_timeout_of_zero_which_openflow_reads_as_never_is_refused() {
        let e = refused("[openflow]\nidle_timeout_secs = 0\n");
        assert!(
            e.contains("openflow.idle_timeout_secs") && e.contains("never"),
            "{e}"
        );
        let c = Config::parse("[openflow]\nidle_timeout_secs = 1\n", "c.toml").expect("valid");
        assert_eq!(c.service("c.toml").expect("builds").idle_timeout, 1);
    }

    #[test]
    fn switch_and_thread_counts_a_process_cannot_hold_are_refused_by_name() {
        let e = refused("[openflow]\nmax_switches = 0\n");
        assert!(
            e.contains("openflow.max_switches") && e.contains("= 0"),
            "{e}"
        );
        let e = refused("[openflow]\nmax_switches = 18446744073709551615\n");
        assert!(
            e.contains("openflow.max_switches") && e.contains("1048576"),
            "{e}"
        );
        let e = refused("[openflow]\nsession_threads = 18446744073709551615\n");
        assert!(e.contains("openflow.session_threads"), "{e}");
        let c = Config::parse(
            "[openflow]\nmax_switches = 1\nsession_threads = 1048576\n",
            "c.toml",
        )
        .expect("the limits themselves are valid");
        assert_eq!(c.service("c.toml").expect("builds").max_switches, 1);
    }
}
