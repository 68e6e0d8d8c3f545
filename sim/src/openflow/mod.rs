//! Emulated OpenFlow 1.3 switches: a TCP client per switch, a flow table, port stats.
//!
//! Layers, innermost first: [`packet`] (header fields of emulated frames), [`matching`] (compiled
//! OXM matches), [`flow_table`] and [`groups`] (tables and their modification semantics).

pub mod flow_table;
pub mod groups;
pub mod matching;
pub mod packet;
