//! Crash consistency of the single-process store: a client streams REST writes (scheduled
//! events and services, each answered once committed to the redb file) while `prescient run` is
//! killed with SIGKILL at random points, fifty times. After every restart the store opens, and
//! every write that was answered 2xx before the kill is there; a write whose answer the kill
//! cut off may or may not be (the client never heard either way).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

mod process_common;
use process_common::{call_with, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_prescient");
const TOKEN: &str = "crash-token";
const KILLS: u64 = 50;

struct Controller {
    child: Child,
    log: PathBuf,
}

impl Controller {
    /// Starts `prescient run` on `dir`'s store and waits until its API answers.
    fn start(dir: &Path, api: SocketAddr, round: u64) -> Controller {
        let log = dir.join(format!("run-{round}.log"));
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(dir.join("prescient.toml"))
            .args(["--openflow", "127.0.0.1:0", "--http", &api.to_string()])
            .env("PRESCIENT_API_TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("prescient run starts");
        let c = Controller { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while call_with(api, TOKEN, "GET", "/api/v1/calendar", None).is_none_or(|(s, _)| s != 200) {
            assert!(
                Instant::now() < deadline,
                "round {round}: the controller did not come back (store did not open?):\n{}",
                std::fs::read_to_string(&c.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        c
    }

    fn kill(mut self) {
        // SIGKILL: no shutdown path runs.
        self.child.kill().expect("kill");
        self.child.wait().expect("reaped");
    }
}

/// What the client was told was stored: event names and service names.
#[derive(Default)]
struct Acked {
    events: Vec<String>,
    services: Vec<String>,
}

/// Writes until `stop`: an event, then a service with a pool of its own, and so on; records
/// what was answered 201.
fn writer(api: SocketAddr, round: u64, stop: &AtomicBool, acked: &Mutex<Acked>) {
    let mut i: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        let n = round * 1000 + i;
        if i % 2 == 0 {
            let name = format!("e{n}");
            let body = json!({"name": name, "start_secs": 2_000_000_000u64 + n,
                "end_secs": 2_000_003_600u64 + n, "multiplier": 2.0});
            if let Some((201, _)) = call_with(api, TOKEN, "POST", "/api/v1/calendar", Some(&body)) {
                acked.lock().expect("not poisoned").events.push(name);
            }
        } else {
            let name = format!("s{n}");
            let body = json!({"name": name, "tenant": "crash",
                "vip": format!("172.16.{}.{}", (n >> 8) & 255, n & 255),
                "pool": format!("10.{}.{}.0/24", (n >> 8) & 255, n & 255),
                "instance_capacity_bps": 1_000_000u64});
            if let Some((201, _)) = call_with(api, TOKEN, "POST", "/api/v1/services", Some(&body)) {
                acked.lock().expect("not poisoned").services.push(name);
            }
        }
        i += 1;
    }
}

/// Names in a list answer (`name` of each element).
fn names(api: SocketAddr, path: &str) -> Vec<String> {
    let (status, v) = call_with(api, TOKEN, "GET", path, None).expect("the API answers");
    assert_eq!(status, 200, "{path}: {v}");
    v.as_array()
        .expect("a list")
        .iter()
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect()
}

fn check(api: SocketAddr, acked: &Acked, round: u64) {
    let events = names(api, "/api/v1/calendar");
    let services = names(api, "/api/v1/services");
    for e in &acked.events {
        assert!(
            events.contains(e),
            "round {round}: acknowledged event {e} lost"
        );
    }
    for s in &acked.services {
        assert!(
            services.contains(s),
            "round {round}: acknowledged service {s} lost"
        );
    }
}

#[test]
fn every_acknowledged_write_survives_fifty_sigkills() {
    let dir = std::env::temp_dir().join(format!("prescient-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("set up");
    std::fs::write(
        dir.join("prescient.toml"),
        format!("[store]\npath = {:?}\n", dir.join("state.redb")),
    )
    .expect("set up");
    let api = free_port();
    let acked = Arc::new(Mutex::new(Acked::default()));
    // A fixed-seed generator: the kill points differ from round to round, and between runs
    // only by timing.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..KILLS {
        let c = Controller::start(&dir, api, round);
        check(api, &acked.lock().expect("not poisoned"), round);
        let stop = Arc::new(AtomicBool::new(false));
        let w = {
            let (stop, acked) = (Arc::clone(&stop), Arc::clone(&acked));
            std::thread::spawn(move || writer(api, round, &stop, &acked))
        };
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        std::thread::sleep(Duration::from_millis(20 + (seed >> 33) % 300));
        c.kill();
        stop.store(true, Ordering::SeqCst);
        w.join().expect("set up");
    }
    let c = Controller::start(&dir, api, KILLS);
    let acked = acked.lock().expect("not poisoned");
    check(api, &acked, KILLS);
    assert!(
        acked.events.len() + acked.services.len() >= KILLS as usize,
        "too few writes acknowledged to mean anything: {} events, {} services",
        acked.events.len(),
        acked.services.len()
    );
    eprintln!(
        "{KILLS} SIGKILLs: {} events and {} services acknowledged, none lost",
        acked.events.len(),
        acked.services.len()
    );
    c.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
