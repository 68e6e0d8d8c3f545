//! Emulated OpenFlow 1.3 switches: a TCP client per switch, a flow table, port stats.
//!
//! Layers, innermost first: [`packet`] (header fields of emulated frames), [`matching`] (compiled
//! OXM matches), [`flow_table`] and [`groups`] (tables and their modification semantics),
//! [`agent`] with [`pipeline`] and [`multipart`] (the sans-IO switch: messages and frames in,
//! effects out, time passed as `now`), [`driver`] (one tokio task per switch: TCP, inbox,
//! timers, reconnect) and [`network`] (many switches, links, hosts, traffic: [`SimNetwork`],
//! [`SimHandle`]).

pub mod agent;
pub mod driver;
pub mod flow_table;
pub mod groups;
mod hosts;
pub mod matching;
pub mod multipart;
pub mod network;
pub mod packet;
pub mod pipeline;
mod wiring;

pub use agent::{AgentStats, Effect, SimPort, SwitchAgent};
pub use flow_table::FlowEntry;
pub use network::{Foreign, FrameInlet, SimError, SimHandle, SimNetwork, SimOptions, Volume};
