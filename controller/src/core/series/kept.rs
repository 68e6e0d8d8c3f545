//! How a series keeps its forecasts: the latest multi-step forecast with its instants implied
//! by when it was made and the step length (64 bytes a step where a [`Point`] takes 96), and a
//! window of observed ticks, each with its actual and the one-step forecast made for it in `f32`
//! and its instant as the change of the gap between ticks (32 bytes a tick, was 40 with the
//! instant and actual in 8 bytes each). At 10,000 switches there are about 40,000 link series:
//! every byte a tick is 14 MB once their windows are full, every byte a step half a megabyte.

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

/// A [`Step`] in `f32` (seven significant digits, as a compact series' history keeps its
/// actuals): 32 bytes where a step takes 64.
#[derive(Debug, Clone, Copy)]
struct Narrow {
    value: f32,
    bound: f32,
    bands: [(f32, f32); 3],
}

/// The steps of a kept forecast: as made, or in `f32` for a compact series.
#[derive(Debug, Clone)]
enum Steps {
    Wide(Box<[Step]>),
    Narrow(Box<[Narrow]>),
}

impl Steps {
    fn len(&self) -> usize {
        match self {
            Steps::Wide(s) => s.len(),
            Steps::Narrow(s) => s.len(),
        }
    }

    fn get(&self, i: usize) -> Option<Step> {
        match self {
            Steps::Wide(s) => s.get(i).copied(),
            Steps::Narrow(s) => s.get(i).map(|n| Step {
                value: f64::from(n.value),
                bound: f64::from(n.bound),
                bands: n.bands.map(|(lo, hi)| (f64::from(lo), f64::from(hi))),
            }),
        }
    }

    fn iter(&self) -> impl Iterator<Item = Step> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// A multi-step forecast made at `made`, step `s` (from 1) for `made + s * step`, exactly as
/// [`Point`]s read back (to `f32` precision when kept narrow).
#[derive(Debug, Clone)]
pub(super) struct Ahead {
    made: Timestamp,
    step: Duration,
    steps: Steps,
}

impl Default for Ahead {
    fn default() -> Self {
        Ahead {
            made: Timestamp(0),
            step: Duration::ZERO,
            steps: Steps::Wide(Box::new([])),
        }
    }
}

impl Ahead {
    /// `points`, made at `made` every `step` (each point's instant is `made + (i + 1) * step`),
    /// in `f32` if `narrow`.
    pub(super) fn new(made: Timestamp, step: Duration, points: &[Point], narrow: bool) -> Self {
        let wide = |p: &Point| Step {
            value: p.value,
            bound: p.bound,
            bands: [unband(p.i80), unband(p.i95), unband(p.i99)],
        };
        let steps = if narrow {
            Steps::Narrow(
                points
                    .iter()
                    .map(|p| {
                        let s = wide(p);
                        Narrow {
                            value: s.value as f32,
                            bound: s.bound as f32,
                            bands: s.bands.map(|(lo, hi)| (lo as f32, hi as f32)),
                        }
                    })
                    .collect(),
            )
        } else {
            Steps::Wide(points.iter().map(wide).collect())
        };
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

    /// Heap bytes held.
    pub(super) fn heap_bytes(&self) -> usize {
        match &self.steps {
            Steps::Wide(s) => std::mem::size_of_val(&**s),
            Steps::Narrow(s) => std::mem::size_of_val(&**s),
        }
    }
}

/// One observed tick as a series keeps it: the actual as `f32` (seven significant digits, as the
/// predictor's history keeps it), NaN when there was no fresh rate, and the one-step forecast
/// made for it. Its instant is implied by the tick before: ticks come once a control interval,
/// so the gap since the previous tick barely changes and its change (`step`, nanoseconds) fits
/// 32 bits where the instant took 64 ([`Window`] keeps the rare change that does not). The
/// forecast's 99 % band is not kept: nothing reads a past forecast's (anomalies are judged
/// against the forecast when its actual comes). Only a series' first tick has no forecast
/// ([`Window`] knows which that is).
#[derive(Debug, Clone, Copy)]
struct Tick {
    step: i32,
    actual: f32,
    forecast: Kept,
}

/// A [`Tick::step`] that did not fit: the change is the next of [`Window`]'s `long_steps`.
const LONG_STEP: i32 = i32::MIN;

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
///
/// Instants (nanoseconds, arithmetic modulo 2⁶⁴ so that any sequence reads back exactly): the
/// oldest tick's is `first_at`; each later tick's gap since the one before is the previous
/// gap plus its `step` (the oldest's gap is `first_gap`). The oldest tick's `step` is always
/// read into `first_gap` already, so `long_steps` holds the changes of later ticks only.
#[derive(Debug)]
pub(super) struct Window {
    ticks: VecDeque<Tick>,
    keep: usize,
    /// Whether the oldest tick kept is the series' first (which had no forecast made for it).
    first_kept: bool,
    /// The oldest tick's instant and its gap since the tick before it.
    first_at: u64,
    first_gap: u64,
    /// The newest tick's instant and gap.
    last_at: u64,
    last_gap: u64,
    /// Changes of gap that did not fit a tick's 32 bits (a clock stepping, a pause), in the
    /// order of the ticks marked [`LONG_STEP`].
    long_steps: VecDeque<u64>,
}

impl Window {
    /// An empty window keeping the last `keep` ticks.
    pub(super) fn new(keep: usize) -> Self {
        Window {
            ticks: VecDeque::new(),
            keep,
            first_kept: true,
            first_at: 0,
            first_gap: 0,
            last_at: 0,
            last_gap: 0,
            long_steps: VecDeque::new(),
        }
    }

    /// Appends the tick at `at` with its actual (`None`: no fresh rate) and the forecast made
    /// for it (`None` only for a series' first tick).
    pub(super) fn push(&mut self, at: Timestamp, actual: Option<f64>, forecast: Option<&Point>) {
        let at = at.nanos();
        let step = if self.ticks.is_empty() {
            self.first_at = at;
            self.first_gap = 0;
            self.last_gap = 0;
            0
        } else {
            let gap = at.wrapping_sub(self.last_at);
            let change = gap.wrapping_sub(self.last_gap);
            self.last_gap = gap;
            match i32::try_from(change as i64) {
                Ok(c) if c != LONG_STEP => c,
                _ => {
                    self.long_steps.push_back(change);
                    LONG_STEP
                }
            }
        };
        self.last_at = at;
        if self.ticks.len() >= self.keep {
            self.first_kept = false;
        }
        let tick = Tick {
            step,
            actual: actual.map_or(f32::NAN, |v| v as f32),
            forecast: forecast.map_or(Kept::NONE, Kept::new),
        };
        if push_bounded(&mut self.ticks, tick, self.keep) {
            self.drop_oldest();
        }
    }

    /// Moves `first_at` and `first_gap` to the tick that became the oldest.
    fn drop_oldest(&mut self) {
        let Some(front) = self.ticks.front_mut() else {
            return;
        };
        let change = if front.step == LONG_STEP {
            self.long_steps.pop_front().unwrap_or(0)
        } else {
            front.step as i64 as u64
        };
        front.step = 0;
        self.first_gap = self.first_gap.wrapping_add(change);
        self.first_at = self.first_at.wrapping_add(self.first_gap);
    }

    /// Every tick kept with its instant, oldest first.
    fn timed(&self) -> impl Iterator<Item = (Timestamp, &Tick)> + '_ {
        let mut long = self.long_steps.iter();
        let (mut at, mut gap) = (self.first_at, self.first_gap);
        self.ticks.iter().enumerate().map(move |(i, t)| {
            if i > 0 {
                let change = if t.step == LONG_STEP {
                    long.next().copied().unwrap_or(0)
                } else {
                    t.step as i64 as u64
                };
                gap = gap.wrapping_add(change);
                at = at.wrapping_add(gap);
            }
            (Timestamp(at), t)
        })
    }

    /// Actuals, oldest first.
    pub(super) fn actuals(&self) -> impl Iterator<Item = (Timestamp, Option<f64>)> + '_ {
        self.timed()
            .map(|(at, t)| (at, Some(f64::from(t.actual)).filter(|v| !v.is_nan())))
    }

    /// One-step forecasts made for the ticks kept, oldest first.
    pub(super) fn past(&self) -> impl Iterator<Item = Point> + '_ {
        self.timed()
            .skip(usize::from(self.first_kept))
            .map(|(at, t)| t.forecast.point(at))
    }

    /// The latest actual, if the last tick had one.
    pub(super) fn last_actual(&self) -> Option<f64> {
        self.ticks
            .back()
            .and_then(|t| Some(f64::from(t.actual)).filter(|v| !v.is_nan()))
    }

    /// Heap bytes held.
    pub(super) fn heap_bytes(&self) -> usize {
        self.ticks.capacity() * std::mem::size_of::<Tick>() + self.long_steps.capacity() * 8
    }

    /// Keeps only the newest `keep` ticks (at least 2) from now on, giving back the room of
    /// the rest; every tick kept reads back as before.
    pub(super) fn shrink(&mut self, keep: usize) {
        let keep = keep.max(2);
        while self.ticks.len() > keep {
            self.ticks.pop_front();
            self.drop_oldest();
            self.first_kept = false;
        }
        self.keep = keep;
        self.ticks.shrink_to_fit();
        self.long_steps.shrink_to_fit();
    }
}

/// Appends `item`, dropping the oldest beyond `cap`. The buffer grows by a quarter as it fills
/// (doubling left a young window up to half empty), by at least 4 (a young series, as a large
/// network has tens of thousands of, holds a few ticks), never past `cap` (a 360-point window
/// takes 360 slots, not `VecDeque`'s next power of two, 512).
/// Returns whether it dropped one.
pub(super) fn push_bounded<T>(q: &mut VecDeque<T>, item: T, cap: usize) -> bool {
    let dropped = q.len() >= cap && q.pop_front().is_some();
    if !dropped && q.len() == q.capacity() {
        let more = (q.len() / 4).max(4).min(cap.saturating_sub(q.len()));
        q.reserve_exact(more);
    }
    q.push_back(item);
    dropped
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
        // A tick keeps its instant as a change of gap and its actual as `f32`: 32 bytes, where
        // an instant and an actual of 8 bytes each took 40, and an actual (24) and a kept
        // forecast with its own time (40) took 64.
        assert!(std::mem::size_of::<Tick>() <= 32);
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
        let ahead = Ahead::new(made, step, &points, false);
        assert!(std::mem::size_of::<Step>() <= 64);
        assert_eq!(ahead.points(), points);
        // Narrow: every value to `f32` precision, the missing bands missing, in half the room.
        let narrow = Ahead::new(made, step, &points, true);
        assert_eq!(narrow.heap_bytes(), 12 * 32);
        for (n, p) in narrow.points().iter().zip(&points) {
            let near = |a: f64, b: f64| (a - b).abs() <= b.abs() * 1e-7;
            assert_eq!(n.at, p.at);
            assert!(
                near(n.value, p.value) && near(n.bound, p.bound),
                "{n:?} {p:?}"
            );
            // (This i99 spans the whole of `f64`, beyond `f32`: only its presence is kept.)
            assert_eq!(n.i99.is_some(), p.i99.is_some());
            for (a, b) in [(n.i80, p.i80), (n.i95, p.i95)] {
                match (a, b) {
                    (Some(a), Some(b)) => assert!(near(a.0, b.0) && near(a.1, b.1), "{a:?} {b:?}"),
                    _ => assert_eq!(a.is_some(), b.is_some(), "{n:?} {p:?}"),
                }
            }
        }
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
    fn a_shrunk_window_reads_back_its_newest_ticks_and_keeps_only_that_many() {
        let made = |at: Timestamp| Point {
            at,
            value: at.nanos() as f64,
            i80: None,
            i95: Some((0.0, 1.0)),
            i99: None,
            bound: 2.0,
        };
        // Uneven gaps with a pause past 32 bits of nanoseconds, so instants need the long steps.
        let instants: Vec<Timestamp> = [0u64, 1_000, 2_100, 9_000_000_000_000, 9_000_000_001_000]
            .iter()
            .chain(&[9_000_000_002_500, 9_000_000_003_000, 9_000_000_004_000])
            .map(|&n| Timestamp(n))
            .collect();
        for (len, keep) in [(8, 3), (8, 6), (2, 5), (1, 2)] {
            let mut w = Window::new(360);
            for (i, &at) in instants.iter().take(len).enumerate() {
                let f = (i > 0).then(|| made(at));
                w.push(at, Some(i as f64), f.as_ref());
            }
            let actuals: Vec<_> = w.actuals().collect();
            let past: Vec<_> = w.past().collect();
            w.shrink(keep);
            let kept = len.min(keep);
            assert_eq!(w.actuals().collect::<Vec<_>>(), actuals[len - kept..]);
            let first_had_none = usize::from(kept == len);
            assert_eq!(
                w.past().collect::<Vec<_>>(),
                past[past.len() + first_had_none - kept..],
                "{len} ticks shrunk to {keep}"
            );
            assert!(w.heap_bytes() <= kept * std::mem::size_of::<Tick>() + 16);
            // From now on it keeps `keep` ticks.
            let later = Timestamp(9_000_000_010_000);
            w.push(later, Some(99.0), Some(&made(later)));
            assert_eq!(w.actuals().count(), (kept + 1).min(keep));
            assert_eq!(w.actuals().last(), Some((later, Some(99.0))));
        }
    }

    #[test]
    fn a_window_reads_back_every_instant_exactly_however_the_ticks_are_spaced() {
        // Ticks a second apart with jitter, a pause of an hour, a clock stepping back, gaps
        // beyond 32 bits of nanoseconds, and instants at both ends of time.
        let mut at: u64 = 1_700_000_000_123_456_789;
        let mut instants = Vec::new();
        for i in 0..2_000u64 {
            let gap: i128 = match i % 97 {
                13 => 3_600_000_000_000,
                29 => -5_000_000_000,
                41 => 4_294_967_297,
                53 => i128::from(u64::MAX) - 7,
                _ => 1_000_000_000 + i128::from((i * 7_919) % 2_000_000) - 1_000_000,
            };
            at = (i128::from(at) + gap).rem_euclid(1i128 << 64) as u64;
            instants.push(at);
        }
        for keep in [1, 2, 3, 360] {
            let mut w = Window::new(keep);
            for (n, &a) in instants.iter().enumerate() {
                let p = Point {
                    at: Timestamp(a),
                    value: n as f64,
                    i80: None,
                    i95: None,
                    i99: None,
                    bound: n as f64,
                };
                w.push(Timestamp(a), Some(n as f64), (n > 0).then_some(&p));
                let from = (n + 1).saturating_sub(keep);
                let want: Vec<(Timestamp, Option<f64>)> = (from..=n)
                    .map(|k| (Timestamp(instants[k]), Some(k as f64)))
                    .collect();
                assert_eq!(w.actuals().collect::<Vec<_>>(), want, "keep {keep} at {n}");
                let past: Vec<(Timestamp, f64)> = w.past().map(|p| (p.at, p.value)).collect();
                assert_eq!(past.len(), want.len() - usize::from(from == 0));
                assert!(past
                    .iter()
                    .all(|&(t, v)| t == Timestamp(instants[v as usize])));
            }
            assert!(
                w.long_steps.len() <= keep,
                "only the kept ticks' long steps are held"
            );
        }
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
