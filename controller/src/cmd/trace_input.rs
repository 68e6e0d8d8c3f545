//! The trace file of `forecast backtest` and `evaluate`: a path, or `-` for standard input (so
//! `zcat old.csv.gz | prescient evaluate --trace -` and exports piped from a query tool work).

use anyhow::Context;
use prescient_predict::{read_trace, Missing, Trace, TraceFormat};
use std::path::Path;

/// What `--missing` (skip, zero or auto) makes of `trace`'s empty cells: auto reads them as
/// zero in an SNDlib-style matrix (every column `SRC->DST`; SNDlib omits zero demands) and as
/// unknown elsewhere.
pub fn missing(arg: &str, trace: &Trace) -> anyhow::Result<Missing> {
    match arg {
        "skip" => Ok(Missing::Skip),
        "zero" => Ok(Missing::Zero),
        "auto" if crate::evaluate::series::is_matrix(trace) => Ok(Missing::Zero),
        "auto" => Ok(Missing::Skip),
        other => anyhow::bail!("--missing {other:?}: expected skip, zero or auto"),
    }
}

/// Reads the trace at `path` (`-`: standard input) in `format`.
pub fn read(path: &Path, format: TraceFormat) -> anyhow::Result<Trace> {
    if path.as_os_str() == "-" {
        return read_trace(std::io::stdin().lock(), format)
            .context("reading trace from standard input (--input -)");
    }
    let file =
        std::fs::File::open(path).with_context(|| format!("opening trace {}", path.display()))?;
    read_trace(file, format).with_context(|| format!("reading trace {}", path.display()))
}
