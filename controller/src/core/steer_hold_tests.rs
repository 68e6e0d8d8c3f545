//! The congestion rule's hold-down: a pair it steered stays on its new path for
//! `steer_hold_down` control intervals, then may be moved again if its link is still hot.

use prescient_topology::LinkKey;

use super::tests::{
    at, drive_rates, hot_decisions, s1_s2, square_with_h3_and, steer_h1_h2_via_s3, steered_pairs,
    Feed, Rates, H1, H2,
};
use super::*;

/// Rates after the pair moved via s3: there it meets 30 % of other traffic (90 % of s1 -> s3,
/// above the 80 % threshold for good), while s1 -> s2 carries 10 %.
const CROWDED: Rates = Rates {
    to_h2: 0.6e9,
    to_h3: 0.0,
    s1_s2: 0.1e9,
    s1_s3: 0.9e9,
};

fn s1_s3() -> LinkKey {
    LinkKey::new(at(1, 2), at(3, 1))
}

/// The square with a hold-down of 60 intervals (1 s each), h1 -> h2 steered via s3, and the
/// second its hold-down ends: after s1 -> s3 turns hot under [`CROWDED`] from second 70, and
/// after 80, where the tests change the rates again.
fn steered_with_a_60_s_hold_down() -> (ControllerCore, Feed, u64) {
    let mut config = CoreConfig::default();
    config.planning.steer_hold_down = 60;
    let mut c = square_with_h3_and(config);
    let mut feed = Feed::default();
    steer_h1_h2_via_s3(&mut c, &mut feed);
    let hold_ends = first_steer_secs(&c) + 60;
    assert!(
        hold_ends > 80,
        "the hold-down must end after second 80: {hold_ends}"
    );
    (c, feed, hold_ends)
}

/// Second of the first decision steering the pair (the hold-down runs from it).
fn first_steer_secs(c: &ControllerCore) -> u64 {
    let subject = format!("link/{}", super::naming::link_id(s1_s2()));
    let d = hot_decisions(c)
        .into_iter()
        .find(|d| d.subject == subject)
        .expect("s1 -> s2 predicted hot");
    d.at_ns / 1_000_000_000
}

#[test]
fn a_steered_pair_moves_again_once_its_hold_down_is_over_while_its_new_link_stays_hot() {
    let (mut c, mut feed, hold_ends) = steered_with_a_60_s_hold_down();
    let held = drive_rates(&mut c, &mut feed, 70, hold_ends - 70, &CROWDED);
    assert!(steered_pairs(&held).is_empty(), "{held:?}");
    assert!(
        c.hot_links().contains(&s1_s3()),
        "s1 -> s3 is hot while the pair is held"
    );
    let after = drive_rates(&mut c, &mut feed, hold_ends, 30, &CROWDED);
    assert_eq!(steered_pairs(&after), vec![(H1, H2)], "{after:?}");
    let back = after.iter().find_map(|a| match a {
        Action::InstallPath { links, .. } => Some(links.clone()),
        _ => None,
    });
    assert!(
        back.as_ref()
            .is_some_and(|l| l.contains(&s1_s2()) && !l.contains(&s1_s3())),
        "{back:?}"
    );
    let subject = format!("link/{}", super::naming::link_id(s1_s3()));
    let again = hot_decisions(&c)
        .into_iter()
        .rev()
        .find(|d| d.subject == subject)
        .expect("a decision on s1 -> s3");
    assert!(
        again
            .reason
            .contains("hold-down of a pair steered onto it earlier is over"),
        "{}",
        again.reason
    );
}

#[test]
fn a_hold_down_that_ends_while_the_link_is_forecast_hot_but_measured_calm_moves_nothing() {
    let (mut c, mut feed, hold_ends) = steered_with_a_60_s_hold_down();
    drive_rates(&mut c, &mut feed, 70, 10, &CROWDED);
    assert!(c.hot_links().contains(&s1_s3()));
    // The other traffic on s1 -> s3 leaves: the pair alone is 60 %, but the step keeps the
    // link's bound above the threshold for a calibration window.
    let calm = Rates {
        s1_s3: 0.6e9,
        ..CROWDED
    };
    let actions = drive_rates(&mut c, &mut feed, 80, hold_ends - 80, &calm);
    assert!(steered_pairs(&actions).is_empty(), "{actions:?}");
    // Its bound still holds the step (wide for a calibration window): forecast hot, measured not.
    assert!(
        c.hot_links().contains(&s1_s3()),
        "s1 -> s3 still forecast hot"
    );
    let actions = drive_rates(&mut c, &mut feed, hold_ends, 60, &calm);
    // Before the measured guard: moved back at the hold-down's end, on the transient.
    assert!(steered_pairs(&actions).is_empty(), "{actions:?}");
}
