//! The REST API against a schema-driven fuzzer: schemathesis (PyPI, installed by
//! `scripts/setup`) generates requests from the OpenAPI document the controller serves —
//! schema-valid and schema-violating, every operation, every phase (examples, boundary
//! coverage, fuzzing, stateful sequences) — and checks each answer: never a 5xx, only
//! documented statuses, bodies and content types, valid data accepted and invalid data refused,
//! writes refused without the token. A controller with a live emulated ring under it, so that
//! devices, links and hosts exist; once with the token and once without.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use prescient::service::Service;
use prescient_sim::topology::{SimTopology, TopologyKind};
use prescient_tests::TempDir;

const TOKEN: &str = "fuzz-token";

/// The `st` command, or `None` after a loud skip where it is not installed and this is not a
/// machine `scripts/setup` prepared (it runs as root and installs it; a missing one there fails).
fn schemathesis() -> Option<String> {
    let found = Command::new("st")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("st".to_string());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    assert!(
        !root,
        "schemathesis (`st`) is not installed; ./scripts/setup installs it (pip, schemathesis 4.32)"
    );
    eprintln!("SKIPPED api_fuzz: schemathesis (`st`) not installed; run ./scripts/setup");
    None
}

/// CPython 3.11's AST constructor can leave its recursion counter off after a deep parse
/// (python/cpython#106905); hypothesis then fails describing a lambda inside schemathesis's own
/// code and schemathesis reports a "Runtime Error" for whichever operation it was generating.
/// That is the tool crashing, not a check failing: such a run is repeated (twice at most).
const TOOL_CRASH: &str = "AST constructor recursion depth mismatch";

/// Runs the fuzzer against `api`, again when only the tool crashed; exit status and output.
fn fuzz(st: &str, api: std::net::SocketAddr, token: Option<&str>, dir: &Path) -> (bool, String) {
    let mut outputs = String::new();
    for _ in 0..3 {
        let (ok, text) = fuzz_once(st, api, token, dir);
        let tool_crash = !ok && text.contains(TOOL_CRASH) && !text.contains("FAILURES");
        outputs.push_str(&text);
        if !tool_crash {
            return (ok, outputs);
        }
        outputs.push_str("\n== schemathesis crashed inside hypothesis (see TOOL_CRASH); again\n");
    }
    (false, outputs)
}

/// One run of the fuzzer against `api`; its exit status and what it printed.
fn fuzz_once(
    st: &str,
    api: std::net::SocketAddr,
    token: Option<&str>,
    dir: &Path,
) -> (bool, String) {
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemathesis/schemathesis.toml"
    );
    let mut cmd = Command::new(st);
    cmd.current_dir(dir)
        .args(["--config-file", config, "--no-color", "run"])
        .arg(format!("http://{api}/api/v1/openapi.json"))
        .args(["--max-examples", "25", "--workers", "2", "--seed", "1"])
        // The event stream never ends; its own test reads it.
        .args(["--exclude-path", "/api/v1/events"])
        .env("SCHEMATHESIS_HOOKS", "")
        .env("HYPOTHESIS_STORAGE_DIRECTORY", dir.join("hypothesis"));
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd.output().expect("schemathesis runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure_with_or_without_the_token() {
    let Some(st) = schemathesis() else { return };
    let dir = TempDir::new("prescient-api-fuzz").unwrap();
    let mut config = prescient_tests::controller::config(
        "127.0.0.1:0".parse().unwrap(),
        Some("127.0.0.1:0".parse().unwrap()),
    );
    config.api.token = Some(TOKEN.to_string());
    let service = Service::start(config).await.unwrap();
    let _ring = prescient_tests::sim::spawn_quick(
        SimTopology::generate(TopologyKind::Ring(4)).unwrap(),
        service.openflow_addr(),
    );
    prescient_tests::wait_links(
        service.core(),
        8,
        "the ring's links",
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let api = service.http_addr().unwrap();
    let dir_path = dir.path().to_owned();
    let runs = tokio::task::spawn_blocking(move || {
        [Some(TOKEN), None].map(|token| (token.is_some(), fuzz(&st, api, token, &dir_path)))
    })
    .await
    .unwrap();
    for (with_token, (ok, text)) in runs {
        assert!(
            ok,
            "schemathesis (token: {with_token}) found failures:\n{text}"
        );
    }
    service.shutdown().await;
}
