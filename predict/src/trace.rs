//! Trace parsing: one column per series, one row per interval, from any `Read`.
//!
//! Formats: `abilene` (SNDlib traffic matrix: `time` column `YYYY-MM-DDTHH:MM`, then `SRC->DST`
//! columns), `isp` (`Time` column `YYYY-MM-DD HH:MM:SS`, one value column whose header is a
//! description, a trailing empty column) and plain `csv` (optional leading time column, then named
//! numeric columns). `auto` recognises them by their header. An empty cell is a missing
//! observation and stays missing (`None`); a column with neither a name nor any value is dropped.

use crate::PredictError;
use std::io::{BufRead, BufReader, Read};
use std::str::FromStr;

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
    /// `columns[series][row]`, `None` where the cell was empty.
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

    /// Number of missing cells.
    pub fn missing(&self) -> usize {
        self.columns
            .iter()
            .flatten()
            .filter(|c| c.is_none())
            .count()
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DD[T ]HH:MM[:SS]` into seconds since the epoch (UTC).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim().trim_matches('"');
    let (date, time) = s.split_once(['T', ' '])?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi) = (t.next()??, t.next()??);
    let sec = t.next().flatten().unwrap_or(0);
    let valid = (1..=12).contains(&mo) && (1..=31).contains(&da) && h < 24 && mi < 60 && sec < 61;
    valid.then(|| days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + sec)
}

fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn detect(header: &[String], first_row: Option<&Vec<String>>) -> TraceFormat {
    let first = header.first().map(|s| s.trim().to_ascii_lowercase());
    let has_time = first.as_deref() == Some("time")
        || first_row
            .and_then(|r| r.first())
            .and_then(|c| parse_timestamp(c))
            .is_some();
    if has_time && header.iter().skip(1).any(|h| h.contains("->")) {
        TraceFormat::Abilene
    } else if has_time && header.len() <= 3 && header.get(1).is_some_and(|h| h.len() > 40) {
        TraceFormat::Isp
    } else {
        TraceFormat::Csv
    }
}

/// Reads a trace in `format` from `input`.
pub fn read_trace<R: Read>(input: R, format: TraceFormat) -> Result<Trace, PredictError> {
    let mut lines = BufReader::new(input).lines().enumerate();
    let header = loop {
        match lines.next() {
            None => return Err(PredictError::EmptyTrace),
            Some((_, l)) => {
                let l = l.map_err(|e| PredictError::Io(e.to_string()))?;
                if !l.trim().is_empty() {
                    break split_csv(l.trim_end_matches('\r'));
                }
            }
        }
    };
    let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
    for (i, l) in lines {
        let l = l.map_err(|e| PredictError::Io(e.to_string()))?;
        let l = l.trim_end_matches('\r');
        if !l.trim().is_empty() {
            rows.push((i + 1, split_csv(l)));
        }
    }
    let detected = detect(&header, rows.first().map(|r| &r.1));
    let format = match format {
        TraceFormat::Auto => detected,
        TraceFormat::Abilene if detected != TraceFormat::Abilene => {
            return Err(PredictError::FormatMismatch {
                format: "abilene",
                why: "expected a time column then SRC->DST columns".into(),
            })
        }
        TraceFormat::Isp if detected != TraceFormat::Isp => {
            return Err(PredictError::FormatMismatch {
                format: "isp",
                why: "expected `Time`, a description and a trailing empty column".into(),
            })
        }
        f => f,
    };
    let time_header = header.first().is_some_and(|h| {
        ["time", "timestamp", "epoch"]
            .iter()
            .any(|n| h.trim().eq_ignore_ascii_case(n))
    });
    let time_col = match format {
        TraceFormat::Abilene | TraceFormat::Isp => true,
        _ => {
            time_header
                || rows
                    .first()
                    .and_then(|r| r.1.first())
                    .and_then(|c| parse_timestamp(c))
                    .is_some()
        }
    };
    let skip = usize::from(time_col);
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
    for (line, cells) in &rows {
        // A trailing empty column shows up as one extra empty cell; anything else is ragged.
        let expected = header.len();
        if cells.len() != expected
            && !(cells.len() == expected + 1 && cells.last().is_some_and(|c| c.trim().is_empty()))
        {
            return Err(PredictError::RaggedRow {
                line: *line,
                expected,
                found: cells.len(),
            });
        }
        if time_col {
            let c = cells.first().map(String::as_str).unwrap_or("");
            let t = parse_timestamp(c)
                .or_else(|| time_header.then(|| parse_epoch(c)).flatten())
                .ok_or_else(|| PredictError::BadTimestamp {
                    line: *line,
                    value: c.to_string(),
                })?;
            times.push(t);
        }
        for (j, col) in columns.iter_mut().enumerate() {
            let cell = cells.get(j + skip).map(|c| c.trim()).unwrap_or("");
            if cell.is_empty() {
                col.push(None);
                continue;
            }
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => col.push(Some(v)),
                _ => {
                    return Err(PredictError::BadCell {
                        line: *line,
                        column: j + skip + 1,
                        series: names.get(j).cloned().unwrap_or_default(),
                        value: cell.to_string(),
                    })
                }
            }
        }
    }
    // Drop columns with no name and no value (trailing commas).
    let keep: Vec<bool> = names
        .iter()
        .zip(&columns)
        .map(|(n, c)| !n.is_empty() || c.iter().any(Option::is_some))
        .collect();
    let mut k = keep.iter();
    names.retain(|_| k.next().copied().unwrap_or(true));
    let mut k = keep.iter();
    columns.retain(|_| k.next().copied().unwrap_or(true));
    if columns.is_empty() {
        return Err(PredictError::NoSeries { header });
    }
    let mut trace = Trace {
        names,
        times: time_col.then_some(times),
        columns,
    };
    trace.regrid();
    Ok(trace)
}

/// Parses seconds (or milliseconds, when too large for seconds) since the epoch.
fn parse_epoch(s: &str) -> Option<i64> {
    let v: f64 = s.trim().trim_matches('"').parse().ok()?;
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    // Past the year 5138 in seconds: the column counts milliseconds.
    let secs = if v >= 1e11 { v / 1000.0 } else { v };
    Some(secs.floor() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abilene_style_with_missing_cells() {
        let src = "time,A->B,B->A\n2004-03-01T00:00,1.5,\n2004-03-01T00:05,2,3\n";
        let t = read_trace(src.as_bytes(), TraceFormat::Auto).expect("parses");
        assert_eq!(t.names, vec!["A->B", "B->A"]);
        assert_eq!(t.columns[1], vec![None, Some(3.0)]);
        assert_eq!(t.interval_secs(), Some(300));
        assert_eq!(t.missing(), 1);
        assert_eq!(t.times.as_ref().map(|v| v[0]), Some(1_078_099_200));
    }

    #[test]
    fn a_time_column_alone_is_no_series() {
        // Found by the trace_reader fuzz target: a time per row and no column to forecast.
        let err = read_trace("time\n9\n".as_bytes(), TraceFormat::Auto).expect_err("no series");
        assert_eq!(
            err,
            PredictError::NoSeries {
                header: vec!["time".into()]
            }
        );
        assert!(read_trace("time,,\n2004-03-01T00:00,,\n".as_bytes(), TraceFormat::Auto).is_err());
    }

    #[test]
    fn isp_style_header_and_trailing_column() {
        let desc =
            "Internet traffic data (in bits) from an ISP. Aggregated traffic, long description.";
        let src = format!(
            "Time,\"{desc}\",\n2004-11-19 09:30:00,4838.665,\n2004-11-19 09:35:00,4845.177,\n"
        );
        let t = read_trace(src.as_bytes(), TraceFormat::Isp).expect("parses");
        assert_eq!(t.names, vec!["traffic"]);
        assert_eq!(t.columns[0], vec![Some(4838.665), Some(4845.177)]);
        assert!(read_trace(src.as_bytes(), TraceFormat::Abilene).is_err());
    }

    #[test]
    fn skipped_snapshots_become_empty_rows_and_epoch_times_parse() {
        let src = "time,a->b\n2004-03-01T00:00,1\n2004-03-01T00:05,2\n2004-03-01T00:20,5\n2004-03-01T00:25,6\n";
        let t = read_trace(src.as_bytes(), TraceFormat::Auto).expect("parses");
        assert_eq!(t.rows(), 6);
        assert_eq!(
            t.columns[0],
            vec![Some(1.0), Some(2.0), None, None, Some(5.0), Some(6.0)]
        );
        let epoch = "timestamp,x\n1700000000,1\n1700000060,2\n1700000120,3\n1700000240,4\n";
        let t = read_trace(epoch.as_bytes(), TraceFormat::Auto).expect("parses");
        assert_eq!(t.interval_secs(), Some(60));
        assert_eq!(
            t.columns[0],
            vec![Some(1.0), Some(2.0), Some(3.0), None, Some(4.0)]
        );
        let ms = "time,x\n1700000000000,1\n1700000001000,2\n";
        let t = read_trace(ms.as_bytes(), TraceFormat::Auto).expect("parses");
        assert_eq!(t.interval_secs(), Some(1));
    }

    #[test]
    fn bad_cells_say_where() {
        let err = read_trace("a,b\n1,x\n".as_bytes(), TraceFormat::Csv).expect_err("bad");
        assert_eq!(
            err,
            PredictError::BadCell {
                line: 2,
                column: 2,
                series: "b".into(),
                value: "x".into()
            }
        );
        let err = read_trace("a,b\n1\n".as_bytes(), TraceFormat::Csv).expect_err("ragged");
        assert!(matches!(err, PredictError::RaggedRow { line: 2, .. }));
        let t = read_trace("a,b\n1,2\n3,4\n".as_bytes(), TraceFormat::Auto).expect("plain");
        assert_eq!(t.times, None);
    }
}
