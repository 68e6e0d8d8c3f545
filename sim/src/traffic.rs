//! Synthetic traffic: per host-pair demand with daily and weekly cycles, noise, occasional flash
//! crowds and growing or shrinking services ([`services`]), and the engine that turns it into port
//! counters along shortest paths.
//!
//! Invariants:
//! - [`TrafficModel::rate_bps`] is a pure function of `(seed, pair, t)`: the same seed gives the same
//!   series, whatever the step size or wall-clock speed (time compression only maps wall time to
//!   model time).
//! - [`TrafficEngine::step`] adds the same byte and packet count to the transmit counter of a port
//!   and to the receive counter of the port linked to it, so counters agree along links, and only
//!   ever adds: every counter is a monotonic `u64`.
//! - Traffic to an unreachable destination (links down) is counted as dropped at the ingress port.
//!
//! The seams: [`shapes`] (the demand model), [`services`] (trending destinations),
//! [`accounting`] (port counters and the engine that fills them along routes), and [`basis`]
//! (model time, host pairs and the seeded hash they all use).

pub mod accounting;
pub mod basis;
pub mod services;
pub mod shapes;

pub use accounting::{FabricCounters, PairSent, PortCounterValues, PortCounters, TrafficEngine};
pub use basis::{Pair, DAY_SECS, WEEK_SECS};
pub use services::{Service, Services, Trend, TrendConfig};
pub use shapes::{Replay, TrafficConfig, TrafficModel, MEAN_PACKET_BYTES};
