//! Forecasts drive reservations, through the whole controller: an emulated OpenFlow line of two
//! switches whose hosts announce themselves and send each other a steady demand. The first
//! frame of the pair reaches the controller, which routes the pair (one entry per hop, counted
//! per pair); once the pair's forecast is warm the controller keeps a reservation of its own
//! for it, listed over REST with `"origin": "forecast"`, sized above the demand, on the pair's
//! path, held on the emulated switch by the pair's flow (its cookie names the reservation) with
//! no meter: a forecast reservation sets capacity aside, it does not drop what the pair sends
//! above its forecast.
//!
//! (The traffic model scales the configured mean demand with its time compression, so the
//! reservation is compared with the pair's measured rate, not the configured one.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use prescient::northbound::ApiConfig;
use prescient::service::{Service, ServiceConfig};
use prescient_sim::openflow::{SimHandle, SimNetwork, SimOptions};
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_sim::traffic::TrafficConfig;
use prescient_southbound::openflow::wire::{DatapathId, Instruction};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// `method path` over a fresh connection, with the bearer token when given; the status and the
/// JSON body.
async fn call(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    prescient_tests::http::request(addr, method, path, token, None)
        .await
        .expect("the REST API answers")
}

async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    call(addr, "GET", path, None).await
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Two hosts each sending a steady 5 Mbit/s to the other (no daily swing, noise, weekend or
/// flash crowds), over their own flow entries, with counters moving every 100 ms.
fn steady_pair_sim(topo: SimTopology, controller: SocketAddr) -> SimHandle {
    let traffic = TrafficConfig {
        pairs_per_host: 1,
        mean_pair_bps: 5_000_000.0,
        daily_amplitude: 0.0,
        weekend_dip: 0.0,
        noise: 0.0,
        flash_probability: 0.0,
        ..TrafficConfig::default()
    };
    let options = SimOptions {
        traffic,
        traffic_step: Duration::from_millis(100),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        announce_hosts: Some(Duration::from_millis(500)),
        pair_flows: true,
        ..SimOptions::default()
    };
    SimNetwork::build(topo, TrafficConfig::default())
        .with_options(options)
        .spawn(controller)
}

/// A controller on loopback ticking every 200 ms, polling counters every `stats`, and
/// reserving for pairs from 100 kbit/s (the steady pair's rate is above it).
fn steady_pair_config(stats: Duration) -> ServiceConfig {
    let mut config = prescient_tests::controller::config(
        "127.0.0.1:0".parse().unwrap(),
        Some("127.0.0.1:0".parse().unwrap()),
    );
    config.core.control_interval = Duration::from_millis(200);
    config.stats_interval = Some(stats);
    config.core.planning.reserve_min_bps = 100_000;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_pair_gets_a_forecast_reservation_held_on_the_switch_without_a_meter() {
    let topo = SimTopology::generate(TopologyKind::Linear(2)).unwrap();
    let (h1, h2) = (topo.hosts[0].clone(), topo.hosts[1].clone());
    let mut config = steady_pair_config(Duration::from_millis(200));
    config.api = ApiConfig {
        token: Some("t".into()),
        protect_reads: false,
    };
    let service = Service::start(config).await.unwrap();
    let sim = steady_pair_sim(topo, service.openflow_addr());
    assert!(sim.wait_connected(WAIT, |n| n == 2).await);
    let api = service.http_addr().unwrap();

    let src = mac_text(h1.mac.0);
    let dst = mac_text(h2.mac.0);
    let deadline = tokio::time::Instant::now() + WAIT;
    let reservation = loop {
        let (status, list) = get(api, "/api/v1/reservations").await;
        assert_eq!(status, 200, "{list}");
        let found = list.as_array().unwrap().iter().find(|r| {
            r["origin"] == "forecast"
                && r["subject"]["src"] == src.as_str()
                && r["subject"]["dst"] == dst.as_str()
        });
        if let Some(r) = found {
            break r.clone();
        }
        let decisions = service.core().read(|c| {
            c.decisions()
                .iter()
                .map(|d| format!("{:?} {}: {}", d.rule, d.subject, d.reason))
                .collect::<Vec<_>>()
        });
        assert!(
            tokio::time::Instant::now() < deadline,
            "no forecast reservation for {src} -> {dst}: {list}\ndecisions: {decisions:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let rate = reservation["rate_bps"].as_u64().unwrap() as f64;
    let pair = prescient::core::SeriesKey::Pair(
        prescient_topology::MacAddr(h1.mac.0),
        prescient_topology::MacAddr(h2.mac.0),
    );
    let measured = service
        .core()
        .read(|c| c.series(&pair).and_then(|s| s.last_actual()))
        .expect("the pair is measured");
    // Sized to the bound that meets the violation target: on a steady flow the residual
    // quantile is about zero, so the bound is the level itself, within the rounding to bit/s
    // and the forecast's last fraction of a per mille.
    assert!(
        measured > 0.0 && rate >= 0.999 * measured,
        "sized to the calibrated upper bound, at least the measured {measured} bit/s: {reservation}"
    );
    assert_eq!(reservation["state"], "active");
    assert_eq!(
        reservation["path"].as_array().unwrap().len(),
        1,
        "{reservation}"
    );
    // Held at h1's switch towards s2, and on s2 towards h2 (the cable may be one the flood
    // guard blocks).
    let held_ports: Vec<&str> = reservation["held_ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(held_ports.len(), 2, "{reservation}");
    assert!(
        held_ports[0].starts_with("of:0000000000000001:")
            && held_ports[1].starts_with("of:0000000000000002:"),
        "{reservation}"
    );
    // A forecast reservation is not policed (no meter drops the pair's traffic), and the API
    // says so instead of listing the ports it holds as metered.
    assert_eq!(reservation["policed"], false, "{reservation}");
    assert_eq!(
        reservation["meter_ports"],
        serde_json::json!([]),
        "{reservation}"
    );
    // The decision that made it says why.
    let id = reservation["id"].as_u64().unwrap();
    let (_, decisions) = get(api, "/api/v1/decisions").await;
    let made = decisions
        .as_array()
        .map(|ds| {
            ds.iter().any(|d| {
                d["rule"] == "forecast_reserved" && d["subject"] == format!("reservation/{id}")
            })
        })
        .unwrap_or(false);
    assert!(made, "{decisions}");

    // The policy owns it: a DELETE is refused rather than answered 200 and undone next round.
    let (status, body) = call(
        api,
        "DELETE",
        &format!("/api/v1/reservations/{id}"),
        Some("t"),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "policy_owned", "{body}");
    let (status, still) = get(api, &format!("/api/v1/reservations/{id}")).await;
    assert_eq!(status, 200, "{still}");

    // It reaches the switch as the pair's flow carrying its cookie, and no meter polices it.
    let cookie = 0x5052_4553_0000_0000 | id;
    let deadline = tokio::time::Instant::now() + WAIT;
    let flow = loop {
        let table = sim.flow_table(DatapathId(1)).await.unwrap();
        if let Some(e) = table.into_iter().find(|e| e.cookie == cookie) {
            break e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no flow of reservation {id} on s1"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        !flow
            .instructions
            .iter()
            .any(|i| matches!(i, Instruction::Meter(_))),
        "a forecast reservation must not meter the pair: {flow:?}"
    );
    sim.shutdown().await;
    service.shutdown().await;
}

/// Counters polled every 3 control intervals, as the demo does (and slower than the core's
/// `stale_after`, as `stats_interval_secs = 10` against its 5 s is): a steady pair reads its
/// last rate until the next reading, never 0 between two, and its forecast reservation is not
/// resized over and over. Until session 17 each resize deleted and re-added the pair's flow
/// entry, restarting its counters (the next reading: 0 or a fraction), and a rate older than
/// `stale_after` read 0 whatever the poll period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_pair_polled_slower_than_the_tick_reads_no_zeros_and_is_not_resized_again() {
    let topo = SimTopology::generate(TopologyKind::Linear(2)).unwrap();
    let (h1, h2) = (topo.hosts[0].clone(), topo.hosts[1].clone());
    let mut config = steady_pair_config(Duration::from_millis(600));
    config.core.stale_after = Duration::from_millis(300);
    let service = Service::start(config).await.unwrap();
    let sim = steady_pair_sim(topo, service.openflow_addr());
    assert!(sim.wait_connected(WAIT, |n| n == 2).await);
    let api = service.http_addr().unwrap();
    let (h1, h2) = (
        prescient_topology::MacAddr(h1.mac.0),
        prescient_topology::MacAddr(h2.mac.0),
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while service
        .core()
        .read(|c| c.forecast_reservations().next().is_none())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no forecast reservation"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // 50 ticks with the reservation held: 16 counter readings.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let path = format!("/api/v1/forecasts/pairs/{h1}/{h2}");
    let (status, body) = get(api, &path).await;
    assert_eq!(status, 200, "{body}");
    let history: Vec<f64> = body["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["value"].as_f64())
        .collect();
    let first = history
        .iter()
        .position(|v| *v > 0.0)
        .expect("the pair is measured");
    let zeros = history[first..].iter().filter(|v| **v == 0.0).count();
    assert_eq!(zeros, 0, "0 bit/s between readings: {history:?}");
    let resized = service.core().read(|c| {
        c.decisions()
            .iter()
            .filter(|d| d.rule == prescient::core::Rule::ForecastResized)
            .map(|d| (d.subject.clone(), d.reason.clone()))
            .collect::<Vec<_>>()
    });
    // A steady pair's bound settles: a resize or two per reservation while it does, not one
    // every few ticks. (Both directions carry traffic and each has its own reservation, so the
    // count is per subject: a loaded machine's rate jitter may move each direction twice.)
    let mut per_reservation = std::collections::BTreeMap::<&str, usize>::new();
    for (subject, _) in &resized {
        *per_reservation.entry(subject).or_default() += 1;
    }
    assert!(
        per_reservation.values().all(|&n| n <= 2),
        "{resized:#?}\n{history:?}"
    );
    sim.shutdown().await;
    service.shutdown().await;
}
