//! `ofp_port` (OpenFlow 1.3.5 §7.2.1) and PORT_STATUS (§7.4.3): `reason:8`, pad 7, `ofp_port`.
//!
//! `ofp_port` is 64 bytes: `port_no:32`, pad 4, `hw_addr[6]`, pad 2, `name[16]` (NUL-padded),
//! `config`, `state`, `curr`, `advertised`, `supported`, `peer`, `curr_speed`, `max_speed` (all
//! 32-bit). The same struct fills the PORT_DESC multipart reply.

use super::body::body_api;
use super::cursor::{Reader, Writer};
use super::enums::wire_enum;
use super::types::{MacAddr, PortNo};
use super::wire_error::Result;

/// Size of `ofp_port`.
pub const PORT_LEN: usize = 64;
/// Size of the name field (including the terminating NUL).
pub const PORT_NAME_LEN: usize = 16;

/// `ofp_port_config` bits.
pub mod config {
    /// Port is administratively down.
    pub const PORT_DOWN: u32 = 1 << 0;
    /// Drop received packets.
    pub const NO_RECV: u32 = 1 << 2;
    /// Drop packets forwarded to the port.
    pub const NO_FWD: u32 = 1 << 5;
    /// Do not send packet-in for this port.
    pub const NO_PACKET_IN: u32 = 1 << 6;
}

/// `ofp_port_state` bits.
pub mod state {
    /// No physical link.
    pub const LINK_DOWN: u32 = 1 << 0;
    /// Port is blocked.
    pub const BLOCKED: u32 = 1 << 1;
    /// Live for fast-failover groups.
    pub const LIVE: u32 = 1 << 2;
}

/// A switch port description.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Port {
    /// Port number.
    pub port_no: PortNo,
    /// MAC address.
    pub hw_addr: MacAddr,
    /// Name (at most 15 bytes on the wire; longer names are cut on emit, bytes that are not
    /// UTF-8 read as `?`).
    pub name: String,
    /// `ofp_port_config` bits.
    pub config: u32,
    /// `ofp_port_state` bits.
    pub state: u32,
    /// Current features.
    pub curr: u32,
    /// Advertised features.
    pub advertised: u32,
    /// Supported features.
    pub supported: u32,
    /// Peer's advertised features.
    pub peer: u32,
    /// Current bit rate in kb/s.
    pub curr_speed: u32,
    /// Maximum bit rate in kb/s.
    pub max_speed: u32,
}

impl Port {
    /// True when the link is up and the port not administratively down.
    pub fn is_up(&self) -> bool {
        self.state & state::LINK_DOWN == 0 && self.config & config::PORT_DOWN == 0
    }

    /// Encoded size (always 64).
    pub fn buffer_len(&self) -> usize {
        PORT_LEN
    }

    /// Parses one `ofp_port` from the front of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Port> {
        Self::read(&mut Reader::new(buf, "ofp_port"))
    }

    /// Encodes into `buf` (64 bytes).
    pub fn emit(&self, buf: &mut [u8]) {
        self.write(&mut Writer::new(buf));
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Port> {
        let port_no = PortNo(r.u32("port_no")?);
        r.skip(4, "pad")?;
        let hw_addr = MacAddr(r.array("hw_addr")?);
        r.skip(2, "pad")?;
        let name = r.cstr::<PORT_NAME_LEN>("name")?;
        Ok(Port {
            port_no,
            hw_addr,
            name,
            config: r.u32("config")?,
            state: r.u32("state")?,
            curr: r.u32("curr")?,
            advertised: r.u32("advertised")?,
            supported: r.u32("supported")?,
            peer: r.u32("peer")?,
            curr_speed: r.u32("curr_speed")?,
            max_speed: r.u32("max_speed")?,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u32(self.port_no.0);
        w.zeros(4);
        w.put(&self.hw_addr.0);
        w.zeros(2);
        w.cstr(&self.name, PORT_NAME_LEN);
        for v in [
            self.config,
            self.state,
            self.curr,
            self.advertised,
            self.supported,
            self.peer,
            self.curr_speed,
            self.max_speed,
        ] {
            w.u32(v);
        }
    }
}

wire_enum! {
    /// `ofp_port_reason`.
    pub enum PortReason: u8 {
        Add = 0 => "ADD",
        Delete = 1 => "DELETE",
        Modify = 2 => "MODIFY",
    }
}

/// A PORT_STATUS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortStatus {
    /// What changed.
    pub reason: PortReason,
    /// The port as it is now.
    pub desc: Port,
}

impl PortStatus {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<PortStatus> {
        let reason = PortReason::from(r.u8("reason")?);
        r.skip(7, "pad")?;
        Ok(PortStatus {
            reason,
            desc: Port::read(r)?,
        })
    }

    fn body_len(&self) -> usize {
        8 + PORT_LEN
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u8(self.reason.into());
        w.zeros(7);
        self.desc.write(w);
    }
}

body_api!(PortStatus, "PORT_STATUS");

#[cfg(test)]
mod tests {
    use super::*;

    fn eth1() -> Port {
        Port {
            port_no: PortNo(1),
            hw_addr: MacAddr([0xaa, 0, 0, 0, 0, 1]),
            name: "s1-eth1".into(),
            config: 0,
            state: state::LIVE,
            curr: 0x840,
            advertised: 0,
            supported: 0,
            peer: 0,
            curr_speed: 10_000_000,
            max_speed: 0,
        }
    }

    #[test]
    fn port_status_round_trips_with_nul_padded_name() {
        let ps = PortStatus {
            reason: PortReason::Modify,
            desc: eth1(),
        };
        let mut out = vec![0u8; ps.buffer_len()];
        ps.emit(&mut out);
        assert_eq!(out.len(), 72);
        assert_eq!(&out[24..40], b"s1-eth1\0\0\0\0\0\0\0\0\0");
        assert_eq!(PortStatus::parse(&out).unwrap(), ps);
        assert!(ps.desc.is_up());
        let e = PortStatus::parse(&out[..71]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "PORT_STATUS: max_speed needs 4 bytes, only 3 remain"
        );
    }

    #[test]
    fn long_names_are_cut_to_fifteen_bytes() {
        let mut p = eth1();
        p.name = "a-very-long-port-name".into();
        let mut out = [0u8; 64];
        p.emit(&mut out);
        assert_eq!(Port::parse(&out).unwrap().name, "a-very-long-por");
        p.name = "ééééééééé".into(); // 18 bytes: cut to 14 at a character boundary
        p.emit(&mut out);
        assert_eq!(Port::parse(&out).unwrap().name, "ééééééé");
        // No NUL in 16 bytes and invalid UTF-8: 15 bytes kept, non-ASCII read as '?'.
        out[16..32].copy_from_slice(b"ab\xffdefghijklmnop");
        assert_eq!(Port::parse(&out).unwrap().name, "ab?defghijklmno");
    }
}
