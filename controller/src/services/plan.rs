//! Scaling decisions for one service from its demand forecast. Pure: figures in, a step out.
//!
//! - Demand: the element-wise sum, step by step, of the forecasts of every host pair sending to
//!   the service (towards a backend or the VIP's MAC); its peak is the largest upper 95% bound
//!   (the point forecast where intervals are not calibrated yet), and its planned peak the
//!   largest sum of planning bounds (forecast plus the residual quantile meeting the violation
//!   target, [`crate::sizing`]).
//! - Needed instances: `ceil(planned / (scale_up_at × per-instance capacity))`, clamped to
//!   `[min, max]`: the instances that keep the predicted load under the policy's threshold.
//! - Scale up when needed exceeds running + already pre-reserved (so one episode asks once), by
//!   at least the policy's step, up to `max`.
//! - Scale down (cost-aware) only when the planned peak stays below `scale_down_below` of one instance
//!   fewer for a whole cool-down, and no scaling happened during the cool-down either.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use prescient_topology::Timestamp;

use super::model::{Backend, Policy, ServiceSpec};
use crate::vocab::Point;

/// A service's demand over the horizon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Demand {
    /// Highest point forecast, bits/s.
    pub point_bps: f64,
    /// Highest upper 95 % bound (point where uncalibrated), bits/s.
    pub upper_bps: f64,
    /// Lower 95 % bound at the step of that highest upper bound (the point where
    /// uncalibrated), bits/s: with `upper_bps`, the interval of the peak.
    pub lower_bps: f64,
    /// Highest sum of planning bounds (forecast plus the residual quantile meeting the
    /// violation target), bits/s: what scaling sizes for.
    pub planned_bps: f64,
    /// Steps summed.
    pub steps: usize,
    /// Host pairs summed.
    pub pairs: usize,
}

/// Sums forecasts step by step; `None` when there is none.
pub fn demand<'a>(forecasts: impl IntoIterator<Item = &'a [Point]>) -> Option<Demand> {
    let mut point: Vec<f64> = Vec::new();
    let mut upper: Vec<f64> = Vec::new();
    let mut lower: Vec<f64> = Vec::new();
    let mut planned: Vec<f64> = Vec::new();
    let mut pairs = 0;
    for f in forecasts {
        pairs += 1;
        for (i, p) in f.iter().enumerate() {
            if point.len() <= i {
                point.push(0.0);
                upper.push(0.0);
                lower.push(0.0);
                planned.push(0.0);
            }
            let v = if p.value.is_finite() {
                p.value.max(0.0)
            } else {
                0.0
            };
            let (lo, hi) = match p.i95 {
                Some((lo, hi)) if lo.is_finite() && hi.is_finite() => (lo.clamp(0.0, v), hi.max(v)),
                _ => (v, v),
            };
            if let (Some(a), Some(b), Some(c), Some(d)) = (
                point.get_mut(i),
                upper.get_mut(i),
                lower.get_mut(i),
                planned.get_mut(i),
            ) {
                *a += v;
                *b += hi;
                *c += lo;
                *d += if p.bound.is_finite() { p.bound } else { v };
            }
        }
    }
    let peak = upper.iter().enumerate().fold(
        (0, 0.0),
        |best, (i, u)| if *u > best.1 { (i, *u) } else { best },
    );
    (pairs > 0).then(|| Demand {
        point_bps: point.iter().copied().fold(0.0, f64::max),
        upper_bps: peak.1,
        lower_bps: lower.get(peak.0).copied().unwrap_or(0.0),
        planned_bps: planned.iter().copied().fold(0.0, f64::max),
        steps: point.len(),
        pairs,
    })
}

/// What scaling remembers between rounds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScalingState {
    /// Since when the forecast has been low enough to scale down.
    pub low_since: Option<Timestamp>,
    /// Last scale-up or scale-down asked for.
    pub last_scaled: Option<Timestamp>,
    /// Backends a migration was asked for while their edge stays hot.
    pub migrating: BTreeSet<Ipv4Addr>,
    /// Instances the last scale-up asked for, until they arrive, the need passes, or its
    /// shadows age back: a pool too short for shadows must not turn one episode into a call
    /// per tick.
    pub asked: Option<u32>,
}

/// What to do about a service this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing.
    Hold,
    /// Pre-reserve `delta` addresses and ask for `delta` instances.
    ScaleUp {
        /// Instances to add.
        delta: u32,
        /// Instances wanted afterwards.
        target: u32,
        /// Instances the forecast needs (before the policy's step and `max`).
        needed: u32,
    },
    /// Ask to stop these instances.
    ScaleDown {
        /// Instances wanted afterwards.
        target: u32,
        /// The instances to stop.
        remove: Vec<Ipv4Addr>,
    },
}

fn secs_between(a: Timestamp, b: Timestamp) -> f64 {
    b.nanos().saturating_sub(a.nanos()) as f64 / 1e9
}

/// Instances needed for `peak` under `policy`, clamped to the service's bounds
/// ([`crate::sizing::instances`], as `prescient evaluate` sizes them).
pub fn needed(spec: &ServiceSpec, policy: &Policy, peak: f64) -> u32 {
    crate::sizing::instances(
        peak,
        spec.instance_capacity_bps as f64,
        policy.scale_up_at,
        spec.min_instances,
        spec.max_instances,
    )
}

/// Decides this round's step; updates `state`.
pub fn step(
    spec: &ServiceSpec,
    policy: &Policy,
    demand: &Demand,
    shadows: usize,
    now: Timestamp,
    state: &mut ScalingState,
) -> Step {
    let current = u32::try_from(spec.backends.len()).unwrap_or(u32::MAX);
    let need = needed(spec, policy, demand.planned_bps);
    if state.asked.is_some_and(|a| current >= a || need <= current) {
        state.asked = None;
    }
    let pending = current
        .saturating_add(u32::try_from(shadows).unwrap_or(u32::MAX))
        .max(state.asked.unwrap_or(0));
    if need > pending && pending < spec.max_instances {
        let delta = (need - pending).max(policy.scale_up_step);
        let target = pending.saturating_add(delta).min(spec.max_instances);
        state.low_since = None;
        state.last_scaled = Some(now);
        state.asked = Some(target);
        return Step::ScaleUp {
            delta: target - pending,
            target,
            needed: need,
        };
    }
    let one_fewer = f64::from(current.saturating_sub(1)) * spec.instance_capacity_bps as f64;
    let low = current > spec.min_instances
        && need < current
        && demand.planned_bps < policy.scale_down_below * one_fewer;
    if !low {
        state.low_since = None;
        return Step::Hold;
    }
    let since = *state.low_since.get_or_insert(now);
    let quiet = state
        .last_scaled
        .is_none_or(|t| secs_between(t, now) >= policy.cool_down.as_secs_f64());
    if secs_between(since, now) < policy.cool_down.as_secs_f64() || !quiet {
        return Step::Hold;
    }
    state.low_since = None;
    state.last_scaled = Some(now);
    let target = need;
    Step::ScaleDown {
        target,
        remove: victims(&spec.backends, (current - target) as usize),
    }
}

/// The `n` instances to stop: lightest weight first, then the highest address (usually the
/// most recently added).
fn victims(backends: &[Backend], n: usize) -> Vec<Ipv4Addr> {
    let mut order: Vec<&Backend> = backends.iter().collect();
    order.sort_by(|a, b| a.weight.cmp(&b.weight).then(b.ip.cmp(&a.ip)));
    order.into_iter().take(n).map(|b| b.ip).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use prescient_topology::MacAddr;

    use super::*;

    fn spec(backends: usize) -> ServiceSpec {
        ServiceSpec {
            name: "web".into(),
            tenant: "red".into(),
            vip: Ipv4Addr::new(192, 0, 2, 10),
            vip_mac: None,
            pool: "10.1.0.0/24".parse().expect("net"),
            backends: (0..backends)
                .map(|i| Backend {
                    ip: Ipv4Addr::new(10, 1, 0, 1 + i as u8),
                    mac: MacAddr([0, 0, 0, 1, 0, i as u8]),
                    weight: 1,
                })
                .collect(),
            tier: 1,
            instance_capacity_bps: 100_000_000,
            min_instances: 1,
            max_instances: 6,
            policy: None,
        }
    }

    fn load(bps: f64) -> Demand {
        Demand {
            point_bps: bps,
            upper_bps: bps,
            lower_bps: bps,
            planned_bps: bps,
            steps: 12,
            pairs: 1,
        }
    }

    fn t(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    #[test]
    fn forecasts_sum_step_by_step_and_the_peak_uses_the_upper_bound() {
        let p = |v: f64, hi: Option<f64>| Point {
            at: t(0),
            value: v,
            i80: None,
            i95: hi.map(|h| (0.0, h)),
            i99: None,
            bound: hi.unwrap_or(v),
        };
        let a = [p(10.0, Some(15.0)), p(30.0, Some(40.0))];
        let b = [p(25.0, None), p(5.0, None)];
        let d = demand([&a[..], &b[..]]).expect("two pairs");
        assert_eq!(d.pairs, 2);
        assert_eq!(d.point_bps, 35.0);
        assert_eq!(d.upper_bps, 45.0);
        assert_eq!(d.planned_bps, 45.0);
        // The peak is at step 2: its interval is [0 + 5, 40 + 5].
        assert_eq!(d.lower_bps, 5.0);
        assert!(demand(std::iter::empty::<&[Point]>()).is_none());
    }

    #[test]
    fn predicted_load_over_the_threshold_asks_for_the_delta_once() {
        let s = spec(2);
        let policy = Policy::default_policy();
        let mut st = ScalingState::default();
        // 2 x 100 Mb/s at 80 %: 160 Mb/s fits; 330 Mb/s needs ceil(330/80) = 5.
        assert_eq!(
            step(&s, &policy, &load(150e6), 0, t(0), &mut st),
            Step::Hold
        );
        let up = step(&s, &policy, &load(330e6), 0, t(1), &mut st);
        assert_eq!(
            up,
            Step::ScaleUp {
                delta: 3,
                target: 5,
                needed: 5
            }
        );
        // Three shadows are pending: the same forecast asks nothing more.
        assert_eq!(
            step(&s, &policy, &load(330e6), 3, t(2), &mut st),
            Step::Hold
        );
        // Beyond max: clamped.
        let up = step(&s, &policy, &load(10e9), 3, t(3), &mut st);
        assert_eq!(
            up,
            Step::ScaleUp {
                delta: 1,
                target: 6,
                needed: 6
            }
        );
    }

    #[test]
    fn a_pool_without_room_for_shadows_is_asked_once_per_episode() {
        let s = spec(1);
        let policy = Policy::default_policy();
        let mut st = ScalingState::default();
        assert!(matches!(
            step(&s, &policy, &load(150e6), 0, t(0), &mut st),
            Step::ScaleUp { target: 2, .. }
        ));
        // No shadow could be reserved: the same need does not ask again.
        assert_eq!(
            step(&s, &policy, &load(150e6), 0, t(1), &mut st),
            Step::Hold
        );
        // A larger need asks for the difference only.
        assert!(matches!(
            step(&s, &policy, &load(230e6), 0, t(2), &mut st),
            Step::ScaleUp {
                delta: 1,
                target: 3,
                ..
            }
        ));
        // The need passes: a new episode may ask again.
        assert_eq!(step(&s, &policy, &load(10e6), 0, t(3), &mut st), Step::Hold);
        assert_eq!(st.asked, None);
    }

    #[test]
    fn the_policy_step_scales_by_at_least_n() {
        let s = spec(2);
        let policy = Policy {
            scale_up_step: 2,
            ..Policy::default_policy()
        };
        let up = step(
            &s,
            &policy,
            &load(170e6),
            0,
            t(0),
            &mut ScalingState::default(),
        );
        assert_eq!(
            up,
            Step::ScaleUp {
                delta: 2,
                target: 4,
                needed: 3
            }
        );
    }

    #[test]
    fn scale_down_waits_for_a_sustained_low_forecast() {
        let s = spec(4);
        let policy = Policy {
            cool_down: Duration::from_secs(60),
            ..Policy::default_policy()
        };
        let mut st = ScalingState::default();
        for i in 0..60 {
            assert_eq!(
                step(&s, &policy, &load(50e6), 0, t(i), &mut st),
                Step::Hold,
                "at {i}"
            );
        }
        // A dip that ends resets the clock.
        assert_eq!(
            step(&s, &policy, &load(300e6), 0, t(59), &mut st),
            Step::Hold
        );
        assert_eq!(st.low_since, None);
        for i in 100..160 {
            assert_eq!(step(&s, &policy, &load(50e6), 0, t(i), &mut st), Step::Hold);
        }
        match step(&s, &policy, &load(50e6), 0, t(160), &mut st) {
            Step::ScaleDown { target, remove } => {
                assert_eq!(target, 1);
                assert_eq!(remove.len(), 3);
                assert!(!remove.contains(&Ipv4Addr::new(10, 1, 0, 1)), "{remove:?}");
            }
            other => panic!("expected a scale-down, got {other:?}"),
        }
    }
}
