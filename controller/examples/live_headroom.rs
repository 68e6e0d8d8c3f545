//! Replays the total traffic of traces through the live controller's forecast series
//! (`core::Series`, as the core makes one: 12 steps, 360 ticks kept, the default 1 % violation
//! target) at each trace's interval, and prints, over the last 80 % of its rows, how often demand
//! went above the one-step planning bound as issued (with the series' own headroom) and at
//! headroom 1 (the same bound divided by the headroom in force), the over-provisioning of each
//! (Σ bound / Σ demand − 1, over rows with known demand and a bound), and the headroom's range.
//!
//! `cargo run --release -p prescient --example live_headroom -- TRACE.csv ...`

use std::time::Duration;

use anyhow::Context;
use prescient::core::Series;
use prescient::evaluate::series::{demand, EmptyCells};
use prescient::evaluate::SeriesKind;
use prescient::sizing::DEFAULT_VIOLATION_TARGET;
use prescient_predict::{read_trace, TraceFormat};
use prescient_topology::Timestamp;

/// Figures over a trace's scored rows.
#[derive(Default)]
struct Tally {
    rows: usize,
    over_planned: usize,
    over_base: usize,
    demand: f64,
    planned: f64,
    base: f64,
    headrooms: Vec<f64>,
}

fn replay(path: &str) -> anyhow::Result<(usize, u64, Tally)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
    let mut trace =
        read_trace(file, TraceFormat::Auto).with_context(|| format!("reading {path}"))?;
    EmptyCells::default_for(&trace).apply(&mut trace);
    let interval = trace.interval_secs().unwrap_or(300).max(1);
    let total = demand(&trace, SeriesKind::Total)?
        .columns
        .into_iter()
        .next()
        .unwrap_or_default();
    let mut s = Series::planning_for(
        Duration::from_secs(interval),
        12,
        360,
        DEFAULT_VIOLATION_TARGET,
    );
    let from = total.len() / 5;
    let mut t = Tally::default();
    for (i, &y) in total.iter().enumerate() {
        let planned = s.forecast().first().map(|p| p.bound);
        let h = s.headroom();
        s.observe(Timestamp::from_secs(i as u64 * interval), y);
        if i < from {
            continue;
        }
        t.headrooms.push(h);
        if let (Some(y), Some(b)) = (y, planned) {
            t.rows += 1;
            t.over_planned += usize::from(y > b);
            t.over_base += usize::from(y > b / h);
            t.demand += y;
            t.planned += b;
            t.base += b / h;
        }
    }
    Ok((total.len(), interval, t))
}

fn main() -> anyhow::Result<()> {
    println!(
        "{:<48} {:>6} {:>6} | {:>8} {:>8} | {:>8} {:>8} | {:>6} {:>6} {:>6} {:>6}",
        "trace (total)",
        "rows",
        "secs",
        "over h",
        "over h=1",
        "o-p h",
        "o-p h=1",
        "h min",
        "h med",
        "h max",
        "h>1"
    );
    for path in std::env::args().skip(1) {
        let (n, secs, mut t) = replay(&path)?;
        let share = |k: usize| 100.0 * k as f64 / t.rows.max(1) as f64;
        let op = |c: f64| 100.0 * (c / t.demand - 1.0);
        t.headrooms.sort_by(f64::total_cmp);
        let q = |p: f64| {
            t.headrooms
                .get(((t.headrooms.len() as f64 - 1.0) * p).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        let above = t.headrooms.iter().filter(|&&h| h > 1.0).count();
        let name = std::path::Path::new(&path)
            .file_name()
            .map_or(path.clone(), |f| f.to_string_lossy().into_owned());
        println!(
            "{:<48} {:>6} {:>6} | {:>7.2}% {:>7.2}% | {:>7.2}% {:>7.2}% | {:>6.3} {:>6.3} {:>6.3} {:>5.0}%",
            name,
            n,
            secs,
            share(t.over_planned),
            share(t.over_base),
            op(t.planned),
            op(t.base),
            q(0.0),
            q(0.5),
            q(1.0),
            100.0 * above as f64 / t.headrooms.len().max(1) as f64
        );
    }
    Ok(())
}
