//! Deterministic topology generators for the emulated network: ring, linear, k-ary fat-tree, a
//! random graph (for scale) and the Abilene backbone, the first four the same shapes (names, datapath ids, port order, host addresses) as
//! `mininet/lab.py`, so a lab on Open vSwitch and the emulator look alike to the controller.
//!
//! Invariants: datapath ids are `1..=N` in switch order; each switch's ports are numbered from 1 in
//! the order its links were added (host link first on ring/linear/abilene, as Mininet does); every
//! port belongs to exactly one link or one host; generation is a pure function of the kind.

use core::fmt;
use core::net::Ipv4Addr;
use core::str::FromStr;

use prescient_southbound::openflow::wire::{DatapathId, MacAddr, PortNo};
use thiserror::Error;

/// Default capacity of every emulated link: 1 Gbit/s.
pub const DEFAULT_LINK_BPS: u64 = 1_000_000_000;

/// Abilene backbone nodes (SNDlib `abilene`), in datapath-id order.
pub const ABILENE_NODES: [&str; 12] = [
    "ATLAng", "ATLAM5", "CHINng", "DNVRng", "HSTNng", "IPLSng", "KSCYng", "LOSAng", "NYCMng",
    "SNVAng", "STTLng", "WASHng",
];

/// Abilene's 15 bidirectional links, as node-name pairs.
pub const ABILENE_LINKS: [(&str, &str); 15] = [
    ("ATLAM5", "ATLAng"),
    ("ATLAng", "HSTNng"),
    ("ATLAng", "IPLSng"),
    ("ATLAng", "WASHng"),
    ("CHINng", "IPLSng"),
    ("CHINng", "NYCMng"),
    ("DNVRng", "KSCYng"),
    ("DNVRng", "SNVAng"),
    ("DNVRng", "STTLng"),
    ("HSTNng", "KSCYng"),
    ("HSTNng", "LOSAng"),
    ("IPLSng", "KSCYng"),
    ("LOSAng", "SNVAng"),
    ("NYCMng", "WASHng"),
    ("SNVAng", "STTLng"),
];

/// Which shape to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopologyKind {
    /// `n` switches in a ring, one host each.
    Ring(usize),
    /// `n` switches in a line, one host each.
    Linear(usize),
    /// k-ary fat-tree: (k/2)² core, k pods of k/2 aggregation + k/2 edge switches, k/2 hosts per edge.
    FatTree(usize),
    /// The 12-switch Abilene backbone, one host each.
    Abilene,
    /// `n` switches, one host each, in a ring plus one random chord per switch (seeded by `n`,
    /// so always the same graph): connected, average degree 4, diameter about log₂ n, like a
    /// Jellyfish data-centre fabric; what `prescient bench scale` runs at 10,000 switches.
    Random(usize),
}

impl TopologyKind {
    /// Builds a kind from a CLI shape name and a size: switch count for ring/linear, `k` for
    /// fat-tree, ignored for abilene.
    pub fn from_name(name: &str, size: usize) -> Result<TopologyKind, TopologyError> {
        match name {
            "ring" => Ok(TopologyKind::Ring(size)),
            "linear" => Ok(TopologyKind::Linear(size)),
            "fat-tree" | "fattree" => Ok(TopologyKind::FatTree(size)),
            "abilene" => Ok(TopologyKind::Abilene),
            "random" => Ok(TopologyKind::Random(size)),
            other => Err(TopologyError::UnknownShape(other.to_owned())),
        }
    }

    /// Number of switches this kind generates.
    pub fn switch_count(self) -> usize {
        match self {
            TopologyKind::Ring(n) | TopologyKind::Linear(n) | TopologyKind::Random(n) => n,
            TopologyKind::FatTree(k) => 5 * k * k / 4,
            TopologyKind::Abilene => ABILENE_NODES.len(),
        }
    }
}

impl fmt::Display for TopologyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopologyKind::Ring(n) => write!(f, "ring of {n}"),
            TopologyKind::Linear(n) => write!(f, "linear of {n}"),
            TopologyKind::FatTree(k) => write!(f, "fat-tree k={k}"),
            TopologyKind::Abilene => f.write_str("abilene"),
            TopologyKind::Random(n) => write!(f, "random graph of {n}"),
        }
    }
}

/// The shape names `prescient sim --topology` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Ring.
    Ring,
    /// Line.
    Linear,
    /// Fat-tree.
    FatTree,
    /// Abilene.
    Abilene,
    /// Random graph.
    Random,
}

impl FromStr for Shape {
    type Err = TopologyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match TopologyKind::from_name(s, 0)? {
            TopologyKind::Ring(_) => Shape::Ring,
            TopologyKind::Linear(_) => Shape::Linear,
            TopologyKind::FatTree(_) => Shape::FatTree,
            TopologyKind::Abilene => Shape::Abilene,
            TopologyKind::Random(_) => Shape::Random,
        })
    }
}

impl Shape {
    /// The kind of this shape with a size (switches, or k for fat-tree; ignored for abilene).
    pub fn with_size(self, size: usize) -> TopologyKind {
        match self {
            Shape::Ring => TopologyKind::Ring(size),
            Shape::Linear => TopologyKind::Linear(size),
            Shape::FatTree => TopologyKind::FatTree(size),
            Shape::Abilene => TopologyKind::Abilene,
            Shape::Random => TopologyKind::Random(size),
        }
    }
}

/// Why a topology could not be generated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TopologyError {
    /// The shape name is not one we generate.
    #[error("unknown topology {0:?}: expected ring, linear, fat-tree, random or abilene")]
    UnknownShape(String),
    /// The size is out of range for the shape.
    #[error("{shape} size {size} is invalid: {why}")]
    BadSize {
        /// Shape name.
        shape: &'static str,
        /// Size given.
        size: usize,
        /// What is allowed.
        why: &'static str,
    },
}

/// One side of a link: a switch (index into [`SimTopology::switches`]) and a port on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// Switch index.
    pub switch: usize,
    /// Port number on that switch.
    pub port: PortNo,
}

/// A generated switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchSpec {
    /// Datapath id (`index + 1`).
    pub dpid: DatapathId,
    /// Mininet-style name (`s1`, `c0`, `a0_1`, `e3_0`, ...).
    pub name: String,
    /// Port numbers, `1..=n`.
    pub ports: Vec<PortNo>,
}

/// A bidirectional switch-to-switch link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkSpec {
    /// One end.
    pub a: Endpoint,
    /// The other end.
    pub b: Endpoint,
    /// Capacity in bits/s.
    pub capacity_bps: u64,
}

/// A host attached to an edge port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// Mininet-style name (`h1`...).
    pub name: String,
    /// MAC address (Mininet's `autoSetMacs`: the host number).
    pub mac: MacAddr,
    /// IPv4 address.
    pub ip: Ipv4Addr,
    /// Where it is attached.
    pub attach: Endpoint,
}

/// A generated network: switches, links and hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimTopology {
    /// What was generated.
    pub kind: TopologyKind,
    /// Switches; index `i` has datapath id `i + 1`.
    pub switches: Vec<SwitchSpec>,
    /// Switch-to-switch links.
    pub links: Vec<LinkSpec>,
    /// Hosts.
    pub hosts: Vec<HostSpec>,
}

/// What is on the far side of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortPeer {
    /// Another switch's port.
    Switch(Endpoint),
    /// A host (index into [`SimTopology::hosts`]).
    Host(usize),
}

impl SimTopology {
    /// Generates `kind`.
    pub fn generate(kind: TopologyKind) -> Result<SimTopology, TopologyError> {
        let mut b = Builder::new(kind);
        match kind {
            TopologyKind::Ring(n) => {
                check(n >= 1, "ring", n, "needs at least 1 switch")?;
                b.chain(n, true);
            }
            TopologyKind::Linear(n) => {
                check(n >= 1, "linear", n, "needs at least 1 switch")?;
                b.chain(n, false);
            }
            TopologyKind::FatTree(k) => {
                check(
                    k >= 2 && k % 2 == 0,
                    "fat-tree",
                    k,
                    "k must be even and at least 2",
                )?;
                check(
                    k <= 64,
                    "fat-tree",
                    k,
                    "k above 64 makes more than 5,120 switches",
                )?;
                b.fat_tree(k);
            }
            TopologyKind::Abilene => b.abilene(),
            TopologyKind::Random(n) => {
                check(n >= 1, "random", n, "needs at least 1 switch")?;
                check(
                    n <= 100_000,
                    "random",
                    n,
                    "more than 100,000 switches would not fit one emulator",
                )?;
                b.random(n);
            }
        }
        Ok(b.topo)
    }

    /// Index of the switch with this datapath id.
    pub fn switch_index(&self, dpid: DatapathId) -> Option<usize> {
        let i = usize::try_from(dpid.0.checked_sub(1)?).ok()?;
        (i < self.switches.len()).then_some(i)
    }

    /// Index of the host with this name.
    pub fn host_index(&self, name: &str) -> Option<usize> {
        self.hosts.iter().position(|h| h.name == name)
    }

    /// What a port connects to, if anything.
    pub fn peer(&self, at: Endpoint) -> Option<PortPeer> {
        for l in &self.links {
            if l.a == at {
                return Some(PortPeer::Switch(l.b));
            }
            if l.b == at {
                return Some(PortPeer::Switch(l.a));
            }
        }
        self.hosts
            .iter()
            .position(|h| h.attach == at)
            .map(PortPeer::Host)
    }

    /// The link between two switches (by index), if any: returns the endpoint on `a` and on `b`.
    pub fn link_between(&self, a: usize, b: usize) -> Option<(Endpoint, Endpoint)> {
        self.links.iter().find_map(|l| {
            if l.a.switch == a && l.b.switch == b {
                Some((l.a, l.b))
            } else if l.b.switch == a && l.a.switch == b {
                Some((l.b, l.a))
            } else {
                None
            }
        })
    }
}

fn check(
    ok: bool,
    shape: &'static str,
    size: usize,
    why: &'static str,
) -> Result<(), TopologyError> {
    if ok {
        Ok(())
    } else {
        Err(TopologyError::BadSize { shape, size, why })
    }
}

struct Builder {
    topo: SimTopology,
}

impl Builder {
    fn new(kind: TopologyKind) -> Builder {
        Builder {
            topo: SimTopology {
                kind,
                switches: Vec::new(),
                links: Vec::new(),
                hosts: Vec::new(),
            },
        }
    }

    fn switch(&mut self, name: String) -> usize {
        let i = self.topo.switches.len();
        self.topo.switches.push(SwitchSpec {
            dpid: DatapathId(i as u64 + 1),
            name,
            ports: Vec::new(),
        });
        i
    }

    fn next_port(&mut self, s: usize) -> Endpoint {
        // Switch indices come only from `switch()`, so this slot exists.
        let ports = &mut self.topo.switches[s].ports;
        let port = PortNo(ports.len() as u32 + 1);
        ports.push(port);
        Endpoint { switch: s, port }
    }

    fn link(&mut self, a: usize, b: usize) {
        let a = self.next_port(a);
        let b = self.next_port(b);
        self.topo.links.push(LinkSpec {
            a,
            b,
            capacity_bps: DEFAULT_LINK_BPS,
        });
    }

    fn host(&mut self, s: usize, ip: Ipv4Addr) {
        let n = self.topo.hosts.len() as u64 + 1;
        let attach = self.next_port(s);
        let b = n.to_be_bytes();
        self.topo.hosts.push(HostSpec {
            name: format!("h{n}"),
            mac: MacAddr([0, 0, b[4], b[5], b[6], b[7]]),
            ip,
            attach,
        });
    }

    fn chain(&mut self, n: usize, ring: bool) {
        for i in 1..=n {
            let s = self.switch(format!("s{i}"));
            self.host(s, Ipv4Addr::from(0x0a00_0000 | i as u32));
        }
        for i in 0..n.saturating_sub(1) {
            self.link(i, i + 1);
        }
        // A ring of 2 would be a double link; Mininet makes it a single one, so do we.
        if ring && n > 2 {
            self.link(n - 1, 0);
        }
    }

    fn fat_tree(&mut self, k: usize) {
        let half = k / 2;
        let cores: Vec<usize> = (0..half * half)
            .map(|i| self.switch(format!("c{i}")))
            .collect();
        let mut host_no: u32 = 0;
        for pod in 0..k {
            let aggs: Vec<usize> = (0..half)
                .map(|i| self.switch(format!("a{pod}_{i}")))
                .collect();
            let edges: Vec<usize> = (0..half)
                .map(|i| self.switch(format!("e{pod}_{i}")))
                .collect();
            for (i, &agg) in aggs.iter().enumerate() {
                for j in 0..half {
                    self.link(agg, cores[i * half + j]);
                }
                for &edge in &edges {
                    self.link(agg, edge);
                }
            }
            for &edge in &edges {
                for _ in 0..half {
                    host_no += 1;
                    self.host(edge, Ipv4Addr::from(0x0a00_0000 | (host_no & 0x00ff_ffff)));
                }
            }
        }
    }

    /// A ring (so it is connected) plus, from each switch, one chord to a random switch that is
    /// neither itself, a ring neighbour nor already linked to it (tried a few times, then
    /// skipped: on tiny graphs there may be none).
    fn random(&mut self, n: usize) {
        self.chain(n, true);
        let mut linked: std::collections::HashSet<(usize, usize)> = self
            .topo
            .links
            .iter()
            .map(|l| ordered(l.a.switch, l.b.switch))
            .collect();
        let mut rng = SplitMix64(n as u64 ^ 0x05ee_d0f5_ca1e);
        for a in 0..n {
            for _ in 0..8 {
                // The modulo bias over 2⁶⁴ is far below anything a topology notices.
                let b = (rng.next() % n as u64) as usize;
                if a != b && linked.insert(ordered(a, b)) {
                    self.link(a, b);
                    break;
                }
            }
        }
    }

    fn abilene(&mut self) {
        for (i, node) in ABILENE_NODES.iter().enumerate() {
            // Named after its router, as mininet/lab.py names it.
            let s = self.switch((*node).to_string());
            self.host(s, Ipv4Addr::from(0x0a00_0000 | (i as u32 + 1)));
        }
        let index = |name: &str| ABILENE_NODES.iter().position(|n| *n == name);
        for (a, b) in ABILENE_LINKS {
            if let (Some(a), Some(b)) = (index(a), index(b)) {
                self.link(a, b);
            }
        }
    }
}

fn ordered(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, well-mixed generator, enough for a graph
/// that only has to be the same on every run.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn degree(t: &SimTopology, s: usize) -> usize {
        t.links
            .iter()
            .filter(|l| l.a.switch == s || l.b.switch == s)
            .count()
    }

    #[test]
    fn ring_of_four_has_a_host_on_port_1_and_neighbours_on_2_and_3() {
        let t = SimTopology::generate(TopologyKind::Ring(4)).unwrap();
        assert_eq!(t.switches.len(), 4);
        assert_eq!(t.links.len(), 4);
        assert_eq!(t.hosts.len(), 4);
        assert_eq!(t.switches[0].dpid, DatapathId(1));
        assert_eq!(
            t.hosts[0].attach,
            Endpoint {
                switch: 0,
                port: PortNo(1)
            }
        );
        assert_eq!(t.hosts[3].ip, Ipv4Addr::new(10, 0, 0, 4));
        assert_eq!(t.hosts[3].mac, MacAddr([0, 0, 0, 0, 0, 4]));
        assert_eq!(
            t.peer(Endpoint {
                switch: 0,
                port: PortNo(2)
            }),
            Some(PortPeer::Switch(Endpoint {
                switch: 1,
                port: PortNo(2)
            }))
        );
        // s1's third port closes the ring to s4.
        assert_eq!(
            t.peer(Endpoint {
                switch: 0,
                port: PortNo(3)
            }),
            Some(PortPeer::Switch(Endpoint {
                switch: 3,
                port: PortNo(3)
            }))
        );
        assert!((0..4).all(|s| degree(&t, s) == 2));
    }

    #[test]
    fn linear_has_n_minus_one_links() {
        let t = SimTopology::generate(TopologyKind::Linear(5)).unwrap();
        assert_eq!(t.links.len(), 4);
        assert_eq!(degree(&t, 0), 1);
        assert_eq!(degree(&t, 2), 2);
    }

    #[test]
    fn fat_tree_k4_has_20_switches_32_links_16_hosts() {
        let t = SimTopology::generate(TopologyKind::FatTree(4)).unwrap();
        assert_eq!(t.switches.len(), 20);
        assert_eq!(TopologyKind::FatTree(4).switch_count(), 20);
        assert_eq!(t.links.len(), 32);
        assert_eq!(t.hosts.len(), 16);
        // Every switch of a k=4 fat-tree has k = 4 ports in use.
        assert!(t.switches.iter().all(|s| s.ports.len() == 4));
        assert!(t.switches[..4].iter().all(|s| s.name.starts_with('c')));
    }

    #[test]
    fn abilene_is_12_switches_15_links() {
        let t = SimTopology::generate(TopologyKind::Abilene).unwrap();
        assert_eq!(t.switches.len(), 12);
        assert_eq!(t.links.len(), 15);
        assert_eq!(t.hosts.len(), 12);
        // ATLAng (dpid 1) links to ATLAM5, HSTNng, IPLSng, WASHng.
        assert_eq!(degree(&t, 0), 4);
    }

    #[test]
    fn bad_sizes_and_names_are_refused() {
        assert!(matches!(
            SimTopology::generate(TopologyKind::FatTree(3)),
            Err(TopologyError::BadSize {
                shape: "fat-tree",
                size: 3,
                ..
            })
        ));
        assert!(SimTopology::generate(TopologyKind::Ring(0)).is_err());
        assert_eq!(
            "torus".parse::<Shape>(),
            Err(TopologyError::UnknownShape("torus".into()))
        );
        assert_eq!("fat-tree".parse::<Shape>(), Ok(Shape::FatTree));
    }

    #[test]
    fn random_graph_is_connected_with_average_degree_about_four_and_no_double_links() {
        let n = 1000;
        let t = SimTopology::generate(TopologyKind::Random(n)).unwrap();
        assert_eq!(t.switches.len(), n);
        assert_eq!(t.hosts.len(), n);
        // The ring's n links plus nearly one chord per switch.
        assert!(t.links.len() > 2 * n - n / 50, "{} links", t.links.len());
        let mut pairs: Vec<_> = t
            .links
            .iter()
            .map(|l| ordered(l.a.switch, l.b.switch))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        assert_eq!(
            pairs.len(),
            t.links.len(),
            "a pair of switches linked twice"
        );
        assert!(t.links.iter().all(|l| l.a.switch != l.b.switch));
        // Reachable from switch 0 in few hops: the chords make it a small world, not a ring.
        let mut adj = vec![Vec::new(); n];
        for l in &t.links {
            adj[l.a.switch].push(l.b.switch);
            adj[l.b.switch].push(l.a.switch);
        }
        let mut hops = vec![usize::MAX; n];
        hops[0] = 0;
        let mut queue = std::collections::VecDeque::from([0]);
        while let Some(s) = queue.pop_front() {
            for &p in &adj[s] {
                if hops[p] == usize::MAX {
                    hops[p] = hops[s] + 1;
                    queue.push_back(p);
                }
            }
        }
        let far = hops.iter().copied().max().unwrap();
        assert!(far < 30, "farthest switch {far} hops away");
        assert_eq!(
            SimTopology::generate(TopologyKind::Random(n)).unwrap(),
            t,
            "not deterministic"
        );
        assert_eq!("random".parse::<Shape>(), Ok(Shape::Random));
        assert!(SimTopology::generate(TopologyKind::Random(0)).is_err());
    }

    #[test]
    fn generation_is_deterministic() {
        let a = SimTopology::generate(TopologyKind::FatTree(6)).unwrap();
        let b = SimTopology::generate(TopologyKind::FatTree(6)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.switch_index(DatapathId(45)), Some(44));
        assert_eq!(a.switch_index(DatapathId(46)), None);
        assert_eq!(a.switch_index(DatapathId(0)), None);
    }
}
