//! Errors of the forecasting engine: each says which input, which value and why.

use thiserror::Error;

/// Everything that can go wrong in `prescient-predict`.
#[derive(Debug, Error, PartialEq)]
pub enum PredictError {
    /// A trace could not be read from its source.
    #[error("reading trace: {0}")]
    Io(String),
    /// A trace has no header line.
    #[error("trace is empty: no header line")]
    EmptyTrace,
    /// A trace whose header names no series (a time column alone, or only empty names).
    #[error("trace has no series: the header {header:?} names no value column")]
    NoSeries {
        /// The header line's cells.
        header: Vec<String>,
    },
    /// A trace cell is neither a number nor empty.
    #[error("trace line {line}, column {column} ({series}): {value:?} is not a number")]
    BadCell {
        /// 1-based line number in the input.
        line: usize,
        /// 1-based column number.
        column: usize,
        /// Name of the series of that column.
        series: String,
        /// The offending text.
        value: String,
    },
    /// A trace row has a different number of columns from its header.
    #[error("trace line {line}: {found} columns, header has {expected}")]
    RaggedRow {
        /// 1-based line number.
        line: usize,
        /// Columns in the header.
        expected: usize,
        /// Columns on this line.
        found: usize,
    },
    /// A timestamp could not be parsed.
    #[error("trace line {line}: timestamp {value:?} is not `YYYY-MM-DD[T ]HH:MM[:SS]`")]
    BadTimestamp {
        /// 1-based line number.
        line: usize,
        /// The offending text.
        value: String,
    },
    /// The requested format does not match the trace's header.
    #[error("trace header does not look like the {format} format: {why}")]
    FormatMismatch {
        /// Format that was asked for.
        format: &'static str,
        /// What did not match.
        why: String,
    },
    /// A configuration value is out of its allowed range.
    #[error("invalid {field} = {value}: {why}")]
    InvalidConfig {
        /// Name of the configuration field.
        field: &'static str,
        /// The offending value, rendered.
        value: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// A trace has too few rows for the backtest protocol.
    #[error("trace has {rows} rows; the backtest needs at least {needed}")]
    TooShort {
        /// Rows in the trace.
        rows: usize,
        /// Rows needed.
        needed: usize,
    },
    /// A model name is unknown.
    #[error("unknown model {0:?} (known: naive, seasonal-naive, ets, regression, auto)")]
    UnknownModel(String),
}
