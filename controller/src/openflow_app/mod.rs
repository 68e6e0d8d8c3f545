//! OpenFlow applications run inline in the switch sessions, and the cbench-style benchmark
//! that measures them.
//!
//! The default app is reactive L2 learning ([`learning::L2Learning`]); it is built per switch by
//! a factory so a topology-aware app can replace it without touching the sessions.

pub mod bench;
pub mod learning;
pub mod punt;

pub use learning::{L2Learning, L2LearningFactory};
pub use punt::{PuntConfig, PuntPolicy};
