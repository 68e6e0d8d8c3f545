//! Any bytes as a trace file, in every format the CLI accepts: reading either fails with an
//! error or gives a rectangular trace (one name per column, names unique, every column and the
//! time column as long as the others, times strictly rising) that regridding keeps rectangular,
//! in time order and at most twice as long; nothing panics (timestamps are user input:
//! differences can overflow). `seeds/trace_reader` holds a long (tidy) file, so that the
//! pivot of long traces is reached (`scripts/fuzz` passes it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use prescient_predict::trace::{read_trace, Trace, TraceFormat};

fn rectangular(trace: &Trace) {
    assert_eq!(trace.names.len(), trace.columns.len(), "a name per column");
    let rows = trace.rows();
    assert!(trace.columns.iter().all(|c| c.len() == rows), "ragged columns");
    if let Some(times) = &trace.times {
        assert_eq!(times.len(), rows, "a time per row");
    }
}

fn sorted(trace: &Trace) -> bool {
    trace
        .times
        .as_ref()
        .is_some_and(|t| t.windows(2).all(|w| w[0] < w[1]))
}

fuzz_target!(|data: &[u8]| {
    for format in [
        TraceFormat::Auto,
        TraceFormat::Csv,
        TraceFormat::Abilene,
        TraceFormat::Isp,
    ] {
        let Ok(mut trace) = read_trace(data, format) else {
            continue;
        };
        rectangular(&trace);
        let names: std::collections::HashSet<&String> = trace.names.iter().collect();
        assert_eq!(names.len(), trace.names.len(), "names are unique");
        assert!(trace.times.is_none() || sorted(&trace), "read sorts rows by time");
        let _ = trace.interval_secs();
        let (rows, was_sorted, missing) = (trace.rows(), sorted(&trace), trace.missing());
        trace.regrid();
        rectangular(&trace);
        assert!(trace.rows() >= rows && trace.rows() <= 2 * rows.max(1), "regrid grew too much");
        assert_eq!(
            trace.missing() - missing,
            trace.rows() - rows,
            "regrid adds only empty rows"
        );
        if was_sorted {
            assert!(sorted(&trace), "regrid broke the time order");
        }
    }
});
