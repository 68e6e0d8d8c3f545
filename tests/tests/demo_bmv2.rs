//! `prescient demo --bmv2`: the demo's four P4 switches are real BMv2 `simple_switch_grpc`
//! processes; over the REST API the controller shows them connected and every Abilene link
//! discovered, those between a BMv2 switch and an emulated OpenFlow switch included; on exit the
//! switches and their namespaces are gone.
//!
//! Needs root and the P4 toolchain (scripts/setup installs it); skips loudly without.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use prescient::cmd::demo::{run_report, Args};
use prescient_sim::fabric::spread;
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_tests::bmv2::lab_toolchain;
use prescient_tests::http::{free_addr, get_blocking};
use prescient_tests::sim::expected_links;

/// How long the demo runs: BMv2 start-up, pipeline pushes and LLDP over four switches on two
/// loaded cores.
const SECONDS: u64 = 25;

#[test]
fn demo_bmv2_connects_real_switches_and_discovers_their_links() {
    let test = "demo_bmv2_connects_real_switches_and_discovers_their_links";
    if lab_toolchain(test).is_none() {
        return;
    }
    let p4 = spread(4, 12).unwrap();
    let topo = SimTopology::generate(TopologyKind::Abilene).unwrap();
    let expected = expected_links(&topo, |s| p4.contains(&s));
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let http = free_addr();
    let args = Args {
        seconds: Some(SECONDS),
        interval: 1,
        http,
        openflow: any,
        bmv2: true,
        ..Args::default()
    };
    // Ask the API while the demo runs, until it shows what is expected or the demo is nearly
    // over: the P4 devices up and the links.
    let want = expected.len();
    let probe = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(SECONDS - 5);
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let devices = get(http, "/api/v1/devices");
            let links = get(http, "/api/v1/links");
            let up = p4_up(&devices);
            let found = count(&links);
            if (up == 4 && found >= want) || Instant::now() > deadline {
                return (devices, links, up, found);
            }
        }
    });
    let report = run_report(args).unwrap();
    let (devices, links, up, found) = probe.join().unwrap();
    assert_eq!(up, 4, "P4 devices up over REST: {devices}");
    assert_eq!(found, want, "links over REST: {links}");
    assert_eq!(report.p4_devices, 4, "{report:?}");
    assert_eq!(report.openflow_devices, 8, "{report:?}");
    assert_eq!(report.discovered, expected, "the links are not Abilene's");
    assert_eq!(report.cross_links, 2 * 9, "{report:?}");

    // Torn down on exit: no namespace of this process's demo is left.
    let netns = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let ours = format!("pdemo{}s", std::process::id());
    let left: BTreeSet<String> = String::from_utf8_lossy(&netns.stdout)
        .lines()
        .filter(|l| l.starts_with(&ours))
        .map(str::to_string)
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}

/// P4Runtime devices the API shows up.
fn p4_up(devices: &str) -> usize {
    let v: serde_json::Value = serde_json::from_str(devices).unwrap_or_default();
    v.as_array().map_or(0, |a| {
        a.iter()
            .filter(|d| {
                d["id"].as_str().is_some_and(|id| id.starts_with("p4:"))
                    && d["up"].as_bool().unwrap_or(false)
            })
            .count()
    })
}

fn count(links: &str) -> usize {
    let v: serde_json::Value = serde_json::from_str(links).unwrap_or_default();
    v.as_array()
        .or_else(|| v.get("links").and_then(|l| l.as_array()))
        .map_or(0, Vec::len)
}

fn get(addr: SocketAddr, path: &str) -> String {
    match get_blocking(addr, path, Duration::from_secs(30)) {
        Some((200, body)) => body,
        _ => String::new(),
    }
}
