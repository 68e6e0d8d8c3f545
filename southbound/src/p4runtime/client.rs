//! The P4Runtime client: a thin tokio/tonic driver around the IO-free pieces of this module.
//!
//! One `P4RuntimeClient` talks to one device. `connect` opens the StreamChannel, sends our
//! `MasterArbitrationUpdate` and waits for the target's answer (spec §5). A reader task then
//! owns the inbound stream: arbitration updates go to a `watch` channel (never dropped), while
//! packet-ins, digests and notifications go to a bounded queue; when that queue is full the
//! NEWEST event is dropped and counted (`dropped_events`) so a slow consumer can never stall
//! arbitration. Writes are checked against our standing before they are sent.
//!
//! The client keeps the desired state (pipeline + every entity successfully written); after the
//! target restarts, `reconnect` retries with exponential backoff, re-pushes the pipeline and
//! replays the entities.
//!
//! The seams: [`session`] (arbitration, the stream, reconnecting), [`write`] (pipeline, writes,
//! replay), [`read`] and [`packet_io`].

mod packet_io;
mod pool;
mod read;
mod session;
mod write;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::transport::Channel;

use self::pool::Lease;
pub use self::pool::{ChannelPool, DEVICES_PER_CONNECTION};
use self::session::Session;
use self::write::Pipeline;
use super::arbitration::{to_uint128, Mastership};
use super::error::{ClientError, ResolveError};
use super::index::P4InfoIndex;
use super::packetio::{DigestReport, ReceivedPacket};
use super::proto::p4::config::v1::P4Info;
use super::proto::p4::v1 as p4;
use super::proto::p4::v1::p4_runtime_client::P4RuntimeClient as Grpc;
use super::state::DesiredState;
use crate::latency::LatencyHistogram;

/// How to reach and identify ourselves to one device.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` of the P4Runtime server.
    pub target: String,
    /// P4Runtime device id.
    pub device_id: u64,
    /// Our election id (highest wins).
    pub election_id: u128,
    /// Role name; `None` is the default role.
    pub role: Option<String>,
    /// How long to wait for the first arbitration answer.
    pub arbitration_timeout: Duration,
    /// First reconnect delay; doubled after each failure.
    pub backoff_initial: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
    /// Give up reconnecting after this many attempts (`None`: never).
    pub max_reconnect_attempts: Option<u32>,
    /// Capacity of the packet-in / digest queue.
    pub event_capacity: usize,
    /// Updates per Write when replaying the desired state.
    pub replay_batch: usize,
    /// Where the duration of each Write RPC goes (answered or refused; not transport
    /// failures); share one with the metrics reader.
    pub write_latency: Arc<LatencyHistogram>,
    /// TLS to the target, read at every connect; `None`: plain HTTP/2.
    pub tls: Option<SharedTls>,
    /// Connections shared with the other devices' clients given the same pool (the same
    /// address and TLS settings); `None`: a connection of its own.
    pub channels: Option<ChannelPool>,
}

/// TLS settings shared between a client, which reads them at every (re)connect, and whoever
/// rotates its certificates ([`SharedTls::replace`]): a live connection keeps what its
/// handshake used, the next connection uses the new.
#[derive(Clone)]
pub struct SharedTls(Arc<Mutex<ClientTls>>);

impl SharedTls {
    /// Settings holding `tls` until replaced.
    pub fn new(tls: ClientTls) -> Self {
        SharedTls(Arc::new(Mutex::new(tls)))
    }

    /// What the next connection uses.
    pub fn current(&self) -> ClientTls {
        lock(&self.0).clone()
    }

    /// Makes `tls` what the next connection uses.
    pub fn replace(&self, tls: ClientTls) {
        *lock(&self.0) = tls;
    }
}

impl From<ClientTls> for SharedTls {
    fn from(tls: ClientTls) -> Self {
        SharedTls::new(tls)
    }
}

impl PartialEq for SharedTls {
    // Two handles are equal when they hold equal settings now.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.current() == other.current()
    }
}

impl std::fmt::Debug for SharedTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.current().fmt(f)
    }
}

/// How to reach a target over TLS (PEM bytes, read and checked by whoever configures it).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// The CA certificate(s) the target's certificate must chain to.
    pub ca_pem: Vec<u8>,
    /// Our certificate chain and private key, for targets that require mutual TLS.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// The name the target's certificate must carry; the target's host when `None`.
    pub server_name: Option<String>,
}

impl std::fmt::Debug for ClientTls {
    // Never prints the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("ca_pem_bytes", &self.ca_pem.len())
            .field("identity", &self.identity.is_some())
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl ClientConfig {
    /// Defaults for `target`, `device_id` and `election_id`.
    pub fn new(target: impl Into<String>, device_id: u64, election_id: u128) -> Self {
        Self {
            target: target.into(),
            device_id,
            election_id,
            role: None,
            arbitration_timeout: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
            max_reconnect_attempts: None,
            event_capacity: 1024,
            replay_batch: 1000,
            write_latency: Arc::new(LatencyHistogram::new()),
            tls: None,
            channels: None,
        }
    }
}

/// Something the target told us on the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Our standing changed (or was re-announced).
    Mastership(Mastership),
    /// A packet punted to the controller.
    PacketIn(ReceivedPacket),
    /// A digest list (acknowledge it with `ack_digest`).
    Digest(DigestReport),
    /// Entries whose idle timeout expired.
    IdleTimeout(p4::IdleTimeoutNotification),
    /// The target reports an error about a stream message we sent.
    StreamError(p4::StreamError),
    /// A packet-in or digest did not match the P4Info.
    Undecodable(ResolveError),
    /// Another client holds our election id.
    DuplicateElectionId,
    /// The stream ended; call `reconnect`.
    Disconnected {
        /// Why.
        reason: String,
    },
}

/// Result of `set_pipeline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineOutcome {
    /// The pipeline was pushed with VERIFY_AND_COMMIT.
    Installed,
    /// The target already runs this cookie; nothing was sent.
    AlreadyRunning,
}

/// What `reconnect` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectReport {
    /// Connection attempts made (1 = first try succeeded).
    pub attempts: u32,
    /// Whether we are primary after reconnecting.
    pub primary: bool,
    /// Whether the pipeline was pushed again.
    pub pipeline: Option<PipelineOutcome>,
    /// Entities replayed.
    pub replayed: usize,
}

/// A P4Runtime client session with one device (see the module docs).
pub struct P4RuntimeClient {
    config: ClientConfig,
    grpc: Grpc<Channel>,
    /// Keeps a pooled connection open while this client uses it.
    lease: Option<Arc<Lease>>,
    session: Session,
    index: Option<Arc<P4InfoIndex>>,
    pipeline: Option<Pipeline>,
    desired: DesiredState,
    track_desired: bool,
    dropped: Arc<AtomicU64>,
}

/// A deterministic 64-bit cookie for a pipeline (FNV-1a over P4Info and device config), so
/// that the same program always gets the same cookie.
pub fn pipeline_cookie(p4info: &P4Info, device_config: &[u8]) -> u64 {
    use prost::Message;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in p4info.encode_to_vec().iter().chain(device_config) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn lock<T>(a: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means another thread panicked mid-update; what it guards (the
    // arbitration's few plain fields, TLS settings replaced whole) stays usable.
    a.lock().unwrap_or_else(|e| e.into_inner())
}

impl P4RuntimeClient {
    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Whether writes should go through tracking of the desired state (on by default).
    pub fn set_track_desired(&mut self, on: bool) {
        self.track_desired = on;
    }

    /// The desired state the client would replay after a restart.
    pub fn desired(&self) -> &DesiredState {
        &self.desired
    }

    /// How many clients (this one included) share this client's connection; 1 without a pool.
    pub fn connection_users(&self) -> usize {
        self.lease.as_ref().map_or(1, Arc::strong_count)
    }

    /// Packet-ins/digests dropped because the event queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The P4Info index of the pipeline in use.
    pub fn index(&self) -> Result<&Arc<P4InfoIndex>, ClientError> {
        self.index.as_ref().ok_or(ClientError::NoPipeline {
            device_id: self.config.device_id,
        })
    }

    fn not_primary(&self) -> ClientError {
        let primary = match self.mastership() {
            Mastership::Backup { primary } => primary,
            _ => None,
        };
        ClientError::NotPrimary {
            device_id: self.config.device_id,
            election_id: self.config.election_id,
            primary,
        }
    }

    fn election(&self) -> Option<p4::Uint128> {
        Some(to_uint128(self.config.election_id))
    }
}

/// `e` and every cause below it, on one line: a TLS failure (an unknown issuer, a name
/// mismatch) is only in the causes of tonic's "transport error".
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        // Wrappers (io::Error) often repeat their cause's text: said once is enough.
        let line = c.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        cause = c.source();
    }
    text
}
