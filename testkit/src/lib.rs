//! Test support that both `controller/tests` and the workspace integration tests (`tests/`)
//! use. It is a crate of its own, depending on no workspace crate, so that the controller can
//! take it as a dev-dependency without a cycle (`prescient-tests` depends on the controller).

pub mod pki;
