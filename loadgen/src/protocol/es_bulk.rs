//! Elasticsearch bulk API: `POST /_bulk` with `application/x-ndjson`.
//!
//! The format, per the Elasticsearch reference ("Bulk API",
//! <https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-bulk.html>):
//! the body is `action_and_meta_data\n optional_source\n` repeated, every
//! line, the last included, must end with a newline, and data streams
//! accept only the `create` action. So each log line becomes two lines:
//!
//! ```text
//! {"create":{"_index":"<partition>"}}
//! {"@timestamp":"2024-03-15T10:30:00.123456789Z","message":"...","log.level":"error","service.name":"auth","labels":{"env":"prod",...},"status":503,...}
//! ```
//!
//! Names follow the Elastic Common Schema: `@timestamp` (RFC 3339 with
//! nanoseconds; `date` fields keep milliseconds, `date_nanos` all nine
//! digits), `message`, `log.level`, `service.name`, and the tags under
//! `labels`, ECS's object of keyword key/values. Keeping tags in their own
//! object means a tag can never collide with a field or an ECS name; fields
//! go top level, except those named like the document's own keys, which
//! are left out (Elasticsearch refuses duplicate keys).

use super::time::write_rfc3339_nanos;
use super::{write_field_value, write_key};
use crate::line::{write_json_string, LogLine};

pub(super) const INGEST_PATH: &str = "/_bulk";

/// Keys the document sets itself.
const DOCUMENT_KEYS: [&str; 5] = [
    "@timestamp",
    "message",
    "log.level",
    "service.name",
    "labels",
];

pub(super) fn encode(lines: &[LogLine], partition: &str, out: &mut Vec<u8>) {
    for line in lines {
        out.extend_from_slice(b"{\"create\":{\"_index\":");
        write_json_string(out, partition);
        out.extend_from_slice(b"}}\n");
        encode_document(line, out);
    }
}

fn encode_document(line: &LogLine, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"@timestamp\":");
    write_rfc3339_nanos(out, line.timestamp_ns);
    out.extend_from_slice(b",\"message\":");
    write_json_string(out, &line.message);
    out.extend_from_slice(b",\"log.level\":\"");
    out.extend_from_slice(line.level.as_str().as_bytes());
    out.extend_from_slice(b"\",\"service.name\":");
    write_json_string(out, &line.source);
    if line.tag_count() > 0 {
        out.extend_from_slice(b",\"labels\":{");
        for (position, (key, value)) in line.tags().enumerate() {
            write_key(out, position == 0, key);
            write_json_string(out, value);
        }
        out.push(b'}');
    }
    for (key, value) in line.fields() {
        if !DOCUMENT_KEYS.contains(&key) {
            write_key(out, false, key);
            write_field_value(out, value);
        }
    }
    out.extend_from_slice(b"}\n");
}
