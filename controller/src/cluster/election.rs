//! Leader election on an etcd lease, the recipe of etcd's own election API done with plain
//! requests so every step has a timeout: each node puts a candidate key on its lease under
//! [`keys::ELECTION`]; the key with the lowest create revision leads, and that revision is
//! the term (a later leader's key was created after every earlier leader's, so terms only
//! grow). Renewal follows client-go's split: the lease is renewed every quarter TTL; a
//! leader whose last renewal is older than the renew deadline (2/3 TTL) stops acting at once,
//! before the lease can expire and another node win (see [`super::ClusterState::is_leader`]).
//! A node whose lease is gone campaigns again with a new one, as a follower.

use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Compare, CompareOp, GetOptions, PutOptions, SortOrder, SortTarget, Txn, TxnOp};
use tokio_util::sync::CancellationToken;

use super::etcd_store::EtcdStore;
use super::replica::Replica;
use super::{keys, Member};

/// How often the candidates are read (the takeover waits at most this after the old
/// leader's key expires).
const POLL: Duration = Duration::from_millis(100);

/// Campaigns until `stop`; on winning, `replica` takes over (re-list, mirror) before this
/// node acts as leader. On `stop` the lease is revoked, so another node takes over at once.
pub async fn run(store: Arc<EtcdStore>, replica: Arc<Replica>, stop: CancellationToken) {
    let cluster = store.cluster().clone();
    let mut backoff = POLL;
    while !stop.is_cancelled() {
        match campaign(&store, &replica, &stop).await {
            Ok(()) => backoff = POLL,
            Err(why) => {
                cluster.step_down();
                cluster.set_reachable(false);
                tracing::warn!("cluster: {}: {why}; campaigning again", store.name());
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(cluster.config().lease_ttl / 2);
            }
        }
    }
    cluster.step_down();
}

/// One lease's life: returns when the lease is lost (error) or `stop` fired (Ok).
async fn campaign(
    store: &Arc<EtcdStore>,
    replica: &Arc<Replica>,
    stop: &CancellationToken,
) -> Result<(), String> {
    let cluster = store.cluster().clone();
    let config = cluster.config().clone();
    let timeout = config.timeout;
    let mut client = store.client();
    let me = serde_json::to_string(cluster.me()).map_err(|e| e.to_string())?;
    let ttl = config.lease_ttl.as_secs().max(1) as i64;
    let lease = within(timeout, client.lease_grant(ttl, None)).await?.id();
    let key = keys::candidate(lease);
    let member = keys::member(&cluster.me().name);
    within(timeout, client.put(member.as_str(), me.clone(), None)).await?;
    let ours = within(timeout, client.get(member.as_str(), None)).await?;
    if let Some(kv) = ours.kvs().first() {
        cluster.set_node_number(u64::try_from(kv.create_revision()).unwrap_or(0));
    }
    let granted = Instant::now();
    let put = Txn::new()
        .when(vec![Compare::version(key.clone(), CompareOp::Equal, 0)])
        .and_then(vec![TxnOp::put(
            key.clone(),
            me,
            Some(PutOptions::new().with_lease(lease)),
        )]);
    let resp = within(timeout, client.txn(put)).await?;
    let term = resp.header().map_or(0, |h| h.revision());
    cluster.set_reachable(true);
    let mut last_renewal = granted;
    let mut keeper = None;
    let mut renew = tokio::time::interval(config.lease_ttl / 4);
    let mut poll = tokio::time::interval(POLL);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => {
                cluster.step_down();
                if !cluster.crashed() {
                    let _ = tokio::time::timeout(timeout, client.lease_revoke(lease)).await;
                }
                return Ok(());
            }
            _ = renew.tick() => {
                let sent = Instant::now();
                match keep_alive(&mut client, &mut keeper, lease, timeout).await {
                    Ok(true) => {
                        last_renewal = sent;
                        cluster.renewed(sent);
                        cluster.set_reachable(true);
                    }
                    Ok(false) => return Err(format!("lease {lease:x} expired")),
                    Err(e) => {
                        cluster.set_reachable(false);
                        if sent.duration_since(last_renewal) >= cluster.renew_deadline() {
                            cluster.step_down();
                        }
                        if sent.duration_since(last_renewal) >= config.lease_ttl {
                            return Err(format!("lease {lease:x} not renewed for a TTL: {e}"));
                        }
                    }
                }
            }
            _ = poll.tick() => {
                let Ok(leader) = read_leader(&mut client, timeout, &cluster).await else {
                    continue;
                };
                match leader {
                    Some((_, t)) if t as i64 == term => {
                        if !cluster.is_leader() {
                            if last_renewal.elapsed() >= cluster.renew_deadline() {
                                continue;
                            }
                            replica.takeover().await.map_err(|e| e.to_string())?;
                            cluster.lead((key.clone(), term), last_renewal + cluster.renew_deadline());
                            tracing::info!("cluster: {} leads, term {term}", cluster.me().name);
                        }
                    }
                    _ => {
                        if cluster.is_leader() {
                            tracing::warn!("cluster: {} no longer leads", cluster.me().name);
                        }
                        cluster.step_down();
                        if leader.is_none() {
                            // Our own key is gone: the lease expired meanwhile.
                            let mut kv = client.kv_client();
                            let ours = within(timeout, kv.get(key.as_str(), None)).await?;
                            if ours.kvs().is_empty() {
                                return Err(format!("candidate key {key} is gone"));
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Renews `lease` once on `keeper` (opened on first use, reopened after an error):
/// `Ok(false)` when etcd says the lease no longer exists.
async fn keep_alive(
    client: &mut etcd_client::Client,
    keeper: &mut Option<(etcd_client::LeaseKeeper, etcd_client::LeaseKeepAliveStream)>,
    lease: i64,
    timeout: Duration,
) -> Result<bool, String> {
    let renewed = async {
        match keeper {
            Some((k, stream)) => {
                k.keep_alive().await?;
                Ok(stream.message().await?.map(|r| r.ttl() > 0))
            }
            None => {
                // Opening the stream sends the first renewal and reads its answer; a lease
                // etcd no longer has is an error there.
                match client.lease_keep_alive(lease).await {
                    Ok(opened) => {
                        *keeper = Some(opened);
                        Ok(Some(true))
                    }
                    Err(etcd_client::Error::LeaseKeepAliveError(_)) => Ok(Some(false)),
                    Err(e) => Err(e),
                }
            }
        }
    };
    let result = match within(timeout, renewed).await {
        Ok(Some(alive)) => Ok(alive),
        Ok(None) => Err("the keep-alive stream closed".to_string()),
        Err(e) => Err(e),
    };
    if result.is_err() {
        *keeper = None;
    }
    result
}

/// Reads the candidates and members; updates the cluster state; returns the leader.
async fn read_leader(
    client: &mut etcd_client::Client,
    timeout: Duration,
    cluster: &super::ClusterState,
) -> Result<Option<(Member, u64)>, String> {
    let mut kv = client.kv_client();
    let candidates = within(
        timeout,
        kv.get(
            keys::ELECTION,
            Some(
                GetOptions::new()
                    .with_prefix()
                    .with_sort(SortTarget::Create, SortOrder::Ascend),
            ),
        ),
    )
    .await?;
    let members = within(
        timeout,
        kv.get(keys::MEMBERS, Some(GetOptions::new().with_prefix())),
    )
    .await?;
    cluster.set_reachable(true);
    let live: Vec<(Member, i64)> = candidates
        .kvs()
        .iter()
        .filter_map(|k| {
            serde_json::from_slice::<Member>(k.value())
                .ok()
                .map(|m| (m, k.create_revision()))
        })
        .collect();
    let leader = live.first().map(|(m, rev)| (m.clone(), *rev as u64));
    let members = members
        .kvs()
        .iter()
        .filter_map(|k| serde_json::from_slice::<Member>(k.value()).ok())
        .map(|m| {
            let healthy = live.iter().any(|(l, _)| l.name == m.name);
            (m, healthy)
        })
        .collect();
    cluster.set_members(members);
    cluster.set_current(leader.clone());
    Ok(leader)
}

async fn within<T>(
    timeout: Duration,
    f: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer in {timeout:?}")),
    }
}
