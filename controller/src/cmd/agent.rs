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
    /// Protocol number tagging what this agent creates (one per agent on a host).
    #[arg(long, default_value_t = DEFAULT_PROTO)]
    pub proto: u8,
    /// Metric of the routes it adds.
    #[arg(long, default_value_t = 100)]
    pub metric: u32,
    /// Full resync against the kernel every this many seconds.
    #[arg(long, default_value_t = 30)]
    pub resync_secs: u64,
    /// Print the plan (what would be added and removed) and exit without changing anything.
    #[arg(long)]
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

/// Runs the agent (until Ctrl-C), or prints its plan with `--once`.
pub fn run(args: Args) -> anyhow::Result<()> {
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
        resync: Duration::from_secs(args.resync_secs.max(1)),
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
