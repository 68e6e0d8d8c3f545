//! Which packet-ins the rest of the controller hears about: decided in the switch's session,
//! without locks, so the core sees what it needs (new hosts, moved hosts, new addresses) and
//! not every ARP of a busy network. ARP for a service's VIP, which no host owns, is answered
//! here too ([`PuntFilter::vip_reply`]): the driver loop, which takes the core's lock, waits
//! behind the control tick, up to a second under a packet-in storm.
//!
//! Per switch, the last sighting published for each host (port, address, when, and where the
//! core placed the host then). An ARP frame (a request for a VIP too) is published when:
//! - its sender is new here, or was published from another port or with another address, or
//! - the core (its lock-free topology snapshot) places the sender elsewhere than here, and
//!   has changed its mind since the last sighting published here (another switch saw the
//!   host meanwhile: it moved back), or that sighting is [`PuntConfig::retry`] old (the core
//!   had not taken it yet, or never does: frames relayed across an inter-switch link), or
//! - the sighting is [`PuntConfig::refresh`] old, so the core's last-seen time stays current
//!   (hosts it has not heard of for its host timeout are forgotten).
//!
//! So a host that moves is told at once, except one that comes back to a switch and port that
//! published it while the core placed it where it is now (it left and returned within
//! `retry`): that is told within `retry`.
//!
//! LLDP: a probe of ours (our cookie) is published once per [`PuntConfig::probe_gap`] per
//! ingress port and sending port (each arrives once per probe interval); any other LLDP frame
//! (a neighbour's own agent, which the core only reads a System Name from, or a forged or
//! broken frame) once per `retry` per ingress port. A port flooded with LLDP therefore costs
//! the core a frame a second, not one per frame, and cannot crowd our probes out.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use foldhash::fast::RandomState;

use prescient_southbound::openflow::wire::{DatapathId, MacAddr, PacketOut, PortNo};
use prescient_topology::{DeviceId, DiscoveryConfig, LldpProbe, PortRef};

use crate::core::SharedCore;
use crate::proxy_arp;

/// How often a host the core already knows, or an LLDP frame, is published again.
#[derive(Debug, Clone, Copy)]
pub struct PuntConfig {
    /// A host the core places here is published again after this long (its last-seen time).
    pub refresh: Duration,
    /// A host the core places elsewhere is published again after this long; so is another
    /// LLDP frame on a port after one that was not our probe.
    pub retry: Duration,
    /// The cookie our LLDP probes carry.
    pub probe_cookie: u64,
    /// Shortest time between two probes of ours published from one sending port to one port.
    pub probe_gap: Duration,
}

impl PuntConfig {
    /// Refresh at a quarter of the host timeout (at most a minute), retry after a second,
    /// probes from one sending port at most four times per probe interval.
    pub fn for_discovery(discovery: &DiscoveryConfig) -> Self {
        let minute = Duration::from_secs(60);
        PuntConfig {
            refresh: discovery
                .host_timeout
                .map_or(minute, |t| (t / 4).min(minute)),
            retry: Duration::from_secs(1),
            probe_cookie: discovery.cookie,
            probe_gap: discovery.probe_interval / 4,
        }
    }
}

impl Default for PuntConfig {
    fn default() -> Self {
        PuntConfig::for_discovery(&DiscoveryConfig::default())
    }
}

/// The lock-free view of the core every session's filter reads, and its settings.
#[derive(Clone)]
pub struct PuntPolicy {
    core: Arc<SharedCore>,
    config: PuntConfig,
}

impl std::fmt::Debug for PuntPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PuntPolicy")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PuntPolicy {
    /// Filters against `core`'s snapshot and VIPs.
    pub fn new(core: Arc<SharedCore>, config: PuntConfig) -> Self {
        PuntPolicy { core, config }
    }

    /// A filter for switch `dpid` remembering at most `max_hosts` sightings.
    pub fn filter(&self, dpid: DatapathId, max_hosts: usize) -> PuntFilter {
        PuntFilter {
            policy: self.clone(),
            device: DeviceId::openflow(dpid.0),
            max_hosts,
            seen: HashMap::default(),
            lldp: HashMap::default(),
            guard_generation: 0,
            blocked: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Sighting {
    port: PortNo,
    ip: Option<Ipv4Addr>,
    at: Instant,
    /// Where the core placed the host when this was published.
    core_said: Option<PortRef>,
}

/// One switch's filter.
#[derive(Debug)]
pub struct PuntFilter {
    policy: PuntPolicy,
    device: DeviceId,
    max_hosts: usize,
    seen: HashMap<MacAddr, Sighting, RandomState>,
    /// When an LLDP frame was last published, by ingress port and, for our probes, sender.
    lldp: HashMap<(PortNo, Option<PortRef>), Instant, RandomState>,
    /// The core's flood guard generation `blocked` was read at.
    guard_generation: u64,
    /// This switch's ports the flood guard blocks, sorted.
    blocked: Vec<u32>,
}

/// Most LLDP publications remembered per switch (ingress ports times probing neighbours);
/// past it the memory starts over, costing one extra publication each.
const MAX_LLDP_SOURCES: usize = 4096;

impl PuntFilter {
    /// Whether the ARP `frame` (Ethernet included) from `src`, arrived on `port`, goes to the
    /// rest of the controller. Reads no lock; never panics on a short or odd frame.
    pub fn arp(&mut self, frame: &[u8], src: MacAddr, port: PortNo, now: Instant) -> bool {
        let ip = frame
            .get(28..32)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(Ipv4Addr::from)
            .filter(|ip| !ip.is_unspecified());
        self.sighting(src, ip, port, now)
    }

    /// The answer to `frame` if it is an ARP request for a service's VIP: the reply saying the
    /// VIP is at its logical MAC (the balancing rule rewrites that to a backend's), out of
    /// `port`, the one the request came in by. Reads no lock; never panics on an odd frame.
    pub fn vip_reply(&self, frame: &[u8], port: PortNo) -> Option<PacketOut> {
        let asked = proxy_arp::requested(frame)?;
        let mac = self.policy.core.vip_mac(asked)?;
        let reply = proxy_arp::reply(frame, mac)?;
        Some(PacketOut::to_port(port, Bytes::from(reply)))
    }

    /// Whether the LLDP `frame` (Ethernet included) arrived on `port` goes to the rest of the
    /// controller (module docs). Reads no lock; never panics on a short or odd frame.
    pub fn lldp(&mut self, frame: &[u8], port: PortNo, now: Instant) -> bool {
        let cfg = self.policy.config;
        let ours = LldpProbe::parse(frame)
            .ok()
            .filter(|p| p.signature.is_some_and(|s| s.cookie == cfg.probe_cookie));
        let (sender, gap) = match ours {
            Some(p) => (Some(PortRef::new(p.chassis, p.port)), cfg.probe_gap),
            None => (None, cfg.retry),
        };
        let key = (port, sender);
        if self
            .lldp
            .get(&key)
            .is_some_and(|at| now.saturating_duration_since(*at) < gap)
        {
            return false;
        }
        if self.lldp.len() >= MAX_LLDP_SOURCES && !self.lldp.contains_key(&key) {
            self.lldp.clear();
        }
        self.lldp.insert(key, now);
        true
    }

    /// Whether a frame from host `mac` (address `ip`, if it says) on `port` is news to the core.
    pub fn sighting(
        &mut self,
        mac: MacAddr,
        ip: Option<Ipv4Addr>,
        port: PortNo,
        now: Instant,
    ) -> bool {
        let here = PortRef::new(self.device, prescient_topology::PortNo(port.0));
        let core_says = self
            .policy
            .core
            .host_location(prescient_topology::MacAddr(mac.0));
        let cfg = self.policy.config;
        let news = match self.seen.get(&mac) {
            Some(s) if s.port == port && (ip.is_none() || ip == s.ip) => {
                let age = now.saturating_duration_since(s.at);
                if core_says == Some(here) {
                    age >= cfg.refresh
                } else {
                    core_says != s.core_said || age >= cfg.retry
                }
            }
            _ => true,
        };
        if news {
            if self.seen.len() >= self.max_hosts && !self.seen.contains_key(&mac) {
                // Bounded like the MAC table: forgetting costs one extra publication per host.
                self.seen.clear();
            }
            let ip = ip.or(self
                .seen
                .get(&mac)
                .filter(|s| s.port == port)
                .and_then(|s| s.ip));
            self.seen.insert(
                mac,
                Sighting {
                    port,
                    ip,
                    at: now,
                    core_said: core_says,
                },
            );
        }
        news
    }

    /// Whether the flood guard blocks `port`. A frame (other than LLDP) that reaches the
    /// controller through it slipped past a drop rule not yet in force on the switch, and must
    /// be dropped as the rule would have: learning its sender there or flooding it loops it.
    /// One atomic load while the guard is unchanged.
    pub fn blocked(&mut self, port: PortNo) -> bool {
        let generation = self.policy.core.flood_guard_generation();
        if generation != self.guard_generation {
            self.blocked = self.policy.core.flood_guard_ports(self.device.id);
            self.guard_generation = generation;
        }
        !self.blocked.is_empty() && self.blocked.binary_search(&port.0).is_ok()
    }

    /// Forgets the sightings on `port` (it went down or away: the core forgets its hosts).
    pub fn forget_port(&mut self, port: PortNo) {
        self.seen.retain(|_, s| s.port != port);
    }
}

#[cfg(test)]
mod tests;
