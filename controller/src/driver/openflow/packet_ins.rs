//! Packet-ins the sessions published: ARP for a service VIP is answered here (proxy ARP), and
//! every frame goes to the core, a run of them in one entry.

use bytes::Bytes;
use prescient_southbound::openflow::session::{Command, PacketInEvent};
use prescient_southbound::openflow::wire::{DatapathId, PacketOut};
use prescient_topology::{DeviceId, PortNo, PortRef};

use super::{services, Driver};

impl Driver {
    /// Packet-ins: answers ARP for service VIPs, then feeds every frame to the core in one
    /// entry (one lock, one snapshot).
    pub(super) async fn on_packet_ins(&mut self, packet_ins: Vec<(DatapathId, PacketInEvent)>) {
        if packet_ins.is_empty() {
            return;
        }
        self.core
            .metrics()
            .count_messages("packet_in", packet_ins.len() as u64);
        for (dpid, packet) in &packet_ins {
            let reply = self
                .acting()
                .then(|| services::proxy_arp(&self.core, &packet.data))
                .flatten();
            if let Some(reply) = reply {
                let out = PacketOut::to_port(packet.in_port, Bytes::from(reply));
                if let Err(e) = self.handle.send(*dpid, Command::PacketOut(out)).await {
                    tracing::debug!(%dpid, "ARP reply for a service address not sent: {e}");
                }
            }
        }
        let frames = packet_ins.iter().map(|(dpid, packet)| {
            let at = PortRef {
                device: DeviceId::openflow(dpid.0),
                port: PortNo(packet.in_port.0),
            };
            (at, &packet.data[..])
        });
        let actions = crate::driver::punted_frames(&self.core, frames);
        self.apply(actions).await;
    }
}
