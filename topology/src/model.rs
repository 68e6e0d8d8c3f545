//! The records the topology keeps (devices, ports, links, hosts), the events it reports and its
//! configuration. Plain data: the logic lives in `topology.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::Serialize;

use crate::ids::{DeviceId, LinkKey, MacAddr, PortNo, PortRef, Timestamp};

/// A port as the switch describes it (OpenFlow `ofp_port`, P4Runtime/gNMI interface).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port {
    /// Port number.
    pub no: PortNo,
    /// Interface name.
    pub name: String,
    /// Hardware address (source of our LLDP probes).
    pub mac: MacAddr,
    /// Link (carrier) and administrative state are both up.
    pub up: bool,
    /// Speed the switch reports, bits/s; `None` when it reports none (e.g. BMv2).
    pub reported_speed_bps: Option<u64>,
}

/// A switch and its ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// Identity.
    pub id: DeviceId,
    /// Connected to the controller.
    pub up: bool,
    /// The name people know it by (an Open vSwitch bridge's name), once the driver reported one.
    pub name: Option<String>,
    /// Ports by number.
    pub ports: BTreeMap<PortNo, Port>,
    /// When the next LLDP probes of this device are due.
    #[serde(skip)]
    pub(crate) next_probe: Timestamp,
}

/// A discovered directed link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Link {
    /// Its ends.
    pub key: LinkKey,
    /// First discovery.
    pub discovered_at: Timestamp,
    /// Last LLDP probe received over it.
    pub last_seen: Timestamp,
    /// One-way delay measured by our last probe (receive time minus send time).
    pub latency: Option<Duration>,
}

/// An end host learned from packet-ins at an edge port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Host {
    /// Its MAC address (identity).
    pub mac: MacAddr,
    /// IPv4 addresses seen with that MAC.
    pub ips: BTreeSet<Ipv4Addr>,
    /// Where it is attached.
    pub at: PortRef,
    /// Last packet seen from it.
    pub last_seen: Timestamp,
}

/// Why a link left the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkRemoval {
    /// One of its ports went down or was removed.
    PortDown,
    /// One of its devices disconnected.
    DeviceDown,
    /// No probe received within the link timeout.
    Expired,
}

/// What changed, as reported by every mutating method of [`crate::Topology`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TopologyEvent {
    /// A device connected (or reconnected).
    DeviceUp {
        /// Which.
        device: DeviceId,
    },
    /// A device disconnected.
    DeviceDown {
        /// Which.
        device: DeviceId,
    },
    /// A port appeared.
    PortAdded {
        /// Which.
        port: PortRef,
    },
    /// A port changed state or speed.
    PortChanged {
        /// Which.
        port: PortRef,
        /// Its new up state.
        up: bool,
    },
    /// A port disappeared.
    PortRemoved {
        /// Which.
        port: PortRef,
    },
    /// A link was discovered.
    LinkAdded {
        /// Which.
        link: LinkKey,
    },
    /// A link is gone.
    LinkRemoved {
        /// Which.
        link: LinkKey,
        /// Why.
        reason: LinkRemoval,
    },
    /// A host was learned.
    HostAdded {
        /// Its MAC.
        mac: MacAddr,
        /// Where.
        at: PortRef,
    },
    /// A host moved to another attachment point (the old one is dropped).
    HostMoved {
        /// Its MAC.
        mac: MacAddr,
        /// Old attachment.
        from: PortRef,
        /// New attachment.
        to: PortRef,
    },
    /// A host was forgotten (its port went down, became a link port, or it aged out).
    HostRemoved {
        /// Its MAC.
        mac: MacAddr,
        /// Its last attachment.
        at: PortRef,
    },
}

/// Port capacities: configuration overrides what switches report, for targets that report none
/// or report wrongly. Lookup order: per port, per device, reported speed, default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CapacityConfig {
    /// Used when nothing else gives a figure; `None` leaves such ports at zero capacity.
    pub default_bps: Option<u64>,
    /// Overrides for every port of a device.
    pub per_device: BTreeMap<DeviceId, u64>,
    /// Overrides for one port.
    pub per_port: BTreeMap<PortRef, u64>,
}

impl CapacityConfig {
    /// The capacity of `port` (bits/s) given what the switch reported.
    pub fn resolve(&self, port: PortRef, reported_bps: Option<u64>) -> u64 {
        self.per_port
            .get(&port)
            .or_else(|| self.per_device.get(&port.device))
            .copied()
            .or(reported_bps.filter(|&s| s > 0))
            .or(self.default_bps)
            .unwrap_or(0)
    }
}

/// How the cost of a link (for shortest paths) is derived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CostModel {
    /// Every link costs 1: fewest hops.
    HopCount,
    /// OSPF style: `reference_bps / capacity`, at least 1 (zero-capacity links cost `reference_bps`).
    InverseCapacity {
        /// The reference bandwidth.
        reference_bps: u64,
    },
}

/// Link cost configuration: a model plus per-link overrides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostConfig {
    /// The default model.
    pub model: CostModel,
    /// Explicit costs for some links (clamped to at least 1).
    pub per_link: BTreeMap<LinkKey, u64>,
}

impl Default for CostConfig {
    fn default() -> Self {
        CostConfig {
            model: CostModel::HopCount,
            per_link: BTreeMap::new(),
        }
    }
}

impl CostConfig {
    /// The cost of `link` given its capacity; always at least 1 so that paths have positive cost.
    pub fn cost(&self, link: LinkKey, capacity_bps: u64) -> u64 {
        if let Some(&c) = self.per_link.get(&link) {
            return c.max(1);
        }
        match self.model {
            CostModel::HopCount => 1,
            CostModel::InverseCapacity { reference_bps } => {
                // Zero capacity: as expensive as a 1 bit/s link.
                reference_bps
                    .checked_div(capacity_bps)
                    .unwrap_or(reference_bps)
                    .max(1)
            }
        }
    }
}

/// Link discovery and aging settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscoveryConfig {
    /// Time between two LLDP probes of the same device.
    pub probe_interval: Duration,
    /// A link not refreshed by a probe for this long is removed.
    pub link_timeout: Duration,
    /// A host not seen for this long is forgotten; `None` keeps hosts until their port goes.
    pub host_timeout: Option<Duration>,
    /// Our probes carry this cookie; probes with another one are ignored.
    pub cookie: u64,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            probe_interval: Duration::from_secs(5),
            link_timeout: Duration::from_secs(16),
            host_timeout: Some(Duration::from_secs(300)),
            cookie: 0x5052_4553_4349_454e,
        }
    }
}

/// Everything the topology is configured with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TopologyConfig {
    /// Discovery and aging.
    pub discovery: DiscoveryConfig,
    /// Port capacities.
    pub capacity: CapacityConfig,
    /// Link costs.
    pub cost: CostConfig,
    /// Names given by the operator (`[[devices]]`): they win over the names switches report.
    pub names: BTreeMap<DeviceId, String>,
}
