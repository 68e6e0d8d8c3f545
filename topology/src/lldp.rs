//! LLDP probe frames (IEEE 802.1AB-2016 §8): build and parse the frames used for link discovery.
//!
//! Layout: Ethernet II header (dst 01:80:c2:00:00:0e, ethertype 0x88cc), then TLVs, each a 16-bit
//! header (7-bit type, 9-bit length) and its value: Chassis ID (§8.5.2, subtype 7 "locally
//! assigned", value = `DeviceId` text), Port ID (§8.5.3, subtype 7, value = decimal port number),
//! TTL (§8.5.4), optionally our organisationally specific TLV (§8.6: OUI, subtype, cookie,
//! send time) that tells our own probes apart from other LLDP speakers, then End (§8.5.1).
//!
//! Invariants: `LldpProbe::parse` never panics, whatever the bytes; `LldpProbe::emit` always
//! produces at least the Ethernet minimum of 60 bytes and `parse(emit(p)) == p`.

use thiserror::Error;

use crate::ids::{DeviceId, MacAddr, PortNo, Timestamp};

/// The nearest-bridge multicast address LLDP frames are sent to.
pub const LLDP_MULTICAST: MacAddr = MacAddr([0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e]);
/// LLDP's ethertype.
pub const ETHERTYPE_LLDP: u16 = 0x88cc;
/// The OUI of our organisationally specific TLV (locally administered, so it cannot clash with
/// an IEEE-assigned one).
pub const PRESCIENT_OUI: [u8; 3] = [0x02, 0x50, 0x52];
/// Subtype of our organisationally specific TLV.
pub const PRESCIENT_SUBTYPE: u8 = 1;

mod field {
    use std::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const TLVS: usize = 14;
    pub const MIN_FRAME: usize = 60;
}

mod tlv {
    pub const END: u8 = 0;
    pub const CHASSIS_ID: u8 = 1;
    pub const PORT_ID: u8 = 2;
    pub const TTL: u8 = 3;
    pub const SYSTEM_NAME: u8 = 5;
    pub const ORG_SPECIFIC: u8 = 127;
    pub const SUBTYPE_LOCAL: u8 = 7;
    pub const ORG_LEN: usize = 3 + 1 + 8 + 8;
}

/// Why a frame is not a usable LLDP probe.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LldpError {
    /// The frame ends before the named field.
    #[error("LLDP frame truncated in {field}: need {need} bytes, have {have}")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes needed from the start of the frame.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The ethertype is not 0x88cc.
    #[error("not an LLDP frame: ethertype {0:#06x}")]
    NotLldp(u16),
    /// A mandatory TLV is missing or out of the order §8.2 requires.
    #[error("LLDP TLV {expected} expected at offset {offset}, found type {found}")]
    UnexpectedTlv {
        /// The TLV that must come here.
        expected: &'static str,
        /// Its byte offset.
        offset: usize,
        /// The type found instead.
        found: u8,
    },
    /// A TLV's value has the wrong length or subtype, or is not our encoding.
    #[error("LLDP {tlv} TLV invalid: {reason}")]
    BadValue {
        /// Which TLV.
        tlv: &'static str,
        /// Why.
        reason: &'static str,
    },
}

/// Our organisationally specific TLV: which controller sent the probe and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSignature {
    /// The sending controller's cookie; probes with another cookie are someone else's.
    pub cookie: u64,
    /// When the probe was built, to measure link latency on receipt.
    pub sent_at: Timestamp,
}

/// A parsed (or to-be-emitted) LLDP probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LldpProbe {
    /// Source MAC of the frame (the sending port's address).
    pub src_mac: MacAddr,
    /// The sending device (Chassis ID TLV).
    pub chassis: DeviceId,
    /// The sending port (Port ID TLV).
    pub port: PortNo,
    /// Time to live, seconds.
    pub ttl_secs: u16,
    /// Our signature, when present.
    pub signature: Option<ProbeSignature>,
}

fn tlv_header(kind: u8, len: usize) -> [u8; 2] {
    // Callers only pass lengths below 512 (the 9-bit limit): chassis text ≤ 23, port text ≤ 11.
    let word = (u16::from(kind) << 9) | (len as u16 & 0x1ff);
    word.to_be_bytes()
}

fn slice<'a>(
    frame: &'a [u8],
    at: usize,
    len: usize,
    name: &'static str,
) -> Result<&'a [u8], LldpError> {
    let end = at.saturating_add(len);
    frame.get(at..end).ok_or(LldpError::Truncated {
        field: name,
        need: end,
        have: frame.len(),
    })
}

/// Reads the TLV at `at`: (type, value, offset of the next TLV).
fn read_tlv(frame: &[u8], at: usize) -> Result<(u8, &[u8], usize), LldpError> {
    let head = slice(frame, at, 2, "TLV header")?;
    let word = u16::from_be_bytes([head[0], head[1]]);
    let kind = (word >> 9) as u8;
    let len = usize::from(word & 0x1ff);
    let value = slice(frame, at + 2, len, "TLV value")?;
    Ok((kind, value, at + 2 + len))
}

fn expect_tlv<'a>(
    frame: &'a [u8],
    at: usize,
    kind: u8,
    name: &'static str,
) -> Result<(&'a [u8], usize), LldpError> {
    let (found, value, next) = read_tlv(frame, at)?;
    if found != kind {
        return Err(LldpError::UnexpectedTlv {
            expected: name,
            offset: at,
            found,
        });
    }
    Ok((value, next))
}

fn local_text<'a>(value: &'a [u8], name: &'static str) -> Result<&'a str, LldpError> {
    match value.split_first() {
        Some((&tlv::SUBTYPE_LOCAL, rest)) => {
            std::str::from_utf8(rest).map_err(|_| LldpError::BadValue {
                tlv: name,
                reason: "value is not UTF-8",
            })
        }
        Some(_) => Err(LldpError::BadValue {
            tlv: name,
            reason: "subtype is not 7 (locally assigned)",
        }),
        None => Err(LldpError::BadValue {
            tlv: name,
            reason: "empty value",
        }),
    }
}

fn be_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

impl LldpProbe {
    /// Parses an Ethernet frame carrying one of our probes.
    pub fn parse(frame: &[u8]) -> Result<Self, LldpError> {
        let ethertype = slice(frame, field::ETHERTYPE.start, 2, "ethertype")?;
        let ethertype = u16::from_be_bytes([ethertype[0], ethertype[1]]);
        if ethertype != ETHERTYPE_LLDP {
            return Err(LldpError::NotLldp(ethertype));
        }
        let mut src = [0u8; 6];
        src.copy_from_slice(slice(frame, field::SRC.start, 6, "source MAC")?);

        let (value, next) = expect_tlv(frame, field::TLVS, tlv::CHASSIS_ID, "Chassis ID")?;
        let chassis =
            DeviceId::parse(local_text(value, "Chassis ID")?).ok_or(LldpError::BadValue {
                tlv: "Chassis ID",
                reason: "not a Prescient device id (of:<hex> or p4:<decimal>)",
            })?;
        let (value, next) = expect_tlv(frame, next, tlv::PORT_ID, "Port ID")?;
        let port_text = local_text(value, "Port ID")?;
        let port = port_text
            .parse::<u32>()
            .ok()
            .filter(|_| port_text.bytes().all(|b| b.is_ascii_digit()))
            .map(PortNo)
            .ok_or(LldpError::BadValue {
                tlv: "Port ID",
                reason: "not a decimal port number",
            })?;
        let (value, mut next) = expect_tlv(frame, next, tlv::TTL, "TTL")?;
        let ttl_secs = match value {
            [hi, lo] => u16::from_be_bytes([*hi, *lo]),
            _ => {
                return Err(LldpError::BadValue {
                    tlv: "TTL",
                    reason: "length is not 2",
                })
            }
        };

        let mut signature = None;
        loop {
            let (kind, value, after) = read_tlv(frame, next)?;
            match kind {
                tlv::END => break,
                tlv::ORG_SPECIFIC
                    if value.len() == tlv::ORG_LEN
                        && value.get(0..3) == Some(&PRESCIENT_OUI[..])
                        && value.get(3) == Some(&PRESCIENT_SUBTYPE) =>
                {
                    let cookie = value.get(4..12).and_then(be_u64);
                    let sent = value.get(12..20).and_then(be_u64);
                    if let (Some(cookie), Some(sent)) = (cookie, sent) {
                        signature = Some(ProbeSignature {
                            cookie,
                            sent_at: Timestamp(sent),
                        });
                    }
                }
                // Optional TLVs of other kinds (system name, other vendors' TLVs) are skipped.
                _ => {}
            }
            next = after;
        }

        Ok(LldpProbe {
            src_mac: MacAddr(src),
            chassis,
            port,
            ttl_secs,
            signature,
        })
    }

    /// Builds the Ethernet frame, padded to the 60-byte minimum.
    pub fn emit(&self) -> Vec<u8> {
        let chassis = self.chassis.to_string();
        let port = self.port.0.to_string();
        let mut out = Vec::with_capacity(96);
        out.extend_from_slice(&LLDP_MULTICAST.0);
        out.extend_from_slice(&self.src_mac.0);
        out.extend_from_slice(&ETHERTYPE_LLDP.to_be_bytes());
        debug_assert_eq!(out.len(), field::TLVS);
        debug_assert_eq!(field::DST.end, field::SRC.start);

        out.extend_from_slice(&tlv_header(tlv::CHASSIS_ID, 1 + chassis.len()));
        out.push(tlv::SUBTYPE_LOCAL);
        out.extend_from_slice(chassis.as_bytes());
        out.extend_from_slice(&tlv_header(tlv::PORT_ID, 1 + port.len()));
        out.push(tlv::SUBTYPE_LOCAL);
        out.extend_from_slice(port.as_bytes());
        out.extend_from_slice(&tlv_header(tlv::TTL, 2));
        out.extend_from_slice(&self.ttl_secs.to_be_bytes());
        if let Some(sig) = self.signature {
            out.extend_from_slice(&tlv_header(tlv::ORG_SPECIFIC, tlv::ORG_LEN));
            out.extend_from_slice(&PRESCIENT_OUI);
            out.push(PRESCIENT_SUBTYPE);
            out.extend_from_slice(&sig.cookie.to_be_bytes());
            out.extend_from_slice(&sig.sent_at.0.to_be_bytes());
        }
        out.extend_from_slice(&tlv_header(tlv::END, 0));
        if out.len() < field::MIN_FRAME {
            out.resize(field::MIN_FRAME, 0);
        }
        out
    }
}

/// Most characters of a System Name kept (IEEE 802.1AB allows 255 octets).
pub const MAX_SYSTEM_NAME: usize = 64;

/// The System Name TLV (§8.5.6) of any LLDP frame, ours or another speaker's (whose Chassis and
/// Port IDs need not be ours): trimmed, printable, at most [`MAX_SYSTEM_NAME`] characters.
/// `None` for a frame that is not LLDP, is malformed before it, or has no usable one.
pub fn system_name(frame: &[u8]) -> Option<String> {
    let ethertype = slice(frame, field::ETHERTYPE.start, 2, "ethertype").ok()?;
    if u16::from_be_bytes([ethertype[0], ethertype[1]]) != ETHERTYPE_LLDP {
        return None;
    }
    let mut next = field::TLVS;
    loop {
        let (kind, value, after) = read_tlv(frame, next).ok()?;
        match kind {
            tlv::END => return None,
            tlv::SYSTEM_NAME => {
                let text = std::str::from_utf8(value).ok()?.trim();
                let ok = !text.is_empty()
                    && text.chars().count() <= MAX_SYSTEM_NAME
                    && !text.chars().any(char::is_control);
                return ok.then(|| text.to_owned());
            }
            _ => next = after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn probe() -> LldpProbe {
        LldpProbe {
            src_mac: MacAddr([0x02, 0, 0, 0, 0, 1]),
            chassis: DeviceId::openflow(0x1234),
            port: PortNo(3),
            ttl_secs: 120,
            signature: Some(ProbeSignature {
                cookie: 0xfeed,
                sent_at: Timestamp(42),
            }),
        }
    }

    #[test]
    fn emitted_frame_has_the_documented_bytes() {
        let bytes = probe().emit();
        assert_eq!(&bytes[0..6], &LLDP_MULTICAST.0);
        assert_eq!(&bytes[12..14], &[0x88, 0xcc]);
        // Chassis ID TLV: type 1, length 1 + 19 ("of:" + 16 hex digits).
        assert_eq!(&bytes[14..17], &[0x02, 20, 7]);
        assert_eq!(&bytes[17..36], b"of:0000000000001234");
        // Port ID TLV: type 2, length 2, subtype 7, "3".
        assert_eq!(&bytes[36..40], &[0x04, 2, 7, b'3']);
        // TTL TLV: type 3, length 2, 120.
        assert_eq!(&bytes[40..44], &[0x06, 2, 0, 120]);
        // Org-specific TLV: type 127, length 20.
        assert_eq!(&bytes[44..46], &[0xfe, 20]);
        assert_eq!(&bytes[46..49], &PRESCIENT_OUI);
        assert_eq!(bytes.len(), 68);
        assert_eq!(&bytes[66..68], &[0, 0]);
    }

    #[test]
    fn short_frames_are_padded_and_still_parse() {
        let mut p = probe();
        p.signature = None;
        p.chassis = DeviceId::p4runtime(1);
        let bytes = p.emit();
        assert_eq!(bytes.len(), 60);
        assert_eq!(LldpProbe::parse(&bytes), Ok(p));
    }

    #[test]
    fn rejects_other_ethertypes_and_truncation() {
        let mut bytes = probe().emit();
        assert!(matches!(
            LldpProbe::parse(&bytes[..30]),
            Err(LldpError::Truncated { .. })
        ));
        bytes[13] = 0x00;
        assert_eq!(LldpProbe::parse(&bytes), Err(LldpError::NotLldp(0x8800)));
    }

    #[test]
    fn rejects_foreign_chassis_ids() {
        let mut bytes = probe().emit();
        bytes[16] = 4; // chassis subtype "MAC address"
        assert!(matches!(
            LldpProbe::parse(&bytes),
            Err(LldpError::BadValue {
                tlv: "Chassis ID",
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn round_trips(mac in any::<[u8; 6]>(), p4 in any::<bool>(), id in any::<u64>(),
                       port in any::<u32>(), ttl in any::<u16>(),
                       sig in proptest::option::of((any::<u64>(), any::<u64>()))) {
            let p = LldpProbe {
                src_mac: MacAddr(mac),
                chassis: if p4 { DeviceId::p4runtime(id) } else { DeviceId::openflow(id) },
                port: PortNo(port),
                ttl_secs: ttl,
                signature: sig.map(|(cookie, t)| ProbeSignature { cookie, sent_at: Timestamp(t) }),
            };
            prop_assert_eq!(LldpProbe::parse(&p.emit()), Ok(p));
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = LldpProbe::parse(&bytes);
        }

        #[test]
        fn parse_never_panics_on_mutated_probes(idx in 0usize..68, val in any::<u8>(), cut in 0usize..69) {
            let mut bytes = probe().emit();
            if let Some(b) = bytes.get_mut(idx) { *b = val; }
            bytes.truncate(cut);
            let _ = LldpProbe::parse(&bytes);
        }
    }

    /// Another speaker's frame: chassis by MAC (subtype 4), port by name (subtype 5).
    fn foreign(name: Option<&[u8]>) -> Vec<u8> {
        let mut f = LLDP_MULTICAST.0.to_vec();
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 9]);
        f.extend_from_slice(&ETHERTYPE_LLDP.to_be_bytes());
        f.extend_from_slice(&tlv_header(tlv::CHASSIS_ID, 7));
        f.extend_from_slice(&[4, 0x02, 0, 0, 0, 0, 9]);
        f.extend_from_slice(&tlv_header(tlv::PORT_ID, 5));
        f.extend_from_slice(b"\x05eth1");
        f.extend_from_slice(&tlv_header(tlv::TTL, 2));
        f.extend_from_slice(&120u16.to_be_bytes());
        if let Some(name) = name {
            f.extend_from_slice(&tlv_header(tlv::SYSTEM_NAME, name.len()));
            f.extend_from_slice(name);
        }
        f.extend_from_slice(&tlv_header(tlv::END, 0));
        f
    }

    #[test]
    fn system_names_are_read_from_any_speakers_frames() {
        assert_eq!(
            system_name(&foreign(Some(b" leaf-3 "))).as_deref(),
            Some("leaf-3")
        );
        assert_eq!(system_name(&foreign(None)), None);
        assert_eq!(system_name(&foreign(Some(b""))), None);
        assert_eq!(system_name(&foreign(Some(b"a\nb"))), None);
        assert_eq!(system_name(&foreign(Some(&[0xff, 0xfe]))), None);
        assert_eq!(system_name(&probe().emit()), None, "our probes carry none");
        let mut truncated = foreign(Some(b"leaf-3"));
        truncated.truncate(30);
        assert_eq!(system_name(&truncated), None);
    }

    proptest! {
        #[test]
        fn system_name_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = system_name(&bytes);
        }
    }
}
