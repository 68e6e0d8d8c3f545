use std::time::Duration;

use prescient_southbound::openflow::session::{
    Command, ControllerConfig, EventReceiver, OpenFlowController, PublishAll, SwitchApp,
    SwitchEvent,
};
use prescient_southbound::openflow::wire::{DatapathId, PacketOut, PortNo};
use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use tokio::sync::mpsc;

use super::*;
use crate::p4rt::prescient_p4info;
use crate::topology::TopologyKind;
use crate::traffic::{TrafficConfig, TrendConfig};

const WAIT: Duration = Duration::from_secs(20);

type P4Stream = mpsc::Receiver<Result<p4::StreamMessageResponse, tonic::Status>>;

/// Makes `stream` the primary of `device` and pushes prescient.p4, as a controller would.
fn primary(net: &P4SimNetwork, device: u64, stream: u64) -> P4Stream {
    let (tx, rx) = mpsc::channel(256);
    let election = Some(p4::Uint128 { high: 0, low: 1 });
    net.open_stream(device, stream, tx).unwrap();
    net.arbitrate(
        stream,
        &p4::MasterArbitrationUpdate {
            device_id: device,
            election_id: election,
            ..Default::default()
        },
    )
    .unwrap();
    net.set_pipeline(&p4::SetForwardingPipelineConfigRequest {
        device_id: device,
        election_id: election,
        action: p4::set_forwarding_pipeline_config_request::Action::VerifyAndCommit as i32,
        config: Some(p4::ForwardingPipelineConfig {
            p4info: prescient_p4info().ok(),
            ..Default::default()
        }),
        ..Default::default()
    })
    .unwrap();
    rx
}

/// An LLDP-typed frame (nearest-bridge multicast, ethertype 0x88cc) carrying `tag`.
fn lldp(tag: u8) -> Vec<u8> {
    let mut f = vec![
        0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 0x02, 0, 0, 0, 0, tag, 0x88, 0xcc,
    ];
    f.extend_from_slice(&[tag; 32]);
    f
}

fn fast_options() -> SimOptions {
    SimOptions {
        speedup: 3600.0,
        traffic_step: Duration::from_millis(20),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        traffic: TrafficConfig {
            trends: TrendConfig::typical(),
            ..TrafficConfig::default()
        },
        ..SimOptions::default()
    }
}

#[test]
fn p4_switches_spread_evenly_and_bad_choices_are_refused() {
    assert_eq!(spread(4, 12).unwrap(), vec![0, 3, 6, 9]);
    assert_eq!(spread(0, 12).unwrap(), Vec::<usize>::new());
    assert_eq!(spread(12, 12).unwrap(), (0..12).collect::<Vec<_>>());
    assert!(matches!(
        spread(13, 12),
        Err(FabricError::TooMany {
            asked: 13,
            switches: 12
        })
    ));
    let topo = SimTopology::generate(TopologyKind::Abilene).unwrap();
    let err = MixedFabric::new(topo, &[12], SimOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("switch index 12"),
        "the error names the index: {err}"
    );
}

#[test]
fn abilene_with_four_p4_switches_keeps_p4_cables_inside_and_cables_the_rest_out() {
    let topo = SimTopology::generate(TopologyKind::Abilene).unwrap();
    let fabric =
        MixedFabric::new(topo.clone(), &spread(4, 12).unwrap(), SimOptions::default()).unwrap();
    let devices = fabric.p4_devices();
    // ATLAng, DNVRng, KSCYng, SNVAng: device ids are their datapath ids, never reused.
    assert_eq!(
        devices.iter().map(|d| d.device_id).collect::<Vec<_>>(),
        vec![1, 4, 7, 10]
    );
    assert_eq!(
        devices[0].ports,
        vec![1, 2, 3, 4, 5],
        "host port and 4 links"
    );
    assert_eq!(fabric.protocol(1), Some(SwitchProtocol::OpenFlow));
    assert_eq!(fabric.protocol(3), Some(SwitchProtocol::P4Runtime));
    assert_eq!(fabric.protocol(12), None);
    let net = fabric.p4_network();
    assert_eq!(net.device_ids(), vec![1, 4, 7, 10]);
    // DNVRng-KSCYng and DNVRng-SNVAng join two P4 switches.
    assert_eq!(net.links().len(), 2);
    let mixed = topo
        .links
        .iter()
        .filter(|l| fabric.protocol(l.a.switch) != fabric.protocol(l.b.switch))
        .count();
    assert_eq!(net.cabled_out().len(), mixed);
    assert_eq!(mixed, 9, "ATLAng 4, DNVRng 1, KSCYng 2, SNVAng 2");
}

/// A controller that publishes every switch event (and installs a table-miss to itself).
async fn controller() -> (OpenFlowController, EventReceiver) {
    let config = ControllerConfig::new("127.0.0.1:0".parse().unwrap());
    let factory = |_dpid: DatapathId| -> Box<dyn SwitchApp> { Box::new(PublishAll) };
    OpenFlowController::bind(config, Arc::new(factory))
        .await
        .unwrap()
}

async fn packet_in(events: &mut EventReceiver) -> (DatapathId, PortNo, Vec<u8>) {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await.expect("events") {
                SwitchEvent::PacketIn { dpid, packet } => {
                    return (dpid, packet.in_port, packet.data.to_vec())
                }
                _ => continue,
            }
        }
    })
    .await
    .expect("a packet-in")
}

async fn p4_packet_in(stream: &mut P4Stream) -> p4::PacketIn {
    tokio::time::timeout(WAIT, async {
        loop {
            let msg = stream.recv().await.expect("stream open").expect("no error");
            if let Some(p4::stream_message_response::Update::Packet(p)) = msg.update {
                return p;
            }
        }
    })
    .await
    .expect("a P4 packet-in")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_crosses_an_openflow_p4_cable_both_ways() {
    // s1 (OpenFlow) port 2 is cabled to s2 (P4Runtime device 2) port 2.
    let (ctl, mut events) = controller().await;
    let topo = SimTopology::generate(TopologyKind::Linear(2)).unwrap();
    let quiet = SimOptions {
        traffic: TrafficConfig {
            pairs_per_host: 0,
            ..TrafficConfig::default()
        },
        ..fast_options()
    };
    let fabric = MixedFabric::new(topo, &[1], quiet).unwrap();
    let mut stream = primary(&fabric.p4_network(), 2, 1);
    let sim = fabric.spawn(ctl.local_addr());
    // The controller's side of the handshake ends after the switch's: wait for its event.
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await.expect("event stream open") {
                SwitchEvent::SwitchUp(i) if i.dpid == DatapathId(1) => break,
                _ => continue,
            }
        }
    })
    .await
    .expect("s1 up at the controller");
    let h = ctl.handle();
    h.barrier(DatapathId(1)).await.unwrap();

    // OpenFlow packet-out on s1 → P4 packet-in on device 2, port 2.
    let probe = lldp(7);
    h.send(
        DatapathId(1),
        Command::PacketOut(PacketOut::to_port(PortNo(2), probe.clone().into())),
    )
    .await
    .unwrap();
    let pin = p4_packet_in(&mut stream).await;
    assert_eq!(pin.payload, probe);
    let ingress = pin.metadata.iter().find(|m| m.metadata_id == 1).unwrap();
    assert_eq!(crate::p4rt::bytes::decode(&ingress.value, 9).unwrap(), 2);

    // P4 packet-out on device 2 port 2 → OpenFlow packet-in on s1, port 2.
    let back = lldp(9);
    let egress = p4::PacketMetadata {
        metadata_id: 1,
        value: vec![2],
    };
    sim.p4_network()
        .packet_out(
            2,
            1,
            &p4::PacketOut {
                payload: back.clone(),
                metadata: vec![egress],
            },
        )
        .unwrap();
    let (dpid, in_port, data) = packet_in(&mut events).await;
    assert_eq!((dpid, in_port), (DatapathId(1), PortNo(2)));
    assert_eq!(data, back);

    // s2's host and flow table are the P4 emulator's business.
    assert!(matches!(
        sim.openflow().inject(1, lldp(1).into()),
        Err(crate::openflow::SimError::Foreign(DatapathId(2)))
    ));

    // Each crossing counted once at each end.
    let of_end = sim.port_counters(0, PortNo(2)).unwrap();
    let p4_end = sim.port_counters(1, PortNo(2)).unwrap();
    assert_eq!(of_end.tx_bytes, p4_end.rx_bytes);
    assert_eq!(of_end.rx_bytes, p4_end.tx_bytes);
    assert_eq!((of_end.tx_packets, of_end.rx_packets), (1, 1));

    // A downed cable carries nothing either way.
    sim.openflow()
        .set_link(DatapathId(1), DatapathId(2), false)
        .await
        .unwrap();
    sim.p4_network()
        .packet_out(
            2,
            1,
            &p4::PacketOut {
                payload: lldp(10),
                metadata: vec![p4::PacketMetadata {
                    metadata_id: 1,
                    value: vec![2],
                }],
            },
        )
        .unwrap();
    h.barrier(DatapathId(1)).await.unwrap();
    assert_eq!(sim.port_counters(0, PortNo(2)).unwrap().rx_packets, 1);

    sim.shutdown().await;
    ctl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_traffic_engine_moves_both_kinds_and_every_cable_agrees_at_both_ends() {
    let topo = SimTopology::generate(TopologyKind::Abilene).unwrap();
    let fabric = MixedFabric::new(topo, &spread(4, 12).unwrap(), fast_options()).unwrap();
    let _streams: Vec<P4Stream> = fabric
        .p4_devices()
        .iter()
        .map(|d| primary(&fabric.p4_network(), d.device_id, d.device_id))
        .collect();
    // Nobody listens here: the OpenFlow switches keep retrying, and no frame moves.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let sim = fabric.spawn(nowhere);
    tokio::time::sleep(Duration::from_millis(600)).await;
    sim.shutdown().await;
    let topo = sim.topology().clone();
    let (mut cross, mut busy) = (0, 0);
    for l in &topo.links {
        let a = sim.port_counters(l.a.switch, l.a.port).unwrap();
        let b = sim.port_counters(l.b.switch, l.b.port).unwrap();
        assert_eq!(
            (a.tx_bytes, a.tx_packets),
            (b.rx_bytes, b.rx_packets),
            "{l:?}"
        );
        assert_eq!(
            (a.rx_bytes, a.rx_packets),
            (b.tx_bytes, b.tx_packets),
            "{l:?}"
        );
        if sim
            .p4_network()
            .device_ids()
            .contains(&topo.switches[l.a.switch].dpid.0)
            != sim
                .p4_network()
                .device_ids()
                .contains(&topo.switches[l.b.switch].dpid.0)
        {
            cross += 1;
            busy += usize::from(a.tx_bytes + b.tx_bytes > 0);
        }
    }
    assert_eq!(cross, 9, "cross-protocol cables");
    // Shortest paths use most of them (a few are nobody's shortest path with 3 pairs a host).
    assert!(busy >= 6, "traffic crosses only {busy} of {cross} cables");
    // Every host's demand entered somewhere and, the fabric being connected, left somewhere.
    let (mut sent, mut delivered) = (0, 0);
    for h in &topo.hosts {
        let c = sim.port_counters(h.attach.switch, h.attach.port).unwrap();
        sent += c.rx_bytes;
        delivered += c.tx_bytes;
    }
    assert!(sent > 0);
    assert_eq!(sent, delivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cable_between_two_p4_switches_goes_down_and_up() {
    // s1 and s2 both P4Runtime: their cable is a link inside the P4 emulator.
    let topo = SimTopology::generate(TopologyKind::Linear(2)).unwrap();
    let quiet = SimOptions {
        traffic: TrafficConfig {
            pairs_per_host: 0,
            ..TrafficConfig::default()
        },
        ..fast_options()
    };
    let fabric = MixedFabric::new(topo, &[0, 1], quiet).unwrap();
    let _streams = [
        primary(&fabric.p4_network(), 1, 1),
        primary(&fabric.p4_network(), 2, 2),
    ];
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let sim = fabric.spawn(nowhere);
    let send = || {
        sim.p4_network()
            .packet_out(
                1,
                1,
                &p4::PacketOut {
                    payload: lldp(3),
                    metadata: vec![p4::PacketMetadata {
                        metadata_id: 1,
                        value: vec![2],
                    }],
                },
            )
            .unwrap();
        sim.port_counters(1, PortNo(2)).unwrap().rx_packets
    };
    assert_eq!(send(), 1, "the frame crossed");
    sim.set_link(0, 1, false).await.unwrap();
    assert_eq!(send(), 1, "nothing crosses a downed cable");
    sim.set_link(0, 1, true).await.unwrap();
    assert_eq!(send(), 2, "and frames cross again once it is up");
    assert!(matches!(
        sim.set_link(0, 7, false).await,
        Err(SimError::UnknownSwitch(DatapathId(8)))
    ));
    sim.shutdown().await;
}
