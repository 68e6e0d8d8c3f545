//! Switch mastership follows the election. OpenFlow (1.3.5 §6.3.6): the leader asks every
//! switch for MASTER, followers for SLAVE, all with the generation id of the current term, so
//! a switch refuses a deposed leader's stale MASTER request (the spec compares generation ids
//! wrap-safe, as a signed difference; terms only grow) and, once another controller is
//! master, its writes. Switches connect to every node and start all of them EQUAL, sharing
//! packet-ins, until a role is set: a newly connected switch gets its role within one check.
//! P4Runtime (spec §5): each device task claims [`election_id`] of its node's standing (see
//! `driver::p4runtime`), so the leader's id is the highest any client ever sent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use prescient_southbound::openflow::session::OpenFlowHandle;
use prescient_southbound::openflow::wire::{ControllerRole, DatapathId};
use tokio_util::sync::CancellationToken;

use super::ClusterState;

/// How often connected switches are compared with the roles they were given (a leader
/// whose renew deadline passed is demoted at the next check).
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

/// Keeps every connected switch's role in step with the election until `stop`. A switch this
/// node became MASTER of is reconciled ([`super::takeover`]) `settle` later, once this
/// leader has learnt the topology and re-planned, unless it stopped leading meanwhile.
pub async fn run(
    cluster: Arc<ClusterState>,
    handle: OpenFlowHandle,
    settle: Duration,
    stop: CancellationToken,
) {
    let mut given: BTreeMap<DatapathId, (bool, u64)> = BTreeMap::new();
    let mut due: BTreeMap<DatapathId, (tokio::time::Instant, u64)> = BTreeMap::new();
    let mut changes = cluster.subscribe();
    let mut check = tokio::time::interval(CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            r = changes.changed() => if r.is_err() { return },
            _ = check.tick() => {}
        }
        let leading = cluster.is_leader();
        let term = cluster.term();
        let switches = handle.switches();
        given.retain(|d, _| switches.contains(d));
        due.retain(|d, (_, t)| switches.contains(d) && leading && *t == term);
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
        for dpid in switches {
            if given.get(&dpid) == Some(&(leading, term)) {
                continue;
            }
            let role = if leading {
                ControllerRole::Master
            } else {
                ControllerRole::Slave
            };
            match handle.role(dpid, role, generation_id(term)).await {
                Ok(granted) if granted.role == role => {
                    given.insert(dpid, (leading, term));
                    if leading {
                        due.insert(dpid, (tokio::time::Instant::now() + settle, term));
                    }
                }
                Ok(granted) => {
                    tracing::debug!(%dpid, "asked for {role:?}, granted {:?}", granted.role);
                }
                Err(e) => {
                    // A stale generation id (another leader already asked with a newer one)
                    // or a session going down: the next check asks again.
                    tracing::debug!(%dpid, "role {role:?} term {term} refused: {e}");
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
}
