//! Scheduled events: a service with an event tomorrow 18:00–20:00 ×3 gets its scale-up hook
//! before the event starts, by the configured lead time (not earlier), and the decision names
//! the event; without the event, the same traffic asks for nothing. A pair-scoped x3 raises
//! that pair's forecast and forecast reservation ahead of and during the event, not another
//! pair's, and the decisions name it; one on a pair sending to a service scales the service up
//! within the horizon, naming it. A daily event stops after its `until_secs`. Plus the
//! calendar's REST surface (list, bad input, delete), and the retention: an event over for
//! longer than `calendar_retention` is pruned by the tick.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use prescient::core::{CoreConfig, SeriesKey, SharedCore};
use prescient::northbound::{ApiConfig, ApiState};
use prescient::services::HookKind;
use prescient_tests::rest::{at, port, request, send};
use prescient_topology::{DeviceId, FlowKey, MacAddr, Timestamp};
use serde_json::{json, Value};

const TOKEN: &str = "cal-token";
const H1: MacAddr = MacAddr([0, 0, 0, 0, 0, 1]);
const B1: MacAddr = MacAddr([0, 0, 0, 0, 1, 1]);
const DAY: u64 = 86_400;
/// Some day at 00:00 UTC.
const TODAY: u64 = 20_000 * DAY;
/// Tomorrow 18:00.
const EVENT_START: u64 = TODAY + DAY + 18 * 3600;
const LEAD: u64 = 1800;

struct Fixture {
    core: Arc<SharedCore>,
    clock: Arc<AtomicU64>,
    state: ApiState,
}

fn refresh(c: &mut prescient::core::ControllerCore, now: Timestamp) {
    c.lldp_received(now, at(2, 1), at(1, 1)).expect("s1->s2");
    c.lldp_received(now, at(1, 1), at(2, 1)).expect("s2->s1");
}

/// s1 -1- s2; client h1 on s1:10, instance b1 on s2:10; the clock at `now` seconds.
fn fixture(now: u64) -> Fixture {
    fixture_with(now, CoreConfig::default())
}

/// [`fixture`] on `config` (its calendar lead set to [`LEAD`]).
fn fixture_with(now: u64, mut config: CoreConfig) -> Fixture {
    let clock = Arc::new(AtomicU64::new(Timestamp::from_secs(now).nanos()));
    let c2 = Arc::clone(&clock);
    config.planning.calendar_lead = std::time::Duration::from_secs(LEAD);
    let core = SharedCore::with_clock(
        config,
        Arc::new(move || Timestamp(c2.load(Ordering::SeqCst))),
    );
    let t0 = Timestamp::from_secs(now);
    core.apply(|c| {
        for d in 1..=2 {
            c.device_up(t0, DeviceId::openflow(d), vec![port(1), port(10), port(11)]);
        }
        refresh(c, t0);
        c.host_seen(t0, H1, Some(Ipv4Addr::new(10, 0, 0, 1)), at(1, 10))
            .expect("h1");
        c.host_seen(t0, B1, Some(Ipv4Addr::new(10, 1, 0, 1)), at(2, 10))
            .expect("b1");
    });
    let state = ApiState::new(
        Arc::clone(&core),
        ApiConfig {
            token: Some(TOKEN.to_string()),
            protect_reads: false,
        },
    );
    Fixture { core, clock, state }
}

async fn call(f: &Fixture, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let body = body.map(|b| b.to_string());
    let r = send(&f.state, request(method, uri, body.as_deref(), Some(TOKEN))).await;
    (r.status, r.body)
}

/// Ticks from `from` to `to` (seconds) with 30 Mb/s from h1 to b1 (under a third of the one
/// instance's capacity: no scale-up on its own); the first second a scale-up hook was queued.
fn drive(f: &Fixture, from: u64, to: u64, bytes: &mut u64) -> Option<(u64, String)> {
    let mut first = None;
    for s in from..to {
        let now = Timestamp::from_secs(s);
        f.clock.store(now.nanos(), Ordering::SeqCst);
        *bytes += 30_000_000 / 8;
        let b = *bytes;
        f.core.apply(|c| {
            refresh(c, now);
            let key = FlowKey {
                device: DeviceId::openflow(1),
                cookie: 9,
            };
            c.flow_counters(now, key, Some((H1, B1)), b, b / 1000);
            c.tick(now);
        });
        if first.is_none() {
            first = f.core.read(|c| {
                c.services()
                    .pending_hooks()
                    .find(|h| h.action == HookKind::ScaleUp)
                    .map(|h| (s, h.reason.clone()))
            });
        }
    }
    first
}

/// The spring sale: tomorrow 18:00–20:00, x3 on web.
fn spring_sale() -> Value {
    json!({"name": "spring-sale", "start_secs": EVENT_START, "end_secs": EVENT_START + 2 * 3600,
        "multiplier": 3.0, "scope": {"kind": "service", "service": "web"}})
}

async fn scenario(event: Option<Value>) -> Option<(u64, String)> {
    // The event is posted the day before, at 20:00.
    let f = fixture(TODAY + 20 * 3600);
    let web = json!({"name": "web", "tenant": "red", "vip": "192.0.2.10", "pool": "10.1.0.0/29",
        "instance_capacity_bps": 100_000_000u64, "max_instances": 4,
        "backends": [{"ip": "10.1.0.1", "mac": "00:00:00:00:01:01"}]});
    let (status, body) = call(&f, Method::POST, "/api/v1/services", Some(web)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    if let Some(event) = event {
        let (status, body) = call(&f, Method::POST, "/api/v1/calendar", Some(event)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // Traffic from 17:28:00 tomorrow (warm by 17:29), through 17:31.
    let mut bytes = 0;
    drive(
        &f,
        EVENT_START - LEAD - 120,
        EVENT_START - LEAD + 60,
        &mut bytes,
    )
}

#[tokio::test]
async fn a_service_scales_up_ahead_of_its_event_by_the_lead_time_and_not_without_it() {
    let (at, reason) = scenario(Some(spring_sale()))
        .await
        .expect("a scale-up hook before the event");
    assert!(
        (EVENT_START - LEAD..EVENT_START).contains(&at),
        "asked at {at}, the event starts at {EVENT_START} with a lead of {LEAD} s: {reason}"
    );
    assert!(
        reason.contains("scaled up ahead of event `spring-sale`"),
        "{reason}"
    );
    assert_eq!(
        scenario(None).await,
        None,
        "the same traffic without the event asks nothing"
    );
}

/// The same sale repeating daily from a week before: with its last start (`until_secs`) today
/// it asks nothing tomorrow; with its last start tomorrow it scales up ahead of it.
#[tokio::test]
async fn a_daily_event_stops_after_its_until() {
    let daily = |until: u64| {
        let mut e = spring_sale();
        e["start_secs"] = json!(EVENT_START - 7 * DAY);
        e["end_secs"] = json!(EVENT_START - 7 * DAY + 2 * 3600);
        e["every_secs"] = json!(DAY);
        e["until_secs"] = json!(until);
        e
    };
    assert_eq!(
        scenario(Some(daily(EVENT_START - DAY))).await,
        None,
        "today's was the last occurrence"
    );
    let (at, reason) = scenario(Some(daily(EVENT_START)))
        .await
        .expect("tomorrow's is the last occurrence, and it counts");
    assert!(
        (EVENT_START - LEAD..EVENT_START).contains(&at),
        "{at}: {reason}"
    );
    assert!(
        reason.contains(&format!("`spring-sale` (starting at {EVENT_START} s)")),
        "{reason}"
    );
}

#[tokio::test]
async fn the_calendar_lists_refuses_bad_events_and_deletes() {
    let f = fixture(TODAY);
    let (status, body) = call(
        &f,
        Method::POST,
        "/api/v1/calendar",
        Some(json!({"name": "x", "start_secs": 10, "end_secs": 5, "multiplier": 2.0})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "end_secs", "{body}");
    let (status, body) = call(&f, Method::POST, "/api/v1/calendar",
        Some(json!({"name": "x", "start_secs": 1, "end_secs": 5, "multiplier": 2.0, "absolute_bps": 5}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = call(
        &f,
        Method::POST,
        "/api/v1/calendar",
        Some(
            json!({"name": "x", "start_secs": 1, "end_secs": 5, "multiplier": 2.0,
            "scope": {"kind": "service", "service": "nope"}}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "scope.service", "{body}");
    for (event, why) in [
        (
            json!({"name": "x", "start_secs": 100, "end_secs": 200, "until_secs": 5000,
                "multiplier": 2.0}),
            "only for an event that repeats",
        ),
        (
            json!({"name": "x", "start_secs": 100, "end_secs": 200, "every_secs": DAY,
                "until_secs": 99, "multiplier": 2.0}),
            "at or after start_secs (100)",
        ),
    ] {
        let (status, body) = call(&f, Method::POST, "/api/v1/calendar", Some(event)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], "until_secs", "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{message}");
    }
    let (status, body) = call(
        &f,
        Method::POST,
        "/api/v1/calendar",
        Some(
            json!({"name": "backup", "start_secs": 3600, "end_secs": 7200, "every_secs": DAY,
            "until_secs": 3600 + 30 * DAY, "absolute_bps": 1_000_000u64}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["scope"], json!({"kind": "all"}));
    let id = body["id"].as_u64().expect("id");
    let (_, list) = call(&f, Method::GET, "/api/v1/calendar", None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["effect"], json!({"absolute_bps": 1_000_000u64}));
    assert_eq!(list[0]["until_secs"], 3600 + 30 * DAY);
    let (status, _) = call(&f, Method::DELETE, &format!("/api/v1/calendar/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&f, Method::DELETE, &format!("/api/v1/calendar/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// One tick at `at` seconds, the clock (what the API reads) set there first.
fn tick_at(f: &Fixture, at: u64) {
    let now = Timestamp::from_secs(at);
    f.clock.store(now.nanos(), Ordering::SeqCst);
    f.core.apply(|c| c.tick(now));
}

/// The calendar's names, as listed.
async fn listed(f: &Fixture) -> Vec<String> {
    let (status, list) = call(f, Method::GET, "/api/v1/calendar", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let names = list.as_array().expect("a list").iter();
    names
        .map(|e| e["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// `prescient_calendar_events` as `/metrics` has it.
async fn events_gauge(f: &Fixture) -> String {
    let r = send(&f.state, request(Method::GET, "/metrics", None, None)).await;
    let line = r
        .text
        .lines()
        .find(|l| l.starts_with("prescient_calendar_events "));
    line.unwrap_or("prescient_calendar_events missing")
        .to_string()
}

/// An hour's retention: a batch window an hour over is still listed, a second later (at the
/// next tick) it is gone from the listing, the metric and DELETE's reach, the decision log
/// says which and why, and its id is not handed out again; a nightly event with no end stays.
#[tokio::test]
async fn an_event_over_for_the_retention_is_pruned_by_the_tick_and_one_without_end_stays() {
    let mut config = CoreConfig::default();
    config.planning.calendar_retention = std::time::Duration::from_secs(3600);
    let f = fixture_with(TODAY, config);
    let (end, nightly_start) = (TODAY + 120, TODAY - 30 * DAY + 2 * 3600);
    let mut ids = Vec::new();
    for event in [
        json!({"name": "batch", "start_secs": TODAY + 60, "end_secs": end, "multiplier": 2.0}),
        json!({"name": "nightly", "start_secs": nightly_start, "end_secs": nightly_start + 3600,
            "every_secs": DAY, "absolute_bps": 1_000_000u64}),
    ] {
        let (status, body) = call(&f, Method::POST, "/api/v1/calendar", Some(event)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["id"].as_u64().expect("id"));
    }
    tick_at(&f, end + 3599);
    assert_eq!(listed(&f).await, ["batch", "nightly"]);
    assert_eq!(events_gauge(&f).await, "prescient_calendar_events 2");
    tick_at(&f, end + 3600);
    assert_eq!(listed(&f).await, ["nightly"]);
    assert_eq!(events_gauge(&f).await, "prescient_calendar_events 1");
    let (status, body) = call(
        &f,
        Method::DELETE,
        &format!("/api/v1/calendar/{}", ids[0]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, decisions) = call(&f, Method::GET, "/api/v1/decisions", None).await;
    let pruned: Vec<&Value> = decisions
        .as_array()
        .expect("list")
        .iter()
        .filter(|d| d["rule"] == "calendar_event_pruned")
        .collect();
    assert_eq!(pruned.len(), 1, "{decisions}");
    assert_eq!(pruned[0]["subject"], format!("calendar/{}", ids[0]));
    let why = pruned[0]["reason"].as_str().unwrap_or_default();
    assert!(
        why.contains("event `batch` is over") && why.contains(&format!("ended at {end} s")),
        "{why}"
    );
    // A year on, the nightly one (no `until_secs`) is still there.
    tick_at(&f, end + 365 * DAY);
    assert_eq!(listed(&f).await, ["nightly"]);
    let later = json!({"name": "batch", "start_secs": end + 365 * DAY + 60,
        "end_secs": end + 365 * DAY + 120, "multiplier": 2.0});
    let (status, body) = call(&f, Method::POST, "/api/v1/calendar", Some(later)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        body["id"].as_u64().expect("id") > ids[1],
        "{body} reuses an id"
    );
}

/// Ticks from `from` to `to` (seconds) with h1 -> b1 at `forward(s)` bit/s and b1 -> h1 at
/// 10 Mb/s (two pair series, each with its own forecast reservation).
fn drive_pairs(
    f: &Fixture,
    from: u64,
    to: u64,
    bytes: &mut [u64; 2],
    forward: impl Fn(u64) -> u64,
) {
    for s in from..to {
        let now = Timestamp::from_secs(s);
        f.clock.store(now.nanos(), Ordering::SeqCst);
        bytes[0] += forward(s) / 8;
        bytes[1] += 10_000_000 / 8;
        let b = *bytes;
        f.core.apply(|c| {
            refresh(c, now);
            let key = |cookie| FlowKey {
                device: DeviceId::openflow(1),
                cookie,
            };
            c.flow_counters(now, key(9), Some((H1, B1)), b[0], b[0] / 1000);
            c.flow_counters(now, key(10), Some((B1, H1)), b[1], b[1] / 1000);
            c.tick(now);
        });
    }
}

/// The forecast of the pair at the instant `at` seconds (the step covering it), bits/s.
fn forecast_at(f: &Fixture, src: MacAddr, dst: MacAddr, at: u64) -> f64 {
    f.core
        .read(|c| {
            c.series(&SeriesKey::Pair(src, dst)).and_then(|s| {
                s.forecast()
                    .iter()
                    .find(|p| p.at == Timestamp::from_secs(at))
                    .map(|p| p.value)
            })
        })
        .unwrap_or_else(|| panic!("no forecast step at {at} for {src} -> {dst}"))
}

/// The rate of the pair's forecast reservation, bits/s.
fn reserved(f: &Fixture, src: MacAddr, dst: MacAddr) -> u64 {
    f.core
        .read(|c| {
            c.forecast_reservations()
                .find(|(p, _)| *p == (src, dst))
                .and_then(|(_, id)| c.ledger().get(id).map(|r| r.request.rate_bps))
        })
        .unwrap_or_else(|| panic!("no forecast reservation for {src} -> {dst}"))
}

#[tokio::test]
async fn a_pair_scoped_event_raises_that_pairs_forecast_and_reservation_and_no_other() {
    let t0 = TODAY + 12 * 3600;
    let f = fixture(t0);
    // Given by the hosts' IPv4 addresses; kept as their MACs.
    let event = json!({"name": "spring-sale", "start_secs": t0 + 100, "end_secs": t0 + 200,
        "multiplier": 3.0, "scope": {"kind": "pair", "src": "10.0.0.1", "dst": "10.1.0.1"}});
    let (status, body) = call(&f, Method::POST, "/api/v1/calendar", Some(event)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["scope"],
        json!({"kind": "pair", "src": H1.to_string(), "dst": B1.to_string()})
    );
    let mut bytes = [0; 2];
    let level = 30_000_000;
    // Warm, the event 40 s away (beyond the 12 s horizon): both pairs at their level.
    drive_pairs(&f, t0, t0 + 60, &mut bytes, |_| level);
    let before = (reserved(&f, H1, B1), reserved(&f, B1, H1));
    let near = |x: f64, want: f64| (x - want).abs() <= 0.1 * want;
    assert!(near(forecast_at(&f, H1, B1, t0 + 70), 30e6));
    assert!(near(forecast_at(&f, B1, H1, t0 + 70), 10e6));
    // The event within the horizon: h1 -> b1 is forecast x3 from its start, and its
    // reservation (sized on the forecast's planning bound) triples ahead of it; b1 -> h1 is
    // forecast and reserved as before.
    drive_pairs(&f, t0 + 60, t0 + 95, &mut bytes, |_| level);
    assert!(near(forecast_at(&f, H1, B1, t0 + 99), 30e6));
    assert!(near(forecast_at(&f, H1, B1, t0 + 100), 90e6));
    assert!(near(forecast_at(&f, B1, H1, t0 + 100), 10e6));
    // The forecasts say which events they take.
    let (_, fc) = call(
        &f,
        Method::GET,
        &format!("/api/v1/forecasts/pairs/{H1}/{B1}"),
        None,
    )
    .await;
    assert_eq!(fc["events"], json!(["spring-sale"]), "{fc}");
    let (_, fc) = call(
        &f,
        Method::GET,
        &format!("/api/v1/forecasts/pairs/{B1}/{H1}"),
        None,
    )
    .await;
    assert_eq!(fc["events"], json!([]), "{fc}");
    let ahead = (reserved(&f, H1, B1), reserved(&f, B1, H1));
    assert!(
        near(ahead.0 as f64, 3.0 * before.0 as f64),
        "{before:?} -> {ahead:?}"
    );
    assert!(
        near(ahead.1 as f64, before.1 as f64),
        "{before:?} -> {ahead:?}"
    );
    let (_, decisions) = call(&f, Method::GET, "/api/v1/decisions", None).await;
    let named = decisions.as_array().expect("list").iter().any(|d| {
        d["rule"] == "forecast_resized"
            && d["reason"]
                .as_str()
                .is_some_and(|r| r.contains("resized ahead of event `spring-sale`"))
    });
    assert!(named, "{decisions}");
    // During the event the pair carries it: the forecast stays x3 to its end (the model learns
    // the usual level, the calendar multiplies it), then falls back.
    drive_pairs(&f, t0 + 95, t0 + 195, &mut bytes, |s| {
        if (t0 + 100..t0 + 200).contains(&s) {
            3 * level
        } else {
            level
        }
    });
    assert!(near(forecast_at(&f, H1, B1, t0 + 199), 90e6));
    assert!(near(forecast_at(&f, H1, B1, t0 + 200), 30e6));
    assert!(near(forecast_at(&f, B1, H1, t0 + 199), 10e6));
    let during = (reserved(&f, H1, B1), reserved(&f, B1, H1));
    assert!(
        during.0 as f64 >= 2.5 * before.0 as f64,
        "{before:?} -> {during:?}"
    );
    assert!(
        near(during.1 as f64, before.1 as f64),
        "{before:?} -> {during:?}"
    );
}

#[tokio::test]
async fn an_event_on_a_pair_sending_to_a_service_scales_it_up_within_the_horizon() {
    let t0 = TODAY + 6 * 3600;
    let f = fixture(t0);
    let web = json!({"name": "web", "tenant": "red", "vip": "192.0.2.10", "pool": "10.1.0.0/29",
        "instance_capacity_bps": 100_000_000u64, "max_instances": 4,
        "backends": [{"ip": "10.1.0.1", "mac": "00:00:00:00:01:01"}]});
    let (status, body) = call(&f, Method::POST, "/api/v1/services", Some(web)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let start = t0 + 100;
    let event = json!({"name": "spring-sale", "start_secs": start, "end_secs": start + 3600,
        "multiplier": 3.0,
        "scope": {"kind": "pair", "src": H1.to_string(), "dst": "00:00:00:00:01:01"}});
    let (status, body) = call(&f, Method::POST, "/api/v1/calendar", Some(event)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The pair's forecast carries the event once it is within the 12-step horizon: the
    // service's demand (its senders' forecasts) with it, and the decision names it.
    let mut bytes = 0;
    let (at, reason) = drive(&f, t0, start, &mut bytes).expect("a scale-up before the event");
    assert!(
        (start - 13..start).contains(&at),
        "asked at {at}, the event starts at {start}: {reason}"
    );
    assert!(
        reason.contains("scaled up ahead of event `spring-sale`"),
        "{reason}"
    );
}
