//! The vocabulary the core and the services both speak: intents ([`Action`]), rules and drafts
//! of decisions, hook calls, the bounded log, forecast points, the text form of ids
//! ([`naming`]) and the API patterns that describe those forms ([`formats`]). It sits below both: `core` -> `services` -> `vocab`, and nothing here names
//! either of them.

pub mod actions;
pub mod formats;
pub mod hooks;
pub mod log;
pub mod naming;
pub mod rules;
pub mod series;

pub use actions::{Action, BackendTarget, Draft, ServiceHop};
pub use hooks::{HookCall, HookForecast, HookKind};
pub use log::BoundedLog;
pub use rules::Rule;
pub use series::{Interval, Point};

/// Largest rate the API takes anywhere a rate is given (a reservation's, an instance's
/// capacity): 10 Tb/s, beyond any port, and inside the `int64` the OpenAPI document promises.
pub const MAX_RATE_BPS: u64 = 10_000_000_000_000;
