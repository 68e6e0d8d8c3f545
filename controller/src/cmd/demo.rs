//! `prescient demo`: the whole controller and an emulated network in one process, on loopback,
//! with no root and no configuration.
//!
//! It starts the controller ([`Service`]: OpenFlow listener, core, drivers, REST API and
//! dashboard) and one emulated Abilene backbone of 12 switches ([`MixedFabric`]): most speak
//! OpenFlow 1.3 against the controller's listener, `--p4-devices` of them (spread out) run
//! prescient.p4 behind P4Runtime, driven by the controller over gRPC, cabled to their OpenFlow
//! neighbours. The controller discovers the one graph by LLDP across both protocols, reads the
//! counters (moved by the emulator's traffic model: daily and weekly cycles, noise, flash crowds,
//! growing and shrinking services, time-compressed), forecasts every link, and shows it all on the
//! dashboard; the terminal gets a short summary every few seconds until Ctrl-C (or `--seconds`).
//!
//! The emulated hosts announce themselves (ARP) and their pairs' demand is counted on the flows
//! the controller installs for them, so hosts and host-pair forecasts show as with real hosts.
//! Each trend of the model gets a configured service (`demo/services.rs`: VIP, tenant pool, policy)
//! whose webhook is an in-process emulated orchestrator (`demo/orchestrator.rs`) that boots and stops
//! instances and reports them through the REST API, closing forecast → hook → instance →
//! translation.
//!
//! With `--bmv2` the P4 switches are real BMv2 `simple_switch_grpc` processes instead (see
//! `demo/bmv2.rs`; root and the P4 toolchain needed).

mod bmv2;
mod orchestrator;
mod services;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prescient_sim::fabric::{spread, MixedFabric};
use prescient_sim::openflow::{SimNetwork, SimOptions};
use prescient_sim::p4rt::serve_listener;
use prescient_sim::topology::{SimTopology, TopologyKind, ABILENE_NODES};
use prescient_sim::traffic::{Replay, TrafficConfig, TrafficModel, TrendConfig};
use prescient_topology::{LinkKey, Protocol};
use tokio_util::sync::CancellationToken;

use self::orchestrator::Orchestrator;
use crate::driver::p4runtime::{prescient_p4info, P4Target, PRESCIENT_BMV2_JSON};
use crate::service::{Service, ServiceConfig};

/// The longest `--interval`: a day.
const MAX_INTERVAL_SECS: u64 = 86_400;

/// Arguments of this subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Exit after this many seconds (for scripts and tests); runs until Ctrl-C by default.
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Seconds between terminal summaries (also the counter poll period), 1 to 86,400.
    #[arg(long, default_value_t = 3)]
    pub interval: u64,
    /// Model seconds of traffic per wall-clock second (300: five minutes per second).
    #[arg(long, default_value_t = 300.0)]
    pub time_scale: f64,
    /// REST API and dashboard address (a free port is used when this one is taken).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Serve the dashboard and API as plain HTTP (`--http 0.0.0.0:8080`), and accept OpenFlow
    /// switches over plain TCP (`--openflow 0.0.0.0:6653`), on an address other than loopback;
    /// refused without this flag.
    #[arg(long)]
    pub allow_plaintext: bool,
    /// OpenFlow listen address (a free port is used when this one is taken).
    #[arg(long, default_value = "127.0.0.1:6653")]
    pub openflow: SocketAddr,
    /// Abilene switches that run prescient.p4 behind P4Runtime instead of OpenFlow, spread over
    /// the backbone (4: every third); 0 for an OpenFlow-only fabric, 12 for P4Runtime only.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(0..=12))]
    pub p4_devices: u64,
    /// Replay a measured trace instead of the built-in traffic model: a traffic matrix (columns
    /// `SRC->DST`, Mbit/s, e.g. SNDlib's Abilene) drives the host pairs, one aggregate series
    /// shapes the built-in pairs.
    #[arg(long)]
    pub trace: Option<std::path::PathBuf>,
    /// Run the P4 switches as real BMv2 `simple_switch_grpc` processes (each in a network
    /// namespace of its own; needs root and BMv2 in /opt/p4/bin or on PATH), torn down on exit.
    #[arg(long)]
    pub bmv2: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            seconds: None,
            interval: 3,
            time_scale: 300.0,
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            allow_plaintext: false,
            openflow: SocketAddr::from(([127, 0, 0, 1], 6653)),
            p4_devices: 4,
            trace: None,
            bmv2: false,
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
    /// Of those, links between an OpenFlow and a P4Runtime switch.
    pub cross_links: usize,
    /// The directed links discovered, as the controller names them.
    pub discovered: BTreeSet<LinkKey>,
    /// Directed links the emulated fabric has.
    pub links_total: usize,
    /// Series with at least one forecast.
    pub forecasts: usize,
    /// Hosts the controller knows.
    pub hosts: usize,
    /// Host-pair series with at least one forecast.
    pub pair_forecasts: usize,
    /// Services configured.
    pub services: usize,
    /// Instances (backends) over every service.
    pub instances: usize,
    /// Translations (logical → physical) programmed or reserved.
    pub translations: usize,
    /// Hook calls the orchestrator answered (delivered).
    pub hook_calls: usize,
    /// Instances the emulated orchestrator booted (stopped ones included).
    pub booted: usize,
    /// Instances the emulated orchestrator stopped.
    pub stopped: usize,
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
    // The poll period's stale window (2.5 polls) overflowed a Duration and panicked near
    // u64::MAX; a day already reads a counter's rate over 2.5 days of the demo.
    if args.interval > MAX_INTERVAL_SECS {
        anyhow::bail!(
            "--interval {}: at most {MAX_INTERVAL_SECS} seconds (a day) between summaries and \
             counter polls",
            args.interval
        );
    }
    // The flag checked for root and BMv2 and then had no P4 switch to run.
    if args.bmv2 && args.p4_devices == 0 {
        anyhow::bail!(
            "--bmv2 with --p4-devices 0: there is no P4 switch to run as BMv2 (give --p4-devices \
             1 to 12, or leave --bmv2 out)"
        );
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
    // Before anything starts: a missing BMv2 or a missing root is the user's first answer.
    let bmv2_binary = if args.bmv2 {
        Some(bmv2::preflight()?)
    } else {
        None
    };
    let interval = Duration::from_secs(args.interval);
    let stop = CancellationToken::new();

    let mut topo = SimTopology::generate(TopologyKind::Abilene).context("generating Abilene")?;
    services::renumber_hosts(&mut topo);
    let links_total = topo.links.len() * 2;
    let p4_count = usize::try_from(args.p4_devices).context("--p4-devices")?;
    let p4_switches = spread(p4_count, topo.switches.len()).context("--p4-devices")?;
    let start_model_secs = SimOptions::default().start_model_secs;
    let traffic = TrafficConfig {
        replay: match &args.trace {
            Some(path) => Some(Arc::new(replay(path, &topo)?)),
            None => None,
        },
        // The trends start within minutes of wall time, so the scaling loop shows early.
        trends: TrendConfig {
            first_day: start_model_secs / prescient_sim::traffic::DAY_SECS + 0.02,
            spread_days: 0.1,
            ..TrendConfig::typical()
        },
        ..TrafficConfig::default()
    };
    let model = TrafficModel::new(topo.hosts.len(), traffic.clone());
    let demo_services = services::demo_services(&topo, &model)?;
    let token = std::env::var("PRESCIENT_API_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("demo-{:x}", std::process::id()));
    let orchestrator = Orchestrator::new(demo_services.initial.clone(), token.clone());
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the emulated orchestrator")?;
    let hook_url = format!("http://{}/hook", hook_listener.local_addr()?);
    let orchestrator_task = orchestrator.serve(hook_listener, stop.clone());
    let extra = Extra {
        services: demo_services.config,
        hooks: services::demo_hooks(&hook_url)?,
        token,
    };
    let options = SimOptions {
        speedup: args.time_scale,
        traffic: traffic.clone(),
        // Hosts show themselves as real ones do, loop-free over Abilene's cycles, and the
        // model's pair demand moves the counters of the flows the controller installs for it.
        announce_hosts: Some(interval.max(Duration::from_secs(2))),
        spanning_tree: true,
        pair_flows: true,
        ..SimOptions::default()
    };
    let fabric = MixedFabric::new(topo.clone(), &p4_switches, options.clone())
        .context("building the mixed Abilene fabric")?;
    let p4_devices = fabric.p4_devices();

    // The P4Runtime half first, so the controller finds its servers listening.
    let p4info =
        std::sync::Arc::new(prescient_p4info().context("the embedded prescient.p4 P4Info")?);
    let (p4_targets, p4_where, p4_server, switches) = match &bmv2_binary {
        Some(binary) => {
            let switches = bmv2::Bmv2Switches::start(binary, &p4_devices).await?;
            let mut targets = Vec::new();
            for d in &p4_devices {
                let address = switches
                    .p4runtime_address(d.device_id)
                    .context("a BMv2 switch per P4 device")?;
                targets.push(P4Target {
                    stats_interval: interval,
                    device_config: bytes::Bytes::from_static(PRESCIENT_BMV2_JSON),
                    ..P4Target::running_prescient(
                        address,
                        d.device_id,
                        d.ports.clone(),
                        p4info.clone(),
                    )
                });
            }
            let at = targets
                .iter()
                .map(|t| t.address.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let where_ = format!("real BMv2 simple_switch_grpc, P4Runtime at {at}");
            (targets, where_, None, Some(switches))
        }
        None => {
            let p4_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .context("binding the emulated P4Runtime server")?;
            let p4_address = p4_listener.local_addr()?.to_string();
            let server = tokio::spawn(serve_listener(
                p4_listener,
                fabric.p4_network(),
                stop.clone(),
            ));
            let targets = p4_devices
                .iter()
                .map(|d| P4Target {
                    stats_interval: interval,
                    ..P4Target::running_prescient(
                        p4_address.clone(),
                        d.device_id,
                        d.ports.clone(),
                        p4info.clone(),
                    )
                })
                .collect();
            (
                targets,
                format!("P4Runtime at {p4_address}"),
                Some(server),
                None,
            )
        }
    };

    // P4Runtime reports no name: the demo names its P4 switches after their routers, as a
    // `[[devices]]` section would.
    let names = p4_devices
        .iter()
        .filter_map(|d| {
            let name = topo.switches.get(d.switch)?.name.clone();
            Some((prescient_topology::DeviceId::p4runtime(d.device_id), name))
        })
        .collect();
    let service = start_service(&args, interval, p4_targets, names, &extra).await?;
    if let Some(http) = service.http_addr() {
        orchestrator.set_api(http);
    }
    let of_addr = service.openflow_addr();
    let (sim, relays) = match &switches {
        Some(switches) => {
            let (side, queues) = bmv2::Bmv2Side::new(&topo, &p4_devices);
            let side = Arc::new(side);
            let openflow = SimNetwork::build(topo.clone(), traffic.clone())
                .with_options(options)
                .with_foreign(side.clone())
                .spawn(of_addr);
            let relays = switches
                .relay(&side, queues, openflow.inlet(), stop.clone())
                .await?;
            (Running::Bmv2(openflow), relays)
        }
        None => (Running::Emulated(fabric.spawn(of_addr)), Vec::new()),
    };

    match service.http_addr() {
        Some(http) => println!("prescient demo: dashboard and REST API at http://{http}/"),
        None => println!("prescient demo: running without HTTP"),
    }
    let names = |switches: &[usize]| -> String {
        let names: Vec<&str> = switches
            .iter()
            .filter_map(|&i| ABILENE_NODES.get(i).copied())
            .collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    let openflow_switches: Vec<usize> = (0..topo.switches.len())
        .filter(|i| !p4_switches.contains(i))
        .collect();
    println!(
        "prescient demo: one Abilene fabric of {} switches, {} links: OpenFlow 1.3 on {of_addr} ({}: {}), {p4_where} ({}: {}); Ctrl-C stops",
        topo.switches.len(),
        topo.links.len(),
        openflow_switches.len(),
        names(&openflow_switches),
        p4_switches.len(),
        names(&p4_switches),
    );
    if traffic.replay.is_none() {
        println!(
            "prescient demo: traffic services: {}",
            trend_line(&topo, &model)
        );
    }
    println!(
        "prescient demo: services {}; orchestrator webhook at {hook_url}",
        extra
            .services
            .services
            .iter()
            .map(|s| format!("{} (VIP {}, pool {})", s.name, s.vip, s.pool))
            .collect::<Vec<_>>()
            .join(", ")
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
    let failed = service.failure();
    tokio::pin!(failed);
    loop {
        tokio::select! {
            _ = &mut until => break,
            failure = &mut failed => {
                eprintln!("prescient demo: {failure}; stopping");
                sim.shutdown().await;
                service.crash().await;
                stop.cancel();
                return Err(anyhow::Error::new(failure).context("the demo's controller stopped"));
            }
            _ = every.tick() => println!("{}", summary(&service, &orchestrator, links_total).line()),
        }
    }
    let report = summary(&service, &orchestrator, links_total);
    println!("prescient demo: stopping; {}", report.line());
    sim.shutdown().await;
    service.shutdown().await;
    stop.cancel();
    if let Some(server) = p4_server {
        let _ = server.await;
    }
    for relay in relays {
        let _ = relay.await;
    }
    // The BMv2 switches go last: killed, their namespaces deleted.
    drop(switches);
    let _ = orchestrator_task.await;
    Ok(report)
}

/// One line on the traffic model's services: which host, what trend, from which model day.
fn trend_line(topo: &SimTopology, model: &TrafficModel) -> String {
    let list: Vec<String> = model
        .services()
        .iter()
        .map(|s| {
            let host = topo.hosts.get(s.dst);
            let router = host
                .and_then(|h| ABILENE_NODES.get(h.attach.switch))
                .copied()
                .unwrap_or("?");
            let name = host.map_or("?", |h| h.name.as_str());
            format!(
                "{name} ({router}) {} from model day {:.1}",
                s.trend.kind(),
                s.trend.start_day()
            )
        })
        .collect();
    if list.is_empty() {
        "none".to_string()
    } else {
        list.join("; ")
    }
}

/// The running emulated switches: the mixed fabric, or the OpenFlow half beside real BMv2.
enum Running {
    Emulated(prescient_sim::fabric::MixedHandle),
    Bmv2(prescient_sim::openflow::SimHandle),
}

impl Running {
    async fn shutdown(&self) {
        match self {
            Running::Emulated(fabric) => fabric.shutdown().await,
            Running::Bmv2(openflow) => openflow.shutdown().await,
        }
    }
}

/// What the demo configures beyond devices and addresses.
struct Extra {
    services: crate::services::ServicesConfig,
    hooks: crate::hooks::HooksConfig,
    token: String,
}

async fn start_service(
    args: &Args,
    interval: Duration,
    p4: Vec<P4Target>,
    names: std::collections::BTreeMap<prescient_topology::DeviceId, String>,
    extra: &Extra,
) -> anyhow::Result<Service> {
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
        config.core.topology.names = names.clone();
        config.services = extra.services.clone();
        config.hooks = extra.hooks.clone();
        config.api.token = Some(extra.token.clone());
        config.allow_plaintext = args.allow_plaintext;
        config.openflow_allow_plaintext = args.allow_plaintext;
        match Service::start(config).await {
            Ok(service) => return Ok(service),
            // Not an address to fall back from: the user asked for this one.
            Err(
                e @ (crate::service::ServiceError::Plaintext { .. }
                | crate::service::ServiceError::OpenFlowPlaintext { .. }),
            ) => return Err(anyhow::Error::new(e).context("starting the controller")),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or_else(|| anyhow::anyhow!("no address to bind"), anyhow::Error::new))
        .context("starting the controller")
}

fn summary(service: &Service, orchestrator: &Orchestrator, links_total: usize) -> DemoReport {
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
    let forecasts = service
        .core()
        .read(|c| c.all_series().filter(|(_, s)| s.forecast_len() > 0).count());
    let (hosts, pair_forecasts, services, instances, translations) = service.core().read(|c| {
        let services = c.services();
        (
            c.topology().hosts().count(),
            c.all_series()
                .filter(|(k, s)| {
                    matches!(k, crate::core::SeriesKey::Pair(..)) && s.forecast_len() > 0
                })
                .count(),
            services.views().len(),
            services.views().iter().map(|v| v.spec.backends.len()).sum(),
            services.translations().len(),
        )
    });
    let hook_calls = service.core().read(|c| {
        c.services()
            .hook_outcomes()
            .iter()
            .filter(|r| r.status == crate::services::HookStatus::Delivered)
            .count()
    });
    let discovered: BTreeSet<LinkKey> = snapshot.links().iter().copied().collect();
    let cross_links = discovered
        .iter()
        .filter(|l| l.src.device.protocol != l.dst.device.protocol)
        .count();
    DemoReport {
        devices_up: openflow_devices + p4_devices,
        openflow_devices,
        p4_devices,
        links: discovered.len(),
        cross_links,
        discovered,
        links_total,
        forecasts,
        hosts,
        pair_forecasts,
        services,
        instances,
        translations,
        hook_calls,
        booted: orchestrator.stats().booted,
        stopped: orchestrator.stats().stopped,
        http: service.http_addr(),
    }
}

impl DemoReport {
    fn line(&self) -> String {
        format!(
            "[summary] devices up {} ({} OpenFlow, {} P4Runtime) | links {} of {} ({} OpenFlow-P4Runtime) | hosts {} | series forecasting {} ({} host pairs) | services {} with {} instances | translations {} | hook calls answered {} (instances booted {}, stopped {})",
            self.devices_up,
            self.openflow_devices,
            self.p4_devices,
            self.links,
            self.links_total,
            self.cross_links,
            self.hosts,
            self.forecasts,
            self.pair_forecasts,
            self.services,
            self.instances,
            self.translations,
            self.hook_calls,
            self.booted,
            self.stopped,
        )
    }
}

/// Reads a trace (formats of `prescient forecast backtest`) into demand for the emulated hosts.
///
/// Matrix columns `SRC->DST` name nodes; a node named like an emulated switch is that switch's
/// host, any other name is assigned a host by its rank among the trace's names. Values are read
/// as Mbit/s (SNDlib's unit); an empty cell is no traffic. A trace without `->` columns is an
/// aggregate: its first series, divided by its mean, shapes the built-in demand.
fn replay(path: &std::path::Path, topo: &SimTopology) -> anyhow::Result<Replay> {
    let trace = super::trace_input::read(path, prescient_predict::TraceFormat::Auto)?;
    if trace.rows() == 0 {
        anyhow::bail!("{}: the trace has no rows", path.display());
    }
    let interval_secs = trace
        .times
        .as_ref()
        .and_then(|t| Some(t.get(1)? - t.first()?))
        .filter(|d| *d > 0)
        .map_or(300.0, |d| d as f64);
    let ends: Vec<Option<(&str, &str)>> = trace.names.iter().map(|n| n.split_once("->")).collect();
    if ends.iter().all(Option::is_none) {
        let column = trace.columns.first().context("the trace has no series")?;
        let mut last = 0.0;
        let values: Vec<f64> = column
            .iter()
            .map(|v| {
                last = v.unwrap_or(last);
                last
            })
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        if mean.is_nan() || mean <= 0.0 {
            anyhow::bail!(
                "{}: the series' mean is {mean}, nothing to shape",
                path.display()
            );
        }
        return Ok(Replay::Aggregate {
            interval_secs,
            shape: values.iter().map(|v| v / mean).collect(),
        });
    }
    let mut nodes: Vec<&str> = ends.iter().flatten().flat_map(|(a, b)| [*a, *b]).collect();
    nodes.sort_unstable();
    nodes.dedup();
    let host_of = |name: &str| -> Option<usize> {
        // Switches are named s1.. in datapath-id order, Abilene's after its routers.
        let switch = topo
            .switches
            .iter()
            .position(|s| s.name == name)
            .or_else(|| {
                (topo.kind == TopologyKind::Abilene)
                    .then(|| ABILENE_NODES.iter().position(|n| *n == name))
                    .flatten()
            });
        let by_switch = switch.and_then(|sw| topo.hosts.iter().position(|h| h.attach.switch == sw));
        by_switch.or_else(|| {
            let rank = nodes.iter().position(|n| *n == name)?;
            (!topo.hosts.is_empty()).then(|| rank % topo.hosts.len())
        })
    };
    let mut pairs = Vec::new();
    let mut rates_bps = Vec::new();
    for (column, end) in trace.columns.iter().zip(&ends) {
        let Some((src, dst)) = end else { continue };
        let (Some(s), Some(d)) = (host_of(src), host_of(dst)) else {
            continue;
        };
        if s == d || pairs.contains(&(s, d)) {
            continue;
        }
        pairs.push((s, d));
        rates_bps.push(
            column
                .iter()
                .map(|v| v.unwrap_or(0.0).max(0.0) * 1e6)
                .collect(),
        );
    }
    if pairs.is_empty() {
        anyhow::bail!("{}: no column maps to two distinct hosts", path.display());
    }
    Ok(Replay::Pairs {
        interval_secs,
        pairs,
        rates_bps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traffic_matrix_maps_router_names_onto_the_hosts_of_their_switches() {
        let topo = SimTopology::generate(TopologyKind::Abilene).expect("abilene");
        let dir = std::env::temp_dir().join(format!("prescient-demo-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("tm.csv");
        std::fs::write(
            &path,
            "time,ATLAng->CHINng,CHINng->ATLAng,X->Y\n\
             2004-03-01T00:00,1.5,,2\n\
             2004-03-01T00:05,2.5,4,2\n",
        )
        .expect("writing the trace");
        let replay = replay(&path, &topo).expect("a replay");
        let _ = std::fs::remove_dir_all(&dir);
        let Replay::Pairs {
            interval_secs,
            pairs,
            rates_bps,
        } = replay
        else {
            panic!("a matrix replays as pairs");
        };
        assert_eq!(interval_secs, 300.0);
        let host = |router: &str| {
            let sw = ABILENE_NODES
                .iter()
                .position(|n| *n == router)
                .expect(router);
            topo.hosts
                .iter()
                .position(|h| h.attach.switch == sw)
                .expect("a host")
        };
        assert_eq!(pairs[0], (host("ATLAng"), host("CHINng")));
        assert_eq!(pairs[1], (host("CHINng"), host("ATLAng")));
        assert_eq!(rates_bps[0], vec![1.5e6, 2.5e6]);
        assert_eq!(rates_bps[1], vec![0.0, 4e6], "an empty cell is no traffic");
        assert_eq!(pairs.len(), 3, "unknown names still get hosts");
    }
}
