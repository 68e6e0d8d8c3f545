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

/// The OpenFlow generation id of `term`: the term itself, which only grows from one leader to
/// the next (switches compare generation ids wrap-safe, §6.3.6, so even a wrap would order).
pub fn generation_id(term: u64) -> u64 {
    term
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
