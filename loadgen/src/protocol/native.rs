//! TimberDB's native ingest: `POST /api/v1/partitions/{partition}/logs`
//! with `application/x-ndjson`, one object per line:
//!
//! ```text
//! {"timestamp":1710498600123456789,"level":"error","source":"auth","message":"...","tags":{"env":"prod",...},"status":503,...}
//! ```
//!
//! TimberDB reads an integer `timestamp` of 1e17 or more as nanoseconds;
//! `tags` values are strings; every other top-level key is kept as a field.
//! Fields named like a key with a meaning of its own (`message`, `msg`,
//! `timestamp`, `ts`, `source`, `level`, `tags`) would be read as that key,
//! so they are left out. `tags` is omitted when a line has none.

use super::{write_field_value, write_key};
use crate::line::{write_i64, write_json_string, LogLine, NAMED_KEYS};

pub(super) fn ingest_path(partition: &str) -> String {
    let mut path = String::from("/api/v1/partitions/");
    push_path_segment(&mut path, partition);
    path.push_str("/logs");
    path
}

/// Appends `segment` percent-encoded (RFC 3986): partition names are
/// `[A-Za-z0-9_.-]` and pass through, anything else is escaped, so a bad
/// name reaches the server as itself and is refused there, rather than
/// changing the path.
fn push_path_segment(path: &mut String, segment: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            path.push(char::from(byte));
        } else {
            path.push('%');
            path.push(char::from(HEX[usize::from(byte >> 4)]));
            path.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
}

pub(super) fn encode(lines: &[LogLine], out: &mut Vec<u8>) {
    for line in lines {
        encode_line(line, out);
    }
}

fn encode_line(line: &LogLine, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"timestamp\":");
    write_i64(out, line.timestamp_ns);
    out.extend_from_slice(b",\"level\":\"");
    out.extend_from_slice(line.level.as_str().as_bytes());
    out.extend_from_slice(b"\",\"source\":");
    write_json_string(out, &line.source);
    out.extend_from_slice(b",\"message\":");
    write_json_string(out, &line.message);
    if line.tag_count() > 0 {
        out.extend_from_slice(b",\"tags\":{");
        for (position, (key, value)) in line.tags().enumerate() {
            write_key(out, position == 0, key);
            write_json_string(out, value);
        }
        out.push(b'}');
    }
    for (key, value) in line.fields() {
        if !NAMED_KEYS.contains(&key) {
            write_key(out, false, key);
            write_field_value(out, value);
        }
    }
    out.extend_from_slice(b"}\n");
}
