//! The capacity each policy puts in force at every row of one series, decided `lead` rows
//! before, and the headroom each chose on the validation part.
//!
//! Rows `[0, train_end)` train, `[train_end, val_end)` validate, `[val_end, n)` are scored. A
//! decision at origin `o` (after row `o` is known) sets the capacity of row `o + lead`; nothing
//! after `o` is read. Headrooms are chosen on the calibration rows `[calib, val_end)` only: the
//! smallest factor with which demand exceeds capacity in at most a share `violation` of them.
//! They are the validation rows, reaching back into the training part where those are too few
//! ([`Split::reaching_back`]); there every policy decides rolling origin, as it would have had
//! training ended at the origin.

use std::str::FromStr;

use prescient_predict::model::{Auto, AutoConfig, Forecaster};
use prescient_predict::season::{cycle_for_interval, detect};
use prescient_predict::{ModelKind, Pooled, Predictor, PredictorConfig};

use super::EvalError;
use crate::sizing;
pub use crate::sizing::{choose_headroom, near_leads, Evidence};

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
    /// First row whose capacity is decided and may choose a headroom (at most `train_end`).
    pub calib: usize,
    /// First validation row.
    pub train_end: usize,
    /// First scored row.
    pub val_end: usize,
    /// Rows.
    pub n: usize,
}

impl Split {
    /// The parts, calibrating on the validation rows alone.
    pub fn new(train_end: usize, val_end: usize, n: usize) -> Self {
        Split {
            calib: train_end,
            train_end,
            val_end,
            n,
        }
    }

    /// The same parts calibrating on at least `rows` rows where the validation part holds
    /// fewer, reaching back into the training part (never before its middle: the rolling-origin
    /// decisions there need training rows of their own).
    pub fn reaching_back(self, rows: usize) -> Self {
        let short = rows.saturating_sub(self.val_end - self.train_end);
        Split {
            calib: self.train_end.saturating_sub(short).max(self.train_end / 2),
            ..self
        }
    }

    /// Rows a headroom needs at violation target `violation` for a series with `day` rows a
    /// day: `1/v`, the fewest whose conformal rank is a quantile rather than the largest value
    /// ([`choose_headroom`]), and a day, so that every hour the scored part covers was seen
    /// (a 10 % validation part of a few days is a few hours of one part of the day).
    pub fn calibration_rows(violation: f64, day: Option<usize>) -> usize {
        let rank = (1.0 / violation.clamp(1e-6, 1.0)).ceil() as usize;
        rank.max(day.unwrap_or(0))
    }
}

/// What a policy decided for one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Capacity of rows `calib..n` (index `r - calib`); `None` where no decision could be made
    /// (no demand known yet).
    pub cap: Vec<Option<f64>>,
    /// The factor chosen on the calibration rows (1 for the oracle, or when they had no usable
    /// row).
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

/// Whether `rows` validation rows can promise `violation` at all: by the conformal rank of
/// [`choose_headroom`], `n` rows promise at best `1 / (n + 1)`; below that the rank falls past
/// the largest ratio and the headroom is that largest ratio.
pub fn promisable(rows: usize, violation: f64) -> bool {
    let v = violation.clamp(0.0, 1.0);
    ((rows + 1) as f64 * (1.0 - v)).ceil() as usize <= rows
}

/// What a policy decided for one series before its headroom: the capacity of rows
/// `calib..n` at headroom 1, and which of them may choose the headroom.
#[derive(Debug, Clone, PartialEq)]
pub struct Base {
    /// The policy.
    pub policy: PolicyKind,
    /// The lead it decided at.
    pub lead: usize,
    /// Capacity at headroom 1 (index `r - calib`).
    pub cap: Vec<Option<f64>>,
    /// Rows that are evidence for the headroom (a predictor's warm-up is not).
    pub usable: Vec<bool>,
    /// More validation evidence for the headroom: the predictive policy's bounds for the same
    /// rows issued at the other leads of `1..=lead + 1` (their quantiles are calibrated the same
    /// way, so they miss their target by a similar factor; [`Base::headroom`] says how they
    /// count).
    pub extra: Vec<Evidence>,
    /// Bins a day of the time-of-day quantile the predictive bound used at the end (0: the
    /// plain quantile, and for the other policies).
    pub bins: usize,
}

impl Base {
    /// The calibration rows that may choose the headroom: this plan's own and [`Base::extra`].
    pub fn validation<'a>(
        &'a self,
        values: &'a [Option<f64>],
        split: Split,
    ) -> impl Iterator<Item = Evidence> + 'a {
        let Split { calib, val_end, .. } = split;
        (calib..val_end)
            .filter_map(move |r| {
                let i = r - calib;
                Some((self.lead, values[r]?, self.cap[i]?)).filter(|_| self.usable[i])
            })
            .chain(self.extra.iter().copied())
    }

    /// The headroom this plan takes from validation `rows` at `violation`
    /// ([`choose_headroom`]). The predictive policy's base is already a calibrated quantile, so
    /// its factor is shrunk towards 1 by `1 / violation` pseudo-rows (one expected violation's
    /// worth of rows per violation): a few hundred rows cannot tell a 1 % tail from noise (on the
    /// UK backbone at one hour, 1.285 from 70 rows doubled the over-provisioning). It must meet
    /// the target both on every lead's rows and on the rows of the leads next to its own
    /// ([`near_leads`]): the first has the most rows, the second the errors most like its own;
    /// and it is never below 1.
    pub fn headroom(&self, rows: impl Iterator<Item = Evidence>, violation: f64) -> Option<f64> {
        if self.policy != PolicyKind::Predictive {
            return choose_headroom(rows.map(|(_, y, b)| (y, b)), violation);
        }
        let rows: Vec<Evidence> = rows.collect();
        sizing::predictive_headroom(&rows, self.lead, violation)
    }

    /// The plan at `headroom` (the oracle's is always 1).
    pub fn at(self, headroom: f64) -> Plan {
        let headroom = if self.policy == PolicyKind::Oracle {
            1.0
        } else {
            headroom
        };
        Plan {
            cap: self
                .cap
                .into_iter()
                .map(|b| b.map(|b| b * headroom))
                .collect(),
            headroom,
        }
    }
}

/// The plan of `policy` for `values`, with the headroom chosen on this series' validation rows.
pub fn plan(policy: PolicyKind, values: &[Option<f64>], split: Split, s: &Settings) -> Plan {
    let b = base(policy, values, split, s);
    let headroom = b
        .headroom(b.validation(values, split), s.violation)
        .unwrap_or(1.0);
    b.at(headroom)
}

/// The capacity `policy` decides for `values` at headroom 1.
pub fn base(policy: PolicyKind, values: &[Option<f64>], split: Split, s: &Settings) -> Base {
    let Split {
        calib,
        train_end,
        n,
        ..
    } = split;
    let lead = s.lead.max(1);
    let cap: Vec<Option<f64>> = match policy {
        PolicyKind::Oracle => values[calib..n].to_vec(),
        PolicyKind::Predictive => return predictive(values, split, s),
        PolicyKind::Reactive => (calib..n)
            .map(|r| {
                let o = r.checked_sub(lead)?;
                let from = (o + 1).saturating_sub(s.hold.max(1));
                values[from..=o].iter().flatten().copied().reduce(f64::max)
            })
            .collect(),
        PolicyKind::Static => {
            let peak = |rows: &[Option<f64>]| rows.iter().flatten().copied().reduce(f64::max);
            let whole = peak(&values[..train_end]);
            // Rolling origin in the training part: the peak known at the decision.
            (calib..n)
                .map(|r| match r.checked_sub(lead) {
                    None => None,
                    Some(o) if o + 1 < train_end => peak(&values[..=o]),
                    Some(_) => whole,
                })
                .collect()
        }
    };
    Base {
        policy,
        lead,
        usable: vec![true; cap.len()],
        cap,
        extra: Vec::new(),
        bins: 0,
    }
}

/// Prescient's forecast of step `lead` from each origin plus the residual quantile meeting the
/// target ([`sizing::residual_quantile`], [`sizing::bound`]: what the live controller sizes
/// with), before the factor that meets the target on validation. The model is `auto` on the
/// series divided by its training maximum, fitted on training rows and refitted once a day of
/// rows, as in `forecast backtest`.
fn predictive(values: &[Option<f64>], split: Split, s: &Settings) -> Base {
    let Split {
        calib,
        train_end,
        n,
        ..
    } = split;
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
    // Daily data has no day of two steps: refit and bin the sizing quantiles by the week instead.
    let refit_every = seasons.day.or(s.interval_secs.and_then(cycle_for_interval));
    let model = || -> Box<dyn Forecaster> {
        let mut extras: Vec<Box<dyn Forecaster>> = Vec::new();
        if let Some(g) = s.pooled {
            if let Some(r) = &g.regression {
                extras.push(Box::new(r.clone()));
            }
            if let Some(b) = &g.boosted {
                extras.push(Box::new(b.clone()));
            }
        }
        if extras.is_empty() {
            ModelKind::Auto.build(seasons)
        } else {
            Box::new(Auto::with_extra(seasons, AutoConfig::default(), extras))
        }
    };
    // Calibrating rows of the training part are forecast by a model fitted on the rows before
    // them, refitted daily; not by the pooled models, which were fitted on every training row.
    let warm = calib < train_end;
    let first_model = if warm {
        ModelKind::Auto.build(seasons)
    } else {
        model()
    };
    // Every shorter lead's and the next longer one's validation bounds are evidence for the
    // headroom too (at lead 1 the lead's own ~400 validation rows hold about four expected
    // violations).
    let evidence = 1..=lead + 1;
    let cfg = sizing::predictor_config(
        PredictorConfig {
            history: n.max(1),
            horizon: *evidence.end(),
            clock: seasons.clock,
            ..PredictorConfig::default()
        },
        refit_every,
        s.violation,
    );
    let mut p = Predictor::with_model(first_model, cfg);
    p.preload(norm[..calib].iter().copied());
    p.fit();
    let mut base = vec![None; n - calib];
    let mut calibrated = vec![false; n - calib];
    let mut extra = Vec::new();
    let first = calib.saturating_sub(1);
    for (o, &value) in norm.iter().enumerate().skip(first) {
        if o >= calib {
            p.observe(value);
            if warm && o + 1 == train_end {
                // From the end of training on, the model `forecast backtest` fits there.
                p.refit(Some(model()));
            } else {
                let fitted_at = if o >= train_end { train_end } else { calib };
                if refit_every.is_some_and(|r| (o + 1 - fitted_at) % r == 0) {
                    p.refit(None);
                }
            }
        }
        // The other leads' bounds for calibration rows: more evidence for the headroom.
        for step in evidence.clone().filter(|&step| step != lead) {
            let r = o + step;
            if r < calib || r >= split.val_end {
                continue;
            }
            let (Some(&point), Some(y)) = (p.points().get(step - 1), values[r]) else {
                continue;
            };
            if let Some(q) = sizing::residual_quantile(&mut p, step, s.violation) {
                extra.push((step, y, sizing::bound(point, Some(q)) * scale));
            }
        }
        let r = o + lead;
        if r < calib || r >= n {
            continue;
        }
        let Some(&point) = p.points().get(lead - 1) else {
            continue;
        };
        let q = sizing::residual_quantile(&mut p, lead, s.violation);
        base[r - calib] = Some(sizing::bound(point, q) * scale);
        calibrated[r - calib] = q.is_some();
    }
    // Rows before the quantile is calibrated are the predictor's warm-up, not evidence.
    Base {
        policy: PolicyKind::Predictive,
        lead,
        cap: base,
        usable: calibrated,
        extra,
        bins: p.sizing_bins(lead),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_is_the_smallest_factor_meeting_the_target() {
        let rows = (1..=100).map(|i| (f64::from(i), 100.0));
        // A hundred rows cannot promise 1 %: the largest ratio, ⌈101 × 0.99⌉ = 100th smallest.
        assert_eq!(choose_headroom(rows, 0.01), Some(1.0));
        // Two hundred can: the 199th smallest, the second largest.
        let rows = (1..=200).map(|i| (f64::from(i), 200.0));
        assert_eq!(choose_headroom(rows, 0.01), Some(0.995));
        assert_eq!(choose_headroom(std::iter::empty(), 0.01), None);
        assert_eq!(choose_headroom([(0.0, 0.0)].into_iter(), 0.01), Some(0.0));
        assert_eq!(choose_headroom([(1.0, 0.0)].into_iter(), 0.01), None);
    }

    #[test]
    fn ninety_nine_rows_can_promise_one_percent_and_ninety_eight_cannot() {
        assert!(promisable(99, 0.01));
        assert!(!promisable(98, 0.01));
        assert!(!promisable(10_000, 1e-9));
        assert!(promisable(1, 0.5));
    }

    #[test]
    fn a_predictive_headroom_from_few_rows_is_shrunk_towards_one() {
        let base = |policy| Base {
            policy,
            lead: 1,
            cap: Vec::new(),
            usable: Vec::new(),
            extra: Vec::new(),
            bins: 0,
        };
        // 100 rows whose demand is 1.2 × the bound at the 99th: a raw factor of 1.2.
        let rows = || (1..=100).map(|i| (1, if i > 98 { 1.2 } else { 1.0 }, 1.0));
        let reactive = base(PolicyKind::Reactive).headroom(rows(), 0.01);
        assert_eq!(reactive, Some(1.2));
        // The predictive bound is already calibrated: 100 rows against 100 pseudo-rows at 1.
        let predictive = base(PolicyKind::Predictive)
            .headroom(rows(), 0.01)
            .expect("rows");
        assert!((predictive - 1.1).abs() < 1e-9, "{predictive}");
        // Many rows speak for themselves.
        let many = (1..=10_000).map(|i| (1, if i > 9_890 { 1.2 } else { 1.0 }, 1.0));
        let h = base(PolicyKind::Predictive)
            .headroom(many, 0.01)
            .expect("rows");
        assert!(h > 1.19, "{h}");
    }

    #[test]
    fn a_predictive_headroom_never_shrinks_the_calibrated_bound() {
        let base = |policy| Base {
            policy,
            lead: 2,
            cap: Vec::new(),
            usable: Vec::new(),
            extra: Vec::new(),
            bins: 0,
        };
        // A validation part where demand stayed at 0.8 × the bound: reactive's rule may take
        // 0.8, but the predictive bound keeps its calibrated quantile (factor 1), as the live
        // controller does; on held-out traces such shrinks ran up to 30 % under.
        let rows = || (1..=2_000).map(|_| (2, 0.8, 1.0));
        assert_eq!(base(PolicyKind::Reactive).headroom(rows(), 0.01), Some(0.8));
        assert_eq!(
            base(PolicyKind::Predictive).headroom(rows(), 0.01),
            Some(1.0)
        );
    }

    #[test]
    fn a_predictive_headroom_meets_the_target_on_its_own_leads_rows_and_on_every_leads() {
        let b = Base {
            policy: PolicyKind::Predictive,
            lead: 6,
            cap: Vec::new(),
            usable: Vec::new(),
            extra: Vec::new(),
            bins: 0,
        };
        // 400 rows of each lead 1..=7; `wide` leads have 2 % of rows at 1.2 × their bound.
        let rows = |wide: &dyn Fn(usize) -> bool| {
            let wide = |l| wide(l);
            (1..=7)
                .flat_map(move |l| {
                    (0..400).map(move |i| (l, if wide(l) && i < 8 { 1.2 } else { 0.9 }, 1.0))
                })
                .collect::<Vec<_>>()
        };
        // Leads 5-7 need 1.2 where leads 1-4 need no factor: pooled, 24 of 2,800 rows (0.86 %)
        // would pass at 0.9; the neighbours' 2 % asks for 1.2 (shrunk by 100 pseudo-rows).
        let h = b
            .headroom(rows(&|l| l >= 5).into_iter(), 0.01)
            .expect("rows");
        assert!((h - (1.0 + 0.2 * 1200.0 / 1300.0)).abs() < 1e-9, "{h}");
        // And the other way: every lead's rows ask for more than the neighbours'.
        let h = b
            .headroom(rows(&|l| l <= 4).into_iter(), 0.01)
            .expect("rows");
        assert!((h - (1.0 + 0.2 * 2800.0 / 2900.0)).abs() < 1e-9, "{h}");
        assert_eq!(near_leads(1), 1..=2);
        assert_eq!(near_leads(6), 5..=7);
    }
}
