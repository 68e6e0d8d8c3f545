//! Tests of the trace reader: the formats it has always read, and what real exports look like.

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
    let desc = "Internet traffic data (in bits) from an ISP. Aggregated traffic, long description.";
    let src =
        format!("Time,\"{desc}\",\n2004-11-19 09:30:00,4838.665,\n2004-11-19 09:35:00,4845.177,\n");
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
    // (`b` holds a number too: a column of text alone is a long file's labels.)
    let err = read_trace("a,b\n1,x\n2,3\n".as_bytes(), TraceFormat::Csv).expect_err("bad");
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

/// 2004-03-01T00:00:00Z.
const MARCH_1: i64 = 1_078_099_200;

fn read(src: &str) -> Result<Trace, PredictError> {
    read_trace(src.as_bytes(), TraceFormat::Auto)
}

#[test]
fn missing_markers_of_common_exports_are_missing_cells() {
    let src = "time,a,b\n\
               2004-03-01T00:00,NaN,nan\n\
               2004-03-01T00:05,NA,N/A\n\
               2004-03-01T00:10,null,None\n\
               2004-03-01T00:15,-,?\n\
               2004-03-01T00:20,#N/A,NULL\n\
               2004-03-01T00:25,-1.5,2\n";
    let t = read(src).expect("parses");
    assert_eq!(t.rows(), 6);
    assert_eq!(t.missing(), 10);
    assert_eq!(t.columns[0][5], Some(-1.5));
    // Infinities and words are still not numbers.
    for bad in ["inf", "-Infinity", "n.a.", "5 Mbps"] {
        let err = read(&format!("a\n1\n{bad}\n")).expect_err(bad);
        assert!(
            matches!(&err, PredictError::BadCell { line: 3, column: 1, value, .. } if value == bad),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn time_columns_are_recognised_by_their_common_names() {
    for name in [
        "ts",
        "date",
        "datetime",
        "unix_time",
        "time_s",
        "Time (UTC)",
        "EPOCH_MS",
    ] {
        let src = format!("{name},x\n1700000000,1\n1700000060,2\n1700000120,3\n");
        let t = read(&src).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(t.names, vec!["x"], "{name}");
        assert_eq!(
            t.times,
            Some(vec![1_700_000_000, 1_700_000_060, 1_700_000_120])
        );
        let iso = format!("{name},x\n2004-03-01 00:00,1\n2004-03-01 00:05,2\n");
        assert_eq!(
            read(&iso).expect("parses").interval_secs(),
            Some(300),
            "{name}"
        );
    }
    // Seconds from the start of a capture rise in file order.
    let t = read("time_s,x\n0,1\n300,2\n600,3\n").expect("parses");
    assert_eq!(t.times, Some(vec![0, 300, 600]));
    // A numeric series whose name contains `time` is a series, not a clock.
    let t = read("response_time,x\n0.5,1\n0.25,2\n0.5,3\n").expect("parses");
    assert_eq!(t.names, vec!["response_time", "x"]);
    assert_eq!(t.times, None);
    // A date column that is neither a date nor a number says which cell is wrong.
    let err = read("date,x\n2004-03-01,1\n01/03/2004,2\n").expect_err("US date");
    assert_eq!(
        err,
        PredictError::BadTimestamp {
            line: 3,
            column: 1,
            value: "01/03/2004".into()
        }
    );
}

#[test]
fn timestamps_honour_offsets_and_fractions_and_refuse_garbage() {
    let same = [
        "2004-03-01T00:00",
        "2004-03-01 00:00:00",
        "2004-03-01T00:00:00.000Z",
        "2004-03-01T00:00:00.4Z",
        "2004-02-29T23:59:59.5",
        "2004-03-01 01:00:00+01:00",
        "2004-03-01T01:00:00+0100",
        "2004-03-01T01:00+01",
        "2004-02-29T19:00:00-05:00",
        "2004-03-01 00:00:00 UTC",
        "2004/03/01 00:00",
        "2004-03-01",
        "01.03.2004 00:00",
        "1.3.2004",
    ];
    for s in same {
        assert_eq!(parse_timestamp(s), Some(MARCH_1), "{s}");
    }
    // The seconds of a zoned time count (they were dropped with the zone).
    assert_eq!(
        parse_timestamp("2004-03-01T12:30:45Z"),
        Some(MARCH_1 + 45_045)
    );
    for garbage in [
        "2004-03-01T00:00:00abc",
        "2004-03-01T00:00 CET",
        "2004-03-01T00:00:00:00",
        "2004-02-30 00:00",
        "2003-02-29",
        "2004-03-01T24:00",
        "2004-03-01T00:00+25:00",
        "2004-03-01T00:00:00.",
        "9000000000000000000-01-01T00:00",
        "04-03-01 00:00",
        "2004-03-01 00:00 tomorrow",
        "30.02.2004",
        "01.13.2004 00:00",
        "01.03.04 00:00",
        "2004.03.01",
        "1.5",
    ] {
        assert_eq!(parse_timestamp(garbage), None, "{garbage}");
    }
    let t = read("time,x\n2004-03-01T00:00:00Z,1\n2004-03-01T01:05:00+01:00,2\n").expect("zoned");
    assert_eq!(t.times, Some(vec![MARCH_1, MARCH_1 + 300]));
}

#[test]
fn times_past_the_year_9999_are_refused_not_overflowed() {
    for src in [
        "time,a\n9000000000000000000-01-01T00:00,1\n",
        "time,a\n1e300,1\n0001-01-01T00:00,2\n",
    ] {
        let err = read(src).expect_err(src);
        assert!(
            matches!(err, PredictError::BadTimestamp { line: 2, .. }),
            "{err:?}"
        );
    }
}

#[test]
fn semicolon_and_tab_files_are_split_by_their_delimiter() {
    let t = read("time;a;b\n2004-03-01 00:00;1,5;2\n2004-03-01 00:05;3;\n").expect("semicolon");
    assert_eq!(t.names, vec!["a", "b"]);
    assert_eq!(
        t.columns,
        vec![vec![Some(1.5), Some(3.0)], vec![Some(2.0), None]]
    );
    let t = read("timestamp\ta\tb\n1700000000\t0,25\tNaN\n1700000300\t1\t2\n").expect("tab");
    assert_eq!(t.names, vec!["a", "b"]);
    assert_eq!(t.columns[0], vec![Some(0.25), Some(1.0)]);
    assert_eq!(t.interval_secs(), Some(300));
    // A quoted comma in a comma file is not a decimal comma, nor is a thousands separator.
    assert_bad_cell_at_line_2_column_1(read("a,b\n\"1,5\",2\n").expect_err("quoted comma"));
    assert_bad_cell_at_line_2_column_1(read("a;b\n1.234,5;2\n").expect_err("thousands"));
    // Excel's `sep=` line names the delimiter and is not the header.
    let t = read("sep=;\na;b\n1;2\n").expect("sep line");
    assert_eq!(t.names, vec!["a", "b"]);
    assert_eq!(t.columns[1], vec![Some(2.0)]);
}

#[test]
fn byte_order_marks_and_encodings() {
    let t = read("\u{feff}timestamp,a,b\n1700000000,1,2\n").expect("BOM");
    assert_eq!(t.names, vec!["a", "b"]);
    assert_eq!(t.times, Some(vec![1_700_000_000]));
    // Excel's "Unicode text": UTF-16LE with its mark, tab separated.
    let mut utf16 = vec![0xFF, 0xFE];
    for u in "time\tdébit\r\n2004-03-01 00:00\t1,5\r\n".encode_utf16() {
        utf16.extend(u.to_le_bytes());
    }
    let t = read_trace(utf16.as_slice(), TraceFormat::Auto).expect("UTF-16");
    assert_eq!(t.names, vec!["débit"]);
    assert_eq!(t.columns[0], vec![Some(1.5)]);
    // Latin-1 text is refused where it stops being UTF-8.
    let latin1 = b"time,a\n2004-03-01 00:00,1\n2004-03-01 00:05,2 \xE9\n";
    let err = read_trace(&latin1[..], TraceFormat::Auto).expect_err("latin-1");
    assert!(
        matches!(err, PredictError::Encoding { line: 3, .. }),
        "{err:?}"
    );
}

#[test]
fn rows_out_of_order_are_sorted_and_repeated_times_refused() {
    let src = "time,a\n2004-03-01T00:10,3\n2004-03-01T00:00,1\n2004-03-01T00:05,2\n";
    let t = read(src).expect("parses");
    assert_eq!(t.times, Some(vec![MARCH_1, MARCH_1 + 300, MARCH_1 + 600]));
    assert_eq!(t.columns[0], vec![Some(1.0), Some(2.0), Some(3.0)]);
    let src = "time,a\n2004-03-01T00:00,1\n2004-03-01T00:05,2\n2004-03-01T00:00,9\n";
    assert_eq!(
        read(src).expect_err("repeat"),
        PredictError::DuplicateTime {
            line: 4,
            earlier_line: 2,
            value: "2004-03-01T00:00".into()
        }
    );
    // Rows under a second apart land on the same whole second.
    let src = "time,a\n2004-03-01T00:00:00.2,1\n2004-03-01T00:00:00.4,2\n";
    assert!(matches!(
        read(src).expect_err("sub-second"),
        PredictError::DuplicateTime { line: 3, .. }
    ));
    // The same instant written in two zones is a repeat too.
    let src = "time,a\n2004-03-01T01:00+01:00,1\n\n2004-03-01T00:00Z,2\n";
    assert!(matches!(
        read(src).expect_err("same instant"),
        PredictError::DuplicateTime {
            line: 4,
            earlier_line: 2,
            ..
        }
    ));
}

#[test]
fn header_names_must_be_unique_and_unnamed_columns_get_numbers() {
    assert_eq!(
        read("time,A->B,B->A,A->B\n2004-03-01T00:00,1,2,3\n").expect_err("twice"),
        PredictError::DuplicateName {
            name: "A->B".into(),
            first: 2,
            second: 4
        }
    );
    let t = read("a,,b,\n1,2,3,\n").expect("unnamed");
    assert_eq!(t.names, vec!["a", "column 2", "b"]);
}

#[test]
fn quoted_fields_hold_delimiters_quotes_and_line_breaks() {
    let src = "time,\"a, \"\"the\"\" link\",\"b\nsecond line\"\r\n2004-03-01T00:00,\"1\",2\r\n";
    let t = read(src).expect("parses");
    assert_eq!(t.names, vec!["a, \"the\" link", "b\nsecond line"]);
    assert_eq!(t.columns, vec![vec![Some(1.0)], vec![Some(2.0)]]);
    assert_eq!(
        read("a,b\n1,2\n\"3,4\n5,6\n").expect_err("unclosed"),
        PredictError::UnclosedQuote { line: 3 }
    );
}

#[test]
fn line_ends_and_trailing_delimiters() {
    let lf = read("time,a\n2004-03-01T00:00,1\n2004-03-01T00:05,2\n").expect("LF");
    for src in [
        "time,a\r\n2004-03-01T00:00,1\r\n2004-03-01T00:05,2\r\n",
        "time,a\r2004-03-01T00:00,1\r2004-03-01T00:05,2\r",
        "time,a,\n2004-03-01T00:00,1\n2004-03-01T00:05,2\n",
        "time,a\n2004-03-01T00:00,1,\n2004-03-01T00:05,2,\n",
    ] {
        assert_eq!(read(src).expect("parses"), lf, "{src:?}");
    }
    let err = read("time,a\r\n2004-03-01T00:00,1\r\n2004-03-01T00:05\r\n").expect_err("ragged");
    assert!(
        matches!(err, PredictError::RaggedRow { line: 3, .. }),
        "{err:?}"
    );
}

#[test]
fn a_pandas_row_index_is_dropped() {
    let t = read(",time,a\n0,2004-03-01 00:00,5\n1,2004-03-01 00:05,6\n").expect("index");
    assert_eq!(t.names, vec!["a"]);
    assert_eq!(t.interval_secs(), Some(300));
    let t = read("Unnamed: 0,a,b\n0,5,6\n1,7,8\n").expect("index");
    assert_eq!(t.names, vec!["a", "b"]);
    // R's `write.csv` row names count from 1 under an empty header name.
    let t = read("\"\",\"time\",\"a\"\n\"1\",2004-03-01 00:00,5\n\"2\",2004-03-01 00:05,6\n\"3\",2004-03-01 00:10,7\n")
        .expect("R row names");
    assert_eq!(t.names, vec!["a"]);
    assert_eq!(t.interval_secs(), Some(300));
    // Two numbers from 1 are too few to call row names: a series.
    let t = read(",a\n1,5\n2,6\n").expect("series");
    assert_eq!(t.names, vec!["column 1", "a"]);
    // An unnamed column that does not count the rows is a series.
    let t = read(",a\n1,5\n3,6\n2,7\n").expect("series");
    assert_eq!(t.names, vec!["column 1", "a"]);
}

#[test]
fn a_file_without_a_header_is_refused_not_shortened() {
    let src = "\n2004-03-01 00:00,5\n2004-03-01 00:05,6\n";
    assert_eq!(
        read(src).expect_err("headerless"),
        PredictError::NoHeader {
            line: 2,
            value: "2004-03-01 00:00".into()
        }
    );
}

fn assert_bad_cell_at_line_2_column_1(err: PredictError) {
    assert!(
        matches!(
            err,
            PredictError::BadCell {
                line: 2,
                column: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_european_spreadsheet_export_reads_and_an_ambiguous_date_says_what_is_read() {
    // `;`-separated, decimal commas, day-first dotted dates under a German header.
    let t = read("Zeit;Wert\n01.03.2004 00:05;1,5\n01.03.2004 00:00;2\n").expect("dotted dates");
    assert_eq!(t.times, Some(vec![MARCH_1, MARCH_1 + 300]));
    assert_eq!(t.columns, vec![vec![Some(2.0), Some(1.5)]]);
    // Month or day first? Refused, and the error lists the times it reads instead of calling
    // the date "not a number".
    let e = read("Zeit,Wert\n03/01/2005 00:00,1\n").expect_err("ambiguous");
    assert!(
        matches!(
            e,
            PredictError::BadTimestamp {
                line: 2,
                column: 1,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("DD.MM.YYYY"), "{e}");
    // So is a first column of numbers with thousands separators.
    let e = read("a;b\n1.234.567;1\n").expect_err("thousands");
    assert!(matches!(e, PredictError::BadCell { column: 1, .. }), "{e}");
    // A word in a value column is still "not a number".
    let e = read("time,x\n2004-03-01T00:00,n/a!\n").expect_err("text");
    assert!(matches!(e, PredictError::BadCell { column: 2, .. }), "{e}");
}

#[test]
fn a_column_numbering_the_rows_is_neither_a_series_nor_a_time() {
    // `step,a` counting 1, 2, 3 was a second series (a ramp added to every total); `time,a`
    // counting 0, 1, 2 was read as epochs one second apart in 1970.
    for header in ["step", "t", "time", "ts", "index", "n", "#", "Unnamed: 0"] {
        for first in [0, 1] {
            if header == "Unnamed: 0" && first == 1 {
                continue;
            }
            let src: String = format!("{header},a\n")
                + &(0..5)
                    .map(|i| format!("{},{}\n", first + i, 10 + i))
                    .collect::<String>();
            let t = read(&src).expect("reads");
            assert_eq!(t.names, vec!["a"], "{header} from {first}");
            assert_eq!(t.times, None, "{header} from {first}");
            assert_eq!(t.columns[0][4], Some(14.0), "{header} from {first}");
        }
    }
    // A named column that does not count the rows stays what it was: a series, or a time.
    let t = read("n,a\n0,5\n1,6\n3,7\n").expect("series");
    assert_eq!(t.names, vec!["n", "a"]);
    let t = read("step,a\n1,5\n2,6\n").expect("two rows could be data");
    assert_eq!(t.names, vec!["step", "a"]);
}

#[test]
fn a_column_named_t_holding_epochs_is_the_time() {
    let t = read("t,a\n1704067200,5\n1704067500,6\n1704067800,7\n").expect("epochs");
    assert_eq!(t.names, vec!["a"]);
    assert_eq!(t.interval_secs(), Some(300));
    // A `t` that is a measurement (a temperature) stays a series.
    let t = read("t,a\n20.5,5\n19.75,6\n21,7\n").expect("series");
    assert_eq!(t.names, vec!["t", "a"]);
    assert_eq!(t.times, None);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("compressed in memory");
    enc.finish().expect("compressed in memory")
}

#[test]
fn a_gzip_trace_reads_as_the_plain_one() {
    let plain = "time,a->b,b->a\n2004-03-01T00:00,1,2\n2004-03-01T00:05,3,\n2004-03-01T00:10,5,6\n";
    let want = read_trace(plain.as_bytes(), TraceFormat::Auto).expect("plain");
    let got = read_trace(&gzip(plain.as_bytes())[..], TraceFormat::Auto).expect("gzip");
    assert_eq!(got.names, want.names);
    assert_eq!(got.columns, want.columns);
    assert_eq!(got.times, want.times);
    // Concatenated members (`cat a.gz b.gz`) read as one file, as `gzip -d` reads them.
    let (head, tail) = plain.split_at(plain.find("2004-03-01T00:05").expect("row"));
    let two = [gzip(head.as_bytes()), gzip(tail.as_bytes())].concat();
    let got = read_trace(&two[..], TraceFormat::Auto).expect("two members");
    assert_eq!(got.columns, want.columns);
}

#[test]
fn a_broken_or_inflating_gzip_trace_is_refused() {
    let mut cut = gzip(b"time,a\n2004-03-01T00:00,1\n");
    cut.truncate(cut.len() - 6);
    let err = read_trace(&cut[..], TraceFormat::Auto)
        .expect_err("truncated")
        .to_string();
    assert!(
        err.contains("gzip-compressed") && err.contains("does not decompress"),
        "{err}"
    );
    let bomb = gzip(&vec![b'0'; 1 << 16]);
    assert!(bomb.len() < 1 << 10, "zeros compress");
    match super::gunzip(&bomb, 1 << 12) {
        Err(PredictError::Inflated { limit }) => assert_eq!(limit, 1 << 12),
        other => panic!("a 64 KiB inflation past a 4 KiB limit: {other:?}"),
    }
    assert_eq!(
        super::gunzip(&bomb, 1 << 16).map(|b| b.len()).ok(),
        Some(1 << 16)
    );
}

#[test]
fn a_matrix_snapshot_missing_from_the_source_stays_unknown_when_empty_cells_are_zero() {
    // Twelve pairs, each with some omitted (zero) demands; 00:10 is an empty row and 00:25 is
    // absent (put back by the reader): neither is the whole network falling silent.
    let mut csv = String::from("time");
    for j in 0..12 {
        csv.push_str(&format!(",A{j}->B{j}"));
    }
    csv.push('\n');
    for m in (0..60).step_by(5).filter(|&m| m != 25) {
        csv.push_str(&format!("2004-03-01T00:{m:02}"));
        for j in 0..12 {
            let empty = m == 10 || (m / 5 + j) % 4 == 0;
            csv.push_str(if empty { "," } else { ",7" });
        }
        csv.push('\n');
    }
    let mut t = read_trace(csv.as_bytes(), TraceFormat::Auto).expect("matrix");
    assert_eq!(t.rows(), 12);
    assert_eq!(t.fill_empty_as_zero(), 2);
    for c in &t.columns {
        assert_eq!(c[2], None, "the empty row");
        assert_eq!(c[5], None, "the absent row");
        assert!(c
            .iter()
            .enumerate()
            .all(|(r, v)| r == 2 || r == 5 || v.is_some()));
    }
    assert_eq!(t.columns[0][0], Some(0.0), "an omitted demand is zero");
    assert_eq!(t.columns[1][0], Some(7.0));

    // Two sparse counters, each empty in most rows: both empty at once is a quiet interval.
    let mut sparse = Trace {
        names: vec!["a->b".into(), "b->a".into()],
        times: None,
        columns: vec![
            vec![Some(1.0), None, None, None, Some(2.0), None],
            vec![None, Some(3.0), None, None, None, None],
        ],
    };
    assert_eq!(sparse.fill_empty_as_zero(), 0);
    assert_eq!(sparse.columns[0][2], Some(0.0));
    assert_eq!(sparse.columns[1][3], Some(0.0));
}
