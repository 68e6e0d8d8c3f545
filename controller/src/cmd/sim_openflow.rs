//! The OpenFlow part of `prescient sim`: an emulated OpenFlow 1.3 network (`prescient-sim`)
//! connecting to a controller, reconnecting when it goes away, until the shared shutdown; with
//! `mixed_p4`, some of its switches run P4Runtime instead (a [`MixedFabric`]).

use std::time::Duration;

use anyhow::Context;
use prescient_sim::fabric::{spread, MixedFabric};
use prescient_sim::openflow::{SimHandle, SimNetwork, SimOptions};
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_sim::traffic::{TrafficConfig, TrendConfig};
use tokio_util::sync::CancellationToken;

/// Shape of the emulated OpenFlow network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// N switches in a ring, a host on each.
    Ring,
    /// N switches in a line, a host on each.
    Linear,
    /// k-ary fat-tree (`--switches` is k).
    FatTree,
    /// The 12-switch Abilene backbone.
    Abilene,
    /// N switches in a ring plus a random chord from each (average degree 4).
    Random,
}

/// What to emulate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Controller addresses, `HOST:PORT[,HOST:PORT...]` (names are resolved): every switch
    /// connects to each.
    pub controller: String,
    /// Shape.
    pub shape: Shape,
    /// Switches (ring, linear, random) or k (fat-tree).
    pub size: u64,
    /// Traffic seed.
    pub seed: u64,
    /// Model seconds per wall-clock second.
    pub time_scale: f64,
    /// Switches of the topology to run as P4Runtime devices, and where to serve them.
    pub mixed_p4: Option<(u64, std::net::SocketAddr)>,
    /// Growing, shrinking and scale-out services in the traffic model.
    pub services: bool,
}

/// The topology `shape` and `size` describe.
pub fn kind(shape: Shape, size: u64) -> anyhow::Result<TopologyKind> {
    let n = usize::try_from(size).context("size does not fit this machine")?;
    Ok(match shape {
        Shape::Ring => TopologyKind::Ring(n),
        Shape::Linear => TopologyKind::Linear(n),
        Shape::FatTree => TopologyKind::FatTree(n),
        Shape::Abilene => TopologyKind::Abilene,
        Shape::Random => TopologyKind::Random(n),
    })
}

/// Runs the emulated switches until `shutdown`.
pub async fn serve(opts: Options, shutdown: CancellationToken) -> anyhow::Result<()> {
    if !(opts.time_scale.is_finite() && opts.time_scale > 0.0) {
        anyhow::bail!(
            "--of-time-scale must be a positive number, got {}",
            opts.time_scale
        );
    }
    let mut controllers = Vec::new();
    for target in opts.controller.split(',').map(str::trim) {
        let addr = tokio::net::lookup_host(target)
            .await
            .with_context(|| format!("resolving --openflow-controller {target:?}"))?
            .next()
            .with_context(|| format!("--openflow-controller {target:?} resolves to no address"))?;
        controllers.push(addr);
    }
    let addr = controllers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let kind = kind(opts.shape, opts.size)?;
    let topo = SimTopology::generate(kind).context("generating the OpenFlow topology")?;
    tracing::info!(
        controller = %addr,
        topology = %kind,
        switches = topo.switches.len(),
        links = topo.links.len(),
        hosts = topo.hosts.len(),
        "starting emulated OpenFlow 1.3 switches"
    );
    let options = SimOptions {
        traffic: TrafficConfig {
            seed: opts.seed,
            trends: if opts.services {
                TrendConfig::typical()
            } else {
                TrendConfig::default()
            },
            ..TrafficConfig::default()
        },
        speedup: opts.time_scale,
        ..SimOptions::default()
    };
    let (sim, p4_server, total) = match opts.mixed_p4 {
        None => {
            let total = topo.switches.len();
            let sim = SimNetwork::build(topo, options.traffic.clone())
                .with_options(options)
                .spawn_with_controllers(controllers);
            (sim, None, total)
        }
        Some((count, p4_addr)) => {
            let (sim, server, total) =
                mixed(topo, options, count, controllers, p4_addr, &shutdown)?;
            (sim, Some(server), total)
        }
    };
    let mut all_up = false;
    let mut every = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            // Announce once when the whole network is up; the periodic line covers the rest.
            up = sim.wait_connected(Duration::from_secs(3600), |n| n == total), if !all_up => {
                if up {
                    all_up = true;
                    tracing::info!(total, "all emulated OpenFlow switches connected to {addr}");
                }
            }
            _ = every.tick() => {
                let s = sim.total_stats();
                tracing::info!(
                    connected = sim.connected_count(),
                    total,
                    flows = s.flows,
                    packet_ins = s.packet_ins,
                    flow_mods = s.flow_mods,
                    "emulated OpenFlow network"
                );
            }
        }
    }
    sim.shutdown().await;
    tracing::info!("emulated OpenFlow switches stopped");
    if let Some(server) = p4_server {
        server
            .await
            .context("P4Runtime emulator task")?
            .context("P4Runtime emulator")?;
    }
    Ok(())
}

type P4Server = tokio::task::JoinHandle<Result<(), prescient_sim::p4rt::ServeError>>;

/// Starts a mixed fabric: `count` switches of `topo` served as P4Runtime devices on `p4_addr`,
/// the others connecting to `controller`. Returns the OpenFlow half, the P4 server task and how
/// many OpenFlow switches to expect.
fn mixed(
    topo: SimTopology,
    options: SimOptions,
    count: u64,
    controllers: Vec<std::net::SocketAddr>,
    p4_addr: std::net::SocketAddr,
    shutdown: &CancellationToken,
) -> anyhow::Result<(SimHandle, P4Server, usize)> {
    let count = usize::try_from(count).context("--mixed-p4")?;
    let p4 = spread(count, topo.switches.len()).context("--mixed-p4")?;
    let total = topo.switches.len() - p4.len();
    let fabric = MixedFabric::new(topo, &p4, options).context("building the mixed fabric")?;
    for d in fabric.p4_devices() {
        tracing::info!(
            %p4_addr,
            device_id = d.device_id,
            ports = ?d.ports,
            "emulated P4Runtime switch (prescient.p4) in the mixed fabric"
        );
    }
    let server = tokio::spawn(prescient_sim::p4rt::serve(
        p4_addr,
        fabric.p4_network(),
        shutdown.clone(),
    ));
    let handle = fabric.spawn_with_controllers(controllers);
    Ok((handle.openflow().clone(), server, total))
}
