//! P4Runtime v1 client (P4Runtime specification 1.3/1.4): generated protos, P4Info loading
//! and name resolution, client arbitration, pipeline configuration, batched writes with
//! per-update errors, reads, packet I/O and digests, reconnection with desired-state replay,
//! and the pipeconf that maps controller intents onto prescient.p4.
//!
//! Layering: `bytestr`, `p4info`, `index`, `entity`, `status`, `packetio`, `arbitration` and
//! `state` are synchronous and IO-free; `client` is the tokio/tonic driver; `pipeconf` is the
//! only module that knows prescient.p4's table and action names.

pub mod arbitration;
pub mod bytestr;
pub mod client;
pub mod codec;
pub mod entity;
pub mod error;
pub mod index;
pub mod p4info;
pub mod packetio;
pub mod pipeconf;
pub mod proto;
pub mod state;
pub mod status;

pub use arbitration::{Arbitration, Mastership};
pub use client::{
    ChannelPool, ClientConfig, ClientTls, P4RuntimeClient, PipelineOutcome, SharedTls, StreamEvent,
};
pub use entity::{ActionCall, EntryAction, Match, TableEntrySpec};
pub use error::{
    ClientError, EntityKind, MatchKind, P4InfoError, ResolveError, UpdateFailure, WriteError,
};
pub use index::P4InfoIndex;
pub use p4info::{load_p4info_file, parse_p4info};
pub use packetio::{DigestReport, ReceivedPacket};
pub use state::DesiredState;

#[cfg(test)]
mod tests;
