use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::ids::{PortNo, PortRef};
use crate::snapshot::SnapshotLink;

fn dev(i: u32) -> DeviceId {
    DeviceId::openflow(u64::from(i))
}

fn key(a: u32, b: u32) -> LinkKey {
    LinkKey::new(
        PortRef::new(dev(a), PortNo(b)),
        PortRef::new(dev(b), PortNo(a)),
    )
}

/// A square 0-1-3 / 0-2-3 (one direction), every link of capacity `cap`.
fn square(cap: u64) -> Snapshot {
    let links = [(0, 1), (1, 3), (0, 2), (2, 3)]
        .iter()
        .map(|&(a, b)| SnapshotLink {
            key: key(a, b),
            capacity_bps: cap,
            cost: 1,
        })
        .collect();
    Snapshot::build(
        Timestamp(0),
        1,
        (0..4).map(dev).collect(),
        links,
        BTreeMap::new(),
    )
}

fn req(path: &[(u32, u32)], rate: u64, tier: u8, start: u64, end: u64) -> ReservationRequest {
    ReservationRequest {
        subject: Subject::Flow(FlowMatch::default()),
        src: dev(path.first().map_or(0, |p| p.0)),
        dst: dev(path.last().map_or(0, |p| p.1)),
        rate_bps: rate,
        tier,
        window: Window::new(Timestamp(start), Timestamp(end)),
        path: path.iter().map(|&(a, b)| key(a, b)).collect(),
    }
}

const TOP: &[(u32, u32)] = &[(0, 1), (1, 3)];
const BOTTOM: &[(u32, u32)] = &[(0, 2), (2, 3)];

#[test]
fn admits_up_to_capacity_then_names_the_bottleneck() {
    let mut l = Ledger::from_snapshot(&square(10));
    l.admit(req(TOP, 6, 0, 0, 100)).expect("fits");
    l.admit(req(&[(1, 3)], 3, 0, 0, 100)).expect("fits");
    let err = l.admit(req(TOP, 2, 0, 50, 60)).expect_err("over");
    assert_eq!(
        err,
        LedgerError::Insufficient {
            link: key(1, 3),
            at: Timestamp(50),
            capacity_bps: 10,
            committed_bps: 9,
            requested_bps: 2,
            missing_bps: 1,
        }
    );
    assert_eq!(l.reservations().count(), 2, "refusal changes nothing");
}

#[test]
fn checks_every_moment_not_the_sum_of_overlaps() {
    let mut l = Ledger::from_snapshot(&square(10));
    l.admit(req(TOP, 6, 0, 0, 10)).expect("fits");
    l.admit(req(TOP, 6, 0, 10, 20))
        .expect("back to back, never together");
    // Overlaps both, but at no instant is more than 6 + 4 committed.
    l.admit(req(TOP, 4, 0, 5, 15))
        .expect("fits at every instant");
    let err = l
        .admit(req(TOP, 1, 0, 9, 11))
        .expect_err("full at 9 and at 10");
    assert!(matches!(
        err,
        LedgerError::Insufficient {
            at: Timestamp(9),
            missing_bps: 1,
            ..
        }
    ));
    l.admit(req(TOP, 10, 0, 20, 30)).expect("free after 20");
    assert_eq!(
        l.committed(key(0, 1), Window::new(Timestamp(0), Timestamp(30))),
        10
    );
}

#[test]
fn higher_tiers_preempt_lowest_tier_newest_first() {
    let mut l = Ledger::from_snapshot(&square(10));
    let low_old = l.admit(req(TOP, 4, 1, 0, 100)).expect("fits").id;
    let low_new = l.admit(req(TOP, 4, 1, 0, 100)).expect("fits").id;
    let lowest = l.admit(req(TOP, 2, 0, 0, 100)).expect("fits").id;
    // Equal tier never preempts.
    assert!(l.admit(req(TOP, 3, 1, 0, 100)).is_err());
    let got = l.admit(req(TOP, 5, 2, 0, 100)).expect("preempts");
    let gone: Vec<ReservationId> = got.preempted.iter().map(|r| r.id).collect();
    assert_eq!(gone, vec![low_new, lowest]);
    assert!(l.contains(low_old) && !l.contains(low_new) && !l.contains(lowest));
    assert_eq!(l.audit(), None);
    // A tier-1 request finds nothing lower left to preempt: refused, nothing changes.
    assert!(matches!(
        l.admit(req(TOP, 2, 1, 0, 100)),
        Err(LedgerError::Insufficient { .. })
    ));
    assert!(l.contains(low_old));
}

#[test]
fn release_and_expire_free_capacity() {
    let mut l = Ledger::from_snapshot(&square(10));
    let id = l.admit(req(TOP, 10, 0, 0, 100)).expect("fits").id;
    assert!(l.admit(req(TOP, 1, 0, 0, 100)).is_err());
    assert_eq!(l.release(id).map(|r| r.id), Ok(id));
    assert_eq!(l.release(id), Err(LedgerError::UnknownReservation(id)));
    let id = l.admit(req(TOP, 10, 0, 0, 100)).expect("free again").id;
    assert!(l.expire(Timestamp(99)).is_empty());
    assert_eq!(l.expire(Timestamp(100)).len(), 1);
    assert!(!l.contains(id));
}

#[test]
fn bad_requests_say_what_is_wrong() {
    let mut l = Ledger::from_snapshot(&square(10));
    assert_eq!(l.admit(req(TOP, 0, 0, 0, 1)), Err(LedgerError::ZeroRate));
    assert!(matches!(
        l.admit(req(TOP, 1, 0, 5, 5)),
        Err(LedgerError::EmptyWindow { .. })
    ));
    assert_eq!(
        l.admit(req(&[(0, 3)], 1, 0, 0, 1)),
        Err(LedgerError::UnknownLink(key(0, 3)))
    );
    let mut broken = req(TOP, 1, 0, 0, 1);
    broken.path.reverse();
    assert!(matches!(
        l.admit(broken),
        Err(LedgerError::BrokenPath { position: 0, .. })
    ));
    let mut wrong_end = req(TOP, 1, 0, 0, 1);
    wrong_end.dst = dev(2);
    assert!(matches!(
        l.admit(wrong_end),
        Err(LedgerError::BrokenPath { position: 2, .. })
    ));
}

#[test]
fn capacity_drop_evicts_lowest_tier() {
    let mut l = Ledger::from_snapshot(&square(10));
    let hi = l.admit(req(TOP, 5, 3, 0, 100)).expect("fits").id;
    let lo = l.admit(req(TOP, 5, 1, 0, 100)).expect("fits").id;
    let evicted = l.set_capacity(key(0, 1), 6);
    assert_eq!(evicted.iter().map(|r| r.id).collect::<Vec<_>>(), vec![lo]);
    assert!(l.contains(hi));
}

#[test]
fn link_failure_reroutes_or_reports_unplaceable() {
    let snap = square(10);
    let mut l = Ledger::from_snapshot(&snap);
    let a = l.admit(req(TOP, 6, 1, 0, 100)).expect("fits").id;
    let b = l.admit(req(TOP, 4, 0, 0, 100)).expect("fits").id;
    l.admit(req(BOTTOM, 3, 0, 0, 100)).expect("fits");
    // Link 0->1 fails.
    let links = [(1, 3), (0, 2), (2, 3)]
        .iter()
        .map(|&(x, y)| SnapshotLink {
            key: key(x, y),
            capacity_bps: 10,
            cost: 1,
        })
        .collect();
    let failed = Snapshot::build(
        Timestamp(1),
        2,
        (0..4).map(dev).collect(),
        links,
        BTreeMap::new(),
    );
    let outcomes = l.apply_topology(&failed);
    assert_eq!(outcomes.len(), 2);
    match &outcomes[0] {
        RerouteOutcome::Rerouted {
            reservation,
            preempted,
        } => {
            assert_eq!(reservation.id, a, "higher tier placed first, same id");
            assert_eq!(reservation.request.path, vec![key(0, 2), key(2, 3)]);
            assert!(preempted.is_empty());
        }
        other => panic!("expected a reroute, got {other:?}"),
    }
    match &outcomes[1] {
        RerouteOutcome::Unplaceable {
            reservation,
            reason,
        } => {
            assert_eq!(reservation.id, b);
            assert!(matches!(
                reason,
                RerouteError::NoRoom {
                    rate_bps: 4,
                    widest_bps: 1
                }
            ));
        }
        other => panic!("expected unplaceable, got {other:?}"),
    }
    assert!(l.contains(a) && !l.contains(b));
    assert_eq!(l.audit(), None);
}

#[test]
fn place_finds_a_path_with_room_over_the_window() {
    let snap = square(10);
    let mut l = Ledger::from_snapshot(&snap);
    l.admit(req(TOP, 8, 0, 0, 50)).expect("fits");
    let mut want = req(&[], 5, 0, 10, 20);
    want.src = dev(0);
    want.dst = dev(3);
    let (placed, preempted) = l.place(&snap, want.clone()).expect("bottom has room");
    assert_eq!(placed.request.path, vec![key(0, 2), key(2, 3)]);
    assert!(preempted.is_empty());
    // After the top reservation ends, the cheaper top path is free again.
    want.window = Window::new(Timestamp(50), Timestamp(60));
    let (placed, _) = l.place(&snap, want.clone()).expect("top is free later");
    assert_eq!(placed.request.path, vec![key(0, 1), key(1, 3)]);
    want.rate_bps = 11;
    assert!(matches!(
        l.place(&snap, want),
        Err(RerouteError::NoRoom { widest_bps: 10, .. })
    ));
}

// ---- property tests: the ledger never over-commits a link ----

#[derive(Debug, Clone)]
enum Op {
    Admit {
        src: u32,
        dst: u32,
        rate_g: u64,
        tier: u8,
        start: u64,
        len: u64,
        pick: usize,
    },
    Release(usize),
    FailPort(usize),
    Capacity(usize, u64),
    Expire(u64),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u32..8, 0u32..8, 1u64..60, 0u8..4, 0u64..100, 1u64..50, 0usize..4).prop_map(
            |(src, dst, rate_g, tier, start, len, pick)| Op::Admit { src, dst, rate_g, tier, start, len, pick }),
        2 => (0usize..64).prop_map(Op::Release),
        1 => (0usize..64).prop_map(Op::FailPort),
        1 => (0usize..64, 0u64..60).prop_map(|(i, g)| Op::Capacity(i, g)),
        1 => (0u64..150).prop_map(Op::Expire),
    ]
}

const G: u64 = 1_000_000_000;

/// Independent check: at each instant a reservation starts, the rates crossing every link sum
/// to at most its capacity.
fn assert_never_overcommitted(l: &Ledger, snap: &Snapshot) -> Result<(), TestCaseError> {
    let all: Vec<&Reservation> = l.reservations().collect();
    for r in &all {
        let t = r.request.window.start;
        for link in &r.request.path {
            prop_assert!(
                snap.link_idx(*link).is_some(),
                "reservation on a link that is gone"
            );
            let load: u128 = all
                .iter()
                .filter(|o| o.request.path.contains(link))
                .filter(|o| o.request.window.start <= t && t < o.request.window.end)
                .map(|o| u128::from(o.request.rate_bps))
                .sum();
            let cap = l.capacity(*link).unwrap_or(0);
            prop_assert!(
                load <= u128::from(cap),
                "{link} over-committed at {t:?}: {load} > {cap}"
            );
            prop_assert_eq!(Some(cap), snap.capacity(*link));
        }
    }
    prop_assert_eq!(l.audit(), None);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn never_overcommits(seed in any::<u64>(), n in 3u32..8, extra in 0u32..8,
                         ops in proptest::collection::vec(arb_op(), 1..60)) {
        let mut g = crate::generate::random(n, n - 1 + extra, seed);
        let mut snap = g.topology.snapshot();
        let mut ledger = Ledger::from_snapshot(&snap);
        let mut ids: Vec<ReservationId> = Vec::new();
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Admit { src, dst, rate_g, tier, start, len, pick } => {
                    let devs = snap.devices();
                    let (Some(&s), Some(&d)) = (devs.get((src % n) as usize), devs.get((dst % n) as usize)) else { continue };
                    let window = Window::new(Timestamp(start), Timestamp(start + len));
                    let path = if pick == 0 {
                        let residual = ledger.residuals(&snap, window);
                        snap.constrained_path(s, d, rate_g * G, &residual).map(|c| c.path)
                    } else {
                        snap.k_shortest_paths(s, d, pick).map(|mut ps| ps.pop().expect("k >= 1 gives one path"))
                    };
                    let Ok(path) = path else { continue };
                    let before: Vec<Reservation> = ledger.reservations().cloned().collect();
                    let request = ReservationRequest {
                        subject: Subject::HostPair { src: crate::ids::MacAddr([2, 0, 0, 0, 0, 1]), dst: crate::ids::MacAddr([2, 0, 0, 0, 0, 2]) },
                        src: s, dst: d, rate_bps: rate_g * G, tier, window, path: path.links,
                    };
                    match ledger.admit(request) {
                        Ok(a) => {
                            for p in &a.preempted {
                                prop_assert!(p.request.tier < tier);
                                prop_assert!(!ledger.contains(p.id));
                            }
                            prop_assert!(ledger.contains(a.id));
                            ids.push(a.id);
                        }
                        Err(_) => {
                            let after: Vec<Reservation> = ledger.reservations().cloned().collect();
                            prop_assert_eq!(before, after, "refusal changed the ledger");
                        }
                    }
                }
                Op::Release(i) => {
                    if let Some(&id) = ids.get(i % ids.len().max(1)) {
                        let was = ledger.contains(id);
                        prop_assert_eq!(ledger.release(id).is_ok(), was);
                        prop_assert!(!ledger.contains(id));
                    }
                }
                Op::FailPort(i) => {
                    let links = snap.links();
                    if links.is_empty() { continue }
                    let link = links[i % links.len()];
                    now += 1;
                    let mut port = g.topology.devices().find(|d| d.id == link.src.device)
                        .and_then(|d| d.ports.get(&link.src.port)).cloned().expect("port of a link");
                    port.up = false;
                    g.topology.port_changed(Timestamp(now), link.src.device, port).expect("device is up");
                    snap = g.topology.snapshot();
                    prop_assert!(snap.link_idx(link).is_none());
                    for o in ledger.apply_topology(&snap) {
                        if let RerouteOutcome::Unplaceable { reservation, .. } = o {
                            prop_assert!(!ledger.contains(reservation.id));
                        }
                    }
                }
                Op::Capacity(i, gbps) => {
                    let links = snap.links();
                    if links.is_empty() { continue }
                    let link = links[i % links.len()];
                    let mut config = g.topology.config().clone();
                    config.capacity.per_port.insert(link.src, gbps * G);
                    g.topology.set_config(config);
                    snap = g.topology.snapshot();
                    ledger.apply_topology(&snap);
                }
                Op::Expire(t) => {
                    for r in ledger.expire(Timestamp(t)) {
                        prop_assert!(r.request.window.end <= Timestamp(t));
                    }
                }
            }
            assert_never_overcommitted(&ledger, &snap)?;
        }
    }
}

#[test]
fn restore_keeps_ids_and_the_next_id_stays_above_them() {
    let mut l = Ledger::new();
    l.track_changes();
    let r = Reservation {
        id: ReservationId(41),
        request: req(TOP, 5, 0, 0, 100),
    };
    l.restore(r.clone()).expect("unknown links are accepted");
    assert_eq!(l.get(ReservationId(41)), Some(&r));
    assert_eq!(l.next_id(), ReservationId(42));
    assert_eq!(
        l.restore(r.clone()),
        Err(LedgerError::DuplicateId(ReservationId(41)))
    );
    assert_eq!(
        l.take_changes().into_iter().collect::<Vec<_>>(),
        vec![ReservationId(41)]
    );
    // Links appear: the restored reservation is counted, and a new one gets a fresh id.
    l.sync(&square(10));
    assert_eq!(l.committed(key(0, 1), Window::ALWAYS), 5);
    let a = l.admit(req(TOP, 5, 0, 0, 100)).expect("fits beside it");
    assert_eq!(a.id, ReservationId(42));
    assert!(
        l.admit(req(TOP, 1, 0, 0, 100)).is_err(),
        "the restored 5 bit/s still count"
    );
    assert_eq!(l.audit(), None);
}

#[test]
fn restore_on_known_links_must_fit_and_bad_values_are_refused() {
    let mut l = Ledger::from_snapshot(&square(10));
    l.admit(req(TOP, 8, 0, 0, 100)).expect("fits");
    let over = Reservation {
        id: ReservationId(7),
        request: req(TOP, 3, 5, 50, 60),
    };
    assert!(matches!(
        l.restore(over),
        Err(LedgerError::Insufficient { missing_bps: 1, .. })
    ));
    assert!(!l.contains(ReservationId(7)));
    let broken = Reservation {
        id: ReservationId(8),
        request: req(&[(0, 1), (2, 3)], 1, 0, 0, 10),
    };
    assert!(matches!(
        l.restore(broken),
        Err(LedgerError::BrokenPath { position: 1, .. })
    ));
    let zero = Reservation {
        id: ReservationId(9),
        request: req(BOTTOM, 0, 0, 0, 10),
    };
    assert_eq!(l.restore(zero), Err(LedgerError::ZeroRate));
}

#[test]
fn a_link_appearing_too_small_evicts_restored_reservations() {
    let mut l = Ledger::new();
    for (id, tier) in [(3, 1), (4, 0)] {
        l.restore(Reservation {
            id: ReservationId(id),
            request: req(TOP, 6, tier, 0, 100),
        })
        .expect("restored");
    }
    let (lost, evicted) = l.sync(&square(10));
    assert!(lost.is_empty());
    assert_eq!(
        evicted.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ReservationId(4)],
        "the lower tier goes"
    );
    assert_eq!(l.audit(), None);
}

#[test]
fn changes_are_tracked_only_when_asked() {
    let mut l = Ledger::from_snapshot(&square(10));
    let a = l.admit(req(TOP, 1, 0, 0, 100)).expect("fits");
    assert!(l.take_changes().is_empty());
    l.track_changes();
    let b = l.admit(req(BOTTOM, 1, 0, 0, 100)).expect("fits");
    l.release(a.id).expect("there");
    l.expire(Timestamp(100));
    let changed: Vec<ReservationId> = l.take_changes().into_iter().collect();
    assert_eq!(changed, vec![a.id, b.id]);
    assert!(l.take_changes().is_empty());
}

#[test]
fn ids_start_at_one() {
    let mut l = Ledger::from_snapshot(&square(10));
    assert_eq!(l.next_id(), ReservationId(1));
    let a = l.admit(req(TOP, 1, 0, 0, 100)).expect("fits");
    assert_eq!(a.id, ReservationId(1));
    let b = l.admit(req(TOP, 1, 0, 0, 100)).expect("fits");
    assert_eq!(b.id, ReservationId(2));
}

#[test]
fn spared_reservations_keep_their_path_when_a_link_leaves() {
    let mut l = Ledger::from_snapshot(&square(10));
    let waiting = l.admit(req(TOP, 4, 0, 0, 100)).expect("fits").id;
    let other = l.admit(req(TOP, 4, 0, 0, 100)).expect("fits").id;
    let without_top = Snapshot::build(
        Timestamp(1),
        2,
        (0..4).map(dev).collect(),
        [(1, 3), (0, 2), (2, 3)]
            .iter()
            .map(|&(a, b)| SnapshotLink {
                key: key(a, b),
                capacity_bps: 10,
                cost: 1,
            })
            .collect(),
        BTreeMap::new(),
    );
    let spare = BTreeSet::from([waiting]);
    let (lost, evicted) = l.sync_sparing(&without_top, &spare);
    assert_eq!(lost.iter().map(|r| r.id).collect::<Vec<_>>(), vec![other]);
    assert!(evicted.is_empty());
    assert_eq!(l.get(waiting).map(|r| r.request.path.len()), Some(2));
    // The link comes back: it counts again, within capacity.
    l.sync(&square(10));
    assert_eq!(l.committed(key(0, 1), Window::ALWAYS), 4);
    assert_eq!(l.audit(), None);
}
