//! How long a history and calibration window a live series needs: replays every series of a
//! trace through the predictor the controller's core builds at its 1 s control interval (model
//! `auto`, horizon 12, no daily season, sizing at 99 % with the core's refit schedule), with the
//! history and calibration windows given, and prints per part (validation 70-80 %, test 80-100 %)
//! the one-step MSE (series scaled by their training maximum), 95 % coverage at steps 1 and 12,
//! and the share of step-1..12 bounds (point + sizing quantile) the actual exceeded.
//!
//! `cargo run --release -p prescient-predict --example live_windows -- FILE HISTORY WINDOW`

use prescient_predict::season::periods_for_interval;
use prescient_predict::{read_trace, ModelKind, Predictor, PredictorConfig, Seasons, TraceFormat};

/// The core's refit schedule (controller/src/core/series.rs).
const REFIT_AT: [u64; 4] = [16, 64, 256, 1024];
const REFIT_EVERY: u64 = 2048;
const H: usize = 12;

/// A bound issued for a future row: (row targeted, point, 95 % band, sizing bound, step).
type Issued = (usize, f64, (f64, f64), f64, usize);

#[derive(Default)]
struct Part {
    se: f64,
    n1: usize,
    in95: [usize; 2],
    n95: [usize; 2],
    over: usize,
    bounds: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, history, window] = args.as_slice() else {
        return Err("usage: live_windows FILE HISTORY WINDOW".into());
    };
    let (history, window): (usize, usize) = (history.parse()?, window.parse()?);
    let trace = read_trace(std::fs::File::open(path)?, TraceFormat::Auto)?;
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
        let cfg = PredictorConfig {
            history,
            horizon: H,
            calibration_window: window,
            day: periods_for_interval(1).day,
            sizing_level: Some(0.99),
            ..PredictorConfig::default()
        };
        let mut p = Predictor::new(ModelKind::Auto, Seasons::default(), cfg);
        // Bounds issued at each of the last H origins.
        let mut issued: Vec<Issued> = Vec::new();
        for (t, v) in col.iter().enumerate() {
            let v = v.map(|v| v / max);
            if t > 0 {
                if let (Some(y), Some(part)) =
                    (v, (t >= train_end).then(|| usize::from(t >= val_end)))
                {
                    let part = &mut parts[part];
                    for &(target, point, b95, bound, step) in &issued {
                        if target != t {
                            continue;
                        }
                        if step == 1 {
                            part.se += (y - point) * (y - point);
                            part.n1 += 1;
                        }
                        if step == 1 || step == H {
                            let k = usize::from(step == H);
                            part.n95[k] += 1;
                            part.in95[k] += usize::from(y >= b95.0 && y <= b95.1);
                        }
                        part.bounds += 1;
                        part.over += usize::from(y > bound);
                    }
                }
                issued.retain(|e| e.0 > t);
            }
            if t == 0 {
                p.preload([v]);
                p.fit();
            } else {
                p.observe(v);
                let n = t as u64 + 1;
                if REFIT_AT.contains(&n) || n % REFIT_EVERY == 0 {
                    p.fit();
                }
            }
            let f = p.forecast(H);
            for (i, &point) in f.points.iter().enumerate() {
                let step = i + 1;
                let q = p.sizing_quantile(step, 0.99);
                let b95 = f.bounds[i][1];
                let bound = point + q.unwrap_or(f64::INFINITY);
                issued.push((t + step, point, b95, bound, step));
            }
        }
    }
    for (name, part) in ["validation", "test"].iter().zip(&parts) {
        println!(
            "{name}: history {history} window {window}: mse1 {:.3}e-4 cov95 h1 {:.4} h12 {:.4} \
             over99 {:.4} ({} bounds)",
            part.se / part.n1.max(1) as f64 * 1e4,
            part.in95[0] as f64 / part.n95[0].max(1) as f64,
            part.in95[1] as f64 / part.n95[1].max(1) as f64,
            part.over as f64 / part.bounds.max(1) as f64,
            part.bounds
        );
    }
    Ok(())
}
