//! A reserved pair that the congestion rule steers keeps its reservation, on real Open vSwitch
//! (`mininet/lab.py`, userspace datapath): the ring of four, h1 on s1 and h3 on s3, two equal
//! paths. An API reservation of h1 -> h3 at 4 Mbit/s is admitted on one of them; h1 then sends
//! twice that, the meter holds the link at the reserved rate, which is more than the (tiny,
//! configured) hot threshold, so the link is predicted hot and the pair is steered onto the
//! other path. The reservation must go with it: listed on the new path over REST, its meter on
//! the pair's flow of each switch of the new path, output towards the new path, and the pair
//! measured at its reserved rate, through the new path's middle switch.
//!
//! A second test pins a flow reservation of h1 -> h3 each way round the ring and sends below
//! its rate: both arrive. (Before, the way entering s3 over the cable the flood guard blocks had
//! no entry of the reservation on s3, met the block rule and delivered nothing.)
//!
//! (Before: the steered path and the reservation were two writes of one flow entry, so the
//! steer replaced the metered entry on s1 and the pair ran unmetered at twice its rate, while
//! the reservation stayed listed, and metered, on the path its traffic had left.)
//!
//! Time is compressed by configuration: statistics and control every 500 ms, so the link's
//! model is warm within about fifteen seconds. Needs root (see
//! `prescient_tests::root_tests_enabled`); the labs use the system Open vSwitch, started here
//! if it is not running, and run one at a time.

use std::time::{Duration, Instant};

use prescient::service::ServiceConfig;
use prescient_tests::http::get;
use prescient_tests::mininet::{lab_config, post_reservation, reserve, ControlledLab, Flow, Lab};
use prescient_tests::{root_tests_enabled, wait_for};
use serde_json::{json, Value};

/// The reserved rate; the pair sends twice this.
const RESERVED_BPS: u64 = 4_000_000;
const WAIT: Duration = Duration::from_secs(120);

fn config() -> ServiceConfig {
    let mut config = lab_config();
    config.core.control_interval = Duration::from_millis(500);
    config.stats_interval = Some(Duration::from_millis(500));
    // The lab's links report 10 Gbit/s: hot above 2 Mbit/s, so the metered 4 Mbit/s makes its
    // path hot (and cool below 1 Mbit/s once the pair has left it).
    config.core.hot_threshold = 0.000_2;
    config.core.hysteresis = 0.000_1;
    config
}

/// The switches a path crosses, in order (`s<dpid>`), from its link ids.
fn path_switches(path: &Value) -> Vec<String> {
    path.as_array()
        .map(|links| {
            links
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|l| {
                    let hex = l.strip_prefix("of:")?.split(':').next()?;
                    u64::from_str_radix(hex, 16).ok().map(|d| format!("s{d}"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The egress port of each link of a path, in order.
fn path_ports(path: &Value) -> Vec<String> {
    path.as_array()
        .map(|links| {
            links
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|l| {
                    let (src, _) = l.split_once(',')?;
                    src.rsplit(':').next().map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The pair's flow entry on `bridge` (the line `ovs-ofctl dump-flows` prints), if any.
fn pair_flow(lab: &Lab, bridge: &str, src: &str, dst: &str) -> Option<String> {
    let flows = lab.dump_flows(bridge).ok()?;
    flows
        .lines()
        .find(|l| l.contains(&format!("dl_src={src}")) && l.contains(&format!("dl_dst={dst}")))
        .map(str::to_owned)
}

/// The number after `key=` in a dump-flows line.
fn field(line: &str, key: &str) -> Option<u64> {
    let rest = line.split(&format!("{key}=")).nth(1)?;
    rest.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserved_pair_steered_off_a_hot_link_is_metered_on_its_new_path() {
    if !root_tests_enabled("a_reserved_pair_steered_off_a_hot_link_is_metered_on_its_new_path") {
        return;
    }
    let mut t = ControlledLab::start(config(), "ring", 4).await;
    let api = t.api;
    let (h1, h3) = (t.host("h1"), t.host("h3"));
    let lab = &mut t.lab;

    let created = reserve(api, &h1, &h3, RESERVED_BPS).await;
    let id = created["reservation"]["id"].as_u64().expect("an id");
    let first = created["reservation"]["path"].clone();
    let first_switches = path_switches(&first);
    assert_eq!(first_switches.len(), 2, "h1 -> h3 is two hops: {created}");
    let meter = format!("meter:{id}");
    wait_for("the reservation's meter on s1", WAIT, || {
        pair_flow(lab, "s1", &h1.mac, &h3.mac).filter(|f| f.contains(&meter))
    })
    .await
    .expect("meter installed");

    // Twice the reserved rate, for longer than the test waits; stopped by process id below.
    let server = lab
        .cmd(&h3.name, "iperf3 -s -1 -p 5301 >/dev/null 2>&1 & echo $!")
        .await
        .expect("iperf3 server");
    let ready = Instant::now();
    while !lab
        .cmd(&h3.name, "ss -ltnH")
        .await
        .unwrap_or_default()
        .contains(":5301 ")
    {
        assert!(ready.elapsed() < WAIT, "iperf3 never listened on h3");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = lab
        .cmd(
            &h1.name,
            &format!(
                "iperf3 -c {} -p 5301 -u -b {} -l 1200 -t 200 >/dev/null 2>&1 & echo $!",
                h3.ip,
                2 * RESERVED_BPS
            ),
        )
        .await
        .expect("iperf3 client");

    // The link is predicted hot, the pair steered, and its reservation moved with it.
    let started = Instant::now();
    let moved = loop {
        let r = get(api, &format!("/api/v1/reservations/{id}"))
            .await
            .expect("GET /reservations/{id}");
        if r["path"] != first && r["path"].as_array().is_some_and(|p| !p.is_empty()) {
            break r;
        }
        if started.elapsed() > WAIT {
            let decisions = get(api, "/api/v1/decisions").await.unwrap_or_default();
            let links = get(api, "/api/v1/links").await.unwrap_or_default();
            panic!(
                "reservation {id} never moved off {first}: {r}\ndecisions: {decisions}\n\
                 links: {links}\ns1: {}",
                lab.dump_flows("s1").unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!(
        "steered after {:.1} s: reservation {id} from {first} to {}",
        started.elapsed().as_secs_f64(),
        moved["path"]
    );
    for pid in [client, server] {
        let _ = lab.cmd(&h1.name, &format!("kill {}", pid.trim())).await;
    }
    let switches = path_switches(&moved["path"]);
    let ports = path_ports(&moved["path"]);
    assert_eq!(switches.len(), 2, "{moved}");
    assert_eq!(switches[0], "s1");
    assert_ne!(
        switches[1], first_switches[1],
        "the other way round: {moved}"
    );
    assert_eq!(moved["rate_bps"], RESERVED_BPS, "{moved}");
    let decisions = get(api, "/api/v1/decisions").await.unwrap_or_default();
    // A link may turn hot before the pair's own series is warm: then a second decision steers.
    for d in decisions.as_array().into_iter().flatten() {
        if d["rule"] == "link_predicted_hot" {
            eprintln!("{}: {}", d["subject"], d["reason"]);
        }
    }
    assert!(
        decisions.as_array().is_some_and(|ds| ds.iter().any(|d| {
            d["rule"] == "link_predicted_hot"
                && d["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains(&format!("reservation {id} ")))
        })),
        "the steering decision says the reservation moved: {decisions}"
    );

    // On each switch of the new path, the pair's one flow goes out towards the new path
    // through the reservation's meter, and the meter is at the reserved rate.
    for (switch, port) in switches.iter().zip(&ports) {
        let want = format!("output:{port}");
        let flow = wait_for(&format!("the metered flow on {switch}"), WAIT, || {
            pair_flow(lab, switch, &h1.mac, &h3.mac)
                .filter(|f| f.contains(&meter) && f.contains(&want))
        })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{e}: {switch} holds {:?}",
                pair_flow(lab, switch, &h1.mac, &h3.mac)
            )
        });
        eprintln!("{switch}: {flow}");
        let meters = lab.dump_meters(switch).unwrap_or_default();
        let band = meters
            .lines()
            .skip_while(|l| !l.contains(&format!("meter={id} ")))
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            band.contains(&format!("rate={}", RESERVED_BPS / 1000)),
            "meter {id} at {} kbit/s on {switch}: {meters}",
            RESERVED_BPS / 1000
        );
    }
    // The old path's middle switch no longer meters the pair.
    let old_middle = &first_switches[1];
    assert!(
        !lab.dump_meters(old_middle)
            .unwrap_or_default()
            .contains(&format!("meter={id} ")),
        "meter {id} left behind on {old_middle}"
    );

    // Measured: twice the reserved rate arrives at the reserved rate, over the new path.
    let middle = &switches[1];
    let before = pair_flow(lab, middle, &h1.mac, &h3.mac)
        .and_then(|f| field(&f, "n_packets"))
        .unwrap_or(0);
    let rates = lab
        .iperf(
            &[Flow {
                client: h1.name.clone(),
                server: h3.name.clone(),
                udp_bps: Some(2 * RESERVED_BPS),
                port: 5302,
            }],
            4,
        )
        .await
        .expect("iperf3");
    let after = pair_flow(lab, middle, &h1.mac, &h3.mac)
        .and_then(|f| field(&f, "n_packets"))
        .unwrap_or(0);
    eprintln!(
        "steered: sent {:.1} Mbit/s, received {:.3} Mbit/s; {} packets through {middle}",
        2.0 * RESERVED_BPS as f64 / 1e6,
        rates[0] / 1e6,
        after.saturating_sub(before)
    );
    let error = (rates[0] - RESERVED_BPS as f64) / RESERVED_BPS as f64;
    assert!(
        error.abs() <= 0.10,
        "the steered pair at twice its rate: {:.3} Mbit/s received for {:.3} reserved",
        rates[0] / 1e6,
        RESERVED_BPS as f64 / 1e6
    );
    // 4 Mbit/s of 1,242-byte frames for 4 s is about 1,600 frames.
    assert!(
        after.saturating_sub(before) > 1_000,
        "the pair did not cross {middle}: {before} -> {after} packets"
    );

    t.shutdown().await;
}

/// The link of the lab from switch `a` to switch `b` (`s<dpid>`), by its REST id.
fn link_between(links: &Value, a: u64, b: u64) -> Option<String> {
    let (from, to) = (format!("of:{a:016x}:"), format!("of:{b:016x}:"));
    links.as_array()?.iter().find_map(|l| {
        let src = l["src"].as_str()?;
        let dst = l["dst"].as_str()?;
        (src.starts_with(&from) && dst.starts_with(&to))
            .then(|| l["id"].as_str().map(str::to_owned))?
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_reservations_either_way_round_the_ring_reach_the_host() {
    if !root_tests_enabled("flow_reservations_either_way_round_the_ring_reach_the_host") {
        return;
    }
    // Whichever cable the flood guard blocks, one of the two ways from s1 to s3 enters s3 over
    // it (mininet_steer's steered path did): without an entry of the reservation on s3 its
    // traffic met the block rule there and none arrived.
    let mut t = ControlledLab::start(lab_config(), "ring", 4).await;
    let api = t.api;
    let (h1, h3) = (t.host("h1"), t.host("h3"));
    let lab = &mut t.lab;
    let links = get(api, "/api/v1/links").await.expect("GET /links");
    for (middle, port) in [(2u64, 5311u16), (4, 5312)] {
        let path: Vec<String> = [(1, middle), (middle, 3)]
            .iter()
            .map(|&(a, b)| {
                link_between(&links, a, b).unwrap_or_else(|| panic!("s{a} -> s{b}: {links}"))
            })
            .collect();
        let body = json!({
            "src": h1.ip, "dst": h3.ip, "rate_bps": RESERVED_BPS, "tier": 1,
            "match": {"src_ip": h1.ip, "dst_ip": h3.ip, "ip_proto": 17, "dst_port": port},
            "path": path,
        });
        let created = post_reservation(api, &body).await;
        assert_eq!(
            created["reservation"]["held_ports"]
                .as_array()
                .map(Vec::len),
            Some(3),
            "{created}"
        );
        let rates = lab
            .iperf(
                &[Flow {
                    client: h1.name.clone(),
                    server: h3.name.clone(),
                    udp_bps: Some(RESERVED_BPS / 2),
                    port,
                }],
                3,
            )
            .await
            .expect("iperf3");
        eprintln!(
            "via s{middle}: sent {:.1} Mbit/s, received {:.3} Mbit/s",
            RESERVED_BPS as f64 / 2e6,
            rates[0] / 1e6
        );
        assert!(
            rates[0] >= 0.9 * RESERVED_BPS as f64 / 2.0,
            "a reservation via s{middle} below its rate: {:.3} Mbit/s of {:.1} arrived\ns3: {}",
            rates[0] / 1e6,
            RESERVED_BPS as f64 / 2e6,
            lab.dump_flows("s3").unwrap_or_default()
        );
    }
    t.shutdown().await;
}
