//! Host tracking through the whole controller (`prescient::service::Service`): sessions pinned
//! on their own threads, the learning app that tells host tracking only what is news, the
//! driver and the core, against an emulated OpenFlow line of three switches. A host the core
//! has never seen, its move to another switch, and its move back all reach the core.

#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::time::Duration;

use prescient::service::Service;
use prescient_sim::openflow::packet::arp_request;
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_southbound::openflow::wire::MacAddr as OfMac;
use prescient_tests::wait_for;
use prescient_topology::{DeviceId, MacAddr, PortNo, PortRef};

const WAIT: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_host_and_its_moves_reach_the_core() {
    let config = prescient_tests::controller::config("127.0.0.1:0".parse().unwrap(), None);
    let service = Service::start(config).await.unwrap();
    let topo = SimTopology::generate(TopologyKind::Linear(3)).unwrap();
    let sim = prescient_tests::sim::spawn_quick(topo.clone(), service.openflow_addr());
    assert!(sim.wait_connected(WAIT, |n| n == 3).await);
    // Hosts are learned at edge ports only: wait until the inter-switch ports are known.
    let cables = prescient_tests::sim::expected_links(&topo, |_| false).len();
    wait_for("the line discovered", WAIT, || {
        (service.core().snapshot().links().len() == cables).then_some(())
    })
    .await
    .unwrap();

    let attachment = |host: usize| {
        let h = &topo.hosts[host];
        PortRef::new(
            DeviceId::openflow(topo.switches[h.attach.switch].dpid.0),
            PortNo(h.attach.port.0),
        )
    };
    let (first, last) = (0, topo.hosts.len() - 1);
    // A laptop nobody has seen, plugged in next to the first host, then next to the last
    // one, then back: each time it asks for the first host's address.
    let laptop = MacAddr([2, 0xaa, 0, 0, 0, 1]);
    let arp = || {
        arp_request(
            OfMac(laptop.0),
            Ipv4Addr::new(10, 0, 0, 200),
            topo.hosts[first].ip,
        )
    };
    for (step, (from, what)) in [
        (first, "a new host"),
        (last, "a move to another switch"),
        (first, "a move back"),
    ]
    .into_iter()
    .enumerate()
    {
        let want = attachment(from);
        // Resent until seen: the emulated switch's first frames may race its flow table.
        wait_for(what, WAIT, || {
            if service.core().snapshot().host(laptop) == Some(want) {
                return Some(());
            }
            sim.inject(from, arp()).unwrap();
            None
        })
        .await
        .unwrap_or_else(|e| panic!("step {step}: {e}"));
    }

    sim.shutdown().await;
    service.shutdown().await;
}
