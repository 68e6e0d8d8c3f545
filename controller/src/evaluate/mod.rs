//! `prescient evaluate`: what acting on forecasts is worth. A trace is replayed through the
//! capacity policies of [`policy`] — Prescient's forecasts sized by the same functions the live
//! controller sizes reservations and scale-ups with ([`crate::sizing`]), a reactive autoscaler, a
//! static peak, and the oracle — and each is scored on the last part of the trace.
//!
//! Protocol: rows split 70 % train / 10 % validation / 20 % scored (as `forecast backtest`);
//! every setting (headrooms) is chosen on train and validation only: on the validation rows, or
//! where they are fewer than a day and `1 / violation` rows, on that many rows reaching back into
//! the training part, every policy replayed rolling origin there ([`policy::Split`]). A decision
//! made after row `o` is known sets the capacity of row `o + lead`.
//!
//! Metrics over all scored (series, row) cells with known demand: the share under-provisioned
//! (demand above capacity), over-provisioning `Σ capacity / Σ demand − 1` (absent when there is
//! no demand), unserved volume `Σ max(0, demand − capacity)` in the trace's unit × intervals,
//! and capacity changes (rows whose capacity differs from the row before). With a capacity per
//! instance (compute), capacity is rounded up to whole instances ([`crate::sizing::instances`])
//! and instance-hours and hook calls (changes of the instance count) are reported too.

pub mod live;
pub mod plot;
pub mod policy;
pub mod series;
pub mod topology;

use std::collections::BTreeMap;

use prescient_predict::backtest::split_points;
use prescient_predict::season::cycle_for_interval;
use prescient_predict::{
    choose_pooled, fit_pooled, BacktestConfig, Missing, Normalise, Protocol, Trace,
};
use rayon::prelude::*;
use serde::Serialize;

pub use policy::{PolicyKind, Split};
pub use series::{Demand, SeriesKind};
pub use topology::Topology;

use crate::sizing;

/// Why an evaluation cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// A trace with too few rows to train on, choose a headroom on and score.
    #[error(
        "too few rows in the trace ({rows}): an evaluation needs at least {needed} (training rows, rows \
         to choose headrooms on, then the scored 20 %)"
    )]
    TooShort {
        /// Rows in the trace.
        rows: usize,
        /// Rows needed at lead 1.
        needed: usize,
    },
    /// Demand so large that the sums of capacity and of shortfalls could overflow.
    #[error(
        "series {series:?}: demand up to {largest} over {cells} (series, row) cells: the sums \
         of capacity and of shortfalls could pass the largest float, 1.8e308, and read NaN or \
         inf; divide the trace by a power of ten"
    )]
    TooLarge {
        /// The series with the largest demand.
        series: String,
        /// Its largest demand, rendered (`inf` where a total of columns overflowed).
        largest: String,
        /// Cells summed.
        cells: usize,
    },
    /// A setting that cannot be used.
    #[error("`{field}` = {value}: {why}")]
    Invalid {
        /// The setting.
        field: String,
        /// The value given.
        value: String,
        /// Why.
        why: String,
    },
}

impl EvalError {
    /// An unusable setting.
    pub fn invalid(field: &str, value: &str, why: &str) -> Self {
        EvalError::Invalid {
            field: field.to_string(),
            value: value.to_string(),
            why: why.to_string(),
        }
    }
}

/// Settings of an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// Intervals between a decision and the interval its capacity is in force for.
    pub lead: usize,
    /// Share of intervals demand may exceed capacity in (the target headrooms are chosen for).
    pub violation: f64,
    /// Policies to run, in report order.
    pub policies: Vec<PolicyKind>,
    /// Intervals the reactive policy holds its window maximum before scaling down.
    pub hold: usize,
    /// Demand one instance serves, in the trace's unit; set: score compute (whole instances).
    pub instance_capacity: Option<f64>,
    /// Give the predictive policy's model the models pooled over all series (those that earn
    /// their place on validation, as in `forecast backtest`), when there is more than one.
    pub pooled: bool,
    /// Choose each policy's headroom once over the validation rows of every series (true), or
    /// per series on its own validation rows.
    pub pooled_headroom: bool,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            lead: 2,
            violation: sizing::DEFAULT_VIOLATION_TARGET,
            policies: PolicyKind::ALL.to_vec(),
            hold: 5,
            instance_capacity: None,
            pooled: true,
            pooled_headroom: true,
        }
    }
}

impl EvalConfig {
    /// Checks every setting.
    pub fn validate(&self) -> Result<(), EvalError> {
        if self.lead == 0 {
            return Err(EvalError::invalid(
                "lead",
                "0",
                "must be at least 1 interval",
            ));
        }
        if !sizing::valid_violation(self.violation) {
            return Err(EvalError::invalid(
                "violations",
                &self.violation.to_string(),
                "must be a share in (0, 0.5)",
            ));
        }
        if self.policies.is_empty() {
            return Err(EvalError::invalid("policies", "", "name at least one"));
        }
        // Refused as a repeated `--model` is: each copy printed the same row again.
        if let Some((_, p)) = self
            .policies
            .iter()
            .enumerate()
            .find(|(i, p)| self.policies[..*i].contains(p))
        {
            let names: Vec<&str> = self.policies.iter().map(|p| p.name()).collect();
            return Err(EvalError::invalid(
                "policies",
                &names.join(","),
                &format!(
                    "{} is listed twice (it would print the same row twice)",
                    p.name()
                ),
            ));
        }
        if let Some(c) = self.instance_capacity {
            if !(c.is_finite() && c > 0.0) {
                return Err(EvalError::invalid(
                    "instance_capacity",
                    &c.to_string(),
                    "must be a positive demand per instance",
                ));
            }
        }
        Ok(())
    }
}

/// One policy's figures.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PolicyScore {
    /// The policy.
    pub policy: PolicyKind,
    /// Share of scored intervals with demand above capacity (0–1).
    pub under_provisioned: f64,
    /// `Σ capacity / Σ demand − 1`; `None` when no demand was scored.
    pub over_provisioning: Option<f64>,
    /// The over-provisioning had this policy's capacity been scaled by the one factor that puts
    /// exactly the violation target of scored intervals under: policies compared at the same
    /// violation level. Hindsight on the scored part: a diagnostic of each policy's shape, not a
    /// setting any policy could have used.
    pub over_provisioning_at_target: Option<f64>,
    /// `Σ max(0, demand − capacity)`, in the trace's unit × intervals.
    pub unserved: f64,
    /// Intervals whose capacity differs from the interval before.
    pub changes: u64,
    /// Compute only: instance-hours held over the scored part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_hours: Option<f64>,
    /// Compute only: scale-up and scale-down calls (changes of the instance count).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_calls: Option<u64>,
}

/// The result of an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The trace (as named by the caller).
    pub trace: String,
    /// Which series.
    pub series: SeriesKind,
    /// Lead, intervals.
    pub lead: usize,
    /// The violation target.
    pub violation_target: f64,
    /// Series evaluated.
    pub series_count: usize,
    /// Scored (series, interval) cells with known demand.
    pub scored_intervals: u64,
    /// Series whose predictive bound was sized on a time-of-day conditional residual quantile at
    /// the end of the replay (it had scored better than the plain one on the series' past).
    pub time_of_day_series: usize,
    /// Per policy, the median over series of the headroom chosen on validation.
    pub headroom: BTreeMap<PolicyKind, f64>,
    /// Per policy, the series for which no headroom met the violation target on their
    /// validation rows (demand where the policy's base was zero); those ran at headroom 1.
    pub headroom_unmet: BTreeMap<PolicyKind, usize>,
    /// Per policy, the series whose headroom was chosen on fewer validation rows than the
    /// violation target can be promised on (`n` rows promise at best `1 / (n + 1)`): they were
    /// sized at their largest validation ratio (at headroom 1 without a usable row), and the
    /// target is not a promise there.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub target_beyond_rows: BTreeMap<PolicyKind, usize>,
    /// One entry per policy, in the order asked.
    pub policies: Vec<PolicyScore>,
}

/// Demand and each policy's capacity over the scored part of one series, for a plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// The series.
    pub name: String,
    /// Demand of the scored rows.
    pub demand: Vec<Option<f64>>,
    /// Capacity of the scored rows, per policy.
    pub capacity: Vec<(PolicyKind, Vec<f64>)>,
}

#[derive(Debug, Clone, Default)]
struct Tally {
    /// `(demand, capacity)` of every scored cell.
    cells: Vec<(f64, f64)>,
    scored: u64,
    under: u64,
    capacity: f64,
    demand: f64,
    unserved: f64,
    changes: u64,
    instance_rows: f64,
}

impl Tally {
    /// The figures of `policy`; compute ones with a capacity per instance.
    fn score(
        &self,
        policy: PolicyKind,
        per_instance: Option<f64>,
        hours_per_row: f64,
        violation: f64,
    ) -> PolicyScore {
        let at_target = policy::choose_headroom(self.cells.iter().copied(), violation)
            .filter(|_| self.demand > 0.0)
            .map(|g| g * self.capacity / self.demand - 1.0);
        PolicyScore {
            policy,
            under_provisioned: if self.scored == 0 {
                0.0
            } else {
                self.under as f64 / self.scored as f64
            },
            over_provisioning: (self.demand > 0.0).then(|| self.capacity / self.demand - 1.0),
            over_provisioning_at_target: at_target,
            unserved: self.unserved,
            changes: self.changes,
            instance_hours: per_instance.map(|_| self.instance_rows * hours_per_row),
            hook_calls: per_instance.map(|_| self.changes),
        }
    }
}

/// The parts of a trace of `rows` rows, as [`evaluate`] splits it (the backtest's 70 / 10 / 20,
/// calibration reaching back into training where validation is short).
fn split_for(rows: usize, interval_secs: Option<u64>, violation: f64) -> Split {
    let (train_end, val_end) = split_points(rows, &BacktestConfig::default());
    // A day longer than the trace cannot be seen whole (one second: 86,400 rows); at daily
    // intervals the cycle is the week.
    let day = interval_secs
        .and_then(cycle_for_interval)
        .filter(|&d| d <= rows);
    Split::new(train_end, val_end, rows).reaching_back(Split::calibration_rows(violation, day))
}

/// The longest lead at which every policy of `cfg` decides every scored row and at least one
/// calibration row of a trace split as `split`: the predictive policy decides from the row
/// before its calibration rows on (its model is fitted there), the others from the first row.
fn longest_lead(split: Split, cfg: &EvalConfig) -> usize {
    let Split { calib, val_end, .. } = split;
    cfg.policies
        .iter()
        .filter(|&&p| p != PolicyKind::Oracle)
        .map(|&p| match p {
            PolicyKind::Predictive => val_end - calib,
            _ => val_end.saturating_sub(1),
        })
        .min()
        .unwrap_or(usize::MAX)
}

/// Refuses a trace too short to split, or a lead longer than it can decide: rows no policy
/// could decide were held at capacity 0 and scored as shortfalls (a 3,000-row trace at lead
/// 700 put the predictive policy 70 % under), and a huge lead reserved memory for every step.
fn check_lead(rows: usize, interval_secs: Option<u64>, cfg: &EvalConfig) -> Result<(), EvalError> {
    let split = split_for(rows, interval_secs, cfg.violation);
    let longest = longest_lead(split, cfg);
    if split.train_end < 1 || split.val_end >= rows || longest == 0 {
        // The fewest rows with a training row, a scored row, and a lead of 1 (4 at a 1 %
        // target); the search is short because those few rows reach back to the middle.
        let needed = (rows + 1..rows.saturating_add(10_000))
            .find(|&n| {
                let s = split_for(n, interval_secs, cfg.violation);
                s.train_end >= 1 && s.val_end < n && longest_lead(s, cfg) >= 1
            })
            .unwrap_or(rows + 1);
        return Err(EvalError::TooShort { rows, needed });
    }
    if cfg.lead > longest {
        return Err(EvalError::invalid(
            "lead",
            &cfg.lead.to_string(),
            &format!(
                "longer than this {rows}-row trace can decide: capacity is chosen on rows {}..{} \
                 and scored from row {} on, so a lead of at most {longest} leaves every one of \
                 them a decision before it",
                split.calib, split.val_end, split.val_end
            ),
        ));
    }
    Ok(())
}

/// Room the figures' sums leave over `largest demand × cells`: capacity is a policy's
/// headroom times demand, far below a hundred times the largest demand.
const SUM_ROOM: f64 = 100.0;

/// Refuses demand so large that the figures' sums could overflow: two columns near 1e308 made
/// a total of inf and every over-provisioning NaN. The sums run over every (series, row) cell,
/// so the bound is `largest × cells × SUM_ROOM ≤ f64::MAX`.
fn check_magnitude(demand: &Demand) -> Result<(), EvalError> {
    let cells = demand.columns.iter().map(Vec::len).sum::<usize>().max(1) as f64;
    let largest = demand
        .names
        .iter()
        .zip(&demand.columns)
        .map(|(n, c)| (n, c.iter().flatten().copied().fold(0.0, f64::max)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    match largest {
        Some((name, v)) if !v.is_finite() || v * cells * SUM_ROOM > f64::MAX => {
            Err(EvalError::TooLarge {
                series: name.clone(),
                largest: format!("{v:e}"),
                cells: cells as usize,
            })
        }
        _ => Ok(()),
    }
}

/// Evaluates every series of `demand`; `plot` names the series whose replay to return.
pub fn evaluate(
    name: &str,
    kind: SeriesKind,
    demand: &Demand,
    interval_secs: Option<u64>,
    cfg: &EvalConfig,
    plot: Option<&str>,
) -> Result<(Report, Option<Replay>), EvalError> {
    cfg.validate()?;
    let rows = demand.columns.first().map_or(0, Vec::len);
    check_lead(rows, interval_secs, cfg)?;
    check_magnitude(demand)?;
    let bcfg = BacktestConfig {
        horizons: vec![cfg.lead],
        normalise: Normalise::TrainMax,
        missing: Missing::Skip,
        protocol: Protocol::Strict,
        ..BacktestConfig::default()
    };
    let split = split_for(rows, interval_secs, cfg.violation);
    let Split {
        train_end, val_end, ..
    } = split;
    // Which pooled models `auto` weighs is chosen on validation, as `forecast backtest` does.
    let pooled = (cfg.pooled && demand.columns.len() > 1 && train_end >= 2).then(|| {
        let fitted = fit_pooled(&demand.columns, interval_secs, &bcfg);
        choose_pooled(&demand.columns, interval_secs, &bcfg, &fitted).0
    });
    let settings = policy::Settings {
        lead: cfg.lead,
        violation: cfg.violation,
        hold: cfg.hold,
        interval_secs,
        pooled: pooled.as_ref(),
    };
    let hours_per_row = interval_secs.unwrap_or(3600) as f64 / 3600.0;
    let mut tallies = vec![Tally::default(); cfg.policies.len()];
    let mut headrooms: Vec<Vec<f64>> = vec![Vec::new(); cfg.policies.len()];
    let mut replay = None;
    // Too short to train on: nothing is scored, nothing is decided.
    let series: Vec<(&String, &Vec<Option<f64>>)> = if train_end < 1 || val_end >= rows {
        Vec::new()
    } else {
        demand.names.iter().zip(&demand.columns).collect()
    };
    // Each series is replayed on its own core; every later sum runs in series order, so the
    // figures do not depend on the number of cores.
    let bases: Vec<Vec<policy::Base>> = series
        .par_iter()
        .map(|(_, values)| {
            cfg.policies
                .iter()
                .map(|&p| policy::base(p, values, split, &settings))
                .collect()
        })
        .collect();
    // One headroom per policy over every series' validation rows: the violation target is a
    // share of all (series, interval) cells, and a few hundred rows of one series cannot tell
    // its 1 % tail from noise.
    // A headroom is `None` where no factor meets the target on validation rows (demand where the
    // policy's base is zero, e.g. a reactive rule after an idle interval): the plan then runs at
    // 1 and the series is counted in the report's `headroom_unmet`.
    // With each pooled headroom, how many rows it was chosen on (for `target_beyond_rows`).
    let pooled_headroom: Vec<Option<(Option<f64>, usize)>> = (0..cfg.policies.len())
        .map(|i| {
            let first = bases.first()?.get(i)?;
            cfg.pooled_headroom.then(|| {
                let rows = || {
                    series
                        .iter()
                        .zip(&bases)
                        .flat_map(|((_, values), b)| b[i].validation(values, split))
                };
                let chosen = met(rows(), |rows| first.headroom(rows, cfg.violation));
                (chosen, rows().count())
            })
        })
        .collect();
    let mut unmet: BTreeMap<PolicyKind, usize> = BTreeMap::new();
    let mut beyond_rows: BTreeMap<PolicyKind, usize> = BTreeMap::new();
    let time_of_day_series = bases
        .iter()
        .filter(|b| b.iter().any(|b| b.bins > 0))
        .count();
    for ((series_name, values), series_bases) in series.iter().zip(bases) {
        let mut caps = Vec::new();
        for (i, b) in series_bases.into_iter().enumerate() {
            let p = b.policy;
            let (chosen, rows) = pooled_headroom[i].unwrap_or_else(|| {
                let chosen = met(b.validation(values, split), |rows| {
                    b.headroom(rows, cfg.violation)
                });
                (chosen, b.validation(values, split).count())
            });
            if chosen.is_none() {
                *unmet.entry(p).or_default() += 1;
            }
            if !policy::promisable(rows, cfg.violation) && p != PolicyKind::Oracle {
                *beyond_rows.entry(p).or_default() += 1;
            }
            let plan = b.at(chosen.unwrap_or(1.0));
            headrooms[i].push(plan.headroom);
            let cap = held(&plan.cap, cfg.instance_capacity)?;
            tally(&mut tallies[i], values, &cap, split, cfg.instance_capacity);
            caps.push((p, cap[val_end - split.calib..].to_vec()));
        }
        if plot == Some(series_name.as_str()) {
            replay = Some(Replay {
                name: (*series_name).clone(),
                demand: values[val_end..].to_vec(),
                capacity: caps,
            });
        }
    }
    // An instance near the largest float held as whole instances sums past it: the table read
    // `inf%` over-provisioning and exited 0 (`--instance-capacity 1.7e308`).
    if let Some(per) = cfg.instance_capacity {
        if tallies.iter().any(|t| !t.capacity.is_finite()) {
            return Err(EvalError::invalid(
                "instance_capacity",
                &format!("{per:?}"),
                "the capacity held in whole instances of it, summed over the scored intervals, \
                 is past the largest number: give the demand one instance serves in the \
                 trace's unit",
            ));
        }
    }
    let policies = cfg
        .policies
        .iter()
        .zip(&tallies)
        .map(|(&policy, t)| t.score(policy, cfg.instance_capacity, hours_per_row, cfg.violation))
        .collect();
    let headroom = cfg
        .policies
        .iter()
        .zip(headrooms)
        .filter_map(|(&p, mut h)| Some((p, median(&mut h)?)))
        .collect();
    let report = Report {
        trace: name.to_string(),
        series: kind,
        lead: cfg.lead,
        violation_target: cfg.violation,
        series_count: demand.columns.len(),
        scored_intervals: tallies.first().map_or(0, |t| t.scored),
        time_of_day_series,
        headroom,
        headroom_unmet: unmet,
        target_beyond_rows: beyond_rows,
        policies,
    };
    Ok((report, replay))
}

/// The headroom `choose` takes from validation `rows`: `Some(None)` when there were rows and no
/// factor meets the target on them, `Some(Some(1.0))` without rows (nothing to choose on).
fn met<R: Iterator<Item = policy::Evidence>>(
    rows: R,
    choose: impl FnOnce(std::iter::Peekable<R>) -> Option<f64>,
) -> Option<f64> {
    let mut rows = rows.peekable();
    if rows.peek().is_none() {
        return Some(1.0);
    }
    choose(rows)
}

/// The capacity actually held: as planned, or in whole instances. Where a policy could decide
/// nothing (a reactive window whose demand was all unknown: a collector outage) the capacity in
/// force stays, as Kubernetes' HPA keeps its replicas while metrics are missing and a reservation
/// stays programmed; before the first decision nothing is held. An instance count past
/// `u32::MAX` is refused: clamped, it held a sliver of the plan and scored every interval as a
/// shortfall (`--instance-capacity 1e-300`).
fn held(cap: &[Option<f64>], per_instance: Option<f64>) -> Result<Vec<f64>, EvalError> {
    let mut in_force = 0.0;
    cap.iter()
        .map(|c| {
            let c = match c.filter(|c| c.is_finite()) {
                Some(c) => {
                    in_force = c;
                    c
                }
                None => in_force,
            };
            match per_instance {
                Some(per) if (c / per).ceil() > f64::from(u32::MAX) => Err(EvalError::invalid(
                    "instance_capacity",
                    &format!("{per:?}"),
                    &format!(
                        "a capacity of {c} would take more than {} instances of it",
                        u32::MAX
                    ),
                )),
                Some(per) => Ok(f64::from(sizing::instances(c, per, 1.0, 1, u32::MAX)) * per),
                None => Ok(c),
            }
        })
        .collect()
}

/// Capacity and demand closer than this share of the larger are taken as equal: the rounding
/// of a model's fit, not a shortfall or a change (a constant 100 was forecast a few parts in
/// 1e10 low, so half of its intervals counted as under-provisioned and its capacity changed at
/// almost every one); far below the precision of any trace (six or seven significant digits).
const SAME_WITHIN: f64 = 1e-9;

/// Whether `y` exceeds `c` by more than [`SAME_WITHIN`].
fn exceeds(y: f64, c: f64) -> bool {
    y - c > SAME_WITHIN * y.abs().max(c.abs())
}

fn tally(
    t: &mut Tally,
    values: &[Option<f64>],
    cap: &[f64],
    split: Split,
    per_instance: Option<f64>,
) {
    let Split { calib, val_end, .. } = split;
    let mut prev: Option<f64> = val_end
        .checked_sub(1)
        .and_then(|r| r.checked_sub(calib).and_then(|i| cap.get(i).copied()));
    for r in val_end..values.len() {
        let c = cap[r - calib];
        if prev.is_some_and(|p| exceeds(p, c) || exceeds(c, p)) {
            t.changes += 1;
        }
        prev = Some(c);
        if let Some(per) = per_instance {
            t.instance_rows += c / per;
        }
        let Some(y) = values[r].filter(|y| y.is_finite()) else {
            continue;
        };
        t.scored += 1;
        t.cells.push((y, c));
        t.capacity += c;
        t.demand += y;
        if exceeds(y, c) {
            t.under += 1;
            t.unserved += y - c;
        }
    }
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Evaluates a parsed trace: builds its series of `kind` and scores them.
pub fn evaluate_trace(
    name: &str,
    trace: &Trace,
    kind: SeriesKind,
    cfg: &EvalConfig,
    plot: Option<&str>,
) -> Result<(Report, Option<Replay>), EvalError> {
    let demand = series::demand(trace, kind)?;
    evaluate(name, kind, &demand, trace.interval_secs(), cfg, plot)
}

#[cfg(test)]
mod tests;
