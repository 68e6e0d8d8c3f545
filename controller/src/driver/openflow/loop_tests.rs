//! The driver loop while a control tick is in flight: switches' events are served, a failed
//! link is rerouted, and the tick, once it ends, does not undo the reroute; cancelled, the loop
//! ends without waiting for the tick.
//!
//! The tick is held by occupying the forecast pool's only thread: the loop has started it
//! (`tick_running`) and it cannot end until the test lets the pool go. A loop that waited for
//! the tick would serve nothing meanwhile, and these tests would fail at their first wait.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use prescient_sim::openflow::packet::udp_packet;
use prescient_sim::openflow::{FlowEntry, SimHandle, SimNetwork, SimOptions};
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_sim::traffic::TrafficConfig;
use prescient_southbound::openflow::session::{
    ControllerConfig, OpenFlowController, PublishAll, SwitchApp,
};
use prescient_southbound::openflow::wire::{DatapathId, MacAddr as WireMac};
use prescient_topology::MacAddr;
use tokio_util::sync::CancellationToken;

use super::{host_pair, run, DriverConfig, STEER_PRIORITY};
use crate::core::{CoreConfig, SharedCore};
use crate::driver::forecast_pool::ForecastPool;

/// Longest any wait here may take before the test fails (it never takes this long when the
/// loop works; it bounds a failure, it times nothing).
const WAIT: Duration = Duration::from_secs(30);

/// The controller's driver loop on `core`, with the forecast pool held by a job that runs until
/// `release` is dropped or sent to.
struct Held {
    core: Arc<SharedCore>,
    cancel: CancellationToken,
    driver: tokio::task::JoinHandle<()>,
    release: mpsc::Sender<()>,
    addr: std::net::SocketAddr,
    _controller: OpenFlowController,
}

async fn driver_with_the_pool_held() -> Held {
    let mut config = CoreConfig::default();
    config.topology.discovery.probe_interval = Duration::from_millis(100);
    let core = SharedCore::new(config);
    let pool = Arc::new(ForecastPool::start(1).expect("pool"));
    let (release, held) = mpsc::channel::<()>();
    // Runs at once on the pool's only thread; the tick's job queues behind it.
    drop(pool.run(move || {
        let _ = held.recv();
    }));
    let factory = |_dpid: DatapathId| -> Box<dyn SwitchApp> { Box::new(PublishAll) };
    let (controller, events) = OpenFlowController::bind(
        ControllerConfig::new("127.0.0.1:0".parse().expect("addr")),
        Arc::new(factory),
    )
    .await
    .expect("listener");
    let cancel = CancellationToken::new();
    let config = DriverConfig {
        probe_poll: Duration::from_millis(20),
        control_interval: Duration::from_millis(50),
        ..DriverConfig::new(pool)
    };
    let driver = tokio::spawn(run(
        Arc::clone(&core),
        controller.handle(),
        events,
        config,
        BTreeMap::new(),
        cancel.clone(),
    ));
    // The loop's first tick starts at once and stays in flight.
    until("the first tick started", || core.metrics().tick_running()).await;
    Held {
        addr: controller.local_addr(),
        core,
        cancel,
        driver,
        release,
        _controller: controller,
    }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether switch `dpid` holds a steered entry for the pair `(src, dst)`.
async fn carries(sim: &SimHandle, dpid: u64, pair: (MacAddr, MacAddr)) -> bool {
    let table: Vec<FlowEntry> = sim.flow_table(DatapathId(dpid)).await.expect("table");
    table
        .iter()
        .any(|e| e.priority == STEER_PRIORITY && host_pair(&e.match_) == Some(pair))
}

async fn until_carried(sim: &SimHandle, dpid: u64, pair: (MacAddr, MacAddr)) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !carries(sim, dpid, pair).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "s{dpid} never carried the pair"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_fails_while_a_tick_runs_is_rerouted_before_the_tick_ends() {
    let held = driver_with_the_pool_held().await;
    let core = &held.core;
    // s1 - s2 - s3 - s4 - s1, host i on switch i + 1.
    let topo = SimTopology::generate(TopologyKind::Ring(4)).expect("ring");
    let hosts: Vec<(WireMac, Ipv4Addr)> = topo.hosts.iter().map(|h| (h.mac, h.ip)).collect();
    let sim = SimNetwork::build(topo, TrafficConfig::default())
        .with_options(SimOptions::default())
        .spawn(held.addr);
    // Switch ups, LLDP probes out and their packet-ins back: the ring is discovered.
    until("the ring's links discovered", || {
        core.snapshot().links().len() == 8
    })
    .await;
    // h2 then h1 speak: the pair h1 -> h2 is routed on its shortest path, s1 - s2.
    let (h1, h2) = (hosts[0], hosts[1]);
    let udp = |from: (WireMac, Ipv4Addr), to: (WireMac, Ipv4Addr)| {
        udp_packet(from.0, to.0, from.1, to.1, (5000, 5001), 0)
    };
    let mac = |m: WireMac| MacAddr(m.0);
    sim.inject(1, udp(h2, h1)).expect("h2 sends");
    until("h2 learned", || core.snapshot().host(mac(h2.0)).is_some()).await;
    sim.inject(0, udp(h1, h2)).expect("h1 sends");
    let pair = (mac(h1.0), mac(h2.0));
    until_carried(&sim, 1, pair).await;
    assert!(!carries(&sim, 4, pair).await, "the pair's path is s1 - s2");

    // s1 - s2 fails: rerouted by way of s4 and s3 while the tick is still in flight.
    sim.set_link(DatapathId(1), DatapathId(2), false)
        .await
        .expect("cut");
    until_carried(&sim, 4, pair).await;
    until_carried(&sim, 3, pair).await;
    assert!(core.metrics().tick_running(), "the tick is still running");
    assert_eq!(core.metrics().ticks().count, 0, "no tick has ended");

    // The tick ends; what it decided does not put the pair back on the dead link.
    held.release.send(()).expect("the pool's job waits");
    until("the tick ended", || core.metrics().ticks().count >= 1).await;
    let snapshot = core.snapshot();
    assert_eq!(snapshot.links().len(), 6, "s1 - s2 stays down");
    assert!(carries(&sim, 4, pair).await && carries(&sim, 3, pair).await);
    held.cancel.cancel();
    held.driver.await.expect("the driver ends");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_cancelled_mid_tick_ends_without_waiting_for_it() {
    let held = driver_with_the_pool_held().await;
    held.cancel.cancel();
    // The pool is still held: a loop waiting for its tick would not end here.
    tokio::time::timeout(WAIT, held.driver)
        .await
        .expect("the driver ended")
        .expect("without a panic");
    assert!(
        !held.core.metrics().tick_running(),
        "the tick ends with the loop"
    );
    assert_eq!(held.core.metrics().ticks().count, 0, "and is not counted");
    drop(held.release);
}
