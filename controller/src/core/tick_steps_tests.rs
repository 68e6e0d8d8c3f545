//! The tick in steps (`tick_begin`, `tick_step`, `tick_finish`), as the driver runs it with the
//! core's lock let go in between: it decides and reports what the one-call tick does, and what
//! other calls change between its steps does not undo what it decided at its beginning.

use std::time::Duration;

use prescient_topology::{FlowKey, MacAddr, PortCounters, Timestamp};

use super::tests::{at, dev, refresh_links, square_with_h3_and, H1, H2, H3};
use super::*;

/// Host pairs with a flow entry on s1, each at its own rate: two that cross s1 -> s2 (the
/// planners steer and reserve for them) and two of hosts the core has not placed.
const PAIRS: [(MacAddr, MacAddr); 4] = [
    (H1, H2),
    (H1, H3),
    (MacAddr([2, 0, 0, 0, 0, 3]), MacAddr([2, 0, 0, 0, 0, 4])),
    (MacAddr([2, 0, 0, 0, 0, 5]), MacAddr([2, 0, 0, 0, 0, 6])),
];

/// Bit/s of series `i` (s1's two links, then [`PAIRS`]) at second `s`: s1 -> s2 near its
/// capacity, each with some wiggle, and a burst late enough for the 99 % band to flag it.
fn rate(i: usize, s: u64) -> f64 {
    let base = if i == 0 {
        8.0e8
    } else {
        (1.0 + i as f64) * 1.0e8
    };
    let wiggle = 3.0e7 * ((s as f64) * 0.3 + i as f64).sin()
        + 1.0e7 * (((s * 7 + i as u64) % 11) as f64 / 11.0);
    let burst = if (280..283).contains(&s) { 6.0 } else { 1.0 };
    burst * (base + wiggle)
}

/// Ticks `from..from + secs` with every link of s1 and every pair of [`PAIRS`] counted, each
/// tick run by `tick`; returns every action.
fn drive(
    c: &mut ControllerCore,
    bytes: &mut [u64; 6],
    (from, secs): (u64, u64),
    tick: &dyn Fn(&mut ControllerCore, Timestamp) -> Vec<Action>,
) -> Vec<Action> {
    let mut actions = Vec::new();
    for s in from..from + secs {
        let now = Timestamp::from_secs(s);
        refresh_links(c, now);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b += (rate(i, s) / 8.0) as u64;
        }
        for (i, port) in [1, 2].into_iter().enumerate() {
            let counters = PortCounters {
                tx_bytes: bytes[i],
                tx_packets: bytes[i] / 1000,
                ..PortCounters::default()
            };
            c.port_counters(now, at(1, port), counters);
        }
        for (i, pair) in PAIRS.into_iter().enumerate() {
            let flow = FlowKey {
                device: dev(1),
                cookie: 7 + i as u64,
            };
            let b = bytes[2 + i];
            c.flow_counters(now, flow, Some(pair), b, b / 1000);
        }
        actions.extend(tick(c, now));
    }
    actions
}

/// The tick one visit a step: the most chances for a step boundary to change something.
fn in_steps(c: &mut ControllerCore, now: Timestamp) -> Vec<Action> {
    let mut round = c.tick_begin(now);
    while !c.tick_step(&mut round, 1) {}
    c.tick_finish(round)
}

fn one_call(c: &mut ControllerCore, now: Timestamp) -> Vec<Action> {
    c.tick(now)
}

/// Everything a user can read of a run: actions, every series' tier and forecast, anomalies,
/// the error per model and the events published.
fn run(
    tick: &dyn Fn(&mut ControllerCore, Timestamp) -> Vec<Action>,
    compact_above_series: usize,
    stride: u32,
) -> [String; 5] {
    let mut c = square_with_h3_and(CoreConfig {
        compact_above_series,
        ..CoreConfig::default()
    });
    c.set_series_stride(stride);
    let mut bytes = [0; 6];
    let actions = drive(&mut c, &mut bytes, (2, 320), tick);
    let series: Vec<String> = c
        .all_series()
        .map(|(k, s)| {
            let f = (s.tier(), s.interval(), s.forecast(), s.planned_peak());
            format!("{} {f:?}", k.label())
        })
        .collect();
    let anomalies: Vec<String> = c.anomalies().iter().map(|a| format!("{a:?}")).collect();
    [
        format!("{actions:?}"),
        format!("{series:?}"),
        format!("{anomalies:?}"),
        format!("{:?}", c.model_errors()),
        format!("{:?}", c.drain_events()),
    ]
}

#[test]
fn a_tick_in_steps_decides_and_reports_what_the_one_call_tick_does() {
    // At threshold 4 the links turn compact and the pairs stay full.
    for (compact_above, stride) in [(usize::MAX, 1), (4, 1), (usize::MAX, 3)] {
        let whole = run(&one_call, compact_above, stride);
        assert_eq!(
            whole[1].matches("pair/").count(),
            PAIRS.len(),
            "{}",
            whole[1]
        );
        assert!(whole[0].len() > 2, "the planners act: {}", whole[0]);
        assert!(compact_above == usize::MAX || whole[1].contains("Compact"));
        // At stride 3 a series has too few residuals by then for a 99 % band.
        assert!(
            stride > 1 || whole[2].contains("Anomaly"),
            "the burst is flagged"
        );
        let stepped = run(&in_steps, compact_above, stride);
        for (what, (w, s)) in ["actions", "series", "anomalies", "errors", "events"]
            .iter()
            .zip(whole.iter().zip(&stepped))
        {
            assert_eq!(w, s, "{what} at threshold {compact_above}, stride {stride}");
        }
    }
}

#[test]
fn a_stride_changed_between_steps_applies_from_the_next_tick() {
    let mut c = square_with_h3_and(CoreConfig::default());
    let mut bytes = [0; 6];
    drive(&mut c, &mut bytes, (2, 20), &one_call);
    let interval = c.config.control_interval;
    let now = Timestamp::from_secs(22);
    let mut round = c.tick_begin(now);
    c.tick_step(&mut round, 1);
    assert!(round.steps_left(), "between two steps");
    // The driver's governor, or any call, between two steps.
    c.set_series_stride(4);
    c.tick_finish(round);
    // Every series was due at stride 1 when the tick began: each stepped one interval.
    assert!(c.all_series().count() > PAIRS.len());
    assert!(c.all_series().all(|(_, s)| s.interval() == interval));
    assert_eq!(c.series_stride(), 4);
    // From the next tick on, those due step four intervals.
    drive(&mut c, &mut bytes, (23, 4), &one_call);
    assert!(c.all_series().all(|(_, s)| s.interval() == interval * 4));
}

#[test]
fn the_shared_tick_puts_its_actions_in_the_outlet_in_the_order_the_core_decided_them() {
    let cfg = CoreConfig::default;
    let shared = SharedCore::new(cfg());
    shared.apply(|c| *c = square_with_h3_and(cfg()));
    let mut plain = square_with_h3_and(cfg());
    let (mut a, mut b) = ([0; 6], [0; 6]);
    let mut expected = drive(&mut plain, &mut a, (2, 300), &one_call);
    let mut got = Vec::new();
    for s in 2..302 {
        // Each tick in slices of one step (no time at all) under the shared lock.
        got.extend(shared.apply(|c| drive(c, &mut b, (s, 1), &|_, _| Vec::new())));
        shared.tick_in_slices(Timestamp::from_secs(s), Duration::ZERO);
        got.extend(shared.take_actions());
    }
    assert!(!expected.is_empty(), "the burst moves something");
    assert_eq!(format!("{got:?}"), format!("{expected:?}"));
    // An API call's actions, dispatched before the tick, leave before the tick's; a switch
    // that goes down once the tick has ended, before the driver took the tick's actions (it
    // serves events while a tick runs), has its actions (the reroutes) leave after them.
    let released = Action::RemoveMeter {
        reservation: prescient_topology::ReservationId(9),
        ports: Vec::new(),
    };
    shared.dispatch(vec![released.clone()]);
    expected = vec![released];
    let now = Timestamp::from_secs(302);
    expected.extend(plain.tick(now));
    let down = plain.device_down(now, dev(2));
    assert!(!down.is_empty(), "s2 carried a steered or reserved path");
    expected.extend(down);
    shared.tick_in_slices(now, Duration::ZERO);
    shared.decide(|c| c.device_down(now, dev(2)));
    let got = shared.take_actions();
    assert_eq!(format!("{got:?}"), format!("{expected:?}"));
    assert!(shared.take_actions().is_empty(), "taken once");
}
