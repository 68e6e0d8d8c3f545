//! Generated traffic rates for property tests of what consumes them (forecasting, sizing).

use proptest::prelude::*;

/// A rate as derived from a switch's counters: mostly traffic (up to 10 Gbit/s), sometimes a
/// gap, an idle interval, a burst (up to 10 Tbit/s), a negative step after a counter reset, or a
/// value no arithmetic survives (NaN, infinities).
pub fn counter_rate() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        6 => (0.0f64..1e10).prop_map(Some),
        1 => Just(None),
        1 => Just(Some(0.0)),
        1 => (1e10f64..1e13).prop_map(Some),
        1 => (-1e10f64..0.0).prop_map(Some),
        1 => prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)].prop_map(Some),
    ]
}
