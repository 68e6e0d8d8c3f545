//! `prescient bench scale`: one `prescient run` process holding a large emulated network. It
//! starts the controller (a real process, default settings but for its addresses, the switch
//! limit and the P4Runtime devices), waits until its REST API answers, then starts `prescient
//! sim` (another process) with N OpenFlow switches (a random graph or a fat-tree) and M
//! P4Runtime devices in a line, and measures from the controller's own `/metrics`: time until
//! every switch is connected and every link discovered; the controller's resident memory
//! growth per switch; its CPU use in steady state (stats polling at the default interval, no
//! REST load); REST latency of paginated `/devices`, `/links` and `/paths` under that load;
//! the forecast round (one control tick over every link series) and how late ticks started.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;

use crate::cmd::bench_support;
use crate::cmd::sim_openflow::Shape;
use prescient_sim::topology::{SimTopology, TopologyKind};

/// Arguments of this subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print exactly one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Emulated OpenFlow switches (for fat-tree: the smallest fat-tree with at least this many).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(2..=20_000))]
    pub switches: u64,
    /// Emulated P4Runtime devices, in a line of their own [default: 100 from 1,000 switches, else 0].
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=1024))]
    pub p4: Option<u64>,
    /// Shape of the OpenFlow network: random (a ring plus a random chord per switch), fat-tree, ring
    /// or linear (abilene is refused: it has 12 switches).
    #[arg(long, value_enum, default_value_t = Shape::Random)]
    pub topology: Shape,
    /// Seconds of steady state measured for CPU, then again for REST latency.
    #[arg(long, default_value_t = 20)]
    pub steady_secs: u64,
    /// Give up when the network is not connected and discovered after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// The controller's `[planning] compact_above_series` (the scale tier's threshold) when
    /// given, to compare what a network holds with full and with compact series [default: the
    /// controller's].
    #[arg(long)]
    pub compact_above: Option<usize>,
    /// Keep the working directory (configuration, controller and emulator logs) and print it.
    #[arg(long)]
    pub keep: bool,
}

/// REST latency of one endpoint.
#[derive(Debug, Serialize)]
struct Rest {
    requests: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    switches: usize,
    p4_devices: u64,
    topology: String,
    /// Directed links the controller must discover (two per cable).
    links: usize,
    /// From starting the emulator until every device is connected.
    connected_seconds: f64,
    /// From starting the emulator until every link is discovered.
    discovered_seconds: f64,
    /// Controller resident memory before the emulator started and in steady state.
    rss_before_bytes: u64,
    rss_bytes: u64,
    /// Resident memory growth divided by the OpenFlow switches.
    bytes_per_switch: u64,
    /// Controller CPU in steady state, percent of one core.
    cpu_percent: f64,
    open_fds: usize,
    rest_p50_ms: f64,
    rest_p99_ms: f64,
    /// REST answers other than 200 (a `/paths` query between two switches with no path now).
    rest_errors: usize,
    /// Links discovered at the end (fewer than `links`: some expired under the load).
    links_at_end: u64,
    rest_devices: Rest,
    rest_links: Rest,
    rest_paths: Rest,
    /// Unpaginated `/devices` and `/links`, once each, at the end.
    devices_full_ms: f64,
    devices_full_bytes: usize,
    links_full_ms: f64,
    links_full_bytes: usize,
    /// Series the controller forecasts (every link, every host pair).
    series: u64,
    /// Of them, those running the compact scale tier (`[planning] compact_above_series`).
    series_compact: u64,
    /// Ticks one forecast round over every series is spread over (see `core::tick`).
    forecast_stride: u64,
    /// Time of the last control tick (its share of the series, then planning), and the longest.
    tick_ms: f64,
    tick_max_ms: f64,
    /// CPU time of one forecast round over every series: the last tick times the stride.
    forecast_round_ms: f64,
    /// Every series has a fresh forecast this often: the stride times the interval.
    forecast_round_every_ms: u64,
    tick_interval_ms: u64,
    /// The latest any control tick started against its schedule, since the controller started.
    tick_late_max_ms: f64,
    /// LLDP packet-ins the sessions dropped (their lane to the core was full), and other
    /// packet-ins dropped (the event stream three quarters full), since the controller started.
    lldp_dropped: u64,
    packet_ins_dropped: u64,
    /// Statistics poll rounds skipped (a switch's last round unanswered, or the controller
    /// behind on counters), since the controller started.
    stats_polls_skipped: u64,
    /// 1-minute load average when the run started (the machine may be shared).
    load_average: f64,
}

/// The page size of the REST requests measured.
const PAGE: usize = 100;
const TOKEN: &str = "bench-scale";
/// The controller's default control interval (`[planning] control_interval_ms`).
const TICK_MS: u64 = 1000;

/// Entry point.
pub fn run(args: Args) -> anyhow::Result<()> {
    // 0 measured CPU and REST latency over no time; a count of seconds past what an Instant
    // can add panicked ("overflow when adding duration to instant") with the controller and
    // emulator processes started.
    for (flag, secs) in [
        ("--steady-secs", args.steady_secs),
        ("--timeout-secs", args.timeout_secs),
    ] {
        if secs == 0
            || Instant::now()
                .checked_add(Duration::from_secs(secs))
                .is_none()
        {
            bail!("{flag} {secs}: must be a positive number of seconds an Instant can add");
        }
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    let report = runtime.block_on(measure(&args))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

fn print_table(r: &Report) {
    println!(
        "{} OpenFlow switches ({}) + {} P4Runtime devices, {} directed links; load average {:.1}",
        r.switches, r.topology, r.p4_devices, r.links, r.load_average
    );
    println!("  all connected        {:>9.1} s", r.connected_seconds);
    println!("  all links discovered {:>9.1} s", r.discovered_seconds);
    println!(
        "  memory per switch    {:>9} B  (RSS {} → {} MB)",
        r.bytes_per_switch,
        r.rss_before_bytes >> 20,
        r.rss_bytes >> 20
    );
    println!("  CPU, steady state    {:>9.1} %", r.cpu_percent);
    for (name, l) in [
        ("/devices", &r.rest_devices),
        ("/links", &r.rest_links),
        ("/paths", &r.rest_paths),
    ] {
        println!(
            "  REST {name:<9} p50 {:>7.2} ms  p99 {:>7.2} ms  ({} requests)",
            l.p50_ms, l.p99_ms, l.requests
        );
    }
    println!(
        "  whole /devices {:.0} ms ({} kB), whole /links {:.0} ms ({} kB)",
        r.devices_full_ms,
        r.devices_full_bytes >> 10,
        r.links_full_ms,
        r.links_full_bytes >> 10
    );
    println!(
        "  control tick         {:>9.1} ms  (longest {:.1} ms; {} series, {} compact, 1/{} of them a tick)",
        r.tick_ms, r.tick_max_ms, r.series, r.series_compact, r.forecast_stride
    );
    println!(
        "  forecast round       {:>9.1} ms CPU, every series fresh every {} ms",
        r.forecast_round_ms, r.forecast_round_every_ms
    );
    if r.rest_errors > 0 || r.links_at_end < r.links as u64 {
        println!(
            "  REST answers not 200 {:>9}     links at the end {} of {}",
            r.rest_errors, r.links_at_end, r.links
        );
    }
    println!(
        "  tick late at most    {:>9.1} ms  (interval {} ms)",
        r.tick_late_max_ms, r.tick_interval_ms
    );
    println!(
        "  dropped              {:>9} LLDP, {} other packet-ins; {} statistics polls skipped",
        r.lldp_dropped, r.packet_ins_dropped, r.stats_polls_skipped
    );
}

/// The processes of one run, killed (and the directory removed unless kept) when dropped.
struct Run {
    dir: PathBuf,
    keep: bool,
    controller: Option<Child>,
    sim: Option<Child>,
}

impl Drop for Run {
    fn drop(&mut self) {
        for c in [self.sim.as_mut(), self.controller.as_mut()]
            .into_iter()
            .flatten()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
        if self.keep {
            eprintln!(
                "bench scale: logs and configuration kept in {}",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The topology the emulator will run for `shape` and at least `switches` switches.
fn topology(shape: Shape, switches: u64) -> anyhow::Result<(TopologyKind, SimTopology, u64)> {
    let size = match shape {
        Shape::Random | Shape::Ring | Shape::Linear => switches,
        // 5k²/4 switches for an even k.
        Shape::FatTree => (2..)
            .step_by(2)
            .find(|k| 5 * k * k / 4 >= switches)
            .unwrap_or(2),
        Shape::Abilene => {
            bail!("--topology abilene has 12 switches; use random, fat-tree, ring or linear")
        }
    };
    let kind = crate::cmd::sim_openflow::kind(shape, size)?;
    let topo = SimTopology::generate(kind).context("generating the emulated network")?;
    Ok((kind, topo, size))
}

fn config_text(
    openflow: SocketAddr,
    http: SocketAddr,
    store: &Path,
    max: usize,
    p4: u64,
    p4_addr: SocketAddr,
    compact_above: Option<usize>,
) -> String {
    let mut text = format!(
        "[openflow]\nlisten = \"{openflow}\"\nmax_switches = {max}\n\n\
         [http]\nlisten = \"{http}\"\n\n[store]\npath = \"{}\"\n",
        store.display()
    );
    if let Some(n) = compact_above {
        text.push_str(&format!("\n[planning]\ncompact_above_series = {n}\n"));
    }
    for id in 1..=p4 {
        text.push_str(&format!(
            "\n[[p4runtime]]\naddress = \"{p4_addr}\"\ndevice_id = {id}\nports = [1, 2, 3, 4]\n"
        ));
    }
    text
}

async fn measure(args: &Args) -> anyhow::Result<Report> {
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let p4 = args
        .p4
        .unwrap_or(if args.switches >= 1000 { 100 } else { 0 });
    let (kind, topo, size) = topology(args.topology, args.switches)?;
    let switches = topo.switches.len();
    let p4_links = p4.saturating_sub(1) as usize;
    let links = 2 * (topo.links.len() + p4_links);
    drop(topo);

    let dir = std::env::temp_dir().join(format!("prescient-bench-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut run = Run {
        dir: dir.clone(),
        keep: args.keep,
        controller: None,
        sim: None,
    };
    let (openflow, http, p4_addr) = match bench_support::free_addrs(3)?[..] {
        [openflow, http, p4] => (openflow, http, p4),
        _ => bail!("three probe ports asked for"),
    };
    let config = dir.join("prescient.toml");
    std::fs::write(
        &config,
        config_text(
            openflow,
            http,
            &dir.join("prescient.redb"),
            switches + 64,
            p4,
            p4_addr,
            args.compact_above,
        ),
    )
    .context("writing the controller's configuration")?;

    let exe = std::env::current_exe().context("finding the prescient binary")?;
    // The processes log to files in the working directory (`--keep` keeps them).
    let log = std::env::var("PRESCIENT_LOG").unwrap_or_else(|_| "warn".to_string());
    let controller = Command::new(&exe)
        .args(["run", "--config"])
        .arg(&config)
        .env("PRESCIENT_API_TOKEN", TOKEN)
        .env("PRESCIENT_LOG", &log)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("controller.log"))?)
        .spawn()
        .context("starting `prescient run`")?;
    let pid = controller.id();
    run.controller = Some(controller);
    let up = Instant::now();
    while get(http, "/metrics").await.is_err() {
        if up.elapsed() > Duration::from_secs(60) {
            bail!(
                "the controller's REST API at {http} did not answer within 60 s (log: {})",
                dir.join("controller.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss(pid)?;

    let mut sim = Command::new(&exe);
    sim.args(["sim", "--openflow-controller", &openflow.to_string()])
        .args(["--switches", &size.to_string()])
        .args(["--topology", shape_name(args.topology)]);
    if p4 > 0 {
        sim.args(["--p4runtime", &p4_addr.to_string()]).args([
            "--devices",
            &p4.to_string(),
            "--p4-links",
            "linear",
        ]);
    }
    let started = Instant::now();
    run.sim = Some(
        sim.env("PRESCIENT_LOG", &log)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sim.log"))?)
            .spawn()
            .context("starting `prescient sim`")?,
    );

    let deadline = started + Duration::from_secs(args.timeout_secs);
    let (mut connected, mut discovered) = (None, None);
    let mut last = Metrics::default();
    while connected.is_none() || discovered.is_none() {
        if Instant::now() > deadline {
            bail!(
                "after {} s: {} of {switches} OpenFlow switches and {} of {p4} P4Runtime devices \
                 connected, {} of {links} links discovered (logs in {}; --keep keeps them)",
                args.timeout_secs,
                last.openflow,
                last.p4runtime,
                last.links,
                dir.display()
            );
        }
        if let Some(status) = run.sim.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            bail!(
                "the emulator exited early ({status}); see {}",
                dir.join("sim.log").display()
            );
        }
        if let Ok(m) = metrics(http).await {
            last = m;
            if connected.is_none() && last.openflow >= switches as u64 && last.p4runtime >= p4 {
                connected = Some(started.elapsed());
            }
            if discovered.is_none() && last.links >= links as u64 {
                discovered = Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Steady state: stats polling, LLDP and ticks only; CPU over the window.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (cpu0, t0) = (cpu_ticks(pid)?, Instant::now());
    tokio::time::sleep(Duration::from_secs(args.steady_secs)).await;
    let cpu_percent = cpu_percentage(cpu_ticks(pid)? - cpu0, t0.elapsed());
    let rss_steady = rss(pid)?;

    // REST under that load: one client, pages of /devices and /links and random /paths.
    let rest_until = Instant::now() + Duration::from_secs(args.steady_secs);
    let mut lat: [Vec<Duration>; 3] = Default::default();
    let mut cursors = [None::<String>, None];
    let mut rng = 0x5ca1e_u64;
    let mut i = 0usize;
    let mut rest_errors = 0usize;
    while Instant::now() < rest_until {
        let which = i % 3;
        i += 1;
        let path = match which {
            0 | 1 => {
                let base = ["/api/v1/devices", "/api/v1/links"][which];
                match &cursors[which] {
                    Some(c) => format!("{base}?limit={PAGE}&cursor={c}"),
                    None => format!("{base}?limit={PAGE}"),
                }
            }
            _ => {
                let a = 1 + next(&mut rng) % switches as u64;
                let b = 1 + next(&mut rng) % switches as u64;
                format!("/api/v1/paths?src=of:{a:016x}&dst=of:{b:016x}")
            }
        };
        let t = Instant::now();
        let reply = get(http, &path)
            .await
            .with_context(|| format!("GET {path}"))?;
        lat[which].push(t.elapsed());
        if reply.status != 200 {
            rest_errors += 1;
            if rest_errors <= 3 {
                eprintln!("bench scale: GET {path}: {} {}", reply.status, reply.body);
            }
        }
        if which < 2 {
            // Walk the pages; past the last one, start again.
            cursors[which] = reply.next_cursor;
        }
    }
    let (devices_full_ms, devices_full_bytes) = timed_get(http, "/api/v1/devices").await?;
    let (links_full_ms, links_full_bytes) = timed_get(http, "/api/v1/links").await?;
    let end = metrics(http)
        .await
        .context("reading the controller's /metrics")?;
    let open_fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());

    let mut all: Vec<Duration> = lat.iter().flatten().copied().collect();
    all.sort_unstable();
    let [d, l, p] = lat.map(|mut v| {
        v.sort_unstable();
        Rest {
            requests: v.len(),
            p50_ms: ms(percentile(&v, 0.5)),
            p99_ms: ms(percentile(&v, 0.99)),
            max_ms: ms(v.last().copied().unwrap_or_default()),
        }
    });
    drop(run);
    Ok(Report {
        switches,
        p4_devices: p4,
        topology: kind.to_string(),
        links,
        connected_seconds: secs(connected.unwrap_or_default()),
        discovered_seconds: secs(discovered.unwrap_or_default()),
        rss_before_bytes: rss_before,
        rss_bytes: rss_steady,
        bytes_per_switch: rss_steady.saturating_sub(rss_before) / switches as u64,
        cpu_percent: (cpu_percent * 10.0).round() / 10.0,
        open_fds,
        rest_p50_ms: ms(percentile(&all, 0.5)),
        rest_p99_ms: ms(percentile(&all, 0.99)),
        rest_errors,
        links_at_end: end.links,
        rest_devices: d,
        rest_links: l,
        rest_paths: p,
        devices_full_ms,
        devices_full_bytes,
        links_full_ms,
        links_full_bytes,
        series: end.series,
        series_compact: end.series_compact,
        forecast_stride: end.stride,
        tick_ms: round2(end.tick_secs * 1e3),
        tick_max_ms: round2(end.tick_max_secs * 1e3),
        forecast_round_ms: round2(end.tick_secs * 1e3 * end.stride as f64),
        forecast_round_every_ms: end.stride * TICK_MS,
        tick_interval_ms: TICK_MS,
        tick_late_max_ms: round2(end.tick_late_max_secs * 1e3),
        lldp_dropped: end.lldp_dropped,
        packet_ins_dropped: end.packet_ins_dropped,
        stats_polls_skipped: end.polls_skipped,
        load_average,
    })
}

fn shape_name(shape: Shape) -> &'static str {
    match shape {
        Shape::Ring => "ring",
        Shape::Linear => "linear",
        Shape::FatTree => "fat-tree",
        Shape::Abilene => "abilene",
        Shape::Random => "random",
    }
}

fn next(state: &mut u64) -> u64 {
    // xorshift64: enough to spread path queries over the switches.
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}

/// Resident memory of a process, bytes (`/proc/PID/status`, VmRSS).
fn rss(pid: u32) -> anyhow::Result<u64> {
    Ok(bench_support::rss_kb(pid)? * 1024)
}

/// User plus system CPU time of a process, in clock ticks (`/proc/PID/stat` fields 14, 15).
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis don't.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    match f[..] {
        [utime, stime] => Ok(utime + stime),
        _ => bail!("unexpected /proc/{pid}/stat: {stat:?}"),
    }
}

/// Percent of one core: Linux reports CPU time in USER_HZ ticks, 100 per second.
fn cpu_percentage(ticks: u64, wall: Duration) -> f64 {
    ticks as f64 / wall.as_secs_f64().max(1e-9)
}

/// What the bench reads from `/metrics`.
#[derive(Debug, Default)]
struct Metrics {
    openflow: u64,
    p4runtime: u64,
    links: u64,
    series: u64,
    series_compact: u64,
    stride: u64,
    tick_secs: f64,
    tick_max_secs: f64,
    tick_late_max_secs: f64,
    lldp_dropped: u64,
    packet_ins_dropped: u64,
    polls_skipped: u64,
}

async fn metrics(http: SocketAddr) -> anyhow::Result<Metrics> {
    let r = get(http, "/metrics").await?;
    let value = |name: &str| -> f64 {
        r.body
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    };
    Ok(Metrics {
        openflow: value("prescient_devices_connected{protocol=\"openflow\"}") as u64,
        p4runtime: value("prescient_devices_connected{protocol=\"p4runtime\"}") as u64,
        links: value("prescient_links") as u64,
        series: value("prescient_series") as u64,
        series_compact: value("prescient_series_compact") as u64,
        stride: (value("prescient_forecast_stride") as u64).max(1),
        tick_secs: value("prescient_tick_duration_seconds"),
        tick_max_secs: value("prescient_tick_duration_max_seconds"),
        tick_late_max_secs: value("prescient_tick_late_max_seconds"),
        lldp_dropped: value("prescient_southbound_dropped_total{type=\"lldp\"}") as u64,
        packet_ins_dropped: value("prescient_southbound_dropped_total{type=\"packet_in\"}") as u64,
        polls_skipped: value("prescient_stats_polls_skipped_total") as u64,
    })
}

async fn timed_get(http: SocketAddr, path: &str) -> anyhow::Result<(f64, usize)> {
    let t = Instant::now();
    let r = get(http, path)
        .await
        .with_context(|| format!("GET {path}"))?;
    if r.status != 200 {
        bail!("GET {path}: {}", r.status);
    }
    Ok((ms(t.elapsed()), r.body.len()))
}

struct Reply {
    status: u16,
    next_cursor: Option<String>,
    body: String,
}

/// One HTTP/1.1 GET on a fresh connection (loopback; the connect is part of what is measured).
async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<Reply> {
    let r = bench_support::http(addr, "GET", path, TOKEN, "", Duration::from_secs(30)).await?;
    Ok(Reply {
        status: r.status,
        next_cursor: r.header("x-next-cursor").map(str::to_string),
        body: r.body,
    })
}
