//! `prescient agent`: the host agent. It follows one tenant's address records (the REST event
//! stream of a controller, or an etcd watch in cluster mode; see [`source`]) and programs them
//! on one interface through rtnetlink ([`kernel`]): this host's instance addresses, routes to
//! the tenant's VIPs and pools, neighbour entries for instances whose MAC is known ([`plan`]).
//!
//! Invariants: it only ever removes what carries its protocol number (what it created); it
//! converges by diff against the kernel read back — after every (re)connection a full list,
//! then each change, and a periodic resync that repairs drift; a failed netlink call is logged
//! and retried at the next pass, never fatal; an unreachable source, an unknown tenant or a
//! missing interface are logged naming them and retried with backoff, and what is already
//! programmed stays while it is away.

pub mod fetch;
pub mod kernel;
pub mod plan;
pub mod source;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::services::{AddressOp, AddressRecord};
use kernel::Kernel;
use plan::Change;
use source::{Source, Update};

/// The route protocol number (and address/neighbour protocol) the agent tags what it owns
/// with, unless told otherwise; not one of `/etc/iproute2/rt_protos`.
pub const DEFAULT_PROTO: u8 = 0xa5;

/// What the agent is asked to do.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The tenant followed.
    pub tenant: String,
    /// The interface programmed.
    pub interface: String,
    /// This host's name, as the orchestrator names hosts in records.
    pub host: String,
    /// Where records come from.
    pub source: Source,
    /// Protocol number marking what the agent owns (distinct per agent on one host).
    pub proto: u8,
    /// Metric of the routes it adds.
    pub metric: u32,
    /// Compute and log the plan, change nothing.
    pub dry_run: bool,
    /// Full resync against the kernel this often, even without changes.
    pub resync: Duration,
}

/// Retry delays: doubling from 200 ms to 10 s, reset by a successful session.
#[derive(Debug, Clone)]
struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(10);

    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Self::MAX);
        d
    }

    fn reset(&mut self) {
        self.0 = Self::FIRST;
    }
}

type Records = BTreeMap<(Ipv4Addr, Ipv4Addr), AddressRecord>;

/// The plan from the kernel's state to what `records` want.
async fn plan_now(
    cfg: &AgentConfig,
    kernel: &Kernel,
    records: &Records,
) -> Result<(u32, kernel::Owned, Vec<Change>), kernel::KernelError> {
    let index = kernel.index().await?;
    let owned = kernel.owned(index).await?;
    let want = plan::desired(records.values(), &cfg.host);
    let changes = plan::plan(&want, &owned.state);
    Ok((index, owned, changes))
}

/// Brings the interface to what `records` want; failures are logged and left for the next
/// pass. Returns whether the kernel now matches.
async fn reconcile(cfg: &AgentConfig, kernel: &Kernel, records: &Records) -> bool {
    let (index, owned, changes) = match plan_now(cfg, kernel, records).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!("{e}; what is programmed stays, retrying");
            return false;
        }
    };
    let mut clean = true;
    for c in changes {
        if cfg.dry_run {
            tracing::info!("dry run: would {c} dev {}", cfg.interface);
            continue;
        }
        match kernel.apply(index, &owned, c).await {
            Ok(()) => tracing::debug!("{c} dev {}", cfg.interface),
            Err(e) => {
                clean = false;
                tracing::warn!("{e}; retried at the next pass");
            }
        }
    }
    clean
}

/// `--once`: one list from the source, the plan against the kernel, nothing changed.
pub async fn plan_once(cfg: &AgentConfig) -> anyhow::Result<Vec<Change>> {
    let kernel = Kernel::connect(&cfg.interface, cfg.proto, cfg.metric)?;
    let (tx, mut rx) = mpsc::channel(64);
    let source = cfg.source.clone();
    let tenant = cfg.tenant.clone();
    let session = tokio::spawn(async move { source.run(&tenant, tx).await });
    let records = match rx.recv().await {
        Some(Update::Full(list)) => list,
        _ => {
            let why = session.await.unwrap_or_else(|e| e.to_string());
            anyhow::bail!("{why}");
        }
    };
    session.abort();
    let records: Records = records.into_iter().map(|r| (r.id(), r)).collect();
    let (_, _, changes) = plan_now(cfg, &kernel, &records).await?;
    Ok(changes)
}

/// Runs the agent until `stop` is cancelled.
pub async fn run(cfg: AgentConfig, stop: CancellationToken) -> anyhow::Result<()> {
    let kernel = Kernel::connect(&cfg.interface, cfg.proto, cfg.metric)?;
    let mut backoff = Backoff(Backoff::FIRST);
    let mut records = Records::new();
    loop {
        let (tx, mut rx) = mpsc::channel(256);
        let source = cfg.source.clone();
        let tenant = cfg.tenant.clone();
        let session = tokio::spawn(async move { source.run(&tenant, tx).await });
        let mut resync = tokio::time::interval(cfg.resync);
        let mut synced = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    session.abort();
                    return Ok(());
                }
                u = rx.recv() => {
                    let Some(u) = u else { break };
                    // Take every update already queued before touching the kernel once.
                    let mut batch = vec![u];
                    while let Ok(more) = rx.try_recv() {
                        batch.push(more);
                    }
                    for u in batch {
                        match u {
                            Update::Full(list) => {
                                records = list.into_iter().map(|r| (r.id(), r)).collect();
                                if !synced {
                                    tracing::info!(
                                        "{}: {} record(s) of tenant {}: full resync",
                                        cfg.source, records.len(), cfg.tenant
                                    );
                                }
                                synced = true;
                                backoff.reset();
                            }
                            Update::Change(c) => match c.op {
                                AddressOp::Put => {
                                    records.insert(c.record.id(), c.record);
                                }
                                AddressOp::Delete => {
                                    records.remove(&c.record.id());
                                }
                            },
                        }
                    }
                    if synced {
                        reconcile(&cfg, &kernel, &records).await;
                    }
                }
                _ = resync.tick(), if synced => {
                    reconcile(&cfg, &kernel, &records).await;
                }
            }
        }
        let why = session.await.unwrap_or_else(|e| e.to_string());
        let wait = backoff.next();
        tracing::warn!(
            "{why}; what is programmed stays; reconnecting in {} ms",
            wait.as_millis()
        );
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
