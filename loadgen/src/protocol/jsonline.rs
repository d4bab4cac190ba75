//! VictoriaLogs jsonline ingest: `POST /insert/jsonline` with one JSON
//! object per line (VictoriaLogs docs, "Data ingestion" → "JSON stream
//! API", <https://docs.victoriametrics.com/victorialogs/data-ingestion/#json-stream-api>):
//!
//! ```text
//! {"_time":"2024-03-15T10:30:00.123456789Z","_msg":"...","level":"error","service":"auth","host":"auth-7f9c2-3",...,"status":503}
//! ```
//!
//! The query string names the message and time fields (`_msg_field`,
//! `_time_field`; these are also the defaults) and the stream fields.
//! VictoriaLogs advises stream fields that identify the emitting instance
//! and have low cardinality, so the streams are `service,env,region,host`:
//! a few hundred streams for generated lines. (Unlike Loki, a stream costs
//! nothing on the wire here, so `host` can be one.) Tags and fields are
//! flattened to top-level keys, except ones named like the keys above,
//! which are left out. VictoriaLogs accepts any content type; the docs'
//! `application/stream+json` is sent. The partition is not used: tenants
//! are chosen with the `AccountID`/`ProjectID` headers.

use super::time::write_rfc3339_nanos;
use super::{write_field_value, write_key};
use crate::line::{write_json_string, LogLine};

pub(super) const INGEST_PATH: &str =
    "/insert/jsonline?_stream_fields=service,env,region,host&_msg_field=_msg&_time_field=_time";

/// Keys each object sets itself.
const OBJECT_KEYS: [&str; 4] = ["_time", "_msg", "level", "service"];

pub(super) fn encode(lines: &[LogLine], out: &mut Vec<u8>) {
    for line in lines {
        encode_line(line, out);
    }
}

fn encode_line(line: &LogLine, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"_time\":");
    write_rfc3339_nanos(out, line.timestamp_ns);
    out.extend_from_slice(b",\"_msg\":");
    write_json_string(out, &line.message);
    out.extend_from_slice(b",\"level\":\"");
    out.extend_from_slice(line.level.as_str().as_bytes());
    out.extend_from_slice(b"\",\"service\":");
    write_json_string(out, &line.source);
    for (key, value) in line.tags() {
        if !OBJECT_KEYS.contains(&key) {
            write_key(out, false, key);
            write_json_string(out, value);
        }
    }
    for (key, value) in line.fields() {
        if !OBJECT_KEYS.contains(&key) {
            write_key(out, false, key);
            write_field_value(out, value);
        }
    }
    out.extend_from_slice(b"}\n");
}
