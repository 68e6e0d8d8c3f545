//! The pieces of `prescient bench openflow`: pre-built frames and the mixes of them switches
//! punt, the load generator (emulated switches), the bare responder (the machine's ceiling) and
//! the CPU accounting of the processes involved.

pub mod bare;
pub mod cpu;
pub mod frames;
pub mod loadgen;
pub mod mix;
