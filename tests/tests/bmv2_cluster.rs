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

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use prescient::cluster::ClusterConfig;
use prescient::service::Service;
use prescient_southbound::p4runtime::pipeconf::names;
use prescient_southbound::p4runtime::{Mastership, P4RuntimeClient};
use prescient_tests::bmv2::{lab_toolchain, Lab, SwitchOptions};
use prescient_tests::etcd::Etcd;
use prescient_tests::wait_for;

/// Generous: BMv2 and three controllers share two loaded cores with other tests.
const WAIT: Duration = Duration::from_secs(60);

/// The leader every live node names, once that node says it leads: its index and term.
async fn agreed_leader(nodes: &[&Service]) -> (usize, u64) {
    wait_for("one leader all nodes agree on", WAIT, || {
        let named: BTreeSet<Option<String>> = nodes
            .iter()
            .map(|n| n.cluster().unwrap().status().current.map(|(m, _)| m.name))
            .collect();
        if named.len() != 1 {
            return None;
        }
        let name = named.into_iter().next()??;
        let i = nodes
            .iter()
            .position(|n| n.cluster().unwrap().me().name == name)?;
        let c = nodes[i].cluster().unwrap();
        c.is_leader().then(|| (i, c.term()))
    })
    .await
    .unwrap()
}

/// The primary's election id as a backup client of the switch hears it.
fn primary_seen(observer: &P4RuntimeClient) -> Option<u128> {
    match observer.mastership() {
        Mastership::Backup { primary } => primary,
        _ => None,
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
    let (leader, term) = agreed_leader(&refs).await;
    drop(refs);
    let leader_id = (1u128 << 64) | u128::from(term);
    lab.wait_for_ping(h1, h2, WAIT).await.unwrap();
    let mut observers = Vec::new();
    for sw in &s {
        observers.push(lab.observer(*sw).await.unwrap());
    }
    for o in &observers {
        assert_eq!(primary_seen(o), Some(leader_id), "{:?}", o.mastership());
    }
    let mut before = Vec::new();
    for o in observers.iter_mut() {
        let r = routes(o).await;
        assert_eq!(r.len(), 2, "a route per host: {r:?}");
        before.push(r);
    }

    nodes[leader].take().unwrap().crash().await;
    let refs: Vec<&Service> = nodes.iter().flatten().collect();
    let (_, next_term) = agreed_leader(&refs).await;
    drop(refs);
    assert!(next_term > term);
    let next_id = (1u128 << 64) | u128::from(next_term);
    wait_for("the new leader primary on both switches", WAIT, || {
        observers
            .iter()
            .all(|o| primary_seen(o) == Some(next_id))
            .then_some(())
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {:?}",
            observers.iter().map(|o| o.mastership()).collect::<Vec<_>>()
        )
    });
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
