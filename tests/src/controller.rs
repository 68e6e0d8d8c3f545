//! Starting the whole controller (`prescient::service::Service`) in a test.

use std::net::SocketAddr;
use std::time::Duration;

use prescient::service::ServiceConfig;

/// A controller configuration for tests: OpenFlow on `openflow`, the REST API on `http` when
/// given, and link discovery fast enough for a test (an LLDP probe every 300 ms, a link expires
/// after 2 s without one).
pub fn config(openflow: SocketAddr, http: Option<SocketAddr>) -> ServiceConfig {
    let mut config = ServiceConfig::new(openflow, http);
    config.core.topology.discovery.probe_interval = Duration::from_millis(300);
    config.core.topology.discovery.link_timeout = Duration::from_secs(2);
    config
}
