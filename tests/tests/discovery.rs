//! The whole controller (`prescient::service::Service`: listener, driver, core) against emulated
//! OpenFlow fabrics: it discovers a ring and a fat-tree exactly — every link, no phantom link —
//! learns hosts at the edge, and sees a failed link go.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use prescient::service::Service;
use prescient_sim::openflow::SimHandle;
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_tests::wait_for;
use prescient_topology::LinkKey;

const WAIT: Duration = Duration::from_secs(40);

async fn controller() -> Service {
    let mut config = prescient_tests::controller::config("127.0.0.1:0".parse().unwrap(), None);
    config.stats_interval = Some(Duration::from_millis(500));
    Service::start(config).await.unwrap()
}

fn fabric(kind: TopologyKind, service: &Service) -> SimHandle {
    prescient_tests::sim::spawn_quick(
        SimTopology::generate(kind).unwrap(),
        service.openflow_addr(),
    )
}

/// Both directions of every cable of the emulated topology, as the controller names them.
fn expected_links(topo: &SimTopology) -> BTreeSet<LinkKey> {
    prescient_tests::sim::expected_links(topo, |_| false)
}

fn discovered(service: &Service) -> BTreeSet<LinkKey> {
    service.core().snapshot().links().iter().copied().collect()
}

async fn discovers_exactly(kind: TopologyKind) {
    let service = controller().await;
    let sim = fabric(kind, &service);
    let topo = sim.topology().clone();
    let expected = expected_links(&topo);
    let switches = topo.switches.len();
    assert!(sim.wait_connected(WAIT, |n| n == switches).await);

    let found = wait_for("every link discovered", WAIT, || {
        let links = discovered(&service);
        (links.len() >= expected.len()).then_some(links)
    })
    .await
    .unwrap();
    assert_eq!(found, expected, "discovered links differ from the fabric's");

    // Fail one cable: both of its directions go, nothing else does.
    let cable = topo.links[0];
    let a = topo.switches[cable.a.switch].dpid;
    let b = topo.switches[cable.b.switch].dpid;
    sim.set_link(a, b, false).await.unwrap();
    let after = wait_for("the failed link to go", WAIT, || {
        let links = discovered(&service);
        (links.len() == expected.len() - 2).then_some(links)
    })
    .await
    .unwrap();
    let gone: BTreeSet<_> = expected.difference(&after).copied().collect();
    assert_eq!(gone.len(), 2);
    for l in &gone {
        let ends = [l.src.device.id, l.dst.device.id];
        assert!(
            ends.contains(&a.0) && ends.contains(&b.0),
            "{l:?} went, not the failed cable"
        );
    }
    assert!(after.is_subset(&expected), "a phantom link appeared");

    sim.shutdown().await;
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_discovers_a_ring_exactly_and_sees_a_link_fail() {
    discovers_exactly(TopologyKind::Ring(4)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_discovers_a_fat_tree_exactly_and_sees_a_link_fail() {
    discovers_exactly(TopologyKind::FatTree(4)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_counters_become_link_rates() {
    let service = controller().await;
    let sim = fabric(TopologyKind::Ring(4), &service);
    assert!(sim.wait_connected(WAIT, |n| n == 4).await);
    wait_for("a non-zero link rate", WAIT, || {
        let snapshot = service.core().snapshot();
        let now = service.core().now();
        service.core().read(|c| {
            snapshot
                .links()
                .iter()
                .filter_map(|l| c.rates().link_rate(*l, now))
                .any(|(r, _)| r.bits_per_sec > 0.0)
                .then_some(())
        })
    })
    .await
    .unwrap();
    sim.shutdown().await;
    service.shutdown().await;
}
