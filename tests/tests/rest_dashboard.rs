//! What people watch: the metrics and dashboard routes, the event stream, and the dashboard in
//! headless Chromium driven like a user (skipped, saying so, without Chromium).

mod cdp;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, Method, StatusCode};
use futures::StreamExt;
use prescient::northbound::{ApiConfig, ApiState};
use prescient_tests::artefact_dir;
use prescient_tests::rest::{fixture, get, post, request, respond, serve, H1, H2, HOT_LINK, TOKEN};
use prescient_topology::{DeviceId, Protocol, Timestamp};
use serde_json::json;

/// Centre of the element `selector` in page coordinates.
async fn centre(page: &mut cdp::Page, selector: &str) -> (f64, f64) {
    let v = page
        .eval(&format!(
            "(() => {{ const r = document.querySelector({selector:?}).getBoundingClientRect(); \
             return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ))
        .await
        .expect("element on the page");
    (v[0].as_f64().expect("x"), v[1].as_f64().expect("y"))
}

#[tokio::test]
async fn metrics_and_dashboard_are_served() {
    let f = fixture(5);
    let writes = f.core.metrics().write_latency(Protocol::OpenFlow);
    writes.record(Duration::from_micros(800));
    writes.record(Duration::from_millis(40));
    let m = get(&f, "/metrics").await;
    assert_eq!(m.status, StatusCode::OK);
    assert!(
        m.text
            .contains("prescient_devices_connected{protocol=\"openflow\"} 4"),
        "{}",
        m.text
    );
    assert!(m
        .text
        .contains("prescient_devices_connected{protocol=\"p4runtime\"} 0"));
    // Write latency: a histogram per protocol, cumulative buckets, sum and count.
    assert!(m
        .text
        .contains("# TYPE prescient_southbound_write_seconds histogram"));
    for line in [
        "prescient_southbound_write_seconds_bucket{protocol=\"openflow\",le=\"0.0005\"} 0",
        "prescient_southbound_write_seconds_bucket{protocol=\"openflow\",le=\"0.001\"} 1",
        "prescient_southbound_write_seconds_bucket{protocol=\"openflow\",le=\"0.05\"} 2",
        "prescient_southbound_write_seconds_bucket{protocol=\"openflow\",le=\"+Inf\"} 2",
        "prescient_southbound_write_seconds_count{protocol=\"openflow\"} 2",
        "prescient_southbound_write_seconds_sum{protocol=\"openflow\"} 0.0408",
        "prescient_southbound_write_seconds_count{protocol=\"p4runtime\"} 0",
    ] {
        assert!(m.text.contains(line), "{line} missing:\n{}", m.text);
    }
    // Messages per second over the last ten seconds sit beside the totals.
    assert!(m
        .text
        .contains("# TYPE prescient_southbound_messages_per_second gauge"));
    assert!(m
        .text
        .contains("prescient_southbound_messages_per_second{type=\"packet_in\"} 0"));
    assert!(m.text.contains("prescient_reservations 0"));
    assert!(m.text.contains("prescient_links 8"));
    assert!(m
        .text
        .contains("prescient_southbound_messages_total{type=\"packet_in\"} 3"));
    assert!(m
        .text
        .contains("prescient_forecast_mae_bps{model=\"auto\"}"));
    let page = get(&f, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("<svg id=\"graph\"") && page.text.contains("/assets/app.js"));
    assert!(
        !page.text.contains("http://") && !page.text.contains("https://"),
        "no CDN"
    );
    let js = get(&f, "/assets/app.js").await;
    assert!(js.status == StatusCode::OK && js.text.contains("EventSource"));
    assert_eq!(get(&f, "/assets/style.css").await.status, StatusCode::OK);
}

/// The control tick's figures, as the driver records them around each tick (a guard taken as
/// the tick starts, finished with its lateness and duration as it ends).
#[tokio::test]
async fn metrics_show_the_control_ticks() {
    let f = fixture(5);
    let m = get(&f, "/metrics").await;
    for line in [
        "# TYPE prescient_ticks_total counter",
        "prescient_ticks_total 0",
        "# TYPE prescient_tick_running gauge",
        "prescient_tick_running 0",
    ] {
        assert!(m.text.contains(line), "{line} missing:\n{}", m.text);
    }
    let mut series = 0;
    for (s, late_ms, took_ms) in [(7, 20, 500), (8, 5, 250)] {
        let running = f.core.metrics().tick_began();
        let now = Timestamp::from_secs(s);
        series = f.core.apply(|c| {
            c.tick(now);
            c.series_count()
        });
        running.finish(
            Duration::from_millis(late_ms),
            Duration::from_millis(took_ms),
            series,
            2,
        );
    }
    assert!(series > 0, "the fixture's traffic makes series");
    let running = f.core.metrics().tick_began();
    let during = get(&f, "/metrics").await;
    drop(running);
    assert!(
        during.text.contains("\nprescient_tick_running 1\n"),
        "{}",
        during.text
    );
    let m = get(&f, "/metrics").await;
    for line in [
        "prescient_ticks_total 2".to_string(),
        "prescient_tick_running 0".to_string(),
        "prescient_tick_duration_seconds 0.25".to_string(),
        "prescient_tick_duration_max_seconds 0.5".to_string(),
        "prescient_tick_late_seconds 0.005".to_string(),
        "prescient_tick_late_max_seconds 0.02".to_string(),
        format!("prescient_series {series}"),
        "prescient_forecast_stride 2".to_string(),
        "# TYPE prescient_tick_duration_seconds gauge".to_string(),
    ] {
        // Whole lines: `prescient_series` must not match `prescient_series_compact`.
        assert!(
            m.text.contains(&format!("\n{line}\n")),
            "{line} missing:\n{}",
            m.text
        );
    }
}

#[tokio::test]
async fn events_stream_delivers_topology_changes_and_decisions() {
    let f = fixture(2);
    let resp = respond(&f.state, request(Method::GET, "/api/v1/events", None, None)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()[header::CONTENT_TYPE]
        .to_str()
        .is_ok_and(|c| c.starts_with("text/event-stream")));
    let mut body = resp.into_body().into_data_stream();
    let mut seen = String::new();
    let mut next = async || {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next()).await;
        String::from_utf8_lossy(&chunk.expect("event in time").expect("open").expect("chunk"))
            .to_string()
    };
    seen.push_str(&next().await);
    assert!(seen.contains("event: hello"), "{seen}");
    f.core
        .apply(|c| c.device_down(Timestamp::from_secs(3), DeviceId::openflow(3)));
    let now = Timestamp::from_secs(4);
    f.clock.store(now.nanos(), Ordering::SeqCst);
    let body_json = json!({"src": H1, "dst": H2, "rate_bps": 1000}).to_string();
    assert_eq!(
        post(&f, "/api/v1/reservations", &body_json).await.status,
        StatusCode::CREATED
    );
    while !(seen.contains("event: topology") && seen.contains("event: decision")) {
        seen.push_str(&next().await);
    }
    assert!(seen.contains("device of:0000000000000003 down"), "{seen}");
    assert!(seen.contains("reservation_admitted"), "{seen}");
}

/// The dashboard in a real browser, driven like a user: headless Chromium loads `/`, the
/// topology drawn must match the API's counts, a click on a link must bring up its forecast
/// chart with data, a reservation made meanwhile must appear through the event stream alone,
/// and a screenshot is saved as a test artefact. Skipped, saying so, without Chromium.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium_draws_the_api_follows_clicks_and_events() {
    if !Path::new(cdp::CHROMIUM).exists() {
        eprintln!("SKIPPED: {} is not installed", cdp::CHROMIUM);
        return;
    }
    // Enough ticks for calibrated 95 % intervals (39 residuals), so the band is drawn.
    let f = fixture(60);
    let body = json!({"src": H1, "dst": H2, "rate_bps": 100_000_000u64}).to_string();
    assert_eq!(
        post(&f, "/api/v1/reservations", &body).await.status,
        StatusCode::CREATED
    );
    let links = get(&f, "/api/v1/links").await.body;
    let links = links.as_array().expect("links").len();
    let devices = get(&f, "/api/v1/devices").await.body;
    let devices = devices
        .as_array()
        .expect("devices")
        .iter()
        .filter(|d| d["up"] == true)
        .count();
    let hosts = get(&f, "/api/v1/hosts").await.body;
    let hosts = hosts.as_array().expect("hosts").len();
    assert_eq!((devices, links, hosts), (4, 8, 2));
    // Counted from the API rather than assumed: the held pair gets no forecast reservation of
    // its own, but whether the controller reserves for any other pair depends on its forecasts.
    let reservations = get(&f, "/api/v1/reservations").await.body;
    let reservations = reservations.as_array().expect("reservations").len();
    // Every 5 s from second 20, the last start at second 30: three occurrences inside the
    // chart's minute of history, none after (without `until_secs` there would be nine).
    let pulse = json!({"name": "pulse", "start_secs": 20, "end_secs": 21, "every_secs": 5,
        "until_secs": 30, "multiplier": 2.0});
    assert_eq!(
        post(&f, "/api/v1/calendar", &pulse.to_string())
            .await
            .status,
        StatusCode::CREATED
    );
    let (addr, stop) = serve(f.state.clone()).await;

    let mut browser = cdp::Browser::launch(1280, 1600).await.expect("chromium");
    let page = browser.page();
    page.call("Page.navigate", json!({"url": format!("http://{addr}/")}))
        .await
        .expect("navigate");
    let wait = Duration::from_secs(20);
    page.wait_for(
        &format!("document.querySelectorAll('line.link').length === {links}"),
        wait,
    )
    .await
    .expect("topology drawn");
    let drawn = page
        .eval(
            "({links: document.querySelectorAll('#graph line.link[data-link]').length, \
              switches: document.querySelectorAll('#graph circle.node').length, \
              hosts: document.querySelectorAll('#graph circle.host').length, \
              halos: document.querySelectorAll('#graph line.halo').length, \
              summary: document.getElementById('summary').textContent})",
        )
        .await
        .expect("eval");
    assert_eq!(drawn["links"], links, "{drawn}");
    assert_eq!(drawn["switches"], devices, "{drawn}");
    assert_eq!(drawn["hosts"], hosts, "{drawn}");
    // Forecast halos on the links that have a forecast (at least the loaded one).
    assert!(drawn["halos"].as_u64().is_some_and(|h| h >= 1), "{drawn}");
    assert_eq!(
        drawn["summary"],
        format!("4 devices · 8 links · 2 hosts · {reservations} reservations"),
        "{drawn}"
    );
    page.wait_for(
        "document.getElementById('status').textContent === 'live'",
        wait,
    )
    .await
    .expect("event stream connected");
    // Nothing selected yet: the chart is empty until the user clicks a link.
    assert_eq!(
        page.eval("document.querySelectorAll('#chart path').length")
            .await
            .expect("eval"),
        0
    );
    let (x, y) = centre(page, &format!("[data-link=\"{HOT_LINK}\"]")).await;
    page.click(x, y).await.expect("click");
    // The title names the link by its switches (unnamed here, so by their short ids).
    page.wait_for(
        "document.getElementById('chart-title').textContent === 'of:1:1 → of:2:1' && \
         document.querySelector('#chart path.actual') !== null",
        wait,
    )
    .await
    .expect("the clicked link's chart");
    let chart = page
        .eval(
            "({actual: document.querySelector('#chart path.actual').getAttribute('d').split(/[ML]/).length - 1, \
              forecast: document.querySelectorAll('#chart path.fcline').length, \
              band: document.querySelectorAll('#chart polygon.band').length, \
              model: document.getElementById('chart-model').textContent, \
              selected: document.querySelectorAll('line.link.selected').length})",
        )
        .await
        .expect("eval");
    assert!(
        chart["actual"].as_u64().is_some_and(|n| n >= 55),
        "actuals plotted: {chart}"
    );
    assert!(
        chart["forecast"].as_u64().is_some_and(|n| n >= 1),
        "{chart}"
    );
    assert!(chart["band"].as_u64().is_some_and(|n| n >= 1), "{chart}");
    assert!(
        chart["model"]
            .as_str()
            .is_some_and(|m| m.starts_with("model auto")),
        "{chart}"
    );
    assert_eq!(chart["selected"], 1, "{chart}");
    page.wait_for(
        "document.querySelectorAll('#chart rect.event[data-event=\"pulse\"]').length === 3 && \
         [...document.querySelectorAll('#calendar tbody td')] \
           .some((td) => td.textContent.includes('(every 5 s, last 1970-01-01 00:00)'))",
        wait,
    )
    .await
    .expect("the repeating event's three occurrences shaded, and its last start listed");
    // A reservation made elsewhere reaches the page through the event stream alone.
    let body = json!({"src": H2, "dst": H1, "rate_bps": 50_000_000u64}).to_string();
    assert_eq!(
        post(&f, "/api/v1/reservations", &body).await.status,
        StatusCode::CREATED
    );
    page.wait_for(
        "document.querySelectorAll('#reservations tbody tr').length === 2 && \
         document.getElementById('decisions').textContent.includes('reservation_admitted')",
        wait,
    )
    .await
    .expect("live update from the event stream");
    // The southbound panel reads /metrics: rates by type, devices and writes by protocol.
    page.wait_for(
        "document.getElementById('messages').textContent.includes('packet_in') && \
         document.getElementById('writes').textContent.includes('openflow')",
        wait,
    )
    .await
    .expect("southbound panel");

    let shot = artefact_dir().join("dashboard.png");
    let size = page.screenshot(&shot).await.expect("screenshot");
    println!("dashboard screenshot: {}", shot.display());
    let png = std::fs::read(&shot).expect("saved");
    assert_eq!(png.len(), size);
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert!((1200..=1280).contains(&width), "IHDR width {width}");
    assert!(height >= 800, "the whole page, {height} px high");
    // A blank page compresses to a few kB; drawn graphs, charts and tables do not.
    assert!(
        size > 40_000,
        "{size} bytes is too small for the drawn dashboard"
    );
    browser.close().await;
    stop.cancel();
}

/// With `protect_reads`, the page asks for the token on the first 401, refuses a wrong one,
/// keeps the right one in sessionStorage and opens the event stream with `access_token`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_asks_for_the_token_when_reads_are_protected() {
    if !Path::new(cdp::CHROMIUM).exists() {
        eprintln!("SKIPPED: {} is not installed", cdp::CHROMIUM);
        return;
    }
    let f = fixture(5);
    let state = ApiState::new(
        Arc::clone(&f.core),
        ApiConfig {
            token: Some(TOKEN.into()),
            protect_reads: true,
        },
    );
    let (addr, stop) = serve(state).await;
    let mut browser = cdp::Browser::launch(1280, 900).await.expect("chromium");
    let page = browser.page();
    page.call("Page.navigate", json!({"url": format!("http://{addr}/")}))
        .await
        .expect("navigate");
    let wait = Duration::from_secs(20);
    page.wait_for("!document.getElementById('login').hidden", wait)
        .await
        .expect("asked for a token");
    assert_eq!(
        page.eval("document.querySelectorAll('line.link').length")
            .await
            .expect("eval"),
        0,
        "nothing drawn without the token"
    );
    for (typed, then) in [
        (
            "guess",
            "!document.getElementById('login').hidden && \
             document.getElementById('login-why').textContent.includes('refused')",
        ),
        (
            TOKEN,
            "document.querySelectorAll('line.link').length === 8 && \
             document.getElementById('login').hidden && \
             document.getElementById('status').textContent === 'live'",
        ),
    ] {
        let (x, y) = centre(page, "#token").await;
        page.click(x, y).await.expect("focus");
        page.call("Input.insertText", json!({"text": typed}))
            .await
            .expect("type");
        let (x, y) = centre(page, "#login button").await;
        page.click(x, y).await.expect("submit");
        page.wait_for(then, wait).await.expect(typed);
    }
    assert_eq!(
        page.eval("sessionStorage.getItem('prescient-token')")
            .await
            .expect("eval"),
        TOKEN
    );
    browser.close().await;
    stop.cancel();
}
