//! What the controller decides happens to real packets: a Mininet lab (`mininet/lab.py`, Open
//! vSwitch userspace datapath) carrying iperf3 traffic while the controller reserves and
//! reroutes over its REST API.
//!
//! The ring of five: h1 on s1, h2 on s2, h5 on s5. h1 → h2 goes s1 → s2; h5 → h2 goes s5 → s1
//! → s2 (the spanning tree from s1 and the shortest path agree), so it shares the reserved
//! pair's link; with s1–s2 down, h1 → h2 has one way left, s1 → s5 → s4 → s3 → s2.
//!
//! Needs root (see `prescient_tests::root_tests_enabled`); the labs use the system Open vSwitch,
//! started here if it is not running, and run one at a time.

use std::time::{Duration, Instant};

use prescient::core::ControllerEvent;
use prescient_tests::http::{get, request};
use prescient_tests::mininet::{lab_config, reserve, ControlledLab, Flow, Lab, LAB_TOKEN};
use prescient_tests::{root_tests_enabled, wait_for};
use serde_json::Value;
use tokio::sync::broadcast;

/// The reserved rate; the reserved pair sends twice this.
const RESERVED_BPS: u64 = 4_000_000;

fn flow(client: &str, server: &str, udp_bps: Option<u64>, port: u16) -> Flow {
    Flow {
        client: client.into(),
        server: server.into(),
        udp_bps,
        port,
    }
}

/// Fails unless `got` is within 10 % of `want`.
fn within_ten_percent(what: &str, got: f64, want: u64) {
    let error = (got - want as f64) / want as f64;
    assert!(
        error.abs() <= 0.10,
        "{what}: {:.3} Mbit/s at the receiver for {:.3} reserved ({:+.1} %)",
        got / 1e6,
        want as f64 / 1e6,
        error * 100.0
    );
}

/// The port s1 sends the pair's frames out of, from its flow table (`None`: no entry).
fn pair_output(lab: &Lab, src: &str, dst: &str) -> Option<String> {
    let flows = lab.dump_flows("s1").ok()?;
    let line = flows
        .lines()
        .find(|l| l.contains(&format!("dl_src={src}")) && l.contains(&format!("dl_dst={dst}")))?;
    let (_, actions) = line.split_once("actions=")?;
    let out = actions.split("output:").nth(1)?;
    Some(out.chars().take_while(char::is_ascii_digit).collect())
}

/// When the controller took in the topology change `change` (a line of its topology events).
async fn port_status(mut events: broadcast::Receiver<ControllerEvent>, change: String) -> Instant {
    loop {
        match events.recv().await {
            Ok(ControllerEvent::Topology { changes }) if changes.contains(&change) => {
                return Instant::now();
            }
            Err(broadcast::error::RecvError::Closed) => panic!("the controller stopped"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_holds_its_rate_beside_best_effort_and_follows_a_reroute() {
    if !root_tests_enabled("a_reservation_holds_its_rate_beside_best_effort_and_follows_a_reroute")
    {
        return;
    }
    // Every host speaks once (pingAll), so the controller knows where each is.
    let mut t = ControlledLab::start(lab_config(), "ring", 5).await;
    let (api, h1, h2) = (t.api, t.host("h1"), t.host("h2"));
    let (lab, service) = (&mut t.lab, &t.service);
    // Named by their IPv4 addresses, as a lab user knows them.
    let created = reserve(api, &h1, &h2, RESERVED_BPS).await;
    let id = created["reservation"]["id"].as_u64().expect("an id");
    let first_path = created["reservation"]["path"].clone();
    assert_eq!(
        first_path.as_array().map(Vec::len),
        Some(1),
        "h1 -> h2 is one hop: {created}"
    );
    // The meter must be in s1 before traffic is measured against it.
    wait_for(
        "the reservation's meter on s1",
        Duration::from_secs(20),
        || {
            lab.dump_flows("s1")
                .ok()
                .filter(|f| f.contains("meter:"))
                .map(|_| ())
        },
    )
    .await
    .expect("meter installed");

    let rates = lab
        .iperf(
            &[
                flow("h1", "h2", Some(2 * RESERVED_BPS), 5201),
                flow("h5", "h2", None, 5202),
            ],
            5,
        )
        .await
        .expect("iperf3");
    eprintln!(
        "reserved {:.1} Mbit/s, sent {:.1}: received {:.3} Mbit/s; best effort TCP beside it {:.1} Mbit/s",
        RESERVED_BPS as f64 / 1e6,
        2.0 * RESERVED_BPS as f64 / 1e6,
        rates[0] / 1e6,
        rates[1] / 1e6
    );
    within_ten_percent(
        "the reserved pair at twice its rate",
        rates[0],
        RESERVED_BPS,
    );
    // The link has 1 Gbit/s of configured capacity, 4 Mbit/s of it reserved: best effort on the
    // same link is limited by the datapath, never by the reservation.
    assert!(
        rates[1] > 2.0 * RESERVED_BPS as f64,
        "best effort starved beside the reservation: {:.2} Mbit/s",
        rates[1] / 1e6
    );
    // The meter polices the pair's TCP too, which backs off at its drops: it stays within the
    // reservation and still gets a usable share of it (the BMv2 lab's floor, 0.3 of the rate).
    let tcp = lab
        .iperf(&[flow("h1", "h2", None, 5205)], 5)
        .await
        .expect("iperf3 TCP");
    eprintln!(
        "the reserved pair's TCP alone: received {:.3} Mbit/s for {:.1} reserved",
        tcp[0] / 1e6,
        RESERVED_BPS as f64 / 1e6
    );
    assert!(
        tcp[0] <= 1.1 * RESERVED_BPS as f64 && tcp[0] >= 0.3 * RESERVED_BPS as f64,
        "the reserved pair's TCP: {:.3} Mbit/s at the receiver for {:.1} reserved",
        tcp[0] / 1e6,
        RESERVED_BPS as f64 / 1e6
    );

    // Cut the reserved path: the ports go down, Open vSwitch reports it, the controller moves
    // the reservation (and its meters) to the only other way. Timed from the port status the
    // controller received (its topology event) to s1 forwarding the pair elsewhere.
    let (src_mac, dst_mac) = (h1.mac.clone(), h2.mac.clone());
    let to_s2 = first_path[0]
        .as_str()
        .and_then(|l| l.split(',').next())
        .map(str::to_owned)
        .expect("the reserved link's s1 end");
    let s2_port = to_s2.rsplit(':').next().unwrap_or_default().to_owned();
    let before = pair_output(lab, &src_mac, &dst_mac);
    assert_eq!(
        before.as_deref(),
        Some(s2_port.as_str()),
        "s1 sends h1 -> h2 towards s2 before the cut: {}",
        lab.dump_flows("s1").unwrap_or_default()
    );
    let port_down = tokio::spawn(port_status(
        service.core().subscribe(),
        format!("port {to_s2} down"),
    ));
    let cut = Instant::now();
    lab.set_link("s1", "s2", false).await.expect("link down");
    let moved_in_s1 = loop {
        match pair_output(lab, &src_mac, &dst_mac) {
            Some(out) if out != s2_port => break Instant::now(),
            _ => {}
        }
        assert!(
            cut.elapsed() < Duration::from_secs(20),
            "s1 still sends h1 -> h2 towards s2 20 s after the cut: {}",
            lab.dump_flows("s1").unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let reported = tokio::time::timeout(Duration::from_secs(20), port_down)
        .await
        .expect("the port status within 20 s")
        .expect("the event watcher");
    let moved = loop {
        let r = get(api, &format!("/api/v1/reservations/{id}"))
            .await
            .expect("GET /reservations/{id}");
        let path = r["path"].as_array().map_or(0, Vec::len);
        if path == 4 && r["state"] == "active" {
            break r;
        }
        assert!(
            cut.elapsed() < Duration::from_secs(20),
            "not rerouted within 20 s: {r}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let reroute = moved_in_s1.saturating_duration_since(reported);
    eprintln!(
        "link s1-s2 down: port status {} ms after the cut, h1 -> h2 leaves s1 on the new path {} ms after the port status; reservation {id} now on {}",
        reported.duration_since(cut).as_millis(),
        reroute.as_millis(),
        moved["path"]
    );
    assert!(
        reroute < Duration::from_secs(1),
        "the flow moved {} ms after the port status (the goal is under 1 s)",
        reroute.as_millis()
    );
    let rates = lab
        .iperf(&[flow("h1", "h2", Some(2 * RESERVED_BPS), 5203)], 4)
        .await
        .expect("iperf3 after the reroute");
    eprintln!("after the reroute: received {:.3} Mbit/s", rates[0] / 1e6);
    within_ten_percent(
        "the reserved pair after the reroute",
        rates[0],
        RESERVED_BPS,
    );
    let reservation: Value = get(api, &format!("/api/v1/reservations/{id}"))
        .await
        .expect("GET after the reroute");
    assert_eq!(reservation["rate_bps"], RESERVED_BPS, "{reservation}");

    // A second reservation of the same pair shares the pair's one flow entry, metered at the
    // sum; releasing the first (whose meter the entry used) leaves the second its flow at its
    // own rate, not the pair without a flow while the ledger still holds the second.
    reserve(api, &h1, &h2, RESERVED_BPS / 2).await;
    let sum_kbps = format!("rate={} ", (RESERVED_BPS + RESERVED_BPS / 2) / 1000);
    wait_for(
        "one meter of the pair on s1 at the sum of both reservations",
        Duration::from_secs(20),
        || lab.dump_meters("s1").ok().filter(|m| m.contains(&sum_kbps)),
    )
    .await
    .expect("the pair's meter at the sum");
    let (status, released) = request(
        api,
        "DELETE",
        &format!("/api/v1/reservations/{id}"),
        Some(LAB_TOKEN),
        None,
    )
    .await
    .expect("DELETE the first reservation");
    assert_eq!(status, 200, "{released}");
    let half_kbps = format!("rate={} ", RESERVED_BPS / 2 / 1000);
    let meters = wait_for(
        "the pair's meter on s1 at the second reservation's rate",
        Duration::from_secs(20),
        || {
            lab.dump_meters("s1")
                .ok()
                .filter(|m| m.contains(&half_kbps))
        },
    )
    .await
    .expect("the pair's meter at the second reservation's rate");
    assert!(
        !meters.contains(&sum_kbps),
        "the summed meter stayed:\n{meters}"
    );
    let flows = lab.dump_flows("s1").unwrap_or_default();
    let pair_flows: Vec<&str> = flows
        .lines()
        .filter(|l| {
            l.contains(&format!("dl_src={src_mac}")) && l.contains(&format!("dl_dst={dst_mac}"))
        })
        .collect();
    assert!(
        matches!(&pair_flows[..], [one] if one.contains("meter:")),
        "the pair's one metered flow on s1:\n{flows}"
    );
    let rates = lab
        .iperf(&[flow("h1", "h2", Some(2 * RESERVED_BPS), 5204)], 4)
        .await
        .expect("iperf3 after releasing the first reservation");
    eprintln!(
        "two reservations of the pair, the first released: received {:.3} Mbit/s",
        rates[0] / 1e6
    );
    within_ten_percent(
        "the second reservation after the first was released",
        rates[0],
        RESERVED_BPS / 2,
    );

    t.shutdown().await;
}
