//! The whole controller on real BMv2 `simple_switch_grpc` switches running prescient.p4, with
//! Linux hosts in network namespaces: the pipeline is pushed, the links between three switches
//! are discovered by LLDP packet-out / packet-in, the hosts are learned, pings flow over the
//! routes the controller installed, and after a switch restarts the controller reconnects,
//! re-pushes the pipeline and puts back exactly the entries it owns.
//!
//! Needs root and the P4 toolchain (scripts/setup installs it from ../shared/p4); without them
//! the tests say loudly that they skipped.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use prescient::core::SeriesKey;
use prescient::service::Service;
use prescient_southbound::p4runtime::pipeconf::names;
use prescient_tests::bmv2::{lab_toolchain, Lab, SwitchOptions};
use prescient_tests::wait_for;
use prescient_topology::{DeviceId, LinkKey, MacAddr, PortNo, PortRef};

/// Generous: BMv2 and the controller share two loaded cores with other tests.
const WAIT: Duration = Duration::from_secs(60);

fn end(device: u64, port: u32) -> PortRef {
    PortRef {
        device: DeviceId::p4runtime(device),
        port: PortNo(port),
    }
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

    // What the controller owns on the middle switch, read by a second (backup) client.
    let mut observer = lab.observer(s[1]).await.unwrap();
    let before = observer.read_table(names::IPV4_LPM, false).await.unwrap();
    assert_eq!(before.len(), 2, "a /32 route per host: {before:?}");

    // A crash: BMv2 comes back empty, with no program. The controller reconnects, pushes the
    // pipeline again and reinstalls its routes; pings flow again.
    lab.restart(s[1]).await.unwrap();
    drop(observer);
    lab.wait_for_ping(h1, h3, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}; log of s2:\n{}", lab.switch_log(s[1])));
    let mut observer = lab.observer(s[1]).await.unwrap();
    let after = observer.read_table(names::IPV4_LPM, false).await.unwrap();
    let key =
        |e: &prescient_southbound::p4runtime::proto::p4::v1::TableEntry| format!("{:?}", e.r#match);
    assert_eq!(
        after.iter().map(key).collect::<BTreeSet<_>>(),
        before.iter().map(key).collect::<BTreeSet<_>>(),
        "the same routes, nothing stale, nothing missing"
    );
    let found = wait_for("the cables rediscovered", WAIT, || {
        let l = links();
        (l == expected).then_some(l)
    })
    .await
    .unwrap();
    assert_eq!(found, expected);

    service.shutdown().await;
}
