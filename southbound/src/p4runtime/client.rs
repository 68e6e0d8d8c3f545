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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

use super::arbitration::{to_uint128, Arbitration, ArbitrationOutcome, Mastership};
use super::entity::TableEntrySpec;
use super::error::{ClientError, ResolveError};
use super::index::P4InfoIndex;
use super::packetio::{normalize_entity, DigestReport, ReceivedPacket};
use super::proto::p4::config::v1::P4Info;
use super::proto::p4::v1 as p4;
use super::proto::p4::v1::p4_runtime_client::P4RuntimeClient as Grpc;
use super::state::DesiredState;
use super::status::WriteError;
use crate::latency::LatencyHistogram;

/// Reconnect attempts that may meet our own lingering old stream before a duplicate election
/// id is treated as real.
const DUPLICATE_RETRIES: u32 = 10;

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

#[derive(Debug, Clone, PartialEq)]
enum Link {
    Pending,
    Standing(Mastership),
    Duplicate,
    Closed {
        code: Option<tonic::Code>,
        message: String,
    },
}

#[derive(Debug)]
enum RawEvent {
    Mastership(Mastership),
    Packet(p4::PacketIn),
    Digest(p4::DigestList),
    Idle(p4::IdleTimeoutNotification),
    Error(p4::StreamError),
    Duplicate,
    Disconnected(String),
}

struct Session {
    outbound: mpsc::Sender<p4::StreamMessageRequest>,
    arbitration: Arc<Mutex<Arbitration>>,
    link: watch::Receiver<Link>,
    events: mpsc::Receiver<RawEvent>,
    reader: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

#[derive(Debug, Clone)]
struct Pipeline {
    p4info: P4Info,
    device_config: Vec<u8>,
    cookie: u64,
}

/// A P4Runtime client session with one device (see the module docs).
pub struct P4RuntimeClient {
    config: ClientConfig,
    grpc: Grpc<Channel>,
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

fn lock(a: &Mutex<Arbitration>) -> std::sync::MutexGuard<'_, Arbitration> {
    // A poisoned lock only means another thread panicked mid-update; the state is a few
    // plain fields and stays usable.
    a.lock().unwrap_or_else(|e| e.into_inner())
}

async fn channel(config: &ClientConfig) -> Result<Grpc<Channel>, ClientError> {
    let uri = if config.target.contains("://") {
        config.target.clone()
    } else {
        format!("http://{}", config.target)
    };
    let endpoint = Endpoint::from_shared(uri).map_err(|e| ClientError::InvalidTarget {
        target: config.target.clone(),
        reason: e.to_string(),
    })?;
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
                Some(Update::Error(e)) => push(RawEvent::Error(e)),
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
    let (out_tx, out_rx) = mpsc::channel(256);
    let first = lock(&arbitration).request();
    out_tx
        .send(first)
        .await
        .map_err(|_| ClientError::StreamClosed {
            device_id: config.device_id,
        })?;
    let inbound = grpc
        .stream_channel(tokio_stream::wrappers::ReceiverStream::new(out_rx))
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
    /// Connects, opens the stream channel and arbitrates. Succeeds as primary or backup;
    /// fails on a duplicate election id, a refused arbitration or no answer in time.
    pub async fn connect(config: ClientConfig) -> Result<Self, ClientError> {
        let mut grpc = channel(&config).await?;
        let dropped = Arc::new(AtomicU64::new(0));
        let session = open_session(&config, &mut grpc, &dropped).await?;
        Ok(Self {
            config,
            grpc,
            session,
            index: None,
            pipeline: None,
            desired: DesiredState::new(),
            track_desired: true,
            dropped,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
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

    /// Whether writes should go through tracking of the desired state (on by default).
    pub fn set_track_desired(&mut self, on: bool) {
        self.track_desired = on;
    }

    /// The desired state the client would replay after a restart.
    pub fn desired(&self) -> &DesiredState {
        &self.desired
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

    async fn send_stream(&mut self, msg: p4::StreamMessageRequest) -> Result<(), ClientError> {
        self.session
            .outbound
            .send(msg)
            .await
            .map_err(|_| ClientError::StreamClosed {
                device_id: self.config.device_id,
            })
    }

    /// The P4Runtime version the target implements.
    pub async fn capabilities(&mut self) -> Result<String, ClientError> {
        let resp = self
            .grpc
            .capabilities(p4::CapabilitiesRequest {})
            .await
            .map_err(|s| ClientError::rpc("Capabilities", &s))?;
        Ok(resp.into_inner().p4runtime_api_version)
    }

    /// The installed pipeline's cookie (`None`: no pipeline or no cookie).
    pub async fn pipeline_cookie(&mut self) -> Result<Option<u64>, ClientError> {
        let cfg = self
            .get_pipeline(p4::get_forwarding_pipeline_config_request::ResponseType::CookieOnly)
            .await?;
        Ok(cfg.and_then(|c| c.cookie).map(|c| c.cookie))
    }

    /// Fetches the installed pipeline (the fields selected by `response_type`).
    pub async fn get_pipeline(
        &mut self,
        response_type: p4::get_forwarding_pipeline_config_request::ResponseType,
    ) -> Result<Option<p4::ForwardingPipelineConfig>, ClientError> {
        let req = p4::GetForwardingPipelineConfigRequest {
            device_id: self.config.device_id,
            response_type: response_type as i32,
        };
        match self.grpc.get_forwarding_pipeline_config(req).await {
            Ok(resp) => Ok(resp.into_inner().config),
            // Targets answer FAILED_PRECONDITION / NOT_FOUND when nothing is installed.
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::FailedPrecondition | tonic::Code::NotFound
                ) =>
            {
                Ok(None)
            }
            Err(s) => Err(ClientError::rpc("GetForwardingPipelineConfig", &s)),
        }
    }

    /// Adopts the P4Info installed on the target (when another controller pushed it).
    pub async fn fetch_p4info(&mut self) -> Result<Arc<P4InfoIndex>, ClientError> {
        let cfg = self
            .get_pipeline(p4::get_forwarding_pipeline_config_request::ResponseType::P4infoAndCookie)
            .await?;
        let Some(p4info) = cfg.and_then(|c| c.p4info) else {
            return Err(ClientError::NoPipeline {
                device_id: self.config.device_id,
            });
        };
        let index = Arc::new(
            P4InfoIndex::new(p4info).map_err(|e| ResolveError::Malformed {
                what: "P4Info from the target",
                why: e.to_string(),
            })?,
        );
        self.index = Some(index.clone());
        Ok(index)
    }

    /// Installs a pipeline with VERIFY_AND_COMMIT unless the target already runs `cookie`
    /// (default: [`pipeline_cookie`]) and `force` is false. A different cookie means a new
    /// program: the desired state of the old one is dropped.
    pub async fn set_pipeline(
        &mut self,
        p4info: P4Info,
        device_config: Vec<u8>,
        cookie: Option<u64>,
        force: bool,
    ) -> Result<PipelineOutcome, ClientError> {
        let index =
            Arc::new(
                P4InfoIndex::new(p4info.clone()).map_err(|e| ResolveError::Malformed {
                    what: "P4Info",
                    why: e.to_string(),
                })?,
            );
        let cookie = cookie.unwrap_or_else(|| pipeline_cookie(&p4info, &device_config));
        if self.pipeline.as_ref().is_some_and(|p| p.cookie != cookie) {
            self.desired.clear();
        }
        self.pipeline = Some(Pipeline {
            p4info,
            device_config,
            cookie,
        });
        self.index = Some(index);
        self.push_pipeline(force).await
    }

    async fn push_pipeline(&mut self, force: bool) -> Result<PipelineOutcome, ClientError> {
        let Some(pipeline) = self.pipeline.clone() else {
            return Err(ClientError::NoPipeline {
                device_id: self.config.device_id,
            });
        };
        if !force && self.pipeline_cookie().await? == Some(pipeline.cookie) {
            return Ok(PipelineOutcome::AlreadyRunning);
        }
        if !self.is_primary() {
            return Err(self.not_primary());
        }
        let req = p4::SetForwardingPipelineConfigRequest {
            device_id: self.config.device_id,
            role: lock(&self.session.arbitration).role_name().to_string(),
            election_id: self.election(),
            action: p4::set_forwarding_pipeline_config_request::Action::VerifyAndCommit as i32,
            config: Some(p4::ForwardingPipelineConfig {
                p4info: Some(pipeline.p4info),
                p4_device_config: pipeline.device_config,
                cookie: Some(p4::forwarding_pipeline_config::Cookie {
                    cookie: pipeline.cookie,
                }),
            }),
            ..Default::default()
        };
        self.grpc
            .set_forwarding_pipeline_config(req)
            .await
            .map_err(|s| ClientError::rpc("SetForwardingPipelineConfig", &s))?;
        Ok(PipelineOutcome::Installed)
    }

    /// Sends one batch (CONTINUE_ON_ERROR). On failure the error lists every failed update
    /// by index and entity; the updates the target applied are still recorded as desired.
    pub async fn write(&mut self, updates: Vec<p4::Update>) -> Result<(), ClientError> {
        if updates.is_empty() {
            return Ok(());
        }
        if !self.is_primary() {
            return Err(self.not_primary());
        }
        let req = p4::WriteRequest {
            device_id: self.config.device_id,
            role: lock(&self.session.arbitration).role_name().to_string(),
            election_id: self.election(),
            updates,
            atomicity: p4::write_request::Atomicity::ContinueOnError as i32,
            ..Default::default()
        };
        let updates = req.updates.clone();
        let started = std::time::Instant::now();
        let answer = self.grpc.write(req).await;
        // A status from the target is an answered write; a dead transport is not a latency.
        if answer
            .as_ref()
            .map_or_else(|s| s.code() != tonic::Code::Unavailable, |_| true)
        {
            self.config.write_latency.record(started.elapsed());
        }
        match answer {
            Ok(_) => {
                if self.track_desired {
                    for u in &updates {
                        self.desired.apply(u);
                    }
                }
                Ok(())
            }
            Err(s) => {
                let err = WriteError::from_status(&s, &updates, self.index.as_deref());
                if self.track_desired {
                    for (u, applied) in updates.iter().zip(&err.applied) {
                        if *applied {
                            self.desired.apply(u);
                        }
                    }
                }
                Err(err.into())
            }
        }
    }

    /// Builds an update of a table entry described by names (validated before sending).
    pub fn table_update(
        &self,
        op: p4::update::Type,
        spec: &TableEntrySpec,
    ) -> Result<p4::Update, ClientError> {
        let index = self.index()?;
        let entry = if op == p4::update::Type::Delete {
            index.encode_key(spec)?
        } else {
            index.encode_table_entry(spec)?
        };
        Ok(p4::Update {
            r#type: op as i32,
            entity: Some(p4::Entity {
                entity: Some(p4::entity::Entity::TableEntry(entry)),
            }),
        })
    }

    /// Validates and writes table entries in one batch.
    pub async fn write_entries(
        &mut self,
        op: p4::update::Type,
        specs: &[TableEntrySpec],
    ) -> Result<(), ClientError> {
        let updates = specs
            .iter()
            .map(|s| self.table_update(op, s))
            .collect::<Result<Vec<_>, _>>()?;
        self.write(updates).await
    }

    /// Reads entities (zero ids are wildcards), collecting every streamed response and
    /// normalising byte strings to canonical form.
    pub async fn read(
        &mut self,
        entities: Vec<p4::Entity>,
    ) -> Result<Vec<p4::Entity>, ClientError> {
        let req = p4::ReadRequest {
            device_id: self.config.device_id,
            role: lock(&self.session.arbitration).role_name().to_string(),
            entities,
        };
        let mut stream = self
            .grpc
            .read(req)
            .await
            .map_err(|s| ClientError::rpc("Read", &s))?
            .into_inner();
        let mut out = Vec::new();
        while let Some(resp) = stream
            .message()
            .await
            .map_err(|s| ClientError::rpc("Read", &s))?
        {
            out.extend(resp.entities.into_iter().map(|mut e| {
                normalize_entity(&mut e);
                e
            }));
        }
        Ok(out)
    }

    /// Every entry of `table`, with direct counter values when `with_counters`.
    pub async fn read_table(
        &mut self,
        table: &str,
        with_counters: bool,
    ) -> Result<Vec<p4::TableEntry>, ClientError> {
        let info = self.index()?.table(table)?;
        let entry = p4::TableEntry {
            table_id: info.id,
            counter_data: (with_counters && info.direct_counter.is_some())
                .then(p4::CounterData::default),
            ..Default::default()
        };
        let got = self
            .read(vec![super::entity::entity(p4::entity::Entity::TableEntry(
                entry,
            ))])
            .await?;
        Ok(got
            .into_iter()
            .filter_map(|e| match e.entity {
                Some(p4::entity::Entity::TableEntry(t)) => Some(t),
                _ => None,
            })
            .collect())
    }

    /// Cells of an indexed counter (`index: None` = all).
    pub async fn read_counter(
        &mut self,
        counter: &str,
        index: Option<i64>,
    ) -> Result<Vec<p4::CounterEntry>, ClientError> {
        let e = self.index()?.encode_counter(counter, index, None)?;
        let got = self
            .read(vec![super::entity::entity(
                p4::entity::Entity::CounterEntry(e),
            )])
            .await?;
        Ok(got
            .into_iter()
            .filter_map(|e| match e.entity {
                Some(p4::entity::Entity::CounterEntry(c)) => Some(c),
                _ => None,
            })
            .collect())
    }

    /// Cells of an indexed meter (`index: None` = all).
    pub async fn read_meter(
        &mut self,
        meter: &str,
        index: Option<i64>,
    ) -> Result<Vec<p4::MeterEntry>, ClientError> {
        let e = self.index()?.encode_meter(meter, index, None)?;
        let got = self
            .read(vec![super::entity::entity(p4::entity::Entity::MeterEntry(
                e,
            ))])
            .await?;
        Ok(got
            .into_iter()
            .filter_map(|e| match e.entity {
                Some(p4::entity::Entity::MeterEntry(m)) => Some(m),
                _ => None,
            })
            .collect())
    }

    /// Direct meter configurations of every entry of `table`.
    pub async fn read_direct_meters(
        &mut self,
        table: &str,
    ) -> Result<Vec<p4::DirectMeterEntry>, ClientError> {
        let info = self.index()?.table(table)?;
        let e = p4::DirectMeterEntry {
            table_entry: Some(p4::TableEntry {
                table_id: info.id,
                ..Default::default()
            }),
            ..Default::default()
        };
        let got = self
            .read(vec![super::entity::entity(
                p4::entity::Entity::DirectMeterEntry(e),
            )])
            .await?;
        Ok(got
            .into_iter()
            .filter_map(|e| match e.entity {
                Some(p4::entity::Entity::DirectMeterEntry(m)) => Some(m),
                _ => None,
            })
            .collect())
    }

    /// Members of an action profile.
    pub async fn read_members(
        &mut self,
        profile: &str,
    ) -> Result<Vec<p4::ActionProfileMember>, ClientError> {
        let id = self.index()?.profile(profile)?.id;
        let e = p4::ActionProfileMember {
            action_profile_id: id,
            ..Default::default()
        };
        let got = self
            .read(vec![super::entity::entity(
                p4::entity::Entity::ActionProfileMember(e),
            )])
            .await?;
        Ok(got
            .into_iter()
            .filter_map(|e| match e.entity {
                Some(p4::entity::Entity::ActionProfileMember(m)) => Some(m),
                _ => None,
            })
            .collect())
    }

    /// Groups of an action selector.
    pub async fn read_groups(
        &mut self,
        profile: &str,
    ) -> Result<Vec<p4::ActionProfileGroup>, ClientError> {
        let id = self.index()?.profile(profile)?.id;
        let e = p4::ActionProfileGroup {
            action_profile_id: id,
            ..Default::default()
        };
        let got = self
            .read(vec![super::entity::entity(
                p4::entity::Entity::ActionProfileGroup(e),
            )])
            .await?;
        Ok(got
            .into_iter()
            .filter_map(|e| match e.entity {
                Some(p4::entity::Entity::ActionProfileGroup(g)) => Some(g),
                _ => None,
            })
            .collect())
    }

    /// Sends a packet out with `packet_out` metadata given by field name.
    pub async fn packet_out(
        &mut self,
        payload: Vec<u8>,
        metadata: &[(&str, Vec<u8>)],
    ) -> Result<(), ClientError> {
        if !self.is_primary() {
            return Err(self.not_primary());
        }
        let packet = self.index()?.encode_packet_out(payload, metadata)?;
        self.send_stream(p4::StreamMessageRequest {
            update: Some(p4::stream_message_request::Update::Packet(packet)),
        })
        .await
    }

    /// Acknowledges a digest list.
    pub async fn ack_digest(&mut self, digest_id: u32, list_id: u64) -> Result<(), ClientError> {
        self.send_stream(p4::StreamMessageRequest {
            update: Some(p4::stream_message_request::Update::DigestAck(
                p4::DigestListAck { digest_id, list_id },
            )),
        })
        .await
    }

    /// The next stream event; `None` once the session is gone and drained.
    pub async fn next_event(&mut self) -> Option<StreamEvent> {
        let raw = self.session.events.recv().await?;
        Some(self.decode_event(raw))
    }

    fn decode_event(&self, raw: RawEvent) -> StreamEvent {
        let index = self.index.as_deref();
        match raw {
            RawEvent::Mastership(m) => StreamEvent::Mastership(m),
            RawEvent::Duplicate => StreamEvent::DuplicateElectionId,
            RawEvent::Idle(n) => StreamEvent::IdleTimeout(n),
            RawEvent::Error(e) => StreamEvent::StreamError(e),
            RawEvent::Disconnected(reason) => StreamEvent::Disconnected { reason },
            RawEvent::Packet(p) => match index {
                Some(ix) => match ix.decode_packet_in(p) {
                    Ok(pkt) => StreamEvent::PacketIn(pkt),
                    Err(e) => StreamEvent::Undecodable(e),
                },
                None => StreamEvent::Undecodable(ResolveError::Malformed {
                    what: "packet-in",
                    why: "no P4Info loaded".into(),
                }),
            },
            RawEvent::Digest(d) => match index {
                Some(ix) => match ix.decode_digest(&d) {
                    Ok(r) => StreamEvent::Digest(r),
                    Err(e) => StreamEvent::Undecodable(e),
                },
                None => StreamEvent::Undecodable(ResolveError::Malformed {
                    what: "digest list",
                    why: "no P4Info loaded".into(),
                }),
            },
        }
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
        let mut grpc = channel(&self.config).await?;
        let session = open_session(&self.config, &mut grpc, &self.dropped).await?;
        self.grpc = grpc;
        self.session = session;
        Ok(())
    }

    /// Writes the whole desired state to the target; returns how many entities were sent.
    pub async fn replay(&mut self) -> Result<usize, ClientError> {
        let updates = self.desired.replay_updates();
        let total = updates.len();
        let batch = self.config.replay_batch.max(1);
        let mut rest = updates.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<p4::Update> = rest.by_ref().take(batch).collect();
            match self.write(chunk.clone()).await {
                Ok(()) => {}
                Err(ClientError::Write(err)) => {
                    let mut retry = Vec::new();
                    for f in &err.failures {
                        if f.code != tonic::Code::AlreadyExists {
                            return Err(ClientError::Write(err));
                        }
                        if let Some(u) = chunk.get(f.index) {
                            let mut u = u.clone();
                            u.r#type = p4::update::Type::Modify as i32;
                            retry.push(u);
                        }
                    }
                    if err.failures.is_empty() {
                        return Err(ClientError::Write(err));
                    }
                    self.write(retry).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }
}
