//! CSV tables read the way their users count: records with the line they start on.
//!
//! The workspace's CSV readers (hospital lists, atlas label tables) go through
//! [`read_csv`], built on the `csv` crate; writers use `csv::Writer` directly.

use std::fmt;

/// One record and the 1-based line of the file it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    /// Line number (1-based) of the record's first character.
    pub line: usize,
    /// The fields, unquoted.
    pub fields: Vec<String>,
}

/// A CSV text that cannot be read, at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    /// Line number (1-based).
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

impl std::error::Error for CsvError {}

/// Reads every record of a CSV text (RFC 4180: quoted fields may hold commas, quotes as
/// `""` and line breaks; a UTF-8 byte-order mark and blank lines are skipped; records may
/// differ in length — callers check that against their header). Fields are not trimmed.
///
/// # Errors
/// [`CsvError`] with the line: a quoted field never closed (which the lenient `csv`
/// crate would read to the end of the file), text that is not valid CSV.
pub fn read_csv(text: &str) -> Result<Vec<CsvRow>, CsvError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut last_start = None;
    for rec in reader.records() {
        let rec = rec.map_err(|e| CsvError {
            line: locate(text, e.position()).0,
            problem: e.to_string(),
        })?;
        let (line, start) = locate(text, rec.position());
        last_start = Some((line, start));
        rows.push(CsvRow {
            line,
            fields: rec.iter().map(str::to_string).collect(),
        });
    }
    if let Some((line, start)) = last_start {
        if text.get(start..).is_some_and(opens_unclosed_quote) {
            return Err(CsvError {
                line,
                problem: "unterminated quoted field".into(),
            });
        }
    }
    Ok(rows)
}

/// The line and byte offset where the record at `p` starts. The `csv` crate's own line
/// count skips blank lines and counts a CRLF record end twice, and its byte offset points at
/// the line breaks before the record; count from the record's first character instead.
fn locate(text: &str, p: Option<&csv::Position>) -> (usize, usize) {
    let bytes = text.as_bytes();
    let from = p.map_or(0, |p| p.byte() as usize).min(bytes.len());
    let start = from
        + bytes[from..]
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
    (
        1 + bytes[..start].iter().filter(|&&b| b == b'\n').count(),
        start,
    )
}

/// Whether `tail` (the raw text of the last record, to the end of the input) opens a quoted
/// field and never closes it.
fn opens_unclosed_quote(tail: &str) -> bool {
    let (mut in_quotes, mut field_start) = (false, true);
    let mut chars = tail.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' && chars.next_if_eq(&'"').is_none() {
                in_quotes = false;
            }
        } else if c == '"' && field_start {
            in_quotes = true;
        } else if matches!(c, ',' | '\n' | '\r') {
            field_start = true;
            continue;
        }
        field_start = false;
    }
    in_quotes
}

#[cfg(test)]
mod tests {
    use super::read_csv;

    #[test]
    fn quotes_and_lines_follow_the_file() {
        let r = read_csv("\u{feff}id,name\n\"a \"\"b\"\", c\",x\"y\r\n\n2,\"multi\nline\"\n3,z")
            .unwrap();
        let lines: Vec<usize> = r.iter().map(|r| r.line).collect();
        assert_eq!(lines, [1, 2, 4, 6]);
        assert_eq!(r[0].fields, ["id", "name"]);
        assert_eq!(r[1].fields, ["a \"b\", c", "x\"y"]);
        assert_eq!(r[2].fields, ["2", "multi\nline"]);
        let e = read_csv("id,name\n1,\"open\n2,z\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("unterminated"), "{e}");
        assert!(read_csv("").unwrap().is_empty());
    }
}
