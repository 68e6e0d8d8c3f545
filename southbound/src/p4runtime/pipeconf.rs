//! The pipeconf of prescient.p4 (ONOS' pipeconf/interpreter idea): maps the controller's
//! intents onto the program's tables and actions BY NAME, per `/p4/prescient.p4` and the
//! contract in its README. This is the only module that knows those names; ids are always
//! resolved from the P4Info at run time, so a recompiled program with new ids just works.
//!
//! Ingress order in the program: acl → translate_dst → service_select → flow_meter →
//! ipv4_lpm; translate_src runs on egress for replies.

use std::net::Ipv4Addr;

use super::bytestr;
use super::entity::{ActionCall, EntryAction, TableEntrySpec};
use super::error::ResolveError;
use super::index::P4InfoIndex;
use super::proto::p4::v1 as p4;

/// Table and action names of prescient.p4.
pub mod names {
    /// ACL (ternary, priority).
    pub const ACL: &str = "PrescientIngress.acl";
    /// Logical → physical destination rewrite.
    pub const TRANSLATE_DST: &str = "PrescientIngress.translate_dst";
    /// Physical → logical source rewrite on replies.
    pub const TRANSLATE_SRC: &str = "PrescientIngress.translate_src";
    /// VIP → backend selection (action selector).
    pub const SERVICE_SELECT: &str = "PrescientIngress.service_select";
    /// The selector of `service_select`.
    pub const SERVICE_SELECTOR: &str = "PrescientIngress.service_selector";
    /// Routing.
    pub const IPV4_LPM: &str = "PrescientIngress.ipv4_lpm";
    /// Per-flow metering.
    pub const FLOW_METER: &str = "PrescientIngress.flow_meter";
    /// Per host pair counting (direct counter `pair_counter`).
    pub const PAIR_COUNT: &str = "PrescientIngress.pair_count";
    /// Its action.
    pub const COUNT_PAIR: &str = "PrescientIngress.count_pair";
    /// Direct counter of `ipv4_lpm`.
    pub const IPV4_LPM_COUNTER: &str = "PrescientIngress.ipv4_lpm_counter";
    /// Per-port receive counter.
    pub const RX_PORT_COUNTER: &str = "PrescientIngress.rx_port_counter";
    /// Per-port transmit counter.
    pub const TX_PORT_COUNTER: &str = "PrescientEgress.tx_port_counter";
    /// Digest of learned hosts.
    pub const LEARNED_HOST: &str = "learned_host_t";
    /// Drop action.
    pub const DROP: &str = "PrescientIngress.drop";
    /// Punt-to-CPU action.
    pub const PUNT: &str = "PrescientIngress.punt_to_cpu";
    /// Forward action.
    pub const FORWARD: &str = "PrescientIngress.forward";
    /// Destination rewrite action.
    pub const SET_PHYSICAL_DST: &str = "PrescientIngress.set_physical_dst";
    /// Source rewrite action.
    pub const SET_LOGICAL_SRC: &str = "PrescientIngress.set_logical_src";
    /// Backend rewrite action.
    pub const SET_BACKEND: &str = "PrescientIngress.set_backend";
    /// Metering action.
    pub const METER_FLOW: &str = "PrescientIngress.meter_flow";
}

/// EtherType of LLDP.
pub const ETHERTYPE_LLDP: u16 = 0x88cc;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;

/// What an ACL rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclAction {
    /// Drop the packet.
    Drop,
    /// Send it to the controller.
    Punt,
}

/// An ACL rule; `None` fields are wildcards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclRule {
    /// Ingress port.
    pub ingress_port: Option<u16>,
    /// EtherType.
    pub ether_type: Option<u16>,
    /// Source prefix.
    pub src: Option<(Ipv4Addr, u8)>,
    /// Destination prefix.
    pub dst: Option<(Ipv4Addr, u8)>,
    /// IP protocol.
    pub protocol: Option<u8>,
    /// L4 source port.
    pub l4_src: Option<u16>,
    /// L4 destination port.
    pub l4_dst: Option<u16>,
}

/// What a `flow_meter` entry matches; `None` fields are wildcards. The ports are those of the
/// first fragment of TCP or UDP (0 otherwise, as the program parses them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowKey {
    /// Source address.
    pub src: Option<Ipv4Addr>,
    /// Destination address.
    pub dst: Option<Ipv4Addr>,
    /// IP protocol.
    pub protocol: Option<u8>,
    /// L4 source port.
    pub l4_src: Option<u16>,
    /// L4 destination port.
    pub l4_dst: Option<u16>,
}

/// A backend of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backend {
    /// Backend address.
    pub ip: Ipv4Addr,
    /// Backend MAC.
    pub mac: [u8; 6],
    /// Relative weight (> 0).
    pub weight: i32,
}

/// A controller intent the pipeline can realise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Route `dst/prefix_len` out of `port`, rewriting the MACs.
    ForwardToPort {
        /// Destination prefix.
        dst: Ipv4Addr,
        /// Prefix length.
        prefix_len: u8,
        /// Egress port (9 bits).
        port: u16,
        /// New source MAC.
        src_mac: [u8; 6],
        /// New destination MAC.
        dst_mac: [u8; 6],
    },
    /// Rewrite traffic to `logical_ip` towards `physical_ip` / `physical_mac`.
    TranslateLogical {
        /// The address clients use.
        logical_ip: Ipv4Addr,
        /// Where it really is.
        physical_ip: Ipv4Addr,
        /// Its MAC.
        physical_mac: [u8; 6],
    },
    /// Rewrite replies from `physical_ip` to appear from `logical_ip` / `logical_mac`.
    TranslateReverse {
        /// The real source.
        physical_ip: Ipv4Addr,
        /// The address clients expect.
        logical_ip: Ipv4Addr,
        /// The MAC clients expect.
        logical_mac: [u8; 6],
    },
    /// Meter the traffic `flow` matches (trTCM, bytes): green passes at `reserved_priority`,
    /// yellow at best effort (0), red is dropped.
    MeterFlow {
        /// The match.
        flow: FlowKey,
        /// Among overlapping entries the larger wins (> 0; part of the entry's identity).
        priority: i32,
        /// Queue priority of green packets: 0 unless the target has priority queues (BMv2
        /// drops a packet whose priority has no queue).
        reserved_priority: u8,
        /// Committed rate, bytes/s.
        cir: i64,
        /// Committed burst, bytes.
        cburst: i64,
        /// Peak rate, bytes/s.
        pir: i64,
        /// Peak burst, bytes.
        pburst: i64,
    },
    /// Count the traffic `src → dst` (the pair's series) where it enters the fabric.
    CountPair {
        /// Source address.
        src: Ipv4Addr,
        /// Destination address.
        dst: Ipv4Addr,
    },
    /// Send LLDP to the controller (link discovery).
    PuntLldp,
    /// Send ARP to the controller (host discovery).
    PuntArp,
    /// A general ACL rule.
    Acl {
        /// Match.
        rule: AclRule,
        /// Action.
        action: AclAction,
        /// Priority (> 0, larger wins).
        priority: i32,
    },
    /// Spread traffic to `vip` over `backends` (one-shot action selector programming).
    ServiceBackends {
        /// Virtual service address.
        vip: Ipv4Addr,
        /// Backends with weights.
        backends: Vec<Backend>,
    },
}

/// Priority of the built-in punt rules (above user ACLs by default).
pub const PUNT_PRIORITY: i32 = 1_000_000;

fn ipv4_prefix_mask(len: u8) -> Vec<u8> {
    bytestr::prefix_mask(u32::from(len), 32)
}

fn masked(addr: Ipv4Addr, len: u8) -> Vec<u8> {
    let mask = u32::from_be_bytes([0xff; 4])
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0);
    let mask = if len >= 32 { u32::MAX } else { mask };
    bytestr::from_u64(u64::from(u32::from(addr) & mask))
}

impl Intent {
    /// The table entry realising this intent (its key alone identifies it for DELETE).
    pub fn table_entry(&self) -> TableEntrySpec {
        use names::*;
        match self {
            Self::ForwardToPort {
                dst,
                prefix_len,
                port,
                src_mac,
                dst_mac,
            } => TableEntrySpec::new(IPV4_LPM)
                .lpm(
                    "hdr.ipv4.dst_addr",
                    masked(*dst, *prefix_len),
                    u32::from(*prefix_len),
                )
                .action(
                    ActionCall::new(FORWARD)
                        .param("port", bytestr::from_u64(u64::from(*port)))
                        .param("src_mac", bytestr::mac(*src_mac))
                        .param("dst_mac", bytestr::mac(*dst_mac)),
                ),
            Self::TranslateLogical {
                logical_ip,
                physical_ip,
                physical_mac,
            } => TableEntrySpec::new(TRANSLATE_DST)
                .exact("hdr.ipv4.dst_addr", bytestr::ipv4(*logical_ip))
                .action(
                    ActionCall::new(SET_PHYSICAL_DST)
                        .param("physical_ip", bytestr::ipv4(*physical_ip))
                        .param("physical_mac", bytestr::mac(*physical_mac)),
                ),
            Self::TranslateReverse {
                physical_ip,
                logical_ip,
                logical_mac,
            } => TableEntrySpec::new(TRANSLATE_SRC)
                .exact("hdr.ipv4.src_addr", bytestr::ipv4(*physical_ip))
                .action(
                    ActionCall::new(SET_LOGICAL_SRC)
                        .param("logical_ip", bytestr::ipv4(*logical_ip))
                        .param("logical_mac", bytestr::mac(*logical_mac)),
                ),
            Self::MeterFlow {
                flow,
                priority,
                reserved_priority,
                cir,
                cburst,
                pir,
                pburst,
            } => flow_key_entry(flow, *priority)
                .action(ActionCall::new(METER_FLOW).param(
                    "reserved_priority",
                    bytestr::from_u64(u64::from(*reserved_priority)),
                ))
                .meter(p4::MeterConfig {
                    cir: *cir,
                    cburst: *cburst,
                    pir: *pir,
                    pburst: *pburst,
                }),
            Self::CountPair { src, dst } => TableEntrySpec::new(PAIR_COUNT)
                .exact("hdr.ipv4.src_addr", bytestr::ipv4(*src))
                .exact("hdr.ipv4.dst_addr", bytestr::ipv4(*dst))
                .action(ActionCall::new(COUNT_PAIR)),
            Self::PuntLldp => ether_punt(ETHERTYPE_LLDP),
            Self::PuntArp => ether_punt(ETHERTYPE_ARP),
            Self::Acl {
                rule,
                action,
                priority,
            } => acl_entry(rule, *action, *priority),
            Self::ServiceBackends { vip, backends } => TableEntrySpec::new(SERVICE_SELECT)
                .exact("hdr.ipv4.dst_addr", bytestr::ipv4(*vip))
                .indirect(EntryAction::OneShot(
                    backends
                        .iter()
                        .map(|b| {
                            (
                                ActionCall::new(SET_BACKEND)
                                    .param("backend_ip", bytestr::ipv4(b.ip))
                                    .param("backend_mac", bytestr::mac(b.mac)),
                                b.weight,
                            )
                        })
                        .collect(),
                )),
        }
    }

    /// The update that installs (`Insert`), replaces (`Modify`) or removes (`Delete`) this
    /// intent, validated against the P4Info.
    pub fn update(
        &self,
        index: &P4InfoIndex,
        op: p4::update::Type,
    ) -> Result<p4::Update, ResolveError> {
        let spec = self.table_entry();
        let entry = if op == p4::update::Type::Delete {
            index.encode_key(&spec)?
        } else {
            index.encode_table_entry(&spec)?
        };
        Ok(p4::Update {
            r#type: op as i32,
            entity: Some(p4::Entity {
                entity: Some(p4::entity::Entity::TableEntry(entry)),
            }),
        })
    }
}

fn ether_punt(ether_type: u16) -> TableEntrySpec {
    acl_entry(
        &AclRule {
            ether_type: Some(ether_type),
            ..AclRule::default()
        },
        AclAction::Punt,
        PUNT_PRIORITY,
    )
}

/// The `flow_meter` key of `flow`: a wildcard field is left out, as P4Runtime wants a
/// don't-care ternary field.
fn flow_key_entry(flow: &FlowKey, priority: i32) -> TableEntrySpec {
    let mut spec = TableEntrySpec::new(names::FLOW_METER).priority(priority);
    let full16 = vec![0xff, 0xff];
    if let Some(a) = flow.src {
        spec = spec.ternary("hdr.ipv4.src_addr", bytestr::ipv4(a), vec![0xff; 4]);
    }
    if let Some(a) = flow.dst {
        spec = spec.ternary("hdr.ipv4.dst_addr", bytestr::ipv4(a), vec![0xff; 4]);
    }
    if let Some(p) = flow.protocol {
        spec = spec.ternary("hdr.ipv4.protocol", vec![p], vec![0xff]);
    }
    if let Some(p) = flow.l4_src {
        spec = spec.ternary(
            "local_metadata.l4_src_port",
            bytestr::from_u64(u64::from(p)),
            full16.clone(),
        );
    }
    if let Some(p) = flow.l4_dst {
        spec = spec.ternary(
            "local_metadata.l4_dst_port",
            bytestr::from_u64(u64::from(p)),
            full16,
        );
    }
    spec
}

fn acl_entry(rule: &AclRule, action: AclAction, priority: i32) -> TableEntrySpec {
    let mut spec = TableEntrySpec::new(names::ACL).priority(priority);
    let full16 = vec![0xff, 0xff];
    if let Some(p) = rule.ingress_port {
        spec = spec.ternary(
            "standard_metadata.ingress_port",
            bytestr::from_u64(u64::from(p)),
            vec![0x01, 0xff],
        );
    }
    if let Some(t) = rule.ether_type {
        spec = spec.ternary(
            "hdr.ethernet.ether_type",
            bytestr::from_u64(u64::from(t)),
            full16.clone(),
        );
    }
    if let Some((a, len)) = rule.src {
        spec = spec.ternary("hdr.ipv4.src_addr", masked(a, len), ipv4_prefix_mask(len));
    }
    if let Some((a, len)) = rule.dst {
        spec = spec.ternary("hdr.ipv4.dst_addr", masked(a, len), ipv4_prefix_mask(len));
    }
    if let Some(p) = rule.protocol {
        spec = spec.ternary("hdr.ipv4.protocol", vec![p], vec![0xff]);
    }
    if let Some(p) = rule.l4_src {
        spec = spec.ternary(
            "local_metadata.l4_src_port",
            bytestr::from_u64(u64::from(p)),
            full16.clone(),
        );
    }
    if let Some(p) = rule.l4_dst {
        spec = spec.ternary(
            "local_metadata.l4_dst_port",
            bytestr::from_u64(u64::from(p)),
            full16,
        );
    }
    spec.action(ActionCall::new(match action {
        AclAction::Drop => names::DROP,
        AclAction::Punt => names::PUNT,
    }))
}

/// Merges reads of `rx_port_counter` and `tx_port_counter` into protocol-neutral port
/// counters, one per port index seen in either (negative counts from a target become 0).
pub fn port_counters(
    rx: &[p4::CounterEntry],
    tx: &[p4::CounterEntry],
) -> Vec<crate::device::PortCounters> {
    use std::collections::BTreeMap;
    let mut ports: BTreeMap<u32, crate::device::PortCounters> = BTreeMap::new();
    let cells = |entries: &[p4::CounterEntry]| -> Vec<(u32, u64, u64)> {
        entries
            .iter()
            .filter_map(|c| {
                let port = u32::try_from(c.index.as_ref()?.index).ok()?;
                let d = c.data.unwrap_or_default();
                Some((
                    port,
                    u64::try_from(d.packet_count).unwrap_or(0),
                    u64::try_from(d.byte_count).unwrap_or(0),
                ))
            })
            .collect()
    };
    for (port, packets, bytes) in cells(rx) {
        let p = ports.entry(port).or_default();
        p.number = port;
        p.rx_packets = packets;
        p.rx_bytes = bytes;
    }
    for (port, packets, bytes) in cells(tx) {
        let p = ports.entry(port).or_default();
        p.number = port;
        p.tx_packets = packets;
        p.tx_bytes = bytes;
    }
    ports.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p4runtime::p4info::load_p4info_file;
    use p4::field_match::FieldMatchType as F;

    fn index() -> P4InfoIndex {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../p4/prescient.p4info.txt");
        P4InfoIndex::new(load_p4info_file(path).expect("loads")).expect("indexes")
    }

    fn entry(u: &p4::Update) -> &p4::TableEntry {
        match u.entity.as_ref().and_then(|e| e.entity.as_ref()) {
            Some(p4::entity::Entity::TableEntry(t)) => t,
            other => panic!("not a table entry: {other:?}"),
        }
    }

    #[test]
    fn every_intent_resolves_against_prescient_p4() {
        let ix = index();
        let mac = [2, 0, 0, 0, 0, 1];
        let intents = vec![
            Intent::ForwardToPort {
                dst: Ipv4Addr::new(10, 0, 1, 0),
                prefix_len: 24,
                port: 3,
                src_mac: mac,
                dst_mac: mac,
            },
            Intent::TranslateLogical {
                logical_ip: Ipv4Addr::new(100, 64, 0, 1),
                physical_ip: Ipv4Addr::new(10, 0, 0, 7),
                physical_mac: mac,
            },
            Intent::TranslateReverse {
                physical_ip: Ipv4Addr::new(10, 0, 0, 7),
                logical_ip: Ipv4Addr::new(100, 64, 0, 1),
                logical_mac: mac,
            },
            Intent::MeterFlow {
                flow: FlowKey {
                    src: Some(Ipv4Addr::new(10, 0, 0, 1)),
                    dst: Some(Ipv4Addr::new(10, 0, 0, 2)),
                    protocol: Some(17),
                    l4_src: None,
                    l4_dst: Some(5001),
                },
                priority: 7,
                reserved_priority: 1,
                cir: 125_000,
                cburst: 10_000,
                pir: 250_000,
                pburst: 20_000,
            },
            Intent::CountPair {
                src: Ipv4Addr::new(10, 0, 0, 1),
                dst: Ipv4Addr::new(10, 0, 0, 2),
            },
            Intent::PuntLldp,
            Intent::PuntArp,
            Intent::Acl {
                rule: AclRule {
                    dst: Some((Ipv4Addr::new(10, 9, 0, 0), 16)),
                    protocol: Some(6),
                    l4_dst: Some(22),
                    ..AclRule::default()
                },
                action: AclAction::Drop,
                priority: 10,
            },
            Intent::ServiceBackends {
                vip: Ipv4Addr::new(100, 64, 1, 1),
                backends: vec![
                    Backend {
                        ip: Ipv4Addr::new(10, 0, 0, 8),
                        mac,
                        weight: 1,
                    },
                    Backend {
                        ip: Ipv4Addr::new(10, 0, 0, 9),
                        mac,
                        weight: 2,
                    },
                ],
            },
        ];
        for i in &intents {
            i.update(&ix, p4::update::Type::Insert)
                .unwrap_or_else(|e| panic!("{i:?}: {e}"));
            i.update(&ix, p4::update::Type::Delete)
                .unwrap_or_else(|e| panic!("{i:?}: {e}"));
        }
    }

    #[test]
    fn forward_masks_host_bits_and_sends_canonical_values() {
        let ix = index();
        let u = Intent::ForwardToPort {
            dst: Ipv4Addr::new(10, 0, 1, 77),
            prefix_len: 24,
            port: 1,
            src_mac: [0, 0, 0, 0, 0, 1],
            dst_mac: [0, 0, 0, 0, 0, 2],
        }
        .update(&ix, p4::update::Type::Insert)
        .expect("valid");
        let t = entry(&u);
        match &t.r#match[0].field_match_type {
            Some(F::Lpm(l)) => {
                assert_eq!(l.value, vec![10, 0, 1, 0]);
                assert_eq!(l.prefix_len, 24);
            }
            other => panic!("{other:?}"),
        }
        let Some(p4::table_action::Type::Action(a)) =
            t.action.as_ref().and_then(|a| a.r#type.as_ref())
        else {
            panic!("direct action expected");
        };
        assert_eq!(a.params[0].value, vec![1], "port 1 is one byte");
        assert_eq!(a.params[1].value, vec![1], "MAC 00:..:01 is canonical");
    }

    #[test]
    fn port_counters_merge_rx_and_tx_by_index() {
        let cell = |i, packets, bytes| p4::CounterEntry {
            counter_id: 1,
            index: Some(p4::Index { index: i }),
            data: Some(p4::CounterData {
                byte_count: bytes,
                packet_count: packets,
            }),
        };
        let ports = port_counters(&[cell(1, 10, 1000), cell(2, 5, 500)], &[cell(2, 7, 700)]);
        assert_eq!(ports.len(), 2);
        assert_eq!(
            (ports[0].number, ports[0].rx_packets, ports[0].tx_packets),
            (1, 10, 0)
        );
        assert_eq!((ports[1].rx_bytes, ports[1].tx_bytes), (500, 700));
    }

    #[test]
    fn a_meter_leaves_its_wildcards_out_and_carries_its_priority() {
        let ix = index();
        let u = Intent::MeterFlow {
            flow: FlowKey {
                dst: Some(Ipv4Addr::new(10, 0, 0, 2)),
                protocol: Some(17),
                ..FlowKey::default()
            },
            priority: 42,
            reserved_priority: 0,
            cir: 1000,
            cburst: 3028,
            pir: 1000,
            pburst: 3028,
        }
        .update(&ix, p4::update::Type::Insert)
        .expect("valid");
        let t = entry(&u);
        assert_eq!(t.priority, 42);
        assert_eq!(t.r#match.len(), 2, "destination and protocol only");
        let ternary: Vec<(Vec<u8>, Vec<u8>)> = t
            .r#match
            .iter()
            .map(|m| match &m.field_match_type {
                Some(F::Ternary(x)) => (x.value.clone(), x.mask.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(ternary.contains(&(vec![10, 0, 0, 2], vec![0xff; 4])));
        assert!(ternary.contains(&(vec![17], vec![0xff])));
    }

    #[test]
    fn lldp_punt_is_a_ternary_ethertype_rule_with_priority() {
        let ix = index();
        let u = Intent::PuntLldp
            .update(&ix, p4::update::Type::Insert)
            .expect("valid");
        let t = entry(&u);
        assert_eq!(t.priority, PUNT_PRIORITY);
        assert_eq!(t.r#match.len(), 1, "only ether_type is matched");
        match &t.r#match[0].field_match_type {
            Some(F::Ternary(x)) => {
                assert_eq!(x.value, vec![0x88, 0xcc]);
                assert_eq!(x.mask, vec![0xff, 0xff]);
            }
            other => panic!("{other:?}"),
        }
    }
}
