//! The whole controller on real BMv2 `simple_switch_grpc` switches running prescient.p4, with
//! Linux hosts in network namespaces: the pipeline is pushed, the links between three switches
//! are discovered by LLDP packet-out / packet-in, the hosts are learned, pings flow over the
//! routes the controller installed, and after a switch restarts the controller reconnects,
//! re-pushes the pipeline and puts back exactly the entries it owns (routes, a reservation's
//! meter, a service's VIP), and the reservation still holds its flow to its rate: every
//! metered hop polices the pair at the reservation's rate alone, however much it offers.
//!
//! Needs root and the P4 toolchain (scripts/setup installs it from ../shared/p4); without them
//! the tests say loudly that they skipped.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use prescient::core::records::BackendTarget;
use prescient::core::{is_warm, Action, Endpoint, ReserveSpec, SeriesKey};
use prescient::driver::p4runtime::desired::{burst_bytes, bytes_per_second};
use prescient::service::Service;
use prescient_southbound::p4runtime::pipeconf::names;
use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use prescient_southbound::p4runtime::P4RuntimeClient;
use prescient_tests::bmv2::{lab_toolchain, Lab, SwitchOptions};
use prescient_tests::wait_for;
use prescient_topology::{DeviceId, LinkKey, MacAddr, PortNo, PortRef, Window};

/// Generous: BMv2 and the controller share two loaded cores with other tests.
const WAIT: Duration = Duration::from_secs(60);
const RESERVED_BPS: u64 = 2_000_000;
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const VMAC: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 1];
const BACKEND: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);
const BACKEND_MAC: [u8; 6] = [0x02, 0xbb, 0, 0, 0, 9];

fn end(device: u64, port: u32) -> PortRef {
    PortRef {
        device: DeviceId::p4runtime(device),
        port: PortNo(port),
    }
}

/// The owned tables of a switch and the configurations of its direct meters, as read back
/// (sorted debug forms; entries read without counters).
async fn owned(client: &mut P4RuntimeClient) -> BTreeMap<&'static str, Vec<String>> {
    let mut out = BTreeMap::new();
    for table in [
        names::IPV4_LPM,
        names::FLOW_METER,
        names::PAIR_COUNT,
        names::TRANSLATE_SRC,
        names::SERVICE_SELECT,
    ] {
        let entries = client.read_table(table, false).await.unwrap();
        let mut entries: Vec<String> = entries.iter().map(|e| format!("{e:?}")).collect();
        entries.sort();
        out.insert(table, entries);
    }
    let meters = client.read_direct_meters(names::FLOW_METER).await.unwrap();
    let mut meters: Vec<String> = meters.iter().map(|m| format!("{m:?}")).collect();
    meters.sort();
    out.insert("meter configs", meters);
    out
}

async fn controller(lab: &Lab) -> Service {
    let mut config = lab.controller_config();
    config.core.control_interval = Duration::from_millis(500);
    Service::start(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bmv2_line_of_three_discovers_learns_pings_and_survives_a_restart() {
    let test = "bmv2_line_of_three_discovers_learns_pings_and_survives_a_restart";
    let Some(toolchain) = lab_toolchain(test) else {
        return;
    };
    let mut lab = Lab::new(toolchain, "line3").unwrap();
    let s: Vec<_> = (0..3)
        .map(|_| lab.switch(SwitchOptions::default()).unwrap())
        .collect();
    let h1 = lab.host(s[0], Ipv4Addr::new(10, 0, 0, 1)).unwrap();
    let h3 = lab.host(s[2], Ipv4Addr::new(10, 0, 0, 3)).unwrap();
    let (a, b) = lab.link(s[0], s[1]).unwrap();
    let (c, d) = lab.link(s[1], s[2]).unwrap();
    lab.start().await.unwrap();
    let service = controller(&lab).await;
    let core = service.core().clone();

    let expected: BTreeSet<LinkKey> = [
        (end(1, a), end(2, b)),
        (end(2, b), end(1, a)),
        (end(2, c), end(3, d)),
        (end(3, d), end(2, c)),
    ]
    .into_iter()
    .map(|(src, dst)| LinkKey { src, dst })
    .collect();
    let links = || -> BTreeSet<LinkKey> { core.snapshot().links().iter().copied().collect() };
    let found = wait_for("both cables discovered both ways", WAIT, || {
        let l = links();
        (l.len() >= expected.len()).then_some(l)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}; log of s2:\n{}", lab.switch_log(s[1])));
    assert_eq!(found, expected);

    // The first pings are lost while the hosts are learned and their routes installed.
    lab.wait_for_ping(h1, h3, WAIT).await.unwrap();
    assert!(lab.ping(h3, h1).await, "and back");
    for (host, (device, port)) in [(h1, lab.attachment(h1)), (h3, lab.attachment(h3))] {
        assert_eq!(
            core.snapshot().host(MacAddr(lab.mac(host))),
            Some(end(device, port)),
            "host {} learned at its port",
            lab.ip(host)
        );
    }

    // The ports' counters (the configured ports' cells, read in one Read) become link rates:
    // the pings crossed every cable.
    wait_for("a rate on every discovered link", WAIT, || {
        let now = core.now();
        core.read(|c| {
            expected
                .iter()
                .all(|l| c.rates().link_rate(*l, now).is_some())
                .then_some(())
        })
    })
    .await
    .unwrap();

    // h1 -> h3 is counted per pair where it enters the fabric (pair_count on s1): the pair gets
    // a series, as pairs behind OpenFlow switches do.
    let pair = (MacAddr(lab.mac(h1)), MacAddr(lab.mac(h3)));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = core.now();
        let counted = core.read(|c| {
            c.rates()
                .traffic_matrix(now)
                .iter()
                .any(|cell| (cell.src, cell.dst) == pair && cell.bytes > 0)
        });
        let series = core.read(|c| c.series(&SeriesKey::Pair(pair.0, pair.1)).is_some());
        if counted && series {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no per-pair series for h1 -> h3 (counted: {counted}, series: {series})"
        );
        lab.ping(h1, h3).await;
    }

    // A reservation h1 -> h3 (a meter on every hop) and a service. Its backend is no host of
    // the lab: the replies of a backend host leave the fabric from the VIP, which the reserved
    // flow's TCP control connection to h3 would not accept.
    let now = core.now();
    let spec = ReserveSpec {
        src: Endpoint::Host(MacAddr(lab.mac(h1))),
        dst: Endpoint::Host(MacAddr(lab.mac(h3))),
        rate_bps: RESERVED_BPS,
        tier: 0,
        window: Window::new(now, now.plus(Duration::from_secs(3600))),
        flow: None,
        path: None,
    };
    let reserved = core.apply(|c| c.reserve(now, &spec)).unwrap();
    core.dispatch(reserved.actions);
    core.dispatch(vec![
        Action::SetServiceBackends {
            service_id: 1,
            service: "web".into(),
            vip: VIP,
            backends: vec![BackendTarget {
                ip: BACKEND,
                mac: MacAddr(BACKEND_MAC),
                weight: 1,
            }],
            hops: Vec::new(),
        },
        Action::SetTranslation {
            service_id: 1,
            service: "web".into(),
            logical_ip: VIP,
            logical_mac: MacAddr(VMAC),
            physical_ip: BACKEND,
            devices: Vec::new(),
            clients: Vec::new(),
        },
    ]);

    // What the controller owns on the middle switch, read by a second (backup) client.
    let mut observer = lab.observer(s[1]).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let before = loop {
        let now = owned(&mut observer).await;
        if !now[names::FLOW_METER].is_empty() && !now[names::SERVICE_SELECT].is_empty() {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no meter or no service on s2: {now:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        before[names::IPV4_LPM].len(),
        2,
        "a /32 route per host: {before:#?}"
    );
    assert_eq!(before["meter configs"].len(), 1, "{before:#?}");

    // A crash: BMv2 comes back empty, with no program. The controller reconnects, pushes the
    // pipeline again and reinstalls its routes, meters and service; pings flow again.
    lab.restart(s[1]).await.unwrap();
    drop(observer);
    lab.wait_for_ping(h1, h3, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}; log of s2:\n{}", lab.switch_log(s[1])));
    let mut observer = lab.observer(s[1]).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let after = owned(&mut observer).await;
        if after == before {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "s2 after its restart holds other entries than before (nothing stale, nothing \
             missing, nothing twice): before {before:#?}, after {after:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And the reservation still holds a flow sent at twice its rate: not black-holed (a switch
    // that falls behind its meters' clock passes less), and no more than the reservation. The
    // 2.6 Mbit/s of 2 seen until session 8 were the controller's own forecast reservation of
    // the pair, sized on the 4 Mbit/s offered and added to the pair's meter mid-flow, in the
    // runs slow enough for the pair's forecast to be warm by then: so it is, now, in every run.
    let planning = core.read(|c| (c.config().horizon, c.config().planning.clone()));
    wait_for("the pair's forecast warm", WAIT, || {
        core.read(|c| {
            c.series(&SeriesKey::Pair(pair.0, pair.1))
                .is_some_and(|x| is_warm(x, planning.0, &planning.1))
        })
        .then_some(())
    })
    .await
    .unwrap();
    let got = lab
        .udp_received_bps(h1, h3, 2 * RESERVED_BPS, 4)
        .await
        .unwrap();
    let rate = RESERVED_BPS as f64;
    assert!(
        (0.5 * rate..=1.15 * rate).contains(&got),
        "after the restart {got:.0} bit/s arrived of a flow sent at {} bit/s and held to {rate} \
         bit/s",
        2 * RESERVED_BPS
    );
    // What the switches police it with, read back once the controller planned on the flow (two
    // ticks after it): the reservation's rate on each metered hop (s1 and s2; s3 delivers to
    // h3), nothing added for the same pair.
    let flow_end = core.now();
    let interval = core.read(|c| c.config().control_interval);
    wait_for("two control ticks after the flow", WAIT, || {
        core.read(|c| c.last_tick())
            .is_some_and(|t| t >= flow_end.plus(2 * interval))
            .then_some(())
    })
    .await
    .unwrap();
    let forecast: Vec<_> = core.read(|c| {
        c.forecast_reservations()
            .filter(|(p, _)| *p == pair)
            .collect()
    });
    assert_eq!(
        forecast,
        Vec::new(),
        "a forecast reservation on top of the pair's"
    );
    let cir = bytes_per_second(RESERVED_BPS);
    let held = p4::MeterConfig {
        cir,
        cburst: burst_bytes(cir),
        pir: cir,
        pburst: burst_bytes(cir),
    };
    drop(observer);
    for switch in [s[0], s[1]] {
        let mut client = lab.observer(switch).await.unwrap();
        let meters: Vec<_> = client
            .read_direct_meters(names::FLOW_METER)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.config)
            .collect();
        assert_eq!(
            meters,
            vec![Some(held)],
            "switch {} after the flow",
            lab.device_id(switch)
        );
    }
    let found = wait_for("the cables rediscovered", WAIT, || {
        let l = links();
        (l == expected).then_some(l)
    })
    .await
    .unwrap();
    assert_eq!(found, expected);

    service.shutdown().await;
}
