//! What the core hands out: typed intents for the southbound ([`Action`]), the explainable
//! decision log ([`Decision`]), anomalies ([`Anomaly`]) and the events streamed to observers
//! ([`ControllerEvent`]). Records meant for people carry ids as text (see [`super::naming`]).

use prescient_topology::{LinkKey, MacAddr};
use serde::Serialize;
use utoipa::ToSchema;

use super::naming::link_id;
pub use crate::vocab::{Action, BackendTarget, BoundedLog, Rule, ServiceHop};

/// One explainable decision.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Decision {
    /// Sequence number, increasing.
    pub id: u64,
    /// When, nanoseconds since the epoch.
    pub at_ns: u64,
    /// The rule that fired.
    pub rule: Rule,
    /// What it is about: a link id or `reservation/<id>`.
    pub subject: String,
    /// Why, with the figures that made the rule fire.
    pub reason: String,
    /// What was asked of the switches, one line each.
    pub actions: Vec<String>,
}

/// Which series a forecast or anomaly belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SeriesKey {
    /// Traffic over a directed link.
    Link(LinkKey),
    /// Traffic from one host to another.
    Pair(MacAddr, MacAddr),
}

impl SeriesKey {
    /// Text form: `link/<link id>` or `pair/<src>/<dst>`.
    pub fn label(&self) -> String {
        match self {
            SeriesKey::Link(l) => format!("link/{}", link_id(*l)),
            SeriesKey::Pair(s, d) => format!("pair/{s}/{d}"),
        }
    }
}

/// An actual that left the 99 % interval forecast for it one step earlier.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Anomaly {
    /// Series label (`link/...` or `pair/...`).
    pub series: String,
    /// When, nanoseconds since the epoch.
    pub at_ns: u64,
    /// Observed, bits/s.
    pub actual_bps: f64,
    /// Point forecast, bits/s.
    pub expected_bps: f64,
    /// Lower 99 % bound, bits/s.
    pub lower_bps: f64,
    /// Upper 99 % bound, bits/s.
    pub upper_bps: f64,
}

/// What observers (the SSE stream, the dashboard) are told.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControllerEvent {
    /// The topology changed (devices, links or hosts); re-read it.
    Topology {
        /// What changed, one line each.
        changes: Vec<String>,
    },
    /// A control tick finished: rates and forecasts were refreshed.
    Tick {
        /// Tick time, nanoseconds since the epoch.
        at_ns: u64,
        /// Series observed.
        series: usize,
        /// Links currently predicted hot.
        hot_links: Vec<String>,
    },
    /// A decision was recorded.
    Decision(Decision),
    /// An anomaly was detected.
    Anomaly(Anomaly),
    /// An address record (an instance address host agents configure) appeared, changed or
    /// went away.
    Address(crate::services::AddressChange),
}
