//! The frames the emulated switches punt, as rings of pre-built PACKET_INs.
//!
//! A ring is built once per switch, before the load starts, so sending costs a copy. Every
//! frame ends in a 4-byte tag (the last 4 bytes of the PACKET_IN, which are the frame's last
//! bytes), rewritten at send time with the packet-in's sequence number; a buffered packet-in
//! also carries it as its `buffer_id`. A controller's answer names the packet-in it answers
//! through either: the PACKET_OUT's data ends in the tag, or the FLOW_MOD / PACKET_OUT applies
//! the switch's buffer. Layouts: Ethernet II, ARP (RFC 826), IPv4 (RFC 791), UDP (RFC 768),
//! TCP (RFC 9293), LLDP (IEEE 802.1AB).

use super::frames::{self, host_mac};

/// Which frames the emulated switches send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mix {
    /// What an Open vSwitch bridge punts on a busy edge: unbuffered (the whole frame comes up,
    /// as OVS always sends it) IPv4 TCP SYNs and UDP between thousands of hosts, ARP requests
    /// (broadcast) and replies, a share of frames to destinations nobody has seen (flooded),
    /// LLDP from neighbours, and now and then a frame too short for its Ethernet header or an
    /// IPv4 header that lies about its length.
    Realistic,
    /// cbench's traffic: IPv4/UDP between hosts the controller has learned, held in the
    /// switch's buffer, so a FLOW_MOD alone answers each.
    Uniform,
}

/// The kinds of frame in a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// IPv4 TCP SYN between two hosts (74 bytes).
    Tcp,
    /// IPv4 UDP between two hosts (60 to 188 bytes).
    Udp,
    /// ARP request, broadcast.
    ArpRequest,
    /// ARP reply, unicast.
    ArpReply,
    /// IPv4 UDP to a MAC no host sends from: the controller can only flood it.
    Flood,
    /// LLDP from a neighbour (not answered by a learning switch).
    Lldp,
    /// 10 bytes: shorter than an Ethernet header (not answered).
    Truncated,
    /// Ethernet and IPv4 EtherType fine, IPv4 header lengths that lie (forwarded at layer 2).
    BadIpv4,
}

impl Kind {
    /// Whether a learning switch answers it (forwards it somewhere).
    pub fn answerable(self) -> bool {
        !matches!(self, Kind::Lldp | Kind::Truncated)
    }
}

/// Shares of the realistic mix, per thousand frames.
pub const REALISTIC: [(Kind, u32); 8] = [
    (Kind::Tcp, 500),
    (Kind::Udp, 210),
    (Kind::ArpRequest, 50),
    (Kind::ArpReply, 50),
    (Kind::Flood, 150),
    (Kind::Lldp, 10),
    (Kind::Truncated, 15),
    (Kind::BadIpv4, 15),
];

/// One pre-built PACKET_IN of a ring.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// Offset of the PACKET_IN in the ring's bytes.
    pub start: usize,
    /// Its length.
    pub len: usize,
    /// What it carries.
    pub kind: Kind,
}

/// The PACKET_INs one emulated switch sends, in order, round and round.
#[derive(Debug, Clone)]
pub struct Ring {
    /// All frames back to back.
    pub bytes: Vec<u8>,
    /// Where each is.
    pub slots: Vec<Slot>,
    /// Whether packet-ins carry a buffer id (the tag) rather than NO_BUFFER.
    pub buffered: bool,
}

/// `buffer_id` of an unbuffered packet-in (OpenFlow 1.3.5 §7.2.6.1 OFP_NO_BUFFER).
pub const NO_BUFFER: u32 = 0xffff_ffff;

/// Hosts of switch `dpid` sit `hosts / ports` to a port; `hosts` is rounded up to a multiple
/// of `ports` so that a host's peers `1 + ports * k` away are always behind another port.
pub fn build(mix: Mix, dpid: u64, hosts: u32, ports: u32, frames_in_ring: usize) -> Ring {
    let ports = ports.max(2);
    let hosts = hosts.max(ports).div_ceil(ports) * ports;
    let mut rng = XorShift(dpid.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut ring = Ring {
        bytes: Vec::with_capacity(frames_in_ring * 128),
        slots: Vec::with_capacity(frames_in_ring),
        buffered: mix == Mix::Uniform,
    };
    let mut frame = Vec::with_capacity(256);
    for i in 0..frames_in_ring {
        // Sources sweep every host in turn, so all are learned after one pass.
        let src = (i as u32) % hosts;
        let peer = (src + 1 + ports * rng.below(hosts / ports)) % hosts;
        let kind = match mix {
            Mix::Uniform => Kind::Udp,
            Mix::Realistic => pick(&mut rng),
        };
        let h = Host::new(dpid, src);
        let d = Host::new(dpid, peer);
        frame.clear();
        match kind {
            Kind::Tcp => tcp_syn(&mut frame, &h, &d),
            Kind::Udp => {
                let payload = if mix == Mix::Uniform {
                    18
                } else {
                    18 + rng.below(129) as usize
                };
                udp(&mut frame, &h, &d, payload)
            }
            Kind::ArpRequest => arp(&mut frame, 1, &h, &d),
            Kind::ArpReply => arp(&mut frame, 2, &h, &d),
            Kind::Flood => {
                let nobody = Host::new(dpid, hosts + rng.below(4096));
                udp(&mut frame, &h, &nobody, 18)
            }
            Kind::Lldp => lldp(&mut frame, dpid, src % ports + 1),
            Kind::Truncated => {
                frame.extend_from_slice(&d.mac);
                frame.extend_from_slice(&h.mac[..4]);
            }
            Kind::BadIpv4 => bad_ipv4(&mut frame, &h, &d),
        }
        let start = ring.bytes.len();
        let buffer_id = if ring.buffered { i as u32 } else { NO_BUFFER };
        put_packet_in(&mut ring.bytes, buffer_id, src % ports + 1, &frame);
        ring.slots.push(Slot {
            start,
            len: ring.bytes.len() - start,
            kind,
        });
    }
    ring
}

fn pick(rng: &mut XorShift) -> Kind {
    let total: u32 = REALISTIC.iter().map(|(_, w)| w).sum();
    let mut x = rng.below(total);
    for (kind, w) in REALISTIC {
        if x < w {
            return kind;
        }
        x -= w;
    }
    Kind::Udp
}

/// Writes a packet-in's sequence number into its copy at the end of `out` (tag, and buffer id
/// when buffered).
pub fn stamp(out: &mut [u8], buffered: bool, seq: u32) {
    let tag = seq.to_be_bytes();
    let n = out.len();
    if let Some(t) = out.get_mut(n.saturating_sub(4)..) {
        t.copy_from_slice(&tag);
    }
    if buffered {
        if let Some(b) = out.get_mut(8..12) {
            b.copy_from_slice(&tag);
        }
    }
}

/// A PACKET_IN (reason NO_MATCH, table 0, match on IN_PORT) carrying `frame` whole.
pub fn put_packet_in(out: &mut Vec<u8>, buffer_id: u32, in_port: u32, frame: &[u8]) {
    let len = 8 + 16 + 16 + 2 + frame.len();
    frames::put_header(out, frames::msg::PACKET_IN, len, 0);
    out.extend_from_slice(&buffer_id.to_be_bytes());
    out.extend_from_slice(&(frame.len() as u16).to_be_bytes()); // total_len
    out.push(0); // reason NO_MATCH
    out.push(0); // table_id
    out.extend_from_slice(&0u64.to_be_bytes()); // cookie
    out.extend_from_slice(&1u16.to_be_bytes()); // OXM match
    out.extend_from_slice(&12u16.to_be_bytes());
    out.extend_from_slice(&0x8000_0004u32.to_be_bytes()); // OXM_OF_IN_PORT
    out.extend_from_slice(&in_port.to_be_bytes());
    out.extend_from_slice(&[0; 4]); // match padding
    out.extend_from_slice(&[0; 2]); // pad before data
    out.extend_from_slice(frame);
}

struct Host {
    mac: [u8; 6],
    ip: [u8; 4],
}

impl Host {
    fn new(dpid: u64, n: u32) -> Host {
        let b = n.to_be_bytes();
        Host {
            mac: host_mac(dpid, n),
            ip: [10, b[1] ^ (dpid as u8), b[2], b[3]],
        }
    }
}

fn ethernet(out: &mut Vec<u8>, dst: [u8; 6], src: [u8; 6], ethertype: u16) {
    out.extend_from_slice(&dst);
    out.extend_from_slice(&src);
    out.extend_from_slice(&ethertype.to_be_bytes());
}

/// Pads to the 60-byte Ethernet minimum plus room for the tag.
fn pad_min(out: &mut Vec<u8>) {
    out.resize(out.len().saturating_add(4).max(60), 0);
}

fn ipv4(out: &mut Vec<u8>, src: [u8; 4], dst: [u8; 4], proto: u8, payload: usize) {
    let total = (20 + payload) as u16;
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]); // id, DF, TTL, proto, checksum
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
}

fn tcp_syn(out: &mut Vec<u8>, s: &Host, d: &Host) {
    ethernet(out, d.mac, s.mac, 0x0800);
    ipv4(out, s.ip, d.ip, 6, 40);
    out.extend_from_slice(&40000u16.to_be_bytes());
    out.extend_from_slice(&443u16.to_be_bytes());
    out.extend_from_slice(&[0; 8]); // seq, ack
    out.extend_from_slice(&[0xa0, 0x02]); // data offset 10 words, SYN
    out.extend_from_slice(&64240u16.to_be_bytes());
    out.extend_from_slice(&[0; 4]); // checksum, urgent
    out.extend_from_slice(&[1; 20]); // options (NOPs); the tag overwrites the last 4
}

fn udp(out: &mut Vec<u8>, s: &Host, d: &Host, payload: usize) {
    ethernet(out, d.mac, s.mac, 0x0800);
    ipv4(out, s.ip, d.ip, 17, 8 + payload);
    out.extend_from_slice(&5353u16.to_be_bytes());
    out.extend_from_slice(&5353u16.to_be_bytes());
    out.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    out.extend_from_slice(&[0; 2]);
    out.resize(out.len() + payload, 0);
}

fn arp(out: &mut Vec<u8>, op: u16, s: &Host, d: &Host) {
    let dst = if op == 1 { [0xff; 6] } else { d.mac };
    ethernet(out, dst, s.mac, 0x0806);
    out.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
    out.extend_from_slice(&op.to_be_bytes());
    out.extend_from_slice(&s.mac);
    out.extend_from_slice(&s.ip);
    out.extend_from_slice(&if op == 1 { [0; 6] } else { d.mac });
    out.extend_from_slice(&d.ip);
    pad_min(out);
}

fn lldp(out: &mut Vec<u8>, dpid: u64, port: u32) {
    let neighbour = [0x02, 0xff, 0, (dpid as u8), 0, port as u8];
    ethernet(out, [0x01, 0x80, 0xc2, 0, 0, 0x0e], neighbour, 0x88cc);
    out.extend_from_slice(&[0x02, 0x07, 0x04]); // Chassis ID, MAC address
    out.extend_from_slice(&neighbour);
    out.extend_from_slice(&[0x04, 0x05, 0x07]); // Port ID, locally assigned
    out.extend_from_slice(&port.to_be_bytes());
    out.extend_from_slice(&[0x06, 0x02, 0x00, 0x78]); // TTL 120 s
    out.extend_from_slice(&[0, 0]); // End
    pad_min(out);
}

fn bad_ipv4(out: &mut Vec<u8>, s: &Host, d: &Host) {
    ethernet(out, d.mac, s.mac, 0x0800);
    // IHL 15 (a 60-byte header) and total length 9000 in a 46-byte packet.
    out.extend_from_slice(&[0x4f, 0]);
    out.extend_from_slice(&9000u16.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
    out.extend_from_slice(&s.ip);
    out.extend_from_slice(&d.ip);
    pad_min(out);
}

/// xorshift64: the rings are the same on every run and cost nothing to draw.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (((self.0 >> 32) * u64::from(n.max(1))) >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_realistic_ring_has_every_kind_in_its_share() {
        let ring = build(Mix::Realistic, 3, 2048, 4, 20_000);
        for (kind, per_mille) in REALISTIC {
            let n = ring.slots.iter().filter(|s| s.kind == kind).count() as f64;
            let share = n / ring.slots.len() as f64 * 1000.0;
            assert!(
                (share - f64::from(per_mille)).abs() < f64::from(per_mille) * 0.25 + 3.0,
                "{kind:?}: {share:.1} per mille, wanted {per_mille}"
            );
        }
        assert!(!ring.buffered);
    }

    #[test]
    fn every_packet_in_says_its_own_length_and_carries_its_frame_whole() {
        for mix in [Mix::Realistic, Mix::Uniform] {
            let ring = build(mix, 1, 64, 4, 500);
            for s in &ring.slots {
                let pin = &ring.bytes[s.start..s.start + s.len];
                let (ty, len, _) = frames::peek(pin).unwrap();
                assert_eq!((ty, len), (frames::msg::PACKET_IN, s.len));
                let total = u16::from_be_bytes([pin[12], pin[13]]) as usize;
                assert_eq!(total, s.len - 42, "{:?}", s.kind);
                let frame = &pin[42..];
                match s.kind {
                    Kind::Truncated => assert!(frame.len() < 14),
                    _ => assert!(frame.len() >= 60, "{:?}: {}", s.kind, frame.len()),
                }
            }
        }
    }

    #[test]
    fn peers_sit_behind_another_port_and_flooded_macs_never_send() {
        let ports = 4;
        let ring = build(Mix::Realistic, 2, 100, ports, 3000);
        let mut sources = std::collections::HashSet::new();
        for s in &ring.slots {
            let f = &ring.bytes[s.start + 42..s.start + s.len];
            if s.kind != Kind::Truncated && s.kind != Kind::Lldp {
                sources.insert(<[u8; 6]>::try_from(&f[6..12]).unwrap());
            }
        }
        for s in ring.slots.iter().filter(|s| s.kind == Kind::Tcp) {
            let pin = &ring.bytes[s.start..s.start + s.len];
            let in_port = u32::from_be_bytes(pin[32..36].try_into().unwrap());
            let dst = u32::from_be_bytes([0, pin[42 + 3], pin[42 + 4], pin[42 + 5]]);
            assert_ne!(dst % ports + 1, in_port);
        }
        for s in ring.slots.iter().filter(|s| s.kind == Kind::Flood) {
            let dst: [u8; 6] = ring.bytes[s.start + 42..s.start + 48].try_into().unwrap();
            assert!(!sources.contains(&dst));
        }
    }

    #[test]
    fn stamping_writes_the_tag_and_the_buffer_id() {
        let ring = build(Mix::Uniform, 1, 8, 4, 2);
        let s = ring.slots[1];
        let mut copy = ring.bytes[s.start..s.start + s.len].to_vec();
        stamp(&mut copy, ring.buffered, 0xdead_beef);
        assert_eq!(&copy[copy.len() - 4..], &0xdead_beefu32.to_be_bytes());
        assert_eq!(&copy[8..12], &0xdead_beefu32.to_be_bytes());
    }
}
