//! What the tests that run `prescient` as a process share: a blocking HTTP client, a free
//! port, and SIGHUP for a running controller.
// Each test binary uses a part of these.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::Value;

/// One request on its own connection: the status and the JSON body, or `None` when the
/// connection failed or was cut before a whole answer.
pub fn call_with(
    api: SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Option<(u16, Value)> {
    let mut s = TcpStream::connect_timeout(&api, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let (_, json) = text.split_once("\r\n\r\n")?;
    Some((status, serde_json::from_str(json).ok()?))
}

/// A loopback address whose port was free when asked.
pub fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// Sends SIGHUP to `child` (`kill -HUP`, as an operator would): `prescient run` re-reads its
/// tokens and certificates.
pub fn hangup(child: &Child) {
    let ok = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -HUP {}", child.id());
}
