//! Replays the total traffic of traces through the live controller's forecast series
//! (`core::Series`, as the core makes one: 12 steps, 360 ticks kept, the default 1 % violation
//! target) at each trace's interval, and prints, over the last 80 % of its rows, how often demand
//! went above the one-step planning bound at headroom 1 (the calibrated bound: `main` before
//! session 29), times the factor alone (`factor`: session 28's unguarded headroom, which chose
//! the same factors, as the evidence is the bound at headroom 1) and as issued (`planned`: the
//! factor capped by the margin), the over-provisioning of each (Σ bound / Σ demand − 1, over rows
//! with known demand and a bound), the factor's median and largest, and the share of rows where
//! the margin capped it.
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

/// Figures over a trace's scored rows: `[base, factor alone, planned]` for each sum.
#[derive(Default)]
struct Tally {
    rows: usize,
    over: [usize; 3],
    held: [f64; 3],
    demand: f64,
    factors: Vec<f64>,
    capped: usize,
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
        let factor = if h.is_none() { 1.0 } else { f64::from(h.factor) };
        t.factors.push(factor);
        if let (Some(y), Some(b)) = (y, planned) {
            let base = h.base(b);
            let bounds = [base, base * factor, b];
            t.rows += 1;
            t.capped += usize::from(b < base * factor * (1.0 - 1e-6));
            for k in 0..3 {
                t.over[k] += usize::from(y > bounds[k]);
                t.held[k] += bounds[k];
            }
            t.demand += y;
        }
    }
    Ok((total.len(), interval, t))
}

fn main() -> anyhow::Result<()> {
    println!(
        "{:<48} {:>6} {:>6} | {:>8} {:>8} {:>8} | {:>9} {:>9} {:>9} | {:>7} {:>7} {:>6}",
        "trace (total); under: main factor planned",
        "rows",
        "secs",
        "main",
        "factor",
        "planned",
        "o-p main",
        "o-p fact",
        "o-p plan",
        "f med",
        "f max",
        "capped"
    );
    for path in std::env::args().skip(1) {
        let (n, secs, mut t) = replay(&path)?;
        let share = |k: usize| 100.0 * k as f64 / t.rows.max(1) as f64;
        let op = |c: f64| 100.0 * (c / t.demand - 1.0);
        t.factors.sort_by(f64::total_cmp);
        let q = |p: f64| {
            t.factors
                .get(((t.factors.len() as f64 - 1.0) * p).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        let name = std::path::Path::new(&path)
            .file_name()
            .map_or(path.clone(), |f| f.to_string_lossy().into_owned());
        println!(
            "{:<48} {:>6} {:>6} | {:>7.2}% {:>7.2}% {:>7.2}% | {:>8.2}% {:>8.2}% {:>8.2}% | {:>7.3} {:>7.3} {:>5.0}%",
            name,
            n,
            secs,
            share(t.over[0]),
            share(t.over[1]),
            share(t.over[2]),
            op(t.held[0]),
            op(t.held[1]),
            op(t.held[2]),
            q(0.5),
            q(1.0),
            share(t.capped)
        );
    }
    Ok(())
}
