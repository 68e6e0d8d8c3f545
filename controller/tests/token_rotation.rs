//! API tokens rotate without a restart: `prescient run --config FILE` re-reads the tokens of
//! its `[http]` section on SIGHUP; the new ones are taken, the old ones refused, and a file that
//! does not load keeps the tokens in force.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

mod process_common;
use process_common::{call_with, free_port, hangup};

const BIN: &str = env!("CARGO_BIN_EXE_prescient");

fn tokens_file(path: &std::path::Path, write_token: &str) {
    std::fs::write(
        path,
        format!(
            "[http]\nprotect_reads = true\n\n[[http.tokens]]\ntoken = \"viewer\"\nscope = \"read\"\n\n\
             [[http.tokens]]\ntoken = \"{write_token}\"\nscope = \"write\"\n\n[store]\npath = {:?}\n",
            path.with_extension("redb")
        ),
    )
    .expect("config written");
}

/// The status of a scheduled-event write with `token`, once the answer is `want` (a reload
/// takes effect when the signal is handled), or the last one seen after 10 s.
fn write_status(api: std::net::SocketAddr, token: &str, n: u32, want: u16) -> u16 {
    let body = json!({"name": format!("e{n}"), "start_secs": 2_000_000_000u64,
        "end_secs": 2_000_000_060u64, "multiplier": 2.0});
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status =
            call_with(api, token, "POST", "/api/v1/calendar", Some(&body)).map_or(0, |(s, _)| s);
        if status == want || Instant::now() > deadline {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_rotates_the_api_tokens() {
    let dir = std::env::temp_dir().join(format!("prescient-tokens-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("prescient.toml");
    tokens_file(&config, "operator-1");
    let api = free_port();
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .args(["--openflow", "127.0.0.1:0", "--http", &api.to_string()])
        .env_remove("PRESCIENT_API_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prescient run starts");

    assert_eq!(write_status(api, "operator-1", 1, 201), 201);
    assert_eq!(write_status(api, "viewer", 2, 403), 403);
    let read = call_with(api, "viewer", "GET", "/api/v1/calendar", None).map(|(s, _)| s);
    assert_eq!(read, Some(200));

    tokens_file(&config, "operator-2");
    hangup(&child);
    assert_eq!(
        write_status(api, "operator-2", 3, 201),
        201,
        "the new token"
    );
    assert_eq!(
        write_status(api, "operator-1", 4, 401),
        401,
        "the old token"
    );

    // A file that does not load changes nothing.
    std::fs::write(&config, "[http\n").expect("config written");
    hangup(&child);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        write_status(api, "operator-2", 5, 201),
        201,
        "kept in force"
    );

    child.kill().expect("kill");
    child.wait().expect("reaped");
    let _ = std::fs::remove_dir_all(&dir);
}
