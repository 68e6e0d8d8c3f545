//! Which packet-ins the rest of the controller hears about: decided in the switch's session,
//! without locks, so the core sees what it needs (new hosts, moved hosts, new addresses, ARP
//! for service VIPs) and not every ARP of a busy network.
//!
//! Per switch, the last sighting published for each host (port, address, when, and where the
//! core placed the host then). An ARP frame is published when:
//! - it asks for a service's VIP (the proxy-ARP answer is due every time), or
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

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use foldhash::fast::RandomState;

use prescient_southbound::openflow::wire::{DatapathId, MacAddr, PortNo};
use prescient_topology::{DeviceId, PortRef};

use crate::core::SharedCore;

/// How often a host the core already knows is published again.
#[derive(Debug, Clone, Copy)]
pub struct PuntConfig {
    /// A host the core places here is published again after this long (its last-seen time).
    pub refresh: Duration,
    /// A host the core places elsewhere is published again after this long.
    pub retry: Duration,
}

impl PuntConfig {
    /// Refresh at a quarter of the core's host timeout (at most a minute), retry after a second.
    pub fn for_host_timeout(host_timeout: Option<Duration>) -> Self {
        let minute = Duration::from_secs(60);
        PuntConfig {
            refresh: host_timeout.map_or(minute, |t| (t / 4).min(minute)),
            retry: Duration::from_secs(1),
        }
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
}

/// ARP operation codes (RFC 826).
const ARP_REQUEST: u16 = 1;

impl PuntFilter {
    /// Whether the ARP `frame` (Ethernet included) from `src`, arrived on `port`, goes to the
    /// rest of the controller. Reads no lock; never panics on a short or odd frame.
    pub fn arp(&mut self, frame: &[u8], src: MacAddr, port: PortNo, now: Instant) -> bool {
        let ip_at = |at: usize| {
            frame
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(Ipv4Addr::from)
        };
        let op = frame.get(20..22).map(|b| u16::from_be_bytes([b[0], b[1]]));
        let for_vip =
            op == Some(ARP_REQUEST) && ip_at(38).is_some_and(|ip| self.policy.core.is_vip(ip));
        let ip = ip_at(28).filter(|ip| !ip.is_unspecified());
        // Recorded either way: the core hears of the sender with the VIP request too.
        let news = self.sighting(src, ip, port, now);
        for_vip || news
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
            .snapshot()
            .host(prescient_topology::MacAddr(mac.0));
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

    /// Forgets the sightings on `port` (it went down or away: the core forgets its hosts).
    pub fn forget_port(&mut self, port: PortNo) {
        self.seen.retain(|_, s| s.port != port);
    }
}

#[cfg(test)]
mod tests;
