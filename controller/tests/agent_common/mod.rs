//! Helpers of the agent tests: a network namespace cabled to the host, the agent binary run
//! inside it, a controller served on the host end, a private etcd, waiting for conditions.
// Each test binary uses a part of these.
#![allow(dead_code)]

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

pub const TOKEN: &str = "agent-token";
pub const BIN: &str = env!("CARGO_BIN_EXE_prescient");
pub static NEXT: AtomicU32 = AtomicU32::new(0);

pub fn root() -> bool {
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

pub fn sh(args: &[&str]) -> String {
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
pub struct Netns {
    pub name: String,
    pub inner: String,
    pub host_ip: Ipv4Addr,
}

impl Netns {
    pub fn new() -> Netns {
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

    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["ip", "-n", &self.name];
        all.extend_from_slice(args);
        sh(&all)
    }

    /// IPv4 addresses on the inner interface.
    pub fn addresses(&self) -> Vec<String> {
        self.ip(&["-o", "-4", "addr", "show", "dev", &self.inner])
            .lines()
            .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
            .collect()
    }

    pub fn routes(&self, proto: u8) -> Vec<String> {
        self.ip(&["-4", "route", "show", "proto", &proto.to_string()])
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    }

    /// The agent in the namespace; stderr kept in the returned log.
    pub fn agent(&self, controller: &str, tenant: &str, proto: u8, extra: &[&str]) -> Agent {
        self.agent_of("--controller", controller, tenant, proto, extra)
    }

    /// The agent following `flag` (`--controller` or `--etcd`) `endpoint`.
    pub fn agent_of(
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

pub struct Agent {
    pub child: Child,
    pub log: Arc<Mutex<String>>,
}

impl Agent {
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

pub struct Controller {
    pub state: ApiState,
    pub url: String,
    pub stop: CancellationToken,
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn controller(ns: &Netns) -> Controller {
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

pub async fn call(
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

pub async fn service(c: &Controller, name: &str, tenant: &str, vip: &str, pool: &str) {
    let body = json!({"name": name, "tenant": tenant, "vip": vip, "pool": pool,
        "instance_capacity_bps": 1_000_000u64, "max_instances": 300});
    let (status, body) = call(c, Method::POST, "/api/v1/services", Some(body), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Announces an instance of `svc` on `host`; its address.
pub async fn announce(c: &Controller, svc: &str, key: &str, host: &str) -> String {
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

pub async fn release(c: &Controller, svc: &str, ip: &str) {
    let url = format!("/api/v1/services/{svc}/instances/{ip}");
    let (status, body) = call(c, Method::DELETE, &url, None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Waits until `check` holds (generous: a loaded 2-core machine), naming `what` otherwise.
pub async fn until(what: &str, agent: Option<&Agent>, mut check: impl FnMut() -> bool) {
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

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// A private etcd listening on `ip` (the namespace's way out), in a directory of its own.
pub struct Etcd {
    child: std::process::Child,
    dir: std::path::PathBuf,
    pub url: String,
}

impl Etcd {
    pub async fn start(ip: Ipv4Addr) -> Etcd {
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

pub fn record(tenant: &str, physical: &str, host: &str) -> prescient::services::AddressRecord {
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

pub async fn put(c: &mut etcd_client::Client, r: &prescient::services::AddressRecord) {
    c.put(r.etcd_key(), serde_json::to_vec(r).expect("json"), None)
        .await
        .expect("put");
}
