//! METER_MOD (OpenFlow 1.3.5 §7.3.4.4): `command:16`, `flags:16`, `meter_id:32`, bands. A band is
//! `type:16`, `len:16`, `rate:32`, `burst_size:32` and a type-specific tail; the same band layout
//! appears in the METER_CONFIG multipart reply.

use bytes::Bytes;

use super::body::body_api;
use super::cursor::{Reader, Writer};
use super::enums::wire_enum;
use super::types::MeterId;
use super::wire_error::{Result, WireError};

/// Size of DROP, DSCP_REMARK and EXPERIMENTER bands.
pub const BAND_LEN: usize = 16;

wire_enum! {
    /// `ofp_meter_mod_command`.
    pub enum MeterCommand: u16 {
        Add = 0 => "ADD",
        Modify = 1 => "MODIFY",
        Delete = 2 => "DELETE",
    }
}

/// `ofp_meter_flags` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MeterFlags(pub u16);

impl MeterFlags {
    /// `OFPMF_KBPS`: rates in kb/s.
    pub const KBPS: MeterFlags = MeterFlags(1 << 0);
    /// `OFPMF_PKTPS`: rates in packets/s.
    pub const PKTPS: MeterFlags = MeterFlags(1 << 1);
    /// `OFPMF_BURST`: use `burst_size`.
    pub const BURST: MeterFlags = MeterFlags(1 << 2);
    /// `OFPMF_STATS`: collect statistics.
    pub const STATS: MeterFlags = MeterFlags(1 << 3);

    /// True when every bit of `other` is set.
    pub fn contains(self, other: MeterFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for MeterFlags {
    type Output = MeterFlags;
    fn bitor(self, rhs: MeterFlags) -> MeterFlags {
        MeterFlags(self.0 | rhs.0)
    }
}

/// `OFPMBT_DROP`.
pub const OFPMBT_DROP: u16 = 1;
/// `OFPMBT_DSCP_REMARK`.
pub const OFPMBT_DSCP_REMARK: u16 = 2;
/// `OFPMBT_EXPERIMENTER`.
pub const OFPMBT_EXPERIMENTER: u16 = 0xffff;

/// One meter band.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MeterBand {
    /// Drop packets above `rate`.
    Drop {
        /// Rate (kb/s or packets/s per the meter flags).
        rate: u32,
        /// Burst size.
        burst_size: u32,
    },
    /// Raise drop precedence by `prec_level` above `rate`.
    DscpRemark {
        /// Rate.
        rate: u32,
        /// Burst size.
        burst_size: u32,
        /// Drop precedence increment.
        prec_level: u8,
    },
    /// Any other band (experimenter included), kept verbatim.
    Unknown {
        /// Band type.
        band_type: u16,
        /// Rate.
        rate: u32,
        /// Burst size.
        burst_size: u32,
        /// Bytes after `burst_size`.
        body: Bytes,
    },
}

fn band_name(t: u16) -> &'static str {
    match t {
        OFPMBT_DROP => "DROP",
        OFPMBT_DSCP_REMARK => "DSCP_REMARK",
        OFPMBT_EXPERIMENTER => "EXPERIMENTER",
        _ => "UNKNOWN",
    }
}

impl MeterBand {
    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        match self {
            MeterBand::Unknown { body, .. } => 12 + body.len(),
            _ => BAND_LEN,
        }
    }

    /// Reads band number `index`.
    pub(crate) fn read(r: &mut Reader<'_>, index: usize) -> Result<MeterBand> {
        let (ty, mut b) = r.tlv("band", index, band_name)?;
        let len = b.remaining() + 4;
        let known = ty == OFPMBT_DROP || ty == OFPMBT_DSCP_REMARK;
        if (known && len != BAND_LEN) || len < 12 {
            return Err(WireError::BadElementLength {
                msg: r.msg,
                what: "band",
                index,
                kind: band_name(ty),
                len,
                why: if known {
                    "must be 16"
                } else {
                    "must be at least 12"
                },
            });
        }
        let rate = b.u32("rate")?;
        let burst_size = b.u32("burst_size")?;
        Ok(match ty {
            OFPMBT_DROP => MeterBand::Drop { rate, burst_size },
            OFPMBT_DSCP_REMARK => MeterBand::DscpRemark {
                rate,
                burst_size,
                prec_level: b.u8("prec_level")?,
            },
            _ => MeterBand::Unknown {
                band_type: ty,
                rate,
                burst_size,
                body: b.rest_bytes(),
            },
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        let (ty, rate, burst) = match self {
            MeterBand::Drop { rate, burst_size } => (OFPMBT_DROP, rate, burst_size),
            MeterBand::DscpRemark {
                rate, burst_size, ..
            } => (OFPMBT_DSCP_REMARK, rate, burst_size),
            MeterBand::Unknown {
                band_type,
                rate,
                burst_size,
                ..
            } => (*band_type, rate, burst_size),
        };
        w.u16(ty);
        w.len16(self.buffer_len());
        w.u32(*rate);
        w.u32(*burst);
        match self {
            MeterBand::Drop { .. } => w.zeros(4),
            MeterBand::DscpRemark { prec_level, .. } => {
                w.u8(*prec_level);
                w.zeros(3);
            }
            MeterBand::Unknown { body, .. } => w.put(body),
        }
    }
}

/// Reads bands until the reader is exhausted.
pub(crate) fn read_bands(r: &mut Reader<'_>) -> Result<Vec<MeterBand>> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(MeterBand::read(r, out.len())?);
    }
    Ok(out)
}

/// Encoded size of a band list.
pub fn bands_len(bands: &[MeterBand]) -> usize {
    bands.iter().map(MeterBand::buffer_len).sum()
}

/// A METER_MOD message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterMod {
    /// Add, modify or delete.
    pub command: MeterCommand,
    /// Flags.
    pub flags: MeterFlags,
    /// Meter id.
    pub meter_id: MeterId,
    /// Bands.
    pub bands: Vec<MeterBand>,
}

impl MeterMod {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<MeterMod> {
        let command = MeterCommand::from(r.u16("command")?);
        let flags = MeterFlags(r.u16("flags")?);
        let meter_id = MeterId(r.u32("meter_id")?);
        let bands = read_bands(r)?;
        Ok(MeterMod {
            command,
            flags,
            meter_id,
            bands,
        })
    }

    fn body_len(&self) -> usize {
        8 + bands_len(&self.bands)
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u16(self.command.into());
        w.u16(self.flags.0);
        w.u32(self.meter_id.0);
        for b in &self.bands {
            b.write(w);
        }
    }
}

body_api!(MeterMod, "METER_MOD");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_meter_bytes() {
        let m = MeterMod {
            command: MeterCommand::Add,
            flags: MeterFlags::KBPS | MeterFlags::BURST,
            meter_id: MeterId(1),
            bands: vec![MeterBand::Drop {
                rate: 10_000,
                burst_size: 1000,
            }],
        };
        let mut out = vec![0u8; m.buffer_len()];
        m.emit(&mut out);
        assert_eq!(
            out,
            [
                0, 0, 0, 5, 0, 0, 0, 1, // command, flags, meter
                0, 1, 0, 16, 0, 0, 0x27, 0x10, 0, 0, 0x03, 0xe8, 0, 0, 0, 0
            ]
        );
        assert_eq!(MeterMod::parse(&out).unwrap(), m);
    }

    #[test]
    fn bands_are_validated_and_unknown_kept() {
        let body = [0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 12, 0, 0, 0, 1, 0, 0, 0, 1];
        let e = MeterMod::parse(&body).unwrap_err();
        assert_eq!(
            e.to_string(),
            "METER_MOD: band 0 (DROP) length 12 is invalid: must be 16"
        );
        let body = [0, 0, 0, 1, 0, 0, 0, 1, 0, 9, 0, 12, 0, 0, 0, 1, 0, 0, 0, 2];
        let m = MeterMod::parse(&body).unwrap();
        assert_eq!(
            m.bands,
            vec![MeterBand::Unknown {
                band_type: 9,
                rate: 1,
                burst_size: 2,
                body: Bytes::new()
            }]
        );
    }
}
