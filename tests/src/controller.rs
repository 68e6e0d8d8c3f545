//! Starting the whole controller (`prescient::service::Service`) in a test.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use prescient::northbound::ApiConfig;
use prescient::service::ServiceConfig;
use prescient::store::{StoreConfig, StoreLocation};

/// A controller configuration for tests: OpenFlow on `openflow`, the REST API on `http` when
/// given, and link discovery fast enough for a test (an LLDP probe every 300 ms, a link expires
/// after 2 s without one).
pub fn config(openflow: SocketAddr, http: Option<SocketAddr>) -> ServiceConfig {
    let mut config = ServiceConfig::new(openflow, http);
    config.core.topology.discovery.probe_interval = Duration::from_millis(300);
    config.core.topology.discovery.link_timeout = Duration::from_secs(2);
    config
}

/// `config` as a controller that keeps its state in the redb file `store` (what a restart must
/// find again) and takes writes with the bearer `token`, reads open.
pub fn persistent(mut config: ServiceConfig, store: &Path, token: &str) -> ServiceConfig {
    config.api = ApiConfig {
        token: Some(token.to_string()),
        protect_reads: false,
    };
    config.store = StoreConfig {
        location: StoreLocation::File(store.to_owned()),
        restore_grace: None,
    };
    config
}
