//! `prescient evaluate` and `prescient forecast backtest` with flag values a user tries: each
//! must be refused naming the flag, the value and why, or answer; never exit 0 with `inf`, rows
//! printed twice, or a flag quietly ignored.

mod cli_common;

use cli_common::{refused, TempFile};
use std::process::{Command, Output};

/// A two-day five-minute trace with a daily wave: columns `a->b` and `b->a` (a traffic matrix
/// of two nodes).
fn matrix(tag: &str) -> TempFile {
    let path = std::env::temp_dir().join(format!(
        "prescient-odd-flags-{tag}-{}.csv",
        std::process::id()
    ));
    let mut csv = String::from("time,a->b,b->a\n");
    for r in 0..576 {
        let day = (r as f64 * std::f64::consts::TAU / 288.0).sin();
        csv.push_str(&format!(
            "{},{:.3},{:.3}\n",
            1_700_000_000 + 300 * r,
            100.0 + 40.0 * day + (r % 7) as f64,
            50.0 + 20.0 * day + (r % 5) as f64
        ));
    }
    std::fs::write(&path, csv).expect("trace written");
    TempFile(path)
}

fn prescient(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prescient"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("runs prescient")
}

fn path(t: &TempFile) -> &str {
    t.0.to_str().expect("utf-8 temp path")
}

#[test]
fn a_negative_value_is_refused_naming_its_flag() {
    // Each used to read "unexpected argument '-1' found", naming no flag.
    let t = matrix("negative");
    for (args, flag) in [
        (vec!["evaluate", "--violations", "-1"], "violations"),
        (
            vec!["evaluate", "--instance-capacity", "-1"],
            "instance_capacity",
        ),
        (vec!["evaluate", "--lead", "-1"], "--lead"),
        (vec!["evaluate", "--hold", "-1"], "--hold"),
    ] {
        let e = refused(&prescient(&[&args[..], &["--trace", path(&t)]].concat()));
        assert!(
            e.contains(flag) && e.contains("-1") && !e.contains("unexpected argument"),
            "{args:?}: {e}"
        );
    }
    let e = refused(&prescient(&[
        "forecast",
        "backtest",
        "--horizon",
        "-1",
        "--input",
        path(&t),
    ]));
    assert!(
        e.contains("--horizon") && !e.contains("unexpected argument"),
        "{e}"
    );
}

#[test]
fn plot_series_without_plot_is_refused_not_ignored() {
    // It used to exit 0 and chart nothing.
    let t = matrix("plot-series");
    let e = refused(&prescient(&[
        "evaluate",
        "--plot-series",
        "a->b",
        "--trace",
        path(&t),
    ]));
    assert!(e.contains("--plot"), "{e}");
}

#[test]
fn an_unknown_plot_series_is_refused_naming_the_series_there_are() {
    // With `--series total` the one series is `total`; the error used to say only "there are 1".
    let t = matrix("plot-unknown");
    let svg = std::env::temp_dir().join(format!("prescient-odd-flags-{}.svg", std::process::id()));
    let e = refused(&prescient(&[
        "evaluate",
        "--plot",
        svg.to_str().expect("utf-8"),
        "--plot-series",
        "a->b",
        "--trace",
        path(&t),
    ]));
    assert!(e.contains("\"total\""), "{e}");
    assert!(!svg.exists());
}

#[test]
fn a_model_listed_twice_is_refused_like_a_horizon_listed_twice() {
    // `--model naive,naive` printed every naive row twice.
    let t = matrix("model-twice");
    let e = refused(&prescient(&[
        "forecast",
        "backtest",
        "--model",
        "naive,naive",
        "--input",
        path(&t),
    ]));
    assert!(e.contains("naive is listed twice"), "{e}");
}

#[test]
fn an_instance_capacity_past_what_sums_is_refused_not_scored_as_inf() {
    // 1.7e308 per instance: the capacity held summed to inf and the table read `inf%`, exit 0.
    let t = matrix("huge-instance");
    let e = refused(&prescient(&[
        "evaluate",
        "--instance-capacity",
        "1.7e308",
        "--trace",
        path(&t),
    ]));
    assert!(
        e.contains("instance_capacity") && e.contains("1.7e308"),
        "{e}"
    );
    // A large but summable one still answers.
    let out = prescient(&[
        "evaluate",
        "--instance-capacity",
        "1000",
        "--json",
        "--trace",
        path(&t),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_traffic_matrix_given_as_the_topology_is_refused_as_one() {
    // Read as an edge list it gave 1000-odd "nodes" (times, values, pair names) and an error
    // about the trace's columns instead of the topology file.
    let t = matrix("matrix-topology");
    let e = refused(&prescient(&[
        "evaluate",
        "--series",
        "links",
        "--topology",
        path(&t),
        "--trace",
        path(&t),
    ]));
    assert!(
        e.contains("topology") && e.contains("line 1") && e.contains("traffic matrix"),
        "{e}"
    );
}

#[test]
fn an_empty_policy_name_is_refused_naming_the_list() {
    // `--policies predictive,` used to read "`policies` = : expected ...".
    let t = matrix("empty-policy");
    let e = refused(&prescient(&[
        "evaluate",
        "--policies",
        "predictive,",
        "--trace",
        path(&t),
    ]));
    assert!(
        e.contains("\"predictive,\"") && e.contains("empty policy name"),
        "{e}"
    );
}

#[test]
fn links_on_a_trace_of_no_pairs_points_to_total_or_pairs() {
    // `cell-00`, `traffic`: the error ended "(`--topology FILE` gives another network)", which
    // no topology fixes; with `--topology` already given it suggested it again.
    let t = matrix("no-pairs");
    std::fs::write(
        &t.0,
        std::fs::read_to_string(&t.0).expect("read").replacen(
            "time,a->b,b->a",
            "time,cell-00,cell-01",
            1,
        ),
    )
    .expect("rewritten");
    let e = refused(&prescient(&[
        "evaluate",
        "--series",
        "links",
        "--trace",
        path(&t),
    ]));
    assert!(
        e.contains("\"cell-00\"") && e.contains("--series total") && !e.contains("--topology"),
        "{e}"
    );
    let m = matrix("other-nodes");
    let edges =
        std::env::temp_dir().join(format!("prescient-odd-flags-edges-{}", std::process::id()));
    std::fs::write(&edges, "x,y\n").expect("edges written");
    let e = refused(&prescient(&[
        "evaluate",
        "--series",
        "links",
        "--topology",
        edges.to_str().expect("utf-8"),
        "--trace",
        path(&m),
    ]));
    let _ = std::fs::remove_file(&edges);
    assert!(
        e.contains("\"a->b\"") && !e.contains("gives another network"),
        "{e}"
    );
}

#[test]
fn a_pooled_model_named_with_no_pooled_is_refused() {
    // `--model pooled-regression --no-pooled` fitted nothing pooled and printed a per-series
    // regression's rows as `pooled-regression`.
    let t = matrix("no-pooled");
    for model in ["pooled-regression", "naive,boosted-trees"] {
        let e = refused(&prescient(&[
            "forecast",
            "backtest",
            "--model",
            model,
            "--no-pooled",
            "--horizon",
            "1",
            "--input",
            path(&t),
        ]));
        assert!(e.contains("--no-pooled") && e.contains(model), "{e}");
    }
}

#[test]
fn hold_without_the_reactive_policy_is_refused_not_ignored() {
    // `--hold 3 --policies static` exited 0: the hold of a policy that did not run.
    let t = matrix("hold");
    let e = refused(&prescient(&[
        "evaluate",
        "--hold",
        "3",
        "--policies",
        "static,oracle",
        "--trace",
        path(&t),
    ]));
    assert!(
        e.contains("--hold 3") && e.contains("static,oracle") && e.contains("reactive"),
        "{e}"
    );
}

#[test]
fn a_policy_listed_twice_is_refused_like_a_model_listed_twice() {
    // `--policies reactive,reactive` printed the reactive row twice, exit 0.
    let t = matrix("policy-twice");
    let e = refused(&prescient(&[
        "evaluate",
        "--policies",
        "reactive,reactive",
        "--trace",
        path(&t),
    ]));
    assert!(
        e.contains("policies") && e.contains("reactive,reactive") && e.contains("listed twice"),
        "{e}"
    );
}

#[test]
fn all_mixed_with_other_models_is_refused_not_read_as_all() {
    // `--model all,naive` ran every model, as if naive had not been named.
    let t = matrix("all-mixed");
    for model in ["all,naive", "naive,all"] {
        let e = refused(&prescient(&[
            "forecast",
            "backtest",
            "--model",
            model,
            "--horizon",
            "1",
            "--input",
            path(&t),
        ]));
        assert!(
            e.contains(&format!("--model {model}")) && e.contains("all alone"),
            "{e}"
        );
    }
}

#[test]
fn plot_to_stdout_is_refused_saying_stdout_carries_the_report() {
    // `--plot -` wrote the chart to a file named `-` in the working directory, exit 0.
    let t = matrix("plot-dash");
    let e = refused(&prescient(&[
        "evaluate",
        "--plot",
        "-",
        "--policies",
        "reactive",
        "--trace",
        path(&t),
    ]));
    assert!(e.contains("--plot -") && e.contains("stdout"), "{e}");
    assert!(
        !std::path::Path::new("-").exists(),
        "a file named - written"
    );
}

#[test]
fn a_switch_that_changes_nothing_is_refused_naming_both_flags() {
    // Each exited 0 with the same figures as without the switch.
    let t = matrix("no-effect");
    for (args, both) in [
        (
            vec!["evaluate", "--per-series-headroom"],
            ["--per-series-headroom", "--series total"],
        ),
        (
            vec!["evaluate", "--no-pooled"],
            ["--no-pooled", "--series total"],
        ),
        (
            vec![
                "evaluate",
                "--series",
                "pairs",
                "--no-pooled",
                "--policies",
                "reactive,static",
            ],
            ["--no-pooled", "--policies reactive,static"],
        ),
        (
            vec![
                "evaluate",
                "--series",
                "pairs",
                "--per-series-headroom",
                "--policies",
                "oracle",
            ],
            ["--per-series-headroom", "--policies oracle"],
        ),
        (
            vec![
                "forecast",
                "backtest",
                "--model",
                "naive,ets",
                "--no-pooled",
            ],
            ["--no-pooled", "--model naive,ets"],
        ),
        (
            vec!["forecast", "backtest", "--model", "naive", "--no-stack"],
            ["--no-stack", "--model naive"],
        ),
        (
            vec![
                "forecast",
                "backtest",
                "--model",
                "auto",
                "--protocol",
                "published",
                "--no-stack",
            ],
            ["--no-stack", "--protocol published"],
        ),
    ] {
        // The input's flag last: `--trace` for evaluate, `--input` for backtest.
        let input = match args[0] {
            "evaluate" => vec!["--trace"],
            _ => vec!["--horizon", "1", "--input"],
        };
        let e = refused(&prescient(&[&args[..], &input, &[path(&t)]].concat()));
        assert!(
            both.iter().all(|f| e.contains(f)) && e.contains("changes nothing"),
            "{args:?}: {e}"
        );
    }
    // A trace of one column gives one series even as pairs.
    let one = matrix("one-column");
    let text = std::fs::read_to_string(&one.0).expect("read");
    let first: String = text
        .lines()
        .map(|l| l.rsplit_once(',').map_or(l, |(head, _)| head))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&one.0, first).expect("rewritten");
    let e = refused(&prescient(&[
        "evaluate",
        "--series",
        "pairs",
        "--per-series-headroom",
        "--trace",
        path(&one),
    ]));
    assert!(
        e.contains("--series pairs") && e.contains("\"a->b\""),
        "{e}"
    );
}

#[test]
fn a_pooled_model_fitted_per_series_says_so_in_the_table_and_the_json() {
    // Two days are too few training rows for the pooled trees: boosted-trees' rows were a
    // per-series fit printed under its name, and only stderr ("boosted trees false") told.
    let t = matrix("fallback");
    let run = |extra: &[&str]| {
        let out = prescient(
            &[
                &[
                    "forecast",
                    "backtest",
                    "--horizon",
                    "1",
                    "--input",
                    path(&t),
                ][..],
                extra,
            ]
            .concat(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let table = run(&["--model", "naive,boosted-trees"]);
    assert!(
        table.contains("boosted-trees*") && table.contains("* fitted per series"),
        "{table}"
    );
    assert!(!table.contains("naive*"), "{table}");
    let json: serde_json::Value =
        serde_json::from_str(&run(&["--model", "naive,boosted-trees", "--json"])).expect("json");
    let fitted_as = |i: usize| json[i]["fitted_as"].clone();
    assert_eq!(json[0]["model"], "naive");
    assert!(fitted_as(0).is_null(), "{json}");
    assert_eq!(fitted_as(1), "per-series", "{json}");
    // `all --no-pooled` fits neither pooled model: both say so.
    let table = run(&["--model", "all", "--no-pooled"]);
    assert!(
        table.contains("pooled-regression*") && table.contains("--no-pooled turns"),
        "{table}"
    );
}

#[test]
fn a_negative_value_on_any_command_is_refused_naming_its_flag() {
    // Outside `evaluate` and `forecast backtest` each read "unexpected argument '-1' found".
    // Every one is refused by clap before anything starts.
    for (args, flag) in [
        (vec!["demo", "--seconds", "-1"], "--seconds"),
        (vec!["demo", "--interval", "-2"], "--interval"),
        (vec!["sim", "--devices", "-1"], "--devices"),
        (vec!["bench", "forecast", "--series", "-1"], "--series"),
        (vec!["bench", "scale", "--switches", "-5"], "--switches"),
        (vec!["bench", "paths", "--queries", "-1"], "--queries"),
        (vec!["agent", "--metric", "-1"], "--metric"),
        (vec!["run", "--seconds", "-1"], "--seconds"),
    ] {
        let e = refused(&prescient(&args));
        assert!(
            e.contains(flag) && !e.contains("unexpected argument"),
            "{args:?}: {e}"
        );
    }
}

#[test]
fn bench_forecast_refuses_counts_that_measure_nothing_or_cannot_fit() {
    // `--intervals 0` exited 0 reading "update 1000000000000 series/s"; `--history-days 0`
    // fitted every series on nothing, exit 0; `--series 99999999999` aborted the process
    // ("memory allocation of 3199999999968 bytes failed"). One series where the count is not
    // the point: before the fix the zeros ran the whole bench, and the default 10,000 series
    // take most of an hour in a debug build.
    for (args, said) in [
        (["--series", "1", "--intervals", "0"], "--intervals 0"),
        (["--series", "1", "--history-days", "0"], "--history-days 0"),
        (
            ["--series", "99999999999", "--intervals", "1"],
            "--series 99999999999",
        ),
    ] {
        let e = refused(&prescient(
            &[&["bench", "forecast"][..], &args, &["--json"]].concat(),
        ));
        assert!(e.contains(said) && !e.contains("memory allocation"), "{e}");
    }
}

#[test]
fn bench_paths_and_services_refuse_what_measures_nothing_or_cannot_run() {
    // `paths --queries 0` and `services --rounds 0` exited 0 with latencies of 0.0;
    // `--ledger-secs inf` panicked ("cannot convert float seconds to Duration"), and 0 ran
    // 0.1 s without a word; `services --switches 99999999999` aborted the process.
    for (args, said) in [
        (vec!["paths", "--queries", "0"], "--queries 0"),
        (vec!["paths", "--ledger-secs", "inf"], "--ledger-secs inf"),
        (vec!["paths", "--ledger-secs", "0"], "--ledger-secs 0"),
        (vec!["services", "--rounds", "0"], "--rounds 0"),
        (
            vec!["services", "--services", "1", "--switches", "99999999999"],
            "--switches 99999999999",
        ),
    ] {
        let e = refused(&prescient(&[&["bench"][..], &args, &["--json"]].concat()));
        assert!(
            e.contains(said) && !e.contains("panicked") && !e.contains("memory allocation"),
            "{args:?}: {e}"
        );
    }
}

/// `prescient ARGS` for a command that runs until stopped: its output once it exits, or `None`
/// (the process killed) when it is still running after `secs`.
fn exits_within(args: &[&str], secs: u64) -> Option<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_prescient"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs prescient");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if child.try_wait().expect("waits").is_some() {
            return Some(child.wait_with_output().expect("output"));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn sim_refuses_openflow_settings_it_cannot_run_instead_of_running_on_silently() {
    // Each was an error kept inside the OpenFlow task: the process ran on with nothing
    // emulated, printing nothing, until Ctrl-C.
    for (extra, said) in [
        (vec!["--of-time-scale", "0"], "--of-time-scale"),
        (
            vec!["--topology", "fat-tree", "--switches", "3"],
            "fat-tree",
        ),
        // Ran Abilene's 12 routers while the user asked for 20 switches.
        (vec!["--topology", "abilene", "--switches", "20"], "abilene"),
    ] {
        let args = [&["sim", "--openflow-controller", "127.0.0.1:1"][..], &extra].concat();
        let out = exits_within(&args, 20).unwrap_or_else(|| panic!("{args:?} still running"));
        let e = refused(&out);
        assert!(e.contains(said), "{args:?}: {e}");
    }
}

#[test]
fn sim_refuses_a_flag_of_a_group_that_does_not_run() {
    // `sim --p4runtime ADDR --switches 8` served the P4 devices and ignored `--switches`
    // without a word (no OpenFlow network runs without --openflow-controller); the same for
    // `--devices` without --p4runtime. Refused by clap before anything starts.
    for (args, needs) in [
        (
            vec!["sim", "--p4runtime", "127.0.0.1:1", "--switches", "8"],
            "--openflow-controller",
        ),
        (
            vec![
                "sim",
                "--openflow-controller",
                "127.0.0.1:1",
                "--devices",
                "8",
            ],
            "--p4runtime",
        ),
    ] {
        let out = exits_within(&args, 20).unwrap_or_else(|| panic!("{args:?} still running"));
        let e = refused(&out);
        assert!(e.contains(needs), "{args:?}: {e}");
    }
}

#[test]
fn agent_refuses_settings_it_would_not_follow_as_given() {
    // `--proto 2` (the kernel's) or 186 (bgp): the kernel reads such routes back as kernel or
    // bgp routes, so the agent never knew them as its own. `--resync-secs 0` ran as 1 s,
    // `--ca` with an http:// controller was unused, `--once --dry-run` ignored --dry-run.
    // Every one is refused before the agent reads or changes anything (`--dry-run` or
    // `--once` keeps an older binary from changing anything either).
    let base = [
        "agent",
        "--tenant",
        "red",
        "--interface",
        "lo",
        "--controller",
        "http://127.0.0.1:1",
    ];
    for (extra, said) in [
        (vec!["--once", "--proto", "2"], "--proto 2"),
        (vec!["--once", "--proto", "186"], "(bgp)"),
        (vec!["--dry-run", "--resync-secs", "0"], "--resync-secs 0"),
        (vec!["--once", "--ca", "/nonexistent.pem"], "not https://"),
        (vec!["--once", "--dry-run"], "--dry-run"),
    ] {
        let args = [&base[..], &extra].concat();
        let out = exits_within(&args, 20).unwrap_or_else(|| panic!("{args:?} still running"));
        let e = refused(&out);
        assert!(e.contains(said), "{args:?}: {e}");
    }
}

#[test]
fn demo_refuses_an_interval_past_a_day_and_bmv2_without_p4_switches() {
    // `--interval 18446744073709551615` panicked (the poll's stale window overflowed a
    // Duration); `--bmv2 --p4-devices 0` checked for root and BMv2, then ran none. The
    // interval comes first: before the fix it ends (panics) within seconds, so the BMv2 case
    // never runs there. Both carry `--seconds 2` and free ports, and are refused at once.
    for (extra, said) in [
        (
            vec!["--interval", "18446744073709551615"],
            "--interval 18446744073709551615",
        ),
        (vec!["--bmv2", "--p4-devices", "0"], "--p4-devices 0"),
    ] {
        let args = [
            &[
                "demo",
                "--seconds",
                "2",
                "--http",
                "127.0.0.1:0",
                "--openflow",
                "127.0.0.1:0",
            ][..],
            &extra,
        ]
        .concat();
        let out = exits_within(&args, 60).unwrap_or_else(|| panic!("{args:?} still running"));
        let e = refused(&out);
        assert!(e.contains(said) && !e.contains("panicked"), "{args:?}: {e}");
    }
}

#[test]
fn bench_openflow_and_p4runtime_refuse_zeros_they_ran_as_one() {
    // Each 0 ran as 1 while the report printed 0 ("OpenFlow bench: 0 switches ... (1
    // switches)", "0 s measured"); `--in-flight` near usize::MAX overflowed `--in-flight ×
    // --batch` (a panic in this debug build). All are refused before anything starts.
    for (args, said) in [
        (vec!["openflow", "--switches", "0"], "--switches 0"),
        (vec!["openflow", "--seconds", "0"], "--seconds 0"),
        (vec!["openflow", "--hosts", "0"], "--hosts 0"),
        (vec!["openflow", "--window", "0"], "--window 0"),
        (vec!["p4runtime", "--seconds", "0"], "--seconds 0"),
        (vec!["p4runtime", "--device-id", "0"], "--device-id 0"),
        (
            vec![
                "p4runtime",
                "--in-flight",
                "18446744073709551615",
                "--batch",
                "2",
            ],
            "--in-flight × --batch",
        ),
    ] {
        let args = [&["bench"][..], &args].concat();
        let out = exits_within(&args, 60).unwrap_or_else(|| panic!("{args:?} still running"));
        let e = refused(&out);
        assert!(e.contains(said) && !e.contains("panicked"), "{args:?}: {e}");
    }
}

#[test]
fn bench_soak_refuses_too_few_switches_and_a_length_past_a_duration() {
    // `--max-switches 3` ran rings of 4 without a word; `--minutes 1e300` passed the check and
    // panicked converting to a Duration after the controller process had started. The first
    // case comes first: before the fix it runs a short soak (0.05 minutes), so the panicking
    // one never runs there.
    for (extra, said) in [
        (
            vec!["--minutes", "0.05", "--max-switches", "3"],
            "--max-switches 3",
        ),
        (vec!["--minutes", "1e300"], "--minutes 1e300"),
    ] {
        let args = [&["bench", "soak", "--p4-devices", "1"][..], &extra].concat();
        let out = exits_within(&args, 120).unwrap_or_else(|| panic!("{args:?} still running"));
        let e = refused(&out);
        assert!(e.contains(said) && !e.contains("panicked"), "{args:?}: {e}");
    }
}

#[test]
fn bench_cluster_and_scale_refuse_windows_of_no_time() {
    // Each started etcd or a controller and 1,000 switches, then reported what nothing was
    // measured over (0 failovers at p50 0 ms, CPU over 0 s), or panicked adding the seconds
    // to an Instant. Now refused before anything starts.
    for (args, said) in [
        (vec!["cluster", "--failovers", "0"], "--failovers 0"),
        (vec!["cluster", "--steady-secs", "0"], "--steady-secs 0"),
        (vec!["scale", "--steady-secs", "0"], "--steady-secs 0"),
        (
            vec!["scale", "--timeout-secs", "18446744073709551615"],
            "--timeout-secs 18446744073709551615",
        ),
    ] {
        let args = [&["bench"][..], &args].concat();
        let out = exits_within(&args, 20).unwrap_or_else(|| panic!("{args:?} still running"));
        let e = refused(&out);
        assert!(e.contains(said) && !e.contains("panicked"), "{args:?}: {e}");
    }
}

#[test]
fn the_trace_file_is_taken_as_input_or_trace_by_both_commands() {
    let trace = matrix("spellings");
    let run = |args: &[&str]| {
        let out = prescient(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 table")
    };
    let backtest = |flag| {
        run(&[
            "forecast",
            "backtest",
            flag,
            path(&trace),
            "--model",
            "naive",
            "--horizon",
            "1",
        ])
    };
    // Timings differ between runs: compare the model and error columns only.
    let errors = |table: String| -> Vec<String> {
        table
            .lines()
            .filter(|l| l.starts_with("naive"))
            .map(|l| l.split_whitespace().take(4).collect::<Vec<_>>().join(" "))
            .collect()
    };
    let (input, trace_flag) = (errors(backtest("--input")), errors(backtest("--trace")));
    assert!(!input.is_empty(), "a naive row");
    assert_eq!(input, trace_flag);
    let evaluate = |flag| run(&["evaluate", flag, path(&trace), "--json"]);
    assert_eq!(evaluate("--trace"), evaluate("--input"));
}
