//! The calendar's retention through the core and a redb store: the control tick removes an
//! event once its last occurrence ended `calendar_retention` ago, with a decision naming it,
//! and the persister deletes it from the file as after a DELETE; a repeating event without an
//! end stays; a full calendar takes events again once those over are gone, and ids are never
//! handed out twice.

use std::time::Duration;

use prescient_topology::Timestamp;

use super::calendar::{CalendarEvent, Effect, EventScope, MAX_EVENTS};
use super::{ControllerCore, CoreConfig, Rule, SharedCore};
use crate::store::tests::TempDir;
use crate::store::{Persister, Store};

/// Some instant, seconds since the epoch.
const T: u64 = 1_700_000_000;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

fn config() -> CoreConfig {
    let mut config = CoreConfig::default();
    config.planning.calendar_retention = Duration::from_secs(HOUR);
    config
}

fn event(name: &str, start: u64, end: u64) -> CalendarEvent {
    CalendarEvent {
        id: 0,
        name: name.into(),
        start_secs: start,
        end_secs: end,
        every_secs: None,
        until_secs: None,
        scope: EventScope::All,
        effect: Effect::Multiplier(2.0),
    }
}

fn names(core: &SharedCore) -> Vec<String> {
    core.read(|c| c.calendar().map(|e| e.name.clone()).collect())
}

fn stored(path: &std::path::Path) -> Vec<String> {
    let store = Store::open_file(path).expect("the file opens");
    let events = store.load_events().expect("the calendar reads");
    events.into_iter().map(|e| e.name).collect()
}

fn tick(core: &SharedCore, persister: &Persister, at: u64) {
    core.apply(|c| c.tick(Timestamp::from_secs(at)));
    persister.sync(core).expect("the store writes");
}

#[test]
fn events_over_for_the_retention_leave_the_listing_and_the_redb_file() {
    let dir = TempDir::new("calendar-retention");
    let path = dir.file("state.redb");
    let core = SharedCore::new(config());
    // Over for half an hour at T; over for exactly the retention at T; daily for a hundred
    // days and on, with no end; daily until its last occurrence, which ended ten minutes ago.
    let daily = |name: &str, until: Option<u64>| CalendarEvent {
        every_secs: Some(DAY),
        until_secs: until,
        ..event(name, T - 100 * DAY, T - 100 * DAY + HOUR)
    };
    let last_start = T - 600 - HOUR;
    let events = [
        event("recent", T - 2 * HOUR, T - 1800),
        event("old", T - 2 * HOUR, T - HOUR),
        daily("forever", None),
        // `until` a day after the last start (5 h): that start is still the last.
        CalendarEvent {
            start_secs: last_start - 30 * DAY,
            end_secs: last_start - 30 * DAY + HOUR,
            ..daily("until", Some(last_start + 5 * HOUR))
        },
    ];
    let ids: Vec<u64> = events
        .into_iter()
        .map(|e| core.apply(|c| c.add_event(e)).expect("accepted").id)
        .collect();
    let persister = Persister::new(Store::open_file(&path).expect("store")).expect("persister");
    persister.sync(&core).expect("the store writes");

    tick(&core, &persister, T - 1);
    assert_eq!(names(&core), ["recent", "old", "forever", "until"]);
    tick(&core, &persister, T);
    assert_eq!(names(&core), ["recent", "forever", "until"]);
    let pruned: Vec<(String, String)> = core.read(|c| {
        c.decisions()
            .iter()
            .filter(|d| d.rule == Rule::CalendarEventPruned)
            .map(|d| (d.subject.clone(), d.reason.clone()))
            .collect()
    });
    assert_eq!(pruned.len(), 1, "{pruned:?}");
    assert_eq!(pruned[0].0, format!("calendar/{}", ids[1]));
    let why = &pruned[0].1;
    assert!(
        why.contains("event `old`")
            && why.contains(&format!("ended at {} s", T - HOUR))
            && why.contains("retention of 3600 s"),
        "{why}"
    );
    // The repeating one goes an hour after its last occurrence's end, not on its first's.
    tick(&core, &persister, T + 1799);
    assert_eq!(names(&core), ["recent", "forever", "until"]);
    tick(&core, &persister, T + 1800);
    assert_eq!(names(&core), ["forever", "until"]);
    tick(&core, &persister, T - 600 + HOUR - 1);
    assert_eq!(names(&core), ["forever", "until"]);
    tick(&core, &persister, T - 600 + HOUR);
    assert_eq!(names(&core), ["forever"]);
    let reason = core.read(|c| {
        c.decisions()
            .iter()
            .filter(|d| d.subject == format!("calendar/{}", ids[3]))
            .map(|d| d.reason.clone())
            .collect::<Vec<_>>()
    });
    assert!(
        reason.len() == 1 && reason[0].contains("its last occurrence ended at"),
        "{reason:?}"
    );
    // Without an end, a year on it is still there.
    tick(&core, &persister, T + 365 * DAY);
    assert_eq!(names(&core), ["forever"]);
    persister.close();
    // As a restart finds the file: only the event that is not over, and the next id kept.
    assert_eq!(stored(&path), ["forever"]);
    let store = Store::open_file(&path).expect("the file opens");
    let next = store.load_next_event_id().expect("the meta table reads");
    assert_eq!(next, Some(ids[3] + 1));
}

#[test]
fn a_full_calendar_takes_events_again_once_those_over_are_pruned() {
    let mut core = ControllerCore::new(config());
    let mut last = 0;
    for i in 0..MAX_EVENTS {
        let e = event(&format!("batch-{i}"), T + i as u64, T + i as u64 + 60);
        last = core.add_event(e).expect("room").id;
    }
    let refused = core
        .add_event(event("one-more", T + 2 * DAY, T + 2 * DAY + 60))
        .expect_err("a full calendar");
    assert!(refused.why.contains("1024 events already"), "{refused}");
    // The first half has been over for an hour by then: their places are free again.
    let half = MAX_EVENTS as u64 / 2;
    core.tick(Timestamp::from_secs(T + half - 1 + 60 + HOUR));
    assert_eq!(core.calendar().count(), MAX_EVENTS - half as usize);
    let again = core
        .add_event(event("one-more", T + 2 * DAY, T + 2 * DAY + 60))
        .expect("room again");
    assert!(again.id > last, "{} reuses an id up to {last}", again.id);
}

#[test]
fn zero_retention_prunes_at_the_first_tick_at_or_after_the_end() {
    let mut config = config();
    config.planning.calendar_retention = Duration::ZERO;
    let mut core = ControllerCore::new(config);
    core.add_event(event("window", T, T + 60))
        .expect("accepted");
    core.tick(Timestamp::from_secs(T + 59));
    assert_eq!(core.calendar().count(), 1, "still on");
    core.tick(Timestamp::from_secs(T + 60));
    assert_eq!(core.calendar().count(), 0, "over");
}
