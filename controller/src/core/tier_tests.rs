//! The scale tier's threshold (`[planning] compact_above_series`): below it nothing changes;
//! above it new series are made compact and full ones become compact at their next observation,
//! links before host pairs.

use prescient_predict::ModelKind;
use prescient_topology::LinkKey;

use super::series::{Tier, COMPACT_ERRORS, COMPACT_POINTS};
use super::tests::{at, drive, square_with, H1, H2};
use super::*;

fn link() -> SeriesKey {
    SeriesKey::Link(LinkKey::new(at(1, 1), at(2, 1)))
}

fn pair() -> SeriesKey {
    SeriesKey::Pair(H1, H2)
}

/// A rate with some wiggle, so models and calibration have something to learn.
fn rate(s: u64) -> f64 {
    2.0e8 + 3.0e7 * ((s as f64) * 0.3).sin() + 1.0e7 * (((s * 7) % 11) as f64 / 11.0)
}

fn core(compact_above_series: usize) -> ControllerCore {
    square_with(CoreConfig {
        compact_above_series,
        ..CoreConfig::default()
    })
}

#[test]
fn at_the_threshold_every_series_forecasts_as_with_no_tier() {
    let mut plain = core(usize::MAX);
    let mut a = 0;
    let acts_plain = drive(&mut plain, &mut a, 2, 60, rate);
    let n = plain.series_count();
    assert!(n >= 2, "the link and the pair at least: {n}");
    // Exactly as many series as the threshold: none above it.
    let mut at_threshold = core(n);
    let mut b = 0;
    let acts_tier = drive(&mut at_threshold, &mut b, 2, 60, rate);
    assert_eq!(at_threshold.series_count(), n);
    assert_eq!(at_threshold.compact_series_count(), 0);
    assert_eq!(format!("{acts_plain:?}"), format!("{acts_tier:?}"));
    for (key, _) in plain.all_series() {
        let key = *key;
        let (p, t) = (
            plain.series(&key).expect("series"),
            at_threshold.series(&key).expect("series"),
        );
        assert_eq!(t.tier(), Tier::Full);
        assert_eq!(t.model(), ModelKind::Auto);
        assert_eq!(p.forecast(), t.forecast(), "{}", key.label());
        assert_eq!(p.planned_peak(), t.planned_peak());
    }
}

#[test]
fn above_the_threshold_new_series_are_compact_and_full_ones_become_compact() {
    let mut c = core(0);
    let mut bytes = 0;
    drive(&mut c, &mut bytes, 2, 5, rate);
    let n = c.series_count();
    assert!(n >= 2, "the link and the pair at least: {n}");
    assert_eq!(c.compact_series_count(), n);
    drive(&mut c, &mut bytes, 7, 200, rate);
    assert_eq!(c.compact_series_count(), n, "a series is compacted once");
    for key in [link(), pair()] {
        let s = c.series(&key).expect("series");
        assert_eq!(s.tier(), Tier::Compact, "{}", key.label());
        assert_eq!(s.model(), ModelKind::Ar);
        assert_eq!(s.actuals().count(), COMPACT_POINTS);
        // Still a whole calibrated forecast with its planning bound above the point.
        let ahead = s.forecast();
        assert_eq!(ahead.len(), 12);
        assert!(ahead.iter().all(|p| p.i95.is_some() && p.bound > p.value));
        // The 99 % band needs more residuals than a compact series keeps: no anomalies.
        assert!(ahead.iter().all(|p| p.i99.is_none()));
        assert_eq!(s.error().scored, COMPACT_ERRORS);
    }
    // The error per model counts each series once, under the model it now runs.
    let models = c.model_errors();
    assert_eq!(models.keys().copied().collect::<Vec<_>>(), ["ar12"]);
}

#[test]
fn links_become_compact_before_host_pairs_and_pairs_only_once_they_alone_exceed_it() {
    // One pair (h1 -> h2) and more links than that: over a threshold of 1, the links are compact
    // and the pair, the series its reservation and steering are sized on, stays full.
    let mut c = core(1);
    let mut bytes = 0;
    drive(&mut c, &mut bytes, 2, 200, rate);
    let n = c.series_count();
    assert!(n >= 3, "links and the pair: {n}");
    assert_eq!(c.compact_series_count(), n - 1);
    assert_eq!(c.series(&link()).expect("link").tier(), Tier::Compact);
    let pair_series = c.series(&pair()).expect("pair");
    assert_eq!(pair_series.tier(), Tier::Full);
    assert_eq!(pair_series.model(), ModelKind::Auto);

    // The same network with the pair's forecasts as with no tier at all.
    let mut plain = core(usize::MAX);
    let mut b = 0;
    drive(&mut plain, &mut b, 2, 200, rate);
    let full = plain.series(&pair()).expect("pair");
    assert_eq!(full.forecast(), pair_series.forecast());
    assert_eq!(full.planned_peak(), pair_series.planned_peak());
}

#[test]
fn a_tick_decides_and_reports_the_same_on_one_core_and_on_several() {
    // Series observe on every core. A burst after the 99 % band is finite (199 residuals)
    // makes anomalies; a threshold of one series makes each tier depend on the order the
    // series appear in.
    let burst = |s: u64| {
        if (280..283).contains(&s) {
            6.0 * rate(s)
        } else {
            rate(s)
        }
    };
    let on = |threads: usize, compact_above: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool");
        pool.install(|| {
            let mut c = core(compact_above);
            let mut bytes = 0;
            let actions = drive(&mut c, &mut bytes, 2, 320, burst);
            let series: Vec<String> = c
                .all_series()
                .map(|(k, s)| {
                    let f = (s.tier(), s.forecast(), s.planned_peak());
                    format!("{} {f:?}", k.label())
                })
                .collect();
            let anomalies: Vec<String> = c.anomalies().iter().map(|a| format!("{a:?}")).collect();
            let errors = format!("{:?}", c.model_errors());
            (format!("{actions:?}"), series, anomalies, errors)
        })
    };
    let full = on(1, usize::MAX);
    assert!(full.1.len() >= 2, "the link and the pair at least");
    assert!(!full.2.is_empty(), "the burst is flagged");
    assert_eq!(full, on(4, usize::MAX));
    let tiered = on(1, 1);
    assert!(
        tiered.1.iter().any(|s| s.contains("Compact")),
        "{:?}",
        tiered.1
    );
    assert_eq!(tiered, on(4, 1));
}
