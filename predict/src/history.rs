//! A fixed-capacity ring of observations, the window every model reads its lags from.
//!
//! Invariants: `len() <= capacity()`; a gap is stored as NaN and never replaced by an invented value;
//! `lag(1)` is the most recent observation. Values are stored as `f32` to halve memory: traffic
//! rates do not carry more than seven significant digits of information.

/// Ring buffer of the most recent observations of one series (NaN marks a gap).
#[derive(Debug, Clone)]
pub struct History {
    buf: Vec<f32>,
    /// Index where the next value goes.
    head: usize,
    len: usize,
    /// Total number of values ever pushed (the time index of the next value).
    pushed: u64,
}

impl History {
    /// An empty history keeping at most `capacity` observations (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            buf: vec![f32::NAN; capacity],
            head: 0,
            len: 0,
            pushed: 0,
        }
    }

    /// Appends an observation; `None` or a non-finite value records a gap.
    pub fn push(&mut self, value: Option<f64>) {
        let v = match value {
            Some(v) if v.is_finite() => v as f32,
            _ => f32::NAN,
        };
        if let Some(slot) = self.buf.get_mut(self.head) {
            *slot = v;
        }
        self.head = (self.head + 1) % self.buf.len();
        self.len = (self.len + 1).min(self.buf.len());
        self.pushed += 1;
    }

    /// Observations currently held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing has been pushed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Maximum observations held.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Number of observations ever pushed: the time index of the next one.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// The observation `k` steps back (`k = 1` is the latest); `None` if a gap or out of the window.
    pub fn lag(&self, k: usize) -> Option<f64> {
        if k == 0 || k > self.len {
            return None;
        }
        let cap = self.buf.len();
        let idx = (self.head + cap - (k % cap)) % cap;
        let v = *self.buf.get(idx)?;
        if v.is_nan() {
            None
        } else {
            Some(f64::from(v))
        }
    }

    /// The latest known observation at `k` steps back or earlier (last observation carried forward).
    ///
    /// Models read their inputs through this so that a gap never stops a forecast; the gap itself
    /// stays recorded as missing.
    pub fn lag_filled(&self, k: usize) -> Option<f64> {
        (k.max(1)..=self.len).find_map(|j| self.lag(j))
    }

    /// Values oldest first (gaps as NaN), for fitting.
    pub fn to_vec(&self) -> Vec<f64> {
        (1..=self.len)
            .rev()
            .map(|k| self.lag(k).unwrap_or(f64::NAN))
            .collect()
    }

    /// Heap bytes used by the buffer.
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity() * std::mem::size_of::<f32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lags_wrap_around_and_gaps_stay_gaps() {
        let mut h = History::with_capacity(3);
        for v in [1.0, 2.0, 3.0, 4.0] {
            h.push(Some(v));
        }
        assert_eq!(h.len(), 3);
        assert_eq!(h.lag(1), Some(4.0));
        assert_eq!(h.lag(3), Some(2.0));
        assert_eq!(h.lag(4), None);
        h.push(None);
        assert_eq!(h.lag(1), None);
        assert_eq!(h.lag_filled(1), Some(4.0));
        assert_eq!(h.to_vec().len(), 3);
        assert!(h.to_vec()[2].is_nan());
        assert_eq!(h.pushed(), 5);
    }
}
