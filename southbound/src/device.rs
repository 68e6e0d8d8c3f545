//! Protocol-neutral descriptions of a device and its ports, shared by the OpenFlow sessions and
//! the P4Runtime client so that topology and the controller never depend on a wire format.
//!
//! Counters are the device's raw cumulative values; turning them into rates (wrap, reset,
//! missing samples) is the topology crate's job.

use core::fmt;

/// Which southbound protocol a device speaks, and its identifier in that protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceId {
    /// An OpenFlow switch, by datapath id.
    OpenFlow(u64),
    /// A P4Runtime target, by its `device_id`.
    P4Runtime(u64),
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceId::OpenFlow(d) => write!(f, "of:{d:016x}"),
            DeviceId::P4Runtime(d) => write!(f, "p4:{d}"),
        }
    }
}

/// One port of a device as the device describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// Port number on the device.
    pub number: u32,
    /// Name the device gives the port (e.g. `s1-eth1`).
    pub name: String,
    /// Hardware address of the port.
    pub mac: [u8; 6],
    /// True when the link is up (carrier present, not blocked).
    pub link_up: bool,
    /// True unless an administrator disabled the port.
    pub admin_up: bool,
    /// Current speed in kbit/s, 0 when the device does not say.
    pub speed_kbps: u32,
}

impl PortInfo {
    /// True when traffic can flow through the port (administratively enabled and link up).
    pub fn is_live(&self) -> bool {
        self.link_up && self.admin_up
    }
}

/// How a port changed, as reported asynchronously by the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortChange {
    /// The port appeared.
    Added,
    /// The port went away.
    Removed,
    /// An attribute (state, config, speed) changed.
    Modified,
}

/// Cumulative counters of one port at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortCounters {
    /// Port number on the device.
    pub number: u32,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets transmitted.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Packets dropped on receive.
    pub rx_dropped: u64,
    /// Packets dropped on transmit.
    pub tx_dropped: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// How long the port has existed on the device, in nanoseconds (0 when unknown).
    pub duration_ns: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_display_with_their_protocol() {
        assert_eq!(DeviceId::OpenFlow(0x1a).to_string(), "of:000000000000001a");
        assert_eq!(DeviceId::P4Runtime(3).to_string(), "p4:3");
    }

    #[test]
    fn a_port_is_live_only_when_enabled_and_linked() {
        let mut p = PortInfo {
            number: 1,
            name: "s1-eth1".into(),
            mac: [0; 6],
            link_up: true,
            admin_up: true,
            speed_kbps: 10_000_000,
        };
        assert!(p.is_live());
        p.admin_up = false;
        assert!(!p.is_live());
        p.admin_up = true;
        p.link_up = false;
        assert!(!p.is_live());
    }
}
