//! Tests of long (tidy) traces: each reads as the wide file a `pivot` of it gives, and what
//! cannot be pivoted without a guess is refused with the line, column and text.

use super::*;

fn read(src: &str) -> Result<Trace, PredictError> {
    read_trace(src.as_bytes(), TraceFormat::Auto)
}

/// A flow aggregate over four five-minute intervals of March 2004: `a->b` at every time,
/// `b->a` absent at the second and empty (`NaN`) at the fourth, `a->c` from the third on;
/// rows out of time order. Times as `time` gives them, fields split by `d`.
fn flows(d: &str, time: impl Fn(i64) -> String) -> String {
    let rows = [
        (0, "a", "b", "10"),
        (2, "a", "b", "12"),
        (0, "b", "a", "5"),
        (1, "a", "b", "11"),
        (2, "a", "c", "7"),
        (2, "b", "a", "6"),
        (3, "a", "c", "8"),
        (3, "b", "a", "NaN"),
        (3, "a", "b", "13"),
    ];
    let mut s = ["time", "src", "dst", "bytes"].join(d) + "\n";
    for (i, src, dst, v) in rows {
        s += &[time(i).as_str(), src, dst, v].join(d);
        s.push('\n');
    }
    s
}

/// The same data as a wide file, series in the order they first appear in the long file.
fn flows_wide(d: &str, time: impl Fn(i64) -> String) -> String {
    let rows = [
        ["10", "5", ""],
        ["11", "", ""],
        ["12", "6", "7"],
        ["13", "", "8"],
    ];
    let mut s = ["time", "a->b", "b->a", "a->c"].join(d) + "\n";
    for (i, cells) in rows.iter().enumerate() {
        s += &time(i as i64);
        for c in cells {
            s += d;
            s += c;
        }
        s.push('\n');
    }
    s
}

/// 2004-03-01T00:00:00Z.
const MARCH_1: i64 = 1_078_099_200;

#[test]
fn a_long_file_reads_as_its_pivoted_wide_file() {
    let iso = |i: i64| format!("2004-03-01T00:{:02}", 5 * i);
    let epoch = |i: i64| (MARCH_1 + 300 * i).to_string();
    let zoned = |i: i64| format!("2004-03-01 01:{:02}:00+01:00", 5 * i);
    for d in [",", ";", "\t"] {
        let wide = read(&flows_wide(d, iso)).expect("wide");
        for (times, src) in [
            ("iso", flows(d, iso)),
            ("epoch", flows(d, epoch)),
            ("offset", flows(d, zoned)),
        ] {
            let long = read(&src).unwrap_or_else(|e| panic!("{d:?} {times}: {e}"));
            assert_eq!(long, wide, "{d:?} {times}");
        }
    }
    let t = read(&flows(",", iso)).expect("long");
    assert_eq!(t.names, vec!["a->b", "b->a", "a->c"]);
    assert_eq!(t.columns[1], vec![Some(5.0), None, Some(6.0), None]);
    assert_eq!(t.times, Some((0..4).map(|i| MARCH_1 + 300 * i).collect()));
    // A file Prescient reads as Abilene: SRC->DST series.
    assert!(read_trace(flows(",", iso).as_bytes(), TraceFormat::Abilene).is_ok());
    assert!(read_trace(flows(",", iso).as_bytes(), TraceFormat::Csv).is_ok());
    assert!(matches!(
        read_trace(flows(",", iso).as_bytes(), TraceFormat::Isp),
        Err(PredictError::FormatMismatch { .. })
    ));
}

#[test]
fn labels_name_series_and_the_value_column_may_stand_anywhere() {
    // One label: the label. Prometheus-style `instance` labels hold `:` and digits.
    let t = read("timestamp,instance,value\n1700000000,host:9100,1\n1700000000,db:9100,2\n1700000060,host:9100,3\n")
        .expect("one label");
    assert_eq!(t.names, vec!["host:9100", "db:9100"]);
    assert_eq!(t.columns[1], vec![Some(2.0), None]);
    // Three labels joined by `/`; the value first.
    let t = read("time,value,metric,instance,job\n2004-03-01 00:00,1.5,up,a,node\n2004-03-01 00:00,2,up,b,node\n")
        .expect("three labels");
    assert_eq!(t.names, vec!["up/a/node", "up/b/node"]);
    assert_eq!(t.columns, vec![vec![Some(1.5)], vec![Some(2.0)]]);
    // IPv4 addresses are labels, not numbers with thousands separators.
    let t = read("time,src,dst,bytes\n2004-03-01 00:00,10.0.0.1,192.168.100.200,5\n")
        .expect("addresses");
    assert_eq!(t.names, vec!["10.0.0.1->192.168.100.200"]);
}

#[test]
fn the_wide_readers_rules_hold_for_long_files() {
    // Byte-order mark, a pandas row index, quoted labels holding the delimiter, CRLF ends, a
    // trailing delimiter, a decimal comma in a `;` file.
    let src =
        "\u{feff},time,link,bytes,\r\n0,2004-03-01 00:00,\"x,y\",1,\r\n1,2004-03-01 00:00,z,2,\r\n";
    let t = read(src).expect("BOM, index, quotes");
    assert_eq!(t.names, vec!["x,y", "z"]);
    assert_eq!(t.columns, vec![vec![Some(1.0)], vec![Some(2.0)]]);
    let t = read("Zeit;Quelle;Ziel;Wert\n01.03.2004 00:05;a;b;1,5\n01.03.2004 00:00;a;b;2\n")
        .expect("European");
    assert_eq!(t.columns, vec![vec![Some(2.0), Some(1.5)]]);
    assert_eq!(t.times, Some(vec![MARCH_1, MARCH_1 + 300]));
    // An interval with no row at all becomes an empty row, as a skipped wide row does.
    let t = read(
        "time,s,v\n2004-03-01T00:00,a,1\n2004-03-01T00:05,a,2\n2004-03-01T00:15,a,4\n\
         2004-03-01T00:20,a,5\n",
    )
    .expect("skip");
    assert_eq!(
        t.columns[0],
        vec![Some(1.0), Some(2.0), None, Some(4.0), Some(5.0)]
    );
    // Cells that are not a time or not a number say where, naming the series.
    assert_eq!(
        read("time,s,v\n2004-03-01T00:00,a,1\nyesterday,a,2\n").expect_err("time"),
        PredictError::BadTimestamp {
            line: 3,
            column: 1,
            value: "yesterday".into()
        }
    );
    assert_eq!(
        read("time,src,dst,v\n2004-03-01T00:00,a,b,1\n2004-03-01T00:05,a,b,5 Mbps\n")
            .expect_err("value"),
        PredictError::BadCell {
            line: 3,
            column: 4,
            series: "a->b".into(),
            value: "5 Mbps".into()
        }
    );
    assert!(matches!(
        read("time,s,v\n2004-03-01T00:00,a,1\n2004-03-01T00:05,a\n").expect_err("ragged"),
        PredictError::RaggedRow { line: 3, .. }
    ));
}

#[test]
fn one_series_twice_at_one_time_is_refused_naming_both_lines() {
    let src = "time,src,dst,bytes\n\
               2004-03-01T00:00,a,b,1\n\
               2004-03-01T00:00,b,a,2\n\
               2004-03-01T00:05,a,b,3\n\
               2004-03-01T01:00+01:00,a,b,4\n";
    assert_eq!(
        read(src).expect_err("repeat"),
        PredictError::DuplicateObservation {
            line: 5,
            earlier_line: 2,
            series: "a->b".into(),
            time: "2004-03-01T01:00+01:00".into()
        }
    );
}

#[test]
fn what_cannot_be_pivoted_without_a_guess_is_refused() {
    // No time column: the order of a series' rows would be a guess.
    let e = read("src,dst,bytes\na,b,1\nb,a,2\n").expect_err("no time");
    assert!(
        matches!(&e, PredictError::LongLayout { line: 2, column: 1, name, value, .. }
            if name == "src" && value == "a"),
        "{e:?}"
    );
    assert!(e.to_string().contains("no time column"), "{e}");
    // Two numeric columns with labels: which is the value?
    let e = read("time,host,bytes,packets\n2004-03-01T00:00,a,1,2\n").expect_err("two values");
    assert!(
        matches!(
            &e,
            PredictError::LongLayout {
                line: 2,
                column: 2,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("columns 3 (bytes), 4 (packets)"),
        "{e}"
    );
    // An empty label.
    assert_eq!(
        read("time,src,dst,v\n2004-03-01T00:00,a,b,1\n2004-03-01T00:05,a, ,2\n")
            .expect_err("empty label"),
        PredictError::EmptyLabel {
            line: 3,
            column: 3,
            name: "dst".into()
        }
    );
    // Two different pairs of labels joined into one name would add up two pairs' traffic.
    assert_eq!(
        read("time,src,dst,v\n2004-03-01T00:00,a->b,c,1\n2004-03-01T00:00,a,b->c,2\n")
            .expect_err("collision"),
        PredictError::LabelCollision {
            line: 3,
            name: "a->b->c".into(),
            labels: vec!["a".into(), "b->c".into()],
            earlier_line: 2,
            earlier: vec!["a->b".into(), "c".into()],
        }
    );
}

#[test]
fn numbers_formatted_for_reading_stay_bad_cells_not_labels() {
    // Quoted thousands in a `,` file: every cell of `a` is text, but numbers, not labels.
    let e = read("time,a,b\n2004-03-01T00:00,\"1,234\",1\n2004-03-01T00:05,\"2,345\",2\n")
        .expect_err("thousands");
    assert!(
        matches!(
            e,
            PredictError::BadCell {
                line: 2,
                column: 2,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn a_file_naming_millions_of_series_is_refused_at_the_cap() {
    // Every row a new series at a new time: n rows pivot to n² cells.
    let n = 6_000;
    let mut src = String::from("time,s,v\n");
    for i in 0..n {
        src += &format!("{},s{i},1\n", 1_700_000_000 + i);
    }
    let e = read(&src).expect_err("too large");
    let PredictError::LongTooLarge {
        line,
        series,
        intervals,
        cap,
    } = e
    else {
        panic!("{e:?}")
    };
    assert_eq!(cap, MAX_LONG_CELLS);
    assert!(series * intervals > cap && (series - 1) * (intervals - 1) <= cap);
    assert_eq!(line, series + 1);
}

#[test]
fn the_fuzz_seed_reaches_the_long_reader() {
    let seed = include_str!("../../fuzz/seeds/trace_reader/long-flows.csv");
    let t = read(seed).expect("seed reads");
    assert!(t.names.iter().all(|n| n.contains("->")), "{:?}", t.names);
    assert!(t.missing() > 0);
}

#[test]
fn seconds_from_the_start_of_a_capture_are_a_long_files_times() {
    // Each pair's rows in turn, its times counting seconds from 0: not rising in file order.
    let src = "time_s,src,dst,bytes\n0,a,b,1\n300,a,b,2\n600,a,b,3\n0,b,a,4\n600,b,a,6\n";
    let t = read(src).expect("relative seconds");
    assert_eq!(t.names, vec!["a->b", "b->a"]);
    assert_eq!(t.times, Some(vec![0, 300, 600]));
    assert_eq!(t.columns[1], vec![Some(4.0), None, Some(6.0)]);
    // The same column in a wide file stays a series, as before.
    let t = read("time_s,x\n0,1\n0,2\n300,3\n").expect("wide");
    assert_eq!(t.names, vec!["time_s", "x"]);
}

#[test]
fn a_status_column_beside_one_value_is_refused_not_split_into_series() {
    let src = "time,status,value\n\
               2004-03-01T00:00,ok,10\n\
               2004-03-01T00:05,ok,11\n\
               2004-03-01T00:10,degraded,3\n\
               2004-03-01T00:15,ok,12\n";
    let err = read(src)
        .expect_err("a status column is not a series name")
        .to_string();
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("status"), "{err}");
    assert!(err.contains("degraded"), "{err}");
    assert!(err.contains("no time has more than one row"), "{err}");
    // One label throughout is a single long series, and reads.
    let one = "time,metric,value\n2004-03-01T00:00,rx,1\n2004-03-01T00:05,rx,2\n";
    assert_eq!(read(one).expect("one series").names, ["rx"]);
}
