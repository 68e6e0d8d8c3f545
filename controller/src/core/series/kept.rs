//! How a series keeps its forecasts: the latest multi-step forecast with its instants implied
//! by when it was made and the step length (64 bytes a step where a [`Point`] takes 96), and a
//! window of observed ticks, each with the one-step forecast made for it in `f32` (40 bytes a
//! tick, was 56). At 10,000 switches there are about 40,000 link series: every byte a tick is
//! 14 MB once their windows are full, every byte a step half a megabyte.

use std::collections::VecDeque;
use std::time::Duration;

use prescient_topology::Timestamp;

use super::{finite, Interval, Point};

/// A band as kept: `(NaN, NaN)` when not calibrated. A calibrated band is finite at both ends
/// (`finite` makes it so, and the calendar scales it by finite factors), so the two read back
/// the same.
fn band((lo, hi): (f64, f64)) -> Interval {
    (!(lo.is_nan() && hi.is_nan())).then_some((lo, hi))
}

fn unband(i: Interval) -> (f64, f64) {
    i.unwrap_or((f64::NAN, f64::NAN))
}

/// One step of a kept forecast: a [`Point`] without its instant.
#[derive(Debug, Clone, Copy)]
struct Step {
    value: f64,
    bound: f64,
    bands: [(f64, f64); 3],
}

/// A multi-step forecast made at `made`, step `s` (from 1) for `made + s * step`, exactly as
/// [`Point`]s read back.
#[derive(Debug, Clone)]
pub(super) struct Ahead {
    made: Timestamp,
    step: Duration,
    steps: Box<[Step]>,
}

impl Default for Ahead {
    fn default() -> Self {
        Ahead {
            made: Timestamp(0),
            step: Duration::ZERO,
            steps: Box::new([]),
        }
    }
}

impl Ahead {
    /// `points`, made at `made` every `step` (each point's instant is `made + (i + 1) * step`).
    pub(super) fn new(made: Timestamp, step: Duration, points: &[Point]) -> Self {
        let steps = points
            .iter()
            .map(|p| Step {
                value: p.value,
                bound: p.bound,
                bands: [unband(p.i80), unband(p.i95), unband(p.i99)],
            })
            .collect();
        Ahead { made, step, steps }
    }

    /// Steps kept.
    pub(super) fn len(&self) -> usize {
        self.steps.len()
    }

    /// Step `i` (from 0), as it was made.
    pub(super) fn point(&self, i: usize) -> Option<Point> {
        let s = self.steps.get(i)?;
        let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
        Some(Point {
            at: self.made.plus(self.step.saturating_mul(n)),
            value: s.value,
            i80: band(s.bands[0]),
            i95: band(s.bands[1]),
            i99: band(s.bands[2]),
            bound: s.bound,
        })
    }

    /// Every step, as made.
    pub(super) fn points(&self) -> Vec<Point> {
        (0..self.len()).filter_map(|i| self.point(i)).collect()
    }

    /// The largest upper 95 % bound where calibrated, else the largest point forecast.
    pub(super) fn peak(&self) -> Option<f64> {
        self.steps
            .iter()
            .map(|s| band(s.bands[1]).map_or(s.value, |(_, hi)| hi.max(s.value)))
            .reduce(f64::max)
    }

    /// The largest planning bound.
    pub(super) fn planned_peak(&self) -> Option<f64> {
        self.steps.iter().map(|s| s.bound).reduce(f64::max)
    }
}

/// One observed tick as a series keeps it: its instant once for the actual and the one-step
/// forecast made for it, the actual as NaN when there was no fresh rate (it is finite otherwise).
/// The forecast's 99 % band is not kept: nothing reads a past forecast's (anomalies are judged
/// against the forecast when its actual comes). Only a series' first tick has no forecast
/// ([`Window`] knows which that is).
#[derive(Debug, Clone, Copy)]
struct Tick {
    at: Timestamp,
    actual: f64,
    forecast: Kept,
}

/// A one-step forecast as kept for charts: rates as `f32` (seven significant digits, as the
/// predictor's history keeps them), NaN for a band not calibrated yet.
#[derive(Debug, Clone, Copy)]
struct Kept {
    value: f32,
    bound: f32,
    /// The 80 % and 95 % bands.
    bands: [(f32, f32); 2],
}

impl Kept {
    fn new(p: &Point) -> Self {
        let band = |i: Interval| i.map_or((f32::NAN, f32::NAN), |(lo, hi)| (lo as f32, hi as f32));
        Kept {
            value: p.value as f32,
            bound: p.bound as f32,
            bands: [band(p.i80), band(p.i95)],
        }
    }

    const NONE: Kept = Kept {
        value: f32::NAN,
        bound: f32::NAN,
        bands: [(f32::NAN, f32::NAN); 2],
    };

    /// The forecast as made for the tick at `at` (no 99 % band).
    fn point(&self, at: Timestamp) -> Point {
        let band = |(lo, hi): (f32, f32)| finite((f64::from(lo), f64::from(hi)));
        Point {
            at,
            value: f64::from(self.value),
            i80: band(self.bands[0]),
            i95: band(self.bands[1]),
            i99: None,
            bound: f64::from(self.bound),
        }
    }
}

/// The last `keep` observed ticks of a series, oldest first, each with the one-step forecast
/// made for it.
#[derive(Debug)]
pub(super) struct Window {
    ticks: VecDeque<Tick>,
    keep: usize,
    /// Whether the oldest tick kept is the series' first (which had no forecast made for it).
    first_kept: bool,
}

impl Window {
    /// An empty window keeping the last `keep` ticks.
    pub(super) fn new(keep: usize) -> Self {
        Window {
            ticks: VecDeque::new(),
            keep,
            first_kept: true,
        }
    }

    /// Appends the tick at `at` with its actual (`None`: no fresh rate) and the forecast made
    /// for it (`None` only for a series' first tick).
    pub(super) fn push(&mut self, at: Timestamp, actual: Option<f64>, forecast: Option<&Point>) {
        if self.ticks.len() >= self.keep {
            self.first_kept = false;
        }
        let tick = Tick {
            at,
            actual: actual.unwrap_or(f64::NAN),
            forecast: forecast.map_or(Kept::NONE, Kept::new),
        };
        push_bounded(&mut self.ticks, tick, self.keep);
    }

    /// Actuals, oldest first.
    pub(super) fn actuals(&self) -> impl Iterator<Item = (Timestamp, Option<f64>)> + '_ {
        self.ticks
            .iter()
            .map(|t| (t.at, Some(t.actual).filter(|v| !v.is_nan())))
    }

    /// One-step forecasts made for the ticks kept, oldest first.
    pub(super) fn past(&self) -> impl Iterator<Item = Point> + '_ {
        self.ticks
            .iter()
            .skip(usize::from(self.first_kept))
            .map(|t| t.forecast.point(t.at))
    }

    /// The latest actual, if the last tick had one.
    pub(super) fn last_actual(&self) -> Option<f64> {
        self.ticks
            .back()
            .and_then(|t| Some(t.actual).filter(|v| !v.is_nan()))
    }
}

/// Appends `item`, dropping the oldest beyond `cap`. The buffer grows by a quarter as it fills
/// (doubling left a young window up to half empty), by at least 4 (a young series, as a large
/// network has tens of thousands of, holds a few ticks), never past `cap` (a 360-point window
/// takes 360 slots, not `VecDeque`'s next power of two, 512).
pub(super) fn push_bounded<T>(q: &mut VecDeque<T>, item: T, cap: usize) {
    if q.len() >= cap {
        q.pop_front();
    } else if q.len() == q.capacity() {
        let more = (q.len() / 4).max(4).min(cap - q.len());
        q.reserve_exact(more);
    }
    q.push_back(item);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    #[test]
    fn a_kept_forecast_reads_back_to_f32_precision_with_its_missing_bands_missing() {
        let p = Point {
            at: t(7),
            value: 123_456_789.0,
            i80: Some((1.0e8, 1.5e8)),
            i95: None,
            i99: Some((0.0, 2.0e8)),
            bound: 140_000_000.0,
        };
        assert!(std::mem::size_of::<Kept>() <= 24);
        // A tick keeps its time once for its actual and its forecast: 40 bytes, where an actual
        // (24) and a kept forecast with its own time (40) took 64, and one with its 99 % band
        // and an option 56.
        assert!(std::mem::size_of::<Tick>() <= 40);
        let back = Kept::new(&p).point(t(9));
        assert_eq!(back.at, t(9));
        assert!(
            (back.value - p.value).abs() / p.value < 1e-7,
            "{}",
            back.value
        );
        assert_eq!(back.i80, Some((1.0e8, 1.5e8)));
        assert_eq!(back.i95, None);
        assert!((back.bound - p.bound).abs() / p.bound < 1e-7);
    }

    #[test]
    fn a_forecast_ahead_reads_back_exactly_as_made() {
        let step = Duration::from_millis(4_000);
        let made = Timestamp(1_700_000_000_123_456_789);
        let points: Vec<Point> = (1..=12u32)
            .map(|s| Point {
                at: made.plus(step * s),
                value: 1.0e9 / 3.0 * f64::from(s),
                i80: (s > 2).then_some((-0.0, 1.0e9 + 1.0 / 7.0)),
                i95: (s % 2 == 0).then_some((0.5, 2.0e9)),
                i99: (s > 6).then_some((f64::MIN_POSITIVE, f64::MAX)),
                bound: 1.0e9 / 7.0 * f64::from(s),
            })
            .collect();
        let ahead = Ahead::new(made, step, &points);
        assert!(std::mem::size_of::<Step>() <= 64);
        assert_eq!(ahead.points(), points);
        assert_eq!(ahead.point(0), points.first().copied());
        assert_eq!(ahead.point(12), None);
        let peak = points
            .iter()
            .map(|p| p.i95.map_or(p.value, |(_, hi)| hi.max(p.value)))
            .reduce(f64::max);
        assert_eq!(ahead.peak(), peak);
        assert_eq!(
            ahead.planned_peak(),
            points.iter().map(|p| p.bound).reduce(f64::max)
        );
        assert!(Ahead::default().len() == 0 && Ahead::default().peak().is_none());
    }

    #[test]
    fn a_window_keeps_the_newest_ticks_and_knows_which_had_no_forecast() {
        let made = |s: u64| Point {
            at: t(s),
            value: s as f64,
            i80: None,
            i95: Some((0.0, 100.0)),
            i99: None,
            bound: s as f64 + 1.0,
        };
        let mut w = Window::new(3);
        w.push(t(0), Some(5.0), None);
        w.push(t(1), None, Some(&made(1)));
        assert_eq!(
            w.actuals().collect::<Vec<_>>(),
            [(t(0), Some(5.0)), (t(1), None)]
        );
        assert_eq!(w.past().map(|p| p.at).collect::<Vec<_>>(), [t(1)]);
        assert_eq!(w.last_actual(), None);
        w.push(t(2), Some(7.0), Some(&made(2)));
        w.push(t(3), Some(8.0), Some(&made(3)));
        // The first tick is gone: every tick kept now had a forecast.
        assert_eq!(
            w.past().map(|p| p.value).collect::<Vec<_>>(),
            [1.0, 2.0, 3.0]
        );
        assert_eq!(w.actuals().count(), 3);
        assert_eq!(w.last_actual(), Some(8.0));
    }

    #[test]
    fn a_window_holds_its_newest_points_in_no_more_room_than_it_keeps() {
        let mut q = VecDeque::new();
        for i in 0..1000 {
            push_bounded(&mut q, i, 360);
            assert!(q.capacity() <= 360, "capacity {} at {i}", q.capacity());
        }
        assert_eq!(q.len(), 360);
        assert_eq!(q.front(), Some(&640));
        assert_eq!(q.back(), Some(&999));
        let mut young = VecDeque::new();
        for i in 0..3 {
            push_bounded(&mut young, i, 360);
        }
        assert!(young.capacity() < 8, "a young window holds what it saw");
    }
}
