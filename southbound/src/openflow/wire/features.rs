//! FEATURES_REPLY (OpenFlow 1.3.5 §7.3.1); the request has no body.

use super::body::body_api;
use super::cursor::{Reader, Writer};
use super::types::DatapathId;
use super::wire_error::Result;

/// `ofp_capabilities` bits.
pub mod capabilities {
    /// Flow statistics.
    pub const FLOW_STATS: u32 = 1 << 0;
    /// Table statistics.
    pub const TABLE_STATS: u32 = 1 << 1;
    /// Port statistics.
    pub const PORT_STATS: u32 = 1 << 2;
    /// Group statistics.
    pub const GROUP_STATS: u32 = 1 << 3;
    /// Can reassemble IP fragments.
    pub const IP_REASM: u32 = 1 << 5;
    /// Queue statistics.
    pub const QUEUE_STATS: u32 = 1 << 6;
    /// Switch will block looping ports.
    pub const PORT_BLOCKED: u32 = 1 << 8;
}

/// Body size of FEATURES_REPLY.
pub const FEATURES_REPLY_LEN: usize = 24;

/// FEATURES_REPLY: who the switch is and what it can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeaturesReply {
    /// Datapath id.
    pub datapath_id: DatapathId,
    /// Packets the switch can buffer.
    pub n_buffers: u32,
    /// Flow tables.
    pub n_tables: u8,
    /// Auxiliary connection id (0 for the main connection).
    pub auxiliary_id: u8,
    /// `ofp_capabilities` bitmap.
    pub capabilities: u32,
    /// Reserved word, kept for round-trips.
    pub reserved: u32,
}

impl FeaturesReply {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<FeaturesReply> {
        let datapath_id = DatapathId(r.u64("datapath_id")?);
        let n_buffers = r.u32("n_buffers")?;
        let n_tables = r.u8("n_tables")?;
        let auxiliary_id = r.u8("auxiliary_id")?;
        r.skip(2, "pad")?;
        let capabilities = r.u32("capabilities")?;
        let reserved = r.u32("reserved")?;
        Ok(FeaturesReply {
            datapath_id,
            n_buffers,
            n_tables,
            auxiliary_id,
            capabilities,
            reserved,
        })
    }

    fn body_len(&self) -> usize {
        FEATURES_REPLY_LEN
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u64(self.datapath_id.0);
        w.u32(self.n_buffers);
        w.u8(self.n_tables);
        w.u8(self.auxiliary_id);
        w.zeros(2);
        w.u32(self.capabilities);
        w.u32(self.reserved);
    }
}

body_api!(FeaturesReply, "FEATURES_REPLY");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ovs_features_reply_body() {
        let body = [
            0, 0, 0x2a, 0xbb, 0xcc, 0xdd, 0xee, 0xff, // dpid
            0, 0, 0, 0, // n_buffers
            254, 0, 0, 0, // n_tables, aux, pad
            0, 0, 0, 0x4f, // capabilities
            0, 0, 0, 0,
        ];
        let f = FeaturesReply::parse(&body).unwrap();
        assert_eq!(f.datapath_id.to_string(), "00:00:2a:bb:cc:dd:ee:ff");
        assert_eq!(f.n_tables, 254);
        assert_eq!(
            f.capabilities & capabilities::GROUP_STATS,
            capabilities::GROUP_STATS
        );
        let mut out = [0u8; 24];
        f.emit(&mut out);
        assert_eq!(out, body);
        assert!(FeaturesReply::parse(&body[..23]).is_err());
        assert!(FeaturesReply::parse(&[0u8; 25]).is_err());
    }
}
