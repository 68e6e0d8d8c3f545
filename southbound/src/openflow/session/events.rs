//! The one typed event stream the sessions publish to the rest of the controller.

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

use super::error::CloseReason;
use crate::device::{PortChange, PortCounters, PortInfo};
use crate::openflow::wire::multipart::{FlowStats, PortStats};
use crate::openflow::wire::{
    BufferId, DatapathId, ErrorKind, FeaturesReply, FlowRemoved, PacketInReason, Port, PortNo,
    PortReason, TableId, WireError, Xid,
};

/// A switch that finished its handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchInfo {
    /// Datapath id from FEATURES_REPLY.
    pub dpid: DatapathId,
    /// The FEATURES_REPLY itself (buffers, tables, capabilities).
    pub features: FeaturesReply,
    /// Ports from PORT_DESC, reserved ports (LOCAL) included.
    pub ports: Vec<PortInfo>,
    /// Remote address of the connection.
    pub peer: std::net::SocketAddr,
}

/// A packet the switch sent up that the inline app chose to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketInEvent {
    /// Ingress port (`ANY` if the switch did not say).
    pub in_port: PortNo,
    /// Why it came up.
    pub reason: PacketInReason,
    /// Switch buffer holding it, or `NO_BUFFER`.
    pub buffer_id: BufferId,
    /// Table that sent it.
    pub table_id: TableId,
    /// Cookie of the flow that sent it.
    pub cookie: u64,
    /// The Ethernet frame (possibly truncated to `miss_send_len`).
    pub data: Bytes,
}

/// Everything the sessions report.
#[derive(Debug, Clone, PartialEq)]
pub enum SwitchEvent {
    /// A switch connected and described itself.
    SwitchUp(SwitchInfo),
    /// A switch's session ended; its pending requests failed with `Closed`.
    SwitchDown {
        /// The switch.
        dpid: DatapathId,
        /// Why.
        reason: CloseReason,
    },
    /// A port was added, removed or changed.
    PortStatus {
        /// The switch.
        dpid: DatapathId,
        /// What happened.
        change: PortChange,
        /// The port after the change.
        port: PortInfo,
    },
    /// A packet-in the app published.
    PacketIn {
        /// The switch.
        dpid: DatapathId,
        /// The packet.
        packet: PacketInEvent,
    },
    /// Port counters from the periodic poll (or a published request).
    PortStats {
        /// The switch.
        dpid: DatapathId,
        /// One entry per port.
        counters: Vec<PortCounters>,
    },
    /// Flow counters from the periodic poll.
    FlowStats {
        /// The switch.
        dpid: DatapathId,
        /// One entry per flow.
        flows: Vec<FlowStats>,
    },
    /// A flow was removed by the switch (timeout, delete) and asked to be reported.
    FlowRemoved {
        /// The switch.
        dpid: DatapathId,
        /// The flow and its final counters.
        removed: FlowRemoved,
    },
    /// The switch sent an OpenFlow ERROR.
    Error {
        /// The switch.
        dpid: DatapathId,
        /// Xid of the message that failed (our xid).
        xid: Xid,
        /// Type and code.
        kind: ErrorKind,
        /// The start of the failed message, as the switch echoed it.
        data: Bytes,
    },
    /// The switch sent bytes that do not parse; it was answered with an ERROR.
    ProtocolError {
        /// The switch, if known yet.
        dpid: Option<DatapathId>,
        /// Xid of the malformed message.
        xid: Xid,
        /// What was wrong.
        error: WireError,
    },
}

impl SwitchEvent {
    /// The switch the event is about, if known.
    pub fn dpid(&self) -> Option<DatapathId> {
        match self {
            SwitchEvent::SwitchUp(i) => Some(i.dpid),
            SwitchEvent::SwitchDown { dpid, .. }
            | SwitchEvent::PortStatus { dpid, .. }
            | SwitchEvent::PacketIn { dpid, .. }
            | SwitchEvent::PortStats { dpid, .. }
            | SwitchEvent::FlowStats { dpid, .. }
            | SwitchEvent::FlowRemoved { dpid, .. }
            | SwitchEvent::Error { dpid, .. } => Some(*dpid),
            SwitchEvent::ProtocolError { dpid, .. } => *dpid,
        }
    }
}

/// The receiving end of the event stream: the events in the order each session sent them, with
/// LLDP packet-ins in a lane of their own that is taken first (discovery must keep up when
/// counters and other packet-ins arrive faster than the controller takes them). A session's
/// LLDP frames may therefore overtake its other events.
#[derive(Debug)]
pub struct EventReceiver {
    discovery: mpsc::Receiver<SwitchEvent>,
    events: mpsc::Receiver<SwitchEvent>,
}

impl EventReceiver {
    pub(crate) fn new(
        discovery: mpsc::Receiver<SwitchEvent>,
        events: mpsc::Receiver<SwitchEvent>,
    ) -> Self {
        EventReceiver { discovery, events }
    }

    /// The next event (LLDP first); `None` once the controller is gone and everything is taken.
    pub async fn recv(&mut self) -> Option<SwitchEvent> {
        tokio::select! {
            biased;
            Some(ev) = self.discovery.recv() => Some(ev),
            ev = self.events.recv() => match ev {
                Some(ev) => Some(ev),
                // The senders go together; LLDP may still be queued.
                None => self.discovery.recv().await,
            },
        }
    }

    /// The next event if one is queued now (LLDP first).
    pub fn try_recv(&mut self) -> Result<SwitchEvent, TryRecvError> {
        match self.discovery.try_recv() {
            Ok(ev) => Ok(ev),
            Err(_) => self.events.try_recv(),
        }
    }
}

/// Whether an Ethernet frame is LLDP (EtherType 0x88cc, untagged as probes are sent).
pub(crate) fn is_lldp(frame: &[u8]) -> bool {
    frame.get(12..14) == Some(&[0x88, 0xcc][..])
}

/// Protocol-neutral description of an OpenFlow port.
pub fn port_info(p: &Port) -> PortInfo {
    use crate::openflow::wire::port_status::{config, state};
    PortInfo {
        number: p.port_no.0,
        name: p.name.clone(),
        mac: p.hw_addr.0,
        link_up: p.state & (state::LINK_DOWN | state::BLOCKED) == 0,
        admin_up: p.config & config::PORT_DOWN == 0,
        speed_kbps: p.curr_speed,
    }
}

/// Protocol-neutral port change of a PORT_STATUS reason.
pub fn port_change(r: PortReason) -> PortChange {
    match r {
        PortReason::Add => PortChange::Added,
        PortReason::Delete => PortChange::Removed,
        PortReason::Modify | PortReason::Unknown(_) => PortChange::Modified,
    }
}

/// Protocol-neutral counters of one PORT_STATS entry.
pub fn port_counters(s: &PortStats) -> PortCounters {
    PortCounters {
        number: s.port_no.0,
        rx_packets: s.rx_packets,
        tx_packets: s.tx_packets,
        rx_bytes: s.rx_bytes,
        tx_bytes: s.tx_bytes,
        rx_dropped: s.rx_dropped,
        tx_dropped: s.tx_dropped,
        rx_errors: s.rx_errors,
        tx_errors: s.tx_errors,
        duration_ns: u64::from(s.duration_sec) * 1_000_000_000 + u64::from(s.duration_nsec),
    }
}
