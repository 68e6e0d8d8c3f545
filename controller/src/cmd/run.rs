//! `prescient run`: the controller for a lab. Listens for OpenFlow 1.3 switches (a table miss is
//! punted to the controller, which forwards reactively with L2 learning, loop-free over the
//! discovered topology), drives the configured P4Runtime devices, discovers links and hosts,
//! forecasts every link, and serves the REST API and dashboard, until Ctrl-C. Accepted
//! reservations are kept in a redb file (`[store] path`, `--store`) and restored on start; in
//! cluster mode (`[cluster]`, `--etcd URL[,URL...] --name NAME`) in etcd, shared by every node.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::service::Service;
use crate::store::StoreLocation;

/// Arguments of this subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML; `prescient config example` prints one). Flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on for OpenFlow switches [default: 127.0.0.1:6653].
    #[arg(long)]
    pub openflow: Option<SocketAddr>,
    /// REST API and dashboard address [default: 127.0.0.1:8080].
    #[arg(long)]
    pub http: Option<SocketAddr>,
    /// Serve the REST API as plain HTTP and accept OpenFlow switches over plain TCP on an
    /// address other than loopback (as `allow_plaintext = true` in `[http]` and `[openflow]`).
    #[arg(long)]
    pub allow_plaintext: bool,
    /// Run without the REST API and dashboard.
    #[arg(long, conflicts_with = "http")]
    pub no_http: bool,
    /// State store file (redb), created when missing [default: prescient.redb].
    #[arg(long, value_name = "PATH")]
    pub store: Option<PathBuf>,
    /// Exit after this many seconds (for scripts and tests); runs until Ctrl-C by default.
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Cluster mode: etcd endpoints (`http://host:port`, comma-separated); records live in
    /// etcd and one node at a time leads. Overrides `[cluster] etcd`.
    #[arg(
        long,
        value_name = "URL[,URL...]",
        value_delimiter = ',',
        requires = "name"
    )]
    pub etcd: Vec<String>,
    /// This node's name in the cluster (with `--etcd`).
    #[arg(long, requires = "etcd")]
    pub name: Option<String>,
}

/// Entry point.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (config, name) = match &args.config {
        Some(path) => (Config::load(path)?, path.display().to_string()),
        None => (Config::default(), "built-in defaults".to_string()),
    };
    let mut service_config = config.service(&name)?;
    if let Some(addr) = args.openflow {
        service_config.openflow = addr;
    }
    if let Some(addr) = args.http {
        service_config.http = Some(addr);
    }
    if args.no_http {
        service_config.http = None;
    }
    if args.allow_plaintext {
        service_config.allow_plaintext = true;
        service_config.openflow_allow_plaintext = true;
    }
    if let Some(path) = &args.store {
        service_config.store.location = StoreLocation::File(path.clone());
    }
    if !args.etcd.is_empty() {
        let mut section = config.cluster.clone();
        section.etcd = args.etcd.clone();
        section.name = args.name.clone().unwrap_or_default();
        service_config.cluster = section.cluster().map_err(|(key, value, why)| {
            anyhow::anyhow!("{key} (--etcd/--name): {value}: {why}")
        })?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the runtime")?;
    rt.block_on(async move {
        let service = Service::start(service_config)
            .await
            .context("starting the controller")?;
        eprintln!(
            "prescient: listening for OpenFlow 1.3 on {}",
            service.openflow_addr()
        );
        if let Some(url) = service.http_url() {
            eprintln!("prescient: REST API and dashboard at {url}/");
        }
        eprintln!(
            "prescient: state store {}",
            service.store().location()
        );
        if let Some(c) = service.cluster() {
            eprintln!(
                "prescient: cluster node {} (API {}), lease {:?}",
                c.me().name,
                c.me().api,
                c.config().lease_ttl
            );
        }
        // SIGHUP re-reads the API tokens from the configuration file and the TLS files it
        // names, the P4Runtime clients' among them (rotation without a restart); everything
        // else in it needs a restart.
        let reload = tokio::spawn(reload_on_sighup(
            args.config.clone(),
            service.api_tokens().clone(),
            service.tls_servers().clone(),
        ));
        let until = async {
            match args.seconds {
                Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        tokio::select! {
            () = until => {}
            failure = service.failure() => {
                reload.abort();
                // As a crashed process: the core may have been left mid-change, so it is not
                // written; every change that was answered is in the store already.
                eprintln!(
                    "prescient: {failure}; stopping without a final write (every answered change is in the state store); restart to resume"
                );
                service.crash().await;
                return Err(anyhow::Error::new(failure).context("the controller stopped"));
            }
        }
        reload.abort();
        let stats = service.openflow().stats();
        eprintln!(
            "prescient: stopping ({} switches up, {} packet-ins handled, {} packet-in events dropped, {} switches refused at the TLS handshake)",
            stats.switches_up, stats.packet_ins, stats.events_dropped, stats.tls_refused
        );
        service.shutdown().await;
        Ok(())
    })
}

/// On every SIGHUP, the REST API's and the OpenFlow listener's certificate, key and client CA,
/// and each P4Runtime client's CA, certificate and key, are read again from their files (an
/// endpoint whose files do not load keeps its own and the log says why), and the tokens of `path`'s `[http]` (its `token`, else `PRESCIENT_API_TOKEN`, as
/// admin, and its `[[http.tokens]]`) replace the API's; a file that does not load keeps the
/// tokens in force and says why.
async fn reload_on_sighup(
    path: Option<PathBuf>,
    tokens: crate::northbound::Tokens,
    tls: crate::tls::reload::Servers,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        eprintln!("prescient: cannot watch SIGHUP; API tokens and certificates rotate only with a restart");
        return;
    };
    while hangups.recv().await.is_some() {
        for r in tls.reload() {
            match r.outcome {
                Ok(()) => eprintln!(
                    "prescient: SIGHUP: {} certificate re-read from {}",
                    r.server,
                    r.cert.display()
                ),
                Err(e) => eprintln!(
                    "prescient: SIGHUP: {} keeps the certificate in force: {e}",
                    r.server
                ),
            }
        }
        let Some(path) = &path else {
            eprintln!("prescient: SIGHUP: no --config file to re-read the API tokens from");
            continue;
        };
        match Config::load(path) {
            Ok(config) => {
                let admin = config
                    .http
                    .token
                    .clone()
                    .or(crate::northbound::ApiConfig::from_env().token);
                let list =
                    crate::northbound::auth::token_list(admin.as_deref(), &config.http.tokens);
                eprintln!(
                    "prescient: SIGHUP: {} API tokens from {}",
                    list.len(),
                    path.display()
                );
                tokens.store(std::sync::Arc::new(list));
            }
            Err(e) => eprintln!("prescient: SIGHUP: keeping the API tokens in force: {e:#}"),
        }
    }
}
