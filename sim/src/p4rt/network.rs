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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use prescient_southbound::p4runtime::proto::google::rpc::{Code, Status as RpcStatus};
use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use prost::Message;
use tokio::sync::mpsc;

use super::arbitration::{election, Arbitration, Notice, StreamId};
use super::bytes;
use super::error::EntityError;
use super::process::CPU_PORT;
use super::schema::{prescient_p4info, Schema, SchemaError};
use super::state::DeviceState;
use super::traffic::PortTraffic;
use crate::traffic::PortCounterValues;

/// Messages to one client stream.
pub type StreamSender = mpsc::Sender<Result<p4::StreamMessageResponse, tonic::Status>>;

/// Frames crossing at most this many links, so forwarding loops end.
const MAX_HOPS: usize = 32;
/// Frames kept per device for frames leaving on unlinked (host) ports.
const HOST_QUEUE: usize = 1024;

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

    /// Handles a PacketOut from `stream`: only the primary may send.
    pub fn packet_out(
        &self,
        device: u64,
        stream: StreamId,
        packet: &p4::PacketOut,
    ) -> Result<(), EntityError> {
        let port = {
            let mut d = self.device(device)?;
            if !d.arbitration.is_primary(stream) {
                return Err(EntityError::new(
                    Code::PermissionDenied,
                    "only the primary may send packets",
                ));
            }
            let state = d.state()?;
            let id = state
                .schema
                .packet_metadata_id("packet_out", "egress_port")
                .ok_or_else(|| EntityError::invalid("pipeline has no packet_out.egress_port"))?;
            let m = packet
                .metadata
                .iter()
                .find(|m| m.metadata_id == id)
                .ok_or_else(|| EntityError::invalid("packet_out without egress_port metadata"))?;
            bytes::decode(&m.value, 9)
                .map_err(|e| EntityError::invalid(format!("packet_out egress_port: {e}")))?
                as u32
        };
        let mut frame = vec![(port >> 1) as u8, ((port & 1) << 7) as u8];
        frame.extend_from_slice(&packet.payload);
        self.deliver(device, CPU_PORT, frame);
        Ok(())
    }

    /// Runs one device's pipeline on `frame` arriving at `port`, without following links:
    /// the `(egress port, frame)` pairs it emits (port 255 is the CPU). Counters and learned hosts
    /// are updated as for real traffic; nothing is sent to clients.
    pub fn process(
        &self,
        device: u64,
        port: u32,
        frame: &[u8],
    ) -> Result<Vec<(u32, Vec<u8>)>, EntityError> {
        let now = self.now();
        let mut d = self.device(device)?;
        Ok(d.state()?.process(port, frame, now).outputs)
    }

    /// Injects `frame` as if received from a host on `(device, port)`, and forwards the results
    /// through the fabric. Returns the frames that left on unlinked ports as `(device, port, frame)`.
    pub fn inject(&self, device: u64, port: u32, frame: Vec<u8>) -> Vec<(u64, u32, Vec<u8>)> {
        self.deliver(device, port, frame)
    }

    /// A frame arrives at `(device, port)` over a cable from outside this emulator, having crossed
    /// `hops` switches, and is forwarded through the fabric (hosts' frames are kept as by
    /// [`inject`](Self::inject)).
    pub fn receive(&self, device: u64, port: u32, frame: Vec<u8>, hops: usize) {
        self.deliver_from(device, port, frame, hops);
    }

    /// Frames that left `device` on unlinked (host) ports since the last call.
    pub fn take_host_frames(&self, device: u64) -> Vec<(u32, Vec<u8>)> {
        self.device(device)
            .map(|mut d| d.host_rx.drain(..).collect())
            .unwrap_or_default()
    }

    fn deliver(&self, device: u64, port: u32, frame: Vec<u8>) -> Vec<(u64, u32, Vec<u8>)> {
        self.deliver_from(device, port, frame, 0)
    }

    fn deliver_from(
        &self,
        device: u64,
        port: u32,
        frame: Vec<u8>,
        hops: usize,
    ) -> Vec<(u64, u32, Vec<u8>)> {
        let now = self.now();
        let mut queue = VecDeque::from([(device, port, frame, hops)]);
        let mut to_hosts = Vec::new();
        while let Some((dev, port, frame, hops)) = queue.pop_front() {
            let Ok(mut d) = self.device(dev) else {
                continue;
            };
            let Some(pipeline) = d.pipeline.as_mut() else {
                continue;
            };
            let out = pipeline.state.process(port, &frame, now);
            let schema = Arc::clone(&pipeline.state.schema);
            let digest_on = schema
                .digest_by_name("learned_host_t")
                .filter(|id| pipeline.state.digests.contains_key(id));
            for (egress, f) in out.outputs {
                if egress == CPU_PORT {
                    let mut metadata = Vec::new();
                    if let Some(id) = schema.packet_metadata_id("packet_in", "ingress_port") {
                        metadata.push(p4::PacketMetadata {
                            metadata_id: id,
                            value: bytes::encode(u128::from(port)),
                        });
                    }
                    if let Some(id) = schema.packet_metadata_id("packet_in", "_pad") {
                        metadata.push(p4::PacketMetadata {
                            metadata_id: id,
                            value: vec![0],
                        });
                    }
                    let pin = p4::PacketIn {
                        payload: f,
                        metadata,
                    };
                    for s in d.arbitration.primaries() {
                        d.send(s, p4::stream_message_response::Update::Packet(pin.clone()));
                    }
                } else if let Some((peer, peer_port)) = self.links.get(&(dev, egress)) {
                    // A frame out of a downed link's port is lost on the pulled cable.
                    if hops < MAX_HOPS && !self.link_is_down((dev, egress)) {
                        queue.push_back((*peer, *peer_port, f, hops + 1));
                    }
                } else if self.cabled_out.contains(&(dev, egress)) {
                    // No uplink yet: the cable is unplugged at the far end and the frame is lost.
                    if let Some(up) = self.uplink.get() {
                        up.carry((dev, egress), f, hops + 1);
                    }
                } else {
                    if d.host_rx.len() >= HOST_QUEUE {
                        d.host_rx.pop_front();
                    }
                    d.host_rx.push_back((egress, f.clone()));
                    to_hosts.push((dev, egress, f));
                }
            }
            if let Some(digest_id) = digest_on {
                if !out.learned.is_empty() {
                    let list_id = d.next_list_id;
                    d.next_list_id += 1;
                    d.unacked.insert((digest_id, list_id));
                    let data = out
                        .learned
                        .iter()
                        .map(|(m, ip, p)| learned_host(*m, *ip, *p))
                        .collect();
                    let list = p4::DigestList {
                        digest_id,
                        list_id,
                        data,
                        timestamp: (now * 1e9) as i64,
                    };
                    for s in d.arbitration.primaries() {
                        d.send(s, p4::stream_message_response::Update::Digest(list.clone()));
                    }
                }
            }
        }
        to_hosts
    }

    /// Handles a DigestListAck.
    pub fn digest_ack(&self, device: u64, ack: &p4::DigestListAck) -> Result<(), EntityError> {
        let mut d = self.device(device)?;
        if d.unacked.remove(&(ack.digest_id, ack.list_id)) {
            Ok(())
        } else {
            Err(EntityError::not_found(format!(
                "digest list {} of digest {:#010x} is not pending",
                ack.list_id, ack.digest_id
            )))
        }
    }

    /// Digest lists sent and not yet acknowledged on `device`.
    pub fn pending_digests(&self, device: u64) -> usize {
        self.device(device).map_or(0, |d| d.unacked.len())
    }

    // ---- pipeline ----

    /// SetForwardingPipelineConfig (spec §15).
    pub fn set_pipeline(
        &self,
        req: &p4::SetForwardingPipelineConfigRequest,
    ) -> Result<(), EntityError> {
        use p4::set_forwarding_pipeline_config_request::Action as A;
        let mut d = self.device(req.device_id)?;
        d.arbitration
            .check_primary(&req.role, election(req.election_id.as_ref()))?;
        let action = A::try_from(req.action).unwrap_or(A::Unspecified);
        let verify = |c: Option<&p4::ForwardingPipelineConfig>| -> Result<(p4::ForwardingPipelineConfig, Arc<Schema>), EntityError> {
            let c = c.ok_or_else(|| EntityError::invalid("config missing"))?;
            let info = c.p4info.as_ref().ok_or_else(|| EntityError::invalid("config without a P4Info"))?;
            let schema = Schema::from_p4info(info).map_err(|e| EntityError::invalid(e.to_string()))?;
            let diff = self.expected.differences(&schema);
            if !diff.is_empty() {
                return Err(EntityError::invalid(format!(
                    "this target runs prescient.p4 only; the P4Info differs: {}",
                    diff.join("; ")
                )));
            }
            Ok((c.clone(), Arc::new(schema)))
        };
        match action {
            A::Verify => verify(req.config.as_ref()).map(|_| ()),
            A::VerifyAndSave => {
                d.saved = Some(verify(req.config.as_ref())?);
                Ok(())
            }
            A::VerifyAndCommit => {
                let (config, schema) = verify(req.config.as_ref())?;
                d.pipeline = Some(Pipeline {
                    config,
                    state: DeviceState::new(schema),
                });
                d.saved = None;
                d.unacked.clear();
                Ok(())
            }
            A::Commit => {
                let (config, schema) = d.saved.take().ok_or_else(|| {
                    EntityError::precondition(
                        "COMMIT without a saved config (VERIFY_AND_SAVE first)",
                    )
                })?;
                d.pipeline = Some(Pipeline {
                    config,
                    state: DeviceState::new(schema),
                });
                Ok(())
            }
            A::ReconcileAndCommit => {
                // Same program (checked by verify): keep the forwarding state, take the new config.
                let (config, schema) = verify(req.config.as_ref())?;
                match d.pipeline.as_mut() {
                    Some(p) if same_ids(&p.state.schema, &schema) => {
                        p.config = config;
                        p.state.schema = schema;
                    }
                    Some(_) => {
                        return Err(EntityError::unimplemented(
                            "RECONCILE_AND_COMMIT with renumbered ids: use VERIFY_AND_COMMIT and replay",
                        ))
                    }
                    None => {
                        d.pipeline = Some(Pipeline {
                            config,
                            state: DeviceState::new(schema),
                        })
                    }
                }
                Ok(())
            }
            A::Unspecified => Err(EntityError::invalid("pipeline config action unspecified")),
        }
    }

    /// GetForwardingPipelineConfig, honouring `response_type`.
    pub fn get_pipeline(
        &self,
        req: &p4::GetForwardingPipelineConfigRequest,
    ) -> Result<p4::ForwardingPipelineConfig, EntityError> {
        use p4::get_forwarding_pipeline_config_request::ResponseType as R;
        let d = self.device(req.device_id)?;
        let Some(p) = d.pipeline.as_ref() else {
            // No config yet reads as an empty config, not an error.
            return Ok(p4::ForwardingPipelineConfig::default());
        };
        let c = p.config.clone();
        Ok(match R::try_from(req.response_type).unwrap_or(R::All) {
            R::All => c,
            R::CookieOnly => p4::ForwardingPipelineConfig {
                cookie: c.cookie,
                ..Default::default()
            },
            R::P4infoAndCookie => p4::ForwardingPipelineConfig {
                p4info: c.p4info,
                cookie: c.cookie,
                ..Default::default()
            },
            R::DeviceConfigAndCookie => p4::ForwardingPipelineConfig {
                p4_device_config: c.p4_device_config,
                cookie: c.cookie,
                ..Default::default()
            },
        })
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

    // ---- lifecycle and traffic ----

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

    /// Adds background traffic for model times `[t0, t1)` to the port counters of both ends of
    /// every link (tx at the sender, rx at the receiver).
    pub fn advance_traffic(&self, t0: f64, t1: f64) {
        self.advance_traffic_scaled(t0, t1, 1.0);
    }

    /// As [`advance_traffic`](Self::advance_traffic) with the interval's volume multiplied by
    /// `volume` (`1 / time_scale`: compressed time runs the cycles fast, the rates keep their size).
    pub fn advance_traffic_scaled(&self, t0: f64, t1: f64, volume: f64) {
        for (&(dev, port), &(peer, peer_port)) in &self.links {
            let packets = self.traffic.packets_scaled(dev, port, t0, t1, volume);
            let bytes = packets.saturating_mul(self.traffic.packet_bytes);
            self.add_counter(dev, "PrescientEgress.tx_port_counter", port, packets, bytes);
            self.add_counter(
                peer,
                "PrescientIngress.rx_port_counter",
                peer_port,
                packets,
                bytes,
            );
        }
    }

    /// Adds traffic another model routed through `(device, port)` to its port counters (received
    /// and transmitted `(packets, bytes)`), as [`advance_traffic`](Self::advance_traffic) does.
    /// A device without a pipeline counts nothing (its counters start with the pipeline).
    pub fn add_port_traffic(&self, device: u64, port: u32, rx: (u64, u64), tx: (u64, u64)) {
        if rx.0 > 0 || rx.1 > 0 {
            self.add_counter(device, "PrescientIngress.rx_port_counter", port, rx.0, rx.1);
        }
        if tx.0 > 0 || tx.1 > 0 {
            self.add_counter(device, "PrescientEgress.tx_port_counter", port, tx.0, tx.1);
        }
    }

    /// Adds traffic another model sent from `pair.0` to `pair.1` into the fabric at `device` to
    /// the direct counter of its `pair_count` entry, if the controller installed one.
    pub fn add_pair_traffic(
        &self,
        device: u64,
        pair: (std::net::Ipv4Addr, std::net::Ipv4Addr),
        packets: u64,
        bytes: u64,
    ) {
        let Ok(mut d) = self.device(device) else {
            return;
        };
        let Ok(state) = d.state() else { return };
        let key = [
            ("hdr.ipv4.src_addr", u128::from(u32::from(pair.0))),
            ("hdr.ipv4.dst_addr", u128::from(u32::from(pair.1))),
        ];
        if let Some(entry) = state.lookup("PrescientIngress.pair_count", &key) {
            let add = |v: i64, n: u64| v.saturating_add(i64::try_from(n).unwrap_or(i64::MAX));
            entry.counter.packet_count = add(entry.counter.packet_count, packets);
            entry.counter.byte_count = add(entry.counter.byte_count, bytes);
        }
    }

    /// The program's port counters of `(device, port)`: None without such a device or pipeline.
    pub fn port_counters(&self, device: u64, port: u32) -> Option<PortCounterValues> {
        let mut d = self.device(device).ok()?;
        let state = d.state().ok()?;
        let cell = |name: &str| {
            let id = state.schema.counter_by_name(name)?.id;
            let c = state.counters.get(&id)?.get(port as usize)?;
            Some((
                u64::try_from(c.packet_count).unwrap_or(0),
                u64::try_from(c.byte_count).unwrap_or(0),
            ))
        };
        let (rx_packets, rx_bytes) = cell("PrescientIngress.rx_port_counter")?;
        let (tx_packets, tx_bytes) = cell("PrescientEgress.tx_port_counter")?;
        Some(PortCounterValues {
            rx_packets,
            tx_packets,
            rx_bytes,
            tx_bytes,
            ..PortCounterValues::default()
        })
    }

    fn add_counter(&self, device: u64, name: &str, port: u32, packets: u64, bytes: u64) {
        let Ok(mut d) = self.device(device) else {
            return;
        };
        let Ok(state) = d.state() else { return };
        let (packets, bytes) = (
            i64::try_from(packets).unwrap_or(i64::MAX),
            i64::try_from(bytes).unwrap_or(i64::MAX),
        );
        let Some(id) = state.schema.counter_by_name(name).map(|c| c.id) else {
            return;
        };
        if let Some(cell) = state
            .counters
            .get_mut(&id)
            .and_then(|c| c.get_mut(port as usize))
        {
            cell.packet_count = cell.packet_count.saturating_add(packets);
            cell.byte_count = cell.byte_count.saturating_add(bytes);
        }
        if name != "PrescientEgress.tx_port_counter" {
            return;
        }
        // The traffic leaving a port was routed there: spread it over the routes forwarding to
        // that port, so their direct counters move too (the controller's per-prefix rates).
        let Some(lpm) = state
            .schema
            .table_by_name("PrescientIngress.ipv4_lpm")
            .map(|t| t.id)
        else {
            return;
        };
        let Some(forward) = state
            .schema
            .action_by_name("PrescientIngress.forward")
            .map(|a| a.id)
        else {
            return;
        };
        let Some(table) = state.tables.get_mut(&lpm) else {
            return;
        };
        let routes: Vec<_> = table
            .entries
            .values_mut()
            .filter(|e| {
                matches!(&e.action, super::table::EntryAction::Direct(a)
                    if a.id == forward && a.params.first() == Some(&u128::from(port)))
            })
            .collect();
        let n = routes.len() as i64;
        for (i, e) in routes.into_iter().enumerate() {
            // Integer split; the first routes take the remainders so the sum is exact.
            let share = |total: i64| total / n + i64::from((i as i64) < total % n);
            e.counter.packet_count = e.counter.packet_count.saturating_add(share(packets));
            e.counter.byte_count = e.counter.byte_count.saturating_add(share(bytes));
        }
    }
}

/// Whether two schemas of the same program give every table and action the same id, so stored
/// state stays valid under either.
fn same_ids(a: &Schema, b: &Schema) -> bool {
    let tables = |s: &Schema| {
        s.tables
            .values()
            .map(|t| (t.name.clone(), t.id))
            .collect::<BTreeMap<_, _>>()
    };
    let actions = |s: &Schema| {
        s.actions
            .values()
            .map(|x| (x.name.clone(), x.id))
            .collect::<BTreeMap<_, _>>()
    };
    let profiles = |s: &Schema| {
        s.profiles
            .values()
            .map(|x| (x.name.clone(), x.id))
            .collect::<BTreeMap<_, _>>()
    };
    let counters = |s: &Schema| {
        s.counters
            .values()
            .map(|x| (x.name.clone(), x.id))
            .collect::<BTreeMap<_, _>>()
    };
    tables(a) == tables(b)
        && actions(a) == actions(b)
        && profiles(a) == profiles(b)
        && counters(a) == counters(b)
}

/// A learned_host_t digest member as P4Data: struct { mac, ip, port }.
fn learned_host(mac: u64, ip: u32, port: u32) -> p4::P4Data {
    use p4::p4_data::Data;
    let bits = |v: u128| p4::P4Data {
        data: Some(Data::Bitstring(bytes::encode(v))),
    };
    p4::P4Data {
        data: Some(Data::Struct(p4::P4StructLike {
            members: vec![
                bits(u128::from(mac)),
                bits(u128::from(ip)),
                bits(u128::from(port)),
            ],
        })),
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
