//! Emulated switches speaking real OpenFlow 1.3 (over TCP) and P4Runtime (over gRPC), driven by a
//! synthetic or trace-driven traffic model: the demo's network and the target of tests and benches.
//! Either kind runs alone ([`openflow::SimNetwork`], [`p4rt::P4SimNetwork`]) or both in one
//! topology ([`fabric::MixedFabric`]).

pub mod fabric;
pub mod openflow;
pub mod p4rt;
pub mod topology;
pub mod traffic;
