//! Issue 13 part 9: what hostile or broken HTTP gets, over raw sockets to
//! the real binary. Each test was first seen failing against the server
//! before the fix (bare hyper answers, requests never answered, a 404 that
//! broke the keep-alive connection, `..` partitions, the smallest timestamp).

mod common;

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use common::{read_response, send_raw, Response, Server};
use serde_json::{json, Value};

/// Bounds every read so a request the server never answers fails the test
/// instead of hanging it (the server answers these at once).
const ANSWER_DEADLINE: Duration = Duration::from_secs(30);

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(ANSWER_DEADLINE)).unwrap();
    stream
}

/// Reads one response off a keep-alive connection (by its Content-Length),
/// and not a byte more: the next response may already have arrived behind
/// it (a pipelined request's), and a buffered reader dropped here would
/// take its bytes along.
fn next_response(stream: &mut TcpStream) -> Response {
    read_response(&mut ByteAtATime(stream))
}

/// Reads one byte per call, so a `BufReader` over it never reads ahead.
struct ByteAtATime<'a>(&'a mut TcpStream);

impl Read for ByteAtATime<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let end = buf.len().min(1);
        self.0.read(&mut buf[..end])
    }
}

/// True when the server has closed the connection (EOF, not a timeout).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).is_ok()
}

fn assert_json_error(response: &Response, status: u16, code: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.error_code(), code, "{}", response.text());
    assert!(
        response.error_message().len() > 20,
        "a message a person can act on: {}",
        response.text()
    );
}

fn get_health(addr: &str) -> String {
    format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n")
}

#[test]
fn malformed_request_heads_get_the_json_error_shape_and_close() {
    let server = Server::start();
    let many_headers: String = (0..150).map(|i| format!("X-{i}: v\r\n")).collect();
    let huge_header = format!("X-Big: {}\r\n", "v".repeat(70_000));
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("duplicate Content-Length", b"POST /api/v1/partitions/create HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef".to_vec(), 400, "invalid_content_length"),
        ("bad Content-Length", b"POST /api/v1/partitions/create HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n".to_vec(), 400, "invalid_content_length"),
        ("negative Content-Length", b"POST /api/v1/partitions/create HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec(), 400, "invalid_content_length"),
        ("control character in a header", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n".to_vec(), 400, "malformed_request"),
        ("space in a header name", b"GET /health HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n".to_vec(), 400, "malformed_request"),
        ("garbage request line", b"HELLO\r\n\r\n".to_vec(), 400, "malformed_request"),
        ("unknown protocol version", b"GET /health FOO/1.1\r\n\r\n".to_vec(), 400, "malformed_request"),
        ("bare LF after the request line", b"GET /health HTTP/1.1\rX\r\n\r\n".to_vec(), 400, "malformed_request"),
        ("414", format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)).into_bytes(), 414, "uri_too_long"),
        ("431 by count", format!("GET /health HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes(), 431, "headers_too_large"),
        ("431 by size", format!("GET /health HTTP/1.1\r\nHost: x\r\n{huge_header}\r\n").into_bytes(), 431, "headers_too_large"),
        ("Transfer-Encoding and Content-Length", b"POST /api/v1/partitions/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n".to_vec(), 400, "invalid_transfer_encoding"),
        ("Transfer-Encoding not ending in chunked", b"POST /api/v1/partitions/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(), 400, "invalid_transfer_encoding"),
        ("Transfer-Encoding on HTTP/1.0", b"POST /api/v1/partitions/create HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), 400, "invalid_transfer_encoding"),
    ];
    for (what, raw, status, code) in cases {
        let mut stream = connect(&server);
        stream.write_all(&raw).unwrap();
        let response = next_response(&mut stream);
        assert_eq!(response.status, status, "{what}: {}", response.text());
        assert_json_error(&response, status, code);
        assert_eq!(response.header("connection"), Some("close"), "{what}");
        assert!(
            closed_by_server(&mut stream),
            "{what}: connection left open"
        );
    }
    // The server is still fine, and nothing was created by the refused requests.
    let partitions = server.get("/api/v1/partitions").json();
    assert_eq!(partitions["count"], 0, "{partitions}");
}

#[test]
fn requests_before_a_malformed_one_on_the_same_connection_are_answered() {
    let server = Server::start();
    let mut stream = connect(&server);
    let raw = format!(
        "{}GET /health HTTP/1.1\r\nX-A: \x02\r\n\r\n",
        get_health(&server.addr)
    );
    stream.write_all(raw.as_bytes()).unwrap();
    let first = next_response(&mut stream);
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["status"], "ok");
    let second = next_response(&mut stream);
    assert_json_error(&second, 400, "malformed_request");
    assert!(closed_by_server(&mut stream));
}

#[test]
fn head_answers_as_get_without_a_body_and_keeps_the_connection() {
    let server = Server::start();
    let mut stream = connect(&server);
    for path in ["/health", "/api/v1/partitions", "/metrics"] {
        let head = format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        let mut reader = BufReader::new(&mut stream);
        let (status, headers) = common::read_head(&mut reader);
        assert_eq!(status, 200, "HEAD {path}");
        let length: usize = common::header(&headers, "content-length").parse().unwrap();
        assert!(length > 0, "HEAD {path} says how long the GET body is");
        assert!(reader.buffer().is_empty(), "HEAD {path} sent a body");
    }
    // No body bytes were sent, so the next request's answer is read cleanly.
    stream
        .write_all(get_health(&server.addr).as_bytes())
        .unwrap();
    let response = next_response(&mut stream);
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["status"], "ok");
}

#[test]
fn a_transfer_coding_other_than_chunked_alone_is_501_and_nothing_is_stored() {
    let server = Server::start();
    server.create_partition("te");
    let body = "{\"message\":\"should not be stored\"}\n";
    let raw = format!(
        "POST /api/v1/partitions/te/logs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let response = send_raw(&server.addr, raw.as_bytes());
    assert_json_error(&response, 501, "unsupported_transfer_encoding");
    assert!(response.error_message().contains("Content-Encoding"));
    // Chunked alone still works, and the refused body was never stored.
    let raw = format!(
        "POST /api/v1/partitions/te/logs HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let accepted = send_raw(&server.addr, raw.as_bytes());
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    let result = server.query(&json!({"partitions": ["te"]}));
    assert_eq!(result["total_count"], 1, "{result}");
}

#[test]
fn an_impossible_chunk_size_is_answered_at_once() {
    let server = Server::start();
    server.create_partition("chunks");
    for (size, status, code) in [
        ("ffffffffffffffff", 400, "invalid_chunked_body"),
        ("10000000000000000", 400, "invalid_chunked_body"),
        ("7fffffffffffffff", 413, "payload_too_large"),
    ] {
        let mut stream = connect(&server);
        // The client keeps its side open: the answer must not wait for it.
        let raw = format!(
            "POST /api/v1/partitions/chunks/logs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nabc"
        );
        stream.write_all(raw.as_bytes()).unwrap();
        let response = next_response(&mut stream);
        assert_json_error(&response, status, code);
        assert_eq!(response.header("connection"), Some("close"), "{size}");
    }
    let result = server.query(&json!({"partitions": ["chunks"]}));
    assert_eq!(result["total_count"], 0, "{result}");
}

#[test]
fn a_body_cut_short_by_the_client_is_400_and_stores_nothing() {
    let server = Server::start();
    server.create_partition("short");
    let line = "{\"message\":\"half a batch\"}\n";
    let cases = [
        format!(
            "POST /api/v1/partitions/short/logs HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{line}{line}",
            line.len() * 3
        ),
        format!(
            "POST /api/v1/partitions/short/logs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{line}\r\n",
            line.len()
        ),
    ];
    for raw in cases {
        let mut stream = connect(&server);
        stream.write_all(raw.as_bytes()).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let response = next_response(&mut stream);
        assert_json_error(&response, 400, "incomplete_body");
    }
    let result = server.query(&json!({"partitions": ["short"]}));
    assert_eq!(result["total_count"], 0, "{result}");
}

/// Sends `head` and `body` from another thread (as a shipper writes a whole
/// request before reading) and reads the answer on this one.
fn exchange(stream: &TcpStream, head: String, body: Vec<u8>) -> Response {
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        let _ = writer.write_all(&body);
    });
    let response = read_response(&mut stream.try_clone().unwrap());
    sender.join().unwrap();
    response
}

fn ndjson_lines(count: usize) -> Vec<u8> {
    let line = format!("{{\"message\":\"{}\"}}\n", "x".repeat(100));
    line.repeat(count).into_bytes()
}

#[test]
fn an_error_before_the_body_is_read_does_not_break_the_keep_alive_client() {
    let server = Server::start();
    server.create_partition("kept");
    // A small body that arrives with the head (one write, so one segment;
    // two writes could let the server answer before the body came, which
    // rightly closes): the connection stays usable.
    let small = ndjson_lines(3);
    let stream = connect(&server);
    let with_body = |path: &str| {
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            small.len()
        )
        .into_bytes();
        request.extend_from_slice(&small);
        request
    };
    (&stream)
        .write_all(&with_body("/api/v1/partitions/missing/logs"))
        .unwrap();
    let refused = next_response(&mut stream.try_clone().unwrap());
    assert_json_error(&refused, 404, "partition_not_found");
    assert_ne!(refused.header("connection"), Some("close"));
    (&stream)
        .write_all(&with_body("/api/v1/partitions/kept/logs"))
        .unwrap();
    let accepted = next_response(&mut stream.try_clone().unwrap());
    assert_eq!(accepted.status, 200, "{}", accepted.text());

    // A large body (still arriving when the 404 is sent): the answer says
    // Connection: close, the client reads all of it, and the server closes
    // only after it (no reset, no silent close of a keep-alive connection).
    let large = ndjson_lines(5_000);
    let mut stream = connect(&server);
    let head = format!(
        "POST /api/v1/partitions/missing/logs HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        large.len()
    );
    let refused = exchange(&stream, head, large);
    assert_json_error(&refused, 404, "partition_not_found");
    assert_eq!(refused.header("connection"), Some("close"));
    assert!(closed_by_server(&mut stream));

    // A declared length over the limit is refused unread, with Connection: close.
    let mut stream = connect(&server);
    let head = "POST /api/v1/partitions/kept/logs HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let refused = next_response(&mut stream);
    assert_json_error(&refused, 413, "payload_too_large");
    assert_eq!(refused.header("connection"), Some("close"));
    assert!(closed_by_server(&mut stream));

    // A chunked body refused before it is read: Connection: close as well.
    let stream = connect(&server);
    let body = ndjson_lines(3);
    let head = "POST /api/v1/partitions/missing/logs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_string();
    let mut chunked = format!("{:x}\r\n", body.len()).into_bytes();
    chunked.extend_from_slice(&body);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let refused = exchange(&stream, head, chunked);
    assert_json_error(&refused, 404, "partition_not_found");
    assert_eq!(refused.header("connection"), Some("close"));

    let result = server.query(&json!({"partitions": ["kept"]}));
    assert_eq!(result["total_count"], 3, "{result}");
}

#[test]
fn dot_segment_partition_names_are_refused_on_every_creation_path() {
    let server = Server::start();
    for name in [".", ".."] {
        let response = server.post_json("/api/v1/partitions/create", &json!({ "name": name }));
        assert_json_error(&response, 400, "invalid_name");
        assert!(response.error_message().contains("dot-segment"));
        // Loki's tenant header names the partition it auto-creates.
        let push = json!({"streams": [{"stream": {"job": "a"}, "values": [["1700000000000000000", "x"]]}]});
        let raw = format!(
            "POST /loki/api/v1/push HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nX-Scope-OrgID: {name}\r\nContent-Length: {}\r\n\r\n{push}",
            push.to_string().len()
        );
        let loki = send_raw(&server.addr, raw.as_bytes());
        assert_eq!(loki.status, 400, "Loki tenant {name:?}: {}", loki.text());
        // An Elasticsearch bulk index is auto-created by name.
        let bulk = format!("{{\"index\":{{\"_index\":\"{name}\"}}}}\n{{\"message\":\"x\"}}\n");
        let es = server.request(
            "POST",
            "/_bulk",
            Some("application/x-ndjson"),
            bulk.as_bytes(),
        );
        let es_body = es.json();
        assert_eq!(es_body["errors"], true, "ES index {name:?}: {es_body}");
    }
    let partitions = server.get("/api/v1/partitions").json();
    assert_eq!(partitions["count"], 0, "{partitions}");
}

#[test]
fn a_dot_segment_default_partition_in_the_config_is_refused_at_start() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path().join("data"))
        .env("TIMBERDB_LOKI_DEFAULT_PARTITION", "..")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("dot-segment"), "{stderr}");
}

#[test]
fn the_smallest_and_largest_timestamps_round_trip_as_numbers_and_text() {
    let server = Server::start();
    server.create_partition("edges");
    let min_text = "1677-09-21T00:12:43.145224192Z";
    let max_text = "2262-04-11T23:47:16.854775807Z";
    // Fast path (NDJSON of plain entries) and the fallback (a JSON array
    // with a nested field) take both forms.
    let ndjson = format!(
        "{{\"timestamp\":{},\"message\":\"min number\"}}\n{{\"timestamp\":\"{min_text}\",\"message\":\"min text\"}}\n{{\"timestamp\":{},\"message\":\"max number\"}}\n{{\"timestamp\":\"{max_text}\",\"message\":\"max text\"}}\n",
        i64::MIN,
        i64::MAX
    );
    let response = server.post_ndjson("edges", ndjson.as_bytes());
    assert_eq!(response.status, 200, "{}", response.text());
    let array = json!([
        {"timestamp": min_text, "message": "min text fallback", "fields": {"nested": {"a": 1}}},
        {"timestamp": max_text, "message": "max text fallback", "fields": {"nested": {"a": 1}}},
    ]);
    let response = server.post_json("/api/v1/partitions/edges/logs", &array);
    assert_eq!(response.status, 200, "{}", response.text());

    let all = common::query_all(&server, json!({"partitions": ["edges"]}));
    assert_eq!(all.len(), 6, "{all:?}");
    for entry in &all {
        let message = entry["message"].as_str().unwrap();
        let expected = if message.starts_with("min") {
            min_text
        } else {
            max_text
        };
        assert_eq!(entry["timestamp"], expected, "{entry}");
    }
    // The printed text reads back as a time range at both ends, in the
    // JSON filter and in the query language.
    let count = |body: Value| server.query(&body)["total_count"].as_u64().unwrap();
    // `time_range` is `start <= timestamp < end`.
    for (range, expected) in [
        (json!({"start": min_text}), 6),
        (json!({"end": "2000-01-01T00:00:00Z"}), 3),
        (json!({"start": max_text}), 3),
        // An end of i64::MAX means no end (it could exclude nothing else).
        (json!({"start": i64::MIN, "end": i64::MAX}), 6),
    ] {
        let body = json!({"partitions": ["edges"], "filter": {"time_range": range}});
        assert_eq!(count(body), expected, "{range}");
    }
    for (q, expected) in [
        (format!("SELECT * WHERE timestamp <= '{min_text}'"), 3),
        (format!("SELECT * WHERE timestamp >= '{max_text}'"), 3),
        (format!("SELECT * WHERE timestamp = {}", i64::MIN), 3),
    ] {
        let response = server.post_json(
            "/api/v1/query/execute",
            &json!({"partitions": ["edges"], "q": q}),
        );
        assert_eq!(response.status, 200, "{q}: {}", response.text());
        assert_eq!(response.json()["total_count"], expected, "{q}");
    }
}
