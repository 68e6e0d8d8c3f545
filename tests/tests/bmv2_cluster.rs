//! A cluster on real BMv2 `simple_switch_grpc` switches: three controllers (a real etcd) are
//! clients of both switches of a line with a Linux host at each end. The leader is primary
//! with the election id of its term (2^64 + term), the others connect as backups; hosts ping
//! over the leader's routes. The leader crashes: the next one claims a higher id, becomes
//! primary on every switch, and the hosts keep pinging after it has reconciled (its deletions
//! wait a link timeout, and the quiet hosts' routes stay: it takes them from what it reads
//! back); each switch holds each host's route once.
//!
//! Needs root and the P4 toolchain (scripts/setup installs it from ../shared/p4); without them
//! the test says loudly that it skipped.

#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::time::Duration;

use prescient::cluster::ClusterConfig;
use prescient::service::Service;
use prescient_southbound::p4runtime::pipeconf::names;
use prescient_southbound::p4runtime::{Mastership, P4RuntimeClient};
use prescient_tests::bmv2::{lab_toolchain, Lab, SwitchOptions};
use prescient_tests::controller::agreed_leader;
use prescient_tests::etcd::Etcd;

/// Generous: BMv2 and three controllers share two loaded cores with other tests.
const WAIT: Duration = Duration::from_secs(60);

/// The primary's election id as a backup client of the switch hears it.
fn primary_seen(observer: &P4RuntimeClient) -> Option<u128> {
    match observer.mastership() {
        Mastership::Backup { primary } => primary,
        _ => None,
    }
}

/// The primary's election id as the switch tells a backup now: the observer opens a new
/// stream and reads the answer to its arbitration. BMv2 announces a change of primary to every
/// client, but not a primary raising its own id (a new leader that was already primary with
/// its follower id), and answers nothing to an arbitration repeated on the same stream, so the
/// last announcement alone can name the old id.
async fn primary_now(observer: &mut P4RuntimeClient) -> Option<u128> {
    // A failed reconnect leaves the view as it was: the caller asks again.
    let _ = observer.reconnect().await;
    primary_seen(observer)
}

/// Waits until the switch of every observer names `id` as its primary.
async fn wait_for_primary(observers: &mut [P4RuntimeClient], id: u128, what: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let mut seen = Vec::new();
        for o in observers.iter_mut() {
            seen.push(primary_now(o).await);
        }
        if seen.iter().all(|p| *p == Some(id)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {WAIT:?}; the switches name {seen:?} (want {id})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each host's /32 route on the switch, counted.
async fn routes(observer: &mut P4RuntimeClient) -> Vec<String> {
    let mut out: Vec<String> = observer
        .read_table(names::IPV4_LPM, false)
        .await
        .unwrap_or_default()
        .iter()
        .map(|e| format!("{:?}", e.r#match))
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bmv2_switches_follow_the_cluster_leader_and_keep_forwarding_through_a_failover() {
    let test = "bmv2_switches_follow_the_cluster_leader_and_keep_forwarding_through_a_failover";
    let Some(toolchain) = lab_toolchain(test) else {
        return;
    };
    let mut lab = Lab::new(toolchain, "clus2").unwrap();
    let s: Vec<_> = (0..2)
        .map(|_| lab.switch(SwitchOptions::default()).unwrap())
        .collect();
    let h1 = lab.host(s[0], Ipv4Addr::new(10, 0, 0, 1)).unwrap();
    let h2 = lab.host(s[1], Ipv4Addr::new(10, 0, 0, 2)).unwrap();
    lab.link(s[0], s[1]).unwrap();
    lab.start().await.unwrap();
    let etcd = Etcd::start("bmv2").await.unwrap();
    let mut nodes = Vec::new();
    for name in ["ba", "bb", "bc"] {
        let mut config = lab.controller_config();
        config.core.control_interval = Duration::from_millis(500);
        config.cluster = Some(ClusterConfig::new(vec![etcd.url()], name));
        nodes.push(Some(Service::start(config).await.unwrap()));
    }
    let refs: Vec<&Service> = nodes.iter().flatten().collect();
    let (leader, term) = agreed_leader(&refs, WAIT).await;
    drop(refs);
    let leader_id = (1u128 << 64) | u128::from(term);
    lab.wait_for_ping(h1, h2, WAIT).await.unwrap();
    let mut observers = Vec::new();
    for sw in &s {
        observers.push(lab.observer(*sw).await.unwrap());
    }
    wait_for_primary(
        &mut observers,
        leader_id,
        "the leader primary on both switches",
    )
    .await;
    let mut before = Vec::new();
    for o in observers.iter_mut() {
        let r = routes(o).await;
        assert_eq!(r.len(), 2, "a route per host: {r:?}");
        before.push(r);
    }

    nodes[leader].take().unwrap().crash().await;
    let refs: Vec<&Service> = nodes.iter().flatten().collect();
    let (_, next_term) = agreed_leader(&refs, WAIT).await;
    drop(refs);
    assert!(next_term > term);
    let next_id = (1u128 << 64) | u128::from(next_term);
    wait_for_primary(
        &mut observers,
        next_id,
        "the new leader primary on both switches",
    )
    .await;
    assert!(
        lab.ping(h1, h2).await,
        "forwarding right after the takeover"
    );
    // Past the new leader's settle time (a link timeout): nothing it wants was deleted.
    tokio::time::sleep(lab.controller_config().core.topology.discovery.link_timeout * 2).await;
    assert!(
        lab.ping(h1, h2).await,
        "forwarding after the reconciliation"
    );
    assert!(lab.ping(h2, h1).await, "and back");
    for (o, b) in observers.iter_mut().zip(&before) {
        assert_eq!(&routes(o).await, b, "each host's route, once");
    }
    for n in nodes.into_iter().flatten() {
        n.shutdown().await;
    }
}
