//! Cluster mode on a real etcd (started by each test on loopback ports of its own, in a temp
//! directory, killed afterwards): three controllers elect one leader; writes to a follower are
//! redirected to it; a leader that crashes mid-stream of writes is replaced and no
//! acknowledged write is lost (nor is any refused one present); a follower cut off from etcd
//! through a compaction resyncs without keeping deleted records; etcd gone makes writes 503
//! `store_unavailable` while reads keep answering, and the node recovers; an unreachable etcd
//! at start is an error naming the endpoint; an Open vSwitch bridge with the three nodes as
//! controller targets has the leader as its one master, and when the leader crashes during a
//! stream of writes, the next one masters it and reconciles what the dead one left on it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use prescient::cluster::ClusterConfig;
use prescient::northbound::ApiConfig;
use prescient::service::{Service, ServiceConfig};
use prescient_southbound::openflow::session::Command;
use prescient_southbound::openflow::wire::{
    DatapathId, FlowMod, FlowModCommand, Match, OxmField, PortNo, TableId,
};
use prescient_tests::etcd::{Etcd, Proxy};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "cluster";
const WAIT: Duration = Duration::from_secs(30);
/// How a request that never reached a node fails (safe to send again).
const REFUSED: &str = "not connected";

fn config(endpoint: &str, name: &str) -> ServiceConfig {
    let mut config = ServiceConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        Some("127.0.0.1:0".parse().unwrap()),
    );
    config.api = ApiConfig {
        token: Some(TOKEN.to_string()),
        protect_reads: false,
    };
    config.cluster = Some(ClusterConfig::new(vec![endpoint.to_string()], name));
    config
}

/// One HTTP exchange: status, `Location`, body. `Err` when the node does not answer.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Option<String>, Value), String> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: prescient\r\nConnection: close\r\n\
         Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut conn = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("{REFUSED}: {e}"))?;
    let exchange = async {
        conn.write_all(request.as_bytes()).await?;
        let mut reply = String::new();
        conn.read_to_string(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    let reply = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "no answer in 10 s".to_string())?
        .map_err(|e| e.to_string())?;
    let status: u16 = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {reply:?}"))?;
    let (head, json) = reply.split_once("\r\n\r\n").unwrap_or_default();
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .map(str::to_string);
    Ok((
        status,
        location,
        serde_json::from_str(json).unwrap_or(Value::Null),
    ))
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

async fn cluster_view(addr: SocketAddr) -> Option<Value> {
    match http(addr, "GET", "/api/v1/cluster", None).await {
        Ok((_, _, v)) => Some(v),
        Err(e) => {
            eprintln!("GET /api/v1/cluster on {addr}: {e}");
            None
        }
    }
}

/// Waits until every node in `nodes` names the same leader; returns its index and term.
async fn agreed_leader(nodes: &[&Service]) -> (usize, u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut views = Vec::new();
        for n in nodes {
            views.push(cluster_view(n.http_addr().unwrap()).await);
        }
        let leaders: BTreeSet<String> = views
            .iter()
            .map(|v| {
                v.as_ref()
                    .map(|v| v["leader"].to_string())
                    .unwrap_or_default()
            })
            .collect();
        if leaders.len() == 1 && views[0].is_some() {
            let name = views[0].as_ref().unwrap()["leader"]
                .as_str()
                .map(str::to_string);
            if let Some(name) = name {
                // Until its lease expires, a crashed leader is still named.
                let idx = nodes
                    .iter()
                    .position(|n| n.cluster().unwrap().me().name == name);
                if let Some(idx) = idx.filter(|i| nodes[*i].cluster().unwrap().is_leader()) {
                    let term = views[0].as_ref().unwrap()["term"].as_u64().unwrap();
                    return (idx, term);
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no agreed leader in {WAIT:?}: {views:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn service_body(name: &str, i: usize) -> Value {
    json!({
        "name": name,
        "tenant": "red",
        "vip": format!("192.0.2.{}", 1 + i % 250),
        "pool": format!("10.{}.{}.0/29", 1 + i / 250, i % 250),
        "instance_capacity_bps": 100_000_000u64,
        "max_instances": 4,
        "backends": [{"ip": format!("10.{}.{}.1", 1 + i / 250, i % 250), "mac": "00:00:00:00:01:01"}]
    })
}

/// What a client saw of one write.
#[derive(Debug, Default)]
struct Outcomes {
    acked: Vec<String>,
    refused: Vec<String>,
    unanswered: Vec<String>,
}

/// Creates service `name` through `entry`, following redirects; a request that reached no
/// node (the leader named in a redirect has just crashed) is sent again, as a client would.
async fn create(entry: SocketAddr, name: &str, i: usize, out: &mut Outcomes) {
    let body = service_body(name, i);
    let mut target = entry;
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        match http(target, "POST", "/api/v1/services", Some(&body)).await {
            Ok((307, Some(loc), _)) => target = addr_of(&loc),
            Ok((s, _, _)) if (200..300).contains(&s) => return out.acked.push(name.into()),
            Ok((s, _, v)) => {
                assert!(s == 503, "{name}: unexpected {s}: {v}");
                return out.refused.push(name.into());
            }
            Err(e) if e.starts_with(REFUSED) => {
                target = entry;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => return out.unanswered.push(name.into()),
        }
    }
    out.unanswered.push(name.into());
}

async fn names(addr: SocketAddr) -> BTreeSet<String> {
    let (status, _, v) = http(addr, "GET", "/api/v1/services", None).await.unwrap();
    assert_eq!(status, 200, "{v}");
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// The address records of tenant `red` the leader published, as `owner@physical`.
async fn etcd_addresses(etcd: &Etcd) -> BTreeSet<String> {
    let mut c = etcd.client().await.unwrap();
    let r = c
        .get(
            "/prescient/v1/address/red/",
            Some(etcd_client::GetOptions::new().with_prefix()),
        )
        .await
        .unwrap();
    r.kvs()
        .iter()
        .map(|k| {
            let v: Value = serde_json::from_slice(k.value()).unwrap();
            assert_eq!(v["tenant"], "red", "{v}");
            format!(
                "{}@{}",
                v["owner"].as_str().unwrap(),
                v["physical"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashed_leader_is_replaced_and_no_acknowledged_write_is_lost() {
    let etcd = Etcd::start("failover").await.unwrap();
    let mut nodes = Vec::new();
    for name in ["a", "b", "c"] {
        nodes.push(Some(
            Service::start(config(&etcd.url(), name)).await.unwrap(),
        ));
    }
    let live = |nodes: &Vec<Option<Service>>| -> Vec<usize> {
        (0..nodes.len()).filter(|i| nodes[*i].is_some()).collect()
    };
    let refs: Vec<&Service> = nodes.iter().flatten().collect();
    let (leader, term) = agreed_leader(&refs).await;
    assert!(term > 0);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let view = cluster_view(refs[0].http_addr().unwrap()).await.unwrap();
        let members = view["members"].as_array().unwrap();
        if members.len() == 3 && members.iter().all(|m| m["healthy"] == true) {
            let roles: Vec<&str> = members
                .iter()
                .map(|m| m["role"].as_str().unwrap())
                .collect();
            assert_eq!(
                roles.iter().filter(|r| **r == "leader").count(),
                1,
                "{view}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "members never all healthy: {view}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A write to a follower is redirected to the leader's API.
    let follower = (leader + 1) % 3;
    let (status, location, _) = http(
        refs[follower].http_addr().unwrap(),
        "POST",
        "/api/v1/services",
        Some(&service_body("probe", 999)),
    )
    .await
    .unwrap();
    assert_eq!(status, 307);
    assert_eq!(
        location.as_deref().map(addr_of),
        Some(refs[leader].http_addr().unwrap()),
        "the Location is the leader's API"
    );
    let metrics = reqwest_free_get(refs[leader].http_addr().unwrap(), "/metrics").await;
    assert!(
        metrics.contains("prescient_cluster_leader{node=\""),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("prescient_cluster_term {term}")),
        "{metrics}"
    );
    drop(refs);

    // A stream of writes through every node in turn; the leader crashes in the middle.
    let mut out = Outcomes::default();
    let mut crashed = None;
    for i in 0..60 {
        let alive = live(&nodes);
        let entry = nodes[alive[i % alive.len()]]
            .as_ref()
            .unwrap()
            .http_addr()
            .unwrap();
        create(entry, &format!("s{i}"), i, &mut out).await;
        if i == 20 {
            crashed = Some(leader);
            nodes[leader].take().unwrap().crash().await;
        }
    }
    let crashed = crashed.unwrap();
    let refs: Vec<&Service> = nodes.iter().flatten().collect();
    let (new_leader, new_term) = agreed_leader(&refs).await;
    assert!(new_term > term, "term {new_term} after {term}");
    assert_ne!(
        refs[new_leader].cluster().unwrap().me().name,
        ["a", "b", "c"][crashed]
    );
    assert!(out.acked.len() >= 40, "{out:?}");

    // Every acknowledged write is in etcd and on every node; no refused one is anywhere.
    let stored = etcd.service_names().await.unwrap();
    for n in &refs {
        let addr = n.http_addr().unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let seen = names(addr).await;
            if seen == stored {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {} holds {seen:?}, etcd {stored:?}",
                n.cluster().unwrap().me().name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for name in &out.acked {
        assert!(
            stored.contains(name),
            "acknowledged {name} is lost: {out:?}"
        );
    }
    for name in &out.refused {
        assert!(!stored.contains(name), "refused {name} is present: {out:?}");
    }
    let view = cluster_view(refs[0].http_addr().unwrap()).await.unwrap();
    let gone = view["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == ["a", "b", "c"][crashed])
        .cloned()
        .unwrap();
    assert_eq!(gone["healthy"], false, "{view}");
    for n in nodes.into_iter().flatten() {
        n.shutdown().await;
    }
}

async fn reqwest_free_get(addr: SocketAddr, path: &str) -> String {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut s = String::new();
    conn.read_to_string(&mut s).await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_cut_off_through_a_compaction_resyncs_without_stale_records() {
    let etcd = Etcd::start("compaction").await.unwrap();
    let leader = Service::start(config(&etcd.url(), "lead")).await.unwrap();
    agreed_leader(&[&leader]).await;
    let proxy = Proxy::start(etcd.addr()).await.unwrap();
    let follower = Service::start(config(&proxy.url(), "follow"))
        .await
        .unwrap();
    let (l, _) = agreed_leader(&[&leader, &follower]).await;
    assert_eq!(l, 0, "the first node keeps leading");
    let lapi = leader.http_addr().unwrap();
    let fapi = follower.http_addr().unwrap();
    let mut out = Outcomes::default();
    for i in 0..6 {
        create(lapi, &format!("k{i}"), i, &mut out).await;
    }
    assert_eq!(out.acked.len(), 6, "{out:?}");
    let want: BTreeSet<String> = out.acked.iter().cloned().collect();
    let deadline = tokio::time::Instant::now() + WAIT;
    while names(fapi).await != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "follower never caught up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let relists = follower.replica().unwrap().relists();

    // Cut off: records deleted and added meanwhile, then the history compacted away.
    proxy.cut();
    for name in ["k0", "k1", "k2"] {
        let (s, _, v) = http(lapi, "DELETE", &format!("/api/v1/services/{name}"), None)
            .await
            .unwrap();
        assert_eq!(s, 200, "{v}");
    }
    let mut later = Outcomes::default();
    create(lapi, "k9", 9, &mut later).await;
    assert_eq!(later.acked, vec!["k9".to_string()]);
    let mut c = etcd.client().await.unwrap();
    let rev = c.get("/", None).await.unwrap().header().unwrap().revision();
    c.compact(
        rev,
        Some(etcd_client::CompactionOptions::new().with_physical()),
    )
    .await
    .unwrap();
    // Reads keep answering from the follower's copy meanwhile.
    assert_eq!(names(fapi).await, want);

    proxy.mend();
    let expected: BTreeSet<String> = ["k3", "k4", "k5", "k9"].map(String::from).into();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let seen = names(fapi).await;
        if seen == expected {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "follower holds {seen:?} after the resync, want {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        follower.replica().unwrap().relists() > relists,
        "it re-listed"
    );
    assert_eq!(etcd.service_names().await.unwrap(), expected);
    // The address records host agents watch follow the services: one per instance.
    let addresses = etcd_addresses(&etcd).await;
    let owners: BTreeSet<String> = addresses
        .iter()
        .map(|a| a.split('@').next().unwrap().to_string())
        .collect();
    assert_eq!(owners, expected, "{addresses:?}");
    assert!(addresses.contains("k9@10.1.9.1"), "{addresses:?}");
    follower.shutdown().await;
    leader.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn etcd_gone_makes_writes_503_while_reads_answer_and_the_node_recovers() {
    let mut etcd = Etcd::start("gone").await.unwrap();
    let node = Service::start(config(&etcd.url(), "solo")).await.unwrap();
    agreed_leader(&[&node]).await;
    let api = node.http_addr().unwrap();
    let mut out = Outcomes::default();
    create(api, "before", 1, &mut out).await;
    assert_eq!(out.acked, vec!["before".to_string()]);

    etcd.kill();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut tries = 0;
    let (refused, body) = loop {
        tries += 1;
        let name = format!("during{tries}");
        let (s, _, v) = http(
            api,
            "POST",
            "/api/v1/services",
            Some(&service_body(&name, 1 + tries)),
        )
        .await
        .unwrap();
        if s == 503 {
            break (name, v);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {s} after {WAIT:?}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    assert!(
        names(api).await.contains("before"),
        "reads answer from memory"
    );

    etcd.restart().await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (s, _, v) = http(
            api,
            "POST",
            "/api/v1/services",
            Some(&service_body("after", 200)),
        )
        .await
        .unwrap();
        if s == 201 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no recovery: {s} {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stored = etcd.service_names().await.unwrap();
    assert!(
        stored.contains("before") && stored.contains("after"),
        "{stored:?}"
    );
    assert!(
        !stored.contains(&refused),
        "the refused write is absent: {stored:?}"
    );
    assert!(!names(api).await.contains(&refused), "and undone in memory");
    node.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_etcd_at_start_is_an_error_naming_it() {
    let port = prescient_tests::etcd::free_port().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let mut c = config(&url, "lonely");
    c.cluster.as_mut().unwrap().timeout = Duration::from_millis(500);
    let err = match Service::start(c).await {
        Ok(_) => panic!("started without etcd"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&url), "{err}");
    assert!(err.contains("etcd"), "{err}");
}

/// `ovs-vsctl list controller` as (target, role) pairs.
fn ovs_roles(ovs: &prescient_tests::ovs::Ovs) -> Vec<(String, String)> {
    let out = ovs
        .vsctl(&[
            "-f",
            "csv",
            "--no-headings",
            "--columns=target,role",
            "list",
            "controller",
        ])
        .unwrap_or_default();
    out.lines()
        .filter_map(|l| {
            let (t, r) = l.split_once(',')?;
            Some((t.trim_matches('"').to_string(), r.trim().to_string()))
        })
        .collect()
}

/// The bridge's flow entries, one line each (`ovs-ofctl dump-flows`).
fn ovs_flows(ovs: &prescient_tests::ovs::Ovs) -> Vec<String> {
    ovs.ofctl(&["-O", "OpenFlow13", "dump-flows", "clus3"])
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("priority="))
        .map(str::to_string)
        .collect()
}

/// Whether a dumped entry is the table-miss entry (priority 0, no match, to the controller).
fn is_table_miss(flow: &str) -> bool {
    flow.contains(" priority=0 ") && flow.contains("CONTROLLER")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ovs_bridge_with_three_controllers_follows_the_leader() {
    if !prescient_tests::root_tests_enabled(
        "an_ovs_bridge_with_three_controllers_follows_the_leader",
    ) {
        return;
    }
    let etcd = Etcd::start("ovs").await.unwrap();
    let mut nodes = Vec::new();
    for name in ["oa", "ob", "oc"] {
        nodes.push(Some(
            Service::start(config(&etcd.url(), name)).await.unwrap(),
        ));
    }
    let target = |s: &Service| format!("tcp:{}", s.openflow_addr());
    let targets: Vec<String> = nodes.iter().flatten().map(target).collect();
    let mut ovs = prescient_tests::ovs::Ovs::start("cluster3").expect("starting Open vSwitch");
    ovs.add_bridge("clus3", 0x3c, &targets[0]).unwrap();
    let mut args = vec!["set-controller", "clus3"];
    args.extend(targets.iter().map(String::as_str));
    ovs.vsctl(&args).unwrap();

    let refs: Vec<&Service> = nodes.iter().flatten().collect();
    let (leader, term) = agreed_leader(&refs).await;
    let master = target(refs[leader]);
    drop(refs);
    // Exactly the leader is master on the switch; the others are slaves.
    prescient_tests::wait_for("the leader to be the only master", WAIT, || {
        let roles = ovs_roles(&ovs);
        let ok = roles.len() == targets.len()
            && roles
                .iter()
                .all(|(t, r)| r == if *t == master { "master" } else { "slave" });
        ok.then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", ovs_roles(&ovs)));

    // What a leader dying mid-way may leave on the bridge: a permanent entry nobody wants,
    // and the table-miss entry gone.
    let dying = nodes[leader].as_ref().unwrap().openflow();
    let dpid = DatapathId(0x3c);
    let stale = FlowMod::add(
        TableId(0),
        777,
        Match::new().with(OxmField::InPort(PortNo(9))),
        vec![],
    );
    dying.send(dpid, Command::FlowMod(stale)).await.unwrap();
    let mut miss = FlowMod::delete(TableId(0), Match::new());
    miss.command = FlowModCommand::DeleteStrict;
    dying.send(dpid, Command::FlowMod(miss)).await.unwrap();
    dying.barrier(dpid).await.unwrap();
    let flows = ovs_flows(&ovs);
    assert!(
        flows.iter().any(|f| f.contains("priority=777")),
        "{flows:?}"
    );
    assert!(!flows.iter().any(|f| is_table_miss(f)), "{flows:?}");

    // The leader crashes during a stream of writes.
    let mut out = Outcomes::default();
    for i in 0..10 {
        let alive: Vec<&Service> = nodes.iter().flatten().collect();
        let entry = alive[i % alive.len()].http_addr().unwrap();
        create(entry, &format!("o{i}"), i, &mut out).await;
        if i == 3 {
            nodes[leader].take().unwrap().crash().await;
        }
    }
    let refs: Vec<&Service> = nodes.iter().flatten().collect();
    let (next, next_term) = agreed_leader(&refs).await;
    assert!(next_term > term);
    let next_master = target(refs[next]);
    drop(refs);
    let roles = prescient_tests::wait_for("the new leader to be master", WAIT, || {
        let roles = ovs_roles(&ovs);
        let ok = roles
            .iter()
            .any(|(t, r)| *t == next_master && r == "master")
            && roles
                .iter()
                .filter(|(t, _)| *t != next_master && *t != master)
                .all(|(_, r)| r == "slave");
        ok.then_some(roles)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", ovs_roles(&ovs)));
    assert_eq!(
        roles.iter().filter(|(_, r)| r == "master").count(),
        1,
        "one master: {roles:?}"
    );
    // The new leader reconciles the bridge: the stale entry goes, the table-miss comes back.
    prescient_tests::wait_for("the bridge reconciled by the new leader", WAIT, || {
        let flows = ovs_flows(&ovs);
        let ok = !flows.iter().any(|f| f.contains("priority=777"))
            && flows.iter().filter(|f| is_table_miss(f)).count() == 1;
        ok.then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", ovs_flows(&ovs)));
    let stored = etcd.service_names().await.unwrap();
    assert!(out.acked.len() >= 6, "{out:?}");
    for name in &out.acked {
        assert!(
            stored.contains(name),
            "acknowledged {name} is lost: {out:?}"
        );
    }
    for name in &out.refused {
        assert!(!stored.contains(name), "refused {name} is present: {out:?}");
    }
    for n in nodes.into_iter().flatten() {
        n.shutdown().await;
    }
}
