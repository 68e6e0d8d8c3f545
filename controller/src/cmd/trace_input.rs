//! The trace file of `forecast backtest` and `evaluate`: a path, or `-` for standard input (so
//! `zcat old.csv.gz | prescient evaluate --trace -` and exports piped from a query tool work).

use anyhow::Context;
use prescient_predict::{read_trace, Trace, TraceFormat};
use std::path::Path;

use crate::evaluate::series::EmptyCells;

/// What `--missing` (skip, zero or auto) makes of `trace`'s empty cells
/// ([`EmptyCells::parse`]), for `forecast backtest` and `evaluate` alike.
pub fn missing(arg: &str, trace: &Trace) -> anyhow::Result<EmptyCells> {
    EmptyCells::parse(arg, trace)
        .map_err(|_| anyhow::anyhow!("--missing {arg:?}: expected skip, zero or auto"))
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
