//! Additive Holt-Winters exponential smoothing with a damped trend (ETS(A,Ad,A) in error-correction
//! form, Hyndman et al., "Forecasting with Exponential Smoothing", 2008, §2.5).
//!
//! The seasonal state is indexed by absolute time modulo the period, so a gap only skips the
//! correction, never shifts the season. Where the interval does not divide the day
//! (`Seasons::clock`) a slot is the exact time of day in `period` equal parts instead, so the
//! rounded period does not drift across the clock. Parameters come from a small grid scored by one-step squared
//! error on the fit history: no parameter is tuned by hand for any trace.

use super::{Forecaster, ModelKind};
use crate::{season, History, Seasons};
use std::num::NonZeroU32;

const ALPHAS: [f64; 6] = [0.05, 0.15, 0.3, 0.5, 0.7, 0.9];
const BETAS: [f64; 2] = [0.0, 0.02];
const GAMMAS: [f64; 3] = [0.0, 0.05, 0.2];
const PHI: f64 = 0.9;
/// One-step errors (after the seasonal burn-in) a fit needs before it chooses among the grid.
/// With fewer, every setting scores alike (on a single value all score 0) and the first, the
/// slowest level, was kept: fitted on a new series' first value it crept towards the traffic
/// for the 16 or more steps until the next refit. Until then the model is not ready (it
/// forecasts the last value and `auto` does not weigh it) and tries again at each value.
const MIN_FIT_ERRORS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Params {
    alpha: f64,
    beta: f64,
    gamma: f64,
}

#[derive(Debug, Clone, PartialEq)]
struct State {
    level: f64,
    trend: f64,
    season: Vec<f32>,
    /// Time index of the next observation.
    t: u64,
}

/// Sampling interval and the exact cycle the seasonal slots divide, both in seconds (where the
/// interval does not divide the day): 8 bytes, as every series' `auto` holds one.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SlotClock {
    step: NonZeroU32,
    cycle: u32,
}

/// The seasonal slot of time index `t` among `m`: `t mod m`, or with a clock the share of the
/// exact cycle (`m` being the rounded day or week) elapsed at `t`.
fn slot(clock: Option<SlotClock>, t: u64, m: usize) -> usize {
    match clock {
        Some(c) => {
            let share = season::clock_phase(t, u64::from(c.step.get()), u64::from(c.cycle));
            ((share * m as f64) as usize).min(m.saturating_sub(1))
        }
        None => (t % m.max(1) as u64) as usize,
    }
}

impl State {
    fn one_step(&self, clock: Option<SlotClock>) -> f64 {
        self.level + PHI * self.trend + self.seasonal(self.t, clock)
    }

    fn seasonal(&self, t: u64, clock: Option<SlotClock>) -> f64 {
        let m = self.season.len() as u64;
        if m == 0 {
            return 0.0;
        }
        self.season
            .get(slot(clock, t, m as usize))
            .map_or(0.0, |&s| f64::from(s))
    }

    fn step(&mut self, y: Option<f64>, p: Params, clock: Option<SlotClock>) -> Option<f64> {
        let yhat = self.one_step(clock);
        let err = y.map(|y| y - yhat);
        let e = err.unwrap_or(0.0);
        let m = self.season.len() as u64;
        if m > 0 {
            if let Some(s) = self.season.get_mut(slot(clock, self.t, m as usize)) {
                *s += (p.gamma * e) as f32;
            }
        }
        self.level += PHI * self.trend + p.alpha * e;
        self.trend = PHI * self.trend + p.beta * e;
        self.t += 1;
        err
    }
}

/// Additive damped Holt-Winters on the daily season (or without season when none is detected).
#[derive(Debug, Clone)]
pub struct Ets {
    period: Option<usize>,
    clock: Option<SlotClock>,
    params: Params,
    state: Option<State>,
}

impl Ets {
    /// An unfitted model for a series with the given seasons.
    pub fn new(seasons: Seasons) -> Self {
        Self {
            period: seasons.shortest(),
            // The cycle `shortest()` is: the day where there is one, else the week.
            clock: seasons.clock.map(|step| SlotClock {
                step,
                cycle: if seasons.day.is_some() {
                    season::DAY_SECS as u32
                } else {
                    season::WEEK_SECS as u32
                },
            }),
            params: Params {
                alpha: 0.5,
                beta: 0.0,
                gamma: 0.05,
            },
            state: None,
        }
    }

    /// Initial state from the first season of `values` (first value when no season).
    fn init(&self, values: &[f64], t0: u64) -> Option<State> {
        let first = values.iter().copied().find(|v| v.is_finite())?;
        let m = self.period.filter(|&m| values.len() >= 2 * m).unwrap_or(0);
        let mut season = vec![0f32; m];
        let mut level = first;
        if let Some(cycles) = values.len().checked_div(m).filter(|_| m > 0) {
            // Average each phase over the whole-season prefix, relative to the overall mean.
            let span = values.get(..cycles * m).unwrap_or(values);
            let present: Vec<f64> = span.iter().copied().filter(|v| v.is_finite()).collect();
            let mean = present.iter().sum::<f64>() / present.len().max(1) as f64;
            // Season index is absolute time modulo m (or its slot of the exact cycle); values[0]
            // sits at time t0.
            let (mut sum, mut n) = (vec![0.0; m], vec![0u32; m]);
            for (i, v) in span.iter().enumerate().filter(|(_, v)| v.is_finite()) {
                let k = slot(self.clock, t0 + i as u64, m);
                if let (Some(s), Some(c)) = (sum.get_mut(k), n.get_mut(k)) {
                    *s += v;
                    *c += 1;
                }
            }
            for (s, (sum, n)) in season.iter_mut().zip(sum.iter().zip(&n)) {
                if *n > 0 {
                    *s = (sum / f64::from(*n) - mean) as f32;
                }
            }
            level = mean;
        }
        Some(State {
            level,
            trend: 0.0,
            season,
            t: t0,
        })
    }

    /// Runs `values` from the initial state `st` ([`Ets::init`] of them) with parameters `p`:
    /// the final state and the one-step squared error after the seasonal burn-in.
    fn run(&self, values: &[f64], mut st: State, p: Params) -> (State, f64) {
        let burn = st.season.len();
        let mut sse = 0.0;
        for (i, &v) in values.iter().enumerate() {
            let e = st.step(v.is_finite().then_some(v), p, self.clock);
            if i >= burn {
                sse += e.map_or(0.0, |e| e * e);
            }
        }
        (st, sse)
    }
}

impl Forecaster for Ets {
    fn kind(&self) -> ModelKind {
        ModelKind::Ets
    }

    fn fit(&mut self, hist: &History) {
        let values = hist.to_vec();
        let t0 = hist.pushed() - values.len() as u64;
        // The first value (after the burn-in) sets the level, so scores nothing.
        let burn = self.period.filter(|&m| values.len() >= 2 * m).unwrap_or(0);
        let errors = values
            .iter()
            .skip(burn + 1)
            .filter(|v| v.is_finite())
            .count();
        if errors < MIN_FIT_ERRORS {
            self.state = None;
            return;
        }
        let gammas: &[f64] = if self.period.is_some() {
            &GAMMAS
        } else {
            &[0.0]
        };
        // The initial state does not depend on the parameters: computed once for the grid's
        // 36 runs, not once per run (a pass over the whole history each).
        let Some(start) = self.init(&values, t0) else {
            return;
        };
        let mut best: Option<(State, f64, Params)> = None;
        for &alpha in &ALPHAS {
            for &beta in &BETAS {
                for &gamma in gammas {
                    let p = Params { alpha, beta, gamma };
                    let (st, sse) = self.run(&values, start.clone(), p);
                    if best.as_ref().is_none_or(|b| sse < b.1) {
                        best = Some((st, sse, p));
                    }
                }
            }
        }
        if let Some((st, _, p)) = best {
            self.state = Some(st);
            self.params = p;
        }
    }

    fn observe(&mut self, hist: &History) {
        let (p, clock) = (self.params, self.clock);
        match self.state.as_mut() {
            Some(st) => {
                st.step(hist.lag(1), p, clock);
            }
            None => {
                if hist.lag(1).is_some() {
                    self.fit(hist);
                }
            }
        }
    }

    fn forecast(&self, hist: &History, h: usize, out: &mut Vec<f64>) {
        out.clear();
        let Some(st) = &self.state else {
            out.extend(std::iter::repeat_n(hist.lag_filled(1).unwrap_or(0.0), h));
            return;
        };
        let mut damp = 0.0;
        let mut phi_k = 1.0;
        for s in 1..=h as u64 {
            phi_k *= PHI;
            damp += phi_k;
            out.push(st.level + damp * st.trend + st.seasonal(st.t + s - 1, self.clock));
        }
    }

    fn heap_bytes(&self) -> usize {
        self.state.as_ref().map_or(0, |s| s.season.capacity() * 4)
    }

    fn ready(&self, _hist: &History) -> bool {
        self.state.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testutil::{history, noise};

    #[test]
    fn at_35_minutes_the_season_follows_the_clock_not_the_rounded_day() {
        // 80 days of a daily sine sampled every 35 minutes (41.14 steps a day). Indexed by
        // `t mod 41` the season would slide 0.14 step a day, a third of a day over the history.
        let step = 2_100u64;
        let n = 80 * 86_400 / step as usize;
        let e = noise(n + 41, 3);
        let at = |t: usize| {
            let day = (t as u64 * step % 86_400) as f64 / 86_400.0;
            10.0 + 3.0 * (day * std::f64::consts::TAU).sin() + 0.1 * e[t]
        };
        let v: Vec<f64> = (0..n).map(at).collect();
        let hist = history(&v);
        let mae = |clock: Option<NonZeroU32>| {
            let mut ets = Ets::new(Seasons {
                day: Some(41),
                week: None,
                clock,
            });
            ets.fit(&hist);
            let mut out = Vec::new();
            ets.forecast(&hist, 41, &mut out);
            out.iter()
                .enumerate()
                .map(|(s, f)| (f - at(n + s)).abs())
                .sum::<f64>()
                / 41.0
        };
        let (exact, rounded) = (mae(NonZeroU32::new(2_100)), mae(None));
        assert!(
            exact < 0.25 && exact < 0.5 * rounded,
            "next day's MAE on the clock {exact}, on the rounded day {rounded}"
        );
    }

    #[test]
    fn recovers_a_daily_season_with_level() {
        let m = 24;
        let e = noise(24 * 20, 1);
        let v: Vec<f64> = (0..24 * 20)
            .map(|t| 10.0 + 3.0 * (t as f64 * std::f64::consts::TAU / m as f64).sin() + 0.1 * e[t])
            .collect();
        let hist = history(&v);
        let mut ets = Ets::new(Seasons {
            day: Some(m),
            week: None,
            clock: None,
        });
        ets.fit(&hist);
        let mut out = Vec::new();
        ets.forecast(&hist, 24, &mut out);
        for (s, f) in out.iter().enumerate() {
            let t = (v.len() + s) as f64;
            let want = 10.0 + 3.0 * (t * std::f64::consts::TAU / m as f64).sin();
            assert!((f - want).abs() < 0.3, "step {s}: {f} vs {want}");
        }
    }

    #[test]
    fn follows_a_step_change() {
        let v: Vec<f64> = (0..400).map(|t| if t < 300 { 5.0 } else { 8.0 }).collect();
        let mut hist = history(&v[..300]);
        let mut ets = Ets::new(Seasons::default());
        ets.fit(&hist);
        for &x in &v[300..] {
            hist.push(Some(x));
            ets.observe(&hist);
        }
        let mut out = Vec::new();
        ets.forecast(&hist, 1, &mut out);
        assert!((out[0] - 8.0).abs() < 0.1, "{out:?}");
    }
}
