//! The forecast error per model over every series, kept up to date as series step, so that
//! `/metrics` reads it without walking tens of thousands of series under the core's lock.
//!
//! Sums are kept in whole milli-bits per second: adding a series' new error and taking its old
//! one away is then exact, and the aggregate never drifts however long the controller runs.

use std::collections::BTreeMap;

use prescient_predict::ModelKind;

/// One series' share: its model and the mean absolute error of its recent forecasts, bits/s.
pub type Share = Option<(ModelKind, f64)>;

/// Per model: the sum of its series' mean absolute errors (milli-bits/s) and how many series.
#[derive(Debug, Default, Clone)]
pub struct ModelErrors {
    by_model: BTreeMap<&'static str, (i128, u64)>,
}

/// Largest error one series adds, bits/s: a thousand times any link there is. A series fed
/// absurd rates (a switch's counters, or a client's samples) must neither overflow the sum nor
/// swamp it; clamping keeps taking a share away exactly what adding it put in.
const MAX_ERROR_BPS: f64 = 1e18;

fn milli(bps: f64) -> i128 {
    // `as` maps NaN to 0: a non-finite error cannot poison the sum.
    (bps.clamp(0.0, MAX_ERROR_BPS) * 1_000.0).round() as i128
}

impl ModelErrors {
    /// One series stepped: its share was `before` and is now `after`.
    pub fn replace(&mut self, before: Share, after: Share) {
        if let Some((model, mae)) = before {
            if let Some(slot) = self.by_model.get_mut(model.name()) {
                slot.0 -= milli(mae);
                slot.1 = slot.1.saturating_sub(1);
                if slot.1 == 0 {
                    self.by_model.remove(model.name());
                }
            }
        }
        if let Some((model, mae)) = after {
            let slot = self.by_model.entry(model.name()).or_insert((0, 0));
            slot.0 += milli(mae);
            slot.1 += 1;
        }
    }

    /// Per model with any scored series: the mean over its series of their mean absolute
    /// error, bits/s.
    pub fn means(&self) -> BTreeMap<&'static str, f64> {
        self.by_model
            .iter()
            .map(|(m, (sum, n))| (*m, *sum as f64 / 1_000.0 / *n as f64))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_follows_series_as_they_step_and_change_model() {
        let mut e = ModelErrors::default();
        e.replace(None, Some((ModelKind::Auto, 10.0)));
        e.replace(None, Some((ModelKind::Auto, 30.0)));
        e.replace(None, None);
        assert_eq!(e.means().get("auto"), Some(&20.0));
        // One of them steps: 30 -> 50.
        e.replace(Some((ModelKind::Auto, 30.0)), Some((ModelKind::Auto, 50.0)));
        assert_eq!(e.means().get("auto"), Some(&30.0));
        // A model nobody uses any more is not listed.
        e.replace(Some((ModelKind::Auto, 10.0)), Some((ModelKind::Naive, 1.5)));
        e.replace(Some((ModelKind::Auto, 50.0)), Some((ModelKind::Naive, 2.5)));
        assert_eq!(e.means().get("auto"), None);
        assert_eq!(e.means().get("naive"), Some(&2.0));
        // A million steps later nothing has drifted.
        for i in 0..1_000_000u32 {
            let v = f64::from(i) * 0.1;
            e.replace(Some((ModelKind::Naive, 1.5)), Some((ModelKind::Naive, v)));
            e.replace(Some((ModelKind::Naive, v)), Some((ModelKind::Naive, 1.5)));
        }
        assert_eq!(e.means().get("naive"), Some(&2.0));
    }

    #[test]
    fn absurd_errors_neither_overflow_nor_stay_behind() {
        let mut e = ModelErrors::default();
        e.replace(None, Some((ModelKind::Auto, 1.0)));
        // An API fuzzer's samples of 1e308 bits/s (or infinity) gave errors whose milli-bits
        // saturated at i128::MAX: the next one overflowed the sum and panicked the tick.
        for v in [f64::MAX, f64::INFINITY, f64::MAX, f64::NAN, -f64::MAX] {
            e.replace(None, Some((ModelKind::Auto, v)));
        }
        for v in [f64::MAX, f64::INFINITY, f64::MAX, f64::NAN, -f64::MAX] {
            e.replace(Some((ModelKind::Auto, v)), None);
        }
        assert_eq!(e.means().get("auto"), Some(&1.0));
    }
}
