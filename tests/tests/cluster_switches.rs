//! Switches under a cluster (a real etcd on loopback, three controllers in this process):
//! emulated OpenFlow switches connected to all three follow the election (the leader MASTER,
//! the others SLAVE, on every switch); emulated P4Runtime devices have all three as clients,
//! the leader primary with the election id of its term and the others backups with lower
//! ids. The leader crashes during a stream of REST writes; the next leader takes every switch
//! over with a higher generation / election id and reconciles the P4 tables it finds: an
//! entry the dead leader left that nobody wants is deleted, a route it never wrote is added,
//! and no acknowledged record is lost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use prescient::cluster::ClusterConfig;
use prescient::driver::p4runtime::{prescient_p4info, P4Target};
use prescient::service::Service;
use prescient_sim::openflow::SimNetwork;
use prescient_sim::p4rt::P4SimNetwork;
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_sim::traffic::TrafficConfig;
use prescient_southbound::openflow::session::Command;
use prescient_southbound::openflow::wire::{
    ControllerRole, DatapathId, FlowMod, FlowModCommand, Match, OxmField, PortNo, TableId,
};
use prescient_southbound::p4runtime::pipeconf::names;
use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use prescient_tests::controller::agreed_leader;
use prescient_tests::etcd::{Etcd, Proxy};
use prescient_tests::p4sim::{arp, read_table, routes, serve};
use prescient_tests::wait_for;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(40);
const TOKEN: &str = "switches";
const H1: [u8; 6] = [2, 0, 0, 0, 0, 1];
const H3: [u8; 6] = [2, 0, 0, 0, 0, 3];
const IP1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const IP3: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const STALE: Ipv4Addr = Ipv4Addr::new(10, 9, 9, 9);
/// The priority of the OpenFlow entry a dying leader leaves behind.
const STALE_PRIORITY: u16 = 777;

/// Every OpenFlow switch has exactly `master` as MASTER and every other connected node as
/// SLAVE.
fn of_roles_follow(sim: &prescient_sim::openflow::SimHandle, master: SocketAddr, n: usize) -> bool {
    sim.topology().switches.iter().all(|s| {
        let roles = sim.roles(s.dpid).unwrap_or_default();
        roles.len() == n
            && roles.iter().all(|(addr, role)| {
                *role
                    == if *addr == master {
                        ControllerRole::Master
                    } else {
                        ControllerRole::Slave
                    }
            })
    })
}

/// Every P4 device has `n` clients, the primary holding `primary`, the others lower ids.
fn p4_primary_is(network: &P4SimNetwork, primary: u128, n: usize) -> bool {
    network.device_ids().into_iter().all(|d| {
        let clients = network.clients(d);
        clients.len() == n
            && clients
                .iter()
                .all(|(id, is_primary)| (*is_primary) == (*id == Some(primary)))
            && clients
                .iter()
                .all(|(id, _)| id.is_some_and(|id| id <= primary))
    })
}

fn route_entry(network: &P4SimNetwork, device: u64, dst: Ipv4Addr) -> p4::TableEntry {
    read_table(network, device, names::IPV4_LPM)
        .into_iter()
        .find(|t| prescient_tests::p4sim::ipv4(prescient_tests::p4sim::exact(&t.r#match[0])) == dst)
        .expect("the route")
}

/// Writes to `device` as the client holding `election_id` would.
fn write(
    network: &P4SimNetwork,
    device: u64,
    election_id: u128,
    op: p4::update::Type,
    t: p4::TableEntry,
) {
    let req = p4::WriteRequest {
        device_id: device,
        election_id: Some(p4::Uint128 {
            high: (election_id >> 64) as u64,
            low: election_id as u64,
        }),
        updates: vec![p4::Update {
            r#type: op as i32,
            entity: Some(p4::Entity {
                entity: Some(p4::entity::Entity::TableEntry(t)),
            }),
        }],
        ..Default::default()
    };
    network.write(&req).unwrap().unwrap();
}

/// POST through `entry`, following redirects; `Some(true)` acknowledged, `Some(false)`
/// refused, `None` no node answered in time.
async fn create_service(entry: SocketAddr, i: usize) -> Option<bool> {
    let body = json!({
        "name": format!("s{i}"),
        "tenant": "red",
        "vip": format!("192.0.2.{}", 1 + i),
        "pool": format!("10.1.{i}.0/29"),
        "instance_capacity_bps": 100_000_000u64,
        "max_instances": 4,
        "backends": [{"ip": format!("10.1.{i}.1"), "mac": "00:00:00:00:01:01"}]
    })
    .to_string();
    let mut target = entry;
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        let request = format!(
            "POST /api/v1/services HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\
             Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let Ok(mut conn) = tokio::net::TcpStream::connect(target).await else {
            // The leader a redirect named has just crashed: start over.
            target = entry;
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut reply = String::new();
        let exchange = async {
            conn.write_all(request.as_bytes()).await?;
            conn.read_to_string(&mut reply).await
        };
        if tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .is_err()
        {
            return None;
        }
        let status: u16 = reply.split_whitespace().nth(1)?.parse().ok()?;
        match status {
            307 => {
                let loc = reply.lines().find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("location: ")
                        .map(str::to_string)
                })?;
                target = loc
                    .trim()
                    .trim_start_matches("http://")
                    .split('/')
                    .next()?
                    .parse()
                    .ok()?;
            }
            s if (200..300).contains(&s) => return Some(true),
            503 => return Some(false),
            s => panic!("service s{i}: unexpected {s}: {reply}"),
        }
    }
    None
}

/// Three P4Runtime devices (s1 - s2 - s3, hosts on port 3 of s1 and s3) served here, three
/// cluster nodes, and a ring of three emulated OpenFlow switches connected to all of them.
struct Lab {
    network: Arc<P4SimNetwork>,
    stop_p4: tokio_util::sync::CancellationToken,
    p4_server: tokio::task::JoinHandle<()>,
    nodes: Vec<Option<Service>>,
    sim: prescient_sim::openflow::SimHandle,
}

/// Starts a [`Lab`] whose nodes are named and reach etcd as `nodes` says.
async fn lab(nodes: [(&str, String); 3]) -> Lab {
    let network = Arc::new(P4SimNetwork::linear(3).unwrap());
    let (p4_addr, stop_p4, p4_server) = serve(network.clone()).await;
    let p4info = prescient_p4info().unwrap();
    let mut started = Vec::new();
    for (name, etcd) in nodes {
        let mut config = prescient_tests::controller::config(
            "127.0.0.1:0".parse().unwrap(),
            Some("127.0.0.1:0".parse().unwrap()),
        );
        config.api.token = Some(TOKEN.to_string());
        config.cluster = Some(ClusterConfig::new(vec![etcd], name));
        config.p4 = (1..=3)
            .map(|d| P4Target {
                stats_interval: Duration::from_millis(500),
                ..P4Target::running_prescient(p4_addr.clone(), d, vec![1, 2, 3], p4info.clone())
            })
            .collect();
        started.push(Some(Service::start(config).await.unwrap()));
    }
    let openflow: Vec<SocketAddr> = started
        .iter()
        .flatten()
        .map(|n| n.openflow_addr())
        .collect();
    let topo = SimTopology::generate(TopologyKind::Ring(3)).unwrap();
    let sim = SimNetwork::build(topo, TrafficConfig::default()).spawn_with_controllers(openflow);
    Lab {
        network,
        stop_p4,
        p4_server,
        nodes: started,
        sim,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_switch_follows_the_leader_and_the_next_one_reconciles_what_it_finds() {
    let etcd = Etcd::start("switches").await.unwrap();
    let Lab {
        network,
        stop_p4,
        p4_server,
        mut nodes,
        sim,
    } = lab(["sa", "sb", "sc"].map(|n| (n, etcd.url()))).await;

    let refs: Vec<&Service> = nodes.iter().flatten().collect();
    let (leader, term) = agreed_leader(&refs, WAIT).await;
    let leader_id = (1u128 << 64) | u128::from(term);
    let master = refs[leader].openflow_addr();
    drop(refs);
    wait_for(
        "the leader MASTER and the others SLAVE on every OpenFlow switch",
        WAIT,
        || of_roles_follow(&sim, master, 3).then_some(()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", sim.roles(DatapathId(1))));
    wait_for(
        "the leader primary on every P4 device, two backups",
        WAIT,
        || p4_primary_is(&network, leader_id, 3).then_some(()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", network.clients(1)));

    // The leader learns both hosts and routes them on every hop.
    let expected: BTreeMap<u64, BTreeMap<Ipv4Addr, u32>> = BTreeMap::from([
        (1, BTreeMap::from([(IP1, 3), (IP3, 2)])),
        (2, BTreeMap::from([(IP1, 1), (IP3, 2)])),
        (3, BTreeMap::from([(IP1, 1), (IP3, 3)])),
    ]);
    let announce = || {
        network.inject(1, 3, arp((H1, IP1), IP3, None));
        network.inject(3, 3, arp((H3, IP3), IP1, Some(H1)));
    };
    let routed = || {
        announce();
        let now: BTreeMap<u64, BTreeMap<Ipv4Addr, u32>> =
            (1..=3).map(|d| (d, routes(&network, d))).collect();
        (now == expected).then_some(())
    };
    prescient_tests::wait_for("both hosts routed on every hop", WAIT, routed)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{e}: {:?}",
                (1..=3).map(|d| routes(&network, d)).collect::<Vec<_>>()
            )
        });

    // What a leader dying mid-way leaves: a route it wrote that nobody wants any more, and one
    // it never got to write.
    let mut stale = route_entry(&network, 2, IP1);
    let m = stale.r#match[0].field_match_type.as_mut().unwrap();
    if let p4::field_match::FieldMatchType::Lpm(l) = m {
        l.value = STALE.octets().to_vec();
    }
    write(&network, 2, leader_id, p4::update::Type::Insert, stale);
    let missing = route_entry(&network, 1, IP3);
    write(&network, 1, leader_id, p4::update::Type::Delete, missing);
    assert!(routes(&network, 2).contains_key(&STALE));
    assert!(!routes(&network, 1).contains_key(&IP3));

    // On OpenFlow, the same: a permanent entry nobody wants, and the table-miss entry gone.
    let dying = nodes[leader].as_ref().unwrap().openflow();
    for s in sim.topology().switches.clone() {
        let stale = FlowMod::add(
            TableId(0),
            STALE_PRIORITY,
            Match::new().with(OxmField::InPort(PortNo(9))),
            vec![],
        );
        dying.send(s.dpid, Command::FlowMod(stale)).await.unwrap();
        let mut miss = FlowMod::delete(TableId(0), Match::new());
        miss.command = FlowModCommand::DeleteStrict;
        dying.send(s.dpid, Command::FlowMod(miss)).await.unwrap();
        dying.barrier(s.dpid).await.unwrap();
        let flows = sim.flow_table(s.dpid).await.unwrap();
        assert!(flows.iter().any(|f| f.priority == STALE_PRIORITY));
        assert!(!flows
            .iter()
            .any(|f| f.priority == 0 && f.match_ == Match::new()));
    }

    // A stream of writes; the leader crashes in the middle of it.
    let mut acked = BTreeSet::new();
    let mut refused = BTreeSet::new();
    for i in 0..16 {
        let alive: Vec<&Service> = nodes.iter().flatten().collect();
        let entry = alive[i % alive.len()].http_addr().unwrap();
        match create_service(entry, i).await {
            Some(true) => acked.insert(format!("s{i}")),
            Some(false) => refused.insert(format!("s{i}")),
            None => false,
        };
        if i == 6 {
            nodes[leader].take().unwrap().crash().await;
        }
    }
    let refs: Vec<&Service> = nodes.iter().flatten().collect();
    let (next, next_term) = agreed_leader(&refs, WAIT).await;
    assert!(next_term > term, "term {next_term} after {term}");
    let next_id = (1u128 << 64) | u128::from(next_term);
    let next_master = refs[next].openflow_addr();
    drop(refs);
    wait_for(
        "the new leader MASTER on every OpenFlow switch",
        WAIT,
        || of_roles_follow(&sim, next_master, 2).then_some(()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", sim.roles(DatapathId(1))));
    wait_for("the new leader primary on every P4 device", WAIT, || {
        p4_primary_is(&network, next_id, 2).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", network.clients(1)));
    // The dead leader's id can no longer write.
    let late = route_entry(&network, 3, IP1);
    let req = p4::WriteRequest {
        device_id: 3,
        election_id: Some(p4::Uint128 { high: 1, low: term }),
        updates: vec![p4::Update {
            r#type: p4::update::Type::Delete as i32,
            entity: Some(p4::Entity {
                entity: Some(p4::entity::Entity::TableEntry(late)),
            }),
        }],
        ..Default::default()
    };
    assert!(
        network.write(&req).is_err(),
        "a deposed leader's write is refused"
    );

    // The new leader converges every switch: the stale entries go, the missing ones come,
    // each held once.
    let mut last = Vec::new();
    let converged = async {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let mut ok = true;
            last.clear();
            for s in &sim.topology().switches {
                let flows = sim.flow_table(s.dpid).await.unwrap();
                let keys: Vec<_> = flows
                    .iter()
                    .map(|f| (f.table_id, f.priority, f.match_.clone()))
                    .collect();
                let unique: BTreeSet<String> = keys.iter().map(|k| format!("{k:?}")).collect();
                let miss = flows
                    .iter()
                    .filter(|f| f.priority == 0 && f.match_ == Match::new())
                    .count();
                ok &= unique.len() == keys.len()
                    && miss == 1
                    && !flows.iter().any(|f| f.priority == STALE_PRIORITY);
                last.push((s.dpid, keys.len(), miss));
            }
            if ok || tokio::time::Instant::now() > deadline {
                return ok;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    assert!(
        converged.await,
        "OpenFlow switches not reconciled: {last:?}"
    );
    // The new leader converges every device: the stale route goes, the missing one comes.
    // The hosts say nothing after the crash: the new leader takes them from the routes it
    // reads back at their edge ports, so their routes stay.
    let quiet = || {
        let now: BTreeMap<u64, BTreeMap<Ipv4Addr, u32>> =
            (1..=3).map(|d| (d, routes(&network, d))).collect();
        (now == expected).then_some(())
    };
    prescient_tests::wait_for("the new leader's routes, nothing stale", WAIT, quiet)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{e}: {:?}",
                (1..=3).map(|d| routes(&network, d)).collect::<Vec<_>>()
            )
        });

    // Every acknowledged write is stored; no refused one is.
    let stored = etcd.service_names().await.unwrap();
    assert!(acked.len() >= 10, "acked {acked:?} refused {refused:?}");
    assert!(
        acked.is_subset(&stored),
        "acked {acked:?} stored {stored:?}"
    );
    assert!(
        refused.is_disjoint(&stored),
        "refused {refused:?} stored {stored:?}"
    );

    sim.shutdown().await;
    for n in nodes.into_iter().flatten() {
        n.shutdown().await;
    }
    stop_p4.cancel();
    let _ = p4_server.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_cut_off_from_etcd_stops_before_the_next_starts_and_rejoins_as_follower() {
    let etcd = Etcd::start("fencing").await.unwrap();
    let mut proxies = Vec::new();
    for _ in 0..3 {
        proxies.push(Proxy::start(etcd.addr()).await.unwrap());
    }
    let Lab {
        network,
        stop_p4,
        p4_server,
        nodes,
        sim,
    } = lab([
        ("fa", proxies[0].url()),
        ("fb", proxies[1].url()),
        ("fc", proxies[2].url()),
    ])
    .await;
    let refs: Vec<&Service> = nodes.iter().flatten().collect();
    let (leader, term) = agreed_leader(&refs, WAIT).await;
    let old_id = (1u128 << 64) | u128::from(term);
    let old = refs[leader];
    wait_for(
        "the leader MASTER everywhere, primary everywhere",
        WAIT,
        || {
            (of_roles_follow(&sim, old.openflow_addr(), 3) && p4_primary_is(&network, old_id, 3))
                .then_some(())
        },
    )
    .await
    .unwrap();

    // The leader loses etcd. Watch, every few ms, when it stops acting and when another
    // node starts.
    proxies[leader].cut();
    let cut = tokio::time::Instant::now();
    let (mut stopped, mut started) = (None, None);
    while started.is_none() && cut.elapsed() < WAIT {
        if stopped.is_none() && !old.cluster().unwrap().is_leader() {
            stopped = Some(cut.elapsed());
        }
        let other = refs
            .iter()
            .enumerate()
            .any(|(i, n)| i != leader && n.cluster().unwrap().is_leader());
        if other {
            started = Some(cut.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (stopped, started) = (
        stopped.expect("the cut leader stops"),
        started.expect("a new leader"),
    );
    eprintln!(
        "cut off: stopped acting after {stopped:?}, the next leader started after {started:?}"
    );
    assert!(
        stopped < started,
        "stopped acting at {stopped:?}, the next leader started at {started:?}"
    );
    let others: Vec<&Service> = (0..3).filter(|i| *i != leader).map(|i| refs[i]).collect();
    let (j, next_term) = agreed_leader(&others, WAIT).await;
    let next = (0..3).filter(|i| *i != leader).nth(j).unwrap();
    assert!(next_term > term);
    let next_id = (1u128 << 64) | u128::from(next_term);
    wait_for(
        "the new leader MASTER everywhere, primary everywhere",
        WAIT,
        || {
            (of_roles_follow(&sim, refs[next].openflow_addr(), 3)
                && p4_primary_is(&network, next_id, 3))
            .then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {:?} {:?}",
            sim.roles(DatapathId(1)),
            network.clients(1)
        )
    });

    // Its late writes are refused: by the switches (OpenFlow: it is a SLAVE; P4Runtime: its
    // old election id is not the primary's) and by etcd's fence (the REST API answers 503).
    let late = FlowMod::add(
        TableId(0),
        STALE_PRIORITY,
        Match::new().with(OxmField::InPort(PortNo(9))),
        vec![],
    );
    let dpid = sim.topology().switches[0].dpid;
    let _ = old.openflow().send(dpid, Command::FlowMod(late)).await;
    let _ = old.openflow().barrier(dpid).await;
    assert!(
        !sim.flow_table(dpid)
            .await
            .unwrap()
            .iter()
            .any(|f| f.priority == STALE_PRIORITY),
        "a deposed leader's flow reached the switch"
    );
    let entry = read_table(&network, 1, names::IPV4_LPM).into_iter().next();
    let req = p4::WriteRequest {
        device_id: 1,
        election_id: Some(p4::Uint128 { high: 1, low: term }),
        updates: vec![p4::Update {
            r#type: p4::update::Type::Insert as i32,
            entity: Some(p4::Entity {
                entity: Some(p4::entity::Entity::TableEntry(entry.unwrap_or_default())),
            }),
        }],
        ..Default::default()
    };
    let refused = network.write(&req).unwrap_err();
    assert_eq!(
        refused.code,
        prescient_southbound::p4runtime::proto::google::rpc::Code::PermissionDenied
    );
    assert_eq!(
        create_service(old.http_addr().unwrap(), 90).await,
        Some(false),
        "503 from the cut-off node"
    );

    // etcd comes back: the old leader rejoins as a follower, SLAVE and backup.
    proxies[leader].mend();
    wait_for("the old leader back as a follower", WAIT, || {
        let c = old.cluster().unwrap();
        let s = c.status();
        (!c.is_leader() && s.etcd_reachable && s.current.is_some_and(|(_, t)| t == next_term))
            .then_some(())
    })
    .await
    .unwrap();
    assert!(!old.cluster().unwrap().is_leader());
    wait_for("still one MASTER, one primary", WAIT, || {
        (of_roles_follow(&sim, refs[next].openflow_addr(), 3)
            && p4_primary_is(&network, next_id, 3))
        .then_some(())
    })
    .await
    .unwrap();
    let leaders = refs
        .iter()
        .filter(|n| n.cluster().unwrap().is_leader())
        .count();
    assert_eq!(leaders, 1, "no split brain");
    // Its device tasks follow the election on their own turn, after its status says follower.
    wait_for(
        "the old leader's election id gone from s1's streams",
        WAIT,
        || {
            network
                .clients(1)
                .iter()
                .all(|(id, _)| *id != Some(old_id))
                .then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", network.clients(1)));

    sim.shutdown().await;
    for n in nodes.into_iter().flatten() {
        n.shutdown().await;
    }
    stop_p4.cancel();
    let _ = p4_server.await;
}
