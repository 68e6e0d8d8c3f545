//! Port counter samples stamped on the switch's own clock.
//!
//! A PORT_STATS entry says how long its port has existed (`duration_sec`/`duration_nsec`,
//! OpenFlow 1.3.5 §7.3.5.5), read when the counters were. Stamping a sample with the time its
//! reply was received instead makes rates wrong whenever replies queue: two replies handled back
//! to back read as two seconds of traffic in a millisecond, hundreds of times the line rate.
//! Here a sample's time is `anchor + duration`, the anchor being the port's creation on our
//! clock as the first sample placed it, so the intervals between samples are the switch's own.
//!
//! The anchor stays put: moving it would shorten or stretch the one interval across the move.
//! It moves, and the sample is then a new baseline ([`Stamp::rebased`]) rather than a rate across
//! the jump, only when the duration goes back (the port was re-created or the switch restarted),
//! when a reply shows the anchor more than [`AHEAD`] too late (the first replies waited in a
//! queue: stamps would run ahead of receipt), or when stamps fall more than [`BEHIND`] behind
//! receipt (clocks drifting apart). Replies that wait less than that keep their switch-clock
//! stamps, older than their receipt by the wait, as their data is. A switch that reports no
//! duration (zero, or `duration_sec` all ones) gets receipt times, as before.

use std::collections::HashMap;
use std::time::Duration;

use prescient_topology::{PortRef, Timestamp};

/// A reply showing the anchor later than this sets it earlier.
pub const AHEAD: Duration = Duration::from_secs(1);
/// Stamps this far behind their receipt mean the clocks drifted apart: the anchor is set again.
pub const BEHIND: Duration = Duration::from_secs(30);

const NANOS: u64 = 1_000_000_000;

#[derive(Debug, Clone, Copy)]
struct Anchor {
    at_ns: u64,
    last_duration_ns: u64,
}

/// When a sample was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Its time on our clock.
    pub at: Timestamp,
    /// The clock it is on changed since the port's last sample: a new baseline, not a rate.
    pub rebased: bool,
}

/// Per-port anchors of the switches' clocks.
#[derive(Debug, Default)]
pub struct SwitchClocks {
    anchors: HashMap<PortRef, Anchor>,
}

impl SwitchClocks {
    /// The time of a sample of `port` whose reply arrived at `now`, taken when the port had
    /// existed for `duration_ns`.
    pub fn stamp(&mut self, port: PortRef, now: Timestamp, duration_ns: u64) -> Stamp {
        if duration_ns == 0 || duration_ns >= u64::from(u32::MAX) * NANOS || duration_ns > now.0 {
            let rebased = self.anchors.remove(&port).is_some();
            return Stamp { at: now, rebased };
        }
        let offset = now.0 - duration_ns;
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let rebased = match self.anchors.get(&port) {
            None => false,
            Some(a) => {
                duration_ns < a.last_duration_ns
                    || offset.saturating_add(nanos(AHEAD)) < a.at_ns
                    || offset > a.at_ns.saturating_add(nanos(BEHIND))
            }
        };
        let anchor = self.anchors.entry(port).or_insert(Anchor {
            at_ns: offset,
            last_duration_ns: duration_ns,
        });
        if rebased {
            anchor.at_ns = offset;
        }
        anchor.last_duration_ns = duration_ns;
        Stamp {
            at: Timestamp(anchor.at_ns + duration_ns),
            rebased,
        }
    }

    /// Forgets the anchors of `device`'s ports (it disconnected: it may come back restarted).
    pub fn forget_device(&mut self, device: prescient_topology::DeviceId) {
        self.anchors.retain(|p, _| p.device != device);
    }
}

#[cfg(test)]
mod tests {
    use prescient_topology::{DeviceId, PortNo};

    use super::*;

    const MS: u64 = 1_000_000;

    fn port() -> PortRef {
        PortRef::new(DeviceId::openflow(1), PortNo(1))
    }

    fn at(ms: u64) -> Timestamp {
        Timestamp(1_700_000_000 * NANOS + ms * MS)
    }

    #[test]
    fn queued_replies_keep_the_switchs_intervals() {
        let mut clocks = SwitchClocks::default();
        // Samples taken every 2 s (port age 10 s, 12 s, 14 s, 16 s); the second reply waited
        // 1.9 s in a queue and arrived 100 ms before the third; the fourth came at once.
        let a = clocks.stamp(port(), at(10_000), 10_000 * MS);
        let b = clocks.stamp(port(), at(13_900), 12_000 * MS);
        let c = clocks.stamp(port(), at(14_000), 14_000 * MS);
        let d = clocks.stamp(port(), at(16_000), 16_000 * MS);
        for (x, y) in [(a, b), (b, c), (c, d)] {
            assert_eq!(y.at.since(x.at), Duration::from_secs(2));
            assert!(!y.rebased);
        }
    }

    #[test]
    fn a_late_first_reply_moves_the_anchor_once_it_shows_by_more_than_a_second() {
        let mut clocks = SwitchClocks::default();
        // The first reply was late by 500 ms: kept (stamps at most that far ahead).
        let a = clocks.stamp(port(), at(10_500), 10_000 * MS);
        let b = clocks.stamp(port(), at(12_000), 12_000 * MS);
        assert_eq!((a.at, b.at, b.rebased), (at(10_500), at(12_500), false));
        // Another port's first reply was late by 3 s: the next prompt reply starts again.
        let other = PortRef::new(DeviceId::openflow(1), PortNo(2));
        clocks.stamp(other, at(13_000), 10_000 * MS);
        let c = clocks.stamp(other, at(12_000), 12_000 * MS);
        assert_eq!((c.at, c.rebased), (at(12_000), true));
        // Replies that then wait up to 30 s keep their switch-clock stamps.
        let d = clocks.stamp(other, at(40_000), 14_000 * MS);
        assert_eq!((d.at, d.rebased), (at(14_000), false));
    }

    #[test]
    fn a_recreated_port_drift_and_missing_durations_start_a_new_baseline() {
        let mut clocks = SwitchClocks::default();
        clocks.stamp(port(), at(10_000), 10_000 * MS);
        // Re-created: its age starts again.
        let s = clocks.stamp(port(), at(12_000), 500 * MS);
        assert_eq!((s.at, s.rebased), (at(12_000), true));
        // The switch's clock ran 31 s slow over a long time: re-anchored, not left behind.
        let s = clocks.stamp(port(), at(50_000), 7_500 * MS);
        assert_eq!((s.at, s.rebased), (at(50_000), true));
        let s = clocks.stamp(port(), at(52_000), 9_500 * MS);
        assert_eq!((s.at, s.rebased), (at(52_000), false));
        // No duration reported: receipt time.
        let s = clocks.stamp(port(), at(53_000), 0);
        assert_eq!((s.at, s.rebased), (at(53_000), true));
        let unknown = u64::from(u32::MAX) * NANOS;
        let s = clocks.stamp(port(), at(54_000), unknown);
        assert_eq!((s.at, s.rebased), (at(54_000), false));
        clocks.stamp(port(), at(55_000), 9_000 * MS);
        clocks.forget_device(DeviceId::openflow(1));
        assert!(clocks.anchors.is_empty());
    }
}
