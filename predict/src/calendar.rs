//! Scheduled events: known periods (a backup window, a sale, a maintenance) during which the
//! named series are expected to carry a multiple of their usual traffic, or at least a given
//! level. Applied on top of any model's forecast, points and bounds alike: multipliers first
//! (their product), then the highest floor.

use crate::{Forecast, PredictError};

/// Which series an event concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope<K> {
    /// Every series.
    All,
    /// Only these.
    Only(Vec<K>),
}

/// One scheduled event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<K> {
    /// Name, for explanations.
    pub name: String,
    /// Start, seconds since the epoch (inclusive).
    pub start: u64,
    /// End, seconds since the epoch (exclusive).
    pub end: u64,
    /// Expected multiplier of traffic during the event.
    pub multiplier: f64,
    /// Expected least traffic during the event (after the multiplier), when set.
    pub at_least: Option<f64>,
    /// Series it applies to.
    pub scope: Scope<K>,
}

/// A calendar of events.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar<K> {
    events: Vec<Event<K>>,
}

impl<K> Default for Calendar<K> {
    fn default() -> Self {
        Self { events: Vec::new() }
    }
}

impl<K: PartialEq> Calendar<K> {
    /// Adds an event after checking it.
    pub fn add(&mut self, e: Event<K>) -> Result<(), PredictError> {
        if e.end <= e.start {
            return Err(PredictError::InvalidConfig {
                field: "event.end",
                value: e.end.to_string(),
                why: "must be after the start",
            });
        }
        if !(e.multiplier.is_finite() && e.multiplier >= 0.0) {
            return Err(PredictError::InvalidConfig {
                field: "event.multiplier",
                value: e.multiplier.to_string(),
                why: "must be a finite non-negative number",
            });
        }
        if let Some(v) = e.at_least.filter(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(PredictError::InvalidConfig {
                field: "event.at_least",
                value: v.to_string(),
                why: "must be a finite non-negative number",
            });
        }
        self.events.push(e);
        Ok(())
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The events covering `key` at time `t`.
    pub fn active<'a>(&'a self, key: &'a K, t: u64) -> impl Iterator<Item = &'a Event<K>> + 'a {
        self.events
            .iter()
            .filter(move |e| e.start <= t && t < e.end)
            .filter(move |e| match &e.scope {
                Scope::All => true,
                Scope::Only(keys) => keys.contains(key),
            })
    }

    /// Product of the multipliers of events covering `key` at time `t`.
    pub fn multiplier(&self, key: &K, t: u64) -> f64 {
        self.active(key, t).map(|e| e.multiplier).product()
    }

    /// `x` (a forecast, or a bound of one, for `key` at `t`) as the events covering it make
    /// it: times their multipliers, then at least their highest floor.
    pub fn adjust(&self, key: &K, t: u64, x: f64) -> f64 {
        let floor = self
            .active(key, t)
            .filter_map(|e| e.at_least)
            .fold(f64::NEG_INFINITY, f64::max);
        (x * self.multiplier(key, t)).max(floor)
    }

    /// Scales `f` (made at `origin`, step `s` covering `origin + (s − 1)·interval`) for `key`.
    pub fn apply(&self, key: &K, origin: u64, interval_secs: u64, f: &mut Forecast) {
        for (s, (p, bounds)) in f.points.iter_mut().zip(f.bounds.iter_mut()).enumerate() {
            let t = origin + s as u64 * interval_secs;
            if self.active(key, t).next().is_some() {
                *p = self.adjust(key, t, *p);
                for b in bounds.iter_mut() {
                    *b = (self.adjust(key, t, b.0), self.adjust(key, t, b.1));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_scales_only_its_series_and_window() {
        let mut cal = Calendar::default();
        cal.add(Event {
            name: "backup".into(),
            start: 600,
            end: 1200,
            multiplier: 3.0,
            at_least: None,
            scope: Scope::Only(vec!["a"]),
        })
        .expect("valid");
        cal.add(Event {
            name: "floor".into(),
            start: 1200,
            end: 1500,
            multiplier: 1.0,
            at_least: Some(20.0),
            scope: Scope::All,
        })
        .expect("valid");
        let mut f = Forecast {
            points: vec![10.0; 5],
            bounds: vec![[(8.0, 12.0); 3]; 5],
        };
        cal.apply(&"a", 0, 300, &mut f);
        assert_eq!(f.points, vec![10.0, 10.0, 30.0, 30.0, 20.0]);
        assert_eq!(f.bounds[2][0], (24.0, 36.0));
        assert_eq!(f.bounds[4][0], (20.0, 20.0));
        assert_eq!(
            cal.active(&"a", 700)
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>(),
            ["backup"]
        );
        let mut g = Forecast {
            points: vec![10.0; 5],
            bounds: vec![[(8.0, 12.0); 3]; 5],
        };
        cal.apply(&"b", 0, 300, &mut g);
        assert_eq!(g.points, vec![10.0, 10.0, 10.0, 10.0, 20.0]);
        let bad = Event {
            name: "x".into(),
            start: 5,
            end: 5,
            multiplier: 1.0,
            at_least: None,
            scope: Scope::All,
        };
        assert!(cal.add(bad).is_err());
        let negative = Event {
            name: "x".into(),
            start: 5,
            end: 6,
            multiplier: 1.0,
            at_least: Some(-1.0),
            scope: Scope::All,
        };
        assert!(cal.add(negative).is_err());
    }
}
