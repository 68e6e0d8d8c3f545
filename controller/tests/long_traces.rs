//! `prescient forecast backtest` and `prescient evaluate` on a long (tidy) trace, one row per
//! (time, pair) as a flow aggregate exports it: the output is exactly that of the same data
//! written wide, one column per pair, also gzipped on standard input (`--trace -`).

mod cli_common;

use cli_common::TempFile;
use std::process::Command;

/// Four days of 15-minute rows of three Abilene pairs: `ATLAM5->HSTNng` throughout,
/// `HSTNng->ATLAM5` with no row at interval 50, `NYCMng->WASHng` from interval 20 on.
fn demand(r: u32, pair: usize) -> Option<f64> {
    let swing = (f64::from(r) * std::f64::consts::TAU / 96.0).sin();
    match pair {
        0 => Some(100.0 + 40.0 * swing + f64::from(r % 7)),
        1 if r != 50 => Some(30.0 + 10.0 * swing + f64::from(r % 3)),
        2 if r >= 20 => Some(60.0 - 20.0 * swing + f64::from(r % 5)),
        _ => None,
    }
}

const PAIRS: [(&str, &str); 3] = [
    ("ATLAM5", "HSTNng"),
    ("HSTNng", "ATLAM5"),
    ("NYCMng", "WASHng"),
];
const ROWS: u32 = 384;

fn time(r: u32) -> String {
    let (d, m) = (1 + r / 96, (r % 96) * 15);
    format!("2004-03-{d:02}T{:02}:{:02}", m / 60, m % 60)
}

fn file(name: &str, csv: &str) -> TempFile {
    // Tests run in parallel and each removes its files when done: a name of its own each.
    static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path =
        std::env::temp_dir().join(format!("prescient-long-{}-{n}-{name}", std::process::id()));
    std::fs::write(&path, csv).expect("trace written");
    TempFile(path)
}

/// The trace as a wide file: a column per pair, an empty cell where a pair has no value.
fn wide() -> TempFile {
    let mut csv = String::from("time");
    for (s, d) in PAIRS {
        csv += &format!(",{s}->{d}");
    }
    csv.push('\n');
    for r in 0..ROWS {
        csv += &time(r);
        for p in 0..PAIRS.len() {
            csv += &format!(
                ",{}",
                demand(r, p).map_or(String::new(), |v| format!("{v:.1}"))
            );
        }
        csv.push('\n');
    }
    file("wide.csv", &csv)
}

/// The same trace long, `time,src,dst,bytes`, one pair after the other (so rows are out of
/// time order), with no row where a pair has no value.
fn long() -> TempFile {
    let mut csv = String::from("time,src,dst,bytes\n");
    for (p, (s, d)) in PAIRS.iter().enumerate() {
        for r in 0..ROWS {
            if let Some(v) = demand(r, p) {
                csv += &format!("{},{s},{d},{v:.1}\n", time(r));
            }
        }
    }
    file("long.csv", &csv)
}

/// The command's JSON output with the trace's path and the timings (which differ between any two
/// runs) taken out.
fn run(args: &[&str], trace: &TempFile) -> serde_json::Value {
    let path = trace.0.to_str().expect("utf-8 path");
    let out = Command::new(env!("CARGO_BIN_EXE_prescient"))
        .args(args.iter().map(|a| if *a == "TRACE" { path } else { a }))
        .output()
        .expect("runs prescient");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: serde_json::Value =
        serde_json::from_str(&stdout.replace(path, "TRACE")).expect("JSON");
    if let Some(rows) = v.as_array_mut() {
        for row in rows {
            row.as_object_mut().map(|o| o.remove("seconds_per_series"));
        }
    }
    v
}

#[test]
fn a_long_trace_gives_the_output_of_its_wide_form() {
    let (wide, long) = (wide(), long());
    let backtest = [
        "forecast",
        "backtest",
        "--input",
        "TRACE",
        "--model",
        "naive,ar12,regression",
        "--horizon",
        "1,2,3",
        "--json",
    ];
    let expected = run(&backtest, &wide);
    assert_eq!(expected.as_array().map(Vec::len), Some(9), "{expected}");
    assert_eq!(run(&backtest, &long), expected);
    for series in ["pairs", "links"] {
        let evaluate = ["evaluate", "--trace", "TRACE", "--series", series, "--json"];
        let expected = run(&evaluate, &wide);
        assert_eq!(run(&evaluate, &long), expected, "{series}");
    }
}

#[test]
fn a_long_trace_without_a_time_column_is_refused_saying_why() {
    let trace = file(
        "no-time.csv",
        "src,dst,bytes\nATLAM5,HSTNng,5\nHSTNng,ATLAM5,6\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_prescient"))
        .args(["forecast", "backtest", "--input"])
        .arg(&trace.0)
        .output()
        .expect("runs prescient");
    let stderr = cli_common::refused(&out);
    assert!(
        stderr.contains("line 2, column 1 (src)") && stderr.contains("no time column"),
        "{stderr}"
    );
}

#[test]
fn a_long_trace_gzipped_on_standard_input_gives_the_output_of_its_wide_file() {
    use std::io::Write;
    let (wide, long) = (wide(), long());
    // `gzip` as a user would have used it (Debian's is essential), not a second encoder.
    let gz = Command::new("gzip")
        .arg("-c")
        .arg(&long.0)
        .output()
        .expect("runs gzip");
    assert!(gz.status.success() && gz.stdout.starts_with(&[0x1f, 0x8b]));
    let args = ["evaluate", "--trace", "-", "--series", "pairs", "--json"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_prescient"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs prescient");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&gz.stdout)
        .expect("trace piped");
    let out = child.wait_with_output().expect("prescient ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut piped: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(piped["trace"], "-");
    piped["trace"] = "TRACE".into();
    let expected = run(
        &[
            "evaluate", "--trace", "TRACE", "--series", "pairs", "--json",
        ],
        &wide,
    );
    assert_eq!(piped, expected);
}
