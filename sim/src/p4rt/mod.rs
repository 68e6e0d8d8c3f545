//! Emulated P4Runtime switches: a tonic server behaving like BMv2 `simple_switch_grpc` running
//! prescient.p4 (P4Runtime spec v1.4): arbitration per device and role, pipeline config checked
//! against the embedded P4Info, Write/Read with the spec's errors and wildcards, packet I/O across
//! emulated links, learned-host digests, and counters driven by a traffic model.
//!
//! Entry points: [`P4SimNetwork`] (devices, links, restart, traffic injection), [`serve`] /
//! [`serve_listener`] (one gRPC address for all devices; [`serve_listener_tls`] over TLS), [`run_traffic`] (moving counters).

pub mod arbitration;
pub mod bytes;
pub mod error;
pub mod meter;
pub mod network;
pub mod process;
pub mod read;
pub mod schema;
pub mod service;
pub mod state;
pub mod table;
pub mod traffic;

pub use error::EntityError;
pub use network::{P4SimNetwork, PortRef, Uplink};
pub use process::{udp_frame, Processed, CPU_PORT};
pub use schema::{prescient_p4info, Schema, SchemaError, PRESCIENT_P4INFO_TEXT};
pub use service::{
    run_traffic, serve, serve_listener, serve_listener_tls, P4RuntimeService, ServeError,
    P4RUNTIME_API_VERSION,
};
pub use state::DeviceState;
pub use traffic::PortTraffic;

#[cfg(test)]
mod tests;
