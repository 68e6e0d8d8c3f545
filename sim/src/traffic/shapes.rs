//! The demand model's shapes: which host pairs talk, and how much at model time `t` (daily and
//! weekly cycles, smooth noise, flash crowds, a replayed trace, and the trends of [`super::services`]).
//!
//! Invariant: [`TrafficModel::rate_bps`] is a pure function of `(seed, pair, t)`: the same seed
//! gives the same series, whatever the step size or wall-clock speed.

use std::sync::Arc;

use super::basis::{hash, mix, unit, Pair, DAY_SECS};
use super::services::{Service, Services, TrendConfig};

/// Mean packet size used to derive packet counts from bytes.
pub const MEAN_PACKET_BYTES: u64 = 800;

/// Parameters of the demand model.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficConfig {
    /// Seed of every random choice (pairs, base rates, noise, flash crowds).
    pub seed: u64,
    /// Destinations each host sends to.
    pub pairs_per_host: usize,
    /// Mean base demand of a pair, bits/s.
    pub mean_pair_bps: f64,
    /// Daily swing: demand ranges over `1 ± daily_amplitude` (trough at midnight, peak at noon).
    pub daily_amplitude: f64,
    /// Weekend demand is lowered by this fraction.
    pub weekend_dip: f64,
    /// Relative noise amplitude (uniform, smooth between minutes).
    pub noise: f64,
    /// Probability per destination per model hour that a flash crowd starts.
    pub flash_probability: f64,
    /// Demand multiplier toward a destination during its flash crowd.
    pub flash_multiplier: f64,
    /// Duration of a flash crowd, model seconds.
    pub flash_secs: f64,
    /// Measured demand to replay instead of the synthetic cycles (`prescient demo --trace`).
    pub replay: Option<Arc<Replay>>,
    /// Services whose demand grows, shrinks or steps over model days (none by default; not
    /// applied to a replayed traffic matrix, which is measured as it is).
    pub trends: TrendConfig,
}

/// A measured trace replayed as demand, row by row (linearly interpolated, cyclic).
#[derive(Debug, Clone, PartialEq)]
pub enum Replay {
    /// One column per (source host, destination host): the demand itself, bits/s.
    Pairs {
        /// Model seconds each row covers.
        interval_secs: f64,
        /// Source and destination host of each column.
        pairs: Vec<(usize, usize)>,
        /// `rates_bps[column][row]`.
        rates_bps: Vec<Vec<f64>>,
    },
    /// One aggregate series: it shapes the synthetic pairs' demand (its mean maps to 1).
    Aggregate {
        /// Model seconds each row covers.
        interval_secs: f64,
        /// The series divided by its mean.
        shape: Vec<f64>,
    },
}

impl Replay {
    /// Value of `row_values` at model time `t`: rows are `interval` apart, interpolated, cyclic.
    fn at(interval: f64, row_values: &[f64], t: f64) -> f64 {
        let n = row_values.len();
        if n == 0 || interval.is_nan() || interval <= 0.0 {
            return 0.0;
        }
        let pos = (t.max(0.0) / interval) % n as f64;
        let i = pos.floor() as usize % n;
        let w = pos - pos.floor();
        let a = row_values.get(i).copied().unwrap_or(0.0);
        let b = row_values.get((i + 1) % n).copied().unwrap_or(a);
        a * (1.0 - w) + b * w
    }
}

impl Default for TrafficConfig {
    fn default() -> Self {
        TrafficConfig {
            seed: 1,
            pairs_per_host: 3,
            mean_pair_bps: 20_000_000.0,
            daily_amplitude: 0.6,
            weekend_dip: 0.3,
            noise: 0.1,
            flash_probability: 0.02,
            flash_multiplier: 5.0,
            flash_secs: 900.0,
            replay: None,
            trends: TrendConfig::default(),
        }
    }
}

/// The demand model: which hosts talk, and how much at model time `t`.
#[derive(Debug, Clone)]
pub struct TrafficModel {
    config: TrafficConfig,
    pairs: Vec<Pair>,
    services: Services,
}

impl TrafficModel {
    /// Chooses pairs among `hosts` hosts: each host sends to `pairs_per_host` distinct others.
    pub fn new(hosts: usize, config: TrafficConfig) -> TrafficModel {
        if let Some(Replay::Pairs { pairs, .. }) = config.replay.as_deref() {
            let pairs = pairs
                .iter()
                .filter(|(s, d)| *s < hosts && *d < hosts && s != d)
                .map(|&(src, dst)| Pair {
                    src,
                    dst,
                    base_bps: 0.0,
                })
                .collect();
            return TrafficModel {
                config,
                pairs,
                services: Services::default(),
            };
        }
        let mut pairs = Vec::new();
        if hosts >= 2 {
            let per_host = config.pairs_per_host.min(hosts - 1);
            for src in 0..hosts {
                let mut chosen: Vec<usize> = Vec::with_capacity(per_host);
                let mut attempt = 0u64;
                while chosen.len() < per_host {
                    let dst =
                        (hash(&[config.seed, 1, src as u64, attempt]) % hosts as u64) as usize;
                    attempt += 1;
                    if dst != src && !chosen.contains(&dst) {
                        chosen.push(dst);
                    }
                }
                for dst in chosen {
                    // Log-uniform over 0.25x..4x of the mean: a few heavy pairs, many light ones.
                    let u = unit(hash(&[config.seed, 2, src as u64, dst as u64]));
                    let base_bps = config.mean_pair_bps * 4f64.powf(2.0 * u - 1.0);
                    pairs.push(Pair { src, dst, base_bps });
                }
            }
        }
        let services = Services::choose(config.seed, &pairs, &config.trends);
        TrafficModel {
            config,
            pairs,
            services,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TrafficConfig {
        &self.config
    }

    /// All pairs.
    pub fn pairs(&self) -> &[Pair] {
        &self.pairs
    }

    /// The destinations whose demand follows a trend.
    pub fn services(&self) -> &[Service] {
        self.services.list()
    }

    /// Demand of pair `i` at model time `t` seconds, bits/s (0 for an unknown pair).
    pub fn rate_bps(&self, i: usize, t: f64) -> f64 {
        let Some(p) = self.pairs.get(i) else {
            return 0.0;
        };
        let c = &self.config;
        match c.replay.as_deref() {
            Some(Replay::Pairs {
                interval_secs,
                pairs,
                rates_bps,
            }) => {
                // Columns and model pairs line up unless a column named an absent host.
                let column = pairs.iter().position(|&(s, d)| s == p.src && d == p.dst);
                return column
                    .and_then(|c| rates_bps.get(c))
                    .map_or(0.0, |rows| Replay::at(*interval_secs, rows, t).max(0.0));
            }
            Some(Replay::Aggregate {
                interval_secs,
                shape,
            }) => {
                let noise = 1.0 + c.noise * self.smooth_noise(i, t);
                let trend = self.services.factor(p.dst, t);
                return (p.base_bps * Replay::at(*interval_secs, shape, t) * noise * trend)
                    .max(0.0);
            }
            None => {}
        }
        let day_phase = (t / DAY_SECS).fract();
        let daily = 1.0 - c.daily_amplitude * (2.0 * std::f64::consts::PI * day_phase).cos();
        let weekday = ((t / DAY_SECS).floor() as i64).rem_euclid(7);
        let weekly = if weekday >= 5 {
            1.0 - c.weekend_dip
        } else {
            1.0
        };
        let noise = 1.0 + c.noise * self.smooth_noise(i, t);
        let flash = if self.flash_active(p.dst, t) {
            c.flash_multiplier
        } else {
            1.0
        };
        let trend = self.services.factor(p.dst, t);
        (p.base_bps * daily * weekly * noise * flash * trend).max(0.0)
    }

    /// Whether destination host `dst` is under a flash crowd at model time `t`.
    pub fn flash_active(&self, dst: usize, t: f64) -> bool {
        let c = &self.config;
        let hour = (t / 3600.0).floor() as i64;
        // A crowd may spill over from the previous hour.
        (hour - 1..=hour).any(|h| {
            let r = hash(&[c.seed, 3, dst as u64, h as u64]);
            if unit(r) >= c.flash_probability {
                return false;
            }
            let start = h as f64 * 3600.0 + unit(mix(r)) * 3600.0;
            t >= start && t < start + c.flash_secs
        })
    }

    /// Noise in `[-1, 1]`, drawn per model minute and linearly interpolated between minutes.
    fn smooth_noise(&self, i: usize, t: f64) -> f64 {
        let m = t / 60.0;
        let m0 = m.floor();
        let at = |minute: f64| {
            2.0 * unit(hash(&[self.config.seed, 4, i as u64, minute as i64 as u64])) - 1.0
        };
        let w = m - m0;
        at(m0) * (1.0 - w) + at(m0 + 1.0) * w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_deterministic_and_follow_the_daily_cycle() {
        let cfg = TrafficConfig {
            noise: 0.0,
            flash_probability: 0.0,
            ..TrafficConfig::default()
        };
        let a = TrafficModel::new(12, cfg.clone());
        let b = TrafficModel::new(12, cfg);
        assert_eq!(a.pairs(), b.pairs());
        assert_eq!(a.pairs().len(), 36);
        let night = a.rate_bps(0, 0.0);
        let noon = a.rate_bps(0, DAY_SECS / 2.0);
        assert!(noon > 3.0 * night, "noon {noon} vs midnight {night}");
        // Saturday noon is below Monday noon by the weekend dip.
        let saturday = a.rate_bps(0, 5.0 * DAY_SECS + DAY_SECS / 2.0);
        assert!((saturday / noon - 0.7).abs() < 1e-9);
        assert_eq!(a.rate_bps(999, 0.0), 0.0);
    }

    #[test]
    fn flash_crowds_happen_and_multiply_demand() {
        let cfg = TrafficConfig {
            noise: 0.0,
            flash_probability: 0.5,
            ..TrafficConfig::default()
        };
        let m = TrafficModel::new(4, cfg);
        let dst = m.pairs()[0].dst;
        let t = (0..48 * 60)
            .map(|minute| minute as f64 * 60.0)
            .find(|&t| m.flash_active(dst, t))
            .expect("a flash crowd within two days at p=0.5/hour");
        let quiet = TrafficModel::new(
            4,
            TrafficConfig {
                flash_probability: 0.0,
                noise: 0.0,
                ..m.config().clone()
            },
        );
        assert!((m.rate_bps(0, t) / quiet.rate_bps(0, t) - 5.0).abs() < 1e-9);
    }

    #[test]
    fn a_replayed_trace_drives_the_demand_row_by_row() {
        let replay = Replay::Pairs {
            interval_secs: 300.0,
            pairs: vec![(0, 1), (2, 0)],
            rates_bps: vec![vec![1e6, 3e6], vec![5e6, 5e6]],
        };
        let model = TrafficModel::new(
            3,
            TrafficConfig {
                replay: Some(Arc::new(replay)),
                ..TrafficConfig::default()
            },
        );
        assert_eq!(model.pairs().len(), 2);
        assert_eq!(model.rate_bps(0, 0.0), 1e6);
        assert_eq!(model.rate_bps(0, 150.0), 2e6, "halfway between rows");
        assert_eq!(model.rate_bps(0, 600.0), 1e6, "the trace repeats");
        assert_eq!(model.rate_bps(1, 42.0), 5e6);
    }

    #[test]
    fn an_aggregate_trace_shapes_the_synthetic_pairs() {
        let shaped = |shape: Vec<f64>| {
            TrafficModel::new(
                4,
                TrafficConfig {
                    noise: 0.0,
                    replay: Some(Arc::new(Replay::Aggregate {
                        interval_secs: 60.0,
                        shape,
                    })),
                    ..TrafficConfig::default()
                },
            )
        };
        let m = shaped(vec![0.5, 1.5]);
        let low = m.rate_bps(0, 0.0);
        let high = m.rate_bps(0, 60.0);
        assert!((high / low - 3.0).abs() < 1e-9, "{low} {high}");
    }
}
