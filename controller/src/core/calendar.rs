//! Scheduled events (the calendar): known periods (a sale, a backup window) during which a
//! service — or every service — is expected to carry a multiple of its forecast demand, or an
//! absolute demand. From `lead` before an event starts until it ends, the service is planned
//! on the event's demand, so its scale-up is asked for ahead of the event, and the decision
//! names the event ("scaled up ahead of event `spring-sale`").
//!
//! Invariants: an event ends after it starts; it has exactly one effect, a finite
//! non-negative multiplier or an absolute demand; a recurring event repeats every `every`
//! seconds (longer than the event); ids are never reused.

use std::time::Duration;

use prescient_topology::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::services::Demand;

/// Most events kept.
pub const MAX_EVENTS: usize = 1024;

/// What an event concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventScope {
    /// Every service.
    All,
    /// One service.
    Service {
        /// Its name.
        service: String,
    },
}

/// What an event is expected to do to demand.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// The forecast times this.
    Multiplier(f64),
    /// At least this demand, bits/s.
    AbsoluteBps(u64),
}

/// One scheduled event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CalendarEvent {
    /// Number (given by the controller).
    pub id: u64,
    /// Name, for explanations.
    pub name: String,
    /// Start, seconds since the epoch (inclusive).
    pub start_secs: u64,
    /// End, seconds since the epoch (exclusive).
    pub end_secs: u64,
    /// Repeats every this many seconds (e.g. 86400 daily, 604800 weekly), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_secs: Option<u64>,
    /// What it concerns.
    pub scope: EventScope,
    /// What it does to demand.
    pub effect: Effect,
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` = {value}: {why}")]
pub struct EventError {
    /// The field.
    pub field: &'static str,
    /// Its value.
    pub value: String,
    /// Why.
    pub why: String,
}

fn refuse(field: &'static str, value: impl ToString, why: impl Into<String>) -> EventError {
    EventError {
        field,
        value: value.to_string(),
        why: why.into(),
    }
}

impl CalendarEvent {
    /// Checks the invariants in the module docs.
    pub fn check(&self) -> Result<(), EventError> {
        if !crate::services::model::name_ok_chars(&self.name) {
            return Err(refuse(
                "name",
                format!("{:?}", self.name),
                "must be 1 to 64 characters of A-Z a-z 0-9 . _ -",
            ));
        }
        if self.end_secs <= self.start_secs {
            return Err(refuse(
                "end_secs",
                self.end_secs,
                "must be after start_secs",
            ));
        }
        if let Some(every) = self.every_secs {
            if every <= self.end_secs - self.start_secs {
                return Err(refuse(
                    "every_secs",
                    every,
                    "must be longer than the event, or its occurrences overlap",
                ));
            }
        }
        if let Effect::Multiplier(m) = self.effect {
            if !(m.is_finite() && m >= 0.0) {
                return Err(refuse(
                    "multiplier",
                    m,
                    "must be a finite non-negative number",
                ));
            }
        }
        Ok(())
    }

    /// The occurrence that is on, or starts within `lead`, at `now`: its start, seconds.
    pub fn upcoming(&self, now: Timestamp, lead: Duration) -> Option<u64> {
        let now = now.nanos() / 1_000_000_000;
        let ahead = now.saturating_add(lead.as_secs());
        let len = self.end_secs - self.start_secs;
        // The latest occurrence starting by `ahead`, and the one before (it may still be on).
        let candidates = match self.every_secs {
            Some(every) if ahead >= self.start_secs => {
                let latest = self.start_secs + (ahead - self.start_secs) / every * every;
                [
                    latest.checked_sub(every).filter(|s| *s >= self.start_secs),
                    Some(latest),
                ]
            }
            _ => [None, Some(self.start_secs)],
        };
        candidates
            .into_iter()
            .flatten()
            .find(|s| *s <= ahead && now < s + len)
    }

    /// Whether it concerns service `name`.
    pub fn concerns(&self, name: &str) -> bool {
        match &self.scope {
            EventScope::All => true,
            EventScope::Service { service } => service == name,
        }
    }
}

/// `demand` as the events on (or within `lead`) for service `name` at `now` make it, with
/// the events that did; `None` stays `None` unless an event sets an absolute demand.
pub fn apply(
    events: &[CalendarEvent],
    name: &str,
    now: Timestamp,
    lead: Duration,
    demand: Option<Demand>,
) -> (Option<Demand>, Vec<(String, u64)>) {
    let mut out = demand;
    let mut why = Vec::new();
    for e in events.iter().filter(|e| e.concerns(name)) {
        let Some(start) = e.upcoming(now, lead) else {
            continue;
        };
        match e.effect {
            Effect::Multiplier(m) => {
                if let Some(d) = out.as_mut() {
                    d.point_bps *= m;
                    d.upper_bps *= m;
                    d.lower_bps *= m;
                    d.planned_bps *= m;
                } else {
                    continue;
                }
            }
            Effect::AbsoluteBps(bps) => {
                let v = bps as f64;
                let d = out.get_or_insert(Demand {
                    point_bps: 0.0,
                    upper_bps: 0.0,
                    lower_bps: 0.0,
                    planned_bps: 0.0,
                    steps: 1,
                    pairs: 0,
                });
                d.point_bps = d.point_bps.max(v);
                d.upper_bps = d.upper_bps.max(v);
                d.lower_bps = d.lower_bps.max(v);
                d.planned_bps = d.planned_bps.max(v);
            }
        }
        why.push((e.name.clone(), start));
    }
    (out, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(start: u64, end: u64, every: Option<u64>) -> CalendarEvent {
        CalendarEvent {
            id: 1,
            name: "sale".into(),
            start_secs: start,
            end_secs: end,
            every_secs: every,
            scope: EventScope::Service {
                service: "web".into(),
            },
            effect: Effect::Multiplier(3.0),
        }
    }

    fn t(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    #[test]
    fn an_event_counts_from_lead_before_its_start_until_its_end() {
        let e = ev(1000, 2000, None);
        let lead = Duration::from_secs(100);
        assert_eq!(e.upcoming(t(899), lead), None);
        assert_eq!(e.upcoming(t(900), lead), Some(1000));
        assert_eq!(e.upcoming(t(1999), lead), Some(1000));
        assert_eq!(e.upcoming(t(2000), lead), None);
        let daily = ev(1000, 2000, Some(86_400));
        assert_eq!(daily.upcoming(t(86_400 + 950), lead), Some(86_400 + 1000));
        assert_eq!(daily.upcoming(t(86_400 + 1500), lead), Some(86_400 + 1000));
        assert_eq!(daily.upcoming(t(86_400 + 2500), lead), None);
        assert!(ev(10, 10, None).check().is_err());
        assert!(ev(10, 20, Some(5)).check().is_err());
    }

    #[test]
    fn a_multiplier_scales_demand_and_an_absolute_demand_creates_one() {
        let d = Demand {
            point_bps: 10.0,
            upper_bps: 20.0,
            lower_bps: 5.0,
            planned_bps: 25.0,
            steps: 3,
            pairs: 1,
        };
        let lead = Duration::from_secs(0);
        let (out, why) = apply(&[ev(0, 100, None)], "web", t(50), lead, Some(d));
        assert_eq!(
            out.map(|d| (d.upper_bps, d.planned_bps)),
            Some((60.0, 75.0))
        );
        assert_eq!(why, vec![("sale".to_string(), 0)]);
        let (out, _) = apply(&[ev(0, 100, None)], "db", t(50), lead, Some(d));
        assert_eq!(out, Some(d));
        let mut abs = ev(0, 100, None);
        abs.effect = Effect::AbsoluteBps(1000);
        let (out, _) = apply(&[abs], "web", t(50), lead, None);
        assert_eq!(out.map(|d| d.planned_bps), Some(1000.0));
    }
}
