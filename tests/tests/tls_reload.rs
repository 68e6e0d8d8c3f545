//! Certificates rotated without a restart: the REST API's and the OpenFlow listener's
//! certificate, key and switches' CA are re-read (what `prescient run` does on SIGHUP) and the
//! next connection is served the new certificate and checked against the new CA; a file that
//! does not load keeps the one in force and the error names it.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use prescient::service::Service;
use prescient::tls::{ServerTls, TlsFiles};
use prescient_tests::controller::config;
use prescient_tests::http::request_tls;
use prescient_tests::pki::{client_trusting, Pki};
use prescient_tests::TempDir;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncReadExt;

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A TLS client trusting `ca`, presenting `identity` when given.
fn client(ca: &Path, identity: Option<&TlsFiles>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in prescient::tls::read_certs(ca).unwrap() {
        roots.add(cert).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(prescient::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match identity {
        Some(id) => builder
            .with_client_auth_cert(
                prescient::tls::read_certs(&id.cert).unwrap(),
                prescient::tls::read_key(&id.key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    })
}

/// The certificate a server at `addr` presents to a client configured as `tls`, or why the
/// handshake failed.
async fn served(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
) -> anyhow::Result<CertificateDer<'static>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let conn = tokio_rustls::TlsConnector::from(tls)
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let certs = conn.get_ref().1.peer_certificates().unwrap_or_default();
    Ok(certs.first().expect("a certificate").clone().into_owned())
}

/// Whether the OpenFlow listener at `addr` takes a switch configured as `tls`: its OpenFlow
/// HELLO arrives over the session (a switch whose certificate is refused gets an alert).
async fn openflow_hello(addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> anyhow::Result<()> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut conn = tokio_rustls::TlsConnector::from(tls)
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let mut header = [0u8; 8];
    tokio::time::timeout(Duration::from_secs(10), conn.read_exact(&mut header)).await??;
    anyhow::ensure!(
        header[0] == 4 && header[1] == 0,
        "not an OpenFlow 1.3 HELLO: {header:?}"
    );
    Ok(())
}

fn first_cert(files: &TlsFiles) -> CertificateDer<'static> {
    prescient::tls::read_certs(&files.cert).unwrap().remove(0)
}

fn install(from: &TlsFiles, to: &TlsFiles) {
    std::fs::copy(&from.cert, &to.cert).unwrap();
    std::fs::copy(&from.key, &to.key).unwrap();
}

#[tokio::test]
async fn rotated_certificates_and_switch_ca_reach_new_connections_and_bad_files_are_refused() {
    let dir = TempDir::new("prescient-tls-reload").unwrap();
    let (site, next) = (
        Pki::new(dir.path(), "site").unwrap(),
        Pki::new(dir.path(), "next").unwrap(),
    );
    let (switches, switches2) = (
        Pki::new(dir.path(), "switches").unwrap(),
        Pki::new(dir.path(), "switches2").unwrap(),
    );
    let (api, of) = (site.leaf("api").unwrap(), site.leaf("of").unwrap());
    let switch_ca = dir.path().join("switch-ca.pem");
    std::fs::copy(switches.ca(), &switch_ca).unwrap();
    let (sw1, sw2) = (
        switches.leaf("sw1").unwrap(),
        switches2.leaf("sw2").unwrap(),
    );

    let mut c = config(loopback(), Some(loopback()));
    c.http_tls = Some(api.clone());
    c.openflow_tls = Some(ServerTls {
        files: of.clone(),
        client_ca: Some(switch_ca.clone()),
    });
    let service = Service::start(c).await.unwrap();
    let http = service.http_addr().unwrap();
    let openflow = service.openflow_addr();

    assert_eq!(
        served(http, client(&site.ca(), None)).await.unwrap(),
        first_cert(&api)
    );
    openflow_hello(openflow, client(&site.ca(), Some(&sw1)))
        .await
        .unwrap();
    openflow_hello(openflow, client(&site.ca(), Some(&sw2)))
        .await
        .expect_err("a switch the second switch CA signed is not trusted yet");

    // Rotate everything: new server certificates from another CA, a new switch CA.
    let (api2, of2) = (next.leaf("api2").unwrap(), next.leaf("of2").unwrap());
    install(&api2, &api);
    install(&of2, &of);
    std::fs::copy(switches2.ca(), &switch_ca).unwrap();
    let reloaded = service.tls_servers().reload();
    assert_eq!(reloaded.len(), 2);
    for r in &reloaded {
        assert!(r.outcome.is_ok(), "{}: {:?}", r.server, r.outcome);
    }

    assert_eq!(
        served(http, client(&next.ca(), None)).await.unwrap(),
        first_cert(&api2)
    );
    served(http, client(&site.ca(), None))
        .await
        .expect_err("the old certificate is no longer served");
    let (status, _) = request_tls(
        http,
        client_trusting(&next.ca()).unwrap(),
        "GET",
        "/api/v1/devices",
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    openflow_hello(openflow, client(&next.ca(), Some(&sw2)))
        .await
        .unwrap();
    openflow_hello(openflow, client(&next.ca(), Some(&sw1)))
        .await
        .expect_err("the first switch CA is no longer trusted");

    // A certificate file that does not load: refused naming it, the one in force stays.
    std::fs::write(&api.cert, "not a certificate\n").unwrap();
    let reloaded = service.tls_servers().reload();
    let rest = reloaded.iter().find(|r| r.server == "REST API").unwrap();
    let why = rest.outcome.as_ref().unwrap_err().to_string();
    assert!(why.contains(&api.cert.display().to_string()), "{why}");
    assert_eq!(
        served(http, client(&next.ca(), None)).await.unwrap(),
        first_cert(&api2)
    );
    service.shutdown().await;
}
