//! What the benches that drive a real `prescient run` process share (`bench cluster`, `bench
//! scale`, `bench soak`): free loopback addresses for it to listen on, its resident memory, and a
//! one-shot HTTP/1.1 client for its REST API.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `n` free loopback addresses, bound together so none is handed out twice, then released for
/// the process that will listen on them.
pub fn free_addrs(n: usize) -> anyhow::Result<Vec<SocketAddr>> {
    let held = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .context("binding probe ports")?;
    held.iter()
        .map(|l| l.local_addr().context("probe port address"))
        .collect()
}

/// The first number of the `field` line (e.g. `VmRSS:`, `Threads:`) of `/proc/PID/status`.
pub fn proc_status(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status (has the controller exited?)"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// Resident memory of process `pid`, KB (`VmRSS`).
pub fn rss_kb(pid: u32) -> anyhow::Result<u64> {
    proc_status(pid, "VmRSS:")
}

/// Why an exchange got no reply.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Nothing accepted the connection (the request cannot have been seen).
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The connection broke while the request was sent or the reply read.
    #[error("{method} {path} at {addr}: {source}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// The method.
        method: String,
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// No whole reply within the time allowed.
    #[error("{method} {path} at {addr}: no answer within {timeout:?}")]
    Timeout {
        /// The address.
        addr: SocketAddr,
        /// The method.
        method: String,
        /// The path.
        path: String,
        /// The time allowed.
        timeout: Duration,
    },
    /// A reply without an HTTP status line.
    #[error("{method} {path} at {addr}: no HTTP status in {first_line:?}")]
    NoStatus {
        /// The address.
        addr: SocketAddr,
        /// The method.
        method: String,
        /// The path.
        path: String,
        /// What came instead.
        first_line: String,
    },
}

/// One reply.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The status line and headers.
    pub head: String,
    /// The body (lossy UTF-8).
    pub body: String,
}

impl Reply {
    /// The value of header `name` (any case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One HTTP/1.1 request on a fresh connection (closed after the reply), with the bearer
/// `token` and `body` as JSON; the whole reply within `timeout`. On loopback the connect is part
/// of what the benches measure.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
    timeout: Duration,
) -> Result<Reply, HttpError> {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: prescient\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let io = |source| HttpError::Io {
        addr,
        method: method.to_string(),
        path: path.to_string(),
        source,
    };
    let exchange = async {
        let mut conn = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|source| HttpError::Connect { addr, source })?;
        conn.write_all(request.as_bytes()).await.map_err(io)?;
        let mut reply = Vec::new();
        conn.read_to_end(&mut reply).await.map_err(io)?;
        Ok(reply)
    };
    let reply = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HttpError::Timeout {
            addr,
            method: method.to_string(),
            path: path.to_string(),
            timeout,
        })??;
    let reply = String::from_utf8_lossy(&reply);
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| HttpError::NoStatus {
            addr,
            method: method.to_string(),
            path: path.to_string(),
            first_line: head.lines().next().unwrap_or_default().to_string(),
        })?;
    Ok(Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reply_gives_its_status_headers_and_body_and_a_closed_port_is_a_connect_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = conn.read(&mut buf).await.unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            conn.write_all(b"HTTP/1.1 201 Created\r\nX-Next-Cursor: 7\r\n\r\n{\"id\":1}")
                .await
                .unwrap();
            request
        });
        let reply = http(addr, "POST", "/x", "t0k", "{}", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(reply.status, 201);
        assert_eq!(reply.header("x-next-cursor"), Some("7"));
        assert_eq!(reply.body, "{\"id\":1}");
        let request = server.await.unwrap();
        assert!(
            request.starts_with("POST /x HTTP/1.1") && request.contains("Bearer t0k"),
            "{request}"
        );

        let closed = free_addrs(1).unwrap()[0];
        let err = http(closed, "GET", "/", "t", "", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, HttpError::Connect { .. }), "{err}");
    }
}
