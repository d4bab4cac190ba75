//! What a data directory costs on disk, measured as `du` does (blocks the
//! filesystem allocated, preallocation included).
//!
//! - 50 partitions holding 4 entries each (the previous release took
//!   6.6 GB for this: a 64 MiB preallocated segment per partition slice)
//!   cost at most 64 KiB each after a graceful stop, and keep every entry.
//! - A graceful stop leaves no WAL file (everything is in published
//!   blocks), no preallocated tail on the segment files or the manifest,
//!   and so no more than the blocks and their manifest on disk.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::{allocated_bytes, Server};
use serde_json::json;

fn files_under(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.metadata().unwrap().is_dir() {
            names.extend(files_under(&entry.path()));
        } else {
            names.push(entry.path().display().to_string());
        }
    }
    names
}

#[test]
fn fifty_tiny_partitions_cost_at_most_64_kib_each_after_a_graceful_stop() {
    let mut server = Server::builder().arg("--shards").arg("2").start();
    for p in 0..50 {
        let name = format!("tiny-{p}");
        server.create_partition(&name);
        let lines: Vec<_> = (0..4)
            .map(|i| json!({"source": "s", "message": format!("line {i} of {name}")}))
            .collect();
        assert_eq!(server.ingest_ndjson(&name, &lines).status, 200);
    }
    assert!(server.terminate().success());

    let data_dir = server.data_dir.clone();
    let total = allocated_bytes(&data_dir);
    eprintln!(
        "50 tiny partitions: {total} bytes on disk, {} per partition",
        total / 50
    );
    assert!(
        total <= 50 * (64 << 10),
        "{total} bytes: {:#?}",
        files_under(&data_dir)
    );

    // The WAL directory keeps only its lock file (docs/FORMAT.md, "Directory layout").
    let wal_files: Vec<_> = files_under(&data_dir.join("wal"))
        .into_iter()
        .filter(|file| !file.ends_with("/.lock"))
        .collect();
    assert!(
        wal_files.is_empty(),
        "no WAL after a graceful stop: {wal_files:?}"
    );
    // Every segment file ends at its last block: nothing preallocated.
    for file in files_under(&data_dir) {
        let path = Path::new(&file);
        let name = path.file_name().unwrap().to_str().unwrap();
        if name.starts_with("seg-") || name.starts_with("manifest-") {
            let metadata = std::fs::metadata(path).unwrap();
            assert!(
                metadata.blocks() * 512 <= metadata.len().next_multiple_of(4096),
                "{file}: {} bytes allocated for {} used",
                metadata.blocks() * 512,
                metadata.len()
            );
        }
    }

    server.start_again();
    for p in 0..50 {
        let answer = server.query(&json!({"partitions": [format!("tiny-{p}")], "limit": 10}));
        assert_eq!(answer["total_count"], 4, "tiny-{p}: {answer}");
    }
}
