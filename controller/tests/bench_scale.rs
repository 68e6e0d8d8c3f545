//! `prescient bench scale` end to end, small: it starts a real `prescient run` and a real
//! `prescient sim` of 50 OpenFlow switches (a random graph) and 3 P4Runtime devices, and its one
//! JSON object must say that every one of them connected and every link was discovered, with
//! each figure the README quotes present and sensible (no speed is asserted: that is what the
//! figures are for).

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_prescient");

#[test]
fn bench_scale_of_50_switches_connects_every_one_and_reports_every_figure() {
    let out = Command::new(BIN)
        .args(["bench", "scale", "--switches", "50", "--p4", "3"])
        .args(["--steady-secs", "3", "--timeout-secs", "240", "--json"])
        .output()
        .expect("prescient bench scale runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one JSON object: {stdout}");
    let r: Value = serde_json::from_str(lines[0]).expect("JSON");

    assert_eq!(r["switches"], 50, "{r}");
    assert_eq!(r["p4_devices"], 3, "{r}");
    assert_eq!(r["topology"], "random graph of 50", "{r}");
    // A ring of 50 plus nearly a chord per switch, two directions each, and the P4 line's two
    // cables: what the controller had to discover before the bench went on.
    let links = r["links"].as_u64().expect("links");
    assert!(
        (2 * (50 + 40 + 2)..=2 * (50 + 50 + 2)).contains(&links),
        "{r}"
    );
    let connected = r["connected_seconds"].as_f64().expect("connected_seconds");
    let discovered = r["discovered_seconds"]
        .as_f64()
        .expect("discovered_seconds");
    assert!(connected > 0.0 && discovered >= connected, "{r}");
    assert!(r["rss_bytes"].as_u64().is_some_and(|b| b > 1 << 20), "{r}");
    assert!(r["bytes_per_switch"].is_u64(), "{r}");
    assert!(r["cpu_percent"].as_f64().is_some_and(|c| c > 0.0), "{r}");
    // Every switch holds a socket in the controller.
    assert!(r["open_fds"].as_u64().is_some_and(|n| n >= 50), "{r}");
    for (name, path) in [
        ("devices", "/devices"),
        ("links", "/links"),
        ("paths", "/paths"),
    ] {
        let l = &r[format!("rest_{name}")];
        assert!(l["requests"].as_u64().is_some_and(|n| n > 0), "{path}: {r}");
        let (p50, p99) = (
            l["p50_ms"].as_f64().expect("p50"),
            l["p99_ms"].as_f64().expect("p99"),
        );
        assert!(0.0 < p50 && p50 <= p99, "{path}: {r}");
    }
    assert!(r["rest_p99_ms"].as_f64().is_some_and(|p| p > 0.0), "{r}");
    // The whole lists hold every device and link: far more than a page of them.
    assert!(
        r["devices_full_bytes"]
            .as_u64()
            .is_some_and(|b| b > 50 * 200),
        "{r}"
    );
    assert!(
        r["links_full_bytes"]
            .as_u64()
            .is_some_and(|b| b > links * 100),
        "{r}"
    );
    // Each link has a series (host pairs come on top once hosts talk).
    assert!(r["series"].as_u64().is_some_and(|s| s >= links), "{r}");
    // Far below `[planning] compact_above_series`: every series runs full settings.
    assert_eq!(r["series_compact"], 0, "{r}");
    let tick = r["tick_ms"].as_f64().expect("tick_ms");
    assert!(tick > 0.0 && r["tick_max_ms"].as_f64() >= Some(tick), "{r}");
    // A round over every series is spread over `forecast_stride` ticks of a second.
    let stride = r["forecast_stride"].as_u64().expect("forecast_stride");
    assert!(stride >= 1, "{r}");
    assert_eq!(
        r["forecast_round_every_ms"].as_u64(),
        Some(stride * 1000),
        "{r}"
    );
    assert!(r["forecast_round_ms"].as_f64() >= Some(tick), "{r}");
    assert_eq!(r["tick_interval_ms"], 1000, "{r}");
    // Every link the controller had to find was still there when the bench ended.
    assert_eq!(r["links_at_end"], r["links"], "{r}");
    assert!(
        r["tick_late_max_ms"].as_f64().is_some_and(|t| t >= 0.0),
        "{r}"
    );
    // LLDP has a lane of its own towards the core: at 50 switches none is ever dropped.
    assert_eq!(r["lldp_dropped"], 0, "{r}");
    assert!(r["packet_ins_dropped"].is_u64(), "{r}");
    assert!(r["stats_polls_skipped"].is_u64(), "{r}");
    assert!(r["load_average"].is_number(), "{r}");
}

#[test]
fn bench_scale_with_compact_above_0_runs_every_series_compact() {
    let out = Command::new(BIN)
        .args(["bench", "scale", "--switches", "20", "--p4", "0"])
        .args(["--compact-above", "0", "--steady-secs", "2"])
        .args(["--timeout-secs", "240", "--json"])
        .output()
        .expect("prescient bench scale runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    let series = r["series"].as_u64().expect("series");
    assert!(series >= r["links"].as_u64().expect("links"), "{r}");
    assert_eq!(r["series_compact"].as_u64(), Some(series), "{r}");
}
