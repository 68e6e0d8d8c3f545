//! Arbitration and the stream channel: connecting, the reader task that sorts what the target
//! sends (standing to a `watch`, everything else to the bounded event queue), our standing, and
//! reconnecting with backoff (spec §5).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::pool::Lease;
use super::{lock, ClientConfig, P4RuntimeClient, ReconnectReport};
use crate::p4runtime::arbitration::{Arbitration, ArbitrationOutcome, Mastership};
use crate::p4runtime::error::ClientError;
use crate::p4runtime::proto::p4::v1 as p4;
use crate::p4runtime::proto::p4::v1::p4_runtime_client::P4RuntimeClient as Grpc;
use crate::p4runtime::state::DesiredState;

/// Reconnect attempts that may meet our own lingering old stream before a duplicate election
/// id is treated as real.
const DUPLICATE_RETRIES: u32 = 10;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Link {
    Pending,
    Standing(Mastership),
    Duplicate,
    Closed {
        code: Option<tonic::Code>,
        message: String,
    },
}

#[derive(Debug)]
pub(super) enum RawEvent {
    Mastership(Mastership),
    Packet(p4::PacketIn),
    Digest(p4::DigestList),
    Idle(p4::IdleTimeoutNotification),
    // Boxed, as rare as it is large (112 B): every slot of the queue is as large as its
    // largest event.
    Error(Box<p4::StreamError>),
    Duplicate,
    Disconnected(String),
}

/// A message for the stream, boxed: a request is 168 B, its queue's every slot as large.
pub(super) type Outbound = Box<p4::StreamMessageRequest>;

pub(super) struct Session {
    pub(super) outbound: mpsc::Sender<Outbound>,
    pub(super) arbitration: Arc<Mutex<Arbitration>>,
    pub(super) link: watch::Receiver<Link>,
    pub(super) events: mpsc::Receiver<RawEvent>,
    pub(super) reader: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A connection of its own to `config.target`.
pub(super) async fn channel(config: &ClientConfig) -> Result<Grpc<Channel>, ClientError> {
    // tonic speaks TLS to `https://` targets only.
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let uri = match config.target.split_once("://") {
        Some((_, authority)) if config.tls.is_some() => format!("https://{authority}"),
        Some(_) => config.target.clone(),
        None => format!("{scheme}://{}", config.target),
    };
    let invalid = |reason: String| ClientError::InvalidTarget {
        target: config.target.clone(),
        reason,
    };
    let mut endpoint = Endpoint::from_shared(uri).map_err(|e| invalid(e.to_string()))?;
    // Read now: a certificate rotated since the last connect is the one presented.
    if let Some(tls) = config.tls.as_ref().map(super::SharedTls::current) {
        let mut c = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&tls.ca_pem));
        if let Some((cert, key)) = &tls.identity {
            c = c.identity(Identity::from_pem(cert, key));
        }
        if let Some(name) = &tls.server_name {
            c = c.domain_name(name.clone());
        }
        endpoint = endpoint
            .tls_config(c)
            .map_err(|e| invalid(format!("TLS: {}", super::error_chain(&e))))?;
    }
    let ch = endpoint
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        // Per-update errors of a large batch travel in the grpc-status-details-bin trailer:
        // 1,000 errors are ~70 KB of base64, above h2's 16 KB default.
        .http2_max_header_list_size(16 * 1024 * 1024)
        // Larger windows keep big Write batches from stalling on flow control.
        .initial_stream_window_size(8 * 1024 * 1024)
        .initial_connection_window_size(16 * 1024 * 1024)
        .connect()
        .await
        .map_err(|source| ClientError::Connect {
            target: config.target.clone(),
            source,
        })?;
    Ok(Grpc::new(ch)
        .max_decoding_message_size(256 * 1024 * 1024)
        .max_encoding_message_size(256 * 1024 * 1024))
}

async fn read_stream(
    mut inbound: tonic::Streaming<p4::StreamMessageResponse>,
    arbitration: Arc<Mutex<Arbitration>>,
    link: watch::Sender<Link>,
    events: mpsc::Sender<RawEvent>,
    dropped: Arc<AtomicU64>,
) {
    use p4::stream_message_response::Update;
    let push = |ev: RawEvent| {
        if events.try_send(ev).is_err() {
            dropped.fetch_add(1, Ordering::Relaxed);
        }
    };
    let (code, message) = loop {
        match inbound.message().await {
            Ok(Some(msg)) => match msg.update {
                Some(Update::Arbitration(u)) => {
                    let outcome = lock(&arbitration).on_update(&u);
                    match outcome {
                        ArbitrationOutcome::Standing(s) => {
                            link.send_replace(Link::Standing(s));
                            push(RawEvent::Mastership(s));
                        }
                        ArbitrationOutcome::DuplicateElectionId => {
                            link.send_replace(Link::Duplicate);
                            push(RawEvent::Duplicate);
                        }
                        ArbitrationOutcome::Ignored => {}
                    }
                }
                Some(Update::Packet(p)) => push(RawEvent::Packet(p)),
                Some(Update::Digest(d)) => push(RawEvent::Digest(d)),
                Some(Update::IdleTimeoutNotification(n)) => push(RawEvent::Idle(n)),
                Some(Update::Error(e)) => push(RawEvent::Error(Box::new(e))),
                Some(Update::Other(_)) | None => {}
            },
            Ok(None) => break (None, "stream ended by the target".to_string()),
            Err(status) => break (Some(status.code()), status.message().to_string()),
        }
    };
    lock(&arbitration).on_disconnect();
    let reason = match code {
        Some(c) => format!("{c:?}: {message}"),
        None => message.clone(),
    };
    link.send_replace(Link::Closed { code, message });
    // The final event waits for room: a disconnect must not be lost to a full queue.
    let _ = events.send(RawEvent::Disconnected(reason)).await;
}

async fn open_session(
    config: &ClientConfig,
    grpc: &mut Grpc<Channel>,
    dropped: &Arc<AtomicU64>,
) -> Result<Session, ClientError> {
    let arbitration = Arc::new(Mutex::new(Arbitration::new(
        config.device_id,
        config.election_id,
        config.role.clone(),
    )));
    let (out_tx, out_rx) = mpsc::channel::<Outbound>(256);
    let first = Box::new(lock(&arbitration).request());
    out_tx
        .send(first)
        .await
        .map_err(|_| ClientError::StreamClosed {
            device_id: config.device_id,
        })?;
    let inbound = grpc
        .stream_channel(tokio_stream::StreamExt::map(
            tokio_stream::wrappers::ReceiverStream::new(out_rx),
            |m| *m,
        ))
        .await
        .map_err(|s| ClientError::rpc("StreamChannel", &s))?
        .into_inner();
    let (link_tx, mut link_rx) = watch::channel(Link::Pending);
    let (ev_tx, ev_rx) = mpsc::channel(config.event_capacity.max(1));
    let reader = tokio::spawn(read_stream(
        inbound,
        arbitration.clone(),
        link_tx,
        ev_tx,
        dropped.clone(),
    ));
    let session = Session {
        outbound: out_tx,
        arbitration,
        link: link_rx.clone(),
        events: ev_rx,
        reader,
    };
    let answered = tokio::time::timeout(
        config.arbitration_timeout,
        link_rx.wait_for(|l| *l != Link::Pending),
    )
    .await;
    let link = match answered {
        Err(_) => {
            return Err(ClientError::ArbitrationTimeout {
                device_id: config.device_id,
                timeout_ms: u64::try_from(config.arbitration_timeout.as_millis())
                    .unwrap_or(u64::MAX),
            })
        }
        Ok(Err(_)) => {
            return Err(ClientError::StreamClosed {
                device_id: config.device_id,
            })
        }
        Ok(Ok(l)) => l.clone(),
    };
    check_link(config, &link)?;
    Ok(session)
}

/// A connection (shared when the config names a pool) and a session opened on it.
async fn connect_session(
    config: &ClientConfig,
    dropped: &Arc<AtomicU64>,
) -> Result<(Grpc<Channel>, Option<Arc<Lease>>, Session), ClientError> {
    let Some(pool) = &config.channels else {
        let mut grpc = channel(config).await?;
        let session = open_session(config, &mut grpc, dropped).await?;
        return Ok((grpc, None, session));
    };
    let lease = pool.lease(config).await?;
    let mut grpc = lease.grpc.clone();
    match open_session(config, &mut grpc, dropped).await {
        Ok(session) => Ok((grpc, Some(lease), session)),
        Err(e) => {
            // The target answered our arbitration: the connection works. Anything else (no
            // stream, no answer) may be a dead connection that the next attempt must not
            // meet again.
            if !matches!(
                e,
                ClientError::ElectionIdInUse { .. } | ClientError::ArbitrationRefused { .. }
            ) {
                pool.forget(&config.target, &lease).await;
            }
            Err(e)
        }
    }
}

fn check_link(config: &ClientConfig, link: &Link) -> Result<(), ClientError> {
    match link {
        Link::Pending | Link::Standing(_) => Ok(()),
        Link::Duplicate => Err(ClientError::ElectionIdInUse {
            device_id: config.device_id,
            election_id: config.election_id,
            message: "the target reports our election id with a non-OK status".into(),
        }),
        // Targets (Stratum, PI) end the stream with INVALID_ARGUMENT when the election id is
        // already held by another client of the same role.
        Link::Closed {
            code: Some(code @ (tonic::Code::InvalidArgument | tonic::Code::AlreadyExists)),
            message,
        } => {
            let _ = code;
            Err(ClientError::ElectionIdInUse {
                device_id: config.device_id,
                election_id: config.election_id,
                message: message.clone(),
            })
        }
        Link::Closed { code, message } => Err(ClientError::ArbitrationRefused {
            device_id: config.device_id,
            code: code.unwrap_or(tonic::Code::Unavailable),
            message: message.clone(),
        }),
    }
}

impl P4RuntimeClient {
    /// fails on a duplicate election id, a refused arbitration or no answer in time.
    pub async fn connect(config: ClientConfig) -> Result<Self, ClientError> {
        let dropped = Arc::new(AtomicU64::new(0));
        let (grpc, lease, session) = connect_session(&config, &dropped).await?;
        Ok(Self {
            config,
            grpc,
            lease,
            session,
            index: None,
            pipeline: None,
            desired: DesiredState::new(),
            track_desired: true,
            dropped,
        })
    }

    /// Our current standing.
    pub fn mastership(&self) -> Mastership {
        lock(&self.session.arbitration).standing()
    }

    /// Whether we are primary now.
    pub fn is_primary(&self) -> bool {
        self.mastership().is_primary()
    }

    /// Waits until we are primary, the stream closes, or `timeout` passes.
    pub async fn wait_for_primary(&mut self, timeout: Duration) -> Result<(), ClientError> {
        let mut link = self.session.link.clone();
        let res = tokio::time::timeout(
            timeout,
            link.wait_for(|l| {
                matches!(
                    l,
                    Link::Standing(Mastership::Primary) | Link::Closed { .. } | Link::Duplicate
                )
            }),
        )
        .await;
        match res {
            Ok(Ok(l)) => {
                let l = l.clone();
                check_link(&self.config, &l)?;
                Ok(())
            }
            Ok(Err(_)) => Err(ClientError::StreamClosed {
                device_id: self.config.device_id,
            }),
            Err(_) => Err(self.not_primary()),
        }
    }

    /// Changes our election id and re-arbitrates (e.g. to take over as primary).
    pub async fn set_election_id(&mut self, election_id: u128) -> Result<(), ClientError> {
        self.config.election_id = election_id;
        let was_primary = self.is_primary();
        let req = {
            let mut a = lock(&self.session.arbitration);
            a.set_election_id(election_id);
            a.request()
        };
        self.session.link.mark_unchanged();
        self.send_stream(req).await?;
        // Targets announce only changes of primary; a primary raising its id hears nothing.
        if !was_primary {
            let mut link = self.session.link.clone();
            let _ = tokio::time::timeout(self.config.arbitration_timeout, link.changed()).await;
        }
        let l = self.session.link.borrow().clone();
        check_link(&self.config, &l)
    }

    pub(super) async fn send_stream(
        &mut self,
        msg: p4::StreamMessageRequest,
    ) -> Result<(), ClientError> {
        self.session
            .outbound
            .send(Box::new(msg))
            .await
            .map_err(|_| ClientError::StreamClosed {
                device_id: self.config.device_id,
            })
    }

    /// Whether the stream channel has closed.
    pub fn is_disconnected(&self) -> bool {
        matches!(*self.session.link.borrow(), Link::Closed { .. })
    }

    /// Reconnects with exponential backoff, re-arbitrates and, when primary, re-pushes the
    /// pipeline (skipped if the target still runs our cookie) and replays the desired state.
    /// Entities the target still holds (ALREADY_EXISTS) are re-sent as MODIFY.
    pub async fn reconnect(&mut self) -> Result<ReconnectReport, ClientError> {
        let mut delay = self.config.backoff_initial;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match self.reconnect_once().await {
                Ok(()) => break,
                // The target may not have noticed our old stream closing yet: a duplicate id
                // is retried briefly, then reported.
                Err(e @ ClientError::ElectionIdInUse { .. }) if attempts >= DUPLICATE_RETRIES => {
                    return Err(e)
                }
                Err(e) => {
                    if self
                        .config
                        .max_reconnect_attempts
                        .is_some_and(|max| attempts >= max)
                    {
                        return Err(ClientError::ReconnectExhausted {
                            target: self.config.target.clone(),
                            attempts,
                            last: Box::new(e),
                        });
                    }
                    tracing::debug!(target = %self.config.target, attempts, error = %e, "P4Runtime reconnect failed");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.config.backoff_max);
                }
            }
        }
        let mut report = ReconnectReport {
            attempts,
            primary: self.is_primary(),
            pipeline: None,
            replayed: 0,
        };
        if !report.primary {
            return Ok(report);
        }
        if self.pipeline.is_some() {
            report.pipeline = Some(self.push_pipeline(false).await?);
        }
        report.replayed = self.replay().await?;
        Ok(report)
    }

    async fn reconnect_once(&mut self) -> Result<(), ClientError> {
        // Close our side of the old stream first, or the target may still hold our election
        // id on it and refuse the new stream as a duplicate.
        self.session.reader.abort();
        self.session.outbound = mpsc::channel(1).0;
        let (grpc, lease, session) = connect_session(&self.config, &self.dropped).await?;
        self.grpc = grpc;
        self.lease = lease;
        self.session = session;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sessions_queue_slots_stay_small() {
        // Queues allocate blocks of 32 slots: 3.5 KB per device for 112 B events with the
        // stream error inline, 5.4 KB for 168 B outbound messages.
        let event = std::mem::size_of::<RawEvent>();
        assert!(event <= 64, "an event slot is {event} B");
        let outbound = std::mem::size_of::<Outbound>();
        assert!(outbound <= 8, "an outbound slot is {outbound} B");
    }
}
