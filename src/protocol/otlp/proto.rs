//! Decodes a protobuf `ExportLogsServiceRequest` into the borrowed model.
//! Field numbers are those of opentelemetry-proto v1 (stable since 1.0).
//! Unknown fields are skipped; a known field with the wrong wire type, a
//! truncated field, bad UTF-8 or an id of the wrong length is an error.

use std::borrow::Cow;

use super::error::{OtlpError, Result};
use super::model::{
    id_from_bytes, AnyValue, ExportRequest, KeyValue, LogRecord, ResourceLogs, ScopeLogs,
    RECORDS_PER_REQUEST_MAX, VALUE_DEPTH_MAX,
};
use super::wire::{Reader, WireType};

/// Room made for a record's attributes at the first one (each `KeyValue`
/// is 56 bytes).
const ATTRIBUTES_RESERVED: usize = 8;

pub fn decode_request(body: &[u8]) -> Result<ExportRequest<'_>> {
    let mut reader = Reader::new(body, 0);
    let mut request = ExportRequest::default();
    // Counted as records are decoded, not after: an empty record is 2 bytes
    // on the wire but ~200 in memory, so a body of them must be stopped early.
    let mut record_count = 0usize;
    while !reader.is_empty() {
        match reader.key()? {
            (1, wire) => {
                reader.expect(wire, WireType::LengthDelimited)?;
                let resource = decode_resource_logs(reader.message()?, &mut record_count)?;
                request.resource_logs.push(resource);
            }
            (_, wire) => reader.skip(wire)?,
        }
    }
    Ok(request)
}

fn decode_resource_logs<'a>(
    mut reader: Reader<'a>,
    record_count: &mut usize,
) -> Result<ResourceLogs<'a>> {
    let mut resource = ResourceLogs::default();
    while !reader.is_empty() {
        match reader.key()? {
            // `resource`: a `Resource`, whose field 1 is its attributes.
            (1, wire) => {
                reader.expect(wire, WireType::LengthDelimited)?;
                let mut inner = reader.message()?;
                while !inner.is_empty() {
                    match inner.key()? {
                        (1, wire) => {
                            inner.expect(wire, WireType::LengthDelimited)?;
                            let attribute = decode_key_value(inner.message()?, 0)?;
                            resource.resource_attributes.push(attribute);
                        }
                        (_, wire) => inner.skip(wire)?,
                    }
                }
            }
            (2, wire) => {
                reader.expect(wire, WireType::LengthDelimited)?;
                resource
                    .scope_logs
                    .push(decode_scope_logs(reader.message()?, record_count)?);
            }
            (_, wire) => reader.skip(wire)?,
        }
    }
    Ok(resource)
}

fn decode_scope_logs<'a>(
    mut reader: Reader<'a>,
    record_count: &mut usize,
) -> Result<ScopeLogs<'a>> {
    let mut scope = ScopeLogs::default();
    while !reader.is_empty() {
        match reader.key()? {
            // `scope`: an `InstrumentationScope` (name 1, version 2, attributes 3).
            (1, wire) => {
                reader.expect(wire, WireType::LengthDelimited)?;
                let mut inner = reader.message()?;
                while !inner.is_empty() {
                    match inner.key()? {
                        (1, wire) => {
                            inner.expect(wire, WireType::LengthDelimited)?;
                            scope.scope_name = Cow::Borrowed(inner.string()?);
                        }
                        (2, wire) => {
                            inner.expect(wire, WireType::LengthDelimited)?;
                            scope.scope_version = Cow::Borrowed(inner.string()?);
                        }
                        (3, wire) => {
                            inner.expect(wire, WireType::LengthDelimited)?;
                            let attribute = decode_key_value(inner.message()?, 0)?;
                            scope.scope_attributes.push(attribute);
                        }
                        (_, wire) => inner.skip(wire)?,
                    }
                }
            }
            (2, wire) => {
                reader.expect(wire, WireType::LengthDelimited)?;
                *record_count += 1;
                if *record_count > RECORDS_PER_REQUEST_MAX {
                    return Err(OtlpError::TooManyRecords {
                        limit: RECORDS_PER_REQUEST_MAX,
                    });
                }
                scope
                    .log_records
                    .push(decode_log_record(reader.message()?)?);
            }
            (_, wire) => reader.skip(wire)?,
        }
    }
    Ok(scope)
}

fn decode_log_record(mut reader: Reader<'_>) -> Result<LogRecord<'_>> {
    let mut record = LogRecord::default();
    while !reader.is_empty() {
        let (field, wire) = reader.key()?;
        let expected = match field {
            1 | 11 => WireType::Fixed64,
            2 => WireType::Varint,
            8 => WireType::Fixed32,
            3 | 5 | 6 | 9 | 10 | 12 => WireType::LengthDelimited,
            _ => {
                reader.skip(wire)?;
                continue;
            }
        };
        reader.expect(wire, expected)?;
        match field {
            1 => record.time_unix_nano = reader.fixed64()?,
            11 => record.observed_time_unix_nano = reader.fixed64()?,
            // An enum is an int32 on the wire; a negative one is sign-extended.
            2 => record.severity_number = reader.varint()? as i32,
            8 => record.flags = reader.fixed32()?,
            3 => record.severity_text = Cow::Borrowed(reader.string()?),
            5 => record.body = decode_any_value(reader.message()?, 0)?,
            6 => {
                if record.attributes.is_empty() {
                    // Records usually carry a handful: one allocation, not four.
                    record.attributes.reserve(ATTRIBUTES_RESERVED);
                }
                record
                    .attributes
                    .push(decode_key_value(reader.message()?, 0)?)
            }
            9 => record.trace_id = id_from_bytes(reader.bytes()?)?,
            10 => record.span_id = id_from_bytes(reader.bytes()?)?,
            12 => record.event_name = Cow::Borrowed(reader.string()?),
            _ => unreachable!("fields without a wire type were skipped above"),
        }
    }
    Ok(record)
}

fn decode_key_value(mut reader: Reader<'_>, depth: usize) -> Result<KeyValue<'_>> {
    let mut pair = KeyValue::default();
    while !reader.is_empty() {
        match reader.key()? {
            (1, wire) => {
                reader.expect(wire, WireType::LengthDelimited)?;
                pair.key = Cow::Borrowed(reader.string()?);
            }
            (2, wire) => {
                reader.expect(wire, WireType::LengthDelimited)?;
                pair.value = decode_any_value(reader.message()?, depth)?;
            }
            (_, wire) => reader.skip(wire)?,
        }
    }
    Ok(pair)
}

fn decode_any_value(mut reader: Reader<'_>, depth: usize) -> Result<AnyValue<'_>> {
    if depth >= VALUE_DEPTH_MAX {
        return Err(OtlpError::TooDeep {
            limit: VALUE_DEPTH_MAX,
        });
    }
    let mut value = AnyValue::Empty;
    while !reader.is_empty() {
        let (field, wire) = reader.key()?;
        let expected = match field {
            2 | 3 => WireType::Varint,
            4 => WireType::Fixed64,
            1 | 5 | 6 | 7 => WireType::LengthDelimited,
            _ => {
                reader.skip(wire)?;
                continue;
            }
        };
        reader.expect(wire, expected)?;
        // A oneof: the last member on the wire wins.
        value = match field {
            1 => AnyValue::Str(Cow::Borrowed(reader.string()?)),
            2 => AnyValue::Bool(reader.varint()? != 0),
            3 => AnyValue::Int(reader.varint()? as i64),
            4 => AnyValue::Double(f64::from_bits(reader.fixed64()?)),
            7 => AnyValue::Bytes(reader.bytes()?),
            5 => AnyValue::Array(decode_values(reader.message()?, depth + 1)?),
            6 => AnyValue::KvList(decode_pairs(reader.message()?, depth + 1)?),
            _ => unreachable!("fields without a wire type were skipped above"),
        };
    }
    Ok(value)
}

/// `ArrayValue`: field 1, repeated `AnyValue`.
fn decode_values(mut reader: Reader<'_>, depth: usize) -> Result<Vec<AnyValue<'_>>> {
    let mut values = Vec::new();
    while !reader.is_empty() {
        match reader.key()? {
            (1, wire) => {
                reader.expect(wire, WireType::LengthDelimited)?;
                values.push(decode_any_value(reader.message()?, depth)?);
            }
            (_, wire) => reader.skip(wire)?,
        }
    }
    Ok(values)
}

/// `KeyValueList`: field 1, repeated `KeyValue`.
fn decode_pairs(mut reader: Reader<'_>, depth: usize) -> Result<Vec<KeyValue<'_>>> {
    let mut pairs = Vec::new();
    while !reader.is_empty() {
        match reader.key()? {
            (1, wire) => {
                reader.expect(wire, WireType::LengthDelimited)?;
                pairs.push(decode_key_value(reader.message()?, depth)?);
            }
            (_, wire) => reader.skip(wire)?,
        }
    }
    Ok(pairs)
}
