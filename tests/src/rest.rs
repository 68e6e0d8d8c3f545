//! The northbound REST API in process: a core fed a small topology through its entry points
//! (four switches in a square, two hosts, traffic from h1 to h2), and calls to its axum router
//! with `tower::ServiceExt::oneshot` (or over real TCP with [`serve`]).

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::response::Response;
use prescient::core::{CoreConfig, SharedCore};
use prescient::northbound::{router, ApiConfig, ApiState};
use prescient_topology::{
    DeviceId, FlowKey, MacAddr, Port, PortCounters, PortNo, PortRef, Timestamp,
};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The API token of the fixture.
pub const TOKEN: &str = "s3cret-token";

/// Capacity of every link of the fixture.
pub const GBPS: u64 = 1_000_000_000;

/// h1, on s1.
pub const H1: &str = "00:00:00:00:00:01";

/// h2, on s4.
pub const H2: &str = "00:00:00:00:00:02";

/// s1 -> s2 over s1:1.
pub const HOT_LINK: &str = "of:0000000000000001:1,of:0000000000000002:1";

/// Port `no` of a switch: up, named `p<no>`, 1 Gb/s.
pub fn port(no: u32) -> Port {
    Port {
        no: PortNo(no),
        name: format!("p{no}"),
        mac: MacAddr([2, 0, 0, 0, 0, no as u8]),
        up: true,
        reported_speed_bps: Some(GBPS),
    }
}

/// Port `p` of OpenFlow switch `d`.
pub fn at(d: u64, p: u32) -> PortRef {
    PortRef::new(DeviceId::openflow(d), PortNo(p))
}

/// LLDP over every cable (links not refreshed within the timeout expire).
fn refresh_links(c: &mut prescient::core::ControllerCore, now: Timestamp) {
    for (a, b) in [
        (at(1, 1), at(2, 1)),
        (at(1, 2), at(3, 1)),
        (at(2, 2), at(4, 1)),
        (at(3, 2), at(4, 2)),
    ] {
        c.lldp_received(now, b, a).expect("a->b");
        c.lldp_received(now, a, b).expect("b->a");
    }
}

/// The square fabric behind a router: see [`fixture`].
pub struct Fixture {
    /// The core, fed through its entry points.
    pub core: Arc<SharedCore>,
    /// The core's clock, nanoseconds since the epoch.
    pub clock: Arc<AtomicU64>,
    /// The API state the router serves.
    pub state: ApiState,
}

/// Four switches in a square (s1-s2-s4, s1-s3-s4), h1 on s1, h2 on s4, 1 Gb/s links, and
/// `ticks` seconds of ~300 Mb/s from h1 to h2 over s1->s2.
pub fn fixture(ticks: u64) -> Fixture {
    let clock = Arc::new(AtomicU64::new(Timestamp::from_secs(1).nanos()));
    let c2 = Arc::clone(&clock);
    let core = SharedCore::with_clock(
        CoreConfig::default(),
        Arc::new(move || Timestamp(c2.load(Ordering::SeqCst))),
    );
    let t0 = Timestamp::from_secs(1);
    core.apply(|c| {
        for d in 1..=4 {
            c.device_up(t0, DeviceId::openflow(d), vec![port(1), port(2), port(10)]);
        }
        refresh_links(c, t0);
        c.host_seen(
            t0,
            MacAddr([0, 0, 0, 0, 0, 1]),
            Some(Ipv4Addr::new(10, 0, 0, 1)),
            at(1, 10),
        )
        .expect("h1");
        c.host_seen(
            t0,
            MacAddr([0, 0, 0, 0, 0, 2]),
            Some(Ipv4Addr::new(10, 0, 0, 2)),
            at(4, 10),
        )
        .expect("h2");
    });
    let mut bytes = 0u64;
    for s in 2..2 + ticks {
        let now = Timestamp::from_secs(s);
        bytes += (3e8 / 8.0) as u64 + (s % 3) * 100_000;
        core.apply(|c| {
            refresh_links(c, now);
            let counters = PortCounters {
                tx_bytes: bytes,
                tx_packets: bytes / 1000,
                ..PortCounters::default()
            };
            c.port_counters(now, at(1, 1), counters);
            c.flow_counters(
                now,
                FlowKey {
                    device: DeviceId::openflow(1),
                    cookie: 7,
                },
                Some((MacAddr([0, 0, 0, 0, 0, 1]), MacAddr([0, 0, 0, 0, 0, 2]))),
                bytes,
                bytes / 1000,
            );
            c.tick(now);
        });
        clock.store(now.nanos(), Ordering::SeqCst);
    }
    core.metrics().count_messages("packet_in", 3);
    let state = ApiState::new(
        Arc::clone(&core),
        ApiConfig {
            token: Some(TOKEN.to_string()),
            protect_reads: false,
        },
    );
    Fixture { core, clock, state }
}

/// What the router answered.
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// JSON body (`Null` when not JSON).
    pub body: Value,
    /// Body as text.
    pub text: String,
    /// Headers.
    pub headers: axum::http::HeaderMap,
}

impl Reply {
    /// A header's value as text, when present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A request to the router: a JSON `body` (with its content type) and a bearer `token` when given.
pub fn request(
    method: Method,
    uri: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    req.body(
        body.map(|b| Body::from(b.to_string()))
            .unwrap_or_else(Body::empty),
    )
    .expect("request")
}

/// The router of `state`, in process, answering `req`.
pub async fn respond(state: &ApiState, req: Request<Body>) -> Response {
    router(state.clone())
        .oneshot(req)
        .await
        .expect("infallible")
}

/// The router of `state` answering `req`, read whole.
pub async fn send(state: &ApiState, req: Request<Body>) -> Reply {
    let resp = respond(state, req).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .expect("body");
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text: String::from_utf8_lossy(&bytes).to_string(),
        headers,
    }
}

/// `method uri` on the fixture's router, with an optional JSON body and token.
pub async fn call(
    f: &Fixture,
    method: Method,
    uri: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Reply {
    send(&f.state, request(method, uri, body, token)).await
}

/// `GET uri`, without a token.
pub async fn get(f: &Fixture, uri: &str) -> Reply {
    call(f, Method::GET, uri, None, None).await
}

/// `POST uri` with a JSON body and the token.
pub async fn post(f: &Fixture, uri: &str, body: &str) -> Reply {
    call(f, Method::POST, uri, Some(body), Some(TOKEN)).await
}

/// Asserts an error in the API's shape: `status`, `error.code`, a message, and `error.field`
/// (absent when `field` is `None`).
pub fn assert_error(r: &Reply, status: StatusCode, code: &str, field: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["error"]["code"], code, "{}", r.text);
    assert!(r.body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    match field {
        Some(f) => assert_eq!(r.body["error"]["field"], f, "{}", r.text),
        None => assert!(r.body["error"]["field"].is_null(), "{}", r.text),
    }
}

/// Sends `body` with an explicit content type (or none) and the token.
pub async fn post_as(f: &Fixture, uri: &str, content_type: Option<&str>, body: &str) -> Reply {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    let req = req.body(Body::from(body.to_string())).expect("request");
    send(&f.state, req).await
}

/// Serves `state` on 127.0.0.1:0 until the returned token is cancelled.
pub async fn serve(state: ApiState) -> (std::net::SocketAddr, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    tokio::spawn(prescient::northbound::serve_on(
        listener,
        state,
        stop.clone(),
    ));
    (addr, stop)
}
