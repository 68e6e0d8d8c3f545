//! Errors of the forecasting engine: each says which input, which value and why.

use thiserror::Error;

/// Everything that can go wrong in `prescient-predict`.
#[derive(Debug, Error, PartialEq)]
pub enum PredictError {
    /// A trace could not be read from its source.
    #[error("reading trace: {0}")]
    Io(String),
    /// A gzip-compressed trace does not decompress.
    #[error("trace is gzip-compressed (it starts with 1f 8b) but does not decompress: {0}")]
    Gzip(String),
    /// A trace decompresses to more than the reader takes.
    #[error("trace decompresses to more than {limit} bytes: refused before it fills memory")]
    Inflated {
        /// The most decompressed bytes read.
        limit: u64,
    },
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
    /// A cell of the time column is not a time.
    #[error(
        "trace line {line}, column {column} (time): {value:?} is not a time \
         (`YYYY-MM-DD[T ]HH:MM[:SS[.fff]]` with an optional `Z` or `+HH:MM` offset, a date \
         (`YYYY-MM-DD` or `DD.MM.YYYY`), or under a time header seconds or milliseconds since \
         1970)"
    )]
    BadTimestamp {
        /// 1-based line number.
        line: usize,
        /// 1-based column number of the time column.
        column: usize,
        /// The offending text.
        value: String,
    },
    /// Two rows of a trace are at the same time.
    #[error(
        "trace line {line}: time {value:?} is that of line {earlier_line} too; a trace needs one \
         row per interval (local times repeat when clocks go back: export UTC or offsets)"
    )]
    DuplicateTime {
        /// 1-based line number of the later row in the file.
        line: usize,
        /// 1-based line number of the earlier row at the same time.
        earlier_line: usize,
        /// The later row's time as written.
        value: String,
    },
    /// Two columns of a trace have the same name.
    #[error("trace header: columns {first} and {second} are both named {name:?}")]
    DuplicateName {
        /// The repeated name.
        name: String,
        /// 1-based number of the first column with it.
        first: usize,
        /// 1-based number of the second column with it.
        second: usize,
    },
    /// A trace is not text in an encoding the reader knows.
    #[error("trace line {line}: not readable text: {why}")]
    Encoding {
        /// 1-based line number where the text stops being readable.
        line: usize,
        /// What was found.
        why: String,
    },
    /// A trace's first line is data, not a header of names.
    #[error(
        "trace line {line}: the first line starts with the time {value:?}, so it is data; \
         add a header line naming the columns (e.g. `time,<series>,...`)"
    )]
    NoHeader {
        /// 1-based line number of the first non-blank line.
        line: usize,
        /// Its first cell.
        value: String,
    },
    /// A trace with text label columns (so read as long form) whose columns do not make one.
    #[error(
        "trace line {line}, column {column} ({name}): {value:?} is text, so the file is read as \
         long form (a time column, text label columns, one numeric value column), but {why}"
    )]
    LongLayout {
        /// 1-based line number of the first text cell.
        line: usize,
        /// 1-based column number of that cell.
        column: usize,
        /// The column's header name.
        name: String,
        /// The text.
        value: String,
        /// What is missing or ambiguous.
        why: String,
    },
    /// A label cell of a long trace is empty.
    #[error(
        "trace line {line}, column {column} ({name}): empty label; every row of a long trace \
         names its series in every label column"
    )]
    EmptyLabel {
        /// 1-based line number.
        line: usize,
        /// 1-based column number of the label column.
        column: usize,
        /// The label column's header name.
        name: String,
    },
    /// Two rows of a long trace give one series at one time.
    #[error(
        "trace line {line}: series {series:?} at time {time:?} is on line {earlier_line} too; a \
         long trace needs one row per series and interval"
    )]
    DuplicateObservation {
        /// 1-based line number of the later row in the file.
        line: usize,
        /// 1-based line number of the earlier row.
        earlier_line: usize,
        /// The series.
        series: String,
        /// The later row's time as written.
        time: String,
    },
    /// Two different sets of labels of a long trace join into one series name.
    #[error(
        "trace line {line}: labels {labels:?} make the series name {name:?}, as labels \
         {earlier:?} on line {earlier_line} do (a label holds the separator `->` or `/`)"
    )]
    LabelCollision {
        /// 1-based line number of the later row.
        line: usize,
        /// The joined name.
        name: String,
        /// Its labels.
        labels: Vec<String>,
        /// 1-based line number of the row that made the name first.
        earlier_line: usize,
        /// That row's labels.
        earlier: Vec<String>,
    },
    /// A long trace that would pivot to more cells than a trace may hold.
    #[error(
        "trace line {line}: a long trace of {series} series over {intervals} intervals is more \
         than {cap} cells (series × intervals), the most a long trace may pivot to"
    )]
    LongTooLarge {
        /// 1-based line number of the row that went past the cap.
        line: usize,
        /// Distinct series so far.
        series: usize,
        /// Distinct times so far.
        intervals: usize,
        /// The cap.
        cap: usize,
    },
    /// A quoted field of a trace is never closed.
    #[error("trace line {line}: a quote opened here is never closed")]
    UnclosedQuote {
        /// 1-based line number of the opening quote.
        line: usize,
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
    #[error(
        "too few rows in the trace ({rows}): the backtest needs at least {needed} (training rows to fit on, \
         then a validation and a test part)"
    )]
    TooShort {
        /// Rows in the trace.
        rows: usize,
        /// Rows needed.
        needed: usize,
    },
    /// A horizon no test row of the trace can be forecast at.
    #[error(
        "invalid horizon = {horizon}: the trace has {rows} rows and forecasts are made from \
         the {forecast} after its training part, so no test row has a forecast {horizon} steps \
         ahead (at most {forecast})"
    )]
    HorizonTooLong {
        /// The horizon asked for.
        horizon: usize,
        /// Rows in the trace.
        rows: usize,
        /// Rows after the training part (validation and test): the longest horizon scored.
        forecast: usize,
    },
    /// A model name is unknown.
    #[error(
        "unknown model {0:?} (known: naive, seasonal-naive, ets, regression, ar12, \
         pooled-regression, boosted-trees, auto)"
    )]
    UnknownModel(String),
}
