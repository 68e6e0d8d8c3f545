//! Properties over generated inputs, run with every test (the cargo-fuzz targets in `fuzz/` need
//! nightly and are not): a trace file of any bytes is read or refused, never a panic, and what
//! is read is one rectangle; and a predictor fed whatever a switch's counters can turn into
//! (gaps, zeros, bursts, NaN, infinities, negative rates after a counter reset) keeps making
//! forecasts and bounds the planners can use: finite, non-negative, each band holding its point.

use prescient_predict::{read_trace, ModelKind, Predictor, PredictorConfig, Seasons, TraceFormat};
use prescient_testkit::rates::counter_rate;
use proptest::prelude::*;

const FORMATS: [TraceFormat; 4] = [
    TraceFormat::Auto,
    TraceFormat::Csv,
    TraceFormat::Abilene,
    TraceFormat::Isp,
];

/// A cell as spreadsheets, exporters and broken pollers write them.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..100_000).prop_map(|v| v.to_string()),
        (-1e6f64..1e12).prop_map(|v| format!("{v}")),
        Just(String::new()),
        Just("NaN".to_string()),
        Just("-".to_string()),
        Just("\"1,5\"".to_string()),
        Just("1e400".to_string()),
        Just("2004-03-01T00:05".to_string()),
        Just("2004-03-01 00:05:00+02:00".to_string()),
        Just("1078099500".to_string()),
        Just("a->b".to_string()),
        Just("\"quoted\nline\"".to_string()),
        "[a-z;\t,\"]{0,4}",
    ]
}

/// A delimited file: a header (often a time column first) and rows of cells.
fn delimited() -> impl Strategy<Value = String> {
    let sep = prop_oneof![Just(","), Just(";"), Just("\t")];
    let header = prop::collection::vec(
        prop_oneof![
            Just("time".to_string()),
            Just("A->B".to_string()),
            Just("value".to_string()),
            "[a-z>-]{0,5}"
        ],
        1..5,
    );
    let rows = prop::collection::vec(prop::collection::vec(cell(), 1..5), 0..30);
    (sep, header, rows).prop_map(|(sep, header, rows)| {
        let mut out = header.join(sep);
        for row in rows {
            out.push('\n');
            out.push_str(&row.join(sep));
        }
        out
    })
}

/// Checks what a successful read holds together.
fn rectangle(src: &[u8]) -> Result<(), TestCaseError> {
    for format in FORMATS {
        let Ok(t) = read_trace(src, format) else {
            continue;
        };
        prop_assert_eq!(t.names.len(), t.columns.len());
        prop_assert!(t.columns.iter().all(|c| c.len() == t.rows()));
        prop_assert!(t.columns.iter().flatten().flatten().all(|v| v.is_finite()));
        if let Some(times) = &t.times {
            prop_assert_eq!(times.len(), t.rows());
            prop_assert!(times.windows(2).all(|w| w[0] < w[1]), "{:?}", times);
        }
    }
    Ok(())
}

const MODELS: [ModelKind; 6] = [
    ModelKind::Naive,
    ModelKind::SeasonalNaive,
    ModelKind::Ets,
    ModelKind::Regression,
    ModelKind::Ar,
    ModelKind::Auto,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_bytes_are_read_or_refused(src in prop::collection::vec(any::<u8>(), 0..400)) {
        rectangle(&src)?;
    }

    #[test]
    fn any_delimited_text_is_read_or_refused(src in delimited()) {
        rectangle(src.as_bytes())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn forecasts_and_bounds_stay_usable_whatever_is_observed(
        values in prop::collection::vec(counter_rate(), 1..700),
        model in 0..MODELS.len(),
    ) {
        // A day of 24 steps, so seasonal models, refits and time-of-day sizing all take part.
        let seasons = Seasons { day: Some(24), week: None, clock: None };
        let cfg = PredictorConfig {
            history: 200,
            horizon: 3,
            calibration_window: 60,
            day: Some(24),
            sizing_level: Some(0.99),
            ..PredictorConfig::default()
        };
        let mut p = Predictor::new(MODELS[model], seasons, cfg);
        p.fit();
        for (i, v) in values.iter().enumerate() {
            p.observe(*v);
            if i % 50 == 49 {
                p.refit(None);
            }
            let f = p.forecast(3);
            prop_assert_eq!(f.points.len(), 3);
            for (step, (point, bands)) in f.points.iter().zip(&f.bounds).enumerate() {
                prop_assert!(point.is_finite() && *point >= 0.0, "step {} point {}", step + 1, point);
                for &(lo, hi) in bands {
                    // Uncalibrated bands reach to infinity; every band is non-negative and holds
                    // its point.
                    prop_assert!(
                        lo <= *point && *point <= hi,
                        "step {} point {} outside its band ({}, {})", step + 1, point, lo, hi
                    );
                    prop_assert!(lo >= 0.0, "step {} lo {}", step + 1, lo);
                }
                if let Some(q) = p.sizing_quantile(step + 1, 0.99) {
                    prop_assert!(q.is_finite(), "step {} quantile {}", step + 1, q);
                }
            }
        }
    }
}
