//! A Mininet lab on BMv2 (`mininet/bmv2.py`: `simple_switch_grpc` switches in their own
//! namespaces, P4Runtime bridged to loopback) driven by Prescient from the `[[p4runtime]]`
//! configuration the lab writes: every host pings every other.
//!
//! Needs root, Mininet, socat and the P4 toolchain (scripts/setup installs them); skips loudly
//! without.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use prescient::config::Config;
use prescient::service::Service;
use prescient_tests::bmv2::lab_toolchain;
use prescient_tests::{wait_for, TempDir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mininet_bmv2_line_pings_all_pairs() {
    if lab_toolchain("mininet_bmv2_line_pings_all_pairs").is_none() {
        return;
    }
    let dir = TempDir::new("prescient-mn-bmv2").unwrap();
    let config_path = dir.path().join("lab.toml");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mininet/bmv2.py");
    let mininet = tokio::process::Command::new("/usr/bin/python3")
        .arg(&script)
        .args(["--size", "3", "--test", "pingall", "--config"])
        .arg(&config_path)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let text = wait_for(
        "the lab's [[p4runtime]] configuration",
        Duration::from_secs(60),
        || {
            std::fs::read_to_string(&config_path)
                .ok()
                .filter(|t| t.matches("[[p4runtime]]").count() == 3)
        },
    )
    .await
    .unwrap();
    let path = config_path.display().to_string();
    let config = Config::parse(&text, &path).unwrap();
    let mut service = config.service(&path).unwrap();
    service.openflow = "127.0.0.1:0".parse().unwrap();
    service.http = None;
    service.store.location = prescient::store::StoreLocation::InMemory;
    service.core.topology.discovery.probe_interval = Duration::from_millis(300);
    let controller = Service::start(service).await.unwrap();

    let out = tokio::time::timeout(Duration::from_secs(120), mininet.wait_with_output())
        .await
        .expect("the Mininet lab finished")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("pingall loss 0%"),
        "Mininet:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The switches carry the lab's names, from the [[devices]] sections it wrote.
    let mut names: Vec<String> = controller.core().read(|c| {
        c.topology()
            .devices()
            .filter_map(|d| d.name.clone())
            .collect()
    });
    names.sort_unstable();
    assert_eq!(names, ["s1", "s2", "s3"], "{text}");
    controller.shutdown().await;
}
