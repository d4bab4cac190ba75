//! SIGTERM shuts down gracefully: writes stop, the WAL is synced, every
//! active block is sealed, and the process exits 0. The next start finds
//! everything in blocks and replays no entries from the WAL.

mod common;

use common::Server;
use serde_json::json;

#[test]
fn sigterm_seals_everything_and_exits_zero() {
    let mut server = Server::start();
    server.create_partition("p");
    let lines: Vec<_> = (0..700)
        .map(|i| json!({"message": format!("entry {i}")}))
        .collect();
    for chunk in lines.chunks(100) {
        assert_eq!(server.ingest_ndjson("p", chunk).status, 200);
    }
    let status = server.terminate();
    assert!(
        status.success(),
        "exit status {status:?}; stderr:\n{}",
        server.stderr()
    );
    assert!(
        server.stderr().contains("shut down cleanly"),
        "{}",
        server.stderr()
    );
    server.start_again();
    let log = server.stderr();
    let last_start = &log[log.rfind("starting timberdb").unwrap()..];
    let recovered_lines: Vec<&str> = last_start
        .lines()
        .filter(|line| line.contains("wal_entries_recovered="))
        .collect();
    assert_eq!(
        recovered_lines.len(),
        2,
        "one recovery line per shard:\n{last_start}"
    );
    let replayed: u64 = recovered_lines
        .iter()
        .filter_map(|line| line.split("wal_entries_recovered=").nth(1))
        .map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(
        replayed, 0,
        "a graceful shutdown leaves nothing to replay:\n{last_start}"
    );
    let partition = server.get("/api/v1/partitions/p").json();
    assert_eq!(partition["entry_count"], 700);
    assert!(partition["blocks"].as_u64().unwrap() >= 1);
}
