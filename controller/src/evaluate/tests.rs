//! Each policy on synthetic traces with known answers.

use super::*;

fn one(values: Vec<Option<f64>>) -> Demand {
    Demand {
        names: vec!["s".into()],
        columns: vec![values],
    }
}

fn run(values: Vec<Option<f64>>, interval: Option<u64>, cfg: &EvalConfig) -> Report {
    evaluate("t", SeriesKind::Total, &one(values), interval, cfg, None)
        .expect("evaluates")
        .0
}

fn score(r: &Report, p: PolicyKind) -> PolicyScore {
    r.policies
        .iter()
        .find(|s| s.policy == p)
        .cloned()
        .expect("policy scored")
}

/// `n` rows, `f(row)`.
fn series(n: usize, f: impl Fn(usize) -> f64) -> Vec<Option<f64>> {
    (0..n).map(|r| Some(f(r))).collect()
}

/// Deterministic noise in [-1, 1].
fn wobble(r: usize) -> f64 {
    let x = (r as u64).wrapping_mul(6364136223846793005).rotate_left(17) >> 11;
    (x as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

fn assert_oracle_exact(r: &Report) {
    let o = score(r, PolicyKind::Oracle);
    assert_eq!(o.under_provisioned, 0.0, "{o:?}");
    assert_eq!(o.unserved, 0.0, "{o:?}");
    assert!(o.over_provisioning.is_none_or(|v| v.abs() < 1e-12), "{o:?}");
}

#[test]
fn a_step_in_the_scored_part_costs_reactive_its_lead_and_static_the_rest() {
    // 1000 rows: scored from 800; the step at 900 doubles demand for good.
    let step = 900;
    let v = series(1000, |r| if r < step { 10.0 } else { 20.0 });
    for lead in [1, 2, 6] {
        let cfg = EvalConfig {
            lead,
            ..EvalConfig::default()
        };
        let r = run(v.clone(), None, &cfg);
        assert_eq!(r.scored_intervals, 200);
        assert_oracle_exact(&r);
        // Constant validation: every headroom is exactly 1.
        assert_eq!(r.headroom.get(&PolicyKind::Reactive), Some(&1.0));
        assert_eq!(r.headroom.get(&PolicyKind::Static), Some(&1.0));
        let reactive = score(&r, PolicyKind::Reactive);
        // Rows 900..900+lead were decided before the step was seen.
        assert_eq!(
            reactive.under_provisioned,
            lead as f64 / 200.0,
            "lead {lead}"
        );
        assert_eq!(reactive.unserved, 10.0 * lead as f64);
        assert_eq!(reactive.changes, 1);
        let over = reactive.over_provisioning.expect("demand");
        assert!((over + 10.0 * lead as f64 / 3000.0).abs() < 1e-12, "{over}");
        let fixed = score(&r, PolicyKind::Static);
        assert_eq!(fixed.under_provisioned, 0.5);
        assert_eq!(fixed.unserved, 1000.0);
        assert_eq!(fixed.changes, 0);
        // At the same violation level (1 %) static must double everywhere: 4000 held for 3000.
        let at_target = fixed.over_provisioning_at_target.expect("demand");
        assert!((at_target - 1.0 / 3.0).abs() < 1e-12, "{at_target}");
        let oracle = score(&r, PolicyKind::Oracle);
        assert_eq!(oracle.over_provisioning_at_target, Some(0.0));
        let predictive = score(&r, PolicyKind::Predictive);
        // Nobody forecasts an unannounced step: at least the lead's rows fall short.
        assert!(
            predictive.under_provisioned >= lead as f64 / 200.0,
            "{predictive:?}"
        );
        assert!(predictive.over_provisioning.is_some_and(f64::is_finite));
    }
}

#[test]
fn a_flash_crowd_is_missed_for_the_lead_by_reactive_and_whole_by_static() {
    // Flat 100, then 500 for ten rows inside the scored part.
    let (start, len) = (850, 10);
    let v = series(1000, |r| {
        if (start..start + len).contains(&r) {
            500.0
        } else {
            100.0
        }
    });
    let cfg = EvalConfig::default();
    let lead = cfg.lead;
    let r = run(v, None, &cfg);
    assert_oracle_exact(&r);
    let demand = 190.0 * 100.0 + 10.0 * 500.0;
    let reactive = score(&r, PolicyKind::Reactive);
    assert_eq!(reactive.under_provisioned, lead as f64 / 200.0);
    assert_eq!(reactive.unserved, 400.0 * lead as f64);
    // It holds the crowd's 500 for the window after the crowd left (hold 5 - 1 + lead rows)...
    let held_after = (cfg.hold - 1 + lead) as f64 * 400.0;
    let short = 400.0 * lead as f64;
    let over = reactive.over_provisioning.expect("demand");
    assert!(
        (over - (held_after - short) / demand).abs() < 1e-12,
        "{over}"
    );
    // ...and scales up once and down once.
    assert_eq!(reactive.changes, 2);
    let fixed = score(&r, PolicyKind::Static);
    assert_eq!(fixed.under_provisioned, len as f64 / 200.0);
    assert_eq!(fixed.unserved, 4000.0);
}

#[test]
fn on_a_daily_sine_predictive_holds_less_than_reactive_at_the_same_target() {
    // Ten days of 5-minute rows with 3 % noise: the forecast knows the shape, reactive can only
    // follow it.
    let v = series(2880, |r| {
        let day = (r as f64 * std::f64::consts::TAU / 288.0).sin();
        1000.0 + 500.0 * day + 30.0 * wobble(r)
    });
    let cfg = EvalConfig {
        lead: 6,
        ..EvalConfig::default()
    };
    let r = run(v, Some(300), &cfg);
    assert_oracle_exact(&r);
    let p = score(&r, PolicyKind::Predictive);
    let re = score(&r, PolicyKind::Reactive);
    let st = score(&r, PolicyKind::Static);
    let over = |s: &PolicyScore| s.over_provisioning.expect("demand");
    assert!(p.under_provisioned <= 0.03, "{p:?}");
    assert!(over(&p) < 0.7 * over(&re), "{p:?} vs {re:?}");
    assert!(over(&re) < over(&st), "{re:?} vs {st:?}");
}

#[test]
fn a_trace_shorter_than_a_season_is_scored_without_panicking() {
    // 100 five-minute rows: a third of a day.
    let v = series(100, |r| 50.0 + 10.0 * wobble(r));
    let r = run(v, Some(300), &EvalConfig::default());
    assert_eq!(r.scored_intervals, 20);
    assert_oracle_exact(&r);
    for p in &r.policies {
        assert!((0.0..=1.0).contains(&p.under_provisioned), "{p:?}");
        assert!(p.over_provisioning.is_some_and(f64::is_finite), "{p:?}");
        assert!(p.unserved.is_finite(), "{p:?}");
    }
}

#[test]
fn empty_constant_and_unknown_series_give_finite_figures() {
    let cfg = EvalConfig {
        instance_capacity: Some(7.0),
        ..EvalConfig::default()
    };
    // Fewer rows than a lead-2 split needs are refused (`odd_input::too_short_...`).
    for v in [
        vec![Some(1.0); 4],
        vec![Some(0.0); 500],
        vec![Some(42.0); 500],
        vec![None; 500],
    ] {
        let label = format!("{:?}", v.first());
        let r = run(v, Some(60), &cfg);
        for p in &r.policies {
            assert!(p.under_provisioned.is_finite(), "{label} {p:?}");
            assert!(
                p.over_provisioning.is_none_or(f64::is_finite),
                "{label} {p:?}"
            );
            assert!(p.unserved.is_finite(), "{label} {p:?}");
            assert!(
                p.instance_hours.is_some_and(f64::is_finite),
                "{label} {p:?}"
            );
        }
        let json = serde_json::to_string(&r).expect("serialises");
        assert!(!json.contains("NaN") && !json.contains("inf"), "{json}");
    }
    // A flat 42 with 7 per instance: six instances all along, never a hook call.
    let r = run(vec![Some(42.0); 500], Some(60), &cfg);
    let o = score(&r, PolicyKind::Reactive);
    assert_eq!((o.hook_calls, o.under_provisioned), (Some(0), 0.0));
    assert!(o
        .instance_hours
        .is_some_and(|h| (h - 6.0 * 100.0 / 60.0).abs() < 1e-9));
    // No demand at all: over-provisioning is undefined, not a division by zero.
    let r = run(vec![Some(0.0); 500], Some(60), &EvalConfig::default());
    assert!(r.policies.iter().all(|p| p.over_provisioning.is_none()));
}

#[test]
fn compute_rounds_capacity_up_to_whole_instances() {
    let v = series(1000, |r| if r < 900 { 10.0 } else { 25.0 });
    let cfg = EvalConfig {
        instance_capacity: Some(10.0),
        policies: vec![PolicyKind::Oracle, PolicyKind::Reactive],
        ..EvalConfig::default()
    };
    let r = run(v, Some(3600), &cfg);
    let o = score(&r, PolicyKind::Oracle);
    // 100 rows at 1 instance, 100 at 3; one scale-up.
    assert_eq!(o.instance_hours, Some(400.0));
    assert_eq!(o.hook_calls, Some(1));
    assert_eq!(o.under_provisioned, 0.0);
    assert!((o.over_provisioning.expect("demand") - (4000.0 / 3500.0 - 1.0)).abs() < 1e-12);
    assert_eq!(r.policies.len(), 2);
}

#[test]
fn bad_settings_are_refused_with_the_field() {
    let v = one(vec![Some(1.0); 10]);
    for (cfg, field) in [
        (
            EvalConfig {
                lead: 0,
                ..EvalConfig::default()
            },
            "lead",
        ),
        (
            EvalConfig {
                violation: 0.0,
                ..EvalConfig::default()
            },
            "violations",
        ),
        (
            EvalConfig {
                policies: Vec::new(),
                ..EvalConfig::default()
            },
            "policies",
        ),
    ] {
        let e = evaluate("t", SeriesKind::Total, &v, None, &cfg, None).expect_err(field);
        assert!(e.to_string().contains(field), "{e}");
    }
}

#[test]
fn a_pooled_headroom_spends_the_violation_budget_over_every_series() {
    // Series a spikes to twice its level every 50 rows (2 of its 100 validation rows); b and c
    // are flat. On its own, a's 1 % needs headroom 2; over the three series' 300 validation
    // rows the two spikes are within the 1 % allowed (the 298th smallest ratio is 1).
    let a = series(1000, |r| if r % 50 == 10 { 20.0 } else { 10.0 });
    let flat = series(1000, |_| 10.0);
    let demand = Demand {
        names: vec!["a".into(), "b".into(), "c".into()],
        columns: vec![a, flat.clone(), flat],
    };
    let run = |pooled_headroom| {
        let cfg = EvalConfig {
            policies: vec![PolicyKind::Reactive],
            pooled_headroom,
            ..EvalConfig::default()
        };
        evaluate("t", SeriesKind::Pairs, &demand, None, &cfg, None)
            .expect("evaluates")
            .0
    };
    let own = run(false);
    let pooled = run(true);
    assert_eq!(own.headroom.get(&PolicyKind::Reactive), Some(&1.0));
    assert_eq!(pooled.headroom.get(&PolicyKind::Reactive), Some(&1.0));
    let own_score = score(&own, PolicyKind::Reactive);
    let pooled_score = score(&pooled, PolicyKind::Reactive);
    // Scored: rows 800..1000 of each series; a's four spikes fall short only when pooled.
    assert_eq!(own_score.under_provisioned, 0.0);
    assert_eq!(pooled_score.under_provisioned, 4.0 / 600.0);
    assert!(pooled_score.over_provisioning < own_score.over_provisioning);
}

#[test]
fn the_predictive_headroom_at_lead_one_also_weighs_the_next_leads_validation_bounds() {
    // A daily sine with noise, 48 rows a day for 20 days: 96 validation rows.
    let v = series(960, |r| {
        let day = (r % 48) as f64 / 48.0 * std::f64::consts::TAU;
        100.0 + 30.0 * day.sin() + 5.0 * wobble(r)
    });
    let (train_end, val_end) = (672, 768);
    let split = Split::new(train_end, val_end, v.len());
    let settings = policy::Settings {
        lead: 1,
        violation: 0.01,
        hold: 5,
        interval_secs: Some(1800),
        pooled: None,
    };
    let b = policy::base(PolicyKind::Predictive, &v, split, &settings);
    // A lead-2 bound per validation row once its quantile is calibrated: about as many rows of
    // evidence again as the lead's own (a few hundred rows hold only a few 1 % violations).
    let own = b.validation(&v, split).count() - b.extra.len();
    assert!(
        own > 50 && b.extra.len() + 5 >= own,
        "{own} {}",
        b.extra.len()
    );
    assert!(b
        .extra
        .iter()
        .all(|&(l, y, c)| l == 2 && y > 0.0 && c > 0.0));
}

#[test]
fn a_short_validation_part_is_not_all_a_headroom_sees() {
    // A day of 5-minute rows, flat 100 with a burst to 150 every 40 rows (at rows 5, 45, ...):
    // the 30 validation rows (210..240) hold none, the scored ones two (245, 285).
    let v = series(300, |r| if r % 40 == 5 { 150.0 } else { 100.0 });
    let split = Split::new(210, 240, 300).reaching_back(Split::calibration_rows(0.01, Some(288)));
    // A day of rows is wanted; half of the training part is all it may reach back to.
    assert_eq!(split.calib, 105);
    assert_eq!(Split::calibration_rows(0.01, Some(24)), 100);
    assert_eq!(Split::new(600, 700, 900).reaching_back(100).calib, 600);
    let cfg = EvalConfig {
        lead: 1,
        hold: 1,
        ..EvalConfig::default()
    };
    let r = run(v.clone(), Some(300), &cfg);
    // The bursts at 125, 165 and 205 are in the calibration rows: reactive holds 1.5 × the
    // last value and no scored burst goes over it.
    assert_eq!(r.headroom.get(&PolicyKind::Reactive), Some(&1.5));
    assert_eq!(score(&r, PolicyKind::Reactive).under_provisioned, 0.0);
    // Static calibrates on the peak known at each decision: 150 from row 6 on, so no factor.
    assert_eq!(r.headroom.get(&PolicyKind::Static), Some(&1.0));
    let p = score(&r, PolicyKind::Predictive);
    assert!(p.under_provisioned <= 1.0 / 60.0, "{p:?}");
    // Without an interval (no day) 100 rows are wanted, so the 30 validation rows alone did not
    // suffice either: the same headroom.
    let r = run(v, None, &cfg);
    assert_eq!(r.headroom.get(&PolicyKind::Reactive), Some(&1.5));
}

#[test]
fn a_constant_series_is_never_under_provisioned_and_its_capacity_changes_only_at_refits() {
    // Found on a synthetic trace (session 17): the models forecast a constant 100 a few parts
    // in 1e10 low, and predictive counted 53 % of its intervals under-provisioned (5e-6 unserved
    // in all) and 402 capacity changes.
    let r = run(vec![Some(100.0); 2000], Some(300), &EvalConfig::default());
    for p in &r.policies {
        assert_eq!(p.under_provisioned, 0.0, "{p:?}");
        // A few changes where the bound moves by ~1e-6, not one an interval (12 of 400 since
        // session 29: a residual a few parts in 1e10 below a band entirely above zero is kept
        // as it is, where it was set to 0, so the quantile moves a little more often).
        assert!(p.changes <= 16, "{p:?}");
        assert!(p.over_provisioning.is_some_and(|o| o.abs() < 1e-6), "{p:?}");
    }
}

#[test]
fn a_policy_no_headroom_can_save_is_named_not_silently_run_at_one() {
    // On/off traffic: idle for 9 intervals, then a burst of 2. At lead 2 the reactive rule's
    // base before each burst is the idle zero, which no factor raises: 10 % of the validation
    // rows are short whatever its headroom, far above a 1 % target.
    let v = series(1000, |r| if r % 11 >= 9 { 50.0 } else { 0.0 });
    let cfg = EvalConfig {
        policies: vec![PolicyKind::Reactive, PolicyKind::Static],
        ..EvalConfig::default()
    };
    let r = run(v, None, &cfg);
    assert_eq!(r.headroom_unmet.get(&PolicyKind::Reactive), Some(&1));
    assert_eq!(r.headroom.get(&PolicyKind::Reactive), Some(&1.0));
    // The static peak can meet it.
    assert_eq!(r.headroom_unmet.get(&PolicyKind::Static), None);
    assert_eq!(score(&r, PolicyKind::Static).under_provisioned, 0.0);
    // Constant demand: every target is met, nothing is named.
    let r = run(series(1000, |_| 5.0), None, &cfg);
    assert!(r.headroom_unmet.is_empty(), "{:?}", r.headroom_unmet);
}

#[test]
fn through_an_outage_of_unknown_demand_a_policy_keeps_the_capacity_in_force() {
    // A steady 100 with ten rows of unknown demand in the scored part: the reactive window
    // sees nothing for a while and decides nothing. It keeps what it held (as an HPA without
    // metrics keeps its replicas); dropped to nothing, demand's return outran it for the lead
    // and no headroom could meet the target at all.
    let v: Vec<Option<f64>> = (0..1000)
        .map(|r| (!(900..910).contains(&r)).then(|| 100.0 + wobble(r)))
        .collect();
    let cfg = EvalConfig {
        policies: vec![PolicyKind::Reactive, PolicyKind::Oracle],
        ..EvalConfig::default()
    };
    let r = run(v, Some(300), &cfg);
    assert_eq!(r.scored_intervals, 190);
    let reactive = score(&r, PolicyKind::Reactive);
    assert!(reactive.under_provisioned < 0.01, "{reactive:?}");
    assert!(
        reactive
            .over_provisioning_at_target
            .is_some_and(|o| o < 0.05),
        "{reactive:?}"
    );
}

#[test]
fn a_trace_too_short_for_its_lead_is_refused_not_scored_at_capacity_zero() {
    let cfg = EvalConfig::default();
    let err = |v: Vec<Option<f64>>, cfg: &EvalConfig| {
        evaluate("t", SeriesKind::Total, &one(v), Some(300), cfg, None).expect_err("refused")
    };
    // Nothing to train on or to score.
    for n in 0..3 {
        assert_eq!(
            err(vec![Some(1.0); n], &cfg),
            EvalError::TooShort { rows: n, needed: 3 }
        );
    }
    // 3,000 five-minute rows choose headrooms on rows 2,100..2,400: a decision 301 rows ahead
    // of the first of them is before the predictive model's first origin. Scored, those rows
    // held nothing and the predictive policy read 100 % under.
    let v = series(3000, |r| 50.0 + 10.0 * wobble(r));
    let long = |lead| EvalConfig {
        lead,
        ..EvalConfig::default()
    };
    let e = err(v.clone(), &long(301));
    assert!(
        matches!(&e, EvalError::Invalid { field, value, .. } if field == "lead" && value == "301"),
        "{e:?}"
    );
    assert!(e.to_string().contains("at most 300"), "{e}");
    assert!(err(v.clone(), &long(usize::MAX))
        .to_string()
        .contains("at most 300"));
    // At the longest lead every scored row had a decision.
    let r = run(v.clone(), Some(300), &long(300));
    let p = score(&r, PolicyKind::Predictive);
    assert!(p.under_provisioned < 0.5, "{p:?}");
    // Without the predictive policy the others decide from the first row on.
    let reactive = EvalConfig {
        policies: vec![PolicyKind::Reactive],
        ..long(700)
    };
    assert_eq!(run(v, Some(300), &reactive).scored_intervals, 600);
}

#[test]
fn an_instance_too_small_to_count_is_refused() {
    // 1e-300 per instance: the plan needs ~1e302 instances; clamped to u32::MAX they held
    // almost nothing and every interval read as a shortfall.
    let cfg = EvalConfig {
        instance_capacity: Some(1e-300),
        ..EvalConfig::default()
    };
    let v = series(1000, |r| 50.0 + 10.0 * wobble(r));
    let e = evaluate("t", SeriesKind::Total, &one(v), Some(300), &cfg, None).expect_err("refused");
    assert!(
        matches!(&e, EvalError::Invalid { field, .. } if field == "instance_capacity"),
        "{e:?}"
    );
    assert!(e.to_string().contains("1e-300"), "{e}");
}

#[test]
fn demand_too_large_to_sum_is_refused_not_reported_as_nan() {
    // Two columns near 1e308: their total overflowed to inf and over-provisioning read NaN.
    let big = series(1000, |r| 6e307 * (2.0 + wobble(r)));
    let two = Demand {
        names: vec!["a".into(), "b".into()],
        columns: vec![big.clone(), big.clone()],
    };
    let trace = Trace {
        names: two.names.clone(),
        times: None,
        columns: two.columns.clone(),
    };
    let cfg = EvalConfig::default();
    let e = evaluate_trace("t", &trace, SeriesKind::Total, &cfg, None).expect_err("refused");
    assert!(
        matches!(&e, EvalError::TooLarge { series, .. } if series == "total"),
        "{e:?}"
    );
    // Each column alone: 2,000 cells of up to 1.8e308 could sum past the largest float.
    let e = evaluate("t", SeriesKind::Pairs, &two, None, &cfg, None).expect_err("refused");
    assert!(e.to_string().contains("2000 (series, row) cells"), "{e}");
    // Large but summable demand is evaluated (it was before: 1e300 × 1,000 cells).
    let fine = series(1000, |r| 1e300 * (2.0 + wobble(r)));
    let r = run(fine, None, &cfg);
    assert!(r
        .policies
        .iter()
        .all(|p| p.over_provisioning.is_some_and(f64::is_finite) && p.unserved.is_finite()));
}

#[test]
fn a_target_the_validation_rows_cannot_promise_is_named() {
    // `--violations 1e-9` ran at each policy's largest validation ratio and read as if the
    // target were honoured; n rows promise at best 1 / (n + 1).
    let cfg = |violation| EvalConfig {
        violation,
        ..EvalConfig::default()
    };
    let v = || series(1000, |r| 10.0 + (r % 24) as f64);
    let r = run(v(), None, &cfg(1e-9));
    for p in [
        PolicyKind::Predictive,
        PolicyKind::Reactive,
        PolicyKind::Static,
    ] {
        assert_eq!(r.target_beyond_rows.get(&p), Some(&1), "{p:?}");
    }
    // The oracle needs no headroom; at 1 % the rows are enough and nothing is named.
    assert_eq!(r.target_beyond_rows.get(&PolicyKind::Oracle), None);
    let r = run(v(), None, &cfg(0.01));
    assert!(
        r.target_beyond_rows.is_empty(),
        "{:?}",
        r.target_beyond_rows
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Demand as a trace file gives it: known and non-negative, or unknown; idle stretches and
    /// bursts six orders of magnitude above the usual.
    fn demand_cell() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            6 => (0.0f64..1e9).prop_map(Some),
            1 => Just(None),
            2 => Just(Some(0.0)),
            1 => (1e9f64..1e15).prop_map(Some),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// Whatever the trace, `evaluate` either refuses it with a reason or reports figures a
        /// reader can use: shares in [0, 1], finite volumes and ratios, JSON without NaN.
        #[test]
        fn any_demand_is_refused_or_scored_with_usable_figures(
            columns in prop::collection::vec(prop::collection::vec(demand_cell(), 100..600), 1..3),
            lead in 1usize..7,
            violation in prop_oneof![Just(0.01), Just(0.05), Just(0.2)],
            instances in prop::option::of(1.0f64..1e9),
        ) {
            let rows = columns.iter().map(Vec::len).min().unwrap_or(0);
            let demand = Demand {
                names: (0..columns.len()).map(|i| format!("s{i}")).collect(),
                columns: columns.into_iter().map(|mut c| { c.truncate(rows); c }).collect(),
            };
            let cfg = EvalConfig {
                lead,
                violation,
                instance_capacity: instances,
                ..EvalConfig::default()
            };
            let Ok((report, _)) = evaluate("t", SeriesKind::Total, &demand, Some(300), &cfg, None) else {
                return Ok(());
            };
            for p in &report.policies {
                prop_assert!((0.0..=1.0).contains(&p.under_provisioned), "{:?}", p);
                prop_assert!(p.over_provisioning.is_none_or(f64::is_finite), "{:?}", p);
                prop_assert!(p.over_provisioning_at_target.is_none_or(f64::is_finite), "{:?}", p);
                prop_assert!(p.unserved.is_finite() && p.unserved >= 0.0, "{:?}", p);
                prop_assert!(p.instance_hours.is_none_or(|h| h.is_finite() && h >= 0.0), "{:?}", p);
            }
            let json = serde_json::to_string(&report).expect("serialises");
            prop_assert!(!json.contains("NaN") && !json.contains("inf"), "{}", json);
        }
    }
}
