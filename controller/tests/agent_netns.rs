//! `prescient agent` against real kernels: each test makes a network namespace with a veth
//! pair to the host, serves a controller on the host end, and runs the agent binary inside
//! the namespace (`ip netns exec`) on the namespace's end. Records created through the API
//! must appear on that interface (addresses, routes to the VIP and the pool, neighbours),
//! leave it on release, converge after the agent was stopped while they changed, leave
//! foreign addresses and routes alone, and stay apart between two tenants' agents; `--dry-run`
//! follows the records and changes nothing.
//!
//! Needs root (namespaces); CI runs as root. The time from the API's 2xx to the kernel having
//! the address is printed over 100 records (`ip monitor` timestamps), not asserted.

mod agent_common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use agent_common::*;
use axum::http::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// A namespace with a controller on its host end serving "web" of tenant red (VIP
/// 192.0.2.10, addresses from `pool`); `None`, and the test passes untested, when not root.
async fn red_web(pool: &str) -> Option<(Netns, Controller)> {
    if !root() {
        return None;
    }
    let ns = Netns::new();
    let c = controller(&ns).await;
    service(&c, "web", "red", "192.0.2.10", pool).await;
    Some((ns, c))
}

/// `prescient agent --once` for tenant red, host h1, on `interface` inside the namespace.
fn agent_once(ns: &Netns, interface: &str, controller: &str) -> std::process::Output {
    std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            BIN,
            "agent",
            "--tenant",
            "red",
            "--interface",
            interface,
            "--controller",
            controller,
            "--host",
            "h1",
            "--once",
        ])
        .output()
        .expect("--once")
}

/// Waits until `agent` has logged `text`, naming `what` otherwise.
async fn until_logged(what: &str, agent: &Agent, text: &str) {
    until(what, Some(agent), || agent.log().contains(text)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_reach_the_interface_leave_on_release_and_converge_after_a_restart() {
    let Some((ns, c)) = red_web("10.1.0.0/24").await else {
        return;
    };
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
    let out = agent_once(&ns, &ns.inner, &c.url);
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
    let Some((ns, c)) = red_web("10.1.0.0/28").await else {
        return;
    };
    let red_ip = announce(&c, "web", "r1", "h1").await;
    let red = ns.agent(&c.url, "red", 165, &[]);
    // Blue is not known yet: its agent says so and keeps trying.
    let blue = ns.agent(&c.url, "blue", 166, &[]);
    until_logged(
        "the blue agent to name the unknown tenant",
        &blue,
        "does not know tenant \"blue\"",
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
    let Some((ns, c)) = red_web("10.1.0.0/28").await else {
        return;
    };
    let out = agent_once(&ns, "nope0", &c.url);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_follows_the_records_and_changes_nothing() {
    let Some((ns, c)) = red_web("10.1.0.0/28").await else {
        return;
    };
    let first = announce(&c, "web", "d1", "h1").await;
    let agent = ns.agent(&c.url, "red", 167, &["--dry-run"]);
    let plan = format!("dry run: would + address {first}/32");
    until_logged("the dry run's plan for the first record", &agent, &plan).await;
    // Incremental updates too: a record announced while it runs is planned, not programmed.
    let second = announce(&c, "web", "d2", "h1").await;
    let plan = format!("dry run: would + address {second}/32");
    until_logged("the dry run's plan for the second record", &agent, &plan).await;
    let have = ns.addresses();
    assert!(
        !have.contains(&format!("{first}/32")) && !have.contains(&format!("{second}/32")),
        "{have:?}"
    );
    assert!(ns.routes(167).is_empty(), "{:?}", ns.routes(167));
    agent.stop().await;
}
