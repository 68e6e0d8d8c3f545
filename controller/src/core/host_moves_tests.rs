//! Host moves followed whatever else the topology change holds: routed pairs, steered pairs
//! and reservations deliver at the host's new port.

use std::net::Ipv4Addr;
use std::time::Duration;

use prescient_topology::{LinkKey, PortRef, Subject, Timestamp, Window};

use super::tests::{at, dev, drive, h1_to_h2, port, refresh_links, square, GBPS, H1, H2};
use super::*;

/// Where `actions` route the pair h1 -> h2: (links, exit) of each path action.
fn paths_h1_h2(actions: &[Action]) -> Vec<(Vec<LinkKey>, Option<PortRef>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::InstallPath {
                src,
                dst,
                links,
                exit,
                ..
            } if (*src, *dst) == (H1, H2) => Some((links.clone(), *exit)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_host_moving_back_when_a_link_is_found_takes_its_routes_and_reservations_along() {
    // The square, plus a cable s2:3 <-> s3:3 not discovered yet.
    let mut c = ControllerCore::new(CoreConfig::default());
    let t0 = Timestamp::from_secs(1);
    for d in 1..=4 {
        c.device_up(t0, dev(d), vec![port(1), port(2), port(3), port(10)]);
    }
    refresh_links(&mut c, t0);
    let ip2 = Some(Ipv4Addr::new(10, 0, 0, 2));
    c.host_seen(t0, H1, Some(Ipv4Addr::new(10, 0, 0, 1)), at(1, 10))
        .expect("h1");
    c.host_seen(t0, H2, ip2, at(4, 10)).expect("h2");
    let id = c
        .reserve(t0, &h1_to_h2(t0, 100_000_000, 3_600))
        .expect("room")
        .reservation
        .id;
    assert_eq!(paths_h1_h2(&c.pair_seen(t0, H1, H2)).len(), 1, "routed");

    // h2's ARP, flooded over the unknown cable, reports it at s3:3.
    let t1 = Timestamp::from_secs(2);
    c.host_seen(t1, H2, ip2, at(3, 3))
        .expect("no link there yet");
    // The cable is found: h2 goes back to s4:10 in the same change as the new link.
    let actions = c.lldp_received(t1, at(3, 3), at(2, 3)).expect("a new link");
    assert_eq!(c.topology().host(H2).map(|h| h.at), Some(at(4, 10)));
    let paths = paths_h1_h2(&actions);
    assert!(
        paths.iter().any(|(_, exit)| *exit == Some(at(4, 10))),
        "the pair delivers at h2's port again: {actions:?}"
    );
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::InstallMeter { reservation, ports, .. }
                if *reservation == id && ports.last() == Some(&at(4, 10))
        )),
        "the reservation's last hop follows h2: {actions:?}"
    );
    assert_eq!(
        c.desired_meters().get(&id).and_then(|p| p.last()),
        Some(&at(4, 10))
    );
}

#[test]
fn a_steered_pair_delivers_where_its_host_moved() {
    let mut c = square();
    let mut bytes = 0;
    let actions = drive(&mut c, &mut bytes, 10, 40, |_| 0.95 * GBPS as f64);
    let steered = paths_h1_h2(&actions).pop().expect("the pair is steered").0;
    assert_eq!(steered.first().map(|l| l.src), Some(at(1, 2)), "via s3");

    // h2 moves to another port of s4: the steered path stays, its exit follows.
    let now = Timestamp::from_secs(60);
    let ip2 = Some(Ipv4Addr::new(10, 0, 0, 2));
    c.port_added(now, dev(4), port(3)).expect("s4 is up");
    let actions = c.host_seen(now, H2, ip2, at(4, 3)).expect("moved");
    assert_eq!(
        paths_h1_h2(&actions),
        vec![(steered.clone(), Some(at(4, 3)))],
        "{actions:?}"
    );

    // h2 moves to s2: the path via s3 no longer leads there; the pair is routed to s2.
    c.port_added(now, dev(2), port(3)).expect("s2 is up");
    let actions = c.host_seen(now, H2, ip2, at(2, 3)).expect("moved");
    assert_eq!(
        paths_h1_h2(&actions),
        vec![(vec![LinkKey::new(at(1, 1), at(2, 1))], Some(at(2, 3)))],
        "{actions:?}"
    );
    let again = c.host_seen(now, H2, ip2, at(4, 3)).expect("moved back");
    assert!(
        paths_h1_h2(&again)
            .iter()
            .all(|(links, _)| links.last().map(|l| l.dst.device) == Some(dev(4))),
        "{again:?}"
    );
}

#[test]
fn a_reservation_follows_its_host_to_another_switch() {
    let mut c = square();
    let t0 = Timestamp::from_secs(2);
    let spec = h1_to_h2(t0, 100_000_000, 3_600);
    let id = c.reserve(t0, &spec).expect("room").reservation.id;
    let old = c.ledger().get(id).expect("admitted").request.path.clone();

    // h2 moves from s4 to s2: the reservation is placed again between s1 and s2.
    c.port_added(t0, dev(2), port(3)).expect("s2 is up");
    let actions = c
        .host_seen(t0, H2, Some(Ipv4Addr::new(10, 0, 0, 2)), at(2, 3))
        .expect("moved");
    let r = c.ledger().get(id).expect("kept, same id").clone();
    assert_eq!(r.request.dst, dev(2));
    assert_eq!(r.request.path, vec![LinkKey::new(at(1, 1), at(2, 1))]);
    assert_eq!(
        (r.request.rate_bps, r.request.window),
        (spec.rate_bps, spec.window)
    );
    // The ledger holds the new path only.
    for link in old.iter().filter(|l| !r.request.path.contains(l)) {
        assert_eq!(
            c.ledger().committed(*link, spec.window),
            0,
            "{link:?} released"
        );
    }
    assert_eq!(
        c.ledger().committed(r.request.path[0], spec.window),
        spec.rate_bps
    );
    // The switches' entries and meters move: s1 towards s2, delivered at h2's new port.
    assert_eq!(c.desired_meters().get(&id), Some(&vec![at(1, 1), at(2, 3)]));
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::RemoveMeter { reservation, ports } if *reservation == id && *ports != vec![at(1, 1), at(2, 3)]
        )),
        "the old entries go: {actions:?}"
    );
}

#[test]
fn a_reservation_with_no_room_where_its_host_went_fails_then_is_placed_when_room_appears() {
    // The square plus s5, cabled s4:3 <-> s5:1.
    let mut c = square();
    let t0 = Timestamp::from_secs(2);
    c.port_added(t0, dev(4), port(3)).expect("s4 is up");
    c.device_up(t0, dev(5), vec![port(1), port(10)]);
    c.lldp_received(t0, at(5, 1), at(4, 3)).expect("a link");
    c.lldp_received(t0, at(4, 3), at(5, 1)).expect("a link");
    let s4_s5 = LinkKey::new(at(4, 3), at(5, 1));
    // Another reservation leaves 10 Mbit/s on s4 -> s5.
    let blocker = ReserveSpec {
        src: Endpoint::Device(dev(4)),
        dst: Endpoint::Device(dev(5)),
        rate_bps: GBPS - 10_000_000,
        tier: 1,
        window: Window::new(t0, t0.plus(Duration::from_secs(3_600))),
        // Between switches a reservation names the traffic it is for (else it would police
        // everyone's): a sender beyond the fixture's hosts.
        flow: Some(prescient_topology::FlowMatch {
            src_ip: Some(std::net::Ipv4Addr::new(10, 9, 9, 9)),
            ..prescient_topology::FlowMatch::default()
        }),
        path: Some(vec![s4_s5]),
    };
    let blocker = c.reserve(t0, &blocker).expect("room").reservation.id;
    let spec = h1_to_h2(t0, 100_000_000, 3_600);
    let id = c.reserve(t0, &spec).expect("room").reservation.id;
    let old = c.ledger().get(id).expect("admitted").request.path.clone();

    // h2 moves to s5: no path there has room for 100 Mbit/s. The reservation fails: it holds
    // nothing, its meters go, and it is still there to be seen.
    let actions = c
        .host_seen(t0, H2, Some(Ipv4Addr::new(10, 0, 0, 2)), at(5, 10))
        .expect("moved");
    assert_eq!(c.reservation_state(id), Some(ReservationState::Failed));
    assert!(c.ledger().get(id).is_none(), "out of the ledger");
    for link in &old {
        assert_eq!(c.ledger().committed(*link, spec.window), 0, "{link:?}");
    }
    assert!(c.desired_meters().get(&id).is_none());
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::RemoveMeter { reservation, .. } if *reservation == id)),
        "{actions:?}"
    );
    assert_eq!(
        c.failed_reservations().map(|r| r.id).collect::<Vec<_>>(),
        vec![id]
    );
    assert!(c.tick(t0).iter().all(|a| !matches!(
        a,
        Action::InstallMeter { reservation, .. } if *reservation == id
    )));

    // The other reservation is released: the next tick places it, same id, on to s5.
    c.release(t0, blocker).expect("released");
    let t1 = t0.plus(Duration::from_secs(1));
    let actions = c.tick(t1);
    assert_eq!(c.reservation_state(id), Some(ReservationState::Active));
    let r = c.ledger().get(id).expect("back in the ledger").clone();
    assert_eq!(r.request.dst, dev(5));
    assert_eq!(r.request.path.last(), Some(&s4_s5));
    assert_eq!(c.ledger().committed(s4_s5, spec.window), spec.rate_bps);
    assert_eq!(
        c.desired_meters().get(&id).and_then(|p| p.last()),
        Some(&at(5, 10))
    );
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::InstallMeter { reservation, .. } if *reservation == id)),
        "{actions:?}"
    );
    assert_eq!(c.failed_reservations().count(), 0);
}

#[test]
fn a_steered_pairs_flow_reservation_is_placed_again_when_its_host_moves_off_the_steered_path() {
    let mut c = square();
    let t0 = Timestamp::from_secs(5);
    let (ip1, ip2) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    // UDP from h1's address to h2's: it holds the pair h1 -> h2.
    let spec = ReserveSpec {
        flow: Some(prescient_topology::FlowMatch {
            src_mac: None,
            dst_mac: None,
            src_ip: Some(ip1),
            dst_ip: Some(ip2),
            ip_proto: Some(17),
            src_port: None,
            dst_port: None,
        }),
        ..h1_to_h2(t0, 100_000_000, 3_600)
    };
    let id = c.reserve(t0, &spec).expect("room").reservation.id;
    let mut bytes = 0;
    let actions = drive(&mut c, &mut bytes, 10, 40, |_| 0.95 * GBPS as f64);
    let steered = paths_h1_h2(&actions).pop().expect("the pair is steered").0;
    assert_eq!(steered.first().map(|l| l.src), Some(at(1, 2)), "via s3");
    assert_eq!(
        c.ledger().get(id).map(|r| &r.request.path),
        Some(&steered),
        "the flow moved with its pair"
    );

    // h2 moves to s2: the steered path via s3 no longer leads there, so the pair is routed
    // s1 -> s2; the reservation of its traffic goes with it, same id, rate, tier and window.
    let now = Timestamp::from_secs(60);
    c.port_added(now, dev(2), port(3)).expect("s2 is up");
    let actions = c.host_seen(now, H2, Some(ip2), at(2, 3)).expect("moved");
    let s1_s2 = vec![LinkKey::new(at(1, 1), at(2, 1))];
    assert_eq!(paths_h1_h2(&actions), vec![(s1_s2.clone(), Some(at(2, 3)))]);
    let r = c.ledger().get(id).expect("kept, same id").clone();
    assert_eq!((r.request.src, r.request.dst), (dev(1), dev(2)));
    assert_eq!(r.request.path, s1_s2);
    // Still the traffic of the hosts it was reserved between (their MACs).
    assert_eq!(
        r.request.subject,
        Subject::Flow(prescient_topology::FlowMatch {
            src_mac: Some(H1),
            dst_mac: Some(H2),
            ..spec.flow.clone().expect("a flow")
        })
    );
    assert_eq!(
        (r.request.rate_bps, r.request.tier, r.request.window),
        (spec.rate_bps, spec.tier, spec.window)
    );
    for link in steered.iter().filter(|l| !s1_s2.contains(l)) {
        assert_eq!(c.ledger().committed(*link, spec.window), 0, "{link:?}");
    }
    // Its entries leave s3 and s4 and hold it from s1 to h2's new port.
    assert_eq!(c.desired_meters().get(&id), Some(&vec![at(1, 1), at(2, 3)]));
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::RemoveMeter { reservation, ports }
                if *reservation == id && ports.first() == Some(&at(1, 2))
        )),
        "{actions:?}"
    );
}
