//! The demo's own dashboard in headless Chromium: `prescient demo` runs (emulated Abilene,
//! OpenFlow and P4Runtime mixed), the page must draw as many switches and links as the API
//! serves, a click on a link that has a forecast must bring up its chart with data, the event
//! stream must connect, a scheduled event on the charted link must shade the time it covers
//! on the chart, and the page is saved as `demo-dashboard.png` among the test artefacts.
//! Skipped, saying so, where Chromium is not installed.

#![allow(clippy::unwrap_used)]

mod cdp;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use prescient::cmd::demo::{run_report, Args};
use prescient_tests::artefact_dir;
use prescient_tests::http::{free_addr, get_blocking};
use serde_json::{json, Value};

/// The JSON body of `GET path`, or `None` when the server is not answering yet.
fn get_json(addr: SocketAddr, path: &str) -> Option<Value> {
    let (_, body) = get_blocking(addr, path, Duration::from_secs(60))?;
    serde_json::from_str(&body).ok()
}

/// `POST path` with a JSON body and the demo's token; the status code.
fn post_json(addr: SocketAddr, path: &str, body: &Value) -> Option<u16> {
    use std::io::{Read, Write};
    // The demo's token: PRESCIENT_API_TOKEN, else one derived from this process's id.
    let token = std::env::var("PRESCIENT_API_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("demo-{:x}", std::process::id()));
    let body = body.to_string();
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Finds a link with a forecast halo and a point on it that a click really lands on (another
/// link may cross its middle); returns `{id, x, y}` in page coordinates, or null.
const PICK_LINK: &str = r#"(() => {
  for (const halo of document.querySelectorAll('#graph line.halo')) {
    const line = halo.nextElementSibling;
    if (!line || !line.classList.contains('link')) continue;
    const m = line.getScreenCTM();
    const a = new DOMPoint(+line.getAttribute('x1'), +line.getAttribute('y1')).matrixTransform(m);
    const b = new DOMPoint(+line.getAttribute('x2'), +line.getAttribute('y2')).matrixTransform(m);
    for (const t of [0.5, 0.4, 0.6, 0.3, 0.7, 0.35, 0.65]) {
      const x = a.x + t * (b.x - a.x), y = a.y + t * (b.y - a.y);
      if (document.elementFromPoint(x, y) === line) return { id: line.dataset.link, x, y };
    }
  }
  return null;
})()"#;

/// Every switch, host and label of the graph, with those whose box on screen is not inside the
/// drawing's (cut at its edge).
const OUTSIDE: &str = r#"(() => {
  const svg = document.getElementById('graph'), box = svg.getBoundingClientRect();
  const drawn = [...svg.querySelectorAll('circle, text')], outside = [];
  for (const e of drawn) {
    const r = e.getBoundingClientRect();
    if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5)
      outside.push(`${e.tagName} ${e.textContent || e.getAttribute('class')}`);
  }
  return { drawn: drawn.length, outside, width: box.width };
})()"#;

/// A link id (`of:…:2,of:…:1`) by its switches' names as the API serves them: `ATLAng:2 → ATLAM5:1`.
fn link_name(id: &str, devices: &Value) -> String {
    id.split(',')
        .map(|port| {
            let (device, no) = port.rsplit_once(':').unwrap();
            let name = devices
                .as_array()
                .and_then(|ds| ds.iter().find(|d| d["id"] == device))
                .and_then(|d| d["name"].as_str())
                .unwrap_or_else(|| panic!("{device} has no name: {devices}"));
            format!("{name}:{no}")
        })
        .collect::<Vec<_>>()
        .join(" → ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_dashboard_in_headless_chromium() {
    if !Path::new(cdp::CHROMIUM).exists() {
        eprintln!("SKIPPED: {} is not installed", cdp::CHROMIUM);
        return;
    }
    let http = free_addr();
    let args = Args {
        seconds: Some(30),
        interval: 1,
        http,
        openflow: "127.0.0.1:0".parse().unwrap(),
        ..Args::default()
    };
    let demo = std::thread::spawn(move || run_report(args));

    // The whole fabric discovered, and some link forecasting, as the API tells it.
    let started = Instant::now();
    let (devices, links) = loop {
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "the demo never served its whole topology"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (Some(d), Some(l)) = (
            get_json(http, "/api/v1/devices"),
            get_json(http, "/api/v1/links"),
        ) else {
            continue;
        };
        let up = d
            .as_array()
            .map_or(0, |d| d.iter().filter(|d| d["up"] == true).count());
        let links = l.as_array().cloned().unwrap_or_default();
        let forecasting = links.iter().any(|l| l["forecast"].is_object());
        if up == 12 && links.len() == 30 && forecasting {
            break (up, links.len());
        }
    };

    let mut browser = cdp::Browser::launch(1280, 1600).await.expect("chromium");
    let page = browser.page();
    page.call("Page.navigate", json!({"url": format!("http://{http}/")}))
        .await
        .expect("navigate");
    let wait = Duration::from_secs(20);
    page.wait_for(
        &format!(
            "document.querySelectorAll('#graph line.link').length === {links} && \
             document.querySelectorAll('#graph circle.node').length === {devices}"
        ),
        wait,
    )
    .await
    .expect("the API's switches and links drawn");
    // Hosts drawn match the hosts the page itself counted from the API.
    let hosts = page
        .eval(
            "[document.querySelectorAll('#graph circle.host').length, \
              document.getElementById('summary').textContent]",
        )
        .await
        .expect("eval");
    let summary = hosts[1].as_str().unwrap_or_default().to_string();
    assert!(
        summary.contains(&format!("{} hosts", hosts[0])),
        "{hosts} vs {summary}"
    );
    assert!(summary.starts_with("12 devices · 30 links"), "{summary}");
    page.wait_for(
        "document.getElementById('status').textContent === 'live'",
        wait,
    )
    .await
    .expect("event stream connected");
    // The demo's services draw from tenant pools: the pools table lists them.
    page.wait_for(
        "document.querySelectorAll('#pools tbody tr').length >= 1 && \
         /\\/\\d+$/.test(document.querySelector('#pools tbody tr td:nth-child(2)').textContent)",
        wait,
    )
    .await
    .expect("the tenant pools listed");
    // And their tenants, each with its service.
    page.wait_for(
        "document.querySelectorAll('#tenants tbody tr').length === 3 && \
         [...document.querySelectorAll('#tenants tbody tr')] \
           .every((tr) => tr.children[2].textContent.length > 1)",
        wait,
    )
    .await
    .expect("the tenants listed");

    // Nothing drawn is cut at the drawing's edge, wide or narrow.
    for (width, height) in [(1280, 1600), (420, 900)] {
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await
        .expect("resize");
        let fit = page.eval(OUTSIDE).await.expect("eval");
        assert!(
            fit["drawn"].as_u64().unwrap_or(0) >= 2 * devices as u64,
            "switches and labels drawn at {width} px: {fit}"
        );
        assert_eq!(
            fit["outside"].as_array().map(Vec::len),
            Some(0),
            "drawn outside the graph at {width} px: {fit}"
        );
    }
    page.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1280, "height": 1600, "deviceScaleFactor": 1, "mobile": false}),
    )
    .await
    .expect("resize");

    let pick = page.eval(PICK_LINK).await.expect("eval");
    let id = pick["id"]
        .as_str()
        .expect("a clickable forecast link")
        .to_string();
    page.click(pick["x"].as_f64().unwrap(), pick["y"].as_f64().unwrap())
        .await
        .expect("click");
    // The chart, titled with the link's switch names, redraws as the event stream ticks:
    // actuals accumulate under the forecast.
    let named = link_name(&id, &get_json(http, "/api/v1/devices").unwrap());
    page.wait_for(
        &format!(
            "document.getElementById('chart-title').textContent === {named:?} && \
             document.querySelector('#chart path.fcline') !== null && \
             (document.querySelector('#chart path.actual')?.getAttribute('d') ?? '') \
               .split(/[ML]/).length - 1 >= 3"
        ),
        wait,
    )
    .await
    .expect("the clicked link's chart: actuals and forecast");
    // A scheduled event on this link from its next forecast step on: shaded on its chart
    // (and listed with its scope).
    let chart = get_json(http, &format!("/api/v1/forecasts/links/{id}")).expect("its forecast");
    let next = chart["forecast"][0]["at_ns"]
        .as_u64()
        .expect("a forecast step")
        / 1_000_000_000;
    let event = json!({"name": "spring-sale", "start_secs": next, "end_secs": next + 86_400,
        "multiplier": 2.0, "scope": {"kind": "link", "link": id}});
    assert_eq!(post_json(http, "/api/v1/calendar", &event), Some(201));
    page.wait_for(
        "(() => { const r = document.querySelector('#chart rect.event[data-event=\"spring-sale\"]'); \
           return r !== null && +r.getAttribute('width') > 1; })() && \
         [...document.querySelectorAll('#calendar tbody td')].some((td) => td.textContent.startsWith('link '))",
        wait,
    )
    .await
    .expect("the scheduled event shaded on the link's chart");
    let shown = page
        .eval("document.getElementById('chart-model').textContent")
        .await
        .expect("eval");
    assert!(
        shown.as_str().is_some_and(|m| m.starts_with("model ")),
        "{shown}"
    );

    let shot = artefact_dir().join("demo-dashboard.png");
    let size = page.screenshot(&shot).await.expect("screenshot");
    println!("demo dashboard screenshot: {}", shot.display());
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() == size);
    assert!(
        size > 40_000,
        "{size} bytes is too small for the drawn dashboard"
    );
    browser.close().await;

    let report = tokio::task::spawn_blocking(move || demo.join())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(report.devices_up, 12, "{report:?}");
}
