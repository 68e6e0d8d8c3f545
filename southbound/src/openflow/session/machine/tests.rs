//! The machine fed frames and instants directly: handshake, keepalive, timeouts, assembly.

use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::*;
use crate::openflow::wire::multipart::PortStats;
use crate::openflow::wire::Message;

type M = Machine<u32>;

fn frame(xid: Xid, m: Message) -> Vec<u8> {
    m.to_vec(xid).unwrap()
}

/// Every message written to `out`, in order; empties it.
fn sent(out: &mut BytesMut) -> Vec<(Xid, Message)> {
    let mut v = Vec::new();
    let mut at = 0;
    while at < out.len() {
        let len = usize::from(Header::parse(&out[at..]).unwrap().length);
        v.push(Message::parse(&out[at..at + len]).unwrap());
        at += len;
    }
    out.clear();
    v
}

fn features(dpid: u64) -> FeaturesReply {
    FeaturesReply {
        datapath_id: DatapathId(dpid),
        n_buffers: 0,
        n_tables: 254,
        auxiliary_id: 0,
        capabilities: 0,
        reserved: 0,
    }
}

fn port(n: u32) -> Port {
    Port {
        port_no: PortNo(n),
        name: format!("p{n}"),
        ..Port::default()
    }
}

/// A machine configured by `cfg`, at `t0` past HELLO and the FEATURES_REPLY of switch `dpid`,
/// with what it wrote since (SET_CONFIG, the PORT_DESC request) left in `out`.
fn greeted(t0: Instant, cfg: MachineConfig, dpid: u64) -> (M, BytesMut, Vec<Effect<u32>>) {
    let mut m = M::new(t0, cfg);
    let (mut out, mut fx) = (BytesMut::new(), Vec::new());
    m.start(&mut out);
    m.on_frame(
        t0,
        &frame(Xid(1), Message::Hello(Hello::ofp13())),
        &mut out,
        &mut fx,
    );
    let features_xid = sent(&mut out)[1].0;
    m.on_frame(
        t0,
        &frame(features_xid, Message::FeaturesReply(features(dpid))),
        &mut out,
        &mut fx,
    );
    (m, out, fx)
}

/// Drives a machine through the whole handshake; returns it with the output drained.
fn up(t0: Instant) -> M {
    let (mut m, mut out, mut fx) = greeted(t0, MachineConfig::default(), 7);
    let msgs = sent(&mut out);
    let desc_xid = msgs[1].0;
    let reply = MultipartReply::new(MultipartReplyBody::PortDesc(vec![port(1), port(2)]));
    m.on_frame(
        t0,
        &frame(desc_xid, Message::MultipartReply(reply)),
        &mut out,
        &mut fx,
    );
    assert_eq!(m.phase(), Phase::Up);
    m
}

#[test]
fn handshake_negotiates_then_configures_and_asks_for_ports() {
    let t0 = Instant::now();
    let mut m = M::new(t0, MachineConfig::default());
    let mut out = BytesMut::new();
    let mut fx = Vec::new();
    m.start(&mut out);
    let hello = sent(&mut out);
    assert!(matches!(&hello[..], [(_, Message::Hello(h))] if h.negotiate() == Some(4)));

    m.on_frame(
        t0,
        &frame(Xid(1), Message::Hello(Hello::ofp13())),
        &mut out,
        &mut fx,
    );
    let msgs = sent(&mut out);
    assert!(
        matches!(msgs[..], [(_, Message::FeaturesRequest)]),
        "{msgs:?}"
    );
    assert_eq!(m.phase(), Phase::AwaitFeatures);

    m.on_frame(
        t0,
        &frame(msgs[0].0, Message::FeaturesReply(features(7))),
        &mut out,
        &mut fx,
    );
    assert!(matches!(fx.as_slice(), [Effect::Connected(f)] if f.datapath_id == DatapathId(7)));
    fx.clear();
    let msgs = sent(&mut out);
    assert!(matches!(&msgs[0].1, Message::SetConfig(c) if c.miss_send_len == 0xffff));
    assert!(
        matches!(&msgs[1].1, Message::MultipartRequest(r) if r.body == MultipartRequestBody::PortDesc)
    );

    // The port list arrives in two parts; the switch is up only after the last.
    let first = MultipartReply {
        more: true,
        body: MultipartReplyBody::PortDesc(vec![port(1)]),
    };
    m.on_frame(
        t0,
        &frame(msgs[1].0, Message::MultipartReply(first)),
        &mut out,
        &mut fx,
    );
    assert!(fx.is_empty());
    let last = MultipartReply::new(MultipartReplyBody::PortDesc(vec![port(2)]));
    m.on_frame(
        t0,
        &frame(msgs[1].0, Message::MultipartReply(last)),
        &mut out,
        &mut fx,
    );
    match fx.as_slice() {
        [Effect::Up { features, ports }] => {
            assert_eq!(features.datapath_id, DatapathId(7));
            assert_eq!(
                ports.iter().map(|p| p.port_no.0).collect::<Vec<_>>(),
                vec![1, 2]
            );
        }
        other => panic!("expected Up, got {other:?}"),
    }
    assert_eq!(m.dpid(), Some(DatapathId(7)));
}

#[test]
fn a_peer_without_1_3_gets_hello_failed_and_the_session_closes() {
    let t0 = Instant::now();
    let mut m = M::new(t0, MachineConfig::default());
    let (mut out, mut fx) = (BytesMut::new(), Vec::new());
    m.start(&mut out);
    out.clear();
    // An OpenFlow 1.0 HELLO: version 1, no elements.
    m.on_frame(t0, &[1, 0, 0, 8, 0, 0, 0, 3], &mut out, &mut fx);
    let msgs = sent(&mut out);
    match &msgs[..] {
        [(xid, Message::Error(e))] => {
            assert_eq!(*xid, Xid(3));
            assert_eq!(
                e.kind,
                ErrorKind::HelloFailed(HelloFailedCode::Incompatible)
            );
        }
        other => panic!("expected HELLO_FAILED, got {other:?}"),
    }
    assert!(matches!(
        fx.as_slice(),
        [Effect::Close(CloseReason::VersionMismatch(1))]
    ));
}

#[test]
fn silence_brings_one_echo_then_death() {
    let t0 = Instant::now();
    let mut m = up(t0);
    let (mut out, mut fx) = (BytesMut::new(), Vec::new());
    let cfg = MachineConfig::default();
    assert_eq!(m.next_deadline(), t0 + cfg.echo_interval);
    m.on_tick(t0 + cfg.echo_interval, &mut out, &mut fx);
    assert!(matches!(sent(&mut out)[..], [(_, Message::EchoRequest(_))]));
    // A second tick before the dead timeout sends nothing more.
    m.on_tick(
        t0 + cfg.echo_interval + Duration::from_secs(1),
        &mut out,
        &mut fx,
    );
    assert!(out.is_empty() && fx.is_empty());
    m.on_tick(t0 + cfg.dead_after, &mut out, &mut fx);
    assert!(matches!(
        fx.as_slice(),
        [Effect::Close(CloseReason::DeadPeer(_))]
    ));
}

#[test]
fn any_message_counts_as_life() {
    let t0 = Instant::now();
    let mut m = up(t0);
    let (mut out, mut fx) = (BytesMut::new(), Vec::new());
    let later = t0 + Duration::from_secs(12);
    m.on_frame(
        later,
        &frame(Xid(99), Message::EchoReply(Default::default())),
        &mut out,
        &mut fx,
    );
    m.on_tick(t0 + Duration::from_secs(15), &mut out, &mut fx);
    assert!(fx.is_empty());
}

#[test]
fn echo_requests_are_answered_with_their_payload() {
    let t0 = Instant::now();
    let mut m = up(t0);
    let (mut out, mut fx) = (BytesMut::new(), Vec::new());
    let req = frame(
        Xid(42),
        Message::EchoRequest(bytes::Bytes::from_static(b"ping")),
    );
    m.on_frame(t0, &req, &mut out, &mut fx);
    match &sent(&mut out)[..] {
        [(Xid(42), Message::EchoReply(b))] => assert_eq!(&b[..], b"ping"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn requests_complete_with_their_reply_refusal_or_timeout() {
    let t0 = Instant::now();
    let mut m = up(t0);
    let (mut out, mut fx) = (BytesMut::new(), Vec::new());

    let ps = |n| PortStats {
        port_no: PortNo(n),
        rx_bytes: 100 * u64::from(n),
        ..PortStats::default()
    };
    let x1 = m
        .request(
            t0,
            Request::Multipart(MultipartRequestBody::PortStats(PortNo::ANY)),
            1,
            &mut out,
        )
        .unwrap();
    let x2 = m.request(t0, Request::Barrier, 2, &mut out).unwrap();
    let x3 = m.request(t0, Request::Barrier, 3, &mut out).unwrap();
    assert_eq!(sent(&mut out).len(), 3);
    assert_eq!(m.pending_len(), 3);

    let part1 = MultipartReply {
        more: true,
        body: MultipartReplyBody::PortStats(vec![ps(1)]),
    };
    let part2 = MultipartReply::new(MultipartReplyBody::PortStats(vec![ps(2)]));
    m.on_frame(
        t0,
        &frame(x1, Message::MultipartReply(part1)),
        &mut out,
        &mut fx,
    );
    m.on_frame(
        t0,
        &frame(x1, Message::MultipartReply(part2)),
        &mut out,
        &mut fx,
    );
    match fx.as_slice() {
        [Effect::Complete(1, Ok(Reply::Multipart(MultipartReplyBody::PortStats(v))))] => {
            assert_eq!(
                v.iter().map(|s| s.rx_bytes).collect::<Vec<_>>(),
                vec![100, 200]
            );
        }
        other => panic!("{other:?}"),
    }
    fx.clear();

    let refusal = ErrorMsg::about(ErrorKind::BadRequest(BadRequestCode::BadType), &[]);
    m.on_frame(t0, &frame(x2, Message::Error(refusal)), &mut out, &mut fx);
    assert!(matches!(
        fx.as_slice(),
        [Effect::Complete(2, Err(SessionError::Refused { xid, .. })), Effect::Event(SwitchEvent::Error { .. })]
            if *xid == x2
    ));
    fx.clear();

    let cfg = MachineConfig::default();
    assert!(m.next_deadline() <= t0 + cfg.request_timeout);
    // Keep the peer alive so only the request times out.
    m.note_rx(t0 + cfg.request_timeout);
    m.on_tick(t0 + cfg.request_timeout, &mut out, &mut fx);
    assert!(matches!(
        fx.as_slice(),
        [Effect::Complete(3, Err(SessionError::Timeout { xid, .. }))] if *xid == x3
    ));
    assert_eq!(m.pending_len(), 0);
}

#[test]
fn closing_fails_what_is_pending() {
    let t0 = Instant::now();
    let mut m = up(t0);
    let (mut out, mut fx) = (BytesMut::new(), Vec::new());
    m.request(t0, Request::Barrier, 5, &mut out).unwrap();
    m.close(&mut fx);
    assert!(matches!(
        fx.as_slice(),
        [Effect::Complete(5, Err(SessionError::Closed { .. }))]
    ));
    assert_eq!(m.phase(), Phase::Closed);
}

#[test]
fn malformed_messages_get_bad_request_and_an_event_and_the_session_goes_on() {
    let t0 = Instant::now();
    let mut m = up(t0);
    let (mut out, mut fx) = (BytesMut::new(), Vec::new());
    // PORT_STATUS of 12 bytes: its body must be 72.
    m.on_frame(
        t0,
        &[4, 12, 0, 12, 0, 0, 0, 9, 0, 0, 0, 0],
        &mut out,
        &mut fx,
    );
    match &sent(&mut out)[..] {
        [(Xid(9), Message::Error(e))] => {
            assert_eq!(e.kind, ErrorKind::BadRequest(BadRequestCode::BadLen));
            assert_eq!(e.data.len(), 12);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        fx.as_slice(),
        [Effect::Event(SwitchEvent::ProtocolError {
            xid: Xid(9),
            ..
        })]
    ));
    fx.clear();
    // A message type a switch must not send (BARRIER_REQUEST) is refused as BAD_TYPE.
    m.on_frame(
        t0,
        &frame(Xid(10), Message::BarrierRequest),
        &mut out,
        &mut fx,
    );
    assert!(matches!(
        &sent(&mut out)[..],
        [(Xid(10), Message::Error(e))] if e.kind == ErrorKind::BadRequest(BadRequestCode::BadType)
    ));
    assert_eq!(m.phase(), Phase::Up);
}

#[test]
fn the_handshake_has_a_deadline() {
    let t0 = Instant::now();
    let mut m = M::new(t0, MachineConfig::default());
    let (mut out, mut fx) = (BytesMut::new(), Vec::new());
    m.start(&mut out);
    let cfg = MachineConfig::default();
    assert_eq!(m.next_deadline(), t0 + cfg.echo_interval);
    m.note_rx(t0 + cfg.handshake_timeout);
    m.on_tick(t0 + cfg.handshake_timeout, &mut out, &mut fx);
    assert!(matches!(
        fx.as_slice(),
        [Effect::Close(CloseReason::HandshakeTimeout(_))]
    ));
}

#[test]
fn stats_are_polled_periodically_once_up() {
    let t0 = Instant::now();
    let mut m = polling(t0, 3);
    let (mut out, mut fx) = (BytesMut::new(), Vec::new());
    // The first poll falls within one and a half periods of the handshake.
    let t2 = t0 + Duration::from_secs(3);
    m.note_rx(t2);
    m.on_tick(t2, &mut out, &mut fx);
    let msgs = sent(&mut out);
    let ports_xid = msgs
        .iter()
        .find(|(_, m)| matches!(m, Message::MultipartRequest(r) if matches!(r.body, MultipartRequestBody::PortStats(_))))
        .map(|(x, _)| *x)
        .unwrap();
    let reply = MultipartReply::new(MultipartReplyBody::PortStats(vec![PortStats {
        port_no: PortNo(1),
        tx_bytes: 5,
        ..PortStats::default()
    }]));
    m.on_frame(
        t2,
        &frame(ports_xid, Message::MultipartReply(reply)),
        &mut out,
        &mut fx,
    );
    assert!(matches!(
        fx.as_slice(),
        [Effect::Event(SwitchEvent::PortStats { dpid: DatapathId(3), counters })] if counters[0].tx_bytes == 5
    ));
}

/// A machine of switch `dpid` polling every 2 s, handshake done at `t0` (PORT_DESC left
/// unanswered: polls do not wait for it).
fn polling(t0: Instant, dpid: u64) -> M {
    let cfg = MachineConfig {
        stats_interval: Some(Duration::from_secs(2)),
        ..MachineConfig::default()
    };
    greeted(t0, cfg, dpid).0
}

/// The xids of the PORT_STATS and FLOW_STATS polls written to `out` (emptied).
fn polls(out: &mut BytesMut) -> Vec<Xid> {
    sent(out)
        .into_iter()
        .filter(|(_, m)| {
            matches!(m, Message::MultipartRequest(r) if matches!(
                r.body,
                MultipartRequestBody::PortStats(_) | MultipartRequestBody::Flow(_)
            ))
        })
        .map(|(x, _)| x)
        .collect()
}

#[test]
fn a_switch_is_not_polled_again_before_it_answered_nor_while_polls_are_held() {
    let t0 = Instant::now();
    let mut m = polling(t0, 3);
    let (mut out, mut fx) = (BytesMut::new(), Vec::new());
    out.clear();
    let at = |s: u64| t0 + Duration::from_secs(s);
    m.note_rx(at(3));
    m.on_tick(at(3), &mut out, &mut fx);
    let first = polls(&mut out);
    assert_eq!(first.len(), 2, "port and flow statistics");
    // Two seconds on, neither is answered: no second round on top of the first.
    m.note_rx(at(5));
    m.on_tick(at(5), &mut out, &mut fx);
    assert!(polls(&mut out).is_empty());
    assert_eq!(m.take_polls_skipped(), 1);
    for (xid, body) in first.iter().zip([
        MultipartReplyBody::PortStats(Vec::new()),
        MultipartReplyBody::Flow(Vec::new()),
    ]) {
        let reply = frame(*xid, Message::MultipartReply(MultipartReply::new(body)));
        m.on_frame(at(5), &reply, &mut out, &mut fx);
    }
    // Answered, but the controller holds polls: skipped again, counted.
    m.hold_polls(true);
    m.on_tick(at(7), &mut out, &mut fx);
    assert!(polls(&mut out).is_empty());
    m.hold_polls(false);
    m.note_rx(at(9));
    m.on_tick(at(9), &mut out, &mut fx);
    assert_eq!(polls(&mut out).len(), 2);
    assert_eq!(m.take_polls_skipped(), 1);
    assert_eq!(m.take_polls_skipped(), 0);
}

#[test]
fn switches_connecting_together_are_first_polled_across_the_period() {
    let t0 = Instant::now();
    let firsts: Vec<Duration> = (1..=200u64)
        .map(|dpid| polling(t0, dpid).next_deadline() - t0)
        .collect();
    // Within one and a half periods (2 s), and spread: every quarter-second bin from 1 s to
    // 3 s holds some of the 200 switches.
    assert!(firsts
        .iter()
        .all(|d| (Duration::from_secs(1)..Duration::from_secs(3)).contains(d)));
    for bin in 0..8u32 {
        let lo = Duration::from_millis(1000 + 250 * u64::from(bin));
        let hi = lo + Duration::from_millis(250);
        let n = firsts.iter().filter(|d| (lo..hi).contains(*d)).count();
        assert!(n >= 5, "{n} first polls in {lo:?}..{hi:?}");
    }
}

proptest::proptest! {
    /// Arbitrary bytes after the handshake never panic the machine; each frame is consumed,
    /// answered, or closes the session.
    #[test]
    fn arbitrary_frames_never_panic(
        msg_type in 0u8..40,
        version in proptest::prop_oneof![proptest::strategy::Just(4u8), 0u8..8],
        body in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
    ) {
        let t0 = Instant::now();
        let mut m = up(t0);
        let (mut out, mut fx) = (BytesMut::new(), Vec::new());
        let len = u16::try_from(8 + body.len()).unwrap();
        let mut f = vec![version, msg_type];
        f.extend_from_slice(&len.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 77]);
        f.extend_from_slice(&body);
        m.on_frame(t0, &f, &mut out, &mut fx);
        // Whatever was written back is well-framed OpenFlow.
        let mut at = 0;
        while at < out.len() {
            let h = Header::parse(&out[at..]).unwrap();
            at += usize::from(h.length);
        }
        proptest::prop_assert_eq!(at, out.len());
    }
}

#[test]
fn a_pending_request_slot_stays_small() {
    // Every session keeps a map of these for its life (4 slots once it has asked anything):
    // 192 B with a multipart body inline. A token of the driver's size (24 B).
    let slot = std::mem::size_of::<Pending<[u64; 3]>>();
    assert!(slot <= 80, "a pending request is {slot} B");
}
