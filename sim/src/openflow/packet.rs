//! Emulated packets: the header fields a flow table matches on (OpenFlow 1.3.5 §7.2.3.7, the OXM
//! basic fields), extracted from Ethernet frame bytes, the field rewrites of `SET_FIELD`,
//! `PUSH_VLAN`/`POP_VLAN`, and builders for the frames hosts send.
//!
//! Invariant: parsing never panics; a truncated header leaves the fields of that layer absent,
//! so a flow that needs them (its prerequisites) simply does not match.

use core::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};
use prescient_southbound::openflow::wire::oxm::{field_id as f, OFPVID_PRESENT};
use prescient_southbound::openflow::wire::{MacAddr, OxmField};

/// `ETH_TYPE` of IPv4.
pub const ETH_IPV4: u16 = 0x0800;
/// `ETH_TYPE` of ARP.
pub const ETH_ARP: u16 = 0x0806;
/// `ETH_TYPE` of IPv6.
pub const ETH_IPV6: u16 = 0x86dd;
/// `ETH_TYPE` of an 802.1Q tag.
pub const ETH_VLAN: u16 = 0x8100;
/// `ETH_TYPE` of LLDP.
pub const ETH_LLDP: u16 = 0x88cc;

const ETH_HDR: usize = 14;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn slice<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at + N)?.try_into().ok()
}

/// The header fields of one packet, plus where its layers start in the frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacketKey {
    /// Ingress port.
    pub in_port: u32,
    /// Pipeline metadata (written by `WRITE_METADATA`).
    pub metadata: u64,
    /// Ethernet destination.
    pub eth_dst: [u8; 6],
    /// Ethernet source.
    pub eth_src: [u8; 6],
    /// Ethertype after any VLAN tag.
    pub eth_type: u16,
    /// VLAN TCI of the outer tag, if tagged.
    pub vlan_tci: Option<u16>,
    /// Offset of the L3 header.
    pub l3: usize,
    /// IPv4 header fields, if IPv4.
    pub ipv4: Option<Ipv4Fields>,
    /// IPv6 (next header, src, dst), if IPv6.
    pub ipv6: Option<(u8, [u8; 16], [u8; 16])>,
    /// Offset of the L4 header, if IP.
    pub l4: Option<usize>,
    /// TCP/UDP source and destination ports.
    pub ports: Option<(u16, u16)>,
    /// ICMPv4 type and code.
    pub icmp: Option<(u8, u8)>,
    /// ARP fields, if ARP.
    pub arp: Option<ArpFields>,
}

/// The IPv4 header fields a flow can match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ipv4Fields {
    /// DSCP (6 bits).
    pub dscp: u8,
    /// ECN (2 bits).
    pub ecn: u8,
    /// Protocol.
    pub proto: u8,
    /// Source.
    pub src: [u8; 4],
    /// Destination.
    pub dst: [u8; 4],
}

/// The ARP fields a flow can match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArpFields {
    /// Opcode.
    pub op: u16,
    /// Sender hardware address.
    pub sha: [u8; 6],
    /// Sender protocol address.
    pub spa: [u8; 4],
    /// Target hardware address.
    pub tha: [u8; 6],
    /// Target protocol address.
    pub tpa: [u8; 4],
}

impl PacketKey {
    /// Extracts the fields of `frame` received on `in_port`.
    pub fn parse(frame: &[u8], in_port: u32) -> PacketKey {
        let mut k = PacketKey {
            in_port,
            ..PacketKey::default()
        };
        let (Some(dst), Some(src), Some(mut ty)) =
            (slice::<6>(frame, 0), slice::<6>(frame, 6), be16(frame, 12))
        else {
            return k;
        };
        k.eth_dst = dst;
        k.eth_src = src;
        let mut l3 = ETH_HDR;
        if ty == ETH_VLAN {
            let (Some(tci), Some(inner)) = (be16(frame, 14), be16(frame, 16)) else {
                return k;
            };
            k.vlan_tci = Some(tci);
            ty = inner;
            l3 = ETH_HDR + 4;
        }
        k.eth_type = ty;
        k.l3 = l3;
        let l3b = frame.get(l3..).unwrap_or_default();
        match ty {
            ETH_IPV4 => k.parse_ipv4(l3b, l3),
            ETH_IPV6 => {
                if let (Some(nh), Some(s), Some(d)) =
                    (l3b.get(6), slice::<16>(l3b, 8), slice::<16>(l3b, 24))
                {
                    k.ipv6 = Some((*nh, s, d));
                    let l4 = l3 + 40;
                    k.l4 = Some(l4);
                    k.parse_l4(*nh, frame.get(l4..).unwrap_or_default());
                }
            }
            ETH_ARP => {
                if let (Some(op), Some(sha), Some(spa), Some(tha), Some(tpa)) = (
                    be16(l3b, 6),
                    slice::<6>(l3b, 8),
                    slice::<4>(l3b, 14),
                    slice::<6>(l3b, 18),
                    slice::<4>(l3b, 24),
                ) {
                    k.arp = Some(ArpFields {
                        op,
                        sha,
                        spa,
                        tha,
                        tpa,
                    });
                }
            }
            _ => {}
        }
        k
    }

    fn parse_ipv4(&mut self, b: &[u8], l3: usize) {
        let (Some(vihl), Some(tos), Some(proto), Some(s), Some(d)) = (
            b.first(),
            b.get(1),
            b.get(9),
            slice::<4>(b, 12),
            slice::<4>(b, 16),
        ) else {
            return;
        };
        self.ipv4 = Some(Ipv4Fields {
            dscp: tos >> 2,
            ecn: tos & 3,
            proto: *proto,
            src: s,
            dst: d,
        });
        let ihl = usize::from(vihl & 0x0f) * 4;
        let l4 = l3 + ihl.max(20);
        self.l4 = Some(l4);
        self.parse_l4(*proto, b.get(ihl.max(20)..).unwrap_or_default());
    }

    fn parse_l4(&mut self, proto: u8, b: &[u8]) {
        match proto {
            6 | 17 => {
                if let (Some(s), Some(d)) = (be16(b, 0), be16(b, 2)) {
                    self.ports = Some((s, d));
                }
            }
            1 => {
                if let (Some(t), Some(c)) = (b.first(), b.get(1)) {
                    self.icmp = Some((*t, *c));
                }
            }
            _ => {}
        }
    }

    fn ip_proto(&self) -> Option<u8> {
        self.ipv4.map(|ip| ip.proto).or(self.ipv6.map(|ip| ip.0))
    }

    /// The packet's value of OXM basic field `field`, or `None` when the packet lacks that header
    /// (the field's prerequisite does not hold).
    pub fn get(&self, field: u8) -> Option<u128> {
        let mac = |m: [u8; 6]| {
            u128::from_be_bytes([
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, m[0], m[1], m[2], m[3], m[4], m[5],
            ])
        };
        let v4 = |a: [u8; 4]| u128::from(u32::from_be_bytes(a));
        Some(match field {
            f::IN_PORT | f::IN_PHY_PORT => u128::from(self.in_port),
            f::METADATA => u128::from(self.metadata),
            f::ETH_DST => mac(self.eth_dst),
            f::ETH_SRC => mac(self.eth_src),
            f::ETH_TYPE => u128::from(self.eth_type),
            // Untagged packets match OFPVID_NONE; tagged ones carry OFPVID_PRESENT.
            f::VLAN_VID => u128::from(self.vlan_tci.map_or(0, |t| (t & 0x0fff) | OFPVID_PRESENT)),
            f::VLAN_PCP => u128::from(self.vlan_tci? >> 13),
            f::IP_DSCP => u128::from(self.ipv4?.dscp),
            f::IP_ECN => u128::from(self.ipv4?.ecn),
            f::IP_PROTO => u128::from(self.ip_proto()?),
            f::IPV4_SRC => v4(self.ipv4?.src),
            f::IPV4_DST => v4(self.ipv4?.dst),
            f::TCP_SRC if self.ip_proto()? == 6 => u128::from(self.ports?.0),
            f::TCP_DST if self.ip_proto()? == 6 => u128::from(self.ports?.1),
            f::UDP_SRC if self.ip_proto()? == 17 => u128::from(self.ports?.0),
            f::UDP_DST if self.ip_proto()? == 17 => u128::from(self.ports?.1),
            f::ICMPV4_TYPE => u128::from(self.icmp?.0),
            f::ICMPV4_CODE => u128::from(self.icmp?.1),
            f::ARP_OP => u128::from(self.arp?.op),
            f::ARP_SHA => mac(self.arp?.sha),
            f::ARP_SPA => v4(self.arp?.spa),
            f::ARP_THA => mac(self.arp?.tha),
            f::ARP_TPA => v4(self.arp?.tpa),
            f::IPV6_SRC => u128::from_be_bytes(self.ipv6?.1),
            f::IPV6_DST => u128::from_be_bytes(self.ipv6?.2),
            _ => return None,
        })
    }

    /// A hash of the flow's addresses and ports, for select groups (same flow, same bucket).
    pub fn flow_hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
            }
        };
        eat(&self.eth_src);
        eat(&self.eth_dst);
        if let Some(ip) = self.ipv4 {
            eat(&ip.src);
            eat(&ip.dst);
            eat(&[ip.proto]);
        }
        if let Some((s, d)) = self.ports {
            eat(&s.to_be_bytes());
            eat(&d.to_be_bytes());
        }
        h
    }
}

/// Rewrites a header field of `frame` as `SET_FIELD` would; returns false when the packet lacks
/// that header or the field is not one the emulator rewrites (the packet is left unchanged).
pub fn set_field(frame: &mut BytesMut, key: &PacketKey, field: &OxmField) -> bool {
    let mut put = |at: usize, bytes: &[u8]| -> bool {
        match frame.get_mut(at..at + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                true
            }
            None => false,
        }
    };
    match field {
        OxmField::EthDst { addr, .. } => put(0, &addr.0),
        OxmField::EthSrc { addr, .. } => put(6, &addr.0),
        OxmField::VlanVid { vid, .. } => match key.vlan_tci {
            Some(tci) => put(14, &((tci & 0xf000) | (vid & 0x0fff)).to_be_bytes()),
            None => false,
        },
        OxmField::VlanPcp(pcp) => match key.vlan_tci {
            Some(tci) => put(
                14,
                &((tci & 0x1fff) | (u16::from(*pcp & 7) << 13)).to_be_bytes(),
            ),
            None => false,
        },
        OxmField::Ipv4Src { addr, .. } if key.ipv4.is_some() => {
            put(key.l3 + 12, &addr.octets()) && fix_ipv4_checksum(frame, key.l3)
        }
        OxmField::Ipv4Dst { addr, .. } if key.ipv4.is_some() => {
            put(key.l3 + 16, &addr.octets()) && fix_ipv4_checksum(frame, key.l3)
        }
        OxmField::TcpSrc(p) | OxmField::UdpSrc(p) => match (key.l4, key.ports) {
            (Some(l4), Some(_)) => put(l4, &p.to_be_bytes()),
            _ => false,
        },
        OxmField::TcpDst(p) | OxmField::UdpDst(p) => match (key.l4, key.ports) {
            (Some(l4), Some(_)) => put(l4 + 2, &p.to_be_bytes()),
            _ => false,
        },
        _ => false,
    }
}

fn fix_ipv4_checksum(frame: &mut BytesMut, l3: usize) -> bool {
    let Some(hdr) = frame.get_mut(l3..l3 + 20) else {
        return false;
    };
    hdr[10] = 0;
    hdr[11] = 0;
    let sum = hdr
        .chunks(2)
        .fold(0u32, |s, w| s + u32::from(u16::from_be_bytes([w[0], w[1]])));
    let folded = (sum & 0xffff) + (sum >> 16);
    let csum = !(((folded & 0xffff) + (folded >> 16)) as u16);
    hdr[10..12].copy_from_slice(&csum.to_be_bytes());
    true
}

/// Inserts an 802.1Q tag (VID 0) after the MAC addresses.
pub fn push_vlan(frame: &mut BytesMut, tpid: u16) -> bool {
    if frame.len() < 12 {
        return false;
    }
    let tail = frame.split_off(12);
    frame.put_u16(tpid);
    frame.put_u16(0);
    frame.unsplit(tail);
    true
}

/// Removes the outer 802.1Q tag, if any.
pub fn pop_vlan(frame: &mut BytesMut) -> bool {
    if be16(frame, 12) != Some(ETH_VLAN) || frame.len() < 18 {
        return false;
    }
    let tail = frame.split_off(16);
    frame.truncate(12);
    frame.unsplit(tail);
    true
}

/// An ARP request from `sha`/`spa` asking for `tpa`, broadcast.
pub fn arp_request(sha: MacAddr, spa: Ipv4Addr, tpa: Ipv4Addr) -> Bytes {
    let mut b = BytesMut::with_capacity(42);
    b.put_slice(&MacAddr::BROADCAST.0);
    b.put_slice(&sha.0);
    b.put_u16(ETH_ARP);
    b.put_u16(1); // Ethernet
    b.put_u16(ETH_IPV4);
    b.put_u8(6);
    b.put_u8(4);
    b.put_u16(1); // request
    b.put_slice(&sha.0);
    b.put_slice(&spa.octets());
    b.put_slice(&[0; 6]);
    b.put_slice(&tpa.octets());
    b.freeze()
}

/// An IPv4/UDP datagram of `payload_len` zero bytes between two hosts.
pub fn udp_packet(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ports: (u16, u16),
    payload_len: usize,
) -> Bytes {
    let udp_len = 8 + payload_len;
    let ip_len = 20 + udp_len;
    let mut b = BytesMut::with_capacity(ETH_HDR + ip_len);
    b.put_slice(&dst_mac.0);
    b.put_slice(&src_mac.0);
    b.put_u16(ETH_IPV4);
    b.put_u8(0x45);
    b.put_u8(0);
    b.put_u16(u16::try_from(ip_len).unwrap_or(u16::MAX));
    b.put_u32(0);
    b.put_u8(64);
    b.put_u8(17);
    b.put_u16(0);
    b.put_slice(&src.octets());
    b.put_slice(&dst.octets());
    b.put_u16(ports.0);
    b.put_u16(ports.1);
    b.put_u16(u16::try_from(udp_len).unwrap_or(u16::MAX));
    b.put_u16(0);
    b.put_bytes(0, payload_len);
    fix_ipv4_checksum(&mut b, ETH_HDR);
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: MacAddr = MacAddr([0, 0, 0, 0, 0, 1]);
    const B: MacAddr = MacAddr([0, 0, 0, 0, 0, 2]);

    #[test]
    fn udp_fields_are_extracted() {
        let p = udp_packet(
            A,
            B,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            (1000, 53),
            10,
        );
        let k = PacketKey::parse(&p, 3);
        assert_eq!(k.get(f::IN_PORT), Some(3));
        assert_eq!(k.get(f::ETH_TYPE), Some(0x0800));
        assert_eq!(k.get(f::ETH_DST), Some(2));
        assert_eq!(k.get(f::IPV4_SRC), Some(0x0a00_0001));
        assert_eq!(k.get(f::IP_PROTO), Some(17));
        assert_eq!(k.get(f::UDP_DST), Some(53));
        assert_eq!(k.get(f::TCP_DST), None);
        assert_eq!(k.get(f::ARP_OP), None);
        assert_eq!(k.get(f::VLAN_VID), Some(0));
    }

    #[test]
    fn arp_fields_are_extracted() {
        let p = arp_request(A, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 9));
        let k = PacketKey::parse(&p, 1);
        assert_eq!(k.get(f::ETH_TYPE), Some(0x0806));
        assert_eq!(k.get(f::ARP_OP), Some(1));
        assert_eq!(k.get(f::ARP_TPA), Some(0x0a00_0009));
        assert_eq!(k.get(f::ARP_SHA), Some(1));
        assert_eq!(k.get(f::IPV4_DST), None);
    }

    #[test]
    fn truncated_frames_never_panic() {
        let p = udp_packet(
            A,
            B,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            (1, 2),
            0,
        );
        for n in 0..p.len() {
            let k = PacketKey::parse(&p[..n], 1);
            for field in 0..40 {
                let _ = k.get(field);
            }
        }
    }

    #[test]
    fn set_field_rewrites_addresses_and_keeps_the_checksum_valid() {
        let p = udp_packet(
            A,
            B,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            (1, 2),
            4,
        );
        let k = PacketKey::parse(&p, 1);
        let mut m = BytesMut::from(&p[..]);
        let to = Ipv4Addr::new(192, 168, 1, 7);
        assert!(set_field(
            &mut m,
            &k,
            &OxmField::Ipv4Dst {
                addr: to,
                mask: None
            }
        ));
        assert!(set_field(
            &mut m,
            &k,
            &OxmField::EthDst {
                addr: A,
                mask: None
            }
        ));
        let k2 = PacketKey::parse(&m, 1);
        assert_eq!(k2.get(f::IPV4_DST), Some(u128::from(u32::from(to))));
        assert_eq!(k2.get(f::ETH_DST), Some(1));
        let hdr = &m[14..34];
        let sum: u32 = hdr
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        assert_eq!((sum & 0xffff) + (sum >> 16), 0xffff);
        // An ARP packet has no IPv4 header to rewrite.
        let arp = arp_request(A, Ipv4Addr::new(10, 0, 0, 1), to);
        let mut am = BytesMut::from(&arp[..]);
        assert!(!set_field(
            &mut am,
            &PacketKey::parse(&arp, 1),
            &OxmField::Ipv4Dst {
                addr: to,
                mask: None
            }
        ));
    }

    #[test]
    fn vlan_push_and_pop_round_trip() {
        let p = udp_packet(
            A,
            B,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            (1, 2),
            4,
        );
        let mut m = BytesMut::from(&p[..]);
        assert!(push_vlan(&mut m, ETH_VLAN));
        let k = PacketKey::parse(&m, 1);
        assert_eq!(k.get(f::VLAN_VID), Some(u128::from(OFPVID_PRESENT)));
        assert_eq!(k.get(f::IPV4_DST), Some(0x0a00_0002));
        assert!(set_field(
            &mut m,
            &k,
            &OxmField::VlanVid {
                vid: OFPVID_PRESENT | 42,
                mask: None
            }
        ));
        assert_eq!(
            PacketKey::parse(&m, 1).get(f::VLAN_VID),
            Some(u128::from(OFPVID_PRESENT | 42))
        );
        assert!(pop_vlan(&mut m));
        assert_eq!(&m[..], &p[..]);
    }
}
