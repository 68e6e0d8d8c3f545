//! The mutable topology: a sans-IO state machine fed southbound events, each stamped with `now`,
//! returning what changed. Readers get immutable [`Snapshot`]s through an `ArcSwap`, so path
//! queries never block the writer.
//!
//! Invariants:
//! - every link joins two existing, up ports of up devices (port/device down removes links at once);
//! - a host is attached only to an edge port: a port that is an end of no link;
//! - `port_links` indexes exactly the keys of `links` by both of their ends.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use thiserror::Error;

use crate::ids::{DeviceId, LinkKey, MacAddr, PortNo, PortRef, Timestamp};
use crate::lldp::{LldpError, LldpProbe, ProbeSignature};
use crate::model::{Device, Host, Link, LinkRemoval, Port, TopologyConfig, TopologyEvent};
use crate::snapshot::{Snapshot, SnapshotLink};
use port_links::PortLinks;

mod port_links;

/// Earlier places remembered per host: a frame flooded before discovery can cross a few
/// unknown links, each crossing looking like a move.
const TRAIL_MAX: usize = 4;

/// Why an event could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TopologyError {
    /// The device is unknown or down.
    #[error("device {0} is unknown or down")]
    DeviceUnavailable(DeviceId),
    /// The port is unknown, down, or a reserved number.
    #[error("port {0} is unknown, down or not a physical port")]
    PortUnavailable(PortRef),
    /// An LLDP probe claims to come from the port it arrived on.
    #[error("LLDP probe received at {0} claims to come from the same port")]
    SelfLoop(PortRef),
    /// The frame is not a valid probe.
    #[error("bad LLDP frame received at {at}: {source}")]
    BadProbe {
        /// Receiving port.
        at: PortRef,
        /// Parse error.
        source: LldpError,
    },
    /// A valid LLDP frame that another controller (or no controller) sent.
    #[error("LLDP frame received at {at} is not ours (cookie {cookie:?})")]
    ForeignProbe {
        /// Receiving port.
        at: PortRef,
        /// Its cookie, if it had our TLV at all.
        cookie: Option<u64>,
    },
    /// A host address that cannot be a unicast host.
    #[error("host MAC {0} is a group address")]
    GroupMac(MacAddr),
    /// The all-zero MAC, which no host sends from.
    #[error("host MAC {0} is all zeros, which names no host")]
    ZeroMac(MacAddr),
}

/// An LLDP frame to send out of one port (as a packet-out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The port to send it out of.
    pub port: PortRef,
    /// The Ethernet frame.
    pub frame: Vec<u8>,
}

/// A cheap, cloneable handle other threads use to read the latest published snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotReader(Arc<ArcSwap<Snapshot>>);

impl SnapshotReader {
    /// The latest published snapshot.
    pub fn load(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    /// Where the latest snapshot places host `mac`. Borrows the snapshot instead of cloning its
    /// `Arc`, so threads reading it at a high rate do not contend on one reference count.
    pub fn host(&self, mac: MacAddr) -> Option<PortRef> {
        self.0.load().host(mac)
    }
}

/// The live topology.
#[derive(Debug)]
pub struct Topology {
    config: TopologyConfig,
    devices: BTreeMap<DeviceId, Device>,
    links: BTreeMap<LinkKey, Link>,
    port_links: BTreeMap<PortRef, PortLinks>,
    hosts: BTreeMap<MacAddr, Host>,
    /// Where each host that moved was before, oldest first (at most [`TRAIL_MAX`], none
    /// older than the host timeout): see [`Topology::hosts_off_new_link`].
    trails: BTreeMap<MacAddr, Vec<Host>>,
    /// Ports a probe arrived at over a new link while no link is known to leave them: probed
    /// at the next [`Topology::probes`] instead of a whole probe interval later (their own
    /// probe went out before the neighbour was connected to hear it).
    reprobe: BTreeSet<PortRef>,
    last_event: Timestamp,
    version: u64,
    dirty: AtomicBool,
    published: Arc<ArcSwap<Snapshot>>,
}

/// The lower bound of a range that starts after `after` (at the beginning when `None`).
fn exclusive<K>(after: Option<K>) -> Bound<K> {
    after.map_or(Bound::Unbounded, Bound::Excluded)
}

impl Topology {
    /// An empty topology.
    pub fn new(config: TopologyConfig) -> Self {
        Topology {
            config,
            devices: BTreeMap::new(),
            links: BTreeMap::new(),
            port_links: BTreeMap::new(),
            hosts: BTreeMap::new(),
            trails: BTreeMap::new(),
            reprobe: BTreeSet::new(),
            last_event: Timestamp(0),
            version: 0,
            dirty: AtomicBool::new(false),
            published: Arc::new(ArcSwap::from_pointee(Snapshot::empty())),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TopologyConfig {
        &self.config
    }

    /// Replaces the configuration (capacities and costs apply to the next snapshot).
    pub fn set_config(&mut self, config: TopologyConfig) {
        self.config = config;
        self.touch(self.last_event);
    }

    /// All devices, up or down.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.values()
    }

    /// All discovered links.
    pub fn links(&self) -> impl Iterator<Item = &Link> {
        self.links.values()
    }

    /// Devices in id order, from the first after `after` (from the first of all when `None`):
    /// a page of a long list starts where the last one ended, whatever came or went meanwhile.
    pub fn devices_after(&self, after: Option<DeviceId>) -> impl Iterator<Item = &Device> {
        self.devices
            .range((exclusive(after), Bound::Unbounded))
            .map(|(_, d)| d)
    }

    /// Links in key order, from the first after `after`.
    pub fn links_after(&self, after: Option<LinkKey>) -> impl Iterator<Item = &Link> {
        self.links
            .range((exclusive(after), Bound::Unbounded))
            .map(|(_, l)| l)
    }

    /// Hosts in MAC order, from the first after `after`.
    pub fn hosts_after(&self, after: Option<MacAddr>) -> impl Iterator<Item = &Host> {
        self.hosts
            .range((exclusive(after), Bound::Unbounded))
            .map(|(_, h)| h)
    }

    /// How many devices are known, up or down.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// How many links are discovered.
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// One discovered link.
    pub fn link(&self, key: LinkKey) -> Option<&Link> {
        self.links.get(&key)
    }

    /// How many hosts are known.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// All known hosts.
    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts.values()
    }

    /// One host by MAC.
    pub fn host(&self, mac: MacAddr) -> Option<&Host> {
        self.hosts.get(&mac)
    }

    /// Capacity of a port in bits/s after configuration overrides; `None` for an unknown port.
    pub fn port_capacity(&self, port: PortRef) -> Option<u64> {
        let p = self.devices.get(&port.device)?.ports.get(&port.port)?;
        Some(self.config.capacity.resolve(port, p.reported_speed_bps))
    }

    /// Capacity of a link: the smaller of its two ports.
    pub fn link_capacity(&self, link: LinkKey) -> Option<u64> {
        Some(
            self.port_capacity(link.src)?
                .min(self.port_capacity(link.dst)?),
        )
    }

    fn touch(&mut self, now: Timestamp) {
        self.last_event = self.last_event.max(now);
        self.version += 1;
        self.dirty.store(true, Ordering::Release);
    }

    fn up_port(&self, port: PortRef) -> Result<&Port, TopologyError> {
        let dev = self
            .devices
            .get(&port.device)
            .filter(|d| d.up)
            .ok_or(TopologyError::DeviceUnavailable(port.device))?;
        dev.ports
            .get(&port.port)
            .filter(|p| p.up && p.no.is_physical())
            .ok_or(TopologyError::PortUnavailable(port))
    }

    /// A device connected, with its ports. A reconnect replaces the port list.
    pub fn device_up(
        &mut self,
        now: Timestamp,
        device: DeviceId,
        ports: Vec<Port>,
    ) -> Vec<TopologyEvent> {
        let mut events = Vec::new();
        let mut name = self.config.names.get(&device).cloned();
        if let Some(old) = self.devices.get(&device) {
            name = old.name.clone();
            if old.up {
                // A reconnect without a disconnect: links through it may have changed meanwhile.
                events.extend(self.remove_device_links(device, LinkRemoval::DeviceDown));
            }
        }
        let ports = ports.into_iter().map(|p| (p.no, p)).collect();
        self.devices.insert(
            device,
            Device {
                id: device,
                up: true,
                name,
                ports,
                next_probe: now,
            },
        );
        events.push(TopologyEvent::DeviceUp { device });
        self.touch(now);
        events
    }

    /// A device disconnected: its links and hosts go at once; the record stays, marked down.
    pub fn device_down(&mut self, now: Timestamp, device: DeviceId) -> Vec<TopologyEvent> {
        let Some(dev) = self.devices.get_mut(&device) else {
            return Vec::new();
        };
        if !dev.up {
            return Vec::new();
        }
        dev.up = false;
        let mut events = self.remove_device_links(device, LinkRemoval::DeviceDown);
        events.extend(self.remove_hosts_where(|h| h.at.device == device));
        events.push(TopologyEvent::DeviceDown { device });
        self.touch(now);
        events
    }

    /// A port appeared on a device.
    pub fn port_added(
        &mut self,
        now: Timestamp,
        device: DeviceId,
        port: Port,
    ) -> Result<Vec<TopologyEvent>, TopologyError> {
        let at = PortRef::new(device, port.no);
        let dev = self
            .devices
            .get_mut(&device)
            .filter(|d| d.up)
            .ok_or(TopologyError::DeviceUnavailable(device))?;
        dev.ports.insert(port.no, port);
        dev.next_probe = dev.next_probe.min(now);
        self.touch(now);
        Ok(vec![TopologyEvent::PortAdded { port: at }])
    }

    /// A port changed state or speed; down removes its links and hosts at once.
    pub fn port_changed(
        &mut self,
        now: Timestamp,
        device: DeviceId,
        port: Port,
    ) -> Result<Vec<TopologyEvent>, TopologyError> {
        let at = PortRef::new(device, port.no);
        let up = port.up;
        let dev = self
            .devices
            .get_mut(&device)
            .filter(|d| d.up)
            .ok_or(TopologyError::DeviceUnavailable(device))?;
        let was_up = dev.ports.get(&port.no).is_some_and(|p| p.up);
        dev.ports.insert(port.no, port);
        if up && !was_up {
            dev.next_probe = dev.next_probe.min(now);
        }
        let mut events = Vec::new();
        if !up {
            events.extend(self.remove_port_links(at, LinkRemoval::PortDown));
            events.extend(self.remove_hosts_where(|h| h.at == at));
        }
        events.push(TopologyEvent::PortChanged { port: at, up });
        self.touch(now);
        Ok(events)
    }

    /// A port disappeared.
    pub fn port_removed(&mut self, now: Timestamp, port: PortRef) -> Vec<TopologyEvent> {
        let Some(dev) = self.devices.get_mut(&port.device) else {
            return Vec::new();
        };
        if dev.ports.remove(&port.port).is_none() {
            return Vec::new();
        }
        let mut events = self.remove_port_links(port, LinkRemoval::PortDown);
        events.extend(self.remove_hosts_where(|h| h.at == port));
        events.push(TopologyEvent::PortRemoved { port });
        self.touch(now);
        events
    }

    /// An LLDP probe sent out of `from` arrived at `at`: the link `from → at` exists.
    pub fn lldp_received(
        &mut self,
        now: Timestamp,
        at: PortRef,
        from: PortRef,
    ) -> Result<Vec<TopologyEvent>, TopologyError> {
        self.lldp_link(now, at, from, None)
    }

    /// A packet-in carrying an LLDP frame arrived at `at`: parse it, check it is ours, learn the
    /// link and its one-way latency.
    pub fn lldp_frame_received(
        &mut self,
        now: Timestamp,
        at: PortRef,
        frame: &[u8],
    ) -> Result<Vec<TopologyEvent>, TopologyError> {
        let probe = match LldpProbe::parse(frame) {
            Ok(probe) => probe,
            Err(_) if self.named_by_neighbour(at, frame) => return Ok(Vec::new()),
            Err(source) => return Err(TopologyError::BadProbe { at, source }),
        };
        let cookie = probe.signature.map(|s| s.cookie);
        let Some(sig) = probe
            .signature
            .filter(|s| s.cookie == self.config.discovery.cookie)
        else {
            if self.named_by_neighbour(at, frame) {
                return Ok(Vec::new());
            }
            return Err(TopologyError::ForeignProbe { at, cookie });
        };
        let latency = (now >= sig.sent_at).then(|| now.since(sig.sent_at));
        self.lldp_link(now, at, PortRef::new(probe.chassis, probe.port), latency)
    }

    /// A frame from the device at the far end of `at`'s link, sent by its own LLDP agent (a P4
    /// switch's operating system: P4Runtime names no device) with a System Name: that device
    /// takes the name, unless configured or (an OpenFlow switch, which names itself) already
    /// named. Whether it did.
    fn named_by_neighbour(&mut self, at: PortRef, frame: &[u8]) -> bool {
        let Some(name) = crate::lldp::system_name(frame) else {
            return false;
        };
        let Some(from) = self
            .port_links
            .get(&at)
            .and_then(|keys| keys.iter().find(|k| k.dst == at))
            .map(|k| k.src.device)
        else {
            return false;
        };
        let named = self.devices.get(&from).is_some_and(|d| d.name.is_some());
        if named && from.protocol != crate::ids::Protocol::P4Runtime {
            return false;
        }
        self.set_device_name(from, name)
    }

    fn lldp_link(
        &mut self,
        now: Timestamp,
        at: PortRef,
        from: PortRef,
        latency: Option<std::time::Duration>,
    ) -> Result<Vec<TopologyEvent>, TopologyError> {
        if at == from {
            return Err(TopologyError::SelfLoop(at));
        }
        self.up_port(at)?;
        self.up_port(from)?;
        let key = LinkKey::new(from, at);
        if let Some(link) = self.links.get_mut(&key) {
            // A refresh changes no structure: no new snapshot needed.
            link.last_seen = link.last_seen.max(now);
            link.latency = latency.or(link.latency);
            return Ok(Vec::new());
        }
        self.links.insert(
            key,
            Link {
                key,
                discovered_at: now,
                last_seen: now,
                latency,
            },
        );
        self.port_links.entry(from).or_default().insert(key);
        self.port_links.entry(at).or_default().insert(key);
        // `from` needs no second probe now; `at` does while nothing is known to leave it.
        self.reprobe.remove(&from);
        if !self.leaves(at) {
            self.reprobe.insert(at);
        }
        let mut events = vec![TopologyEvent::LinkAdded { link: key }];
        events.extend(self.hosts_off_new_link(now, [at, from]));
        self.touch(now);
        Ok(events)
    }

    /// A frame from `mac` (with source `ip`, if IPv4/ARP) arrived at `at`. Learned only at edge
    /// ports; a host seen at a new edge port has moved.
    pub fn host_seen(
        &mut self,
        now: Timestamp,
        mac: MacAddr,
        ip: Option<Ipv4Addr>,
        at: PortRef,
    ) -> Result<Vec<TopologyEvent>, TopologyError> {
        if mac.is_multicast() {
            return Err(TopologyError::GroupMac(mac));
        }
        if !mac.names_host() {
            return Err(TopologyError::ZeroMac(mac));
        }
        self.up_port(at)?;
        if self.port_links.contains_key(&at) {
            return Ok(Vec::new());
        }
        let mut events = Vec::new();
        match self.hosts.get_mut(&mac) {
            Some(host) if host.at == at => {
                host.last_seen = host.last_seen.max(now);
                if let Some(ip) = ip {
                    host.ips.insert(ip);
                }
                return Ok(events);
            }
            Some(host) => {
                events.push(TopologyEvent::HostMoved {
                    mac,
                    from: host.at,
                    to: at,
                });
                let trail = self.trails.entry(mac).or_default();
                if trail.len() == TRAIL_MAX {
                    trail.remove(0);
                }
                trail.push(host.clone());
                host.at = at;
                host.last_seen = now;
                host.ips.clear();
                host.ips.extend(ip);
            }
            None => {
                self.hosts.insert(
                    mac,
                    Host {
                        mac,
                        ips: ip.into_iter().collect(),
                        at,
                        last_seen: now,
                    },
                );
                events.push(TopologyEvent::HostAdded { mac, at });
            }
        }
        self.touch(now);
        Ok(events)
    }

    /// Names a known device as it reports itself (kept across its reconnects); a name from the
    /// configuration stays. False for an unknown device.
    pub fn set_device_name(&mut self, device: DeviceId, name: String) -> bool {
        let configured = self.config.names.get(&device);
        match self.devices.get_mut(&device) {
            Some(d) => {
                d.name = Some(configured.cloned().unwrap_or(name));
                true
            }
            None => false,
        }
    }

    /// LLDP probes due at `now`: one per up physical port of every device whose interval
    /// elapsed, and one per port still waiting to be probed again (see `reprobe`): a link whose
    /// far end connected after the near end's probe is then found within a probe poll instead
    /// of a probe interval (the second round of a network connecting for a second or more).
    pub fn probes(&mut self, now: Timestamp) -> Vec<Probe> {
        let interval = self.config.discovery.probe_interval;
        let cookie = self.config.discovery.cookie;
        let ttl =
            u16::try_from(self.config.discovery.link_timeout.as_secs().max(1)).unwrap_or(u16::MAX);
        let probe = |dev: DeviceId, port: &Port| Probe {
            port: PortRef::new(dev, port.no),
            frame: LldpProbe {
                src_mac: port.mac,
                chassis: dev,
                port: port.no,
                ttl_secs: ttl,
                signature: Some(ProbeSignature {
                    cookie,
                    sent_at: now,
                }),
            }
            .emit(),
        };
        let mut out = Vec::new();
        let mut probed = BTreeSet::new();
        for dev in self
            .devices
            .values_mut()
            .filter(|d| d.up && d.next_probe <= now)
        {
            dev.next_probe = now.plus(interval);
            probed.insert(dev.id);
            for port in dev.ports.values().filter(|p| p.up && p.no.is_physical()) {
                out.push(probe(dev.id, port));
            }
        }
        for at in std::mem::take(&mut self.reprobe) {
            if probed.contains(&at.device) || self.leaves(at) {
                continue;
            }
            let port = self
                .devices
                .get(&at.device)
                .filter(|d| d.up)
                .and_then(|d| d.ports.get(&at.port))
                .filter(|p| p.up && p.no.is_physical());
            if let Some(port) = port {
                out.push(probe(at.device, port));
            }
        }
        out
    }

    /// Whether a known link leaves `port`.
    fn leaves(&self, port: PortRef) -> bool {
        self.port_links
            .get(&port)
            .is_some_and(|keys| keys.iter().any(|k| k.src == port))
    }

    /// Removes links not refreshed within the link timeout and hosts past the host timeout.
    pub fn expire(&mut self, now: Timestamp) -> Vec<TopologyEvent> {
        let timeout = self.config.discovery.link_timeout;
        let stale: Vec<LinkKey> = self
            .links
            .values()
            .filter(|l| now.since(l.last_seen) > timeout)
            .map(|l| l.key)
            .collect();
        let mut events: Vec<TopologyEvent> = stale
            .into_iter()
            .filter_map(|k| self.remove_link(k, LinkRemoval::Expired))
            .collect();
        if let Some(host_timeout) = self.config.discovery.host_timeout {
            events.extend(self.remove_hosts_where(|h| now.since(h.last_seen) > host_timeout));
        }
        let host_timeout = self.config.discovery.host_timeout;
        self.trails.retain(|_, trail| {
            trail.retain(|h| host_timeout.is_none_or(|t| now.since(h.last_seen) <= t));
            !trail.is_empty()
        });
        if !events.is_empty() {
            self.touch(now);
        }
        events
    }

    fn remove_link(&mut self, key: LinkKey, reason: LinkRemoval) -> Option<TopologyEvent> {
        self.links.remove(&key)?;
        for end in [key.src, key.dst] {
            if let Some(set) = self.port_links.get_mut(&end) {
                set.remove(&key);
                if set.is_empty() {
                    self.port_links.remove(&end);
                }
            }
        }
        Some(TopologyEvent::LinkRemoved { link: key, reason })
    }

    fn remove_port_links(&mut self, port: PortRef, reason: LinkRemoval) -> Vec<TopologyEvent> {
        let keys: Vec<LinkKey> = self
            .port_links
            .get(&port)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        keys.into_iter()
            .filter_map(|k| self.remove_link(k, reason))
            .collect()
    }

    fn remove_device_links(&mut self, device: DeviceId, reason: LinkRemoval) -> Vec<TopologyEvent> {
        let lo = PortRef::new(device, PortNo(0));
        let hi = PortRef::new(device, PortNo(u32::MAX));
        let ports: Vec<PortRef> = self.port_links.range(lo..=hi).map(|(p, _)| *p).collect();
        ports
            .into_iter()
            .flat_map(|p| self.remove_port_links(p, reason))
            .collect()
    }

    /// Hosts "seen" at `ports`, the ends of a link just found (or found again after it
    /// expired), were really frames from the neighbouring switch while the link was not known:
    /// ARP the controller flooded before discovery, or routed traffic (a P4 switch reports the
    /// first frame of each host at each port). Each goes back to the newest place it was seen
    /// before that is still an up edge port, unless that sighting is past the host timeout
    /// (the host would have aged out there); otherwise it is forgotten until it is seen again.
    /// Without this, a host that has gone quiet (its ARP answered) stayed unknown, and
    /// unrouted, for as long as it sent nothing the controller sees.
    fn hosts_off_new_link(&mut self, now: Timestamp, ports: [PortRef; 2]) -> Vec<TopologyEvent> {
        let window = self.config.discovery.host_timeout;
        let stranded: Vec<MacAddr> = self
            .hosts
            .values()
            .filter(|h| ports.contains(&h.at))
            .map(|h| h.mac)
            .collect();
        let mut events = Vec::new();
        for mac in stranded {
            let back = self.trails.get(&mac).and_then(|trail| {
                trail
                    .iter()
                    .rev()
                    .find(|h| {
                        window.is_none_or(|w| now.since(h.last_seen) <= w)
                            && !self.port_links.contains_key(&h.at)
                            && self.up_port(h.at).is_ok()
                    })
                    .cloned()
            });
            match (back, self.hosts.get_mut(&mac)) {
                (Some(before), Some(host)) => {
                    events.push(TopologyEvent::HostMoved {
                        mac,
                        from: host.at,
                        to: before.at,
                    });
                    host.at = before.at;
                    host.ips.extend(before.ips);
                    host.last_seen = host.last_seen.max(before.last_seen);
                }
                _ => events.extend(self.remove_hosts_where(|h| h.mac == mac)),
            }
        }
        events
    }

    fn remove_hosts_where(&mut self, pred: impl Fn(&Host) -> bool) -> Vec<TopologyEvent> {
        let gone: Vec<(MacAddr, PortRef)> = self
            .hosts
            .values()
            .filter(|h| pred(h))
            .map(|h| (h.mac, h.at))
            .collect();
        gone.into_iter()
            .map(|(mac, at)| {
                self.hosts.remove(&mac);
                self.trails.remove(&mac);
                TopologyEvent::HostRemoved { mac, at }
            })
            .collect()
    }

    /// The current immutable snapshot, rebuilt first if anything structural changed.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        if self.dirty.swap(false, Ordering::AcqRel) {
            self.published.store(Arc::new(self.build_snapshot()));
        }
        self.published.load_full()
    }

    /// Whether something structural changed since the last snapshot was built: the next
    /// [`Topology::snapshot`] rebuilds it.
    pub fn snapshot_pending(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    /// A handle for other threads; it sees what [`Topology::snapshot`] last published.
    pub fn reader(&self) -> SnapshotReader {
        SnapshotReader(Arc::clone(&self.published))
    }

    fn build_snapshot(&self) -> Snapshot {
        let devices: Vec<DeviceId> = self
            .devices
            .values()
            .filter(|d| d.up)
            .map(|d| d.id)
            .collect();
        let links = self
            .links
            .keys()
            .map(|&key| {
                let capacity_bps = self.link_capacity(key).unwrap_or(0);
                SnapshotLink {
                    key,
                    capacity_bps,
                    cost: self.config.cost.cost(key, capacity_bps),
                }
            })
            .collect();
        let hosts = self.hosts.values().map(|h| (h.mac, h.at)).collect();
        Snapshot::build(self.last_event, self.version, devices, links, hosts)
    }
}

#[cfg(test)]
mod tests;
