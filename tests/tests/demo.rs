//! `prescient demo` by itself: no root, no configuration; within seconds the controller has the
//! one emulated Abilene fabric up (OpenFlow and P4Runtime switches mixed), exactly its links
//! discovered, those between the two protocols included, forecasts running, and the REST API
//! serving a non-empty topology.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use prescient::cmd::demo::{run_report, Args};
use prescient_sim::fabric::spread;
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_tests::http::{free_addr, get_blocking};
use prescient_tests::sim::expected_links;
use prescient_topology::LinkKey;

/// Both directions of every Abilene link, named as the controller names devices: switch `i` is
/// `p4:<i+1>` when it is among `p4`, else `of:<dpid i+1>`.
fn abilene_links(p4: &[usize]) -> BTreeSet<LinkKey> {
    let topo = SimTopology::generate(TopologyKind::Abilene).unwrap();
    expected_links(&topo, |s| p4.contains(&s))
}

#[test]
fn demo_comes_up_discovers_the_mixed_abilene_fabric_exactly_and_serves_the_topology() {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let http = free_addr();
    let args = Args {
        seconds: Some(6),
        interval: 1,
        http,
        openflow: any,
        ..Args::default()
    };
    // Ask the API while the demo runs, from another thread.
    let probe = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(4));
        (get(http, "/api/v1/links"), get(http, "/api/v1/devices"))
    });
    let report = run_report(args).unwrap();
    let (links, devices) = probe.join().unwrap();
    // Every switch carries the name of the Abilene router it stands for: the OpenFlow ones as
    // their local port reports it, the P4 ones as the demo configures it.
    let devices: serde_json::Value = serde_json::from_str(&devices).unwrap();
    let named: Vec<&str> = devices
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(named.len(), 12, "{devices}");
    assert!(
        named
            .iter()
            .all(|n| prescient_sim::topology::ABILENE_NODES.contains(n)),
        "{named:?}"
    );
    assert_eq!(report.http, Some(http));
    let links: serde_json::Value = serde_json::from_str(&links).unwrap();
    let served = links
        .as_array()
        .or_else(|| links.get("links").and_then(|l| l.as_array()))
        .map_or(0, Vec::len);
    assert!(served >= 2 * 15, "the API served {served} links: {links}");
    assert_eq!(report.openflow_devices, 8, "{report:?}");
    assert_eq!(report.p4_devices, 4, "{report:?}");
    assert_eq!(report.devices_up, 12, "{report:?}");
    assert_eq!(report.links_total, 2 * 15);
    let expected = abilene_links(&spread(4, 12).unwrap());
    assert_eq!(
        report.discovered, expected,
        "the controller's links are not Abilene's"
    );
    // ATLAng 4, DNVRng 1, KSCYng 2, SNVAng 2 cables to OpenFlow switches, both directions.
    assert_eq!(report.cross_links, 2 * 9, "{report:?}");
    assert!(report.forecasts > 0, "no series is forecasting: {report:?}");
    assert!(report.http.is_some());
}

/// A minimal HTTP/1.1 GET (the body of a 200 answer).
fn get(addr: SocketAddr, path: &str) -> String {
    let (status, body) = get_blocking(addr, path, Duration::from_secs(60)).expect("an answer");
    assert_eq!(status, 200, "{body}");
    body
}
