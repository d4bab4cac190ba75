//! `sync_writes = false`: ingest is acknowledged after the WAL write and the
//! WAL is fdatasync'ed every `fsync_interval` ms in the background.
//!
//! What it pins:
//! - The server takes writes and answers queries in this mode, and an
//!   acknowledged entry is visible to the next query.
//! - A process crash (SIGKILL) loses no acknowledged entry: the write
//!   reached the kernel before the acknowledgement, and only a power loss
//!   could take back the last `fsync_interval` of it. Several kill rounds
//!   land at different points of the interval.

mod common;

use std::path::Path;
use std::time::Duration;

use common::crash::Workload;
use common::{eventually, Server};
use serde_json::{json, Value};

const PARTITION: &str = "interval";
const BATCH_ENTRIES: usize = 25;
const ROUNDS: usize = 4;

const WORKLOAD: Workload = Workload {
    partition: PARTITION,
    tag_key: "k",
    writers: 3,
    batch_entries: BATCH_ENTRIES,
    entry: interval_entry,
    check_unique_ids: false,
};

fn interval_entry(key: &str) -> Value {
    json!({"message": format!("interval entry {key} ✓"), "level": "warn"})
}

fn start(dir: &Path) -> Server {
    let config = dir.join("interval.toml");
    std::fs::write(
        &config,
        "[storage]\nsync_writes = false\nfsync_interval = 50\nwal_segment_size = 1048576\n\
         block_rotation = { type = \"count\", value = 400 }\n",
    )
    .unwrap();
    Server::builder()
        .data_dir(&dir.join("data"))
        .arg("--config")
        .arg(config.to_str().unwrap())
        .start()
}

#[test]
fn writes_and_queries_work_and_are_visible_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    server.create_partition(PARTITION);
    for batch in 0..10 {
        let keys = WORKLOAD.keys("v", batch);
        let response = server.post_ndjson(PARTITION, WORKLOAD.body(&keys).as_bytes());
        assert_eq!(response.status, 200, "{}", response.text());
        // Acknowledged means visible, even before the background sync.
        let stored = WORKLOAD.stored_keys(&server);
        assert_eq!(stored.len(), (batch + 1) * BATCH_ENTRIES);
        assert!(keys.iter().all(|key| stored.get(key) == Some(&1)));
    }
    let warn =
        server.query(&json!({"partitions": [PARTITION], "filter": {"level": "warn"}, "limit": 0}));
    assert_eq!(warn["total_count"], 10 * BATCH_ENTRIES);
    let one =
        server.query(&json!({"partitions": [PARTITION], "filter": {"tags": {"k": "v-b3-7"}}}));
    assert_eq!(one["total_count"], 1);
    assert_eq!(one["entries"][0]["message"], "interval entry v-b3-7 ✓");
}

#[test]
fn every_acknowledged_entry_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    server.create_partition(PARTITION);
    WORKLOAD.kill_rounds(&mut server, ROUNDS, |round, acked| {
        // Kill once a round-dependent amount is acknowledged, so kills land
        // at different points of the 50 ms sync interval.
        let kill_after = 200 + round * 350;
        eventually(Duration::from_secs(60), || {
            (acked.lock().unwrap().len() >= kill_after).then_some(())
        });
    });
}
