//! Prescient's topology: switches, ports, links and hosts as a graph; link discovery; counter
//! samples into rates; path computation; the reservation ledger. Pure and deterministic: no I/O,
//! no clock (every event carries its timestamp).
