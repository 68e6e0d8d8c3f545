//! `prescient bench backtest`: the rolling-origin backtest of `forecast backtest` (the same
//! code) on one core and then on several, with the speed-up as a ratio in the same run. The
//! figures must come out identical whatever the number of cores: each series is replayed on
//! its own and every sum over series runs in series order, so the bench refuses to print a
//! speed-up of different results.

use indicatif::ProgressBar;
use prescient_predict::{BacktestConfig, BacktestRow, Normalise, Protocol};
use serde::Serialize;
use std::time::Instant;

use super::bench_forecast::Rng;
use super::forecast::Run;

/// Arguments of this subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A trace to backtest (the formats `forecast backtest` reads); without it, a synthetic
    /// matrix of `--series` five-minute series over `--days` days.
    #[arg(long)]
    pub trace: Option<std::path::PathBuf>,
    /// Series of the synthetic matrix.
    #[arg(long, default_value_t = 48)]
    pub series: usize,
    /// Days of the synthetic matrix.
    #[arg(long, default_value_t = 14)]
    pub days: usize,
    /// Models, comma separated (as `forecast backtest --model`).
    #[arg(long, value_delimiter = ',', default_value = "auto")]
    pub model: Vec<String>,
    /// Cores of the second run (0: every core of this machine).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    trace: String,
    series: usize,
    rows: usize,
    models: Vec<String>,
    /// Wall time of the backtest on one core.
    one_core_seconds: f64,
    threads: usize,
    /// Wall time of the same backtest on `threads` cores.
    seconds: f64,
    /// `one_core_seconds / seconds`.
    speedup: f64,
}

/// Cells of the largest synthetic matrix (400 MB of values).
const MAX_CELLS: usize = 50_000_000;

/// A matrix of five-minute series with a daily swing, noise and rare bursts, the same on every
/// run.
fn synthetic(series: usize, days: usize) -> Vec<Vec<Option<f64>>> {
    let mut rng = Rng(7);
    let per_day = 288.0;
    (0..series)
        .map(|_| {
            let level = 10.0 + 990.0 * rng.unit();
            let swing = 0.2 + 0.6 * rng.unit();
            let phase = rng.unit();
            let noise = 0.02 + 0.1 * rng.unit();
            (0..days * 288)
                .map(|t| {
                    let day = (t as f64 / per_day + phase) * std::f64::consts::TAU;
                    let burst = if rng.unit() < 0.002 { 2.0 } else { 1.0 };
                    let wiggle = 1.0 + noise * 2.0 * (rng.unit() - 0.5);
                    Some(level * (1.0 + swing * day.sin()) * burst * wiggle)
                })
                .collect()
        })
        .collect()
}

/// Runs the backtest on a pool of `threads` cores; its rows and wall time.
fn timed(run: &Run<'_>, threads: usize) -> anyhow::Result<(Vec<BacktestRow>, f64)> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| anyhow::anyhow!("a pool of {threads} threads: {e}"))?;
    let start = Instant::now();
    let rows = pool.install(|| run.score(&ProgressBar::hidden(), &mut |_| {}));
    Ok((rows, start.elapsed().as_secs_f64()))
}

/// The figures of `rows`, without their timing.
fn figures(rows: &[BacktestRow]) -> Vec<(String, usize, u64, u64, u64, u64)> {
    rows.iter()
        .map(|r| {
            (
                r.model.clone(),
                r.horizon,
                r.mse.to_bits(),
                r.mae.to_bits(),
                r.coverage80.to_bits(),
                r.coverage95.to_bits(),
            )
        })
        .collect()
}

/// Entry point.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (name, columns, interval) = match &args.trace {
        Some(path) => {
            let mut trace = super::trace_input::read(path, "auto".parse()?)?;
            // Empty cells read as `forecast backtest` reads them by default.
            super::trace_input::missing("auto", &trace)?.apply(&mut trace);
            let interval = trace.interval_secs();
            (path.display().to_string(), trace.columns, interval)
        }
        None => {
            anyhow::ensure!(
                args.series > 0 && args.days >= 4,
                "--series {} --days {}: at least 1 series of 4 days (a backtest trains on 70 % \
                 of the rows and needs whole days to find a daily season)",
                args.series,
                args.days
            );
            // A count past memory aborted the process before a line was printed.
            let cells = args.series.saturating_mul(args.days).saturating_mul(288);
            anyhow::ensure!(
                cells <= MAX_CELLS,
                "--series {} --days {}: {cells} cells, past the {MAX_CELLS} this bench generates \
                 (give a --trace for larger)",
                args.series,
                args.days
            );
            let name = "a synthetic five-minute matrix".to_string();
            (name, synthetic(args.series, args.days), Some(300))
        }
    };
    let kinds = super::forecast::models(&args.model)?;
    let cfg = BacktestConfig {
        normalise: Normalise::Max,
        ..BacktestConfig::default()
    };
    let rows = columns.first().map_or(0, Vec::len);
    cfg.check_rows(rows)?;
    let run = Run {
        columns: &columns,
        interval,
        kinds: &kinds,
        cfg: &cfg,
        protocol: Protocol::Strict,
        pooled: true,
        stack: true,
    };
    let threads = match args.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let (one, one_secs) = timed(&run, 1)?;
    let (many, secs) = timed(&run, threads)?;
    anyhow::ensure!(
        figures(&one) == figures(&many),
        "the backtest on {threads} cores scored differently from one core: its figures must not \
         depend on the number of cores"
    );
    let report = Report {
        trace: name,
        series: columns.len(),
        rows,
        models: kinds.iter().map(|k| k.name().to_string()).collect(),
        one_core_seconds: one_secs,
        threads,
        seconds: secs,
        speedup: one_secs / secs.max(f64::MIN_POSITIVE),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "backtest of {} ({} series × {} rows), models {}, horizons 1-3, strict",
            report.trace,
            report.series,
            report.rows,
            report.models.join(",")
        );
        println!("  {:<9} {:>8.2} s", "1 core:", report.one_core_seconds);
        println!(
            "  {:<9} {:>8.2} s   speed-up {:.2} ×   (figures identical)",
            format!(
                "{} {}:",
                report.threads,
                if report.threads == 1 { "core" } else { "cores" }
            ),
            report.seconds,
            report.speedup
        );
    }
    Ok(())
}
