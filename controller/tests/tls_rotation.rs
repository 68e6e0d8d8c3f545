//! Certificates rotate without a restart: `prescient run` re-reads the REST API's certificate
//! and key on SIGHUP, the next TLS client is served the new one, and a file that does not load
//! keeps the one in force and the log says why. The certificates are made by `openssl`, and
//! what the server presents is read with `openssl s_client`, as an operator would check it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod process_common;
use process_common::{free_port, hangup};

const BIN: &str = env!("CARGO_BIN_EXE_prescient");

/// A self-signed certificate for `cn` (valid for 127.0.0.1) with its key.
fn self_signed(cn: &str, cert: &Path, key: &Path) {
    let made = prescient_testkit::pki::self_signed(cn, &["subjectAltName=IP:127.0.0.1"], cert, key);
    if let Err(e) = made {
        panic!("{cn}'s certificate: {e}");
    }
}

/// The subject of the certificate the server at `addr` presents (empty when none).
fn presented(addr: std::net::SocketAddr) -> String {
    let Ok(out) = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {addr} </dev/null 2>/dev/null | openssl x509 -noout -subject"
        ))
        .output()
    else {
        return String::new();
    };
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The subject presented once it names `cn` (a reload takes effect when the signal is
/// handled), or the last one seen after 10 s.
fn presented_naming(addr: std::net::SocketAddr, cn: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let subject = presented(addr);
        if subject.contains(cn) || Instant::now() > deadline {
            return subject;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The controller, killed when the test ends, passed or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sighup_rotates_the_rest_api_certificate_and_keeps_it_when_the_new_file_is_bad() {
    let dir = std::env::temp_dir().join(format!("prescient-tls-rotation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (cert, key) = (dir.join("api.crt"), dir.join("api.key"));
    self_signed("first-api", &cert, &key);
    let config = dir.join("prescient.toml");
    std::fs::write(
        &config,
        format!(
            "[http]\ntls_cert = {cert:?}\ntls_key = {key:?}\n[store]\npath = {:?}\n",
            dir.join("state.redb")
        ),
    )
    .expect("config written");
    let log = dir.join("stderr.log");
    let api = free_port();
    let child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .args(["--openflow", "127.0.0.1:0", "--http", &api.to_string()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("prescient run starts");
    let running = Running(child);
    let child = &running.0;

    assert!(presented_naming(api, "first-api").contains("first-api"));

    self_signed("second-api", &cert, &key);
    hangup(child);
    let subject = presented_naming(api, "second-api");
    assert!(subject.contains("second-api"), "after SIGHUP: {subject}");

    // A half-written certificate: refused, the second one stays, the log names the file.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\n").expect("cert written");
    hangup(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    let logged = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("keeps the certificate in force") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        logged.contains("REST API keeps the certificate in force")
            && logged.contains(&cert.display().to_string()),
        "{logged}"
    );
    let subject = presented(api);
    assert!(subject.contains("second-api"), "kept in force: {subject}");

    drop(running);
    let _ = std::fs::remove_dir_all(&dir);
}
