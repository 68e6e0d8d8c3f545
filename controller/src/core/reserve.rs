//! Reservation planning, shared by real admissions and the what-if planner: resolve the
//! endpoints, pick a path with room over the whole window (falling back to the widest path, where
//! preemption of lower tiers may still make room), and admit it into a ledger. The what-if
//! planner passes a clone of the ledger, so nothing it does reaches the switches.
//!
//! A reservation whose endpoints sit on the same switch has no links; it is metered, as an
//! ONOS user would expect, at that switch's egress port towards the destination host. Without
//! a destination host there is no such port, and it is refused.

use prescient_topology::{
    Admitted, DeviceId, FlowMatch, Ledger, LedgerError, LinkKey, MacAddr, PathError, PortRef,
    ReservationRequest, Snapshot, Subject, Window,
};
use thiserror::Error;

/// One end of a reservation: a host (by MAC) or a switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// An attached host; its switch is looked up in the topology.
    Host(MacAddr),
    /// A switch.
    Device(DeviceId),
}

/// A reservation as asked for, before it has a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveSpec {
    /// Source.
    pub src: Endpoint,
    /// Destination.
    pub dst: Endpoint,
    /// Bits per second.
    pub rate_bps: u64,
    /// Priority tier: higher tiers may preempt strictly lower ones.
    pub tier: u8,
    /// When.
    pub window: Window,
    /// Narrows the traffic to a 5-tuple; `None`: all traffic between the endpoints.
    pub flow: Option<FlowMatch>,
    /// An explicit path; `None`: the planner picks one.
    pub path: Option<Vec<LinkKey>>,
}

/// Why a reservation could not be planned or admitted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReserveError {
    /// An endpoint is not in the topology, or no path joins them.
    #[error("{field}: {source}")]
    Path {
        /// Which request field (`src`, `dst`).
        field: &'static str,
        /// The path error.
        source: PathError,
    },
    /// The ledger refused it (bad values, unknown link, not enough capacity).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Both ends are switches and the match names no address: the reservation would police
    /// every IPv4 packet (of its protocol) through its path's ports, everyone's traffic.
    #[error("{}", if *matched {
        "src and dst are switches and match names neither src_ip nor dst_ip: it would police that traffic from every host crossing the path; name an address, or give src or dst as a host"
    } else {
        "src and dst are switches and there is no match: it would police every IPv4 packet crossing the path; give src or dst as a host, or a match naming src_ip or dst_ip"
    })]
    NoHost {
        /// Whether a match was given (it names only a protocol or ports).
        matched: bool,
    },
    /// Both endpoints are on one switch and the destination is not a host: no port to meter.
    #[error("src and dst are both on switch {device} and dst is a switch, not a host: a reservation within one switch is metered at the port towards its destination host; give dst as a host MAC")]
    NoEgress {
        /// The switch.
        device: DeviceId,
    },
}

/// A reservation planned and admitted into a ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// The ledger's answer (id, preempted reservations).
    pub admitted: Admitted,
    /// The request as admitted (endpoints resolved, path chosen).
    pub request: ReservationRequest,
    /// For a reservation within one switch: the port towards the destination host.
    pub egress: Option<PortRef>,
}

fn device_of(
    snapshot: &Snapshot,
    e: Endpoint,
    field: &'static str,
) -> Result<DeviceId, ReserveError> {
    match e {
        Endpoint::Device(d) if snapshot.contains_device(d) => Ok(d),
        Endpoint::Device(d) => Err(ReserveError::Path {
            field,
            source: PathError::UnknownDevice(d),
        }),
        Endpoint::Host(mac) => snapshot
            .host(mac)
            .map(|p| p.device)
            .ok_or(ReserveError::Path {
                field,
                source: PathError::UnknownHost(mac),
            }),
    }
}

/// The traffic `spec` reserves for: between two hosts with no match, the host pair; else its
/// 5-tuple narrowed to the ends that are hosts (their MACs), as an ONOS host-to-host intent adds
/// the hosts to its selector. Matching the 5-tuple alone, a TCP reservation between two hosts
/// policed every host's TCP through the path's ports. A flow naming no host at all (two switch
/// ends and no address) would police everyone's traffic there, and is refused.
pub fn subject(spec: &ReserveSpec) -> Result<Subject, ReserveError> {
    let mac = |e: Endpoint| match e {
        Endpoint::Host(mac) => Some(mac),
        Endpoint::Device(_) => None,
    };
    let flow = match (spec.src, spec.dst, &spec.flow) {
        (Endpoint::Host(src), Endpoint::Host(dst), None) => {
            return Ok(Subject::HostPair { src, dst })
        }
        (_, _, flow) => FlowMatch {
            src_mac: mac(spec.src),
            dst_mac: mac(spec.dst),
            ..flow.clone().unwrap_or_default()
        },
    };
    let names_a_host = flow.src_mac.is_some()
        || flow.dst_mac.is_some()
        || flow.src_ip.is_some()
        || flow.dst_ip.is_some();
    if !names_a_host {
        return Err(ReserveError::NoHost {
            matched: spec.flow.is_some(),
        });
    }
    Ok(Subject::Flow(flow))
}

/// The ledger request `spec` becomes on `snapshot`: endpoints resolved, path chosen.
pub fn request(
    ledger: &Ledger,
    snapshot: &Snapshot,
    spec: &ReserveSpec,
) -> Result<ReservationRequest, ReserveError> {
    let src = device_of(snapshot, spec.src, "src")?;
    let dst = device_of(snapshot, spec.dst, "dst")?;
    let subject = subject(spec)?;
    let path = match &spec.path {
        Some(p) => p.clone(),
        None => {
            let residual = ledger.residuals(snapshot, spec.window);
            snapshot
                .constrained_path(src, dst, spec.rate_bps, &residual)
                .map_err(|source| ReserveError::Path {
                    field: "dst",
                    source,
                })?
                .path
                .links
        }
    };
    Ok(ReservationRequest {
        subject,
        src,
        dst,
        rate_bps: spec.rate_bps,
        tier: spec.tier,
        window: spec.window,
        path,
    })
}

/// The meter port of a reservation within one switch (empty path): the destination host's.
pub fn egress(
    snapshot: &Snapshot,
    spec: &ReserveSpec,
    req: &ReservationRequest,
) -> Result<Option<PortRef>, ReserveError> {
    if !req.path.is_empty() {
        return Ok(None);
    }
    match spec.dst {
        Endpoint::Host(mac) => snapshot
            .host(mac)
            .filter(|p| p.device == req.dst)
            .map(Some)
            .ok_or(ReserveError::Path {
                field: "dst",
                source: PathError::UnknownHost(mac),
            }),
        Endpoint::Device(device) => Err(ReserveError::NoEgress { device }),
    }
}

/// Plans and admits `spec` into `ledger`.
pub fn admit(
    ledger: &mut Ledger,
    snapshot: &Snapshot,
    spec: &ReserveSpec,
) -> Result<Planned, ReserveError> {
    let request = request(ledger, snapshot, spec)?;
    let egress = egress(snapshot, spec, &request)?;
    let admitted = ledger.admit(request.clone())?;
    Ok(Planned {
        admitted,
        request,
        egress,
    })
}
