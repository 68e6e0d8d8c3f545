//! `flow_meter` entries: which traffic each reservation's meter matches and how overlapping
//! reservations combine.
//!
//! A reservation meters exactly what it matches, as the OpenFlow driver's flow entry does: a
//! host pair's addresses; a flow reservation's 5-tuple, its ends that are hosts giving the
//! addresses it leaves open (their MACs narrow the OpenFlow match the same way), any other
//! field a wildcard. Ports count only under TCP or UDP, as OpenFlow's prerequisites have it.
//!
//! Overlaps are resolved as on OpenFlow, where a packet takes one flow entry: reservations with
//! the same match share one entry at the sum of their rates; a flow reservation is looked up
//! before a host pair's entry (OpenFlow puts it one priority above), so a UDP reservation of a
//! pair meters the pair's UDP and the pair's own reservation the rest. Between two different
//! flow matches OpenFlow leaves the choice undefined (one priority for both); here the more
//! specific wins (more fields named), which is deterministic whatever order they came in.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use prescient_southbound::p4runtime::pipeconf::{FlowKey, Intent};
use prescient_topology::{DeviceId, FlowMatch, MacAddr, Subject};

use super::{
    burst_bytes, bytes_per_second, Context, DeviceEntries, EntryKey, MeterPlan,
    UNPOLICED_PEAK_BYTES_PER_S,
};

/// Priority of a host pair's entry: below every flow reservation's.
const PAIR_PRIORITY: i32 = 1;

/// IP protocols whose ports the program parses (and OpenFlow can match).
const TCP: u8 = 6;
const UDP: u8 = 17;

/// The `flow_meter` entry identity of a host pair's addresses (what a pair reservation meters).
pub fn pair_meter_key(src: Ipv4Addr, dst: Ipv4Addr) -> EntryKey {
    EntryKey::Meter(
        FlowKey {
            src: Some(src),
            dst: Some(dst),
            ..FlowKey::default()
        },
        PAIR_PRIORITY,
    )
}

/// The priority of a flow reservation's entry: above every pair's, more named fields first,
/// then by which fields. It depends on the match alone (P4Runtime counts it in the entry's
/// identity), and two different matches of one priority name the same fields with different
/// values, so no packet matches both.
pub fn flow_priority(k: &FlowKey) -> i32 {
    let named = [
        k.src.is_some(),
        k.dst.is_some(),
        k.protocol.is_some(),
        k.l4_src.is_some(),
        k.l4_dst.is_some(),
    ];
    let count = named.iter().filter(|n| **n).count() as i32;
    let which = named.iter().fold(0, |acc, n| (acc << 1) | i32::from(*n));
    PAIR_PRIORITY + 1 + count * 32 + which
}

impl Context<'_> {
    pub(super) fn meters(&self, device: DeviceId, out: &mut DeviceEntries) {
        // Per entry: the committed rates of its policed and of its unpoliced reservations.
        let mut entries: BTreeMap<EntryKey, (i64, i64)> = BTreeMap::new();
        for (id, m) in self.plan.meters() {
            if !m.ports.iter().any(|p| p.device == device) {
                continue;
            }
            let keys = match self.meter_keys(m) {
                Ok(k) => k,
                Err(why) => {
                    out.notes.insert(format!(
                        "reservation {}: not metered on {device}: {why}",
                        id.0
                    ));
                    continue;
                }
            };
            let cir = bytes_per_second(m.rate_bps);
            for key in keys {
                let (policed, held) = entries.entry(key).or_insert((0, 0));
                let c = if m.police { policed } else { held };
                *c = c.saturating_add(cir);
            }
        }
        for (key, (policed, held)) in entries {
            let EntryKey::Meter(flow, priority) = key else {
                continue;
            };
            // Policed: peak rate = committed rate, so what exceeds the reservation is RED and
            // dropped, as the OpenFlow meter's drop band does (a reservation means the same on
            // both protocols). Only forecast reservations: within the forecast GREEN, served
            // from the reserved queue; above it YELLOW, best effort, never dropped (README,
            // "Reservations"): the peak is a rate no port reaches.
            let (cir, pir) = if policed > 0 {
                (policed, policed)
            } else {
                (held, UNPOLICED_PEAK_BYTES_PER_S)
            };
            out.entries.insert(
                key,
                Intent::MeterFlow {
                    flow,
                    priority,
                    reserved_priority: 0,
                    cir,
                    cburst: burst_bytes(cir),
                    pir,
                    pburst: burst_bytes(pir),
                },
            );
        }
    }

    /// The `flow_meter` entries a reservation's meter needs (several when a host has several
    /// addresses), or why none can be made yet.
    fn meter_keys(&self, m: &MeterPlan) -> Result<Vec<EntryKey>, String> {
        match &m.subject {
            Subject::HostPair { src, dst } => {
                let (s, d) = (self.host_ips(src)?, self.host_ips(dst)?);
                Ok(s.iter()
                    .flat_map(|a| d.iter().map(move |b| pair_meter_key(*a, *b)))
                    .collect())
            }
            Subject::Flow(f) => {
                let srcs = self.end(f.src_ip, f.src_mac)?;
                let dsts = self.end(f.dst_ip, f.dst_mac)?;
                let ported = matches!(f.ip_proto, Some(TCP | UDP));
                Ok(srcs
                    .iter()
                    .flat_map(|s| dsts.iter().map(move |d| (*s, *d)))
                    .map(|(src, dst)| flow_key(f, src, dst, ported))
                    .map(|k| EntryKey::Meter(k, flow_priority(&k)))
                    .collect())
            }
        }
    }

    /// One end of a flow: its address when the match names it, else the addresses of its host
    /// (a reservation's end that is a host), else a wildcard.
    fn end(
        &self,
        ip: Option<Ipv4Addr>,
        host: Option<MacAddr>,
    ) -> Result<Vec<Option<Ipv4Addr>>, String> {
        match (ip, host) {
            (Some(ip), _) => Ok(vec![Some(ip)]),
            (None, Some(mac)) => Ok(self.host_ips(&mac)?.into_iter().map(Some).collect()),
            (None, None) => Ok(vec![None]),
        }
    }

    /// The addresses `mac` owns, or why it has none.
    fn host_ips(&self, mac: &MacAddr) -> Result<Vec<Ipv4Addr>, String> {
        let host = self
            .fabric
            .hosts
            .get(mac)
            .ok_or_else(|| format!("host {mac} is not known (yet)"))?;
        let owned: Vec<Ipv4Addr> = host
            .ips
            .iter()
            .filter(|ip| self.owners.get(ip) == Some(mac))
            .copied()
            .collect();
        if owned.is_empty() {
            return Err(format!(
                "host {mac} has no known IPv4 address; metered once one is learned"
            ));
        }
        Ok(owned)
    }
}

fn flow_key(f: &FlowMatch, src: Option<Ipv4Addr>, dst: Option<Ipv4Addr>, ported: bool) -> FlowKey {
    FlowKey {
        src,
        dst,
        protocol: f.ip_proto,
        l4_src: f.src_port.filter(|_| ported),
        l4_dst: f.dst_port.filter(|_| ported),
    }
}
