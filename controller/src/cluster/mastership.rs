//! Switch mastership follows the election. OpenFlow (1.3.5 §6.3.6): the leader asks every
//! switch for MASTER, followers for SLAVE, all with the generation id of the current term, so
//! a switch refuses a deposed leader's stale MASTER request (the spec compares generation ids
//! wrap-safe, as a signed difference; terms only grow) and, once another controller is
//! master, its writes. A leader whose renewal is late stops writing at once but stays MASTER
//! while etcd still names it: asking for SLAVE would leave no MASTER for a moment, and the
//! switches' packet-ins (a host's ARP, a flow's first packet) would reach only slaves, which
//! get none. The next leader's higher generation id takes the switches over anyway. Switches connect to every node and start all of them EQUAL, sharing
//! packet-ins, until a role is set: a newly connected switch gets its role within one check.
//! P4Runtime (spec §5): each device task claims [`election_id`] of its node's standing (see
//! `driver::p4runtime`), so the leader's id is the highest any client ever sent.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use prescient_southbound::openflow::session::OpenFlowHandle;
use prescient_southbound::openflow::wire::{ControllerRole, DatapathId};
use tokio_util::sync::CancellationToken;

use super::ClusterState;

/// How often connected switches are compared with the roles they were given (a leader
/// whose renew deadline passed stops writing at the next check).
const CHECK: Duration = Duration::from_millis(100);

/// The OpenFlow generation id of `term`: the term itself, which only grows from one leader to
/// the next (switches compare generation ids wrap-safe, §6.3.6, so even a wrap would order).
pub fn generation_id(term: u64) -> u64 {
    term
}

/// The P4Runtime election id of a node (spec §5: the highest id is primary, ids are unique
/// among a device's clients): a leader's is `2^64 + term`, above every id before it since
/// terms only grow; a follower's is its [`node_number`](super::ClusterState::node_number),
/// below 2^64 so below any leader's, and distinct from every other node's, so all nodes stay
/// connected to every device, the followers as backups.
pub fn election_id(leading: bool, term: u64, node_number: u64) -> u128 {
    if leading {
        (1u128 << 64) | u128::from(term)
    } else {
        u128::from(node_number)
    }
}

/// The role this node asks its switches for now and the generation id it asks with: MASTER
/// with its own term while etcd last named it leader, even while it does not act (renewal
/// late, or not taken over yet); SLAVE with the current term otherwise (also once crashed).
pub fn wanted_role(cluster: &ClusterState) -> (ControllerRole, u64) {
    match cluster.elected_term() {
        Some(term) => (ControllerRole::Master, generation_id(term)),
        None => (ControllerRole::Slave, generation_id(cluster.term())),
    }
}

/// Keeps every connected switch's role in step with the election until `stop`. A switch this
/// node became MASTER of is reconciled ([`super::takeover`]) `settle` later, once this
/// leader has learnt the topology and re-planned, unless it stopped leading meanwhile.
pub async fn run(
    cluster: Arc<ClusterState>,
    handle: OpenFlowHandle,
    settle: Duration,
    stop: CancellationToken,
) {
    let mut given: BTreeMap<DatapathId, (ControllerRole, u64)> = BTreeMap::new();
    let mut due: BTreeMap<DatapathId, (tokio::time::Instant, u64)> = BTreeMap::new();
    // MASTER switches whose takeover was scheduled since this node last started acting: a
    // leader back from a late renewal missed writes, so it reconciles again.
    let mut taken: BTreeSet<DatapathId> = BTreeSet::new();
    let mut changes = cluster.subscribe();
    let mut check = tokio::time::interval(CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            r = changes.changed() => if r.is_err() { return },
            _ = check.tick() => {}
        }
        let acting = cluster.is_leader();
        let wanted = wanted_role(&cluster);
        let term = cluster.term();
        let switches = handle.switches();
        given.retain(|d, _| switches.contains(d));
        due.retain(|d, (_, t)| switches.contains(d) && acting && *t == term);
        taken.retain(|d| switches.contains(d) && acting);
        if acting && wanted.0 == ControllerRole::Master {
            for (dpid, _) in given.iter().filter(|(_, g)| **g == wanted) {
                if taken.insert(*dpid) {
                    due.insert(*dpid, (tokio::time::Instant::now() + settle, term));
                }
            }
        }
        let now = tokio::time::Instant::now();
        let ready: Vec<DatapathId> = due
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(d, _)| *d)
            .collect();
        for dpid in ready {
            due.remove(&dpid);
            match super::takeover::reconcile(&handle, dpid).await {
                Ok(p) if p.commands.is_empty() => {
                    tracing::debug!(%dpid, "taken over: the switch holds what this leader wants");
                }
                Ok(p) => tracing::info!(%dpid, stale = p.stale_flows, missing = p.missing_flows,
                    commands = p.commands.len(), "taken over: switch reconciled"),
                Err(e) => tracing::warn!(%dpid, "taken over: switch not reconciled: {e}"),
            }
        }
        let (role, generation) = wanted;
        for dpid in switches {
            if given.get(&dpid) == Some(&wanted) {
                continue;
            }
            match handle.role(dpid, role, generation).await {
                Ok(granted) if granted.role == role => {
                    given.insert(dpid, wanted);
                    if acting && role == ControllerRole::Master && taken.insert(dpid) {
                        due.insert(dpid, (tokio::time::Instant::now() + settle, term));
                    }
                }
                Ok(granted) => {
                    tracing::debug!(%dpid, "asked for {role:?}, granted {:?}", granted.role);
                }
                Err(e) => {
                    // A stale generation id (another leader already asked with a newer one)
                    // or a session going down: the next check asks again.
                    tracing::debug!(%dpid, "role {role:?} generation {generation} refused: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_leader_outranks_every_earlier_one_and_every_follower() {
        let followers = [election_id(false, 9, 3), election_id(false, 9, u64::MAX)];
        let first = election_id(true, 9, 3);
        let second = election_id(true, 10, 5);
        assert!(second > first);
        assert!(followers.iter().all(|f| *f < first));
        assert_ne!(followers[0], followers[1]);
        // The same node as follower and as leader never shares an id with itself.
        assert_ne!(election_id(false, 9, 9), election_id(true, 9, 9));
        assert_eq!(generation_id(10).wrapping_sub(generation_id(9)) as i64, 1);
    }

    #[test]
    fn a_leader_whose_renewal_is_late_stays_master_until_another_node_leads() {
        use crate::cluster::{ClusterConfig, Member};
        let cluster = ClusterState::new(ClusterConfig::new(Vec::new(), "n1"), String::new());
        let me = cluster.me().clone();
        cluster.set_current(Some((me, 12)));
        let in_a_while = std::time::Instant::now() + Duration::from_secs(60);
        cluster.lead(("key".into(), 12), in_a_while);
        assert!(cluster.is_leader());
        let master = (ControllerRole::Master, generation_id(12));
        assert_eq!(wanted_role(&cluster), master);

        // The renewal is late: it stops writing, yet etcd still names it, so it stays MASTER
        // (a SLAVE request would leave the switches without a master).
        cluster.step_down();
        assert!(!cluster.is_leader());
        assert_eq!(wanted_role(&cluster), master);

        // Another node leads: SLAVE, with the new term's generation id.
        let other = Member {
            name: "n2".into(),
            api: String::new(),
        };
        cluster.set_current(Some((other, 13)));
        assert_eq!(
            wanted_role(&cluster),
            (ControllerRole::Slave, generation_id(13))
        );

        // A crashed node asks for nothing of a leader's, even while still named.
        let me = cluster.me().clone();
        cluster.set_current(Some((me, 12)));
        cluster.crash();
        assert_eq!(
            wanted_role(&cluster),
            (ControllerRole::Slave, generation_id(12))
        );
    }
}
