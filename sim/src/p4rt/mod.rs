//! Emulated P4Runtime switches: a tonic server behaving like a switch running prescient.p4.
