//! The whole controller, configured as `prescient run --config` would be: traffic towards a
//! service's only instance grows past what it can serve, the forecast asks for a scale-up, and
//! the configured webhook (down for its first attempt) receives it, with the shadow address the
//! new instance should use, the same idempotency key on every attempt, and the outcome recorded
//! as a decision.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use prescient::config::Config;
use prescient::core::Rule;
use prescient::service::Service;
use prescient_tests::hooks::webhook;
use prescient_tests::wait_for;
use prescient_topology::{DeviceId, FlowKey, MacAddr};

const WAIT: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predicted_growth_reaches_the_orchestrator_through_the_configured_webhook() {
    // The orchestrator is down for the first attempt.
    let (url, seen) = webhook(1).await.unwrap();
    let text = format!(
        r#"
[openflow]
listen = "127.0.0.1:0"
[http]
enabled = false
[planning]
control_interval_ms = 100

[[services]]
name = "web"
tenant = "red"
vip = "192.0.2.10"
pool = "10.1.0.0/29"
instance_capacity_mbps = 100
max_instances = 4
backends = [{{ ip = "10.1.0.1", mac = "00:00:00:00:01:01" }}]

[[hooks]]
name = "orchestrator"
url = "{url}"
actions = ["scale_up"]
backoff_ms = 20
"#
    );
    let config = Config::parse(&text, "test.toml").unwrap();
    let mut service_config = config.service("test.toml").unwrap();
    // In memory: nothing of this test outlives it.
    service_config.store = Default::default();
    let service = Service::start(service_config).await.unwrap();
    let core = service.core().clone();

    // 150 Mb/s from a client to the instance, as flow counters would report it; the
    // controller's own ticks forecast it.
    let client = MacAddr([0, 0, 0, 0, 0, 1]);
    let backend = MacAddr([0, 0, 0, 0, 1, 1]);
    let feeder = {
        let core = core.clone();
        tokio::spawn(async move {
            let start = core.now();
            loop {
                let now = core.now();
                let secs = now.nanos().saturating_sub(start.nanos()) as f64 / 1e9;
                let bytes = (150e6 / 8.0 * secs) as u64;
                let key = FlowKey {
                    device: DeviceId::openflow(1),
                    cookie: 9,
                };
                core.apply(|c| {
                    c.flow_counters(now, key, Some((client, backend)), bytes, bytes / 1000)
                });
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let delivered = wait_for("the scale-up delivered", WAIT, || {
        core.read(|c| {
            c.decisions()
                .iter()
                .find(|d| d.rule == Rule::HookCompleted)
                .cloned()
        })
    })
    .await
    .unwrap();
    feeder.abort();
    assert!(
        delivered.reason.contains("delivered after 2 attempt(s)"),
        "{}",
        delivered.reason
    );
    let calls = seen.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "one failed attempt, one retry");
    assert_eq!(calls[0].0, calls[1].0, "the same idempotency key");
    let body = &calls[1].1;
    assert_eq!(body["service"], "web");
    assert_eq!(body["action"], "scale_up");
    assert_eq!(body["current_instances"], 1);
    assert_eq!(body["addresses"][0], "10.1.0.2");
    assert_eq!(body["idempotency_key"], calls[1].0.as_str());
    let decision = body["decision"].as_u64().unwrap();
    let asked = core.read(|c| {
        c.decisions()
            .iter()
            .find(|d| d.id == decision)
            .map(|d| d.rule)
    });
    assert_eq!(asked, Some(Rule::ServicePredictedScaleUp));
    service.shutdown().await;
}
