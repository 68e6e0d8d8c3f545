//! P4Runtime over TLS against real BMv2 (`simple_switch_grpc --grpc-server-ssl`, gRPC C++ on the
//! switch side, tonic/rustls on ours): the controller pushes prescient.p4 to a switch requiring
//! mutual TLS, presenting a certificate the switch's CA signed, and never drives a switch whose
//! certificate another CA signed.
//!
//! Needs root and BMv2 (see `prescient_tests::bmv2`).

use std::time::Duration;

use prescient::service::Service;
use prescient::tls::ServerTls;
use prescient_southbound::p4runtime::{ClientConfig, P4RuntimeClient};
use prescient_tests::bmv2::{lab_toolchain, Lab};
use prescient_tests::pki::{p4_client, Pki};
use prescient_tests::{wait_for, TempDir};
use prescient_topology::DeviceId;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_programs_bmv2_over_mutual_tls_and_refuses_another_cas_switch(
) -> anyhow::Result<()> {
    let Some(toolchain) = lab_toolchain("bmv2_tls") else {
        return Ok(());
    };
    let dir = TempDir::new("prescient-bmv2-tls")?;
    let site = Pki::new(dir.path(), "site")?;
    let rogue = Pki::new(dir.path(), "rogue")?;
    let mut lab = Lab::new(toolchain, "bmv2_tls")?;
    let (s1, s2) = (
        lab.switch(Default::default())?,
        lab.switch(Default::default())?,
    );
    lab.link(s1, s2)?;
    lab.serve_tls(
        s1,
        ServerTls {
            files: site.leaf("s1")?,
            client_ca: Some(site.ca()),
        },
    );
    lab.serve_tls(
        s2,
        ServerTls {
            files: rogue.leaf("s2")?,
            client_ca: None,
        },
    );
    lab.start().await?;

    let controller = site.leaf("controller")?;
    let tls = p4_client(&site.ca(), Some(&controller))?;
    let mut config = lab.controller_config();
    for t in &mut config.p4 {
        t.tls = Some(tls.clone().into());
    }
    let service = Service::start(config).await?;
    wait_for("BMv2 switch 1 up over TLS", WAIT, || {
        let devices = service.core().snapshot().devices().to_vec();
        devices.contains(&DeviceId::p4runtime(1)).then_some(())
    })
    .await?;

    // The pipeline is on the switch: a backup client (over mutual TLS too) reads it back.
    let target = lab.target(s1);
    let mut reader = ClientConfig::new(target.address.clone(), target.device_id, 1);
    reader.tls = Some(tls.clone().into());
    let mut observer = P4RuntimeClient::connect(reader).await?;
    let p4info = observer.fetch_p4info().await?;
    assert!(
        p4info.tables.iter().any(|t| t.name.ends_with("ipv4_lpm")),
        "prescient.p4's tables on the switch"
    );

    // Switch 2's certificate is another CA's: our client refuses it, the controller never
    // drives it.
    let mut direct = ClientConfig::new(lab.target(s2).address, 2, 1);
    direct.tls = Some(tls.clone().into());
    direct.max_reconnect_attempts = Some(0);
    let refused = P4RuntimeClient::connect(direct)
        .await
        .err()
        .expect("a switch whose certificate another CA signed")
        .to_string();
    assert!(refused.contains("UnknownIssuer"), "{refused}");
    let devices = service.core().snapshot().devices().to_vec();
    assert!(!devices.contains(&DeviceId::p4runtime(2)), "{devices:?}");
    service.shutdown().await;
    Ok(())
}
