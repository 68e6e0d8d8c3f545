//! The cells of a trace's time column: ISO-8601 style date-times and Unix epochs, to seconds
//! since 1970-01-01 UTC.
//!
//! Years are limited to 1..=9999 and epochs to before the year 10000, so that every time fits
//! comfortably in an `i64` and differences between any two cannot overflow. The trace's clock is
//! whole seconds: fractional seconds round to the nearest second.

/// Latest epoch second accepted: 10000-01-01T00:00:00Z.
const MAX_EPOCH_SECS: f64 = 253_402_300_800.0;

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

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `s` as a number when it is `min..=max` ASCII digits and nothing else (no sign, no space).
fn digits(s: &str, min: usize, max: usize) -> Option<i64> {
    let ok = (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| s.parse().ok()).flatten()
}

/// Seconds east of UTC of `Z`, `UTC`, `GMT`, `±HH`, `±HHMM` or `±HH:MM`; `Some(0)` for nothing.
fn zone_offset(zone: &str) -> Option<i64> {
    let zone = zone.trim();
    if zone.is_empty()
        || ["z", "utc", "gmt"]
            .iter()
            .any(|z| zone.eq_ignore_ascii_case(z))
    {
        return Some(0);
    }
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = zone.get(1..)?;
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (digits(h, 2, 2)?, digits(m, 2, 2)?),
        None if rest.len() == 4 => (digits(rest.get(..2)?, 2, 2)?, digits(rest.get(2..)?, 2, 2)?),
        None => (digits(rest, 2, 2)?, 0),
    };
    (h < 24 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

/// Seconds of `HH:MM[:SS[.fff]]`, rounded to the nearest second.
fn clock(s: &str) -> Option<i64> {
    let mut parts = s.split(':');
    let h = digits(parts.next()?, 1, 2)?;
    let mi = digits(parts.next()?, 2, 2)?;
    let (sec, round_up) = match parts.next() {
        None => (0, false),
        Some(sec) => {
            let (whole, frac) = match sec.split_once('.') {
                Some((w, f)) => (w, Some(f)),
                None => (sec, None),
            };
            let frac_ok = frac.is_none_or(|f| digits(f, 1, 12).is_some());
            if !frac_ok {
                return None;
            }
            let up = frac.is_some_and(|f| f.as_bytes().first().is_some_and(|&b| b >= b'5'));
            (digits(whole, 2, 2)?, up)
        }
    };
    // 60 is a leap second; it lands on the next minute's first second.
    let valid = parts.next().is_none() && h < 24 && mi < 60 && sec <= 60;
    valid.then_some(h * 3600 + mi * 60 + sec + i64::from(round_up))
}

/// Year, month and day of `YYYY-MM-DD` (or `YYYY/MM/DD`) or of `DD.MM.YYYY`, the form
/// spreadsheets save dates in across most of Europe: with dots the day always comes first, so
/// unlike `03/01/2005` (3 January or March 1st?) it is not ambiguous.
fn ymd(date: &str) -> Option<(i64, i64, i64)> {
    if date.contains('.') {
        let mut d = date.split('.');
        let da = digits(d.next()?, 1, 2)?;
        let mo = digits(d.next()?, 1, 2)?;
        let y = digits(d.next()?, 4, 4)?;
        return d.next().is_none().then_some((y, mo, da));
    }
    let mut d = date.split(['-', '/']);
    let y = digits(d.next()?, 4, 4)?;
    let mo = digits(d.next()?, 1, 2)?;
    let da = digits(d.next()?, 1, 2)?;
    d.next().is_none().then_some((y, mo, da))
}

/// Parses `YYYY-MM-DD[( |T)HH:MM[:SS[.fff]]][Z|UTC|±HH:MM|±HHMM|±HH]` (`/` may separate the
/// date's parts, and the date may be `DD.MM.YYYY`) into seconds since the epoch, UTC: an offset
/// is subtracted, so `2004-03-01T01:00+01:00` is `2004-03-01T00:00Z`; a date alone is its
/// midnight. Anything else (an unknown zone name, a trailing word, an impossible date) is refused.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim().trim_matches('"');
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (s.get(..i)?, s.get(i + 1..)?.trim_start()),
        None => (s, ""),
    };
    let (y, mo, da) = ymd(date)?;
    let valid_date = (1..=9999).contains(&y)
        && (1..=12).contains(&mo)
        && (1..=days_in_month(y, mo)).contains(&da);
    if !valid_date {
        return None;
    }
    let midnight = days_from_civil(y, mo, da) * 86_400;
    if rest.is_empty() {
        return Some(midnight);
    }
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
        .unwrap_or(rest.len());
    let (time, zone) = rest.split_at(end);
    Some(midnight + clock(time)? - zone_offset(zone)?)
}

/// Parses seconds (or milliseconds, when too large for seconds) since the epoch, rounded to the
/// nearest second; refuses negative values and anything from the year 10000 on.
pub(super) fn parse_epoch(v: f64) -> Option<i64> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    // Past the year 5138 in seconds: the column counts milliseconds.
    let secs = if v >= 1e11 { v / 1000.0 } else { v };
    // In range, so the cast is exact.
    (secs.round() < MAX_EPOCH_SECS).then(|| secs.round() as i64)
}
