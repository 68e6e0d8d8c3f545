//! `/metrics` of the running demo (OpenFlow and P4Runtime switches mixed): devices connected per
//! protocol, southbound message totals and rates, and write latencies measured by the real
//! southbound sessions of both protocols (OpenFlow: batch until its barrier reply; P4Runtime:
//! each Write RPC), and the control ticks the driver ran, not numbers a test put there.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use prescient::cmd::demo::{run_report, Args};
use prescient_tests::http::{free_addr, get_blocking};

/// The body of `GET path`, whatever the status (the caller checks the text).
fn get(addr: SocketAddr, path: &str) -> String {
    let (status, body) = get_blocking(addr, path, Duration::from_secs(60)).expect("an answer");
    assert_eq!(status, 200, "{body}");
    body
}

/// `name{labels}` -> value, for every sample line.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

#[test]
fn the_demo_reports_devices_rates_and_write_latency_per_protocol() {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let http = free_addr();
    let args = Args {
        seconds: Some(7),
        interval: 1,
        http,
        openflow: any,
        ..Args::default()
    };
    // Scrape while the demo runs, once its switches have been up for a few seconds.
    let probe = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(5));
        get(http, "/metrics")
    });
    let report = run_report(args).unwrap();
    let text = probe.join().unwrap();
    let m = samples(&text);
    let at = |k: &str| {
        *m.get(k)
            .unwrap_or_else(|| panic!("{k} missing from /metrics:\n{text}"))
    };
    assert_eq!(
        at("prescient_devices_connected{protocol=\"openflow\"}"),
        report.openflow_devices as f64
    );
    assert_eq!(
        at("prescient_devices_connected{protocol=\"p4runtime\"}"),
        report.p4_devices as f64
    );
    for p in ["openflow", "p4runtime"] {
        let count = at(&format!(
            "prescient_southbound_write_seconds_count{{protocol=\"{p}\"}}"
        ));
        let sum = at(&format!(
            "prescient_southbound_write_seconds_sum{{protocol=\"{p}\"}}"
        ));
        let inf = at(&format!(
            "prescient_southbound_write_seconds_bucket{{protocol=\"{p}\",le=\"+Inf\"}}"
        ));
        assert!(count >= 1.0, "{p}: no write timed:\n{text}");
        assert_eq!(inf, count, "{p}: +Inf bucket holds every write");
        // Loopback writes take microseconds to milliseconds; a mean of a second means the
        // probe measured something else (a timeout, a stuck barrier).
        assert!(
            sum > 0.0 && sum / count < 1.0,
            "{p}: mean write {} s",
            sum / count
        );
    }
    // Counters keep counting; the rates cover the last ten complete seconds.
    let lldp_like = m
        .iter()
        .filter(|(k, _)| k.starts_with("prescient_southbound_messages_total{"))
        .map(|(_, v)| *v)
        .sum::<f64>();
    assert!(lldp_like > 0.0, "no southbound message counted:\n{text}");
    let rates = m
        .iter()
        .filter(|(k, _)| k.starts_with("prescient_southbound_messages_per_second{"))
        .map(|(_, v)| *v)
        .sum::<f64>();
    assert!(rates > 0.0, "no message rate after 5 s of demo:\n{text}");
    // The driver's control ticks, a second apart: several ran by the scrape, each recorded
    // as it ended (a tick running at the scrape shows as 1, and is not counted yet).
    let ticks = at("prescient_ticks_total");
    assert!(ticks >= 2.0, "{ticks} ticks after 5 s:\n{text}");
    let running = at("prescient_tick_running");
    assert!(running == 0.0 || running == 1.0, "{running}");
    assert!(
        at("prescient_series") >= 1.0,
        "the demo's traffic makes series:\n{text}"
    );
    assert!(at("prescient_forecast_stride") >= 1.0);
    let (took, longest) = (
        at("prescient_tick_duration_seconds"),
        at("prescient_tick_duration_max_seconds"),
    );
    assert!(
        took > 0.0 && took <= longest && longest < 5.0,
        "{took} {longest}"
    );
    assert!(at("prescient_tick_late_seconds") <= at("prescient_tick_late_max_seconds"));
}
