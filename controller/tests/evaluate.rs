//! `prescient evaluate` as a user runs it: the binary on a trace file, its JSON shape, its plot;
//! and the real traces of `../shared/data` (skipped with a message when absent: a fresh clone
//! has no `../shared`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A file under the system temp dir, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> Self {
        TempFile(
            std::env::temp_dir().join(format!("prescient-evaluate-{}-{name}", std::process::id())),
        )
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn prescient(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prescient"))
        .args(args)
        .output()
        .expect("runs prescient");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Two Abilene pairs over four days of 15-minute rows, with a daily swing and one empty cell.
fn write_matrix(path: &Path) {
    let mut csv = String::from("time,ATLAM5->HSTNng,NYCMng->WASHng\n");
    for r in 0..384u32 {
        let (d, m) = (1 + r / 96, (r % 96) * 15);
        let swing = (f64::from(r) * std::f64::consts::TAU / 96.0).sin();
        let a = 100.0 + 40.0 * swing + f64::from(r % 7);
        let b = if r == 50 {
            String::new()
        } else {
            format!("{:.1}", 30.0 + 10.0 * swing + f64::from(r % 3))
        };
        csv.push_str(&format!(
            "2004-03-{d:02}T{:02}:{:02},{a:.1},{b}\n",
            m / 60,
            m % 60
        ));
    }
    std::fs::write(path, csv).expect("writes trace");
}

#[test]
fn json_has_the_documented_shape_for_every_series_kind() {
    let trace = TempFile::new("matrix.csv");
    write_matrix(&trace.0);
    let path = trace.0.to_str().expect("utf-8 path");
    for series in ["total", "pairs", "links"] {
        let (ok, out, err) = prescient(&[
            "evaluate", "--trace", path, "--series", series, "--lead", "3", "--json",
        ]);
        assert!(ok, "{series}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
        assert_eq!(v["trace"], path);
        assert_eq!(v["series"], series);
        assert_eq!(v["lead"], 3);
        assert_eq!(v["violation_target"], 0.01);
        let policies = v["policies"].as_array().expect("policies list");
        let names: Vec<&str> = policies
            .iter()
            .map(|p| p["policy"].as_str().expect("name"))
            .collect();
        assert_eq!(names, ["predictive", "reactive", "static", "oracle"]);
        for p in policies {
            let keys: Vec<&String> = p.as_object().expect("object").keys().collect();
            assert_eq!(
                keys,
                [
                    "changes",
                    "over_provisioning",
                    "over_provisioning_at_target",
                    "policy",
                    "under_provisioned",
                    "unserved"
                ],
                "{series}"
            );
            let under = p["under_provisioned"].as_f64().expect("share");
            assert!((0.0..=1.0).contains(&under), "{p}");
            assert!(p["over_provisioning"].as_f64().is_some(), "{p}");
        }
        let oracle = &policies[3];
        assert_eq!(oracle["under_provisioned"], 0.0);
        assert_eq!(oracle["unserved"], 0.0);
        // Scaled to exactly the target, the oracle is the lower bound: nothing held in excess.
        assert_eq!(oracle["over_provisioning_at_target"], 0.0);
    }
    // Two pairs; routed, ATLAM5->HSTNng takes two links and NYCMng->WASHng one.
    let (_, out, _) = prescient(&["evaluate", "--trace", path, "--series", "links", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["series_count"], 3);
}

#[test]
fn the_report_does_not_depend_on_the_number_of_cores() {
    // Each pair is replayed on its own core; every sum over pairs runs in their order.
    let trace = TempFile::new("cores.csv");
    write_matrix(&trace.0);
    let on = |threads: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_prescient"))
            .env("RAYON_NUM_THREADS", threads)
            .args(["evaluate", "--series", "pairs", "--json", "--trace"])
            .arg(&trace.0)
            .output()
            .expect("runs prescient");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let one = on("1");
    assert!(one.contains("\"predictive\""), "{one}");
    assert_eq!(one, on("3"));
}

#[test]
fn missing_says_what_a_matrix_s_empty_cells_mean() {
    // The matrix with one whole row empty in its scored part: a collector outage. Its pairs are
    // otherwise never empty at once, so the row is no quiet interval: unknown by default, as
    // with `--missing skip`, and scored as zero demand only with `--missing zero`.
    let trace = TempFile::new("outage.csv");
    write_matrix(&trace.0);
    let text = std::fs::read_to_string(&trace.0).expect("reads trace");
    let text: String = text
        .lines()
        .enumerate()
        .map(|(i, line)| match line.split_once(',') {
            Some((time, _)) if i == 371 => format!("{time},,\n"),
            _ => format!("{line}\n"),
        })
        .collect();
    std::fs::write(&trace.0, text).expect("writes trace");
    let path = trace.0.to_str().expect("utf-8 path");
    let scored = |missing: &str| {
        let (ok, out, err) = prescient(&[
            "evaluate",
            "--trace",
            path,
            "--missing",
            missing,
            "--policies",
            "reactive,oracle",
            "--json",
        ]);
        assert!(ok, "{missing}: {err}");
        assert_eq!(
            err.contains("1 rows with every cell empty read as unknown"),
            missing == "auto",
            "{missing}: {err}"
        );
        let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
        v["scored_intervals"].as_u64().expect("scored intervals")
    };
    let (auto, zero, skip) = (scored("auto"), scored("zero"), scored("skip"));
    assert_eq!(auto, skip);
    assert_eq!(zero, skip + 1);
    let (ok, _, err) = prescient(&["evaluate", "--trace", path, "--missing", "guess"]);
    assert!(!ok && err.contains("--missing \"guess\""), "{err}");
}

#[test]
fn table_plot_compute_and_bad_arguments() {
    let trace = TempFile::new("plot.csv");
    write_matrix(&trace.0);
    let svg = TempFile::new("plot.svg");
    let path = trace.0.to_str().expect("utf-8 path");
    let (ok, out, err) = prescient(&[
        "evaluate",
        "--trace",
        path,
        "--series",
        "pairs",
        "--policies",
        "reactive,oracle",
        "--instance-capacity",
        "25",
        "--plot",
        svg.0.to_str().expect("utf-8"),
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("reactive") && out.contains("instance-h"),
        "{out}"
    );
    assert!(!out.contains("predictive"), "{out}");
    let chart = std::fs::read_to_string(&svg.0).expect("plot written");
    // The busiest pair, demand and two policies.
    assert!(
        chart.contains("ATLAM5-&gt;HSTNng"),
        "title names the series"
    );
    assert_eq!(chart.matches("<polyline").count(), 3);

    let (ok, _, err) = prescient(&["evaluate", "--trace", path, "--policies", "psychic"]);
    assert!(!ok && err.contains("psychic"), "{err}");
    let (ok, _, err) = prescient(&["evaluate", "--trace", path, "--violations", "2"]);
    assert!(!ok && err.contains("violations"), "{err}");
    let (ok, _, err) = prescient(&["evaluate", "--trace", "/nonexistent/trace.csv"]);
    assert!(!ok && err.contains("/nonexistent/trace.csv"), "{err}");
}

#[test]
fn links_of_any_network_from_an_edge_list() {
    // Three sites on a line, a - b - c: the pair a->c loads both links, c->b one.
    let trace = TempFile::new("line.csv");
    let mut csv = String::from("time,a->c,c->b\n");
    for r in 0..400u32 {
        let swing = (f64::from(r) * std::f64::consts::TAU / 96.0).sin();
        let (d, m) = (1 + r / 96, (r % 96) * 15);
        csv.push_str(&format!(
            "2026-03-{d:02}T{:02}:{:02},{:.1},{:.1}\n",
            m / 60,
            m % 60,
            50.0 + 20.0 * swing,
            5.0 + f64::from(r % 4)
        ));
    }
    std::fs::write(&trace.0, csv).expect("writes trace");
    let topo = TempFile::new("line.topo");
    std::fs::write(&topo.0, "# sites\nsrc,dst,gbps\na,b,10\nb,c,10\n").expect("writes topology");
    let (t, g) = (
        trace.0.to_str().expect("utf-8"),
        topo.0.to_str().expect("utf-8"),
    );
    let (ok, out, err) = prescient(&[
        "evaluate",
        "--trace",
        t,
        "--series",
        "links",
        "--topology",
        g,
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    // a->b, b->c (from a->c) and c->b: three directed links carry traffic.
    assert_eq!(v["series_count"], 3, "{v}");
    let svg = TempFile::new("line.svg");
    let (ok, _, err) = prescient(&[
        "evaluate",
        "--trace",
        t,
        "--series",
        "links",
        "--topology",
        g,
        "--plot",
        svg.0.to_str().expect("utf-8"),
        "--plot-series",
        "b->c",
    ]);
    assert!(ok, "{err}");
    assert!(std::fs::read_to_string(&svg.0)
        .expect("plot")
        .contains("b-&gt;c"));

    // Without the topology these are not Abilene routers; a site the topology lacks, two
    // islands, and --topology with another series kind are refused, each saying why.
    let (ok, _, err) = prescient(&["evaluate", "--trace", t, "--series", "links"]);
    assert!(!ok && err.contains("--topology"), "{err}");
    let refused_with = |edges: &str| {
        std::fs::write(&topo.0, edges).expect("rewrites topology");
        let (ok, _, err) = prescient(&[
            "evaluate",
            "--trace",
            t,
            "--series",
            "links",
            "--topology",
            g,
        ]);
        assert!(!ok, "{edges:?} was accepted");
        err
    };
    let err = refused_with("a,b\n");
    assert!(err.contains("\"a->c\""), "{err}");
    let err = refused_with("a,b\nc,d\n");
    assert!(err.contains("not connected"), "{err}");
    let (ok, _, err) = prescient(&[
        "evaluate",
        "--trace",
        t,
        "--series",
        "total",
        "--topology",
        g,
    ]);
    assert!(!ok && err.contains("--series links"), "{err}");
}

fn data(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(name);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "skipping: {} not found (the shared data folder is absent)",
            p.display()
        );
        None
    }
}

#[test]
fn on_real_total_traffic_predictive_holds_less_than_reactive() {
    // The UK backbone's 20,000 rows take a minute in a debug build; the report measures it.
    for name in ["abilene-tm-5min-2004-03.csv"] {
        let Some(path) = data(name) else {
            continue;
        };
        let (ok, out, err) = prescient(&[
            "evaluate",
            "--trace",
            path.to_str().expect("utf-8"),
            "--policies",
            "predictive,reactive",
            "--json",
        ]);
        assert!(ok, "{name}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        let p = &v["policies"][0];
        let r = &v["policies"][1];
        let over = |x: &serde_json::Value| x["over_provisioning"].as_f64().expect("over");
        let under = |x: &serde_json::Value| x["under_provisioned"].as_f64().expect("under");
        assert!(under(p) <= 0.02, "{name}: {p}");
        assert!(over(p) < 0.8 * over(r), "{name}: {p} vs {r}");
    }
}
