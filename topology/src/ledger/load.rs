//! The load of one link over time: the reservations crossing it and the peak of their sum over a
//! window. Reservations are half-open intervals `[start, end)`, so one ending at `t` and another
//! starting at `t` never overlap.

use std::collections::BTreeSet;

use crate::ids::Timestamp;

use super::{ReservationId, Window};

/// One reservation's use of one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub id: ReservationId,
    pub window: Window,
    pub rate_bps: u64,
    pub tier: u8,
}

/// The highest total of overlapping entries within `window`, ignoring `excluded`, and the
/// earliest moment it occurs. Zero load reports the window start.
pub(crate) fn peak(
    entries: &[Entry],
    window: Window,
    excluded: &BTreeSet<ReservationId>,
) -> (u128, Timestamp) {
    // Sums of u64 rates are kept in u128: thousands of reservations cannot overflow it.
    let mut events: Vec<(Timestamp, bool, u64)> = Vec::new();
    for e in entries {
        if excluded.contains(&e.id) || !e.window.overlaps(window) {
            continue;
        }
        events.push((e.window.start.max(window.start), true, e.rate_bps));
        events.push((e.window.end.min(window.end), false, e.rate_bps));
    }
    // Ends sort before starts at the same instant (`false < true`): half-open intervals.
    events.sort_unstable_by_key(|&(t, is_start, _)| (t, is_start));
    let mut load: u128 = 0;
    let mut best: (u128, Timestamp) = (0, window.start);
    for (t, is_start, rate) in events {
        if is_start {
            load += u128::from(rate);
            if load > best.0 {
                best = (load, t);
            }
        } else {
            load = load.saturating_sub(u128::from(rate));
        }
    }
    best
}

/// Entries active at instant `t`.
pub(crate) fn active_at(entries: &[Entry], t: Timestamp) -> impl Iterator<Item = &Entry> {
    entries
        .iter()
        .filter(move |e| e.window.start <= t && t < e.window.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: u64, start: u64, end: u64, rate: u64) -> Entry {
        Entry {
            id: ReservationId(id),
            window: Window {
                start: Timestamp(start),
                end: Timestamp(end),
            },
            rate_bps: rate,
            tier: 0,
        }
    }

    fn w(start: u64, end: u64) -> Window {
        Window {
            start: Timestamp(start),
            end: Timestamp(end),
        }
    }

    #[test]
    fn peak_counts_only_overlapping_moments() {
        // Two reservations back to back never add up; a third overlapping both does.
        let entries = [e(1, 0, 10, 5), e(2, 10, 20, 7), e(3, 8, 12, 1)];
        let none = BTreeSet::new();
        assert_eq!(peak(&entries, w(0, 20), &none), (8, Timestamp(10)));
        assert_eq!(peak(&entries, w(0, 8), &none), (5, Timestamp(0)));
        assert_eq!(peak(&entries, w(20, 30), &none), (0, Timestamp(20)));
        let excluded = [ReservationId(2)].into_iter().collect();
        assert_eq!(peak(&entries, w(0, 20), &excluded), (6, Timestamp(8)));
    }
}
