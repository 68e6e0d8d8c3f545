//! `prescient forecast backtest` as a user runs it: the binary on a trace file, its table and
//! JSON, and `auto`'s pooled stacking layer, kept where the validation part says it pays.

use std::path::PathBuf;
use std::process::Command;

/// A file under the system temp dir, removed on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `count` hourly series of 30 days sharing a daily shape, each with its own level and
/// autocorrelated noise (seeded, so every run sees the same trace), as a wide CSV with epoch
/// seconds in `time`.
fn shared_shape_trace(count: usize) -> TempFile {
    let path = std::env::temp_dir().join(format!(
        "prescient-forecast-backtest-{}-{count}.csv",
        std::process::id()
    ));
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut uniform = move || {
        // xorshift64*: enough for noise, and no dependency.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut carried = vec![0.0; count];
    let mut csv = String::from("time");
    for i in 0..count {
        csv.push_str(&format!(",s{i}"));
    }
    csv.push('\n');
    for t in 0..720u64 {
        csv.push_str(&(1_700_000_000 + 3600 * t).to_string());
        let day = (t as f64 * std::f64::consts::TAU / 24.0).sin();
        for (i, u) in carried.iter_mut().enumerate() {
            *u = 0.8 * *u + (uniform() - 0.5) * 2.0;
            let level = 1.0 + 0.1 * i as f64;
            csv.push_str(&format!(",{:.4}", level * (10.0 + 4.0 * day + *u)));
        }
        csv.push('\n');
    }
    std::fs::write(&path, csv).expect("trace written");
    TempFile(path)
}

fn backtest(trace: &TempFile, extra: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prescient"))
        .args(["forecast", "backtest", "--input"])
        .arg(&trace.0)
        .args(["--model", "auto"])
        .args(extra)
        .output()
        .expect("runs prescient");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

/// (horizon, MSE, MAE) of each JSON row.
fn rows(json: &str) -> Vec<(u64, f64, f64)> {
    let rows: serde_json::Value = serde_json::from_str(json).expect("JSON rows");
    rows.as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            assert_eq!(r["model"], "auto");
            (
                r["horizon"].as_u64().expect("horizon"),
                r["mse"].as_f64().expect("mse"),
                r["mae"].as_f64().expect("mae"),
            )
        })
        .collect()
}

#[test]
fn the_pooled_stacking_layer_runs_where_validation_keeps_it_and_lowers_autos_error() {
    // 24 series: with 16, `auto` without per-series stacking in its first day of errors did as
    // well on the 72 validation steps as the layer, which was then not kept.
    let trace = shared_shape_trace(24);
    // The table says what the validation part decided.
    let (table, said) = backtest(&trace, &[]);
    assert!(
        said.contains("with the pooled stacking layer") && said.contains(": kept"),
        "{said}"
    );
    assert!(table.contains("auto"), "{table}");
    let (stacked, _) = backtest(&trace, &["--json"]);
    let (plain, _) = backtest(&trace, &["--json", "--no-stack"]);
    let (stacked, plain) = (rows(&stacked), rows(&plain));
    assert_eq!(stacked.len(), 3, "{stacked:?}");
    // Series that share their errors: the layer, learning from all of them at once, forecasts
    // each better than its own weights do, on the test part it never saw.
    for (s, p) in stacked.iter().zip(&plain) {
        assert_eq!(s.0, p.0);
        assert!(s.1 < p.1 && s.2 < p.2, "stacked {s:?} plain {p:?}");
    }
}

#[test]
fn the_published_protocol_runs_without_the_layer() {
    let trace = shared_shape_trace(4);
    let (_, said) = backtest(&trace, &["--protocol", "published"]);
    assert!(!said.contains("pooled stacking layer"), "{said}");
}

#[test]
fn the_figures_do_not_depend_on_the_number_of_cores() {
    let trace = shared_shape_trace(4);
    let on = |threads: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_prescient"))
            .env("RAYON_NUM_THREADS", threads)
            .args(["forecast", "backtest", "--json", "--input"])
            .arg(&trace.0)
            .args(["--model", "ets,pooled-regression,auto"])
            .output()
            .expect("runs prescient");
        assert!(out.status.success(), "{out:?}");
        let mut rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON rows");
        for r in rows.as_array_mut().expect("a list") {
            r.as_object_mut()
                .expect("a row")
                .remove("seconds_per_series");
        }
        rows
    };
    let one = on("1");
    assert_eq!(one.as_array().map(Vec::len), Some(9), "{one}");
    assert_eq!(one, on("3"));
}

#[test]
fn bench_backtest_times_one_core_against_several_and_checks_the_figures_agree() {
    let trace = shared_shape_trace(4);
    let out = Command::new(env!("CARGO_BIN_EXE_prescient"))
        .args(["bench", "backtest", "--threads", "3", "--json", "--trace"])
        .arg(&trace.0)
        .output()
        .expect("runs prescient");
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(report["series"], 4, "{report}");
    assert_eq!(report["rows"], 720, "{report}");
    assert_eq!(report["threads"], 3, "{report}");
    let ratio = report["one_core_seconds"].as_f64().expect("seconds")
        / report["seconds"].as_f64().expect("seconds");
    let speedup = report["speedup"].as_f64().expect("speed-up");
    assert!(
        speedup > 0.0 && (speedup / ratio - 1.0).abs() < 1e-9,
        "{report}"
    );
    for (args, said) in [
        (vec!["--series", "0"], "--series 0"),
        (vec!["--days", "3"], "--days 3"),
        (vec!["--series", "99999999999"], "cells"),
        (vec!["--model", "all,naive"], "--model all,naive"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_prescient"))
            .args(["bench", "backtest"])
            .args(&args)
            .output()
            .expect("runs prescient");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(said),
            "{args:?}: {err}"
        );
    }
}
