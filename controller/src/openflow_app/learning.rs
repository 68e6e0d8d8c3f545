//! Reactive L2 learning forwarding, run inline for every packet-in.
//!
//! Per switch: learn source MAC → ingress port; for a known unicast destination on another
//! port install `in_port, eth_src, eth_dst → output` with an idle timeout (applied to the
//! switch's buffered packet, or followed by a PACKET_OUT when the packet is not buffered);
//! otherwise flood with a PACKET_OUT (a destination learned on the ingress port itself is stale
//! after a topology change: forgotten, and the frame flooded). LLDP frames are published on the
//! event stream (discovery lives elsewhere), and so are ARP frames that tell host tracking
//! something ([`super::punt`]: our probes as they are due, other LLDP once a second per port,
//! new or moved hosts, new addresses; every LLDP and ARP frame without a [`PuntPolicy`]). An
//! ARP request for a service VIP is answered here with a PACKET_OUT (with a [`PuntPolicy`]),
//! and flooded like any other. A port that goes down or away forgets the MACs learned on it.
//! A frame other than LLDP that comes in through a port the flood guard blocks is dropped, as
//! the switch's own rule (not in force yet) would have dropped it. So is a frame about to be
//! flooded that this switch flooded moments ago from another port: it went round a cycle the
//! guard does not cut yet (cables still being discovered), and flooding it again would keep it
//! circling and teach every switch on the cycle a wrong port for its sender.
//!
//! Hot path: no allocation; the FLOW_MOD is a template mutated in place, the PACKET_OUT borrows
//! the packet-in's bytes, and both are emitted straight into the session's output buffer. (The
//! ARP reply for a service VIP allocates its frame: such requests are few.)

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use foldhash::fast::RandomState;

use prescient_southbound::openflow::session::{AppFactory, Outbox, SwitchApp, Verdict};
use prescient_southbound::openflow::wire::{
    Action, BufferId, DatapathId, FlowMod, Instruction, MacAddr, Match, OxmField, PacketInView,
    PacketOutRef, PortNo, PortReason, PortStatus, TableId,
};

use super::punt::{PuntFilter, PuntPolicy};
use template::FlowTemplate;

mod template;

const ETH_LLDP: u16 = 0x88cc;
const ETH_ARP: u16 = 0x0806;

/// How long a flooded frame is remembered: a copy that went round a cycle is back within
/// milliseconds, while a host's own retry (ARP, neighbour discovery) waits a second and comes
/// in where the first did anyway.
const LOOP_WINDOW: Duration = Duration::from_millis(500);

/// Most flooded frames remembered per switch; past it the stale ones go, then all of them.
const MAX_FLOODED: usize = 1024;

/// Settings of the learning app.
#[derive(Debug, Clone)]
pub struct L2LearningFactory {
    /// Idle timeout of installed flows, seconds.
    pub idle_timeout: u16,
    /// Priority of installed flows (above the table-miss flow's 0).
    pub priority: u16,
    /// Largest MAC table per switch; a full table is cleared and relearned, which bounds
    /// memory under a MAC flood at the cost of some extra floods.
    pub max_macs: usize,
    /// Which ARP frames host tracking hears of; `None`: every one.
    pub punt: Option<PuntPolicy>,
}

impl Default for L2LearningFactory {
    fn default() -> Self {
        L2LearningFactory {
            idle_timeout: 60,
            priority: 10,
            max_macs: 65_536,
            punt: None,
        }
    }
}

impl AppFactory for L2LearningFactory {
    fn create(&self, dpid: DatapathId) -> Box<dyn SwitchApp> {
        Box::new(L2Learning::new(dpid, self.clone()))
    }
}

/// The learning app of one switch.
pub struct L2Learning {
    dpid: DatapathId,
    max_macs: usize,
    /// Hashed with foldhash (randomly seeded per process): SipHash on every packet-in's two
    /// lookups cost a tenth of the reactive path, and the table is bounded by `max_macs`.
    macs: HashMap<MacAddr, PortNo, RandomState>,
    flow: FlowMod,
    /// `flow` encoded, when it has the shape the template knows (it always has here).
    template: Option<FlowTemplate>,
    punt: Option<PuntFilter>,
    /// Frames flooded within [`LOOP_WINDOW`], by a hash of their bytes: the port each came in
    /// through, and when.
    flooded: HashMap<u64, (PortNo, Instant), RandomState>,
}

impl L2Learning {
    /// A fresh app with an empty MAC table.
    pub fn new(dpid: DatapathId, cfg: L2LearningFactory) -> Self {
        let mut flow = FlowMod::add(
            TableId(0),
            cfg.priority,
            Match::new()
                .with(OxmField::InPort(PortNo(0)))
                .with(OxmField::EthSrc {
                    addr: MacAddr::ZERO,
                    mask: None,
                })
                .with(OxmField::EthDst {
                    addr: MacAddr::ZERO,
                    mask: None,
                }),
            vec![Instruction::ApplyActions(vec![Action::output(PortNo(0))])],
        );
        flow.idle_timeout = cfg.idle_timeout;
        L2Learning {
            dpid,
            max_macs: cfg.max_macs,
            macs: HashMap::default(),
            template: FlowTemplate::new(&flow),
            flow,
            punt: cfg.punt.map(|p| p.filter(dpid, cfg.max_macs)),
            flooded: HashMap::default(),
        }
    }

    /// Whether `frame`, about to be flooded, is a copy of one this switch flooded within
    /// [`LOOP_WINDOW`] that came in through another port: it went round a cycle. Otherwise it
    /// is remembered (a retry through the same port is flooded again).
    fn looped(&mut self, frame: &[u8], in_port: PortNo, now: Instant) -> bool {
        let key = self.flooded.hasher().hash_one(frame);
        if self.flooded.len() >= MAX_FLOODED && !self.flooded.contains_key(&key) {
            self.flooded
                .retain(|_, (_, at)| now.saturating_duration_since(*at) < LOOP_WINDOW);
            if self.flooded.len() >= MAX_FLOODED {
                self.flooded.clear();
            }
        }
        // One probe on the flooding path: the entry is read and, unless looped, rewritten.
        let seen = self.flooded.entry(key).or_insert((in_port, now));
        let (port, at) = *seen;
        if port != in_port && now.saturating_duration_since(at) < LOOP_WINDOW {
            return true;
        }
        *seen = (in_port, now);
        false
    }

    /// The port `mac` was learned on.
    pub fn port_of(&self, mac: MacAddr) -> Option<PortNo> {
        self.macs.get(&mac).copied()
    }

    /// Learns `mac` at `port`; true when that emptied the full table first.
    fn learn(&mut self, mac: MacAddr, port: PortNo) -> bool {
        if mac.is_multicast() || !port.is_physical() {
            return false;
        }
        // Nearly every frame comes from a host learned where it is: one probe, and no write
        // that would dirty the entry's cache line.
        if let Some(known) = self.macs.get_mut(&mac) {
            if *known != port {
                *known = port;
            }
            return false;
        }
        let full = self.macs.len() >= self.max_macs;
        if full {
            tracing::debug!(dpid = %self.dpid, "MAC table full; relearning");
            self.macs.clear();
        }
        self.macs.insert(mac, port);
        full
    }

    fn send_out(
        &mut self,
        packet: &PacketInView<&[u8]>,
        in_port: PortNo,
        port: PortNo,
        out: &mut Outbox<'_>,
    ) {
        let buffer_id = packet.buffer_id();
        let po = PacketOutRef {
            buffer_id,
            in_port,
            actions: &[Action::output(port)],
            data: if buffer_id == BufferId::NO_BUFFER {
                packet.data()
            } else {
                &[]
            },
        };
        if let Err(e) = out.packet_out_ref(&po) {
            tracing::warn!(dpid = %self.dpid, "packet-out not sent: {e}");
        }
    }

    fn install(
        &mut self,
        packet: &PacketInView<&[u8]>,
        in_port: PortNo,
        src: MacAddr,
        dst: MacAddr,
        port: PortNo,
        out: &mut Outbox<'_>,
    ) {
        let buffer = packet.buffer_id();
        if let Some(t) = self.template.as_mut() {
            t.set(buffer, in_port, src, dst, port);
            if let Err(e) = out.message(&*t) {
                tracing::warn!(dpid = %self.dpid, "flow not installed: {e}");
            }
            if buffer == BufferId::NO_BUFFER {
                self.send_out(packet, in_port, port, out);
            }
            return;
        }
        let fields = &mut self.flow.match_.fields;
        if let [OxmField::InPort(p), OxmField::EthSrc { addr: s, .. }, OxmField::EthDst { addr: d, .. }] =
            fields.as_mut_slice()
        {
            *p = in_port;
            *s = src;
            *d = dst;
        }
        if let Some(Instruction::ApplyActions(actions)) = self.flow.instructions.first_mut() {
            if let Some(Action::Output { port: p, .. }) = actions.first_mut() {
                *p = port;
            }
        }
        self.flow.buffer_id = packet.buffer_id();
        if let Err(e) = out.flow_mod(&self.flow) {
            tracing::warn!(dpid = %self.dpid, "flow not installed: {e}");
        }
        if packet.buffer_id() == BufferId::NO_BUFFER {
            self.send_out(packet, in_port, port, out);
        }
    }
}

fn mac_at(data: &[u8], at: usize) -> Option<MacAddr> {
    let b: [u8; 6] = data.get(at..at + 6)?.try_into().ok()?;
    Some(MacAddr(b))
}

impl SwitchApp for L2Learning {
    fn on_packet_in(&mut self, packet: &PacketInView<&[u8]>, out: &mut Outbox<'_>) -> Verdict {
        let data = packet.data();
        let (Some(dst), Some(src), Some(ty)) = (
            mac_at(data, 0),
            mac_at(data, 6),
            data.get(12..14).map(|b| u16::from_be_bytes([b[0], b[1]])),
        ) else {
            return Verdict::Handled;
        };
        if ty == ETH_LLDP {
            let port = packet.in_port().unwrap_or(PortNo::ANY);
            let news = self
                .punt
                .as_mut()
                .is_none_or(|p| p.lldp(data, port, Instant::now()));
            return if news {
                Verdict::Publish
            } else {
                Verdict::Handled
            };
        }
        let Some(in_port) = packet.in_port() else {
            return Verdict::Handled;
        };
        if self.punt.as_mut().is_some_and(|p| p.blocked(in_port)) {
            return Verdict::Handled;
        }
        // One lookup serves the loop check and the forwarding: learning the source changes
        // the answer only when it emptied the full table or the frame is to its own sender.
        let mut known = if dst.is_multicast() {
            None
        } else {
            self.macs.get(&dst).copied()
        };
        // Checked before learning: a copy that went round a cycle would otherwise move its
        // sender to the port it came back in through.
        let floods = known.is_none_or(|p| p == in_port);
        if floods && self.looped(data, in_port, Instant::now()) {
            return Verdict::Handled;
        }
        if self.learn(src, in_port) || src == dst {
            known = self.macs.get(&dst).copied();
        }
        match known {
            Some(port) if port != in_port => {
                self.install(packet, in_port, src, dst, port, out);
            }
            Some(_) => {
                // A frame for `dst` coming from where `dst` was learned: on point-to-point
                // links that only happens after the topology changed (a link went down and the
                // traffic now comes round the other way), so that location is stale. Dropping
                // here, as a switch on a shared segment would, black-holes the pair for as long
                // as its frames arrive; forgetting it and flooding delivers them.
                self.macs.remove(&dst);
                self.send_out(packet, in_port, PortNo::FLOOD, out);
            }
            _ => self.send_out(packet, in_port, PortNo::FLOOD, out),
        }
        let news = match self.punt.as_mut() {
            _ if ty != ETH_ARP => false,
            None => true,
            Some(p) => {
                if let Some(reply) = p.vip_reply(data, in_port) {
                    if let Err(e) = out.packet_out(&reply) {
                        tracing::warn!(dpid = %self.dpid, "ARP reply for a service VIP not sent: {e}");
                    }
                }
                p.arp(data, src, in_port, Instant::now())
            }
        };
        if news {
            Verdict::Publish
        } else {
            Verdict::Handled
        }
    }

    fn on_port_status(&mut self, status: &PortStatus, out: &mut Outbox<'_>) {
        let gone = status.reason == PortReason::Delete || !status.desc.is_up();
        if gone {
            let port = status.desc.port_no;
            self.macs.retain(|_, p| *p != port);
            if let Some(punt) = self.punt.as_mut() {
                punt.forget_port(port);
            }
            // The entries sending into the dead port black-hole their traffic (it never misses
            // again, so it is never relearned) until they idle out, which busy traffic never
            // lets them do. Only cookie-0 entries go: learned ones and host-pair routes (which
            // the core routes again); reservations carry their own cookie and are rerouted.
            let mut delete = FlowMod::delete(TableId::ALL, Match::new());
            delete.out_port = port;
            delete.cookie = 0;
            delete.cookie_mask = u64::MAX;
            if let Err(e) = out.flow_mod(&delete) {
                tracing::warn!(dpid = %self.dpid, %port, "entries to a dead port not deleted: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests;
