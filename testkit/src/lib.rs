//! Test support that `controller/tests`, the workspace integration tests (`tests/`) and
//! property tests of the crates use. It is a crate of its own, depending on no workspace crate, so that the controller can
//! take it as a dev-dependency without a cycle (`prescient-tests` depends on the controller).

pub mod pki;
pub mod rates;
