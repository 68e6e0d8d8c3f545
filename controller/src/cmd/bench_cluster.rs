//! `prescient bench cluster`: failover and write throughput of cluster mode. Starts its own
//! etcd (Debian `etcd-server`) in a temp directory on free loopback ports and three
//! `prescient run --etcd` processes; one client writes services sequentially through the
//! nodes in turn (following 307 redirects, sending again a request that reached no node);
//! the leader is killed with SIGKILL again and again and restarted as a follower. Switches are
//! attached to every node: a ring of emulated OpenFlow switches (each connected to all three)
//! and emulated P4Runtime devices (all three nodes clients of each). Takeover: from the kill
//! until the first write is acknowledged after it AND every OpenFlow switch has the new
//! leader as its MASTER AND every P4 device has a primary with a higher election id than the
//! dead leader's (lease TTL included). Afterwards every acknowledged write must be in etcd
//! and no refused one (lost = acknowledged and absent, or refused and present).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use prescient_sim::openflow::{SimHandle, SimNetwork};
use prescient_sim::p4rt::P4SimNetwork;
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_southbound::openflow::wire::ControllerRole;
use serde::Serialize;

use super::bench_support;

/// Arguments of this subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print exactly one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Leader kills measured.
    #[arg(long, default_value_t = 20)]
    pub failovers: usize,
    /// Seconds of steady writing measured for throughput.
    #[arg(long, default_value_t = 3)]
    pub steady_secs: u64,
}

#[derive(Debug, Serialize)]
struct Report {
    nodes: usize,
    openflow_switches: usize,
    p4_devices: usize,
    lease_ttl_ms: u64,
    failovers: usize,
    takeover_p50_ms: f64,
    takeover_p99_ms: f64,
    takeover_max_ms: f64,
    /// From the kill to the first acknowledged write only (switches not waited for).
    first_write_p99_ms: f64,
    acked_writes: usize,
    refused_writes: usize,
    lost_writes: usize,
    writes_per_sec: f64,
}

const TOKEN: &str = "bench-cluster";
const NODES: usize = 3;
/// Emulated OpenFlow switches (a ring) and P4Runtime devices (a line) attached to every node.
const OPENFLOW_SWITCHES: usize = 4;
const P4_DEVICES: u64 = 2;

struct Procs {
    dir: std::path::PathBuf,
    etcd: Option<Child>,
    etcd_url: String,
    nodes: Vec<Option<Child>>,
    http: Vec<SocketAddr>,
    openflow: Vec<SocketAddr>,
    /// The configuration naming the P4Runtime devices.
    config: std::path::PathBuf,
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in self.nodes.iter_mut().flatten().chain(self.etcd.as_mut()) {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Procs {
    fn start_node(&mut self, i: usize) -> anyhow::Result<()> {
        let exe = std::env::current_exe().context("finding the prescient binary")?;
        let log = std::fs::File::create(self.dir.join(format!("n{i}.log")))?;
        let child = Command::new(exe)
            .args([
                "run",
                "--config",
                &self.config.display().to_string(),
                "--openflow",
                &self.openflow[i].to_string(),
                "--http",
                &self.http[i].to_string(),
                "--etcd",
                &self.etcd_url,
                "--name",
                &format!("n{i}"),
            ])
            .env("PRESCIENT_API_TOKEN", TOKEN)
            .env("PRESCIENT_LOG", "warn")
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting a node")?;
        self.nodes[i] = Some(child);
        Ok(())
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One request to a node: the status, its `Location` and the body; `Err(true)` when nothing
/// accepted the connection (the request cannot have been seen), `Err(false)` when it went
/// unanswered.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, Option<String>, String), (bool, String)> {
    match bench_support::http(addr, method, path, TOKEN, body, Duration::from_secs(10)).await {
        Ok(r) => Ok((r.status, r.header("location").map(str::to_string), r.body)),
        Err(e) => Err((
            matches!(e, bench_support::HttpError::Connect { .. }),
            e.to_string(),
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Acked,
    Refused,
    Unanswered,
}

/// One write through `entry`, following redirects; a request that reached no node is sent
/// again through the next node (it cannot have been applied).
async fn write(nodes: &[SocketAddr], first: usize, i: usize) -> Outcome {
    let name = format!("w{i}");
    let body = serde_json::json!({
        "name": name,
        "tenant": "bench",
        "vip": format!("198.18.{}.{}", i / 250, 1 + i % 250),
        "pool": format!("10.{}.{}.0/29", 1 + i / 250 / 250, (i / 250) % 250),
        "instance_capacity_bps": 100_000_000u64,
        "max_instances": 4,
    })
    .to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut entry = first;
    let mut target = nodes[entry % nodes.len()];
    while Instant::now() < deadline {
        match http(target, "POST", "/api/v1/services", &body).await {
            Ok((307, Some(loc), _)) => {
                target = loc
                    .trim_start_matches("http://")
                    .split('/')
                    .next()
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(target);
            }
            Ok((s, _, _)) if (200..300).contains(&s) => return Outcome::Acked,
            Ok((503, _, _)) => return Outcome::Refused,
            Ok((s, _, b)) => {
                tracing::warn!("write {name}: unexpected {s}: {b}");
                return Outcome::Refused;
            }
            Err((true, _)) => {
                entry += 1;
                target = nodes[entry % nodes.len()];
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err((false, _)) => return Outcome::Unanswered,
        }
    }
    Outcome::Unanswered
}

async fn leader_of(nodes: &[SocketAddr], alive: &[bool]) -> Option<usize> {
    for (i, addr) in nodes.iter().enumerate() {
        if !alive[i] {
            continue;
        }
        if let Ok((200, _, body)) = http(*addr, "GET", "/api/v1/cluster", "").await {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if let Some(name) = v["leader"].as_str() {
                let idx: usize = name.trim_start_matches('n').parse().ok()?;
                if alive.get(idx) == Some(&true) {
                    return Some(idx);
                }
            }
        }
    }
    None
}

/// Whether every emulated OpenFlow switch has `master` as its only MASTER.
fn masters_all(sim: &SimHandle, master: SocketAddr) -> bool {
    sim.topology().switches.iter().all(|s| {
        let roles = sim.roles(s.dpid).unwrap_or_default();
        roles
            .iter()
            .filter(|(_, r)| *r == ControllerRole::Master)
            .map(|(a, _)| *a)
            .eq([master])
    })
}

/// The election id every P4 device's primary holds, when all have the same primary id.
fn p4_primary(p4: &P4SimNetwork) -> Option<u128> {
    let ids: BTreeSet<Option<u128>> = p4
        .device_ids()
        .into_iter()
        .map(|d| {
            p4.clients(d)
                .into_iter()
                .find(|(_, p)| *p)
                .and_then(|(id, _)| id)
        })
        .collect();
    match ids.into_iter().collect::<Vec<_>>()[..] {
        [Some(id)] => Some(id),
        _ => None,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Entry point.
pub fn run(args: Args) -> anyhow::Result<()> {
    // Both exited 0 after starting a cluster, with a report of nothing measured (0 failovers
    // at p50 0 ms; writes/s over no time).
    if args.failovers == 0 {
        bail!("--failovers 0: no takeover would be measured (at least 1)");
    }
    if args.steady_secs == 0 {
        bail!("--steady-secs 0: no steady writing would be measured (at least 1)");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the runtime")?;
    rt.block_on(bench(args))
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("prescient-bench-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let etcd_ports = bench_support::free_addrs(2)?;
    let (client, peer) = (etcd_ports[0].port(), etcd_ports[1].port());
    let etcd_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let etcd = Command::new("etcd")
        .args([
            "--name",
            "bench",
            "--data-dir",
            &dir.join("etcd").display().to_string(),
            "--listen-client-urls",
            &etcd_url,
            "--advertise-client-urls",
            &etcd_url,
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
            "--initial-cluster",
            &format!("bench={peer_url}"),
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("etcd.log"))?)
        .spawn()
        .context("starting etcd (Debian package etcd-server)")?;
    // Every node's ports bound at once, so none is handed out twice; released for the nodes.
    let ports = bench_support::free_addrs(2 * NODES)?;
    // The P4Runtime devices, served here; every node is a client of each.
    let p4 = std::sync::Arc::new(P4SimNetwork::linear(P4_DEVICES)?);
    let p4_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let p4_addr = p4_listener.local_addr()?;
    let stop_p4 = tokio_util::sync::CancellationToken::new();
    tokio::spawn(prescient_sim::p4rt::serve_listener(
        p4_listener,
        p4.clone(),
        stop_p4.clone(),
    ));
    let config = dir.join("bench.toml");
    let devices: String = (1..=P4_DEVICES)
        .map(|d| {
            format!(
                "[[p4runtime]]\naddress = \"{p4_addr}\"\ndevice_id = {d}\nports = [1, 2, 3]\n\n"
            )
        })
        .collect();
    std::fs::write(&config, devices)?;
    let mut procs = Procs {
        dir,
        etcd: Some(etcd),
        etcd_url: etcd_url.clone(),
        nodes: (0..NODES).map(|_| None).collect(),
        http: ports[..NODES].to_vec(),
        openflow: ports[NODES..].to_vec(),
        config,
    };
    let started = Instant::now();
    loop {
        if let Ok(mut c) = etcd_client::Client::connect([etcd_url.as_str()], None).await {
            if c.status().await.is_ok() {
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(20) {
            bail!("etcd at {etcd_url} did not answer in 20 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 0..NODES {
        procs.start_node(i)?;
    }
    let topo = SimTopology::generate(TopologyKind::Ring(OPENFLOW_SWITCHES))?;
    let sim =
        SimNetwork::build(topo, Default::default()).spawn_with_controllers(procs.openflow.clone());
    let nodes = procs.http.clone();
    let mut alive = vec![true; NODES];
    let deadline = Instant::now() + Duration::from_secs(30);
    while leader_of(&nodes, &alive).await.is_none() {
        if Instant::now() > deadline {
            bail!("no leader in 30 s (logs in {})", procs.dir.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut outcomes: Vec<Outcome> = Vec::new();
    // Steady writes: throughput through the cluster (redirected via followers 2 of 3 times).
    let steady_start = Instant::now();
    while steady_start.elapsed() < Duration::from_secs(args.steady_secs) {
        let i = outcomes.len();
        outcomes.push(write(&nodes, i, i).await);
    }
    let steady_acked = outcomes.iter().filter(|o| **o == Outcome::Acked).count();
    let writes_per_sec = steady_acked as f64 / steady_start.elapsed().as_secs_f64();

    let mut takeovers = Vec::new();
    let mut first_writes = Vec::new();
    for round in 0..args.failovers {
        let Some(leader) = leader_of(&nodes, &alive).await else {
            bail!("round {round}: no leader (logs in {})", procs.dir.display());
        };
        // The dead leader's P4Runtime election id: the new one must be above it.
        let before = p4_primary(&p4).unwrap_or(0);
        procs.kill(leader);
        alive[leader] = false;
        let killed = Instant::now();
        loop {
            let i = outcomes.len();
            let o = write(&nodes, i, i).await;
            outcomes.push(o);
            if o == Outcome::Acked {
                break;
            }
            if killed.elapsed() > Duration::from_secs(30) {
                bail!("round {round}: no write acknowledged 30 s after the kill");
            }
        }
        first_writes.push(killed.elapsed().as_secs_f64() * 1e3);
        loop {
            let master = leader_of(&nodes, &alive).await.map(|l| procs.openflow[l]);
            let remastered = master.is_some_and(|m| masters_all(&sim, m));
            if remastered && p4_primary(&p4).is_some_and(|id| id > before) {
                break;
            }
            if killed.elapsed() > Duration::from_secs(30) {
                bail!("round {round}: switches not taken over 30 s after the kill");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        takeovers.push(killed.elapsed().as_secs_f64() * 1e3);
        procs.start_node(leader)?;
        alive[leader] = true;
        // A few writes with the restarted node back as a follower.
        for _ in 0..5 {
            let i = outcomes.len();
            outcomes.push(write(&nodes, i, i).await);
        }
    }

    let mut etcd = etcd_client::Client::connect([etcd_url.as_str()], None).await?;
    let stored: BTreeSet<String> = etcd
        .get(
            "/prescient/v1/services/",
            Some(
                etcd_client::GetOptions::new()
                    .with_prefix()
                    .with_keys_only(),
            ),
        )
        .await?
        .kvs()
        .iter()
        .filter_map(|k| k.key_str().ok())
        .map(|k| k.trim_start_matches("/prescient/v1/services/").to_string())
        .collect();
    let mut lost = 0;
    for (i, o) in outcomes.iter().enumerate() {
        let present = stored.contains(&format!("w{i}"));
        match o {
            Outcome::Acked if !present => lost += 1,
            Outcome::Refused if present => lost += 1,
            _ => {}
        }
    }
    takeovers.sort_by(f64::total_cmp);
    first_writes.sort_by(f64::total_cmp);
    sim.shutdown().await;
    stop_p4.cancel();
    let report = Report {
        nodes: NODES,
        openflow_switches: OPENFLOW_SWITCHES,
        p4_devices: P4_DEVICES as usize,
        lease_ttl_ms: 2000,
        failovers: takeovers.len(),
        takeover_p50_ms: percentile(&takeovers, 50.0),
        takeover_p99_ms: percentile(&takeovers, 99.0),
        takeover_max_ms: takeovers.last().copied().unwrap_or(0.0),
        first_write_p99_ms: percentile(&first_writes, 99.0),
        acked_writes: outcomes.iter().filter(|o| **o == Outcome::Acked).count(),
        refused_writes: outcomes.iter().filter(|o| **o == Outcome::Refused).count(),
        lost_writes: lost,
        writes_per_sec,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "cluster of {} nodes with {} OpenFlow switches and {} P4Runtime devices attached, lease TTL {} ms: {} failovers (SIGKILL of the leader), takeover (write acknowledged, every switch re-mastered) p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (first write p99 {:.0} ms); {} writes acknowledged, {} refused (503), {} lost; {:.0} writes/s steady",
            report.nodes,
            report.openflow_switches,
            report.p4_devices,
            report.lease_ttl_ms,
            report.failovers,
            report.takeover_p50_ms,
            report.takeover_p99_ms,
            report.takeover_max_ms,
            report.first_write_p99_ms,
            report.acked_writes,
            report.refused_writes,
            report.lost_writes,
            report.writes_per_sec
        );
    }
    Ok(())
}
