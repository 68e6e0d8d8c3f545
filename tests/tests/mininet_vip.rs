//! A service's VIP on real Open vSwitch (`mininet/lab.py`, userspace datapath) with real TCP: a
//! client opening many connections to the VIP is spread over three backends on three hosts;
//! when one backend's host dies (its network interface is deleted), new connections reach only
//! the other two.
//!
//! A star of four switches (`vipc` in the middle, `vipb1`..`vipb3` around it), one host on each:
//! h1..h3 on `vipb1`..`vipb3` are the backends, each answering a TCP connection with its own
//! name; h4 on `vipc` is the client. Each connection has a fresh source port, which the select group hashes.
//!
//! How the controller notices a dead backend: the backend's access port loses its link, Open
//! vSwitch sends a port status, the controller forgets the host attached there and reprograms the
//! service's select group without that backend's bucket. The time from the interface's deletion
//! to the client's switch holding two buckets is printed. (A backend whose process dies while its
//! link stays up is not noticed: the controller has no health checks.)
//!
//! Needs root (see `prescient_tests::root_tests_enabled`); the labs use the system Open vSwitch,
//! started here if it is not running. Switch names are this test's own.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use prescient::service::{Service, ServiceConfig};
use prescient::services::{Backend, ServiceSpec, ServicesConfig};
use prescient_tests::http::get;
use prescient_tests::mininet::{exclusive, Lab, LabHost, SystemOvs};
use prescient_tests::{root_tests_enabled, wait_for, TempDir};
use prescient_topology::MacAddr;

/// In the hosts' 10.0.0.0/8 (so the client resolves it directly), outside the service's pool.
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 100);
const PORT: u16 = 8000;
/// Connections per round. Open vSwitch spreads a select group's buckets over a power-of-two
/// number of hash slots, so three equal buckets get up to 6 of 16 (37.5 %) each, not a third:
/// with 300 connections the 47 % ceiling is still 3.4 standard deviations away.
const CONNECTIONS: usize = 300;
const WAIT: Duration = Duration::from_secs(60);

/// Answers every TCP connection on PORT with NAME and closes it.
const SERVER: &str = r#"
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(256)
while True:
    c, _ = s.accept()
    try:
        c.sendall(sys.argv[2].encode())
    finally:
        c.close()
"#;

/// Opens N connections one after another to ADDR:PORT and prints how many each answer got
/// (`failed` for a connection refused, reset or silent for 3 s), as JSON.
const CLIENT: &str = r#"
import json, socket, sys
addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
counts = {}
for _ in range(n):
    try:
        with socket.create_connection((addr, port), timeout=3) as c:
            name = c.recv(64).decode() or "failed"
    except OSError:
        name = "failed"
    counts[name] = counts.get(name, 0) + 1
print(json.dumps(counts))
"#;

/// The star as a topology file of `mininet/lab.py`.
const TOPOLOGY: &str = r#"{"nodes": ["vipb1", "vipb2", "vipb3", "vipc"],
 "links": [["vipc", "vipb1"], ["vipc", "vipb2"], ["vipc", "vipb3"]]}"#;

async fn controller(backends: &[LabHost]) -> Service {
    let any: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut config = ServiceConfig::new(any, Some(any));
    config.core.topology.discovery.probe_interval = Duration::from_millis(300);
    config.core.topology.discovery.link_timeout = Duration::from_secs(2);
    config.core.control_interval = Duration::from_millis(200);
    let backends = backends
        .iter()
        .map(|h| Backend {
            ip: h.ip.parse().expect("a lab host's IPv4 address"),
            mac: MacAddr(parse_mac(&h.mac)),
            weight: 1,
        })
        .collect();
    config.services = ServicesConfig {
        services: vec![ServiceSpec {
            name: "echo".into(),
            tenant: "lab".into(),
            vip: VIP,
            vip_mac: None,
            // The backends are 10.0.0.1..3 (the client, 10.0.0.4, is inside too, but no address
            // is ever leased from the pool: three instances, neither more nor fewer).
            pool: "10.0.0.0/29".parse().expect("a pool"),
            backends,
            tier: 0,
            instance_capacity_bps: 10_000_000_000,
            min_instances: 3,
            max_instances: 3,
            policy: None,
        }],
        ..ServicesConfig::default()
    };
    Service::start(config)
        .await
        .expect("starting the controller")
}

fn parse_mac(text: &str) -> [u8; 6] {
    let mut mac = [0u8; 6];
    for (b, part) in mac.iter_mut().zip(text.split(':')) {
        *b = u8::from_str_radix(part, 16).expect("a lab MAC");
    }
    mac
}

/// The buckets of the service's select group on `bridge`, as `ovs-ofctl dump-groups` shows them.
fn buckets(lab: &Lab, bridge: &str) -> usize {
    lab.dump_groups(bridge)
        .map(|g| g.matches("bucket=").count())
        .unwrap_or(0)
}

/// Opens [`CONNECTIONS`] connections from `client` to the VIP; the answers counted by backend
/// name.
async fn connect_many(lab: &mut Lab, dir: &TempDir, client: &str) -> BTreeMap<String, usize> {
    let script = dir.path().join("client.py");
    let out = lab
        .cmd(
            client,
            &format!(
                "/usr/bin/python3 {} {VIP} {PORT} {CONNECTIONS}",
                script.display()
            ),
        )
        .await
        .expect("the client's run");
    let line = out.lines().rev().find(|l| l.starts_with('{')).unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("the client printed {out:?}: {e}"))
}

/// Waits until `host` has a TCP listener on [`PORT`].
async fn wait_for_listening(lab: &mut Lab, host: &str) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let listening = lab.cmd(host, "ss -ltnH").await.unwrap_or_default();
        if listening.contains(&format!(":{PORT} ")) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn share(counts: &BTreeMap<String, usize>, name: &str) -> f64 {
    counts.get(name).copied().unwrap_or(0) as f64 / CONNECTIONS as f64
}

/// Stops the backends' servers however the test ends: they run as background jobs of the
/// hosts' shells, which Mininet's stop leaves running.
struct Servers(std::path::PathBuf);

impl Drop for Servers {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pkill")
            .arg("-f")
            .arg(self.0.display().to_string())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_to_a_vip_spread_over_three_backends_and_avoid_a_dead_one() {
    if !root_tests_enabled("connections_to_a_vip_spread_over_three_backends_and_avoid_a_dead_one") {
        return;
    }
    let _one_at_a_time = exclusive().await;
    let _ovs = SystemOvs::ensure().expect("the system Open vSwitch");
    let dir = TempDir::new("prescient-vip").expect("a scratch directory");
    let topology = dir.path().join("star.json");
    std::fs::write(&topology, TOPOLOGY).expect("writing the topology");
    std::fs::write(dir.path().join("server.py"), SERVER).expect("writing the server");
    std::fs::write(dir.path().join("client.py"), CLIENT).expect("writing the client");
    let _servers = Servers(dir.path().join("server.py"));
    // The lab's addressing is fixed by node order: h1..h4 on vipb1, vipb2, vipb3, vipc.
    let planned: Vec<LabHost> = (1..=3)
        .map(|n| LabHost {
            name: format!("h{n}"),
            ip: format!("10.0.0.{n}"),
            mac: format!("00:00:00:00:00:{n:02x}"),
            switch: format!("vipb{n}"),
        })
        .collect();
    let service = controller(&planned).await;
    let api = service.http_addr().expect("the REST API");
    let topology = topology.to_string_lossy().into_owned();
    let mut lab = Lab::start(&topology, 0, service.openflow_addr(), Some(api))
        .await
        .expect("starting the Mininet lab");
    let hosts = lab.hosts().await.expect("the lab's hosts");
    for want in &planned {
        assert!(
            hosts.iter().any(|h| h == want),
            "the lab placed {want:?} elsewhere: {hosts:?}"
        );
    }
    let client = hosts
        .iter()
        .find(|h| h.switch == "vipc")
        .expect("a host on vipc")
        .name
        .clone();
    assert_eq!(client, "h4", "{hosts:?}");

    for backend in &planned {
        lab.cmd(
            &backend.name,
            &format!(
                "/usr/bin/python3 {} {PORT} {} >/dev/null 2>&1 &",
                dir.path().join("server.py").display(),
                backend.name
            ),
        )
        .await
        .expect("starting a backend");
    }
    // Every host speaks once (ARP), so the controller knows where each is; the answers do not
    // matter (replies from a backend to the client already come back as the VIP's).
    for backend in &planned {
        lab.cmd(&client, &format!("ping -c1 -W1 {} >/dev/null", backend.ip))
            .await
            .expect("ping");
    }
    wait_for("three buckets in vipc's select group", WAIT, || {
        (buckets(&lab, "vipc") == 3).then_some(())
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}; groups: {:?}",
            lab.dump_groups("vipc").unwrap_or_default()
        )
    });
    for backend in &planned {
        // The server is listening before the first connection.
        let listening = wait_for_listening(&mut lab, &backend.name).await;
        assert!(listening, "{}'s server never listened", backend.name);
    }

    let counts = connect_many(&mut lab, &dir, &client).await;
    eprintln!("{CONNECTIONS} connections to the VIP: {counts:?}");
    assert_eq!(counts.get("failed"), None, "connections failed: {counts:?}");
    for backend in &planned {
        let s = share(&counts, &backend.name);
        assert!(
            (0.20..=0.47).contains(&s),
            "{} got {:.0} % of the connections: {counts:?}",
            backend.name,
            s * 100.0
        );
    }

    // h3 dies: its network interface is gone (the veth pair deleted, as a crashed VM's vNIC
    // goes), so its switch port loses its link.
    let dead = &planned[2];
    let cut = Instant::now();
    lab.cmd(&dead.name, &format!("ip link del {}-eth0", dead.name))
        .await
        .expect("deleting the backend's interface");
    wait_for("two buckets in vipc's select group", WAIT, || {
        (buckets(&lab, "vipc") == 2).then_some(())
    })
    .await
    .expect("the dead backend's bucket removed");
    let noticed = cut.elapsed();
    eprintln!(
        "{}'s interface deleted: the client's switch balances over two backends after {} ms",
        dead.name,
        noticed.as_millis()
    );
    let known = get(api, "/api/v1/hosts").await.expect("GET /hosts");
    assert!(
        !known.to_string().contains(&dead.mac),
        "the dead backend is still a known host: {known}"
    );

    let counts = connect_many(&mut lab, &dir, &client).await;
    eprintln!(
        "{CONNECTIONS} connections after {} died: {counts:?}",
        dead.name
    );
    assert_eq!(
        counts.get("failed"),
        None,
        "connections went to the dead backend: {counts:?}"
    );
    assert_eq!(counts.get(&dead.name), None, "{counts:?}");
    for backend in &planned[..2] {
        let s = share(&counts, &backend.name);
        assert!(
            (0.30..=0.70).contains(&s),
            "{} got {:.0} % of the connections after {} died: {counts:?}",
            backend.name,
            s * 100.0,
            dead.name
        );
    }

    drop(lab);
    service.shutdown().await;
}
