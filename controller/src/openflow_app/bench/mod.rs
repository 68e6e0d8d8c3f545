//! The pieces of `prescient bench openflow`: pre-built frames and the mixes of them switches
//! punt, the load generator (emulated switches) and the bare responder (the machine's ceiling).

pub mod bare;
pub mod frames;
pub mod loadgen;
pub mod mix;
