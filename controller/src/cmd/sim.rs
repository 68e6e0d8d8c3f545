//! `prescient sim`: emulated switches standalone, until Ctrl-C. Each southbound protocol has its
//! own optional group of flags; whichever groups are given run side by side in one runtime, or,
//! with `--mixed-p4 N`, as one fabric: N switches of the OpenFlow topology run prescient.p4 on
//! the `--p4runtime` address instead, cabled to their OpenFlow neighbours.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prescient_sim::p4rt::{self, P4SimNetwork, PortTraffic};
use tokio_util::sync::CancellationToken;

/// How the emulated P4Runtime devices are linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum P4Links {
    /// No links.
    None,
    /// Port 2 of device i to port 1 of device i+1.
    Linear,
    /// Linear plus the last device back to the first.
    Ring,
}

/// Arguments of this subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Serve emulated P4Runtime devices (running prescient.p4) on this address, e.g. 127.0.0.1:9559.
    #[arg(long, value_name = "HOST:PORT")]
    pub p4runtime: Option<SocketAddr>,
    /// Number of P4Runtime devices; device ids are 1..=N, all on the one address.
    // Each flag of a group requires the group's address: without it the group does not run
    // and the flag was ignored without a word. (clap checks `requires` only for flags given.)
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1024), requires = "p4runtime")]
    pub devices: u64,
    /// How the P4Runtime devices are linked (hosts sit on ports 3 and up).
    #[arg(long, value_enum, default_value_t = P4Links::Linear, requires = "p4runtime")]
    pub p4_links: P4Links,
    /// Serve P4Runtime over TLS with this certificate chain (PEM), with --p4-tls-key.
    #[arg(long, value_name = "PEM", requires_all = ["p4_tls_key", "p4runtime"])]
    pub p4_tls_cert: Option<std::path::PathBuf>,
    /// Private key (PEM) of --p4-tls-cert.
    #[arg(long, value_name = "PEM", requires = "p4_tls_cert")]
    pub p4_tls_key: Option<std::path::PathBuf>,
    /// With TLS, require clients to present a certificate this CA (PEM) signed (mutual TLS).
    #[arg(long, value_name = "PEM", requires = "p4_tls_cert")]
    pub p4_tls_client_ca: Option<std::path::PathBuf>,
    /// Seed of the P4Runtime devices' background traffic.
    #[arg(long, default_value_t = 7, requires = "p4runtime")]
    pub p4_seed: u64,
    /// Model seconds of background traffic per wall-clock second (86400: a day per second).
    #[arg(long, default_value_t = 1.0, requires = "p4runtime")]
    pub p4_time_scale: f64,
    /// Run emulated OpenFlow 1.3 switches that connect to this controller, e.g. 127.0.0.1:6653;
    /// several controllers (a cluster) as a comma-separated list: every switch connects to
    /// each, EQUAL until a controller asks for MASTER or SLAVE.
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT...]")]
    pub openflow_controller: Option<String>,
    /// OpenFlow switches for ring, linear and random (default 4); for fat-tree this is k (even,
    /// default 4), giving 5k²/4 switches; abilene has its own 12 and refuses it.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000), requires = "openflow_controller")]
    pub switches: Option<u64>,
    /// Shape of the emulated OpenFlow network.
    #[arg(long, value_enum, default_value_t = crate::cmd::sim_openflow::Shape::Ring, requires = "openflow_controller")]
    pub topology: crate::cmd::sim_openflow::Shape,
    /// Seed of the OpenFlow network's traffic model.
    #[arg(long, default_value_t = 1, requires = "openflow_controller")]
    pub of_seed: u64,
    /// Model seconds of OpenFlow traffic per wall-clock second (86400: a day per second).
    #[arg(long, default_value_t = 60.0, requires = "openflow_controller")]
    pub of_time_scale: f64,
    /// One mixed fabric: this many switches of the OpenFlow topology (spread out) run
    /// prescient.p4 behind P4Runtime on the --p4runtime address, device id = their datapath id,
    /// cabled to their OpenFlow neighbours; one traffic model moves both. Needs both addresses.
    #[arg(long, default_value_t = 0)]
    pub mixed_p4: u64,
    /// Traffic model with growing, shrinking and scale-out services (one of each).
    #[arg(long, requires = "openflow_controller")]
    pub services: bool,
}

/// Switches (or fat-tree k) when --switches is not given.
const DEFAULT_SWITCHES: u64 = 4;

/// Entry point.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.p4runtime.is_none() && args.openflow_controller.is_none() {
        anyhow::bail!(
            "nothing to emulate: give --p4runtime HOST:PORT and/or --openflow-controller HOST:PORT"
        );
    }
    if !(args.p4_time_scale.is_finite() && args.p4_time_scale > 0.0) {
        anyhow::bail!(
            "--p4-time-scale must be a positive number, got {}",
            args.p4_time_scale
        );
    }
    if args.mixed_p4 > 0 && (args.p4runtime.is_none() || args.openflow_controller.is_none()) {
        anyhow::bail!(
            "--mixed-p4 {} needs --p4runtime HOST:PORT (where its P4 switches are served) and --openflow-controller HOST:PORT",
            args.mixed_p4
        );
    }
    if args.mixed_p4 > 0 && args.p4_tls_cert.is_some() {
        anyhow::bail!("--p4-tls-cert serves the standalone P4Runtime devices; --mixed-p4 has none");
    }
    if let (crate::cmd::sim_openflow::Shape::Abilene, Some(n)) = (&args.topology, args.switches) {
        // A size the user typed and the topology cannot honour would otherwise be dropped
        // silently, and the lab would run a network the user did not ask for.
        anyhow::bail!(
            "--switches {n}: --topology abilene is always its 12 routers; leave --switches out"
        );
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(serve(args))
}

/// tonic's server TLS from the --p4-tls-* files, read now so a missing one is named at start.
fn p4_tls(args: &Args) -> anyhow::Result<Option<tonic::transport::ServerTlsConfig>> {
    use tonic::transport::{Certificate, Identity, ServerTlsConfig};
    let (Some(cert), Some(key)) = (&args.p4_tls_cert, &args.p4_tls_key) else {
        return Ok(None);
    };
    let read = |flag: &str, path: &std::path::Path| {
        std::fs::read(path).with_context(|| format!("{flag} {}", path.display()))
    };
    let identity = Identity::from_pem(read("--p4-tls-cert", cert)?, read("--p4-tls-key", key)?);
    let mut tls = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &args.p4_tls_client_ca {
        tls = tls.client_ca_root(Certificate::from_pem(read("--p4-tls-client-ca", ca)?));
    }
    Ok(Some(tls))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let mut tasks: tokio::task::JoinSet<anyhow::Result<()>> = tokio::task::JoinSet::new();
    if let Some(addr) = args.p4runtime.filter(|_| args.mixed_p4 == 0) {
        let mut network = match args.p4_links {
            P4Links::None => P4SimNetwork::new(args.devices),
            P4Links::Linear => P4SimNetwork::linear(args.devices),
            P4Links::Ring => P4SimNetwork::ring(args.devices),
        }
        .context("loading prescient.p4's P4Info")?;
        network.set_traffic(PortTraffic {
            seed: args.p4_seed,
            ..PortTraffic::default()
        });
        let network = Arc::new(network);
        tracing::info!(
            %addr,
            devices = args.devices,
            links = network.links().len(),
            "serving emulated P4Runtime devices running prescient.p4"
        );
        let traffic = p4rt::run_traffic(
            Arc::clone(&network),
            Duration::from_secs(1),
            args.p4_time_scale,
            shutdown.clone(),
        );
        tasks.spawn(async move {
            traffic.await;
            Ok(())
        });
        let tls = p4_tls(&args)?;
        let token = shutdown.clone();
        tasks.spawn(async move {
            let result = match tls {
                None => p4rt::serve(addr, network, token.clone()).await,
                Some(tls) => match tokio::net::TcpListener::bind(addr).await {
                    Ok(l) => p4rt::serve_listener_tls(l, network, token.clone(), tls).await,
                    Err(source) => Err(p4rt::ServeError::Bind { addr, source }),
                },
            };
            // Whatever ends the server ends the emulator.
            token.cancel();
            result.context("P4Runtime emulator")
        });
    }
    if let Some(controller) = args.openflow_controller.clone() {
        let opts = crate::cmd::sim_openflow::Options {
            controller,
            shape: args.topology,
            size: args.switches.unwrap_or(DEFAULT_SWITCHES),
            seed: args.of_seed,
            time_scale: args.of_time_scale,
            mixed_p4: match args.p4runtime {
                Some(addr) if args.mixed_p4 > 0 => Some((args.mixed_p4, addr)),
                _ => None,
            },
            services: args.services,
        };
        let token = shutdown.clone();
        tasks.spawn(async move {
            let result = crate::cmd::sim_openflow::serve(opts, token.clone()).await;
            // As for the P4Runtime server: its error (`--of-time-scale 0`, a fat-tree of odd
            // k, a controller that does not resolve) was kept until Ctrl-C, and the process
            // ran on silently with nothing emulated.
            token.cancel();
            result
        });
    }
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        () = shutdown.cancelled() => {}
    }
    shutdown.cancel();
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let result = joined.context("emulator task panicked").and_then(|r| r);
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => {
            tracing::info!("emulator stopped");
            Ok(())
        }
    }
}
