//! OpenFlow 1.3 switch sessions: a listener, one task per switch, one typed event stream out and
//! one typed command API in (OpenFlow 1.3.5 §6.3 connection setup, §6.3.2 keepalive, §6.4
//! messages, §7.3.9 roles).
//!
//! Layers, bottom up:
//! - [`machine`]: the sans-IO protocol state (handshake, keepalive, xids and pending requests,
//!   multipart assembly), fed frames and `now`.
//! - [`driver`]: the tokio task of one connection; reads big batches, runs the reactive
//!   [`app::SwitchApp`] inline for packet-ins, and writes each batch's answers with one write.
//! - [`listener`]: accepts switches (bounded), keeps the registry of sessions by datapath id
//!   (a reconnect replaces the old session), and hands out the cloneable [`OpenFlowHandle`].
//!   With [`ControllerConfig::session_threads`] set, sessions run pinned on that many
//!   single-threaded runtimes of their own (`workers`), spread evenly, instead of the caller's,
//!   each polling its sockets for a while before sleeping when traffic is heavy
//!   ([`busy_poll`], [`ControllerConfig::busy_poll`]).
//! - [`desired`]: flows, groups and meters the controller wants on each switch, replayed on
//!   every (re)connect.
//!
//! Channel policy: the event stream is bounded. Packet-in events are dropped and counted when it
//! is three quarters full (the network must not stall because an app is slow); every other
//! event waits for room (they are rare and must not be lost), and finds it in the last quarter.
//! LLDP packet-ins have a bounded lane of their own, taken first, and are dropped and counted
//! when it is full. Statistics polls wait while a quarter of the stream is queued, so counters
//! come only as fast as the controller takes them. Commands to one switch are bounded per
//! switch and make the caller wait when the switch is slower than the caller.

pub mod app;
pub mod busy_poll;
pub mod desired;
pub mod driver;
pub mod error;
pub mod events;
pub mod frame;
pub mod listener;
pub mod machine;
pub mod request;
mod scratch;
mod shared;
mod workers;

pub use app::{AppFactory, Outbox, PublishAll, SwitchApp, Verdict};
pub use desired::DesiredState;
pub use error::{CloseReason, SessionError};
pub use events::{PacketInEvent, SwitchEvent, SwitchInfo};
pub use listener::{
    table_miss_to_controller, Command, ControllerConfig, EventReceiver, OpenFlowController,
    OpenFlowHandle, SessionCounters, Stats,
};
pub use machine::MachineConfig;
pub use request::{Reply, Request};

#[cfg(test)]
mod sizes;
#[cfg(test)]
mod tests;
