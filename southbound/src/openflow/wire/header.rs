//! The 8-byte `ofp_header` (OpenFlow 1.3.5 §7.1) and frame peeking.
//!
//! Invariant: [`Header::parse`] and [`peek_frame_len`] never panic; they only look at the first
//! 8 bytes.

use super::enums::wire_enum;
use super::types::Xid;
use super::wire_error::{Result, WireError};

/// `OFP_VERSION` of OpenFlow 1.3.
pub const OFP_VERSION: u8 = 0x04;
/// Size of `ofp_header`.
pub const HEADER_LEN: usize = 8;
/// Default largest frame accepted by the framing helpers (the 16-bit length field's limit).
pub const MAX_FRAME_LEN: usize = u16::MAX as usize;

/// Byte offsets of `ofp_header`.
pub mod field {
    use core::ops::Range;
    /// `version`.
    pub const VERSION: usize = 0;
    /// `type`.
    pub const TYPE: usize = 1;
    /// `length` (whole message, header included).
    pub const LENGTH: Range<usize> = 2..4;
    /// `xid`.
    pub const XID: Range<usize> = 4..8;
}

wire_enum! {
    /// `ofp_type`: the message type in the header.
    pub enum MsgType: u8 {
        Hello = 0 => "HELLO",
        Error = 1 => "ERROR",
        EchoRequest = 2 => "ECHO_REQUEST",
        EchoReply = 3 => "ECHO_REPLY",
        Experimenter = 4 => "EXPERIMENTER",
        FeaturesRequest = 5 => "FEATURES_REQUEST",
        FeaturesReply = 6 => "FEATURES_REPLY",
        GetConfigRequest = 7 => "GET_CONFIG_REQUEST",
        GetConfigReply = 8 => "GET_CONFIG_REPLY",
        SetConfig = 9 => "SET_CONFIG",
        PacketIn = 10 => "PACKET_IN",
        FlowRemoved = 11 => "FLOW_REMOVED",
        PortStatus = 12 => "PORT_STATUS",
        PacketOut = 13 => "PACKET_OUT",
        FlowMod = 14 => "FLOW_MOD",
        GroupMod = 15 => "GROUP_MOD",
        PortMod = 16 => "PORT_MOD",
        TableMod = 17 => "TABLE_MOD",
        MultipartRequest = 18 => "MULTIPART_REQUEST",
        MultipartReply = 19 => "MULTIPART_REPLY",
        BarrierRequest = 20 => "BARRIER_REQUEST",
        BarrierReply = 21 => "BARRIER_REPLY",
        QueueGetConfigRequest = 22 => "QUEUE_GET_CONFIG_REQUEST",
        QueueGetConfigReply = 23 => "QUEUE_GET_CONFIG_REPLY",
        RoleRequest = 24 => "ROLE_REQUEST",
        RoleReply = 25 => "ROLE_REPLY",
        GetAsyncRequest = 26 => "GET_ASYNC_REQUEST",
        GetAsyncReply = 27 => "GET_ASYNC_REPLY",
        SetAsync = 28 => "SET_ASYNC",
        MeterMod = 29 => "METER_MOD",
    }
}

/// A decoded `ofp_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Protocol version (0x04 for 1.3).
    pub version: u8,
    /// Message type.
    pub msg_type: MsgType,
    /// Length of the whole message, header included.
    pub length: u16,
    /// Transaction id.
    pub xid: Xid,
}

impl Header {
    /// Decodes the first 8 bytes of `buf`; checks only that `length >= 8`.
    pub fn parse(buf: &[u8]) -> Result<Header> {
        let h: &[u8; HEADER_LEN] = buf
            .get(..HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(WireError::Truncated {
                msg: "header",
                field: "ofp_header",
                need: HEADER_LEN,
                have: buf.len(),
            })?;
        let length = u16::from_be_bytes([h[field::LENGTH.start], h[field::LENGTH.start + 1]]);
        if usize::from(length) < HEADER_LEN {
            return Err(WireError::HeaderTooShort { length });
        }
        Ok(Header {
            version: h[field::VERSION],
            msg_type: MsgType::from(h[field::TYPE]),
            length,
            xid: Xid(u32::from_be_bytes([h[4], h[5], h[6], h[7]])),
        })
    }

    /// Encodes into the first 8 bytes of `buf` (does nothing to a shorter buffer's missing tail).
    pub fn emit(&self, buf: &mut [u8]) {
        let mut w = super::cursor::Writer::new(buf);
        w.u8(self.version);
        w.u8(self.msg_type.into());
        w.u16(self.length);
        w.u32(self.xid.0);
    }
}

/// Looks at the start of a receive buffer and tells how many bytes the first frame needs.
///
/// `Ok(None)` when fewer than 8 bytes are buffered; `Ok(Some(n))` with the frame's full length
/// otherwise (it may be more than is buffered yet). Rejects `length < 8` and `length > max`.
pub fn peek_frame_len(buf: &[u8], max: usize) -> Result<Option<usize>> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let h = Header::parse(buf)?;
    let len = usize::from(h.length);
    if len > max {
        return Err(WireError::FrameTooLong { length: len, max });
    }
    Ok(Some(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_hello_header() {
        let h = Header::parse(&[4, 0, 0, 8, 0, 0, 0, 7]).unwrap();
        assert_eq!(
            h,
            Header {
                version: 4,
                msg_type: MsgType::Hello,
                length: 8,
                xid: Xid(7)
            }
        );
        let mut out = [0u8; 8];
        h.emit(&mut out);
        assert_eq!(out, [4, 0, 0, 8, 0, 0, 0, 7]);
    }

    #[test]
    fn peek_needs_eight_bytes_and_sane_length() {
        assert_eq!(peek_frame_len(&[4, 0, 0], 1024), Ok(None));
        assert_eq!(
            peek_frame_len(&[4, 10, 0, 200, 0, 0, 0, 1], 1024),
            Ok(Some(200))
        );
        assert_eq!(
            peek_frame_len(&[4, 10, 0, 7, 0, 0, 0, 1], 1024),
            Err(WireError::HeaderTooShort { length: 7 })
        );
        assert_eq!(
            peek_frame_len(&[4, 10, 8, 0, 0, 0, 0, 1], 1024),
            Err(WireError::FrameTooLong {
                length: 2048,
                max: 1024
            })
        );
    }

    #[test]
    fn unknown_type_round_trips() {
        assert_eq!(MsgType::from(200), MsgType::Unknown(200));
        assert_eq!(u8::from(MsgType::Unknown(200)), 200);
        assert_eq!(MsgType::from(29), MsgType::MeterMod);
        assert_eq!(MsgType::MeterMod.to_string(), "METER_MOD");
    }
}
