//! A snapshot taken while ingest runs, restored with `timberdb restore`
//! into a fresh directory and served by a second server, holds every entry
//! acknowledged before the snapshot request, and each batch whole or not at
//! all (every entry of a batch carries the batch's marker tag); on two
//! shards. A snapshot directory on another filesystem is copied instead of
//! linked, and restores the same way.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{query_all, Server};
use serde_json::json;

const PARTITION: &str = "snap";
const BATCH_ENTRIES: usize = 25;
const WRITERS: usize = 3;

/// `timberdb restore --from FROM --data-dir TO`.
fn restore(from: &Path, to: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .arg("restore")
        .arg("--from")
        .arg(from)
        .arg("--data-dir")
        .arg(to)
        .output()
        .expect("run timberdb restore")
}

fn batch_body(marker: &str) -> String {
    (0..BATCH_ENTRIES)
        .map(|i| {
            json!({
                "source": "snapshot-test",
                "message": format!("entry {i} of batch {marker}"),
                "tags": {"batch": marker, "i": i.to_string()},
            })
            .to_string()
                + "\n"
        })
        .collect()
}

/// Writer threads posting batches until `stop`; each acknowledged marker is
/// appended to `acked` as soon as its answer arrives.
fn start_writers(
    addr: &str,
    stop: &Arc<AtomicBool>,
    acked: &Arc<Mutex<Vec<String>>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..WRITERS)
        .map(|writer| {
            let (addr, stop, acked) = (addr.to_string(), stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let path = format!("/api/v1/partitions/{PARTITION}/logs");
                for batch in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let marker = format!("w{writer}-b{batch}");
                    let body = batch_body(&marker);
                    let answer = common::request(
                        &addr,
                        "POST",
                        &path,
                        Some("application/x-ndjson"),
                        body.as_bytes(),
                    );
                    assert_eq!(answer.status, 200, "{}", answer.text());
                    acked.lock().unwrap().push(marker);
                }
            })
        })
        .collect()
}

/// Entries per batch marker, checking each entry's message.
fn batches(server: &Server) -> BTreeMap<String, BTreeSet<String>> {
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in query_all(server, json!({"partitions": [PARTITION]})) {
        let marker = entry["tags"]["batch"].as_str().unwrap().to_string();
        let i = entry["tags"]["i"].as_str().unwrap().to_string();
        assert_eq!(
            entry["message"],
            format!("entry {i} of batch {marker}"),
            "{entry}"
        );
        assert!(
            found.entry(marker).or_default().insert(i),
            "an entry twice: {entry}"
        );
    }
    found
}

fn start_on(data_dir: &Path) -> Server {
    Server::builder()
        .data_dir(data_dir)
        .arg("--shards")
        .arg("2")
        .start()
}

#[test]
fn a_snapshot_under_concurrent_ingest_restores_every_acknowledged_batch_whole() {
    let temp = tempfile::tempdir().unwrap();
    let live_dir = temp.path().join("live");
    let mut live = Server::builder()
        .data_dir(&live_dir)
        .arg("--shards")
        .arg("2")
        // Small blocks: the snapshot holds sealed blocks, blocks sealing
        // and active blocks all at once.
        .env("TIMBERDB_BLOCK_ROTATION", "count:300")
        .start();
    live.create_partition(PARTITION);
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writers = start_writers(&live.addr, &stop, &acked);
    common::eventually(Duration::from_secs(30), || {
        (acked.lock().unwrap().len() >= 60).then_some(())
    });
    let acked_before: Vec<String> = acked.lock().unwrap().clone();
    let answer = live.post_json("/api/v1/admin/snapshots", &json!({"name": "under-load"}));
    assert_eq!(answer.status, 201, "{}", answer.text());
    let created = answer.json();
    // Ingest goes on after the snapshot, into the same segment files.
    let acked_at_snapshot = acked.lock().unwrap().len();
    common::eventually(Duration::from_secs(30), || {
        (acked.lock().unwrap().len() >= acked_at_snapshot + 30).then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().unwrap();
    }
    let snapshot_dir = PathBuf::from(created["path"].as_str().unwrap());
    assert_eq!(
        snapshot_dir,
        live_dir
            .join("snapshots")
            .join("under-load")
            .canonicalize()
            .unwrap()
    );
    assert_eq!(created["partitions"], 1);

    // Restored while the live server still appends to the linked files.
    let restored_dir = temp.path().join("restored");
    let output = restore(&snapshot_dir, &restored_dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("restored snapshot under-load"), "{stdout}");
    assert!(stdout.contains("2 shards, 1 partitions"), "{stdout}");

    let restored = start_on(&restored_dir);
    let found = batches(&restored);
    for marker in &acked_before {
        assert!(
            found.contains_key(marker),
            "acknowledged before the snapshot but missing: {marker}"
        );
    }
    for (marker, entries) in &found {
        assert_eq!(
            entries.len(),
            BATCH_ENTRIES,
            "batch {marker} is partly there"
        );
    }
    let all_acked = acked.lock().unwrap().len();
    assert!(
        found.len() < all_acked,
        "later batches are not in the snapshot"
    );
    drop(restored);

    // The live server lost nothing either, and still serves after a restart.
    live.terminate();
    live.start_again();
    let live_found = batches(&live);
    assert_eq!(live_found.len(), all_acked);
}

#[test]
fn a_snapshot_dir_on_another_filesystem_is_copied_and_restores() {
    let shm = Path::new("/dev/shm");
    let temp = tempfile::tempdir().unwrap();
    use std::os::unix::fs::MetadataExt;
    let other_device = std::fs::metadata(shm)
        .map(|m| m.dev() != std::fs::metadata(temp.path()).unwrap().dev())
        .unwrap_or(false);
    if !other_device {
        eprintln!("skipped: /dev/shm is not another filesystem here");
        return;
    }
    let snapshots = tempfile::tempdir_in(shm).unwrap();
    let live_dir = temp.path().join("live");
    let live = Server::builder()
        .data_dir(&live_dir)
        .arg("--shards")
        .arg("2")
        .env("TIMBERDB_SNAPSHOT_DIR", snapshots.path().to_str().unwrap())
        .start();
    live.create_partition(PARTITION);
    for batch in 0..8 {
        let body = batch_body(&format!("b{batch}"));
        assert_eq!(live.post_ndjson(PARTITION, body.as_bytes()).status, 200);
    }
    let answer = live.post_json("/api/v1/admin/snapshots", &json!({"name": "elsewhere"}));
    assert_eq!(answer.status, 201, "{}", answer.text());
    let dir = snapshots.path().join("elsewhere");
    assert_eq!(answer.json()["path"], dir.display().to_string());
    assert!(
        live.stderr().contains("copying segment files"),
        "{}",
        live.stderr()
    );
    for shard in 0..2 {
        let segment = dir.join(format!("shard-{shard}/seg-000001.tdb"));
        assert_eq!(
            std::fs::metadata(&segment).unwrap().nlink(),
            1,
            "copied, not linked"
        );
    }
    let restored_dir = temp.path().join("restored");
    let output = restore(&dir, &restored_dir);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let restored = start_on(&restored_dir);
    let found = batches(&restored);
    assert_eq!(found.len(), 8);
    assert!(found.values().all(|entries| entries.len() == BATCH_ENTRIES));
}
