//! Cluster mode with real processes: three `prescient run --etcd` nodes on a private etcd,
//! emulated OpenFlow switches connected to all three and emulated P4Runtime devices with all
//! three as clients (both served by this test). The leader is frozen with SIGSTOP past its
//! lease: another node takes every switch over (MASTER with a newer generation id, primary
//! with a higher election id) while the frozen one holds its sessions open; resumed with
//! SIGCONT, it finds itself deposed, rejoins as a follower (SLAVE, a backup's election id)
//! and there is never more than one leader acting. Then the leader is killed with SIGKILL:
//! the two others take every switch over.

mod agent_common;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use agent_common::Etcd;
use prescient_sim::openflow::{SimHandle, SimNetwork};
use prescient_sim::p4rt::P4SimNetwork;
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_southbound::openflow::wire::ControllerRole;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(40);

/// `n` distinct free loopback ports (all bound at once, so none is handed out twice, then
/// released for the nodes to bind).
fn free(n: usize) -> Vec<SocketAddr> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("its address"))
        .collect()
}

/// A node process, killed on drop (and resumed first, should it be stopped).
struct Node {
    child: Child,
    http: SocketAddr,
    openflow: SocketAddr,
    name: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        // The process may be gone already (killed by the scenario): nothing to resume then.
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .expect("kill(1)");
    assert!(status.success(), "kill -{sig} {}", child.id());
}

/// `GET /api/v1/cluster` of `node`, `None` when it does not answer within a second (frozen).
async fn view(node: SocketAddr) -> Option<Value> {
    let exchange = async {
        let mut c = tokio::net::TcpStream::connect(node).await.ok()?;
        c.write_all(b"GET /api/v1/cluster HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut reply = String::new();
        c.read_to_string(&mut reply).await.ok()?;
        serde_json::from_str(reply.split_once("\r\n\r\n")?.1).ok()
    };
    tokio::time::timeout(Duration::from_secs(1), exchange)
        .await
        .ok()
        .flatten()
}

/// Waits until every node in `asked` names the same leader among them; its index and term.
async fn leader(nodes: &[Node], asked: &[usize]) -> (usize, u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut named = BTreeSet::new();
        let mut term = 0;
        for i in asked {
            let v = view(nodes[*i].http).await;
            named.insert(
                v.as_ref()
                    .and_then(|v| v["leader"].as_str().map(str::to_string)),
            );
            term = v.as_ref().and_then(|v| v["term"].as_u64()).unwrap_or(0);
        }
        if let [Some(name)] = named.iter().collect::<Vec<_>>()[..] {
            if let Some(i) = asked.iter().find(|i| nodes[**i].name == *name) {
                return (*i, term);
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no agreed leader among {asked:?}: {named:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn masters(sim: &SimHandle) -> Vec<Vec<SocketAddr>> {
    sim.topology()
        .switches
        .iter()
        .map(|s| {
            sim.roles(s.dpid)
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, r)| *r == ControllerRole::Master)
                .map(|(a, _)| a)
                .collect()
        })
        .collect()
}

/// Every device's primary election id, when every device has one.
fn primaries(p4: &P4SimNetwork) -> Vec<Option<u128>> {
    p4.device_ids()
        .into_iter()
        .map(|d| {
            p4.clients(d)
                .into_iter()
                .find(|(_, primary)| *primary)
                .and_then(|(id, _)| id)
        })
        .collect()
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_leader_is_replaced_on_every_switch_and_rejoins_as_follower() {
    let etcd = Etcd::start(Ipv4Addr::LOCALHOST).await;
    let p4 = Arc::new(P4SimNetwork::linear(2).expect("two devices"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let p4_addr = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(prescient_sim::p4rt::serve_listener(
        listener,
        p4.clone(),
        stop.clone(),
    ));
    let dir = std::env::temp_dir().join(format!("prescient-cluster-procs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("nodes.toml");
    let devices: String = (1..=2)
        .map(|d| {
            format!(
                "[[p4runtime]]\naddress = \"{p4_addr}\"\ndevice_id = {d}\nports = [1, 2, 3]\n\n"
            )
        })
        .collect();
    std::fs::write(&config, devices).unwrap();
    let mut nodes = Vec::new();
    let ports = free(6);
    for i in 0..3 {
        let (http, openflow) = (ports[2 * i], ports[2 * i + 1]);
        let name = format!("p{i}");
        let child = Command::new(agent_common::BIN)
            .args(["run", "--config"])
            .arg(&config)
            .args([
                "--openflow",
                &openflow.to_string(),
                "--http",
                &http.to_string(),
            ])
            .args(["--etcd", &etcd.url, "--name", &name])
            .env("PRESCIENT_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("{name}.log"))).unwrap())
            .spawn()
            .expect("starting prescient run");
        nodes.push(Node {
            child,
            http,
            openflow,
            name,
        });
    }
    let topo = SimTopology::generate(TopologyKind::Ring(3)).unwrap();
    let sim = SimNetwork::build(topo, Default::default())
        .spawn_with_controllers(nodes.iter().map(|n| n.openflow).collect());

    let (old, term) = leader(&nodes, &[0, 1, 2]).await;
    let old_id = (1u128 << 64) | u128::from(term);
    let old_of = nodes[old].openflow;
    until("the leader MASTER and primary everywhere", || {
        masters(&sim).iter().all(|m| *m == [old_of])
            && primaries(&p4).iter().all(|p| *p == Some(old_id))
    })
    .await;

    // Frozen: its lease expires, another node leads and takes every switch over, while the
    // frozen process keeps its TCP sessions open.
    signal(&nodes[old].child, "STOP");
    let stat = format!("/proc/{}/stat", nodes[old].child.id());
    until("the leader process stopped", || {
        // The state follows the command name in parentheses: `T` is stopped.
        std::fs::read_to_string(&stat)
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('T')))
            .unwrap_or(false)
    })
    .await;
    assert!(
        view(nodes[old].http).await.is_none(),
        "a frozen node answers nothing"
    );
    let others: Vec<usize> = (0..3).filter(|i| *i != old).collect();
    let (next, next_term) = leader(&nodes, &others).await;
    assert!(next_term > term, "term {next_term} after {term}");
    let next_id = (1u128 << 64) | u128::from(next_term);
    let next_of = nodes[next].openflow;
    until("the new leader the only MASTER, primary everywhere", || {
        masters(&sim).iter().all(|m| *m == [next_of])
            && primaries(&p4).iter().all(|p| *p == Some(next_id))
    })
    .await;
    // The frozen node is still connected everywhere: as a SLAVE, and a backup.
    for s in &sim.topology().switches {
        let roles = sim.roles(s.dpid).unwrap();
        assert!(
            roles.contains(&(old_of, ControllerRole::Slave)),
            "{roles:?}"
        );
    }
    assert!(p4
        .clients(1)
        .iter()
        .any(|(id, p)| *id == Some(old_id) && !p));

    // Resumed: it finds it lost its lease and rejoins as a follower, lowering its election id.
    signal(&nodes[old].child, "CONT");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let v = view(nodes[old].http).await;
        let back = v.as_ref().is_some_and(|v| {
            v["leader"].as_str() == Some(nodes[next].name.as_str())
                && v["term"].as_u64() == Some(next_term)
        });
        if back {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not rejoined: {v:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    until("the resumed node a backup with a follower's id", || {
        p4.clients(1)
            .iter()
            .all(|(id, p)| id.is_some_and(|id| id < 1 << 64) != *p)
            && masters(&sim).iter().all(|m| *m == [next_of])
    })
    .await;
    let (still, still_term) = leader(&nodes, &[0, 1, 2]).await;
    assert_eq!((still, still_term), (next, next_term), "no split brain");
    for s in &sim.topology().switches {
        let roles = sim.roles(s.dpid).unwrap();
        assert_eq!(roles.len(), 3, "{roles:?}");
        assert_eq!(
            roles
                .iter()
                .filter(|(_, r)| *r == ControllerRole::Master)
                .count(),
            1,
            "{roles:?}"
        );
    }

    // kill -9 of the current leader: the two others (the once-frozen node among them) take
    // every switch over, and the dead one's sessions are gone from every switch.
    signal(&nodes[next].child, "KILL");
    let _ = nodes[next].child.wait();
    let rest: Vec<usize> = (0..3).filter(|i| *i != next).collect();
    let (last, last_term) = leader(&nodes, &rest).await;
    assert!(last_term > next_term, "term {last_term} after {next_term}");
    let last_id = (1u128 << 64) | u128::from(last_term);
    let last_of = nodes[last].openflow;
    until(
        "the last leader the only MASTER, primary everywhere, two clients each",
        || {
            masters(&sim).iter().all(|m| *m == [last_of])
                && primaries(&p4).iter().all(|p| *p == Some(last_id))
                && sim
                    .topology()
                    .switches
                    .iter()
                    .all(|s| sim.roles(s.dpid).is_ok_and(|r| r.len() == 2))
                && p4
                    .device_ids()
                    .into_iter()
                    .all(|d| p4.clients(d).len() == 2)
        },
    )
    .await;

    sim.shutdown().await;
    drop(nodes);
    stop.cancel();
    let _ = std::fs::remove_dir_all(&dir);
}
