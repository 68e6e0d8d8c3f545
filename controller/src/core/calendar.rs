//! Scheduled events (the calendar): known periods (a sale, a backup window) during which a
//! service, a host pair, a link — or everything — is expected to carry a multiple of its
//! forecast demand, or an absolute demand.
//!
//! - Services (scope `service` or `all`): from `lead` before an event starts until it ends,
//!   the service is planned on the event's demand, so its scale-up is asked for ahead of the
//!   event, and the decision names the event ("scaled up ahead of event `spring-sale`").
//! - Series (scope `pair`, `link` or `all`): the event's occurrences within the forecast
//!   horizon go into the predict crate's [`Calendar`], which scales (or floors) the forecast of
//!   each series it concerns at the steps it covers; forecast reservations are sized on those
//!   forecasts and their decisions name the event. A service's demand takes its senders'
//!   forecasts with the pair- and link-scoped events only: `all` reaches it once, through the
//!   service rule above.
//!
//! Invariants: an event ends after it starts; it has exactly one effect, a finite
//! non-negative multiplier or an absolute demand; a recurring event repeats every `every`
//! seconds (longer than the event), forever or until `until` (the last start an occurrence may
//! have, at or after the first, as iCalendar's RRULE UNTIL; only with `every`); ids are never
//! reused (the next one is kept in the state store beside the events).
//!
//! Retention: an event that is over — a one-off past its end, a repeating one with `until` past
//! the end of its last occurrence ([`CalendarEvent::last_end`]) — is removed by the control tick
//! once `[planning] calendar_retention_secs` have passed since that end, the same way a DELETE
//! removes it (from the state store too, in a cluster by the leader), with a decision saying
//! which event and why. Until then it stays listed and stored, with no occurrence left. A
//! repeating event without `until` is never over. Without this a calendar fed one one-off event
//! an hour (batch windows) filled its [`MAX_EVENTS`] places in 43 days and refused the next.

use std::time::Duration;

use prescient_predict::{Calendar, Event, Scope};
use prescient_topology::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::naming::{parse_link, parse_mac};
use super::records::SeriesKey;
use crate::services::Demand;

/// Most occurrences of one recurring event put into a series calendar (one horizon's worth).
const MAX_OCCURRENCES: u64 = 256;

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
        #[schema(schema_with = crate::vocab::formats::name)]
        service: String,
    },
    /// The traffic from one host to another (its pair series and forecast reservation).
    Pair {
        /// Source host's MAC (`aa:bb:cc:dd:ee:ff`; the API also takes a known host's IPv4).
        #[schema(schema_with = crate::vocab::formats::host)]
        src: String,
        /// Destination host's MAC (or a known host's IPv4).
        #[schema(schema_with = crate::vocab::formats::host)]
        dst: String,
    },
    /// One directed link (its series), by link id (`<device>:<port>,<device>:<port>`).
    Link {
        /// The link id.
        #[schema(schema_with = crate::vocab::formats::link)]
        link: String,
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
    /// The last start a repetition may have, seconds since the epoch (inclusive, as
    /// iCalendar's UNTIL): no occurrence starts after it. Absent: it repeats forever. Events
    /// stored before this field existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_secs: Option<u64>,
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
        if let Some(until) = self.until_secs {
            if self.every_secs.is_none() {
                return Err(refuse(
                    "until_secs",
                    until,
                    "is only for an event that repeats (every_secs): one that does not has a single occurrence",
                ));
            }
            if until < self.start_secs {
                return Err(refuse(
                    "until_secs",
                    until,
                    format!(
                        "must be at or after start_secs ({}): it is the last start an occurrence may have",
                        self.start_secs
                    ),
                ));
            }
        }
        match &self.scope {
            // Scopes that can never match a series are refused: the event would be accepted,
            // listed and stored, and never change a forecast.
            EventScope::Pair { src, dst } => {
                for (field, mac) in [("scope.src", src), ("scope.dst", dst)] {
                    match parse_mac(mac) {
                        None => return Err(refuse(field, format!("{mac:?}"), "is not a MAC")),
                        Some(m) if m.is_multicast() => {
                            return Err(refuse(
                                field,
                                format!("{mac:?}"),
                                "is a group (multicast or broadcast) address, which names no host; a pair is two hosts",
                            ))
                        }
                        Some(m) if !m.names_host() => {
                            return Err(refuse(
                                field,
                                format!("{mac:?}"),
                                "is the all-zero MAC, which no host sends from; a pair is two hosts",
                            ))
                        }
                        Some(_) => {}
                    }
                }
                if parse_mac(src) == parse_mac(dst) {
                    return Err(refuse(
                        "scope.dst",
                        format!("{dst:?}"),
                        "is scope.src: a host's traffic to itself never crosses the network, so no pair series has it",
                    ));
                }
            }
            EventScope::Link { link } => {
                let Some(key) = parse_link(link) else {
                    return Err(refuse(
                        "scope.link",
                        format!("{link:?}"),
                        "is not a link id (<device>:<port>,<device>:<port>)",
                    ));
                };
                if key.src == key.dst {
                    return Err(refuse(
                        "scope.link",
                        format!("{link:?}"),
                        "goes from a port to itself; no link does",
                    ));
                }
                if let Some(end) = [key.src, key.dst].iter().find(|p| !p.port.is_physical()) {
                    return Err(refuse(
                        "scope.link",
                        format!("{link:?}"),
                        format!(
                            "port {} of {} is not a physical port (1 ..= {}); links join physical ports",
                            end.port,
                            end.device,
                            prescient_topology::PortNo::MAX_PHYSICAL
                        ),
                    ));
                }
            }
            EventScope::Service { service } => {
                if !crate::services::model::name_ok_chars(service) {
                    return Err(refuse(
                        "scope.service",
                        format!("{service:?}"),
                        "is not a service name (1 to 64 of A-Z a-z 0-9 . _ -)",
                    ));
                }
            }
            EventScope::All => {}
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
        // The latest occurrence starting by `ahead` (and by `until`: none starts after it), and
        // the one before (it may still be on).
        let candidates = match self.every_secs {
            Some(every) if ahead >= self.start_secs => {
                let last = self.until_secs.map_or(ahead, |u| u.min(ahead));
                let latest = self.start_secs + last.saturating_sub(self.start_secs) / every * every;
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

    /// When its last occurrence ends, seconds: a one-off's end, a repeating event's last start
    /// at or before `until` plus its length; `None` for one repeating forever (never over).
    pub fn last_end(&self) -> Option<u64> {
        let len = self.end_secs.saturating_sub(self.start_secs);
        let Some(every) = self.every_secs else {
            return Some(self.end_secs);
        };
        let until = self.until_secs?;
        // `check` keeps `every` above the length (so above 0); a stored event that breaks it
        // is never pruned rather than divided by zero.
        let last = until.saturating_sub(self.start_secs).checked_div(every)?;
        Some(
            self.start_secs
                .saturating_add(last.saturating_mul(every))
                .saturating_add(len),
        )
    }

    /// Whether, at `now`, its last occurrence ended at least `retention` ago (see the module
    /// docs), so it goes.
    pub fn expired(&self, now: Timestamp, retention: Duration) -> bool {
        let now = now.nanos() / 1_000_000_000;
        self.last_end()
            .is_some_and(|end| now >= end.saturating_add(retention.as_secs()))
    }

    /// Whether it concerns service `name`.
    pub fn concerns(&self, name: &str) -> bool {
        match &self.scope {
            EventScope::All => true,
            EventScope::Service { service } => service == name,
            EventScope::Pair { .. } | EventScope::Link { .. } => false,
        }
    }

    /// The series it concerns: `None` for every series, `Some(empty)` for none (a service).
    fn series(&self) -> Option<Vec<SeriesKey>> {
        match &self.scope {
            EventScope::All => None,
            EventScope::Service { .. } => Some(Vec::new()),
            EventScope::Pair { src, dst } => Some(
                parse_mac(src)
                    .zip(parse_mac(dst))
                    .map(|(s, d)| SeriesKey::Pair(s, d))
                    .into_iter()
                    .collect(),
            ),
            EventScope::Link { link } => {
                Some(parse_link(link).map(SeriesKey::Link).into_iter().collect())
            }
        }
    }

    /// Its occurrences overlapping `[from, until)` seconds, as `(start, end)`.
    fn occurrences(&self, from: u64, until: u64) -> Vec<(u64, u64)> {
        let len = self.end_secs - self.start_secs;
        let Some(every) = self.every_secs else {
            return (self.start_secs < until && from < self.end_secs)
                .then_some((self.start_secs, self.end_secs))
                .into_iter()
                .collect();
        };
        // The first occurrence that has not ended by `from`.
        let first = match from.checked_sub(self.end_secs) {
            Some(past) => past / every + 1,
            None => 0,
        };
        (first..first.saturating_add(MAX_OCCURRENCES))
            .map(|k| self.start_secs.saturating_add(k.saturating_mul(every)))
            .take_while(|s| *s < until && self.until_secs.is_none_or(|last| *s <= last))
            .map(|s| (s, s.saturating_add(len)))
            .filter(|(_, e)| *e > from)
            .collect()
    }
}

/// The predict crate's calendars of the events concerning series, for forecasts covering
/// `[from, until)` seconds: the pair- and link-scoped events, and those for everything (kept
/// apart because a service's demand takes only the first, see the module docs).
pub fn series_calendars(
    events: &[CalendarEvent],
    from: u64,
    until: u64,
) -> (Calendar<SeriesKey>, Calendar<SeriesKey>) {
    let mut scoped = Calendar::default();
    let mut all = Calendar::default();
    for e in events {
        let (target, scope) = match e.series() {
            None => (&mut all, Scope::All),
            Some(keys) if keys.is_empty() => continue,
            Some(keys) => (&mut scoped, Scope::Only(keys)),
        };
        let (multiplier, at_least) = match e.effect {
            Effect::Multiplier(m) => (m, None),
            Effect::AbsoluteBps(b) => (1.0, Some(b as f64)),
        };
        for (start, end) in e.occurrences(from, until) {
            // Checked on the way in (`check`); one that is not is left out, not fatal.
            let _ = target.add(Event {
                name: e.name.clone(),
                start,
                end,
                multiplier,
                at_least,
                scope: scope.clone(),
            });
        }
    }
    (scoped, all)
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
            until_secs: None,
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
    fn occurrences_within_a_window_and_series_scopes_reach_the_predict_calendar() {
        let daily = ev(1000, 2000, Some(86_400));
        assert_eq!(daily.occurrences(0, 500), vec![]);
        assert_eq!(daily.occurrences(1500, 1600), vec![(1000, 2000)]);
        assert_eq!(
            daily.occurrences(1999, 86_400 + 1001),
            vec![(1000, 2000), (87_400, 88_400)]
        );
        assert_eq!(daily.occurrences(2000, 87_400), vec![]);
        let a = prescient_topology::MacAddr([0, 0, 0, 0, 0, 1]);
        let b = prescient_topology::MacAddr([0, 0, 0, 0, 0, 2]);
        let mut pair = ev(1000, 2000, None);
        pair.scope = EventScope::Pair {
            src: a.to_string(),
            dst: b.to_string(),
        };
        let mut everything = ev(1500, 2500, None);
        everything.scope = EventScope::All;
        everything.effect = Effect::AbsoluteBps(100);
        let service = ev(0, 5000, None);
        let (scoped, all) = series_calendars(&[pair, everything, service], 900, 3000);
        let ab = SeriesKey::Pair(a, b);
        let ba = SeriesKey::Pair(b, a);
        assert_eq!(scoped.adjust(&ab, 1200, 10.0), 30.0);
        assert_eq!(scoped.adjust(&ba, 1200, 10.0), 10.0);
        assert_eq!(scoped.adjust(&ab, 2000, 10.0), 10.0);
        assert_eq!(all.adjust(&ba, 1600, 10.0), 100.0);
        assert_eq!(all.adjust(&ab, 1200, 10.0), 10.0);
        let mut bad = ev(1, 2, None);
        bad.scope = EventScope::Link { link: "x".into() };
        assert_eq!(bad.check().map_err(|e| e.field), Err("scope.link"));
    }

    /// Weekly from day 0, 1000 s long, the last start at the third occurrence.
    fn weekly_until_third() -> CalendarEvent {
        let week = 7 * 86_400;
        CalendarEvent {
            until_secs: Some(1000 + 2 * week),
            ..ev(1000, 2000, Some(week))
        }
    }

    #[test]
    fn a_repeating_event_has_no_occurrence_starting_after_its_until() {
        let week = 7 * 86_400;
        let e = weekly_until_third();
        assert_eq!(e.check(), Ok(()));
        let lead = Duration::from_secs(100);
        // The third (last) occurrence counts from its lead until its end, the fourth never.
        assert_eq!(e.upcoming(t(2 * week + 950), lead), Some(2 * week + 1000));
        assert_eq!(e.upcoming(t(2 * week + 1999), lead), Some(2 * week + 1000));
        assert_eq!(e.upcoming(t(2 * week + 2000), lead), None);
        assert_eq!(e.upcoming(t(3 * week + 950), lead), None);
        assert_eq!(e.upcoming(t(3 * week + 1500), lead), None);
        assert_eq!(e.upcoming(t(50 * week + 1500), lead), None);
        // Without `until` the fourth is on.
        let forever = ev(1000, 2000, Some(week));
        assert_eq!(
            forever.upcoming(t(3 * week + 1500), lead),
            Some(3 * week + 1000)
        );
        // The series' calendars get the occurrences up to the last start only.
        assert_eq!(
            e.occurrences(0, 10 * week),
            vec![
                (1000, 2000),
                (week + 1000, week + 2000),
                (2 * week + 1000, 2 * week + 2000)
            ]
        );
        assert_eq!(e.occurrences(2 * week + 1500, 10 * week).len(), 1);
        assert_eq!(e.occurrences(2 * week + 2000, 10 * week), vec![]);
        let mut everything = e.clone();
        everything.scope = EventScope::All;
        let any = SeriesKey::Pair(
            prescient_topology::MacAddr([0, 0, 0, 0, 0, 1]),
            prescient_topology::MacAddr([0, 0, 0, 0, 0, 2]),
        );
        for (from, at, want) in [
            (2 * week, 2 * week + 1500, 30.0),
            (3 * week, 3 * week + 1500, 10.0),
        ] {
            let (_, all) = series_calendars(std::slice::from_ref(&everything), from, from + 5000);
            assert_eq!(all.adjust(&any, at, 10.0), want, "at {at}");
        }
        // The services' demand (and the decisions naming the event) end with it too.
        let d = Demand {
            point_bps: 10.0,
            upper_bps: 10.0,
            lower_bps: 10.0,
            planned_bps: 10.0,
            steps: 1,
            pairs: 1,
        };
        let (out, why) = apply(
            std::slice::from_ref(&e),
            "web",
            t(2 * week + 1500),
            lead,
            Some(d),
        );
        assert_eq!(out.map(|d| d.planned_bps), Some(30.0));
        assert_eq!(why, vec![("sale".to_string(), 2 * week + 1000)]);
        let (out, why) = apply(&[e], "web", t(3 * week + 1500), lead, Some(d));
        assert_eq!((out, why), (Some(d), vec![]));
    }

    #[test]
    fn an_event_is_over_after_its_last_occurrences_end_and_goes_a_retention_later() {
        let week = 7 * 86_400;
        let retention = Duration::from_secs(3600);
        // A one-off: over at its end, gone an hour later, not a second before.
        let once = ev(1000, 2000, None);
        assert_eq!(once.last_end(), Some(2000));
        assert!(!once.expired(t(1500), retention));
        assert!(!once.expired(t(2000 + 3599), retention));
        assert!(once.expired(t(2000 + 3600), retention));
        // Zero retention: at its end (exclusive, so no longer on).
        assert!(!once.expired(t(1999), Duration::ZERO));
        assert!(once.expired(t(2000), Duration::ZERO));
        // Repeating until the third start: the third occurrence's end, whatever the first's.
        let weekly = weekly_until_third();
        assert_eq!(weekly.last_end(), Some(2 * week + 2000));
        assert!(!weekly.expired(t(week + 2000 + 3600), retention));
        assert!(!weekly.expired(t(2 * week + 2000 + 3599), retention));
        assert!(weekly.expired(t(2 * week + 2000 + 3600), retention));
        // An `until` between two starts: the occurrence before it is the last.
        let mid = CalendarEvent {
            until_secs: Some(1000 + 2 * week + 5),
            ..weekly.clone()
        };
        assert_eq!(mid.last_end(), Some(2 * week + 2000));
        // Repeating forever: never over, however late.
        let forever = ev(1000, 2000, Some(week));
        assert_eq!(forever.last_end(), None);
        assert!(!forever.expired(t(u64::MAX / 1_000_000_000), Duration::ZERO));
    }

    #[test]
    fn until_is_only_for_a_repeating_event_and_not_before_its_start() {
        let mut once = ev(1000, 2000, None);
        once.until_secs = Some(5000);
        let err = once.check().expect_err("a one-off event has no until");
        assert_eq!((err.field, err.value.as_str()), ("until_secs", "5000"));
        let mut early = ev(1000, 2000, Some(86_400));
        early.until_secs = Some(999);
        let err = early.check().expect_err("before its start");
        assert_eq!((err.field, err.value.as_str()), ("until_secs", "999"));
        assert!(err.to_string().contains("start_secs (1000)"), "{err}");
        // At its start: a repeating event with one occurrence, accepted.
        early.until_secs = Some(1000);
        assert_eq!(early.check(), Ok(()));
        assert_eq!(early.occurrences(0, u64::MAX).len(), 1);
    }

    #[test]
    fn an_event_stored_without_until_repeats_forever_and_one_with_it_round_trips() {
        // As a store (redb or etcd) holds an event written before `until_secs` existed.
        let old = r#"{"id":3,"name":"sale","start_secs":1000,"end_secs":2000,
            "every_secs":86400,"scope":{"kind":"all"},"effect":{"multiplier":2.0}}"#;
        let e: CalendarEvent = serde_json::from_str(old).expect("an old event loads");
        assert_eq!((e.every_secs, e.until_secs), (Some(86_400), None));
        let text = serde_json::to_string(&weekly_until_third()).expect("json");
        assert!(text.contains("\"until_secs\":1210600"), "{text}");
        let back: CalendarEvent = serde_json::from_str(&text).expect("json");
        assert_eq!(back, weekly_until_third());
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
