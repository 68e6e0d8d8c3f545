//! Emulated OpenFlow fabrics (`prescient-sim`) against the real controller listener
//! (`prescient_southbound::openflow::session`): handshakes, flow programming, LLDP discovery
//! through packet-out/packet-in, port stats from the traffic model, link failures, reconnects,
//! and a thousand switches in one process.

// Helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prescient_sim::openflow::{SimHandle, SimNetwork, SimOptions};
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_sim::traffic::TrafficConfig;
use prescient_southbound::device::PortChange;
use prescient_southbound::openflow::session::{
    Command, ControllerConfig, EventReceiver, OpenFlowController, PublishAll, SwitchApp,
    SwitchEvent, SwitchInfo,
};
use prescient_southbound::openflow::wire::multipart::FlowStatsRequest;
use prescient_southbound::openflow::wire::{
    Action, DatapathId, FlowMod, GroupId, Instruction, Match, OxmField, PacketOut, PortNo, TableId,
};
use prescient_topology::ids::{DeviceId, MacAddr, PortNo as TopoPort};
use prescient_topology::lldp::LldpProbe;

const WAIT: Duration = Duration::from_secs(30);

async fn controller(max_switches: usize) -> (OpenFlowController, EventReceiver) {
    let mut config = ControllerConfig::new("127.0.0.1:0".parse().unwrap());
    config.max_switches = max_switches;
    config.event_capacity = 65_536;
    let factory = |_dpid: DatapathId| -> Box<dyn SwitchApp> { Box::new(PublishAll) };
    OpenFlowController::bind(config, Arc::new(factory))
        .await
        .unwrap()
}

fn fast_options() -> SimOptions {
    SimOptions {
        speedup: 3600.0,
        traffic_step: Duration::from_millis(20),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        traffic: TrafficConfig::default(),
        ..SimOptions::default()
    }
}

fn start(kind: TopologyKind, addr: SocketAddr) -> SimHandle {
    let topo = SimTopology::generate(kind).unwrap();
    SimNetwork::build(topo, TrafficConfig::default())
        .with_options(fast_options())
        .spawn(addr)
}

/// Waits for the first event matching `pred`, skipping others.
async fn next_event<T>(
    events: &mut EventReceiver,
    mut pred: impl FnMut(&SwitchEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let ev = events.recv().await.expect("event stream open");
            if let Some(t) = pred(&ev) {
                return t;
            }
        }
    })
    .await
    .expect("expected event within the deadline")
}

/// Waits until `n` distinct switches finished the controller's side of the handshake.
async fn wait_up(events: &mut EventReceiver, n: usize) -> Vec<SwitchInfo> {
    let mut up: Vec<SwitchInfo> = Vec::new();
    while up.len() < n {
        let info = next_event(events, |e| match e {
            SwitchEvent::SwitchUp(i) => Some(i.clone()),
            _ => None,
        })
        .await;
        up.retain(|u| u.dpid != info.dpid);
        up.push(info);
    }
    up.sort_by_key(|i| i.dpid);
    up
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_of_four_handshakes_with_ports_and_receives_flows() {
    let (ctl, mut events) = controller(64).await;
    let sim = start(TopologyKind::Ring(4), ctl.local_addr());
    let up = wait_up(&mut events, 4).await;
    assert_eq!(
        up.iter().map(|i| i.dpid.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    for info in &up {
        let names: Vec<&str> = info.ports.iter().map(|p| p.name.as_str()).collect();
        // Three ports and the local one, named after the switch (as Open vSwitch does).
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(names.contains(&format!("s{}-eth1", info.dpid.0).as_str()));
        assert!(names.contains(&format!("s{}", info.dpid.0).as_str()));
        assert_eq!(info.features.n_tables, 8);
    }
    assert!(sim.wait_connected(WAIT, |n| n == 4).await);

    // The controller's default table-miss flow, then our flow, show up in the sim table.
    let h = ctl.handle();
    let m = Match::new()
        .with(OxmField::InPort(PortNo(1)))
        .with(OxmField::EthType(0x0800));
    let mut fm = FlowMod::add(
        TableId(0),
        100,
        m.clone(),
        vec![Instruction::ApplyActions(vec![Action::output(PortNo(2))])],
    );
    fm.cookie = 0xfeed;
    h.install(DatapathId(3), Command::FlowMod(fm))
        .await
        .unwrap();
    h.barrier(DatapathId(3)).await.unwrap();
    let table = sim.flow_table(DatapathId(3)).await.unwrap();
    let ours = table
        .iter()
        .find(|e| e.cookie == 0xfeed)
        .expect("installed flow in the sim table");
    assert_eq!(ours.priority, 100);
    assert_eq!(ours.match_, m);
    assert!(
        table
            .iter()
            .any(|e| e.priority == 0 && e.match_.fields.is_empty()),
        "table-miss flow"
    );
    // And the controller reads it back through FLOW stats.
    let all = FlowStatsRequest {
        table_id: TableId::ALL,
        out_port: PortNo::ANY,
        out_group: GroupId::ANY,
        cookie: 0,
        cookie_mask: 0,
        match_: Match::new(),
    };
    let stats = h.flow_stats(DatapathId(3), all).await.unwrap();
    assert!(stats.iter().any(|f| f.cookie == 0xfeed));

    sim.shutdown().await;
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lldp_packet_out_arrives_as_packet_in_from_the_neighbour() {
    let (ctl, mut events) = controller(64).await;
    let sim = start(TopologyKind::Ring(4), ctl.local_addr());
    wait_up(&mut events, 4).await;
    assert_eq!(sim.connected_count(), 4);
    let h = ctl.handle();
    // Wait until s2 has its table-miss flow (the controller sends it at connect).
    h.barrier(DatapathId(2)).await.unwrap();
    let probe = LldpProbe {
        src_mac: MacAddr([2, 0, 0, 0, 1, 2]),
        chassis: DeviceId::openflow(1),
        port: TopoPort(2),
        ttl_secs: 120,
        signature: None,
    };
    let po = PacketOut {
        in_port: PortNo::CONTROLLER,
        actions: vec![Action::output(PortNo(2))],
        ..PacketOut::to_port(PortNo(2), probe.emit().into())
    };
    h.send(DatapathId(1), Command::PacketOut(po)).await.unwrap();
    // Ring of 4: s1 port 2 is linked to s2 port 2.
    let (dpid, in_port, data) = next_event(&mut events, |e| match e {
        SwitchEvent::PacketIn { dpid, packet } => {
            Some((*dpid, packet.in_port, packet.data.clone()))
        }
        _ => None,
    })
    .await;
    assert_eq!(dpid, DatapathId(2));
    assert_eq!(in_port, PortNo(2));
    let got = LldpProbe::parse(&data).unwrap();
    assert_eq!(got.chassis, DeviceId::openflow(1));
    assert_eq!(got.port, TopoPort(2));
    sim.shutdown().await;
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fat_tree_k4_connects_and_port_stats_move_consistently() {
    let (ctl, mut events) = controller(64).await;
    let sim = start(TopologyKind::FatTree(4), ctl.local_addr());
    wait_up(&mut events, 20).await;
    assert_eq!(sim.connected_count(), 20);
    let h = ctl.handle();
    assert_eq!(h.switches().len(), 20);
    // Edge switch e0_0 is dpid 7 (4 cores, then a0_0, a0_1, e0_0); its ports 3 and 4 are hosts.
    let edge = DatapathId(7);
    let first = h.port_stats(edge).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = h.port_stats(edge).await.unwrap();
    assert_eq!(first.len(), 4);
    let moved = first
        .iter()
        .zip(&second)
        .any(|(a, b)| b.tx_bytes > a.tx_bytes || b.rx_bytes > a.rx_bytes);
    assert!(moved, "{first:?} -> {second:?}");
    for (a, b) in first.iter().zip(&second) {
        assert!(
            b.tx_bytes >= a.tx_bytes && b.rx_bytes >= a.rx_bytes,
            "counters are monotonic"
        );
    }
    // Both ends of a link agree (what one sends the other receives), up to in-flight steps.
    let topo = sim.topology();
    let link = topo.links[0];
    let (da, db) = (
        topo.switches[link.a.switch].dpid,
        topo.switches[link.b.switch].dpid,
    );
    let a = sim.port_counters(da, link.a.port).unwrap();
    let b = sim.port_counters(db, link.b.port).unwrap();
    assert!(a.tx_bytes > 0);
    let diff = a.tx_bytes.abs_diff(b.rx_bytes) as f64;
    assert!(diff <= 0.05 * a.tx_bytes as f64, "{a:?} vs {b:?}");

    // Taking a link down reports PORT_STATUS from both ends.
    sim.set_link(da, db, false).await.unwrap();
    let mut downs = Vec::new();
    while downs.len() < 2 {
        let (dpid, port) = next_event(&mut events, |e| match e {
            SwitchEvent::PortStatus {
                dpid,
                change: PortChange::Modified,
                port,
            } if !port.is_live() => Some((*dpid, port.number)),
            _ => None,
        })
        .await;
        downs.push((dpid, port));
    }
    downs.sort();
    let mut want = vec![(da, link.a.port.0), (db, link.b.port.0)];
    want.sort();
    assert_eq!(downs, want);
    sim.shutdown().await;
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_frames_follow_installed_flows_end_to_end() {
    let (ctl, mut events) = controller(64).await;
    let sim = start(TopologyKind::Linear(3), ctl.local_addr());
    wait_up(&mut events, 3).await;
    let h = ctl.handle();
    // Linear 3: s1 port 1 = h1, s1 port 2 -> s2 port 2, s2 port 3 -> s3 port 2, s3 port 1 = h3.
    let to_h3 = |out: u32| {
        let m = Match::new()
            .with(OxmField::EthType(0x0800))
            .with(OxmField::Ipv4Dst {
                addr: "10.0.0.3".parse().unwrap(),
                mask: None,
            });
        FlowMod::add(
            TableId(0),
            50,
            m,
            vec![Instruction::ApplyActions(vec![Action::output(PortNo(out))])],
        )
    };
    for (dpid, out) in [(1, 2), (2, 3), (3, 1)] {
        h.install(DatapathId(dpid), Command::FlowMod(to_h3(out)))
            .await
            .unwrap();
        h.barrier(DatapathId(dpid)).await.unwrap();
    }
    let hosts = &sim.topology().hosts;
    let (h1, h3) = (&hosts[0], &hosts[2]);
    let frame =
        prescient_sim::openflow::packet::udp_packet(h1.mac, h3.mac, h1.ip, h3.ip, (4000, 53), 100);
    let (_, before) = sim.host_received(2).unwrap();
    sim.inject(0, frame.clone()).unwrap();
    tokio::time::timeout(WAIT, async {
        while sim.host_received(2).unwrap().1 == before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("h3 receives the frame");
    let (frames, _) = sim.host_received(2).unwrap();
    assert_eq!(frames.last(), Some(&frame));
    // Every switch on the path counted one hit on the flow.
    for dpid in 1..=3 {
        let table = sim.flow_table(DatapathId(dpid)).await.unwrap();
        let hit = table.iter().find(|e| e.priority == 50).unwrap();
        assert_eq!(hit.packet_count, 1, "switch {dpid}");
    }
    // With the s2-s3 link down the frame dies at s2: its port 3 is down.
    sim.set_link(DatapathId(2), DatapathId(3), false)
        .await
        .unwrap();
    let dropped_before = sim.switch_stats(DatapathId(2)).unwrap().dropped;
    let tx_before = sim
        .port_counters(DatapathId(2), PortNo(3))
        .unwrap()
        .tx_packets;
    sim.inject(0, frame).unwrap();
    tokio::time::timeout(WAIT, async {
        while sim.switch_stats(DatapathId(2)).unwrap().dropped == dropped_before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the frame is dropped at the dead link");
    assert_eq!(
        sim.port_counters(DatapathId(2), PortNo(3))
            .unwrap()
            .tx_packets,
        tx_before
    );
    assert_eq!(sim.host_received(2).unwrap().1, before + 1);
    sim.shutdown().await;
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_reconnect_when_the_controller_comes_back() {
    // The controller comes back on the same port: one no parallel test can take meanwhile.
    let (ctl, _events) = prescient_tests::bind_below_ephemeral(|addr| {
        let mut config = ControllerConfig::new(addr);
        config.max_switches = 64;
        config.event_capacity = 65_536;
        let factory = |_dpid: DatapathId| -> Box<dyn SwitchApp> { Box::new(PublishAll) };
        OpenFlowController::bind(config, Arc::new(factory))
    })
    .await;
    let addr = ctl.local_addr();
    let sim = start(TopologyKind::Linear(3), addr);
    assert!(sim.wait_connected(WAIT, |n| n == 3).await);
    ctl.shutdown().await;
    assert!(
        sim.wait_connected(WAIT, |n| n == 0).await,
        "switches notice the controller left"
    );
    let mut config = ControllerConfig::new(addr);
    config.max_switches = 64;
    let factory = |_dpid: DatapathId| -> Box<dyn SwitchApp> { Box::new(PublishAll) };
    let (ctl, _events2) = OpenFlowController::bind(config, Arc::new(factory))
        .await
        .unwrap();
    assert!(
        sim.wait_connected(WAIT, |n| n == 3).await,
        "switches reconnect"
    );
    assert_eq!(sim.connects(DatapathId(2)), 2);
    sim.shutdown().await;
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_switches_connect_in_one_process() {
    let (ctl, mut events) = controller(4096).await;
    let sim = start(TopologyKind::Ring(1000), ctl.local_addr());
    // Every switch finishes the controller's side of the handshake (features and port list).
    let mut up = std::collections::HashSet::new();
    tokio::time::timeout(Duration::from_secs(120), async {
        while up.len() < 1000 {
            if let Some(SwitchEvent::SwitchUp(info)) = events.recv().await {
                // Three ports and the local one.
                assert_eq!(info.ports.len(), 4);
                up.insert(info.dpid);
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of 1000 switches came up", up.len()));
    assert_eq!(sim.connected_count(), 1000);
    assert_eq!(ctl.handle().switches().len(), 1000);
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
    sim.shutdown().await;
    ctl.shutdown().await;
    drain.abort();
}
