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
    let mut entry_count = 0;
    for (index, line) in body.split(|&byte| byte == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if entry_count == ENTRIES_PER_REQUEST_MAX {
            return Err(LineError::TooManyLines);
        }
        let line_number = index + 1;
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
        entry_count += 1;
    }
    Ok(())
}
