//! A lab user's first run: Mininet (`mininet/topos.py`, Open vSwitch userspace datapath, OpenFlow
//! 1.3, fail mode secure) pointed at Prescient gets every host talking to every other.
//!
//! The controller runs in-process; it must discover every inter-switch link over LLDP and then
//! forward reactively. The ring is the loop case: flooding there only terminates because of the
//! driver's spanning-tree flood guard.
//!
//! Needs root (see `prescient_tests::root_tests_enabled`); the labs use the system Open vSwitch,
//! started here if it is not running, and run one at a time.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use prescient::driver::openflow::blocked_ports;
use prescient::service::{Service, ServiceConfig};
use prescient_tests::mininet::{exclusive, Lab, SystemOvs};
use prescient_tests::{root_tests_enabled, wait_for};

async fn controller() -> Service {
    let any: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut config = ServiceConfig::new(any, None);
    config.core.topology.discovery.probe_interval = Duration::from_millis(300);
    config.core.topology.discovery.link_timeout = Duration::from_secs(2);
    Service::start(config)
        .await
        .expect("starting the controller")
}

/// Runs `kind` of `size` against a fresh controller: waits for exactly `links` directed links and
/// for the flood guard on `blocked` switch ports (both ends of every cable outside the spanning
/// tree) to be in the switches, then pings all pairs and fails unless every ping was answered.
async fn lab(kind: &str, size: usize, links: usize, blocked: usize) {
    let _one_at_a_time = exclusive().await;
    let _ovs = SystemOvs::ensure().expect("the system Open vSwitch");
    let service = controller().await;
    let mut lab = Lab::start(kind, size, service.openflow_addr())
        .await
        .expect("starting the Mininet lab");
    let found = wait_for(
        &format!("{links} directed links of {kind} {size}"),
        Duration::from_secs(30),
        || {
            let n = service.core().snapshot().links().len();
            (n == links).then_some(n)
        },
    )
    .await;
    if let Err(e) = found {
        let seen = service.core().snapshot().links().to_vec();
        panic!("{e}; discovered {seen:?}; Mininet:\n{}", lab.log());
    }
    let guard = blocked_ports(&service.core().snapshot());
    assert_eq!(
        guard.values().map(BTreeSet::len).sum::<usize>(),
        blocked,
        "flood guard of {kind} {size}: {guard:?}"
    );
    // The guard follows discovery asynchronously; pinging before it is in place would test the
    // race, not forwarding. Switch `sN` has datapath id N (mininet/topos.py).
    let installed = wait_for(
        "the flood guard in the switches",
        Duration::from_secs(10),
        || {
            guard
                .iter()
                .all(|(dpid, ports)| {
                    let flows = lab.dump_flows(&format!("s{}", dpid.0)).unwrap_or_default();
                    ports
                        .iter()
                        .all(|p| flows.contains(&format!("in_port={p} actions=drop")))
                })
                .then_some(())
        },
    )
    .await;
    if let Err(e) = installed {
        panic!("{e}: {guard:?}; Mininet:\n{}", lab.log());
    }
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
async fn linear_of_three_pings_all_pairs() {
    if !root_tests_enabled("linear_of_three_pings_all_pairs") {
        return;
    }
    lab("linear", 3, 4, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_of_four_pings_all_pairs_without_a_storm() {
    if !root_tests_enabled("ring_of_four_pings_all_pairs_without_a_storm") {
        return;
    }
    lab("ring", 4, 8, 2).await;
}
