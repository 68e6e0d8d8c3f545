//! OpenFlow over TLS with a real Open vSwitch: certificates made by `ovs-pki`, the switch given
//! its key, certificate and the controller CA with `ovs-vsctl set-ssl` and the controller as an
//! `ssl:` target; the controller takes it (and programs it) because the switch CA signed its
//! certificate, and refuses a switch whose certificate another CA signed.
//!
//! Needs root (see `prescient_tests::root_tests_enabled`); each Open vSwitch is private to the
//! test (its own ovsdb-server and ovs-vswitchd, userspace bridges).

use std::time::Duration;

use prescient::service::Service;
use prescient::tls::ServerTls;
use prescient_southbound::openflow::session::Command;
use prescient_southbound::openflow::wire::{
    Action, DatapathId, FlowMod, Instruction, Match, OxmField, PortNo, TableId,
};
use prescient_tests::controller::config;
use prescient_tests::ovs::Ovs;
use prescient_tests::pki::OvsPki;
use prescient_tests::{wait_for, TempDir};

const WAIT: Duration = Duration::from_secs(30);

/// `ovs-ofctl dump-flows BRIDGE` once it contains `needle` (the last output in the error).
async fn flows_with(ovs: &Ovs, bridge: &str, needle: &str) -> anyhow::Result<String> {
    let mut last = String::new();
    let found = wait_for(&format!("{needle:?} in {bridge}'s flows"), WAIT, || {
        last = ovs.ofctl(&["dump-flows", bridge]).unwrap_or_default();
        last.contains(needle).then(|| last.clone())
    })
    .await;
    found.map_err(|e| e.context(format!("last dump-flows:\n{last}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_connects_over_tls_with_a_certificate_the_switch_ca_signed_and_no_other(
) -> anyhow::Result<()> {
    if !prescient_tests::root_tests_enabled("ovs_tls") {
        return Ok(());
    }
    let dir = TempDir::new("prescient-ovs-tls")?;
    let pki = OvsPki::init(&dir.path().join("pki"))?;
    let controller = pki.req_sign(dir.path(), "ctl", "controller")?;
    let switch = pki.req_sign(dir.path(), "sw", "switch")?;
    // Another PKI's switch certificate: one the controller's switch CA did not sign.
    let rogue_pki = OvsPki::init(&dir.path().join("rogue-pki"))?;
    let rogue = rogue_pki.req_sign(dir.path(), "rogue", "switch")?;

    let mut c = config(([127, 0, 0, 1], 0).into(), None);
    c.openflow_tls = Some(ServerTls {
        files: controller,
        client_ca: Some(pki.switchca()),
    });
    let service = Service::start(c).await?;
    let target = format!("ssl:{}", service.openflow_addr());
    let ssl = |ovs: &Ovs, files: &prescient::tls::TlsFiles| {
        let path = |p: &std::path::Path| p.display().to_string();
        ovs.vsctl(&[
            "set-ssl",
            &path(&files.key),
            &path(&files.cert),
            &path(&pki.controllerca()),
        ])
    };

    // One ovs-vswitchd per network namespace (the userspace datapath's tap device), and one
    // certificate per ovs-vswitchd: the impostor first. It trusts the controller, but its own
    // certificate is another CA's; it tries (Open vSwitch records why its connection failed)
    // and never comes up.
    let (bad_dpid, good_dpid) = (DatapathId(0x7b1), DatapathId(0x7a1));
    let of = service.openflow();
    {
        let mut bad = Ovs::start("tls-bad")?;
        ssl(&bad, &rogue)?;
        bad.add_bridge("tlsbad0", bad_dpid.0, &target)?;
        let status = wait_for("the impostor's connection attempt to fail", WAIT, || {
            let status = bad
                .vsctl(&["--columns=status", "list", "controller"])
                .unwrap_or_default();
            status.contains("last_error").then_some(status)
        })
        .await?;
        assert!(
            !of.is_up(bad_dpid),
            "impostor up; its controller status: {status}"
        );
        // ...refused by the controller at the handshake, before any session.
        wait_for("the controller to count the refusal", WAIT, || {
            (of.stats().tls_refused > 0).then_some(())
        })
        .await?;
        assert_eq!(of.stats().sessions_started, 0);
        let flows = bad.ofctl(&["dump-flows", "tlsbad0"])?;
        assert!(
            !flows.contains("CONTROLLER"),
            "the impostor was programmed: {flows}"
        );
    }
    assert!(of.switches().is_empty(), "{:?}", of.switches());

    let mut good = Ovs::start("tls-good")?;
    ssl(&good, &switch)?;
    good.add_bridge("tlsgood0", good_dpid.0, &target)?;
    good.add_internal_port("tlsgood0", "tlsgood0p1", 1)?;
    good.add_internal_port("tlsgood0", "tlsgood0p2", 2)?;
    let up = wait_for("the switch with a valid certificate up", WAIT, || {
        of.is_up(good_dpid).then_some(())
    })
    .await;
    if let Err(e) = up {
        let log = std::fs::read_to_string(good.dir().join("vswitchd.log")).unwrap_or_default();
        anyhow::bail!("{e}\nits vswitchd.log:\n{log}");
    }
    // A secure-mode bridge starts with no flows: the table-miss flow is the controller's.
    flows_with(&good, "tlsgood0", "priority=0 actions=CONTROLLER:65535").await?;
    let flow = FlowMod::add(
        TableId(0),
        100,
        Match::new()
            .with(OxmField::InPort(PortNo(1)))
            .with(OxmField::EthType(0x0800)),
        vec![Instruction::ApplyActions(vec![Action::output(PortNo(2))])],
    );
    of.install(good_dpid, Command::FlowMod(flow)).await?;
    of.barrier(good_dpid).await?;
    flows_with(
        &good,
        "tlsgood0",
        "priority=100,ip,in_port=1 actions=output:2",
    )
    .await?;
    assert_eq!(of.switches(), vec![good_dpid]);
    service.shutdown().await;
    Ok(())
}
