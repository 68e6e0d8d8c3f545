//! Connections shared by the clients of several devices behind one P4Runtime server.
//!
//! A server may host many devices (a multi-device target, or an emulator); each device needs
//! its own StreamChannel, but gRPC carries every RPC as its own HTTP/2 stream, so the streams
//! of several devices can share one connection. A connection of its own costs a client ~45 KB
//! of h2 buffers and ~30 KB of channel queues; shared, that is paid once per
//! [`DEVICES_PER_CONNECTION`] devices.
//!
//! A connection lives as long as one client holds it: the pool keeps only weak references.
//! A client whose stream could not be opened on a shared connection drops that connection from
//! the pool ([`ChannelPool::forget`]), so its next attempt connects afresh, as a client with a
//! connection of its own would; the other devices keep their streams until those fail.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tonic::transport::Channel;

use super::session::channel;
use super::{lock, ClientConfig, ClientTls};
use crate::p4runtime::error::ClientError;
use crate::p4runtime::proto::p4::v1::p4_runtime_client::P4RuntimeClient as Grpc;

/// Devices whose streams one connection carries at most. RFC 9113 recommends servers allow at
/// least 100 concurrent streams and a device holds up to three at once (its StreamChannel, a
/// Write or Read, a pipeline push), so 32 devices never queue behind a server's limit.
pub const DEVICES_PER_CONNECTION: usize = 32;

/// Connections shared between the clients given the same pool (see the module docs); cheap
/// to clone. Clients with no pool each open their own.
#[derive(Clone, Default)]
pub struct ChannelPool(Arc<Mutex<HashMap<String, Arc<Slot>>>>);

/// The connections to one address.
#[derive(Default)]
struct Slot {
    /// Serialises connecting: devices starting together wait for one connection, not 100.
    leases: tokio::sync::Mutex<Vec<Weak<Lease>>>,
    /// Failed connection attempts, so that waiters do not repeat a failure in single file.
    failures: AtomicU64,
}

/// One connection, held by the clients that use it.
pub(super) struct Lease {
    pub(super) grpc: Grpc<Channel>,
    tls: Option<ClientTls>,
}

impl std::fmt::Debug for ChannelPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelPool")
            .field("connections", &self.connections())
            .finish()
    }
}

impl ChannelPool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Connections some client still holds.
    pub fn connections(&self) -> usize {
        let slots: Vec<_> = lock(&self.0).values().cloned().collect();
        slots
            .iter()
            .filter_map(|s| s.leases.try_lock().ok())
            .map(|l| l.iter().filter(|w| w.strong_count() > 0).count())
            .sum()
    }

    fn slot(&self, target: &str) -> Arc<Slot> {
        lock(&self.0).entry(target.to_string()).or_default().clone()
    }

    /// A connection to `config.target` with the TLS settings in force now: one with room
    /// for another device, else a new one.
    pub(super) async fn lease(&self, config: &ClientConfig) -> Result<Arc<Lease>, ClientError> {
        let tls = config.tls.as_ref().map(super::SharedTls::current);
        let slot = self.slot(&config.target);
        let seen = slot.failures.load(Ordering::Relaxed);
        let mut leases = slot.leases.lock().await;
        leases.retain(|w| w.strong_count() > 0);
        let room = leases
            .iter()
            .filter_map(Weak::upgrade)
            .find(|l| l.tls == tls && Arc::strong_count(l) <= DEVICES_PER_CONNECTION);
        if let Some(lease) = room {
            return Ok(lease);
        }
        if slot.failures.load(Ordering::Relaxed) != seen {
            // The target refused the attempt we waited for: connect on our own, alongside
            // the other waiters, as clients without a pool would.
            drop(leases);
            let lease = Arc::new(Lease {
                grpc: channel(config).await?,
                tls,
            });
            slot.leases.lock().await.push(Arc::downgrade(&lease));
            return Ok(lease);
        }
        match channel(config).await {
            Ok(grpc) => {
                let lease = Arc::new(Lease { grpc, tls });
                leases.push(Arc::downgrade(&lease));
                Ok(lease)
            }
            Err(e) => {
                slot.failures.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Takes `lease` out of the pool: a stream could not be opened on it, so the next client
    /// connects afresh (those using it keep it until their own streams fail).
    pub(super) async fn forget(&self, target: &str, lease: &Arc<Lease>) {
        let slot = self.slot(target);
        let mut leases = slot.leases.lock().await;
        leases.retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), Arc::as_ptr(lease)));
    }
}
