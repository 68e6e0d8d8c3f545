//! The reactive fast path: an application object per switch, run inline in the session task.
//!
//! A PACKET_IN never crosses a channel: the session decodes the frame into a zero-copy
//! [`PacketInView`] and calls [`SwitchApp::on_packet_in`], whose answers are written by the
//! [`Outbox`] straight into the session's output buffer; the whole read batch then leaves in one
//! write. An app that wants the rest of the controller to see a packet (LLDP for discovery, ARP
//! for host tracking) returns [`Verdict::Publish`] and the session puts it on the event stream.

use bytes::BytesMut;

use super::frame::{self, Body};
use crate::openflow::wire::{
    DatapathId, FeaturesReply, FlowMod, GroupMod, MeterMod, PacketInView, PacketOut, PacketOutRef,
    PortStatus, WireError, Xid,
};

/// What the session does with a packet-in after the app saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The app dealt with it; nothing else sees it.
    Handled,
    /// Also publish it on the event stream (dropped and counted if the stream is full).
    Publish,
}

/// Per-switch application logic, called from the switch's session task.
///
/// Methods must not block: they run between reading and writing the switch's socket.
pub trait SwitchApp: Send + 'static {
    /// The switch finished the handshake (features known); runs before any replay of flows.
    fn on_connect(&mut self, _features: &FeaturesReply, _out: &mut Outbox<'_>) {}

    /// A packet arrived from the switch.
    fn on_packet_in(&mut self, packet: &PacketInView<&[u8]>, out: &mut Outbox<'_>) -> Verdict;

    /// A port was added, removed or changed.
    fn on_port_status(&mut self, _status: &PortStatus, _out: &mut Outbox<'_>) {}
}

/// Creates the app instance of each switch when it connects.
pub trait AppFactory: Send + Sync + 'static {
    /// A fresh app for switch `dpid` (a reconnect gets a fresh one too).
    fn create(&self, dpid: DatapathId) -> Box<dyn SwitchApp>;
}

impl<F> AppFactory for F
where
    F: Fn(DatapathId) -> Box<dyn SwitchApp> + Send + Sync + 'static,
{
    fn create(&self, dpid: DatapathId) -> Box<dyn SwitchApp> {
        self(dpid)
    }
}

/// An app that publishes every packet-in and sends nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct PublishAll;

impl SwitchApp for PublishAll {
    fn on_packet_in(&mut self, _packet: &PacketInView<&[u8]>, _out: &mut Outbox<'_>) -> Verdict {
        Verdict::Publish
    }
}

/// Allocates transaction ids for one session; never hands out 0 (kept for unsolicited use).
#[derive(Debug, Clone)]
pub struct XidAlloc {
    next: u32,
}

impl Default for XidAlloc {
    fn default() -> Self {
        XidAlloc { next: 1 }
    }
}

impl XidAlloc {
    /// The next xid.
    pub fn next_xid(&mut self) -> Xid {
        let x = self.next;
        self.next = self.next.wrapping_add(1).max(1);
        Xid(x)
    }
}

/// Where an app writes messages to its switch; they leave with the current batch.
pub struct Outbox<'a> {
    dpid: DatapathId,
    buf: &'a mut BytesMut,
    xids: &'a mut XidAlloc,
}

impl<'a> Outbox<'a> {
    /// An outbox appending to `buf` for switch `dpid`.
    pub fn new(dpid: DatapathId, buf: &'a mut BytesMut, xids: &'a mut XidAlloc) -> Self {
        Outbox { dpid, buf, xids }
    }

    /// The switch this outbox writes to.
    pub fn dpid(&self) -> DatapathId {
        self.dpid
    }

    fn put<B: Body>(&mut self, body: &B) -> Result<Xid, WireError> {
        let xid = self.xids.next_xid();
        frame::put(self.buf, xid, body)?;
        Ok(xid)
    }

    /// Queues any message body the session can send (e.g. an app's pre-encoded template).
    pub fn message<B: Body>(&mut self, body: &B) -> Result<Xid, WireError> {
        self.put(body)
    }

    /// Queues a FLOW_MOD.
    pub fn flow_mod(&mut self, fm: &FlowMod) -> Result<Xid, WireError> {
        self.put(fm)
    }

    /// Queues a PACKET_OUT.
    pub fn packet_out(&mut self, po: &PacketOut) -> Result<Xid, WireError> {
        self.put(po)
    }

    /// Queues a PACKET_OUT over borrowed parts (a packet-in's own bytes, without a copy).
    pub fn packet_out_ref(&mut self, po: &PacketOutRef<'_>) -> Result<Xid, WireError> {
        self.put(po)
    }

    /// Queues a GROUP_MOD.
    pub fn group_mod(&mut self, gm: &GroupMod) -> Result<Xid, WireError> {
        self.put(gm)
    }

    /// Queues a METER_MOD.
    pub fn meter_mod(&mut self, mm: &MeterMod) -> Result<Xid, WireError> {
        self.put(mm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xids_skip_zero_on_wrap() {
        let mut x = XidAlloc { next: u32::MAX };
        assert_eq!(x.next_xid(), Xid(u32::MAX));
        assert_eq!(x.next_xid(), Xid(1));
    }
}
