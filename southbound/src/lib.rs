//! Prescient's southbound: the OpenFlow 1.3 wire codec and switch sessions, the P4Runtime client,
//! and the typed events and commands the rest of the controller uses without touching bytes.

pub mod device;
pub mod latency;
pub mod openflow;
pub mod p4runtime;
