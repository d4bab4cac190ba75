//! Grafana Loki push API, JSON: `POST /loki/api/v1/push` with
//! `application/json` (Loki HTTP API reference, "Ingest logs",
//! <https://grafana.com/docs/loki/latest/reference/loki-http-api/#ingest-logs>):
//!
//! ```text
//! {"streams":[{"stream":{"service":"auth","env":"prod","region":"us-east-1","level":"error"},
//!              "values":[["1710498600123456789","<line>",{"host":"auth-7f9c2-3","request_id":"..."}], ...]}, ...]}
//! ```
//!
//! Timestamps are nanoseconds as decimal strings; the optional third element
//! of a value is the line's structured metadata (Loki 2.9+, a flat object of
//! strings), left out when empty.
//!
//! Labels are kept to low-cardinality, per-stream values, as Loki's label
//! best practices ask: `service` (the source), `env`, `region` (when the
//! line has those tags) and `level`. `host` is not a label: a batch mixes
//! lines from all ~200 hosts, so it would split every batch into ~20 times
//! more streams, each with its own header, where a real agent ships one
//! host's lines. It goes into structured metadata with every other tag and
//! every field (numbers as their JSON text). The line content is the
//! message. Streams come in order of first appearance in the batch and keep
//! their lines in input order.

use super::group::Groups;
use super::{write_field_as_string, write_i64_string, write_key};
use crate::line::{write_json_string, Level, LogLine};

pub(super) const INGEST_PATH: &str = "/loki/api/v1/push";

/// Tags that become stream labels (when present).
pub(super) const LABEL_TAGS: [&str; 2] = ["env", "region"];

/// A stream's identity: service, level and the label tags.
pub(super) type StreamKey<'a> = (&'a str, Level, Option<&'a str>, Option<&'a str>);

pub(super) fn stream_key(line: &LogLine) -> StreamKey<'_> {
    (
        &line.source,
        line.level,
        line.tag(LABEL_TAGS[0]),
        line.tag(LABEL_TAGS[1]),
    )
}

pub(super) fn encode(lines: &[LogLine], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"streams\":[");
    for (position, group) in Groups::new(lines, stream_key).iter().enumerate() {
        if position > 0 {
            out.push(b',');
        }
        write_stream_labels(&lines[group[0]], out);
        out.extend_from_slice(b",\"values\":[");
        for (value_position, &index) in group.iter().enumerate() {
            if value_position > 0 {
                out.push(b',');
            }
            write_value(&lines[index], out);
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
}

fn write_stream_labels(line: &LogLine, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"stream\":{\"service\":");
    write_json_string(out, &line.source);
    for key in LABEL_TAGS {
        if let Some(value) = line.tag(key) {
            write_key(out, false, key);
            write_json_string(out, value);
        }
    }
    out.extend_from_slice(b",\"level\":\"");
    out.extend_from_slice(line.level.as_str().as_bytes());
    out.extend_from_slice(b"\"}");
}

/// `["<ns>","<message>"]`, or with a third element of structured metadata.
fn write_value(line: &LogLine, out: &mut Vec<u8>) {
    out.push(b'[');
    write_i64_string(out, line.timestamp_ns);
    out.push(b',');
    write_json_string(out, &line.message);
    let mut first = true;
    for (key, value) in line.tags() {
        if !LABEL_TAGS.contains(&key) {
            open_metadata(out, &mut first);
            write_key(out, true, key);
            write_json_string(out, value);
        }
    }
    for (key, value) in line.fields() {
        open_metadata(out, &mut first);
        write_key(out, true, key);
        write_field_as_string(out, value);
    }
    if !first {
        out.push(b'}');
    }
    out.push(b']');
}

/// Writes `,{` before the first metadata pair and `,` before the others.
fn open_metadata(out: &mut Vec<u8>, first: &mut bool) {
    out.extend_from_slice(if *first { b",{" } else { b"," });
    *first = false;
}
