//! The direct meters of prescient.p4: two-rate three-colour token buckets (RFC 2698), kept with
//! each metered entry and consulted per packet.

use prescient_southbound::p4runtime::proto::p4::v1 as p4;

/// Two-rate three-colour token buckets (RFC 2698) of one direct meter entry.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    committed: f64,
    peak: f64,
    last: f64,
}

/// A meter colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    /// Within the committed rate.
    Green,
    /// Above committed, within peak.
    Yellow,
    /// Above peak.
    Red,
}

pub(super) fn color(
    config: &p4::MeterConfig,
    bucket: &mut Option<Bucket>,
    now: f64,
    bytes: usize,
) -> Color {
    let b = bucket.get_or_insert(Bucket {
        committed: config.cburst as f64,
        peak: config.pburst as f64,
        last: now,
    });
    let dt = (now - b.last).max(0.0);
    b.last = now;
    b.committed = (b.committed + dt * config.cir as f64).min(config.cburst as f64);
    b.peak = (b.peak + dt * config.pir as f64).min(config.pburst as f64);
    let len = bytes as f64;
    if b.peak < len {
        Color::Red
    } else if b.committed < len {
        b.peak -= len;
        Color::Yellow
    } else {
        b.peak -= len;
        b.committed -= len;
        Color::Green
    }
}
