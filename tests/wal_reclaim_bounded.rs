//! WAL space is reclaimed once the records it holds are sealed.
//!
//! With 1 MiB WAL segments, `wal_max_size` = 4 MiB and blocks sealed every
//! 500 entries, about 20 MiB of entries are ingested into one shard. Once
//! ingest stops, the number of WAL segment files (spares not counted) must
//! settle at no more than `wal_max_size / wal_segment_size + 2`: segments
//! whose records are all in published blocks are recycled or removed, and
//! quiet slices that pin old segments are sealed early. A restart then
//! still finds every entry (sealed blocks plus the WAL that is left), and
//! replay ends every segment cleanly, recycled ones included.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{eventually, Server};
use serde_json::{json, Value};

const PARTITION: &str = "reclaim";
const WAL_SEGMENT_BYTES: u64 = 1 << 20;
const WAL_MAX_BYTES: u64 = 4 << 20;
const INGEST_BYTES: usize = 20 << 20;
const BATCH_ENTRIES: usize = 250;
/// Message length; each entry is a little over 1 KiB on the wire and in the WAL.
const MESSAGE_BYTES: usize = 1000;

/// Generations of the WAL segment files of shard 0 (spares not counted).
fn wal_generations(data_dir: &Path) -> Vec<u64> {
    let dir = data_dir.join("wal").join("shard-0");
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            entry
                .file_name()
                .to_str()?
                .strip_suffix(".wal")?
                .parse()
                .ok()
        })
        .collect()
}

fn wal_file_count(data_dir: &Path) -> usize {
    wal_generations(data_dir).len()
}

fn batch(batch_index: usize) -> Vec<Value> {
    (0..BATCH_ENTRIES)
        .map(|i| {
            let n = batch_index * BATCH_ENTRIES + i;
            // Varied text so blocks do not compress to nothing.
            let filler: String = (0..MESSAGE_BYTES)
                .map(|j| (b'a' + ((n * 31 + j * 7) % 26) as u8) as char)
                .collect();
            json!({"message": filler, "level": "info", "tags": {"n": n.to_string()}})
        })
        .collect()
}

#[test]
fn wal_files_are_reclaimed_after_sealing_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("reclaim.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\nwal_segment_size = {WAL_SEGMENT_BYTES}\nwal_max_size = {WAL_MAX_BYTES}\n\
             block_rotation = {{ type = \"count\", value = 500 }}\n"
        ),
    )
    .unwrap();
    let mut server = Server::builder()
        .data_dir(&dir.path().join("data"))
        .arg("--shards")
        .arg("1")
        .arg("--config")
        .arg(config.to_str().unwrap())
        .start();
    server.create_partition(PARTITION);

    let batch_count = INGEST_BYTES / (BATCH_ENTRIES * MESSAGE_BYTES) + 1;
    let mut most_files = 0;
    for batch_index in 0..batch_count {
        let lines = batch(batch_index);
        let response = eventually(Duration::from_secs(60), || {
            let response = server.ingest_ndjson(PARTITION, &lines);
            // 503 is backpressure; the same batch is sent again.
            (response.status != 503).then_some(response)
        });
        assert_eq!(response.status, 200, "{}", response.text());
        most_files = most_files.max(wal_file_count(&server.data_dir));
    }
    let total = batch_count * BATCH_ENTRIES;

    let files_max = (WAL_MAX_BYTES / WAL_SEGMENT_BYTES + 2) as usize;
    let settled = eventually(Duration::from_secs(30), || {
        let files = wal_file_count(&server.data_dir);
        (files <= files_max).then_some(files)
    });
    eprintln!("WAL files: at most {most_files} during ingest, {settled} after it settled");
    // 20 MiB went through 1 MiB segments: the few files left are the newest
    // generations, so the older ones were reclaimed, not merely never made.
    let newest = wal_generations(&server.data_dir).into_iter().max().unwrap();
    assert!(
        newest >= (INGEST_BYTES as u64 / WAL_SEGMENT_BYTES),
        "generation {newest}: the WAL did not rotate through 20 MiB"
    );

    let count = |server: &Server| {
        let result = server.query(&json!({"partitions": [PARTITION], "limit": 0}));
        result["total_count"].as_u64().unwrap() as usize
    };
    assert_eq!(count(&server), total);
    let partition = server
        .get(&format!("/api/v1/partitions/{PARTITION}"))
        .json();
    // Reclaiming needs the entries sealed; compaction may since have merged
    // the 500-entry blocks, so their number only says that some exist.
    assert!(
        partition["blocks"].as_u64().unwrap() >= 1,
        "entries are sealed: {partition}"
    );

    server.restart();
    assert_eq!(count(&server), total, "log:\n{}", server.stderr());
    for n in [0, total / 2, total - 1] {
        let one = server.query(&json!({
            "partitions": [PARTITION],
            "filter": {"tags": {"n": n.to_string()}},
        }));
        assert_eq!(one["total_count"], 1, "entry {n}: {one}");
        assert_eq!(
            one["entries"][0]["message"],
            batch(n / BATCH_ENTRIES)[n % BATCH_ENTRIES]["message"]
        );
    }
    let result = server
        .query(&json!({"partitions": [PARTITION], "limit": 0, "filter": {"tag_exists": ["n"]}}));
    assert_eq!(result["total_count"].as_u64().unwrap() as usize, total);

    // The restart took a recycled spare for its new WAL generation and
    // wrote nothing to it. Every acknowledged write completed before each
    // kill, so replay ends every segment cleanly, that one included: a
    // restart logs no WAL warnings.
    server.restart();
    assert_eq!(count(&server), total);
    let log = server.stderr();
    assert!(!log.contains("wal: "), "log:\n{log}");
}
