//! The dashboard on a network too large to draw whole: a ring of 400 switches, traffic on the
//! links of ten of them. In headless Chromium the graph draws the 150 busiest switches (the
//! loaded ten among them), only links between drawn switches, and the summary says so.
//! Skipped, saying so, where Chromium is not installed.

// The shared browser driver; this test only looks, it clicks nothing and saves no picture.
#[allow(dead_code)]
mod cdp;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prescient::core::{CoreConfig, SharedCore};
use prescient::northbound::{ApiConfig, ApiState};
use prescient_tests::rest::{at, port, serve};
use prescient_topology::{DeviceId, PortCounters, Timestamp};
use serde_json::json;

const SWITCHES: u64 = 400;
/// Switches whose port 2 (towards the next one) carries traffic.
const BUSY: std::ops::RangeInclusive<u64> = 300..=309;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_of_400_switches_is_drawn_as_its_150_busiest() {
    if !Path::new(cdp::CHROMIUM).exists() {
        eprintln!("SKIPPED: {} is not installed", cdp::CHROMIUM);
        return;
    }
    let clock = Arc::new(AtomicU64::new(Timestamp::from_secs(1).nanos()));
    let c2 = Arc::clone(&clock);
    let core = SharedCore::with_clock(
        CoreConfig::default(),
        Arc::new(move || Timestamp(c2.load(Ordering::SeqCst))),
    );
    let next = |d: u64| d % SWITCHES + 1;
    for s in 1..=3u64 {
        let now = Timestamp::from_secs(s);
        core.apply(|c| {
            if s == 1 {
                for d in 1..=SWITCHES {
                    c.device_up(now, DeviceId::openflow(d), vec![port(1), port(2)]);
                }
            }
            for d in 1..=SWITCHES {
                c.lldp_received(now, at(next(d), 1), at(d, 2))
                    .expect("d -> next");
                c.lldp_received(now, at(d, 2), at(next(d), 1))
                    .expect("next -> d");
            }
            for d in BUSY {
                let bytes = s * 50_000_000;
                let counters = PortCounters {
                    tx_bytes: bytes,
                    tx_packets: bytes / 1000,
                    ..PortCounters::default()
                };
                c.port_counters(now, at(d, 2), counters);
            }
        });
        clock.store(now.nanos(), Ordering::SeqCst);
    }
    let state = ApiState::new(
        core,
        ApiConfig {
            token: None,
            protect_reads: false,
        },
    );
    let (addr, stop) = serve(state).await;
    let mut browser = cdp::Browser::launch(1280, 1200).await.expect("chromium");
    let page = browser.page();
    page.call("Page.navigate", json!({"url": format!("http://{addr}/")}))
        .await
        .expect("navigate");
    page.wait_for(
        "document.querySelectorAll('#graph circle.node').length > 0",
        Duration::from_secs(60),
    )
    .await
    .expect("topology drawn");
    let drawn = page
        .eval(
            "({switches: document.querySelectorAll('#graph circle.node').length, \
              links: [...document.querySelectorAll('#graph line.link[data-link]')].map((l) => l.dataset.link), \
              labels: [...document.querySelectorAll('#graph text.label')].map((t) => t.textContent), \
              summary: document.getElementById('summary').textContent})",
        )
        .await
        .expect("eval");
    browser.close().await;
    stop.cancel();
    assert_eq!(drawn["switches"], 150, "{}", drawn["summary"]);
    let summary = drawn["summary"].as_str().expect("summary");
    assert!(
        summary.starts_with("400 devices · 800 links")
            && summary.contains("drawing the 150 busiest of 400 devices"),
        "{summary}"
    );
    let labels: Vec<&str> = drawn["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    for d in BUSY.chain(BUSY.map(next)) {
        let name = format!("of:{d:x}");
        assert!(labels.contains(&name.as_str()), "busy {name} not drawn");
    }
    // Only links whose both ends are drawn: a chain of 150 switches has at most 2 × 149.
    let links = drawn["links"].as_array().expect("links");
    assert!(
        !links.is_empty() && links.len() <= 2 * 149,
        "{} links",
        links.len()
    );
}
