//! Backtest protocol on the real traces of `../shared/data` (skipped with a message when absent:
//! a fresh clone has no `../shared`). The naive model's pooled error must reproduce the published
//! reference exactly, which pins the split, the scaling and the handling of empty cells.

use prescient_predict::{
    evaluate_series, read_trace, BacktestConfig, Missing, ModelKind, Score, TraceFormat,
};
use std::path::PathBuf;

fn data(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(name);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "skipping: {} not found (the shared data folder is absent)",
            p.display()
        );
        None
    }
}

#[test]
fn abilene_naive_reproduces_the_published_reference() {
    let Some(path) = data("abilene-tm-5min-2004-03.csv") else {
        return;
    };
    let file = std::fs::File::open(path).expect("readable");
    let trace = read_trace(file, TraceFormat::Auto).expect("parses");
    assert_eq!(trace.columns.len(), 132);
    assert_eq!(trace.rows(), 4032);
    assert_eq!(trace.interval_secs(), Some(300));
    let cfg = BacktestConfig {
        horizons: vec![1],
        missing: Missing::Zero,
        ..Default::default()
    };
    let mut total = Score::default();
    for col in &trace.columns {
        if let Some(s) = evaluate_series(
            col,
            trace.interval_secs(),
            ModelKind::Naive,
            &cfg,
            &Default::default(),
        ) {
            total.merge(&s[0]);
        }
    }
    let mse = total.sse / total.n as f64;
    let mae = total.sae / total.n as f64;
    assert!((mse - 33.2e-4).abs() < 0.05e-4, "naive MSE {mse:e}");
    assert!((mae - 2.79e-2).abs() < 0.005e-2, "naive MAE {mae:e}");
}

#[test]
fn isp_trace_parses_with_its_description_header() {
    let Some(path) = data("isp-uk-backbone-5min.csv") else {
        return;
    };
    let trace = read_trace(
        std::fs::File::open(path).expect("readable"),
        TraceFormat::Auto,
    )
    .expect("parses");
    assert_eq!(trace.names, vec!["traffic"]);
    assert_eq!(trace.rows(), 19_888);
    assert_eq!(trace.missing(), 0);
    assert_eq!(trace.interval_secs(), Some(300));
}

/// Names, times, values and empty cells as the reader gave them before it learnt `;` files,
/// missing markers, zones and row sorting (a77e752): the real traces must read exactly the same.
#[test]
fn real_traces_read_exactly_as_before() {
    for (name, series, missing, first, last, sum) in [
        (
            "abilene-tm-5min-2004-03.csv",
            "ATLAM5->ATLAng",
            10_599,
            1_078_099_200,
            1_079_308_500,
            12_182_705.168_529_844,
        ),
        (
            "isp-uk-backbone-5min.csv",
            "traffic",
            0,
            1_100_856_600,
            1_106_822_700,
            76_905_612.473_999_83,
        ),
    ] {
        let Some(path) = data(name) else {
            return;
        };
        let trace = read_trace(
            std::fs::File::open(path).expect("readable"),
            TraceFormat::Auto,
        )
        .expect("parses");
        assert_eq!(
            trace.names.first().map(String::as_str),
            Some(series),
            "{name}"
        );
        assert_eq!(trace.missing(), missing, "{name}");
        let times = trace.times.as_ref().expect("a time column");
        assert_eq!(
            (times.first(), times.last()),
            (Some(&first), Some(&last)),
            "{name}"
        );
        let total: f64 = trace.columns.iter().flatten().flatten().sum();
        assert_eq!(total, sum, "{name}");
    }
}
