//! Flow reservations on emulated P4Runtime switches running prescient.p4, through the whole
//! controller: a reservation narrowed to a protocol and port polices exactly that traffic, as
//! the OpenFlow flow entry does (tests/tests/sim_reservations.rs), and the same hosts' other
//! traffic passes unmetered, whether the match names the hosts' addresses or only their MACs.

#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use prescient::core::{Endpoint, ReserveSpec};
use prescient_sim::p4rt::{udp_frame, P4SimNetwork};
use prescient_southbound::p4runtime::pipeconf::FlowKey;
use prescient_tests::p4sim::{arp, mac_u64, meters, start};
use prescient_tests::{wait_for, wait_links};
use prescient_topology::{FlowMatch, MacAddr, Window};

const WAIT: Duration = Duration::from_secs(40);
const H1: [u8; 6] = [2, 0, 0, 0, 0, 1];
const H3: [u8; 6] = [2, 0, 0, 0, 0, 3];
const IP1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const IP3: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
/// 8 kbit/s: 1000 bytes/s, so of a burst of 1000-byte frames only the bucket's three pass.
const RATE_BPS: u64 = 8_000;
const BURST: usize = 20;

/// A frame h1 -> h3 of about 1000 bytes: UDP, or with `tcp` the protocol byte set to TCP
/// (the emulator parses the ports at the same place and does not check the L4 checksum).
fn frame(dport: u16, tcp: bool) -> Vec<u8> {
    let mut f = udp_frame(
        mac_u64(H1),
        mac_u64(H3),
        IP1.into(),
        IP3.into(),
        4000,
        dport,
        &[0; 958],
    );
    if tcp {
        f[14 + 9] = 6;
    }
    f
}

/// How many of [`BURST`] copies of `f`, sent back to back into s1 from h1, reach h3 on s3.
fn delivered(network: &P4SimNetwork, f: &[u8]) -> usize {
    (0..BURST)
        .filter(|_| {
            network
                .inject(1, 3, f.to_vec())
                .iter()
                .any(|(d, p, _)| (*d, *p) == (3, 3))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_udp_port_reservation_polices_that_udp_and_the_hosts_other_traffic_passes() {
    prescient_tests::trace_to_test_output();
    // s1 - s2 - s3; h1 on s1 port 3, h3 on s3 port 3.
    let network = Arc::new(P4SimNetwork::linear(3).unwrap());
    let (service, stop_sim, server) = start(network.clone(), 3, |_| {}).await;
    let core = service.core().clone();
    wait_links(&core, 4, "the line discovered", WAIT)
        .await
        .unwrap();
    network.inject(1, 3, arp((H1, IP1), IP3, None));
    network.inject(3, 3, arp((H3, IP3), IP1, Some(H1)));
    wait_for("h3 routed from s1", WAIT, || {
        let routed = network.inject(1, 3, frame(9, false));
        routed
            .iter()
            .any(|(d, p, _)| (*d, *p) == (3, 3))
            .then_some(())
    })
    .await
    .unwrap();

    // Two ways to say "h1 -> h3's UDP to port 5001": naming the hosts only, and naming their
    // addresses as well. Both meter exactly that traffic on s1 and s2.
    let by_hosts = FlowMatch {
        ip_proto: Some(17),
        dst_port: Some(5001),
        ..FlowMatch::default()
    };
    let by_addresses = FlowMatch {
        src_ip: Some(IP1),
        dst_ip: Some(IP3),
        ..by_hosts.clone()
    };
    for flow in [by_hosts, by_addresses] {
        let now = core.now();
        let spec = ReserveSpec {
            src: Endpoint::Host(MacAddr(H1)),
            dst: Endpoint::Host(MacAddr(H3)),
            rate_bps: RATE_BPS,
            tier: 0,
            window: Window::new(now, now.plus(Duration::from_secs(3600))),
            flow: Some(flow.clone()),
            path: None,
        };
        let reserved = core.apply(|c| c.reserve(now, &spec)).unwrap();
        let id = reserved.reservation.id;
        core.dispatch(reserved.actions);
        let key = FlowKey {
            src: Some(IP1),
            dst: Some(IP3),
            protocol: Some(17),
            l4_src: None,
            l4_dst: Some(5001),
        };
        wait_for("the UDP 5001 meter on s1 and s2", WAIT, || {
            let has = |d| meters(&network, d).keys().copied().collect::<Vec<_>>() == vec![key];
            (has(1) && has(2)).then_some(())
        })
        .await
        .unwrap();

        let udp_5001 = delivered(&network, &frame(5001, false));
        assert!(udp_5001 <= 5, "{flow:?}: UDP to 5001 policed: {udp_5001}");
        assert_eq!(
            delivered(&network, &frame(5002, false)),
            BURST,
            "{flow:?}: UDP to another port is not metered"
        );
        assert_eq!(
            delivered(&network, &frame(5001, true)),
            BURST,
            "{flow:?}: the hosts' TCP is not metered"
        );

        let now = core.now();
        let (_, actions) = core.apply(|c| c.release(now, id)).unwrap();
        core.dispatch(actions);
        wait_for("the meters deleted", WAIT, || {
            (meters(&network, 1).is_empty() && meters(&network, 2).is_empty()).then_some(())
        })
        .await
        .unwrap();
    }

    service.shutdown().await;
    stop_sim.cancel();
    let _ = server.await;
}
