//! Drivers: the async glue between the southbound sessions and the sans-IO controller core.

pub mod openflow;
pub mod p4runtime;
