//! The demo's emulated cloud orchestrator: the target of the controller's webhook. A scale-up
//! "boots" instances (at the shadow addresses the call carries, each with a MAC of its own)
//! and a scale-down stops them; either way the orchestrator then reports every instance it runs
//! through `PUT /api/v1/services/{name}/backends` with the API token, as a real one would, so
//! the loop forecast → hook → instance → translation closes through the public API only.
//!
//! Invariants: a service never runs fewer than one instance (the first, configured backend is
//! never stopped); a call is answered 200 only once its report was accepted; a report the
//! controller refuses (4xx: e.g. the pool has no address left) is answered 422, refused for
//! good, and anything else 503, so the executor retries it with the same idempotency key; a key
//! already answered is answered 200 again without booting twice.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::hooks::http::{client, Client};

/// One running instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Its address (None: the controller leases one).
    pub ip: Option<Ipv4Addr>,
    /// Its MAC.
    pub mac: [u8; 6],
}

/// What the orchestrator did, for the summary line and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrchestratorStats {
    /// Hook calls answered 200.
    pub answered: usize,
    /// Instances booted.
    pub booted: usize,
    /// Instances stopped.
    pub stopped: usize,
}

/// The fields of a hook call the orchestrator reads (the JSON carries more).
#[derive(Debug, Deserialize)]
struct Call {
    key: String,
    service: String,
    action: String,
    delta: u32,
    #[serde(default)]
    addresses: Vec<Ipv4Addr>,
}

#[derive(Debug, Default)]
struct Inner {
    running: BTreeMap<String, Vec<Instance>>,
    done: BTreeSet<String>,
    next_mac: u32,
    stats: OrchestratorStats,
}

/// The orchestrator's state, shared by its HTTP handler and the demo.
#[derive(Clone)]
pub struct Orchestrator {
    inner: Arc<Mutex<Inner>>,
    /// Where the controller's API is, known once it started.
    api: Arc<OnceLock<SocketAddr>>,
    token: String,
    client: Client,
}

impl std::fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator").finish_non_exhaustive()
    }
}

impl Orchestrator {
    /// An orchestrator running `initial` instances per service, reporting with `token`.
    pub fn new(initial: BTreeMap<String, Vec<Instance>>, token: String) -> Orchestrator {
        Orchestrator {
            inner: Arc::new(Mutex::new(Inner {
                running: initial,
                ..Inner::default()
            })),
            api: Arc::new(OnceLock::new()),
            token,
            client: client(),
        }
    }

    /// Tells the orchestrator where the controller's API listens.
    pub fn set_api(&self, addr: SocketAddr) {
        let _ = self.api.set(addr);
    }

    /// What it did so far.
    pub fn stats(&self) -> OrchestratorStats {
        self.inner.lock().map(|i| i.stats).unwrap_or_default()
    }

    /// Serves the webhook (`POST /hook`) on `listener` until `stop`.
    pub fn serve(
        &self,
        listener: tokio::net::TcpListener,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(self.clone());
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::warn!("demo orchestrator stopped: {e}");
            }
        })
    }

    /// Applies a call to the instance list; returns the list to report, or None when the
    /// service is unknown or the call was answered before.
    fn apply(&self, call: &Call) -> Result<Option<Vec<Instance>>, String> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| "state poisoned".to_string())?;
        if inner.done.contains(&call.key) {
            return Ok(None);
        }
        let mut list = inner
            .running
            .get(&call.service)
            .cloned()
            .ok_or_else(|| format!("no service {:?} runs here", call.service))?;
        let delta = usize::try_from(call.delta).unwrap_or(usize::MAX).min(64);
        match call.action.as_str() {
            "scale_up" => {
                for k in 0..delta {
                    inner.next_mac = inner.next_mac.wrapping_add(1);
                    let n = inner.next_mac.to_be_bytes();
                    // Locally administered, the 0e marks the demo's instances.
                    let mac = [0x02, 0x0e, n[0], n[1], n[2], n[3]];
                    list.push(Instance {
                        ip: call.addresses.get(k).copied(),
                        mac,
                    });
                }
            }
            "scale_down" => {
                for _ in 0..delta {
                    if list.len() <= 1 {
                        break;
                    }
                    // The instances named by the call first, else the newest.
                    let named = list
                        .iter()
                        .skip(1)
                        .position(|i| i.ip.is_some_and(|ip| call.addresses.contains(&ip)))
                        .map(|p| p + 1);
                    let at = named.unwrap_or(list.len() - 1);
                    list.remove(at);
                }
            }
            // Migration is answered but changes nothing here: every instance is equal.
            _ => {}
        }
        Ok(Some(list))
    }

    fn commit(&self, call: &Call, list: Vec<Instance>) {
        if let Ok(mut inner) = self.inner.lock() {
            let before = inner.running.get(&call.service).map_or(0, Vec::len);
            let after = list.len();
            inner.stats.booted += after.saturating_sub(before);
            inner.stats.stopped += before.saturating_sub(after);
            inner.stats.answered += 1;
            inner.running.insert(call.service.clone(), list);
            inner.done.insert(call.key.clone());
        }
    }

    /// `PUT .../backends` with every instance; Err says why it was not accepted, and whether
    /// asking again could help.
    async fn report(&self, service: &str, list: &[Instance]) -> Result<(), (bool, String)> {
        self.put(service, list)
            .await
            .and_then(|status| match status {
                (s, _) if s.is_success() => Ok(()),
                (s, text) => Err((
                    !s.is_client_error(),
                    format!("PUT backends of {service}: {s}: {text}"),
                )),
            })
    }

    async fn put(
        &self,
        service: &str,
        list: &[Instance],
    ) -> Result<(StatusCode, String), (bool, String)> {
        let retry = |e: String| (true, e);
        let api = self
            .api
            .get()
            .ok_or_else(|| retry("the controller's API is not up yet".into()))?;
        let backends: Vec<serde_json::Value> = list
            .iter()
            .map(|i| {
                let m = i.mac;
                let mac = format!(
                    "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    m[0], m[1], m[2], m[3], m[4], m[5]
                );
                match i.ip {
                    Some(ip) => serde_json::json!({ "ip": ip.to_string(), "mac": mac }),
                    None => serde_json::json!({ "mac": mac }),
                }
            })
            .collect();
        let body = serde_json::to_vec(&serde_json::json!({ "backends": backends }))
            .map_err(|e| retry(e.to_string()))?;
        let req = Request::builder()
            .method(Method::PUT)
            .uri(format!("http://{api}/api/v1/services/{service}/backends"))
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| retry(e.to_string()))?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| retry(format!("PUT backends of {service}: {e}")))?;
        let status = resp.status();
        let text = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok((status, String::from_utf8_lossy(&text).into_owned()))
    }
}

async fn hook(State(orch): State<Orchestrator>, Json(call): Json<Call>) -> (StatusCode, String) {
    let list = match orch.apply(&call) {
        Ok(Some(list)) => list,
        Ok(None) => return (StatusCode::OK, "already done".into()),
        Err(e) => return (StatusCode::UNPROCESSABLE_ENTITY, e),
    };
    match orch.report(&call.service, &list).await {
        Ok(()) => {
            tracing::info!(service = %call.service, action = %call.action, instances = list.len(), "demo orchestrator: done");
            orch.commit(&call, list);
            (StatusCode::OK, "done".into())
        }
        Err((retry, e)) => {
            tracing::warn!("demo orchestrator: {e}");
            let status = if retry {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            (status, e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(key: &str, action: &str, delta: u32, addresses: Vec<Ipv4Addr>) -> Call {
        Call {
            key: key.into(),
            service: "web".into(),
            action: action.into(),
            delta,
            addresses,
        }
    }

    #[test]
    fn scale_up_boots_at_the_shadow_addresses_and_scale_down_never_stops_the_last() {
        let first = Instance {
            ip: Some(Ipv4Addr::new(10, 0, 0, 3)),
            mac: [0, 0, 0, 0, 0, 3],
        };
        let o = Orchestrator::new(
            BTreeMap::from([("web".to_string(), vec![first.clone()])]),
            "t".into(),
        );
        let shadow = Ipv4Addr::new(10, 0, 0, 6);
        let up = call("k1", "scale_up", 2, vec![shadow]);
        let list = o.apply(&up).unwrap().unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(
            list[1].ip,
            Some(shadow),
            "booted where the controller reserved"
        );
        assert_eq!(
            list[2].ip, None,
            "no shadow left: the controller leases one"
        );
        assert_ne!(list[1].mac, list[2].mac);
        o.commit(&up, list);
        assert_eq!(o.apply(&up).unwrap(), None, "a repeated key boots nothing");
        let down = call("k2", "scale_down", 5, vec![]);
        let list = o.apply(&down).unwrap().unwrap();
        assert_eq!(list, vec![first]);
        o.commit(&down, list);
        let s = o.stats();
        assert_eq!((s.answered, s.booted, s.stopped), (2, 2, 2));
        assert!(o.apply(&call("k3", "scale_up", 1, vec![])).is_ok());
        let mut other = call("k4", "scale_up", 1, vec![]);
        other.service = "nope".into();
        assert!(o.apply(&other).is_err());
    }
}
