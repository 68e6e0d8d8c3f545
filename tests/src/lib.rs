//! Shared helpers for the workspace integration tests: private Open vSwitch instances, root checks,
//! waiting for conditions without fixed sleeps, temporary directories and test artefacts, the
//! REST API in process ([`rest`]), the emulated P4Runtime fabric under a controller ([`p4sim`]),
//! a webhook orchestrator ([`hooks`]).

pub mod bmv2;
pub mod controller;
pub mod etcd;
pub mod hooks;
pub mod http;
pub mod mininet;
pub mod ovs;
pub mod p4sim;
pub mod pki;
pub mod rest;
pub mod sim;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Whether tests that need root and system services may run here.
///
/// Under `scripts/test` (and so in CI) `PRESCIENT_REQUIRE_ROOT_TESTS=1` is set and a missing
/// privilege is a failure, never a silent skip; a developer running `cargo test` unprivileged
/// gets a loud skip instead.
pub fn root_tests_enabled(test: &str) -> bool {
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if is_root {
        return true;
    }
    if std::env::var("PRESCIENT_REQUIRE_ROOT_TESTS").as_deref() == Ok("1") {
        panic!("{test}: needs root (Open vSwitch, namespaces), and PRESCIENT_REQUIRE_ROOT_TESTS=1");
    }
    eprintln!("SKIPPED {test}: needs root; run ./scripts/test as root to include it");
    false
}

/// Sends the controller's logs (info and above, its own debug lines; or as `RUST_LOG` says) to
/// the test harness's captured output, so a test running the controller in process explains
/// itself when it fails. The first call in a test binary installs the subscriber; later calls
/// do nothing.
pub fn trace_to_test_output() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,prescient=debug"));
    // Already installed by another test of this binary: that one serves every test.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Binds with `bind` on the first free port of 127.0.0.1 below the kernel's ephemeral range
/// (32768 and up), for a test that binds the same port again after a shutdown: a port from the
/// ephemeral range may be taken in between by a parallel test's port-0 listener or outgoing
/// connection (CI saw "Address already in use" there once), while nothing takes a port below it
/// unless asked to. The search starts at a port drawn from the process id, so parallel test
/// binaries spread out.
pub async fn bind_below_ephemeral<T, E, F, Fut>(mut bind: F) -> T
where
    F: FnMut(std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let first = 20_000 + (std::process::id() % 10_000) as u16;
    for port in (first..32_000).chain(20_000..first) {
        if let Ok(bound) = bind(([127, 0, 0, 1], port).into()).await {
            return bound;
        }
    }
    panic!("no free port in 20000..32000 on 127.0.0.1");
}

/// Polls `check` until it returns `Some`, or fails after `timeout` naming `what`.
pub async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the controller's topology holds exactly `links` directed links; `what` names
/// the topology in the error.
pub async fn wait_links(
    core: &prescient::core::SharedCore,
    links: usize,
    what: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    wait_for(what, timeout, || {
        (core.snapshot().links().len() == links).then_some(())
    })
    .await
}

/// A directory of its own under the system temp dir, removed with everything in it on drop.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    /// A fresh directory named after `prefix`, this process and the time (tests of one binary
    /// run in parallel, and a leftover from an earlier run must not be reused).
    pub fn new(prefix: &str) -> std::io::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }

    /// Its path.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where tests leave files for people to look at: `$PRESCIENT_ARTEFACT_DIR`, else
/// `target/test-artefacts/` of the workspace.
pub fn artefact_dir() -> PathBuf {
    std::env::var_os("PRESCIENT_ARTEFACT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artefacts"))
}
