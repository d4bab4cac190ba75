use std::borrow::Cow;

use serde_json::json;

use super::convert::convert;
use super::encode::encode_request;
use super::model::*;
use super::response::{export_response, status};
use super::*;
use crate::config::OtlpConfig;
use crate::entry::{ColumnBatch, Level};

fn kv<'a>(key: &'a str, value: AnyValue<'a>) -> KeyValue<'a> {
    KeyValue {
        key: Cow::Borrowed(key),
        value,
    }
}

fn text(value: &str) -> AnyValue<'_> {
    AnyValue::Str(Cow::Borrowed(value))
}

fn sample() -> ExportRequest<'static> {
    let record = LogRecord {
        time_unix_nano: 1_710_498_600_123_456_789,
        observed_time_unix_nano: 1_710_498_600_999_999_999,
        severity_number: 17,
        severity_text: Cow::Borrowed("ERROR"),
        body: text("payment failed"),
        attributes: vec![
            kv("request_id", text("r-1")),
            kv("status", AnyValue::Int(503)),
            kv("ratio", AnyValue::Double(0.5)),
            kv("ok", AnyValue::Bool(false)),
            kv("blob", AnyValue::Bytes(b"\x00\x01")),
            kv(
                "nested",
                AnyValue::KvList(vec![kv("list", AnyValue::Array(vec![AnyValue::Int(1)]))]),
            ),
        ],
        flags: 1,
        trace_id: Some([0xab; 16]),
        span_id: Some([0x0c; 8]),
        event_name: Cow::Borrowed(""),
    };
    ExportRequest {
        resource_logs: vec![ResourceLogs {
            resource_attributes: vec![
                kv("service.name", text("payments")),
                kv("host.name", text("web-1")),
                kv("k8s.pod.name", text("pod-7")),
            ],
            scope_logs: vec![ScopeLogs {
                scope_name: Cow::Borrowed("app.payments"),
                scope_version: Cow::Borrowed("1.2"),
                scope_attributes: vec![],
                log_records: vec![record],
            }],
        }],
    }
}

fn converted_entries(request: &ExportRequest<'_>, config: &OtlpConfig) -> (ColumnBatch, u64) {
    let converted = convert(request, config, 42, ColumnBatch::default);
    assert!(converted.batches.len() <= 1);
    let batch = converted
        .batches
        .into_iter()
        .next()
        .map(|target| target.batch)
        .unwrap_or_default();
    (batch, converted.rejected_count)
}

#[test]
fn protobuf_round_trips_through_the_decoder() {
    let request = sample();
    let bytes = encode_request(&request);
    let decoded = decode(Encoding::Protobuf, &bytes).unwrap();
    assert_eq!(decoded, request);
}

#[test]
fn every_truncation_and_byte_flip_of_a_protobuf_body_is_an_error_or_a_request_never_a_panic() {
    let bytes = encode_request(&sample());
    for end in 0..bytes.len() {
        let _ = decode(Encoding::Protobuf, &bytes[..end]);
    }
    for index in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[index] ^= 0xff;
        let _ = decode(Encoding::Protobuf, &flipped);
    }
    // Truncating the outer message mid-field is a precise error.
    let error = decode(Encoding::Protobuf, &bytes[..bytes.len() - 1]).unwrap_err();
    assert!(
        matches!(error, OtlpError::Protobuf { what, .. } if what.contains("runs past")),
        "{error}"
    );
}

#[test]
fn json_takes_camel_and_snake_case_string_int64_hex_ids_and_ignores_unknown_fields() {
    let body = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "payments"}}]},
        "schemaUrl": "ignored",
        "scope_logs": [{"scope": {"name": "app", "version": null}, "logRecords": [{
            "timeUnixNano": "1710498600123456789",
            "observed_time_unix_nano": 5,
            "severityNumber": "SEVERITY_NUMBER_WARN2",
            "severityText": "warning",
            "body": {"kvlistValue": {"values": [{"key": "a", "value": {"intValue": "7"}}]}},
            "attributes": [
                {"key": "d", "value": {"doubleValue": "NaN"}},
                {"key": "b", "value": {"bytesValue": "AAE="}},
                {"key": "x", "value": {"unknownValue": 1}}
            ],
            "traceId": "ABABABABABABABABABABABABABABABAB",
            "spanId": "",
            "droppedAttributesCount": 0,
            "futureField": {"nested": [1, 2]}
        }]}]
    }]});
    let bytes = serde_json::to_vec(&body).unwrap();
    let request = decode(Encoding::Json, &bytes).unwrap();
    let record = &request.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(record.time_unix_nano, 1_710_498_600_123_456_789);
    assert_eq!(record.observed_time_unix_nano, 5);
    assert_eq!(record.severity_number, 14);
    assert_eq!(record.trace_id, Some([0xab; 16]));
    assert_eq!(record.span_id, None);
    assert_eq!(record.attributes[2].value, AnyValue::Empty);
    assert!(matches!(record.attributes[0].value, AnyValue::Double(v) if v.is_nan()));
    assert!(matches!(&record.severity_text, Cow::Borrowed("warning")));
}

#[test]
fn json_errors_say_what_is_wrong() {
    for (body, expected) in [
        (r#"{"resourceLogs": 5}"#, "invalid type"),
        (
            r#"{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "xyz"}]}]}]}"#,
            "32 hex digits",
        ),
        (
            r#"{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "soon"}]}]}]}"#,
            "not a decimal integer",
        ),
        ("not json", "line 1 column"),
    ] {
        let error = decode(Encoding::Json, body.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{body}: {error}");
    }
}

#[test]
fn records_map_to_entries_through_the_default_mapping() {
    let config = OtlpConfig::default();
    let (batch, rejected) = converted_entries(&sample(), &config);
    assert_eq!((batch.len(), rejected), (1, 0));
    assert_eq!(batch.timestamps_ns[0], 1_710_498_600_123_456_789);
    assert_eq!(Level::from_byte(batch.levels[0]), Level::Error);
    assert_eq!(batch.sources.get(0), "payments");
    assert_eq!(batch.messages.get(0), "payment failed");
    let tags: Vec<(&str, &str)> = (0..batch.tag_keys.len())
        .map(|index| (batch.tag_keys.get(index), batch.tag_values.get(index)))
        .collect();
    assert!(tags.contains(&("host.name", "web-1")), "{tags:?}");
    assert!(tags.contains(&("trace_id", "abababababababababababababababab")));
    assert!(tags.contains(&("span_id", "0c0c0c0c0c0c0c0c")));
    let fields: serde_json::Value = serde_json::from_str(batch.fields.get(0)).unwrap();
    assert_eq!(
        fields,
        json!({
            "request_id": "r-1", "status": 503, "ratio": 0.5, "ok": false, "blob": "AAE=",
            "nested": {"list": [1]}, "trace_flags": 1,
            "resource": {"k8s.pod.name": "pod-7"},
            "scope": {"name": "app.payments", "version": "1.2"}
        })
    );
}

#[test]
fn time_level_and_body_fall_back_as_documented() {
    let mut request = sample();
    let record = &mut request.resource_logs[0].scope_logs[0].log_records[0];
    record.time_unix_nano = 0;
    record.severity_number = 0;
    record.severity_text = Cow::Borrowed("Verbose!");
    record.body = AnyValue::Array(vec![text("a"), AnyValue::Int(2)]);
    record.attributes = vec![kv("scope", text("mine"))];
    let config = OtlpConfig::default();
    let (batch, _) = converted_entries(&request, &config);
    assert_eq!(batch.timestamps_ns[0], 1_710_498_600_999_999_999);
    assert_eq!(Level::from_byte(batch.levels[0]), Level::Unset);
    assert_eq!(batch.messages.get(0), r#"["a",2]"#);
    let fields: serde_json::Value = serde_json::from_str(batch.fields.get(0)).unwrap();
    assert_eq!(fields["attributes.scope"], "mine");
    assert_eq!(fields["severity_text"], "Verbose!");
    request.resource_logs[0].scope_logs[0].log_records[0].observed_time_unix_nano = 0;
    let (batch, _) = converted_entries(&request, &config);
    assert_eq!(batch.timestamps_ns[0], 42);
}

#[test]
fn a_record_over_a_limit_or_past_2262_is_rejected_and_the_rest_kept() {
    let mut request = sample();
    let records = &mut request.resource_logs[0].scope_logs[0].log_records;
    let good = records[0].clone();
    let mut huge = good.clone();
    let message = "m".repeat(crate::ingest::MESSAGE_BYTES_MAX + 1);
    huge.body = AnyValue::Str(Cow::Owned(message));
    let mut late = good.clone();
    late.time_unix_nano = u64::MAX;
    records.extend([huge, late, good]);
    let converted = convert(&request, &OtlpConfig::default(), 42, ColumnBatch::default);
    assert_eq!(converted.batches[0].entry_count, 2);
    assert_eq!(converted.rejected_count, 2);
    let why = converted.first_rejection.unwrap();
    assert!(why.contains("message has 1048577 bytes"), "{why}");
}

#[test]
fn the_partition_attribute_routes_resources_and_bad_names_are_rejected() {
    let config = OtlpConfig {
        partition_attribute: "service.namespace".to_string(),
        ..OtlpConfig::default()
    };
    let mut request = sample();
    let mut second = request.resource_logs[0].clone();
    second
        .resource_attributes
        .push(kv("service.namespace", text("shop")));
    let mut third = request.resource_logs[0].clone();
    third
        .resource_attributes
        .push(kv("service.namespace", text("no spaces allowed")));
    request.resource_logs.extend([second, third]);
    let converted = convert(&request, &config, 42, ColumnBatch::default);
    let partitions: Vec<&str> = converted
        .batches
        .iter()
        .map(|target| target.partition.as_str())
        .collect();
    assert_eq!(partitions, ["otlp", "shop"]);
    assert_eq!(converted.rejected_count, 1);
    assert!(converted.first_rejection.unwrap().contains("not valid"));
}

#[test]
fn responses_are_empty_on_success_and_carry_partial_success_and_status() {
    assert!(export_response(Encoding::Protobuf, 0, "").is_empty());
    assert_eq!(export_response(Encoding::Json, 0, ""), b"{}");
    let json: serde_json::Value =
        serde_json::from_slice(&export_response(Encoding::Json, 2, "too big")).unwrap();
    assert_eq!(
        json,
        json!({"partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "too big"}})
    );
    // partial_success (1) { rejected_log_records (1) = 2, error_message (2) = "x" }
    assert_eq!(
        export_response(Encoding::Protobuf, 2, "x"),
        [0x0a, 5, 0x08, 2, 0x12, 1, b'x']
    );
    assert_eq!(
        status(Encoding::Protobuf, 3, "bad"),
        [0x08, 3, 0x12, 3, b'b', b'a', b'd']
    );
    let json: serde_json::Value =
        serde_json::from_slice(&status(Encoding::Json, 3, "bad \"x\"")).unwrap();
    assert_eq!(json, json!({"code": 3, "message": "bad \"x\""}));
}

#[test]
fn content_types_are_matched_without_their_parameters() {
    assert_eq!(
        Encoding::from_content_type("application/json; charset=utf-8"),
        Some(Encoding::Json)
    );
    assert_eq!(
        Encoding::from_content_type("Application/X-Protobuf"),
        Some(Encoding::Protobuf)
    );
    assert_eq!(Encoding::from_content_type("text/plain"), None);
}

#[test]
fn deeply_nested_values_are_refused_not_overflowing_the_stack() {
    let mut value = AnyValue::Int(1);
    for _ in 0..(VALUE_DEPTH_MAX + 1) {
        value = AnyValue::Array(vec![value]);
    }
    let mut request = sample();
    request.resource_logs[0].scope_logs[0].log_records[0].body = value;
    let bytes = encode_request(&request);
    assert_eq!(
        decode(Encoding::Protobuf, &bytes).unwrap_err(),
        OtlpError::TooDeep {
            limit: VALUE_DEPTH_MAX
        }
    );
}

#[test]
fn a_body_of_more_empty_records_than_the_limit_is_refused_while_decoding() {
    // ScopeLogs.log_records = 2, empty: two bytes per record.
    let mut scope = Vec::new();
    for _ in 0..=RECORDS_PER_REQUEST_MAX {
        scope.extend_from_slice(&[0x12, 0x00]);
    }
    let mut resource = Vec::new();
    super::wire::write_bytes_field(&mut resource, 2, &scope);
    let mut body = Vec::new();
    super::wire::write_bytes_field(&mut body, 1, &resource);
    // `.err()`: on failure, do not print a million records.
    assert_eq!(
        decode(Encoding::Protobuf, &body).err(),
        Some(OtlpError::TooManyRecords {
            limit: RECORDS_PER_REQUEST_MAX
        })
    );
}

#[test]
fn a_json_body_of_more_empty_records_than_the_limit_is_refused_while_decoding() {
    let mut body = String::from(r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":["#);
    for index in 0..=RECORDS_PER_REQUEST_MAX {
        body.push_str(if index == 0 { "{}" } else { ",{}" });
    }
    body.push_str("]}]}]}");
    assert_eq!(
        decode(Encoding::Json, body.as_bytes()).err(),
        Some(OtlpError::TooManyRecords {
            limit: RECORDS_PER_REQUEST_MAX
        })
    );
    // The count starts again with each request.
    assert!(decode(
        Encoding::Json,
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{}]}]}]}"#
    )
    .is_ok());
}
