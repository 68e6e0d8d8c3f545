//! `prescient agent` against real kernels: each test makes a network namespace with a veth
//! pair to the host, serves a controller on the host end, and runs the agent binary inside
//! the namespace (`ip netns exec`) on the namespace's end. Records created through the API
//! must appear on that interface (addresses, routes to the VIP and the pool, neighbours),
//! leave it on release, converge after the agent was stopped while they changed, leave
//! foreign addresses and routes alone, and stay apart between two tenants' agents.
//!
//! Needs root (namespaces); CI runs as root. The time from the API's 2xx to the kernel having
//! the address is printed over 100 records (`ip monitor` timestamps), not asserted.

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use prescient::core::{CoreConfig, SharedCore};
use prescient::northbound::{router, serve_on, ApiConfig, ApiState};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const TOKEN: &str = "agent-token";
const BIN: &str = env!("CARGO_BIN_EXE_prescient");
static NEXT: AtomicU32 = AtomicU32::new(0);

fn root() -> bool {
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !is_root {
        assert_ne!(
            std::env::var("PRESCIENT_REQUIRE_ROOT_TESTS").as_deref(),
            Ok("1"),
            "the agent tests need root (network namespaces)"
        );
        eprintln!("SKIPPED: the agent tests need root");
    }
    is_root
}

fn sh(args: &[&str]) -> String {
    let out = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A namespace with `inner` (inside) cabled to `outer` (host side, `host_ip`/30).
struct Netns {
    name: String,
    inner: String,
    host_ip: Ipv4Addr,
}

impl Netns {
    fn new() -> Netns {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let tag = format!("{:x}{n}", pid % 0xfffff);
        let name = format!("pagent-{tag}");
        let (outer, inner) = (format!("pa{tag}h"), format!("pa{tag}n"));
        let host_ip = Ipv4Addr::new(100, 64 + (pid % 60) as u8, (n * 4 % 250) as u8, 1);
        let peer = Ipv4Addr::from(u32::from(host_ip) + 1);
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &name])
            .output();
        sh(&["ip", "netns", "add", &name]);
        sh(&[
            "ip", "link", "add", &outer, "type", "veth", "peer", "name", &inner, "netns", &name,
        ]);
        sh(&["ip", "addr", "add", &format!("{host_ip}/30"), "dev", &outer]);
        sh(&["ip", "link", "set", &outer, "up"]);
        sh(&[
            "ip",
            "-n",
            &name,
            "addr",
            "add",
            &format!("{peer}/30"),
            "dev",
            &inner,
        ]);
        sh(&["ip", "-n", &name, "link", "set", &inner, "up"]);
        sh(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        Netns {
            name,
            inner,
            host_ip,
        }
    }

    fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["ip", "-n", &self.name];
        all.extend_from_slice(args);
        sh(&all)
    }

    /// IPv4 addresses on the inner interface.
    fn addresses(&self) -> Vec<String> {
        self.ip(&["-o", "-4", "addr", "show", "dev", &self.inner])
            .lines()
            .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
            .collect()
    }

    fn routes(&self, proto: u8) -> Vec<String> {
        self.ip(&["-4", "route", "show", "proto", &proto.to_string()])
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    }

    /// The agent in the namespace; stderr kept in the returned log.
    fn agent(&self, controller: &str, tenant: &str, proto: u8, extra: &[&str]) -> Agent {
        self.agent_of("--controller", controller, tenant, proto, extra)
    }

    /// The agent following `flag` (`--controller` or `--etcd`) `endpoint`.
    fn agent_of(
        &self,
        flag: &str,
        endpoint: &str,
        tenant: &str,
        proto: u8,
        extra: &[&str],
    ) -> Agent {
        let mut args: Vec<String> = [
            "netns",
            "exec",
            &self.name,
            BIN,
            "agent",
            "--tenant",
            tenant,
            "--interface",
            &self.inner,
            flag,
            endpoint,
            "--host",
            "h1",
            "--proto",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(proto.to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut child = Command::new("ip")
            .args(&args)
            .env("PRESCIENT_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("agent");
        let log = Arc::new(Mutex::new(String::new()));
        let l2 = Arc::clone(&log);
        let err = child.stderr.take().expect("stderr");
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut l) = l2.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        Agent { child, log }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

struct Agent {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Agent {
    fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

struct Controller {
    state: ApiState,
    url: String,
    stop: CancellationToken,
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn controller(ns: &Netns) -> Controller {
    let core = SharedCore::new(CoreConfig::default());
    let state = ApiState::new(
        core,
        ApiConfig {
            token: Some(TOKEN.to_string()),
            protect_reads: false,
        },
    );
    let listener = tokio::net::TcpListener::bind((ns.host_ip, 0))
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let stop = CancellationToken::new();
    tokio::spawn(serve_on(listener, state.clone(), stop.clone()));
    Controller { state, url, stop }
}

async fn call(
    c: &Controller,
    method: Method,
    uri: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let req = req
        .body(
            body.map(|b| Body::from(b.to_string()))
                .unwrap_or_else(Body::empty),
        )
        .expect("request");
    let resp = router(c.state.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn service(c: &Controller, name: &str, tenant: &str, vip: &str, pool: &str) {
    let body = json!({"name": name, "tenant": tenant, "vip": vip, "pool": pool,
        "instance_capacity_bps": 1_000_000u64, "max_instances": 300});
    let (status, body) = call(c, Method::POST, "/api/v1/services", Some(body), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Announces an instance of `svc` on `host`; its address.
async fn announce(c: &Controller, svc: &str, key: &str, host: &str) -> String {
    let url = format!("/api/v1/services/{svc}/instances");
    let (status, body) = call(
        c,
        Method::POST,
        &url,
        Some(json!({"host": host})),
        Some(key),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["instance"]["address"]
        .as_str()
        .expect("address")
        .to_string()
}

async fn release(c: &Controller, svc: &str, ip: &str) {
    let url = format!("/api/v1/services/{svc}/instances/{ip}");
    let (status, body) = call(c, Method::DELETE, &url, None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Waits until `check` holds (generous: a loaded 2-core machine), naming `what` otherwise.
async fn until(what: &str, agent: Option<&Agent>, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        if Instant::now() > deadline {
            panic!(
                "timed out waiting for {what}; agent log:\n{}",
                agent.map(Agent::log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_reach_the_interface_leave_on_release_and_converge_after_a_restart() {
    if !root() {
        return;
    }
    let ns = Netns::new();
    let c = controller(&ns).await;
    service(&c, "web", "red", "192.0.2.10", "10.1.0.0/24").await;
    // Someone else's address (inside the tenant's pool) and routes on the same interface.
    ns.ip(&["addr", "add", "10.1.0.250/32", "dev", &ns.inner]);
    ns.ip(&["route", "add", "198.51.100.0/24", "dev", &ns.inner]);
    ns.ip(&[
        "route",
        "add",
        "10.1.0.0/25",
        "dev",
        &ns.inner,
        "proto",
        "static",
    ]);
    let first = announce(&c, "web", "boot-0", "h1").await;

    // --once: the plan, and nothing changed.
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            BIN,
            "agent",
            "--tenant",
            "red",
            "--interface",
            &ns.inner,
            "--controller",
            &c.url,
            "--host",
            "h1",
            "--once",
        ])
        .output()
        .expect("--once");
    let plan = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{plan}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(plan.contains(&format!("+ address {first}/32")), "{plan}");
    assert!(
        plan.contains("+ route 192.0.2.10/32") && plan.contains("+ route 10.1.0.0/24"),
        "{plan}"
    );
    assert!(
        !ns.addresses().contains(&format!("{first}/32")),
        "--once changed nothing"
    );

    let agent = ns.agent(&c.url, "red", 165, &[]);
    until("the first record on the interface", Some(&agent), || {
        ns.addresses().contains(&format!("{first}/32"))
    })
    .await;
    let routes = ns.routes(165);
    assert!(routes.contains(&"192.0.2.10".to_string()), "{routes:?}");
    assert!(routes.contains(&"10.1.0.0/24".to_string()), "{routes:?}");

    // 100 records, one at a time: from the API's 2xx to the kernel announcing the address.
    let mut monitor = Command::new("ip")
        .args(["-n", &ns.name, "-o", "-4", "monitor", "address"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ip monitor");
    let seen: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let s2 = Arc::clone(&seen);
    let out = monitor.stdout.take().expect("stdout");
    tokio::spawn(async move {
        let mut lines = BufReader::new(out).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let at = Instant::now();
            if line.starts_with("Deleted") {
                continue;
            }
            if let Some(a) = line.split_whitespace().skip_while(|w| *w != "inet").nth(1) {
                if let Ok(mut s) = s2.lock() {
                    s.push((a.to_string(), at));
                }
            }
        }
    });
    // The monitor is subscribed once it reports a probe address added after it started.
    let mut probe = 0u8;
    until("ip monitor to start", None, || {
        let up = seen
            .lock()
            .map(|s| s.iter().any(|(a, _)| a.starts_with("198.18.0.")))
            .unwrap_or(false);
        if !up && probe < 250 {
            probe += 1;
            ns.ip(&[
                "addr",
                "add",
                &format!("198.18.0.{probe}/32"),
                "dev",
                &ns.inner,
            ]);
        }
        up
    })
    .await;
    let mut latencies = Vec::new();
    let mut ips = vec![first.clone()];
    for i in 1..=100 {
        let ip = announce(&c, "web", &format!("boot-{i}"), "h1").await;
        let acked = Instant::now();
        let want = format!("{ip}/32");
        until(
            "an announced address on the interface",
            Some(&agent),
            || {
                seen.lock()
                    .map(|s| s.iter().any(|(a, _)| *a == want))
                    .unwrap_or(false)
            },
        )
        .await;
        let at = seen
            .lock()
            .ok()
            .and_then(|s| s.iter().find(|(a, _)| *a == want).map(|(_, t)| *t))
            .expect("seen");
        latencies.push(at.saturating_duration_since(acked));
        ips.push(ip);
    }
    latencies.sort();
    println!(
        "agent latency, API 2xx -> address in the kernel, over {} records: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );

    // Another host's instance, up with its MAC: a permanent neighbour entry here.
    let other = announce(&c, "web", "remote-1", "h2").await;
    let url = format!("/api/v1/services/web/instances/{other}");
    let (status, body) = call(
        &c,
        Method::PUT,
        &url,
        Some(json!({"state": "up", "mac": "02:00:00:00:aa:01"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    until(
        "the neighbour entry of the other host's instance",
        Some(&agent),
        || {
            ns.ip(&["neigh", "show", "dev", &ns.inner])
                .lines()
                .any(|l| {
                    l.starts_with(&format!("{other} "))
                        && l.contains("02:00:00:00:aa:01")
                        && l.contains("PERMANENT")
                })
        },
    )
    .await;
    assert!(
        !ns.addresses().contains(&format!("{other}/32")),
        "not this host's"
    );

    // Release half: gone from the interface; the rest and the foreign entries stay.
    for ip in ips.iter().step_by(2) {
        release(&c, "web", ip).await;
    }
    until("released addresses to leave", Some(&agent), || {
        let have = ns.addresses();
        ips.iter()
            .enumerate()
            .all(|(i, ip)| have.contains(&format!("{ip}/32")) == (i % 2 == 1))
    })
    .await;

    // Stopped while records change: converges on restart.
    agent.stop().await;
    for ip in ips.iter().skip(1).step_by(2).take(10) {
        release(&c, "web", ip).await;
    }
    let mut fresh = Vec::new();
    for i in 0..5 {
        fresh.push(announce(&c, "web", &format!("late-{i}"), "h1").await);
    }
    let agent = ns.agent(&c.url, "red", 165, &[]);
    let want: Vec<String> = {
        let (_, rows) = call(&c, Method::GET, "/api/v1/tenants/red/addresses", None, None).await;
        rows.as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["host"] == "h1")
            .map(|r| format!("{}/32", r["physical"].as_str().unwrap_or_default()))
            .collect()
    };
    assert_eq!(want.len(), 50 - 10 + 5, "{want:?}");
    until("the restarted agent to converge", Some(&agent), || {
        let mut have: Vec<String> = ns
            .addresses()
            .into_iter()
            .filter(|a| a.starts_with("10.1.0.") && a != "10.1.0.250/32")
            .collect();
        have.sort();
        let mut w = want.clone();
        w.sort();
        have == w
    })
    .await;
    let have = ns.addresses();
    assert!(
        have.contains(&"10.1.0.250/32".to_string()),
        "foreign address kept: {have:?}"
    );
    let all = ns.ip(&["-4", "route", "show"]);
    assert!(all.contains("198.51.100.0/24"), "{all}");
    assert!(all.contains("10.1.0.0/25"), "{all}");
    agent.stop().await;
    let _ = monitor.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_agents_never_touch_each_others_records() {
    if !root() {
        return;
    }
    let ns = Netns::new();
    let c = controller(&ns).await;
    service(&c, "web", "red", "192.0.2.10", "10.1.0.0/28").await;
    let red_ip = announce(&c, "web", "r1", "h1").await;
    let red = ns.agent(&c.url, "red", 165, &[]);
    // Blue is not known yet: its agent says so and keeps trying.
    let blue = ns.agent(&c.url, "blue", 166, &[]);
    until(
        "the blue agent to name the unknown tenant",
        Some(&blue),
        || blue.log().contains("does not know tenant \"blue\""),
    )
    .await;
    service(&c, "db", "blue", "192.0.2.20", "10.2.0.0/28").await;
    let blue_ip = announce(&c, "db", "b1", "h1").await;
    until("both tenants' addresses", Some(&blue), || {
        let have = ns.addresses();
        have.contains(&format!("{red_ip}/32")) && have.contains(&format!("{blue_ip}/32"))
    })
    .await;
    assert_eq!(ns.routes(165), vec!["10.1.0.0/28", "192.0.2.10"]);
    assert_eq!(ns.routes(166), vec!["10.2.0.0/28", "192.0.2.20"]);
    release(&c, "db", &blue_ip).await;
    until("blue's address to leave", Some(&blue), || {
        !ns.addresses().contains(&format!("{blue_ip}/32"))
    })
    .await;
    // Red's agent resyncs on its own; give it a pass and check nothing of red moved.
    let red_log = red.log();
    assert!(
        ns.addresses().contains(&format!("{red_ip}/32")),
        "{red_log}"
    );
    assert_eq!(ns.routes(165), vec!["10.1.0.0/28", "192.0.2.10"]);
    red.stop().await;
    blue.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_interface_is_named_and_nothing_crashes() {
    if !root() {
        return;
    }
    let ns = Netns::new();
    let c = controller(&ns).await;
    service(&c, "web", "red", "192.0.2.10", "10.1.0.0/28").await;
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            BIN,
            "agent",
            "--tenant",
            "red",
            "--interface",
            "nope0",
            "--controller",
            &c.url,
            "--host",
            "h1",
            "--once",
        ])
        .output()
        .expect("--once");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("interface \"nope0\" does not exist"), "{err}");
    // An unreachable controller: named, retried, no crash.
    let agent = ns.agent("http://100.127.255.1:9", "red", 165, &[]);
    until(
        "the agent to name the unreachable controller",
        Some(&agent),
        || {
            agent.log().contains("controller http://100.127.255.1:9")
                && agent.log().contains("reconnecting")
        },
    )
    .await;
    agent.stop().await;
}

/// A private etcd listening on `ip` (the namespace's way out), in a directory of its own.
struct Etcd {
    child: std::process::Child,
    dir: std::path::PathBuf,
    url: String,
}

impl Etcd {
    async fn start(ip: Ipv4Addr) -> Etcd {
        let free = || {
            std::net::TcpListener::bind((ip, 0))
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("port")
        };
        let (client, peer) = (free(), free());
        let dir = std::env::temp_dir().join(format!(
            "prescient-agent-etcd-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let url = format!("http://{ip}:{client}");
        let peer_url = format!("http://{ip}:{peer}");
        let child = std::process::Command::new("etcd")
            .args([
                "--name",
                "agent-test",
                "--data-dir",
                &dir.join("data").display().to_string(),
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
                "--initial-cluster",
                &format!("agent-test={peer_url}"),
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("etcd.log")).expect("log"))
            .spawn()
            .expect("etcd (Debian etcd-server, installed by scripts/setup)");
        let etcd = Etcd { child, dir, url };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut c) = etcd_client::Client::connect([etcd.url.as_str()], None).await {
                if c.status().await.is_ok() {
                    return etcd;
                }
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not answer at {}",
                etcd.url
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn record(tenant: &str, physical: &str, host: &str) -> prescient::services::AddressRecord {
    prescient::services::AddressRecord {
        tenant: tenant.into(),
        logical: Ipv4Addr::new(192, 0, 2, 10),
        physical: physical.parse().expect("ip"),
        prefix_len: 24,
        owner: "web".into(),
        kind: prescient::services::LeaseKind::PreAssigned,
        mac: None,
        host: Some(host.into()),
    }
}

async fn put(c: &mut etcd_client::Client, r: &prescient::services::AddressRecord) {
    c.put(r.etcd_key(), serde_json::to_vec(r).expect("json"), None)
        .await
        .expect("put");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_cluster_mode_the_agent_follows_its_tenants_prefix_in_etcd() {
    if !root() {
        return;
    }
    let ns = Netns::new();
    let etcd = Etcd::start(ns.host_ip).await;
    let mut c = etcd_client::Client::connect([etcd.url.as_str()], None)
        .await
        .expect("client");
    let (a, b) = (
        record("red", "10.1.0.2", "h1"),
        record("red", "10.1.0.3", "h1"),
    );
    put(&mut c, &a).await;
    put(&mut c, &b).await;
    // Another tenant's record, and garbage under red's prefix: neither is programmed.
    put(&mut c, &record("blue", "10.2.0.2", "h1")).await;
    c.put("/prescient/v1/address/red/junk", "not json", None)
        .await
        .expect("put");
    let agent = ns.agent_of("--etcd", &etcd.url, "red", 165, &[]);
    until(
        "red's records from etcd on the interface",
        Some(&agent),
        || {
            let have = ns.addresses();
            have.contains(&"10.1.0.2/32".to_string()) && have.contains(&"10.1.0.3/32".to_string())
        },
    )
    .await;
    assert!(!ns.addresses().contains(&"10.2.0.2/32".to_string()));
    c.delete(a.etcd_key(), None).await.expect("delete");
    let d = record("red", "10.1.0.4", "h1");
    put(&mut c, &d).await;
    until(
        "a deletion and a put in etcd to reach the kernel",
        Some(&agent),
        || {
            let have = ns.addresses();
            !have.contains(&"10.1.0.2/32".to_string()) && have.contains(&"10.1.0.4/32".to_string())
        },
    )
    .await;

    // Away while a record goes and the history is compacted: the relist drops it anyway.
    agent.stop().await;
    c.delete(b.etcd_key(), None).await.expect("delete");
    let rev = c
        .get("/", None)
        .await
        .ok()
        .and_then(|r| r.header().map(|h| h.revision()))
        .expect("revision");
    c.compact(rev, None).await.expect("compact");
    let agent = ns.agent_of("--etcd", &etcd.url, "red", 165, &[]);
    until(
        "the restarted agent to drop what was deleted while away",
        Some(&agent),
        || {
            let have = ns.addresses();
            !have.contains(&"10.1.0.3/32".to_string()) && have.contains(&"10.1.0.4/32".to_string())
        },
    )
    .await;
    agent.stop().await;
}
