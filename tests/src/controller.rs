//! Starting the whole controller (`prescient::service::Service`) in a test.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use prescient::northbound::ApiConfig;
use prescient::service::{Service, ServiceConfig};
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

/// The leader every node of a cluster names, once that node says it leads (it has taken
/// over): its index in `nodes` and its term; panics after `wait`.
pub async fn agreed_leader(nodes: &[&Service], wait: Duration) -> (usize, u64) {
    let cluster = |n: &Service| n.cluster().cloned().expect("a cluster node");
    crate::wait_for("one leader all nodes agree on", wait, || {
        let named: std::collections::BTreeSet<Option<String>> = nodes
            .iter()
            .map(|n| cluster(n).status().current.map(|(m, _)| m.name))
            .collect();
        if named.len() != 1 {
            return None;
        }
        let name = named.into_iter().next()??;
        let i = nodes.iter().position(|n| cluster(n).me().name == name)?;
        let c = cluster(nodes[i]);
        c.is_leader().then(|| (i, c.term()))
    })
    .await
    .expect("a leader")
}
