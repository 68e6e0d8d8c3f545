//! The on-disk form of a reservation: JSON with text identifiers (the same text forms as the
//! REST API, see `core::naming`), so a store stays readable by people and independent of the
//! in-memory types' layout. Everything needed to put the reservation back exactly as it was:
//! id, subject, endpoints, rate, tier, window, path and, for a reservation within one switch,
//! the egress port its meter sits on; whether it was failed.

use std::net::Ipv4Addr;

use prescient_topology::{
    DeviceId, FlowMatch, PortRef, Reservation, ReservationId, ReservationRequest, Subject,
    Timestamp, Window,
};
use serde::{Deserialize, Serialize};

use crate::core::naming::{link_id, parse_link, parse_mac, parse_port, port_id};
use crate::core::Restored;

/// Which traffic, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StoredSubject {
    /// All traffic from one host to another (MACs).
    HostPair {
        /// Source MAC.
        src: String,
        /// Destination MAC.
        dst: String,
    },
    /// A 5-tuple pattern.
    Flow {
        /// Source host's MAC (absent: the source end is a switch, or the record is older).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        src_mac: Option<String>,
        /// Destination host's MAC, likewise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dst_mac: Option<String>,
        /// Source address.
        src_ip: Option<Ipv4Addr>,
        /// Destination address.
        dst_ip: Option<Ipv4Addr>,
        /// IP protocol number.
        ip_proto: Option<u8>,
        /// Transport source port.
        src_port: Option<u16>,
        /// Transport destination port.
        dst_port: Option<u16>,
    },
}

/// One reservation, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredReservation {
    /// Its id, kept across restarts.
    pub id: u64,
    /// Which traffic.
    pub subject: StoredSubject,
    /// Ingress device id.
    pub src: String,
    /// Egress device id.
    pub dst: String,
    /// Bits per second.
    pub rate_bps: u64,
    /// Priority tier.
    pub tier: u8,
    /// Window start, ns since the epoch.
    pub start_ns: u64,
    /// Window end, ns since the epoch.
    pub end_ns: u64,
    /// Link ids of its path, source first.
    pub path: Vec<String>,
    /// Port id of the meter of a reservation within one switch (empty path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<String>,
    /// It was failed (its host moved where no path had room): it comes back failed, holding
    /// nothing, not on `path` (where it was before it failed). Absent: held.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
}

impl StoredReservation {
    /// The stored form of a reservation.
    pub fn new(r: &Reservation, egress: Option<PortRef>) -> Self {
        let q = &r.request;
        StoredReservation {
            id: r.id.0,
            subject: match &q.subject {
                Subject::HostPair { src, dst } => StoredSubject::HostPair {
                    src: src.to_string(),
                    dst: dst.to_string(),
                },
                Subject::Flow(f) => StoredSubject::Flow {
                    src_mac: f.src_mac.map(|m| m.to_string()),
                    dst_mac: f.dst_mac.map(|m| m.to_string()),
                    src_ip: f.src_ip,
                    dst_ip: f.dst_ip,
                    ip_proto: f.ip_proto,
                    src_port: f.src_port,
                    dst_port: f.dst_port,
                },
            },
            src: q.src.to_string(),
            dst: q.dst.to_string(),
            rate_bps: q.rate_bps,
            tier: q.tier,
            start_ns: q.window.start.nanos(),
            end_ns: q.window.end.nanos(),
            path: q.path.iter().map(|l| link_id(*l)).collect(),
            egress: egress.map(port_id),
            failed: false,
        }
    }

    /// The stored form of a reservation as the core hands it to the store (failed or held).
    pub fn saved(r: &Restored) -> Self {
        StoredReservation {
            failed: r.failed,
            ..Self::new(&r.reservation, r.egress)
        }
    }

    /// The reservation again; the error names the field that does not parse.
    pub fn restored(&self) -> Result<Restored, String> {
        let device = |field: &str, text: &str| {
            DeviceId::parse(text).ok_or_else(|| format!("{field}: {text:?} is not a device id"))
        };
        let mac = |field: &str, text: &str| {
            parse_mac(text).ok_or_else(|| format!("subject.{field}: {text:?} is not a MAC"))
        };
        let subject = match &self.subject {
            StoredSubject::HostPair { src, dst } => Subject::HostPair {
                src: mac("src", src)?,
                dst: mac("dst", dst)?,
            },
            StoredSubject::Flow {
                src_mac,
                dst_mac,
                src_ip,
                dst_ip,
                ip_proto,
                src_port,
                dst_port,
            } => Subject::Flow(FlowMatch {
                src_mac: src_mac.as_deref().map(|m| mac("src_mac", m)).transpose()?,
                dst_mac: dst_mac.as_deref().map(|m| mac("dst_mac", m)).transpose()?,
                src_ip: *src_ip,
                dst_ip: *dst_ip,
                ip_proto: *ip_proto,
                src_port: *src_port,
                dst_port: *dst_port,
            }),
        };
        let path = self
            .path
            .iter()
            .enumerate()
            .map(|(i, l)| parse_link(l).ok_or_else(|| format!("path[{i}]: {l:?} is not a link id")))
            .collect::<Result<Vec<_>, _>>()?;
        let egress = self
            .egress
            .as_deref()
            .map(|p| parse_port(p).ok_or_else(|| format!("egress: {p:?} is not a port id")))
            .transpose()?;
        Ok(Restored {
            reservation: Reservation {
                id: ReservationId(self.id),
                request: ReservationRequest {
                    subject,
                    src: device("src", &self.src)?,
                    dst: device("dst", &self.dst)?,
                    rate_bps: self.rate_bps,
                    tier: self.tier,
                    window: Window::new(Timestamp(self.start_ns), Timestamp(self.end_ns)),
                    path,
                },
            },
            egress,
            failed: self.failed,
        })
    }
}
