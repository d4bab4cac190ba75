//! Wire encoders: one `LogLine` batch in, one HTTP request body out, for
//! TimberDB's native NDJSON and for the ingest APIs of the stores it is
//! compared against (Elasticsearch bulk, Loki push, OTLP/HTTP JSON and protobuf,
//! VictoriaLogs jsonline).
//!
//! Every encoder writes bytes straight into the caller's buffer with the
//! primitives of `line` (no `serde_json::Value`, no allocation per line):
//! encoding must cost far less than the store's parsing of the same bytes,
//! or loadgen would measure itself. Each submodule documents the wire
//! format it produces, with a reference, and its tests parse the output with
//! serde_json and hold it to that format.
//!
//! The partition is TimberDB's; stores that have no partition in the path
//! (Loki, OTLP and VictoriaLogs take tenants from headers) ignore it, and
//! Elasticsearch uses it as the index (or data stream) name.

mod es_bulk;
mod group;
mod jsonline;
mod loki;
mod loki_proto;
mod native;
mod otlp;
mod otlp_proto;
pub mod time;

use crate::line::{self, FieldValue, LogLine};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// TimberDB's own NDJSON ingest.
    Native,
    /// Elasticsearch (and OpenSearch) `_bulk`.
    EsBulk,
    /// Grafana Loki push, JSON.
    Loki,
    /// Grafana Loki push, snappy-compressed protobuf (what Promtail,
    /// Alloy and Vector send). Not in `ALL`, whose bodies are all text.
    LokiProto,
    /// OpenTelemetry OTLP/HTTP logs, JSON.
    Otlp,
    /// OpenTelemetry OTLP/HTTP logs, protobuf (what the OTLP exporters send by default).
    OtlpProto,
    /// VictoriaLogs jsonline.
    Jsonline,
}

impl Protocol {
    pub const ALL: [Protocol; 6] = [
        Protocol::Native,
        Protocol::EsBulk,
        Protocol::Loki,
        Protocol::Otlp,
        Protocol::OtlpProto,
        Protocol::Jsonline,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Native => "native",
            Protocol::EsBulk => "es-bulk",
            Protocol::Loki => "loki",
            Protocol::LokiProto => "loki-proto",
            Protocol::Otlp => "otlp",
            Protocol::OtlpProto => "otlp-proto",
            Protocol::Jsonline => "jsonline",
        }
    }

    /// Path and query string of the ingest endpoint, to append to the
    /// target's base URL.
    pub fn ingest_path(self, partition: &str) -> String {
        match self {
            Protocol::Native => native::ingest_path(partition),
            Protocol::EsBulk => es_bulk::INGEST_PATH.to_owned(),
            Protocol::Loki => loki::INGEST_PATH.to_owned(),
            Protocol::LokiProto => loki_proto::INGEST_PATH.to_owned(),
            Protocol::Otlp => otlp::INGEST_PATH.to_owned(),
            Protocol::OtlpProto => otlp_proto::INGEST_PATH.to_owned(),
            Protocol::Jsonline => jsonline::INGEST_PATH.to_owned(),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::Native | Protocol::EsBulk => "application/x-ndjson",
            Protocol::Loki | Protocol::Otlp => "application/json",
            Protocol::OtlpProto => "application/x-protobuf",
            Protocol::Jsonline => "application/stream+json",
            Protocol::LokiProto => "application/x-protobuf",
        }
    }

    /// Appends one request body carrying `lines` to `out`.
    pub fn encode(self, lines: &[LogLine], partition: &str, out: &mut Vec<u8>) {
        match self {
            Protocol::Native => native::encode(lines, out),
            Protocol::EsBulk => es_bulk::encode(lines, partition, out),
            Protocol::Loki => loki::encode(lines, out),
            Protocol::LokiProto => loki_proto::encode(lines, out),
            Protocol::Otlp => otlp::encode(lines, out),
            Protocol::OtlpProto => otlp_proto::encode(lines, out),
            Protocol::Jsonline => jsonline::encode(lines, out),
        }
    }
}

/// Appends a field value as a JSON value: a number (non-finite floats as
/// `null`) or a string.
fn write_field_value(out: &mut Vec<u8>, value: FieldValue<'_>) {
    match value {
        FieldValue::Int(v) => line::write_i64(out, v),
        FieldValue::Float(v) => line::write_f64(out, v),
        FieldValue::Str(text) => line::write_json_string(out, text),
    }
}

/// Appends a field value as a JSON string, for formats whose values are all
/// strings (Loki labels and structured metadata). Numbers keep the text they
/// have as JSON numbers; non-finite floats read `NaN`, `inf`, `-inf`.
fn write_field_as_string(out: &mut Vec<u8>, value: FieldValue<'_>) {
    match value {
        FieldValue::Int(v) => write_i64_string(out, v),
        FieldValue::Float(v) if v.is_finite() => {
            out.push(b'"');
            line::write_f64(out, v);
            out.push(b'"');
        }
        FieldValue::Float(v) => line::write_json_string(out, &v.to_string()),
        FieldValue::Str(text) => line::write_json_string(out, text),
    }
}

/// Appends `,"key":` (or `"key":` when `first`), for objects written key by
/// key.
fn write_key(out: &mut Vec<u8>, first: bool, key: &str) {
    if !first {
        out.push(b',');
    }
    line::write_json_string(out, key);
    out.push(b':');
}

/// Appends `v` as a JSON string of decimal digits: how Loki takes
/// nanosecond timestamps and OTLP/JSON every 64-bit integer.
fn write_i64_string(out: &mut Vec<u8>, v: i64) {
    out.push(b'"');
    line::write_i64(out, v);
    out.push(b'"');
}

#[cfg(test)]
mod tests;
