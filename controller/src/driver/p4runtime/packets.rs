//! Packet I/O of a device task: punted frames into discovery and host tracking, ARP relayed
//! across the fabric (see [`super::arp`]) or answered for service addresses, frames queued by
//! other tasks sent out, and hosts learned from the program's `learned_host_t` digests.

use std::collections::BTreeSet;

use prescient_southbound::p4runtime::pipeconf::names;
use prescient_southbound::p4runtime::proto::p4::v1 as p4;
use prescient_southbound::p4runtime::{ClientError, P4RuntimeClient};
use prescient_topology::{MacAddr, PortNo, PortRef, Protocol};

use super::fleet::Fleet;
use super::{arp, be_array, be_u32, Device, ToDevice, EGRESS_PORT, ETH_TYPE_ARP};

impl Device {
    /// A punted frame: into discovery and host tracking; ARP is relayed on to its hosts.
    pub(super) fn packet_in(&self, at: PortRef, frame: &[u8]) {
        let arp = frame.get(12..14) == Some(&ETH_TYPE_ARP.to_be_bytes()[..]);
        let fleet = self.fleet.borrow().clone();
        let now = tokio::time::Instant::now();
        if arp && fleet.relay.is_echo(frame, now) {
            return;
        }
        // Topology changes can move reservations; the OpenFlow driver owns the outlet.
        crate::driver::punted_frame(&self.core, at, frame);
        if !arp {
            return;
        }
        if let Some(reply) = self.proxy(&fleet, frame) {
            if let Some(me) = fleet.peers.get(&self.id.id) {
                let _ = me.try_send(ToDevice::PacketOut {
                    port: at.port.0,
                    frame: reply,
                });
            }
            return;
        }
        let Some(relay) = arp::decide(frame, at, &self.core.snapshot()) else {
            return;
        };
        fleet.relay.remember(frame, at, now);
        // A full queue drops the frame: the host asks again.
        match relay {
            arp::Relay::To(port) if port.device.protocol == Protocol::P4Runtime => {
                if let Some(peer) = fleet.peers.get(&port.device.id) {
                    let _ = peer.try_send(ToDevice::PacketOut {
                        port: port.port.0,
                        frame: frame.to_vec(),
                    });
                }
            }
            // A host behind OpenFlow switches: towards its switch; theirs deliver by MAC.
            arp::Relay::To(port) => {
                let first = self
                    .core
                    .snapshot()
                    .shortest_path(self.id, port.device)
                    .ok()
                    .and_then(|p| p.links.first().map(|l| l.src.port.0));
                if let (Some(out), Some(me)) = (first, fleet.peers.get(&self.id.id)) {
                    let _ = me.try_send(ToDevice::PacketOut {
                        port: out,
                        frame: frame.to_vec(),
                    });
                }
            }
            arp::Relay::Flood { except } => {
                for (device, peer) in &fleet.peers {
                    let except = (*device == except.device.id).then_some(except.port.0);
                    let _ = peer.try_send(ToDevice::Flood {
                        frame: frame.to_vec(),
                        except,
                    });
                }
            }
        }
    }

    /// The answer to an ARP request for a translated service address (no host owns it).
    pub(super) fn proxy(&self, fleet: &Fleet, frame: &[u8]) -> Option<Vec<u8>> {
        let asked = crate::proxy_arp::requested(frame)?;
        let t = fleet
            .plan
            .translations()
            .values()
            .find(|t| t.logical_ip == asked)?;
        crate::proxy_arp::reply(frame, t.logical_mac)
    }

    /// Sends a queued frame: out of one port, or flooded out of every port but those linked
    /// to other P4Runtime switches (their own relays flood there). Ports towards OpenFlow
    /// switches are flooded too, so hosts behind them hear requests.
    pub(super) async fn send(&self, client: &mut P4RuntimeClient, msg: ToDevice) {
        let (ports, frame) = match msg {
            ToDevice::PacketOut { port, frame } => (vec![port], frame),
            ToDevice::Flood { frame, except } => {
                let snapshot = self.core.snapshot();
                let linked: BTreeSet<PortRef> = snapshot
                    .links()
                    .iter()
                    .filter(|l| l.src.device == self.id)
                    .filter(|l| l.dst.device.protocol == Protocol::P4Runtime)
                    .map(|l| l.src)
                    .collect();
                let ports = self
                    .target
                    .ports
                    .iter()
                    .copied()
                    .filter(|p| Some(*p) != except)
                    .filter(|p| {
                        !linked.contains(&PortRef {
                            device: self.id,
                            port: PortNo(*p),
                        })
                    })
                    .collect();
                (ports, frame)
            }
        };
        for port in ports {
            let meta = [(EGRESS_PORT, port.to_be_bytes().to_vec())];
            if let Err(e) = client.packet_out(frame.clone(), &meta).await {
                tracing::debug!(device = %self.id, port, "packet-out not sent: {e}");
            }
        }
    }

    /// Hosts the program reported through `learned_host_t` digests (new `(mac, ip, port)`
    /// triples), so hosts that never ARP through the fabric are still routed. A report caused
    /// by a frame the relay flooded (over a cable not discovered yet) is not a sighting.
    pub(super) fn hosts_learned(&self, entries: &[Vec<(String, Vec<u8>)>]) {
        let now = self.core.now();
        let relay = std::sync::Arc::clone(&self.fleet.borrow().relay);
        let echo_now = tokio::time::Instant::now();
        for entry in entries {
            let field = |name: &str| {
                entry
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_slice())
            };
            let (Some(mac), Some(ip), Some(port)) = (field("mac"), field("ip"), field("port"))
            else {
                continue;
            };
            let mac = MacAddr(be_array::<6>(mac));
            let ip = std::net::Ipv4Addr::from(be_array::<4>(ip));
            if mac.is_multicast() || ip.is_unspecified() {
                continue;
            }
            let at = PortRef {
                device: self.id,
                port: PortNo(be_u32(port)),
            };
            if relay.relayed_from_elsewhere(mac, at, echo_now) {
                tracing::debug!(device = %self.id, %mac, %at, "learned host is a relay echo");
                continue;
            }
            let id = self.id;
            self.core.decide(|c| {
                c.host_seen(now, mac, Some(ip), at).unwrap_or_else(|e| {
                    tracing::debug!(device = %id, "learned host not applied: {e}");
                    Vec::new()
                })
            });
        }
    }

    /// Asks the device for `learned_host_t` digests (not replayed by the client: it is
    /// re-enabled after every reconnect). One digest per list, sent at once.
    pub(super) async fn enable_digests(&mut self, client: &mut P4RuntimeClient) {
        let Ok(index) = client.index().cloned() else {
            return;
        };
        let config = p4::digest_entry::Config {
            max_timeout_ns: 0,
            max_list_size: 1,
            ack_timeout_ns: 1_000_000_000,
        };
        let entry = match index.encode_digest_config(names::LEARNED_HOST, config) {
            Ok(e) => e,
            Err(e) => return self.failed(format!("learned-host digests not enabled: {e}")),
        };
        let update = |op: p4::update::Type| p4::Update {
            r#type: op as i32,
            entity: Some(p4::Entity {
                entity: Some(p4::entity::Entity::DigestEntry(entry)),
            }),
        };
        let result = match client.write(vec![update(p4::update::Type::Insert)]).await {
            Err(ClientError::Write(e))
                if e.failures
                    .iter()
                    .any(|f| f.code == tonic::Code::AlreadyExists) =>
            {
                client.write(vec![update(p4::update::Type::Modify)]).await
            }
            other => other,
        };
        if let Err(e) = result {
            self.failed(format!("learned-host digests not enabled: {e}"));
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;
    use std::time::Duration;

    use prescient_topology::DeviceId;

    use super::super::fleet::{mailbox, Mailbox, P4Fleet};
    use super::super::standing::Standing;
    use super::super::sync::Mirror;
    use super::super::{prescient_p4info, P4Target};
    use super::*;
    use crate::core::{CoreConfig, SharedCore};

    /// The task of device `id` (ports 1 and 3) on `core`, not connected to anything.
    pub(in crate::driver::p4runtime) fn device(
        core: &Arc<SharedCore>,
        id: u64,
        mailbox: Mailbox,
    ) -> Device {
        let info = prescient_p4info().expect("the embedded P4Info");
        Device {
            core: Arc::clone(core),
            target: P4Target::running_prescient("", id, vec![1, 3], info),
            id: DeviceId::p4runtime(id),
            fleet: mailbox.fleet,
            mirror: Mirror::new(),
            resync: true,
            last: None,
            notes: BTreeSet::new(),
            last_error: None,
            standing: Standing::new(None, Duration::from_secs(3)),
            stopping: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// Port `p` of P4Runtime device `d`.
    pub(in crate::driver::p4runtime) fn at(d: u64, p: u32) -> PortRef {
        PortRef {
            device: DeviceId::p4runtime(d),
            port: PortNo(p),
        }
    }

    fn digest(mac: MacAddr, ip: [u8; 4], port: u32) -> Vec<(String, Vec<u8>)> {
        vec![
            ("mac".into(), mac.0.to_vec()),
            ("ip".into(), ip.to_vec()),
            ("port".into(), port.to_be_bytes().to_vec()),
        ]
    }

    #[tokio::test]
    async fn a_digest_caused_by_a_relayed_frame_is_not_a_sighting() {
        // Switches 1 and 2 cabled 1:1 <-> 2:1, the cable not discovered yet; h1 on 1:3.
        let core = SharedCore::new(CoreConfig::default());
        let (in1, box1) = mailbox();
        let (in2, box2) = mailbox();
        let _fleet = P4Fleet::new(BTreeMap::from([(1, in1), (2, in2)]));
        let (s1, s2) = (device(&core, 1, box1), device(&core, 2, box2));
        s1.report_up();
        s2.report_up();
        let h1 = MacAddr([2, 0, 0, 0, 0, 1]);
        let mut request = vec![0xff; 6];
        request.extend_from_slice(&h1.0);
        request.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        request.extend_from_slice(&h1.0);
        request.extend_from_slice(&[10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
        s1.packet_in(at(1, 3), &request);
        let host = |mac| core.read(|c| c.topology().host(mac).map(|h| h.at));
        assert_eq!(host(h1), Some(at(1, 3)));

        // The relay flooded it out of 1:1 too; switch 2's program digests h1 at 2:1.
        s2.hosts_learned(&[digest(h1, [10, 0, 0, 1], 1)]);
        assert_eq!(host(h1), Some(at(1, 3)), "the echo moved h1");

        // A host the relay sent nothing of is taken where its digest says.
        let h2 = MacAddr([2, 0, 0, 0, 0, 2]);
        s2.hosts_learned(&[digest(h2, [10, 0, 0, 2], 3)]);
        assert_eq!(host(h2), Some(at(2, 3)));
    }
}
