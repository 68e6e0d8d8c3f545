//! Restored reservations on a square of four switches: waiting for the path, activating with
//! meters, giving up after the grace period, fresh ids; and the undo paths a failed commit uses.

use std::net::Ipv4Addr;
use std::time::Duration;

use prescient_topology::{DeviceId, LinkKey, MacAddr, PortNo, PortRef, Window};

use super::*;
use crate::core::tests::port;
use crate::core::{CoreConfig, Endpoint, ReserveError, ReserveSpec, Rule};

const GBPS: u64 = 1_000_000_000;
const H1: MacAddr = MacAddr([0, 0, 0, 0, 0, 1]);
const H2: MacAddr = MacAddr([0, 0, 0, 0, 0, 2]);
const H3: MacAddr = MacAddr([0, 0, 0, 0, 0, 3]);

fn dev(n: u64) -> DeviceId {
    DeviceId::openflow(n)
}

fn at(d: u64, p: u32) -> PortRef {
    PortRef::new(dev(d), PortNo(p))
}

fn secs(s: u64) -> Timestamp {
    Timestamp::from_secs(s)
}

/// s1 -1- s2 -2- s4 and s1 -2- s3 -2- s4; cables between `devices` only.
const CABLES: [(u64, u32, u64, u32); 4] = [(1, 1, 2, 1), (1, 2, 3, 1), (2, 2, 4, 1), (3, 2, 4, 2)];

/// Brings `devices` up, with hosts h1 (s1:10), h3 (s1:11), h2 (s4:10) where their switch is.
fn bring_up(c: &mut ControllerCore, now: Timestamp, devices: &[u64]) -> Vec<Action> {
    let mut actions = Vec::new();
    for d in devices {
        actions.extend(c.device_up(now, dev(*d), vec![port(1), port(2), port(10), port(11)]));
    }
    actions.extend(refresh(c, now, devices));
    for (mac, d, p, ip) in [(H1, 1, 10, 1), (H3, 1, 11, 3), (H2, 4, 10, 2)] {
        if devices.contains(&d) {
            let ip = Some(Ipv4Addr::new(10, 0, 0, ip));
            actions.extend(c.host_seen(now, mac, ip, at(d, p)).expect("host"));
        }
    }
    actions
}

/// LLDP over every cable between two of `devices`.
fn refresh(c: &mut ControllerCore, now: Timestamp, devices: &[u64]) -> Vec<Action> {
    let mut actions = Vec::new();
    for (a, pa, b, pb) in CABLES {
        if devices.contains(&a) && devices.contains(&b) {
            actions.extend(c.lldp_received(now, at(b, pb), at(a, pa)).expect("a->b"));
            actions.extend(c.lldp_received(now, at(a, pa), at(b, pb)).expect("b->a"));
        }
    }
    actions
}

fn spec(src: Endpoint, dst: Endpoint, rate_bps: u64, tier: u8) -> ReserveSpec {
    ReserveSpec {
        src,
        dst,
        rate_bps,
        tier,
        window: Window::new(secs(0), Timestamp(u64::MAX)),
        flow: None,
        path: None,
    }
}

/// A reservation h1 -> h2 admitted by a first controller, as its store would hand it back.
fn admitted_before_restart() -> (Restored, ReservationId) {
    let mut first = ControllerCore::new(CoreConfig::default());
    first.track_changes();
    bring_up(&mut first, secs(1), &[1, 2, 3, 4]);
    let done = first
        .reserve(
            secs(2),
            &spec(Endpoint::Host(H1), Endpoint::Host(H2), GBPS / 2, 1),
        )
        .expect("admitted");
    let unsaved = first.take_unsaved();
    let [Unsaved::Present(r)] = unsaved.as_slice() else {
        panic!("one change to save, got {unsaved:?}");
    };
    assert_eq!(r.reservation, done.reservation);
    (r.clone(), first.ledger().next_id())
}

fn meters_of(actions: &[Action], id: ReservationId) -> Option<Vec<PortRef>> {
    actions.iter().find_map(|a| match a {
        Action::InstallMeter {
            reservation, ports, ..
        } if *reservation == id => Some(ports.clone()),
        _ => None,
    })
}

#[test]
fn a_restored_reservation_waits_for_its_links_then_gets_its_meters() {
    let (stored, next_before) = admitted_before_restart();
    let id = stored.reservation.id;
    let path = stored.reservation.request.path.clone();
    let mut c = ControllerCore::new(CoreConfig::default());
    c.track_changes();
    let report = c.restore(secs(100), vec![stored.clone()], Duration::from_secs(48));
    assert_eq!(report.restored, vec![id]);
    assert!(c.take_unsaved().is_empty(), "restoring writes nothing back");
    assert_eq!(c.reservation_state(id), Some(ReservationState::Restoring));

    // Empty topology, then switches without links: still waiting, no meters, nothing dropped.
    assert!(meters_of(&c.tick(secs(101)), id).is_none());
    let actions = bring_up(&mut c, secs(102), &[1, 2, 3, 4]);
    let ports = meters_of(&actions, id).expect("meters once every link of the path is back");
    assert_eq!(ports, path.iter().map(|l| l.src).collect::<Vec<_>>());
    assert_eq!(c.reservation_state(id), Some(ReservationState::Active));
    assert_eq!(
        c.ledger().get(id),
        Some(&stored.reservation),
        "same id, same path"
    );
    let d = c.decisions().iter().last().expect("a decision");
    assert_eq!(d.rule, Rule::ReservationAdmitted);
    assert!(d.reason.contains("restored"), "{}", d.reason);

    // A new reservation never reuses an id of the first controller.
    let fresh = c
        .reserve(
            secs(103),
            &spec(Endpoint::Host(H1), Endpoint::Host(H2), GBPS / 4, 0),
        )
        .expect("admitted");
    assert!(
        fresh.reservation.id >= next_before,
        "{:?}",
        fresh.reservation.id
    );
    assert_ne!(fresh.reservation.id, id);
}

#[test]
fn a_link_flap_while_restoring_does_not_drop_it_before_the_grace_period() {
    let (stored, _) = admitted_before_restart();
    let id = stored.reservation.id;
    let first = stored.reservation.request.path[0];
    let mid = first.dst.device.id;
    let mut c = ControllerCore::new(CoreConfig::default());
    c.restore(secs(100), vec![stored], Duration::from_secs(48));
    // The first link of its path is discovered, then its far switch drops out again.
    bring_up(&mut c, secs(101), &[1, mid]);
    assert!(c.snapshot().link_idx(first).is_some());
    c.device_down(secs(102), dev(mid));
    assert!(c.snapshot().link_idx(first).is_none());
    c.tick(secs(120));
    assert_eq!(c.reservation_state(id), Some(ReservationState::Restoring));
    // Everything back: active on its original path.
    let actions = bring_up(&mut c, secs(121), &[1, 2, 3, 4]);
    assert!(meters_of(&actions, id).is_some());
    assert_eq!(c.ledger().get(id).map(|r| r.request.path[0]), Some(first));
}

#[test]
fn after_the_grace_period_it_is_rerouted_with_a_decision() {
    let (stored, _) = admitted_before_restart();
    let id = stored.reservation.id;
    let lost = stored.reservation.request.path[0];
    // Its first switch after s1 never comes back; the other side of the square does.
    let gone = if lost.dst.device == dev(2) { 2 } else { 3 };
    let up: Vec<u64> = [1, 2, 3, 4].into_iter().filter(|d| *d != gone).collect();
    let mut c = ControllerCore::new(CoreConfig::default());
    c.track_changes();
    c.restore(secs(100), vec![stored], Duration::from_secs(10));
    bring_up(&mut c, secs(101), &up);
    refresh(&mut c, secs(105), &up);
    assert!(
        meters_of(&c.tick(secs(105)), id).is_none(),
        "still in grace"
    );
    refresh(&mut c, secs(111), &up);
    let actions = c.tick(secs(111));
    let ports = meters_of(&actions, id).expect("rerouted and metered");
    assert!(ports.iter().all(|p| p.device != dev(gone)));
    let r = c.ledger().get(id).cloned().expect("kept its id");
    assert!(!r.request.path.contains(&lost));
    assert_eq!(c.reservation_state(id), Some(ReservationState::Active));
    let d = c
        .decisions()
        .iter()
        .find(|d| d.subject == format!("reservation/{}", id.0))
        .expect("decision");
    assert_eq!(d.rule, Rule::ReservationRerouted);
    assert!(d.reason.contains("grace period"), "{}", d.reason);
    let saved = c.take_unsaved();
    assert!(
        matches!(saved.as_slice(), [Unsaved::Present(p)] if p.reservation.request.path == r.request.path),
        "the new path is saved: {saved:?}"
    );
}

#[test]
fn after_the_grace_period_with_no_network_it_is_dropped_and_forgotten() {
    let (stored, _) = admitted_before_restart();
    let id = stored.reservation.id;
    let mut c = ControllerCore::new(CoreConfig::default());
    c.track_changes();
    c.restore(secs(100), vec![stored], Duration::from_secs(10));
    assert!(c.tick(secs(109)).is_empty());
    assert!(c.ledger().contains(id));
    c.tick(secs(110));
    assert!(!c.ledger().contains(id));
    assert_eq!(c.reservation_state(id), None);
    let d = c.decisions().iter().last().expect("decision");
    assert_eq!(d.rule, Rule::ReservationDropped);
    assert!(
        d.reason.contains("not discovered within the grace period"),
        "{}",
        d.reason
    );
    assert_eq!(c.take_unsaved(), vec![Unsaved::Gone(id)]);
}

#[test]
fn expired_reservations_are_not_restored() {
    let (mut stored, _) = admitted_before_restart();
    stored.reservation.request.window = Window::new(secs(0), secs(50));
    let mut c = ControllerCore::new(CoreConfig::default());
    let report = c.restore(secs(100), vec![stored.clone()], Duration::from_secs(10));
    assert_eq!(report.expired, vec![stored.reservation.id]);
    assert!(c.ledger().reservations().next().is_none());
}

#[test]
fn within_one_switch_the_meter_sits_on_the_destination_port() {
    let mut c = ControllerCore::new(CoreConfig::default());
    bring_up(&mut c, secs(1), &[1, 2, 3, 4]);
    let done = c
        .reserve(
            secs(2),
            &spec(Endpoint::Host(H1), Endpoint::Host(H3), GBPS / 10, 0),
        )
        .expect("admitted");
    assert!(done.reservation.request.path.is_empty());
    assert_eq!(
        meters_of(&done.actions, done.reservation.id),
        Some(vec![at(1, 11)]),
        "metered at s1's port towards h3"
    );
    let err = c
        .reserve(
            secs(2),
            &spec(Endpoint::Host(H1), Endpoint::Device(dev(1)), GBPS / 10, 0),
        )
        .expect_err("no destination port");
    assert_eq!(err, ReserveError::NoEgress { device: dev(1) });

    // The port travels through the store and back.
    let mut again = ControllerCore::new(CoreConfig::default());
    let restored = Restored {
        reservation: done.reservation.clone(),
        egress: c.egress_of(done.reservation.id),
        failed: false,
    };
    again.restore(secs(3), vec![restored], Duration::from_secs(10));
    assert!(
        meters_of(&again.tick(secs(4)), done.reservation.id).is_none(),
        "s1 not up"
    );
    let actions = bring_up(&mut again, secs(5), &[1]);
    assert_eq!(
        meters_of(&actions, done.reservation.id),
        Some(vec![at(1, 11)])
    );
}

#[test]
fn an_undone_admission_puts_back_what_it_preempted() {
    let mut c = ControllerCore::new(CoreConfig::default());
    bring_up(&mut c, secs(1), &[1, 2, 3, 4]);
    let path: Vec<LinkKey> = vec![
        LinkKey::new(at(1, 1), at(2, 1)),
        LinkKey::new(at(2, 2), at(4, 1)),
    ];
    let pinned = |rate, tier| ReserveSpec {
        path: Some(path.clone()),
        ..spec(Endpoint::Host(H1), Endpoint::Host(H2), rate, tier)
    };
    let low = c.reserve(secs(2), &pinned(GBPS * 8 / 10, 0)).expect("low");
    c.track_changes();
    let high = c.reserve(secs(3), &pinned(GBPS / 2, 5)).expect("high");
    assert_eq!(high.preempted, vec![low.reservation.clone()]);
    let actions = c.undo_admission(secs(3), &high, "store: disk full");
    assert!(actions.is_empty(), "the low tier's meters never left");
    assert!(!c.ledger().contains(high.reservation.id));
    assert_eq!(c.ledger().get(low.reservation.id), Some(&low.reservation));
    assert!(c.desired_meters().contains_key(&low.reservation.id));
    assert!(!c.desired_meters().contains_key(&high.reservation.id));
    let d = c.decisions().iter().last().expect("decision");
    assert!(
        d.reason.contains("disk full") && d.reason.contains("put back"),
        "{}",
        d.reason
    );
    // The store sees the net effect: low present, high gone.
    let mut saved = c.take_unsaved();
    saved.sort_by_key(|u| match u {
        Unsaved::Present(r) => r.reservation.id,
        Unsaved::Gone(id) => *id,
    });
    assert!(
        matches!(saved.as_slice(), [Unsaved::Present(l), Unsaved::Gone(h)]
        if l.reservation.id == low.reservation.id && *h == high.reservation.id)
    );

    let (r, _) = c.release(secs(4), low.reservation.id).expect("released");
    c.undo_release(secs(4), r, Prior::Held { egress: None }, "store: disk full")
        .expect("put back");
    assert!(c.desired_meters().contains_key(&low.reservation.id));
    assert_eq!(
        c.reservation_state(low.reservation.id),
        Some(ReservationState::Active)
    );
}

#[test]
fn an_undone_release_of_a_restoring_reservation_keeps_it_restoring() {
    let (stored, _) = admitted_before_restart();
    let id = stored.reservation.id;
    let mut c = ControllerCore::new(CoreConfig::default());
    c.restore(secs(100), vec![stored], Duration::from_secs(48));
    let prior = c.prior(id).expect("it exists");
    assert_eq!(
        prior,
        Prior::Restoring {
            egress: None,
            until: secs(148)
        }
    );
    let (r, actions) = c.release(secs(101), id).expect("released");
    assert!(
        actions
            .iter()
            .all(|a| !matches!(a, Action::RemoveMeter { .. })),
        "it had none"
    );
    c.undo_release(secs(101), r, prior, "store: disk full")
        .expect("put back");
    assert_eq!(c.reservation_state(id), Some(ReservationState::Restoring));
    assert!(!c.desired_meters().contains_key(&id));
}

fn with_path_grace(secs: u64) -> ControllerCore {
    ControllerCore::new(CoreConfig {
        path_grace: Duration::from_secs(secs),
        ..CoreConfig::default()
    })
}

/// h1 -> h2 admitted on the full square; returns the core, the id and its meter ports.
fn admitted_on_the_square(mut c: ControllerCore) -> (ControllerCore, ReservationId) {
    bring_up(&mut c, secs(1), &[1, 2, 3, 4]);
    let done = c
        .reserve(
            secs(2),
            &spec(Endpoint::Host(H1), Endpoint::Host(H2), GBPS / 2, 1),
        )
        .expect("admitted");
    (c, done.reservation.id)
}

#[test]
fn a_restarting_switch_with_no_other_path_keeps_the_reservation_waiting_then_active_again() {
    let (mut c, id) = admitted_on_the_square(with_path_grace(30));
    // h2's switch restarts: no path to it at all.
    let actions = c.device_down(secs(10), dev(4));
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::RemoveMeter { reservation, .. } if *reservation == id)),
        "its meters go with the path: {actions:?}"
    );
    assert_eq!(c.reservation_state(id), Some(ReservationState::Restoring));
    let d = c.decisions().iter().last().expect("decision");
    assert_eq!(d.rule, Rule::ReservationWaiting);
    assert!(d.reason.contains("waits up to 30 s"), "{}", d.reason);
    // Still waiting inside the grace period, whatever the ticks.
    assert!(meters_of(&c.tick(secs(25)), id).is_none());
    assert!(c.ledger().contains(id));
    // The switch is back and its links are rediscovered: metered again, same id.
    let actions = bring_up(&mut c, secs(30), &[1, 2, 3, 4]);
    let ports = meters_of(&actions, id).expect("meters once the path is back");
    assert!(ports
        .iter()
        .all(|p| p.device != dev(4) || p.port != PortNo(10)));
    assert_eq!(c.reservation_state(id), Some(ReservationState::Active));
}

#[test]
fn a_path_that_stays_away_past_the_grace_period_drops_the_reservation() {
    let (mut c, id) = admitted_on_the_square(with_path_grace(30));
    c.device_down(secs(10), dev(4));
    assert!(c.ledger().contains(id));
    c.tick(secs(39));
    assert!(c.ledger().contains(id), "inside the grace period");
    c.tick(secs(40));
    assert_eq!(c.reservation_state(id), None);
    let d = c.decisions().iter().last().expect("decision");
    assert_eq!(d.rule, Rule::ReservationDropped);
    assert!(d.reason.contains("grace period"), "{}", d.reason);
}

#[test]
fn with_no_grace_a_broken_path_drops_the_reservation_at_once() {
    let (mut c, id) = admitted_on_the_square(with_path_grace(0));
    c.device_down(secs(10), dev(4));
    assert_eq!(c.reservation_state(id), None);
    let d = c.decisions().iter().last().expect("decision");
    assert_eq!(d.rule, Rule::ReservationDropped);
}
