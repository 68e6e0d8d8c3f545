//! A minimal HTTP/1.1 client for tests against a running controller's REST API: one request per
//! connection, JSON in and out (async), or a plain blocking GET for tests that run the demo on
//! a thread of their own.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Sends `method path` with an optional bearer `token` and JSON `body`; returns the status and the
/// JSON body (`Null` when the body is not JSON).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    request_with(addr, method, path, token, &[], body).await
}

/// [`request`] with more headers (`Idempotency-Key` for an instance announcement).
pub async fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let conn = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to the REST API at {addr}"))?;
    exchange(conn, method, path, token, headers, body).await
}

/// `request` over TLS, trusting what `tls` trusts, the server named `localhost`.
pub async fn request_tls(
    addr: SocketAddr,
    tls: std::sync::Arc<rustls::ClientConfig>,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> anyhow::Result<(u16, Value)> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to the REST API at {addr}"))?;
    let name = rustls::pki_types::ServerName::try_from("localhost")?;
    let conn = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .with_context(|| format!("TLS handshake with {addr}"))?;
    exchange(conn, method, path, token, &[], None).await
}

/// One HTTP/1.1 request and its whole reply on `conn`.
async fn exchange(
    mut conn: impl AsyncRead + AsyncWrite + Unpin,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut extra = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    for (name, value) in headers {
        extra.push_str(&format!("{name}: {value}\r\n"));
    }
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: prescient\r\n{extra}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await?;
    let mut bytes = Vec::new();
    match conn.read_to_end(&mut bytes).await {
        Ok(_) => {}
        // A TLS peer may close without close_notify once it has answered (`Connection: close`).
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !bytes.is_empty() => {}
        Err(e) => return Err(e.into()),
    }
    let reply = String::from_utf8_lossy(&bytes).into_owned();
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in the reply {reply:?}"))?;
    let (_, json) = reply.split_once("\r\n\r\n").unwrap_or_default();
    Ok((status, serde_json::from_str(json).unwrap_or(Value::Null)))
}

/// `GET path`, failing unless the status is 200.
pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<Value> {
    let (status, body) = request(addr, "GET", path, None, None).await?;
    anyhow::ensure!(status == 200, "GET {path}: {status} {body}");
    Ok(body)
}

/// A loopback address whose port was free when asked (for a server the test starts next).
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// A blocking `GET path` on its own connection, waiting at most `timeout` for the reply: the
/// status and the body, or `None` when nothing (or no HTTP) answered.
pub fn get_blocking(addr: SocketAddr, path: &str, timeout: Duration) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    // axum answers small bodies with a content-length, so the body is the text after the head.
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Some((status, body.to_string()))
}
