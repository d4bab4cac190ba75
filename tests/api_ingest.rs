//! Ingest: formats, fields, all-or-nothing errors, size limits.

mod common;

use common::{send_raw, Response, Server};
use serde_json::json;

fn all_entries(server: &Server, partition: &str) -> Vec<serde_json::Value> {
    common::query_all(server, json!({"partitions": [partition], "order": "asc"}))
}

/// The response is a 400 whose error message mentions `needle`.
fn assert_400_mentioning(response: &Response, needle: &str) {
    assert_eq!(response.status, 400, "{}", response.text());
    let message = response.error_message();
    assert!(message.contains(needle), "{message}");
}

#[test]
fn one_object_an_array_and_ndjson_are_accepted() {
    let server = Server::start();
    server.create_partition("p");
    let one = server.post_json(
        "/api/v1/partitions/p/logs",
        &json!({"source": "web-1", "message": "one"}),
    );
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(one.json()["accepted"], 1);
    let array = server.post_json(
        "/api/v1/logs/p",
        &json!([{"message": "two"}, {"message": "three"}]),
    );
    assert_eq!(array.status, 200, "alias route: {}", array.text());
    assert_eq!(array.json()["accepted"], 2);
    let first = array.json()["first_id"].as_str().unwrap().to_string();
    let last = array.json()["last_id"].as_str().unwrap().to_string();
    assert_ne!(first, last);
    // No Content-Type: the first byte decides.
    let ndjson = server.request(
        "POST",
        "/api/v1/partitions/p/logs",
        None,
        b"{\"message\":\"four\"}\n{\"message\":\"five\"}\n",
    );
    assert_eq!(ndjson.status, 200, "{}", ndjson.text());
    assert_eq!(ndjson.json()["accepted"], 2);
    assert_eq!(all_entries(&server, "p").len(), 5);
}

#[test]
fn entry_fields_are_kept_and_normalised() {
    let server = Server::start();
    server.create_partition("p");
    let body = json!([
        {"timestamp": "2024-03-15T10:30:00.123456789Z", "source": "db", "level": "WARNING", "message": "slow",
         "tags": {"table": "users", "shard": 3}, "duration_ms": 912, "http": {"status": 500}},
        {"timestamp": 1710498600, "message": "seconds", "tags": {"level": "error"}},
        {"timestamp": 1710498600123u64, "message": "millis"},
    ]);
    assert_eq!(
        server.post_json("/api/v1/partitions/p/logs", &body).status,
        200
    );
    let entries = all_entries(&server, "p");
    assert_eq!(entries.len(), 3);
    let seconds = &entries[0];
    assert_eq!(seconds["message"], "seconds");
    assert_eq!(seconds["timestamp_ns"], 1_710_498_600_000_000_000i64);
    assert_eq!(seconds["level"], "error", "tags.level sets the level");
    assert_eq!(seconds["tags"]["level"], "error", "and stays a tag");
    let millis = &entries[1];
    assert_eq!(millis["timestamp_ns"], 1_710_498_600_123_000_000i64);
    let slow = &entries[2];
    assert_eq!(slow["timestamp"], "2024-03-15T10:30:00.123456789Z");
    assert_eq!(slow["level"], "warn");
    assert_eq!(slow["source"], "db");
    assert_eq!(slow["tags"]["shard"], "3", "tag numbers are stored as text");
    assert_eq!(slow["fields"]["duration_ms"], 912);
    assert_eq!(slow["fields"]["http"]["status"], 500);
}

#[test]
fn missing_timestamp_is_assigned_on_arrival() {
    let server = Server::start();
    server.create_partition("p");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    server.post_json("/api/v1/partitions/p/logs", &json!({"message": "now"}));
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let entries = all_entries(&server, "p");
    let ts = entries[0]["timestamp_ns"].as_i64().unwrap();
    assert!(before <= ts && ts <= after);
}

#[test]
fn a_bad_line_rejects_the_whole_batch_and_names_the_line() {
    let server = Server::start();
    server.create_partition("p");
    let body = b"{\"message\":\"ok 1\"}\n{\"message\":\"ok 2\"}\n{\"message\": 42}\n{\"message\":\"ok 4\"}\n";
    assert_400_mentioning(&server.post_ndjson("p", body), "line 3");
    let broken = server.post_ndjson("p", b"{\"message\":\"a\"}\n{oops\n");
    assert_400_mentioning(&broken, "line 2");
    let bad_time = server.post_json(
        "/api/v1/partitions/p/logs",
        &json!([{"message": "a"}, {"message": "b", "timestamp": true}]),
    );
    assert_400_mentioning(&bad_time, "timestamp");
    assert_eq!(
        all_entries(&server, "p").len(),
        0,
        "nothing of a rejected batch is stored"
    );
    let empty = server.post_json_bytes("/api/v1/partitions/p/logs", b"");
    assert_eq!(empty.status, 400);
}

#[test]
fn unknown_partition_is_404() {
    let server = Server::start();
    let response = server.post_json("/api/v1/partitions/nope/logs", &json!({"message": "x"}));
    assert_eq!(response.status, 404);
    assert_eq!(response.error_code(), "partition_not_found");
}

#[test]
fn bodies_over_the_limit_get_413_and_the_server_keeps_working() {
    let server = Server::builder()
        .env("TIMBERDB_MAX_REQUEST_SIZE", "65536")
        .start();
    server.create_partition("p");
    let line = format!("{{\"message\":\"{}\"}}\n", "x".repeat(1000));
    let big = line.repeat(100);
    let declared = server.post_ndjson("p", big.as_bytes());
    assert_eq!(declared.status, 413);
    assert_eq!(declared.error_code(), "payload_too_large");
    // Chunked, no Content-Length: refused once it passes the limit.
    let mut raw = b"POST /api/v1/partitions/p/logs HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..100 {
        raw.extend_from_slice(format!("{:x}\r\n{line}\r\n", line.len()).as_bytes());
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let chunked = send_raw(&server.addr, &raw);
    assert_eq!(chunked.status, 413);
    let small = server.ingest_ndjson("p", &[json!({"message": "still fine"})]);
    assert_eq!(small.status, 200);
    assert_eq!(all_entries(&server, "p").len(), 1);
}

#[test]
fn a_batch_too_large_for_a_wal_segment_is_413_and_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("small-wal.toml");
    std::fs::write(
        &config,
        "[storage]\nwal_segment_size = 1048576\nwal_max_size = 2097152\n",
    )
    .unwrap();
    let server = Server::builder()
        .arg("--config")
        .arg(config.to_str().unwrap())
        .start();
    server.create_partition("p");
    let lines: Vec<_> = (0..3000)
        .map(|i| json!({"message": format!("{i} {}", "y".repeat(300))}))
        .collect();
    let response = server.ingest_ndjson("p", &lines);
    assert_eq!(response.status, 413, "{}", response.text());
    assert_eq!(response.error_code(), "batch_too_large");
    assert!(response.error_message().contains("wal_segment_size"));
    assert_eq!(
        server.ingest_ndjson("p", &lines[..100]).status,
        200,
        "the shard keeps taking writes"
    );
    assert_eq!(all_entries(&server, "p").len(), 100);
}
