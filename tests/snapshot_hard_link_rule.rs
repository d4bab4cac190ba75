//! A snapshot's segment files are hard links to the live server's, so the
//! live server must not destroy bytes the snapshot uses: no hole punched,
//! no tail trimmed, no block appended over them, while a snapshot shares a
//! file. The live server here compacts a partition's blocks, deletes a
//! partition, restarts and keeps ingesting; the snapshot still restores
//! every entry it held. Deleting the snapshot then gives the held space
//! back without a restart: the gaps recovery could not punch (first
//! snapshot) and the removed blocks kept in the retry list (second).

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{eventually, query_all, Server};
use serde_json::{json, Value};

const KEEP: &str = "keep";
const GONE: &str = "gone";
/// One block at the start of the first segment that stays live, so that
/// file outlives the changes (a file with no live block is deleted at start).
const ANCHOR: &str = "anchor";
/// Blocks of 40 entries are small next to the later rotation of 200, so
/// compaction merges them five at a time.
const SMALL_BLOCK: usize = 40;
const FULL_BLOCK: usize = 200;

fn entry(partition: &str, n: usize) -> Value {
    json!({
        "timestamp": 1_700_000_000_000_000_000_i64 + n as i64 * 1_000_000,
        "source": "rule",
        "message": format!("{partition} entry {n}"),
        "tags": {"n": n.to_string()},
    })
}

fn ingest(server: &Server, partition: &str, range: std::ops::Range<usize>) {
    let lines: Vec<Value> = range.map(|n| entry(partition, n)).collect();
    for chunk in lines.chunks(SMALL_BLOCK) {
        assert_eq!(server.ingest_ndjson(partition, chunk).status, 200);
    }
}

/// Every entry 0..count of `partition`, once, with its message.
fn check_entries(server: &Server, partition: &str, count: usize) {
    let entries = query_all(server, json!({"partitions": [partition], "order": "asc"}));
    assert_eq!(entries.len(), count, "{partition}");
    let mut seen = vec![false; count];
    for entry in entries {
        let n: usize = entry["tags"]["n"].as_str().unwrap().parse().unwrap();
        assert_eq!(entry["message"], format!("{partition} entry {n}"));
        assert!(!std::mem::replace(&mut seen[n], true), "entry {n} twice");
    }
}

/// Disk space the live shard's segment files take (what `du` counts).
fn segment_allocated_bytes(data_dir: &Path) -> u64 {
    std::fs::read_dir(data_dir.join("shard-0"))
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".tdb"))
        .map(|entry| entry.metadata().unwrap().blocks() * 512)
        .sum()
}

fn block_count(server: &Server, partition: &str) -> u64 {
    let answer = server.get(&format!("/api/v1/partitions/{partition}"));
    answer.json()["blocks"].as_u64().unwrap()
}

fn snapshot(server: &Server, name: &str) -> String {
    let answer = server.post_json("/api/v1/admin/snapshots", &json!({"name": name}));
    assert_eq!(answer.status, 201, "{}", answer.text());
    answer.json()["path"].as_str().unwrap().to_string()
}

/// Restores `snapshot` into `target` and starts a server on it.
fn restored(snapshot: &str, target: &Path) -> Server {
    let output = Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .args(["restore", "--from", snapshot, "--data-dir"])
        .arg(target)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Server::builder()
        .data_dir(target)
        .arg("--shards")
        .arg("1")
        .start()
}

fn set_rotation(server: &mut Server, rotation: &str) {
    server
        .envs
        .retain(|(key, _)| key != "TIMBERDB_BLOCK_ROTATION");
    server
        .envs
        .push(("TIMBERDB_BLOCK_ROTATION".into(), rotation.into()));
}

#[test]
fn a_snapshot_survives_compaction_deletion_and_restarts_and_its_deletion_frees_space() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("live");
    let mut live = Server::builder()
        .data_dir(&data_dir)
        .arg("--shards")
        .arg("1")
        .env("TIMBERDB_BLOCK_ROTATION", &format!("count:{SMALL_BLOCK}"))
        .start();
    live.create_partition(ANCHOR);
    live.create_partition(KEEP);
    live.create_partition(GONE);
    ingest(&live, ANCHOR, 0..SMALL_BLOCK);
    ingest(&live, KEEP, 0..1_200);
    ingest(&live, GONE, 0..400); // the last blocks of the segment file
    let first = snapshot(&live, "first");
    assert_eq!(block_count(&live, KEEP), 30);

    // Compaction replaces the 30 small blocks and the partition at the end
    // of the shared file goes; then a restart and more ingest.
    live.terminate();
    set_rotation(&mut live, &format!("count:{FULL_BLOCK}"));
    live.start_again();
    eventually(Duration::from_secs(60), || {
        (block_count(&live, KEEP) == 6).then_some(())
    });
    let deleted = live.request("DELETE", &format!("/api/v1/partitions/{GONE}"), None, b"");
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    live.terminate();
    live.start_again();
    ingest(&live, KEEP, 1_200..1_600);
    check_entries(&live, KEEP, 1_600);

    let target = temp.path().join("from-first");
    let from_first = restored(&first, &target);
    check_entries(&from_first, KEEP, 1_200);
    check_entries(&from_first, GONE, 400);
    check_entries(&from_first, ANCHOR, SMALL_BLOCK);
    drop(from_first);

    // Deleting the snapshot gives back the gaps the restart could not punch.
    let held = segment_allocated_bytes(&data_dir);
    let answer = live.request("DELETE", "/api/v1/admin/snapshots/first", None, b"");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json(), json!({"deleted": "first"}));
    let freed_at_least = 40 * 4096; // the 30 replaced blocks and gone's 10
    eventually(Duration::from_secs(30), || {
        (segment_allocated_bytes(&data_dir) + freed_at_least <= held).then_some(())
    });

    // Removed while a snapshot shares the files: kept in the retry list,
    // restorable, and given back once the snapshot is deleted.
    let second = snapshot(&live, "second");
    let deleted = live.request("DELETE", &format!("/api/v1/partitions/{KEEP}"), None, b"");
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    let held = segment_allocated_bytes(&data_dir);
    let from_second = restored(&second, &temp.path().join("from-second"));
    check_entries(&from_second, KEEP, 1_600);
    drop(from_second);
    assert_eq!(
        segment_allocated_bytes(&data_dir),
        held,
        "nothing punched while shared"
    );
    let answer = live.request("DELETE", "/api/v1/admin/snapshots/second", None, b"");
    assert_eq!(answer.status, 200, "{}", answer.text());
    eventually(Duration::from_secs(30), || {
        (segment_allocated_bytes(&data_dir) + 8 * 4096 <= held).then_some(())
    });
}
