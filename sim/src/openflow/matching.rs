//! Compiled OXM matches (OpenFlow 1.3.5 §7.2.3): each field becomes `(field, value, mask)` over
//! `u128`, which makes packet matching, non-strict "covers" tests and overlap checks one loop each.
//!
//! Invariants: a [`CompiledMatch`] has no duplicate field, no value bit outside its mask, and its
//! prerequisites (§7.2.3.6) hold; fields are sorted by field number so strict equality is `==`.

use prescient_southbound::openflow::wire::error::BadMatchCode;
use prescient_southbound::openflow::wire::oxm::{field_id as f, OFPVID_PRESENT};
use prescient_southbound::openflow::wire::{Match, OxmField};

use super::packet::{PacketKey, ETH_ARP, ETH_IPV4, ETH_IPV6};

/// One compiled match field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldMatch {
    /// OXM basic field number.
    pub field: u8,
    /// Value (bits outside `mask` are zero).
    pub value: u128,
    /// Mask (1 bits are compared).
    pub mask: u128,
}

/// A validated match, ready for fast comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CompiledMatch {
    fields: Vec<FieldMatch>,
}

fn ones(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

fn mac(m: [u8; 6]) -> u128 {
    u128::from_be_bytes([
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, m[0], m[1], m[2], m[3], m[4], m[5],
    ])
}

fn v4(a: core::net::Ipv4Addr) -> u128 {
    u128::from(u32::from(a))
}

/// `(field, value, mask)` of one OXM, or the error OVS would give.
fn compile_field(x: &OxmField) -> Result<FieldMatch, BadMatchCode> {
    let exact = |field: u8, value: u128, bits: u32| (field, value, ones(bits));
    let (field, value, mask) = match x {
        OxmField::InPort(p) => exact(f::IN_PORT, u128::from(p.0), 32),
        OxmField::InPhyPort(p) => exact(f::IN_PHY_PORT, u128::from(p.0), 32),
        OxmField::Metadata { value, mask } => (
            f::METADATA,
            u128::from(*value),
            mask.map_or(ones(64), u128::from),
        ),
        OxmField::EthDst { addr, mask } => {
            (f::ETH_DST, mac(addr.0), mask.map_or(ones(48), |m| mac(m.0)))
        }
        OxmField::EthSrc { addr, mask } => {
            (f::ETH_SRC, mac(addr.0), mask.map_or(ones(48), |m| mac(m.0)))
        }
        OxmField::EthType(t) => exact(f::ETH_TYPE, u128::from(*t), 16),
        OxmField::VlanVid { vid, mask } => (
            f::VLAN_VID,
            u128::from(*vid),
            mask.map_or(ones(13), |m| u128::from(m & 0x1fff)),
        ),
        OxmField::VlanPcp(p) => exact(f::VLAN_PCP, u128::from(*p), 3),
        OxmField::IpDscp(d) => exact(f::IP_DSCP, u128::from(*d), 6),
        OxmField::IpEcn(e) => exact(f::IP_ECN, u128::from(*e), 2),
        OxmField::IpProto(p) => exact(f::IP_PROTO, u128::from(*p), 8),
        OxmField::Ipv4Src { addr, mask } => (f::IPV4_SRC, v4(*addr), mask.map_or(ones(32), v4)),
        OxmField::Ipv4Dst { addr, mask } => (f::IPV4_DST, v4(*addr), mask.map_or(ones(32), v4)),
        OxmField::TcpSrc(p) => exact(f::TCP_SRC, u128::from(*p), 16),
        OxmField::TcpDst(p) => exact(f::TCP_DST, u128::from(*p), 16),
        OxmField::UdpSrc(p) => exact(f::UDP_SRC, u128::from(*p), 16),
        OxmField::UdpDst(p) => exact(f::UDP_DST, u128::from(*p), 16),
        OxmField::Icmpv4Type(t) => exact(f::ICMPV4_TYPE, u128::from(*t), 8),
        OxmField::Icmpv4Code(c) => exact(f::ICMPV4_CODE, u128::from(*c), 8),
        OxmField::ArpOp(o) => exact(f::ARP_OP, u128::from(*o), 16),
        OxmField::ArpSpa { addr, mask } => (f::ARP_SPA, v4(*addr), mask.map_or(ones(32), v4)),
        OxmField::ArpTpa { addr, mask } => (f::ARP_TPA, v4(*addr), mask.map_or(ones(32), v4)),
        OxmField::ArpSha { addr, mask } => {
            (f::ARP_SHA, mac(addr.0), mask.map_or(ones(48), |m| mac(m.0)))
        }
        OxmField::ArpTha { addr, mask } => {
            (f::ARP_THA, mac(addr.0), mask.map_or(ones(48), |m| mac(m.0)))
        }
        OxmField::Ipv6Src { addr, mask } => (
            f::IPV6_SRC,
            u128::from_be_bytes(addr.octets()),
            mask.map_or(u128::MAX, |m| u128::from_be_bytes(m.octets())),
        ),
        OxmField::Ipv6Dst { addr, mask } => (
            f::IPV6_DST,
            u128::from_be_bytes(addr.octets()),
            mask.map_or(u128::MAX, |m| u128::from_be_bytes(m.octets())),
        ),
        OxmField::Unknown { .. } => return Err(BadMatchCode::BadField),
    };
    if value & !mask != 0 {
        // OVS refuses a value with bits the mask wildcards.
        return Err(BadMatchCode::BadWildcards);
    }
    Ok(FieldMatch { field, value, mask })
}

impl CompiledMatch {
    /// Validates and compiles `m`.
    pub fn compile(m: &Match) -> Result<CompiledMatch, BadMatchCode> {
        let mut fields = Vec::with_capacity(m.fields.len());
        for x in &m.fields {
            let c = compile_field(x)?;
            if fields.iter().any(|e: &FieldMatch| e.field == c.field) {
                return Err(BadMatchCode::DupField);
            }
            fields.push(c);
        }
        fields.sort();
        let cm = CompiledMatch { fields };
        cm.check_prereqs()?;
        Ok(cm)
    }

    fn exact(&self, field: u8) -> Option<u128> {
        self.fields
            .iter()
            .find(|x| x.field == field && is_full(x))
            .map(|x| x.value)
    }

    fn has(&self, field: u8) -> bool {
        self.fields.iter().any(|x| x.field == field)
    }

    fn check_prereqs(&self) -> Result<(), BadMatchCode> {
        let eth = self.exact(f::ETH_TYPE).and_then(|v| u16::try_from(v).ok());
        let proto = self.exact(f::IP_PROTO).and_then(|v| u8::try_from(v).ok());
        let ip = matches!(eth, Some(ETH_IPV4) | Some(ETH_IPV6));
        let need = |ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(BadMatchCode::BadPrereq)
            }
        };
        for x in &self.fields {
            match x.field {
                f::VLAN_PCP => {
                    need(self.fields.iter().any(|v| {
                        v.field == f::VLAN_VID && v.value & u128::from(OFPVID_PRESENT) != 0
                    }))?
                }
                f::IP_DSCP | f::IP_ECN | f::IP_PROTO => need(ip)?,
                f::IPV4_SRC | f::IPV4_DST => need(eth == Some(ETH_IPV4))?,
                f::IPV6_SRC | f::IPV6_DST => need(eth == Some(ETH_IPV6))?,
                f::TCP_SRC | f::TCP_DST => need(ip && proto == Some(6))?,
                f::UDP_SRC | f::UDP_DST => need(ip && proto == Some(17))?,
                f::ICMPV4_TYPE | f::ICMPV4_CODE => need(eth == Some(ETH_IPV4) && proto == Some(1))?,
                f::ARP_OP | f::ARP_SPA | f::ARP_TPA | f::ARP_SHA | f::ARP_THA => {
                    need(eth == Some(ETH_ARP))?
                }
                f::IN_PHY_PORT => need(self.has(f::IN_PORT))?,
                _ => {}
            }
        }
        Ok(())
    }

    /// The compiled fields, sorted by field number.
    pub fn fields(&self) -> &[FieldMatch] {
        &self.fields
    }

    /// True when `pkt` has every field with the right value under the mask.
    pub fn matches(&self, pkt: &PacketKey) -> bool {
        self.fields
            .iter()
            .all(|x| pkt.get(x.field).is_some_and(|v| v & x.mask == x.value))
    }

    /// Non-strict selection (modify/delete, flow stats): true when every packet this entry matches
    /// also matches `self`, i.e. `self` is equal or more general than `entry` on every field.
    pub fn covers(&self, entry: &CompiledMatch) -> bool {
        self.fields.iter().all(|r| {
            entry
                .fields
                .iter()
                .find(|e| e.field == r.field)
                .is_some_and(|e| e.mask & r.mask == r.mask && e.value & r.mask == r.value)
        })
    }

    /// True when some packet could match both (used by `CHECK_OVERLAP`).
    pub fn overlaps(&self, other: &CompiledMatch) -> bool {
        self.fields.iter().all(|a| {
            other
                .fields
                .iter()
                .find(|b| b.field == a.field)
                .is_none_or(|b| (a.value ^ b.value) & a.mask & b.mask == 0)
        })
    }
}

fn is_full(x: &FieldMatch) -> bool {
    let bits = match x.field {
        f::ETH_TYPE | f::ARP_OP => 16,
        f::IP_PROTO => 8,
        _ => return true,
    };
    x.mask == ones(bits)
}

#[cfg(test)]
mod tests {
    use core::net::Ipv4Addr;

    use prescient_southbound::openflow::wire::{MacAddr, PortNo};

    use super::*;
    use crate::openflow::packet::udp_packet;

    fn ipv4_dst(a: [u8; 4], mask: Option<[u8; 4]>) -> Match {
        Match::new()
            .with(OxmField::EthType(ETH_IPV4))
            .with(OxmField::Ipv4Dst {
                addr: Ipv4Addr::from(a),
                mask: mask.map(Ipv4Addr::from),
            })
    }

    fn pkt(dst: [u8; 4]) -> PacketKey {
        let p = udp_packet(
            MacAddr([0, 0, 0, 0, 0, 1]),
            MacAddr([0, 0, 0, 0, 0, 2]),
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::from(dst),
            (1, 2),
            0,
        );
        PacketKey::parse(&p, 1)
    }

    #[test]
    fn masked_prefix_matches_its_subnet_only() {
        let m = CompiledMatch::compile(&ipv4_dst([10, 1, 0, 0], Some([255, 255, 0, 0]))).unwrap();
        assert!(m.matches(&pkt([10, 1, 7, 9])));
        assert!(!m.matches(&pkt([10, 2, 7, 9])));
        assert!(CompiledMatch::compile(&Match::new())
            .unwrap()
            .matches(&pkt([1, 2, 3, 4])));
    }

    #[test]
    fn bad_matches_are_refused_like_ovs() {
        assert_eq!(
            CompiledMatch::compile(&ipv4_dst([10, 1, 0, 1], Some([255, 255, 0, 0]))),
            Err(BadMatchCode::BadWildcards)
        );
        let no_eth = Match::new().with(OxmField::Ipv4Dst {
            addr: Ipv4Addr::new(1, 2, 3, 4),
            mask: None,
        });
        assert_eq!(
            CompiledMatch::compile(&no_eth),
            Err(BadMatchCode::BadPrereq)
        );
        let dup = Match::new()
            .with(OxmField::InPort(PortNo(1)))
            .with(OxmField::InPort(PortNo(2)));
        assert_eq!(CompiledMatch::compile(&dup), Err(BadMatchCode::DupField));
        let tcp_without_proto = Match::new()
            .with(OxmField::EthType(ETH_IPV4))
            .with(OxmField::TcpDst(80));
        assert_eq!(
            CompiledMatch::compile(&tcp_without_proto),
            Err(BadMatchCode::BadPrereq)
        );
    }

    #[test]
    fn covers_and_overlaps() {
        let wide = CompiledMatch::compile(&ipv4_dst([10, 0, 0, 0], Some([255, 0, 0, 0]))).unwrap();
        let narrow = CompiledMatch::compile(&ipv4_dst([10, 1, 2, 3], None)).unwrap();
        let other = CompiledMatch::compile(&ipv4_dst([11, 1, 2, 3], None)).unwrap();
        let in_port =
            CompiledMatch::compile(&Match::new().with(OxmField::InPort(PortNo(1)))).unwrap();
        assert!(wide.covers(&narrow));
        assert!(!narrow.covers(&wide));
        assert!(!wide.covers(&other));
        assert!(CompiledMatch::default().covers(&narrow));
        assert!(wide.overlaps(&narrow));
        assert!(!narrow.overlaps(&other));
        // Different fields: some packet (in_port 1, dst 10.1.2.3) matches both.
        assert!(in_port.overlaps(&narrow));
        // Strict equality does not depend on field order.
        let a = Match::new()
            .with(OxmField::InPort(PortNo(1)))
            .with(OxmField::EthType(ETH_IPV4));
        let b = Match::new()
            .with(OxmField::EthType(ETH_IPV4))
            .with(OxmField::InPort(PortNo(1)));
        assert_eq!(CompiledMatch::compile(&a), CompiledMatch::compile(&b));
    }
}
