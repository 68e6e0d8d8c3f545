//! A configured service carried out on emulated OpenFlow 1.3 switches by the whole controller:
//! traffic a client sends to the VIP is rewritten by a select group to the backend and
//! delivered there; the backend's reply reaches the client from the VIP and its MAC; ARP for
//! the VIP is answered by the controller.

#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::time::Duration;

use prescient::service::Service;
use prescient::services::{Backend, ServiceSpec, ServicesConfig};
use prescient_sim::openflow::packet::{arp_request, udp_packet};
use prescient_sim::openflow::{SimNetwork, SimOptions};
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_sim::traffic::TrafficConfig;
use prescient_southbound::openflow::wire::{DatapathId, MacAddr as OfMac};
use prescient_tests::{wait_for, wait_links};
use prescient_topology::MacAddr;

const WAIT: Duration = Duration::from_secs(40);
const VIP: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
/// The MAC derived from the VIP: 02:50 + its four bytes.
const VIP_MAC: [u8; 6] = [0x02, 0x50, 100, 64, 0, 1];
/// Priority of the controller's service rules.
const SERVICE_PRIORITY: u16 = 61_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vip_reaches_its_backend_and_replies_come_from_the_vip() {
    let topo = SimTopology::generate(TopologyKind::Linear(2)).unwrap();
    let (h1, h2) = (topo.hosts[0].clone(), topo.hosts[1].clone());
    let mut config = prescient_tests::controller::config("127.0.0.1:0".parse().unwrap(), None);
    config.core.control_interval = Duration::from_millis(200);
    config.services = ServicesConfig {
        services: vec![ServiceSpec {
            name: "web".into(),
            tenant: "red".into(),
            vip: VIP,
            vip_mac: None,
            pool: format!("{}/24", h2.ip).parse().unwrap(),
            backends: vec![Backend {
                ip: h2.ip,
                mac: MacAddr(h2.mac.0),
                weight: 1,
            }],
            tier: 0,
            instance_capacity_bps: 100_000_000,
            min_instances: 1,
            max_instances: 4,
            policy: None,
        }],
        ..ServicesConfig::default()
    };
    let service = Service::start(config).await.unwrap();
    let options = SimOptions {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..SimOptions::default()
    };
    let sim = SimNetwork::build(topo, TrafficConfig::default())
        .with_options(options)
        .spawn(service.openflow_addr());
    assert!(sim.wait_connected(WAIT, |n| n == 2).await);
    let core = service.core().clone();
    wait_links(&core, 2, "the link discovered", WAIT)
        .await
        .unwrap();
    // Both hosts announce themselves; the controller learns where they are.
    sim.inject(0, arp_request(h1.mac, h1.ip, h2.ip)).unwrap();
    sim.inject(1, arp_request(h2.mac, h2.ip, h1.ip)).unwrap();
    let (m1, m2) = (MacAddr(h1.mac.0), MacAddr(h2.mac.0));
    wait_for("both hosts known", WAIT, || {
        let s = core.snapshot();
        (s.host(m1).is_some() && s.host(m2).is_some()).then_some(())
    })
    .await
    .unwrap();
    // The balancing rule on both switches, the reverse rule at the client's switch.
    for (dpid, rules) in [(1u64, 2usize), (2, 1)] {
        let mut found = 0;
        for _ in 0..400 {
            let table = sim.flow_table(DatapathId(dpid)).await.unwrap();
            found = table
                .iter()
                .filter(|e| e.priority == SERVICE_PRIORITY)
                .count();
            if found >= rules {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(found, rules, "service rules on s{dpid}");
    }

    // h1 resolves the VIP: the controller answers with the VIP's MAC.
    let (_, before) = sim.host_received(0).unwrap();
    sim.inject(0, arp_request(h1.mac, h1.ip, VIP)).unwrap();
    let answer = wait_for("the VIP's ARP reply", WAIT, || {
        let (frames, n) = sim.host_received(0).unwrap();
        (n > before)
            .then(|| {
                frames
                    .iter()
                    .rev()
                    .find(|f| f.get(12..14) == Some(&[0x08, 0x06][..]) && f.get(21) == Some(&2))
                    .cloned()
            })
            .flatten()
    })
    .await
    .unwrap();
    assert_eq!(&answer[22..28], &VIP_MAC[..], "sender MAC is the VIP's");
    assert_eq!(&answer[28..32], &VIP.octets()[..]);

    // h1 -> VIP: rewritten at s1 to h2, delivered to h2.
    let (_, before) = sim.host_received(1).unwrap();
    let request = udp_packet(h1.mac, OfMac(VIP_MAC), h1.ip, VIP, (4000, 80), 10);
    sim.inject(0, request).unwrap();
    let got = wait_for("h2 receives the request", WAIT, || {
        let (frames, n) = sim.host_received(1).unwrap();
        (n > before)
            .then(|| {
                frames
                    .iter()
                    .rev()
                    .find(|f| f.get(23) == Some(&17))
                    .cloned()
            })
            .flatten()
    })
    .await
    .unwrap();
    assert_eq!(
        &got[0..6],
        &h2.mac.0[..],
        "destination MAC is the backend's"
    );
    assert_eq!(
        &got[30..34],
        &h2.ip.octets()[..],
        "destination is the backend"
    );
    assert_eq!(&got[26..30], &h1.ip.octets()[..]);

    // h2 -> h1 reply: leaves s1 from the VIP and its MAC.
    let (_, before) = sim.host_received(0).unwrap();
    let reply = udp_packet(h2.mac, h1.mac, h2.ip, h1.ip, (80, 4000), 10);
    sim.inject(1, reply).unwrap();
    let got = wait_for("h1 receives the reply", WAIT, || {
        let (frames, n) = sim.host_received(0).unwrap();
        (n > before)
            .then(|| {
                frames
                    .iter()
                    .rev()
                    .find(|f| f.get(23) == Some(&17))
                    .cloned()
            })
            .flatten()
    })
    .await
    .unwrap();
    assert_eq!(&got[6..12], &VIP_MAC[..], "source MAC is the VIP's");
    assert_eq!(&got[26..30], &VIP.octets()[..], "source address is the VIP");

    sim.shutdown().await;
    service.shutdown().await;
}
