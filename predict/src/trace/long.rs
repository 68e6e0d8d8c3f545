//! Long (tidy) traces: one row per observation, `time,LABEL...,VALUE`, as flow aggregates
//! (`time,src,dst,bytes`), Prometheus or InfluxDB exports (`timestamp,metric,instance,value`) and
//! Grafana's "series as rows" are written. They are pivoted to the wide [`Trace`] a wide file
//! gives, so everything downstream reads both alike.
//!
//! A file is long when some column after the time column holds text (a cell that is neither a
//! number nor a missing marker) and no number: such a file was refused by the wide reader, so
//! no wide file reads differently. Those columns are the labels; the one other column, wherever
//! it stands and whatever its name, is the value.

use super::{cell, looks_like_time, Cell, Frame, Trace, TraceFormat};
use crate::PredictError;
use std::collections::{HashMap, HashSet};

/// Most cells (series × intervals) a long trace may pivot to: 2^25, 512 MiB of cells, e.g.
/// 1,000 series over 33,554 intervals (the Abilene trace of `../shared/data`, 144 pairs over
/// 4,032 five-minute rows, is 0.58 M). Its rows are counted as they are read, so a file naming millions of series, whose
/// pivot would be quadratic in its size, is refused before the pivot is allocated. Regridding
/// can at most double the rows.
pub const MAX_LONG_CELLS: usize = 1 << 25;

/// Joins three or more labels into a series name (one label is the name; two are `SRC->DST`).
pub const LABEL_SEPARATOR: &str = "/";

/// Where a long trace's labels and value are (0-based column indices).
#[derive(Debug)]
pub(super) struct Layout {
    labels: Vec<usize>,
    value: usize,
}

/// What a column after the time column holds.
enum Kind {
    /// Text and no number: a label column (the first text cell's line and text).
    Labels(usize, String),
    /// At least one number, or a date-time where the wide reader wants a time.
    Values,
    /// Only missing cells.
    Empty,
}

fn kind(frame: &Frame, col: usize) -> Kind {
    let mut first_text = None;
    for (line, cells) in &frame.rows {
        let raw = cells.get(col).map_or("", String::as_str);
        match cell(raw, frame.delimiter) {
            Cell::Number(_) => return Kind::Values,
            // The wide reader says which times it reads (a file without a time column whose
            // first column holds unread date-times).
            Cell::Text if col == 0 && looks_like_time(raw) => return Kind::Values,
            // A number formatted for reading (`"1,234"`, `1.234,5`): a bad value, not a label.
            Cell::Text if formatted_number(raw) => return Kind::Values,
            Cell::Text => {
                first_text.get_or_insert_with(|| (*line, raw.trim().to_string()));
            }
            Cell::Missing => {}
        }
    }
    first_text.map_or(Kind::Empty, |(line, text)| Kind::Labels(line, text))
}

/// Whether `cell` is digits with signs and group or decimal separators, such as a spreadsheet
/// writes a number (`1,234`, `1.234,5`, `1 234`, `1'234`), and not an IPv4 address.
fn formatted_number(cell: &str) -> bool {
    let c = cell.trim();
    let number = c.bytes().any(|b| b.is_ascii_digit())
        && c.bytes()
            .all(|b| b.is_ascii_digit() || b" ,.'_+-".contains(&b));
    let ipv4 = c.parse::<std::net::Ipv4Addr>().is_ok();
    number && !ipv4
}

/// The long layout of `frame`, `None` when it is wide (no label column, no column with numbers,
/// or no time column and several: the wide reader names the text cell). A file with label
/// columns and one value column is refused without a time column, and one with a time column
/// and several value columns is refused as ambiguous.
pub(super) fn layout(frame: &Frame) -> Result<Option<Layout>, PredictError> {
    let mut labels = Vec::new();
    let mut values = Vec::new();
    let mut first_text = None;
    for (col, name) in frame.header.iter().enumerate() {
        if col < frame.first_data_column() {
            continue;
        }
        match kind(frame, col) {
            Kind::Labels(line, text) => {
                first_text.get_or_insert((col, line, text));
                labels.push(col);
            }
            Kind::Values => values.push(col),
            // A trailing delimiter, dropped as the wide reader drops it.
            Kind::Empty if name.trim().is_empty() => {}
            Kind::Empty => values.push(col),
        }
    }
    let Some((col, line, value)) = first_text else {
        return Ok(None);
    };
    let refuse = |why: String| {
        Err(PredictError::LongLayout {
            line,
            column: col + 1,
            name: frame.header.get(col).map_or("", |h| h.trim()).to_string(),
            value: value.clone(),
            why,
        })
    };
    let columns = |cols: &[usize]| {
        cols.iter()
            .map(|&c| {
                let name = frame.header.get(c).map_or("", |h| h.trim());
                format!("{} ({name})", c + 1)
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (values.as_slice(), frame.has_time()) {
        ([value], true) => Ok(Some(Layout {
            labels,
            value: *value,
        })),
        ([_], false) => refuse(
            "it has no time column first (named `time`, `timestamp` or `epoch`, or holding \
             date-times): without one the rows of a series have no order"
                .into(),
        ),
        // Text and no number anywhere, or several numeric columns without a time: not long.
        ([], _) | (_, false) => Ok(None),
        (many, true) => refuse(format!(
            "columns {} hold numbers: a long file has exactly one value column, and its label \
             columns hold text and no number (columns {})",
            columns(many),
            columns(&labels)
        )),
    }
}

/// The series name of `labels`.
fn join(labels: &[&str]) -> String {
    match labels {
        [one] => (*one).to_string(),
        [src, dst] => format!("{src}->{dst}"),
        many => many.join(LABEL_SEPARATOR),
    }
}

/// Pivots the long trace `frame` laid out as `layout` to one column per series, in the order
/// the series first appear in the file, one row per distinct time, sorted.
pub(super) fn read(
    frame: &Frame,
    layout: &Layout,
    format: TraceFormat,
) -> Result<Trace, PredictError> {
    let mut names: Vec<String> = Vec::new();
    // The line and labels that made each name first, to refuse other labels making it too.
    let mut made: Vec<(usize, Vec<String>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut times: HashSet<i64> = HashSet::new();
    // Per row of the file: its time, series and value.
    let mut obs: Vec<(i64, usize, Option<f64>)> = Vec::with_capacity(frame.rows.len());
    let mut labels: Vec<&str> = Vec::with_capacity(layout.labels.len());
    for (line, cells) in &frame.rows {
        let line = *line;
        frame.check_width(line, cells)?;
        let t = frame.time(line, cells.get(frame.lead).map_or("", String::as_str))?;
        labels.clear();
        for &col in &layout.labels {
            let label = cells.get(col).map_or("", |c| c.trim());
            if label.is_empty() {
                return Err(PredictError::EmptyLabel {
                    line,
                    column: col + 1,
                    name: frame.header.get(col).map_or("", |h| h.trim()).to_string(),
                });
            }
            labels.push(label);
        }
        let name = join(&labels);
        let series = match index.get(&name) {
            Some(&s) => {
                if let Some((earlier_line, earlier)) = made.get(s).filter(|(_, e)| *e != labels) {
                    return Err(PredictError::LabelCollision {
                        line,
                        name,
                        labels: labels.iter().map(|l| (*l).to_string()).collect(),
                        earlier_line: *earlier_line,
                        earlier: earlier.clone(),
                    });
                }
                s
            }
            None => {
                let s = names.len();
                index.insert(name.clone(), s);
                made.push((line, labels.iter().map(|l| (*l).to_string()).collect()));
                names.push(name);
                s
            }
        };
        times.insert(t);
        if names.len().saturating_mul(times.len()) > MAX_LONG_CELLS {
            return Err(PredictError::LongTooLarge {
                line,
                series: names.len(),
                intervals: times.len(),
                cap: MAX_LONG_CELLS,
            });
        }
        let raw = cells.get(layout.value).map_or("", String::as_str);
        let value = match cell(raw, frame.delimiter) {
            Cell::Missing => None,
            Cell::Number(v) => Some(v),
            Cell::Text => {
                return Err(PredictError::BadCell {
                    line,
                    column: layout.value + 1,
                    series: names.get(series).cloned().unwrap_or_default(),
                    value: raw.trim().to_string(),
                })
            }
        };
        obs.push((t, series, value));
    }
    refuse_repeats(frame, &obs, &names)?;
    refuse_one_row_a_time(frame, layout, &obs, times.len(), names.len())?;
    let mut times: Vec<i64> = times.into_iter().collect();
    times.sort_unstable();
    let mut columns = vec![vec![None; times.len()]; names.len()];
    for &(t, series, value) in &obs {
        let cell = times
            .binary_search(&t)
            .ok()
            .and_then(|i| columns.get_mut(series)?.get_mut(i));
        if let Some(cell) = cell {
            *cell = value;
        }
    }
    let detected = if names.iter().any(|n| n.contains("->")) {
        TraceFormat::Abilene
    } else {
        TraceFormat::Csv
    };
    super::choose_format(format, detected)?;
    let mut trace = Trace {
        names,
        times: Some(times),
        columns,
    };
    trace.regrid();
    Ok(trace)
}

/// Refuses labels that change from row to row while every time has one row only: a wide file
/// with a text column beside its value (`time,status,value`, a note per row) would otherwise be
/// split into one sparse series per status, where a long file names several series at a time.
fn refuse_one_row_a_time(
    frame: &Frame,
    layout: &Layout,
    obs: &[(i64, usize, Option<f64>)],
    times: usize,
    series: usize,
) -> Result<(), PredictError> {
    if series < 2 || obs.len() != times {
        return Ok(());
    }
    // The first row of the second series, where the labels first change.
    let Some(row) = obs.iter().position(|&(_, s, _)| s == 1) else {
        return Ok(());
    };
    let (line, cells) = frame
        .rows
        .get(row)
        .map_or((0, None), |(l, c)| (*l, Some(c)));
    let column = layout.labels.first().copied().unwrap_or_default();
    Err(PredictError::LongLayout {
        line,
        column: column + 1,
        name: frame
            .header
            .get(column)
            .map_or("", |h| h.trim())
            .to_string(),
        value: cells
            .and_then(|c| c.get(column))
            .map_or("", |c| c.trim())
            .to_string(),
        why: format!(
            "its labels change from row to row ({series} label sets) but no time has more than \
             one row, so they do not name series side by side: a text column beside one value \
             (a status or a note) is not a series name; drop it, or give each series a row at \
             the same times"
        ),
    })
}

/// Refuses one series at one time on two rows (`obs[i]` is row `i` of `frame`), naming the
/// earliest repeat in the file and the row it repeats.
fn refuse_repeats(
    frame: &Frame,
    obs: &[(i64, usize, Option<f64>)],
    names: &[String],
) -> Result<(), PredictError> {
    let key = |i: usize| obs.get(i).map(|&(t, s, _)| (s, t));
    let mut order: Vec<usize> = (0..obs.len()).collect();
    order.sort_unstable_by_key(|&i| (key(i), i));
    let repeat = order
        .windows(2)
        .filter(|w| key(w[0]) == key(w[1]))
        .map(|w| (w[0], w[1]))
        .min_by_key(|&(_, later)| later);
    let Some((earlier, later)) = repeat else {
        return Ok(());
    };
    let line = |i: usize| frame.rows.get(i).map_or(0, |r| r.0);
    let series = obs.get(later).and_then(|o| names.get(o.1)).cloned();
    let time = frame
        .rows
        .get(later)
        .and_then(|(_, c)| c.get(frame.lead))
        .map(|c| c.trim().to_string());
    Err(PredictError::DuplicateObservation {
        line: line(later),
        earlier_line: line(earlier),
        series: series.unwrap_or_default(),
        time: time.unwrap_or_default(),
    })
}
