//! Deliveries against local endpoints: a webhook that fails its first attempts, one that is
//! down, one that refuses, programs that succeed and hang, and the executor end to end.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

use super::*;
use crate::core::{ControllerEvent, CoreConfig, Rule};
use crate::services::{HookForecast, Services};

#[derive(Default)]
struct Seen {
    keys: Vec<String>,
    bodies: Vec<serde_json::Value>,
}

type Shared = Arc<Mutex<(Seen, u32, StatusCode)>>;

/// A webhook answering `fail_first` times with `failure`, then 200; records what it got.
async fn endpoint(fail_first: u32, failure: StatusCode) -> (hyper::Uri, Shared) {
    let state: Shared = Arc::new(Mutex::new((Seen::default(), fail_first, failure)));
    async fn hook(
        State(s): State<Shared>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> StatusCode {
        let mut g = s.lock().unwrap_or_else(|e| e.into_inner());
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        g.0.keys.push(key);
        g.0.bodies
            .push(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null));
        if g.1 > 0 {
            g.1 -= 1;
            return g.2;
        }
        StatusCode::OK
    }
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url: hyper::Uri = format!("http://{addr}/hook").parse().expect("uri");
    (url, state)
}

fn call() -> HookCall {
    HookCall {
        key: "web/7".into(),
        service: "web".into(),
        tenant: "red".into(),
        action: HookKind::ScaleUp,
        delta: 2,
        current_instances: 1,
        target_instances: 3,
        addresses: vec![Ipv4Addr::new(10, 1, 0, 2), Ipv4Addr::new(10, 1, 0, 3)],
        forecast: HookForecast {
            point_bps: 150_000_000,
            upper95_bps: 180_000_000,
            lower95_bps: 120_000_000,
            capacity_bps: 100_000_000,
            horizon_steps: 12,
            interval_ms: 1000,
        },
        rule: Rule::ServicePredictedScaleUp,
        decision: 7,
        reason: "forecast".into(),
    }
}

fn hook(target: HookTarget, attempts: u32) -> HookConfig {
    HookConfig {
        name: "orchestrator".into(),
        target,
        actions: Vec::new(),
        services: Vec::new(),
        timeout: Duration::from_secs(5),
        max_attempts: attempts,
        backoff: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(40),
    }
}

/// A hook running `program` without arguments.
fn exec(program: impl Into<PathBuf>, attempts: u32) -> HookConfig {
    hook(
        HookTarget::Exec {
            program: program.into(),
            args: Vec::new(),
        },
        attempts,
    )
}

/// Delivers [`call`] through `h` as the executor would, nothing cancelling it.
async fn deliver_once(h: &HookConfig) -> HookRecord {
    deliver(h, &http::client(), &call(), &CancellationToken::new(), || 1).await
}

#[test]
fn backoff_doubles_up_to_its_cap() {
    let h = exec("true", 5);
    let waits: Vec<u128> = (1..=5).map(|a| h.backoff_after(a).as_millis()).collect();
    assert_eq!(waits, vec![10, 20, 40, 40, 40]);
    assert_eq!(h.backoff_after(u32::MAX), Duration::from_millis(40));
}

#[tokio::test]
async fn a_failing_webhook_is_retried_with_the_same_idempotency_key() {
    let (url, seen) = endpoint(2, StatusCode::SERVICE_UNAVAILABLE).await;
    let h = hook(HookTarget::Http { url }, 5);
    let record = deliver_once(&h).await;
    assert_eq!(record.status, HookStatus::Delivered);
    assert_eq!(record.attempts, 3);
    assert_eq!(record.code, Some(200));
    let g = seen.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(g.0.keys, vec!["web/7"; 3]);
    let body = &g.0.bodies[2];
    assert_eq!(body["service"], "web");
    assert_eq!(body["action"], "scale_up");
    assert_eq!(body["delta"], 2);
    assert_eq!(body["decision"], 7);
    assert_eq!(body["rule"], "service_predicted_scale_up");
    assert_eq!(body["idempotency_key"], "web/7");
    assert_eq!(body["forecast"]["upper95_bps"], 180_000_000);
    assert_eq!(body["forecast"]["lower95_bps"], 120_000_000);
    assert_eq!(body["addresses"][1], "10.1.0.3");
}

#[tokio::test]
async fn a_down_endpoint_is_given_up_after_the_attempts() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let url: hyper::Uri = format!("http://{addr}/hook").parse().expect("uri");
    let h = hook(HookTarget::Http { url }, 3);
    let record = deliver_once(&h).await;
    assert_eq!(record.status, HookStatus::GaveUp);
    assert_eq!(record.attempts, 3);
    let err = record.error.unwrap_or_default();
    assert!(err.contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn a_refusal_is_not_retried() {
    let (url, seen) = endpoint(10, StatusCode::UNPROCESSABLE_ENTITY).await;
    let h = hook(HookTarget::Http { url }, 5);
    let record = deliver_once(&h).await;
    assert_eq!(record.status, HookStatus::Refused);
    assert_eq!((record.attempts, record.code), (1, Some(422)));
    assert_eq!(
        seen.lock().unwrap_or_else(|e| e.into_inner()).0.keys.len(),
        1
    );
}

fn script(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[tokio::test]
async fn exec_hooks_get_the_json_on_stdin_and_hung_ones_are_killed() {
    let dir = std::env::temp_dir().join(format!("prescient-hooks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let out = dir.join("got.json");
    let ok = script(
        &dir,
        "ok.sh",
        &format!(
            "#!/bin/sh\ncat > {}\n[ \"$PRESCIENT_IDEMPOTENCY_KEY\" = web/7 ] || exit 3\n",
            out.display()
        ),
    );
    let h = exec(ok, 2);
    let record = deliver_once(&h).await;
    assert_eq!(record.status, HookStatus::Delivered, "{record:?}");
    let got: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("written")).expect("json");
    assert_eq!(got["target_instances"], 3);
    let hung = script(&dir, "hung.sh", "#!/bin/sh\nsleep 30\n");
    let mut h = exec(hung, 1);
    h.timeout = Duration::from_millis(200);
    let started = std::time::Instant::now();
    let record = deliver_once(&h).await;
    assert_eq!(record.status, HookStatus::GaveUp);
    assert!(record.error.unwrap_or_default().contains("killed"));
    assert!(started.elapsed() < Duration::from_secs(10));
    let failing = script(&dir, "fail.sh", "#!/bin/sh\necho nope >&2\nexit 4\n");
    let h = exec(failing, 2);
    let record = deliver_once(&h).await;
    assert_eq!(
        (record.status, record.attempts, record.code),
        (HookStatus::GaveUp, 2, Some(4))
    );
    assert!(record.error.unwrap_or_default().contains("nope"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_executor_delivers_queued_calls_and_records_the_outcome_in_the_core() {
    let (url, seen) = endpoint(1, StatusCode::BAD_GATEWAY).await;
    let core = SharedCore::new(CoreConfig::default());
    let mut services = Services::default();
    services.queue_hook(call());
    core.apply(|c| c.set_services(services));
    let mut events = core.subscribe();
    let cancel = CancellationToken::new();
    let config = HooksConfig {
        hooks: vec![hook(HookTarget::Http { url }, 3)],
        concurrency: 2,
    };
    let task = tokio::spawn(run(core.clone(), config, cancel.clone()));
    // Any event wakes the executor; keep ticking until the outcome is recorded.
    let outcome = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let now = core.now();
            core.apply(|c| c.tick(now));
            while let Ok(ev) = events.try_recv() {
                if let ControllerEvent::Decision(d) = ev {
                    if d.rule == Rule::HookCompleted {
                        return d;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the hook completes");
    assert!(outcome.reason.contains("delivered"), "{}", outcome.reason);
    assert!(
        outcome.reason.contains("2 attempt(s)"),
        "{}",
        outcome.reason
    );
    let records: Vec<HookRecord> =
        core.read(|c| c.services().hook_outcomes().iter().cloned().collect());
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, HookStatus::Delivered);
    assert_eq!(
        seen.lock().unwrap_or_else(|e| e.into_inner()).0.keys,
        vec!["web/7"; 2]
    );
    cancel.cancel();
    task.await.expect("executor stops");
}
