//! `prescient bench soak`: a real `prescient run` process under churn for M minutes. OpenFlow
//! networks of random size connect and disconnect over and over, emulated P4Runtime devices
//! restart (their tables wiped, so the controller re-pushes and reconciles), REST clients open
//! the event stream and drop it, services and calendar events are created and deleted, and
//! services are told of a coming event so the controller calls the orchestrator's hook, whose
//! endpoint (here) in turn never answers, answers after the hook's timeout, or answers at once.
//! The controller's RSS is sampled every second: after warm-up (the first fifth of the run) it must
//! stay within 10 % of its level then; once the churn stops and the last switch has gone, its
//! open file descriptors and the tasks alive on its runtime (its `/metrics`) must come back to
//! where they were before the churn began, and every hook connection left unanswered must have
//! been closed by the controller; its log must hold no panic; no request may be answered 5xx.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use prescient_sim::openflow::SimNetwork;
use prescient_sim::p4rt::P4SimNetwork;
use prescient_sim::topology::{SimTopology, TopologyKind};
use rand::Rng;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::bench_support;

mod hooks;
use hooks::{hook_churn, hook_outcomes, hook_round, orchestrator};

/// Arguments of this subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Length of the churn, minutes (fractions allowed).
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// Largest OpenFlow network connected at once (a ring of 4 to this many switches).
    #[arg(long, default_value_t = 24)]
    pub max_switches: usize,
    /// Emulated P4Runtime devices (a line), restarted in turn.
    #[arg(long, default_value_t = 4)]
    pub p4_devices: u64,
    /// Print exactly one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What the soak measured; `passed` says whether every criterion held.
#[derive(Debug, Default, Serialize)]
struct Report {
    seconds: f64,
    switch_connects: u64,
    network_restarts: u64,
    p4_restarts: u64,
    event_streams: u64,
    rest_requests: u64,
    rest_server_errors: u64,
    /// Hook requests the emulated orchestrator received.
    hook_requests: u64,
    /// ... of which it never answered ...
    hook_stalled: u64,
    /// ... and of those, the ones the controller closed (it gave up on them).
    hook_stalled_closed: u64,
    /// ... and answered only after the hooks' timeout.
    hook_late: u64,
    /// Hook calls the controller recorded as delivered, and as given up after timing out.
    hook_delivered: u64,
    hook_timed_out: u64,
    rss_warm_kb: u64,
    rss_max_after_warm_kb: u64,
    rss_end_kb: u64,
    /// Highest RSS after warm-up over the level at warm-up, minus one.
    rss_growth: f64,
    fds_baseline: u64,
    fds_end: u64,
    tasks_baseline: u64,
    tasks_end: u64,
    /// Threads, reported only: tokio's blocking pool grows and shrinks by design.
    threads_baseline: u64,
    threads_end: u64,
    panics: usize,
    passed: bool,
}

/// Most the RSS may grow past its level at warm-up.
const RSS_TOLERANCE: f64 = 0.10;
const TOKEN: &str = "bench-soak";
/// Time the controller allows one hook attempt; the late answers come after it.
const HOOK_TIMEOUT: Duration = Duration::from_millis(500);

/// The controller under test; killed and its directory removed on drop.
struct Controller {
    child: Child,
    dir: PathBuf,
    http: SocketAddr,
    openflow: SocketAddr,
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Resident set, open descriptors and threads of process `pid` (Linux `/proc`).
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    rss_kb: u64,
    fds: u64,
    threads: u64,
}

fn usage(pid: u32) -> anyhow::Result<Usage> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("listing /proc/{pid}/fd"))?
        .count();
    Ok(Usage {
        rss_kb: bench_support::rss_kb(pid)?,
        fds: u64::try_from(fds).unwrap_or(u64::MAX),
        threads: bench_support::proc_status(pid, "Threads:")?,
    })
}

/// The controller's live runtime tasks, from its `/metrics`.
async fn runtime_tasks(http_addr: SocketAddr) -> anyhow::Result<u64> {
    let (status, body) = http(http_addr, "GET", "/metrics", "")
        .await
        .context("GET /metrics: no answer")?;
    body.lines()
        .find_map(|l| l.strip_prefix("prescient_runtime_tasks "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .with_context(|| format!("GET /metrics ({status}): no prescient_runtime_tasks"))
}

fn start_controller(
    dir: PathBuf,
    p4: SocketAddr,
    devices: u64,
    hooks: SocketAddr,
) -> anyhow::Result<Controller> {
    let config = dir.join("soak.toml");
    let mut text = format!(
        "[store]\npath = \"soak.redb\"\n\n[[hooks]]\nname = \"orchestrator\"\n\
         url = \"http://{hooks}/hooks\"\ntimeout_ms = {}\nmax_attempts = 2\nbackoff_ms = 100\n\n",
        HOOK_TIMEOUT.as_millis()
    );
    for d in 1..=devices {
        text.push_str(&format!(
            "[[p4runtime]]\naddress = \"{p4}\"\ndevice_id = {d}\nports = [1, 2, 3]\n\n"
        ));
    }
    std::fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
    let addrs = bench_support::free_addrs(2)?;
    let exe = std::env::current_exe().context("finding the prescient binary")?;
    let log = std::fs::File::create(dir.join("controller.log"))?;
    let child = Command::new(exe)
        .args(["run", "--config", &config.display().to_string()])
        .args(["--openflow", &addrs[0].to_string()])
        .args(["--http", &addrs[1].to_string()])
        .env("PRESCIENT_API_TOKEN", TOKEN)
        .env("PRESCIENT_LOG", "warn")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting prescient run")?;
    Ok(Controller {
        child,
        dir,
        http: addrs[1],
        openflow: addrs[0],
    })
}

/// One HTTP/1.1 exchange; the status and body, or `None` when there was no answer in 10 s.
async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    bench_support::http(addr, method, path, TOKEN, body, Duration::from_secs(10))
        .await
        .ok()
        .map(|r| (r.status, r.body))
}

/// Counters the churn tasks share.
#[derive(Default)]
struct Churn {
    switch_connects: AtomicU64,
    network_restarts: AtomicU64,
    p4_restarts: AtomicU64,
    event_streams: AtomicU64,
    rest_requests: AtomicU64,
    rest_server_errors: AtomicU64,
    hook_requests: AtomicU64,
    hook_stalled: AtomicU64,
    hook_stalled_closed: AtomicU64,
    hook_late: AtomicU64,
}

impl Churn {
    fn answered(&self, status: Option<(u16, String)>) -> Option<String> {
        self.rest_requests.fetch_add(1, Ordering::Relaxed);
        match status {
            Some((s, body)) if s < 500 => Some(body),
            Some((s, body)) => {
                self.rest_server_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("soak: answered {s}: {body}");
                None
            }
            None => {
                self.rest_server_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("soak: a request got no answer in 10 s");
                None
            }
        }
    }
}

/// OpenFlow rings of random size connect, stay a few seconds, and go.
async fn switch_churn(of: SocketAddr, max: usize, churn: Arc<Churn>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let (n, hold) = {
            let mut rng = rand::rng();
            (rng.random_range(4..=max), rng.random_range(500..3000))
        };
        let Ok(topo) = SimTopology::generate(TopologyKind::Ring(n)) else {
            return;
        };
        let handle = SimNetwork::build(topo, Default::default()).spawn(of);
        handle
            .wait_connected(Duration::from_secs(10), |c| c == n)
            .await;
        churn
            .switch_connects
            .fetch_add(handle.connected_count() as u64, Ordering::Relaxed);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(hold)) => {}
            _ = stop.cancelled() => {}
        }
        handle.shutdown().await;
        churn.network_restarts.fetch_add(1, Ordering::Relaxed);
    }
}

/// A P4Runtime device restarts every few seconds (tables and counters wiped).
async fn p4_churn(p4: Arc<P4SimNetwork>, churn: Arc<Churn>, stop: CancellationToken) {
    let devices = p4.device_ids();
    while !stop.is_cancelled() {
        let (device, wait) = {
            let mut rng = rand::rng();
            (
                devices[rng.random_range(0..devices.len())],
                rng.random_range(1500..4000),
            )
        };
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            _ = stop.cancelled() => return,
        }
        if p4.restart(device).is_ok() {
            churn.p4_restarts.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Opens the event stream, reads it a moment, and drops the connection.
async fn event_churn(http_addr: SocketAddr, churn: Arc<Churn>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let read_for = Duration::from_millis(rand::rng().random_range(100..2000));
        if let Ok(mut conn) = tokio::net::TcpStream::connect(http_addr).await {
            let request = format!(
                "GET /api/v1/events HTTP/1.1\r\nHost: prescient\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
            );
            if conn.write_all(request.as_bytes()).await.is_ok() {
                let mut buf = vec![0u8; 8192];
                let deadline = tokio::time::sleep(read_for);
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        _ = &mut deadline => break,
                        read = conn.read(&mut buf) => if !matches!(read, Ok(n) if n > 0) { break },
                    }
                }
                churn.event_streams.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Services and calendar events created and deleted through REST, over and over.
async fn write_churn(http_addr: SocketAddr, churn: Arc<Churn>, stop: CancellationToken) {
    let mut i = 0u32;
    while !stop.is_cancelled() {
        write_round(http_addr, &churn, i).await;
        i = i.wrapping_add(1);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One service created (and every other round deleted), one calendar event created and deleted.
async fn write_round(http_addr: SocketAddr, churn: &Churn, i: u32) {
    let k = i % 8;
    let service = serde_json::json!({
        "name": format!("soak-{k}"), "tenant": "soak", "vip": format!("192.0.2.{}", 10 + k),
        "pool": format!("10.77.{k}.0/29"), "instance_capacity_bps": 100_000_000u64,
        "max_instances": 4, "backends": [{"ip": format!("10.77.{k}.1"),
        "mac": format!("02:00:00:77:{k:02x}:01")}]
    });
    let post = http(http_addr, "POST", "/api/v1/services", &service.to_string()).await;
    churn.answered(post);
    let event = serde_json::json!({"name": format!("soak-{i}"), "start_secs": 4_000_000_000u64,
        "end_secs": 4_000_003_600u64, "multiplier": 2.0});
    let created = http(http_addr, "POST", "/api/v1/calendar", &event.to_string()).await;
    let id = churn
        .answered(created)
        .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
        .and_then(|v| v["id"].as_u64());
    if let Some(id) = id {
        let deleted = http(http_addr, "DELETE", &format!("/api/v1/calendar/{id}"), "").await;
        churn.answered(deleted);
    }
    if i % 2 == 1 {
        let path = format!("/api/v1/services/soak-{k}");
        let deleted = http(http_addr, "DELETE", &path, "").await;
        churn.answered(deleted);
    }
}

fn panics_in(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .map(|t| t.matches("panicked").count())
        .unwrap_or(0)
}

/// Entry point.
pub fn run(args: Args) -> anyhow::Result<()> {
    // Past the largest Duration (1e300) it passed this check and panicked converting to one.
    if !(args.minutes > 0.0 && Duration::try_from_secs_f64(args.minutes * 60.0).is_ok()) {
        bail!(
            "--minutes {:?}: must be a positive number (of at most about 3e17)",
            args.minutes
        );
    }
    // The churn's rings are of 4 switches up: fewer ran as 4 without a word.
    if args.max_switches < 4 {
        bail!(
            "--max-switches {}: the churn connects rings of 4 switches up to this many (at least 4)",
            args.max_switches
        );
    }
    if args.p4_devices == 0 {
        bail!("--p4-devices 0: at least one device restarts during the soak");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(soak(&args))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    if !report.passed {
        bail!("soak failed (see the figures above)");
    }
    Ok(())
}

async fn soak(args: &Args) -> anyhow::Result<Report> {
    let dir = std::env::temp_dir().join(format!("prescient-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let p4 = Arc::new(P4SimNetwork::linear(args.p4_devices)?);
    let p4_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let p4_addr = p4_listener.local_addr()?;
    let stop_p4 = CancellationToken::new();
    tokio::spawn(prescient_sim::p4rt::serve_listener(
        p4_listener,
        p4.clone(),
        stop_p4.clone(),
    ));
    let hooks_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hooks_addr = hooks_listener.local_addr()?;
    let hook_churn_counts = Arc::new(Churn::default());
    tokio::spawn(orchestrator(
        hooks_listener,
        hook_churn_counts.clone(),
        stop_p4.clone(),
    ));
    let controller = start_controller(dir, p4_addr, args.p4_devices, hooks_addr)?;
    let pid = controller.child.id();
    let started = Instant::now();
    loop {
        let devices = http(controller.http, "GET", "/api/v1/devices", "").await;
        let up = devices
            .and_then(|(s, b)| (s == 200).then_some(b))
            .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(0);
        if up as u64 >= args.p4_devices {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!(
                "the controller did not connect its {} P4Runtime devices in 30 s (log: {})",
                args.p4_devices,
                controller.dir.join("controller.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // One round of everything first, so that what the controller starts once and keeps (the
    // session threads, pools) is in the baseline; then its P4 devices and nothing else, after
    // tokio's idle blocking threads (10 s keep-alive) have gone: the level to come back to.
    let ring = SimTopology::generate(TopologyKind::Ring(4))?;
    let first = SimNetwork::build(ring, Default::default()).spawn(controller.openflow);
    first
        .wait_connected(Duration::from_secs(10), |c| c == 4)
        .await;
    first.shutdown().await;
    write_round(controller.http, &Churn::default(), 1).await;
    hook_round(
        controller.http,
        &Churn::default(),
        0,
        &CancellationToken::new(),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(11)).await;
    let baseline = usage(pid)?;
    let tasks_baseline = runtime_tasks(controller.http).await?;

    let churn = Arc::new(Churn::default());
    let stop = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(switch_churn(
        controller.openflow,
        args.max_switches,
        churn.clone(),
        stop.clone(),
    ));
    tasks.spawn(p4_churn(p4.clone(), churn.clone(), stop.clone()));
    for _ in 0..2 {
        tasks.spawn(event_churn(controller.http, churn.clone(), stop.clone()));
    }
    tasks.spawn(write_churn(controller.http, churn.clone(), stop.clone()));
    tasks.spawn(hook_churn(controller.http, churn.clone(), stop.clone()));

    let length = Duration::from_secs_f64(args.minutes * 60.0);
    let warm_up = length / 5;
    let begun = Instant::now();
    let mut warm: Option<u64> = None;
    let mut max_after = 0u64;
    while begun.elapsed() < length {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = usage(pid)?;
        match warm {
            None if begun.elapsed() >= warm_up => warm = Some(now.rss_kb),
            None => {}
            Some(_) => max_after = max_after.max(now.rss_kb),
        }
    }
    stop.cancel();
    while tasks.join_next().await.is_some() {}
    let seconds = begun.elapsed().as_secs_f64();
    let rss_end_kb = usage(pid)?.rss_kb;

    // The last switch is gone: sessions, streams and blocking threads wind down (tokio keeps an
    // idle blocking thread 10 s), then descriptors and threads must be back at the baseline.
    let quiet = Instant::now();
    let (end, tasks_end) = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (now, tasks_now) = (usage(pid)?, runtime_tasks(controller.http).await?);
        let back = now.fds <= baseline.fds && tasks_now <= tasks_baseline;
        if back || quiet.elapsed() > Duration::from_secs(20) {
            break (now, tasks_now);
        }
    };
    // The controller closes a connection it gave up on; the endpoint sees it a moment later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (hook_delivered, hook_timed_out) = hook_outcomes(controller.http).await;
    let hooks = &hook_churn_counts;
    let (hook_stalled, hook_stalled_closed) = (
        hooks.hook_stalled.load(Ordering::Relaxed),
        hooks.hook_stalled_closed.load(Ordering::Relaxed),
    );
    stop_p4.cancel();
    let rss_warm_kb = warm.unwrap_or(baseline.rss_kb);
    let rss_growth = max_after as f64 / rss_warm_kb.max(1) as f64 - 1.0;
    let panics = panics_in(&controller.dir.join("controller.log"));
    let mut report = Report {
        seconds,
        switch_connects: churn.switch_connects.load(Ordering::Relaxed),
        network_restarts: churn.network_restarts.load(Ordering::Relaxed),
        p4_restarts: churn.p4_restarts.load(Ordering::Relaxed),
        event_streams: churn.event_streams.load(Ordering::Relaxed),
        rest_requests: churn.rest_requests.load(Ordering::Relaxed),
        rest_server_errors: churn.rest_server_errors.load(Ordering::Relaxed),
        hook_requests: hooks.hook_requests.load(Ordering::Relaxed),
        hook_stalled,
        hook_stalled_closed,
        hook_late: hooks.hook_late.load(Ordering::Relaxed),
        hook_delivered,
        hook_timed_out,
        rss_warm_kb,
        rss_max_after_warm_kb: max_after,
        rss_end_kb,
        rss_growth,
        fds_baseline: baseline.fds,
        fds_end: end.fds,
        tasks_baseline,
        tasks_end,
        threads_baseline: baseline.threads,
        threads_end: end.threads,
        panics,
        passed: false,
    };
    report.passed = report.rss_growth <= RSS_TOLERANCE
        && report.fds_end <= report.fds_baseline
        && report.tasks_end <= report.tasks_baseline
        && report.panics == 0
        && report.rest_server_errors == 0
        && report.hook_stalled > 0
        && report.hook_stalled_closed == report.hook_stalled;
    Ok(report)
}

fn print_table(r: &Report) {
    println!("soak: {:.0} s of churn", r.seconds);
    println!(
        "  churn: {} switch connects in {} networks, {} P4 device restarts, {} event streams dropped, {} REST writes ({} answered 5xx or not at all)",
        r.switch_connects,
        r.network_restarts,
        r.p4_restarts,
        r.event_streams,
        r.rest_requests,
        r.rest_server_errors
    );
    println!(
        "  hooks: {} requests to the orchestrator ({} never answered, {} of them closed by the controller; {} answered late); {} calls delivered, {} given up on timeouts",
        r.hook_requests,
        r.hook_stalled,
        r.hook_stalled_closed,
        r.hook_late,
        r.hook_delivered,
        r.hook_timed_out
    );
    println!(
        "  RSS: {} KB at warm-up, at most {} KB after ({:+.1} %, limit +{:.0} %), {} KB at the end",
        r.rss_warm_kb,
        r.rss_max_after_warm_kb,
        r.rss_growth * 100.0,
        RSS_TOLERANCE * 100.0,
        r.rss_end_kb
    );
    println!(
        "  file descriptors: {} before, {} after; runtime tasks: {} before, {} after; threads: {} before, {} after; panics in the log: {}",
        r.fds_baseline,
        r.fds_end,
        r.tasks_baseline,
        r.tasks_end,
        r.threads_baseline,
        r.threads_end,
        r.panics
    );
    println!("  {}", if r.passed { "passed" } else { "FAILED" });
}
