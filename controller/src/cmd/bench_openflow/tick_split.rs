//! Latencies filed by whether a control tick overlapped them, as the REST calls
//! (`rest_probe.rs`) and the link cuts (`failover_probe.rs`) of `bench openflow
//! --forecast-series N` report them: the two sides, their ratio, text and JSON.

use hdrhistogram::Histogram;

/// What one probe measured while a phase ran.
#[derive(Debug)]
pub(super) struct TickSplit {
    /// Nanoseconds, of what a control tick overlapped: one ran when it started, when it ended,
    /// or started and ended meanwhile.
    pub during: Histogram<u64>,
    /// Of the others.
    pub between: Histogram<u64>,
    /// Those that never completed (refused, timed out, not announced).
    pub failed: u64,
}

impl TickSplit {
    /// Empty sides: 1 us to 60 s at 3 digits, so a wait behind the longest tick still fits.
    pub fn new() -> Self {
        let histogram =
            || Histogram::new_with_bounds(1_000, 60_000_000_000, 3).expect("valid bounds");
        TickSplit {
            during: histogram(),
            between: histogram(),
            failed: 0,
        }
    }

    /// Count, p50, p99 and max in milliseconds of `h`.
    fn figures(h: &Histogram<u64>) -> (u64, f64, f64, f64) {
        let ms = |ns: u64| ns as f64 / 1e6;
        (
            h.len(),
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
        )
    }

    /// During a tick over between ticks, p50, p99 and max (0 when either side is empty).
    pub fn ratios(&self) -> [f64; 3] {
        let (nd, d50, d99, dmax) = Self::figures(&self.during);
        let (nb, b50, b99, bmax) = Self::figures(&self.between);
        if nd == 0 || nb == 0 || b50 == 0.0 || b99 == 0.0 || bmax == 0.0 {
            return [0.0; 3];
        }
        [d50 / b50, d99 / b99, dmax / bmax]
    }

    /// Both sides, the failures and the ratios.
    pub fn json(&self) -> serde_json::Value {
        let side = |h: &Histogram<u64>| {
            let (count, p50, p99, max) = Self::figures(h);
            serde_json::json!({ "count": count, "p50_ms": p50, "p99_ms": p99, "max_ms": max })
        };
        let [p50, p99, max] = self.ratios();
        serde_json::json!({
            "during_a_tick": side(&self.during),
            "between_ticks": side(&self.between),
            "failed": self.failed,
            "ratio_p50": p50,
            "ratio_p99": p99,
            "ratio_max": max,
        })
    }

    /// The text report: `heading`, then a line a side counting `things`, then the ratios;
    /// `failed` words the failures (`"failed"`, `"not announced"`).
    pub fn print(&self, heading: &str, things: &str, failed: &str) {
        let failures = if self.failed > 0 {
            format!(" ({} {failed})", self.failed)
        } else {
            String::new()
        };
        println!("  {heading}{failures}:");
        for (label, h) in [
            ("during a tick", &self.during),
            ("between ticks", &self.between),
        ] {
            let (n, p50, p99, max) = Self::figures(h);
            println!(
                "    {label:<20} {n:>6} {things:<5}   p50 {p50:>8.2} ms   p99 {p99:>8.2} ms   max {max:>8.2} ms"
            );
        }
        let [p50, p99, max] = self.ratios();
        println!(
            "    {:<20} {:>12}   p50 {p50:>7.2}x    p99 {p99:>7.2}x    max {max:>7.2}x",
            "during / between", ""
        );
    }
}
