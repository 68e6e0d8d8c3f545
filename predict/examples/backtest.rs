//! Quick backtest driver for development: `cargo run --release -p prescient-predict --example
//! backtest -- FILE [models]`. The real command is `prescient forecast backtest`.

use prescient_predict::{
    evaluate_series, read_trace, BacktestConfig, BacktestRow, ModelKind, Score, TraceFormat,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: backtest FILE [model,...]")?;
    let models: Vec<ModelKind> = match args.next() {
        Some(m) => m.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => ModelKind::ALL.to_vec(),
    };
    let trace = read_trace(std::fs::File::open(path)?, TraceFormat::Auto)?;
    let mut cfg = BacktestConfig::default();
    if std::env::var("ZERO").is_ok() || trace.names.iter().any(|n| n.contains("->")) {
        cfg.missing = prescient_predict::Missing::Zero;
    }
    if std::env::var("VAL").is_ok() {
        cfg.part = prescient_predict::Part::Validation;
    }
    if std::env::var("PUBLISHED").is_ok() {
        cfg.protocol = prescient_predict::Protocol::Published;
    }
    let t0 = std::time::Instant::now();
    let fitted = if std::env::var("NOPOOL").is_err() {
        prescient_predict::fit_pooled(&trace.columns, trace.interval_secs(), &cfg)
    } else {
        prescient_predict::Pooled::default()
    };
    let mut global = fitted.clone();
    if std::env::var("NOTREES").is_ok() {
        global.boosted = None;
    } else if std::env::var("PUBLISHED").is_err() && std::env::var("NOCHOOSE").is_err() {
        let (chosen, tried) =
            prescient_predict::choose_pooled(&trace.columns, trace.interval_secs(), &cfg, &global);
        eprintln!("validation: {tried:?}");
        global = chosen;
    }
    eprintln!(
        "pooled: regression {} trees {} in {:.1} s",
        fitted.regression.is_some(),
        fitted.boosted.is_some(),
        t0.elapsed().as_secs_f64()
    );
    // The pooled stacking layer over `auto`, where the validation part keeps it.
    let stack = if std::env::var("NOSTACK").is_ok() || std::env::var("PUBLISHED").is_ok() {
        None
    } else {
        let (chosen, tried) =
            prescient_predict::choose_stack(&trace.columns, trace.interval_secs(), &cfg, &global);
        eprintln!("stack: {chosen:?} validation (mse, mae) plain / stacked: {tried:?}");
        chosen
    };
    for kind in models {
        let start = std::time::Instant::now();
        let mut pooled = vec![Score::default(); cfg.horizons.len()];
        let mut series = 0;
        if kind == ModelKind::Auto && stack.is_some() {
            let cols = &trace.columns;
            let s = prescient_predict::evaluate_auto_stacked(
                cols,
                trace.interval_secs(),
                &cfg,
                &global,
                stack,
            );
            pooled = s.unwrap_or(pooled);
            series = cols.len();
        }
        for col in trace
            .columns
            .iter()
            .filter(|_| !(kind == ModelKind::Auto && stack.is_some()))
        {
            if let Some(s) = evaluate_series(
                col,
                trace.interval_secs(),
                kind,
                &cfg,
                if kind == ModelKind::Auto {
                    &global
                } else {
                    &fitted
                },
            ) {
                if std::env::var("PER_SERIES").is_ok() {
                    eprintln!("{} {} {:.3e} {}", kind, series, s[0].sse, s[0].n);
                }
                series += 1;
                pooled.iter_mut().zip(&s).for_each(|(p, s)| p.merge(s));
            }
        }
        let secs = start.elapsed().as_secs_f64() / series.max(1) as f64;
        for (s, &h) in pooled.iter().zip(&cfg.horizons) {
            let r = BacktestRow::from_score(kind, h, s, secs);
            println!(
                "{:15} h={} mse={:.2}e-4 mae={:.3}e-2 cov80={:.3} cov95={:.3} s/series={:.4}",
                r.model,
                r.horizon,
                r.mse * 1e4,
                r.mae * 1e2,
                r.coverage80,
                r.coverage95,
                r.seconds_per_series
            );
        }
    }
    Ok(())
}
