//! `POST /v1/logs` against the real server: OTLP/HTTP logs in protobuf and
//! JSON (plain and gzip), read back through the query API; partial success;
//! the error statuses and bodies OTLP clients act on.

mod common;

use std::borrow::Cow;
use std::io::Write;

use common::{send_raw, Response, Server};
use serde_json::{json, Value};
use timberdb::protocol::otlp::encode::encode_request;
use timberdb::protocol::otlp::model::{
    AnyValue, ExportRequest, KeyValue, LogRecord, ResourceLogs, ScopeLogs,
};
use timberdb::protocol::otlp::{decode, Encoding};

const T0: u64 = 1_710_498_600_123_456_789;

fn kv<'a>(key: &'a str, value: &'a str) -> KeyValue<'a> {
    KeyValue {
        key: Cow::Borrowed(key),
        value: AnyValue::Str(Cow::Borrowed(value)),
    }
}

fn request_with(messages: &[String]) -> ExportRequest<'_> {
    let log_records = messages
        .iter()
        .enumerate()
        .map(|(index, message)| LogRecord {
            time_unix_nano: T0 + index as u64,
            severity_number: 13,
            severity_text: Cow::Borrowed("WARN"),
            body: AnyValue::Str(Cow::Borrowed(message)),
            attributes: vec![
                kv("request_id", "r-1"),
                KeyValue {
                    key: Cow::Borrowed("attempt"),
                    value: AnyValue::Int(3),
                },
            ],
            trace_id: Some([0x5b; 16]),
            span_id: Some([0x0d; 8]),
            ..LogRecord::default()
        })
        .collect();
    ExportRequest {
        resource_logs: vec![ResourceLogs {
            resource_attributes: vec![kv("service.name", "checkout"), kv("host.name", "web-3")],
            scope_logs: vec![ScopeLogs {
                scope_name: Cow::Borrowed("shop.checkout"),
                log_records,
                ..ScopeLogs::default()
            }],
        }],
    }
}

fn post(server: &Server, content_type: &str, encoding: Option<&str>, body: &[u8]) -> Response {
    let mut head = format!(
        "POST /v1/logs HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        server.addr,
        body.len()
    );
    if let Some(encoding) = encoding {
        head.push_str(&format!("Content-Encoding: {encoding}\r\n"));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    send_raw(&server.addr, &raw)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn search(server: &Server, q: &str) -> Value {
    server.query(&json!({"partitions": ["otlp"], "q": q, "limit": 100}))
}

#[test]
fn protobuf_and_json_records_are_stored_with_source_level_tags_and_fields() {
    let server = Server::start();
    let proto_messages = vec!["proto payment declined".to_string()];
    let body = encode_request(&request_with(&proto_messages));
    let response = post(&server, "application/x-protobuf", None, &body);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("application/x-protobuf")
    );
    assert!(
        response.body.is_empty(),
        "an empty ExportLogsServiceResponse"
    );

    let response = post(
        &server,
        "application/x-protobuf",
        Some("gzip"),
        &gzip(&body),
    );
    assert_eq!(response.status, 200, "{}", response.text());

    let json_body = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeLogs": [{"logRecords": [{
            "timeUnixNano": "1710498600123456789", "severityNumber": 9,
            "body": {"stringValue": "json order placed"},
            "traceId": "5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b", "spanId": "0d0d0d0d0d0d0d0d",
            "attributes": [{"key": "items", "value": {"intValue": "2"}}]
        }]}]
    }]})
    .to_string();
    let response = post(
        &server,
        "application/json",
        Some("gzip"),
        &gzip(json_body.as_bytes()),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json(), json!({}));

    let result = search(
        &server,
        "SELECT * WHERE tags.trace_id = '5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b'",
    );
    assert_eq!(result["total_count"], 3, "{result}");
    let result = search(&server, "SELECT * WHERE message CONTAINS 'proto payment'");
    assert_eq!(result["total_count"], 2, "{result}");
    let entry = &result["entries"][0];
    assert_eq!(entry["source"], "checkout", "{entry}");
    assert_eq!(entry["level"], "warn", "{entry}");
    assert_eq!(entry["tags"]["host.name"], "web-3", "{entry}");
    assert_eq!(entry["tags"]["span_id"], "0d0d0d0d0d0d0d0d", "{entry}");
    assert_eq!(entry["fields"]["request_id"], "r-1", "{entry}");
    assert_eq!(entry["fields"]["attempt"], 3, "{entry}");
    assert_eq!(entry["fields"]["scope"]["name"], "shop.checkout", "{entry}");
    let result = search(&server, "SELECT * WHERE message CONTAINS 'json order'");
    assert_eq!(result["entries"][0]["level"], "info", "{result}");
    assert_eq!(result["entries"][0]["fields"]["items"], 2, "{result}");
}

#[test]
fn a_record_over_a_limit_is_a_partial_success_and_the_rest_are_stored() {
    let server = Server::start();
    let messages = vec![
        "first kept".to_string(),
        "m".repeat(timberdb::ingest::MESSAGE_BYTES_MAX + 1),
        "third kept".to_string(),
    ];
    let body = encode_request(&request_with(&messages));
    let response = post(
        &server,
        "application/x-protobuf",
        Some("gzip"),
        &gzip(&body),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    // partial_success (1) { rejected_log_records (1) = 1, error_message (2) }
    assert_eq!(&response.body[2..4], &[0x08, 0x01], "{:?}", response.body);
    assert!(response.text().contains("message has 1048577 bytes"));
    let result = search(&server, "kept");
    assert_eq!(result["total_count"], 2, "{result}");
}

#[test]
fn bad_input_is_400_with_a_status_in_the_request_encoding() {
    let server = Server::start();
    let response = post(&server, "application/x-protobuf", None, &[0x0a, 0x05, 0x01]);
    assert_eq!(response.status, 400);
    assert_eq!(
        response.header("content-type"),
        Some("application/x-protobuf")
    );
    // google.rpc.Status { code (1) = 3 INVALID_ARGUMENT, message (2) }
    assert_eq!(&response.body[..2], &[0x08, 0x03]);
    assert!(
        response.text().contains("runs past its message"),
        "{}",
        response.text()
    );
    assert!(response.header("retry-after").is_none());

    let response = post(
        &server,
        "application/json",
        None,
        br#"{"resourceLogs": {}}"#,
    );
    assert_eq!(response.status, 400);
    let status = response.json();
    assert_eq!(status["code"], 3);
    assert!(status["message"]
        .as_str()
        .unwrap()
        .contains("not a valid ExportLogsServiceRequest"));

    let response = post(&server, "text/plain", None, b"hello");
    assert_eq!(response.status, 415);
    assert!(response.json()["message"]
        .as_str()
        .unwrap()
        .contains("application/x-protobuf"));

    let response = post(&server, "application/x-protobuf", Some("gzip"), b"not gzip");
    assert_eq!(response.status, 400);

    let response = server.get("/v1/logs");
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("POST"));
}

#[test]
fn the_partition_attribute_is_not_configured_by_default_and_an_empty_request_is_ok() {
    let server = Server::start();
    let response = post(&server, "application/x-protobuf", None, b"");
    assert_eq!(response.status, 200);
    assert!(response.body.is_empty());
    let response = post(&server, "application/json", None, b"{}");
    assert_eq!((response.status, response.json()), (200, json!({})));
}

/// loadgen's `otlp-proto` body holds what its `otlp` JSON body holds: both
/// decode to the same request.
#[test]
fn loadgen_otlp_proto_and_otlp_json_bodies_decode_to_the_same_request() {
    use loadgen::line::LogLine;
    use loadgen::protocol::Protocol;
    use loadgen::workload::{Generator, GeneratorConfig};
    let generator = Generator::new(GeneratorConfig {
        seed: 7,
        line_bytes: 400,
    });
    let lines: Vec<LogLine> = (0..500)
        .map(|index| {
            let mut line = LogLine::new();
            generator.fill(index, &mut line);
            line
        })
        .collect();
    let mut proto = Vec::new();
    Protocol::OtlpProto.encode(&lines, "p", &mut proto);
    let mut json = Vec::new();
    Protocol::Otlp.encode(&lines, "p", &mut json);
    let from_proto = decode(Encoding::Protobuf, &proto).unwrap();
    let from_json = decode(Encoding::Json, &json).unwrap();
    let records: usize = from_proto
        .resource_logs
        .iter()
        .flat_map(|resource| &resource.scope_logs)
        .map(|scope| scope.log_records.len())
        .sum();
    assert_eq!(records, 500);
    // NaN != NaN: compare the debug text, which spells NaN the same on both sides.
    assert_eq!(format!("{from_proto:?}"), format!("{from_json:?}"));
}
