//! OpenTelemetry logs over OTLP/HTTP with protobuf: `POST /v1/logs` with
//! `application/x-protobuf`.
//!
//! The same `ExportLogsServiceRequest` as the `otlp` JSON encoder (same
//! resources, scope, records, attributes, in the same order), in the
//! protobuf wire format of opentelemetry-proto v1 (`logs.proto`,
//! `common.proto`): `time_unix_nano` and `observed_time_unix_nano` as
//! fixed64, `severity_number` as a varint enum, strings and nested messages
//! length-delimited, `int_value` as a varint, `double_value` as fixed64.
//!
//! Bytes go straight into the caller's buffer. A nested message's length
//! comes before it on the wire, so each is written after a one-byte length
//! slot, and the slot is widened (the message moved up by a few bytes) in
//! the rare case it is 128 bytes or longer: the output is canonical
//! protobuf, with no second pass and no allocation per line.

use super::group::Groups;
use super::otlp::{resource_key, RESOURCE_TAGS, SCOPE_NAME};
use crate::line::{FieldValue, LogLine};

pub(super) const INGEST_PATH: &str = "/v1/logs";

pub(super) fn encode(lines: &[LogLine], out: &mut Vec<u8>) {
    for group in Groups::new(lines, resource_key).iter() {
        // ExportLogsServiceRequest.resource_logs = 1
        nested(out, 1, |out| {
            write_resource(&lines[group[0]], out);
            // ResourceLogs.scope_logs = 2
            nested(out, 2, |out| {
                // ScopeLogs.scope = 1 { InstrumentationScope.name = 1 }
                nested(out, 1, |out| bytes_field(out, 1, SCOPE_NAME.as_bytes()));
                for &index in group {
                    // ScopeLogs.log_records = 2
                    nested(out, 2, |out| write_record(&lines[index], out));
                }
            });
        });
    }
}

fn write_resource(line: &LogLine, out: &mut Vec<u8>) {
    // ResourceLogs.resource = 1 { Resource.attributes = 1 }
    nested(out, 1, |out| {
        attribute(out, 1, "service.name", FieldValue::Str(&line.source));
        for (tag, name) in RESOURCE_TAGS {
            if let Some(value) = line.tag(tag) {
                attribute(out, 1, name, FieldValue::Str(value));
            }
        }
    });
}

fn write_record(line: &LogLine, out: &mut Vec<u8>) {
    let time = line.timestamp_ns as u64;
    fixed64_field(out, 1, time);
    varint_field(out, 2, u64::from(line.level.otlp_severity_number()));
    bytes_field(out, 3, line.level.otlp_severity_text().as_bytes());
    // LogRecord.body = 5 { AnyValue.string_value = 1 }
    nested(out, 5, |out| bytes_field(out, 1, line.message.as_bytes()));
    let is_resource_tag = |key: &str| RESOURCE_TAGS.iter().any(|&(tag, _)| tag == key);
    for (key, value) in line.tags().filter(|&(key, _)| !is_resource_tag(key)) {
        attribute(out, 6, key, FieldValue::Str(value));
    }
    for (key, value) in line.fields() {
        attribute(out, 6, key, value);
    }
    fixed64_field(out, 11, time);
}

/// A `KeyValue` as field `field` of the enclosing message.
fn attribute(out: &mut Vec<u8>, field: u32, key: &str, value: FieldValue<'_>) {
    nested(out, field, |out| {
        bytes_field(out, 1, key.as_bytes());
        // KeyValue.value = 2: an AnyValue.
        nested(out, 2, |out| match value {
            FieldValue::Str(text) => bytes_field(out, 1, text.as_bytes()),
            FieldValue::Int(v) => varint_field(out, 3, v as u64),
            FieldValue::Float(v) => fixed64_field(out, 4, v.to_bits()),
        });
    });
}

/// Writes field `field` as a length-delimited message whose bytes `body`
/// appends.
fn nested(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    key(out, field, 2);
    let slot = out.len();
    out.push(0);
    body(out);
    let length = out.len() - slot - 1;
    if length < 0x80 {
        out[slot] = length as u8;
        return;
    }
    let mut prefix = Vec::with_capacity(10);
    varint(&mut prefix, length as u64);
    let extra = prefix.len() - 1;
    out.resize(out.len() + extra, 0);
    out.copy_within(slot + 1..slot + 1 + length, slot + 1 + extra);
    out[slot..slot + prefix.len()].copy_from_slice(&prefix);
}

fn key(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    key(out, field, 0);
    varint(out, value);
}

fn fixed64_field(out: &mut Vec<u8>, field: u32, value: u64) {
    key(out, field, 1);
    out.extend_from_slice(&value.to_le_bytes());
}

fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(out, field, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_get_a_canonical_multi_byte_length() {
        let mut out = vec![9];
        nested(&mut out, 1, |out| out.extend_from_slice(&[7; 300]));
        // key 0x0a, length 300 = 0xac 0x02, then the body.
        assert_eq!(&out[..4], &[9, 0x0a, 0xac, 0x02]);
        assert_eq!(out.len(), 4 + 300);
        assert!(out[4..].iter().all(|&byte| byte == 7));
        let mut short = Vec::new();
        nested(&mut short, 2, |out| out.push(1));
        assert_eq!(short, [0x12, 1, 1]);
    }
}
