//! `POST /loki/api/v1/push` against the real server: protobuf+snappy and
//! JSON bodies as Loki's clients send them, Loki's answers (204, plain-text
//! 400, 405), the tenant header choosing the partition, and two shards
//! racing to create the same tenant's partition.

mod common;

use std::io::Write;

use bytes::Bytes;
use common::{send_raw, Response, Server};
use serde_json::{json, Value};
use timberdb::protocol::loki::proto::{
    encode_snappy, EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
};

const PUSH: &str = "/loki/api/v1/push";

/// Sends a push with any headers (tenant, encoding) the shared helper lacks.
fn push(server: &Server, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        server.addr,
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    send_raw(&server.addr, &raw)
}

/// One line to push: seconds, text, structured metadata.
type Line<'a> = (i64, &'a str, &'a [(&'a str, &'a str)]);

fn proto_body(labels: &str, lines: &[Line<'_>]) -> Vec<u8> {
    let entries = lines
        .iter()
        .map(|(seconds, line, metadata)| EntryAdapter {
            timestamp: Some(Timestamp {
                seconds: *seconds,
                nanos: 7,
            }),
            line: Bytes::copy_from_slice(line.as_bytes()),
            structured_metadata: metadata
                .iter()
                .map(|(name, value)| LabelPairAdapter {
                    name: Bytes::copy_from_slice(name.as_bytes()),
                    value: Bytes::copy_from_slice(value.as_bytes()),
                })
                .collect(),
        })
        .collect();
    encode_snappy(&PushRequest {
        streams: vec![StreamAdapter {
            labels: Bytes::copy_from_slice(labels.as_bytes()),
            entries,
            hash: 0,
        }],
    })
}

const PROTOBUF: (&str, &str) = ("Content-Type", "application/x-protobuf");
const JSON: (&str, &str) = ("Content-Type", "application/json");

fn count(server: &Server, partition: &str, q: &str) -> u64 {
    let result = server.query(&json!({"partitions": [partition], "q": q, "limit": 0}));
    result["total_count"].as_u64().unwrap_or_default()
}

fn entries(server: &Server, partition: &str, q: &str) -> Vec<Value> {
    let result =
        server.query(&json!({"partitions": [partition], "q": q, "limit": 100, "order": "asc"}));
    result["entries"].as_array().cloned().unwrap_or_default()
}

#[test]
fn protobuf_and_json_pushes_answer_204_and_read_back_by_label_and_word() {
    let server = Server::start();
    let body = proto_body(
        r#"{service_name="checkout", env="prod", level="warn"}"#,
        &[
            (
                1_700_000_000,
                "payment declined for order 17",
                &[("trace_id", "t-1")],
            ),
            (1_700_000_001, "payment retried for order 17", &[]),
        ],
    );
    let response = push(&server, PUSH, &[PROTOBUF], &body);
    assert_eq!(response.status, 204, "{}", response.text());
    assert!(response.body.is_empty());
    let json_body = json!({"streams": [{"stream": {"job": "billing", "detected_level": "error"},
        "values": [["1700000002000000000", "invoice failed to render", {"user": "u9"}]]}]});
    let response = push(&server, PUSH, &[JSON], json_body.to_string().as_bytes());
    assert_eq!(response.status, 204, "{}", response.text());

    assert_eq!(count(&server, "loki", "env:prod"), 2);
    assert_eq!(count(&server, "loki", "declined"), 1);
    assert_eq!(count(&server, "loki", "trace_id:t-1"), 1);
    assert_eq!(count(&server, "loki", "user:u9"), 1);
    let found = entries(&server, "loki", "payment");
    assert_eq!(found.len(), 2);
    assert_eq!(found[0]["source"], "checkout");
    assert_eq!(found[0]["level"], "warn");
    assert_eq!(found[0]["tags"]["service_name"], "checkout");
    let invoice = entries(&server, "loki", "invoice");
    assert_eq!(invoice[0]["source"], "billing");
    assert_eq!(invoice[0]["level"], "error");
}

#[test]
fn the_tenant_header_picks_the_partition_and_gzip_json_and_the_old_path_work() {
    let server = Server::start();
    let body = proto_body(r#"{app="a"}"#, &[(1_700_000_000, "tenant line one", &[])]);
    let response = push(
        &server,
        PUSH,
        &[PROTOBUF, ("X-Scope-OrgID", "team-a")],
        &body,
    );
    assert_eq!(response.status, 204, "{}", response.text());
    let json_body = json!({"streams": [{"stream": {"app": "b"},
        "values": [["1700000000000000000", "zipped json line"]]}]});
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(json_body.to_string().as_bytes()).unwrap();
    let zipped = gzip.finish().unwrap();
    let response = push(
        &server,
        "/api/prom/push",
        &[
            JSON,
            ("Content-Encoding", "gzip"),
            ("X-Scope-OrgID", "team-a"),
        ],
        &zipped,
    );
    assert_eq!(response.status, 204, "{}", response.text());
    assert_eq!(count(&server, "team-a", "line"), 2);
    assert_eq!(
        server.get("/api/v1/partitions/loki").status,
        404,
        "no default partition was made"
    );
    let response = push(&server, PUSH, &[PROTOBUF, ("X-Scope-OrgID", "a/b")], &body);
    assert_eq!(response.status, 400);
    assert!(
        response.text().contains("X-Scope-OrgID"),
        "{}",
        response.text()
    );
}

#[test]
fn bad_pushes_get_plain_text_400s_that_say_what_is_wrong_and_store_nothing() {
    let server = Server::start();
    let good = proto_body(r#"{app="a"}"#, &[(1_700_000_000, "never stored", &[])]);
    let cases: Vec<(Vec<u8>, (&str, &str), &str)> = vec![
        (good[..good.len() - 4].to_vec(), PROTOBUF, "snappy"),
        (
            proto_body("{app=a}", &[(1, "never stored", &[])]),
            PROTOBUF,
            "error parsing labels",
        ),
        (
            proto_body("{}", &[(1, "never stored", &[])]),
            PROTOBUF,
            "at least one label pair",
        ),
        (
            b"{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"x\",\"never stored\"]]}]}"
                .to_vec(),
            JSON,
            "Unix nanoseconds",
        ),
        (b"{\"streams\":".to_vec(), JSON, "not a Loki JSON push"),
    ];
    for (body, content_type, expected) in cases {
        let response = push(&server, PUSH, &[content_type], &body);
        assert_eq!(response.status, 400, "{expected}: {}", response.text());
        assert!(
            response.text().contains(expected),
            "{expected}: {}",
            response.text()
        );
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
    }
    let response = server.get(PUSH);
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("POST"));
    let everything = server.query(&json!({"q": "stored", "limit": 0}));
    assert_eq!(everything["total_count"], 0, "{everything}");
}

#[test]
fn a_body_over_max_request_size_is_413_even_when_it_only_grows_there() {
    let server = Server::builder()
        .env("TIMBERDB_MAX_REQUEST_SIZE", "64KiB")
        .start();
    let line = "a".repeat(100 * 1024);
    let body = proto_body(r#"{app="a"}"#, &[(1_700_000_000, &line, &[])]);
    assert!(body.len() < 64 * 1024, "snappy shrinks the repeated line");
    let response = push(&server, PUSH, &[PROTOBUF], &body);
    assert_eq!(response.status, 413, "{}", response.text());
    assert!(
        response.text().contains("max_request_size"),
        "{}",
        response.text()
    );
}

#[test]
fn concurrent_first_pushes_of_new_tenants_on_two_shards_all_succeed() {
    let server = Server::builder().arg("--shards").arg("2").start();
    const TENANTS: usize = 4;
    const PUSHES_PER_TENANT: usize = 8;
    std::thread::scope(|scope| {
        for tenant in 0..TENANTS {
            for push_index in 0..PUSHES_PER_TENANT {
                let server = &server;
                scope.spawn(move || {
                    let line = format!("race line {push_index}");
                    let body = proto_body(r#"{app="race"}"#, &[(1_700_000_000, &line, &[])]);
                    let tenant = format!("race-{tenant}");
                    let response =
                        push(server, PUSH, &[PROTOBUF, ("X-Scope-OrgID", &tenant)], &body);
                    assert_eq!(response.status, 204, "{tenant}: {}", response.text());
                });
            }
        }
    });
    for tenant in 0..TENANTS {
        let partition = format!("race-{tenant}");
        assert_eq!(count(&server, &partition, "race"), PUSHES_PER_TENANT as u64);
    }
}
