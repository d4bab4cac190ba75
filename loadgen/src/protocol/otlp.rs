//! OpenTelemetry logs over OTLP/HTTP with JSON: `POST /v1/logs` with
//! `application/json`.
//!
//! The body is an `ExportLogsServiceRequest` in the OTLP JSON encoding
//! (OTLP specification, "JSON Protobuf Encoding",
//! <https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding>):
//! proto3's JSON mapping, with field names in lowerCamelCase, 64-bit
//! integers (`timeUnixNano`, `intValue`) as decimal strings, enums
//! (`severityNumber`) as integers, and `doubleValue` as a JSON number
//! (`"NaN"`, `"Infinity"`, `"-Infinity"` for the non-finite):
//!
//! ```text
//! {"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"auth"}}, ...]},
//!   "scopeLogs":[{"scope":{"name":"loadgen"},"logRecords":[{"timeUnixNano":"1710498600123456789",
//!   "observedTimeUnixNano":"1710498600123456789","severityNumber":17,"severityText":"ERROR",
//!   "body":{"stringValue":"..."},"attributes":[{"key":"request_id","value":{"stringValue":"..."}},
//!   {"key":"status","value":{"intValue":"503"}},{"key":"duration_ms","value":{"doubleValue":12.5}}]}]}]}]}
//! ```
//!
//! A resource is what emitted the line, named with the semantic
//! conventions: `service.name` (the source), `host.name`,
//! `deployment.environment.name` and `cloud.region` (from the tags `host`,
//! `env`, `region` when present). Lines are grouped by resource, in order of
//! first appearance; for generated lines that is one resource per pod. The
//! other tags and all fields become log record attributes.

use super::group::Groups;
use super::write_i64_string;
use crate::line::{write_f64, write_i64, write_json_string, FieldValue, LogLine};

pub(super) const INGEST_PATH: &str = "/v1/logs";

/// The instrumentation scope named in every request.
pub const SCOPE_NAME: &str = "loadgen";

/// Tags that describe the resource, and their attribute names.
pub(super) const RESOURCE_TAGS: [(&str, &str); 3] = [
    ("host", "host.name"),
    ("env", "deployment.environment.name"),
    ("region", "cloud.region"),
];

pub(super) type ResourceKey<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);

pub(super) fn resource_key(line: &LogLine) -> ResourceKey<'_> {
    (
        &line.source,
        line.tag(RESOURCE_TAGS[0].0),
        line.tag(RESOURCE_TAGS[1].0),
        line.tag(RESOURCE_TAGS[2].0),
    )
}

pub(super) fn encode(lines: &[LogLine], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"resourceLogs\":[");
    for (position, group) in Groups::new(lines, resource_key).iter().enumerate() {
        if position > 0 {
            out.push(b',');
        }
        write_resource(&lines[group[0]], out);
        out.extend_from_slice(b",\"scopeLogs\":[{\"scope\":{\"name\":\"");
        out.extend_from_slice(SCOPE_NAME.as_bytes());
        out.extend_from_slice(b"\"},\"logRecords\":[");
        for (record_position, &index) in group.iter().enumerate() {
            if record_position > 0 {
                out.push(b',');
            }
            write_record(&lines[index], out);
        }
        out.extend_from_slice(b"]}]}");
    }
    out.extend_from_slice(b"]}");
}

fn write_resource(line: &LogLine, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"resource\":{\"attributes\":[");
    write_attribute(out, true, "service.name", FieldValue::Str(&line.source));
    for (tag, attribute) in RESOURCE_TAGS {
        if let Some(value) = line.tag(tag) {
            write_attribute(out, false, attribute, FieldValue::Str(value));
        }
    }
    out.extend_from_slice(b"]}");
}

fn write_record(line: &LogLine, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"timeUnixNano\":");
    write_i64_string(out, line.timestamp_ns);
    out.extend_from_slice(b",\"observedTimeUnixNano\":");
    write_i64_string(out, line.timestamp_ns);
    out.extend_from_slice(b",\"severityNumber\":");
    write_i64(out, i64::from(line.level.otlp_severity_number()));
    out.extend_from_slice(b",\"severityText\":\"");
    out.extend_from_slice(line.level.otlp_severity_text().as_bytes());
    out.extend_from_slice(b"\",\"body\":{\"stringValue\":");
    write_json_string(out, &line.message);
    out.extend_from_slice(b"},\"attributes\":[");
    let mut first = true;
    let is_resource_tag = |key: &str| RESOURCE_TAGS.iter().any(|&(tag, _)| tag == key);
    for (key, value) in line.tags().filter(|&(key, _)| !is_resource_tag(key)) {
        write_attribute(out, first, key, FieldValue::Str(value));
        first = false;
    }
    for (key, value) in line.fields() {
        write_attribute(out, first, key, value);
        first = false;
    }
    out.extend_from_slice(b"]}");
}

/// `{"key":"<key>","value":{<AnyValue>}}`, comma-prefixed unless `first`.
fn write_attribute(out: &mut Vec<u8>, first: bool, key: &str, value: FieldValue<'_>) {
    if !first {
        out.push(b',');
    }
    out.extend_from_slice(b"{\"key\":");
    write_json_string(out, key);
    out.extend_from_slice(b",\"value\":{");
    match value {
        FieldValue::Str(text) => {
            out.extend_from_slice(b"\"stringValue\":");
            write_json_string(out, text);
        }
        FieldValue::Int(v) => {
            out.extend_from_slice(b"\"intValue\":");
            write_i64_string(out, v);
        }
        FieldValue::Float(v) => {
            out.extend_from_slice(b"\"doubleValue\":");
            write_double(out, v);
        }
    }
    out.extend_from_slice(b"}}");
}

/// A JSON number, or proto3 JSON's string spellings of the non-finite.
fn write_double(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
    } else {
        write_f64(out, v);
    }
}
