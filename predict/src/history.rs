//! A fixed-capacity ring of observations, the window every model reads its lags from.
//!
//! Invariants: `len() <= capacity()`; a gap is stored as NaN and never replaced by an invented value;
//! `lag(1)` is the most recent observation. Values are stored as `f32` to halve memory: traffic
//! rates do not carry more than seven significant digits of information. The buffer grows with
//! what was pushed up to the capacity (a young series holds what it has seen, not a 4,096-slot
//! window of gaps: tens of thousands of series start together on a large network).

/// Ring buffer of the most recent observations of one series (NaN marks a gap).
#[derive(Debug, Clone)]
pub struct History {
    /// Oldest first until full, then a ring starting at `head`.
    buf: Vec<f32>,
    /// Most values kept.
    capacity: usize,
    /// Index where the next value goes once full.
    head: usize,
    /// Total number of values ever pushed (the time index of the next value).
    pushed: u64,
}

impl History {
    /// An empty history keeping at most `capacity` observations (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::new(),
            capacity: capacity.max(1),
            head: 0,
            pushed: 0,
        }
    }

    /// Appends an observation; `None` or a non-finite value records a gap.
    pub fn push(&mut self, value: Option<f64>) {
        let v = match value {
            Some(v) if v.is_finite() => v as f32,
            _ => f32::NAN,
        };
        if self.buf.len() < self.capacity {
            if self.buf.len() == self.buf.capacity() {
                // By a quarter (doubling left a young window up to half empty), never past the
                // capacity (a 3,000-value window takes 3,000).
                let more = (self.buf.len() / 4)
                    .max(16)
                    .min(self.capacity - self.buf.len());
                self.buf.reserve_exact(more);
            }
            self.buf.push(v);
            self.head = self.buf.len() % self.capacity;
        } else {
            if let Some(slot) = self.buf.get_mut(self.head) {
                *slot = v;
            }
            self.head = (self.head + 1) % self.capacity;
        }
        self.pushed += 1;
    }

    /// Observations currently held.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing has been pushed yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Maximum observations held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of observations ever pushed: the time index of the next one.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// The observation `k` steps back (`k = 1` is the latest); `None` if a gap or out of the window.
    pub fn lag(&self, k: usize) -> Option<f64> {
        let n = self.buf.len();
        if k == 0 || k > n {
            return None;
        }
        // Growing, `head` is `n`; full, `n` is the capacity: the same ring arithmetic.
        let idx = (self.head + n - (k % n)) % n;
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
        (k.max(1)..=self.len()).find_map(|j| self.lag(j))
    }

    /// Values oldest first (gaps as NaN), for fitting.
    pub fn to_vec(&self) -> Vec<f64> {
        // Growing, the buffer in order; full, the ring from `head` (the oldest).
        let (older, newer) = if self.buf.len() < self.capacity {
            (&self.buf[..], &[][..])
        } else {
            let (newer, older) = self.buf.split_at(self.head.min(self.buf.len()));
            (older, newer)
        };
        older.iter().chain(newer).map(|&v| f64::from(v)).collect()
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

    #[test]
    fn a_young_history_holds_what_it_saw_and_reads_the_same_once_full() {
        let mut h = History::with_capacity(3000);
        for i in 0..5000u32 {
            let v = (i % 7 != 3).then_some(f64::from(i));
            h.push(v);
            if i == 99 {
                assert_eq!(h.len(), 100);
                assert!(
                    h.heap_bytes() < 200 * 4,
                    "{} bytes for 100 values",
                    h.heap_bytes()
                );
                assert_eq!(h.lag(1), Some(99.0));
                assert_eq!(h.lag(100), Some(0.0));
                assert_eq!(h.lag(101), None);
            }
        }
        let by_lag = |h: &History| -> Vec<f64> {
            (1..=h.len())
                .rev()
                .map(|k| h.lag(k).unwrap_or(f64::NAN))
                .collect()
        };
        let same = |a: Vec<f64>, b: Vec<f64>| {
            a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits())
        };
        assert!(same(h.to_vec(), by_lag(&h)), "full, wrapped");
        assert_eq!(h.len(), 3000);
        assert_eq!(h.heap_bytes(), 3000 * 4, "never more than the capacity");
        assert_eq!(h.lag(1), Some(4999.0));
        assert_eq!(h.lag(3000), Some(2000.0));
        assert_eq!(h.lag(3001), None);
        // The value pushed at 4,994 (4,994 % 7 == 3) was a gap.
        assert_eq!(h.lag(6), None, "a gap stays a gap");
        assert_eq!(h.lag_filled(6), Some(4993.0));
    }
}
