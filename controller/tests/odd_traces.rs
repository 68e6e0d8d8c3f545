//! `prescient forecast backtest` and `prescient evaluate` on traces and flags nobody tuned them
//! for: each must give an answer or an error that names what is wrong, never a table of zeros
//! or of shortfalls that no data caused.

mod cli_common;

use cli_common::{refused, TempFile};
use std::process::{Command, Output};

/// A five-minute trace of `rows` rows: column `a` a daily wave, then, with `b`, a column `b`
/// holding that text in every row (empty: a column with no value).
fn trace(tag: &str, rows: usize, b: Option<&str>) -> TempFile {
    let path = std::env::temp_dir().join(format!("prescient-odd-{tag}-{}.csv", std::process::id()));
    let mut csv = format!("time,a{}\n", if b.is_some() { ",b" } else { "" });
    for r in 0..rows {
        let day = (r as f64 * std::f64::consts::TAU / 288.0).sin();
        csv.push_str(&format!(
            "{},{:.3}{}\n",
            1_700_000_000 + 300 * r,
            100.0 + 40.0 * day + (r % 7) as f64,
            b.map_or(String::new(), |b| format!(",{b}"))
        ));
    }
    std::fs::write(&path, csv).expect("trace written");
    TempFile(path)
}

fn prescient(args: &[&str], trace: &TempFile) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prescient"))
        .args(args)
        .arg(&trace.0)
        .output()
        .expect("runs prescient")
}

#[test]
fn a_backtest_with_nothing_to_score_is_an_error_not_a_table_of_zeros() {
    // Every series empty: each row used to read MSE 0 over 0 points.
    let empty = trace("empty-series", 300, None);
    std::fs::write(
        &empty.0,
        (0..300).fold(String::from("time,a,b\n"), |s, r| {
            s + &format!("{},,\n", 1_700_000_000 + 300 * r)
        }),
    )
    .expect("rewritten");
    let e = refused(&prescient(
        &[
            "forecast", "backtest", "--model", "naive", "--json", "--input",
        ],
        &empty,
    ));
    assert!(
        e.contains("no series can be scored") && e.contains("\"a\", \"b\""),
        "{e}"
    );
    // Two rows: no training pair.
    let short = trace("two-rows", 2, None);
    let e = refused(&prescient(
        &["forecast", "backtest", "--model", "naive", "--input"],
        &short,
    ));
    assert!(
        e.contains("too few rows in the trace (2)") && e.contains("at least 3"),
        "{e}"
    );
    // A horizon past the forecast rows scored nothing; a huge one ran out of memory.
    let t = trace("horizon", 300, None);
    for h in ["91", "100000000000"] {
        let e = refused(&prescient(
            &[
                "forecast",
                "backtest",
                "--model",
                "naive",
                "--horizon",
                h,
                "--input",
            ],
            &t,
        ));
        assert!(
            e.contains(&format!("horizon = {h}")) && e.contains("at most 90"),
            "{e}"
        );
    }
    let e = refused(&prescient(
        &["forecast", "backtest", "--model", "nope", "--input"],
        &t,
    ));
    assert!(e.contains("boosted-trees") && e.contains("ar12"), "{e}");
}

#[test]
fn a_backtest_says_which_series_it_left_out() {
    let t = trace("one-empty", 300, Some(""));
    let out = prescient(
        &[
            "forecast", "backtest", "--model", "naive", "--json", "--input",
        ],
        &t,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("1 of 2 series not scored") && stderr.contains("\"b\""),
        "{stderr}"
    );
}

#[test]
fn an_evaluation_with_nothing_to_score_names_the_empty_column() {
    // `b` has no value: the total is unknown at every row, and 0 scored intervals read as a
    // clean run.
    let t = trace("empty-column", 300, Some(""));
    let e = refused(&prescient(&["evaluate", "--json", "--trace"], &t));
    assert!(e.contains("nothing to score"), "{e}");
    assert!(
        e.contains("column \"b\" has no value") && e.contains("--series pairs"),
        "{e}"
    );
    let out = prescient(&["evaluate", "--json", "--series", "pairs", "--trace"], &t);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_evaluation_refuses_a_lead_its_trace_cannot_decide() {
    // 300 rows: headrooms are chosen on rows 105..240 (reaching back for a day, never before
    // the middle of training); a lead past them held capacity 0 on scored rows.
    let t = trace("lead", 300, Some("7"));
    let e = refused(&prescient(&["evaluate", "--lead", "500", "--trace"], &t));
    assert!(e.contains("`lead` = 500") && e.contains("at most"), "{e}");
    let e = refused(&prescient(
        &["evaluate", "--trace"],
        &trace("tiny", 2, Some("7")),
    ));
    assert!(
        e.contains("too few rows in the trace (2)") && e.contains("at least 3"),
        "{e}"
    );
}

#[test]
fn unscaled_values_whose_errors_cannot_be_squared_are_refused() {
    // 1e298 read MSE inf and coverage 1; 1e-300 read MSE 0 and coverage 0.
    for (scale, word) in [("e298", "overflow"), ("e-300", "underflow")] {
        let t = trace("unscaled", 300, None);
        let csv = std::fs::read_to_string(&t.0).expect("read back");
        let scaled: String = csv
            .lines()
            .enumerate()
            .map(|(i, l)| match (i, l.split_once(',')) {
                (0, _) | (_, None) => format!("{l}\n"),
                (_, Some((time, v))) => format!("{time},{v}{scale}\n"),
            })
            .collect();
        std::fs::write(&t.0, scaled).expect("rewritten");
        let e = refused(&prescient(
            &[
                "forecast",
                "backtest",
                "--model",
                "naive",
                "--normalise",
                "none",
                "--input",
            ],
            &t,
        ));
        assert!(e.contains("--normalise none") && e.contains(word), "{e}");
        // Scaled by its maximum, the same trace is backtested.
        let out = prescient(&["forecast", "backtest", "--model", "naive", "--input"], &t);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_plot_path_that_cannot_be_written_is_refused_before_the_replay() {
    let t = trace("plot", 300, None);
    let missing = std::env::temp_dir().join(format!("prescient-no-dir-{}", std::process::id()));
    let chart = missing.join("chart.svg");
    let e = refused(&prescient(
        &[
            "evaluate",
            "--plot",
            chart.to_str().expect("utf-8"),
            "--trace",
        ],
        &t,
    ));
    assert!(
        e.contains("--plot") && e.contains("is not a directory"),
        "{e}"
    );
    let e = refused(&prescient(
        &[
            "evaluate",
            "--plot",
            std::env::temp_dir().to_str().expect("utf-8"),
            "--trace",
        ],
        &t,
    ));
    assert!(e.contains("--plot"), "{e}");
}
