//! Encodes the model as a protobuf `ExportLogsServiceRequest`: the inverse
//! of `proto`, for round-trip tests, the fuzz target and test clients.
//! (`Base64` values, which only the JSON decoder makes, are written as
//! their text's bytes.)

use super::model::{AnyValue, ExportRequest, KeyValue, LogRecord, ScopeLogs};
use super::wire::{write_bytes_field, write_varint, write_varint_field};

pub fn encode_request(request: &ExportRequest<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    for resource in &request.resource_logs {
        let mut resource_bytes = Vec::new();
        let mut attributes = Vec::new();
        for pair in &resource.resource_attributes {
            write_bytes_field(&mut attributes, 1, &key_value(pair));
        }
        write_bytes_field(&mut resource_bytes, 1, &attributes);
        for scope in &resource.scope_logs {
            write_bytes_field(&mut resource_bytes, 2, &scope_logs(scope));
        }
        write_bytes_field(&mut out, 1, &resource_bytes);
    }
    out
}

fn scope_logs(scope: &ScopeLogs<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut scope_bytes = Vec::new();
    write_bytes_field(&mut scope_bytes, 1, scope.scope_name.as_bytes());
    write_bytes_field(&mut scope_bytes, 2, scope.scope_version.as_bytes());
    for pair in &scope.scope_attributes {
        write_bytes_field(&mut scope_bytes, 3, &key_value(pair));
    }
    write_bytes_field(&mut out, 1, &scope_bytes);
    for record in &scope.log_records {
        write_bytes_field(&mut out, 2, &log_record(record));
    }
    out
}

fn write_fixed64_field(out: &mut Vec<u8>, field: u32, value: u64) {
    write_varint(out, (u64::from(field) << 3) | 1);
    out.extend_from_slice(&value.to_le_bytes());
}

fn log_record(record: &LogRecord<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    write_fixed64_field(&mut out, 1, record.time_unix_nano);
    write_varint_field(&mut out, 2, record.severity_number as i64 as u64);
    write_bytes_field(&mut out, 3, record.severity_text.as_bytes());
    if record.body != AnyValue::Empty {
        write_bytes_field(&mut out, 5, &any_value(&record.body));
    }
    for pair in &record.attributes {
        write_bytes_field(&mut out, 6, &key_value(pair));
    }
    if record.flags != 0 {
        write_varint(&mut out, (8 << 3) | 5);
        out.extend_from_slice(&record.flags.to_le_bytes());
    }
    if let Some(id) = &record.trace_id {
        write_bytes_field(&mut out, 9, id);
    }
    if let Some(id) = &record.span_id {
        write_bytes_field(&mut out, 10, id);
    }
    write_fixed64_field(&mut out, 11, record.observed_time_unix_nano);
    if !record.event_name.is_empty() {
        write_bytes_field(&mut out, 12, record.event_name.as_bytes());
    }
    out
}

fn key_value(pair: &KeyValue<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    write_bytes_field(&mut out, 1, pair.key.as_bytes());
    write_bytes_field(&mut out, 2, &any_value(&pair.value));
    out
}

fn any_value(value: &AnyValue<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        AnyValue::Empty => {}
        AnyValue::Str(text) => write_bytes_field(&mut out, 1, text.as_bytes()),
        AnyValue::Bool(flag) => write_varint_field(&mut out, 2, u64::from(*flag)),
        AnyValue::Int(number) => write_varint_field(&mut out, 3, *number as u64),
        AnyValue::Double(number) => write_fixed64_field(&mut out, 4, number.to_bits()),
        AnyValue::Array(values) => {
            let mut list = Vec::new();
            for item in values {
                write_bytes_field(&mut list, 1, &any_value(item));
            }
            write_bytes_field(&mut out, 5, &list);
        }
        AnyValue::KvList(pairs) => {
            let mut list = Vec::new();
            for pair in pairs {
                write_bytes_field(&mut list, 1, &key_value(pair));
            }
            write_bytes_field(&mut out, 6, &list);
        }
        AnyValue::Bytes(bytes) => write_bytes_field(&mut out, 7, bytes),
        AnyValue::Base64(text) => write_bytes_field(&mut out, 7, text.as_bytes()),
    }
    out
}
