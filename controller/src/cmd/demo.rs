//! `prescient demo`: the whole controller and an emulated network in one process, on loopback,
//! with no root and no configuration.
//!
//! It starts the controller ([`Service`]: OpenFlow listener, core, drivers, REST API and
//! dashboard), the 12 emulated Abilene switches speaking OpenFlow 1.3 against it, and a ring of
//! emulated P4Runtime switches running prescient.p4 that it drives over gRPC. The controller
//! discovers both fabrics by LLDP, reads their counters (moved by the emulator's traffic model,
//! time-compressed), forecasts every link, and shows it all on the dashboard; the terminal gets a
//! short summary every few seconds until Ctrl-C (or `--seconds`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prescient_sim::openflow::{SimNetwork, SimOptions};
use prescient_sim::p4rt::{run_traffic, serve_listener, P4SimNetwork};
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_sim::traffic::TrafficConfig;
use prescient_topology::Protocol;
use tokio_util::sync::CancellationToken;

use crate::driver::p4runtime::{prescient_p4info, P4Target};
use crate::service::{Service, ServiceConfig};

/// Arguments of this subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Exit after this many seconds (for scripts and tests); runs until Ctrl-C by default.
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Seconds between terminal summaries (also the counter poll period).
    #[arg(long, default_value_t = 3)]
    pub interval: u64,
    /// Model seconds of traffic per wall-clock second (300: five minutes per second).
    #[arg(long, default_value_t = 300.0)]
    pub time_scale: f64,
    /// REST API and dashboard address (a free port is used when this one is taken).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// OpenFlow listen address (a free port is used when this one is taken).
    #[arg(long, default_value = "127.0.0.1:6653")]
    pub openflow: SocketAddr,
    /// Emulated P4Runtime switches (a ring) beside the OpenFlow Abilene fabric; 0 for none.
    #[arg(long, default_value_t = 4)]
    pub p4_devices: u64,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            seconds: None,
            interval: 3,
            time_scale: 300.0,
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            openflow: SocketAddr::from(([127, 0, 0, 1], 6653)),
            p4_devices: 4,
        }
    }
}

/// What a demo run saw, for scripts and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoReport {
    /// Devices up at the end (both protocols).
    pub devices_up: usize,
    /// OpenFlow devices up at the end.
    pub openflow_devices: usize,
    /// P4Runtime devices up at the end.
    pub p4_devices: usize,
    /// Directed links discovered.
    pub links: usize,
    /// Directed links the emulated fabrics have.
    pub links_total: usize,
    /// Series with at least one forecast.
    pub forecasts: usize,
    /// Where the dashboard was served.
    pub http: Option<SocketAddr>,
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

async fn demo(args: Args) -> anyhow::Result<DemoReport> {
    let interval = Duration::from_secs(args.interval);
    let stop = CancellationToken::new();

    // The P4Runtime fabric first, so the controller finds its server listening.
    let p4_network = Arc::new(P4SimNetwork::ring(args.p4_devices).context("building the P4 ring")?);
    let p4_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the emulated P4Runtime server")?;
    let p4_address = p4_listener.local_addr()?.to_string();
    let p4_server = tokio::spawn(serve_listener(
        p4_listener,
        p4_network.clone(),
        stop.clone(),
    ));
    let p4_traffic = tokio::spawn(run_traffic(
        p4_network.clone(),
        Duration::from_millis(200),
        args.time_scale,
        stop.clone(),
    ));

    let service = start_service(&args, interval, &p4_network, &p4_address).await?;
    let of_addr = service.openflow_addr();
    let topo = SimTopology::generate(TopologyKind::Abilene).context("generating Abilene")?;
    let links_total = topo.links.len() * 2 + p4_network.links().len() * 2;
    let options = SimOptions {
        speedup: args.time_scale,
        ..SimOptions::default()
    };
    let sim = SimNetwork::build(topo, TrafficConfig::default())
        .with_options(options)
        .spawn(of_addr);

    match service.http_addr() {
        Some(http) => println!("prescient demo: dashboard and REST API at http://{http}/"),
        None => println!("prescient demo: running without HTTP"),
    }
    println!(
        "prescient demo: OpenFlow 1.3 on {of_addr} (12 emulated Abilene switches), P4Runtime at {p4_address} ({} emulated prescient.p4 switches); Ctrl-C stops",
        args.p4_devices
    );

    let until = async {
        match args.seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(until);
    let mut every = tokio::time::interval(interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        tokio::select! {
            _ = &mut until => break,
            _ = every.tick() => println!("{}", summary(&service, links_total).line()),
        }
    }
    let report = summary(&service, links_total);
    println!("prescient demo: stopping; {}", report.line());
    sim.shutdown().await;
    service.shutdown().await;
    stop.cancel();
    let _ = p4_server.await;
    let _ = p4_traffic.await;
    Ok(report)
}

async fn start_service(
    args: &Args,
    interval: Duration,
    p4_network: &P4SimNetwork,
    p4_address: &str,
) -> anyhow::Result<Service> {
    let p4info = prescient_p4info().context("the embedded prescient.p4 P4Info")?;
    let p4: Vec<P4Target> = p4_network
        .device_ids()
        .into_iter()
        .map(|device_id| P4Target {
            address: p4_address.to_string(),
            device_id,
            ports: vec![1, 2],
            port_speed_bps: Some(1_000_000_000),
            election_id: 1,
            p4info: p4info.clone(),
            device_config: Vec::new(),
            stats_interval: interval,
        })
        .collect();
    // Preferred addresses first; a taken one (another controller, a second demo) falls back
    // to a free loopback port so the demo still comes up.
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut last = None;
    for (openflow, http) in [
        (args.openflow, args.http),
        (args.openflow, any),
        (any, args.http),
        (any, any),
    ] {
        let mut config = ServiceConfig::new(openflow, Some(http));
        config.stats_interval = Some(interval);
        config.p4 = p4.clone();
        match Service::start(config).await {
            Ok(service) => return Ok(service),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or_else(|| anyhow::anyhow!("no address to bind"), anyhow::Error::new))
        .context("starting the controller")
}

fn summary(service: &Service, links_total: usize) -> DemoReport {
    let snapshot = service.core().snapshot();
    let (openflow_devices, p4_devices) = service.core().read(|c| {
        let up = |p: Protocol| {
            c.topology()
                .devices()
                .filter(|d| d.up && d.id.protocol == p)
                .count()
        };
        (up(Protocol::OpenFlow), up(Protocol::P4Runtime))
    });
    let forecasts = service.core().read(|c| {
        c.all_series()
            .filter(|(_, s)| !s.forecast().is_empty())
            .count()
    });
    DemoReport {
        devices_up: openflow_devices + p4_devices,
        openflow_devices,
        p4_devices,
        links: snapshot.links().len(),
        links_total,
        forecasts,
        http: service.http_addr(),
    }
}

impl DemoReport {
    fn line(&self) -> String {
        format!(
            "[summary] devices up {} ({} OpenFlow, {} P4Runtime) | links {} of {} | series forecasting {}",
            self.devices_up,
            self.openflow_devices,
            self.p4_devices,
            self.links,
            self.links_total,
            self.forecasts
        )
    }
}
