//! The filter in front of host tracking, through the learning app and the core as the driver
//! runs them: what a switch publishes reaches `driver::punted_frame`, which feeds the core.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use prescient_southbound::openflow::session::app::XidAlloc;
use prescient_southbound::openflow::session::{AppFactory, Outbox, SwitchApp, Verdict};
use prescient_southbound::openflow::wire::{
    Action, DatapathId, MacAddr, Message, PacketInView, Port, PortNo, PortReason, PortStatus,
};
use prescient_topology::{DeviceId, LinkKey, LldpProbe, PortRef, ProbeSignature};

use super::{PuntConfig, PuntPolicy};
use crate::core::{CoreConfig, SharedCore};
use crate::openflow_app::bench::{frames, mix};
use crate::openflow_app::L2LearningFactory;
use crate::services::{Backend, Policy, ServiceSpec, Services, ServicesConfig};

const H: MacAddr = MacAddr([2, 0, 0, 0, 0, 7]);
const PEER: MacAddr = MacAddr([2, 0, 0, 0, 0, 8]);
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

fn topo_port(no: u32) -> prescient_topology::Port {
    prescient_topology::Port {
        no: prescient_topology::PortNo(no),
        name: format!("p{no}"),
        mac: prescient_topology::MacAddr([2, 0xee, 0, 0, 0, no as u8]),
        up: true,
        reported_speed_bps: Some(1_000_000_000),
    }
}

/// A core with switches of:1 and of:2 up, four ports each, no links.
fn core() -> Arc<SharedCore> {
    let core = SharedCore::new(CoreConfig::default());
    let now = core.now();
    for d in 1..=2 {
        core.apply(|c| c.device_up(now, DeviceId::openflow(d), (1..=4).map(topo_port).collect()));
    }
    core
}

fn at(dpid: u64, port: u32) -> PortRef {
    PortRef::new(DeviceId::openflow(dpid), prescient_topology::PortNo(port))
}

/// An ARP frame from H (sender `ip`) asking for (op 1) or answering (op 2) `target`.
fn arp(op: u16, ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&if op == 1 { [0xff; 6] } else { PEER.0 });
    f.extend_from_slice(&H.0);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&H.0);
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f.resize(60, 0);
    f
}

/// One switch's learning app with the filter, wired to the core as the driver wires it.
struct Switch {
    dpid: u64,
    app: Box<dyn SwitchApp>,
    core: Arc<SharedCore>,
}

impl Switch {
    fn new(dpid: u64, core: &Arc<SharedCore>, config: PuntConfig) -> Switch {
        let factory = L2LearningFactory {
            punt: Some(PuntPolicy::new(core.clone(), config)),
            ..Default::default()
        };
        Switch {
            dpid,
            app: factory.create(DatapathId(dpid)),
            core: core.clone(),
        }
    }

    /// Runs `frame` from `port` through the app as the session does; returns whether it was
    /// published and the messages sent to the switch (nothing is delivered to the core).
    fn session(&mut self, port: u32, frame: &[u8]) -> (bool, Vec<Message>) {
        let mut pin = Vec::new();
        mix::put_packet_in(&mut pin, mix::NO_BUFFER, port, frame);
        let view = PacketInView::new_checked(&pin[..]).expect("a valid packet-in");
        let (mut buf, mut xids) = (BytesMut::new(), XidAlloc::default());
        let mut out = Outbox::new(DatapathId(self.dpid), &mut buf, &mut xids);
        let published = self.app.on_packet_in(&view, &mut out) == Verdict::Publish;
        let mut sent = Vec::new();
        let mut at = 0;
        while at < buf.len() {
            let (_, len, _) = frames::peek(&buf[at..]).expect("a whole message");
            sent.push(
                Message::parse(&buf[at..at + len])
                    .expect("a valid message")
                    .1,
            );
            at += len;
        }
        (published, sent)
    }

    /// Punts `frame` from `port`; returns whether it was published (and delivers it if so).
    fn punt(&mut self, port: u32, frame: &[u8]) -> bool {
        let (published, sent) = self.session(port, frame);
        assert!(!sent.is_empty(), "the frame is forwarded either way");
        if published {
            crate::driver::punted_frame(&self.core, at(self.dpid, port), frame);
        }
        published
    }
}

/// The ARP replies among `sent` that are not a punted frame flooded on: (port, frame).
fn arp_replies(sent: &[Message]) -> Vec<(PortNo, Vec<u8>)> {
    sent.iter()
        .filter_map(|m| match m {
            Message::PacketOut(po) if po.data.get(20..22) == Some(&[0, 2][..]) => {
                match po.actions.as_slice() {
                    [Action::Output { port, .. }] if *port != PortNo::FLOOD => {
                        Some((*port, po.data.to_vec()))
                    }
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

/// The reply to `arp(1, IP, VIP)`: the VIP is at its logical MAC.
fn vip_reply() -> Vec<u8> {
    let logical = [0x02, 0x50, 192, 0, 2, 10];
    let mut f = Vec::new();
    f.extend_from_slice(&H.0);
    f.extend_from_slice(&logical);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&logical);
    f.extend_from_slice(&VIP.octets());
    f.extend_from_slice(&H.0);
    f.extend_from_slice(&IP.octets());
    f
}

fn patient() -> PuntConfig {
    PuntConfig {
        refresh: Duration::from_secs(3600),
        retry: Duration::from_secs(3600),
        ..PuntConfig::default()
    }
}

const IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 7);
const OTHER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 8);

#[test]
fn new_hosts_moves_and_new_addresses_reach_the_core_repeats_do_not() {
    let core = core();
    let (mut s1, mut s2) = (
        Switch::new(1, &core, patient()),
        Switch::new(2, &core, patient()),
    );
    let host = || core.snapshot().host(prescient_topology::MacAddr(H.0));

    assert!(s1.punt(1, &arp(1, IP, OTHER)), "a new host is news");
    assert_eq!(host(), Some(at(1, 1)));
    assert!(!s1.punt(1, &arp(1, IP, OTHER)), "the same again is not");
    assert!(
        !s1.punt(1, &arp(2, IP, OTHER)),
        "nor its reply from the same place"
    );
    assert!(
        s1.punt(1, &arp(1, Ipv4Addr::new(10, 0, 0, 70), OTHER)),
        "a new address is"
    );

    // Where it moved to, the host asks for someone else: the very frame it sent from port 1
    // moments ago, coming in through port 2, would be a copy that went round a loop (dropped).
    let moved = arp(1, IP, Ipv4Addr::new(10, 0, 0, 99));
    assert!(s1.punt(2, &moved), "a move to another port of the switch");
    assert_eq!(host(), Some(at(1, 2)));
    assert!(s2.punt(3, &arp(1, IP, OTHER)), "a move to another switch");
    assert_eq!(host(), Some(at(2, 3)));
    // Back where s1 last saw it: s1 published that long before its retry time, but the core
    // has placed the host elsewhere since, so s1 tells it again at once.
    assert!(s1.punt(2, &moved), "a move back");
    assert_eq!(host(), Some(at(1, 2)));
    assert!(!s1.punt(2, &moved));
}

#[test]
fn a_port_that_goes_down_forgets_its_hosts_here_too() {
    let core = core();
    let mut s1 = Switch::new(1, &core, patient());
    assert!(s1.punt(1, &arp(1, IP, OTHER)));
    // The core forgets hosts behind a port that went down; the switch's filter must too, or
    // the host's next frame on that port would not be news.
    let now = core.now();
    core.apply(|c| c.port_removed(now, at(1, 1)));
    let mut desc = Port {
        port_no: PortNo(1),
        ..Default::default()
    };
    desc.state = prescient_southbound::openflow::wire::port_status::state::LINK_DOWN;
    let status = PortStatus {
        reason: PortReason::Delete,
        desc,
    };
    let (mut buf, mut xids) = (BytesMut::new(), XidAlloc::default());
    s1.app.on_port_status(
        &status,
        &mut Outbox::new(DatapathId(1), &mut buf, &mut xids),
    );
    let now = core.now();
    core.apply(|c| c.port_added(now, DeviceId::openflow(1), topo_port(1)))
        .expect("port back");
    assert!(s1.punt(1, &arp(1, IP, OTHER)), "known nowhere any more");
    assert_eq!(
        core.snapshot().host(prescient_topology::MacAddr(H.0)),
        Some(at(1, 1))
    );
}

/// A core as [`core`], serving "web" at [`VIP`] with the logical MAC its address gives.
fn core_with_a_service() -> Arc<SharedCore> {
    let core = core();
    let spec = ServiceSpec {
        name: "web".into(),
        tenant: "red".into(),
        vip: VIP,
        vip_mac: None,
        pool: "10.1.0.0/29".parse().expect("net"),
        backends: vec![Backend {
            ip: Ipv4Addr::new(10, 1, 0, 1),
            mac: prescient_topology::MacAddr([2, 0, 0, 0, 1, 1]),
            weight: 1,
        }],
        tier: 1,
        instance_capacity_bps: 100_000_000,
        min_instances: 1,
        max_instances: 4,
        policy: None,
    };
    let config = ServicesConfig {
        policies: vec![Policy::default_policy()],
        services: vec![spec],
        ..ServicesConfig::default()
    };
    let now = core.now();
    let services = Services::new(&config, now).expect("valid services");
    core.apply(|c| c.set_services(services));
    core
}

#[test]
fn every_request_for_a_service_vip_is_answered_by_the_session() {
    let core = core_with_a_service();
    assert_eq!(
        core.vip_mac(VIP),
        Some(prescient_topology::MacAddr([0x02, 0x50, 192, 0, 2, 10]))
    );
    let mut s1 = Switch::new(1, &core, patient());
    for n in 0..3 {
        let (published, sent) = s1.session(1, &arp(1, IP, VIP));
        assert_eq!(
            arp_replies(&sent),
            vec![(PortNo(1), vip_reply())],
            "request {n} answered out of the port it came in by"
        );
        // The core hears of the sender as of any other ARP: the first time only.
        assert_eq!(published, n == 0, "request {n}");
        if published {
            crate::driver::punted_frame(&core, at(1, 1), &arp(1, IP, VIP));
        }
    }
    assert_eq!(
        core.snapshot().host(prescient_topology::MacAddr(H.0)),
        Some(at(1, 1)),
        "the asking host is learnt"
    );
    let (published, sent) = s1.session(1, &arp(1, IP, OTHER));
    assert!(!published, "other requests of a known host are not news");
    assert!(
        arp_replies(&sent).is_empty(),
        "nor answered by the controller"
    );
    let (_, sent) = s1.session(1, &arp(2, IP, VIP));
    assert!(
        arp_replies(&sent).is_empty(),
        "nor is a reply naming the VIP"
    );
}

#[test]
fn a_vip_request_is_answered_while_the_cores_lock_is_held() {
    // The driver loop waits for the core's lock behind the control tick (up to a second under
    // a packet-in storm); the session must not.
    let core = core_with_a_service();
    let mut s1 = Switch::new(1, &core, patient());
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = {
        let core = core.clone();
        std::thread::spawn(move || {
            core.apply(|_| {
                held_tx.send(()).expect("the test waits");
                // Held until the test has its answer, or gives up.
                let _ = release_rx.recv_timeout(Duration::from_secs(60));
            });
        })
    };
    held_rx.recv().expect("the lock is taken");
    let (answer_tx, answer_rx) = std::sync::mpsc::channel();
    let asker = std::thread::spawn(move || {
        let _ = answer_tx.send(s1.session(1, &arp(1, IP, VIP)));
    });
    let answer = answer_rx.recv_timeout(Duration::from_secs(30));
    release_tx.send(()).expect("the holder waits");
    holder.join().expect("the holder");
    asker.join().expect("the asker");
    let (published, sent) = answer.expect("answered while the lock was held");
    assert_eq!(arp_replies(&sent), vec![(PortNo(1), vip_reply())]);
    assert!(
        published,
        "the new host is still published, for the driver loop"
    );
}

#[test]
fn known_hosts_are_refreshed_and_untaken_sightings_retried_in_time() {
    let core = core();
    let config = PuntConfig {
        refresh: Duration::from_secs(30),
        retry: Duration::from_secs(1),
        ..PuntConfig::default()
    };
    let mut f = PuntPolicy::new(core.clone(), config).filter(DatapathId(1), 16);
    let t0 = Instant::now();
    let secs = |s: u64| t0 + Duration::from_secs(s);
    // Taken by the core: quiet until the refresh is due.
    assert!(f.sighting(H, Some(IP), PortNo(1), t0));
    let now = core.now();
    core.apply(|c| c.host_seen(now, prescient_topology::MacAddr(H.0), Some(IP), at(1, 1)))
        .expect("host");
    assert!(!f.sighting(H, Some(IP), PortNo(1), secs(29)));
    assert!(f.sighting(H, Some(IP), PortNo(1), secs(30)));
    // Never taken (the core did not hear of it, or ignores the port): retried each second.
    assert!(f.sighting(PEER, None, PortNo(2), t0));
    assert!(!f.sighting(PEER, None, PortNo(2), t0 + Duration::from_millis(999)));
    assert!(f.sighting(PEER, None, PortNo(2), secs(1)));
    // A full table starts over rather than grow.
    let mut small = PuntPolicy::new(core.clone(), config).filter(DatapathId(1), 1);
    assert!(small.sighting(H, None, PortNo(1), t0));
    assert!(small.sighting(PEER, None, PortNo(1), t0));
    assert!(small.sighting(H, None, PortNo(1), t0));
}

proptest::proptest! {
    // ARP frames come from the network: whatever their bytes, the filter answers.
    #[test]
    fn no_frame_panics_the_filter(frame in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
        let core = core();
        let mut f = PuntPolicy::new(core, patient()).filter(DatapathId(1), 4);
        let _ = f.arp(&frame, H, PortNo(1), Instant::now());
        let _ = f.lldp(&frame, PortNo(1), Instant::now());
        // Also as the body of an LLDP frame.
        let mut lldp = vec![1, 0x80, 0xc2, 0, 0, 0xe, 2, 0, 0, 0, 0, 9, 0x88, 0xcc];
        lldp.extend_from_slice(&frame);
        let _ = f.lldp(&lldp, PortNo(1), Instant::now());
    }
}

/// An LLDP probe from port `port` of switch `dpid`, signed with `cookie` (none: a neighbour's
/// own agent).
fn probe(core: &SharedCore, dpid: u64, port: u32, cookie: Option<u64>) -> Vec<u8> {
    LldpProbe {
        src_mac: prescient_topology::MacAddr([2, 0xee, 0, 0, dpid as u8, port as u8]),
        chassis: DeviceId::openflow(dpid),
        port: prescient_topology::PortNo(port),
        ttl_secs: 120,
        signature: cookie.map(|cookie| ProbeSignature {
            cookie,
            sent_at: core.now(),
        }),
    }
    .emit()
}

#[test]
fn an_lldp_flood_reaches_the_core_once_a_second_per_port_and_our_probes_still_do() {
    let core = core();
    let config = PuntConfig::default();
    let (cookie, gap) = (config.probe_cookie, config.probe_gap);
    let mut f = PuntPolicy::new(core.clone(), config).filter(DatapathId(1), 16);
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let foreign = probe(&core, 9, 1, None);
    let other_controller = probe(&core, 9, 1, Some(cookie ^ 1));
    assert!(f.lldp(&foreign, PortNo(1), t0));
    for n in 1..1000 {
        assert!(!f.lldp(&foreign, PortNo(1), ms(n)), "flood at {n} ms");
        assert!(!f.lldp(&other_controller, PortNo(1), ms(n)));
        assert!(
            !f.lldp(&[0x88, 0xcc], PortNo(1), ms(n)),
            "nor broken frames"
        );
    }
    assert!(f.lldp(&foreign, PortNo(1), ms(1000)), "a second later");
    assert!(f.lldp(&foreign, PortNo(2), ms(1)), "each port on its own");

    // Our probe from of:2 port 3 gets through the flood, once per gap.
    let ours = probe(&core, 2, 3, Some(cookie));
    assert!(f.lldp(&ours, PortNo(1), ms(500)));
    assert!(!f.lldp(&ours, PortNo(1), ms(501)));
    assert!(f.lldp(&ours, PortNo(1), ms(500) + gap));
    // And so does one from another sender arriving on the same port.
    assert!(f.lldp(&probe(&core, 2, 4, Some(cookie)), PortNo(1), ms(501)));

    // What got through discovers the link.
    crate::driver::punted_frame(&core, at(1, 1), &ours);
    let link = LinkKey {
        src: at(2, 3),
        dst: at(1, 1),
    };
    assert!(
        core.snapshot().links().contains(&link),
        "{link:?} discovered"
    );
}

#[test]
fn a_full_lldp_memory_starts_over_rather_than_grow() {
    let core = core();
    let mut f = PuntPolicy::new(core.clone(), PuntConfig::default()).filter(DatapathId(1), 16);
    let t0 = Instant::now();
    let foreign = probe(&core, 9, 1, None);
    for port in 0..=super::MAX_LLDP_SOURCES as u32 {
        assert!(f.lldp(&foreign, PortNo(port), t0), "port {port}");
    }
    assert!(f.lldp.len() <= super::MAX_LLDP_SOURCES);
    assert!(
        f.lldp(&foreign, PortNo(0), t0),
        "forgotten when it started over"
    );
}

#[test]
fn frames_through_a_port_the_flood_guard_blocks_are_dropped_until_it_is_lifted() {
    // The guard has decided port 3 of of:1 closes a cycle; its drop rule is not on the switch
    // yet, so the switch still punts what comes in there (a broadcast that went round).
    let core = core();
    let factory = L2LearningFactory {
        punt: Some(PuntPolicy::new(core.clone(), PuntConfig::default())),
        ..Default::default()
    };
    let mut app = factory.create(DatapathId(1));
    let mut feed = |port: u32, frame: &[u8]| {
        let mut pin = Vec::new();
        mix::put_packet_in(&mut pin, mix::NO_BUFFER, port, frame);
        let view = PacketInView::new_checked(&pin[..]).expect("a valid packet-in");
        let (mut buf, mut xids) = (BytesMut::new(), XidAlloc::default());
        let mut out = Outbox::new(DatapathId(1), &mut buf, &mut xids);
        let verdict = app.on_packet_in(&view, &mut out);
        (verdict, buf.len())
    };
    let request = arp(1, Ipv4Addr::new(10, 0, 0, 7), Ipv4Addr::new(10, 0, 0, 8));
    core.set_flood_guard([(1, vec![3]), (2, vec![1])].into());
    assert_eq!(
        feed(3, &request),
        (Verdict::Handled, 0),
        "dropped: not flooded, not published"
    );
    // The same switch's other ports, and the blocked port of another switch, are untouched.
    let (verdict, sent) = feed(1, &request);
    assert_eq!(verdict, Verdict::Publish, "H's first sighting");
    assert!(sent > 0, "flooded from an open port");
    // Our LLDP probes still come up a blocked port: discovery must keep seeing the cable.
    let probe = probe(&core, 2, 1, Some(PuntConfig::default().probe_cookie));
    assert_eq!(feed(3, &probe).0, Verdict::Publish, "LLDP passes the guard");
    // A new tree no longer blocks port 3: frames through it are forwarded again (another
    // request: this one again, through another port so soon, would be a looped copy).
    core.set_flood_guard([(2, vec![2])].into());
    let (verdict, sent) = feed(
        3,
        &arp(1, Ipv4Addr::new(10, 0, 0, 7), Ipv4Addr::new(10, 0, 0, 99)),
    );
    assert_eq!(verdict, Verdict::Publish, "H seen on another port is news");
    assert!(sent > 0, "forwarded once the guard lifted port 3");
}
