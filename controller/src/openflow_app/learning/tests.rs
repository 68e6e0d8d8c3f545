use bytes::BytesMut;
use prescient_southbound::openflow::session::app::XidAlloc;
use prescient_southbound::openflow::wire::{FlowModCommand, Message, PortStatus};

use super::*;
use crate::openflow_app::bench::frames;

const DPID: DatapathId = DatapathId(1);

fn mac(n: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, n])
}

fn packet_in(buffer: u32, in_port: u32, src: MacAddr, dst: MacAddr, ethertype: u16) -> Vec<u8> {
    let mut f = Vec::new();
    frames::put_packet_in(&mut f, 7, buffer, in_port, src.0, dst.0);
    // The ethertype sits 12 bytes into the Ethernet frame, which starts after the 2-byte pad.
    let eth = frames::PACKET_IN_LEN - 60;
    f[eth + 12..eth + 14].copy_from_slice(&ethertype.to_be_bytes());
    f
}

/// Runs one packet-in through the app; returns the verdict and the messages it sent.
fn feed(app: &mut L2Learning, frame: &[u8]) -> (Verdict, Vec<Message>) {
    let mut buf = BytesMut::new();
    let mut xids = XidAlloc::default();
    let view = PacketInView::new_checked(frame).unwrap();
    let verdict = app.on_packet_in(&view, &mut Outbox::new(DPID, &mut buf, &mut xids));
    let mut msgs = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let (_, len, _) = frames::peek(&buf[at..]).unwrap();
        msgs.push(Message::parse(&buf[at..at + len]).unwrap().1);
        at += len;
    }
    (verdict, msgs)
}

fn app() -> L2Learning {
    L2Learning::new(DPID, L2LearningFactory::default())
}

#[test]
fn unknown_destination_floods_and_learns_the_source() {
    let mut a = app();
    let (v, msgs) = feed(&mut a, &packet_in(5, 1, mac(1), mac(2), 0x0800));
    assert_eq!(v, Verdict::Handled);
    let [Message::PacketOut(po)] = msgs.as_slice() else {
        panic!("expected one packet-out: {msgs:?}")
    };
    assert_eq!(po.actions, vec![Action::output(PortNo::FLOOD)]);
    assert_eq!(po.buffer_id, BufferId(5));
    assert_eq!(po.in_port, PortNo(1));
    assert_eq!(a.port_of(mac(1)), Some(PortNo(1)));
}

#[test]
fn known_destination_installs_a_flow_on_the_buffered_packet() {
    let mut a = app();
    feed(&mut a, &packet_in(1, 2, mac(2), mac(1), 0x0800));
    let (_, msgs) = feed(&mut a, &packet_in(9, 1, mac(1), mac(2), 0x0800));
    let [Message::FlowMod(fm)] = msgs.as_slice() else {
        panic!("expected one flow-mod: {msgs:?}")
    };
    assert_eq!(fm.buffer_id, BufferId(9));
    assert_eq!(fm.idle_timeout, 60);
    assert_eq!(
        fm.match_.fields,
        vec![
            OxmField::InPort(PortNo(1)),
            OxmField::EthSrc {
                addr: mac(1),
                mask: None
            },
            OxmField::EthDst {
                addr: mac(2),
                mask: None
            },
        ]
    );
    assert_eq!(
        fm.instructions,
        vec![Instruction::ApplyActions(vec![Action::output(PortNo(2))])]
    );
}

#[test]
fn unbuffered_packets_get_a_flow_and_a_packet_out_with_the_data() {
    let mut a = app();
    feed(&mut a, &packet_in(1, 2, mac(2), mac(1), 0x0800));
    let frame = packet_in(BufferId::NO_BUFFER.0, 1, mac(1), mac(2), 0x0800);
    let (_, msgs) = feed(&mut a, &frame);
    let [Message::FlowMod(_), Message::PacketOut(po)] = msgs.as_slice() else {
        panic!("expected flow-mod then packet-out: {msgs:?}")
    };
    assert_eq!(po.actions, vec![Action::output(PortNo(2))]);
    assert_eq!(po.data.len(), 60);
}

#[test]
fn lldp_is_published_without_forwarding_and_arp_is_published_after_forwarding() {
    let mut a = app();
    let (v, msgs) = feed(
        &mut a,
        &packet_in(1, 1, mac(1), MacAddr([1, 0x80, 0xc2, 0, 0, 0xe]), 0x88cc),
    );
    assert_eq!(v, Verdict::Publish);
    assert!(msgs.is_empty());
    let (v, msgs) = feed(&mut a, &packet_in(2, 1, mac(1), MacAddr::BROADCAST, 0x0806));
    assert_eq!(v, Verdict::Publish);
    assert_eq!(msgs.len(), 1);
}

#[test]
fn a_port_going_down_forgets_its_macs() {
    let mut a = app();
    feed(&mut a, &packet_in(1, 3, mac(3), mac(1), 0x0800));
    let mut buf = BytesMut::new();
    let mut xids = XidAlloc::default();
    let mut desc = prescient_southbound::openflow::wire::Port {
        port_no: PortNo(3),
        ..Default::default()
    };
    desc.state = prescient_southbound::openflow::wire::port_status::state::LINK_DOWN;
    let status = PortStatus {
        reason: PortReason::Modify,
        desc,
    };
    a.on_port_status(&status, &mut Outbox::new(DPID, &mut buf, &mut xids));
    assert_eq!(a.port_of(mac(3)), None);
    // The entries it learned towards that port go too: busy traffic would keep them alive,
    // sending into the dead port, for ever.
    let (_, len, _) = frames::peek(&buf).unwrap();
    let Message::FlowMod(delete) = Message::parse(&buf[..len]).unwrap().1 else {
        panic!("expected a FLOW_MOD delete");
    };
    assert_eq!(delete.command, FlowModCommand::Delete);
    assert_eq!(delete.out_port, PortNo(3));
    assert_eq!((delete.cookie, delete.cookie_mask), (0, u64::MAX));
    assert_eq!(len, buf.len(), "one message");
}

#[test]
fn a_full_mac_table_is_relearned_not_grown() {
    let mut a = L2Learning::new(
        DPID,
        L2LearningFactory {
            max_macs: 2,
            ..Default::default()
        },
    );
    for n in 1..=3 {
        feed(&mut a, &packet_in(n.into(), 1, mac(n), mac(9), 0x0800));
    }
    assert_eq!(a.port_of(mac(1)), None);
    assert_eq!(a.port_of(mac(3)), Some(PortNo(1)));
}

#[test]
fn a_destination_learned_on_the_ingress_port_is_stale_and_flooded_to() {
    let mut a = app();
    // mac(1) learned on port 2; then a frame for mac(1) arrives on port 2 itself (a link went
    // down and traffic comes round the other way).
    feed(&mut a, &packet_in(1, 2, mac(1), mac(9), 0x0800));
    let (_, msgs) = feed(&mut a, &packet_in(2, 2, mac(5), mac(1), 0x0800));
    assert!(
        matches!(msgs.as_slice(), [Message::PacketOut(po)] if po.actions == vec![Action::output(PortNo::FLOOD)]),
        "{msgs:?}"
    );
    assert_eq!(a.port_of(mac(1)), None);
}

#[test]
fn a_flooded_frame_back_through_another_port_is_dropped_and_a_retry_is_not() {
    let mut a = app();
    // A broadcast from mac(1) on port 1, flooded; a moment later the same bytes come in on
    // port 3: they went round a loop no block rule cuts yet.
    let arp = |port| {
        packet_in(
            BufferId::NO_BUFFER.0,
            port,
            mac(1),
            MacAddr::BROADCAST,
            0x0806,
        )
    };
    let (_, msgs) = feed(&mut a, &arp(1));
    assert!(
        matches!(msgs.as_slice(), [Message::PacketOut(_)]),
        "{msgs:?}"
    );
    let (v, msgs) = feed(&mut a, &arp(3));
    assert_eq!(
        (v, msgs.len()),
        (Verdict::Handled, 0),
        "the looped copy: {msgs:?}"
    );
    assert_eq!(
        a.port_of(mac(1)),
        Some(PortNo(1)),
        "not learned where it came back"
    );
    // The host's retry comes in where the first did: flooded again.
    let (_, msgs) = feed(&mut a, &arp(1));
    assert!(
        matches!(msgs.as_slice(), [Message::PacketOut(_)]),
        "{msgs:?}"
    );
    // So is an unknown unicast's looped copy dropped; a frame with other bytes is not.
    let (_, msgs) = feed(&mut a, &packet_in(7, 2, mac(4), mac(8), 0x0800));
    assert_eq!(msgs.len(), 1);
    let (_, msgs) = feed(&mut a, &packet_in(8, 3, mac(4), mac(8), 0x0800));
    assert!(msgs.is_empty(), "{msgs:?}");
    let (_, msgs) = feed(&mut a, &packet_in(9, 3, mac(5), mac(8), 0x0800));
    assert_eq!(msgs.len(), 1);
}

#[test]
fn a_flooded_frame_is_remembered_for_the_loop_window_only() {
    let mut a = app();
    let frame = [7u8; 60];
    let t0 = Instant::now();
    assert!(!a.looped(&frame, PortNo(1), t0));
    assert!(a.looped(&frame, PortNo(2), t0 + Duration::from_millis(10)));
    assert!(!a.looped(&frame, PortNo(1), t0 + Duration::from_millis(20)));
    // The window runs from the last time it came in where it first did.
    let later = t0 + Duration::from_millis(20) + LOOP_WINDOW;
    assert!(
        !a.looped(&frame, PortNo(2), later),
        "past the window: news again"
    );
    // The memory is bounded: past MAX_FLOODED frames, the stale ones go first.
    for n in 0..MAX_FLOODED as u32 * 2 {
        a.looped(&n.to_be_bytes(), PortNo(1), later);
    }
    assert!(a.flooded.len() <= MAX_FLOODED);
}
