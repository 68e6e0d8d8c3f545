//! `prescient evaluate`: replays a trace through the capacity policies of
//! [`crate::evaluate`] and prints what each held and how often demand outran it.

use std::path::PathBuf;

use anyhow::Context;
use prescient_predict::TraceFormat;

use crate::evaluate::series::EmptyCells;
use crate::evaluate::{self, plot, EvalConfig, PolicyKind, Report, SeriesKind, Topology};

/// Arguments of `prescient evaluate`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Trace file, in any format `forecast backtest` reads (wide CSV of pairs, `time,value`,
    /// SNDlib-style matrices with empty cells, long `time,src,dst,bytes` rows; plain or gzip;
    /// `-` reads standard input).
    // `forecast backtest` calls the same file `--input`: both spellings work in both.
    #[arg(long, visible_alias = "input")]
    pub trace: PathBuf,
    /// Trace format: auto, csv, abilene or isp.
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Empty cells: skip (unknown demand: neither sized for nor scored, and a total or link
    /// with an unknown term is unknown), zero (no demand), or auto (zero in SNDlib-style
    /// matrices, every column `SRC->DST`, which omit zero demands; skip otherwise), as
    /// `forecast backtest --missing`.
    #[arg(long, default_value = "auto")]
    pub missing: String,
    /// Series: total (sum of all columns), pairs (each column), or links (pairs routed over the
    /// Abilene backbone, or over `--topology`, one series per directed link).
    #[arg(long, default_value = "total")]
    pub series: String,
    /// With `--series links`: the network the pairs are routed over, as an edge list (one link
    /// a line, `a,b` or `a b`; further fields such as a capacity are read past; `#` comments),
    /// instead of the Abilene backbone. Pairs take shortest paths by hop count.
    #[arg(long)]
    pub topology: Option<PathBuf>,
    /// Intervals between a decision and the interval its capacity is in force for.
    // Negative numbers are taken as values of the numeric flags, so that `--lead -1` is refused
    // naming the flag, not as "unexpected argument '-1'".
    #[arg(long, default_value_t = 2, allow_negative_numbers = true)]
    pub lead: usize,
    /// Share of intervals demand may exceed capacity in; headrooms are chosen to meet it.
    #[arg(
        long,
        default_value_t = crate::sizing::DEFAULT_VIOLATION_TARGET,
        allow_negative_numbers = true
    )]
    pub violations: f64,
    /// Policies, comma separated: predictive, reactive, static, oracle.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "predictive,reactive,static,oracle"
    )]
    pub policies: Vec<String>,
    /// Intervals the reactive policy holds its window maximum before scaling down (default 5).
    // No clap default: given with `--policies` that leave reactive out, it is refused, not
    // ignored.
    #[arg(long, allow_negative_numbers = true)]
    pub hold: Option<usize>,
    /// Score compute: demand one instance serves (in the trace's unit); capacity is held in
    /// whole instances, and instance-hours and hook calls are reported.
    #[arg(long, allow_negative_numbers = true)]
    pub instance_capacity: Option<f64>,
    /// Do not give the forecasting model the models pooled over all series (refused where it
    /// changes nothing: one series, or `--policies` without predictive).
    #[arg(long)]
    pub no_pooled: bool,
    /// Choose each policy's headroom on each series' own validation rows instead of once over
    /// the validation rows of all series (refused where it changes nothing: one series, or
    /// `--policies oracle`).
    #[arg(long)]
    pub per_series_headroom: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write an SVG chart of demand against each policy's capacity over the scored part to this
    /// file (not `-`: stdout carries the table or the JSON).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// The series to chart (default: the one with the most demand); needs `--plot`.
    #[arg(long, requires = "plot")]
    pub plot_series: Option<String>,
}

/// Runs the evaluation `args` describe; returns the report (and writes the plot, if asked).
pub fn report(args: &Args) -> anyhow::Result<Report> {
    let format: TraceFormat = args.format.parse()?;
    let mut trace = super::trace_input::read(&args.trace, format)?;
    let kind: SeriesKind = args.series.parse()?;
    if let Some(path) = &args.plot {
        // `-` wrote a file named `-`; stdout already carries the report, and an SVG after it
        // would make neither readable.
        if path.as_os_str() == "-" {
            anyhow::bail!(
                "--plot -: the chart is not written to stdout, which carries the table (or \
                 --json); give a file name such as chart.svg"
            );
        }
        // Checked before the replay, which takes minutes on a day of one-second rows: the
        // write used to fail only once everything was computed.
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !dir.is_dir() || path.is_dir() {
            anyhow::bail!(
                "--plot {}: {} is not a directory to write the chart into",
                path.display(),
                if path.is_dir() { path } else { dir }.display()
            );
        }
    }
    // An empty entry (`--policies ""`, `predictive,`) read as "`policies` = : expected ...",
    // naming neither the list nor the empty name.
    if args.policies.iter().any(|p| p.trim().is_empty()) {
        anyhow::bail!(
            "--policies {:?}: an empty policy name (expected a comma-separated list of \
             predictive, reactive, static, oracle)",
            args.policies.join(",")
        );
    }
    let policies = args
        .policies
        .iter()
        .map(|p| p.trim().parse::<PolicyKind>())
        .collect::<Result<Vec<_>, _>>()?;
    if let (Some(hold), false) = (args.hold, policies.contains(&PolicyKind::Reactive)) {
        anyhow::bail!(
            "--hold {hold}: it sets the reactive policy's hold, and --policies {} leaves \
             reactive out",
            args.policies.join(",")
        );
    }
    // Flags that would change nothing are refused, as `--hold` without reactive is: a user
    // reading the report would take it for their effect.
    if args.no_pooled && !policies.contains(&PolicyKind::Predictive) {
        anyhow::bail!(
            "--no-pooled with --policies {}: the pooled models feed only the predictive \
             policy's forecasts, which the list leaves out (the flag changes nothing)",
            args.policies.join(",")
        );
    }
    if args.per_series_headroom && policies.iter().all(|&p| p == PolicyKind::Oracle) {
        anyhow::bail!(
            "--per-series-headroom with --policies {}: the oracle has no headroom to choose \
             (it holds demand itself; the flag changes nothing)",
            args.policies.join(",")
        );
    }
    let cfg = EvalConfig {
        lead: args.lead,
        violation: args.violations,
        policies,
        hold: args.hold.unwrap_or(EvalConfig::default().hold),
        instance_capacity: args.instance_capacity,
        pooled: !args.no_pooled,
        pooled_headroom: !args.per_series_headroom,
    };
    cfg.validate()?;
    let missing = super::trace_input::missing(&args.missing, &trace)?;
    let snapshots_missing = missing.apply(&mut trace);
    // Read as asked once, here: what is still empty is unknown.
    let filled = EmptyCells::Unknown;
    if snapshots_missing > 0 {
        // On stderr: `--json` keeps stdout one JSON object.
        eprintln!(
            "{}: {snapshots_missing} rows with every cell empty read as unknown demand: \
             snapshots missing from the source (a collector outage), not a network with no \
             traffic (`--missing zero` reads them as zero)",
            args.trace.display()
        );
    }
    let demand = match &args.topology {
        None => {
            let abilene = Topology::abilene();
            evaluate::series::demand_on(&trace, kind, &abilene, "the Abilene backbone", filled)?
        }
        Some(_) if kind != SeriesKind::Links => anyhow::bail!(
            "--topology routes pairs onto links: it needs --series links (not {})",
            kind.name()
        ),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading topology {}", path.display()))?;
            let named = path.display().to_string();
            let topology = Topology::parse(&text, &named)?;
            evaluate::series::demand_on(&trace, kind, &topology, &named, filled)?
        }
    };
    if let [only] = demand.names.as_slice() {
        for (given, flag, why) in [
            (
                args.per_series_headroom,
                "--per-series-headroom",
                "whose own headroom is the one chosen over every series",
            ),
            (
                args.no_pooled,
                "--no-pooled",
                "and models are pooled only over more than one",
            ),
        ] {
            if given {
                anyhow::bail!(
                    "{flag} with --series {}: trace {} gives one series ({only:?}), {why} (the \
                     flag changes nothing)",
                    kind.name(),
                    args.trace.display()
                );
            }
        }
    }
    let negative = evaluate::series::negative_cells(&trace);
    if negative > 0 {
        // On stderr: `--json` keeps stdout one JSON object.
        eprintln!(
            "{}: {negative} negative cells read as unknown demand (demand cannot be negative: not sized for, not scored)",
            args.trace.display()
        );
    }
    let plot_series = match (&args.plot, &args.plot_series) {
        (None, _) => None,
        (Some(_), Some(name)) => {
            if !demand.names.contains(name) {
                // Naming them: a total's one series is called `total`, not its column.
                anyhow::bail!(
                    "--plot-series {name:?}: no such {} series (there are {}: {})",
                    kind.name(),
                    demand.names.len(),
                    some_names(&demand.names)
                );
            }
            Some(name.clone())
        }
        (Some(_), None) => busiest(&demand),
    };
    let (report, replay) = evaluate::evaluate(
        &args.trace.display().to_string(),
        kind,
        &demand,
        trace.interval_secs(),
        &cfg,
        plot_series.as_deref(),
    )?;
    if report.scored_intervals == 0 {
        anyhow::bail!(
            "trace {}: nothing to score: no row of its scored part (the last 20 %) has known \
             demand in any {} series{}",
            args.trace.display(),
            kind.name(),
            empty_columns_hint(&trace, kind, missing)
        );
    }
    if let Some(path) = &args.plot {
        let replay = replay.context("the trace is too short to score anything to plot")?;
        let title = format!(
            "{} — {} series {}, lead {}, violation target {}",
            args.trace.display(),
            kind.name(),
            replay.name,
            cfg.lead,
            cfg.violation
        );
        std::fs::write(path, plot::svg(&replay, &title))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report)
}

/// Why a total may be unknown everywhere: the columns with no value at all (a sum with an
/// unknown term is unknown, outside SNDlib matrices whose empty cells are zero demand).
fn empty_columns_hint(
    trace: &prescient_predict::Trace,
    kind: SeriesKind,
    missing: EmptyCells,
) -> String {
    let empty: Vec<String> = trace
        .names
        .iter()
        .zip(&trace.columns)
        .filter(|(_, c)| c.iter().all(Option::is_none))
        .map(|(n, _)| format!("{n:?}"))
        .collect();
    if kind != SeriesKind::Total || empty.is_empty() || missing != EmptyCells::Unknown {
        return String::new();
    }
    let (column, has) = if empty.len() == 1 {
        ("column", "has")
    } else {
        ("columns", "have")
    };
    format!(
        ": {column} {} {has} no value at all, so the total is unknown at every row (--series \
         pairs scores each column on its own)",
        empty.join(", ")
    )
}

/// The first few of `names`, quoted, for an error message.
fn some_names(names: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut list: Vec<String> = names.iter().take(SHOWN).map(|n| format!("{n:?}")).collect();
    if names.len() > SHOWN {
        list.push("...".to_string());
    }
    list.join(", ")
}

fn busiest(demand: &evaluate::Demand) -> Option<String> {
    demand
        .names
        .iter()
        .zip(&demand.columns)
        .map(|(n, c)| (n, c.iter().flatten().sum::<f64>()))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(n, _)| n.clone())
}

/// Entry point of `prescient evaluate`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let report = report(&args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

fn print_table(r: &Report) {
    println!(
        "{}: {} {} series, lead {}, violation target {}, {} scored intervals, {} sized by time of day",
        r.trace,
        r.series_count,
        r.series.name(),
        r.lead,
        r.violation_target,
        r.scored_intervals,
        r.time_of_day_series
    );
    for (policy, n) in &r.headroom_unmet {
        println!(
            "note: {}: on {n} of {} series no headroom met the violation target on validation (demand where its base was zero); they ran at headroom 1",
            policy.name(),
            r.series_count
        );
    }
    if !r.target_beyond_rows.is_empty() {
        let which: Vec<String> = r
            .target_beyond_rows
            .iter()
            .map(|(policy, n)| format!("{} on {n} of {}", policy.name(), r.series_count))
            .collect();
        println!(
            "note: the violation target {} is below what the validation rows can promise (n rows: 1/(n+1) at best) for {}; sized at the largest validation ratio there (at headroom 1 without one), so the target is not a promise",
            r.violation_target,
            which.join(", ")
        );
    }
    let compute = r.policies.iter().any(|p| p.instance_hours.is_some());
    print!(
        "{:<11} {:>9} {:>8} {:>11} {:>13} {:>13} {:>8}",
        "policy", "headroom", "under", "over", "over@target", "unserved", "changes"
    );
    if compute {
        print!(" {:>14} {:>6}", "instance-h", "hooks");
    }
    println!();
    for p in &r.policies {
        let headroom = r
            .headroom
            .get(&p.policy)
            .map_or("-".to_string(), |h| format!("{h:.3}"));
        let percent = |o: Option<f64>| o.map_or("-".to_string(), |o| format!("{:.2}%", o * 100.0));
        print!(
            "{:<11} {:>9} {:>7.2}% {:>11} {:>13} {:>13.4e} {:>8}",
            p.policy.name(),
            headroom,
            p.under_provisioned * 100.0,
            percent(p.over_provisioning),
            percent(p.over_provisioning_at_target),
            p.unserved,
            p.changes
        );
        if let (Some(h), Some(c)) = (p.instance_hours, p.hook_calls) {
            print!(" {h:>14.1} {c:>6}");
        }
        println!();
    }
}
