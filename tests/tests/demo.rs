//! `prescient demo` by itself: no root, no configuration; within seconds the controller has both
//! emulated fabrics up, every link discovered, forecasts running, and the REST API serving a
//! non-empty topology.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use prescient::cmd::demo::{run_report, Args};

#[test]
fn demo_comes_up_discovers_both_fabrics_and_serves_the_topology() {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let http = free_port();
    let args = Args {
        seconds: Some(6),
        interval: 1,
        http,
        openflow: any,
        ..Args::default()
    };
    // Ask the API while the demo runs, from another thread.
    let probe = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(4));
        get(http, "/api/v1/links")
    });
    let report = run_report(args).unwrap();
    let links = probe.join().unwrap();
    assert_eq!(report.http, Some(http));
    let links: serde_json::Value = serde_json::from_str(&links).unwrap();
    let served = links
        .as_array()
        .or_else(|| links.get("links").and_then(|l| l.as_array()))
        .map_or(0, Vec::len);
    assert!(served >= 2 * 15, "the API served {served} links: {links}");
    assert_eq!(report.openflow_devices, 12, "{report:?}");
    assert_eq!(report.p4_devices, 4, "{report:?}");
    assert_eq!(report.links, report.links_total, "{report:?}");
    assert_eq!(report.links_total, 2 * (15 + 4));
    assert!(report.forecasts > 0, "no series is forecasting: {report:?}");
    assert!(report.http.is_some());
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A minimal HTTP/1.1 GET (the body of a 200 answer).
fn get(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // axum answers small bodies with a content-length, so the body is plain JSON.
    body.to_string()
}
