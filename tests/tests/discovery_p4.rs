//! The whole controller driving emulated P4Runtime switches running prescient.p4 over real gRPC:
//! it pushes the pipeline, discovers a ring exactly by LLDP packet-out/packet-in, reads the
//! program's port counters, and when a device restarts sees its links go, then come back once
//! the client has reconnected and re-pushed the pipeline. In a mixed fabric (P4Runtime and
//! OpenFlow switches cabled to each other) it discovers the cables between the two protocols and
//! follows one going down and up.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use prescient_sim::fabric::{MixedFabric, SwitchProtocol};
use prescient_sim::openflow::SimOptions;
use prescient_sim::p4rt::P4SimNetwork;
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_southbound::openflow::wire::DatapathId;
use prescient_tests::p4sim::{start, start_mixed};
use prescient_tests::wait_for;
use prescient_topology::{DeviceId, LinkKey, PortNo, PortRef};

const WAIT: Duration = Duration::from_secs(40);

/// Both directions of every emulated cable, as the controller names them.
fn expected_links(network: &P4SimNetwork) -> BTreeSet<LinkKey> {
    network
        .links()
        .into_iter()
        .flat_map(|(a, b)| {
            let end = |(device, port): (u64, u32)| PortRef {
                device: DeviceId::p4runtime(device),
                port: PortNo(port),
            };
            [
                LinkKey {
                    src: end(a),
                    dst: end(b),
                },
                LinkKey {
                    src: end(b),
                    dst: end(a),
                },
            ]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_discovers_a_p4runtime_ring_and_follows_a_device_restart() {
    let network = Arc::new(P4SimNetwork::ring(4).unwrap());
    let expected = expected_links(&network);
    assert_eq!(expected.len(), 8);
    let (service, stop_sim, server) = start(network.clone(), 2, |_| {}).await;

    let links =
        || -> BTreeSet<LinkKey> { service.core().snapshot().links().iter().copied().collect() };
    let found = wait_for("the P4Runtime ring discovered", WAIT, || {
        let l = links();
        (l.len() >= expected.len()).then_some(l)
    })
    .await
    .unwrap();
    assert_eq!(
        found, expected,
        "discovered links differ from the emulated ring's"
    );

    // A restarted device loses its state and its streams: its two cables go at once...
    network.restart(2).unwrap();
    let during = wait_for("device 2's links to go", WAIT, || {
        let l = links();
        (l.len() == 4).then_some(l)
    })
    .await
    .unwrap();
    assert!(during
        .iter()
        .all(|l| l.src.device.id != 2 && l.dst.device.id != 2));
    // ...and come back once the client has reconnected and re-pushed the pipeline.
    let back = wait_for("device 2's links to return", WAIT, || {
        let l = links();
        (l.len() == expected.len()).then_some(l)
    })
    .await
    .unwrap();
    assert_eq!(back, expected);

    service.shutdown().await;
    stop_sim.cancel();
    let _ = server.await;
}

/// A k=4 fat-tree of emulated P4Runtime switches: 4 core, 8 aggregation, 8 edge (ids 1..=20).
fn fat_tree() -> P4SimNetwork {
    let mut net = P4SimNetwork::new(20).unwrap();
    let mut next_port = [0u32; 21];
    let mut port = |d: u64| {
        next_port[d as usize] += 1;
        (d, next_port[d as usize])
    };
    let core = |i: u64| 1 + i;
    let agg = |pod: u64, i: u64| 5 + pod * 2 + i;
    let edge = |pod: u64, i: u64| 13 + pod * 2 + i;
    for pod in 0..4 {
        for a in 0..2 {
            for c in 0..2 {
                let (x, y) = (port(agg(pod, a)), port(core(a * 2 + c)));
                net.link(x, y);
            }
            for e in 0..2 {
                let (x, y) = (port(agg(pod, a)), port(edge(pod, e)));
                net.link(x, y);
            }
        }
    }
    net
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_discovers_a_p4runtime_fat_tree_exactly() {
    let network = Arc::new(fat_tree());
    let expected = expected_links(&network);
    assert_eq!(expected.len(), 2 * 32);
    let (service, stop_sim, server) = start(network.clone(), 4, |_| {}).await;
    let found = wait_for("the P4Runtime fat-tree discovered", WAIT, || {
        let l: BTreeSet<LinkKey> = service.core().snapshot().links().iter().copied().collect();
        (l.len() >= expected.len()).then_some(l)
    })
    .await
    .unwrap();
    assert_eq!(
        found, expected,
        "discovered links differ from the emulated fat-tree's"
    );
    service.shutdown().await;
    stop_sim.cancel();
    let _ = server.await;
}

/// Both directions of every cable of `fabric`, named by protocol as the controller names them.
fn fabric_links(fabric: &MixedFabric) -> BTreeSet<LinkKey> {
    prescient_tests::sim::expected_links(fabric.topology(), |s| {
        fabric.protocol(s) == Some(SwitchProtocol::P4Runtime)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_discovers_cables_between_openflow_and_p4runtime_and_follows_one_going_down() {
    // A ring of four alternating protocols: s1 and s3 run P4Runtime, s2 and s4 OpenFlow, so
    // every cable joins the two kinds.
    let topo = SimTopology::generate(TopologyKind::Ring(4)).unwrap();
    let options = SimOptions {
        traffic_step: Duration::from_millis(50),
        ..SimOptions::default()
    };
    let fabric = MixedFabric::new(topo, &[0, 2], options).unwrap();
    let expected = fabric_links(&fabric);
    assert_eq!(expected.len(), 8);
    assert!(expected
        .iter()
        .all(|l| l.src.device.protocol != l.dst.device.protocol));

    let (service, stop_sim, server) = start_mixed(&fabric, |_| {}).await;
    let sim = fabric.spawn(service.openflow_addr());

    let links =
        || -> BTreeSet<LinkKey> { service.core().snapshot().links().iter().copied().collect() };
    let found = wait_for("the mixed ring discovered", WAIT, || {
        let l = links();
        (l.len() >= expected.len()).then_some(l)
    })
    .await
    .unwrap();
    assert_eq!(found, expected, "discovered links differ from the cables");

    // s2 (OpenFlow) to s3 (P4Runtime) goes down: the OpenFlow end reports its port down and the
    // P4 end's probes stop crossing (the bridge drops them), so both directions go.
    sim.openflow()
        .set_link(DatapathId(2), DatapathId(3), false)
        .await
        .unwrap();
    let crosses = |l: &LinkKey| {
        let ids = [l.src.device.id, l.dst.device.id];
        ids.contains(&2) && ids.contains(&3)
    };
    let during = wait_for("the s2-s3 cable to go", WAIT, || {
        let l = links();
        (l.len() == expected.len() - 2).then_some(l)
    })
    .await
    .unwrap();
    assert!(!during.iter().any(crosses), "{during:?}");
    assert!(during.is_subset(&expected));

    sim.openflow()
        .set_link(DatapathId(2), DatapathId(3), true)
        .await
        .unwrap();
    let back = wait_for("the s2-s3 cable to return", WAIT, || {
        let l = links();
        (l.len() == expected.len()).then_some(l)
    })
    .await
    .unwrap();
    assert_eq!(back, expected);

    sim.shutdown().await;
    service.shutdown().await;
    stop_sim.cancel();
    let _ = server.await;
}
