//! The emulated fabric: devices 1..=N running prescient.p4, links between their ports, and the
//! streams of the clients connected to each device. Everything the gRPC service does goes through
//! here, so tests can also drive it directly.
//!
//! Locking: one `std::sync::Mutex` per device, never held across an `.await` nor while another
//! device's lock is taken (frames crossing links are queued and processed device by device).
//! Stream channels are bounded; a full channel drops the message (a switch CPU queue overflowing)
//! and logs it.
//!
//! Cabled-out ports ([`P4SimNetwork::cable_out`]) lead to switches run by another emulator (the
//! mixed fabric of [`crate::fabric`]): frames leaving them go to the [`Uplink`], frames arriving
//! from it enter through [`P4SimNetwork::receive`]. The uplink is called with one device's lock
//! held, so it must not call back into this network synchronously (it queues).

mod counters;
mod frames;
mod pipeline;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use prescient_southbound::p4runtime::proto::google::rpc::{Code, Status as RpcStatus};
use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use prost::Message;
use tokio::sync::mpsc;

use super::arbitration::{election, Arbitration, Notice, StreamId};
use super::error::EntityError;
use super::schema::{prescient_p4info, Schema, SchemaError};
use super::state::DeviceState;
use super::traffic::PortTraffic;

/// Messages to one client stream.
pub type StreamSender = mpsc::Sender<Result<p4::StreamMessageResponse, tonic::Status>>;

/// A device port.
pub type PortRef = (u64, u32);

/// Where frames leaving on a cabled-out port go: a switch another emulator runs.
pub trait Uplink: Send + Sync {
    /// `frame` left `from` having crossed `hops` switches; returns whether the far end took it.
    fn carry(&self, from: PortRef, frame: Vec<u8>, hops: usize) -> bool;
}

struct Pipeline {
    config: p4::ForwardingPipelineConfig,
    state: DeviceState,
}

struct Device {
    pipeline: Option<Pipeline>,
    saved: Option<(p4::ForwardingPipelineConfig, Arc<Schema>)>,
    arbitration: Arbitration,
    streams: BTreeMap<StreamId, StreamSender>,
    next_list_id: u64,
    unacked: BTreeSet<(u32, u64)>,
    host_rx: VecDeque<(u32, Vec<u8>)>,
}

impl Device {
    fn new(id: u64) -> Self {
        Self {
            pipeline: None,
            saved: None,
            arbitration: Arbitration::new(id),
            streams: BTreeMap::new(),
            next_list_id: 1,
            unacked: BTreeSet::new(),
            host_rx: VecDeque::new(),
        }
    }

    fn send(&self, stream: StreamId, update: p4::stream_message_response::Update) {
        if let Some(tx) = self.streams.get(&stream) {
            let msg = p4::StreamMessageResponse {
                update: Some(update),
            };
            if tx.try_send(Ok(msg)).is_err() {
                tracing::warn!(stream, "stream channel full or closed: message dropped");
            }
        }
    }

    fn send_notices(&self, notices: Vec<Notice>) {
        for n in notices {
            self.send(
                n.stream,
                p4::stream_message_response::Update::Arbitration(n.update),
            );
        }
    }

    fn state(&mut self) -> Result<&mut DeviceState, EntityError> {
        self.pipeline
            .as_mut()
            .map(|p| &mut p.state)
            .ok_or_else(|| EntityError::precondition("no forwarding pipeline config has been set"))
    }
}

/// Emulated devices and the links between them.
pub struct P4SimNetwork {
    devices: BTreeMap<u64, Mutex<Device>>,
    links: BTreeMap<PortRef, PortRef>,
    /// Ports whose cable leads out of this emulator, to the uplink.
    cabled_out: BTreeSet<PortRef>,
    /// Both ends of every link that is down (frames do not cross it).
    down: Mutex<BTreeSet<PortRef>>,
    uplink: OnceLock<Arc<dyn Uplink>>,
    expected: Arc<Schema>,
    traffic: PortTraffic,
    started: std::time::Instant,
}

/// The result of a Write: per-update errors (None for success) when any failed.
pub type WriteOutcome = Result<(), Vec<Option<EntityError>>>;

impl P4SimNetwork {
    /// `devices` devices with ids 1..=devices and no links.
    pub fn new(devices: u64) -> Result<Self, SchemaError> {
        Self::with_devices(1..=devices)
    }

    /// Devices with the given ids (duplicates count once) and no links.
    pub fn with_devices(ids: impl IntoIterator<Item = u64>) -> Result<Self, SchemaError> {
        let expected = Arc::new(Schema::from_p4info(&prescient_p4info()?)?);
        Ok(Self {
            devices: ids
                .into_iter()
                .map(|id| (id, Mutex::new(Device::new(id))))
                .collect(),
            links: BTreeMap::new(),
            cabled_out: BTreeSet::new(),
            down: Mutex::new(BTreeSet::new()),
            uplink: OnceLock::new(),
            expected,
            traffic: PortTraffic::default(),
            started: std::time::Instant::now(),
        })
    }

    /// `n` devices in a line: port 2 of device i is linked to port 1 of device i+1.
    pub fn linear(n: u64) -> Result<Self, SchemaError> {
        let mut net = Self::new(n)?;
        for i in 1..n {
            net.link((i, 2), (i + 1, 1));
        }
        Ok(net)
    }

    /// `n` devices in a ring: the line plus port 2 of device n to port 1 of device 1.
    pub fn ring(n: u64) -> Result<Self, SchemaError> {
        let mut net = Self::linear(n)?;
        if n > 2 {
            net.link((n, 2), (1, 1));
        }
        Ok(net)
    }

    /// Links two ports (both directions), replacing links they had.
    pub fn link(&mut self, a: PortRef, b: PortRef) {
        for p in [a, b] {
            if let Some(peer) = self.links.remove(&p) {
                self.links.remove(&peer);
            }
        }
        self.links.insert(a, b);
        self.links.insert(b, a);
    }

    /// Takes the link at `port` down (both ends) or brings it up: frames stop crossing it, as on
    /// a pulled cable (P4Runtime reports no port status; a controller notices by its probes).
    /// False when `port` has no link.
    pub fn set_link_up(&self, port: PortRef, up: bool) -> bool {
        let Some(&peer) = self.links.get(&port) else {
            return false;
        };
        let mut down = self
            .down
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for end in [port, peer] {
            if up {
                down.remove(&end);
            } else {
                down.insert(end);
            }
        }
        true
    }

    fn link_is_down(&self, port: PortRef) -> bool {
        self.down
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&port)
    }

    /// Marks `port` as cabled out of this emulator (dropping a link it had): what leaves it goes
    /// to the [`Uplink`], once one is set.
    pub fn cable_out(&mut self, port: PortRef) {
        if let Some(peer) = self.links.remove(&port) {
            self.links.remove(&peer);
        }
        self.cabled_out.insert(port);
    }

    /// Ports cabled out of this emulator.
    pub fn cabled_out(&self) -> Vec<PortRef> {
        self.cabled_out.iter().copied().collect()
    }

    /// Sets where cabled-out ports lead; false (and nothing changed) when one was already set.
    pub fn set_uplink(&self, uplink: Arc<dyn Uplink>) -> bool {
        self.uplink.set(uplink).is_ok()
    }

    /// Replaces the background traffic model.
    pub fn set_traffic(&mut self, traffic: PortTraffic) {
        self.traffic = traffic;
    }

    /// Device ids.
    pub fn device_ids(&self) -> Vec<u64> {
        self.devices.keys().copied().collect()
    }

    /// Links, each once as `(a, b)` with `a < b`.
    pub fn links(&self) -> Vec<(PortRef, PortRef)> {
        self.links
            .iter()
            .filter(|(a, b)| a < b)
            .map(|(a, b)| (*a, *b))
            .collect()
    }

    fn device(&self, id: u64) -> Result<MutexGuard<'_, Device>, EntityError> {
        let d = self
            .devices
            .get(&id)
            .ok_or_else(|| EntityError::not_found(format!("device id {id} does not exist")))?;
        // A poisoned lock only means another request panicked; the state itself is consistent
        // because every mutation validates before it changes anything.
        Ok(d.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Seconds since the network was created (the time of meters and digests).
    pub fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    // ---- streams and arbitration ----

    /// Registers a new stream's sender; it receives nothing until it arbitrates.
    pub fn open_stream(
        &self,
        device: u64,
        stream: StreamId,
        tx: StreamSender,
    ) -> Result<(), EntityError> {
        self.device(device)?.streams.insert(stream, tx);
        Ok(())
    }

    /// Handles a MasterArbitrationUpdate from `stream`.
    pub fn arbitrate(
        &self,
        stream: StreamId,
        update: &p4::MasterArbitrationUpdate,
    ) -> Result<(), EntityError> {
        let mut d = self.device(update.device_id)?;
        let role = update
            .role
            .as_ref()
            .map_or("", |r| r.name.as_str())
            .to_owned();
        let notices = d
            .arbitration
            .update(stream, &role, election(update.election_id.as_ref()))?;
        d.send_notices(notices);
        Ok(())
    }

    /// The clients of the default role on `device`: election id and whether it is primary
    /// (what a test checks of arbitration; empty for an unknown device).
    pub fn clients(&self, device: u64) -> Vec<(Option<u128>, bool)> {
        self.device(device)
            .map(|d| d.arbitration.clients(""))
            .unwrap_or_default()
    }

    /// Forgets a stream (closed by the client or the server).
    pub fn close_stream(&self, device: u64, stream: StreamId) {
        if let Ok(mut d) = self.device(device) {
            d.streams.remove(&stream);
            let notices = d.arbitration.remove(stream);
            d.send_notices(notices);
        }
    }

    /// Whether `stream` is still registered on `device` (false after a restart).
    pub fn stream_alive(&self, device: u64, stream: StreamId) -> bool {
        self.device(device)
            .is_ok_and(|d| d.streams.contains_key(&stream))
    }

    // ---- write and read ----

    /// Write (spec §12): arbitration checked, then each update applied; with ROLLBACK_ON_ERROR or
    /// DATAPLANE_ATOMIC nothing is kept when one fails.
    pub fn write(&self, req: &p4::WriteRequest) -> Result<WriteOutcome, EntityError> {
        use p4::write_request::Atomicity as At;
        let mut d = self.device(req.device_id)?;
        d.arbitration
            .check_primary(&req.role, election(req.election_id.as_ref()))?;
        let atomicity = At::try_from(req.atomicity)
            .map_err(|_| EntityError::invalid(format!("atomicity {} unknown", req.atomicity)))?;
        let state = d.state()?;
        let backup = (atomicity != At::ContinueOnError).then(|| state.clone());
        let results: Vec<Option<EntityError>> =
            req.updates.iter().map(|u| state.apply(u).err()).collect();
        if results.iter().all(Option::is_none) {
            return Ok(Ok(()));
        }
        let Some(b) = backup else {
            return Ok(Err(results));
        };
        *state = b;
        // Nothing was kept: the updates that had succeeded report that they were undone.
        let results = results
            .into_iter()
            .map(|r| {
                r.or_else(|| {
                    Some(EntityError::new(
                        Code::Aborted,
                        "rolled back: another update of the batch failed",
                    ))
                })
            })
            .collect();
        Ok(Err(results))
    }

    /// Read: every entity matching each filter.
    pub fn read(&self, req: &p4::ReadRequest) -> Result<Vec<p4::Entity>, EntityError> {
        let mut d = self.device(req.device_id)?;
        let state = d.state()?;
        let mut out = Vec::new();
        for e in &req.entities {
            out.extend(state.read(e)?);
        }
        Ok(out)
    }

    // ---- lifecycle ----

    /// Emulates a reboot of `device`: pipeline and state dropped, every stream closed with
    /// UNAVAILABLE. Clients must reconnect, arbitrate, push the pipeline and replay.
    pub fn restart(&self, device: u64) -> Result<(), EntityError> {
        let mut d = self.device(device)?;
        for tx in d.streams.values() {
            let _ = tx.try_send(Err(tonic::Status::unavailable("device restarted")));
        }
        *d = Device::new(device);
        Ok(())
    }
}

/// Encodes per-update errors as the `google.rpc.Status` P4Runtime puts in a failed Write's details
/// (spec §12.3): overall UNKNOWN, one `p4.v1.Error` per update in order, OK for those applied.
pub fn write_error_status(errors: &[Option<EntityError>]) -> tonic::Status {
    let details = errors
        .iter()
        .map(|e| {
            let err = match e {
                None => p4::Error {
                    canonical_code: Code::Ok as i32,
                    ..Default::default()
                },
                Some(e) => p4::Error {
                    canonical_code: e.code as i32,
                    message: e.message.clone(),
                    ..Default::default()
                },
            };
            prost_types::Any {
                type_url: "type.googleapis.com/p4.v1.Error".to_owned(),
                value: err.encode_to_vec(),
            }
        })
        .collect();
    let failed = errors.iter().filter(|e| e.is_some()).count();
    let message = format!("{failed} of {} updates failed", errors.len());
    let status = RpcStatus {
        code: Code::Unknown as i32,
        message: message.clone(),
        details,
    };
    tonic::Status::with_details(tonic::Code::Unknown, message, status.encode_to_vec().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn primary(net: &P4SimNetwork, device: u64) {
        net.arbitrate(
            1,
            &p4::MasterArbitrationUpdate {
                device_id: device,
                election_id: Some(p4::Uint128 { high: 0, low: 1 }),
                ..Default::default()
            },
        )
        .unwrap();
        net.set_pipeline(&p4::SetForwardingPipelineConfigRequest {
            device_id: device,
            election_id: Some(p4::Uint128 { high: 0, low: 1 }),
            action: p4::set_forwarding_pipeline_config_request::Action::VerifyAndCommit as i32,
            config: Some(p4::ForwardingPipelineConfig {
                p4info: prescient_p4info().ok(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap();
    }

    fn mcast(id: u32) -> p4::Update {
        use p4::packet_replication_engine_entry::Type as P;
        p4::Update {
            r#type: p4::update::Type::Insert as i32,
            entity: Some(p4::Entity {
                entity: Some(p4::entity::Entity::PacketReplicationEngineEntry(
                    p4::PacketReplicationEngineEntry {
                        r#type: Some(P::MulticastGroupEntry(p4::MulticastGroupEntry {
                            multicast_group_id: id,
                            replicas: vec![],
                        })),
                    },
                )),
            }),
        }
    }

    #[test]
    fn rollback_keeps_nothing_and_says_so() {
        let net = P4SimNetwork::new(1).unwrap();
        primary(&net, 1);
        let req = p4::WriteRequest {
            device_id: 1,
            election_id: Some(p4::Uint128 { high: 0, low: 1 }),
            updates: vec![mcast(1), mcast(1)],
            atomicity: p4::write_request::Atomicity::RollbackOnError as i32,
            ..Default::default()
        };
        let errors = net.write(&req).unwrap().unwrap_err();
        let codes: Vec<Code> = errors.iter().map(|e| e.as_ref().unwrap().code).collect();
        assert_eq!(codes, vec![Code::Aborted, Code::AlreadyExists]);
        let read = p4::ReadRequest {
            device_id: 1,
            entities: vec![p4::Entity {
                entity: Some(p4::entity::Entity::PacketReplicationEngineEntry(
                    p4::PacketReplicationEngineEntry {
                        r#type: Some(
                            p4::packet_replication_engine_entry::Type::MulticastGroupEntry(
                                Default::default(),
                            ),
                        ),
                    },
                )),
            }],
            ..Default::default()
        };
        assert!(net.read(&read).unwrap().is_empty());
        // CONTINUE_ON_ERROR keeps the first.
        let errors = net
            .write(&p4::WriteRequest {
                atomicity: 0,
                ..req
            })
            .unwrap()
            .unwrap_err();
        assert!(errors[0].is_none());
        assert_eq!(net.read(&read).unwrap().len(), 1);
    }

    #[test]
    fn frames_cross_links_until_a_host_port() {
        let net = P4SimNetwork::linear(3).unwrap();
        for d in 1..=3 {
            primary(&net, d);
        }
        // A route on each device towards device 3's host port 3.
        for d in 1..=3u64 {
            let state_port = if d == 3 { 3 } else { 2 };
            let mut dev = net.device(d).unwrap();
            let state = dev.state().unwrap();
            let t = state
                .schema
                .table_by_name("PrescientIngress.ipv4_lpm")
                .unwrap()
                .id;
            let a = state
                .schema
                .action_by_name("PrescientIngress.forward")
                .unwrap()
                .id;
            let entry = p4::TableEntry {
                table_id: t,
                r#match: vec![p4::FieldMatch {
                    field_id: 1,
                    field_match_type: Some(p4::field_match::FieldMatchType::Lpm(
                        p4::field_match::Lpm {
                            value: vec![10, 0, 3, 0],
                            prefix_len: 24,
                        },
                    )),
                }],
                action: Some(p4::TableAction {
                    r#type: Some(p4::table_action::Type::Action(p4::Action {
                        action_id: a,
                        params: vec![
                            p4::action::Param {
                                param_id: 1,
                                value: vec![state_port],
                            },
                            p4::action::Param {
                                param_id: 2,
                                value: vec![d as u8],
                            },
                            p4::action::Param {
                                param_id: 3,
                                value: vec![0x33],
                            },
                        ],
                    })),
                }),
                ..Default::default()
            };
            state
                .apply(&p4::Update {
                    r#type: p4::update::Type::Insert as i32,
                    entity: Some(p4::Entity {
                        entity: Some(p4::entity::Entity::TableEntry(entry)),
                    }),
                })
                .unwrap();
        }
        let f = super::super::process::udp_frame(0xaa, 0x01, 0x0a00_0101, 0x0a00_0305, 1, 2, b"hi");
        let out = net.inject(1, 3, f);
        assert_eq!(out.len(), 1);
        let (dev, port, frame) = &out[0];
        assert_eq!((*dev, *port), (3, 3));
        assert_eq!(frame[22], 61, "three hops decrement the TTL three times");
        assert_eq!(net.take_host_frames(3).len(), 1);
        assert_eq!(
            net.process(1, 3, &[0; 10]).unwrap(),
            vec![],
            "runt frames are dropped"
        );
    }
}
