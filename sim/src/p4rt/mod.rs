//! Emulated P4Runtime switches: a tonic server behaving like BMv2 `simple_switch_grpc` running
//! prescient.p4 (P4Runtime spec v1.4): arbitration per device and role, pipeline config checked
//! against the embedded P4Info, Write/Read with the spec's errors and wildcards, packet I/O across
//! emulated links, learned-host digests, and counters driven by a traffic model.

pub mod bytes;
pub mod error;
pub mod process;
pub mod read;
pub mod schema;
pub mod state;
pub mod table;

pub use error::EntityError;
pub use process::{Processed, CPU_PORT};
pub use schema::{prescient_p4info, Schema, SchemaError};
pub use state::DeviceState;
