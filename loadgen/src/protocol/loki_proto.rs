//! Grafana Loki push API, protobuf: `POST /loki/api/v1/push` with
//! `application/x-protobuf`, a `logproto.PushRequest` compressed with
//! snappy's block format, as Promtail, Grafana Agent/Alloy and Vector send
//! it (Loki's `pkg/push/push.proto`):
//!
//! ```text
//! PushRequest      { repeated StreamAdapter streams = 1; }
//! StreamAdapter    { string labels = 1; repeated EntryAdapter entries = 2; }
//! EntryAdapter     { Timestamp timestamp = 1; string line = 2;
//!                    repeated LabelPairAdapter structuredMetadata = 3; }
//! LabelPairAdapter { string name = 1; string value = 2; }
//! Timestamp        { int64 seconds = 1; int32 nanos = 2; }
//! ```
//!
//! The content is the `loki` JSON encoder's, line for line: the same
//! streams in the same order, labels as the selector text Prometheus'
//! `labels.String()` writes (`{service="auth", env="prod", level="error"}`,
//! values quoted Go-style), the same structured metadata with numbers as
//! their JSON text. The protobuf is written straight into a reused scratch
//! buffer (sizes computed first, no message structs), then compressed into
//! the caller's buffer.

use std::cell::RefCell;

use super::group::Groups;
use super::loki::{stream_key, LABEL_TAGS};
use crate::line::{self, FieldValue, LogLine};

pub(super) const INGEST_PATH: &str = "/loki/api/v1/push";

/// Protobuf wire types.
const LENGTH_DELIMITED: u8 = 2;
const VARINT: u8 = 0;

thread_local! {
    /// The uncompressed protobuf of the batch being encoded, and one
    /// metadata value's text; kept so encoding allocates nothing once warm.
    static SCRATCH: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

pub(super) fn encode(lines: &[LogLine], out: &mut Vec<u8>) {
    SCRATCH.with(|scratch| {
        let (proto, value) = &mut *scratch.borrow_mut();
        proto.clear();
        let mut labels = Vec::new();
        for group in Groups::new(lines, stream_key).iter() {
            labels.clear();
            write_labels(&lines[group[0]], &mut labels);
            let entries_len: usize = group
                .iter()
                .map(|&index| field_len(entry_len(&lines[index], value)))
                .sum();
            let stream_len = field_len(labels.len()) + entries_len;
            write_tag(proto, 1, LENGTH_DELIMITED);
            write_varint(proto, stream_len as u64);
            write_bytes_field(proto, 1, &labels);
            for &index in group {
                write_entry(&lines[index], proto, value);
            }
        }
        let start = out.len();
        out.resize(start + snap::raw::max_compress_len(proto.len()), 0);
        let written = snap::raw::Encoder::new()
            .compress(proto, &mut out[start..])
            .expect("the output was sized with max_compress_len");
        out.truncate(start + written);
    });
}

/// `{service="auth", env="prod", region="us-east-1", level="error"}`.
fn write_labels(line: &LogLine, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{service=");
    write_go_quoted(out, &line.source);
    for key in LABEL_TAGS {
        if let Some(value) = line.tag(key) {
            out.extend_from_slice(b", ");
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            write_go_quoted(out, value);
        }
    }
    out.extend_from_slice(b", level=\"");
    out.extend_from_slice(line.level.as_str().as_bytes());
    out.extend_from_slice(b"\"}");
}

/// `strconv.Quote` for the characters generated lines hold: `"` and `\`
/// escaped, control characters as `\n`, `\t` or `\xHH`.
fn write_go_quoted(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    for &byte in text.as_bytes() {
        match byte {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', byte]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'x',
                    HEX[(byte >> 4) as usize],
                    HEX[(byte & 15) as usize],
                ]);
            }
            _ => out.push(byte),
        }
    }
    out.push(b'"');
}

/// The metadata pairs of a line: its non-label tags, then its fields.
fn for_each_metadata(line: &LogLine, value: &mut Vec<u8>, mut pair: impl FnMut(&str, &[u8])) {
    for (key, text) in line.tags() {
        if !LABEL_TAGS.contains(&key) {
            pair(key, text.as_bytes());
        }
    }
    for (key, field) in line.fields() {
        value.clear();
        write_field_text(value, field);
        pair(key, value);
    }
}

/// A field's value as the `loki` JSON encoder writes it, without quotes.
fn write_field_text(out: &mut Vec<u8>, field: FieldValue<'_>) {
    match field {
        FieldValue::Int(v) => line::write_i64(out, v),
        FieldValue::Float(v) if v.is_finite() => line::write_f64(out, v),
        FieldValue::Float(v) => out.extend_from_slice(v.to_string().as_bytes()),
        FieldValue::Str(text) => out.extend_from_slice(text.as_bytes()),
    }
}

fn timestamp_parts(line: &LogLine) -> (i64, i64) {
    (
        line.timestamp_ns.div_euclid(1_000_000_000),
        line.timestamp_ns.rem_euclid(1_000_000_000),
    )
}

fn timestamp_len(line: &LogLine) -> usize {
    let (seconds, nanos) = timestamp_parts(line);
    1 + varint_len(seconds as u64) + 1 + varint_len(nanos as u64)
}

/// The encoded size of an `EntryAdapter`'s fields.
fn entry_len(line: &LogLine, value: &mut Vec<u8>) -> usize {
    let mut metadata_len = 0;
    for_each_metadata(line, value, |key, text| {
        metadata_len += field_len(field_len(key.len()) + field_len(text.len()));
    });
    field_len(timestamp_len(line)) + field_len(line.message.len()) + metadata_len
}

fn write_entry(line: &LogLine, proto: &mut Vec<u8>, value: &mut Vec<u8>) {
    write_tag(proto, 2, LENGTH_DELIMITED);
    write_varint(proto, entry_len(line, value) as u64);
    let (seconds, nanos) = timestamp_parts(line);
    write_tag(proto, 1, LENGTH_DELIMITED);
    write_varint(proto, timestamp_len(line) as u64);
    write_tag(proto, 1, VARINT);
    write_varint(proto, seconds as u64);
    write_tag(proto, 2, VARINT);
    write_varint(proto, nanos as u64);
    write_bytes_field(proto, 2, line.message.as_bytes());
    for_each_metadata(line, value, |key, text| {
        write_tag(proto, 3, LENGTH_DELIMITED);
        write_varint(proto, (field_len(key.len()) + field_len(text.len())) as u64);
        write_bytes_field(proto, 1, key.as_bytes());
        write_bytes_field(proto, 2, text);
    });
}

/// Size of a length-delimited field with a one-byte tag and `len` bytes.
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn varint_len(mut v: u64) -> usize {
    let mut len = 1;
    while v >= 0x80 {
        v >>= 7;
        len += 1;
    }
    len
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Field numbers here are all below 16, so a tag is one byte.
fn write_tag(out: &mut Vec<u8>, field: u8, wire_type: u8) {
    debug_assert!(field < 16);
    out.push((field << 3) | wire_type);
}

fn write_bytes_field(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    write_tag(out, field, LENGTH_DELIMITED);
    write_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}
