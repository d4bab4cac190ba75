//! A node whose log destination is full keeps serving.
//!
//! Regression: the log subscriber reported a failed write of a log line with
//! `eprintln!`, which panics when stderr itself is what failed. With stderr
//! on a full disk (the test harness puts it next to the data directory, on
//! the small filesystems of the disk-full tests), the first log line after
//! the disk filled killed the server with exit status 101 and no message,
//! and every client saw its connection closed without an answer.
//!
//! Here stderr is `/dev/full`, where every write fails with ENOSPC: the
//! server must start, ingest, answer queries and stop cleanly, its log lines
//! dropped.

mod common;

use common::Server;
use serde_json::json;

#[test]
fn a_full_log_destination_does_not_stop_the_server() {
    let temp = tempfile::tempdir().expect("tempdir");
    let data_dir = temp.path().join("data");
    // The harness appends the server's stderr to `<data_dir>.stderr.log`.
    std::os::unix::fs::symlink("/dev/full", data_dir.with_extension("stderr.log"))
        .expect("symlink to /dev/full");
    let mut server = Server::builder()
        .data_dir(&data_dir)
        .arg("--shards")
        .arg("1")
        .start();
    // Creating a partition logs a line (INFO), as do start-up and shutdown.
    server.create_partition("app");
    let lines: Vec<_> = (0..100)
        .map(|index| json!({"level": "warn", "message": format!("line {index}")}))
        .collect();
    let response = server.ingest_ndjson("app", &lines);
    assert_eq!(response.status, 200, "ingest: {}", response.text());
    let answer = server.query(&json!({"partitions": ["app"], "limit": 0}));
    assert_eq!(answer["total_count"], 100);
    assert_eq!(server.get("/health").status, 200);
    let status = server.terminate();
    assert!(status.success(), "a graceful stop exits 0: {status:?}");
}
