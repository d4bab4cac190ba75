//! Crash safety: SIGKILL the real server in the middle of concurrent ingest,
//! many times, and check after each restart that every acknowledged entry
//! is there (and none twice). Small WAL segments and blocks make the kills
//! land during rotation, sealing and reclaim too.
//!
//! Rounds: `TIMBERDB_CRASH_ROUNDS` (default 20).

mod common;

use std::time::Duration;

use common::crash::Workload;
use common::Server;
use serde_json::{json, Value};

const WORKLOAD: Workload = Workload {
    partition: "crash",
    tag_key: "k",
    writers: 4,
    batch_entries: 40,
    entry: crash_entry,
    check_unique_ids: true,
};

fn crash_entry(key: &str) -> Value {
    json!({"message": format!("crash test entry {key} with some padding text"), "level": "info"})
}

fn rounds() -> usize {
    std::env::var("TIMBERDB_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

#[test]
fn every_acknowledged_entry_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("crash.toml");
    std::fs::write(
        &config,
        "[storage]\nwal_segment_size = 1048576\nwal_max_size = 4194304\nblock_rotation = { type = \"count\", value = 300 }\n",
    )
    .unwrap();
    let data_dir = dir.path().join("data");
    let mut server = Server::builder()
        .data_dir(&data_dir)
        .arg("--config")
        .arg(config.to_str().unwrap())
        .start();
    server.create_partition(WORKLOAD.partition);
    // Each round kills after a random delay from a seeded LCG.
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let all_acked = WORKLOAD.kill_rounds(&mut server, rounds(), |_round, _acked| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(100 + (seed >> 33) % 400));
    });
    assert!(
        all_acked.len() > 1000,
        "the test must actually ingest under load, acked {}",
        all_acked.len()
    );
}
