//! Ingest: turn an HTTP request body of JSON log entries into `ColumnBatch`
//! rows.
//!
//! A body is one JSON object, a JSON array of objects, or NDJSON (one object
//! per line). Each object is one entry: `message` (or `msg`), `timestamp`
//! (or `ts`), `source`, `level`, `tags`, and any other fields, which are kept
//! verbatim as the text of one JSON object. `detect_format` picks the body
//! format; `parse_body` appends every entry or none.
//!
//! Invariants:
//! - All or nothing: on error the batch is truncated to its length on entry,
//!   so a client can fix the line named in the error and resend the body.
//! - Every limit below is checked before anything of that size is stored.
//! - Errors name the place (NDJSON line, array entry index, serde_json
//!   line/column) and the reason, because the client reads them as-is.
//!
//! Why it is shaped this way: parsing is the dominant cost of the write path
//! (target: 1 M lines of ~240 bytes per second per core, i.e. 240 MB/s). A
//! DOM (`serde_json::Value`) costs an allocation per string and map, which
//! caps it near 0.55 M lines/s; so `object` decodes each object with a
//! custom serde visitor straight into the batch, borrowing unescaped strings
//! from the body, and reuses its scratch buffers across entries. The
//! ceiling is serde_json's own scanning: deserializing a line into a
//! borrowed typed struct runs at about 2.7 M lines/s on the development
//! machine. `benches/ingest_parse.rs` measures both.
//!
//! Most NDJSON lines never reach serde: `fast` reads the common shape of a
//! line (flat strings without escapes, a `tags` object) in one pass into the
//! same decoder, and hands every other line to the serde path unchanged.
//!
//! Files: `parse` splits the body and locates errors, `fast` is the fast
//! path for common lines, `object` decodes one entry, `value` handles raw JSON values, and `crate::time` parses and formats timestamps
//! times, `error` is the error type.

mod error;
mod fast;
#[doc(hidden)]
pub mod fuzz_check;
pub mod limits;
mod object;
mod parse;
mod scalar;
mod value;

#[cfg(test)]
mod tests;

pub use crate::time::{format_rfc3339_nanos, TimestampError};
pub use error::{IngestError, Location, Result};
/// JSON string escaping and unescaping, shared with the shippers' protocols.
pub(crate) use value::{push_json_string, unescape_into};

use crate::entry::ColumnBatch;

/// Entries one request may hold. Bounds the work of one request on a
/// shard; the memory of a request is bounded by the HTTP body limit, since
/// the batch holds at most the body's bytes plus 25 bytes of offsets per
/// entry (about 25 MB at this limit).
pub const ENTRIES_PER_REQUEST_MAX: usize = 1_000_000;
/// Bytes of one decoded `message`. A message this size is a stack trace or
/// a payload dump; larger ones are almost always a client bug.
pub const MESSAGE_BYTES_MAX: usize = 1024 * 1024;
/// Bytes of one decoded `source` (a host or service name).
pub const SOURCE_BYTES_MAX: usize = 1024;
/// Tags of one entry. Each stored tag costs its bytes plus 8 bytes of
/// offsets; the per-entry scratch holds at most this many (16 bytes each).
pub const TAGS_PER_ENTRY_MAX: usize = 256;
/// Bytes of one decoded tag key.
pub const TAG_KEY_BYTES_MAX: usize = 256;
/// Bytes of one decoded tag value. Tags are for filtering; long text
/// belongs in the message or the fields.
pub const TAG_VALUE_BYTES_MAX: usize = 16 * 1024;
/// Bytes of the JSON text of an entry's other fields; the per-request
/// scratch buffer holding it grows to at most this.
pub const FIELDS_BYTES_MAX: usize = 1024 * 1024;

// One entry's strings must fit a `StrColumn`'s u32 offsets many times over.
const _: () = assert!(
    MESSAGE_BYTES_MAX
        + SOURCE_BYTES_MAX
        + FIELDS_BYTES_MAX
        + TAGS_PER_ENTRY_MAX * (TAG_KEY_BYTES_MAX + TAG_VALUE_BYTES_MAX)
        < (u32::MAX / 64) as usize
);

/// The UTF-8 byte order mark some clients put before the body.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// How the entries of a body are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// One JSON object, or a JSON array of objects.
    Json,
    /// One JSON object per line; blank lines are skipped.
    Ndjson,
}

/// Picks the body format. The Content-Type decides (`application/json` is
/// `Json`; `application/x-ndjson`, `application/ndjson`,
/// `application/jsonl`, `application/x-jsonlines` and `text/plain` are
/// `Ndjson`; parameters such as `; charset=utf-8` are ignored). When it is
/// absent or unknown, the body decides: `[` starts a JSON array; a `{` whose
/// first line ends in `}` with more content after it is NDJSON (a single
/// JSON object can never continue after a `}` closing its first line with
/// another value), any other `{` is one JSON object; anything else is
/// treated as NDJSON so its errors name lines.
pub fn detect_format(content_type: Option<&str>, body: &[u8]) -> BodyFormat {
    match content_type.and_then(format_from_content_type) {
        Some(format) => format,
        None => sniff_format(body),
    }
}

fn format_from_content_type(content_type: &str) -> Option<BodyFormat> {
    const NDJSON_TYPES: [&str; 5] = [
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "text/plain",
    ];
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Some(BodyFormat::Json)
    } else if NDJSON_TYPES
        .iter()
        .any(|known| essence.eq_ignore_ascii_case(known))
    {
        Some(BodyFormat::Ndjson)
    } else {
        None
    }
}

fn sniff_format(body: &[u8]) -> BodyFormat {
    let body = body.strip_prefix(UTF8_BOM).unwrap_or(body);
    let Some(start) = body.iter().position(|byte| !byte.is_ascii_whitespace()) else {
        return BodyFormat::Ndjson;
    };
    let body = &body[start..];
    match body[0] {
        b'[' => BodyFormat::Json,
        b'{' => {
            let Some(line_end) = memchr::memchr(b'\n', body) else {
                return BodyFormat::Json;
            };
            let first_line = body[..line_end].trim_ascii_end();
            if first_line.ends_with(b"}") && !parse::is_blank(&body[line_end..]) {
                BodyFormat::Ndjson
            } else {
                BodyFormat::Json
            }
        }
        _ => BodyFormat::Ndjson,
    }
}

/// Parses every entry of `body` and appends them to `out`; returns how many.
/// All or nothing: on error `out` is truncated back to its length on entry.
/// `now_ns` (ns since the epoch) is the timestamp of entries without one. A
/// UTF-8 byte order mark at the start is skipped.
pub fn parse_body(
    body: &[u8],
    format: BodyFormat,
    now_ns: i64,
    out: &mut ColumnBatch,
) -> Result<usize> {
    let body = body.strip_prefix(UTF8_BOM).unwrap_or(body);
    if parse::is_blank(body) {
        return Err(IngestError::EmptyBody);
    }
    let body = parse::body_text(body, format)?;
    let entry_count_before = out.len();
    let mut decoder = object::Decoder::new(out, now_ns);
    let result = match format {
        BodyFormat::Json => parse::parse_json(body, &mut decoder),
        BodyFormat::Ndjson => parse::parse_ndjson(body, &mut decoder),
    };
    let entry_count = decoder.entry_count();
    match result {
        Ok(()) if entry_count == 0 => Err(IngestError::EmptyBody),
        Ok(()) => {
            debug_assert_eq!(out.len(), entry_count_before + entry_count);
            debug_assert_eq!(out.check_invariants(), Ok(()));
            Ok(entry_count)
        }
        Err(error) => {
            out.truncate(entry_count_before);
            Err(error)
        }
    }
}
