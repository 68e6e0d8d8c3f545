//! A reservation's flow entries on emulated OpenFlow switches, through the whole controller:
//! what a switch on the path matches with the entry it was given. A reservation between two
//! hosts is for their traffic; the same 5-tuple from a host attached to a switch of the path
//! must not hit its (metered) entry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use prescient::northbound::ApiConfig;
use prescient::service::Service;
use prescient_sim::openflow::packet::{udp_packet, PacketKey};
use prescient_sim::openflow::{SimNetwork, SimOptions};
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_sim::traffic::TrafficConfig;
use prescient_southbound::openflow::wire::DatapathId;
use prescient_topology::DeviceId;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);
/// Cookie of a reservation's entries: `RESERVATION_COOKIE` and its meter (its id here).
const RESERVATION_COOKIE: u64 = 0x5052_4553_0000_0000;

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_udp_reservation_between_two_hosts_leaves_a_third_hosts_udp_alone() {
    // s1 - s2 - s3, one host each: h1 -> h3 crosses s2, where h2 is attached.
    let topo = SimTopology::generate(TopologyKind::Linear(3)).unwrap();
    let hosts = topo.hosts.clone();
    let (h1, h2, h3) = (&hosts[0], &hosts[1], &hosts[2]);
    let mut config = prescient_tests::controller::config(
        "127.0.0.1:0".parse().unwrap(),
        Some("127.0.0.1:0".parse().unwrap()),
    );
    config.api = ApiConfig {
        token: Some("t".into()),
        protect_reads: false,
    };
    let service = Service::start(config).await.unwrap();
    let options = SimOptions {
        announce_hosts: Some(Duration::from_millis(300)),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..SimOptions::default()
    };
    let sim = SimNetwork::build(topo, TrafficConfig::default())
        .with_options(options)
        .spawn(service.openflow_addr());
    assert!(sim.wait_connected(WAIT, |n| n == 3).await);
    let api = service.http_addr().unwrap();

    let body = json!({
        "src": mac_text(h1.mac.0), "dst": mac_text(h3.mac.0), "rate_bps": 1_000_000,
        "match": {"ip_proto": 17, "dst_port": 5201},
    });
    // Refused (409) until the hosts and the links between them are learned.
    let deadline = tokio::time::Instant::now() + WAIT;
    let created: Value = loop {
        let (status, answer) = prescient_tests::http::request(
            api,
            "POST",
            "/api/v1/reservations",
            Some("t"),
            Some(&body),
        )
        .await
        .unwrap();
        if status == 201 {
            break answer;
        }
        assert!(
            status == 409 && tokio::time::Instant::now() < deadline,
            "{status} {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let id = created["reservation"]["id"].as_u64().unwrap();
    let path = created["reservation"]["path"].as_array().unwrap().clone();
    assert_eq!(path.len(), 2, "{created}");
    // The middle switch: where the path's first link ends.
    let middle = path[0]
        .as_str()
        .and_then(|l| l.split_once(','))
        .and_then(|(_, dst)| dst.rsplit_once(':'))
        .and_then(|(device, _)| DeviceId::parse(device))
        .unwrap();

    let deadline = tokio::time::Instant::now() + WAIT;
    let entry = loop {
        let table = sim.flow_table(DatapathId(middle.id)).await.unwrap();
        if let Some(e) = table
            .into_iter()
            .find(|e| e.cookie == RESERVATION_COOKIE | id)
        {
            break e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no entry of reservation {id} on {middle}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let udp_to_h3 = |from: &prescient_sim::topology::HostSpec| {
        let frame = udp_packet(from.mac, h3.mac, from.ip, h3.ip, (40_000, 5201), 64);
        PacketKey::parse(&frame, 1)
    };
    assert!(
        entry.compiled.matches(&udp_to_h3(h1)),
        "h1's UDP to h3 :5201 hits the reservation's entry: {:?}",
        entry.match_
    );
    // Matching the 5-tuple alone, h2's UDP to h3 hit it too and was metered at h1's rate.
    assert!(
        !entry.compiled.matches(&udp_to_h3(h2)),
        "h2's UDP to h3 :5201 must miss h1's reservation: {:?}",
        entry.match_
    );
    sim.shutdown().await;
    service.shutdown().await;
}
