//! Frames through the fabric: packet-outs, a device's pipeline run on a frame, frames crossing
//! links (or leaving on a cabled-out port to the uplink, or to a host), packet-ins and digests to
//! the primary's stream.

use std::collections::VecDeque;
use std::sync::Arc;

use prescient_southbound::p4runtime::proto::google::rpc::Code;
use prescient_southbound::p4runtime::proto::p4::v1 as p4;

use super::P4SimNetwork;
use crate::p4rt::arbitration::StreamId;
use crate::p4rt::bytes;
use crate::p4rt::error::EntityError;
use crate::p4rt::process::CPU_PORT;

/// Frames crossing at most this many links, so forwarding loops end.
const MAX_HOPS: usize = 32;
/// Frames kept per device for frames leaving on unlinked (host) ports.
const HOST_QUEUE: usize = 1024;

impl P4SimNetwork {
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
