//! Emulated OpenFlow 1.3 switches: a TCP client per switch, a flow table, port stats.
