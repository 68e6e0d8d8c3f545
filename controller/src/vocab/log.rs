//! A log keeping the newest entries (decisions, anomalies, hook outcomes).

use std::collections::VecDeque;

/// A log keeping the newest `cap` entries.
#[derive(Debug, Clone)]
pub struct BoundedLog<T> {
    cap: usize,
    items: VecDeque<T>,
    total: u64,
}

impl<T> BoundedLog<T> {
    /// An empty log keeping at most `cap` entries (at least one).
    pub fn new(cap: usize) -> Self {
        BoundedLog {
            cap: cap.max(1),
            items: VecDeque::new(),
            total: 0,
        }
    }

    /// Appends, dropping the oldest entry when full.
    pub fn push(&mut self, item: T) {
        if self.items.len() == self.cap {
            self.items.pop_front();
        }
        self.items.push_back(item);
        self.total += 1;
    }

    /// Entries, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.items.iter()
    }

    /// Entries ever pushed, including dropped ones.
    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_log_drops_oldest() {
        let mut log = BoundedLog::new(2);
        for i in 0..5 {
            log.push(i);
        }
        assert_eq!(log.iter().copied().collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(log.total(), 5);
    }
}
