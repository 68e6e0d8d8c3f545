//! Port counter samples stamped on the switch's own clock.
//!
//! A PORT_STATS entry says how long its port has existed (`duration_sec`/`duration_nsec`,
//! OpenFlow 1.3.5 §7.3.5.5), read when the counters were. Stamping a sample with the time its
//! reply was received instead makes rates wrong whenever replies queue: two replies handled back
//! to back read as two seconds of traffic in a millisecond, hundreds of times the line rate.
//! Here a sample's time is `anchor + duration`, the anchor being the switch's port-creation time
//! on our clock, estimated by the least-delayed reply so far (`min(now - duration)`), so stamps
//! are never later than their receipt and intervals are the switch's own.
//!
//! The anchor is set afresh when the duration goes back (the port was re-created or the switch
//! restarted) or when stamps fall more than [`MAX_LAG`] behind receipt (clocks drifting apart),
//! so a rate is never kept stale by an old anchor. A switch that reports no duration (zero, or
//! `duration_sec` all ones) gets receipt times, as before.

use std::collections::HashMap;
use std::time::Duration;

use prescient_topology::{PortRef, Timestamp};

/// Stamps this far behind their receipt mean the clocks drifted: the anchor is set again.
pub const MAX_LAG: Duration = Duration::from_secs(2);

const NANOS: u64 = 1_000_000_000;

#[derive(Debug, Clone, Copy)]
struct Anchor {
    at_ns: u64,
    last_duration_ns: u64,
}

/// Per-port anchors of the switches' clocks.
#[derive(Debug, Default)]
pub struct SwitchClocks {
    anchors: HashMap<PortRef, Anchor>,
}

impl SwitchClocks {
    /// The time of a sample of `port` whose reply arrived at `now`, taken when the port had
    /// existed for `duration_ns`.
    pub fn stamp(&mut self, port: PortRef, now: Timestamp, duration_ns: u64) -> Timestamp {
        if duration_ns == 0 || duration_ns >= u64::from(u32::MAX) * NANOS || duration_ns > now.0 {
            self.anchors.remove(&port);
            return now;
        }
        let offset = now.0 - duration_ns;
        let anchor = self.anchors.entry(port).or_insert(Anchor {
            at_ns: offset,
            last_duration_ns: duration_ns,
        });
        let lag = offset.saturating_sub(anchor.at_ns);
        anchor.at_ns = if duration_ns < anchor.last_duration_ns || lag > MAX_LAG.as_nanos() as u64 {
            offset
        } else {
            anchor.at_ns.min(offset)
        };
        anchor.last_duration_ns = duration_ns;
        Timestamp(anchor.at_ns + duration_ns)
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
        // Samples taken every 2 s (port age 10 s, 12 s, 14 s); the second reply waited 1.9 s
        // in a queue and arrived 100 ms before the third.
        let a = clocks.stamp(port(), at(10_000), 10_000 * MS);
        let b = clocks.stamp(port(), at(13_900), 12_000 * MS);
        let c = clocks.stamp(port(), at(14_000), 14_000 * MS);
        assert_eq!(b.since(a), Duration::from_secs(2));
        assert_eq!(c.since(b), Duration::from_secs(2));
        assert_eq!(c, at(14_000));
    }

    #[test]
    fn the_least_delayed_reply_sets_the_anchor_and_stamps_never_pass_receipt() {
        let mut clocks = SwitchClocks::default();
        // The first reply was late by 500 ms; the second came at once.
        let a = clocks.stamp(port(), at(10_500), 10_000 * MS);
        assert_eq!(a, at(10_500));
        let b = clocks.stamp(port(), at(12_000), 12_000 * MS);
        assert_eq!(b, at(12_000), "not in the future of its receipt");
        let c = clocks.stamp(port(), at(14_300), 14_000 * MS);
        assert_eq!(c, at(14_000));
    }

    #[test]
    fn a_recreated_port_drift_and_missing_durations_reanchor_or_fall_back() {
        let mut clocks = SwitchClocks::default();
        clocks.stamp(port(), at(10_000), 10_000 * MS);
        // Re-created: its age starts again.
        assert_eq!(clocks.stamp(port(), at(12_000), 500 * MS), at(12_000));
        // The switch's clock ran 3 s slow over a long time: re-anchored, not left behind.
        assert_eq!(clocks.stamp(port(), at(20_000), 5_500 * MS), at(20_000));
        // No duration reported: receipt time.
        assert_eq!(clocks.stamp(port(), at(21_000), 0), at(21_000));
        let unknown = u64::from(u32::MAX) * NANOS;
        assert_eq!(clocks.stamp(port(), at(22_000), unknown), at(22_000));
        clocks.stamp(port(), at(23_000), 9_000 * MS);
        clocks.forget_device(DeviceId::openflow(1));
        assert!(clocks.anchors.is_empty());
    }
}
