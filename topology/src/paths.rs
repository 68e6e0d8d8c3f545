//! Path computation on a [`Snapshot`]: shortest (by configured link cost), k-shortest loop-free
//! (Yen 1971), bandwidth-constrained with a widest-path fallback, and ECMP sets.
//!
//! All searches are Dijkstra over the snapshot's adjacency arrays with a binary heap; per-link
//! figures (residual capacity) are slices indexed by `LinkIdx`. Ties are broken by device and
//! link index, so results are deterministic.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use serde::Serialize;
use thiserror::Error;

use crate::ids::{DeviceId, LinkKey, MacAddr};
use crate::snapshot::{LinkIdx, Snapshot};

const NONE: u32 = u32::MAX;

/// Why no path could be given.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathError {
    /// The device is not (up) in the snapshot.
    #[error("device {0} is not in the topology")]
    UnknownDevice(DeviceId),
    /// The host is not known.
    #[error("host {0} is not in the topology")]
    UnknownHost(MacAddr),
    /// The devices are not connected.
    #[error("no path from {src} to {dst}")]
    Unreachable {
        /// Source.
        src: DeviceId,
        /// Destination.
        dst: DeviceId,
    },
    /// A per-link slice does not match the snapshot.
    #[error("residual slice has {got} entries, snapshot has {want} links")]
    ResidualLength {
        /// Entries given.
        got: usize,
        /// Links in the snapshot.
        want: usize,
    },
}

/// A path between two devices.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Path {
    /// Sum of link costs.
    pub cost: u64,
    /// Devices visited, source first (one device when source = destination).
    pub devices: Vec<DeviceId>,
    /// Links in order.
    pub links: Vec<LinkKey>,
}

/// Whether a bandwidth-constrained query was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fit {
    /// Every link has at least the requested residual capacity.
    Satisfies,
    /// No such path: this is the widest path, with this bottleneck residual.
    WidestOnly {
        /// The smallest residual along the path, bits/s.
        bottleneck_bps: u64,
    },
}

/// The answer to a bandwidth-constrained query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConstrainedPath {
    /// The path.
    pub path: Path,
    /// Whether it meets the request.
    pub fit: Fit,
}

/// A path as link indices, internal to searches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct IdxPath {
    cost: u64,
    links: Vec<LinkIdx>,
}

struct Search {
    dist: Vec<u64>,
    prev: Vec<u32>,
    order: Vec<u32>,
}

impl Snapshot {
    fn node(&self, d: DeviceId) -> Result<u32, PathError> {
        self.index
            .get(&d)
            .copied()
            .ok_or(PathError::UnknownDevice(d))
    }

    fn cost_of(&self, l: LinkIdx) -> u64 {
        self.cost.get(l as usize).copied().unwrap_or(u64::MAX)
    }

    fn link_dst(&self, l: LinkIdx) -> u32 {
        self.dst.get(l as usize).copied().unwrap_or(NONE)
    }

    /// Dijkstra from `src`, stopping once `dst` is settled, over links `usable` allows and
    /// devices not `banned`.
    fn dijkstra(
        &self,
        src: u32,
        dst: u32,
        usable: impl Fn(LinkIdx) -> bool,
        banned: Option<&[bool]>,
    ) -> Search {
        let n = self.devices.len();
        let mut s = Search {
            dist: vec![u64::MAX; n],
            prev: vec![NONE; n],
            order: Vec::new(),
        };
        let mut heap = BinaryHeap::new();
        if let Some(d) = s.dist.get_mut(src as usize) {
            *d = 0;
            heap.push(Reverse((0u64, src)));
        }
        while let Some(Reverse((d, u))) = heap.pop() {
            if d > s.dist[u as usize] {
                continue;
            }
            s.order.push(u);
            if u == dst {
                break;
            }
            for l in self.out_links(u) {
                if !usable(l) {
                    continue;
                }
                let v = self.link_dst(l);
                if banned.is_some_and(|b| b.get(v as usize).copied().unwrap_or(true)) {
                    continue;
                }
                let nd = d.saturating_add(self.cost_of(l));
                if let Some(dv) = s.dist.get_mut(v as usize) {
                    if nd < *dv {
                        *dv = nd;
                        s.prev[v as usize] = l;
                        heap.push(Reverse((nd, v)));
                    }
                }
            }
        }
        s
    }

    fn trace(&self, s: &Search, src: u32, dst: u32) -> Option<IdxPath> {
        let cost = *s.dist.get(dst as usize)?;
        if cost == u64::MAX {
            return None;
        }
        let mut links = Vec::new();
        let mut v = dst;
        while v != src {
            let l = *s.prev.get(v as usize)?;
            links.push(l);
            v = *self.src.get(l as usize)?;
        }
        links.reverse();
        Some(IdxPath { cost, links })
    }

    fn materialize(&self, p: &IdxPath, src: u32) -> Path {
        let mut devices = Vec::with_capacity(p.links.len() + 1);
        devices.extend(self.devices.get(src as usize).copied());
        let mut links = Vec::with_capacity(p.links.len());
        for &l in &p.links {
            if let (Some(k), Some(&d)) = (self.links.get(l as usize), self.dst.get(l as usize)) {
                links.push(*k);
                devices.extend(self.devices.get(d as usize).copied());
            }
        }
        Path {
            cost: p.cost,
            devices,
            links,
        }
    }

    fn endpoints(&self, src: DeviceId, dst: DeviceId) -> Result<(u32, u32), PathError> {
        Ok((self.node(src)?, self.node(dst)?))
    }

    /// The least-cost path from `src` to `dst`.
    pub fn shortest_path(&self, src: DeviceId, dst: DeviceId) -> Result<Path, PathError> {
        let (s, d) = self.endpoints(src, dst)?;
        let search = self.dijkstra(s, d, |_| true, None);
        self.trace(&search, s, d)
            .map(|p| self.materialize(&p, s))
            .ok_or(PathError::Unreachable { src, dst })
    }

    /// Up to `k` least-cost loop-free paths, in non-decreasing cost order (Yen's algorithm).
    pub fn k_shortest_paths(
        &self,
        src: DeviceId,
        dst: DeviceId,
        k: usize,
    ) -> Result<Vec<Path>, PathError> {
        let (s, d) = self.endpoints(src, dst)?;
        let first = self.dijkstra(s, d, |_| true, None);
        let first = self
            .trace(&first, s, d)
            .ok_or(PathError::Unreachable { src, dst })?;
        let mut accepted: Vec<IdxPath> = vec![first];
        let mut candidates: BTreeSet<IdxPath> = BTreeSet::new();
        let n = self.devices.len();
        while accepted.len() < k {
            let Some(last) = accepted.last().cloned() else {
                break;
            };
            let nodes = self.path_nodes(&last, s);
            for j in 0..last.links.len() {
                let root = &last.links[..j];
                let spur = nodes[j];
                let mut banned_links = BTreeSet::new();
                for p in &accepted {
                    if p.links.len() > j && p.links[..j] == *root {
                        banned_links.insert(p.links[j]);
                    }
                }
                let mut banned_nodes = vec![false; n];
                for &u in &nodes[..j] {
                    banned_nodes[u as usize] = true;
                }
                let search =
                    self.dijkstra(spur, d, |l| !banned_links.contains(&l), Some(&banned_nodes));
                if let Some(spur_path) = self.trace(&search, spur, d) {
                    let root_cost: u64 = root.iter().map(|&l| self.cost_of(l)).sum();
                    let mut links = root.to_vec();
                    links.extend_from_slice(&spur_path.links);
                    let cand = IdxPath {
                        cost: root_cost.saturating_add(spur_path.cost),
                        links,
                    };
                    if !accepted.contains(&cand) {
                        candidates.insert(cand);
                    }
                }
            }
            match candidates.pop_first() {
                Some(best) => accepted.push(best),
                None => break,
            }
        }
        Ok(accepted.iter().map(|p| self.materialize(p, s)).collect())
    }

    fn path_nodes(&self, p: &IdxPath, src: u32) -> Vec<u32> {
        let mut nodes = vec![src];
        nodes.extend(p.links.iter().map(|&l| self.link_dst(l)));
        nodes
    }

    fn check_residual(&self, residual: &[u64]) -> Result<(), PathError> {
        if residual.len() != self.links.len() {
            return Err(PathError::ResidualLength {
                got: residual.len(),
                want: self.links.len(),
            });
        }
        Ok(())
    }

    /// The least-cost path whose every link has at least `rate_bps` of `residual` capacity;
    /// if there is none, the least-cost among the widest paths (largest bottleneck residual),
    /// flagged [`Fit::WidestOnly`]. `residual` is indexed by `LinkIdx`.
    pub fn constrained_path(
        &self,
        src: DeviceId,
        dst: DeviceId,
        rate_bps: u64,
        residual: &[u64],
    ) -> Result<ConstrainedPath, PathError> {
        self.check_residual(residual)?;
        let (s, d) = self.endpoints(src, dst)?;
        let fits = |l: LinkIdx| residual.get(l as usize).is_some_and(|&r| r >= rate_bps);
        let search = self.dijkstra(s, d, fits, None);
        if let Some(p) = self.trace(&search, s, d) {
            return Ok(ConstrainedPath {
                path: self.materialize(&p, s),
                fit: Fit::Satisfies,
            });
        }
        let width = self
            .widest_bottleneck(s, d, residual)
            .ok_or(PathError::Unreachable { src, dst })?;
        let wide = |l: LinkIdx| residual.get(l as usize).is_some_and(|&r| r >= width);
        let search = self.dijkstra(s, d, wide, None);
        let p = self
            .trace(&search, s, d)
            .ok_or(PathError::Unreachable { src, dst })?;
        Ok(ConstrainedPath {
            path: self.materialize(&p, s),
            fit: Fit::WidestOnly {
                bottleneck_bps: width,
            },
        })
    }

    /// The largest bottleneck residual over all paths (max-min Dijkstra); `None` if unreachable.
    fn widest_bottleneck(&self, s: u32, d: u32, residual: &[u64]) -> Option<u64> {
        let n = self.devices.len();
        let mut width = vec![0u64; n];
        let mut reached = vec![false; n];
        let mut done = vec![false; n];
        let mut heap = BinaryHeap::new();
        *width.get_mut(s as usize)? = u64::MAX;
        reached[s as usize] = true;
        heap.push((u64::MAX, Reverse(s)));
        while let Some((w, Reverse(u))) = heap.pop() {
            if done[u as usize] {
                continue;
            }
            done[u as usize] = true;
            if u == d {
                return Some(w);
            }
            for l in self.out_links(u) {
                let v = self.link_dst(l) as usize;
                let nw = w.min(residual.get(l as usize).copied().unwrap_or(0));
                if v < n && !done[v] && (!reached[v] || nw > width[v]) {
                    reached[v] = true;
                    width[v] = nw;
                    heap.push((nw, Reverse(v as u32)));
                }
            }
        }
        None
    }

    /// Up to `limit` equal-cost shortest paths (an ECMP set), in deterministic order.
    pub fn ecmp_paths(
        &self,
        src: DeviceId,
        dst: DeviceId,
        limit: usize,
    ) -> Result<Vec<Path>, PathError> {
        let (s, d) = self.endpoints(src, dst)?;
        let search = self.dijkstra(s, d, |_| true, None);
        let best = search.dist.get(d as usize).copied().unwrap_or(u64::MAX);
        if best == u64::MAX {
            return Err(PathError::Unreachable { src, dst });
        }
        let n = self.devices.len();
        let tight = |l: LinkIdx, u: u32| {
            let v = self.link_dst(l) as usize;
            let du = search.dist[u as usize];
            v < n && du.saturating_add(self.cost_of(l)) == search.dist[v]
        };
        // Which settled devices lie on some shortest path to d: walk settle order backwards.
        let mut reaches = vec![false; n];
        reaches[d as usize] = true;
        for &u in search.order.iter().rev() {
            if self
                .out_links(u)
                .any(|l| tight(l, u) && reaches[self.link_dst(l) as usize])
            {
                reaches[u as usize] = true;
            }
        }
        let mut out = Vec::new();
        let mut stack: Vec<(u32, std::ops::Range<u32>)> = vec![(s, self.out_links(s))];
        let mut links: Vec<LinkIdx> = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        if s == d {
            return Ok(vec![self.materialize(&IdxPath { cost: 0, links }, s)]);
        }
        while let Some((u, range)) = stack.last_mut() {
            let u = *u;
            let Some(l) = range.next() else {
                stack.pop();
                links.pop();
                continue;
            };
            let v = self.link_dst(l);
            if !tight(l, u) || !reaches[v as usize] {
                continue;
            }
            links.push(l);
            if v == d {
                out.push(self.materialize(
                    &IdxPath {
                        cost: best,
                        links: links.clone(),
                    },
                    s,
                ));
                links.pop();
                if out.len() >= limit {
                    break;
                }
            } else {
                stack.push((v, self.out_links(v)));
            }
        }
        Ok(out)
    }

    /// The devices two hosts are attached to.
    pub fn host_devices(
        &self,
        src: MacAddr,
        dst: MacAddr,
    ) -> Result<(DeviceId, DeviceId), PathError> {
        let a = self.host(src).ok_or(PathError::UnknownHost(src))?;
        let b = self.host(dst).ok_or(PathError::UnknownHost(dst))?;
        Ok((a.device, b.device))
    }
}

#[cfg(test)]
mod tests;
