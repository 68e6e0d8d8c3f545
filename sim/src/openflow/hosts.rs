//! What the emulated hosts do besides carrying the traffic model's counters: announce
//! themselves (gratuitous ARP) and send their pairs' traffic through the flow entries that carry
//! it; and the spanning tree that keeps flooding from circling a looped topology.
//!
//! Invariants:
//! - The spanning tree covers every switch of the topology (a forest when it is disconnected),
//!   foreign switches included, so the OpenFlow switches' flooding is loop-free across the whole
//!   fabric; only links off the tree lose flooding, and only on the ports of switches run here.
//! - A host announces itself with one broadcast ARP request for its own address (RFC 5227
//!   §3 announcement), on its edge switch's port, whichever emulator runs that switch.
//! - Pair traffic is counted once per step on one switch per pair (the first one run here on its
//!   route): a controller reading FLOW_STATS takes the largest count over switches, so more
//!   would add nothing, and one message per pair keeps inboxes free for frames. A pair whose
//!   source sits behind a foreign switch also sends one real frame per announcement period, so
//!   that switch has an entry for it to be counted on.

use std::collections::VecDeque;

use bytes::Bytes;
use prescient_southbound::openflow::wire::PortNo;

use super::packet::{arp_request, udp_packet};
use super::wiring::{Shared, SwitchInput};
use crate::topology::{Endpoint, SimTopology};
use crate::traffic::{PairSent, TrafficEngine};

/// UDP ports of the frames that stand for a pair's traffic.
const PAIR_PORTS: (u16, u16) = (40_000, 5_001);

/// Per switch: the ports of links off a breadth-first spanning forest (rooted at the lowest
/// switch index of each component).
pub(crate) fn off_tree_ports(topo: &SimTopology) -> Vec<Vec<PortNo>> {
    let n = topo.switches.len();
    let mut adjacency: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (i, l) in topo.links.iter().enumerate() {
        if let Some(v) = adjacency.get_mut(l.a.switch) {
            v.push((l.b.switch, i));
        }
        if let Some(v) = adjacency.get_mut(l.b.switch) {
            v.push((l.a.switch, i));
        }
    }
    let mut seen = vec![false; n];
    let mut on_tree = vec![false; topo.links.len()];
    for root in 0..n {
        if seen.get(root).copied().unwrap_or(true) {
            continue;
        }
        if let Some(s) = seen.get_mut(root) {
            *s = true;
        }
        let mut queue = VecDeque::from([root]);
        while let Some(u) = queue.pop_front() {
            for &(v, link) in adjacency.get(u).map(Vec::as_slice).unwrap_or_default() {
                if let Some(s) = seen.get_mut(v) {
                    if !*s {
                        *s = true;
                        if let Some(t) = on_tree.get_mut(link) {
                            *t = true;
                        }
                        queue.push_back(v);
                    }
                }
            }
        }
    }
    let mut off = vec![Vec::new(); n];
    for (l, tree) in topo.links.iter().zip(&on_tree) {
        if *tree {
            continue;
        }
        for end in [l.a, l.b] {
            if let Some(v) = off.get_mut(end.switch) {
                v.push(end.port);
            }
        }
    }
    off
}

impl Shared {
    /// A host sends `frame` from its edge port, whichever emulator runs the switch there.
    fn host_sends(&self, at: Endpoint, frame: Bytes) {
        if self.is_foreign.get(at.switch).copied().unwrap_or(false) {
            if let Some(f) = &self.foreign {
                f.host_frame(at, frame);
            }
            return;
        }
        let Some(slot) = self.switches.get(at.switch) else {
            return;
        };
        let len = frame.len() as u64;
        // A full inbox loses the announcement; the next one comes a period later.
        let sent = slot.inbox.try_send(SwitchInput::Frame {
            in_port: at.port,
            frame,
            hops: 0,
        });
        if sent.is_ok() {
            if let Some(c) = self.counters.port(at) {
                c.add_rx(1, len);
            }
        }
    }

    /// Every host announces itself.
    pub(crate) fn announce_hosts(&self) {
        for h in &self.topo.hosts {
            self.host_sends(h.attach, arp_request(h.mac, h.ip, h.ip));
        }
    }

    /// Hosts behind foreign switches send one real frame per pair of theirs: the foreign
    /// switch forwards it by its own program, and the first switch run here on its way sees
    /// a real packet, whose entry then counts the pair's modelled traffic.
    pub(crate) fn foreign_pair_frames(&self, engine: &TrafficEngine) {
        let Some(foreign) = &self.foreign else {
            return;
        };
        for p in engine.model().pairs() {
            let (Some(src), Some(dst)) = (self.topo.hosts.get(p.src), self.topo.hosts.get(p.dst))
            else {
                continue;
            };
            if self
                .is_foreign
                .get(src.attach.switch)
                .copied()
                .unwrap_or(false)
            {
                let frame = udp_packet(src.mac, dst.mac, src.ip, dst.ip, PAIR_PORTS, 64);
                foreign.host_frame(src.attach, frame);
            }
        }
    }

    /// Counts the last step's pair traffic on the flow entries carrying it (see the module
    /// docs): at the first switch run here on each pair's route.
    pub(crate) fn account_pairs(&self, engine: &TrafficEngine) {
        let pairs = engine.model().pairs();
        for &PairSent {
            pair,
            packets,
            bytes,
        } in engine.pair_sent()
        {
            let Some(p) = pairs.get(pair) else { continue };
            let (Some(src), Some(dst)) = (self.topo.hosts.get(p.src), self.topo.hosts.get(p.dst))
            else {
                continue;
            };
            let ingresses = engine.ingresses(pair);
            if let (Some(foreign), Some(first)) = (&self.foreign, ingresses.first()) {
                if self.is_foreign.get(first.switch).copied().unwrap_or(false) {
                    foreign.pair_entered(*first, (src.ip, dst.ip), packets, bytes);
                }
            }
            let Some((k, at)) = ingresses
                .iter()
                .enumerate()
                .find(|(_, e)| !self.is_foreign.get(e.switch).copied().unwrap_or(true))
            else {
                continue;
            };
            let Some(slot) = self.switches.get(at.switch) else {
                continue;
            };
            let frame = udp_packet(src.mac, dst.mac, src.ip, dst.ip, PAIR_PORTS, 64);
            // A full inbox loses this step's count for the pair, as a congested switch would.
            let _ = slot.inbox.try_send(SwitchInput::Account {
                in_port: at.port,
                frame,
                packets,
                bytes,
                first: k == 0,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::TopologyKind;

    #[test]
    fn the_spanning_tree_blocks_one_port_pair_per_independent_cycle() {
        let topo = SimTopology::generate(TopologyKind::Abilene).unwrap();
        let off = off_tree_ports(&topo);
        let blocked: usize = off.iter().map(Vec::len).sum();
        // A spanning tree of n switches keeps n - 1 links; each other link loses both ends.
        let off_links = topo.links.len() - (topo.switches.len() - 1);
        assert_eq!(blocked, 2 * off_links);
        assert!(off_links > 0, "Abilene has cycles");
        let ring = SimTopology::generate(TopologyKind::Ring(5)).unwrap();
        assert_eq!(off_tree_ports(&ring).iter().map(Vec::len).sum::<usize>(), 2);
        let line = SimTopology::generate(TopologyKind::Linear(4)).unwrap();
        assert!(off_tree_ports(&line).iter().all(Vec::is_empty));
    }
}
