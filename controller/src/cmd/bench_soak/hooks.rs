//! The soak's hook side: the orchestrator's endpoint, which answers the controller's hook
//! calls never, late or at once, and the churn that makes the controller call it (services
//! told of an event coming within the calendar lead).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::{http, Churn, HOOK_TIMEOUT};

/// The orchestrator's hook endpoint: the requests it takes are, in turn, never answered (the
/// connection is held until the controller closes it), answered three times the hooks'
/// timeout late, and answered at once.
pub(super) async fn orchestrator(
    listener: tokio::net::TcpListener,
    churn: Arc<Churn>,
    stop: CancellationToken,
) {
    let handlers = tokio_util::task::TaskTracker::new();
    loop {
        let conn = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((conn, _)) => conn,
                Err(_) => continue,
            },
        };
        let n = churn.hook_requests.fetch_add(1, Ordering::Relaxed);
        handlers.spawn(hook_answer(conn, n % 3, churn.clone(), stop.clone()));
    }
    handlers.close();
    handlers.wait().await;
}

async fn hook_answer(
    mut conn: tokio::net::TcpStream,
    turn: u64,
    churn: Arc<Churn>,
    stop: CancellationToken,
) {
    // The request is read whole first (headers and a body that ends the write).
    let mut buf = vec![0u8; 16 * 1024];
    let mut got = 0;
    while got < buf.len() {
        let read = tokio::select! {
            _ = stop.cancelled() => return,
            r = conn.read(&mut buf[got..]) => r,
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(n) => got += n,
        }
        let text = String::from_utf8_lossy(&buf[..got]);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                break;
            }
        }
    }
    const ANSWER: &[u8] =
        b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    match turn {
        0 => {
            churn.hook_stalled.fetch_add(1, Ordering::Relaxed);
            // Never answered: the controller must give up and close the connection.
            let closed = tokio::select! {
                _ = stop.cancelled() => false,
                r = conn.read(&mut buf) => matches!(r, Ok(0) | Err(_)),
            };
            if closed {
                churn.hook_stalled_closed.fetch_add(1, Ordering::Relaxed);
            }
        }
        1 => {
            churn.hook_late.fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::sleep(HOOK_TIMEOUT * 3) => {
                    let _ = conn.write_all(ANSWER).await;
                }
            }
        }
        _ => {
            let _ = conn.write_all(ANSWER).await;
        }
    }
}

/// Services told of an event coming within the calendar lead: each is planned on the event's
/// demand and the controller calls the orchestrator's hook to scale it up; a few seconds later
/// the event and the service go.
pub(super) async fn hook_churn(http_addr: SocketAddr, churn: Arc<Churn>, stop: CancellationToken) {
    let mut i = 0u32;
    while !stop.is_cancelled() {
        hook_round(http_addr, &churn, i, &stop).await;
        i = i.wrapping_add(1);
    }
}

pub(super) async fn hook_round(
    http_addr: SocketAddr,
    churn: &Churn,
    i: u32,
    stop: &CancellationToken,
) {
    let k = i % 4;
    let name = format!("hooked-{k}");
    let service = serde_json::json!({
        "name": name, "tenant": "soak-hooks", "vip": format!("192.0.2.{}", 100 + k),
        "pool": format!("10.78.{k}.0/29"), "instance_capacity_bps": 100_000_000u64,
        "max_instances": 4, "backends": [{"ip": format!("10.78.{k}.1"),
        "mac": format!("02:00:00:78:{k:02x}:01")}]
    });
    churn.answered(http(http_addr, "POST", "/api/v1/services", &service.to_string()).await);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let event = serde_json::json!({"name": format!("hooked-{i}"), "start_secs": now + 60,
        "end_secs": now + 3600, "scope": {"kind": "service", "service": name},
        "absolute_bps": 1_000_000_000u64});
    let created = http(http_addr, "POST", "/api/v1/calendar", &event.to_string()).await;
    let id = churn
        .answered(created)
        .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
        .and_then(|v| v["id"].as_u64());
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(3)) => {}
        _ = stop.cancelled() => {}
    }
    if let Some(id) = id {
        let deleted = http(http_addr, "DELETE", &format!("/api/v1/calendar/{id}"), "").await;
        churn.answered(deleted);
    }
    let path = format!("/api/v1/services/{name}");
    churn.answered(http(http_addr, "DELETE", &path, "").await);
}

/// Hook calls the controller recorded as delivered, and as given up on a timeout.
pub(super) async fn hook_outcomes(http_addr: SocketAddr) -> (u64, u64) {
    let Some((200, body)) = http(http_addr, "GET", "/api/v1/hooks", "").await else {
        return (0, 0);
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&body) else {
        return (0, 0);
    };
    let recent = v["recent"].as_array().cloned().unwrap_or_default();
    let delivered = recent.iter().filter(|r| r["status"] == "delivered").count();
    let timed_out = recent
        .iter()
        .filter(|r| r["status"] == "gave_up")
        .filter(|r| {
            r["error"]
                .as_str()
                .is_some_and(|e| e.contains("no answer within"))
        })
        .count();
    (delivered as u64, timed_out as u64)
}
