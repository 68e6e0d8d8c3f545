//! Identifier newtypes of OpenFlow 1.3 (spec 1.3.5 §7.2.1 ports, §7.3.4.2 groups, §7.3.4.4 meters).

use core::fmt;
use core::str::FromStr;

use thiserror::Error;

/// Transaction id of a message; replies carry the request's xid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Xid(pub u32);

impl fmt::Display for Xid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// Why a textual identifier could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {what} {input:?}: {why}")]
pub struct ParseIdError {
    /// Kind of identifier.
    pub what: &'static str,
    /// The text given.
    pub input: String,
    /// What was expected.
    pub why: &'static str,
}

/// 64-bit datapath id of a switch; shown like OVS as 8 colon-separated hex bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct DatapathId(pub u64);

impl fmt::Display for DatapathId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0.to_be_bytes();
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]
        )
    }
}

impl FromStr for DatapathId {
    type Err = ParseIdError;

    /// Accepts `00:00:00:00:00:00:00:01`, `0000000000000001` or `0x1`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| ParseIdError {
            what: "datapath id",
            input: s.to_owned(),
            why,
        };
        let hex: String = if s.contains(':') {
            let parts: Vec<&str> = s.split(':').collect();
            if parts.len() != 8 || parts.iter().any(|p| p.len() != 2) {
                return Err(err("expected 8 colon-separated hex bytes"));
            }
            parts.concat()
        } else if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            h.to_owned()
        } else {
            s.to_owned()
        };
        if hex.is_empty() || hex.len() > 16 {
            return Err(err("expected 1 to 16 hex digits"));
        }
        u64::from_str_radix(&hex, 16)
            .map(DatapathId)
            .map_err(|_| err("not hexadecimal"))
    }
}

/// Port number; values from `0xffffff00` up are reserved ports with names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PortNo(pub u32);

impl PortNo {
    /// `OFPP_MAX`: the largest physical port number.
    pub const MAX: PortNo = PortNo(0xffff_ff00);
    /// `OFPP_IN_PORT`: send back out the ingress port.
    pub const IN_PORT: PortNo = PortNo(0xffff_fff8);
    /// `OFPP_TABLE`: submit to the first flow table (packet-out only).
    pub const TABLE: PortNo = PortNo(0xffff_fff9);
    /// `OFPP_NORMAL`: the switch's non-OpenFlow pipeline.
    pub const NORMAL: PortNo = PortNo(0xffff_fffa);
    /// `OFPP_FLOOD`: all ports except ingress and blocked ones.
    pub const FLOOD: PortNo = PortNo(0xffff_fffb);
    /// `OFPP_ALL`: all ports except ingress.
    pub const ALL: PortNo = PortNo(0xffff_fffc);
    /// `OFPP_CONTROLLER`: to the controller as a PACKET_IN.
    pub const CONTROLLER: PortNo = PortNo(0xffff_fffd);
    /// `OFPP_LOCAL`: the switch's local networking stack.
    pub const LOCAL: PortNo = PortNo(0xffff_fffe);
    /// `OFPP_ANY`: wildcard in requests and deletes.
    pub const ANY: PortNo = PortNo(0xffff_ffff);

    /// The reserved port's spec name, if this is one.
    pub fn reserved_name(self) -> Option<&'static str> {
        Some(match self {
            Self::IN_PORT => "IN_PORT",
            Self::TABLE => "TABLE",
            Self::NORMAL => "NORMAL",
            Self::FLOOD => "FLOOD",
            Self::ALL => "ALL",
            Self::CONTROLLER => "CONTROLLER",
            Self::LOCAL => "LOCAL",
            Self::ANY => "ANY",
            _ => return None,
        })
    }

    /// True for physical/logical ports (not reserved).
    pub fn is_physical(self) -> bool {
        self.0 <= Self::MAX.0
    }
}

impl fmt::Display for PortNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reserved_name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

/// Group id (spec §7.3.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GroupId(pub u32);

impl GroupId {
    /// `OFPG_MAX`: the largest group id.
    pub const MAX: GroupId = GroupId(0xffff_ff00);
    /// `OFPG_ALL`: all groups (delete).
    pub const ALL: GroupId = GroupId(0xffff_fffc);
    /// `OFPG_ANY`: wildcard.
    pub const ANY: GroupId = GroupId(0xffff_ffff);
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ALL => f.write_str("ALL"),
            Self::ANY => f.write_str("ANY"),
            GroupId(n) => write!(f, "{n}"),
        }
    }
}

/// Meter id (spec §7.3.4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MeterId(pub u32);

impl MeterId {
    /// `OFPM_MAX`: the largest regular meter id.
    pub const MAX: MeterId = MeterId(0xffff_0000);
    /// `OFPM_SLOWPATH`: the meter of the slow datapath.
    pub const SLOWPATH: MeterId = MeterId(0xffff_fffd);
    /// `OFPM_CONTROLLER`: the meter of the controller connection.
    pub const CONTROLLER: MeterId = MeterId(0xffff_fffe);
    /// `OFPM_ALL`: all meters (stats and delete).
    pub const ALL: MeterId = MeterId(0xffff_ffff);
}

impl fmt::Display for MeterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::SLOWPATH => f.write_str("SLOWPATH"),
            Self::CONTROLLER => f.write_str("CONTROLLER"),
            Self::ALL => f.write_str("ALL"),
            MeterId(n) => write!(f, "{n}"),
        }
    }
}

/// Flow table id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TableId(pub u8);

impl TableId {
    /// `OFPTT_MAX`: the largest table id.
    pub const MAX: TableId = TableId(0xfe);
    /// `OFPTT_ALL`: all tables (delete, stats).
    pub const ALL: TableId = TableId(0xff);
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ALL => f.write_str("ALL"),
            TableId(n) => write!(f, "{n}"),
        }
    }
}

/// Buffer id of a packet held by the switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferId(pub u32);

impl BufferId {
    /// `OFP_NO_BUFFER`: the packet is carried in full in the message.
    pub const NO_BUFFER: BufferId = BufferId(0xffff_ffff);

    /// `None` for `NO_BUFFER`, the id otherwise.
    pub fn get(self) -> Option<u32> {
        (self != Self::NO_BUFFER).then_some(self.0)
    }
}

impl Default for BufferId {
    fn default() -> Self {
        Self::NO_BUFFER
    }
}

impl fmt::Display for BufferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.get() {
            None => f.write_str("NO_BUFFER"),
            Some(n) => write!(f, "{n}"),
        }
    }
}

/// Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// `00:00:00:00:00:00`.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// True when the group bit (multicast/broadcast) is set.
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = ParseIdError;

    /// Accepts `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| ParseIdError {
            what: "MAC address",
            input: s.to_owned(),
            why,
        };
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split([':', '-']) {
            let slot = out.get_mut(n).ok_or_else(|| err("more than 6 bytes"))?;
            if part.len() != 2 {
                return Err(err("each byte must be 2 hex digits"));
            }
            *slot = u8::from_str_radix(part, 16).map_err(|_| err("not hexadecimal"))?;
            n += 1;
        }
        if n != 6 {
            return Err(err("expected 6 bytes"));
        }
        Ok(MacAddr(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datapath_id_displays_like_ovs_and_parses_back() {
        let d = DatapathId(0x0000_0a0b_0c0d_0e0f);
        assert_eq!(d.to_string(), "00:00:0a:0b:0c:0d:0e:0f");
        assert_eq!("00:00:0a:0b:0c:0d:0e:0f".parse::<DatapathId>(), Ok(d));
        assert_eq!("00000a0b0c0d0e0f".parse::<DatapathId>(), Ok(d));
        assert_eq!("0xa0b0c0d0e0f".parse::<DatapathId>(), Ok(d));
        assert!("00:00:0a".parse::<DatapathId>().is_err());
        assert!("zz".parse::<DatapathId>().is_err());
        assert!("12345678901234567".parse::<DatapathId>().is_err());
    }

    #[test]
    fn mac_displays_and_parses() {
        let m: MacAddr = "AA:bb:cc:00:11:22".parse().unwrap();
        assert_eq!(m, MacAddr([0xaa, 0xbb, 0xcc, 0, 0x11, 0x22]));
        assert_eq!(m.to_string(), "aa:bb:cc:00:11:22");
        assert!("aa:bb:cc:00:11".parse::<MacAddr>().is_err());
        assert!("aa:bb:cc:00:11:22:33".parse::<MacAddr>().is_err());
        assert!("aa:bb:cc:00:11:2".parse::<MacAddr>().is_err());
        assert!(MacAddr::BROADCAST.is_multicast());
    }

    #[test]
    fn reserved_ports_have_names() {
        assert_eq!(PortNo::CONTROLLER.to_string(), "CONTROLLER");
        assert_eq!(PortNo(7).to_string(), "7");
        assert!(PortNo(7).is_physical());
        assert!(!PortNo::LOCAL.is_physical());
        assert_eq!(BufferId::NO_BUFFER.get(), None);
    }
}
