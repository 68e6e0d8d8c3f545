//! Deterministic topology generators for tests and benchmarks: k-ary fat trees (Al-Fares et al.,
//! SIGCOMM 2008) and connected random graphs. They drive a real [`Topology`] through its event
//! API (device up, LLDP in both directions, hosts at edge ports), so they exercise discovery too.

use std::collections::BTreeSet;

use crate::ids::{DeviceId, MacAddr, PortNo, PortRef, Timestamp};
use crate::model::{Port, TopologyConfig};
use crate::topology::Topology;

/// SplitMix64 (Steele et al. 2014): a tiny seeded generator whose output never changes across
/// versions, unlike library RNGs, so generated topologies are reproducible forever.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub const fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift: unbiased enough for workloads, and never panics.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// A generated network.
#[derive(Debug)]
pub struct Generated {
    /// The topology, discovery done.
    pub topology: Topology,
    /// Devices hosts attach to (fat-tree edge switches; every switch of a random graph).
    pub edge_devices: Vec<DeviceId>,
    /// Hosts learned (fat trees only): (MAC, attachment point).
    pub hosts: Vec<(MacAddr, PortRef)>,
}

fn port(dev: DeviceId, no: u32, speed_bps: u64) -> Port {
    let id = dev.id.to_be_bytes();
    let n = (no as u16).to_be_bytes();
    Port {
        no: PortNo(no),
        name: format!("{dev}-eth{no}"),
        mac: MacAddr([0x02, id[5], id[6], id[7], n[0], n[1]]),
        up: true,
        reported_speed_bps: Some(speed_bps),
    }
}

/// A cable: both ends, and the speed of both ports.
type Cable = (PortRef, PortRef, u64);

fn assemble(
    devices: &[DeviceId],
    port_counts: &[u32],
    cables: &[Cable],
    speeds_default: u64,
) -> Topology {
    let mut topo = Topology::new(TopologyConfig::default());
    let t = Timestamp(0);
    let mut speeds = std::collections::BTreeMap::new();
    for (a, b, s) in cables {
        speeds.insert(*a, *s);
        speeds.insert(*b, *s);
    }
    for (dev, &count) in devices.iter().zip(port_counts) {
        let ports = (1..=count)
            .map(|no| {
                let s = speeds
                    .get(&PortRef::new(*dev, PortNo(no)))
                    .copied()
                    .unwrap_or(speeds_default);
                port(*dev, no, s)
            })
            .collect();
        topo.device_up(t, *dev, ports);
    }
    for (a, b, _) in cables {
        // Both ends exist and are up by construction; a failure would be a generator bug that
        // the generators' tests catch by counting links.
        let _ = topo.lldp_received(t, *b, *a);
        let _ = topo.lldp_received(t, *a, *b);
    }
    topo
}

/// A k-ary fat tree (`k` even, ≥ 2): (k/2)² core, k pods of k/2 aggregation + k/2 edge switches,
/// k-port switches at `speed_bps`, one host per edge downlink port. `k` is rounded up to even.
pub fn fat_tree(k: u32, speed_bps: u64) -> Generated {
    let k = (k.max(2) + 1) & !1;
    let half = k / 2;
    let core_count = half * half;
    let mut next = 1u64;
    let mut fresh = || {
        let d = DeviceId::openflow(next);
        next += 1;
        d
    };
    let cores: Vec<DeviceId> = (0..core_count).map(|_| fresh()).collect();
    let aggs: Vec<Vec<DeviceId>> = (0..k)
        .map(|_| (0..half).map(|_| fresh()).collect())
        .collect();
    let edges: Vec<Vec<DeviceId>> = (0..k)
        .map(|_| (0..half).map(|_| fresh()).collect())
        .collect();
    let mut cables = Vec::new();
    for pod in 0..k as usize {
        for (i, &e) in edges[pod].iter().enumerate() {
            for (j, &a) in aggs[pod].iter().enumerate() {
                let ep = PortRef::new(e, PortNo(half + 1 + j as u32));
                let ap = PortRef::new(a, PortNo(1 + i as u32));
                cables.push((ep, ap, speed_bps));
            }
        }
        for (j, &a) in aggs[pod].iter().enumerate() {
            for m in 0..half as usize {
                let c = cores[j * half as usize + m];
                let ap = PortRef::new(a, PortNo(half + 1 + m as u32));
                let cp = PortRef::new(c, PortNo(1 + pod as u32));
                cables.push((ap, cp, speed_bps));
            }
        }
    }
    let mut devices = cores.clone();
    devices.extend(aggs.iter().flatten());
    devices.extend(edges.iter().flatten());
    let counts = vec![k; devices.len()];
    let mut topology = assemble(&devices, &counts, &cables, speed_bps);
    let edge_devices: Vec<DeviceId> = edges.into_iter().flatten().collect();
    let mut hosts = Vec::new();
    for &e in &edge_devices {
        for p in 1..=half {
            let n = hosts.len() as u32 + 1;
            let b = n.to_be_bytes();
            let mac = MacAddr([0x0a, 0, b[0], b[1], b[2], b[3]]);
            let at = PortRef::new(e, PortNo(p));
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 | n);
            if topology.host_seen(Timestamp(0), mac, Some(ip), at).is_ok() {
                hosts.push((mac, at));
            }
        }
    }
    Generated {
        topology,
        edge_devices,
        hosts,
    }
}

/// A connected random graph: `switches` switches and `cables` bidirectional cables (so twice as
/// many directed links), a random spanning tree first, then random extra cables between distinct
/// unconnected pairs. Port speeds are drawn from 1/10/40/100 Gb/s per cable.
pub fn random(switches: u32, cables: u32, seed: u64) -> Generated {
    let n = switches.max(1);
    let mut rng = SplitMix64::new(seed);
    let devices: Vec<DeviceId> = (1..=u64::from(n)).map(DeviceId::openflow).collect();
    let mut pairs: BTreeSet<(u32, u32)> = BTreeSet::new();
    let mut list: Vec<(u32, u32)> = Vec::new();
    for i in 1..n {
        let j = rng.below(u64::from(i)) as u32;
        pairs.insert((j, i));
        list.push((j, i));
    }
    let max_pairs = u64::from(n) * u64::from(n - 1) / 2;
    let target = u64::from(cables).min(max_pairs);
    while (list.len() as u64) < target {
        let a = rng.below(u64::from(n)) as u32;
        let b = rng.below(u64::from(n)) as u32;
        let (a, b) = (a.min(b), a.max(b));
        if a != b && pairs.insert((a, b)) {
            list.push((a, b));
        }
    }
    let mut counts = vec![0u32; n as usize];
    let speeds = [
        1_000_000_000u64,
        10_000_000_000,
        40_000_000_000,
        100_000_000_000,
    ];
    let mut wired = Vec::with_capacity(list.len());
    for (a, b) in list {
        counts[a as usize] += 1;
        counts[b as usize] += 1;
        let speed = speeds[rng.below(4) as usize];
        wired.push((
            PortRef::new(devices[a as usize], PortNo(counts[a as usize])),
            PortRef::new(devices[b as usize], PortNo(counts[b as usize])),
            speed,
        ));
    }
    let topology = assemble(&devices, &counts, &wired, speeds[1]);
    Generated {
        topology,
        edge_devices: devices,
        hosts: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat_tree_has_the_textbook_shape() {
        let g = fat_tree(4, 10_000_000_000);
        let s = g.topology.snapshot();
        assert_eq!(s.devices().len(), 20); // 5k²/4
        assert_eq!(s.link_count(), 2 * 32); // k³/2 cables, both directions
        assert_eq!(g.hosts.len(), 16); // k³/4
                                       // Hosts in different pods are 6 hops apart, with (k/2)² = 4 equal-cost paths.
        let (a, b) = (g.edge_devices[0], g.edge_devices[7]);
        assert_eq!(s.shortest_path(a, b).map(|p| p.links.len()), Ok(4));
        assert_eq!(s.ecmp_paths(a, b, 100).map(|p| p.len()), Ok(4));
    }

    #[test]
    fn random_graph_is_connected_and_reproducible() {
        let g1 = random(200, 600, 7);
        let g2 = random(200, 600, 7);
        let (s1, s2) = (g1.topology.snapshot(), g2.topology.snapshot());
        assert_eq!(s1.links(), s2.links());
        assert_eq!(s1.link_count(), 1200);
        let first = s1.devices()[0];
        for d in s1.devices() {
            assert!(s1.shortest_path(first, *d).is_ok(), "{d} unreachable");
        }
    }
}
