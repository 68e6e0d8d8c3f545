//! Scheduled events: known periods (a backup window, a sale, a maintenance) during which the
//! named series are expected to carry a multiple of their usual traffic. Applied on top of any
//! model's forecast, points and bounds alike.

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
        self.events.push(e);
        Ok(())
    }

    /// Product of the multipliers of events covering `key` at time `t`.
    pub fn multiplier(&self, key: &K, t: u64) -> f64 {
        self.events
            .iter()
            .filter(|e| e.start <= t && t < e.end)
            .filter(|e| match &e.scope {
                Scope::All => true,
                Scope::Only(keys) => keys.contains(key),
            })
            .map(|e| e.multiplier)
            .product()
    }

    /// Scales `f` (made at `origin`, step `s` covering `origin + (s − 1)·interval`) for `key`.
    pub fn apply(&self, key: &K, origin: u64, interval_secs: u64, f: &mut Forecast) {
        for (s, (p, bounds)) in f.points.iter_mut().zip(f.bounds.iter_mut()).enumerate() {
            let m = self.multiplier(key, origin + s as u64 * interval_secs);
            if m != 1.0 {
                *p *= m;
                for b in bounds.iter_mut() {
                    *b = (b.0 * m, b.1 * m);
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
            scope: Scope::Only(vec!["a"]),
        })
        .expect("valid");
        let mut f = Forecast {
            points: vec![10.0; 5],
            bounds: vec![[(8.0, 12.0); 3]; 5],
        };
        cal.apply(&"a", 0, 300, &mut f);
        assert_eq!(f.points, vec![10.0, 10.0, 30.0, 30.0, 10.0]);
        assert_eq!(f.bounds[2][0], (24.0, 36.0));
        let mut g = Forecast {
            points: vec![10.0; 5],
            bounds: vec![[(8.0, 12.0); 3]; 5],
        };
        cal.apply(&"b", 0, 300, &mut g);
        assert_eq!(g.points, vec![10.0; 5]);
        let bad = Event {
            name: "x".into(),
            start: 5,
            end: 5,
            multiplier: 1.0,
            scope: Scope::All,
        };
        assert!(cal.add(bad).is_err());
    }
}
