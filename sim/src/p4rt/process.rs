//! The data plane of prescient.p4, evaluated in Rust over the installed entries: what BMv2 would do
//! with one frame. Mirrors `p4/prescient.p4`: packet_out from the CPU port goes out as is; LLDP and
//! ARP are punted; IPv4 runs acl → translate_dst → service_select → pair_count → flow_meter →
//! ipv4_lpm → translate_src; checksums are recomputed after rewrites; new hosts raise digests.
//!
//! Invariant: no input frame panics (every read is bounds-checked); malformed frames are dropped.

use std::sync::Arc;

use super::meter::{color, Color};
use super::state::{DeviceState, StoredEntry};

use super::bytes::full_mask;
use super::schema::MatchKind;
use super::table::{BoundAction, EntryAction, FieldValue, MatchKey};

/// The CPU port of the emulated switch (BMv2 `--cpu-port 255`).
pub const CPU_PORT: u32 = 255;
const ETH_LEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_LLDP: u16 = 0x88cc;

/// Parsed header fields of an IPv4 frame.
#[derive(Clone, Copy, Debug, Default)]
struct Ipv4View {
    ihl_bytes: usize,
    proto: u8,
    ttl: u8,
    src: u32,
    dst: u32,
    l4_ports: Option<(u16, u16)>,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}
fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn mac(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 6)?;
    Some(s.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
}
fn put(b: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = b.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}
fn put_mac(b: &mut [u8], at: usize, v: u128) {
    put(b, at, &v.to_be_bytes()[10..16]);
}

fn parse_ipv4(f: &[u8]) -> Option<Ipv4View> {
    let ip = f.get(ETH_LEN..)?;
    let vihl = *ip.first()?;
    let ihl_bytes = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || ihl_bytes < 20 || ip.len() < ihl_bytes {
        return None;
    }
    let frag = be16(ip, 6)? & 0x1fff;
    let proto = *ip.get(9)?;
    let l4_ports = if ihl_bytes == 20 && frag == 0 && (proto == 6 || proto == 17) {
        Some((be16(ip, 20)?, be16(ip, 22)?))
    } else {
        None
    };
    Some(Ipv4View {
        ihl_bytes,
        proto,
        ttl: *ip.get(8)?,
        src: be32(ip, 12)?,
        dst: be32(ip, 16)?,
        l4_ports,
    })
}

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for c in chunks {
        for pair in c.chunks(2) {
            let hi = u32::from(pair.first().copied().unwrap_or(0)) << 8;
            let lo = u32::from(pair.get(1).copied().unwrap_or(0));
            sum += hi | lo;
        }
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Recomputes the IPv4 header checksum and, when `l4` is set, the TCP/UDP checksum.
fn fix_checksums(f: &mut [u8], v: &Ipv4View, l4: bool) {
    let hdr = ETH_LEN..ETH_LEN + v.ihl_bytes;
    put(f, ETH_LEN + 10, &[0, 0]);
    if let Some(h) = f.get(hdr) {
        let c = checksum(&[h]);
        put(f, ETH_LEN + 10, &c.to_be_bytes());
    }
    let total = be16(f, ETH_LEN + 2).map_or(0, usize::from);
    let l4_start = ETH_LEN + v.ihl_bytes;
    let l4_len = total.saturating_sub(v.ihl_bytes);
    let offset = match v.proto {
        6 => 16,
        17 => 6,
        _ => return,
    };
    if !l4 || v.l4_ports.is_none() || f.len() < l4_start + l4_len || l4_len < offset + 2 {
        return;
    }
    if v.proto == 17 && be16(f, l4_start + offset) == Some(0) {
        return; // UDP without checksum stays without.
    }
    put(f, l4_start + offset, &[0, 0]);
    let (Some(src), Some(dst)) = (
        f.get(ETH_LEN + 12..ETH_LEN + 16),
        f.get(ETH_LEN + 16..ETH_LEN + 20),
    ) else {
        return;
    };
    let pseudo = [&[0, v.proto][..], &(l4_len as u16).to_be_bytes()];
    let Some(seg) = f.get(l4_start..l4_start + l4_len) else {
        return;
    };
    let mut c = checksum(&[src, dst, pseudo[0], pseudo[1], seg]);
    if v.proto == 17 && c == 0 {
        c = 0xffff;
    }
    put(f, l4_start + offset, &c.to_be_bytes());
}

/// What the pipeline did with a frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Processed {
    /// Frames sent: `(egress port, frame)`; port [`CPU_PORT`] means a packet-in.
    pub outputs: Vec<(u32, Vec<u8>)>,
    /// New hosts `(mac, ip, port)` to report in a digest.
    pub learned: Vec<(u64, u32, u32)>,
}

impl DeviceState {
    fn table_id(&self, name: &str) -> Option<u32> {
        self.schema.table_by_name(name).map(|t| t.id)
    }

    fn action_name(&self, id: u32) -> &str {
        self.schema.actions.get(&id).map_or("", |a| a.name.as_str())
    }

    fn count(&mut self, counter: &str, port: u32, bytes: usize) {
        let Some(id) = self.schema.counter_by_name(counter).map(|c| c.id) else {
            return;
        };
        if let Some(cell) = self
            .counters
            .get_mut(&id)
            .and_then(|c| c.get_mut(port as usize))
        {
            cell.packet_count = cell.packet_count.saturating_add(1);
            cell.byte_count = cell.byte_count.saturating_add(bytes as i64);
        }
    }

    /// Highest-priority (ternary) or longest-prefix (LPM) or only (exact) hit of table `name`.
    pub(crate) fn lookup(
        &mut self,
        name: &str,
        fields: &[(&str, u128)],
    ) -> Option<&mut StoredEntry> {
        let id = self.table_id(name)?;
        let schema = Arc::clone(&self.schema);
        let info = schema.tables.get(&id)?;
        let values: Vec<(u32, u32, u128)> = info
            .fields
            .iter()
            .map(|f| {
                let v = fields
                    .iter()
                    .find(|(n, _)| *n == f.name)
                    .map_or(0, |(_, v)| *v);
                (f.id, f.bitwidth, v)
            })
            .collect();
        let ts = self.tables.get_mut(&id)?;
        // Fast paths, by key: all-exact tables hit one key; a single-LPM-field table hits one of
        // bitwidth+1 keys, longest first. Both give the same answer as the scan below.
        if info.fields.iter().all(|f| f.kind == MatchKind::Exact) {
            let mut fields: Vec<_> = values
                .iter()
                .map(|(id, _, v)| (*id, FieldValue::Exact(*v)))
                .collect();
            fields.sort_by_key(|(id, _)| *id);
            return ts.entries.get_mut(&MatchKey {
                fields,
                priority: 0,
            });
        }
        if let [(fid, w, v)] = values[..] {
            if info
                .fields
                .first()
                .is_some_and(|f| f.kind == MatchKind::Lpm)
            {
                // A /0 route is stored with the field omitted: the empty key.
                let found = (1..=w)
                    .rev()
                    .map(|len| {
                        let mask = full_mask(w) & !full_mask(w - len);
                        let fields = vec![(
                            fid,
                            FieldValue::Lpm {
                                value: v & mask,
                                len,
                            },
                        )];
                        MatchKey {
                            fields,
                            priority: 0,
                        }
                    })
                    .chain(std::iter::once(MatchKey {
                        fields: vec![],
                        priority: 0,
                    }))
                    .find(|key| ts.entries.contains_key(key))?;
                return ts.entries.get_mut(&found);
            }
        }
        let hit = |k: &MatchKey| {
            k.fields.iter().all(|(fid, fv): &(u32, FieldValue)| {
                values
                    .iter()
                    .find(|(id, _, _)| id == fid)
                    .is_some_and(|(_, w, v)| fv.matches(*v, *w))
            })
        };
        let best = ts
            .entries
            .keys()
            .filter(|k| hit(k))
            .max_by_key(|k| (k.priority, k.prefix_len()))
            .cloned()?;
        ts.entries.get_mut(&best)
    }

    /// The default action of table `name`, as an entry action.
    fn default_action(&self, name: &str) -> Option<EntryAction> {
        let id = self.table_id(name)?;
        let (bound, _) = self.tables.get(&id)?.default.as_ref()?;
        Some(EntryAction::Direct(bound.clone()))
    }

    /// The action of the hit entry of table `name`, or its default action on a miss.
    fn apply_table(&mut self, name: &str, fields: &[(&str, u128)]) -> Option<EntryAction> {
        match self.lookup(name, fields) {
            Some(e) => Some(e.action.clone()),
            None => self.default_action(name),
        }
    }

    /// The action an indirect entry resolves to for a flow with `hash`.
    fn resolve(&self, table: &str, action: &EntryAction, hash: u64) -> Option<BoundAction> {
        let profile = self.schema.table_by_name(table)?.implementation;
        match action {
            EntryAction::Direct(a) => Some(a.clone()),
            EntryAction::Member(m) => self.members.get(&(profile?, *m)).map(|m| m.action.clone()),
            EntryAction::Group(g) => {
                let group = self.groups.get(&(profile?, *g))?;
                let total: u64 = group.members.iter().map(|(_, w)| u64::from(*w)).sum();
                let mut pick = hash % total.max(1);
                for (m, w) in &group.members {
                    if pick < u64::from(*w) {
                        return self.members.get(&(profile?, *m)).map(|m| m.action.clone());
                    }
                    pick -= u64::from(*w);
                }
                None
            }
            EntryAction::OneShot(set) => {
                let total: u64 = set.iter().map(|(_, w)| u64::from(*w)).sum();
                let mut pick = hash % total.max(1);
                for (a, w) in set {
                    if pick < u64::from(*w) {
                        return Some(a.clone());
                    }
                    pick -= u64::from(*w);
                }
                None
            }
        }
    }

    /// Runs prescient.p4 on `frame` arriving at `ingress_port` at emulated time `now` (seconds).
    pub fn process(&mut self, ingress_port: u32, frame: &[u8], now: f64) -> Processed {
        let mut out = Processed::default();
        self.count(
            "PrescientIngress.rx_port_counter",
            ingress_port,
            frame.len(),
        );
        if ingress_port == CPU_PORT {
            // packet_out header: egress_port (9 bits) + 7 bits pad.
            if let (Some(hi), Some(lo)) = (frame.first(), frame.get(1)) {
                let port = (u32::from(*hi) << 1) | u32::from(*lo >> 7);
                out.outputs
                    .push((port, frame.get(2..).unwrap_or_default().to_vec()));
            }
        } else {
            self.ingress(ingress_port, frame, now, &mut out);
        }
        for (port, f) in &out.outputs {
            self.count("PrescientEgress.tx_port_counter", *port, f.len());
        }
        out
    }

    fn learn(&mut self, src_mac: u64, ip: u32, port: u32, out: &mut Processed) {
        if self.learned.insert((src_mac, ip, port)) {
            out.learned.push((src_mac, ip, port));
        }
    }

    fn ingress(&mut self, port: u32, frame: &[u8], now: f64, out: &mut Processed) {
        let (Some(eth_dst), Some(eth_src), Some(ether_type)) =
            (mac(frame, 0), mac(frame, 6), be16(frame, 12))
        else {
            return;
        };
        match ether_type {
            ETHERTYPE_ARP => {
                if let Some(spa) = be32(frame, ETH_LEN + 14) {
                    self.learn(eth_src, spa, port, out);
                }
                out.outputs.push((CPU_PORT, frame.to_vec()));
                return;
            }
            ETHERTYPE_LLDP => {
                out.outputs.push((CPU_PORT, frame.to_vec()));
                return;
            }
            ETHERTYPE_IPV4 => {}
            _ => return,
        }
        let Some(v) = parse_ipv4(frame) else { return };
        self.learn(eth_src, v.src, port, out);
        let (l4_src, l4_dst) = v.l4_ports.unwrap_or((0, 0));
        let acl_fields = [
            ("standard_metadata.ingress_port", u128::from(port)),
            ("hdr.ethernet.dst_addr", u128::from(eth_dst)),
            ("hdr.ethernet.src_addr", u128::from(eth_src)),
            ("hdr.ethernet.ether_type", u128::from(ether_type)),
            ("hdr.ipv4.src_addr", u128::from(v.src)),
            ("hdr.ipv4.dst_addr", u128::from(v.dst)),
            ("hdr.ipv4.protocol", u128::from(v.proto)),
            ("local_metadata.l4_src_port", u128::from(l4_src)),
            ("local_metadata.l4_dst_port", u128::from(l4_dst)),
        ];
        let acl = self.apply_table("PrescientIngress.acl", &acl_fields);
        if let Some(EntryAction::Direct(a)) = acl {
            match self.action_name(a.id) {
                "PrescientIngress.drop" => return,
                "PrescientIngress.punt_to_cpu" => {
                    out.outputs.push((CPU_PORT, frame.to_vec()));
                    return;
                }
                _ => {}
            }
        }
        if v.ttl <= 1 {
            return;
        }
        let mut f = frame.to_vec();
        let mut rewritten = false;
        let mut dst = v.dst;
        let mut src = v.src;
        let dst_action = self.apply_table(
            "PrescientIngress.translate_dst",
            &[("hdr.ipv4.dst_addr", u128::from(dst))],
        );
        if let Some(EntryAction::Direct(a)) = dst_action {
            if let [ip, m] = a.params[..] {
                dst = ip as u32;
                put(&mut f, ETH_LEN + 16, &dst.to_be_bytes());
                put_mac(&mut f, 0, m);
                rewritten = true;
            }
        }
        let sel = self.apply_table(
            "PrescientIngress.service_select",
            &[("hdr.ipv4.dst_addr", u128::from(dst))],
        );
        if let Some(action) = sel {
            let hash = flow_hash(v.src, v.proto, l4_src, l4_dst);
            if let Some(a) = self.resolve("PrescientIngress.service_select", &action, hash) {
                if let [ip, m] = a.params[..] {
                    dst = ip as u32;
                    put(&mut f, ETH_LEN + 16, &dst.to_be_bytes());
                    put_mac(&mut f, 0, m);
                    rewritten = true;
                }
            }
        }
        let len = f.len();
        let pair = [
            ("hdr.ipv4.src_addr", u128::from(src)),
            ("hdr.ipv4.dst_addr", u128::from(dst)),
        ];
        if let Some(entry) = self.lookup("PrescientIngress.pair_count", &pair) {
            entry.counter.packet_count = entry.counter.packet_count.saturating_add(1);
            entry.counter.byte_count = entry.counter.byte_count.saturating_add(len as i64);
        }
        // The reservation's 5-tuple, after translation; ports as the parser left them (0 unless
        // the first fragment of TCP or UDP), as acl sees them.
        let meter = self.lookup(
            "PrescientIngress.flow_meter",
            &[
                ("hdr.ipv4.src_addr", u128::from(src)),
                ("hdr.ipv4.dst_addr", u128::from(dst)),
                ("hdr.ipv4.protocol", u128::from(v.proto)),
                ("local_metadata.l4_src_port", u128::from(l4_src)),
                ("local_metadata.l4_dst_port", u128::from(l4_dst)),
            ],
        );
        if let Some(entry) = meter {
            if let Some(config) = entry.meter {
                let c = color(&config, &mut entry.bucket, now, len);
                let slot = match c {
                    Color::Green => &mut entry.colors.green,
                    Color::Yellow => &mut entry.colors.yellow,
                    Color::Red => &mut entry.colors.red,
                };
                let data = slot.get_or_insert_with(Default::default);
                data.packet_count = data.packet_count.saturating_add(1);
                data.byte_count = data.byte_count.saturating_add(len as i64);
                if c == Color::Red {
                    return;
                }
            }
        }
        let lpm_fields = [("hdr.ipv4.dst_addr", u128::from(dst))];
        let lpm = match self.lookup("PrescientIngress.ipv4_lpm", &lpm_fields) {
            Some(entry) => {
                // The direct counter counts hits only, as BMv2's does.
                entry.counter.packet_count = entry.counter.packet_count.saturating_add(1);
                entry.counter.byte_count = entry.counter.byte_count.saturating_add(len as i64);
                Some(entry.action.clone())
            }
            None => self.default_action("PrescientIngress.ipv4_lpm"),
        };
        let Some(EntryAction::Direct(a)) = lpm else {
            return;
        };
        if self.action_name(a.id) != "PrescientIngress.forward" {
            return;
        }
        let [egress, smac, dmac] = a.params[..] else {
            return;
        };
        put_mac(&mut f, 6, smac);
        put_mac(&mut f, 0, dmac);
        put(&mut f, ETH_LEN + 8, &[v.ttl - 1]);
        let src_action = self.apply_table(
            "PrescientIngress.translate_src",
            &[("hdr.ipv4.src_addr", u128::from(src))],
        );
        if let Some(EntryAction::Direct(a)) = src_action {
            if let [ip, m] = a.params[..] {
                src = ip as u32;
                put(&mut f, ETH_LEN + 12, &src.to_be_bytes());
                put_mac(&mut f, 6, m);
                rewritten = true;
            }
        }
        fix_checksums(&mut f, &v, rewritten);
        out.outputs.push((egress as u32, f));
    }
}

/// The selector hash over (src, protocol, ports); dst is fixed within an entry.
fn flow_hash(src: u32, proto: u8, sport: u16, dport: u16) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in src
        .to_be_bytes()
        .iter()
        .chain([proto].iter())
        .chain(sport.to_be_bytes().iter())
        .chain(dport.to_be_bytes().iter())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Builds an Ethernet + IPv4 + UDP frame (checksums valid), for tests and traffic injection.
pub fn udp_frame(
    src_mac: u64,
    dst_mac: u64,
    src: u32,
    dst: u32,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(42 + payload.len());
    f.extend_from_slice(&dst_mac.to_be_bytes()[2..]);
    f.extend_from_slice(&src_mac.to_be_bytes()[2..]);
    f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    let total = (28 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&src.to_be_bytes());
    f.extend_from_slice(&dst.to_be_bytes());
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 1]); // Non-zero: recomputed below.
    f.extend_from_slice(payload);
    if let Some(v) = parse_ipv4(&f) {
        fix_checksums(&mut f, &v, true);
    }
    f
}
