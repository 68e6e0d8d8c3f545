//! The listener, drivers and handle over real loopback sockets against scripted switches.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::openflow::wire::multipart::MultipartReplyBody;
use crate::openflow::wire::{
    Action, DatapathId, FeaturesReply, FlowMod, FlowModCommand, GroupCommand, GroupId, Header,
    Hello, Instruction, Match, Message, MeterCommand, MeterId, MultipartReply,
    MultipartRequestBody, OxmField, Port, PortNo, TableId, Xid,
};

const WAIT: Duration = Duration::from_secs(5);

/// A switch scripted message by message.
struct FakeSwitch {
    stream: TcpStream,
    buf: BytesMut,
}

impl FakeSwitch {
    async fn connect(addr: SocketAddr) -> FakeSwitch {
        let stream = TcpStream::connect(addr).await.unwrap();
        FakeSwitch {
            stream,
            buf: BytesMut::new(),
        }
    }

    async fn send(&mut self, xid: Xid, m: Message) {
        self.stream
            .write_all(&m.to_vec(xid).unwrap())
            .await
            .unwrap();
    }

    /// The next message, or None when the controller closed the connection.
    async fn recv(&mut self) -> Option<(Xid, Message)> {
        loop {
            if self.buf.len() >= 8 {
                let len = usize::from(Header::parse(&self.buf).unwrap().length);
                if self.buf.len() >= len {
                    let frame = self.buf.split_to(len);
                    return Some(Message::parse(&frame).unwrap());
                }
            }
            let n = tokio::time::timeout(WAIT, self.stream.read_buf(&mut self.buf))
                .await
                .expect("controller went silent")
                .unwrap();
            if n == 0 {
                return None;
            }
        }
    }

    /// Skips messages until one satisfies `pick`.
    async fn expect<T>(&mut self, mut pick: impl FnMut(Xid, &Message) -> Option<T>) -> T {
        loop {
            let (xid, m) = self.recv().await.expect("connection closed");
            if let Some(v) = pick(xid, &m) {
                return v;
            }
        }
    }

    /// Plays the switch side of the handshake with `ports` ports.
    async fn handshake(addr: SocketAddr, dpid: u64, ports: u32) -> FakeSwitch {
        let mut sw = FakeSwitch::connect(addr).await;
        sw.send(Xid(1), Message::Hello(Hello::ofp13())).await;
        let xid = sw
            .expect(|x, m| matches!(m, Message::FeaturesRequest).then_some(x))
            .await;
        let features = FeaturesReply {
            datapath_id: DatapathId(dpid),
            n_buffers: 0,
            n_tables: 1,
            auxiliary_id: 0,
            capabilities: 0,
            reserved: 0,
        };
        sw.send(xid, Message::FeaturesReply(features)).await;
        let xid = sw
            .expect(|x, m| match m {
                Message::MultipartRequest(r) if r.body == MultipartRequestBody::PortDesc => Some(x),
                _ => None,
            })
            .await;
        let ports = (1..=ports)
            .map(|n| Port {
                port_no: PortNo(n),
                name: format!("s{dpid}-eth{n}"),
                ..Port::default()
            })
            .collect();
        sw.send(
            xid,
            Message::MultipartReply(MultipartReply::new(MultipartReplyBody::PortDesc(ports))),
        )
        .await;
        sw
    }
}

/// A controller on a free loopback port publishing every event.
async fn start() -> (OpenFlowController, EventReceiver) {
    start_with(|_| {}).await
}

/// [`start`] with its configuration changed by `tune`.
async fn start_with(
    tune: impl FnOnce(&mut ControllerConfig),
) -> (OpenFlowController, EventReceiver) {
    let any: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut config = ControllerConfig::new(any);
    tune(&mut config);
    OpenFlowController::bind(
        config,
        Arc::new(|_| Box::new(PublishAll) as Box<dyn SwitchApp>),
    )
    .await
    .unwrap()
}

/// Switch `dpid` with `ports` ports connected to `ctl`, once the controller has published it up.
async fn switch_up(
    ctl: &OpenFlowController,
    events: &mut EventReceiver,
    dpid: u64,
    ports: u32,
) -> FakeSwitch {
    let sw = FakeSwitch::handshake(ctl.local_addr(), dpid, ports).await;
    assert!(matches!(next(events).await, SwitchEvent::SwitchUp(_)));
    sw
}

async fn next(events: &mut EventReceiver) -> SwitchEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("no event")
        .expect("stream ended")
}

fn flow(port: u32) -> FlowMod {
    FlowMod::add(
        TableId(0),
        50,
        Match::new().with(OxmField::InPort(PortNo(port))),
        vec![Instruction::ApplyActions(vec![Action::output(PortNo(1))])],
    )
}

#[tokio::test]
async fn switch_up_carries_features_and_ports_and_table_miss_is_installed() {
    let (ctl, mut events) = start().await;
    let mut sw = FakeSwitch::handshake(ctl.local_addr(), 9, 3).await;
    match next(&mut events).await {
        SwitchEvent::SwitchUp(info) => {
            assert_eq!(info.dpid, DatapathId(9));
            assert_eq!(
                info.ports.iter().map(|p| p.number).collect::<Vec<_>>(),
                vec![1, 2, 3]
            );
            assert_eq!(info.ports[0].name, "s9-eth1");
        }
        other => panic!("expected SwitchUp, got {other:?}"),
    }
    let miss = sw
        .expect(|_, m| match m {
            Message::FlowMod(f) if f.command == FlowModCommand::Add => Some(f.clone()),
            _ => None,
        })
        .await;
    assert_eq!(miss, listener::table_miss_to_controller());
    assert_eq!(ctl.handle().switches(), vec![DatapathId(9)]);
    ctl.shutdown().await;
}

#[tokio::test]
async fn a_reconnect_replaces_the_old_session_with_one_down_up_pair() {
    let (ctl, mut events) = start().await;
    let handle = ctl.handle();
    let mut old = switch_up(&ctl, &mut events, 4, 1).await;
    let _new = FakeSwitch::handshake(ctl.local_addr(), 4, 2).await;
    match next(&mut events).await {
        SwitchEvent::SwitchDown { dpid, reason } => {
            assert_eq!(dpid, DatapathId(4));
            assert_eq!(reason, CloseReason::Replaced);
        }
        other => panic!("expected SwitchDown, got {other:?}"),
    }
    match next(&mut events).await {
        SwitchEvent::SwitchUp(info) => assert_eq!(info.ports.len(), 2),
        other => panic!("expected SwitchUp, got {other:?}"),
    }
    // The old connection is closed by the controller.
    while old.recv().await.is_some() {}
    assert_eq!(handle.switches(), vec![DatapathId(4)]);
    assert_eq!(handle.stats().switches_up, 1);
    ctl.shutdown().await;
    // Shutdown reports the remaining switch down.
    match next(&mut events).await {
        SwitchEvent::SwitchDown { reason, .. } => assert_eq!(reason, CloseReason::Shutdown),
        other => panic!("expected SwitchDown, got {other:?}"),
    }
}

#[tokio::test]
async fn desired_flows_are_replayed_after_the_table_miss_on_reconnect() {
    let (ctl, mut events) = start().await;
    let handle = ctl.handle();
    // Installed while the switch is away: kept, not an error.
    handle
        .install(DatapathId(5), Command::FlowMod(flow(2)))
        .await
        .unwrap();
    let mut sw = switch_up(&ctl, &mut events, 5, 2).await;
    // Cold start: flows, groups and meters left by an earlier controller life are deleted
    // before the table miss and the replay.
    let mut writes = Vec::new();
    while writes.len() < 5 {
        writes.push(
            sw.expect(|_, m| {
                matches!(
                    m,
                    Message::FlowMod(_) | Message::GroupMod(_) | Message::MeterMod(_)
                )
                .then(|| m.clone())
            })
            .await,
        );
    }
    let delete_all_flows = FlowMod::delete(TableId::ALL, Match::new());
    assert_eq!(writes[0], Message::FlowMod(delete_all_flows));
    assert!(
        matches!(&writes[1], Message::GroupMod(g) if g.command == GroupCommand::Delete && g.group_id == GroupId::ALL),
        "{:?}",
        writes[1]
    );
    assert!(
        matches!(&writes[2], Message::MeterMod(m) if m.command == MeterCommand::Delete && m.meter_id == MeterId::ALL),
        "{:?}",
        writes[2]
    );
    assert_eq!(
        writes[3..],
        [
            Message::FlowMod(listener::table_miss_to_controller()),
            Message::FlowMod(flow(2))
        ]
    );
    // Deleting from desired state sends the delete and forgets the flow.
    let del = FlowMod {
        command: FlowModCommand::DeleteStrict,
        ..flow(2)
    };
    handle
        .install(DatapathId(5), Command::FlowMod(del.clone()))
        .await
        .unwrap();
    let got = sw
        .expect(|_, m| match m {
            Message::FlowMod(f) => Some(f.clone()),
            _ => None,
        })
        .await;
    assert_eq!(got, del);
    assert!(handle.desired(DatapathId(5)).is_empty());
    ctl.shutdown().await;
}

#[tokio::test]
async fn requests_through_the_handle_get_their_replies_and_unknown_switches_fail_fast() {
    let (ctl, mut events) = start().await;
    let handle = ctl.handle();
    let mut sw = switch_up(&ctl, &mut events, 6, 1).await;
    // The connect-time programming ends with the session's own write probe; answer it first.
    let probe = sw
        .expect(|x, m| matches!(m, Message::BarrierRequest).then_some(x))
        .await;
    sw.send(probe, Message::BarrierReply).await;
    let h = handle.clone();
    let barrier = tokio::spawn(async move { h.barrier(DatapathId(6)).await });
    let xid = sw
        .expect(|x, m| matches!(m, Message::BarrierRequest).then_some(x))
        .await;
    sw.send(xid, Message::BarrierReply).await;
    barrier.await.unwrap().unwrap();
    assert_eq!(
        handle.barrier(DatapathId(77)).await,
        Err(SessionError::NotConnected {
            dpid: DatapathId(77)
        })
    );
    ctl.shutdown().await;
}

#[tokio::test]
async fn packet_ins_are_published_and_malformed_ones_are_refused() {
    let (ctl, mut events) = start().await;
    let mut sw = switch_up(&ctl, &mut events, 8, 1).await;
    sw.send(Xid(30), packet_in(b"abc")).await;
    match next(&mut events).await {
        SwitchEvent::PacketIn { dpid, packet } => {
            assert_eq!(dpid, DatapathId(8));
            assert_eq!(packet.in_port, PortNo(1));
            assert_eq!(&packet.data[..], b"abc");
        }
        other => panic!("expected PacketIn, got {other:?}"),
    }
    // A PACKET_IN whose match claims more bytes than the frame has.
    let bad = [
        4u8, 10, 0, 32, 0, 0, 0, 31, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        1, 0, 200, 0, 0, 0, 0,
    ];
    sw.stream.write_all(&bad).await.unwrap();
    let err = sw
        .expect(|x, m| match m {
            Message::Error(e) if x == Xid(31) => Some(e.kind),
            _ => None,
        })
        .await;
    assert_eq!(
        err,
        crate::openflow::wire::ErrorKind::BadRequest(
            crate::openflow::wire::error::BadRequestCode::BadLen
        )
    );
    assert!(matches!(
        next(&mut events).await,
        SwitchEvent::ProtocolError { xid: Xid(31), .. }
    ));
    // The session lives on.
    sw.send(Xid(32), Message::EchoRequest(Bytes::new())).await;
    sw.expect(|x, m| (matches!(m, Message::EchoReply(_)) && x == Xid(32)).then_some(()))
        .await;
    assert_eq!(ctl.handle().stats().packet_ins, 2);
    ctl.shutdown().await;
}

/// Answers every BARRIER_REQUEST after `delay`, counting the FLOW_MODs seen before each.
async fn answer_barriers(mut sw: FakeSwitch, delay: Duration) -> Vec<usize> {
    let mut per_barrier = Vec::new();
    let mut flows = 0;
    while let Some((xid, m)) = sw.recv().await {
        match m {
            Message::FlowMod(_) => flows += 1,
            Message::BarrierRequest => {
                per_barrier.push(std::mem::take(&mut flows));
                tokio::time::sleep(delay).await;
                sw.send(xid, Message::BarrierReply).await;
            }
            _ => {}
        }
    }
    per_barrier
}

#[tokio::test]
async fn a_batch_of_writes_is_timed_until_its_barrier_reply() {
    let (ctl, mut events) = start().await;
    let handle = ctl.handle();
    let latency = handle.write_latency();
    let sw = switch_up(&ctl, &mut events, 8, 2).await;
    let delay = Duration::from_millis(30);
    let switch = tokio::spawn(answer_barriers(sw, delay));
    // The switch answers in order, so once a caller's barrier returns, the connect-time probe
    // (after the table-miss flow) was answered and recorded.
    handle.barrier(DatapathId(8)).await.unwrap();
    assert_eq!(latency.snapshot().count, 1);
    for port in 1..=3 {
        handle
            .install(DatapathId(8), Command::FlowMod(flow(port)))
            .await
            .unwrap();
    }
    // A caller's barrier comes after the probe of the writes before it, so once it returns
    // the probe's reply was handled too.
    handle.barrier(DatapathId(8)).await.unwrap();
    let s = latency.snapshot();
    assert!(s.count >= 2, "{s:?}");
    assert!(
        s.sum_secs >= 2.0 * delay.as_secs_f64(),
        "each write waited for its reply: {s:?}"
    );
    assert!(
        s.buckets
            .iter()
            .take_while(|(le, _)| *le < 0.025)
            .all(|(_, c)| *c == 0),
        "{s:?}"
    );
    ctl.shutdown().await;
    let per_barrier = switch.await.unwrap();
    // Cold-start delete and table miss, the caller's, the three flows (in one or more command
    // batches), the caller's.
    assert_eq!(per_barrier.first(), Some(&2), "{per_barrier:?}");
    assert_eq!(per_barrier.iter().sum::<usize>(), 5, "{per_barrier:?}");
    assert_eq!(per_barrier.last(), Some(&0), "{per_barrier:?}");
}

#[tokio::test]
async fn packet_outs_are_not_writes_and_get_no_probe() {
    let (ctl, mut events) = start().await;
    let handle = ctl.handle();
    let latency = handle.write_latency();
    let mut sw = switch_up(&ctl, &mut events, 3, 1).await;
    let probe = sw
        .expect(|x, m| matches!(m, Message::BarrierRequest).then_some(x))
        .await;
    sw.send(probe, Message::BarrierReply).await;
    for _ in 0..3 {
        handle
            .send(
                DatapathId(3),
                Command::PacketOut(crate::openflow::wire::PacketOut::to_port(
                    PortNo(1),
                    Bytes::from_static(b"frame"),
                )),
            )
            .await
            .unwrap();
    }
    let h = handle.clone();
    let barrier = tokio::spawn(async move { h.barrier(DatapathId(3)).await });
    // Three packet-outs, then the caller's barrier: no barrier of the session's own between.
    let mut outs = 0;
    let xid = sw
        .expect(|x, m| match m {
            Message::PacketOut(_) => {
                outs += 1;
                None
            }
            Message::BarrierRequest => Some(x),
            _ => None,
        })
        .await;
    assert_eq!(outs, 3);
    sw.send(xid, Message::BarrierReply).await;
    barrier.await.unwrap().unwrap();
    assert_eq!(
        latency.snapshot().count,
        1,
        "only the connect-time write was timed"
    );
    ctl.shutdown().await;
}

/// Answers each packet-in with a flooding PACKET_OUT of its bytes, noting the thread it ran on.
struct Echoing(Arc<std::sync::Mutex<Vec<String>>>);

impl SwitchApp for Echoing {
    fn on_packet_in(
        &mut self,
        packet: &crate::openflow::wire::PacketInView<&[u8]>,
        out: &mut Outbox<'_>,
    ) -> Verdict {
        let name = std::thread::current().name().unwrap_or("").to_string();
        self.0.lock().unwrap().push(name);
        let po = crate::openflow::wire::PacketOutRef {
            buffer_id: packet.buffer_id(),
            in_port: packet.in_port().unwrap_or(PortNo::CONTROLLER),
            actions: &[Action::output(PortNo::FLOOD)],
            data: packet.data(),
        };
        out.packet_out_ref(&po).unwrap();
        Verdict::Handled
    }
}

#[tokio::test]
async fn sessions_on_their_own_threads_spread_answer_and_stop_with_the_controller() {
    let threads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = threads.clone();
    let mut config = ControllerConfig::new(([127, 0, 0, 1], 0).into());
    config.session_threads = 2;
    // The threads busy-poll between packet-ins; answers and commands still get through.
    config.busy_poll = std::time::Duration::from_micros(200);
    let factory = move |_| Box::new(Echoing(seen.clone())) as Box<dyn SwitchApp>;
    let (ctl, mut events) = OpenFlowController::bind(config, Arc::new(factory))
        .await
        .unwrap();
    let mut switches = Vec::new();
    for dpid in 1..=4 {
        switches.push(switch_up(&ctl, &mut events, dpid, 1).await);
    }
    for (i, sw) in switches.iter_mut().enumerate() {
        let data = Bytes::from(vec![i as u8; 60]);
        let pin = crate::openflow::wire::PacketIn {
            buffer_id: crate::openflow::wire::BufferId::NO_BUFFER,
            total_len: 60,
            reason: crate::openflow::wire::PacketInReason::NoMatch,
            table_id: TableId(0),
            cookie: 0,
            match_: Match::new().with(OxmField::InPort(PortNo(1))),
            data: data.clone(),
        };
        sw.send(Xid(40), Message::PacketIn(pin)).await;
        let out = sw
            .expect(|_, m| match m {
                Message::PacketOut(po) => Some(po.clone()),
                _ => None,
            })
            .await;
        assert_eq!(out.data, data, "answered with its own bytes");
        assert_eq!(out.actions, vec![Action::output(PortNo::FLOOD)]);
    }
    // Four switches, two threads: two each, none on the test's runtime.
    let mut names = threads.lock().unwrap().clone();
    names.sort();
    assert_eq!(
        names,
        [
            "of-sessions-0",
            "of-sessions-0",
            "of-sessions-1",
            "of-sessions-1"
        ]
    );
    // Commands cross over to the session threads too.
    ctl.handle()
        .install(DatapathId(3), Command::FlowMod(flow(1)))
        .await
        .unwrap();
    switches[2]
        .expect(|_, m| matches!(m, Message::FlowMod(f) if f.priority == 50).then_some(()))
        .await;
    ctl.shutdown().await;
    for sw in &mut switches {
        while sw.recv().await.is_some() {}
    }
    let mut downs = 0;
    while let Ok(ev) = events.try_recv() {
        downs += usize::from(matches!(
            ev,
            SwitchEvent::SwitchDown {
                reason: CloseReason::Shutdown,
                ..
            }
        ));
    }
    assert_eq!(downs, 4);
}

#[tokio::test]
async fn a_controller_dropped_without_shutdown_closes_its_pinned_sessions() {
    let (ctl, mut events) = start_with(|c| {
        c.session_threads = 1;
    })
    .await;
    let mut sw = switch_up(&ctl, &mut events, 2, 1).await;
    drop(ctl);
    // The session thread stops and its runtime drops the session: the switch sees the close.
    while sw.recv().await.is_some() {}
}

/// A packet-in of `data` on port 1.
fn packet_in(data: &'static [u8]) -> Message {
    Message::PacketIn(crate::openflow::wire::PacketIn {
        buffer_id: Default::default(),
        total_len: u16::try_from(data.len()).unwrap(),
        reason: crate::openflow::wire::PacketInReason::NoMatch,
        table_id: TableId(0),
        cookie: 0,
        match_: Match::new().with(OxmField::InPort(PortNo(1))),
        data: Bytes::from_static(data),
    })
}

#[tokio::test]
async fn lldp_frames_have_room_of_their_own_and_come_first() {
    let (ctl, mut events) = start_with(|c| {
        c.event_capacity = 8;
        c.discovery_capacity = 3;
    })
    .await;
    let mut sw = switch_up(&ctl, &mut events, 6, 1).await;
    // Destination, source, then the EtherType: LLDP (0x88cc) or IPv4.
    const LLDP: &[u8] = b"\x01\x80\xc2\x00\x00\x0e\x02\x00\x00\x00\x00\x01\x88\xcc\x02\x07";
    const IPV4: &[u8] = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00\x45\x00";
    // Nobody drains while ten other packet-ins fill the stream, then four LLDP frames come.
    for xid in 0..10 {
        sw.send(Xid(50 + xid), packet_in(IPV4)).await;
    }
    for xid in 0..4 {
        sw.send(Xid(60 + xid), packet_in(LLDP)).await;
    }
    sw.send(Xid(71), Message::EchoRequest(Bytes::new())).await;
    sw.expect(|x, m| (matches!(m, Message::EchoReply(_)) && x == Xid(71)).then_some(()))
        .await;
    let mut got = Vec::new();
    while let Ok(ev) = events.try_recv() {
        match ev {
            SwitchEvent::PacketIn { packet, .. } => {
                got.push(packet.data.get(12..14).map(<[u8]>::to_vec))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let lldp = Some(vec![0x88, 0xcc]);
    let ipv4 = Some(vec![0x08, 0x00]);
    // Three LLDP frames (the lane's room) first, then the six others the stream took.
    assert_eq!(got[..3], [lldp.clone(), lldp.clone(), lldp]);
    assert_eq!(got[3..], vec![ipv4; 6]);
    let stats = ctl.handle().stats();
    assert_eq!((stats.events_dropped, stats.lldp_dropped), (5, 1));
    ctl.shutdown().await;
}

#[tokio::test]
async fn packet_ins_leave_room_in_the_stream_for_what_must_not_be_lost() {
    let (ctl, mut events) = start_with(|c| {
        c.event_capacity = 8;
    })
    .await;
    let mut sw = switch_up(&ctl, &mut events, 6, 1).await;
    // Nobody drains the stream while ten packet-ins, then a port status, arrive.
    for xid in 0..10 {
        sw.send(Xid(50 + xid), packet_in(b"abc")).await;
    }
    let status = crate::openflow::wire::PortStatus {
        reason: crate::openflow::wire::PortReason::Modify,
        desc: Port {
            port_no: PortNo(1),
            ..Port::default()
        },
    };
    sw.send(Xid(70), Message::PortStatus(status)).await;
    // The session did not wait for room: it still answers.
    sw.send(Xid(71), Message::EchoRequest(Bytes::new())).await;
    sw.expect(|x, m| (matches!(m, Message::EchoReply(_)) && x == Xid(71)).then_some(()))
        .await;
    let mut got = Vec::new();
    while let Ok(ev) = events.try_recv() {
        got.push(ev);
    }
    let packet_ins = got
        .iter()
        .filter(|e| matches!(e, SwitchEvent::PacketIn { .. }))
        .count();
    assert_eq!(packet_ins, 6, "three quarters of the stream");
    assert!(
        matches!(got.last(), Some(SwitchEvent::PortStatus { .. })),
        "{got:?}"
    );
    assert_eq!(ctl.handle().stats().events_dropped, 4);
    ctl.shutdown().await;
}
