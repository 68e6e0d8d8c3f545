//! The soak, short: `prescient bench soak` runs a real `prescient run` under churn (OpenFlow
//! networks connecting and leaving, P4Runtime devices restarting, event streams dropped, services
//! and calendar events written and deleted, hook calls to an orchestrator that never answers or
//! answers late) and must pass: RSS within 10 % of its level after warm-up, descriptors and
//! runtime tasks back at their baseline once the churn stops, every unanswered hook connection
//! closed by the controller, no panic, no 5xx.

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_prescient");

#[test]
fn a_controller_under_churn_keeps_its_memory_descriptors_and_tasks() {
    let out = Command::new(BIN)
        .args([
            "bench",
            "soak",
            "--minutes",
            "1",
            "--max-switches",
            "12",
            "--json",
        ])
        .output()
        .expect("prescient bench soak runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("one JSON object ({e}): {stdout}\n{stderr}"));
    // Churn happened: the figures below mean something only if it did.
    assert!(report["switch_connects"].as_u64() >= Some(50), "{report}");
    assert!(report["network_restarts"].as_u64() >= Some(10), "{report}");
    assert!(report["p4_restarts"].as_u64() >= Some(5), "{report}");
    assert!(report["event_streams"].as_u64() >= Some(20), "{report}");
    assert!(report["rest_requests"].as_u64() >= Some(50), "{report}");
    assert_eq!(report["rest_server_errors"], 0, "{report}");
    // Hook calls timed out, and the controller let go of every connection it gave up on.
    assert!(report["hook_stalled"].as_u64() >= Some(1), "{report}");
    assert!(report["hook_timed_out"].as_u64() >= Some(1), "{report}");
    assert_eq!(
        report["hook_stalled_closed"], report["hook_stalled"],
        "hook connections left open: {report}"
    );
    assert_eq!(report["panics"], 0, "{report}");
    assert!(
        report["fds_end"].as_u64() <= report["fds_baseline"].as_u64(),
        "descriptors leaked: {report}"
    );
    assert!(
        report["tasks_end"].as_u64() <= report["tasks_baseline"].as_u64(),
        "tasks leaked: {report}"
    );
    assert!(report["rss_growth"].as_f64() <= Some(0.10), "{report}");
    assert_eq!(report["passed"], true, "{report}");
    assert!(out.status.success(), "{stderr}");
}
