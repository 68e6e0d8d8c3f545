//! A lab user's first run: Mininet (`mininet/lab.py`, Open vSwitch userspace datapath, OpenFlow
//! 1.3, fail mode secure) pointed at Prescient gets every host talking to every other, on the
//! first try: the lab waits until the controller's REST API shows every switch and link, then
//! pings at once (no retry, no extra settling).
//!
//! The controller runs in-process; it must discover every inter-switch link over LLDP and then
//! forward reactively. Both networks have loops: flooding there only terminates because of the
//! driver's spanning-tree flood guard.
//!
//! Needs root (see `prescient_tests::root_tests_enabled`); the labs use the system Open vSwitch,
//! started here if it is not running, and run one at a time.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use prescient::driver::openflow::blocked_ports;
use prescient::service::{Service, ServiceConfig};
use prescient_tests::http::get;
use prescient_tests::mininet::{exclusive, Lab, SystemOvs};
use prescient_tests::root_tests_enabled;
use prescient_topology::DeviceId;

/// A controller that names the switches in `configured` (datapath id, name) as a `[[devices]]`
/// section of its configuration would.
async fn controller(configured: &[(u64, &str)]) -> Service {
    let any: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut config = ServiceConfig::new(any, Some(any));
    config.core.topology.names = configured
        .iter()
        .map(|(dpid, name)| (DeviceId::openflow(*dpid), (*name).to_owned()))
        .collect();
    config.core.topology.discovery.probe_interval = Duration::from_millis(300);
    config.core.topology.discovery.link_timeout = Duration::from_secs(2);
    Service::start(config)
        .await
        .expect("starting the controller")
}

/// Runs `kind` of `size` against a fresh controller naming the switches in `configured`; the lab
/// itself waits for the REST API to show the whole topology. Then checks that the controller saw
/// exactly `links` directed links, names the switches `switch_names` (in any order) and guards
/// `blocked` switch ports (both ends of every cable outside the spanning tree), pings all pairs
/// and fails unless every ping was answered.
async fn lab(
    kind: &str,
    size: usize,
    links: usize,
    blocked: usize,
    switch_names: &[&str],
    configured: &[(u64, &str)],
) {
    let _one_at_a_time = exclusive().await;
    let _ovs = SystemOvs::ensure().expect("the system Open vSwitch");
    let service = controller(configured).await;
    let mut lab = Lab::start(kind, size, service.openflow_addr(), service.http_addr())
        .await
        .expect("starting the Mininet lab");
    let seen = service.core().snapshot().links().len();
    assert_eq!(seen, links, "directed links of {kind} {size}");
    let guard = blocked_ports(&service.core().snapshot());
    assert_eq!(
        guard.values().map(BTreeSet::len).sum::<usize>(),
        blocked,
        "flood guard of {kind} {size}: {guard:?}"
    );
    // The API names every switch as the lab did (the bridge names), or as configured.
    let devices = get(service.http_addr().expect("REST"), "/api/v1/devices")
        .await
        .expect("GET /devices");
    let mut names: Vec<&str> = devices
        .as_array()
        .map(|d| d.iter().filter_map(|d| d["name"].as_str()).collect())
        .unwrap_or_default();
    names.sort_unstable();
    let mut want = switch_names.to_vec();
    want.sort_unstable();
    assert_eq!(names, want, "{devices}");
    let loss = lab.ping_all().await.expect("pingAll");
    let after = service.core().snapshot().links().len();
    let log = lab.log();
    drop(lab);
    service.shutdown().await;
    assert_eq!(
        after, links,
        "links changed while pinging {kind} {size}; Mininet:\n{log}"
    );
    if loss != 0.0 {
        panic!("{kind} {size}: {loss} % of pings lost; Mininet:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abilene_pings_all_pairs_on_the_first_try() {
    if !root_tests_enabled("abilene_pings_all_pairs_on_the_first_try") {
        return;
    }
    // 15 cables, 11 in a spanning tree of 12 switches: 4 outside it, guarded at both ends. The
    // configuration renames ATLAM5 (datapath id 2): its name wins over the bridge's.
    let routers = [
        "Atlanta-M5",
        "ATLAng",
        "CHINng",
        "DNVRng",
        "HSTNng",
        "IPLSng",
        "KSCYng",
        "LOSAng",
        "NYCMng",
        "SNVAng",
        "STTLng",
        "WASHng",
    ];
    lab("abilene", 0, 30, 8, &routers, &[(2, "Atlanta-M5")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fat_tree_of_k4_pings_all_pairs_on_the_first_try() {
    if !root_tests_enabled("fat_tree_of_k4_pings_all_pairs_on_the_first_try") {
        return;
    }
    // 32 cables, 19 in a spanning tree of 20 switches: 13 outside it, guarded at both ends.
    let mut switches: Vec<String> = (0..4).map(|i| format!("c{i}")).collect();
    for pod in 0..4 {
        for i in 0..2 {
            switches.push(format!("a{pod}_{i}"));
            switches.push(format!("e{pod}_{i}"));
        }
    }
    switches.sort_unstable();
    let switches: Vec<&str> = switches.iter().map(String::as_str).collect();
    lab("fat-tree", 4, 64, 26, &switches, &[]).await;
}
