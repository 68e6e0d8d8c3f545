//! An immutable view of the topology for path computation.
//!
//! Links are stored as compressed adjacency arrays: links are sorted by source device index, so
//! the out-links of device `u` are the index range `offsets[u]..offsets[u + 1]`. Every per-link
//! array (`links`, `src`, `dst`, `capacity`, `cost`) shares that index (`LinkIdx`), so callers can
//! pass per-link figures such as residual capacity as plain slices.
//!
//! Invariants: `offsets.len() == devices.len() + 1`, non-decreasing, last = `links.len()`;
//! every `src`/`dst` entry is `< devices.len()`; every cost is at least 1.

use std::collections::{BTreeMap, HashMap};

use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;

use crate::ids::{DeviceId, LinkKey, MacAddr, PortRef, Timestamp};

/// Index of a link within one snapshot.
pub type LinkIdx = u32;

/// A link as handed to [`Snapshot::build`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SnapshotLink {
    /// Its ends.
    pub key: LinkKey,
    /// Capacity, bits/s.
    pub capacity_bps: u64,
    /// Path cost (clamped to at least 1).
    pub cost: u64,
}

/// The immutable topology view readers query.
#[derive(Debug, Clone)]
pub struct Snapshot {
    taken_at: Timestamp,
    version: u64,
    pub(crate) devices: Vec<DeviceId>,
    pub(crate) index: HashMap<DeviceId, u32>,
    pub(crate) offsets: Vec<u32>,
    pub(crate) links: Vec<LinkKey>,
    pub(crate) src: Vec<u32>,
    pub(crate) dst: Vec<u32>,
    pub(crate) capacity: Vec<u64>,
    pub(crate) cost: Vec<u64>,
    link_index: HashMap<LinkKey, LinkIdx>,
    hosts: BTreeMap<MacAddr, PortRef>,
}

/// The JSON view of a snapshot for the REST API.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotView<'a> {
    /// Time of the last event included.
    pub taken_at: Timestamp,
    /// Monotonic version.
    pub version: u64,
    /// Up devices.
    pub devices: &'a [DeviceId],
    /// Links with capacity and cost.
    pub links: Vec<SnapshotLink>,
    /// Hosts and their attachment points.
    pub hosts: &'a BTreeMap<MacAddr, PortRef>,
}

impl Snapshot {
    /// A snapshot with nothing in it.
    pub fn empty() -> Self {
        Snapshot::build(Timestamp(0), 0, Vec::new(), Vec::new(), BTreeMap::new())
    }

    /// Builds a snapshot. Links whose ends are not among `devices` are dropped; duplicates of a
    /// key keep the first.
    pub fn build(
        taken_at: Timestamp,
        version: u64,
        mut devices: Vec<DeviceId>,
        links: Vec<SnapshotLink>,
        hosts: BTreeMap<MacAddr, PortRef>,
    ) -> Self {
        devices.sort_unstable();
        devices.dedup();
        let index: HashMap<DeviceId, u32> = devices
            .iter()
            .enumerate()
            .map(|(i, d)| (*d, i as u32))
            .collect();
        let mut resolved: Vec<(u32, u32, SnapshotLink)> = links
            .into_iter()
            .filter_map(|l| {
                let s = *index.get(&l.key.src.device)?;
                let d = *index.get(&l.key.dst.device)?;
                Some((s, d, l))
            })
            .collect();
        resolved.sort_by_key(|(s, _, l)| (*s, l.key));
        resolved.dedup_by_key(|(_, _, l)| l.key);

        let n = devices.len();
        let mut offsets = vec![0u32; n + 1];
        for (s, _, _) in &resolved {
            if let Some(o) = offsets.get_mut(*s as usize + 1) {
                *o += 1;
            }
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let link_index = resolved
            .iter()
            .enumerate()
            .map(|(i, (_, _, l))| (l.key, i as LinkIdx))
            .collect();
        let hosts = hosts
            .into_iter()
            .filter(|(_, at)| index.contains_key(&at.device))
            .collect();
        Snapshot {
            taken_at,
            version,
            src: resolved.iter().map(|r| r.0).collect(),
            dst: resolved.iter().map(|r| r.1).collect(),
            links: resolved.iter().map(|r| r.2.key).collect(),
            capacity: resolved.iter().map(|r| r.2.capacity_bps).collect(),
            cost: resolved.iter().map(|r| r.2.cost.max(1)).collect(),
            devices,
            index,
            offsets,
            link_index,
            hosts,
        }
    }

    /// Time of the last event included.
    pub fn taken_at(&self) -> Timestamp {
        self.taken_at
    }

    /// Version of the topology it was built from (increases with every structural change).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Up devices, sorted.
    pub fn devices(&self) -> &[DeviceId] {
        &self.devices
    }

    /// Links, in `LinkIdx` order.
    pub fn links(&self) -> &[LinkKey] {
        &self.links
    }

    /// Number of links.
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// Index of a link, if it is in this snapshot.
    pub fn link_idx(&self, key: LinkKey) -> Option<LinkIdx> {
        self.link_index.get(&key).copied()
    }

    /// The link leaving `port` (when several do, the last in key order), found among its
    /// device's out-links: no map over every link, which callers per device and per round
    /// used to build at 10,000 switches.
    pub fn link_from(&self, port: PortRef) -> Option<LinkKey> {
        let u = *self.index.get(&port.device)?;
        let range = self.out_links(u);
        let out = self.links.get(range.start as usize..range.end as usize)?;
        // Sorted by key within a device, so by source port: the last at or before `port`.
        let end = out.partition_point(|l| l.src <= port);
        out.get(..end)?.last().copied().filter(|l| l.src == port)
    }

    /// Capacity of every link (bits/s), in `LinkIdx` order: the residual when nothing is reserved.
    pub fn capacities(&self) -> &[u64] {
        &self.capacity
    }

    /// Capacity of one link.
    pub fn capacity(&self, key: LinkKey) -> Option<u64> {
        self.capacity.get(self.link_idx(key)? as usize).copied()
    }

    /// Cost of every link, in `LinkIdx` order.
    pub fn costs(&self) -> &[u64] {
        &self.cost
    }

    /// Where a host is attached.
    pub fn host(&self, mac: MacAddr) -> Option<PortRef> {
        self.hosts.get(&mac).copied()
    }

    /// Whether the device is up in this snapshot.
    pub fn contains_device(&self, device: DeviceId) -> bool {
        self.index.contains_key(&device)
    }

    /// The out-links of device index `u`.
    pub(crate) fn out_links(&self, u: u32) -> std::ops::Range<u32> {
        let lo = self.offsets.get(u as usize).copied().unwrap_or(0);
        let hi = self.offsets.get(u as usize + 1).copied().unwrap_or(lo);
        lo..hi
    }

    /// The JSON view.
    pub fn view(&self) -> SnapshotView<'_> {
        SnapshotView {
            taken_at: self.taken_at,
            version: self.version,
            devices: &self.devices,
            links: (0..self.links.len())
                .map(|i| SnapshotLink {
                    key: self.links[i],
                    capacity_bps: self.capacity[i],
                    cost: self.cost[i],
                })
                .collect(),
            hosts: &self.hosts,
        }
    }

    /// The topology as a petgraph graph (node weight = device, edge weight = link), for
    /// algorithms this crate does not provide. Node `i` is `devices()[i]`, edge `i` is link `i`.
    pub fn to_petgraph(&self) -> DiGraph<DeviceId, LinkKey> {
        let mut g = DiGraph::with_capacity(self.devices.len(), self.links.len());
        for d in &self.devices {
            g.add_node(*d);
        }
        for (i, key) in self.links.iter().enumerate() {
            if let (Some(&s), Some(&d)) = (self.src.get(i), self.dst.get(i)) {
                g.add_edge(NodeIndex::new(s as usize), NodeIndex::new(d as usize), *key);
            }
        }
        g
    }
}
