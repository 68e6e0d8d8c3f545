//! Prescient's topology: switches, ports, links and hosts as a graph; link discovery; counter
//! samples into rates; path computation; the reservation ledger. Pure and deterministic: no I/O,
//! no clock (every event carries its timestamp).
//!
//! - [`Topology`]: the sans-IO model fed southbound events (`device_up`, `port_changed`,
//!   `lldp_frame_received`, `host_seen`, ...), returning [`TopologyEvent`]s; it schedules LLDP
//!   probes ([`Topology::probes`]) and ages links ([`Topology::expire`]).
//! - [`Snapshot`]: an immutable view published through `arc-swap`, answering path queries
//!   (shortest, Yen k-shortest, bandwidth-constrained/widest, ECMP).
//! - [`Ledger`]: admission control of time-windowed bandwidth reservations with tiered
//!   preemption; never over-commits a link.
//! - [`RateTracker`]: counter samples into port, link and flow rates and the traffic matrix.
//! - [`generate`]: deterministic fat-tree and random topologies.

pub mod generate;
pub mod ids;
pub mod ledger;
pub mod lldp;
pub mod model;
pub mod paths;
pub mod rates;
pub mod snapshot;
pub mod topology;

pub use ids::{DeviceId, LinkKey, MacAddr, PortNo, PortRef, Protocol, Timestamp};
pub use ledger::{
    Admitted, FlowMatch, Ledger, LedgerError, RerouteError, RerouteOutcome, Reservation,
    ReservationId, ReservationRequest, Subject, Window,
};
pub use lldp::{LldpError, LldpProbe, ProbeSignature};
pub use model::{
    CapacityConfig, CostConfig, CostModel, Device, DiscoveryConfig, Host, Link, LinkRemoval, Port,
    TopologyConfig, TopologyEvent,
};
pub use paths::{ConstrainedPath, Fit, Path, PathError};
pub use rates::{FlowKey, MatrixCell, PortCounters, Rate, RateSource, RateTracker, SampleOutcome};
pub use snapshot::{LinkIdx, Snapshot, SnapshotLink, SnapshotView};
pub use topology::{Probe, SnapshotReader, Topology, TopologyError};
