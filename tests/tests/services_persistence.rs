//! Services and their address leases survive a controller restart: the whole controller
//! (`Service` with a redb store in a temporary directory, REST on TCP) against emulated
//! OpenFlow switches. A service created and given instances through the API (one with its own
//! address, one given a dynamic address by the pool) is back after the restart with the same
//! number, backends and translations (same physical address for the same instance, same lease
//! kind and age), listed before any switch reconnected; the new controller programs it again
//! and traffic to the VIP reaches the same backend. When the store cannot commit, service
//! changes are refused with 503 and undone. A service of the configuration file keeps the
//! file's definition across restarts and the store's instances (all of them when the file
//! lowered `max_instances` below their count: only new ones are refused); gone from the file,
//! it is gone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use prescient::service::{Service, ServiceConfig};
use prescient_sim::openflow::packet::{arp_request, udp_packet};
use prescient_sim::openflow::{SimHandle, SimNetwork, SimOptions};
use prescient_sim::topology::{HostSpec, SimTopology, TopologyKind};
use prescient_sim::traffic::TrafficConfig;
use prescient_southbound::openflow::wire::{
    Action as OfAction, DatapathId, Instruction, MacAddr as OfMac, OxmField,
};
use prescient_tests::{wait_for, wait_links, TempDir};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(40);
const TOKEN: &str = "persist-services";
const VIP: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
/// The MAC derived from the VIP: 02:50 + its four bytes.
const VIP_MAC: [u8; 6] = [0x02, 0x50, 100, 64, 0, 1];
/// An instance the orchestrator runs that no switch has seen yet.
const GHOST_MAC: &str = "02:00:00:00:99:99";

fn config(openflow: SocketAddr, store: &Path) -> ServiceConfig {
    let mut config =
        prescient_tests::controller::config(openflow, Some("127.0.0.1:0".parse().unwrap()));
    config.core.control_interval = Duration::from_millis(200);
    prescient_tests::controller::persistent(config, store, TOKEN)
}

async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    prescient_tests::http::request(addr, method, path, Some(TOKEN), body.as_ref())
        .await
        .expect("the REST API answers")
}

/// `POST …/web/instances` with an idempotency key.
async fn announce(addr: SocketAddr, key: &str) -> (u16, Value) {
    prescient_tests::http::request_with(
        addr,
        "POST",
        "/api/v1/services/web/instances",
        Some(TOKEN),
        &[("Idempotency-Key", key)],
        Some(&json!({})),
    )
    .await
    .expect("the REST API answers")
}

fn linear() -> (SimNetwork, HostSpec, HostSpec) {
    let topo = SimTopology::generate(TopologyKind::Linear(2)).unwrap();
    let (h1, h2) = (topo.hosts[0].clone(), topo.hosts[1].clone());
    let options = SimOptions {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..SimOptions::default()
    };
    let net = SimNetwork::build(topo, TrafficConfig::default()).with_options(options);
    (net, h1, h2)
}

/// Links discovered and both hosts announced and known.
async fn fabric_ready(service: &Service, sim: &SimHandle, h1: &HostSpec, h2: &HostSpec) {
    assert!(sim.wait_connected(WAIT, |n| n == 2).await);
    let core = service.core().clone();
    wait_links(&core, 2, "the link discovered", WAIT)
        .await
        .unwrap();
    let (m1, m2) = (
        prescient_topology::MacAddr(h1.mac.0),
        prescient_topology::MacAddr(h2.mac.0),
    );
    wait_for("both hosts known", WAIT, || {
        sim.inject(0, arp_request(h1.mac, h1.ip, h2.ip)).ok()?;
        sim.inject(1, arp_request(h2.mac, h2.ip, h1.ip)).ok()?;
        let s = core.snapshot();
        (s.host(m1).is_some() && s.host(m2).is_some()).then_some(())
    })
    .await
    .unwrap();
}

/// When s1's reverse translation of `backend` (source rewritten to the VIP) was installed.
async fn reverse_translation(sim: &SimHandle, backend: Ipv4Addr) -> Option<Duration> {
    sim.flow_table(DatapathId(1))
        .await
        .ok()?
        .into_iter()
        .find(|e| {
            let from_backend = e
                .match_
                .fields
                .iter()
                .any(|f| matches!(f, OxmField::Ipv4Src { addr, .. } if *addr == backend));
            let to_vip = e.instructions.iter().any(|i| {
                match i {
                Instruction::ApplyActions(actions) => actions.iter().any(|a| {
                    matches!(a, OfAction::SetField(OxmField::Ipv4Src { addr, .. }) if *addr == VIP)
                }),
                _ => false,
            }
            });
            from_backend && to_vip
        })
        .map(|e| e.installed)
}

/// Waits until s1 holds the reverse translation of `backend`, installed after `after`.
async fn wait_translation(sim: &SimHandle, backend: Ipv4Addr, after: Option<Duration>) -> Duration {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match reverse_translation(sim, backend).await {
            Some(at) if after.is_none_or(|a| at > a) => return at,
            _ => {}
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reverse translation of {backend} on s1 installed after {after:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// h1 sends to the VIP until h2 receives it translated to `expect` (before the switches are
/// programmed the frame is flooded untranslated).
async fn vip_reaches(sim: &SimHandle, h1: &HostSpec, expect: Ipv4Addr) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let (_, before) = sim.host_received(1).unwrap();
        let request = udp_packet(h1.mac, OfMac(VIP_MAC), h1.ip, VIP, (4000, 80), 10);
        sim.inject(0, request).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (frames, n) = sim.host_received(1).unwrap();
        if n > before {
            if let Some(f) = frames.iter().rev().find(|f| f.get(23) == Some(&17)) {
                let dst = Ipv4Addr::new(f[30], f[31], f[32], f[33]);
                if dst == expect {
                    return;
                }
                seen.push(dst);
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "h2 never received the VIP's traffic for {expect}; saw {seen:?}"
        );
    }
}

/// Translations without `devices` (how many switches hold it depends on who is connected).
fn translations(list: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let mut t = t.clone();
            t.as_object_mut().unwrap().remove("devices");
            t
        })
        .collect();
    out.sort_by_key(|t| t["physical_ip"].as_str().unwrap().to_string());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_and_its_address_leases_survive_a_controller_restart() {
    let dir = TempDir::new("prescient-svc-persistence-restart").unwrap();
    let store = dir.path().join("state.redb");
    let first = Service::start(config("127.0.0.1:0".parse().unwrap(), &store))
        .await
        .unwrap();
    let openflow = first.openflow_addr();
    let (net, h1, h2) = linear();
    let sim = net.spawn(openflow);
    fabric_ready(&first, &sim, &h1, &h2).await;

    let api = first.http_addr().unwrap();
    let pool = format!("{}/24", h2.ip);
    let (status, created) = http(
        api,
        "POST",
        "/api/v1/services",
        Some(json!({
            "name": "web", "tenant": "red", "vip": VIP.to_string(), "pool": pool,
            "instance_capacity_bps": 100_000_000u64
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    // The orchestrator reports h2 with its address and a second instance without one.
    let (status, reported) = http(
        api,
        "PUT",
        "/api/v1/services/web/backends",
        Some(json!({"backends": [
            {"ip": h2.ip.to_string(), "mac": h2.mac.to_string(), "weight": 2},
            {"mac": GHOST_MAC}
        ]})),
    )
    .await;
    assert_eq!(status, 200, "{reported}");
    let before = reported["service"].clone();
    let leases: Vec<&str> = before["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["lease"].as_str().unwrap())
        .collect();
    assert_eq!(leases, ["static", "dynamic"], "{before}");
    let (_, list) = http(api, "GET", "/api/v1/translations", None).await;
    let translations_before = translations(&list);
    assert_eq!(translations_before.len(), 2, "{list}");
    vip_reaches(&sim, &h1, h2.ip).await;
    let first_installed = wait_translation(&sim, h2.ip, None).await;
    first.shutdown().await;

    // Same store, same OpenFlow address: the switches reconnect on their own.
    let second = Service::start(config(openflow, &store)).await.unwrap();
    let api = second.http_addr().unwrap();
    // Back before any switch is: restored at start, not relearnt.
    let (status, after) = http(api, "GET", "/api/v1/services/web", None).await;
    assert_eq!(status, 200, "{after}");
    for field in [
        "id", "tenant", "vip", "vip_mac", "pool", "backends", "shadows",
    ] {
        assert_eq!(
            after[field], before[field],
            "{field} changed across the restart"
        );
    }
    let (_, list) = http(api, "GET", "/api/v1/translations", None).await;
    assert_eq!(
        translations(&list),
        translations_before,
        "every instance keeps its physical address, lease kind and age"
    );

    // Programmed again by the new controller on the reconnected switches.
    fabric_ready(&second, &sim, &h1, &h2).await;
    wait_translation(&sim, h2.ip, Some(first_installed)).await;
    vip_reaches(&sim, &h1, h2.ip).await;

    // A new instance does not take an address the restored ones hold.
    let ghost_ip = before["backends"][1]["ip"].as_str().unwrap().to_string();
    let (status, grown) = http(
        api,
        "PUT",
        "/api/v1/services/web/backends",
        Some(json!({"backends": [
            {"ip": h2.ip.to_string(), "mac": h2.mac.to_string(), "weight": 2},
            {"mac": GHOST_MAC},
            {"mac": "02:00:00:00:99:98"}
        ]})),
    )
    .await;
    assert_eq!(status, 200, "{grown}");
    let ips: Vec<&str> = grown["service"]["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["ip"].as_str().unwrap())
        .collect();
    assert_eq!(ips[1], ghost_ip, "the known instance keeps its address");
    assert!(!ips[2].is_empty() && ips[2] != ghost_ip && ips[2] != h2.ip.to_string());

    // Deleted through the API: gone after the next restart too.
    let (status, _) = http(api, "DELETE", "/api/v1/services/web", None).await;
    assert_eq!(status, 200);
    second.shutdown().await;
    let third = Service::start(config("127.0.0.1:0".parse().unwrap(), &store))
        .await
        .unwrap();
    let (_, list) = http(third.http_addr().unwrap(), "GET", "/api/v1/services", None).await;
    assert_eq!(list, json!([]), "the deleted service stays deleted");
    third.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_store_cannot_commit_service_changes_are_refused_and_undone() {
    let mut cfg = config("127.0.0.1:0".parse().unwrap(), Path::new("unused"));
    cfg.store = prescient::store::StoreConfig::default();
    let service = Service::start(cfg).await.unwrap();
    let api = service.http_addr().unwrap();
    let body = |name: &str, vip: &str, last: u8| {
        json!({
            "name": name, "tenant": "red", "vip": vip, "pool": "10.9.0.0/24",
            "instance_capacity_bps": 1_000_000u64,
            "backends": [{"ip": format!("10.9.0.{last}"), "mac": format!("02:00:00:00:09:{last:02x}")}]
        })
    };
    let (status, kept) = http(
        api,
        "POST",
        "/api/v1/services",
        Some(body("kept", "100.64.9.1", 5)),
    )
    .await;
    assert_eq!(status, 201, "{kept}");
    let stored = service.store().load_services().unwrap();
    assert_eq!(stored.len(), 1, "committed before the 201");
    assert_eq!(stored[0].leases.len(), 1);

    service.store().close();
    let (status, refused) = http(
        api,
        "POST",
        "/api/v1/services",
        Some(body("refused", "100.64.9.2", 7)),
    )
    .await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["error"]["code"], "store_unavailable");
    let (status, _) = http(api, "GET", "/api/v1/services/refused", None).await;
    assert_eq!(status, 404, "the refused creation was undone");

    let (_, before) = http(api, "GET", "/api/v1/services/kept", None).await;
    let (status, refused) = http(
        api,
        "PUT",
        "/api/v1/services/kept/backends",
        Some(json!({"backends": [{"mac": "02:00:00:00:09:06"}]})),
    )
    .await;
    assert_eq!(status, 503, "{refused}");
    let (_, after) = http(api, "GET", "/api/v1/services/kept", None).await;
    assert_eq!(after, before, "the backend report was undone");

    let (status, refused) = http(api, "DELETE", "/api/v1/services/kept", None).await;
    assert_eq!(status, 503, "{refused}");
    let (_, after) = http(api, "GET", "/api/v1/services/kept", None).await;
    assert_eq!(after, before, "the deletion was undone");
    let (_, list) = http(api, "GET", "/api/v1/translations", None).await;
    let ips: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["physical_ip"].as_str().unwrap())
        .collect();
    assert_eq!(ips, ["10.9.0.5"], "the lease is back with it");
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configuration_defines_its_services_and_the_store_keeps_their_instances() {
    let dir = TempDir::new("prescient-svc-persistence-config").unwrap();
    let store = dir.path().join("state.redb");
    let spec = |max_instances: u32| prescient::services::ServiceSpec {
        name: "web".into(),
        tenant: "red".into(),
        vip: VIP,
        vip_mac: None,
        pool: "10.7.0.0/24".parse().unwrap(),
        backends: vec![prescient::services::Backend {
            ip: Ipv4Addr::new(10, 7, 0, 9),
            mac: prescient_topology::MacAddr([2, 0, 0, 0, 7, 9]),
            weight: 1,
        }],
        tier: 0,
        instance_capacity_bps: 1_000_000,
        min_instances: 1,
        max_instances,
        policy: None,
    };
    let with = |services: Vec<prescient::services::ServiceSpec>| {
        let mut c = config("127.0.0.1:0".parse().unwrap(), &store);
        c.services.services = services;
        c
    };
    // Configured, then the orchestrator reports other instances through the API; an API
    // service beside it.
    let first = Service::start(with(vec![spec(4)])).await.unwrap();
    let api = first.http_addr().unwrap();
    let (status, reported) = http(
        api,
        "PUT",
        "/api/v1/services/web/backends",
        Some(json!({"backends": [{"mac": "02:00:00:00:07:01"}, {"mac": "02:00:00:00:07:02"}]})),
    )
    .await;
    assert_eq!(status, 200, "{reported}");
    let reported = reported["service"]["backends"].clone();
    // A third instance, announced (under the file's 4).
    let (status, announced) = announce(api, "boot-1").await;
    assert_eq!(status, 201, "{announced}");
    let (status, created) = http(
        api,
        "POST",
        "/api/v1/services",
        Some(json!({
            "name": "api", "tenant": "blue", "vip": "100.64.0.2", "pool": "10.8.0.0/24",
            "instance_capacity_bps": 1_000_000u64,
            "backends": [{"ip": "10.8.0.3", "mac": "02:00:00:00:08:03"}]
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    first.shutdown().await;

    // The file now allows 2 instances: its definition wins, the reported instances stay.
    let second = Service::start(with(vec![spec(2)])).await.unwrap();
    let api = second.http_addr().unwrap();
    let (_, web) = http(api, "GET", "/api/v1/services/web", None).await;
    assert_eq!(
        web["max_instances"], 2,
        "the file defines the service: {web}"
    );
    assert_eq!(
        web["backends"], reported,
        "the reported instances and their leases stay"
    );
    // Three instances over the lowered limit: all kept, a new one refused, a retry answered.
    let (_, instances) = http(api, "GET", "/api/v1/services/web/instances", None).await;
    assert_eq!(instances.as_array().map(Vec::len), Some(3), "{instances}");
    let (status, refused) = announce(api, "boot-2").await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "max_instances", "{refused}");
    let (status, again) = announce(api, "boot-1").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["instance"]["address"],
        announced["instance"]["address"]
    );
    let (status, kept) = http(api, "GET", "/api/v1/services/api", None).await;
    assert_eq!(status, 200, "the API service is back: {kept}");
    second.shutdown().await;

    // Gone from the file: gone, while the API service stays.
    let third = Service::start(with(Vec::new())).await.unwrap();
    let (_, list) = http(third.http_addr().unwrap(), "GET", "/api/v1/services", None).await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api"]);
    third.shutdown().await;
    let fourth = Service::start(with(Vec::new())).await.unwrap();
    let (_, list) = http(fourth.http_addr().unwrap(), "GET", "/api/v1/services", None).await;
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(1),
        "and stays gone: {list}"
    );
    fourth.shutdown().await;
}
