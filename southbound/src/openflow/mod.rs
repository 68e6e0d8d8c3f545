//! OpenFlow 1.3 (spec 1.3.5): the wire codec and the switch sessions built on it.

pub mod session;
pub mod wire;
