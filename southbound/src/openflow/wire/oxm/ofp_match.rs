//! `ofp_match` (OpenFlow 1.3.5 §7.2.3): `type=OXM(1)`, `length` (4 + OXM bytes, padding
//! excluded), the OXM fields, and zero padding to a multiple of 8.

use super::{field_id as f, OxmField, CLASS_OPENFLOW_BASIC, OFPMT_OXM, OXM_HEADER_LEN};
use crate::openflow::wire::cursor::{pad8, Reader, Writer};
use crate::openflow::wire::types::PortNo;
use crate::openflow::wire::wire_error::{Result, WireError};

/// `ofp_match` of type OXM: an ordered list of OXM fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Match {
    /// The fields, in wire order.
    pub fields: Vec<OxmField>,
}

impl Match {
    /// The empty match (matches everything).
    pub fn new() -> Match {
        Match::default()
    }

    /// Adds a field (builder style).
    pub fn with(mut self, field: OxmField) -> Match {
        self.fields.push(field);
        self
    }

    /// The `IN_PORT` field, if present.
    pub fn in_port(&self) -> Option<PortNo> {
        self.fields.iter().find_map(|f| match f {
            OxmField::InPort(p) => Some(*p),
            _ => None,
        })
    }

    /// The `length` field: 4 plus the OXM bytes, padding excluded.
    pub fn wire_len(&self) -> usize {
        4 + self.fields.iter().map(OxmField::buffer_len).sum::<usize>()
    }

    /// Encoded size including padding to 8.
    pub fn buffer_len(&self) -> usize {
        pad8(self.wire_len())
    }

    /// Parses an `ofp_match` (with its padding) from the front of `buf`; returns it and the bytes
    /// used.
    pub fn parse(buf: &[u8]) -> Result<(Match, usize)> {
        let mut r = Reader::new(buf, "ofp_match");
        let m = Self::read(&mut r)?;
        Ok((m, buf.len() - r.remaining()))
    }

    /// Reads an `ofp_match` with its padding.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Match> {
        let mut oxms = Self::read_raw(r)?;
        let mut fields = Vec::new();
        while !oxms.is_empty() {
            fields.push(OxmField::read(&mut oxms, fields.len())?);
        }
        Ok(Match { fields })
    }

    /// Reads the match header and padding, returning a reader over the OXM bytes only.
    pub(crate) fn read_raw<'a>(r: &mut Reader<'a>) -> Result<Reader<'a>> {
        let remaining = r.remaining();
        let ty = r.u16("match type")?;
        if ty != OFPMT_OXM {
            return Err(WireError::BadValue {
                msg: r.msg,
                field: "match type",
                value: ty.into(),
                why: "only OFPMT_OXM (1) is OpenFlow 1.3",
            });
        }
        let len = usize::from(r.u16("match length")?);
        if len < 4 {
            return Err(WireError::BadValue {
                msg: r.msg,
                field: "match length",
                value: len as u64,
                why: "shorter than the 4-byte match header",
            });
        }
        if pad8(len) > remaining {
            return Err(WireError::ElementOverrun {
                msg: r.msg,
                what: "match",
                index: 0,
                kind: "OXM",
                len: pad8(len),
                remaining,
            });
        }
        let oxms = r.sub(len - 4, "match fields")?;
        r.skip(pad8(len) - len, "match padding")?;
        Ok(oxms)
    }

    /// Encodes into `buf` (which should be `buffer_len()` bytes), padding included.
    pub fn emit(&self, buf: &mut [u8]) {
        self.write(&mut Writer::new(buf));
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        let len = self.wire_len();
        w.u16(OFPMT_OXM);
        w.len16(len);
        for fld in &self.fields {
            fld.write(w);
        }
        w.zeros(pad8(len) - len);
    }
}

/// Scans raw OXM bytes for `IN_PORT` without allocating (the PACKET_IN fast path).
pub(crate) fn scan_in_port(oxms: &[u8]) -> Option<PortNo> {
    let mut rest = oxms;
    while let Some(hdr) = rest.get(..OXM_HEADER_LEN) {
        let class = u16::from_be_bytes([hdr[0], hdr[1]]);
        let len = usize::from(hdr[3]);
        let body = rest.get(OXM_HEADER_LEN..OXM_HEADER_LEN + len)?;
        if class == CLASS_OPENFLOW_BASIC && hdr[2] == f::IN_PORT << 1 && len == 4 {
            return Some(PortNo(u32::from_be_bytes([
                body[0], body[1], body[2], body[3],
            ])));
        }
        rest = rest.get(OXM_HEADER_LEN + len..)?;
    }
    None
}
