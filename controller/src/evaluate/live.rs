//! The same comparison for the live controller's own series: what it planned for each interval
//! one step ahead (the planning bound of its one-step forecast, [`crate::sizing`]) against what
//! came, next to what the reactive and static rules and the oracle would have held.
//!
//! Each series' recent window is split like a trace: the first quarter gives the static rule its
//! peak, the second quarter chooses the reactive and static headrooms for the controller's
//! violation target, the second half is scored for every policy.

use super::policy::{self, Plan, PolicyKind, Settings, Split};
use super::{tally, PolicyScore, Tally};

/// One live series over its recent window, interval by interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    /// What came (`None`: no fresh rate).
    pub actual: Vec<Option<f64>>,
    /// What the controller planned for it one interval before (`None`: no forecast yet).
    pub planned: Vec<Option<f64>>,
}

/// The comparison over a set of live series.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Comparison {
    /// Intervals between decision and use: the controller's one-step forecasts.
    pub lead: usize,
    /// The controller's violation target.
    pub violation_target: f64,
    /// Series compared.
    pub series_count: usize,
    /// Scored (series, interval) cells with known demand.
    pub scored_intervals: u64,
    /// One entry per policy; `predictive` is what the controller planned.
    pub policies: Vec<PolicyScore>,
}

/// Compares the controller's plans in `series` with the other policies at `violation`.
pub fn compare(series: &[Held], violation: f64, hold: usize) -> Comparison {
    let mut tallies = vec![Tally::default(); PolicyKind::ALL.len()];
    let settings = Settings {
        lead: 1,
        violation,
        hold,
        interval_secs: None,
        pooled: None,
    };
    for s in series {
        let n = s.actual.len().min(s.planned.len());
        let split = Split::new(n / 4, n / 2, n);
        if split.train_end == 0 || split.val_end >= n {
            continue;
        }
        let actual = &s.actual[..n];
        for (t, kind) in tallies.iter_mut().zip(PolicyKind::ALL) {
            let plan = match kind {
                PolicyKind::Predictive => Plan {
                    cap: s.planned[split.calib..n].to_vec(),
                    headroom: 1.0,
                },
                other => policy::plan(other, actual, split, &settings),
            };
            let cap: Vec<f64> = plan.cap.iter().map(|c| c.unwrap_or(0.0)).collect();
            tally(t, actual, &cap, split, None);
        }
    }
    Comparison {
        lead: 1,
        violation_target: violation,
        series_count: series.len(),
        scored_intervals: tallies.first().map_or(0, |t| t.scored),
        policies: PolicyKind::ALL
            .into_iter()
            .zip(&tallies)
            .map(|(p, t)| t.score(p, None, 1.0, violation))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_capacity_is_scored_against_what_came() {
        // 40 intervals of 10; the controller planned 11 for each, except 9 for the last one.
        let mut planned = vec![Some(11.0); 40];
        planned[39] = Some(9.0);
        let held = Held {
            actual: vec![Some(10.0); 40],
            planned,
        };
        let c = compare(&[held], 0.01, 5);
        assert_eq!(c.scored_intervals, 20);
        let p = &c.policies[0];
        assert_eq!(p.policy, PolicyKind::Predictive);
        assert_eq!(p.under_provisioned, 1.0 / 20.0);
        assert_eq!(p.unserved, 1.0);
        assert!(
            (p.over_provisioning.expect("demand") - (19.0 * 11.0 + 9.0 - 200.0) / 200.0).abs()
                < 1e-12
        );
        let oracle = &c.policies[3];
        assert_eq!((oracle.under_provisioned, oracle.unserved), (0.0, 0.0));
        // A flat series: the reactive rule holds exactly what came.
        assert_eq!(c.policies[1].over_provisioning, Some(0.0));
        // Nothing to compare: no division by zero.
        let empty = compare(&[], 0.01, 5);
        assert_eq!(empty.scored_intervals, 0);
        assert!(empty.policies.iter().all(|p| p.over_provisioning.is_none()));
    }
}
