//! Growing and shrinking services: destinations whose demand follows a trend over model days, on
//! top of the daily and weekly cycles. One service is launched and ramps up, another declines and
//! retires, a third scales out in one step.
//!
//! Invariants:
//! - Which destinations are services, and when their trends start, are pure functions of
//!   `(seed, pairs, TrendConfig)`; [`Services::factor`] is a pure function of `(dst, t)` on top,
//!   so the model's demand stays a pure function of `(seed, pair, t)`.
//! - A factor is in `[0, max(1, step_factor)]`, and exactly 1 for a destination that is no
//!   service: without services the demand is what it was before trends existed.
//! - A destination carries at most one trend.

use super::basis::{hash, unit, Pair, DAY_SECS};

/// How many services of each kind, and how fast they change.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendConfig {
    /// Destinations launched during the run: no demand before their launch day, then a linear
    /// ramp to full demand.
    pub growing: usize,
    /// Destinations that decline linearly from their decline day until they retire (no demand).
    pub shrinking: usize,
    /// Destinations that scale out in one step: demand times `step_factor` from their step day.
    pub scaling_out: usize,
    /// Fraction of its full demand a growing service gains, and a shrinking one loses, per model
    /// day (0.25: four days from launch to full demand). Not positive or not finite: the change
    /// is a step on the trend's day.
    pub daily_change: f64,
    /// Demand multiplier of a service after it scaled out.
    pub step_factor: f64,
    /// First model day a trend may start.
    pub first_day: f64,
    /// Trends start on a day drawn uniformly in `[first_day, first_day + spread_days)`.
    pub spread_days: f64,
}

impl Default for TrendConfig {
    /// No services: the demand follows its cycles only.
    fn default() -> Self {
        TrendConfig {
            growing: 0,
            shrinking: 0,
            scaling_out: 0,
            ..TrendConfig::typical()
        }
    }
}

impl TrendConfig {
    /// One service of each kind, changing by a quarter of its demand per model day, trends
    /// starting between model days 0.5 and 2.5 (the demo's setting).
    pub fn typical() -> TrendConfig {
        TrendConfig {
            growing: 1,
            shrinking: 1,
            scaling_out: 1,
            daily_change: 0.25,
            step_factor: 2.0,
            first_day: 0.5,
            spread_days: 2.0,
        }
    }

    /// Services asked for, of all kinds.
    pub fn count(&self) -> usize {
        self.growing + self.shrinking + self.scaling_out
    }
}

/// What a service's demand does over model days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trend {
    /// No demand before `launch_day`, then a ramp to full demand.
    Growing {
        /// Model day of the launch (fractional: 1.5 is noon of the second day).
        launch_day: f64,
    },
    /// Full demand until `decline_day`, then a ramp down to none (retired).
    Shrinking {
        /// Model day the decline starts.
        decline_day: f64,
    },
    /// Full demand until `day`, then `step_factor` times that.
    ScaleOut {
        /// Model day of the step.
        day: f64,
    },
}

impl Trend {
    /// Model day the trend starts changing the demand.
    pub fn start_day(&self) -> f64 {
        match *self {
            Trend::Growing { launch_day } => launch_day,
            Trend::Shrinking { decline_day } => decline_day,
            Trend::ScaleOut { day } => day,
        }
    }

    /// Short name of the kind: `growing`, `shrinking`, `scale-out`.
    pub fn kind(&self) -> &'static str {
        match self {
            Trend::Growing { .. } => "growing",
            Trend::Shrinking { .. } => "shrinking",
            Trend::ScaleOut { .. } => "scale-out",
        }
    }
}

/// A destination host whose demand follows a trend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Service {
    /// Destination host index.
    pub dst: usize,
    /// Its trend.
    pub trend: Trend,
}

/// The services of one model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Services {
    list: Vec<Service>,
    daily_change: f64,
    step_factor: f64,
}

impl Services {
    /// Chooses services among the destinations of `pairs`, in an order drawn from `seed`.
    /// Fewer destinations than asked for: the first kinds (growing, then shrinking) are served
    /// first.
    pub fn choose(seed: u64, pairs: &[Pair], config: &TrendConfig) -> Services {
        let mut dsts: Vec<usize> = pairs.iter().map(|p| p.dst).collect();
        dsts.sort_unstable();
        dsts.dedup();
        dsts.sort_by_key(|&d| hash(&[seed, 5, d as u64]));
        let kinds = std::iter::repeat_n(0u8, config.growing)
            .chain(std::iter::repeat_n(1u8, config.shrinking))
            .chain(std::iter::repeat_n(2u8, config.scaling_out));
        let list = dsts
            .into_iter()
            .zip(kinds)
            .map(|(dst, kind)| {
                let u = unit(hash(&[seed, 6, dst as u64]));
                let day = config.first_day + u * config.spread_days.max(0.0);
                let trend = match kind {
                    0 => Trend::Growing { launch_day: day },
                    1 => Trend::Shrinking { decline_day: day },
                    _ => Trend::ScaleOut { day },
                };
                Service { dst, trend }
            })
            .collect();
        Services {
            list,
            daily_change: config.daily_change,
            step_factor: config.step_factor.max(0.0),
        }
    }

    /// The services, growing first, then shrinking, then scaling out.
    pub fn list(&self) -> &[Service] {
        &self.list
    }

    /// Demand multiplier of destination `dst` at model time `t` seconds (1 for no service).
    pub fn factor(&self, dst: usize, t: f64) -> f64 {
        let Some(s) = self.list.iter().find(|s| s.dst == dst) else {
            return 1.0;
        };
        let day = t / DAY_SECS;
        // Fraction of the way from the trend's start to its end, by the daily change.
        let progress = |start: f64| -> f64 {
            if self.daily_change.is_finite() && self.daily_change > 0.0 {
                ((day - start) * self.daily_change).clamp(0.0, 1.0)
            } else if day >= start {
                1.0
            } else {
                0.0
            }
        };
        match s.trend {
            Trend::Growing { launch_day } => progress(launch_day),
            Trend::Shrinking { decline_day } => 1.0 - progress(decline_day),
            Trend::ScaleOut { day: step } => {
                if day >= step {
                    self.step_factor
                } else {
                    1.0
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{SimTopology, TopologyKind};
    use crate::traffic::{FabricCounters, TrafficConfig, TrafficEngine, TrafficModel};

    fn model(seed: u64) -> TrafficModel {
        TrafficModel::new(
            12,
            TrafficConfig {
                seed,
                // Weekends would dip the means this test compares day over day.
                weekend_dip: 0.0,
                trends: TrendConfig::typical(),
                ..TrafficConfig::default()
            },
        )
    }

    /// Mean demand toward `dst` (all its pairs) over model day `day`, sampled every 5 minutes.
    fn daily_mean(m: &TrafficModel, dst: usize, day: f64) -> f64 {
        let pairs: Vec<usize> = (0..m.pairs().len())
            .filter(|&i| m.pairs()[i].dst == dst)
            .collect();
        let samples = 288;
        let total: f64 = (0..samples)
            .map(|k| {
                let t = (day + k as f64 / samples as f64) * DAY_SECS;
                pairs.iter().map(|&i| m.rate_bps(i, t)).sum::<f64>()
            })
            .sum();
        total / samples as f64
    }

    fn service(m: &TrafficModel, kind: &str) -> Service {
        *m.services()
            .iter()
            .find(|s| s.trend.kind() == kind)
            .expect(kind)
    }

    #[test]
    fn a_growing_service_starts_silent_and_its_daily_mean_rises_day_over_day() {
        let m = model(1);
        let s = service(&m, "growing");
        let launch = s.trend.start_day();
        assert!((0.5..2.5).contains(&launch), "launch day {launch}");
        let before = (launch - 0.5) * DAY_SECS;
        assert!(m
            .pairs()
            .iter()
            .enumerate()
            .filter(|(_, p)| p.dst == s.dst)
            .all(|(i, _)| m.rate_bps(i, before) == 0.0));
        let first = launch.ceil();
        let means: Vec<f64> = (0..4)
            .map(|d| daily_mean(&m, s.dst, first + d as f64))
            .collect();
        assert!(means[0] > 0.0, "{means:?}");
        for w in means.windows(2) {
            assert!(w[1] > 1.1 * w[0], "daily means must rise: {means:?}");
        }
        // Fully grown after 1 / daily_change = 4 days: flat from then on (same weekday shape).
        let grown = daily_mean(&m, s.dst, launch.ceil() + 5.0);
        let later = daily_mean(&m, s.dst, launch.ceil() + 6.0);
        assert!((grown / later - 1.0).abs() < 0.15, "{grown} vs {later}");
    }

    #[test]
    fn a_shrinking_service_falls_day_over_day_and_retires() {
        let m = model(1);
        let s = service(&m, "shrinking");
        let start = s.trend.start_day().ceil();
        let means: Vec<f64> = (0..3)
            .map(|d| daily_mean(&m, s.dst, start + d as f64))
            .collect();
        for w in means.windows(2) {
            assert!(w[1] < 0.9 * w[0], "daily means must fall: {means:?}");
        }
        let retired = daily_mean(&m, s.dst, start + 5.0);
        assert_eq!(retired, 0.0, "retired after 1 / daily_change days");
    }

    #[test]
    fn a_scale_out_steps_the_demand_by_its_factor() {
        let cfg = TrafficConfig {
            noise: 0.0,
            flash_probability: 0.0,
            trends: TrendConfig::typical(),
            ..TrafficConfig::default()
        };
        let m = TrafficModel::new(12, cfg);
        let s = service(&m, "scale-out");
        let i = m
            .pairs()
            .iter()
            .position(|p| p.dst == s.dst)
            .expect("a pair");
        let step = s.trend.start_day() * DAY_SECS;
        // Same time of day, one day apart, both weekdays or the weekend dip would interfere.
        let (before, after) = (step - 0.5 * DAY_SECS, step + 0.5 * DAY_SECS);
        let (b, a) = (m.rate_bps(i, before), m.rate_bps(i, after));
        let plain = TrafficModel::new(
            12,
            TrafficConfig {
                trends: TrendConfig::default(),
                ..m.config().clone()
            },
        );
        assert_eq!(b, plain.rate_bps(i, before), "no change before the step");
        assert!((a / plain.rate_bps(i, after) - 2.0).abs() < 1e-9, "{a}");
    }

    #[test]
    fn services_are_deterministic_distinct_and_absent_by_default() {
        let (a, b) = (model(3), model(3));
        assert_eq!(a.services(), b.services());
        assert_eq!(a.services().len(), 3);
        let mut dsts: Vec<usize> = a.services().iter().map(|s| s.dst).collect();
        dsts.dedup();
        assert_eq!(dsts.len(), 3, "one trend per destination");
        for t in [0.0, 1.3 * DAY_SECS, 3.7 * DAY_SECS] {
            for i in 0..a.pairs().len() {
                assert_eq!(a.rate_bps(i, t), b.rate_bps(i, t));
            }
        }
        assert_ne!(model(4).services(), a.services());
        let plain = TrafficModel::new(12, TrafficConfig::default());
        assert!(plain.services().is_empty());
        // Asking for more services than there are destinations gives what there is.
        let few = TrafficModel::new(
            2,
            TrafficConfig {
                trends: TrendConfig::typical(),
                ..TrafficConfig::default()
            },
        );
        assert_eq!(few.services().len(), 2);
    }

    #[test]
    fn counters_still_agree_along_links_while_services_change() {
        let topo = SimTopology::generate(TopologyKind::Abilene).unwrap();
        let counters = FabricCounters::new(&topo);
        let mut engine = TrafficEngine::new(
            &topo,
            TrafficModel::new(
                topo.hosts.len(),
                TrafficConfig {
                    trends: TrendConfig::typical(),
                    ..TrafficConfig::default()
                },
            ),
        );
        let up = vec![true; topo.links.len()];
        // Five days in 20-minute steps: every trend starts and the growing one is fully grown.
        for k in 0..360 {
            engine.step(k as f64 * 1200.0, (k + 1) as f64 * 1200.0, &up, &counters);
        }
        for l in &topo.links {
            let a = counters.port(l.a).unwrap().load();
            let b = counters.port(l.b).unwrap().load();
            assert_eq!((a.tx_bytes, a.tx_packets), (b.rx_bytes, b.rx_packets));
            assert_eq!((a.rx_bytes, a.rx_packets), (b.tx_bytes, b.tx_packets));
        }
    }
}
