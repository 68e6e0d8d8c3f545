//! Packet-ins the sessions published: every frame goes to the core, a run of them in one
//! entry. (ARP for a service VIP was answered by the session already: a reply from here would
//! wait behind the control tick, which under a packet-in storm takes up to a second.)

use prescient_southbound::openflow::session::PacketInEvent;
use prescient_southbound::openflow::wire::DatapathId;
use prescient_topology::{DeviceId, PortNo, PortRef};

use super::Driver;

impl Driver {
    /// Packet-ins: feeds every frame to the core in one entry (one lock, one snapshot); the
    /// actions go to the outlet.
    pub(super) fn on_packet_ins(&mut self, packet_ins: Vec<(DatapathId, PacketInEvent)>) {
        if packet_ins.is_empty() {
            return;
        }
        self.core
            .metrics()
            .count_messages("packet_in", packet_ins.len() as u64);
        let frames = packet_ins.iter().map(|(dpid, packet)| {
            let at = PortRef {
                device: DeviceId::openflow(dpid.0),
                port: PortNo(packet.in_port.0),
            };
            (at, &packet.data[..])
        });
        crate::driver::punted_frames(&self.core, frames);
    }
}
