//! Process limits the controller and the emulator raise for themselves at start.

use thiserror::Error;

/// Why the descriptor limit could not be raised.
#[derive(Debug, Error)]
#[error("cannot raise the open-file limit (RLIMIT_NOFILE) from {soft} to {hard}: {source}; switches beyond about {soft} will be refused")]
pub struct LimitError {
    /// The soft limit in force.
    pub soft: u64,
    /// The hard limit asked for.
    pub hard: u64,
    /// What the kernel said.
    pub source: std::io::Error,
}

/// Raises the soft limit on open files to the hard limit (each switch session holds one
/// socket; 10,000 switches need more than the usual soft limit of 1,024). Returns the limit now
/// in force.
pub fn raise_open_files() -> Result<u64, LimitError> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    // `None` is unlimited.
    let soft = now.current.unwrap_or(u64::MAX);
    let hard = now.maximum.unwrap_or(u64::MAX);
    if soft >= hard {
        return Ok(soft);
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: now.maximum,
            maximum: now.maximum,
        },
    )
    .map_err(|e| LimitError {
        soft,
        hard,
        source: e.into(),
    })?;
    Ok(hard)
}
