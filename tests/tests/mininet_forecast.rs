//! Forecasts drive reservations on real Open vSwitch (`mininet/lab.py`, userspace datapath): a
//! steady iperf3 flow between two hosts of a two-switch line gets a reservation of the
//! controller's own (`"origin": "forecast"`) on its path once the pair's model is warm, sized at
//! least to what the flow carries, held on the first switch by the pair's flow without a meter:
//! a burst far above the forecast passes (a forecast reservation sets capacity aside, it never
//! drops what the pair sends; README, "Reservations").
//!
//! Time is compressed by configuration, not waited out: statistics every 500 ms (Open vSwitch
//! refreshes flow counters about twice a second, so faster polling would read steps) and a
//! control interval of 500 ms, so the 20 observations and 10 scored forecasts of the warm-up
//! take about fifteen seconds.
//!
//! Needs root (see `prescient_tests::root_tests_enabled`); the labs use the system Open vSwitch,
//! started here if it is not running. Switch names are this test's own.

use std::time::{Duration, Instant};

use prescient::service::ServiceConfig;
use prescient_tests::http::get;
use prescient_tests::mininet::{lab_config, ControlledLab, Flow};
use prescient_tests::{root_tests_enabled, TempDir};
use serde_json::Value;

/// What the steady flow sends, bits/s.
const FLOW_BPS: u64 = 5_000_000;
const WAIT: Duration = Duration::from_secs(90);

const TOPOLOGY: &str = r#"{"nodes": ["fcst1", "fcst2"], "links": [["fcst1", "fcst2"]]}"#;

fn config() -> ServiceConfig {
    let mut config = lab_config();
    config.core.control_interval = Duration::from_millis(500);
    config.stats_interval = Some(Duration::from_millis(500));
    config.core.planning.reserve_min_bps = 1_000_000;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_iperf3_flow_gets_a_forecast_reservation_that_drops_nothing_in_open_vswitch() {
    if !root_tests_enabled(
        "a_steady_iperf3_flow_gets_a_forecast_reservation_that_drops_nothing_in_open_vswitch",
    ) {
        return;
    }
    let dir = TempDir::new("prescient-forecast").expect("a scratch directory");
    let topology = dir.path().join("line.json");
    std::fs::write(&topology, TOPOLOGY).expect("writing the topology");
    let mut t = ControlledLab::start(config(), &topology.to_string_lossy(), 0).await;
    let (api, h1, h2) = (t.api, t.host_on("fcst1"), t.host_on("fcst2"));
    let lab = &mut t.lab;

    // Steady UDP for longer than the test waits (and no longer, should the test fail before it
    // stops them by process id); the server serves that one client and exits.
    let server = lab
        .cmd(&h2.name, "iperf3 -s -1 -p 5301 >/dev/null 2>&1 & echo $!")
        .await
        .expect("iperf3 server");
    let ready = Instant::now();
    while !lab
        .cmd(&h2.name, "ss -ltnH")
        .await
        .unwrap_or_default()
        .contains(":5301 ")
    {
        assert!(
            ready.elapsed() < WAIT,
            "iperf3 never listened on {}",
            h2.name
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = lab
        .cmd(
            &h1.name,
            &format!(
                "iperf3 -c {} -p 5301 -u -b {FLOW_BPS} -l 1200 -t 150 >/dev/null 2>&1 & echo $!",
                h2.ip
            ),
        )
        .await
        .expect("iperf3 client");
    let started = Instant::now();

    let reservation = loop {
        let list = get(api, "/api/v1/reservations")
            .await
            .expect("GET /reservations");
        let found = list.as_array().and_then(|rs| {
            rs.iter()
                .find(|r| {
                    r["origin"] == "forecast"
                        && r["subject"]["src"] == h1.mac.as_str()
                        && r["subject"]["dst"] == h2.mac.as_str()
                        && r["state"] == "active"
                })
                .cloned()
        });
        if let Some(r) = found {
            break r;
        }
        if started.elapsed() > WAIT {
            let decisions = get(api, "/api/v1/decisions").await.unwrap_or_default();
            panic!(
                "no forecast reservation for {} -> {} within {WAIT:?}: {list}\ndecisions: {decisions}",
                h1.name, h2.name
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let warm = started.elapsed();
    let rate = reservation["rate_bps"].as_u64().unwrap_or(0);
    eprintln!(
        "{} -> {} at {:.1} Mbit/s: forecast reservation of {:.2} Mbit/s after {:.1} s: {reservation}",
        h1.name,
        h2.name,
        FLOW_BPS as f64 / 1e6,
        rate as f64 / 1e6,
        warm.as_secs_f64()
    );
    // iperf3 counts UDP payload; the switches count frames (42 bytes more per 1200): the
    // reservation is sized on what the switches carried, so at least the payload rate.
    assert!(
        rate as f64 >= 0.95 * FLOW_BPS as f64 && rate < 3 * FLOW_BPS,
        "sized on the flow's {FLOW_BPS} bit/s: {reservation}"
    );
    let path: Vec<&str> = reservation["path"]
        .as_array()
        .map(|p| p.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(path.len(), 1, "on the pair's one-link path: {reservation}");
    assert!(
        path[0].starts_with("of:0000000000000001:") && path[0].contains(",of:0000000000000002:"),
        "fcst1 -> fcst2: {reservation}"
    );
    // It is in Open vSwitch as the pair's flow at the first switch, carrying the reservation's
    // cookie, through no meter.
    let id = reservation["id"].as_u64().expect("an id");
    let cookie = format!("cookie=0x{:x},", 0x5052_4553_0000_0000_u64 | id);
    let deadline = Instant::now() + WAIT;
    let flow = loop {
        let flows = lab.dump_flows("fcst1").unwrap_or_default();
        if let Some(line) = flows.lines().find(|l| l.contains(&cookie)) {
            break line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no flow of reservation {id} ({cookie}) on fcst1: {flows}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        !flow.contains("meter:"),
        "a forecast reservation metered: {flow}"
    );
    assert!(
        !lab.dump_meters("fcst1")
            .unwrap_or_default()
            .contains(&format!("meter={id} ")),
        "{}",
        lab.dump_meters("fcst1").unwrap_or_default()
    );
    // A burst of three times the forecast beside the steady flow gets through: nothing polices
    // the pair at its forecast (with a drop meter at the reservation's rate, the pair's whole
    // traffic was held to it and the burst got a fraction of it).
    let burst_bps = 3 * FLOW_BPS;
    let got = lab
        .iperf(
            &[Flow {
                client: h1.name.clone(),
                server: h2.name.clone(),
                udp_bps: Some(burst_bps),
                port: 5302,
            }],
            4,
        )
        .await
        .expect("iperf3 burst");
    eprintln!(
        "burst of {:.1} Mbit/s above a forecast reservation of {:.2} Mbit/s: received {:.2} Mbit/s",
        burst_bps as f64 / 1e6,
        rate as f64 / 1e6,
        got[0] / 1e6
    );
    assert!(
        got[0] >= 0.8 * burst_bps as f64,
        "the burst was dropped: received {} of {burst_bps} bit/s; {flow}",
        got[0]
    );

    for pid in [client, server] {
        let _ = lab.cmd(&h1.name, &format!("kill {}", pid.trim())).await;
    }
    t.shutdown().await;
}
