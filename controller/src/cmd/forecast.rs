//! `prescient forecast backtest`: the rolling-origin backtest of `prescient_predict::backtest` on a
//! trace file, with a table (or JSON) per model and horizon. Timing lives here, not in the
//! library (which has no clock).

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use prescient_predict::{
    choose_pooled, choose_stack, evaluate_auto_stacked, evaluate_columns, fit_pooled, prepare,
    BacktestConfig, BacktestRow, Missing, ModelKind, Normalise, Pooled, Protocol, Score,
    StackConfig, TraceFormat,
};
use std::time::Instant;

use crate::evaluate::series::EmptyCells;

/// Arguments of `prescient forecast backtest`.
#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// Trace file: one column per series, one row per interval; `,`, `;` or tab separated, an
    /// optional first column of times (ISO 8601, `Z`/`+HH:MM` offsets, or epochs), empty cells
    /// and `NaN`/`NA`/`null`/`-` missing. Or long: `time,LABEL...,VALUE`, one row per
    /// observation (`time,src,dst,bytes` makes the series `src->dst`). Plain or gzip; `-` reads
    /// standard input.
    // `evaluate` calls the same file `--trace`: a user moving between the two commands should
    // not have to remember which spelling each takes.
    #[arg(long, visible_alias = "trace")]
    pub input: std::path::PathBuf,
    /// Trace format: auto, csv, abilene or isp.
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Steps ahead to score, comma separated.
    // A negative value is taken as a (refused) horizon, not as "unexpected argument '-1'".
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,2,3",
        allow_negative_numbers = true
    )]
    pub horizon: Vec<usize>,
    /// Models, comma separated: naive, seasonal-naive, ets, regression, ar12, pooled-regression,
    /// boosted-trees, auto, or all.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    pub model: Vec<String>,
    /// Scaling of each series: max (its maximum over the whole trace, the published protocol),
    /// train-max (maximum of the training part, no look-ahead) or none.
    #[arg(long, default_value = "max")]
    pub normalise: String,
    /// Empty cells: skip (unknown: not scored, last value carried forward as model input),
    /// zero (no traffic: scored as 0), or auto (zero for SNDlib/Abilene traces, every column
    /// `SRC->DST`, which omit zero demands, except all-empty rows of a matrix too dense for a
    /// quiet interval: snapshots missing from the source; skip otherwise).
    #[arg(long, default_value = "auto")]
    pub missing: String,
    /// Do not fit models pooled over all series of the trace (`auto` then weighs per-series
    /// candidates only; naming pooled-regression or boosted-trees with it is refused, and so
    /// is a `--model` list none of whose models uses them).
    #[arg(long)]
    pub no_pooled: bool,
    /// Do not run `auto`'s pooled stacking layer (under the strict protocol it is used where
    /// the validation part says it lowers both MSE and MAE at every horizon; refused without
    /// `auto` in `--model` or with `--protocol published`, where there is no layer to leave out).
    #[arg(long)]
    pub no_stack: bool,
    /// strict: nothing from the test part reaches a model (series scaled for the models by
    /// their training maximum; which pooled models `auto` weighs is chosen on the validation
    /// part); published: the literature's protocol (series scaled by their whole-trace maximum,
    /// `auto` weighs the pooled regression). Errors are reported on the `--normalise` scale
    /// either way.
    #[arg(long, default_value = "strict")]
    pub protocol: String,
    /// Print a JSON list of rows instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn models(names: &[String]) -> anyhow::Result<Vec<ModelKind>> {
    if names.iter().any(|n| n == "all") {
        // `all,naive` was read as `all`: whatever else was named was dropped without a word.
        if names.len() > 1 {
            anyhow::bail!(
                "--model {}: all already names every model; give all alone, or list only \
                 the models you want",
                names.join(",")
            );
        }
        return Ok(ModelKind::ALL.to_vec());
    }
    let kinds = names
        .iter()
        .map(|n| n.parse::<ModelKind>().map_err(anyhow::Error::from))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Refused as a repeated `--horizon` is: each copy printed the same rows again.
    if let Some((i, _)) = kinds
        .iter()
        .enumerate()
        .find(|(i, k)| kinds[..*i].contains(k))
    {
        anyhow::bail!(
            "--model {}: {} is listed twice (it would print the same rows twice)",
            names.join(","),
            names[i]
        );
    }
    Ok(kinds)
}

/// Entry point of `prescient forecast backtest`.
pub fn backtest(args: BacktestArgs) -> anyhow::Result<()> {
    let format: TraceFormat = args.format.parse()?;
    let mut trace = super::trace_input::read(&args.input, format)?;
    let missing = super::trace_input::missing(&args.missing, &trace)?;
    let empty_cells = trace.missing();
    // Filled here rather than per series: whether an all-empty row is a quiet interval or a
    // snapshot missing from the source is a property of the whole row. What is still empty
    // after that is unknown.
    let snapshots_missing = missing.apply(&mut trace);
    let normalise = match args.normalise.as_str() {
        "max" => Normalise::Max,
        "train-max" => Normalise::TrainMax,
        "none" => Normalise::None,
        other => anyhow::bail!("--normalise {other:?}: expected max, train-max or none"),
    };
    let protocol = match args.protocol.as_str() {
        "strict" => Protocol::Strict,
        "published" => Protocol::Published,
        other => anyhow::bail!("--protocol {other:?}: expected strict or published"),
    };
    let cfg = BacktestConfig {
        horizons: args.horizon.clone(),
        normalise,
        missing: Missing::Skip,
        protocol,
        ..Default::default()
    };
    cfg.validate()?;
    cfg.check_rows(trace.rows())
        .with_context(|| format!("trace {}", args.input.display()))?;
    let kinds = models(&args.model)?;
    // Named with --no-pooled, a pooled model was not fitted and its rows were the per-series
    // fallback printed under the pooled model's name. (`all` keeps them: nobody named them.)
    if args.no_pooled && !args.model.iter().any(|n| n == "all") {
        if let Some(k) = kinds
            .iter()
            .find(|k| matches!(k, ModelKind::PooledRegression | ModelKind::Boosted))
        {
            anyhow::bail!(
                "--model {} with --no-pooled: {} is fitted pooled over all series, which \
                 --no-pooled turns off (its rows would be a per-series fit under its name)",
                args.model.join(","),
                k.name()
            );
        }
    }
    check_switches(&args, &kinds, protocol)?;
    if normalise == Normalise::None {
        check_unscaled(&trace, &args.input)?;
    }
    // A series the protocol cannot scale (no positive value where it takes its maximum) is
    // left out of every model's figures: say which, and refuse a trace with none left, whose
    // table would read as errors of 0.
    let unscored: Vec<&str> = trace
        .names
        .iter()
        .zip(&trace.columns)
        .filter(|(_, c)| prepare(c, &cfg).is_none())
        .map(|(n, _)| n.as_str())
        .collect();
    if unscored.len() == trace.columns.len() {
        anyhow::bail!(
            "trace {}: no series can be scored: {} {} no positive value{} (each series is \
             scaled by its maximum)",
            args.input.display(),
            names_list(&unscored),
            if unscored.len() == 1 { "has" } else { "have" },
            if normalise == Normalise::TrainMax {
                " in the training part"
            } else {
                ""
            }
        );
    }
    if !unscored.is_empty() {
        eprintln!(
            "{}: {} of {} series not scored (no positive value{} to scale by): {}",
            args.input.display(),
            unscored.len(),
            trace.columns.len(),
            if normalise == Normalise::TrainMax {
                " in the training part"
            } else {
                ""
            },
            names_list(&unscored)
        );
    }
    let interval = trace.interval_secs();
    if !args.json {
        eprintln!(
            "{}: {} series × {} rows, interval {}, {} empty cells treated as {}{}",
            args.input.display(),
            trace.columns.len(),
            trace.rows(),
            interval.map_or("unknown".to_string(), |s| format!("{s} s")),
            empty_cells,
            if missing != EmptyCells::Unknown {
                "zero traffic"
            } else {
                "missing (not scored)"
            },
            if snapshots_missing > 0 {
                format!(
                    ", except {snapshots_missing} rows with every cell empty: snapshots missing \
                     from the source (not scored)"
                )
            } else {
                String::new()
            },
        );
    }

    let bar = ProgressBar::new((kinds.len() * trace.columns.len()) as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>15} [{bar:40}] {pos}/{len} series, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let run = Run {
        columns: &trace.columns,
        interval,
        kinds: &kinds,
        cfg: &cfg,
        protocol,
        pooled: !args.no_pooled,
        stack: !args.no_stack,
    };
    let quiet = args.json;
    let rows = run.score(&bar, &mut |note| {
        if !quiet {
            bar.suspend(|| eprintln!("{note}"));
        }
    });
    bar.finish_and_clear();

    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print_table(&rows);
        if rows.iter().any(|r| r.fitted_as.is_some()) {
            println!(
                "* fitted per series: {}",
                if args.no_pooled {
                    "--no-pooled turns the pooled fit off"
                } else {
                    "the pooled fit failed on this trace (stderr names which)"
                }
            );
        }
    }
    Ok(())
}

/// One backtest of several models on the columns of a trace: what `forecast backtest` runs
/// and `bench backtest` times.
pub(crate) struct Run<'a> {
    pub columns: &'a [Vec<Option<f64>>],
    pub interval: Option<u64>,
    pub kinds: &'a [ModelKind],
    pub cfg: &'a BacktestConfig,
    pub protocol: Protocol,
    /// Whether the models pooled over all series are fitted (`--no-pooled` turns them off).
    pub pooled: bool,
    /// Whether `auto`'s pooled stacking layer may be used (`--no-stack` turns it off).
    pub stack: bool,
}

impl Run<'_> {
    /// Scores every model at every horizon; `note` gets each choice made on the validation
    /// part as it is made, and `bar` advances by one series at a time.
    pub fn score(&self, bar: &ProgressBar, note: &mut dyn FnMut(String)) -> Vec<BacktestRow> {
        let needs_pool = self.kinds.iter().any(|&k| uses_pool(k));
        let pool_start = Instant::now();
        let fitted = if needs_pool && self.pooled {
            fit_pooled(self.columns, self.interval, self.cfg)
        } else {
            Pooled::default()
        };
        let pool_secs = pool_start.elapsed().as_secs_f64();
        let for_auto = match self.protocol {
            _ if !self.kinds.contains(&ModelKind::Auto) => Pooled::default(),
            Protocol::Published => Pooled {
                regression: fitted.regression.clone(),
                boosted: None,
            },
            Protocol::Strict => {
                let (chosen, tried) = choose_pooled(self.columns, self.interval, self.cfg, &fitted);
                for (name, err) in &tried {
                    note(format!(
                        "auto on the validation part, {name}: MSE (sum over horizons) {err:.4e}"
                    ));
                }
                chosen
            }
        };
        if needs_pool {
            note(format!(
                "pooled models fitted in {pool_secs:.1} s: regression {}, boosted trees {}; auto weighs regression {}, trees {}",
                fitted.regression.is_some(),
                fitted.boosted.is_some(),
                for_auto.regression.is_some(),
                for_auto.boosted.is_some()
            ));
        }
        // The pooled stacking layer over `auto` (strict only: the published protocol is the
        // literature's, without it), where the validation part keeps it.
        let stack: Option<StackConfig> = if self.kinds.contains(&ModelKind::Auto)
            && self.protocol == Protocol::Strict
            && self.stack
        {
            let (chosen, tried) = choose_stack(self.columns, self.interval, self.cfg, &for_auto);
            if let [plain, stacked] = tried.as_slice() {
                let show = |v: &[(f64, f64)]| {
                    v.iter()
                        .map(|(mse, mae)| format!("{mse:.4e} / {mae:.4e}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let verdict = if chosen.is_some() { "kept" } else { "not kept" };
                note(format!(
                    "auto on the validation part, MSE / MAE per horizon: plain {}; with the \
                     pooled stacking layer {}: {verdict}",
                    show(plain),
                    show(stacked),
                ));
            }
            chosen
        } else {
            None
        };
        let mut rows = Vec::new();
        for &kind in self.kinds {
            bar.set_message(kind.name());
            let start = Instant::now();
            let pooled = if kind == ModelKind::Auto {
                &for_auto
            } else {
                &fitted
            };
            let mut total = vec![Score::default(); self.cfg.horizons.len()];
            let mut series = 0usize;
            if kind == ModelKind::Auto && stack.is_some() {
                // Every series in lockstep: the layer at an origin has seen every series' actuals
                // before it.
                if let Some(scores) =
                    evaluate_auto_stacked(self.columns, self.interval, self.cfg, pooled, stack)
                {
                    total = scores;
                    series = self.columns.len();
                }
                bar.inc(self.columns.len() as u64);
            } else {
                (total, series) =
                    evaluate_columns(self.columns, self.interval, kind, self.cfg, pooled, &|| {
                        bar.inc(1)
                    });
            }
            let per_series = start.elapsed().as_secs_f64() / series.max(1) as f64;
            // Its rows are then another model's: the output says so, not only stderr.
            let fitted_as = pooled.falls_back(kind).then(|| "per-series".to_string());
            for (score, &h) in total.iter().zip(&self.cfg.horizons) {
                rows.push(BacktestRow {
                    fitted_as: fitted_as.clone(),
                    ..BacktestRow::from_score(kind, h, score, per_series)
                });
            }
        }
        rows
    }
}

/// Whether model `k` is fitted on, or weighs, the models pooled over all series.
fn uses_pool(k: ModelKind) -> bool {
    matches!(
        k,
        ModelKind::Auto | ModelKind::PooledRegression | ModelKind::Boosted
    )
}

/// Refuses `--no-pooled` and `--no-stack` where they change nothing: a user reading the rows
/// would take them for their effect.
fn check_switches(
    args: &BacktestArgs,
    kinds: &[ModelKind],
    protocol: Protocol,
) -> anyhow::Result<()> {
    if args.no_pooled && !kinds.iter().any(|&k| uses_pool(k)) {
        anyhow::bail!(
            "--no-pooled with --model {}: none of these models uses the pooled models (auto, \
             pooled-regression and boosted-trees do), so the flag changes nothing",
            args.model.join(",")
        );
    }
    if args.no_stack && !kinds.contains(&ModelKind::Auto) {
        anyhow::bail!(
            "--no-stack with --model {}: the pooled stacking layer runs only over auto, which \
             the list leaves out (the flag changes nothing)",
            args.model.join(",")
        );
    }
    if args.no_stack && protocol == Protocol::Published {
        anyhow::bail!(
            "--no-stack with --protocol published: the published protocol runs without the \
             stacking layer already (the flag changes nothing)"
        );
    }
    Ok(())
}

/// Unscaled (`--normalise none`) values whose squared errors are ordinary floats: beyond, the
/// models' sums and the squared errors overflow or underflow (1e298 read MSE inf, coverage 1;
/// 1e-300 read MSE 0, coverage 0).
const UNSCALED: std::ops::RangeInclusive<f64> = 1e-150..=1e150;

/// Refuses, under `--normalise none`, a series whose values are outside [`UNSCALED`].
fn check_unscaled(trace: &prescient_predict::Trace, input: &std::path::Path) -> anyhow::Result<()> {
    for (name, col) in trace.names.iter().zip(&trace.columns) {
        let largest = col.iter().flatten().fold(0.0, |m: f64, v| m.max(v.abs()));
        if largest > 0.0 && !UNSCALED.contains(&largest) {
            anyhow::bail!(
                "trace {}: --normalise none: series {name:?} reaches {largest:e}, whose squared \
                 errors {} a float; use --normalise max or train-max (errors are then shares \
                 of each series' maximum)",
                input.display(),
                if largest > 1.0 {
                    "overflow"
                } else {
                    "underflow"
                }
            );
        }
    }
    Ok(())
}

/// Up to five names, quoted, then how many more.
fn names_list(names: &[&str]) -> String {
    let shown: Vec<String> = names.iter().take(5).map(|n| format!("{n:?}")).collect();
    match names.len().saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

fn print_table(rows: &[BacktestRow]) {
    // A pooled model fitted per series is marked `*` (explained under the table); the column
    // widens only then, so other tables print as before.
    let label = |r: &BacktestRow| match r.fitted_as {
        Some(_) => format!("{}*", r.model),
        None => r.model.clone(),
    };
    let w = rows.iter().map(|r| label(r).len()).fold(17, usize::max);
    println!(
        "{:<w$} {:>3} {:>11} {:>11} {:>9} {:>7} {:>7} {:>10} {:>9}",
        "model", "h", "MSE", "MAE", "RMSE", "cov80", "cov95", "s/series", "points"
    );
    for r in rows {
        println!(
            "{:<w$} {:>3} {:>11.4e} {:>11.4e} {:>9.5} {:>7.3} {:>7.3} {:>10.4} {:>9}",
            label(r),
            r.horizon,
            r.mse,
            r.mae,
            r.rmse,
            r.coverage80,
            r.coverage95,
            r.seconds_per_series,
            r.points
        );
    }
}
