//! `prescient demo` tells the whole story through its public API: every emulated host is known
//! (learned from the frames hosts send, as real ones), at least half of the traffic model's
//! host pairs have forecasts, every trend of the model has its configured service, and the loop forecast →
//! webhook → instance → translation closes: the emulated orchestrator answered a scale-up hook
//! and the instance it booted (MAC 02:0e:…) is translated behind its service's VIP.
//!
//! Time is compressed 3000 times (a model day in under 30 s) so the growing service outgrows
//! its first instance within seconds; the probe polls the API until everything was seen.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use prescient::cmd::demo::{run_report, Args};
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_sim::traffic::{TrafficConfig, TrafficModel};
use prescient_tests::http::{free_addr, get_blocking};
use prescient_topology::MacAddr;
use serde_json::Value;

/// What the probe saw, the first time it saw it.
#[derive(Debug, Default)]
struct Seen {
    hosts: BTreeSet<String>,
    pair_forecasts: BTreeSet<(String, String)>,
    services: BTreeSet<String>,
    booted_translation: Option<Value>,
    delivered_hook: Option<Value>,
}

impl Seen {
    fn complete(&self, hosts: usize, pairs: usize) -> bool {
        self.hosts.len() >= hosts
            && 2 * self.pair_forecasts.len() >= pairs
            && self.services.len() >= 3
            && self.booted_translation.is_some()
            && self.delivered_hook.is_some()
    }
}

#[test]
fn the_demo_shows_hosts_pair_forecasts_services_and_the_hook_loop_through_its_api() {
    let topo = SimTopology::generate(TopologyKind::Abilene).unwrap();
    let macs: BTreeSet<String> = topo
        .hosts
        .iter()
        .map(|h| MacAddr(h.mac.0).to_string())
        .collect();
    // The demo's pairs: the default model's (trends change volumes, not who talks to whom).
    let model = TrafficModel::new(topo.hosts.len(), TrafficConfig::default());
    let pairs: Vec<(String, String)> = model
        .pairs()
        .iter()
        .map(|p| {
            (
                MacAddr(topo.hosts[p.src].mac.0).to_string(),
                MacAddr(topo.hosts[p.dst].mac.0).to_string(),
            )
        })
        .collect();
    let http = free_addr();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    // 60 s: the services grow from model day 0.4 (12 s here) and their demand is known once
    // every sending pair's series is warm (20 measured rates); a pair's series starts at its
    // first measured rate, which under load trails its flow's baseline sample by several polls.
    let seconds = 60;
    let args = Args {
        seconds: Some(seconds),
        interval: 1,
        time_scale: 3000.0,
        http,
        openflow: any,
        ..Args::default()
    };
    let hosts_total = macs.len();
    let probe = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(seconds - 3);
        let mut seen = Seen::default();
        while Instant::now() < end && !seen.complete(hosts_total, pairs.len()) {
            std::thread::sleep(Duration::from_secs(1));
            observe(http, &pairs, &mut seen);
        }
        seen
    });
    let report = run_report(args).unwrap();
    let seen = probe.join().unwrap();
    assert_eq!(
        seen.hosts, macs,
        "the API's hosts are not the sim's: {report:?}"
    );
    // Every pair is counted on the flows the controller installed for it; within the time
    // given, at least half of the model's pairs must have history and a forecast.
    assert!(
        2 * seen.pair_forecasts.len() >= model.pairs().len(),
        "only {} of the model's {} pairs had forecasts: {report:?}",
        seen.pair_forecasts.len(),
        model.pairs().len()
    );
    assert_eq!(seen.services.len(), 3, "{:?}", seen.services);
    for kind in ["growing", "shrinking", "scale-out"] {
        assert!(
            seen.services.iter().any(|s| s.starts_with(kind)),
            "no {kind} service: {:?}",
            seen.services
        );
    }
    assert!(
        seen.delivered_hook.is_some(),
        "no hook call answered by the orchestrator: {report:?}"
    );
    assert!(
        seen.booted_translation.is_some(),
        "no translation to an instance the orchestrator booted: {report:?}"
    );
    assert_eq!(report.hosts, hosts_total, "{report:?}");
    assert!(report.pair_forecasts > 0, "{report:?}");
    assert!(report.hook_calls >= 1 && report.booted >= 1, "{report:?}");
    assert!(report.instances > report.services, "{report:?}");
}

fn observe(http: SocketAddr, pairs: &[(String, String)], seen: &mut Seen) {
    if let Some(Value::Array(hosts)) = get(http, "/api/v1/hosts") {
        for h in hosts {
            let has_ip = h["ips"].as_array().is_some_and(|ips| !ips.is_empty());
            if let (Some(mac), true) = (h["mac"].as_str(), has_ip) {
                seen.hosts.insert(mac.to_string());
            }
        }
    }
    for (src, dst) in pairs {
        if seen.pair_forecasts.contains(&(src.clone(), dst.clone())) {
            continue;
        }
        let Some(f) = get(http, &format!("/api/v1/forecasts/pairs/{src}/{dst}")) else {
            continue;
        };
        let points = |k: &str| f[k].as_array().map_or(0, Vec::len);
        if points("history") > 0 && points("forecast") > 0 {
            seen.pair_forecasts.insert((src.clone(), dst.clone()));
        }
    }
    if let Some(Value::Array(services)) = get(http, "/api/v1/services") {
        for s in services {
            if let Some(name) = s["name"].as_str() {
                seen.services.insert(name.to_string());
            }
        }
    }
    if let Some(Value::Array(translations)) = get(http, "/api/v1/translations") {
        seen.booted_translation = seen.booted_translation.take().or_else(|| {
            translations.into_iter().find(|t| {
                t["physical_mac"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("02:0e:"))
            })
        });
    }
    if let Some(hooks) = get(http, "/api/v1/hooks") {
        seen.delivered_hook = seen.delivered_hook.take().or_else(|| {
            hooks["recent"]
                .as_array()
                .and_then(|r| r.iter().find(|h| h["status"] == "delivered").cloned())
        });
    }
}

/// A minimal HTTP/1.1 GET: the JSON body of a 200 answer, None for anything else (the demo
/// may not be up yet, a pair may have no samples yet).
fn get(addr: SocketAddr, path: &str) -> Option<Value> {
    let (status, body) = get_blocking(addr, path, Duration::from_secs(5))?;
    if status != 200 {
        return None;
    }
    serde_json::from_str(&body).ok()
}
