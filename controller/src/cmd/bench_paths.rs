//! `prescient bench paths`: bandwidth-constrained path query latency on generated topologies
//! (fat tree k=16, k=32, random 10,000 switches / 40,000 cables) with random residual
//! capacities, and reservation-ledger updates (admit + release) per second.

use std::time::{Duration, Instant};

use anyhow::Context;
use prescient_topology::generate::{self, Generated, SplitMix64};
use prescient_topology::{
    DeviceId, Ledger, LinkKey, ReservationRequest, Subject, Timestamp, Window,
};
use serde::Serialize;

/// Arguments of this subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print exactly one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Path queries per topology.
    #[arg(long, default_value_t = 2000)]
    pub queries: usize,
    /// How long to run ledger updates, seconds (at least 0.1).
    #[arg(long, default_value_t = 2.0)]
    pub ledger_secs: f64,
    /// Seed of the random graph, residuals and queries.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Latency percentiles of one topology.
#[derive(Debug, Serialize)]
struct Latency {
    p50_us: f64,
    p99_us: f64,
    switches: usize,
    links: usize,
    queries: usize,
    widest_fallbacks: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    fat_tree_k16: Latency,
    fat_tree_k32: Latency,
    random_10000: Latency,
    ledger_updates_per_sec: f64,
}

const GBPS: u64 = 1_000_000_000;

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    let us = sorted
        .get(i.min(sorted.len() - 1))
        .map_or(0.0, |d| d.as_secs_f64() * 1e6);
    (us * 10.0).round() / 10.0
}

fn pick_pair(rng: &mut SplitMix64, devices: &[DeviceId]) -> anyhow::Result<(DeviceId, DeviceId)> {
    anyhow::ensure!(devices.len() >= 2, "topology needs two endpoint devices");
    let n = devices.len() as u64;
    let a = rng.below(n) as usize;
    let b = (a + 1 + rng.below(n - 1) as usize) % devices.len();
    Ok((devices[a], devices[b]))
}

fn query_latency(g: &Generated, queries: usize, seed: u64) -> anyhow::Result<Latency> {
    let snap = g.topology.snapshot();
    let mut rng = SplitMix64::new(seed);
    // Random residual: each link has between none and all of its capacity free.
    let residual: Vec<u64> = snap
        .capacities()
        .iter()
        .map(|&c| rng.below(c.saturating_add(1)))
        .collect();
    // A count past memory aborted the process ("memory allocation of ... bytes failed").
    let mut times = Vec::new();
    times.try_reserve_exact(queries).map_err(|_| {
        anyhow::anyhow!("--queries {queries}: not enough memory to time that many queries")
    })?;
    let mut widest = 0;
    for _ in 0..queries {
        let (src, dst) = pick_pair(&mut rng, &g.edge_devices)?;
        let rate = rng.below(5 * GBPS);
        let start = Instant::now();
        let found = snap
            .constrained_path(src, dst, rate, &residual)
            .with_context(|| format!("query {src} -> {dst}"))?;
        times.push(start.elapsed());
        if !matches!(found.fit, prescient_topology::Fit::Satisfies) {
            widest += 1;
        }
    }
    times.sort_unstable();
    Ok(Latency {
        p50_us: percentile(&times, 0.50),
        p99_us: percentile(&times, 0.99),
        switches: snap.devices().len(),
        links: snap.link_count(),
        queries,
        widest_fallbacks: widest,
    })
}

/// Admit + release on a k=16 fat tree already holding thousands of reservations with random
/// windows; each admit and each release counts as one update.
fn ledger_rate(g: &Generated, secs: f64, seed: u64) -> anyhow::Result<f64> {
    let snap = g.topology.snapshot();
    let mut ledger = Ledger::from_snapshot(&snap);
    let mut rng = SplitMix64::new(seed ^ 0x1ed6e4);
    let mut paths: Vec<(DeviceId, DeviceId, Vec<LinkKey>)> = Vec::new();
    for _ in 0..512 {
        let (src, dst) = pick_pair(&mut rng, &g.edge_devices)?;
        let ecmp = snap.ecmp_paths(src, dst, 64)?;
        let Some(p) = ecmp.get(rng.below(ecmp.len() as u64) as usize) else {
            continue;
        };
        paths.push((src, dst, p.links.clone()));
    }
    anyhow::ensure!(!paths.is_empty(), "no paths in the ledger topology");
    let hour = 3_600_000_000_000u64;
    let request = |rng: &mut SplitMix64| {
        let (src, dst, path) = &paths[rng.below(paths.len() as u64) as usize];
        let start = rng.below(hour);
        ReservationRequest {
            subject: Subject::HostPair {
                src: prescient_topology::MacAddr([2, 0, 0, 0, 0, 1]),
                dst: prescient_topology::MacAddr([2, 0, 0, 0, 0, 2]),
            },
            src: *src,
            dst: *dst,
            rate_bps: 1 + rng.below(50_000_000),
            tier: rng.below(4) as u8,
            window: Window::new(Timestamp(start), Timestamp(start + 1 + rng.below(hour / 4))),
            path: path.clone(),
        }
    };
    for _ in 0..5000 {
        let _ = ledger.admit(request(&mut rng));
    }
    let budget = Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut updates = 0u64;
    while started.elapsed() < budget {
        for _ in 0..256 {
            let req = request(&mut rng);
            if let Ok(admitted) = ledger.admit(req) {
                updates += 1 + admitted.preempted.len() as u64;
                ledger.release(admitted.id)?;
                updates += 1;
            } else {
                updates += 1;
            }
        }
    }
    if let Some((link, at, load, cap)) = ledger.audit() {
        anyhow::bail!("ledger over-committed {link} at {at:?}: {load} > {cap}");
    }
    Ok((updates as f64 / started.elapsed().as_secs_f64()).round())
}

/// Entry point.
pub fn run(args: Args) -> anyhow::Result<()> {
    // `--queries 0` exited 0 with rows of zero latency; `--ledger-secs inf` (or 1e300)
    // panicked converting to a Duration, and 0, negative or NaN ran 0.1 s without a word.
    anyhow::ensure!(
        args.queries > 0,
        "--queries 0: no path query would be measured (at least 1)"
    );
    anyhow::ensure!(
        args.ledger_secs >= 0.1 && Duration::try_from_secs_f64(args.ledger_secs).is_ok(),
        "--ledger-secs {}: must be a number of seconds from 0.1 up",
        args.ledger_secs
    );
    let k16 = generate::fat_tree(16, 10 * GBPS);
    let k32 = generate::fat_tree(32, 10 * GBPS);
    let rnd = generate::random(10_000, 40_000, args.seed);
    let report = Report {
        fat_tree_k16: query_latency(&k16, args.queries, args.seed)?,
        fat_tree_k32: query_latency(&k32, args.queries, args.seed)?,
        random_10000: query_latency(&rnd, args.queries, args.seed)?,
        ledger_updates_per_sec: ledger_rate(&k16, args.ledger_secs, args.seed)?,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "{:<14} {:>8} {:>8} {:>8} {:>10} {:>10} {:>8}",
        "topology", "switches", "links", "queries", "p50 (us)", "p99 (us)", "widest"
    );
    for (name, l) in [
        ("fat_tree_k16", &report.fat_tree_k16),
        ("fat_tree_k32", &report.fat_tree_k32),
        ("random_10000", &report.random_10000),
    ] {
        println!(
            "{name:<14} {:>8} {:>8} {:>8} {:>10.1} {:>10.1} {:>8}",
            l.switches, l.links, l.queries, l.p50_us, l.p99_us, l.widest_fallbacks
        );
    }
    println!(
        "ledger updates (admit + release, fat tree k=16): {:.0}/s",
        report.ledger_updates_per_sec
    );
    Ok(())
}
