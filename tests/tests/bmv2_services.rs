//! A service on real BMv2: a client reaching the VIP is served by one of three backends (P4 action
//! selector, one-shot), replies come back from the VIP, and when a backend is taken away the
//! others keep serving. The direct counters of the routes are read back afterwards.
//!
//! Needs root and the P4 toolchain (scripts/setup installs it); skips loudly without.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::Duration;

use prescient::core::records::BackendTarget;
use prescient::core::Action;
use prescient::service::Service;
use prescient_southbound::p4runtime::pipeconf::names;
use prescient_tests::bmv2::{lab_toolchain, HostId, Lab, SwitchOptions};
use prescient_tests::wait_links;
use prescient_topology::MacAddr;

const WAIT: Duration = Duration::from_secs(60);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);
const VMAC: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 1];
const PORT: u16 = 7000;

/// Asks the VIP once from each of `count` source ports starting at `first` (one process in the
/// client's namespace, up to 2 s per unanswered request); the answers (backend names).
async fn ask(lab: &Lab, client: HostId, first: u16, count: u16) -> Vec<String> {
    const CLIENT: &str = r#"
import socket, sys
vip, port, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for p in range(first, first + count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("", p))
    s.connect((vip, port))
    s.settimeout(2)
    try:
        s.send(b"q")
        print(s.recv(100).decode().strip(), flush=True)
    except OSError:
        pass
    s.close()
"#;
    let out = lab
        .command(client, "python3")
        .args(["-c", CLIENT, &VIP.to_string(), &PORT.to_string()])
        .args([first.to_string(), count.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn service_actions(backends: &[(Ipv4Addr, [u8; 6])]) -> Vec<Action> {
    let mut actions = vec![Action::SetServiceBackends {
        service_id: 1,
        service: "web".into(),
        vip: VIP,
        backends: backends
            .iter()
            .map(|(ip, mac)| BackendTarget {
                ip: *ip,
                mac: MacAddr(*mac),
                weight: 1,
            })
            .collect(),
        hops: Vec::new(),
    }];
    actions.extend(backends.iter().map(|(ip, _)| Action::SetTranslation {
        service_id: 1,
        service: "web".into(),
        logical_ip: VIP,
        logical_mac: MacAddr(VMAC),
        physical_ip: *ip,
        devices: Vec::new(),
        clients: Vec::new(),
    }));
    actions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bmv2_vip_is_served_by_three_backends_and_survives_losing_one() {
    let test = "bmv2_vip_is_served_by_three_backends_and_survives_losing_one";
    let Some(toolchain) = lab_toolchain(test) else {
        return;
    };
    let mut lab = Lab::new(toolchain, test).unwrap();
    let s1 = lab.switch(SwitchOptions::default()).unwrap();
    let s2 = lab.switch(SwitchOptions::default()).unwrap();
    let client = lab.host(s1, Ipv4Addr::new(10, 0, 2, 1)).unwrap();
    let backends: Vec<HostId> = (0..3)
        .map(|i| lab.host(s2, Ipv4Addr::new(10, 0, 2, 11 + i)).unwrap())
        .collect();
    lab.link(s1, s2).unwrap();
    lab.start().await.unwrap();
    let config = lab.controller_config();
    let service = Service::start(config).await.unwrap();
    let core = service.core().clone();
    wait_links(&core, 2, "the cable discovered", WAIT)
        .await
        .unwrap();

    // Every backend answers UDP with its name; the controller learns them from the pings.
    let mut servers = Vec::new();
    for (i, b) in backends.iter().enumerate() {
        lab.wait_for_ping(client, *b, WAIT).await.unwrap();
        let server = format!(
            "import socket\n\
             s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             s.bind(('', {PORT}))\n\
             while True:\n    _, peer = s.recvfrom(100)\n    s.sendto(b'b{}', peer)\n",
            i + 1
        );
        servers.push(
            lab.command(*b, "python3")
                .args(["-c", &server])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    let all: Vec<(Ipv4Addr, [u8; 6])> =
        backends.iter().map(|b| (lab.ip(*b), lab.mac(*b))).collect();
    core.dispatch(service_actions(&all));
    let mut observer = lab.observer(s1).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while observer
        .read_table(names::SERVICE_SELECT, false)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(tokio::time::Instant::now() < deadline, "no service on s1");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Clients spread over the backends by flow hash; every answer comes back from the VIP (the
    // client's socket is connected to VIP:7000 and would not accept another source).
    let deadline = tokio::time::Instant::now() + WAIT;
    while ask(&lab, client, 40_000, 1).await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the VIP never answered"
        );
    }
    let answers = ask(&lab, client, 40_001, 24).await;
    assert_eq!(answers.len(), 24, "every request answered: {answers:?}");
    let served: BTreeSet<String> = answers.into_iter().collect();
    let names: BTreeSet<String> = ["b1", "b2", "b3"].map(String::from).into();
    assert!(served.is_subset(&names), "{served:?}");
    assert!(served.len() >= 2, "24 flows hashed onto {served:?} only");

    // Take b2 away: the others keep serving, b2 never answers again.
    let kept = vec![all[0], all[2]];
    core.dispatch(service_actions(&kept));
    core.dispatch(vec![Action::RemoveTranslation {
        service_id: 1,
        service: "web".into(),
        logical_ip: VIP,
        physical_ip: all[1].0,
        devices: Vec::new(),
    }]);
    let deadline = tokio::time::Instant::now() + WAIT;
    let after: BTreeSet<String> = loop {
        let answers = ask(&lab, client, 41_000, 12).await;
        if answers.len() == 12 && !answers.iter().any(|a| a == "b2") {
            break answers.into_iter().collect();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "b2 still serving or requests lost: {answers:?}"
        );
    };
    assert!(after.is_subset(&["b1", "b3"].map(String::from).into()));

    // The direct counters of s1's routes: the route to the client counts what came back.
    let routes = observer.read_table(names::IPV4_LPM, true).await.unwrap();
    let to_client = routes
        .iter()
        .find(|e| {
            e.r#match.iter().any(|m| {
                matches!(&m.field_match_type,
                    Some(prescient_southbound::p4runtime::proto::p4::v1::field_match::FieldMatchType::Lpm(l))
                        if l.value.ends_with(&lab.ip(client).octets()))
            })
        })
        .expect("a route to the client on s1");
    let packets = to_client
        .counter_data
        .as_ref()
        .map_or(0, |c| c.packet_count);
    assert!(
        packets >= 24,
        "the route to the client counted {packets} packets; at least the 24 answers and the pings \
         went through it"
    );
    drop(servers);
    service.shutdown().await;
}
