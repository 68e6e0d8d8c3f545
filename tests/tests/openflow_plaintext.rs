//! The OpenFlow listener and plain TCP: refused on an address other than loopback unless
//! `[openflow] allow_plaintext` (or TLS) says so, before anything starts, with an error naming
//! the address and both ways out; allowed, switches connect and become devices.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use prescient::service::{Service, ServiceError};
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_tests::controller::config;
use prescient_tests::http::free_addr;
use prescient_tests::pki::Pki;
use prescient_tests::TempDir;

const WAIT: Duration = Duration::from_secs(30);

fn everywhere() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

#[tokio::test]
async fn plain_openflow_off_loopback_is_refused_before_anything_starts() {
    let http = free_addr();
    let refused = match Service::start(config(everywhere(), Some(http))).await {
        Ok(_) => panic!("plain OpenFlow on 0.0.0.0 must be refused"),
        Err(e) => e,
    };
    assert!(
        matches!(refused, ServiceError::OpenFlowPlaintext { addr } if addr == everywhere()),
        "{refused}"
    );
    let why = refused.to_string();
    for part in [
        "0.0.0.0:0",
        "[openflow] tls_cert",
        "allow_plaintext = true",
        "--allow-plaintext",
    ] {
        assert!(why.contains(part), "{part:?} in {why}");
    }
    // Refused before anything started: the REST address is still free.
    std::net::TcpListener::bind(http).expect("nothing listens on the REST address");

    // The same through the configuration file: the key is what lets it through.
    let text = "[openflow]\nlisten = \"0.0.0.0:0\"\n[http]\nenabled = false\n";
    let mut from_file = prescient::config::Config::parse(text, "c.toml")
        .unwrap()
        .service("c.toml")
        .unwrap();
    from_file.store = Default::default();
    assert!(matches!(
        Service::start(from_file).await,
        Err(ServiceError::OpenFlowPlaintext { .. })
    ));
}

#[tokio::test]
async fn allowed_plain_openflow_off_loopback_takes_switches() {
    let text =
        "[openflow]\nlisten = \"0.0.0.0:0\"\nallow_plaintext = true\n[http]\nenabled = false\n";
    let mut c = prescient::config::Config::parse(text, "c.toml")
        .unwrap()
        .service("c.toml")
        .unwrap();
    c.store = Default::default();
    let service = Service::start(c).await.unwrap();
    let bound = service.openflow_addr();
    assert!(bound.ip().is_unspecified(), "{bound}");
    let sim = prescient_tests::sim::spawn_quick(
        SimTopology::generate(TopologyKind::Linear(2)).unwrap(),
        SocketAddr::from(([127, 0, 0, 1], bound.port())),
    );
    assert!(sim.wait_connected(WAIT, |n| n == 2).await);
    prescient_tests::wait_for("both switches as devices", WAIT, || {
        (service.core().snapshot().devices().len() == 2).then_some(())
    })
    .await
    .unwrap();
    sim.shutdown().await;
    service.shutdown().await;
}

#[tokio::test]
async fn openflow_over_tls_needs_no_permission_off_loopback() {
    let dir = TempDir::new("prescient-of-plaintext").unwrap();
    let site = Pki::new(dir.path(), "site").unwrap();
    let mut c = config(everywhere(), None);
    c.openflow_tls = Some(prescient::tls::ServerTls {
        files: site.leaf("controller").unwrap(),
        client_ca: None,
    });
    let service = Service::start(c).await.unwrap();
    assert!(service.openflow_addr().ip().is_unspecified());
    service.shutdown().await;
}
