//! Reservation planning, shared by real admissions and the what-if planner: resolve the
//! endpoints, pick a path with room over the whole window (falling back to the widest path, where
//! preemption of lower tiers may still make room), and admit it into a ledger. The what-if
//! planner passes a clone of the ledger, so nothing it does reaches the switches.

use prescient_topology::{
    Admitted, DeviceId, FlowMatch, Ledger, LedgerError, LinkKey, MacAddr, PathError,
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

/// The ledger request `spec` becomes on `snapshot`: endpoints resolved, path chosen.
pub fn request(
    ledger: &Ledger,
    snapshot: &Snapshot,
    spec: &ReserveSpec,
) -> Result<ReservationRequest, ReserveError> {
    let src = device_of(snapshot, spec.src, "src")?;
    let dst = device_of(snapshot, spec.dst, "dst")?;
    let subject = match (spec.src, spec.dst, &spec.flow) {
        (_, _, Some(flow)) => Subject::Flow(flow.clone()),
        (Endpoint::Host(s), Endpoint::Host(d), None) => Subject::HostPair { src: s, dst: d },
        _ => Subject::Flow(FlowMatch::default()),
    };
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

/// Plans and admits `spec` into `ledger`.
pub fn admit(
    ledger: &mut Ledger,
    snapshot: &Snapshot,
    spec: &ReserveSpec,
) -> Result<(Admitted, ReservationRequest), ReserveError> {
    let req = request(ledger, snapshot, spec)?;
    let admitted = ledger.admit(req.clone())?;
    Ok((admitted, req))
}
