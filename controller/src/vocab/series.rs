//! A forecast made for one instant, as the core's series hand it to planners.

use prescient_topology::Timestamp;

/// A `(lo, hi)` interval, `None` until calibrated.
pub type Interval = Option<(f64, f64)>;

/// A forecast made for one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The instant.
    pub at: Timestamp,
    /// Point forecast.
    pub value: f64,
    /// 80 % interval.
    pub i80: Interval,
    /// 95 % interval.
    pub i95: Interval,
    /// 99 % interval (anomalies are judged against it).
    pub i99: Interval,
    /// The capacity to plan for this instant: the point plus the residual quantile that meets
    /// the series' violation target ([`crate::sizing::bound`]; the point alone before residuals are
    /// known).
    pub bound: f64,
}
