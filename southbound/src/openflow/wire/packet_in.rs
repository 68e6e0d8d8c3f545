//! PACKET_IN (OpenFlow 1.3.5 §7.4.1): `buffer_id:32`, `total_len:16`, `reason:8`, `table_id:8`,
//! `cookie:64`, `ofp_match` (padded to 8), 2 bytes of pad, then the packet.
//!
//! Two levels: [`PacketInView`], a zero-copy view over a whole frame for the hot path (no
//! allocation; checked once by `new_checked`, after which no accessor panics), and [`PacketIn`],
//! the validated value with a parsed [`Match`].

use bytes::Bytes;

use super::body::body_api;
use super::cursor::{pad8, Reader, Writer};
use super::enums::wire_enum;
use super::header::{Header, MsgType, HEADER_LEN, OFP_VERSION};
use super::oxm::{scan_in_port, Match};
use super::types::{BufferId, PortNo, TableId};
use super::wire_error::{Result, WireError};

wire_enum! {
    /// `ofp_packet_in_reason`.
    pub enum PacketInReason: u8 {
        NoMatch = 0 => "NO_MATCH",
        Action = 1 => "ACTION",
        InvalidTtl = 2 => "INVALID_TTL",
    }
}

/// Byte offsets within a whole PACKET_IN frame (header included).
pub mod field {
    use core::ops::Range;
    /// `buffer_id`.
    pub const BUFFER_ID: Range<usize> = 8..12;
    /// `total_len`.
    pub const TOTAL_LEN: Range<usize> = 12..14;
    /// `reason`.
    pub const REASON: usize = 14;
    /// `table_id`.
    pub const TABLE_ID: usize = 15;
    /// `cookie`.
    pub const COOKIE: Range<usize> = 16..24;
    /// Start of `ofp_match`.
    pub const MATCH: usize = 24;
    /// `ofp_match.length`.
    pub const MATCH_LEN: Range<usize> = 26..28;
    /// Pad between match and data.
    pub const DATA_PAD: usize = 2;
    /// Start of data given the match's unpadded length.
    pub const fn data(match_len: usize) -> usize {
        MATCH + super::pad8(match_len) + DATA_PAD
    }
}

/// A PACKET_IN message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketIn {
    /// Buffer holding the packet on the switch, or `NO_BUFFER`.
    pub buffer_id: BufferId,
    /// Full length of the packet (data may be shorter).
    pub total_len: u16,
    /// Why the packet came up.
    pub reason: PacketInReason,
    /// Table that sent it.
    pub table_id: TableId,
    /// Cookie of the flow entry that sent it.
    pub cookie: u64,
    /// Pipeline fields (at least `IN_PORT`).
    pub match_: Match,
    /// The packet (or its first bytes).
    pub data: Bytes,
}

impl PacketIn {
    /// The ingress port from the match.
    pub fn in_port(&self) -> Option<PortNo> {
        self.match_.in_port()
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<PacketIn> {
        let buffer_id = BufferId(r.u32("buffer_id")?);
        let total_len = r.u16("total_len")?;
        let reason = PacketInReason::from(r.u8("reason")?);
        let table_id = TableId(r.u8("table_id")?);
        let cookie = r.u64("cookie")?;
        let match_ = Match::read(r)?;
        r.skip(field::DATA_PAD, "pad")?;
        let data = r.rest_bytes();
        Ok(PacketIn {
            buffer_id,
            total_len,
            reason,
            table_id,
            cookie,
            match_,
            data,
        })
    }

    fn body_len(&self) -> usize {
        16 + self.match_.buffer_len() + field::DATA_PAD + self.data.len()
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u32(self.buffer_id.0);
        w.u16(self.total_len);
        w.u8(self.reason.into());
        w.u8(self.table_id.0);
        w.u64(self.cookie);
        self.match_.write(w);
        w.zeros(field::DATA_PAD);
        w.put(&self.data);
    }
}

body_api!(PacketIn, "PACKET_IN");

/// Zero-copy view of a whole PACKET_IN frame (header included).
#[derive(Debug, Clone)]
pub struct PacketInView<T: AsRef<[u8]>> {
    buf: T,
    data_start: usize,
}

impl<T: AsRef<[u8]>> PacketInView<T> {
    /// Checks header, type, length and match bounds; afterwards no accessor can panic.
    pub fn new_checked(buf: T) -> Result<PacketInView<T>> {
        let b = buf.as_ref();
        let h = Header::parse(b)?;
        if h.msg_type != MsgType::PacketIn {
            return Err(WireError::BadValue {
                msg: "PACKET_IN",
                field: "type",
                value: u8::from(h.msg_type).into(),
                why: "not a PACKET_IN",
            });
        }
        if h.version != OFP_VERSION {
            return Err(WireError::UnsupportedVersion {
                msg: "PACKET_IN",
                version: h.version,
            });
        }
        if usize::from(h.length) != b.len() {
            return Err(WireError::LengthMismatch {
                msg: "PACKET_IN",
                header: h.length.into(),
                actual: b.len(),
            });
        }
        let body = b.get(HEADER_LEN..).unwrap_or(&[]);
        let mut r = Reader::new(body, "PACKET_IN");
        r.skip(field::MATCH - HEADER_LEN, "fixed fields")?;
        let oxms = Match::read_raw(&mut r)?;
        let match_len = oxms.remaining() + 4;
        r.skip(field::DATA_PAD, "pad")?;
        Ok(PacketInView {
            buf,
            data_start: field::data(match_len),
        })
    }

    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(s) = self.buf.as_ref().get(at..at + N) {
            out.copy_from_slice(s);
        }
        out
    }

    /// `buffer_id`.
    pub fn buffer_id(&self) -> BufferId {
        BufferId(u32::from_be_bytes(self.bytes(field::BUFFER_ID.start)))
    }

    /// `total_len`.
    pub fn total_len(&self) -> u16 {
        u16::from_be_bytes(self.bytes(field::TOTAL_LEN.start))
    }

    /// `reason`.
    pub fn reason(&self) -> PacketInReason {
        PacketInReason::from(self.bytes::<1>(field::REASON)[0])
    }

    /// `table_id`.
    pub fn table_id(&self) -> TableId {
        TableId(self.bytes::<1>(field::TABLE_ID)[0])
    }

    /// `cookie`.
    pub fn cookie(&self) -> u64 {
        u64::from_be_bytes(self.bytes(field::COOKIE.start))
    }

    /// The raw OXM bytes of the match (without match header and padding).
    pub fn oxm_bytes(&self) -> &[u8] {
        let len = usize::from(u16::from_be_bytes(self.bytes(field::MATCH_LEN.start)));
        self.buf
            .as_ref()
            .get(field::MATCH + 4..field::MATCH + len)
            .unwrap_or(&[])
    }

    /// The `IN_PORT` of the match, found without allocating.
    pub fn in_port(&self) -> Option<PortNo> {
        scan_in_port(self.oxm_bytes())
    }

    /// Parses the match (allocates).
    pub fn parse_match(&self) -> Result<Match> {
        let b = self.buf.as_ref().get(field::MATCH..).unwrap_or(&[]);
        Match::read(&mut Reader::new(b, "PACKET_IN"))
    }

    /// The packet bytes.
    pub fn data(&self) -> &[u8] {
        self.buf.as_ref().get(self.data_start..).unwrap_or(&[])
    }

    /// Byte offset of the packet data within the frame.
    pub fn data_offset(&self) -> usize {
        self.data_start
    }

    /// The underlying frame.
    pub fn into_inner(self) -> T {
        self.buf
    }
}

impl PacketInView<Bytes> {
    /// The packet bytes sharing the frame's memory.
    pub fn data_bytes(&self) -> Bytes {
        self.buf.slice(self.data_start.min(self.buf.len())..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::wire::oxm::OxmField;

    /// PACKET_IN, no buffer, total_len 4, reason ACTION, table 0, cookie 0x1122, in_port=3.
    const FRAME: [u8; 46] = [
        4, 10, 0, 46, 0, 0, 0, 9, // header
        0xff, 0xff, 0xff, 0xff, 0, 4, 1, 0, // buffer_id, total_len, reason, table
        0, 0, 0, 0, 0, 0, 0x11, 0x22, // cookie
        0, 1, 0, 12, 0x80, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 0, // match in_port=3 + pad
        0, 0, // pad
        0xde, 0xad, 0xbe, 0xef, // data
    ];

    #[test]
    fn view_reads_fields_without_allocating() {
        let v = PacketInView::new_checked(&FRAME[..]).unwrap();
        assert_eq!(v.buffer_id(), BufferId::NO_BUFFER);
        assert_eq!(v.total_len(), 4);
        assert_eq!(v.reason(), PacketInReason::Action);
        assert_eq!(v.table_id(), TableId(0));
        assert_eq!(v.cookie(), 0x1122);
        assert_eq!(v.in_port(), Some(PortNo(3)));
        assert_eq!(v.data(), &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(
            v.parse_match().unwrap(),
            Match::new().with(OxmField::InPort(PortNo(3)))
        );
        let owned = PacketInView::new_checked(Bytes::from_static(&FRAME)).unwrap();
        assert_eq!(&owned.data_bytes()[..], &[0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn repr_round_trips_captured_body() {
        let p = PacketIn::parse(&FRAME[8..]).unwrap();
        assert_eq!(p.in_port(), Some(PortNo(3)));
        assert_eq!(p.reason, PacketInReason::Action);
        let mut out = vec![0u8; p.buffer_len()];
        p.emit(&mut out);
        assert_eq!(out, &FRAME[8..]);
    }

    #[test]
    fn view_rejects_bad_frames() {
        let mut short = FRAME;
        short[3] = 40; // header says 40, buffer is 46
        assert!(matches!(
            PacketInView::new_checked(&short[..]),
            Err(WireError::LengthMismatch {
                header: 40,
                actual: 46,
                ..
            })
        ));
        let mut big_match = FRAME;
        big_match[27] = 60; // match longer than the frame
        let e = PacketInView::new_checked(&big_match[..]).unwrap_err();
        assert!(
            matches!(e, WireError::ElementOverrun { what: "match", .. }),
            "{e}"
        );
        let e = PacketInView::new_checked(&FRAME[..20]).unwrap_err();
        assert!(matches!(e, WireError::LengthMismatch { .. }), "{e}");
        let mut not_pi = FRAME;
        not_pi[1] = 14;
        assert!(PacketInView::new_checked(&not_pi[..]).is_err());
    }
}
