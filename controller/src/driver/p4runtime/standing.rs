//! A device task's standing in a cluster (P4Runtime spec §5): every node stays connected to
//! every device; the leader claims the election id of its term (the highest any client sent,
//! so the device makes it primary), followers a lower id of their own and stay backups. Only
//! a node that leads AND is primary writes. A leader whose renewal is late stops writing at
//! once but keeps its id while etcd still names it: lowering it would make a follower primary,
//! and the device's packet-ins and learned-host digests (one per host, never repeated) would go
//! to a node that does nothing with them, so the leader would come back not knowing hosts that
//! appeared meanwhile. The next leader's higher term takes the device over anyway.
//!
//! Taking over: the first reconciliation as primary reads the owned tables back (what the
//! previous leader left, whatever it managed to write before it died) and diffs them against
//! this node's desired entries. Entries this node does not want are deleted only after
//! [`Standing::settled`] (a link timeout after the takeover): a new leader learns the links
//! from its own probes, and until it knows them its desired routes are a subset of what the
//! data plane needs. Hosts it may never hear of again (the program digests a host once, and
//! a host that stays quiet sends no ARP): once settled, the hosts the routes read back name at
//! edge ports (no link leaves them) are taken as seen there ([`Standing::take_seed`]), so
//! their routes stay.

use std::sync::Arc;
use std::time::Duration;

use prescient_southbound::p4runtime::P4RuntimeClient;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cluster::{mastership, ClusterState};

/// How often the standing is compared with the election when nothing announced a change (a
/// leader whose renew deadline passed is demoted without an announcement).
pub(super) const CHECK: Duration = Duration::from_millis(100);

/// Where a device task stands.
pub(super) struct Standing {
    cluster: Option<Arc<ClusterState>>,
    changes: Option<watch::Receiver<u64>>,
    /// Leading and primary: writes go out.
    acting: bool,
    /// Deletions of what this node does not want wait until then after taking over.
    settle_until: Option<Instant>,
    settle: Duration,
    /// The hosts the device's routes name are still to be taken over.
    seed: bool,
}

impl Standing {
    /// Single process (`cluster` `None`): always acting. `settle`: how long a new leader
    /// keeps entries it does not (yet) want.
    pub(super) fn new(cluster: Option<Arc<ClusterState>>, settle: Duration) -> Self {
        let changes = cluster.as_ref().map(|c| c.subscribe());
        Standing {
            acting: cluster.is_none(),
            cluster,
            changes,
            settle_until: None,
            settle,
            seed: false,
        }
    }

    /// Whether this is a cluster node.
    pub(super) fn clustered(&self) -> bool {
        self.cluster.is_some()
    }

    /// Resolves at the next change of role, leader or term (never in single-process mode).
    pub(super) async fn changed(&mut self) {
        match &mut self.changes {
            Some(rx) => {
                if rx.changed().await.is_err() {
                    self.changes = None;
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    }

    /// The election id this node should hold now (`None`: single process, or the node
    /// number is not known yet).
    pub(super) fn wanted(&self) -> Option<u128> {
        let c = self.cluster.as_ref()?;
        let node = c.node_number()?;
        Some(match c.fence() {
            Some((_, term)) => mastership::election_id(true, term as u64, node),
            None => match c.elected_term() {
                Some(term) => mastership::election_id(true, term, node),
                None => mastership::election_id(false, 0, node),
            },
        })
    }

    /// Waits until [`Self::wanted`] is known (immediately in single-process mode: `None`).
    pub(super) async fn first_id(&mut self) -> Option<u128> {
        self.cluster.as_ref()?;
        loop {
            if let Some(id) = self.wanted() {
                return Some(id);
            }
            tokio::select! {
                _ = self.changed() => {}
                _ = tokio::time::sleep(CHECK) => {}
            }
        }
    }

    /// Whether this node leads (always in single-process mode).
    pub(super) fn leading(&self) -> bool {
        self.cluster.as_ref().is_none_or(|c| c.is_leader())
    }

    /// Whether writes may go to the device through `client` now.
    pub(super) fn may_write(&self, client: &P4RuntimeClient) -> bool {
        client.is_primary() && self.leading()
    }

    /// Brings the client's election id in line with the election. Returns true when this
    /// node has just become the acting primary (the caller pushes the pipeline if needed,
    /// reads the tables back and reconciles).
    pub(super) async fn follow(&mut self, client: &mut P4RuntimeClient) -> Result<bool, String> {
        let Some(want) = self.wanted() else {
            return Ok(false);
        };
        if client.config().election_id != want {
            client
                .set_election_id(want)
                .await
                .map_err(|e| format!("claiming election id {want}: {e}"))?;
        }
        let acting = self.may_write(client);
        let started = acting && !self.acting;
        self.acting = acting;
        if started {
            self.settle_until = Some(Instant::now() + self.settle);
            self.seed = true;
        }
        Ok(started)
    }

    /// Whether entries this node does not want may be deleted now.
    pub(super) fn settled(&self) -> bool {
        self.settle_until.is_none_or(|t| Instant::now() >= t)
    }

    /// True once per takeover, when settled: the hosts the device's routes name should be
    /// taken over now, before anything is deleted.
    pub(super) fn take_seed(&mut self) -> bool {
        self.settled() && std::mem::take(&mut self.seed)
    }

    /// When deletions held back by [`Self::settled`] may go out.
    pub(super) fn settle_until(&self) -> Option<Instant> {
        self.settle_until.filter(|t| Instant::now() < *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{ClusterConfig, Member};

    #[test]
    fn a_leader_whose_renewal_is_late_keeps_its_id_until_another_node_leads() {
        let cluster = ClusterState::new(ClusterConfig::new(Vec::new(), "n1"), String::new());
        cluster.set_node_number(7);
        let me = cluster.me().clone();
        cluster.set_current(Some((me, 12)));
        let in_a_while = std::time::Instant::now() + Duration::from_secs(60);
        cluster.lead(("key".into(), 12), in_a_while);
        let standing = Standing::new(Some(Arc::clone(&cluster)), Duration::from_secs(3));
        let leader = mastership::election_id(true, 12, 7);
        assert_eq!(standing.wanted(), Some(leader));

        // The renewal is late: it stops acting, yet etcd still names it, so it stays primary.
        cluster.lead(("key".into(), 12), std::time::Instant::now());
        assert!(!cluster.is_leader());
        assert_eq!(standing.wanted(), Some(leader));

        // Another node leads: a follower's id (below any leader's).
        let other = Member {
            name: "n2".into(),
            api: String::new(),
        };
        cluster.set_current(Some((other, 13)));
        assert_eq!(
            standing.wanted(),
            Some(mastership::election_id(false, 0, 7))
        );

        // A crashed node claims nothing of a leader's, even while still named.
        let me = cluster.me().clone();
        cluster.set_current(Some((me, 12)));
        cluster.crash();
        assert_eq!(
            standing.wanted(),
            Some(mastership::election_id(false, 0, 7))
        );
    }
}
