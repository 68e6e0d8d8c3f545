//! Switch mastership follows the election (OpenFlow 1.3.5 §6.3.6): the leader asks every
//! switch for MASTER, followers for SLAVE, all with the generation id of the current term, so
//! a switch refuses a deposed leader's stale MASTER request (the spec compares generation ids
//! wrap-safe, as a signed difference; terms only grow) and, once another controller is
//! master, its writes. Switches connect to every node and start all of them EQUAL, sharing
//! packet-ins, until a role is set: a newly connected switch gets its role within one check.

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

/// The OpenFlow generation id of `term`.
pub fn generation_id(term: u64) -> u64 {
    term
}

/// Whether generation id `a` is newer than `b`, wrap-safe (§6.3.6: `(int64)(a - b) > 0`).
pub fn newer(a: u64, b: u64) -> bool {
    (a.wrapping_sub(b) as i64) > 0
}

/// The P4Runtime election id of a node: the leader's is its term shifted above every
/// follower's, so it is higher than any election id any earlier leader or any follower used;
/// a follower's is unique among live nodes (its own candidate revision) and lower.
pub fn election_id(leading: bool, term: u64, own_revision: u64) -> u128 {
    if leading {
        (u128::from(term) << 64) | u128::from(u64::MAX)
    } else {
        (u128::from(term) << 64) | u128::from(own_revision & 0x7fff_ffff_ffff_ffff)
    }
}

/// Keeps every connected switch's role in step with the election until `stop`.
pub async fn run(cluster: Arc<ClusterState>, handle: OpenFlowHandle, stop: CancellationToken) {
    let mut given: BTreeMap<DatapathId, (bool, u64)> = BTreeMap::new();
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
    fn generation_ids_compare_across_the_wrap() {
        assert!(newer(5, 3));
        assert!(!newer(3, 5));
        assert!(!newer(7, 7));
        assert!(newer(2, u64::MAX - 1), "2 follows 2^64-2 after the wrap");
        assert!(!newer(u64::MAX - 1, 2));
    }

    #[test]
    fn a_leaders_election_id_is_above_every_follower_and_every_earlier_leader() {
        let leader = election_id(true, 40, 40);
        for rev in [41, 99, u64::MAX] {
            assert!(election_id(false, 40, rev) < leader);
        }
        assert!(election_id(true, 39, 39) < leader);
        assert!(election_id(true, 41, 41) > leader);
        assert_ne!(election_id(false, 40, 41), election_id(false, 40, 42));
    }
}
