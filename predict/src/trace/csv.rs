//! A trace file's bytes to records: text encoding, delimiter, quoting and line ends.
//!
//! Text is UTF-8, with or without a byte-order mark, or UTF-16 with its mark (Excel's "Unicode
//! text"). Records follow RFC 4180 leniently: a quote toggles quoting wherever it appears, `""`
//! inside quotes is one quote, and a quoted field may hold delimiters and line breaks. Lines end
//! with `\n`, `\r\n` or a lone `\r`. Blank lines are skipped. The delimiter is the one of `,`, `;`
//! and tab that splits the header into the most fields (`,` on a tie), unless Excel's `sep=X`
//! line comes first.

use crate::PredictError;

/// One record: the 1-based line it starts on, and its fields as written (quotes removed).
pub(super) type Record = (usize, Vec<String>);

/// A delimited table: the delimiter, the header record and the data records.
pub(super) struct Table {
    /// Field delimiter.
    pub delimiter: char,
    /// The first non-blank record.
    pub header: Record,
    /// The records after it.
    pub rows: Vec<Record>,
}

/// Decodes `bytes` as text, naming the line of the first byte that is not text.
pub(super) fn decode(bytes: &[u8]) -> Result<String, PredictError> {
    let text = match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => utf8(rest)?,
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes)?,
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes)?,
        _ => utf8(bytes)?,
    };
    if let Some(at) = text.find('\0') {
        return Err(PredictError::Encoding {
            line: line_of(&text[..at]),
            why: "a NUL character: UTF-16 without a byte-order mark, or not a text file".into(),
        });
    }
    Ok(text)
}

fn line_of(before: &str) -> usize {
    1 + before.matches('\n').count()
}

fn utf8(bytes: &[u8]) -> Result<String, PredictError> {
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let good = String::from_utf8_lossy(&bytes[..at]);
        PredictError::Encoding {
            line: line_of(&good),
            why: format!(
                "byte 0x{:02X} is not UTF-8 (save the file as UTF-8)",
                bytes.get(at).copied().unwrap_or_default()
            ),
        }
    })
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, PredictError> {
    let units = bytes.chunks(2).map(|c| match c {
        [a, b] => Ok(unit([*a, *b])),
        _ => Err(()),
    });
    let mut out = String::with_capacity(bytes.len() / 2);
    for u in char::decode_utf16(units.map_while(Result::ok)) {
        match u {
            Ok(c) => out.push(c),
            Err(e) => {
                return Err(PredictError::Encoding {
                    line: line_of(&out),
                    why: format!("unpaired UTF-16 surrogate 0x{:04X}", e.unpaired_surrogate()),
                })
            }
        }
    }
    if bytes.len() % 2 == 1 {
        return Err(PredictError::Encoding {
            line: line_of(&out),
            why: "UTF-16 text with an odd number of bytes (truncated?)".into(),
        });
    }
    Ok(out)
}

/// Reads records one at a time, counting lines.
struct Records<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
    delimiter: char,
}

impl<'a> Records<'a> {
    fn new(text: &'a str, delimiter: char, line: usize) -> Self {
        Self {
            chars: text.chars().peekable(),
            line,
            delimiter,
        }
    }

    /// Consumes a line end whose first character `c` was just read.
    fn line_end(&mut self, c: char) {
        if c == '\r' && self.chars.peek() == Some(&'\n') {
            self.chars.next();
        }
        self.line += 1;
    }

    /// The next non-blank record, `None` at the end of the text.
    fn next_record(&mut self) -> Option<Result<Record, PredictError>> {
        loop {
            self.chars.peek()?;
            let start = self.line;
            let mut fields = Vec::new();
            let mut field = String::new();
            let mut quoted = false;
            let mut quote_line = start;
            while let Some(c) = self.chars.next() {
                match c {
                    '"' if quoted && self.chars.peek() == Some(&'"') => {
                        self.chars.next();
                        field.push('"');
                    }
                    '"' => {
                        quoted = !quoted;
                        quote_line = self.line;
                    }
                    '\n' | '\r' if !quoted => {
                        self.line_end(c);
                        break;
                    }
                    '\n' | '\r' => {
                        self.line_end(c);
                        field.push('\n');
                    }
                    c if c == self.delimiter && !quoted => fields.push(std::mem::take(&mut field)),
                    c => field.push(c),
                }
            }
            if quoted {
                return Some(Err(PredictError::UnclosedQuote { line: quote_line }));
            }
            fields.push(field);
            if !(fields.len() == 1 && fields[0].trim().is_empty()) {
                return Some(Ok((start, fields)));
            }
        }
    }
}

/// Excel's first line `sep=X` naming the delimiter.
fn sep_line(line: &str) -> Option<char> {
    let rest = line.trim_end_matches('\r').strip_prefix("sep=")?;
    let mut chars = rest.chars();
    let c = chars.next()?;
    (chars.next().is_none() && [',', ';', '\t'].contains(&c)).then_some(c)
}

/// Splits `text` into its header and data records.
pub(super) fn table(text: &str) -> Result<Table, PredictError> {
    let (text, first_line, sep) = match text.split_once('\n').map(|(l, r)| (sep_line(l), r)) {
        Some((Some(c), rest)) => (rest, 2, Some(c)),
        _ => (text, 1, None),
    };
    let delimiter = match sep {
        Some(c) => c,
        None => {
            let mut best = (0, ',');
            for d in [',', ';', '\t'] {
                let n = match Records::new(text, d, first_line).next_record() {
                    Some(Ok((_, f))) => f.len(),
                    _ => 0,
                };
                if n > best.0 {
                    best = (n, d);
                }
            }
            best.1
        }
    };
    let mut records = Records::new(text, delimiter, first_line);
    let header = match records.next_record() {
        None => return Err(PredictError::EmptyTrace),
        Some(r) => r?,
    };
    let mut rows = Vec::new();
    while let Some(r) = records.next_record() {
        rows.push(r?);
    }
    Ok(Table {
        delimiter,
        header,
        rows,
    })
}
