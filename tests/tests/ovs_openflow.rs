//! Prescient's OpenFlow sessions against a real Open vSwitch (userspace datapath): handshake,
//! port description, flows, meters, groups, port stats, packet-out → packet-in across a patch
//! link, and desired-state replay after ovs-vswitchd is killed and restarted.
//!
//! Needs root (see `prescient_tests::root_tests_enabled`). Each test runs its own private Open
//! vSwitch and its own listener on a free port, with bridge names unique to the test.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prescient::openflow_app::L2LearningFactory;
use prescient_southbound::openflow::session::{
    Command, ControllerConfig, EventReceiver, OpenFlowController, OpenFlowHandle, SwitchEvent,
    SwitchInfo,
};
use prescient_southbound::openflow::wire::multipart::FlowStatsRequest;
use prescient_southbound::openflow::wire::{
    Action, Bucket, ControllerRole, DatapathId, FlowMod, GroupCommand, GroupId, GroupMod,
    GroupType, Instruction, Match, MeterBand, MeterCommand, MeterFlags, MeterId, MeterMod,
    OxmField, PacketOut, PortNo, TableId,
};
use prescient_tests::ovs::Ovs;

const WAIT: Duration = Duration::from_secs(20);

async fn controller() -> (OpenFlowController, EventReceiver) {
    let any: SocketAddr = ([127, 0, 0, 1], 0).into();
    OpenFlowController::bind(
        ControllerConfig::new(any),
        Arc::new(L2LearningFactory::default()),
    )
    .await
    .expect("binding the OpenFlow listener")
}

fn target(c: &OpenFlowController) -> String {
    format!("tcp:{}", c.local_addr())
}

/// The first event satisfying `pick`, skipping others, within `WAIT`.
async fn next_event<T>(
    events: &mut EventReceiver,
    what: &str,
    mut pick: impl FnMut(&SwitchEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(ev)) => {
                if let Some(v) = pick(&ev) {
                    return v;
                }
            }
            Ok(None) => panic!("event stream ended while waiting for {what}"),
            Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
        }
    }
}

async fn switch_up(events: &mut EventReceiver, dpid: DatapathId) -> SwitchInfo {
    next_event(events, &format!("switch {dpid} up"), |ev| match ev {
        SwitchEvent::SwitchUp(info) if info.dpid == dpid => Some(info.clone()),
        _ => None,
    })
    .await
}

/// Polls `ovs-ofctl` output until it contains every needle.
async fn ofctl_shows(ovs: &Ovs, args: &[&str], needles: &[&str]) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let out = ovs.ofctl(args).unwrap_or_default();
        if needles.iter().all(|n| out.contains(n)) {
            return out;
        }
        if Instant::now() >= deadline {
            panic!(
                "`ovs-ofctl {}` never showed {needles:?}; last output:\n{out}",
                args.join(" ")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ip_flow(in_port: u32, out_port: u32) -> FlowMod {
    FlowMod::add(
        TableId(0),
        100,
        Match::new()
            .with(OxmField::InPort(PortNo(in_port)))
            .with(OxmField::EthType(0x0800)),
        vec![Instruction::ApplyActions(vec![Action::output(PortNo(
            out_port,
        ))])],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovs_handshake_ports_flows_meters_groups_and_stats() {
    if !prescient_tests::root_tests_enabled("ovs_handshake_ports_flows_meters_groups_and_stats") {
        return;
    }
    let (ctl, mut events) = controller().await;
    let handle = ctl.handle();
    let mut ovs = Ovs::start("h5-basic").expect("starting Open vSwitch");
    let dpid = DatapathId(0xa1);
    ovs.add_bridge("h5a", dpid.0, &target(&ctl))
        .expect("adding bridge");
    ovs.add_internal_port("h5a", "h5a-p1", 1)
        .expect("adding port 1");
    ovs.add_internal_port("h5a", "h5a-p2", 2)
        .expect("adding port 2");

    let info = switch_up(&mut events, dpid).await;
    assert_eq!(info.features.datapath_id, dpid);
    // Ports added after the handshake arrive as PORT_STATUS; PORT_DESC asked now lists all.
    let deadline = Instant::now() + WAIT;
    let ports = loop {
        let ports = handle.port_desc(dpid).await.expect("PORT_DESC");
        let names: Vec<String> = ports.iter().map(|p| p.name.clone()).collect();
        if names.iter().any(|n| n == "h5a-p1") && names.iter().any(|n| n == "h5a-p2") {
            break ports;
        }
        assert!(Instant::now() < deadline, "ports never listed: {names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(ports.iter().any(|p| p.number == 1 && p.name == "h5a-p1"));
    assert!(ports.iter().any(|p| p.number == 2 && p.name == "h5a-p2"));

    // The table-miss flow from connect time, then a flow of ours.
    ofctl_shows(
        &ovs,
        &["dump-flows", "h5a"],
        &["priority=0 actions=CONTROLLER:65535"],
    )
    .await;
    handle
        .install(dpid, Command::FlowMod(ip_flow(1, 2)))
        .await
        .expect("installing a flow");
    handle.barrier(dpid).await.expect("barrier");
    ofctl_shows(
        &ovs,
        &["dump-flows", "h5a"],
        &["priority=100,ip,in_port=1 actions=output:2"],
    )
    .await;

    let meter = MeterMod {
        command: MeterCommand::Add,
        flags: MeterFlags(MeterFlags::KBPS.0 | MeterFlags::STATS.0),
        meter_id: MeterId(7),
        bands: vec![MeterBand::Drop {
            rate: 10_000,
            burst_size: 0,
        }],
    };
    handle
        .install(dpid, Command::MeterMod(meter))
        .await
        .expect("installing a meter");
    let group = GroupMod {
        command: GroupCommand::Add,
        group_type: GroupType::Select,
        group_id: GroupId(3),
        buckets: [1u32, 2]
            .iter()
            .map(|p| Bucket {
                weight: 1,
                watch_port: PortNo::ANY,
                watch_group: GroupId::ANY,
                actions: vec![Action::output(PortNo(*p))],
            })
            .collect(),
    };
    handle
        .install(dpid, Command::GroupMod(group))
        .await
        .expect("installing a group");
    handle.barrier(dpid).await.expect("barrier");
    ofctl_shows(
        &ovs,
        &["dump-meters", "h5a"],
        &["meter=7", "kbps", "type=drop rate=10000"],
    )
    .await;
    ofctl_shows(
        &ovs,
        &["dump-groups", "h5a"],
        &[
            "group_id=3,type=select",
            "actions=output:1",
            "actions=output:2",
        ],
    )
    .await;

    let flows = handle
        .flow_stats(dpid, FlowStatsRequest::default())
        .await
        .expect("FLOW_STATS");
    assert!(
        flows.iter().any(|f| {
            let ours = ip_flow(1, 2).match_.fields;
            // Compared as a set: the switch may list OXM fields in its own order.
            f.priority == 100
                && f.match_.fields.len() == ours.len()
                && ours.iter().all(|o| f.match_.fields.contains(o))
        }),
        "our flow is missing from FLOW_STATS: {flows:?}"
    );
    let granted = handle
        .role(dpid, ControllerRole::Master, 1)
        .await
        .expect("ROLE_REQUEST");
    assert_eq!(granted.role, ControllerRole::Master);

    let stats = handle.port_stats(dpid).await.expect("PORT_STATS");
    for n in [1, 2] {
        assert!(
            stats.iter().any(|c| c.number == n),
            "no counters for port {n}: {stats:?}"
        );
    }

    drop(ovs);
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovs_lldp_packet_out_arrives_as_packet_in_across_a_patch_link() {
    if !prescient_tests::root_tests_enabled(
        "ovs_lldp_packet_out_arrives_as_packet_in_across_a_patch_link",
    ) {
        return;
    }
    let (ctl, mut events) = controller().await;
    let handle = ctl.handle();
    let mut ovs = Ovs::start("h5-lldp").expect("starting Open vSwitch");
    let (d1, d2) = (DatapathId(0xb1), DatapathId(0xb2));
    ovs.add_bridge("h5b1", d1.0, &target(&ctl))
        .expect("bridge 1");
    ovs.add_bridge("h5b2", d2.0, &target(&ctl))
        .expect("bridge 2");
    ovs.patch(("h5b1", "h5b1-to2", 5), ("h5b2", "h5b2-to1", 6))
        .expect("patch");

    let mut up = Vec::new();
    while up.len() < 2 {
        let dpid = next_event(&mut events, "both bridges up", |ev| match ev {
            SwitchEvent::SwitchUp(i) => Some(i.dpid),
            _ => None,
        })
        .await;
        up.push(dpid);
    }
    // The table-miss flow must be on the receiving bridge before the probe goes out.
    ofctl_shows(
        &ovs,
        &["dump-flows", "h5b2"],
        &["priority=0 actions=CONTROLLER:65535"],
    )
    .await;

    let mut frame = vec![
        0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 0x02, 0, 0, 0, 0, 0xb1, 0x88, 0xcc,
    ];
    // Chassis id TLV (MAC subtype), port id TLV, TTL TLV, end.
    frame.extend_from_slice(&[0x02, 0x07, 0x04, 0x02, 0, 0, 0, 0, 0xb1]);
    frame.extend_from_slice(&[0x04, 0x05, 0x07, 0, 0, 0, 5]);
    frame.extend_from_slice(&[0x06, 0x02, 0, 120, 0, 0]);
    let probe = Bytes::from(frame);
    // Resend until it shows up: the patch port may still be coming up in the datapath.
    let deadline = Instant::now() + WAIT;
    loop {
        handle
            .send(
                d1,
                Command::PacketOut(PacketOut::to_port(PortNo(5), probe.clone())),
            )
            .await
            .expect("packet-out");
        let got = tokio::time::timeout(Duration::from_secs(1), async {
            next_event(&mut events, "LLDP packet-in", |ev| match ev {
                SwitchEvent::PacketIn { dpid, packet } if *dpid == d2 => Some(packet.clone()),
                _ => None,
            })
            .await
        })
        .await;
        if let Ok(packet) = got {
            assert_eq!(packet.in_port, PortNo(6));
            assert_eq!(packet.data, probe);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "LLDP probe never arrived at bridge 2"
        );
    }

    drop(ovs);
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovs_restart_reconnects_and_reinstalls_desired_flows() {
    if !prescient_tests::root_tests_enabled("ovs_restart_reconnects_and_reinstalls_desired_flows") {
        return;
    }
    let (ctl, mut events) = controller().await;
    let handle: OpenFlowHandle = ctl.handle();
    let mut ovs = Ovs::start("h5-restart").expect("starting Open vSwitch");
    let dpid = DatapathId(0xc1);
    ovs.add_bridge("h5c", dpid.0, &target(&ctl))
        .expect("adding bridge");
    ovs.add_internal_port("h5c", "h5c-p1", 1).expect("port 1");
    ovs.add_internal_port("h5c", "h5c-p2", 2).expect("port 2");
    switch_up(&mut events, dpid).await;

    handle
        .install(dpid, Command::FlowMod(ip_flow(2, 1)))
        .await
        .expect("installing a flow");
    ofctl_shows(
        &ovs,
        &["dump-flows", "h5c"],
        &["priority=100,ip,in_port=2 actions=output:1"],
    )
    .await;

    ovs.kill_vswitchd().expect("killing ovs-vswitchd");
    next_event(&mut events, "switch down", |ev| match ev {
        SwitchEvent::SwitchDown { dpid: d, .. } if *d == dpid => Some(()),
        _ => None,
    })
    .await;
    assert!(!handle.is_up(dpid));
    ovs.start_vswitchd().expect("restarting ovs-vswitchd");
    switch_up(&mut events, dpid).await;
    // A restarted ovs-vswitchd starts with empty tables: the flow is there again only because
    // the controller replayed its desired state.
    ofctl_shows(
        &ovs,
        &["dump-flows", "h5c"],
        &[
            "priority=100,ip,in_port=2 actions=output:1",
            "priority=0 actions=CONTROLLER:65535",
        ],
    )
    .await;
    assert_eq!(handle.switches(), vec![dpid]);

    drop(ovs);
    ctl.shutdown().await;
}

fn drop_meter(rate_kbps: u32) -> MeterMod {
    MeterMod {
        command: MeterCommand::Add,
        flags: MeterFlags(MeterFlags::KBPS.0 | MeterFlags::STATS.0),
        meter_id: MeterId(7),
        bands: vec![MeterBand::Drop {
            rate: rate_kbps,
            burst_size: 0,
        }],
    }
}

fn metered_flow() -> FlowMod {
    FlowMod::add(
        TableId(0),
        200,
        Match::new()
            .with(OxmField::InPort(PortNo(2)))
            .with(OxmField::EthType(0x0800)),
        vec![
            Instruction::Meter(MeterId(7)),
            Instruction::ApplyActions(vec![Action::output(PortNo(1))]),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovs_controller_restart_replaces_what_the_previous_controller_left() {
    if !prescient_tests::root_tests_enabled(
        "ovs_controller_restart_replaces_what_the_previous_controller_left",
    ) {
        return;
    }
    let (first, mut events) = prescient_tests::bind_below_ephemeral(|addr| {
        OpenFlowController::bind(
            ControllerConfig::new(addr),
            Arc::new(L2LearningFactory::default()),
        )
    })
    .await;
    let addr = first.local_addr();
    let mut ovs = Ovs::start("h5-ctlrestart").expect("starting Open vSwitch");
    let dpid = DatapathId(0xc2);
    ovs.add_bridge("h5r", dpid.0, &target(&first))
        .expect("adding bridge");
    ovs.add_internal_port("h5r", "h5r-p1", 1).expect("port 1");
    ovs.add_internal_port("h5r", "h5r-p2", 2).expect("port 2");
    switch_up(&mut events, dpid).await;
    let handle = first.handle();
    for cmd in [
        Command::MeterMod(drop_meter(1_000)),
        Command::FlowMod(metered_flow()),
        Command::FlowMod(ip_flow(1, 2)),
    ] {
        handle.install(dpid, cmd).await.expect("installing");
    }
    ofctl_shows(&ovs, &["dump-meters", "h5r"], &["type=drop rate=1000"]).await;
    ofctl_shows(&ovs, &["dump-flows", "h5r"], &["in_port=1"]).await;

    // The controller goes away; Open vSwitch keeps its tables. The next controller life wants
    // the meter at another rate and no longer wants the in_port=1 flow.
    first.shutdown().await;
    drop(events);
    let (second, mut events) = OpenFlowController::bind(
        ControllerConfig::new(addr),
        Arc::new(L2LearningFactory::default()),
    )
    .await
    .expect("binding the second controller on the same address");
    let handle = second.handle();
    for cmd in [
        Command::MeterMod(drop_meter(2_000)),
        Command::FlowMod(metered_flow()),
    ] {
        handle
            .install(dpid, cmd)
            .await
            .expect("desired before connect");
    }
    switch_up(&mut events, dpid).await;
    let meters = ofctl_shows(&ovs, &["dump-meters", "h5r"], &["type=drop rate=2000"]).await;
    assert!(!meters.contains("rate=1000"), "stale meter kept:\n{meters}");
    let flows = ofctl_shows(
        &ovs,
        &["dump-flows", "h5r"],
        &["meter:7", "priority=0 actions=CONTROLLER:65535"],
    )
    .await;
    assert!(!flows.contains("in_port=1"), "stale flow kept:\n{flows}");

    drop(ovs);
    second.shutdown().await;
}
