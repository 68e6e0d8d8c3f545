//! `prescient bench forecast`: the cost of keeping forecasts current for many series on one core.
//! Synthetic one-minute series (daily season, noise, occasional bursts) are loaded, fitted (model
//! selection), then driven for a few control intervals: each interval observes one value per
//! series (update) and reads a horizon-10 forecast with intervals per series (forecast).

use prescient_predict::{ModelKind, SeriesStore, StoreConfig};
use serde::Serialize;
use std::time::Instant;

/// Arguments of this subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of series.
    #[arg(long, default_value_t = 10_000)]
    pub series: usize,
    /// Days of one-minute history loaded per series before fitting.
    #[arg(long, default_value_t = 2)]
    pub history_days: usize,
    /// Control intervals measured after fitting.
    #[arg(long, default_value_t = 5)]
    pub intervals: usize,
    /// Forecast horizon in steps.
    #[arg(long, default_value_t = 10)]
    pub horizon: usize,
    /// Model of every series.
    #[arg(long, default_value = "auto")]
    pub model: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    series: usize,
    model: String,
    horizon: usize,
    history_points_per_series: usize,
    /// Update plus forecast of every series, one control interval (mean).
    interval_seconds: f64,
    update_per_sec: f64,
    forecast_per_sec: f64,
    /// Model selection: fitting every candidate of every series once.
    fit_seconds: f64,
    fit_per_sec: f64,
    stored_points: usize,
    heap_bytes: usize,
    bytes_per_point: f64,
}

/// SplitMix64: a tiny deterministic generator, so every run measures the same data.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One synthetic series: level × (1 + daily swing) + noise, with rare bursts.
struct Synth {
    level: f64,
    swing: f64,
    phase: f64,
    noise: f64,
}

impl Synth {
    fn value(&self, t: usize, rng: &mut Rng) -> f64 {
        let day = (t as f64 / 1440.0 + self.phase) * std::f64::consts::TAU;
        let burst = if rng.unit() < 0.002 { 2.0 } else { 1.0 };
        let noise = (rng.unit() - 0.5) * 2.0 * self.noise;
        (self.level * (1.0 + self.swing * day.sin()) * burst + noise).max(0.0)
    }
}

/// Entry point.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.series > 0, "--series must be at least 1");
    // Series are keyed by u32 in the store, as the controller keys them.
    anyhow::ensure!(
        u32::try_from(args.series).is_ok(),
        "--series {}: at most {} (series are keyed by 32-bit numbers)",
        args.series,
        u32::MAX
    );
    anyhow::ensure!(args.horizon > 0, "--horizon must be at least 1");
    // Both exited 0 with figures of nothing: no interval read "update 1000000000000
    // series/s"; no history fitted every series on no data.
    anyhow::ensure!(
        args.intervals > 0,
        "--intervals 0: nothing would be measured (at least 1 control interval)"
    );
    anyhow::ensure!(
        args.history_days > 0,
        "--history-days 0: every series would be fitted on no history (at least 1 day)"
    );
    let model: ModelKind = args.model.parse()?;
    let mut cfg = StoreConfig::for_interval(60)?;
    cfg.model = model;
    cfg.horizon = args.horizon;
    let mut store: SeriesStore<u32> = SeriesStore::new(cfg);
    let mut rng = Rng(42);
    // A count past memory aborted the process ("memory allocation of ... bytes failed").
    let mut synth: Vec<Synth> = Vec::new();
    synth.try_reserve_exact(args.series).map_err(|_| {
        anyhow::anyhow!(
            "--series {}: not enough memory for that many series ({} bytes before any history)",
            args.series,
            args.series.saturating_mul(std::mem::size_of::<Synth>())
        )
    })?;
    synth.extend((0..args.series).map(|_| Synth {
        level: 10.0 + 990.0 * rng.unit(),
        swing: 0.2 + 0.6 * rng.unit(),
        phase: rng.unit(),
        noise: 5.0 + 20.0 * rng.unit(),
    }));
    let points = args.history_days * 1440;
    let log = |msg: &str| {
        if !args.json {
            eprintln!("{msg}");
        }
    };
    log(&format!(
        "loading {} series × {} one-minute points",
        args.series, points
    ));
    for (key, s) in (0u32..).zip(&synth) {
        store.load(&key, (0..points).map(|t| Some(s.value(t, &mut rng))));
    }
    log("fitting (model selection)");
    let start = Instant::now();
    store.fit_all();
    let fit_seconds = start.elapsed().as_secs_f64();

    log(&format!("driving {} control intervals", args.intervals));
    let (mut update_s, mut forecast_s) = (0.0, 0.0);
    let mut checksum = 0.0;
    for i in 0..args.intervals {
        let t = points + i;
        let values: Vec<f64> = synth.iter().map(|s| s.value(t, &mut rng)).collect();
        let start = Instant::now();
        for (key, &v) in (0u32..).zip(&values) {
            let _anomaly = store.observe(&key, (t * 60) as u64, Some(v));
        }
        update_s += start.elapsed().as_secs_f64();
        let start = Instant::now();
        for key in 0..args.series as u32 {
            if let Some(f) = store.forecast(&key, args.horizon) {
                checksum += f.points.last().copied().unwrap_or(0.0);
            }
        }
        forecast_s += start.elapsed().as_secs_f64();
    }
    let n = (args.series * args.intervals.max(1)) as f64;
    let stored = store.stored_points();
    let heap = store.heap_bytes();
    let report = Report {
        series: args.series,
        model: model.name().to_string(),
        horizon: args.horizon,
        history_points_per_series: points,
        interval_seconds: (update_s + forecast_s) / args.intervals.max(1) as f64,
        update_per_sec: n / update_s.max(1e-12),
        forecast_per_sec: n / forecast_s.max(1e-12),
        fit_seconds,
        fit_per_sec: args.series as f64 / fit_seconds.max(1e-12),
        stored_points: stored,
        heap_bytes: heap,
        bytes_per_point: heap as f64 / stored.max(1) as f64,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("series                 {}", report.series);
        println!(
            "model / horizon        {} / {}",
            report.model, report.horizon
        );
        println!(
            "control interval       {:.3} s (update + forecast of every series)",
            report.interval_seconds
        );
        println!(
            "update                 {:.0} series/s",
            report.update_per_sec
        );
        println!(
            "forecast               {:.0} series/s",
            report.forecast_per_sec
        );
        println!(
            "model selection (fit)  {:.1} s, {:.0} series/s",
            report.fit_seconds, report.fit_per_sec
        );
        println!(
            "memory                 {:.1} bytes/point ({} points, {} MB)",
            report.bytes_per_point,
            stored,
            heap / 1_000_000
        );
        log(&format!("(checksum {checksum:.1})"));
    }
    Ok(())
}
