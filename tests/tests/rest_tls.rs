//! The REST API over TLS: served with the configured certificate to clients that trust its CA,
//! a handshake failure for clients that do not (and for plain HTTP on the TLS port); plain HTTP
//! refused on an address other than loopback unless `allow_plaintext`, before anything starts;
//! the host agent follows an `https://` controller whose certificate its CA signed.

use std::net::SocketAddr;
use std::time::Duration;

use prescient::service::{Service, ServiceError};
use prescient::tls::TlsFiles;
use prescient_tests::controller::config;
use prescient_tests::http::{free_addr, request, request_tls};
use prescient_tests::pki::{client_trusting, Pki};
use prescient_tests::TempDir;

fn any_port(ip: [u8; 4]) -> SocketAddr {
    SocketAddr::from((ip, 0))
}

/// The address a client on this machine reaches a server bound to `bound` at.
fn local(bound: SocketAddr) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], bound.port()))
}

#[tokio::test]
async fn the_api_answers_over_tls_to_clients_that_trust_its_ca_only() -> anyhow::Result<()> {
    let dir = TempDir::new("prescient-rest-tls")?;
    let site = Pki::new(dir.path(), "site")?;
    let other = Pki::new(dir.path(), "other")?;
    let mut c = config(any_port([127, 0, 0, 1]), Some(any_port([127, 0, 0, 1])));
    c.http_tls = Some(site.leaf("api")?);
    let service = Service::start(c).await?;
    let addr = service.http_addr().expect("HTTP is on");
    assert_eq!(service.http_url(), Some(format!("https://{addr}")));
    let trusting = client_trusting(&site.ca())?;

    let (status, body) =
        request_tls(addr, trusting.clone(), "GET", "/api/v1/devices", None).await?;
    assert_eq!(status, 200, "{body}");
    assert!(body.is_array(), "{body}");

    let refused = request_tls(
        addr,
        client_trusting(&other.ca())?,
        "GET",
        "/api/v1/devices",
        None,
    )
    .await
    .expect_err("a client trusting another CA must not get an answer");
    let why = format!("{refused:#}");
    assert!(
        why.contains("TLS handshake") && why.contains("UnknownIssuer"),
        "{why}"
    );
    assert!(
        request(addr, "GET", "/api/v1/devices", None, None)
            .await
            .is_err(),
        "plain HTTP on the TLS port must get no HTTP answer"
    );

    // Neither failure took the server down.
    let (status, _) = request_tls(addr, trusting, "GET", "/api/v1/links", None).await?;
    assert_eq!(status, 200);
    service.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn plain_http_off_loopback_is_refused_unless_allowed() -> anyhow::Result<()> {
    let openflow = free_addr();
    let everywhere = any_port([0, 0, 0, 0]);
    let refused = match Service::start(config(openflow, Some(everywhere))).await {
        Ok(_) => panic!("plain HTTP on 0.0.0.0 must be refused"),
        Err(e) => e,
    };
    assert!(
        matches!(refused, ServiceError::Plaintext { addr } if addr == everywhere),
        "{refused}"
    );
    let why = refused.to_string();
    assert!(
        why.contains("0.0.0.0:0") && why.contains("tls_cert") && why.contains("allow_plaintext"),
        "{why}"
    );
    // Refused before anything started: the OpenFlow address is still free.
    std::net::TcpListener::bind(openflow).expect("nothing listens on the OpenFlow address");

    let mut allowed = config(any_port([127, 0, 0, 1]), Some(everywhere));
    allowed.allow_plaintext = true;
    let service = Service::start(allowed).await?;
    let addr = local(service.http_addr().expect("HTTP is on"));
    let (status, body) = request(addr, "GET", "/api/v1/devices", None, None).await?;
    assert_eq!(status, 200, "{body}");
    service.shutdown().await;

    // TLS needs no permission on any address.
    let dir = TempDir::new("prescient-rest-tls-any")?;
    let site = Pki::new(dir.path(), "site")?;
    let mut tls = config(any_port([127, 0, 0, 1]), Some(everywhere));
    tls.http_tls = Some(site.leaf("api")?);
    let service = Service::start(tls).await?;
    let addr = local(service.http_addr().expect("HTTP is on"));
    let (status, _) = request_tls(
        addr,
        client_trusting(&site.ca())?,
        "GET",
        "/api/v1/devices",
        None,
    )
    .await?;
    assert_eq!(status, 200);
    service.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_key_that_is_not_the_certificates_is_refused_naming_both_files() -> anyhow::Result<()> {
    let dir = TempDir::new("prescient-rest-tls-pair")?;
    let site = Pki::new(dir.path(), "site")?;
    let (a, b) = (site.leaf("a")?, site.leaf("b")?);
    let mut c = config(any_port([127, 0, 0, 1]), Some(any_port([127, 0, 0, 1])));
    c.http_tls = Some(TlsFiles {
        cert: a.cert.clone(),
        key: b.key.clone(),
    });
    let refused = match Service::start(c).await {
        Ok(_) => panic!("a mismatched key must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(
        refused.contains(&a.cert.display().to_string())
            && refused.contains(&b.key.display().to_string()),
        "{refused}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_agent_follows_an_https_controller_trusting_its_ca_only() -> anyhow::Result<()> {
    use prescient::agent::fetch::Endpoint;
    use prescient::agent::source::{Source, Update};

    let dir = TempDir::new("prescient-agent-tls")?;
    let site = Pki::new(dir.path(), "site")?;
    let other = Pki::new(dir.path(), "other")?;
    let text = "[http]\nlisten = \"0.0.0.0:0\"\n\
                [[pools]]\ntenant = \"red\"\nnetwork = \"10.1.0.0/24\"\n";
    let mut c = prescient::config::Config::parse(text, "agent.toml")?.service("agent.toml")?;
    c.openflow = any_port([127, 0, 0, 1]);
    c.store = Default::default();
    c.http_tls = Some(site.leaf("api")?);
    let service = Service::start(c).await?;
    let base = format!(
        "https://localhost:{}",
        service.http_addr().expect("HTTP").port()
    );
    let source = |ca: &std::path::Path| -> anyhow::Result<Source> {
        Ok(Source::Rest {
            api: Endpoint {
                base: base.clone(),
                tls: Some(std::sync::Arc::new(prescient::tls::client_config(ca)?)),
            },
            token: None,
        })
    };

    // Trusting the site CA: the event stream opens and the tenant's records are listed.
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let trusting = source(&site.ca())?;
    let session = tokio::spawn(async move { trusting.run("red", tx).await });
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await?;
    assert!(
        matches!(first, Some(Update::Full(ref records)) if records.is_empty()),
        "{first:?}"
    );
    session.abort();

    // Trusting another CA: the session ends naming the TLS failure.
    let (tx, _rx) = tokio::sync::mpsc::channel(4);
    let ended = source(&other.ca())?.run("red", tx).await;
    assert!(ended.contains("UnknownIssuer"), "{ended}");
    // https without a CA is refused with what to give.
    let (tx, _rx) = tokio::sync::mpsc::channel(4);
    let bare = Source::Rest {
        api: Endpoint {
            base: base.clone(),
            tls: None,
        },
        token: None,
    };
    let ended = bare.run("red", tx).await;
    assert!(ended.contains("--ca"), "{ended}");
    service.shutdown().await;
    Ok(())
}
