//! The flood-loop guard: reactive L2 learning floods unknown destinations, which loops on any
//! topology with a cycle (rings, fat-trees). The driver computes a spanning tree of the
//! discovered links and drops, at the ingress of every link outside the tree, all but LLDP; the
//! steered paths and reservations sit above that rule, so they may use any link.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use prescient_southbound::openflow::wire::{
    Action as OfAction, DatapathId, FlowMod, FlowModCommand, Instruction, Match, OxmField,
    PortNo as OfPort, TableId,
};
use prescient_topology::{DeviceId, PortRef, Protocol, Snapshot};

use super::{Driver, BLOCK_PRIORITY, ETH_TYPE_LLDP, LLDP_PRIORITY};

impl Driver {
    /// Re-derives the block rules when the topology changed.
    pub(super) async fn guard_floods(&mut self) {
        if !self.acting() || !self.guard_pace.due() {
            return;
        }
        let started = std::time::Instant::now();
        let snapshot = self.core.snapshot();
        if self.snapshot_version == Some(snapshot.version()) {
            return;
        }
        self.snapshot_version = Some(snapshot.version());
        self.guard_floods_on(&snapshot).await;
        self.guard_pace.ran(started);
    }

    /// Installs and removes block rules until they match a spanning tree of `snapshot`.
    async fn guard_floods_on(&mut self, snapshot: &Snapshot) {
        let wanted = blocked_ports(snapshot);
        if wanted == self.blocked {
            return;
        }
        // The session threads drop what comes in through a blocked port from now on, before
        // the switches have the rules: a broadcast that slips through meanwhile would
        // otherwise circle the cycle and teach every switch on it a wrong port for its sender.
        self.core.set_flood_guard(
            wanted
                .iter()
                .map(|(dpid, ports)| (dpid.0, ports.iter().copied().collect()))
                .collect(),
        );
        for (dpid, fm) in guard_plan(&wanted, &self.blocked) {
            self.install(dpid, fm).await;
        }
        self.blocked = wanted;
    }
}

/// The flow mods that take the switches from the block rules of `have` to those of `wanted`.
/// Every new block comes before any old one is lifted: lifting first would open the cycle
/// the new tree cuts elsewhere for as long as the switches take in between.
fn guard_plan(
    wanted: &BTreeMap<DatapathId, BTreeSet<u32>>,
    have: &BTreeMap<DatapathId, BTreeSet<u32>>,
) -> Vec<(DatapathId, FlowMod)> {
    let added = ports_missing(wanted, have)
        .into_iter()
        .flat_map(|(dpid, port)| block_rules(port).map(|fm| (dpid, fm)));
    let lifted = ports_missing(have, wanted)
        .into_iter()
        .flat_map(|(dpid, port)| {
            block_rules(port).map(|mut fm| {
                fm.command = FlowModCommand::DeleteStrict;
                fm.instructions.clear();
                (dpid, fm)
            })
        });
    added.chain(lifted).collect()
}

/// The (switch, port) pairs blocked in `these` and not in `those`.
fn ports_missing(
    these: &BTreeMap<DatapathId, BTreeSet<u32>>,
    those: &BTreeMap<DatapathId, BTreeSet<u32>>,
) -> Vec<(DatapathId, u32)> {
    these
        .iter()
        .flat_map(|(dpid, ports)| {
            let have = those.get(dpid);
            ports
                .iter()
                .filter(move |p| !have.is_some_and(|h| h.contains(p)))
                .map(move |p| (*dpid, *p))
        })
        .collect()
}

/// Paces a whole-network job (the flood guard's spanning tree) by its own cost: one that took
/// under a millisecond may run on every turn of the loop (a lab's network, every test); a
/// costlier one waits ten times its last cost, so while 10,000 switches are discovered it takes
/// at most a tenth of a core and runs once on a batch of changes instead of once per change.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pace {
    at: std::time::Instant,
    cost: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            at: std::time::Instant::now(),
            cost: Duration::ZERO,
        }
    }
}

impl Pace {
    fn due(&self) -> bool {
        self.cost < Duration::from_millis(1) || self.at.elapsed() >= self.cost.saturating_mul(10)
    }

    fn ran(&mut self, started: std::time::Instant) {
        self.at = std::time::Instant::now();
        self.cost = self.at.saturating_duration_since(started);
    }
}

/// Both ends of a cable, lower end first.
type Cable = (PortRef, PortRef);

/// Ports (per switch) at the ends of links outside a spanning tree of the OpenFlow switches.
///
/// Links are directed in the snapshot; a pair of opposite directions is one cable. The tree is
/// grown breadth-first from the lowest device id, visiting neighbours in id order, so the same
/// topology always blocks the same ports.
pub fn blocked_ports(snapshot: &Snapshot) -> BTreeMap<DatapathId, BTreeSet<u32>> {
    let mut cables: BTreeSet<Cable> = BTreeSet::new();
    for link in snapshot.links() {
        if link.src.device.protocol != Protocol::OpenFlow
            || link.dst.device.protocol != Protocol::OpenFlow
        {
            continue;
        }
        let (a, b) = if link.src <= link.dst {
            (link.src, link.dst)
        } else {
            (link.dst, link.src)
        };
        cables.insert((a, b));
    }
    let mut adjacency: BTreeMap<DeviceId, Vec<(DeviceId, Cable)>> = BTreeMap::new();
    for &(a, b) in &cables {
        adjacency
            .entry(a.device)
            .or_default()
            .push((b.device, (a, b)));
        adjacency
            .entry(b.device)
            .or_default()
            .push((a.device, (a, b)));
    }
    let mut in_tree: BTreeSet<Cable> = BTreeSet::new();
    let mut seen: BTreeSet<DeviceId> = BTreeSet::new();
    for &root in adjacency.keys() {
        if !seen.insert(root) {
            continue;
        }
        let mut queue = std::collections::VecDeque::from([root]);
        while let Some(device) = queue.pop_front() {
            for &(next, cable) in adjacency.get(&device).map(Vec::as_slice).unwrap_or(&[]) {
                if seen.insert(next) {
                    in_tree.insert(cable);
                    queue.push_back(next);
                }
            }
        }
    }
    let mut blocked: BTreeMap<DatapathId, BTreeSet<u32>> = BTreeMap::new();
    for cable in cables.difference(&in_tree) {
        for end in [cable.0, cable.1] {
            blocked
                .entry(DatapathId(end.device.id))
                .or_default()
                .insert(end.port.0);
        }
    }
    blocked
}

/// The two rules guarding one blocked port: LLDP still goes up, everything else is dropped.
fn block_rules(port: u32) -> [FlowMod; 2] {
    let at = Match::new().with(OxmField::InPort(OfPort(port)));
    let lldp = FlowMod::add(
        TableId(0),
        LLDP_PRIORITY,
        at.clone().with(OxmField::EthType(ETH_TYPE_LLDP)),
        vec![Instruction::ApplyActions(vec![OfAction::output(
            OfPort::CONTROLLER,
        )])],
    );
    let drop = FlowMod::add(TableId(0), BLOCK_PRIORITY, at, Vec::new());
    [lldp, drop]
}

#[cfg(test)]
mod tests {
    use super::super::{link, snapshot_of};
    use super::*;

    /// A ring of 4 (1-2, 2-3, 3-4, 4-1), each cable discovered in both directions, in order.
    fn ring_of_four() -> Vec<prescient_topology::LinkKey> {
        let cables = [
            ((1, 2), (2, 1)),
            ((2, 2), (3, 1)),
            ((3, 2), (4, 1)),
            ((4, 2), (1, 1)),
        ];
        cables
            .iter()
            .flat_map(|&(a, b)| [link(a, b), link(b, a)])
            .collect()
    }

    #[test]
    fn a_ring_blocks_exactly_one_cable_and_a_tree_blocks_none() {
        let links = ring_of_four();
        let snapshot = snapshot_of(&links);
        let blocked = blocked_ports(&snapshot);
        let ends: usize = blocked.values().map(BTreeSet::len).sum();
        assert_eq!(ends, 2, "one cable, both ends: {blocked:?}");
        // The remaining cables still connect all four switches.
        let line = &links[..6];
        let snapshot = snapshot_of(line);
        assert!(blocked_ports(&snapshot).is_empty());
    }

    #[test]
    fn a_new_tree_blocks_its_cable_before_the_old_one_is_lifted() {
        // A ring of 4: its spanning tree blocks cable 3-4; another tree of the same ring
        // blocks cable 1-2 instead. Moving between them must never leave the ring open.
        let whole = blocked_ports(&snapshot_of(&ring_of_four()));
        let mut other = BTreeMap::new();
        other.insert(DatapathId(2), BTreeSet::from([1]));
        other.insert(DatapathId(1), BTreeSet::from([2]));
        assert_ne!(whole, other);
        let plan = guard_plan(&other, &whole);
        let kinds: Vec<FlowModCommand> = plan.iter().map(|(_, fm)| fm.command).collect();
        let first_delete = kinds
            .iter()
            .position(|k| *k == FlowModCommand::DeleteStrict)
            .expect("the old block is lifted");
        assert!(
            kinds[..first_delete]
                .iter()
                .all(|k| *k == FlowModCommand::Add)
                && kinds[first_delete..]
                    .iter()
                    .all(|k| *k == FlowModCommand::DeleteStrict),
            "every block goes in before any is lifted: {kinds:?}"
        );
        // Two rules (LLDP up, the rest dropped) per port: two new ports, two old ones.
        assert_eq!((first_delete, plan.len()), (4, 8), "{plan:?}");
        assert!(
            guard_plan(&whole, &whole).is_empty(),
            "no change, no flow mods"
        );
    }
}
