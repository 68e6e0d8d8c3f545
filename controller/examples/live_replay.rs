//! Replays the total traffic of traces through the live controller's forecast series
//! (`core::Series` as the core makes one: 12 steps, 360 ticks kept, the default 1 % violation
//! target) at each trace's interval, and prints, over the last 80 % of its rows, the share of
//! intervals whose demand went above the one-step planning bound issued for it (the target is
//! 1 %), the over-provisioning of those bounds (Σ bound / Σ demand − 1), and the share of
//! observations the series flagged as anomalies. `prescient evaluate` measures the same sizing
//! with models trained on 70 % of a trace; this is the controller as it runs, from its first tick.
//!
//! `cargo run --release -p prescient --example live_replay -- TRACE.csv ...`

use std::time::Duration;

use anyhow::Context;
use prescient::core::Series;
use prescient::evaluate::series::{demand, EmptyCells};
use prescient::evaluate::SeriesKind;
use prescient::sizing::DEFAULT_VIOLATION_TARGET;
use prescient_predict::{read_trace, TraceFormat};
use prescient_topology::Timestamp;

/// What a trace's total did over its scored rows.
#[derive(Default)]
struct Tally {
    rows: usize,
    scored: usize,
    under: usize,
    demand: f64,
    held: f64,
    anomalies: usize,
    interval: u64,
}

fn replay(path: &str) -> anyhow::Result<Tally> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
    let mut trace =
        read_trace(file, TraceFormat::Auto).with_context(|| format!("reading {path}"))?;
    EmptyCells::default_for(&trace).apply(&mut trace);
    let interval = trace.interval_secs().unwrap_or(300).max(1);
    let total = demand(&trace, SeriesKind::Total)
        .with_context(|| format!("summing {path}"))?
        .columns
        .into_iter()
        .next()
        .unwrap_or_default();
    let mut series = Series::planning_for(
        Duration::from_secs(interval),
        12,
        360,
        DEFAULT_VIOLATION_TARGET,
    );
    let from = total.len() / 5;
    let mut t = Tally {
        rows: total.len(),
        interval,
        ..Tally::default()
    };
    for (i, &y) in total.iter().enumerate() {
        let bound = series.forecast().first().map(|p| p.bound);
        let anomaly = series
            .observe(Timestamp::from_secs(i as u64 * interval), y)
            .is_some();
        if i < from {
            continue;
        }
        t.anomalies += usize::from(anomaly);
        if let (Some(y), Some(b)) = (y, bound) {
            t.scored += 1;
            t.under += usize::from(y > b);
            t.demand += y;
            t.held += b;
        }
    }
    Ok(t)
}

fn main() -> anyhow::Result<()> {
    println!(
        "{:<48} {:>7} {:>6} | {:>8} {:>11} | {:>9}",
        "trace (total)", "rows", "secs", "under", "over-prov.", "anomalies"
    );
    for path in std::env::args().skip(1) {
        let t = replay(&path)?;
        let share = |k: usize, of: usize| 100.0 * k as f64 / of.max(1) as f64;
        let name = std::path::Path::new(&path)
            .file_name()
            .map_or(path.clone(), |f| f.to_string_lossy().into_owned());
        println!(
            "{:<48} {:>7} {:>6} | {:>7.2}% {:>10.2}% | {:>8.2}%",
            name,
            t.rows,
            t.interval,
            share(t.under, t.scored),
            100.0 * (t.held / t.demand - 1.0),
            share(t.anomalies, t.rows - t.rows / 5),
        );
    }
    Ok(())
}
