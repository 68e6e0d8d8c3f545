//! FLOW_REMOVED (OpenFlow 1.3.5 §7.4.2): `cookie:64`, `priority:16`, `reason:8`, `table_id:8`,
//! `duration_sec:32`, `duration_nsec:32`, `idle_timeout:16`, `hard_timeout:16`,
//! `packet_count:64`, `byte_count:64`, `ofp_match` (padded).

use super::body::body_api;
use super::cursor::{Reader, Writer};
use super::enums::wire_enum;
use super::oxm::Match;
use super::types::TableId;
use super::wire_error::Result;

/// Size of the fixed part of the body, before the match.
pub const FLOW_REMOVED_FIXED_LEN: usize = 40;

wire_enum! {
    /// `ofp_flow_removed_reason`.
    pub enum FlowRemovedReason: u8 {
        IdleTimeout = 0 => "IDLE_TIMEOUT",
        HardTimeout = 1 => "HARD_TIMEOUT",
        Delete = 2 => "DELETE",
        GroupDelete = 3 => "GROUP_DELETE",
    }
}

/// A FLOW_REMOVED message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRemoved {
    /// Cookie of the entry.
    pub cookie: u64,
    /// Priority of the entry.
    pub priority: u16,
    /// Why it went.
    pub reason: FlowRemovedReason,
    /// Table.
    pub table_id: TableId,
    /// Seconds alive.
    pub duration_sec: u32,
    /// Nanoseconds alive beyond `duration_sec`.
    pub duration_nsec: u32,
    /// Idle timeout of the entry.
    pub idle_timeout: u16,
    /// Hard timeout of the entry.
    pub hard_timeout: u16,
    /// Packets matched.
    pub packet_count: u64,
    /// Bytes matched.
    pub byte_count: u64,
    /// Match of the entry.
    pub match_: Match,
}

impl FlowRemoved {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<FlowRemoved> {
        Ok(FlowRemoved {
            cookie: r.u64("cookie")?,
            priority: r.u16("priority")?,
            reason: FlowRemovedReason::from(r.u8("reason")?),
            table_id: TableId(r.u8("table_id")?),
            duration_sec: r.u32("duration_sec")?,
            duration_nsec: r.u32("duration_nsec")?,
            idle_timeout: r.u16("idle_timeout")?,
            hard_timeout: r.u16("hard_timeout")?,
            packet_count: r.u64("packet_count")?,
            byte_count: r.u64("byte_count")?,
            match_: Match::read(r)?,
        })
    }

    fn body_len(&self) -> usize {
        FLOW_REMOVED_FIXED_LEN + self.match_.buffer_len()
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u64(self.cookie);
        w.u16(self.priority);
        w.u8(self.reason.into());
        w.u8(self.table_id.0);
        w.u32(self.duration_sec);
        w.u32(self.duration_nsec);
        w.u16(self.idle_timeout);
        w.u16(self.hard_timeout);
        w.u64(self.packet_count);
        w.u64(self.byte_count);
        self.match_.write(w);
    }
}

body_api!(FlowRemoved, "FLOW_REMOVED");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::wire::oxm::OxmField;
    use crate::openflow::wire::types::PortNo;

    #[test]
    fn idle_timeout_removal_round_trips() {
        let fr = FlowRemoved {
            cookie: 7,
            priority: 100,
            reason: FlowRemovedReason::IdleTimeout,
            table_id: TableId(1),
            duration_sec: 30,
            duration_nsec: 5,
            idle_timeout: 10,
            hard_timeout: 0,
            packet_count: 3,
            byte_count: 180,
            match_: Match::new().with(OxmField::InPort(PortNo(2))),
        };
        let mut out = vec![0u8; fr.buffer_len()];
        fr.emit(&mut out);
        assert_eq!(out.len(), 56);
        assert_eq!(&out[10..11], &[0]); // reason byte
        assert_eq!(FlowRemoved::parse(&out).unwrap(), fr);
        assert!(FlowRemoved::parse(&out[..50]).is_err());
    }
}
