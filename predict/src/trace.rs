//! Trace parsing: one column per series, one row per interval, from any `Read`.
//!
//! Formats: `abilene` (SNDlib traffic matrix: `time` column `YYYY-MM-DDTHH:MM`, then `SRC->DST`
//! columns), `isp` (`Time` column `YYYY-MM-DD HH:MM:SS`, one value column whose header is a
//! description, a trailing empty column) and plain `csv` (optional leading time column, then named
//! numeric columns). `auto` recognises them by their header.
//!
//! Long (tidy) files, one row per observation (`time,src,dst,bytes` from a flow aggregate,
//! `timestamp,metric,instance,value` from Prometheus, InfluxDB or Grafana's "series as rows"), are
//! recognised by their cells and pivoted to the trace their wide form gives (`auto` and `csv`;
//! `abilene` when the series are pairs):
//! - A file is long when it has a time column and, after it, label columns (every cell text or
//!   missing, at least one text: not a number, not a missing marker, not a number formatted with
//!   separators such as `"1,234"`; an IPv4 address is text) and exactly one column with numbers,
//!   the value, wherever it stands and whatever its header (`value`, `bytes`, ...). Only files
//!   the wide reading refuses (a text cell) can be long, so no wide file reads differently.
//!   The time column is found as below, and also when it is named like a time and holds
//!   seconds in any order (e.g. from the start of a capture, repeated for each series).
//! - The series name is the label, two labels `SRC->DST` (the pairs of `abilene` traces, for
//!   `evaluate --series pairs|links`), three or more joined by `/` (`LABEL_SEPARATOR`). Labels
//!   are trimmed and read as written (`NA`, `-` are labels); an empty one is refused. Two label
//!   sets joining into one name (`a->b`,`c` and `a`,`b->c`) are refused, not added up.
//! - Series are in the order they first appear in the file. The rows of one time are one
//!   interval; a series with no row at a time is missing there, as an empty wide cell is, and
//!   missing markers in the value column are missing too. One series twice at one time is an
//!   error naming both lines.
//! - Refused, naming the line, column and text: label columns without a time column (rows of a
//!   series would have no order) and label columns with several numeric columns (which one is
//!   the value?). Numeric labels (node numbers) are therefore not read: write them as text.
//!   Labels that change from row to row while no time has a second row (a status or note
//!   column beside one value) are refused too: split, they would make sparse series that never
//!   stand side by side.
//! - A long file may pivot to at most `MAX_LONG_CELLS` (2^25) cells, series × intervals;
//!   beyond, it is refused at the row that passes the cap, before the pivot is allocated.
//! - Everything below (text, delimiters, quoting, missing markers, times, sorting, regridding,
//!   the row index) holds for long files too.
//!
//! What a file exported by a spreadsheet, pandas, R, Grafana or a database may look like, and how
//! it is read (anything else is refused with an error naming the line, the column and the text):
//! - Compression: a gzip file (`.csv.gz`, known by its first bytes, whatever its name) is
//!   decompressed first, up to `MAX_INFLATED_BYTES`.
//! - Text: UTF-8 with or without a byte-order mark, or UTF-16 with one. Fields `,`, `;` or tab
//!   separated (the one that splits the header into the most fields, or Excel's `sep=X` first
//!   line); quoted fields may hold delimiters, line breaks and `""` for a quote; lines end with
//!   `\n`, `\r\n` or `\r`; blank lines are skipped.
//! - Missing observations: an empty cell, or `NaN`, `NA`, `N/A`, `#N/A`, `null`, `None`, `-`, `?`
//!   in any case, stay missing (`None`). A decimal comma (`1,5`) is read only in `;` or tab
//!   separated files, where it cannot be a field separator.
//! - The time column is the first (after a row number, which is dropped: a pandas row index,
//!   an unnamed first column counting 0, 1, 2, ..., or R's row names counting 1, 2, 3, ...; or a first column named like a time or
//!   `step`, `index`, `idx`, `row`, `n`, `i`, `no`, `#`, `id` counting the rows from 0 or 1). It is a time column when its header is `time`, `timestamp`
//!   or `epoch`; when its first cell is a date-time; or when its header contains `time`, `date` or
//!   `epoch` or is `ts` or `t` (any case, e.g. `Time (UTC)`, `unix_time`, `datetime`) and its cells are
//!   not a numeric series, that is they are date-times or epochs rising in file order or all past
//!   1973 (a numeric `response_time` stays a series). Cells are `YYYY-MM-DD[T ]HH:MM[:SS[.fff]]`
//!   with an optional `Z`/`UTC` or `+HH:MM` offset (converted to UTC), the date also as
//!   `DD.MM.YYYY` (day first, as European spreadsheets save it; `03/01/2005` is ambiguous and
//!   refused, the error listing what is read), a date alone, or, under a
//!   time-like header, seconds or milliseconds since 1970 (see `parse_timestamp`). Times are whole
//!   seconds: fractions round, so rows less than a second apart collide (an error, below).
//! - Rows are sorted by time (stable), as pandas' `sort_index` would. Two rows at the same time
//!   are an error naming both lines, not a silent choice of one: Prometheus refuses duplicate
//!   samples too, and the usual cause is local time repeating when clocks go back, which would
//!   otherwise lose an hour. Skipped intervals become empty rows (`Trace::regrid`).
//! - The first non-blank line is the header; one that starts with a date-time is data, and refused.
//! - Series names are the header's, trimmed; they must be unique (a pair counted twice would be
//!   double traffic). A column with no name and no value (a trailing delimiter) is dropped; one
//!   with values but no name is called `column N`.

mod csv;
mod long;
mod time;

#[cfg(test)]
mod long_tests;
#[cfg(test)]
mod tests;

use crate::PredictError;
use std::io::Read;
use std::str::FromStr;

pub use long::{LABEL_SEPARATOR, MAX_LONG_CELLS};
pub use time::parse_timestamp;

/// Trace file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    /// Recognise by header.
    Auto,
    /// Generic CSV.
    Csv,
    /// SNDlib Abilene traffic matrices.
    Abilene,
    /// Cortez et al. ISP aggregate.
    Isp,
}

impl FromStr for TraceFormat {
    type Err = PredictError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "csv" => Ok(Self::Csv),
            "abilene" => Ok(Self::Abilene),
            "isp" => Ok(Self::Isp),
            other => Err(PredictError::InvalidConfig {
                field: "format",
                value: other.to_string(),
                why: "expected auto, csv, abilene or isp",
            }),
        }
    }
}

/// A parsed trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Series names, one per column.
    pub names: Vec<String>,
    /// Start of each interval in seconds since 1970-01-01 UTC, when the trace has a time column.
    pub times: Option<Vec<i64>>,
    /// `columns[series][row]`, `None` where the cell was empty or a missing marker (`NaN`, `NA`, ...).
    pub columns: Vec<Vec<Option<f64>>>,
}

impl Trace {
    /// Number of rows (intervals).
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }

    /// Sampling interval: the median difference between consecutive timestamps.
    pub fn interval_secs(&self) -> Option<u64> {
        let times = self.times.as_ref()?;
        let mut d: Vec<i64> = times
            .windows(2)
            .map(|w| w[1] - w[0])
            .filter(|&d| d > 0)
            .collect();
        if d.is_empty() {
            return None;
        }
        let mid = d.len() / 2;
        let (_, m, _) = d.select_nth_unstable(mid);
        u64::try_from(*m).ok()
    }

    /// Inserts empty rows where the timestamps skip whole intervals (a snapshot missing from the
    /// source), so that every row is one interval after the previous and seasons stay aligned
    /// with the clock. Skips that are not whole intervals, or that would add more rows than the
    /// trace has, are left alone.
    pub fn regrid(&mut self) {
        let Some(step) = self.interval_secs().and_then(|s| i64::try_from(s).ok()) else {
            return;
        };
        let Some(times) = self.times.as_ref() else {
            return;
        };
        let missing: usize = times
            .windows(2)
            .map(|w| w[1] - w[0])
            .filter(|&d| d > step && d % step == 0)
            .map(|d| usize::try_from(d / step - 1).unwrap_or(usize::MAX))
            .fold(0usize, usize::saturating_add);
        if missing == 0 || missing > times.len() {
            return;
        }
        let mut new_times = Vec::with_capacity(times.len() + missing);
        let mut new_columns: Vec<Vec<Option<f64>>> = self
            .columns
            .iter()
            .map(|_| Vec::with_capacity(times.len() + missing))
            .collect();
        for (i, &t) in times.iter().enumerate() {
            if let Some(&prev) = i.checked_sub(1).and_then(|j| times.get(j)) {
                let d = t - prev;
                if d > step && d % step == 0 {
                    for k in 1..d / step {
                        new_times.push(prev + k * step);
                        new_columns.iter_mut().for_each(|c| c.push(None));
                    }
                }
            }
            new_times.push(t);
            for (new, old) in new_columns.iter_mut().zip(&self.columns) {
                new.push(old.get(i).copied().flatten());
            }
        }
        self.times = Some(new_times);
        self.columns = new_columns;
    }

    /// Reads empty cells as zero traffic, as SNDlib's matrices mean them (zero demands are
    /// omitted), except in rows where every cell is empty when the trace's own cells say such a
    /// row is no quiet interval: those are snapshots missing from the source (a collector
    /// outage, or rows [`Trace::regrid`] put back), kept unknown. Returns how many rows that is.
    ///
    /// All-empty rows are quiet intervals if the trace would show one by chance: with `p_j` the
    /// share of column `j`'s cells that are empty, when `Π p_j` is at least one in the number of
    /// rows (a few sparse counters are often all zero at once; 132 router pairs never are).
    /// Zero-filled, an outage reads as the whole network falling silent, then returning at full
    /// rate at once.
    pub fn fill_empty_as_zero(&mut self) -> usize {
        let rows = self.rows();
        // One pass per column (the cells are stored by column).
        let mut blank = vec![true; rows];
        let mut log_chance = 0.0;
        for c in &self.columns {
            let mut empty = 0;
            for (b, v) in blank.iter_mut().zip(c) {
                *b &= v.is_none();
                empty += usize::from(v.is_none());
            }
            log_chance += (empty as f64 / rows.max(1) as f64).ln();
        }
        let snapshots_missing = rows > 0 && log_chance < -(rows as f64).ln();
        for c in &mut self.columns {
            for (v, &b) in c.iter_mut().zip(&blank) {
                if !(b && snapshots_missing) {
                    v.get_or_insert(0.0);
                }
            }
        }
        if snapshots_missing {
            blank.iter().filter(|b| **b).count()
        } else {
            0
        }
    }

    /// Number of missing cells.
    pub fn missing(&self) -> usize {
        self.columns
            .iter()
            .flatten()
            .filter(|c| c.is_none())
            .count()
    }
}

/// Cells that mean "no observation" in common exports (pandas, R, Excel, SQL dumps), in any case.
const MISSING: [&str; 9] = ["", "nan", "na", "n/a", "#n/a", "null", "none", "-", "?"];

/// Epochs from 1973-03-03 on (1e8 s) are taken for times even when rows are out of order.
const PLAUSIBLE_EPOCH: f64 = 1e8;

/// What a cell holds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Missing,
    Number(f64),
    Text,
}

fn cell(raw: &str, delimiter: char) -> Cell {
    let c = raw.trim();
    if MISSING.iter().any(|m| c.eq_ignore_ascii_case(m)) {
        return Cell::Missing;
    }
    let parsed = c.parse::<f64>().ok().or_else(|| {
        // In a `,` file a comma inside a number was quoted and is more likely a thousands
        // separator than a decimal one: refused there.
        let decimal_comma = delimiter != ',' && c.matches(',').count() == 1 && !c.contains('.');
        decimal_comma
            .then(|| c.replace(',', ".").parse().ok())
            .flatten()
    });
    match parsed {
        Some(v) if v.is_finite() => Cell::Number(v),
        _ => Cell::Text,
    }
}

/// How the time column's cells are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeColumn {
    /// No time column.
    Absent,
    /// Date-times only.
    DatesOnly,
    /// Date-times or epochs (the header says it is a time).
    DatesOrEpochs,
}

/// Whether a cell that is not a number was meant as a date or a time: digits with a `:`, or two
/// date separators and a four-digit year (`03/01/2005`, `2005.01.03`; not `1.234.567`, a number
/// with thousands separators).
fn looks_like_time(cell: &str) -> bool {
    let c = cell.trim();
    let separators = |sep: char| c.matches(sep).count() >= 2;
    let year = c
        .split(|ch: char| !ch.is_ascii_digit())
        .any(|run| run.len() == 4);
    c.bytes().any(|b| b.is_ascii_digit())
        && (c.contains(':') || (year && (separators('/') || separators('.') || separators('-'))))
}

fn time_like(name: &str) -> bool {
    let n = name.trim().to_lowercase();
    n == "ts" || n == "t" || ["time", "date", "epoch"].iter().any(|w| n.contains(w))
}

/// Headers of a column that numbers the rows (R, SQL and spreadsheet exports), besides
/// time-like ones.
const ROW_NUMBER_NAMES: [&str; 9] = ["step", "index", "idx", "row", "n", "i", "no", "#", "id"];

/// Whether `cells` count the rows by one from 0 or 1 (at least three of them: two could be
/// data).
fn counts_rows(cells: &[&str]) -> bool {
    let first = match cells.first().map(|c| c.trim()) {
        Some("0") => 0,
        Some("1") => 1,
        _ => return false,
    };
    cells.len() >= 3
        && cells
            .iter()
            .enumerate()
            .all(|(i, c)| c.trim() == (first + i).to_string())
}

/// Whether the column `cells` (under header `name`) is the trace's time column, and how to read it.
fn time_column(name: &str, cells: &[&str], delimiter: char) -> TimeColumn {
    let exact = ["time", "timestamp", "epoch"]
        .iter()
        .any(|n| name.trim().eq_ignore_ascii_case(n));
    let first_is_date = cells.first().is_some_and(|c| parse_timestamp(c).is_some());
    if exact || (first_is_date && time_like(name)) {
        return TimeColumn::DatesOrEpochs;
    }
    if first_is_date {
        return TimeColumn::DatesOnly;
    }
    if !time_like(name) {
        return TimeColumn::Absent;
    }
    let parsed: Vec<Cell> = cells.iter().map(|c| cell(c, delimiter)).collect();
    let numbers: Option<Vec<f64>> = parsed
        .iter()
        .map(|c| match c {
            Cell::Number(v) => Some(*v),
            _ => None,
        })
        .collect();
    let series = parsed.iter().all(|c| *c != Cell::Text);
    let epochs = numbers.is_some_and(|v| {
        v.iter().all(|&x| time::parse_epoch(x).is_some())
            && (v.windows(2).all(|w| w[0] < w[1]) || v.iter().all(|&x| x >= PLAUSIBLE_EPOCH))
    });
    if series && !epochs {
        TimeColumn::Absent
    } else {
        TimeColumn::DatesOrEpochs
    }
}

/// Whether the first column is a row number rather than a series or a time: a pandas row index
/// (no name, or pandas' `Unnamed: 0`, and the cells 0, 1, 2, ... in order), R's row names (no
/// name, and at least three cells 1, 2, 3, ..., as `write.csv` saves them), or a column named
/// like a time or a row number (`time`, `t`, `step`, `index`, ...) counting the rows from 0
/// or from 1. Read as a series it added a ramp to every total; read as epochs it made rows one
/// second apart in 1970.
fn is_row_index(header: &[String], rows: &[csv::Record]) -> bool {
    let name = header.first().map_or("", |h| h.trim());
    let cells = || {
        rows.iter()
            .map(|(_, c)| c.first().map_or("", String::as_str))
    };
    let unnamed = (name.is_empty() || name.starts_with("Unnamed: "))
        && !rows.is_empty()
        && (cells().enumerate().all(|(i, c)| c.trim() == i.to_string())
            || counts_rows(&cells().collect::<Vec<_>>()));
    let lower = name.to_lowercase();
    let named = (time_like(name) || ROW_NUMBER_NAMES.contains(&lower.as_str()))
        && counts_rows(&cells().collect::<Vec<_>>());
    header.len() > 1 && (unnamed || named)
}

fn detect(header: &[String], has_time: bool) -> TraceFormat {
    if has_time && header.iter().skip(1).any(|h| h.contains("->")) {
        TraceFormat::Abilene
    } else if has_time && header.len() <= 3 && header.get(1).is_some_and(|h| h.len() > 40) {
        TraceFormat::Isp
    } else {
        TraceFormat::Csv
    }
}

/// A trace file split into records, with its row-number and time columns found: what the wide
/// and the long reader both start from.
struct Frame {
    delimiter: char,
    header: Vec<String>,
    rows: Vec<csv::Record>,
    /// Leading columns that number the rows (dropped): 0 or 1.
    lead: usize,
    /// How the column after them holds times, if it does.
    times_kind: TimeColumn,
}

impl Frame {
    fn has_time(&self) -> bool {
        self.times_kind != TimeColumn::Absent
    }

    /// Index of the first column that is neither a row number nor the time.
    fn first_data_column(&self) -> usize {
        self.lead + usize::from(self.has_time())
    }

    /// The time column's cell of each row (empty where a row is short).
    fn time_cells(&self) -> Vec<&str> {
        self.rows
            .iter()
            .map(|(_, c)| c.get(self.lead).map_or("", String::as_str))
            .collect()
    }

    /// The time of the row on `line` whose time cell is `c`.
    fn time(&self, line: usize, c: &str) -> Result<i64, PredictError> {
        let epoch = || match cell(c, self.delimiter) {
            Cell::Number(v) if self.times_kind == TimeColumn::DatesOrEpochs => time::parse_epoch(v),
            _ => None,
        };
        parse_timestamp(c)
            .or_else(epoch)
            .ok_or_else(|| PredictError::BadTimestamp {
                line,
                column: self.lead + 1,
                value: c.to_string(),
            })
    }

    /// Refuses a row whose number of cells is not the header's: a trailing delimiter on the
    /// rows or on the header alone adds or lacks one empty cell; anything else is ragged.
    fn check_width(&self, line: usize, cells: &[String]) -> Result<(), PredictError> {
        let expected = self.header.len();
        let header_trails = expected > 1 && self.header.last().is_some_and(|h| h.trim().is_empty());
        let found = cells.len();
        let trailing = found == expected + 1 && cells.last().is_some_and(|c| c.trim().is_empty());
        if found != expected && !trailing && !(header_trails && found + 1 == expected) {
            return Err(PredictError::RaggedRow {
                line,
                expected,
                found,
            });
        }
        Ok(())
    }
}

/// The format to read a trace as: `requested`, or what its header looks like (`detected`) under
/// `auto`; a named format the header does not match is refused.
fn choose_format(
    requested: TraceFormat,
    detected: TraceFormat,
) -> Result<TraceFormat, PredictError> {
    match requested {
        TraceFormat::Auto => Ok(detected),
        TraceFormat::Abilene if detected != TraceFormat::Abilene => {
            Err(PredictError::FormatMismatch {
                format: "abilene",
                why: "expected a time column then SRC->DST columns".into(),
            })
        }
        TraceFormat::Isp if detected != TraceFormat::Isp => Err(PredictError::FormatMismatch {
            format: "isp",
            why: "expected `Time`, a description and a trailing empty column".into(),
        }),
        f => Ok(f),
    }
}

/// The first bytes of a gzip stream (RFC 1952): traces are often shipped as `.csv.gz`, and
/// are read as they are, whatever the file is called.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Most bytes a compressed trace may decompress to: 1 GiB, some 200 times the Abilene trace of
/// `../shared/data`; a small file inflating past it (a gzip bomb) is refused, not held.
pub const MAX_INFLATED_BYTES: u64 = 1 << 30;

/// Decompresses a gzip trace (every member, as `gzip -d` does for concatenated files), at
/// most `limit` bytes of it.
fn gunzip(compressed: &[u8], limit: u64) -> Result<Vec<u8>, PredictError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(compressed)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| PredictError::Gzip(e.to_string()))?;
    if out.len() as u64 > limit {
        return Err(PredictError::Inflated { limit });
    }
    Ok(out)
}

/// Reads a trace in `format` from `input` (see the module documentation for what is accepted).
pub fn read_trace<R: Read>(mut input: R, format: TraceFormat) -> Result<Trace, PredictError> {
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .map_err(|e| PredictError::Io(e.to_string()))?;
    if bytes.starts_with(&GZIP_MAGIC) {
        bytes = gunzip(&bytes, MAX_INFLATED_BYTES)?;
    }
    let text = csv::decode(&bytes)?;
    drop(bytes);
    let csv::Table {
        delimiter,
        header: (header_line, header),
        rows,
    } = csv::table(&text)?;
    // Without this a headerless file loses its first row and names its series after its values.
    if let Some(first) = header.first().filter(|h| parse_timestamp(h).is_some()) {
        return Err(PredictError::NoHeader {
            line: header_line,
            value: first.trim().to_string(),
        });
    }
    let lead = usize::from(is_row_index(&header, &rows));
    let time_name = header.get(lead).map_or("", String::as_str);
    let time_cells: Vec<&str> = rows
        .iter()
        .map(|(_, c)| c.get(lead).map_or("", String::as_str))
        .collect();
    let times_kind = time_column(time_name, &time_cells, delimiter);
    drop(time_cells);
    let mut frame = Frame {
        delimiter,
        header,
        rows,
        lead,
        times_kind,
    };
    // A long file's time column may count seconds from the start of a capture, repeated for
    // each series and in series order: not rising, so not a wide time column, but the only
    // order the rows of a long file have. Read so only when the file is long.
    if times_kind == TimeColumn::Absent && relative_times(&frame) {
        frame.times_kind = TimeColumn::DatesOrEpochs;
        if let Ok(Some(layout)) = long::layout(&frame) {
            return long::read(&frame, &layout, format);
        }
        frame.times_kind = TimeColumn::Absent;
    }
    match long::layout(&frame)? {
        Some(layout) => long::read(&frame, &layout, format),
        None => read_wide(frame, format),
    }
}

/// Whether the first column (after a row number) is named like a time and holds only numbers
/// that read as seconds (or milliseconds) since 1970, in any order.
fn relative_times(frame: &Frame) -> bool {
    let name = frame.header.get(frame.lead).map_or("", String::as_str);
    let cells = frame.time_cells();
    time_like(name)
        && !cells.is_empty()
        && cells.iter().all(|c| match cell(c, frame.delimiter) {
            Cell::Number(v) => time::parse_epoch(v).is_some(),
            _ => false,
        })
}

/// Reads a wide trace: one column per series.
fn read_wide(frame: Frame, format: TraceFormat) -> Result<Trace, PredictError> {
    let has_time = frame.has_time();
    let lead = frame.lead;
    let (header, rows, delimiter) = (&frame.header, &frame.rows, frame.delimiter);
    let detected = detect(header.get(lead..).unwrap_or_default(), has_time);
    let format = choose_format(format, detected)?;
    let skip = frame.first_data_column();
    let mut names: Vec<String> = header
        .iter()
        .skip(skip)
        .map(|h| h.trim().to_string())
        .collect();
    if format == TraceFormat::Isp {
        if let Some(n) = names.first_mut() {
            *n = "traffic".to_string();
        }
    }
    let mut columns: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(rows.len()); names.len()];
    let mut times = Vec::with_capacity(rows.len());
    let time_cells = frame.time_cells();
    for (row, (line, cells)) in rows.iter().enumerate() {
        frame.check_width(*line, cells)?;
        if has_time {
            times.push(frame.time(*line, time_cells.get(row).copied().unwrap_or(""))?);
        }
        for (j, col) in columns.iter_mut().enumerate() {
            let raw = cells.get(j + skip).map_or("", String::as_str);
            match cell(raw, delimiter) {
                Cell::Missing => col.push(None),
                Cell::Number(v) => col.push(Some(v)),
                // An unread date-time in the first column says what times are read, rather
                // than that it is not a number.
                Cell::Text if j + skip == 0 && looks_like_time(raw) => {
                    return Err(PredictError::BadTimestamp {
                        line: *line,
                        column: 1,
                        value: raw.trim().to_string(),
                    })
                }
                Cell::Text => {
                    return Err(PredictError::BadCell {
                        line: *line,
                        column: j + skip + 1,
                        series: names.get(j).cloned().unwrap_or_default(),
                        value: raw.trim().to_string(),
                    })
                }
            }
        }
    }
    let numbers: Vec<usize> = (skip + 1..skip + 1 + names.len()).collect();
    // Drop columns with no name and no value (trailing delimiters).
    let keep: Vec<bool> = names
        .iter()
        .zip(&columns)
        .map(|(n, c)| !n.is_empty() || c.iter().any(Option::is_some))
        .collect();
    let numbers: Vec<usize> = keep
        .iter()
        .zip(numbers)
        .filter_map(|(k, n)| k.then_some(n))
        .collect();
    let mut k = keep.iter();
    names.retain(|_| k.next().copied().unwrap_or(true));
    let mut k = keep.iter();
    columns.retain(|_| k.next().copied().unwrap_or(true));
    if columns.is_empty() {
        return Err(PredictError::NoSeries {
            header: frame.header.clone(),
        });
    }
    name_columns(&mut names, &numbers)?;
    let mut times = has_time.then_some(times);
    if let Some(t) = times.as_mut() {
        let lines: Vec<usize> = rows.iter().map(|r| r.0).collect();
        sort_by_time(t, &mut columns, &lines, &time_cells)?;
    }
    let mut trace = Trace {
        names,
        times,
        columns,
    };
    trace.regrid();
    Ok(trace)
}

/// Names unnamed columns after their number and refuses a name given twice.
fn name_columns(names: &mut [String], numbers: &[usize]) -> Result<(), PredictError> {
    let mut seen = std::collections::HashMap::new();
    for (name, &column) in names.iter_mut().zip(numbers) {
        if name.is_empty() {
            *name = format!("column {column}");
        }
        if let Some(&first) = seen.get(name.as_str()) {
            return Err(PredictError::DuplicateName {
                name: name.clone(),
                first,
                second: column,
            });
        }
        seen.insert(name.clone(), column);
    }
    Ok(())
}

/// Puts rows in time order (stable), refusing two rows at the same time.
fn sort_by_time(
    times: &mut Vec<i64>,
    columns: &mut [Vec<Option<f64>>],
    lines: &[usize],
    cells: &[&str],
) -> Result<(), PredictError> {
    if times.windows(2).all(|w| w[0] < w[1]) {
        return Ok(());
    }
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by_key(|&i| times.get(i).copied());
    for w in order.windows(2) {
        let (a, b) = (w[0], w[1]);
        if times.get(a) == times.get(b) {
            return Err(PredictError::DuplicateTime {
                line: lines.get(b).copied().unwrap_or_default(),
                earlier_line: lines.get(a).copied().unwrap_or_default(),
                value: cells
                    .get(b)
                    .map(|c| c.trim().to_string())
                    .unwrap_or_default(),
            });
        }
    }
    *times = order
        .iter()
        .filter_map(|&i| times.get(i).copied())
        .collect();
    for col in columns.iter_mut() {
        *col = order
            .iter()
            .map(|&i| col.get(i).copied().flatten())
            .collect();
    }
    Ok(())
}
