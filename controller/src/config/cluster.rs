//! `[cluster]`: several controllers on one etcd (see `crate::cluster`). Absent or without
//! endpoints: the single-process default with its redb file.

use std::time::Duration;

use serde::Deserialize;

use crate::cluster::ClusterConfig;

/// `[cluster]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// etcd client URLs (`http://host:port`); empty: single process.
    pub etcd: Vec<String>,
    /// This node's name, unique in the cluster.
    pub name: String,
    /// The REST address other nodes redirect writes to; absent: `http://` + the HTTP listen
    /// address.
    pub api: Option<String>,
    /// Lease TTL, milliseconds (whole seconds: etcd grants seconds; at least 1000).
    pub lease_ttl_ms: u64,
    /// How long one etcd request may take, milliseconds.
    pub timeout_ms: u64,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            etcd: Vec::new(),
            name: String::new(),
            api: None,
            lease_ttl_ms: 2000,
            timeout_ms: 2000,
        }
    }
}

/// A refusal: key, value, why.
pub type Refusal = (String, String, String);

impl ClusterSection {
    /// The cluster configuration, `None` without endpoints.
    pub fn cluster(&self) -> Result<Option<ClusterConfig>, Refusal> {
        if self.etcd.is_empty() {
            return Ok(None);
        }
        let refuse = |key: &str, value: String, why: &str| {
            Err((format!("cluster.{key}"), value, why.to_string()))
        };
        for url in &self.etcd {
            if !http_url(url) {
                return refuse(
                    "etcd",
                    format!("{url:?}"),
                    "an etcd endpoint is a URL: http://host:port",
                );
            }
        }
        // Followers redirect writes to the leader's `api` + the request's path: a value that
        // is not a URL sent every write to nowhere.
        if let Some(api) = self.api.as_deref().filter(|api| !http_url(api)) {
            return refuse(
                "api",
                format!("{api:?}"),
                "the address other nodes redirect writes to is a URL: http(s)://host:port",
            );
        }
        if self.name.is_empty() || self.name.contains('/') {
            return refuse(
                "name",
                format!("{:?}", self.name),
                "each node needs a name, unique in the cluster, without '/'",
            );
        }
        if self.lease_ttl_ms < 1000 || self.lease_ttl_ms % 1000 != 0 {
            return refuse(
                "lease_ttl_ms",
                self.lease_ttl_ms.to_string(),
                "etcd grants leases in whole seconds, at least 1 (2000 is etcd's smallest at its default timing)",
            );
        }
        if self.timeout_ms == 0 {
            return refuse("timeout_ms", "0".into(), "must be at least 1");
        }
        Ok(Some(ClusterConfig {
            endpoints: self.etcd.clone(),
            name: self.name.clone(),
            api: self.api.clone(),
            lease_ttl: Duration::from_millis(self.lease_ttl_ms),
            timeout: Duration::from_millis(self.timeout_ms),
        }))
    }
}

/// An `http://` or `https://` URL with a host.
fn http_url(text: &str) -> bool {
    text.parse::<hyper::Uri>().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https"))
            && uri.host().is_some_and(|h| !h.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> ClusterSection {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn without_endpoints_it_is_the_single_process_default() {
        assert_eq!(ClusterSection::default().cluster(), Ok(None));
    }

    #[test]
    fn a_cluster_needs_urls_a_name_and_whole_second_leases() {
        let ok = section("etcd = [\"http://127.0.0.1:2379\"]\nname = \"a\"\n")
            .cluster()
            .expect("valid")
            .expect("cluster mode");
        assert_eq!(ok.lease_ttl, Duration::from_secs(2));
        assert_eq!(ok.name, "a");
        let key = |t: &str| section(t).cluster().expect_err("refused").0;
        assert_eq!(
            key("etcd = [\"127.0.0.1:2379\"]\nname = \"a\"\n"),
            "cluster.etcd"
        );
        assert_eq!(key("etcd = [\"http://h:1\"]\n"), "cluster.name");
        assert_eq!(key("etcd = [\"http://\"]\nname = \"a\"\n"), "cluster.etcd");
        let api =
            |value: &str| format!("etcd = [\"http://h:1\"]\nname = \"a\"\napi = \"{value}\"\n");
        for bad in ["not a url", "h:8080", "http://", "ftp://h:8080"] {
            let (key, value, _) = section(&api(bad)).cluster().expect_err(bad);
            assert_eq!((key.as_str(), value), ("cluster.api", format!("{bad:?}")));
        }
        let ok = section(&api("https://node-a.example:8443")).cluster();
        assert_eq!(
            ok.expect("valid").expect("cluster mode").api.as_deref(),
            Some("https://node-a.example:8443")
        );
        assert_eq!(
            key("etcd = [\"http://h:1\"]\nname = \"a\"\nlease_ttl_ms = 1500\n"),
            "cluster.lease_ttl_ms"
        );
    }
}
