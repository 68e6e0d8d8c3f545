//! What one P4Runtime device running prescient.p4 should hold, computed from the topology, the
//! known hosts and the [`P4Plan`]. Pure: the driver diffs the result against the device.
//!
//! - Routes (`ipv4_lpm`): a /32 per known host address, out of the host's port on its own
//!   device, else the first hop of a least-cost path towards it. The fabric is L2-transparent:
//!   `forward` writes the destination host's MAC, and an identity `translate_src` entry per host
//!   (its own address and MAC) restores the source MAC that `forward` overwrote (translate_src
//!   runs after ipv4_lpm); a source with no such entry leaves with the egress port's MAC.
//! - Pins: a reservation's path and a steered path fix the route of their destination on the
//!   devices they cross (ipv4_lpm is keyed by destination only, so a pin moves all traffic to
//!   that host). Precedence is one total order — reservations by id, then steered paths, newest
//!   decision first — and a device takes the first valid pin crossing it. Following next hops
//!   therefore never loops: it only ever moves to a pin of equal or higher precedence, and along
//!   one pin it advances towards the host. A pin is valid while every link still exists, the
//!   links chain, and the last one ends at the host's device.
//! - Meters (`flow_meter`, see `desired/meters.rs`): every device on a policed (API)
//!   reservation's path meters exactly the traffic the reservation matches (a host pair's addresses, or a flow's
//!   5-tuple with its host ends' addresses) with a two-rate meter whose committed and peak
//!   rates are both the reservation: within it GREEN (at the reserved queue priority the driver
//!   fills in per target, see [`with_reserved_priority`]), above it RED and dropped — the
//!   semantics of the OpenFlow meter's drop band. Reservations of the same match add; a flow
//!   reservation is looked up before its pair's. A forecast reservation (not policed) gets the
//!   same entry with a peak no port reaches: within the forecast GREEN (the reserved queue),
//!   above it YELLOW (best effort), never RED; a match with a policed reservation is metered at
//!   the policed ones' sum alone, as on OpenFlow.
//! - Address translation (`translate_src`) and services (`service_select`, a one-shot action
//!   selector over the backends, weights at least 1) follow the core's translation actions on
//!   every device; a real translation of an address replaces its identity entry.
//!
//! - Pair counters (`pair_count`): one entry per (address of a host attached to the device,
//!   address of any other host), so every host pair is counted once, where it enters the
//!   fabric; the driver reads their direct counters into the pair series.
//!
//! Anything that cannot be realised (a host without a known IPv4 address, an unreachable host) is skipped and explained in `notes`; the next
//! computation retries it, so learning the address later is enough.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prescient_southbound::p4runtime::pipeconf::{Backend, FlowKey, Intent};
use prescient_topology::{DeviceId, LinkKey, MacAddr, PortRef, Snapshot, Subject, Timestamp};

use super::plan::{MeterPlan, P4Plan};
use crate::core::SharedCore;

mod meters;
pub use meters::{flow_priority, pair_meter_key};

/// Burst of a meter bucket: 100 ms of its rate, as the OpenFlow drop band's (a reservation
/// means the same on both protocols). With 10 ms, TCP paced at twice a policed 1 Mbit/s
/// reservation lost whole bursts and got 0.12 Mbit/s on BMv2; with 100 ms, 0.43-0.47...
const BURST_DIVISOR: i64 = 10;
/// ...never less than three full-size Ethernet frames (with FCS, as on OpenFlow), or a flow
/// staying under its rate would lose frames sent back to back...
const MIN_BURST_BYTES: i64 = 3 * 1518;
/// ...and never more than P4Runtime targets take: PI (BMv2's server) keeps bursts in 32 bits,
/// truncating or refusing anything larger.
const MAX_BURST_BYTES: i64 = u32::MAX as i64;
/// Peak rate of an unpoliced (forecast) reservation's meter, bytes/s: 1 Tbit/s, above any
/// port, so nothing turns RED. 100 ms of it (12.5 GB) does not fit a 32-bit burst, so its
/// bucket saturates at [`MAX_BURST_BYTES`] (4.3 GB): refilled at 1 Tbit/s, faster than any
/// port drains it, it still never turns RED.
const UNPOLICED_PEAK_BYTES_PER_S: i64 = 125_000_000_000;
/// Size of `pair_count`.
const PAIR_ENTRIES_MAX: usize = 4096;
/// `forward`'s port parameter is 9 bits wide.
const MAX_PORT: u32 = 511;

/// A known host as the routes need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    /// Where it is attached.
    pub at: PortRef,
    /// Its IPv4 addresses.
    pub ips: BTreeSet<Ipv4Addr>,
    /// Last packet seen from it (newest claim wins an address).
    pub last_seen: Timestamp,
    /// Capacity of its port, bits/s, when known.
    pub port_bps: Option<u64>,
}

/// The topology and the hosts, read once per reconciliation.
#[derive(Debug, Clone)]
pub struct Fabric {
    /// The topology snapshot.
    pub snapshot: Arc<Snapshot>,
    /// Hosts attached to up devices, by MAC.
    pub hosts: BTreeMap<MacAddr, HostEntry>,
}

impl Fabric {
    /// Reads the current snapshot and hosts from the core.
    pub fn read(core: &SharedCore) -> Self {
        // Read every quarter second: a held-back topology change comes with a later read.
        let snapshot = core.published_snapshot();
        let hosts = core.read(|c| {
            c.topology()
                .hosts()
                .filter(|h| snapshot.contains_device(h.at.device))
                .map(|h| {
                    let entry = HostEntry {
                        at: h.at,
                        ips: h.ips.clone(),
                        last_seen: h.last_seen,
                        port_bps: c.topology().port_capacity(h.at),
                    };
                    (h.mac, entry)
                })
                .collect()
        });
        Fabric { snapshot, hosts }
    }

    /// Which host owns each address: when two claim one, the one seen last (then the lower
    /// MAC), so every device picks the same.
    pub fn owners(&self) -> BTreeMap<Ipv4Addr, MacAddr> {
        let mut owners: BTreeMap<Ipv4Addr, MacAddr> = BTreeMap::new();
        for (mac, h) in &self.hosts {
            for ip in &h.ips {
                let keep = owners.get(ip).is_some_and(|other| {
                    self.hosts
                        .get(other)
                        .is_some_and(|o| o.last_seen >= h.last_seen)
                });
                if !keep {
                    owners.insert(*ip, *mac);
                }
            }
        }
        owners
    }

    /// Whether anything the computation reads differs (topology version, hosts' places and
    /// addresses); `last_seen` alone does not count unless it changes an address's owner.
    pub fn same_as(&self, other: &Fabric) -> bool {
        self.snapshot.version() == other.snapshot.version()
            && self.hosts.len() == other.hosts.len()
            && self
                .hosts
                .iter()
                .zip(&other.hosts)
                .all(|((m, a), (n, b))| m == n && a.at == b.at && a.ips == b.ips)
            && self.owners() == other.owners()
    }
}

/// The fabric as last read, shared by every device task so the core is read once per interval
/// however many devices there are; a generation number tells tasks whether it changed.
#[derive(Debug, Default)]
pub struct FabricCache {
    inner: Mutex<Option<Cached>>,
}

#[derive(Debug)]
struct Cached {
    read_at: tokio::time::Instant,
    generation: u64,
    fabric: Arc<Fabric>,
}

impl FabricCache {
    /// The fabric no older than `max_age`, and its generation (which increases only when
    /// [`Fabric::same_as`] says the content changed).
    pub fn get(
        &self,
        core: &SharedCore,
        now: tokio::time::Instant,
        max_age: Duration,
    ) -> (u64, Arc<Fabric>) {
        let mut cached = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cached.as_ref() {
            if now.saturating_duration_since(c.read_at) < max_age {
                return (c.generation, Arc::clone(&c.fabric));
            }
        }
        let fresh = Fabric::read(core);
        let (generation, fabric) = match cached.as_ref() {
            Some(c) if c.fabric.same_as(&fresh) => (c.generation, Arc::clone(&c.fabric)),
            Some(c) => (c.generation + 1, Arc::new(fresh)),
            None => (1, Arc::new(fresh)),
        };
        *cached = Some(Cached {
            read_at: now,
            generation,
            fabric: Arc::clone(&fabric),
        });
        (generation, fabric)
    }
}

/// Identity of one entry of the tables the driver owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKey {
    /// `ipv4_lpm` /32 of a host address.
    Route(Ipv4Addr),
    /// `flow_meter`: the match and its priority (both identify a ternary entry).
    Meter(FlowKey, i32),
    /// `translate_src` of a source address.
    Reverse(Ipv4Addr),
    /// `service_select` of a virtual address.
    Service(Ipv4Addr),
    /// `pair_count` (source, destination).
    Pair(Ipv4Addr, Ipv4Addr),
}

/// A device's desired entries and the reasons some could not be made.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceEntries {
    /// Entries by identity.
    pub entries: BTreeMap<EntryKey, Intent>,
    /// What was skipped and why, one line each.
    pub notes: BTreeSet<String>,
}

/// A stable, locally administered MAC for a P4 port (the source of routed frames whose sender
/// has no identity entry).
pub fn port_mac(device: u64, port: u32) -> MacAddr {
    let d = device.to_be_bytes();
    let p = port.to_be_bytes();
    MacAddr([0x02, d[6], d[7], p[2], p[3], 0x4b])
}

/// Bits/s to the bytes/s of a P4 meter, rounded up so a reservation is never under-served.
pub fn bytes_per_second(bps: u64) -> i64 {
    i64::try_from(bps.div_ceil(8)).unwrap_or(i64::MAX)
}

/// The bucket size for a meter rate, bytes: 100 ms of the rate, within [three frames, 2^32 - 1].
pub fn burst_bytes(rate_bytes_per_s: i64) -> i64 {
    (rate_bytes_per_s / BURST_DIVISOR).clamp(MIN_BURST_BYTES, MAX_BURST_BYTES)
}

/// `entries` with green metered traffic sent at queue `priority` (0 unless the target was
/// started with priority queues: BMv2 drops a packet whose priority has no queue).
pub fn with_reserved_priority(entries: &mut DeviceEntries, priority: u8) {
    for intent in entries.entries.values_mut() {
        if let Intent::MeterFlow {
            reserved_priority, ..
        } = intent
        {
            *reserved_priority = priority;
        }
    }
}

/// Everything `device` should hold.
pub fn device_entries(device: DeviceId, fabric: &Fabric, plan: &P4Plan) -> DeviceEntries {
    let ctx = Context::new(fabric, plan);
    let mut out = DeviceEntries::default();
    ctx.routes(device, &mut out);
    ctx.meters(device, &mut out);
    ctx.pairs(device, &mut out);
    ctx.services(&mut out);
    out
}

struct Context<'a> {
    fabric: &'a Fabric,
    plan: &'a P4Plan,
    owners: BTreeMap<Ipv4Addr, MacAddr>,
}

impl<'a> Context<'a> {
    fn new(fabric: &'a Fabric, plan: &'a P4Plan) -> Self {
        Context {
            fabric,
            plan,
            owners: fabric.owners(),
        }
    }

    /// A `pair_count` entry from every address of a host attached to `device` to every other
    /// host's address: each pair is counted once, where its source enters the fabric.
    fn pairs(&self, device: DeviceId, out: &mut DeviceEntries) {
        let local = self.owners.iter().filter(|(_, mac)| {
            self.fabric
                .hosts
                .get(mac)
                .is_some_and(|h| h.at.device == device)
        });
        let (mut counted, mut skipped) = (0usize, 0usize);
        for (src, smac) in local {
            for (dst, dmac) in &self.owners {
                if dmac == smac {
                    continue;
                }
                if counted == PAIR_ENTRIES_MAX {
                    skipped += 1;
                    continue;
                }
                counted += 1;
                out.entries.insert(
                    EntryKey::Pair(*src, *dst),
                    Intent::CountPair {
                        src: *src,
                        dst: *dst,
                    },
                );
            }
        }
        if skipped > 0 {
            out.notes.insert(format!(
                "{skipped} host pairs not counted on {device}: pair_count holds {PAIR_ENTRIES_MAX}"
            ));
        }
    }

    fn routes(&self, device: DeviceId, out: &mut DeviceEntries) {
        let snapshot = &self.fabric.snapshot;
        let pins = self.pins();
        let mut first_hops: BTreeMap<DeviceId, Option<PortRef>> = BTreeMap::new();
        for (ip, mac) in &self.owners {
            let Some(host) = self.fabric.hosts.get(mac) else {
                continue;
            };
            let pinned = pins
                .get(mac)
                .into_iter()
                .flatten()
                .find_map(|links| links.iter().find(|l| l.src.device == device))
                .map(|l| l.src);
            let port = if let Some(p) = pinned {
                Some(p)
            } else if host.at.device == device {
                Some(host.at)
            } else {
                *first_hops.entry(host.at.device).or_insert_with(|| {
                    snapshot
                        .shortest_path(device, host.at.device)
                        .ok()
                        .and_then(|p| p.links.first().map(|l| l.src))
                })
            };
            let Some(port) = port else {
                out.notes
                    .insert(format!("no path from {device} to host {mac} ({ip})"));
                continue;
            };
            let Some(port_no) = u16::try_from(port.port.0)
                .ok()
                .filter(|p| u32::from(*p) <= MAX_PORT)
            else {
                out.notes.insert(format!(
                    "port {} of {device} does not fit prescient.p4's 9-bit port; no route to {ip}",
                    port.port.0
                ));
                continue;
            };
            out.entries.insert(
                EntryKey::Route(*ip),
                Intent::ForwardToPort {
                    dst: *ip,
                    prefix_len: 32,
                    port: port_no,
                    src_mac: port_mac(device.id, port.port.0).0,
                    dst_mac: mac.0,
                },
            );
            out.entries.insert(
                EntryKey::Reverse(*ip),
                Intent::TranslateReverse {
                    physical_ip: *ip,
                    logical_ip: *ip,
                    logical_mac: mac.0,
                },
            );
        }
    }

    /// Reverse translations (replacing the identity entry of their address) and services.
    fn services(&self, out: &mut DeviceEntries) {
        for (physical, t) in self.plan.translations() {
            out.entries.insert(
                EntryKey::Reverse(*physical),
                Intent::TranslateReverse {
                    physical_ip: *physical,
                    logical_ip: t.logical_ip,
                    logical_mac: t.logical_mac.0,
                },
            );
        }
        // Later hops' `forward` overwrites the source MAC again: restore the service's MAC
        // there too, unless that address already has an entry of its own.
        for t in self.plan.translations().values() {
            out.entries
                .entry(EntryKey::Reverse(t.logical_ip))
                .or_insert(Intent::TranslateReverse {
                    physical_ip: t.logical_ip,
                    logical_ip: t.logical_ip,
                    logical_mac: t.logical_mac.0,
                });
        }
        for (vip, backends) in self.plan.services() {
            let backends = backends
                .iter()
                .map(|b| Backend {
                    ip: b.ip,
                    mac: b.mac.0,
                    weight: i32::from(b.weight.max(1)),
                })
                .collect();
            out.entries.insert(
                EntryKey::Service(*vip),
                Intent::ServiceBackends {
                    vip: *vip,
                    backends,
                },
            );
        }
    }

    /// Valid pins per destination host, in precedence order.
    fn pins(&self) -> BTreeMap<MacAddr, Vec<Vec<LinkKey>>> {
        let mut pins: BTreeMap<MacAddr, Vec<Vec<LinkKey>>> = BTreeMap::new();
        for m in self.plan.meters().values() {
            let Some(dst) = self.destination(&m.subject) else {
                continue;
            };
            // A reservation ending on the host's own switch also lists the host's port.
            let host_port = self.fabric.hosts.get(&dst).map(|h| h.at);
            let links: Option<Vec<LinkKey>> = m
                .ports
                .iter()
                .filter(|p| Some(**p) != host_port)
                .map(|p| self.fabric.snapshot.link_from(*p))
                .collect();
            if let Some(links) = links.filter(|l| self.valid_pin(dst, l)) {
                pins.entry(dst).or_default().push(links);
            }
        }
        let mut steered: Vec<_> = self.plan.steered().iter().collect();
        steered.sort_by_key(|(_, s)| std::cmp::Reverse(s.decision));
        for ((_, dst), s) in steered {
            if self.valid_pin(*dst, &s.links) {
                pins.entry(*dst).or_default().push(s.links.clone());
            }
        }
        pins
    }

    fn destination(&self, subject: &Subject) -> Option<MacAddr> {
        match subject {
            Subject::HostPair { dst, .. } => Some(*dst),
            // The host of its destination address, else the host the reservation ends at.
            Subject::Flow(f) => f
                .dst_ip
                .and_then(|ip| self.owners.get(&ip).copied())
                .or(f.dst_mac),
        }
    }

    fn valid_pin(&self, dst: MacAddr, links: &[LinkKey]) -> bool {
        let Some(host) = self.fabric.hosts.get(&dst) else {
            return false;
        };
        let exists = links
            .iter()
            .all(|l| self.fabric.snapshot.link_from(l.src) == Some(*l));
        let chained = links.windows(2).all(|w| w[0].dst.device == w[1].src.device);
        let ends = links.last().is_some_and(|l| l.dst.device == host.at.device);
        exists && chained && ends
    }
}

#[cfg(test)]
mod tests;
