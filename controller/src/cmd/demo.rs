//! `prescient demo` (interim): the controller and an emulated Abilene network in one process, on
//! loopback, with no root and no configuration.
//!
//! It starts the OpenFlow listener with the reactive L2 learning app (127.0.0.1:6653 when free,
//! else a free loopback port), starts the 12 emulated Abilene switches from `prescient-sim`
//! against it, prints each switch as it connects, discovers links by LLDP packet-out/packet-in
//! through the emulated fabric, polls port counters fed by the traffic model, and prints a short
//! summary every few seconds until Ctrl-C (or `--seconds`). Hosts do not send frames: the
//! learning app has no loop prevention and Abilene has cycles, so a flood would storm; the
//! topology-aware app replaces it later.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prescient_sim::openflow::{SimHandle, SimNetwork, SimOptions};
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_sim::traffic::TrafficConfig;
use prescient_southbound::openflow::session::{
    Command, ControllerConfig, EventReceiver, OpenFlowController, OpenFlowHandle, SwitchEvent,
};
use prescient_southbound::openflow::wire::{Action, DatapathId, PacketOut, PortNo};
use prescient_topology::lldp::LldpProbe;
use prescient_topology::{DeviceId, MacAddr, PortNo as TopoPort, Protocol};

use crate::openflow_app::L2LearningFactory;

/// Arguments of this subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Exit after this many seconds (for scripts and tests); runs until Ctrl-C by default.
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Seconds between summaries (also the LLDP probe and counter poll period).
    #[arg(long, default_value_t = 3)]
    pub interval: u64,
    /// Model seconds of traffic per wall-clock second (3600: an hour per second).
    #[arg(long, default_value_t = 600.0)]
    pub time_scale: f64,
}

/// What a demo run saw, for scripts and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoReport {
    /// Distinct switches that completed the handshake.
    pub switches_seen: usize,
    /// Bidirectional links found by LLDP.
    pub links_discovered: usize,
    /// Links the emulated topology has.
    pub links_total: usize,
    /// Packet-ins the controller's app handled.
    pub packet_ins: u64,
}

/// Entry point.
pub fn run(args: Args) -> anyhow::Result<()> {
    run_report(args).map(|_| ())
}

/// Runs the demo and returns what it saw.
pub fn run_report(args: Args) -> anyhow::Result<DemoReport> {
    if args.interval == 0 {
        anyhow::bail!("--interval must be at least 1 second");
    }
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        anyhow::bail!(
            "--time-scale must be a positive number, got {}",
            args.time_scale
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the runtime")?;
    rt.block_on(demo(args))
}

/// Binds 127.0.0.1:6653 if it is free, else any free loopback port.
async fn bind(interval: Duration) -> anyhow::Result<(OpenFlowController, EventReceiver)> {
    let factory = Arc::new(L2LearningFactory::default());
    let mut last_err = None;
    for addr in ["127.0.0.1:6653", "127.0.0.1:0"] {
        let addr: SocketAddr = addr.parse().context("loopback address")?;
        let mut config = ControllerConfig::new(addr);
        config.machine.stats_interval = Some(interval);
        match OpenFlowController::bind(config, factory.clone()).await {
            Ok(c) => return Ok(c),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.map_or_else(|| anyhow::anyhow!("no address to bind"), anyhow::Error::new))
        .context("starting the OpenFlow listener")
}

/// What the demo learned so far.
#[derive(Default)]
struct Seen {
    /// Directed links found by LLDP: (from dpid, port) → (to dpid, port).
    links: BTreeSet<(u64, u32, u64, u32)>,
    /// Last port counters per switch: port → (tx bytes).
    tx_bytes: HashMap<DatapathId, HashMap<u32, u64>>,
    /// Bytes sent fabric-wide since the previous summary.
    tx_delta: u64,
    /// Switches that came up.
    up: BTreeSet<DatapathId>,
}

async fn demo(args: Args) -> anyhow::Result<DemoReport> {
    let interval = Duration::from_secs(args.interval);
    let (controller, mut events) = bind(interval).await?;
    let addr = controller.local_addr();
    let handle = controller.handle();
    let topo = SimTopology::generate(TopologyKind::Abilene).context("generating Abilene")?;
    println!(
        "prescient demo: controller listening for OpenFlow 1.3 on {addr}; starting {} emulated Abilene switches ({} links, {} hosts)",
        topo.switches.len(),
        topo.links.len(),
        topo.hosts.len()
    );
    let options = SimOptions {
        speedup: args.time_scale,
        ..SimOptions::default()
    };
    let sim = SimNetwork::build(topo, TrafficConfig::default())
        .with_options(options)
        .spawn(addr);
    let stop = async {
        match args.seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    let mut seen = Seen::default();
    let mut every = tokio::time::interval(interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            ev = events.recv() => match ev {
                Some(ev) => on_event(&ev, &sim, &mut seen),
                None => break,
            },
            _ = every.tick() => {
                summary(&handle, &sim, &mut seen, interval.as_secs_f64() * args.time_scale);
                probe(&handle, &sim).await;
            }
        }
    }
    let report = DemoReport {
        switches_seen: seen.up.len(),
        links_discovered: seen.links.len() / 2,
        links_total: sim.topology().links.len(),
        packet_ins: handle.stats().packet_ins,
    };
    println!(
        "prescient demo: stopping ({} switches seen, {} of {} links discovered, {} packet-ins)",
        report.switches_seen, report.links_discovered, report.links_total, report.packet_ins
    );
    sim.shutdown().await;
    // Keep draining so sessions reporting SwitchDown never wait on a full stream.
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
    controller.shutdown().await;
    drain.abort();
    Ok(report)
}

fn on_event(ev: &SwitchEvent, sim: &SimHandle, seen: &mut Seen) {
    match ev {
        SwitchEvent::SwitchUp(info) => {
            seen.up.insert(info.dpid);
            let name = sim
                .topology()
                .switch_index(info.dpid)
                .and_then(|i| sim.topology().switches.get(i))
                .map_or("?", |s| s.name.as_str());
            let ports: Vec<String> = info
                .ports
                .iter()
                .map(|p| format!("{}:{}", p.number, p.name))
                .collect();
            println!(
                "  switch {} ({name}) connected from {}: ports {}",
                info.dpid,
                info.peer,
                ports.join(" ")
            );
        }
        SwitchEvent::SwitchDown { dpid, reason } => {
            println!("  switch {dpid} disconnected: {reason}")
        }
        SwitchEvent::PacketIn { dpid, packet } => {
            if let Ok(probe) = LldpProbe::parse(&packet.data) {
                if probe.chassis.protocol == Protocol::OpenFlow {
                    seen.links
                        .insert((probe.chassis.id, probe.port.0, dpid.0, packet.in_port.0));
                }
            }
        }
        SwitchEvent::PortStats { dpid, counters } => {
            let last = seen.tx_bytes.entry(*dpid).or_default();
            for c in counters {
                let before = last.insert(c.number, c.tx_bytes);
                if let Some(b) = before {
                    seen.tx_delta += c.tx_bytes.saturating_sub(b);
                }
            }
        }
        _ => {}
    }
}

/// Prints one summary line; `model_secs` is the model time one interval covers.
fn summary(handle: &OpenFlowHandle, sim: &SimHandle, seen: &mut Seen, model_secs: f64) {
    let stats = handle.stats();
    let sw = sim.total_stats();
    let total = sim.topology().switches.len();
    // Counters advance in model time; dividing by the model time covered gives the model rate.
    let gbps = seen.tx_delta as f64 * 8.0 / model_secs.max(1e-9) / 1e9;
    seen.tx_delta = 0;
    println!(
        "[summary] switches {}/{} up | packet-ins {} | flows installed {} | links discovered {} (of {}) | port tx {:.2} Gbit/s (model time)",
        stats.switches_up,
        total,
        stats.packet_ins,
        sw.flows,
        seen.links.len() / 2,
        sim.topology().links.len(),
        gbps
    );
}

/// Sends an LLDP probe out of every port of every switch that is up.
async fn probe(handle: &OpenFlowHandle, sim: &SimHandle) {
    for dpid in handle.switches() {
        let Some(spec) = sim
            .topology()
            .switch_index(dpid)
            .and_then(|i| sim.topology().switches.get(i))
        else {
            continue;
        };
        for &port in &spec.ports {
            let d = dpid.0.to_be_bytes();
            let probe = LldpProbe {
                src_mac: MacAddr([0x02, d[4], d[5], d[6], d[7], port.0 as u8]),
                chassis: DeviceId::openflow(dpid.0),
                port: TopoPort(port.0),
                ttl_secs: 120,
                signature: None,
            };
            let po = PacketOut {
                in_port: PortNo::CONTROLLER,
                actions: vec![Action::output(port)],
                ..PacketOut::to_port(port, probe.emit().into())
            };
            if let Err(e) = handle.send(dpid, Command::PacketOut(po)).await {
                tracing::debug!(%dpid, "probe not sent: {e}");
            }
        }
    }
}
