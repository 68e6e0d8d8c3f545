//! Identifiers and small value types shared by every part of the topology.
//!
//! Invariant: every identifier is `Copy`, totally ordered and hashable, so it can key maps and
//! make iteration order (and therefore every output of this crate) deterministic.

use std::fmt;

use serde::{Serialize, Serializer};

/// A point in time, in nanoseconds since an epoch the caller chooses (all inputs share it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The timestamp `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000))
    }

    /// The timestamp `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(ms.saturating_mul(1_000_000))
    }

    /// Nanoseconds since the epoch.
    pub const fn nanos(self) -> u64 {
        self.0
    }

    /// This timestamp moved forward by `d`, saturating at the end of time.
    pub fn plus(self, d: std::time::Duration) -> Self {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(nanos))
    }

    /// Time elapsed from `earlier` to `self`, zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// Which southbound protocol a device speaks; part of its identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// OpenFlow 1.3; the id is the datapath id.
    OpenFlow,
    /// P4Runtime; the id is the P4Runtime `device_id`.
    P4Runtime,
}

/// A switch: an OpenFlow datapath id or a P4Runtime device id, tagged with its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId {
    /// The protocol the id belongs to.
    pub protocol: Protocol,
    /// The datapath id or device id.
    pub id: u64,
}

impl DeviceId {
    /// An OpenFlow switch by datapath id.
    pub const fn openflow(dpid: u64) -> Self {
        DeviceId {
            protocol: Protocol::OpenFlow,
            id: dpid,
        }
    }

    /// A P4Runtime target by device id.
    pub const fn p4runtime(device_id: u64) -> Self {
        DeviceId {
            protocol: Protocol::P4Runtime,
            id: device_id,
        }
    }

    /// Parses the text form written by `Display` (`of:<16 hex digits>` or `p4:<decimal>`).
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(hex) = text.strip_prefix("of:") {
            // Hex digits only: `from_str_radix` would also take a sign.
            if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u64::from_str_radix(hex, 16).ok().map(DeviceId::openflow)
        } else if let Some(dec) = text.strip_prefix("p4:") {
            if dec.is_empty() || !dec.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            dec.parse().ok().map(DeviceId::p4runtime)
        } else {
            None
        }
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.protocol {
            Protocol::OpenFlow => write!(f, "of:{:016x}", self.id),
            Protocol::P4Runtime => write!(f, "p4:{}", self.id),
        }
    }
}

impl Serialize for DeviceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A port number on a device (OpenFlow `ofp_port_no`, P4Runtime port id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PortNo(pub u32);

impl PortNo {
    /// OpenFlow 1.3 §7.2.1: numbers above this are reserved (IN_PORT, CONTROLLER, LOCAL, ...),
    /// never physical ports, so they are never probed nor attached to links or hosts.
    pub const MAX_PHYSICAL: u32 = 0xffff_ff00;

    /// Whether this number can name a physical port.
    pub const fn is_physical(self) -> bool {
        self.0 != 0 && self.0 <= Self::MAX_PHYSICAL
    }
}

impl fmt::Display for PortNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// Whether the group (multicast/broadcast) bit is set; such addresses never name a host.
    pub const fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// Whether a host can have this address: unicast and not all zeros (no NIC sends from
    /// 00:00:00:00:00:00; Linux's `is_valid_ether_addr` refuses both).
    pub const fn names_host(self) -> bool {
        !self.is_multicast() && !matches!(self.0, [0, 0, 0, 0, 0, 0])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One port of one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PortRef {
    /// The device.
    pub device: DeviceId,
    /// The port on it.
    pub port: PortNo,
}

impl PortRef {
    /// Port `port` of `device`.
    pub const fn new(device: DeviceId, port: PortNo) -> Self {
        PortRef { device, port }
    }
}

impl fmt::Display for PortRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.device, self.port)
    }
}

/// A directed link: frames leave `src` and arrive at `dst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct LinkKey {
    /// The transmitting port.
    pub src: PortRef,
    /// The receiving port.
    pub dst: PortRef,
}

impl LinkKey {
    /// The link from `src` to `dst`.
    pub const fn new(src: PortRef, dst: PortRef) -> Self {
        LinkKey { src, dst }
    }

    /// The same cable in the opposite direction.
    pub const fn reversed(self) -> Self {
        LinkKey {
            src: self.dst,
            dst: self.src,
        }
    }
}

impl fmt::Display for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{}", self.src, self.dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_text_round_trips() {
        for d in [
            DeviceId::openflow(0),
            DeviceId::openflow(u64::MAX),
            DeviceId::p4runtime(7),
        ] {
            assert_eq!(DeviceId::parse(&d.to_string()), Some(d));
        }
        assert_eq!(DeviceId::parse("of:"), None);
        assert_eq!(DeviceId::parse("p4:-1"), None);
        assert_eq!(DeviceId::parse("xx:1"), None);
        assert_eq!(DeviceId::parse("of:11112222333344445"), None);
    }

    #[test]
    fn reserved_ports_are_not_physical() {
        assert!(PortNo(1).is_physical());
        assert!(!PortNo(0).is_physical());
        assert!(!PortNo(0xffff_fffe).is_physical()); // LOCAL
    }

    #[test]
    fn serializes_as_text() {
        let mac = MacAddr([0, 0x1b, 0x21, 0xaa, 0xbb, 0xcc]);
        assert_eq!(mac.to_string(), "00:1b:21:aa:bb:cc");
        assert_eq!(DeviceId::openflow(1).to_string(), "of:0000000000000001");
    }
}
