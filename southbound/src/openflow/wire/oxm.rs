//! OXM match fields and `ofp_match` (OpenFlow 1.3.5 §7.2.3).
//!
//! An OXM TLV is a 4-byte header (`class:16`, `field:7`, `hasmask:1`, `length:8`) and `length`
//! bytes of value (followed by an equal-size mask when `hasmask`). `ofp_match` is `type=OXM(1)`,
//! `length` (4 + OXM bytes, padding excluded), the OXMs, and zero padding to a multiple of 8.
//!
//! Fields of class `OPENFLOW_BASIC` that this module names are validated (exact length, mask only
//! where the spec allows one); every other class/field is kept as [`OxmField::Unknown`] and
//! round-trips byte for byte. Invariant: parsing never panics, and `emit` writes exactly
//! `buffer_len()` bytes.

mod ofp_match;

use core::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;

use super::cursor::{Reader, Writer};
use super::types::{MacAddr, PortNo};
use super::wire_error::{Result, WireError};

/// `OFPXMC_OPENFLOW_BASIC`.
pub const CLASS_OPENFLOW_BASIC: u16 = 0x8000;
/// `OFPXMC_EXPERIMENTER`.
pub const CLASS_EXPERIMENTER: u16 = 0xffff;
/// `OFPVID_PRESENT`: set in `VLAN_VID` when a VLAN tag is present.
pub const OFPVID_PRESENT: u16 = 0x1000;
/// `OFPVID_NONE`: `VLAN_VID` value matching packets without a VLAN tag.
pub const OFPVID_NONE: u16 = 0x0000;
/// `OFPMT_OXM`: the only match type of OpenFlow 1.3.
pub const OFPMT_OXM: u16 = 1;
/// Size of an OXM header.
pub const OXM_HEADER_LEN: usize = 4;

/// `OFPXMT_OFB_*` field numbers named by this codec.
pub mod field_id {
    /// `IN_PORT`.
    pub const IN_PORT: u8 = 0;
    /// `IN_PHY_PORT`.
    pub const IN_PHY_PORT: u8 = 1;
    /// `METADATA`.
    pub const METADATA: u8 = 2;
    /// `ETH_DST`.
    pub const ETH_DST: u8 = 3;
    /// `ETH_SRC`.
    pub const ETH_SRC: u8 = 4;
    /// `ETH_TYPE`.
    pub const ETH_TYPE: u8 = 5;
    /// `VLAN_VID`.
    pub const VLAN_VID: u8 = 6;
    /// `VLAN_PCP`.
    pub const VLAN_PCP: u8 = 7;
    /// `IP_DSCP`.
    pub const IP_DSCP: u8 = 8;
    /// `IP_ECN`.
    pub const IP_ECN: u8 = 9;
    /// `IP_PROTO`.
    pub const IP_PROTO: u8 = 10;
    /// `IPV4_SRC`.
    pub const IPV4_SRC: u8 = 11;
    /// `IPV4_DST`.
    pub const IPV4_DST: u8 = 12;
    /// `TCP_SRC`.
    pub const TCP_SRC: u8 = 13;
    /// `TCP_DST`.
    pub const TCP_DST: u8 = 14;
    /// `UDP_SRC`.
    pub const UDP_SRC: u8 = 15;
    /// `UDP_DST`.
    pub const UDP_DST: u8 = 16;
    /// `ICMPV4_TYPE`.
    pub const ICMPV4_TYPE: u8 = 19;
    /// `ICMPV4_CODE`.
    pub const ICMPV4_CODE: u8 = 20;
    /// `ARP_OP`.
    pub const ARP_OP: u8 = 21;
    /// `ARP_SPA`.
    pub const ARP_SPA: u8 = 22;
    /// `ARP_TPA`.
    pub const ARP_TPA: u8 = 23;
    /// `ARP_SHA`.
    pub const ARP_SHA: u8 = 24;
    /// `ARP_THA`.
    pub const ARP_THA: u8 = 25;
    /// `IPV6_SRC`.
    pub const IPV6_SRC: u8 = 26;
    /// `IPV6_DST`.
    pub const IPV6_DST: u8 = 27;
}

use field_id as f;
pub(crate) use ofp_match::scan_in_port;
pub use ofp_match::Match;

/// One OXM match field (or, in `SET_FIELD`, the value to write).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OxmField {
    /// Ingress port.
    InPort(PortNo),
    /// Physical ingress port.
    InPhyPort(PortNo),
    /// Table metadata, optionally masked.
    Metadata {
        /// Value.
        value: u64,
        /// Mask (1 bits are compared).
        mask: Option<u64>,
    },
    /// Ethernet destination.
    EthDst {
        /// Address.
        addr: MacAddr,
        /// Mask.
        mask: Option<MacAddr>,
    },
    /// Ethernet source.
    EthSrc {
        /// Address.
        addr: MacAddr,
        /// Mask.
        mask: Option<MacAddr>,
    },
    /// Ethertype.
    EthType(u16),
    /// VLAN id with `OFPVID_PRESENT` (0x1000) set for tagged packets.
    VlanVid {
        /// Value (12-bit id | `OFPVID_PRESENT`).
        vid: u16,
        /// Mask.
        mask: Option<u16>,
    },
    /// VLAN priority.
    VlanPcp(u8),
    /// IP DSCP (6 bits).
    IpDscp(u8),
    /// IP ECN (2 bits).
    IpEcn(u8),
    /// IP protocol.
    IpProto(u8),
    /// IPv4 source.
    Ipv4Src {
        /// Address.
        addr: Ipv4Addr,
        /// Mask.
        mask: Option<Ipv4Addr>,
    },
    /// IPv4 destination.
    Ipv4Dst {
        /// Address.
        addr: Ipv4Addr,
        /// Mask.
        mask: Option<Ipv4Addr>,
    },
    /// TCP source port.
    TcpSrc(u16),
    /// TCP destination port.
    TcpDst(u16),
    /// UDP source port.
    UdpSrc(u16),
    /// UDP destination port.
    UdpDst(u16),
    /// ICMPv4 type.
    Icmpv4Type(u8),
    /// ICMPv4 code.
    Icmpv4Code(u8),
    /// ARP opcode.
    ArpOp(u16),
    /// ARP sender protocol address.
    ArpSpa {
        /// Address.
        addr: Ipv4Addr,
        /// Mask.
        mask: Option<Ipv4Addr>,
    },
    /// ARP target protocol address.
    ArpTpa {
        /// Address.
        addr: Ipv4Addr,
        /// Mask.
        mask: Option<Ipv4Addr>,
    },
    /// ARP sender hardware address.
    ArpSha {
        /// Address.
        addr: MacAddr,
        /// Mask.
        mask: Option<MacAddr>,
    },
    /// ARP target hardware address.
    ArpTha {
        /// Address.
        addr: MacAddr,
        /// Mask.
        mask: Option<MacAddr>,
    },
    /// IPv6 source.
    Ipv6Src {
        /// Address.
        addr: Ipv6Addr,
        /// Mask.
        mask: Option<Ipv6Addr>,
    },
    /// IPv6 destination.
    Ipv6Dst {
        /// Address.
        addr: Ipv6Addr,
        /// Mask.
        mask: Option<Ipv6Addr>,
    },
    /// Any other field, kept verbatim: `value` holds the payload (value and mask if `has_mask`;
    /// for the experimenter class it starts with the 4-byte experimenter id).
    Unknown {
        /// OXM class.
        class: u16,
        /// Field number (7 bits).
        field: u8,
        /// The hasmask bit.
        has_mask: bool,
        /// Payload after the header (at most 255 bytes).
        value: Bytes,
    },
}

/// Spec name of a basic-class field, for errors.
pub fn field_name(class: u16, field: u8) -> &'static str {
    if class != CLASS_OPENFLOW_BASIC {
        return if class == CLASS_EXPERIMENTER {
            "EXPERIMENTER"
        } else {
            "UNKNOWN_CLASS"
        };
    }
    match field {
        f::IN_PORT => "IN_PORT",
        f::IN_PHY_PORT => "IN_PHY_PORT",
        f::METADATA => "METADATA",
        f::ETH_DST => "ETH_DST",
        f::ETH_SRC => "ETH_SRC",
        f::ETH_TYPE => "ETH_TYPE",
        f::VLAN_VID => "VLAN_VID",
        f::VLAN_PCP => "VLAN_PCP",
        f::IP_DSCP => "IP_DSCP",
        f::IP_ECN => "IP_ECN",
        f::IP_PROTO => "IP_PROTO",
        f::IPV4_SRC => "IPV4_SRC",
        f::IPV4_DST => "IPV4_DST",
        f::TCP_SRC => "TCP_SRC",
        f::TCP_DST => "TCP_DST",
        f::UDP_SRC => "UDP_SRC",
        f::UDP_DST => "UDP_DST",
        f::ICMPV4_TYPE => "ICMPV4_TYPE",
        f::ICMPV4_CODE => "ICMPV4_CODE",
        f::ARP_OP => "ARP_OP",
        f::ARP_SPA => "ARP_SPA",
        f::ARP_TPA => "ARP_TPA",
        f::ARP_SHA => "ARP_SHA",
        f::ARP_THA => "ARP_THA",
        f::IPV6_SRC => "IPV6_SRC",
        f::IPV6_DST => "IPV6_DST",
        _ => "UNKNOWN_FIELD",
    }
}

/// Value width of a named basic field and whether it may carry a mask; `None` if not named.
fn basic_shape(field: u8) -> Option<(usize, bool)> {
    Some(match field {
        f::IN_PORT | f::IN_PHY_PORT => (4, false),
        f::METADATA => (8, true),
        f::ETH_DST | f::ETH_SRC | f::ARP_SHA | f::ARP_THA => (6, true),
        f::ETH_TYPE | f::TCP_SRC | f::TCP_DST | f::UDP_SRC | f::UDP_DST | f::ARP_OP => (2, false),
        f::VLAN_VID => (2, true),
        f::VLAN_PCP | f::IP_DSCP | f::IP_ECN | f::IP_PROTO | f::ICMPV4_TYPE | f::ICMPV4_CODE => {
            (1, false)
        }
        f::IPV4_SRC | f::IPV4_DST | f::ARP_SPA | f::ARP_TPA => (4, true),
        f::IPV6_SRC | f::IPV6_DST => (16, true),
        _ => return None,
    })
}

/// Reads a value of `N` bytes and its mask when present.
fn pair<const N: usize>(r: &mut Reader<'_>, masked: bool) -> Result<([u8; N], Option<[u8; N]>)> {
    let v = r.array::<N>("oxm value")?;
    let m = if masked {
        Some(r.array::<N>("oxm mask")?)
    } else {
        None
    };
    Ok((v, m))
}

impl OxmField {
    /// `VLAN_VID` matching tagged packets with this 12-bit VLAN id.
    pub fn vlan(vid: u16) -> OxmField {
        OxmField::VlanVid {
            vid: (vid & 0x0fff) | OFPVID_PRESENT,
            mask: None,
        }
    }

    /// `(class, field, has_mask)` of this OXM.
    pub fn header_parts(&self) -> (u16, u8, bool) {
        let b = CLASS_OPENFLOW_BASIC;
        match self {
            OxmField::InPort(_) => (b, f::IN_PORT, false),
            OxmField::InPhyPort(_) => (b, f::IN_PHY_PORT, false),
            OxmField::Metadata { mask, .. } => (b, f::METADATA, mask.is_some()),
            OxmField::EthDst { mask, .. } => (b, f::ETH_DST, mask.is_some()),
            OxmField::EthSrc { mask, .. } => (b, f::ETH_SRC, mask.is_some()),
            OxmField::EthType(_) => (b, f::ETH_TYPE, false),
            OxmField::VlanVid { mask, .. } => (b, f::VLAN_VID, mask.is_some()),
            OxmField::VlanPcp(_) => (b, f::VLAN_PCP, false),
            OxmField::IpDscp(_) => (b, f::IP_DSCP, false),
            OxmField::IpEcn(_) => (b, f::IP_ECN, false),
            OxmField::IpProto(_) => (b, f::IP_PROTO, false),
            OxmField::Ipv4Src { mask, .. } => (b, f::IPV4_SRC, mask.is_some()),
            OxmField::Ipv4Dst { mask, .. } => (b, f::IPV4_DST, mask.is_some()),
            OxmField::TcpSrc(_) => (b, f::TCP_SRC, false),
            OxmField::TcpDst(_) => (b, f::TCP_DST, false),
            OxmField::UdpSrc(_) => (b, f::UDP_SRC, false),
            OxmField::UdpDst(_) => (b, f::UDP_DST, false),
            OxmField::Icmpv4Type(_) => (b, f::ICMPV4_TYPE, false),
            OxmField::Icmpv4Code(_) => (b, f::ICMPV4_CODE, false),
            OxmField::ArpOp(_) => (b, f::ARP_OP, false),
            OxmField::ArpSpa { mask, .. } => (b, f::ARP_SPA, mask.is_some()),
            OxmField::ArpTpa { mask, .. } => (b, f::ARP_TPA, mask.is_some()),
            OxmField::ArpSha { mask, .. } => (b, f::ARP_SHA, mask.is_some()),
            OxmField::ArpTha { mask, .. } => (b, f::ARP_THA, mask.is_some()),
            OxmField::Ipv6Src { mask, .. } => (b, f::IPV6_SRC, mask.is_some()),
            OxmField::Ipv6Dst { mask, .. } => (b, f::IPV6_DST, mask.is_some()),
            OxmField::Unknown {
                class,
                field,
                has_mask,
                ..
            } => (*class, *field, *has_mask),
        }
    }

    /// Spec name of the field.
    pub fn name(&self) -> &'static str {
        let (c, fl, _) = self.header_parts();
        field_name(c, fl)
    }

    /// Payload length (value plus mask), the OXM header's `length` byte.
    pub fn payload_len(&self) -> usize {
        match self {
            OxmField::Unknown { value, .. } => value.len(),
            other => {
                let (_, fl, masked) = other.header_parts();
                let width = basic_shape(fl).map_or(0, |(w, _)| w);
                if masked {
                    width * 2
                } else {
                    width
                }
            }
        }
    }

    /// Encoded size: 4-byte header plus payload.
    pub fn buffer_len(&self) -> usize {
        OXM_HEADER_LEN + self.payload_len()
    }

    /// Parses one OXM TLV from the front of `buf`, returning it and the bytes it used.
    pub fn parse(buf: &[u8]) -> Result<(OxmField, usize)> {
        let mut r = Reader::new(buf, "OXM");
        let oxm = Self::read(&mut r, 0)?;
        Ok((oxm, buf.len() - r.remaining()))
    }

    /// Reads OXM number `index` of a list.
    pub(crate) fn read(r: &mut Reader<'_>, index: usize) -> Result<OxmField> {
        let remaining = r.remaining();
        let class = r.u16("oxm header")?;
        let fh = r.u8("oxm header")?;
        let len = usize::from(r.u8("oxm header")?);
        let (field, has_mask) = (fh >> 1, fh & 1 == 1);
        let kind = field_name(class, field);
        let mut body = if len + OXM_HEADER_LEN > remaining {
            return Err(WireError::ElementOverrun {
                msg: r.msg,
                what: "oxm",
                index,
                kind,
                len: len + OXM_HEADER_LEN,
                remaining,
            });
        } else {
            r.sub(len, "oxm")?
        };
        let shape = if class == CLASS_OPENFLOW_BASIC {
            basic_shape(field)
        } else {
            None
        };
        let Some((width, maskable)) = shape else {
            let value = body.rest_bytes();
            return Ok(OxmField::Unknown {
                class,
                field,
                has_mask,
                value,
            });
        };
        if has_mask && !maskable {
            return Err(WireError::BadElementLength {
                msg: r.msg,
                what: "oxm",
                index,
                kind,
                len,
                why: "field does not allow a mask",
            });
        }
        let expect = if has_mask { 2 * width } else { width };
        if len != expect {
            return Err(WireError::BadElementLength {
                msg: r.msg,
                what: "oxm",
                index,
                kind,
                len,
                why: "payload length does not match the field's width",
            });
        }
        let b = &mut body;
        let m = has_mask;
        Ok(match field {
            f::IN_PORT => OxmField::InPort(PortNo(b.u32("in_port")?)),
            f::IN_PHY_PORT => OxmField::InPhyPort(PortNo(b.u32("in_phy_port")?)),
            f::METADATA => {
                let (v, k) = pair::<8>(b, m)?;
                OxmField::Metadata {
                    value: u64::from_be_bytes(v),
                    mask: k.map(u64::from_be_bytes),
                }
            }
            f::ETH_DST => {
                let (v, k) = pair::<6>(b, m)?;
                OxmField::EthDst {
                    addr: MacAddr(v),
                    mask: k.map(MacAddr),
                }
            }
            f::ETH_SRC => {
                let (v, k) = pair::<6>(b, m)?;
                OxmField::EthSrc {
                    addr: MacAddr(v),
                    mask: k.map(MacAddr),
                }
            }
            f::ARP_SHA => {
                let (v, k) = pair::<6>(b, m)?;
                OxmField::ArpSha {
                    addr: MacAddr(v),
                    mask: k.map(MacAddr),
                }
            }
            f::ARP_THA => {
                let (v, k) = pair::<6>(b, m)?;
                OxmField::ArpTha {
                    addr: MacAddr(v),
                    mask: k.map(MacAddr),
                }
            }
            f::ETH_TYPE => OxmField::EthType(b.u16("eth_type")?),
            f::VLAN_VID => {
                let (v, k) = pair::<2>(b, m)?;
                OxmField::VlanVid {
                    vid: u16::from_be_bytes(v),
                    mask: k.map(u16::from_be_bytes),
                }
            }
            f::VLAN_PCP => OxmField::VlanPcp(b.u8("vlan_pcp")?),
            f::IP_DSCP => OxmField::IpDscp(b.u8("ip_dscp")?),
            f::IP_ECN => OxmField::IpEcn(b.u8("ip_ecn")?),
            f::IP_PROTO => OxmField::IpProto(b.u8("ip_proto")?),
            f::IPV4_SRC => {
                let (v, k) = pair::<4>(b, m)?;
                OxmField::Ipv4Src {
                    addr: Ipv4Addr::from(v),
                    mask: k.map(Ipv4Addr::from),
                }
            }
            f::IPV4_DST => {
                let (v, k) = pair::<4>(b, m)?;
                OxmField::Ipv4Dst {
                    addr: Ipv4Addr::from(v),
                    mask: k.map(Ipv4Addr::from),
                }
            }
            f::ARP_SPA => {
                let (v, k) = pair::<4>(b, m)?;
                OxmField::ArpSpa {
                    addr: Ipv4Addr::from(v),
                    mask: k.map(Ipv4Addr::from),
                }
            }
            f::ARP_TPA => {
                let (v, k) = pair::<4>(b, m)?;
                OxmField::ArpTpa {
                    addr: Ipv4Addr::from(v),
                    mask: k.map(Ipv4Addr::from),
                }
            }
            f::TCP_SRC => OxmField::TcpSrc(b.u16("tcp_src")?),
            f::TCP_DST => OxmField::TcpDst(b.u16("tcp_dst")?),
            f::UDP_SRC => OxmField::UdpSrc(b.u16("udp_src")?),
            f::UDP_DST => OxmField::UdpDst(b.u16("udp_dst")?),
            f::ICMPV4_TYPE => OxmField::Icmpv4Type(b.u8("icmpv4_type")?),
            f::ICMPV4_CODE => OxmField::Icmpv4Code(b.u8("icmpv4_code")?),
            f::ARP_OP => OxmField::ArpOp(b.u16("arp_op")?),
            f::IPV6_SRC => {
                let (v, k) = pair::<16>(b, m)?;
                OxmField::Ipv6Src {
                    addr: Ipv6Addr::from(v),
                    mask: k.map(Ipv6Addr::from),
                }
            }
            f::IPV6_DST => {
                let (v, k) = pair::<16>(b, m)?;
                OxmField::Ipv6Dst {
                    addr: Ipv6Addr::from(v),
                    mask: k.map(Ipv6Addr::from),
                }
            }
            // basic_shape() returned Some, so the field is one of the above; keep the bytes anyway.
            _ => OxmField::Unknown {
                class,
                field,
                has_mask,
                value: body.rest_bytes(),
            },
        })
    }

    /// Encodes into `buf` (which should be `buffer_len()` bytes).
    pub fn emit(&self, buf: &mut [u8]) {
        self.write(&mut Writer::new(buf));
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        let (class, field, has_mask) = self.header_parts();
        w.u16(class);
        w.u8((field << 1) | u8::from(has_mask));
        w.u8(u8::try_from(self.payload_len()).unwrap_or(u8::MAX));
        fn opt<const N: usize>(w: &mut Writer<'_>, v: [u8; N], m: Option<[u8; N]>) {
            w.put(&v);
            if let Some(m) = m {
                w.put(&m);
            }
        }
        match self {
            OxmField::InPort(p) | OxmField::InPhyPort(p) => w.u32(p.0),
            OxmField::Metadata { value, mask } => {
                opt(w, value.to_be_bytes(), mask.map(u64::to_be_bytes))
            }
            OxmField::EthDst { addr, mask }
            | OxmField::EthSrc { addr, mask }
            | OxmField::ArpSha { addr, mask }
            | OxmField::ArpTha { addr, mask } => opt(w, addr.0, mask.map(|m| m.0)),
            OxmField::EthType(v)
            | OxmField::TcpSrc(v)
            | OxmField::TcpDst(v)
            | OxmField::UdpSrc(v)
            | OxmField::UdpDst(v)
            | OxmField::ArpOp(v) => w.u16(*v),
            OxmField::VlanVid { vid, mask } => {
                opt(w, vid.to_be_bytes(), mask.map(u16::to_be_bytes))
            }
            OxmField::VlanPcp(v)
            | OxmField::IpDscp(v)
            | OxmField::IpEcn(v)
            | OxmField::IpProto(v)
            | OxmField::Icmpv4Type(v)
            | OxmField::Icmpv4Code(v) => w.u8(*v),
            OxmField::Ipv4Src { addr, mask }
            | OxmField::Ipv4Dst { addr, mask }
            | OxmField::ArpSpa { addr, mask }
            | OxmField::ArpTpa { addr, mask } => opt(w, addr.octets(), mask.map(|m| m.octets())),
            OxmField::Ipv6Src { addr, mask } | OxmField::Ipv6Dst { addr, mask } => {
                opt(w, addr.octets(), mask.map(|m| m.octets()))
            }
            OxmField::Unknown { value, .. } => w.put(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `in_port=1, eth_type=0x0800, ipv4_dst=10.0.0.0/255.0.0.0` as OVS encodes it.
    const MATCH: [u8; 32] = [
        0x00, 0x01, 0x00, 0x1e, // OXM match, length 30
        0x80, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, // in_port=1
        0x80, 0x00, 0x0a, 0x02, 0x08, 0x00, // eth_type=0x0800
        0x80, 0x00, 0x19, 0x08, 10, 0, 0, 0, 255, 0, 0, 0, // ipv4_dst/mask
        0x00, 0x00, // padding
    ];

    fn sample() -> Match {
        Match::new()
            .with(OxmField::InPort(PortNo(1)))
            .with(OxmField::EthType(0x0800))
            .with(OxmField::Ipv4Dst {
                addr: Ipv4Addr::new(10, 0, 0, 0),
                mask: Some(Ipv4Addr::new(255, 0, 0, 0)),
            })
    }

    #[test]
    fn parses_and_emits_captured_match() {
        let (m, used) = Match::parse(&MATCH).unwrap();
        assert_eq!(used, 32);
        assert_eq!(m, sample());
        assert_eq!(m.in_port(), Some(PortNo(1)));
        let mut out = vec![0u8; m.buffer_len()];
        m.emit(&mut out);
        assert_eq!(out, MATCH);
        assert_eq!(scan_in_port(&MATCH[4..30]), Some(PortNo(1)));
    }

    #[test]
    fn rejects_bad_oxm_lengths_and_masks() {
        // in_port with a 2-byte payload
        let bad = [
            0x00, 0x01, 0x00, 0x0a, 0x80, 0x00, 0x00, 0x02, 0, 1, 0, 0, 0, 0, 0, 0,
        ];
        let e = Match::parse(&bad).unwrap_err();
        assert!(
            matches!(
                e,
                WireError::BadElementLength {
                    kind: "IN_PORT",
                    len: 2,
                    ..
                }
            ),
            "{e}"
        );
        // in_port with the mask bit
        let bad = [
            0x00, 0x01, 0x00, 0x10, 0x80, 0x00, 0x01, 0x08, 0, 0, 0, 1, 0, 0, 0, 1,
        ];
        let e = Match::parse(&bad).unwrap_err();
        assert!(e.to_string().contains("does not allow a mask"), "{e}");
        // OXM longer than the match
        let bad = [0x00, 0x01, 0x00, 0x08, 0x80, 0x00, 0x00, 0x04, 0, 0, 0, 0];
        let e = Match::parse(&bad).unwrap_err();
        assert!(
            matches!(e, WireError::ElementOverrun { what: "oxm", .. }),
            "{e}"
        );
        // padding missing
        let e = Match::parse(&MATCH[..30]).unwrap_err();
        assert!(
            matches!(e, WireError::ElementOverrun { what: "match", .. }),
            "{e}"
        );
        // OF1.0-style standard match
        let e = Match::parse(&[0, 0, 0, 4, 0, 0, 0, 0]).unwrap_err();
        assert!(
            matches!(
                e,
                WireError::BadValue {
                    field: "match type",
                    value: 0,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn unknown_and_experimenter_fields_round_trip() {
        let m = Match::new()
            .with(OxmField::Unknown {
                class: CLASS_OPENFLOW_BASIC,
                field: 38, // TUNNEL_ID
                has_mask: false,
                value: Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 9]),
            })
            .with(OxmField::Unknown {
                class: CLASS_EXPERIMENTER,
                field: 1,
                has_mask: true,
                value: Bytes::from_static(&[0, 0, 0x23, 0x20, 1, 2, 3, 4]),
            });
        let mut out = vec![0u8; m.buffer_len()];
        m.emit(&mut out);
        assert_eq!(Match::parse(&out).unwrap(), (m, out.len()));
    }
}
