//! MULTIPART_REQUEST / MULTIPART_REPLY (OpenFlow 1.3.5 §7.3.5): `type:16`, `flags:16`, pad 4, body.
//!
//! Bit 0 of `flags` is `OFPMPF_REQ_MORE` / `OFPMPF_REPLY_MORE`: more messages of the same xid
//! follow. Types this codec does not model keep their body as bytes and round-trip.

mod stats;

use bytes::Bytes;

pub use stats::{
    AggregateStats, BandStats, Desc, FlowStats, FlowStatsRequest, GroupDesc, MeterConfig,
    MeterStats, PortStats, TableStats,
};

use super::body::body_api;
use super::cursor::{Reader, Writer};
use super::enums::wire_enum;
use super::port_status::{Port, PORT_LEN};
use super::types::{MeterId, PortNo};
use super::wire_error::Result;

/// Size of the multipart header after `ofp_header`.
pub const MULTIPART_HEADER_LEN: usize = 8;
/// `OFPMPF_REQ_MORE` / `OFPMPF_REPLY_MORE`.
pub const OFPMPF_MORE: u16 = 1;

wire_enum! {
    /// `ofp_multipart_type`.
    pub enum MultipartType: u16 {
        Desc = 0 => "DESC",
        Flow = 1 => "FLOW",
        Aggregate = 2 => "AGGREGATE",
        Table = 3 => "TABLE",
        PortStats = 4 => "PORT_STATS",
        Queue = 5 => "QUEUE",
        Group = 6 => "GROUP",
        GroupDesc = 7 => "GROUP_DESC",
        GroupFeatures = 8 => "GROUP_FEATURES",
        Meter = 9 => "METER",
        MeterConfig = 10 => "METER_CONFIG",
        MeterFeatures = 11 => "METER_FEATURES",
        TableFeatures = 12 => "TABLE_FEATURES",
        PortDesc = 13 => "PORT_DESC",
        Experimenter = 0xffff => "EXPERIMENTER",
    }
}

/// Body of a multipart request, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartRequestBody {
    /// Switch description.
    Desc,
    /// Individual flow statistics.
    Flow(FlowStatsRequest),
    /// Aggregate flow statistics.
    Aggregate(FlowStatsRequest),
    /// Table statistics.
    Table,
    /// Port statistics (`PortNo::ANY` for all).
    PortStats(PortNo),
    /// Port descriptions.
    PortDesc,
    /// Group descriptions.
    GroupDesc,
    /// Meter statistics (`MeterId::ALL` for all).
    Meter(MeterId),
    /// Meter configuration (`MeterId::ALL` for all).
    MeterConfig(MeterId),
    /// Any other type, body kept verbatim.
    Unknown {
        /// Multipart type.
        mp_type: u16,
        /// Body after the multipart header.
        body: Bytes,
    },
}

/// A MULTIPART_REQUEST message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartRequest {
    /// `OFPMPF_REQ_MORE`: more request parts follow.
    pub more: bool,
    /// The request.
    pub body: MultipartRequestBody,
}

impl MultipartRequest {
    /// A single-part request.
    pub fn new(body: MultipartRequestBody) -> MultipartRequest {
        MultipartRequest { more: false, body }
    }

    /// The multipart type.
    pub fn mp_type(&self) -> MultipartType {
        use MultipartRequestBody as B;
        match &self.body {
            B::Desc => MultipartType::Desc,
            B::Flow(_) => MultipartType::Flow,
            B::Aggregate(_) => MultipartType::Aggregate,
            B::Table => MultipartType::Table,
            B::PortStats(_) => MultipartType::PortStats,
            B::PortDesc => MultipartType::PortDesc,
            B::GroupDesc => MultipartType::GroupDesc,
            B::Meter(_) => MultipartType::Meter,
            B::MeterConfig(_) => MultipartType::MeterConfig,
            B::Unknown { mp_type, .. } => MultipartType::from(*mp_type),
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<MultipartRequest> {
        use MultipartRequestBody as B;
        let ty = r.u16("multipart type")?;
        let more = r.u16("flags")? & OFPMPF_MORE != 0;
        r.skip(4, "pad")?;
        let body = match MultipartType::from(ty) {
            MultipartType::Desc => B::Desc,
            MultipartType::Flow => B::Flow(FlowStatsRequest::read(r)?),
            MultipartType::Aggregate => B::Aggregate(FlowStatsRequest::read(r)?),
            MultipartType::Table => B::Table,
            MultipartType::PortStats => {
                let p = PortNo(r.u32("port_no")?);
                r.skip(4, "pad")?;
                B::PortStats(p)
            }
            MultipartType::PortDesc => B::PortDesc,
            MultipartType::GroupDesc => B::GroupDesc,
            MultipartType::Meter | MultipartType::MeterConfig => {
                let m = MeterId(r.u32("meter_id")?);
                r.skip(4, "pad")?;
                if ty == u16::from(MultipartType::Meter) {
                    B::Meter(m)
                } else {
                    B::MeterConfig(m)
                }
            }
            _ => B::Unknown {
                mp_type: ty,
                body: r.rest_bytes(),
            },
        };
        Ok(MultipartRequest { more, body })
    }

    fn body_len(&self) -> usize {
        use MultipartRequestBody as B;
        MULTIPART_HEADER_LEN
            + match &self.body {
                B::Desc | B::Table | B::PortDesc | B::GroupDesc => 0,
                B::Flow(f) | B::Aggregate(f) => f.buffer_len(),
                B::PortStats(_) | B::Meter(_) | B::MeterConfig(_) => 8,
                B::Unknown { body, .. } => body.len(),
            }
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        use MultipartRequestBody as B;
        w.u16(self.mp_type().into());
        w.u16(if self.more { OFPMPF_MORE } else { 0 });
        w.zeros(4);
        match &self.body {
            B::Desc | B::Table | B::PortDesc | B::GroupDesc => {}
            B::Flow(f) | B::Aggregate(f) => f.write(w),
            B::PortStats(p) => {
                w.u32(p.0);
                w.zeros(4);
            }
            B::Meter(m) | B::MeterConfig(m) => {
                w.u32(m.0);
                w.zeros(4);
            }
            B::Unknown { body, .. } => w.put(body),
        }
    }
}

body_api!(MultipartRequest, "MULTIPART_REQUEST");

/// Body of a multipart reply, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartReplyBody {
    /// Switch description.
    Desc(Desc),
    /// Flow entries with counters.
    Flow(Vec<FlowStats>),
    /// Aggregate counters.
    Aggregate(AggregateStats),
    /// Per-table counters.
    Table(Vec<TableStats>),
    /// Per-port counters.
    PortStats(Vec<PortStats>),
    /// Port descriptions.
    PortDesc(Vec<Port>),
    /// Group descriptions.
    GroupDesc(Vec<GroupDesc>),
    /// Meter counters.
    Meter(Vec<MeterStats>),
    /// Meter configurations.
    MeterConfig(Vec<MeterConfig>),
    /// Any other type, body kept verbatim.
    Unknown {
        /// Multipart type.
        mp_type: u16,
        /// Body after the multipart header.
        body: Bytes,
    },
}

/// A MULTIPART_REPLY message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartReply {
    /// `OFPMPF_REPLY_MORE`: more replies of this xid follow.
    pub more: bool,
    /// The reply.
    pub body: MultipartReplyBody,
}

impl MultipartReply {
    /// A final (single-part) reply.
    pub fn new(body: MultipartReplyBody) -> MultipartReply {
        MultipartReply { more: false, body }
    }

    /// The multipart type.
    pub fn mp_type(&self) -> MultipartType {
        use MultipartReplyBody as B;
        match &self.body {
            B::Desc(_) => MultipartType::Desc,
            B::Flow(_) => MultipartType::Flow,
            B::Aggregate(_) => MultipartType::Aggregate,
            B::Table(_) => MultipartType::Table,
            B::PortStats(_) => MultipartType::PortStats,
            B::PortDesc(_) => MultipartType::PortDesc,
            B::GroupDesc(_) => MultipartType::GroupDesc,
            B::Meter(_) => MultipartType::Meter,
            B::MeterConfig(_) => MultipartType::MeterConfig,
            B::Unknown { mp_type, .. } => MultipartType::from(*mp_type),
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<MultipartReply> {
        use MultipartReplyBody as B;
        let ty = r.u16("multipart type")?;
        let more = r.u16("flags")? & OFPMPF_MORE != 0;
        r.skip(4, "pad")?;
        let body = match MultipartType::from(ty) {
            MultipartType::Desc => B::Desc(Desc::read(r)?),
            MultipartType::Flow => B::Flow(list(r, FlowStats::read)?),
            MultipartType::Aggregate => B::Aggregate(AggregateStats::read(r)?),
            MultipartType::Table => B::Table(list(r, |r, _| TableStats::read(r))?),
            MultipartType::PortStats => B::PortStats(list(r, |r, _| PortStats::read(r))?),
            MultipartType::PortDesc => B::PortDesc(list(r, |r, _| Port::read(r))?),
            MultipartType::GroupDesc => B::GroupDesc(list(r, GroupDesc::read)?),
            MultipartType::Meter => B::Meter(list(r, MeterStats::read)?),
            MultipartType::MeterConfig => B::MeterConfig(list(r, MeterConfig::read)?),
            _ => B::Unknown {
                mp_type: ty,
                body: r.rest_bytes(),
            },
        };
        Ok(MultipartReply { more, body })
    }

    fn body_len(&self) -> usize {
        use MultipartReplyBody as B;
        MULTIPART_HEADER_LEN
            + match &self.body {
                B::Desc(d) => d.buffer_len(),
                B::Flow(v) => v.iter().map(FlowStats::buffer_len).sum(),
                B::Aggregate(a) => a.buffer_len(),
                B::Table(v) => v.iter().map(TableStats::buffer_len).sum(),
                B::PortStats(v) => v.iter().map(PortStats::buffer_len).sum(),
                B::PortDesc(v) => v.len() * PORT_LEN,
                B::GroupDesc(v) => v.iter().map(GroupDesc::buffer_len).sum(),
                B::Meter(v) => v.iter().map(MeterStats::buffer_len).sum(),
                B::MeterConfig(v) => v.iter().map(MeterConfig::buffer_len).sum(),
                B::Unknown { body, .. } => body.len(),
            }
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        use MultipartReplyBody as B;
        w.u16(self.mp_type().into());
        w.u16(if self.more { OFPMPF_MORE } else { 0 });
        w.zeros(4);
        match &self.body {
            B::Desc(d) => d.write(w),
            B::Flow(v) => v.iter().for_each(|e| e.write(w)),
            B::Aggregate(a) => a.write(w),
            B::Table(v) => v.iter().for_each(|e| e.write(w)),
            B::PortStats(v) => v.iter().for_each(|e| e.write(w)),
            B::PortDesc(v) => v.iter().for_each(|e| e.write(w)),
            B::GroupDesc(v) => v.iter().for_each(|e| e.write(w)),
            B::Meter(v) => v.iter().for_each(|e| e.write(w)),
            B::MeterConfig(v) => v.iter().for_each(|e| e.write(w)),
            B::Unknown { body, .. } => w.put(body),
        }
    }
}

body_api!(MultipartReply, "MULTIPART_REPLY");

/// Reads entries until the reader is exhausted.
fn list<'a, T>(
    r: &mut Reader<'a>,
    mut one: impl FnMut(&mut Reader<'a>, usize) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(one(r, out.len())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
