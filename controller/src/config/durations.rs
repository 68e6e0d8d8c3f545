//! The ceiling on every duration key of the file (`*_secs`, `*_ms`, `*_us`), checked in one
//! place so a new key cannot forget it.
//!
//! Why a ceiling at all: the controller adds these durations to instants and timestamps and
//! multiplies them (a counter poll period by 2.5 for staleness, a control interval by the
//! horizon), and `stats_interval_secs = 18446744073709551615` panicked the controller at
//! start; `control_interval_ms` at u64::MAX killed the planning task a second later while the
//! process went on serving. A year is longer than anything the controller times, and far below
//! where that arithmetic overflows (a timestamp is u64 nanoseconds since 1970: it ends in 2554).

use std::time::Duration;

use super::services::Refusal;
use super::Config;

/// Longest duration any key takes: 365 days.
pub const MAX: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The unit a key's number counts.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Secs,
    Millis,
    Micros,
}

impl Unit {
    /// `MAX` in this unit.
    fn max(self) -> u64 {
        let n = match self {
            Unit::Secs => MAX.as_secs().into(),
            Unit::Millis => MAX.as_millis(),
            Unit::Micros => MAX.as_micros(),
        };
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    fn name(self) -> &'static str {
        match self {
            Unit::Secs => "seconds",
            Unit::Millis => "milliseconds",
            Unit::Micros => "microseconds",
        }
    }
}

/// Every duration key of `c` named with its value and unit.
fn keys(c: &Config) -> Vec<(String, u64, Unit)> {
    use Unit::{Micros, Millis, Secs};
    let mut out = vec![
        (
            "openflow.stats_interval_secs".to_string(),
            c.openflow.stats_interval_secs,
            Secs,
        ),
        (
            "openflow.busy_poll_us".into(),
            c.openflow.busy_poll_us,
            Micros,
        ),
        (
            "discovery.probe_interval_ms".into(),
            c.discovery.probe_interval_ms,
            Millis,
        ),
        (
            "discovery.link_timeout_ms".into(),
            c.discovery.link_timeout_ms,
            Millis,
        ),
        (
            "planning.control_interval_ms".into(),
            c.planning.control_interval_ms,
            Millis,
        ),
        (
            "planning.path_grace_ms".into(),
            c.planning.path_grace_ms,
            Millis,
        ),
        (
            "planning.calendar_lead_secs".into(),
            c.planning.calendar_lead_secs,
            Secs,
        ),
        (
            "planning.calendar_retention_secs".into(),
            c.planning.calendar_retention_secs,
            Secs,
        ),
        (
            "cluster.lease_ttl_ms".into(),
            c.cluster.lease_ttl_ms,
            Millis,
        ),
        ("cluster.timeout_ms".into(), c.cluster.timeout_ms, Millis),
    ];
    if let Some(ms) = c.store.restore_grace_ms {
        out.push(("store.restore_grace_ms".into(), ms, Millis));
    }
    for (i, p) in c.p4runtime.iter().enumerate() {
        out.push((
            format!("p4runtime[{i}].stats_interval_secs"),
            p.stats_interval_secs,
            Secs,
        ));
    }
    for (i, p) in c.pools.iter().enumerate() {
        out.push((
            format!("pools[{i}].shadow_idle_secs"),
            p.shadow_idle_secs,
            Secs,
        ));
    }
    for (i, p) in c.policies.iter().enumerate() {
        out.push((
            format!("policies[{i}].cool_down_secs"),
            p.cool_down_secs,
            Secs,
        ));
    }
    for (i, h) in c.hooks.iter().enumerate() {
        out.push((format!("hooks[{i}].timeout_ms"), h.timeout_ms, Millis));
        out.push((format!("hooks[{i}].backoff_ms"), h.backoff_ms, Millis));
        out.push((
            format!("hooks[{i}].backoff_cap_ms"),
            h.backoff_cap_ms,
            Millis,
        ));
    }
    out
}

/// Every duration key at most [`MAX`].
pub fn check(c: &Config) -> Result<(), Refusal> {
    for (key, value, unit) in keys(c) {
        if value > unit.max() {
            return Err((
                key,
                value.to_string(),
                format!(
                    "must be at most {} {} (365 days): longer timers overflow the clock \
                     arithmetic",
                    unit.max(),
                    unit.name()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const U64_MAX: u64 = u64::MAX;

    #[test]
    fn durations_beyond_a_year_are_refused_naming_the_key() {
        let cases = [
            (
                "[openflow]\nstats_interval_secs = {}\n",
                "openflow.stats_interval_secs",
            ),
            ("[openflow]\nbusy_poll_us = {}\n", "openflow.busy_poll_us"),
            (
                "[planning]\ncontrol_interval_ms = {}\n",
                "planning.control_interval_ms",
            ),
            (
                "[planning]\ncalendar_lead_secs = {}\n",
                "planning.calendar_lead_secs",
            ),
            (
                "[planning]\ncalendar_retention_secs = {}\n",
                "planning.calendar_retention_secs",
            ),
            ("[store]\nrestore_grace_ms = {}\n", "store.restore_grace_ms"),
            (
                "[[p4runtime]]\naddress = \"127.0.0.1:9559\"\ndevice_id = 1\nports = [1]\n\
                 stats_interval_secs = {}\n",
                "p4runtime[0].stats_interval_secs",
            ),
            (
                "[[hooks]]\nname = \"h\"\nurl = \"http://127.0.0.1:9/\"\nbackoff_cap_ms = {}\n",
                "hooks[0].backoff_cap_ms",
            ),
        ];
        for (template, key) in cases {
            let text = template.replace("{}", &U64_MAX.to_string());
            let err = Config::parse(&text, "c.toml")
                .expect_err("a duration of u64::MAX")
                .to_string();
            assert!(
                err.contains(key) && err.contains(&U64_MAX.to_string()) && err.contains("365"),
                "{key}: {err}"
            );
        }
        // A year exactly is taken, and reaches the service.
        let year = "[openflow]\nstats_interval_secs = 31536000\n";
        let service = Config::parse(year, "c.toml")
            .and_then(|c| c.service("c.toml"))
            .expect("a year is valid");
        assert_eq!(service.stats_interval, Some(super::MAX));
        let err = Config::parse("[openflow]\nstats_interval_secs = 31536001\n", "c.toml")
            .expect_err("a year and a second");
        assert!(err.to_string().contains("31536001"), "{err}");
    }
}
