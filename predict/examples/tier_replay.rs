//! The controller's scale tier against its full series, on a trace: replays every series of the
//! trace through the predictor the core builds for a series stepping at the trace's interval
//! (`full`: model `auto`, horizon 12, seasonal history where a day and a half fits 4,096 values,
//! sizing at 99 % with time-of-day quantiles) or through the compact one
//! (`controller/src/core/series/tier.rs`: `ar12` on a 256-value history, 100 residuals a step,
//! plain quantiles), with the core's refit schedule and its sizing (the 99 % residual quantile,
//! or the largest residual held while fewer than 99 are), and prints per part (validation
//! 70-80 %, test 80-100 %; series scaled by their training maximum) the one-step MSE and MAE,
//! the 80 % and 95 % coverage at steps 1 and 12, the share of step-1..12 planning bounds the
//! actual exceeded (the violation target is 1 %), and the mean bound above the actual.
//!
//! `cargo run --release -p prescient-predict --example tier_replay -- FILE full|compact
//! [HISTORY WINDOW [MODEL]]` (the compact tier's history, calibration window and model, 256,
//! 100 and ar12 unless given: the settings are chosen on the validation part). The compact tier
//! replays its residuals from the history as the controller's does; `REPLAYED=0` keeps them,
//! packed in two bytes (`PACKED=0`: `f32`), to compare.

use prescient_predict::season::periods_for_interval;
use prescient_predict::{read_trace, ModelKind, Predictor, PredictorConfig, Seasons, TraceFormat};

/// The core's refit schedule (controller/src/core/series.rs), at phase 0.
const REFIT_AT: [u64; 4] = [16, 64, 256, 1024];
const REFIT_EVERY: u64 = 2048;
const H: usize = 12;
const LEVEL: f64 = 0.99;

/// A forecast issued for a future row: (row targeted, point, 80 % band, 95 % band, bound, step).
type Issued = (usize, f64, (f64, f64), (f64, f64), f64, usize);

#[derive(Default)]
struct Part {
    se: f64,
    ae: f64,
    n1: usize,
    /// Inside the 80 % / 95 % band at steps 1 and 12, and how many were judged.
    inside: [[usize; 2]; 2],
    judged: [usize; 2],
    over: usize,
    margin: f64,
    bounds: usize,
}

fn predictor(
    tier: &str,
    interval: Option<u64>,
    (history, window, model): (usize, usize, ModelKind),
    (packed, replayed): (bool, bool),
) -> Result<Predictor, String> {
    let periods = interval.map(periods_for_interval).unwrap_or_default();
    match tier {
        "full" => {
            let (seasons, history) = match periods {
                s if s.day.is_some_and(|d| d + d / 2 <= 4096) => (s, 4096),
                _ => (Seasons::default(), 2048),
            };
            let cfg = PredictorConfig {
                history,
                horizon: H,
                day: periods.day,
                sizing_level: Some(LEVEL),
                ..PredictorConfig::default()
            };
            Ok(Predictor::new(ModelKind::Auto, seasons, cfg))
        }
        "compact" => {
            let cfg = PredictorConfig {
                history,
                horizon: H,
                calibration_window: window,
                day: None,
                sizing_level: None,
                packed_residuals: packed,
                replayed_residuals: replayed,
                ..PredictorConfig::default()
            };
            Ok(Predictor::new(model, Seasons::default(), cfg))
        }
        other => Err(format!("tier {other:?}: expected full or compact")),
    }
}

/// The controller's sizing quantile (`controller/src/sizing.rs`).
fn quantile(p: &mut Predictor, step: usize) -> Option<f64> {
    p.sizing_quantile(step, LEVEL).or_else(|| {
        let n = p.calibrated(step) as f64;
        p.residual_quantile(step, (n - 0.5) / (n + 1.0))
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, tier, sizes) = match args.as_slice() {
        [path, tier] => (path, tier, (256, 100, ModelKind::Ar)),
        [path, tier, h, w] => (path, tier, (h.parse()?, w.parse()?, ModelKind::Ar)),
        [path, tier, h, w, m] => (path, tier, (h.parse()?, w.parse()?, m.parse()?)),
        _ => return Err("usage: tier_replay FILE full|compact [HISTORY WINDOW [MODEL]]".into()),
    };
    // Observations before a compact series' first fit (the controller's `COMPACT_FIRST_FIT`);
    // `MIN_FIT=0` fits at the full schedule's counts.
    let min_fit: u64 = std::env::var("MIN_FIT").map_or(Ok(256), |v| v.parse())?;
    let packed = std::env::var("PACKED").map_or(true, |v| v != "0");
    let replayed = std::env::var("REPLAYED").map_or(true, |v| v != "0");
    let trace = read_trace(std::fs::File::open(path)?, TraceFormat::Auto)?;
    let interval = trace.interval_secs();
    let zero = trace.names.iter().any(|n| n.contains("->"));
    let rows = trace.rows();
    let (train_end, val_end) = (rows * 7 / 10, rows * 8 / 10);
    let mut parts = [Part::default(), Part::default()];
    for col in &trace.columns {
        let col: Vec<Option<f64>> = col
            .iter()
            .map(|v| if zero { Some(v.unwrap_or(0.0)) } else { *v })
            .collect();
        let max = col[..train_end]
            .iter()
            .flatten()
            .fold(0.0f64, |m, v| m.max(*v));
        if max <= 0.0 {
            continue;
        }
        let mut p = predictor(tier, interval, sizes, (packed, replayed))?;
        let mut issued: Vec<Issued> = Vec::new();
        for (t, v) in col.iter().enumerate() {
            let v = v.map(|v| v / max);
            if let (Some(y), true) = (v, t >= train_end) {
                let part = &mut parts[usize::from(t >= val_end)];
                for &(target, point, b80, b95, bound, step) in &issued {
                    if target != t {
                        continue;
                    }
                    if step == 1 {
                        part.se += (y - point) * (y - point);
                        part.ae += (y - point).abs();
                        part.n1 += 1;
                    }
                    if step == 1 || step == H {
                        let k = usize::from(step == H);
                        part.judged[k] += 1;
                        for (l, b) in [b80, b95].iter().enumerate() {
                            part.inside[l][k] += usize::from(y >= b.0 && y <= b.1);
                        }
                    }
                    part.bounds += 1;
                    part.over += usize::from(y > bound);
                    part.margin += bound - y;
                }
            }
            issued.retain(|e| e.0 > t);
            if t == 0 {
                p.preload([v]);
                p.fit();
            } else {
                p.observe(v);
                let n = t as u64 + 1;
                let due = REFIT_AT.contains(&n) || (n > 1536 && n % REFIT_EVERY == 0);
                // A compact series' model is first fitted on a full history (`MIN_FIT`).
                if due && (tier == "full" || n >= min_fit) {
                    p.fit();
                }
            }
            let f = p.forecast(H);
            for (i, &point) in f.points.iter().enumerate() {
                let step = i + 1;
                let bound = (point + quantile(&mut p, step).unwrap_or(0.0)).max(0.0);
                let band = |l: usize| f.bounds[i][l];
                issued.push((t + step, point, band(0), band(1), bound, step));
            }
        }
    }
    for (name, part) in ["validation", "test"].iter().zip(&parts) {
        let share = |a: usize, b: usize| a as f64 / b.max(1) as f64;
        println!(
            "{path} {tier} {sizes:?} packed {packed} replayed {replayed} {name}: mse1 {:.4}e-4 mae1 {:.4}e-2 cov80 h1 {:.4} h12 {:.4} cov95 h1 \
             {:.4} h12 {:.4} over {:.4} margin {:.4} ({} bounds)",
            part.se / part.n1.max(1) as f64 * 1e4,
            part.ae / part.n1.max(1) as f64 * 1e2,
            share(part.inside[0][0], part.judged[0]),
            share(part.inside[0][1], part.judged[1]),
            share(part.inside[1][0], part.judged[0]),
            share(part.inside[1][1], part.judged[1]),
            share(part.over, part.bounds),
            part.margin / part.bounds.max(1) as f64,
            part.bounds
        );
    }
    Ok(())
}
