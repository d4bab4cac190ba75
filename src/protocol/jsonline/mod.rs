//! VictoriaLogs' JSON lines (`POST /insert/jsonline`): one JSON object per
//! line, each one entry through the `[jsonline]` mapping (VictoriaLogs'
//! `_msg` and `_time` by default; `_stream_fields` become tags).
//!
//! Unlike VictoriaLogs, which logs and skips a bad line, a bad line refuses
//! the whole request with its line number: the shipper sees the error and
//! nothing is half-stored (TimberDB's ingest is all or nothing).

use crate::entry::ColumnBatch;
use crate::ingest::ENTRIES_PER_REQUEST_MAX;
use crate::protocol::mapped_json::{EntryError, MappedDecoder, Paths};
use crate::protocol::non_blank_lines;

/// The UTF-8 byte order mark some clients put before the body.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Why a body was refused: a line and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    #[error("line {line}: {error}")]
    Entry { line: usize, error: EntryError },
    #[error("line {line}: not valid UTF-8 ({reason})")]
    NotUtf8 { line: usize, reason: String },
    #[error("the body holds more than {ENTRIES_PER_REQUEST_MAX} lines; split it")]
    TooManyLines,
}

/// Appends one entry per non-blank line of `body` to `out`; returns how
/// many. All or nothing: on error `out` is truncated back to its length.
pub fn parse_lines(
    body: &[u8],
    paths: &Paths,
    now_ns: i64,
    out: &mut ColumnBatch,
) -> Result<usize, LineError> {
    let entry_count_before = out.len();
    let result = parse_into(body, paths, now_ns, out);
    if result.is_err() {
        out.truncate(entry_count_before);
    }
    result.map(|()| out.len() - entry_count_before)
}

fn parse_into(
    body: &[u8],
    paths: &Paths,
    now_ns: i64,
    out: &mut ColumnBatch,
) -> Result<(), LineError> {
    let body = body.strip_prefix(UTF8_BOM).unwrap_or(body);
    let mut decoder = MappedDecoder::new(paths, now_ns);
    for (entry_count, (line_number, line)) in non_blank_lines(body).enumerate() {
        if entry_count == ENTRIES_PER_REQUEST_MAX {
            return Err(LineError::TooManyLines);
        }
        let text = std::str::from_utf8(line).map_err(|error| LineError::NotUtf8 {
            line: line_number,
            reason: error.to_string(),
        })?;
        decoder
            .decode(text, out)
            .map_err(|error| LineError::Entry {
                line: line_number,
                error,
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> Paths {
        let mut paths = Paths::new(&crate::config::JsonLineConfig::default().mapping);
        paths.set_tags("app").unwrap();
        paths
    }

    #[test]
    fn lines_become_entries_and_a_bad_line_refuses_all_of_them() {
        let paths = paths();
        let mut batch = ColumnBatch::default();
        let body = b"\xEF\xBB\xBF{\"_msg\":\"a\",\"_time\":\"2024-03-15T10:30:00Z\",\"app\":\"x\"}\n\n{\"_msg\":\"b\"}\r\n";
        assert_eq!(parse_lines(body, &paths, 1, &mut batch), Ok(2));
        assert_eq!(batch.messages.get(1), "b");
        assert_eq!(batch.tags(0).collect::<Vec<_>>(), vec![("app", "x")]);
        let error =
            parse_lines(b"{\"_msg\":\"c\"}\n{\"_msg\":\n", &paths, 1, &mut batch).unwrap_err();
        assert!(error.to_string().starts_with("line 2: "), "{error}");
        let error = parse_lines(b"{\"_msg\":\"\xff\"}\n", &paths, 1, &mut batch).unwrap_err();
        assert!(matches!(error, LineError::NotUtf8 { line: 1, .. }));
        assert_eq!(batch.len(), 2);
        assert_eq!(parse_lines(b"\n \n", &paths, 1, &mut batch), Ok(0));
    }
}
