//! Each encoder against its documented wire format: the output is parsed
//! with serde_json and compared with the exact structure the module docs
//! promise.

use serde_json::{json, Value};

use super::Protocol;
use crate::line::{Level, LogLine};
use crate::workload::{Generator, GeneratorConfig};

const T0: i64 = 1_710_498_600_123_456_789;
const NASTY: &str = "bad \"quote\" \\ back\nnext line \u{fc}n\u{ef}c\u{f8}d\u{e9} \u{1f600} \u{1}";

/// Four lines covering escapes, unicode, numbers, two services sharing
/// labels, and a line with no tags or fields.
fn crafted() -> Vec<LogLine> {
    let mut a = LogLine::new();
    a.timestamp_ns = T0;
    a.level = Level::Error;
    a.source.push_str("auth");
    a.message.push_str(NASTY);
    a.push_tag("env", "prod");
    a.push_tag("region", "us-east-1");
    a.push_tag("host", "auth-1");
    a.push_tag("request_id", "r-\"1\"");
    a.push_field_int("status", 503);
    a.push_field_float("duration_ms", 12.5);
    a.push_field_str("route", "/x\"y");

    let mut b = LogLine::new();
    b.timestamp_ns = T0 + 1;
    b.level = Level::Info;
    b.source.push_str("search");
    b.message.push_str("ok");
    b.push_tag("env", "prod");
    b.push_tag("host", "search-1");
    b.push_field_int("bytes", -1024);

    let mut c = LogLine::new();
    c.timestamp_ns = T0 + 2;
    c.level = Level::Error;
    c.source.push_str("auth");
    c.message.push_str("second auth error");
    c.push_tag("env", "prod");
    c.push_tag("region", "us-east-1");
    c.push_tag("host", "auth-2");
    c.push_tag("user_id", "u_7");

    let mut d = LogLine::new();
    d.timestamp_ns = T0 + 3;
    d.level = Level::Warn;
    d.source.push_str("billing");
    d.message.push_str("tab\there");
    vec![a, b, c, d]
}

fn encode(protocol: Protocol, lines: &[LogLine]) -> String {
    let mut out = b"prefix kept|".to_vec();
    protocol.encode(lines, "main", &mut out);
    let text = String::from_utf8(out).expect("encoders write UTF-8");
    text.strip_prefix("prefix kept|")
        .expect("encode appends")
        .to_owned()
}

/// Splits NDJSON, insisting on a final newline and no empty lines.
fn ndjson(body: &str) -> Vec<Value> {
    let body = body.strip_suffix('\n').expect("NDJSON ends with a newline");
    body.split('\n')
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

#[test]
fn protocol_names_paths_and_content_types() {
    let table: Vec<_> = Protocol::ALL
        .iter()
        .map(|p| (p.name(), p.ingest_path("main"), p.content_type()))
        .collect();
    assert_eq!(
        table,
        [
            ("native", "/api/v1/partitions/main/logs".to_owned(), "application/x-ndjson"),
            ("es-bulk", "/_bulk".to_owned(), "application/x-ndjson"),
            ("loki", "/loki/api/v1/push".to_owned(), "application/json"),
            ("otlp", "/v1/logs".to_owned(), "application/json"),
            ("otlp-proto", "/v1/logs".to_owned(), "application/x-protobuf"),
            (
                "jsonline",
                "/insert/jsonline?_stream_fields=service,env,region,host&_msg_field=_msg&_time_field=_time".to_owned(),
                "application/stream+json"
            ),
        ]
    );
    assert_eq!(
        Protocol::Native.ingest_path("a.b-c_9/x y%"),
        "/api/v1/partitions/a.b-c_9%2Fx%20y%25/logs"
    );
    for protocol in Protocol::ALL {
        let serialized = serde_json::to_value(protocol).expect("serialize");
        assert_eq!(serialized, json!(protocol.name()));
        let parsed = <Protocol as clap::ValueEnum>::from_str(protocol.name(), false);
        assert_eq!(parsed, Ok(protocol));
    }
}

#[test]
fn native_is_one_object_per_line_with_tags_and_top_level_fields() {
    let mut lines = crafted();
    lines[3].push_field_str("msg", "would be read as the message");
    lines[3].push_field_int("level", 3);
    let docs = ndjson(&encode(Protocol::Native, &lines));
    assert_eq!(
        docs,
        [
            json!({"timestamp": T0, "level": "error", "source": "auth", "message": NASTY,
                   "tags": {"env": "prod", "region": "us-east-1", "host": "auth-1", "request_id": "r-\"1\""},
                   "status": 503, "duration_ms": 12.5, "route": "/x\"y"}),
            json!({"timestamp": T0 + 1, "level": "info", "source": "search", "message": "ok",
                   "tags": {"env": "prod", "host": "search-1"}, "bytes": -1024}),
            json!({"timestamp": T0 + 2, "level": "error", "source": "auth", "message": "second auth error",
                   "tags": {"env": "prod", "region": "us-east-1", "host": "auth-2", "user_id": "u_7"}}),
            json!({"timestamp": T0 + 3, "level": "warn", "source": "billing", "message": "tab\there"}),
        ]
    );
    assert!(docs[0]["duration_ms"].is_f64() && docs[0]["status"].is_i64());
}

#[test]
fn native_encodes_every_generated_line_as_one_object() {
    let generator = Generator::new(GeneratorConfig {
        seed: 9,
        line_bytes: 300,
    });
    let lines: Vec<LogLine> = (0..2_000)
        .map(|index| {
            let mut line = LogLine::new();
            generator.fill(index, &mut line);
            line.timestamp_ns = T0 + index as i64;
            line
        })
        .collect();
    let docs = ndjson(&encode(Protocol::Native, &lines));
    assert_eq!(docs.len(), lines.len());
    for (doc, line) in docs.iter().zip(&lines) {
        let object = doc.as_object().expect("an object");
        assert_eq!(object["timestamp"], json!(line.timestamp_ns));
        assert_eq!(object["level"], json!(line.level.as_str()));
        assert_eq!(object["source"], json!(line.source));
        assert_eq!(object["message"], json!(line.message));
        for (key, value) in line.tags() {
            assert_eq!(object["tags"][key], json!(value));
        }
        let expected_keys = 4 + usize::from(line.tag_count() > 0) + line.field_count();
        assert_eq!(object.len(), expected_keys, "{doc}");
    }
}

#[test]
fn es_bulk_alternates_create_actions_and_ecs_documents() {
    let body = encode(Protocol::EsBulk, &crafted());
    let docs = ndjson(&body);
    assert_eq!(docs.len(), 8);
    for action in docs.iter().step_by(2) {
        assert_eq!(action, &json!({"create": {"_index": "main"}}));
    }
    let sources: Vec<&Value> = docs.iter().skip(1).step_by(2).collect();
    assert_eq!(
        sources[0],
        &json!({"@timestamp": "2024-03-15T10:30:00.123456789Z", "message": NASTY,
                "log.level": "error", "service.name": "auth",
                "labels": {"env": "prod", "region": "us-east-1", "host": "auth-1", "request_id": "r-\"1\""},
                "status": 503, "duration_ms": 12.5, "route": "/x\"y"})
    );
    assert_eq!(
        sources[3],
        &json!({"@timestamp": "2024-03-15T10:30:00.123456792Z", "message": "tab\there",
                "log.level": "warn", "service.name": "billing"})
    );
    let mut empty = Vec::new();
    Protocol::EsBulk.encode(&[], "main", &mut empty);
    assert!(empty.is_empty());
}

#[test]
fn loki_groups_streams_by_labels_with_structured_metadata() {
    let body: Value = serde_json::from_str(&encode(Protocol::Loki, &crafted())).expect("JSON");
    let ns = |offset: i64| (T0 + offset).to_string();
    assert_eq!(
        body,
        json!({"streams": [
            {"stream": {"service": "auth", "env": "prod", "region": "us-east-1", "level": "error"},
             "values": [
                [ns(0), NASTY, {"host": "auth-1", "request_id": "r-\"1\"", "status": "503",
                                "duration_ms": "12.5", "route": "/x\"y"}],
                [ns(2), "second auth error", {"host": "auth-2", "user_id": "u_7"}],
             ]},
            {"stream": {"service": "search", "env": "prod", "level": "info"},
             "values": [[ns(1), "ok", {"host": "search-1", "bytes": "-1024"}]]},
            {"stream": {"service": "billing", "level": "warn"},
             "values": [[ns(3), "tab\there"]]},
        ]})
    );
    let empty: Value = serde_json::from_str(&encode(Protocol::Loki, &[])).expect("JSON");
    assert_eq!(empty, json!({"streams": []}));
}

#[test]
fn otlp_groups_by_resource_with_string_int64s_and_severity_numbers() {
    let body: Value = serde_json::from_str(&encode(Protocol::Otlp, &crafted())).expect("JSON");
    let s = |v: &str| json!({"stringValue": v});
    let attr = |k: &str, v: Value| json!({"key": k, "value": v});
    let record = |offset: i64, number: u8, text: &str, body: &str, attributes: Value| {
        json!({"timeUnixNano": (T0 + offset).to_string(),
               "observedTimeUnixNano": (T0 + offset).to_string(),
               "severityNumber": number, "severityText": text,
               "body": {"stringValue": body}, "attributes": attributes})
    };
    let resource = |attributes: Value, records: Value| {
        json!({"resource": {"attributes": attributes},
               "scopeLogs": [{"scope": {"name": "loadgen"}, "logRecords": records}]})
    };
    let auth_resource = |host: &str| {
        json!([
            attr("service.name", s("auth")),
            attr("host.name", s(host)),
            attr("deployment.environment.name", s("prod")),
            attr("cloud.region", s("us-east-1"))
        ])
    };
    let expected = json!({"resourceLogs": [
        resource(auth_resource("auth-1"), json!([record(0, 17, "ERROR", NASTY, json!([
            attr("request_id", s("r-\"1\"")),
            attr("status", json!({"intValue": "503"})),
            attr("duration_ms", json!({"doubleValue": 12.5})),
            attr("route", s("/x\"y")),
        ]))])),
        resource(
            json!([attr("service.name", s("search")), attr("host.name", s("search-1")),
                   attr("deployment.environment.name", s("prod"))]),
            json!([record(1, 9, "INFO", "ok", json!([attr("bytes", json!({"intValue": "-1024"}))]))]),
        ),
        resource(auth_resource("auth-2"), json!([record(2, 17, "ERROR", "second auth error",
            json!([attr("user_id", s("u_7"))]))])),
        resource(json!([attr("service.name", s("billing"))]),
            json!([record(3, 13, "WARN", "tab\there", json!([]))])),
    ]});
    assert_eq!(body, expected);
}

#[test]
fn otlp_groups_lines_of_one_resource_and_spells_non_finite_doubles() {
    let mut lines = crafted();
    let first = lines[0].clone();
    lines[2].clone_from(&first);
    lines[2].push_field_float("nan", f64::NAN);
    lines[2].push_field_float("inf", f64::NEG_INFINITY);
    let body: Value = serde_json::from_str(&encode(Protocol::Otlp, &lines)).expect("JSON");
    let resources = body["resourceLogs"].as_array().expect("array");
    assert_eq!(resources.len(), 3, "lines 0 and 2 share a resource");
    let records = resources[0]["scopeLogs"][0]["logRecords"]
        .as_array()
        .expect("array");
    assert_eq!(records.len(), 2);
    let attributes = records[1]["attributes"].as_array().expect("array");
    let tail: Vec<&Value> = attributes.iter().rev().take(2).collect();
    assert_eq!(
        tail[1],
        &json!({"key": "nan", "value": {"doubleValue": "NaN"}})
    );
    assert_eq!(
        tail[0],
        &json!({"key": "inf", "value": {"doubleValue": "-Infinity"}})
    );
}

#[test]
fn jsonline_flattens_tags_and_fields_beside_time_and_msg() {
    let docs = ndjson(&encode(Protocol::Jsonline, &crafted()));
    assert_eq!(
        docs[0],
        json!({"_time": "2024-03-15T10:30:00.123456789Z", "_msg": NASTY, "level": "error",
               "service": "auth", "env": "prod", "region": "us-east-1", "host": "auth-1",
               "request_id": "r-\"1\"", "status": 503, "duration_ms": 12.5, "route": "/x\"y"})
    );
    assert_eq!(
        docs[3],
        json!({"_time": "2024-03-15T10:30:00.123456792Z", "_msg": "tab\there",
               "level": "warn", "service": "billing"})
    );
    assert_eq!(docs.len(), 4);
}

/// Every protocol writes valid JSON for every generated line, including
/// stack traces and padding with quotes.
#[test]
fn every_protocol_encodes_generated_batches_as_valid_json() {
    let generator = Generator::new(GeneratorConfig {
        seed: 3,
        line_bytes: 1_000,
    });
    let lines: Vec<LogLine> = (0..3_000)
        .map(|index| {
            let mut line = LogLine::new();
            generator.fill(index, &mut line);
            line.timestamp_ns = T0;
            line
        })
        .collect();
    // otlp-proto is binary; tests/otlp_ingest.rs decodes it with the
    // server's decoder and holds it to the otlp JSON body's content.
    for protocol in Protocol::ALL
        .into_iter()
        .filter(|&p| p != Protocol::OtlpProto)
    {
        let body = encode(protocol, &lines);
        let records = match protocol {
            Protocol::Native | Protocol::Jsonline => ndjson(&body).len(),
            Protocol::EsBulk => ndjson(&body).len() / 2,
            Protocol::Loki => {
                let body: Value = serde_json::from_str(&body).expect("JSON");
                let streams = body["streams"].as_array().expect("streams");
                streams
                    .iter()
                    .map(|s| s["values"].as_array().expect("values").len())
                    .sum()
            }
            Protocol::OtlpProto => unreachable!("filtered out above"),
            Protocol::LokiProto => unreachable!("binary; tests/loki_loadgen_bodies.rs checks it"),
            Protocol::Otlp => {
                let body: Value = serde_json::from_str(&body).expect("JSON");
                let resources = body["resourceLogs"].as_array().expect("resources");
                resources
                    .iter()
                    .map(|r| {
                        r["scopeLogs"][0]["logRecords"]
                            .as_array()
                            .expect("records")
                            .len()
                    })
                    .sum()
            }
        };
        assert_eq!(records, lines.len(), "{}", protocol.name());
    }
}
