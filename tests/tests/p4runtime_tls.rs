//! P4Runtime over TLS against the emulated prescient.p4 switches: the controller drives devices
//! served over TLS (and discovers the cable between them), a device whose certificate the
//! configured CA did not sign never comes up, a client trusting another CA or speaking plain
//! HTTP/2 is refused, and a device requiring mutual TLS takes only clients with a certificate
//! its CA signed.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use prescient_sim::p4rt::{serve_listener_tls, P4SimNetwork};
use prescient_southbound::p4runtime::{ClientConfig, ClientTls, P4RuntimeClient};
use prescient_tests::p4sim::controller_of;
use prescient_tests::pki::{grpc_server, p4_client, Pki};
use prescient_tests::{wait_for, TempDir};
use prescient_topology::DeviceId;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);

/// Serves `network` over TLS as `leaf` on a free loopback port (clients checked against
/// `client_ca` when given); the address and the token stopping it.
async fn serve_tls(
    network: Arc<P4SimNetwork>,
    leaf: &prescient::tls::TlsFiles,
    client_ca: Option<&Path>,
) -> anyhow::Result<(String, CancellationToken)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    let stop = CancellationToken::new();
    let serving = serve_listener_tls(
        listener,
        network,
        stop.clone(),
        grpc_server(leaf, client_ca)?,
    );
    tokio::spawn(async move {
        if let Err(e) = serving.await {
            eprintln!("P4Runtime TLS emulator stopped: {e}");
        }
    });
    Ok((address, stop))
}

async fn connect(address: &str, tls: Option<ClientTls>) -> Result<P4RuntimeClient, String> {
    let mut config = ClientConfig::new(address, 1, 1);
    config.tls = tls.map(Into::into);
    config.max_reconnect_attempts = Some(0);
    let mut client = P4RuntimeClient::connect(config)
        .await
        .map_err(|e| e.to_string())?;
    client
        .wait_for_primary(Duration::from_secs(5))
        .await
        .map_err(|e| e.to_string())?;
    Ok(client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_drives_devices_over_tls_and_refuses_a_certificate_its_ca_did_not_sign(
) -> anyhow::Result<()> {
    let dir = TempDir::new("prescient-p4-tls")?;
    let site = Pki::new(dir.path(), "site")?;
    let rogue = Pki::new(dir.path(), "rogue")?;
    // Devices 1 and 2, cabled, behind a certificate the site CA signed; device 3 behind one
    // another CA signed.
    let trusted = Arc::new(P4SimNetwork::linear(2)?);
    let (trusted_at, stop_trusted) = serve_tls(trusted, &site.leaf("switches")?, None).await?;
    let impostor = Arc::new(P4SimNetwork::new(3)?);
    let (impostor_at, stop_impostor) = serve_tls(impostor, &rogue.leaf("impostor")?, None).await?;

    // TLS as a user configures it: the site CA for every device, read from its file.
    let text = format!(
        "[p4runtime_tls]\nca = {:?}\n[[p4runtime]]\naddress = {trusted_at:?}\ndevice_id = 1\n\
         ports = [1, 2]\n",
        site.ca().display().to_string()
    );
    let configured = prescient::config::Config::parse(&text, "p4.toml")?.service("p4.toml")?;
    let tls = configured.p4[0]
        .tls
        .clone()
        .expect("TLS from [p4runtime_tls]");
    assert_eq!(tls.current(), p4_client(&site.ca(), None)?);
    let service = controller_of(&trusted_at, vec![(1, vec![1, 2]), (2, vec![1, 2])], |c| {
        for t in &mut c.p4 {
            t.tls = Some(tls.clone());
        }
        let mut impostor = c.p4[0].clone();
        impostor.address = impostor_at.clone();
        impostor.device_id = 3;
        c.p4.push(impostor);
    })
    .await;

    // Both trusted devices come up and their cable is discovered: packet-outs and packet-ins
    // went over TLS.
    let links = wait_for("the cable between devices 1 and 2", WAIT, || {
        let links = service.core().snapshot().links().len();
        (links == 2).then_some(links)
    })
    .await?;
    assert_eq!(links, 2);
    let up: BTreeSet<DeviceId> = service
        .core()
        .snapshot()
        .devices()
        .iter()
        .copied()
        .collect();
    assert!(up.contains(&DeviceId::p4runtime(1)) && up.contains(&DeviceId::p4runtime(2)));
    assert!(
        !up.contains(&DeviceId::p4runtime(3)),
        "device 3's certificate was not signed by the configured CA: {up:?}"
    );
    service.shutdown().await;
    stop_trusted.cancel();
    stop_impostor.cancel();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_do_not_trust_the_devices_ca_or_skip_tls_are_refused() -> anyhow::Result<()> {
    let dir = TempDir::new("prescient-p4-tls-client")?;
    let site = Pki::new(dir.path(), "site")?;
    let other = Pki::new(dir.path(), "other")?;
    let (address, stop) =
        serve_tls(Arc::new(P4SimNetwork::new(1)?), &site.leaf("sw")?, None).await?;

    let client = connect(&address, Some(p4_client(&site.ca(), None)?))
        .await
        .expect("a client trusting the device's CA");
    assert!(client.is_primary());
    drop(client);

    let refused = connect(&address, Some(p4_client(&other.ca(), None)?))
        .await
        .err()
        .expect("a client trusting another CA must be refused");
    assert!(refused.contains("UnknownIssuer"), "{refused}");
    let refused_name = {
        let mut tls = p4_client(&site.ca(), None)?;
        tls.server_name = Some("switch.example".into());
        connect(&address, Some(tls)).await.err()
    }
    .expect("a certificate for another name must be refused");
    assert!(
        refused_name.contains("not valid for name \"switch.example\""),
        "{refused_name}"
    );
    assert!(
        connect(&address, None).await.is_err(),
        "plain HTTP/2 to a TLS device must fail"
    );
    stop.cancel();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_requiring_mutual_tls_takes_only_certificates_its_ca_signed() -> anyhow::Result<()>
{
    let dir = TempDir::new("prescient-p4-mtls")?;
    let site = Pki::new(dir.path(), "site")?;
    let other = Pki::new(dir.path(), "other")?;
    let (address, stop) = serve_tls(
        Arc::new(P4SimNetwork::new(1)?),
        &site.leaf("sw")?,
        Some(&site.ca()),
    )
    .await?;

    let controller = site.leaf("controller")?;
    let client = connect(&address, Some(p4_client(&site.ca(), Some(&controller))?))
        .await
        .expect("a client with a certificate the site CA signed");
    assert!(client.is_primary());
    drop(client);

    let anonymous = connect(&address, Some(p4_client(&site.ca(), None)?))
        .await
        .err()
        .expect("a client without a certificate must be refused");
    let stranger = other.leaf("stranger")?;
    let unknown = connect(&address, Some(p4_client(&site.ca(), Some(&stranger))?))
        .await
        .err()
        .expect("a client whose certificate another CA signed must be refused");
    // With TLS 1.3 the server judges our certificate after our handshake is done: the first
    // RPC fails on the connection (with the server's alert, CertificateRequired or UnknownCA,
    // when it arrives before the connection closes).
    for refused in [&anonymous, &unknown] {
        assert!(refused.contains("transport error"), "{refused}");
    }
    stop.cancel();
    Ok(())
}

/// Copies `leaf`'s certificate and key to `cert` and `key` (what an operator's rotation does).
fn install(leaf: &prescient::tls::TlsFiles, cert: &Path, key: &Path) -> anyhow::Result<()> {
    std::fs::copy(&leaf.cert, cert)?;
    std::fs::copy(&leaf.key, key)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_client_certificate_is_presented_at_the_next_connect_and_a_bad_file_is_refused(
) -> anyhow::Result<()> {
    let dir = TempDir::new("prescient-p4-tls-rotation")?;
    let site = Pki::new(dir.path(), "site")?;
    let other = Pki::new(dir.path(), "other")?;
    // One network of two cabled devices, served twice: device 1 asks for no client
    // certificate, device 2 requires one the site CA signed.
    let network = Arc::new(P4SimNetwork::linear(2)?);
    let switches = site.leaf("switches")?;
    let (open_at, stop_open) = serve_tls(network.clone(), &switches, None).await?;
    let (mutual_at, stop_mutual) = serve_tls(network, &switches, Some(&site.ca())).await?;

    // The controller's certificate file holds one another CA signed.
    let (cert, key) = (
        dir.path().join("controller.pem"),
        dir.path().join("controller.key"),
    );
    install(&other.leaf("stranger")?, &cert, &key)?;
    let text = format!(
        "[p4runtime_tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n\
         [[p4runtime]]\naddress = {open_at:?}\ndevice_id = 1\nports = [1, 2]\n\
         [[p4runtime]]\naddress = {mutual_at:?}\ndevice_id = 2\nports = [1, 2]\n",
        site.ca().display().to_string(),
        cert.display().to_string(),
        key.display().to_string(),
    );
    let configured = prescient::config::Config::parse(&text, "p4.toml")?.service("p4.toml")?;
    let service = controller_of(&open_at, vec![(1, vec![1, 2]), (2, vec![1, 2])], |c| {
        for (t, from) in c.p4.iter_mut().zip(&configured.p4) {
            t.address = from.address.clone();
            t.tls = from.tls.clone();
            t.tls_files = from.tls_files.clone();
        }
    })
    .await;
    let up = |device: u64| {
        let core = service.core().clone();
        move || {
            let devices = core.snapshot().devices().to_vec();
            devices.contains(&DeviceId::p4runtime(device)).then_some(())
        }
    };
    wait_for("device 1 (no client certificate asked)", WAIT, up(1)).await?;
    assert!(
        !service
            .core()
            .snapshot()
            .devices()
            .contains(&DeviceId::p4runtime(2)),
        "device 2 took a certificate its CA did not sign"
    );

    // Rotation: the site CA's certificate goes into the files, and a re-read (SIGHUP) takes
    // it; the client's next connect presents it and device 2 comes up.
    let controller = site.leaf("controller")?;
    install(&controller, &cert, &key)?;
    let reloaded = service.tls_servers().reload();
    let client = reloaded
        .iter()
        .find(|r| r.server == "P4Runtime client of p4:2")
        .expect("device 2's client is re-read");
    assert!(client.outcome.is_ok(), "{:?}", client.outcome);
    assert_eq!(client.cert, cert);
    wait_for("device 2 with the rotated certificate", WAIT, up(2)).await?;

    // A file that does not load: refused naming the file and its key; the certificate in
    // force stays what the client presents.
    std::fs::write(&cert, "not a certificate\n")?;
    let reloaded = service.tls_servers().reload();
    let client = reloaded
        .iter()
        .find(|r| r.server == "P4Runtime client of p4:2")
        .expect("device 2's client is re-read");
    let why = client.outcome.as_ref().expect_err("a bad file").to_string();
    assert!(
        why.contains(&cert.display().to_string()) && why.contains("p4runtime_tls.cert"),
        "{why}"
    );
    let in_force = configured.p4[1].tls.as_ref().expect("TLS").current();
    assert_eq!(in_force, p4_client(&site.ca(), Some(&controller))?);
    service.shutdown().await;
    stop_open.cancel();
    stop_mutual.cancel();
    Ok(())
}
