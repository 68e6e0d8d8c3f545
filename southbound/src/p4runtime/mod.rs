//! P4Runtime v1 client: generated protos, P4Info indexing, arbitration, pipeline config,
//! batched writes, reads and packet I/O.

pub mod proto;
