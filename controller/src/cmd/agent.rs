//! `prescient agent`: the host agent's command line (see [`crate::agent`]).

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;

use crate::agent::source::Source;
use crate::agent::{AgentConfig, DEFAULT_PROTO};

/// Arguments of `prescient agent`.
#[derive(Debug, Parser)]
pub struct Args {
    /// The tenant whose address records this host follows.
    #[arg(long)]
    pub tenant: String,
    /// The interface to program.
    #[arg(long)]
    pub interface: String,
    /// A controller's REST API, `http://HOST:PORT` (or `https://HOST:PORT` with --ca).
    #[arg(long, conflicts_with = "etcd", required_unless_present = "etcd")]
    pub controller: Option<String>,
    /// The CA (PEM) that signed an `https://` controller's certificate.
    #[arg(long, value_name = "PEM", requires = "controller")]
    pub ca: Option<std::path::PathBuf>,
    /// etcd endpoints (cluster mode), `http://HOST:PORT[,…]`.
    #[arg(long, value_delimiter = ',')]
    pub etcd: Vec<String>,
    /// This host's name as the orchestrator gives it in records (default: the hostname).
    #[arg(long)]
    pub host: Option<String>,
    /// API token, when the controller protects reads.
    #[arg(long, env = "PRESCIENT_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Protocol number tagging what this agent creates (one per agent on a host; not one the
    /// kernel or a routing daemon uses, such as 2 kernel, 4 static, 186 bgp).
    #[arg(long, default_value_t = DEFAULT_PROTO)]
    pub proto: u8,
    /// Metric of the routes it adds.
    #[arg(long, default_value_t = 100)]
    pub metric: u32,
    /// Full resync against the kernel every this many seconds.
    #[arg(long, default_value_t = 30, conflicts_with = "once")]
    pub resync_secs: u64,
    /// Print the plan (what would be added and removed) and exit without changing anything.
    // `--dry-run` and `--resync-secs` shape a running agent; with `--once` they were ignored.
    #[arg(long, conflicts_with = "dry_run")]
    pub once: bool,
    /// Keep running, logging what would change, without changing anything.
    #[arg(long)]
    pub dry_run: bool,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Refuses settings the agent would not follow as given.
fn check(args: &Args) -> anyhow::Result<()> {
    use rtnetlink::packet_route::address::AddressProtocol;
    use rtnetlink::packet_route::route::RouteProtocol;
    // The kernel reads these numbers back as its own or a daemon's protocol, so the agent never
    // knew what it had made: added again at every resync, never removed.
    let route = RouteProtocol::from(args.proto);
    let address = AddressProtocol::from(args.proto);
    if route != RouteProtocol::Other(args.proto) || address != AddressProtocol::Other(args.proto) {
        anyhow::bail!(
            "--proto {}: the kernel or a routing daemon tags routes or addresses with it \
             ({}); the agent must own its number alone (default {DEFAULT_PROTO})",
            args.proto,
            if route == RouteProtocol::Other(args.proto) {
                format!("{address:?}")
            } else {
                route.to_string()
            }
        );
    }
    // 0 was run as 1 s without a word.
    anyhow::ensure!(
        args.resync_secs > 0,
        "--resync-secs 0: the full resync needs a period of at least 1 second"
    );
    if let (Some(ca), Some(base)) = (&args.ca, &args.controller) {
        anyhow::ensure!(
            base.starts_with("https://"),
            "--ca {}: the controller {base} is not https://, so the CA would not be used",
            ca.display()
        );
    }
    Ok(())
}

/// Runs the agent (until Ctrl-C), or prints its plan with `--once`.
pub fn run(args: Args) -> anyhow::Result<()> {
    check(&args)?;
    let source = match args.controller {
        Some(base) => Source::Rest {
            api: crate::agent::fetch::Endpoint {
                tls: match &args.ca {
                    Some(ca) => Some(std::sync::Arc::new(crate::tls::client_config(ca)?)),
                    None => None,
                },
                base,
            },
            token: args.token.filter(|t| !t.is_empty()),
        },
        None => Source::Etcd(args.etcd),
    };
    let cfg = AgentConfig {
        host: args.host.unwrap_or_else(hostname),
        tenant: args.tenant,
        interface: args.interface,
        source,
        proto: args.proto,
        metric: args.metric,
        dry_run: args.dry_run,
        resync: Duration::from_secs(args.resync_secs),
    };
    let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
    rt.block_on(async move {
        if args.once {
            let changes = crate::agent::plan_once(&cfg).await?;
            println!(
                "plan for tenant {} on {} (host {}): {} change(s)",
                cfg.tenant,
                cfg.interface,
                cfg.host,
                changes.len()
            );
            for c in changes {
                println!("{c}");
            }
            return Ok(());
        }
        let stop = CancellationToken::new();
        let s2 = stop.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            s2.cancel();
        });
        tracing::info!(
            "agent for tenant {} on {} (host {}, protocol {}), following {}",
            cfg.tenant,
            cfg.interface,
            cfg.host,
            cfg.proto,
            cfg.source
        );
        crate::agent::run(cfg, stop).await
    })
}
