//! Where the agent hears about its tenant's address records: the controller's REST event
//! stream, or an etcd watch in cluster mode. Both follow list-then-watch: subscribe, list
//! everything ([`Update::Full`]), then pass changes ([`Update::Change`]); replaying a change
//! the list already showed is harmless (puts and deletes are idempotent). Any error ends the
//! session with a message naming the endpoint; the agent then reconnects and lists again, so
//! a deletion missed while away is never kept.

use std::collections::BTreeMap;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::StatusCode;
use tokio::sync::mpsc;

use super::fetch::Endpoint;

use crate::services::{address_record, AddressChange, AddressOp, AddressRecord};

/// What a source passes to the agent.
#[derive(Debug, Clone)]
pub enum Update {
    /// Every record of the tenant (after connecting, or after missing events).
    Full(Vec<AddressRecord>),
    /// One change.
    Change(AddressChange),
}

/// Where records come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A controller's REST API, `http://host:port` or `https://host:port`, with an optional
    /// bearer token.
    Rest {
        /// Base URL and, for https, the CA to trust.
        api: Endpoint,
        /// Token, when reads are protected.
        token: Option<String>,
    },
    /// etcd endpoints (cluster mode).
    Etcd(Vec<String>),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Rest { api, .. } => write!(f, "controller {}", api.base),
            Source::Etcd(e) => write!(f, "etcd {}", e.join(",")),
        }
    }
}

/// How long to wait for a connection or a list before calling the endpoint unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Source {
    /// Runs one session: lists and watches `tenant`'s records into `tx` until an error (the
    /// returned message names the endpoint and what failed) or the agent stops listening.
    pub async fn run(&self, tenant: &str, tx: mpsc::Sender<Update>) -> String {
        let out = match self {
            Source::Rest { api, token } => rest(api, token.as_deref(), tenant, &tx).await,
            Source::Etcd(endpoints) => etcd(endpoints, tenant, &tx).await,
        };
        match out {
            Ok(()) => format!("{self}: the stream ended"),
            Err(e) => format!("{self}: {e}"),
        }
    }
}

async fn list(
    api: &Endpoint,
    token: Option<&str>,
    tenant: &str,
) -> Result<Vec<AddressRecord>, String> {
    let path = format!("/api/v1/tenants/{tenant}/addresses");
    let resp = tokio::time::timeout(CONNECT_TIMEOUT, api.get(&path, token))
        .await
        .map_err(|_| format!("GET {path}: no answer within {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| format!("GET {path}: unreachable ({e})"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?
        .to_bytes();
    match status {
        StatusCode::OK => serde_json::from_slice(&body)
            .map_err(|e| format!("GET {path}: not a list of address records: {e}")),
        StatusCode::NOT_FOUND => Err(format!(
            "the controller does not know tenant {tenant:?} (no pool of it): {}",
            String::from_utf8_lossy(&body)
        )),
        s => Err(format!(
            "GET {path}: {s}: {}",
            String::from_utf8_lossy(&body)
        )),
    }
}

async fn rest(
    api: &Endpoint,
    token: Option<&str>,
    tenant: &str,
    tx: &mpsc::Sender<Update>,
) -> Result<(), String> {
    let resp = tokio::time::timeout(CONNECT_TIMEOUT, api.get("/api/v1/events", token))
        .await
        .map_err(|_| format!("GET /api/v1/events: no answer within {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| format!("GET /api/v1/events: unreachable ({e})"))?;
    if resp.status() != StatusCode::OK {
        return Err(format!("GET /api/v1/events: {}", resp.status()));
    }
    let mut body = resp.into_body();
    let mut buf = String::new();
    let (mut event, mut data) = (String::new(), String::new());
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("event stream broke: {e}"))?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find('\n') {
            let line: String = buf.drain(..=end).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            } else if line.is_empty() {
                let update = match event.as_str() {
                    // Subscribed: anything from now on reaches us, so list now.
                    "hello" | "lagged" => Some(Update::Full(list(api, token, tenant).await?)),
                    "address" => serde_json::from_str::<AddressChange>(&data)
                        .ok()
                        .filter(|c| c.record.tenant == tenant)
                        .map(Update::Change),
                    _ => None,
                };
                event.clear();
                data.clear();
                if let Some(u) = update {
                    if tx.send(u).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
    Ok(())
}

async fn etcd(endpoints: &[String], tenant: &str, tx: &mpsc::Sender<Update>) -> Result<(), String> {
    use etcd_client::{Client, EventType, GetOptions, WatchOptions};
    let mut client = tokio::time::timeout(CONNECT_TIMEOUT, Client::connect(endpoints, None))
        .await
        .map_err(|_| format!("no connection within {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| format!("unreachable ({e})"))?;
    let prefix = address_record::tenant_prefix(tenant);
    let got = tokio::time::timeout(
        CONNECT_TIMEOUT,
        client.get(prefix.as_str(), Some(GetOptions::new().with_prefix())),
    )
    .await
    .map_err(|_| format!("listing {prefix}: no answer within {CONNECT_TIMEOUT:?}"))?
    .map_err(|e| format!("listing {prefix}: {e}"))?;
    let revision = got.header().map_or(0, |h| h.revision());
    // By key, so a delete (which carries only the key) names its record.
    let mut known: BTreeMap<Vec<u8>, AddressRecord> = BTreeMap::new();
    for kv in got.kvs() {
        if let Some(r) = decode(kv.key(), kv.value(), tenant) {
            known.insert(kv.key().to_vec(), r);
        }
    }
    if tx
        .send(Update::Full(known.values().cloned().collect()))
        .await
        .is_err()
    {
        return Ok(());
    }
    let mut stream = client
        .watch(
            prefix.as_str(),
            Some(
                WatchOptions::new()
                    .with_prefix()
                    .with_start_revision(revision + 1),
            ),
        )
        .await
        .map_err(|e| format!("watching {prefix}: {e}"))?;
    while let Some(resp) = stream
        .message()
        .await
        .map_err(|e| format!("watching {prefix}: {e}"))?
    {
        if resp.canceled() {
            return Err(format!(
                "the watch on {prefix} was cancelled (compacted at revision {}): {}",
                resp.compact_revision(),
                resp.cancel_reason()
            ));
        }
        for ev in resp.events() {
            let Some(kv) = ev.kv() else { continue };
            let change = match ev.event_type() {
                EventType::Put => decode(kv.key(), kv.value(), tenant).map(|r| {
                    known.insert(kv.key().to_vec(), r.clone());
                    AddressChange {
                        op: AddressOp::Put,
                        record: r,
                    }
                }),
                EventType::Delete => known.remove(kv.key()).map(|r| AddressChange {
                    op: AddressOp::Delete,
                    record: r,
                }),
            };
            if let Some(c) = change {
                if tx.send(Update::Change(c)).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// A record from etcd; one that does not parse, or names another tenant, is skipped with a
/// warning (a bad record must not stop the others).
fn decode(key: &[u8], value: &[u8], tenant: &str) -> Option<AddressRecord> {
    match serde_json::from_slice::<AddressRecord>(value) {
        Ok(r) if r.tenant == tenant => Some(r),
        Ok(r) => {
            tracing::warn!(
                key = %String::from_utf8_lossy(key),
                "record names tenant {:?}, not {tenant:?}: skipped",
                r.tenant
            );
            None
        }
        Err(e) => {
            tracing::warn!(key = %String::from_utf8_lossy(key), "not an address record: {e}");
            None
        }
    }
}
