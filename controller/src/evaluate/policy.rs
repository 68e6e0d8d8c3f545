//! The capacity each policy puts in force at every row of one series, decided `lead` rows
//! before, and the headroom each chose on the validation part.
//!
//! Rows `[0, train_end)` train, `[train_end, val_end)` validate, `[val_end, n)` are scored. A
//! decision at origin `o` (after row `o` is known) sets the capacity of row `o + lead`; nothing
//! after `o` is read. Headrooms are chosen on validation rows only: the smallest factor with
//! which demand exceeds capacity in at most a share `violation` of them.

use std::str::FromStr;

use prescient_predict::model::{Auto, AutoConfig, Forecaster};
use prescient_predict::season::{detect, periods_for_interval};
use prescient_predict::{ModelKind, Pooled, Predictor, PredictorConfig};

use super::EvalError;
use crate::sizing;

/// A way of deciding capacity ahead of demand.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// Prescient's forecast plus its calibrated residual quantile ([`crate::sizing`]).
    Predictive,
    /// Like Kubernetes' HPA: the last observed demand times a headroom, holding the maximum of a
    /// window before scaling down.
    Reactive,
    /// The peak of the training part times a headroom.
    Static,
    /// The actual demand: the lower bound.
    Oracle,
}

impl PolicyKind {
    /// All policies, in report order.
    pub const ALL: [PolicyKind; 4] = [
        PolicyKind::Predictive,
        PolicyKind::Reactive,
        PolicyKind::Static,
        PolicyKind::Oracle,
    ];

    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Predictive => "predictive",
            PolicyKind::Reactive => "reactive",
            PolicyKind::Static => "static",
            PolicyKind::Oracle => "oracle",
        }
    }
}

impl FromStr for PolicyKind {
    type Err = EvalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyKind::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                EvalError::invalid(
                    "policies",
                    s,
                    "expected predictive, reactive, static or oracle",
                )
            })
    }
}

/// Where the parts of a series begin and end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// First validation row.
    pub train_end: usize,
    /// First scored row.
    pub val_end: usize,
    /// Rows.
    pub n: usize,
}

/// What a policy decided for one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Capacity of rows `train_end..n` (index `r - train_end`); `None` where no decision could
    /// be made (no demand known yet).
    pub cap: Vec<Option<f64>>,
    /// The factor chosen on validation (1 for the oracle, or when validation had no usable row).
    pub headroom: f64,
}

/// Settings the policies share.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    /// Rows between a decision and the interval it is for.
    pub lead: usize,
    /// Share of intervals demand may exceed capacity in.
    pub violation: f64,
    /// Intervals of the reactive policy's hold window.
    pub hold: usize,
    /// Interval of the trace, seconds, for seasons.
    pub interval_secs: Option<u64>,
    /// The models pooled over all series that `auto` weighs, chosen as `forecast backtest`
    /// chooses them (on validation).
    pub pooled: Option<&'a Pooled>,
}

/// The smallest factor `h` with `y > h × base` in at most a share `violation` of `rows`;
/// `None` without rows, or when no finite factor does (demand where the base is zero).
pub fn choose_headroom(rows: impl Iterator<Item = (f64, f64)>, violation: f64) -> Option<f64> {
    let mut ratios: Vec<f64> = rows
        .map(|(y, base)| {
            if y <= 0.0 {
                0.0
            } else if base <= 0.0 {
                f64::INFINITY
            } else {
                y / base
            }
        })
        .collect();
    if ratios.is_empty() {
        return None;
    }
    ratios.sort_unstable_by(|a, b| b.total_cmp(a));
    let allowed = (violation.max(0.0) * ratios.len() as f64).floor() as usize;
    ratios
        .get(allowed.min(ratios.len() - 1))
        .copied()
        .filter(|h| h.is_finite())
}

/// The plan of `policy` for `values`.
pub fn plan(policy: PolicyKind, values: &[Option<f64>], split: Split, s: &Settings) -> Plan {
    let Split { train_end, n, .. } = split;
    let lead = s.lead.max(1);
    let base: Vec<Option<f64>> = match policy {
        PolicyKind::Oracle => {
            return Plan {
                cap: values[train_end..n].to_vec(),
                headroom: 1.0,
            }
        }
        PolicyKind::Predictive => return predictive(values, split, s),
        PolicyKind::Reactive => (train_end..n)
            .map(|r| {
                let o = r.checked_sub(lead)?;
                let from = (o + 1).saturating_sub(s.hold.max(1));
                values[from..=o].iter().flatten().copied().reduce(f64::max)
            })
            .collect(),
        PolicyKind::Static => {
            let peak = values[..train_end]
                .iter()
                .flatten()
                .copied()
                .reduce(f64::max);
            vec![peak; n - train_end]
        }
    };
    scaled(values, split, base, s.violation, |_| true)
}

/// `base` times the headroom chosen on the validation rows where `usable`.
fn scaled(
    values: &[Option<f64>],
    split: Split,
    base: Vec<Option<f64>>,
    violation: f64,
    usable: impl Fn(usize) -> bool,
) -> Plan {
    let Split {
        train_end, val_end, ..
    } = split;
    let rows = (train_end..val_end).filter_map(|r| {
        let i = r - train_end;
        Some((values[r]?, base[i]?)).filter(|_| usable(i))
    });
    let headroom = choose_headroom(rows, violation).unwrap_or(1.0);
    Plan {
        cap: base.into_iter().map(|b| b.map(|b| b * headroom)).collect(),
        headroom,
    }
}

/// Prescient's forecast of step `lead` from each origin plus the residual quantile meeting the
/// target ([`sizing::residual_quantile`], [`sizing::bound`]: what the live controller sizes
/// with), then scaled by the factor that met the target on validation. The model is `auto`,
/// fitted on the training part divided by its maximum, refitted once a day of rows, as in
/// `forecast backtest`.
fn predictive(values: &[Option<f64>], split: Split, s: &Settings) -> Plan {
    let Split { train_end, n, .. } = split;
    let lead = s.lead.max(1);
    let scale = values[..train_end]
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let scale = if scale > 0.0 { scale } else { 1.0 };
    let norm: Vec<Option<f64>> = values.iter().map(|v| v.map(|v| v / scale)).collect();
    let train: Vec<f64> = norm[..train_end]
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect();
    let seasons = detect(&train, s.interval_secs);
    let refit_every = seasons
        .day
        .or(s.interval_secs.and_then(|i| periods_for_interval(i).day));
    let mut extras: Vec<Box<dyn Forecaster>> = Vec::new();
    if let Some(g) = s.pooled {
        if let Some(r) = &g.regression {
            extras.push(Box::new(r.clone()));
        }
        if let Some(b) = &g.boosted {
            extras.push(Box::new(b.clone()));
        }
    }
    let model: Box<dyn Forecaster> = if extras.is_empty() {
        ModelKind::Auto.build(seasons)
    } else {
        Box::new(Auto::with_extra(seasons, AutoConfig::default(), extras))
    };
    let cfg = PredictorConfig {
        history: n.max(1),
        horizon: lead,
        ..PredictorConfig::default()
    };
    let mut p = Predictor::with_model(model, cfg);
    p.preload(norm[..train_end].iter().copied());
    p.fit();
    let mut base = vec![None; n - train_end];
    let mut calibrated = vec![false; n - train_end];
    let first = train_end.saturating_sub(1);
    for (o, &value) in norm.iter().enumerate().skip(first) {
        if o >= train_end {
            p.observe(value);
            if refit_every.is_some_and(|r| (o + 1 - train_end) % r == 0) {
                p.refit(None);
            }
        }
        let r = o + lead;
        if r < train_end || r >= n {
            continue;
        }
        let Some(&point) = p.points().get(lead - 1) else {
            continue;
        };
        let q = sizing::residual_quantile(&mut p, lead, s.violation);
        base[r - train_end] = Some(sizing::bound(point, q) * scale);
        calibrated[r - train_end] = q.is_some();
    }
    // Rows before the quantile is calibrated are the predictor's warm-up, not evidence.
    scaled(values, split, base, s.violation, |i| {
        calibrated.get(i).copied().unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_is_the_smallest_factor_meeting_the_target() {
        let rows = (1..=100).map(|i| (f64::from(i), 100.0));
        // One row in a hundred may exceed: the second largest ratio.
        assert_eq!(choose_headroom(rows, 0.01), Some(0.99));
        assert_eq!(choose_headroom(std::iter::empty(), 0.01), None);
        assert_eq!(choose_headroom([(0.0, 0.0)].into_iter(), 0.01), Some(0.0));
        assert_eq!(choose_headroom([(1.0, 0.0)].into_iter(), 0.01), None);
    }
}
