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

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{eventually, request, Server};
use serde_json::json;

const PARTITION: &str = "interval";
const WRITERS: usize = 3;
const BATCH_ENTRIES: usize = 25;
const ROUNDS: usize = 4;

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

fn lines(keys: &[String]) -> String {
    let mut body = String::new();
    for key in keys {
        let line = json!({"message": format!("interval entry {key} ✓"), "level": "warn", "tags": {"k": key}});
        body.push_str(&line.to_string());
        body.push('\n');
    }
    body
}

/// Sends batches until `stop` or the server dies; records acknowledged keys.
fn writer(addr: String, tag: String, stop: Arc<AtomicBool>, acked: Arc<Mutex<Vec<String>>>) {
    let path = format!("/api/v1/partitions/{PARTITION}/logs");
    for batch in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let keys: Vec<String> = (0..BATCH_ENTRIES)
            .map(|i| format!("{tag}-b{batch}-{i}"))
            .collect();
        let body = lines(&keys);
        let response = std::panic::catch_unwind(|| {
            request(
                &addr,
                "POST",
                &path,
                Some("application/x-ndjson"),
                body.as_bytes(),
            )
        });
        match response {
            Ok(response) if response.status == 200 => acked.lock().unwrap().extend(keys),
            Ok(response) if response.status == 503 => {
                std::thread::sleep(Duration::from_millis(5)) // back-off, not correctness
            }
            Ok(response) => panic!("unexpected status {}: {}", response.status, response.text()),
            Err(_) => return, // the server was killed mid-request
        }
    }
}

fn stored_keys(server: &Server) -> HashMap<String, usize> {
    let result = server.query(&json!({"partitions": [PARTITION], "limit": 1_000_000}));
    let entries = result["entries"].as_array().unwrap();
    assert_eq!(
        result["total_count"].as_u64().unwrap() as usize,
        entries.len()
    );
    let mut keys = HashMap::new();
    for entry in entries {
        let key = entry["tags"]["k"].as_str().unwrap().to_string();
        *keys.entry(key).or_insert(0) += 1;
    }
    keys
}

#[test]
fn writes_and_queries_work_and_are_visible_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    server.create_partition(PARTITION);
    for batch in 0..10 {
        let keys: Vec<String> = (0..BATCH_ENTRIES)
            .map(|i| format!("v-b{batch}-{i}"))
            .collect();
        let response = server.request(
            "POST",
            &format!("/api/v1/partitions/{PARTITION}/logs"),
            Some("application/x-ndjson"),
            lines(&keys).as_bytes(),
        );
        assert_eq!(response.status, 200, "{}", response.text());
        // Acknowledged means visible, even before the background sync.
        let stored = stored_keys(&server);
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
    let mut all_acked: HashSet<String> = HashSet::new();
    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..WRITERS)
            .map(|writer_id| {
                let (addr, stop, acked) = (server.addr.clone(), stop.clone(), acked.clone());
                let tag = format!("r{round}-w{writer_id}");
                std::thread::spawn(move || writer(addr, tag, stop, acked))
            })
            .collect();
        // Kill once a round-dependent amount is acknowledged, so kills land
        // at different points of the 50 ms sync interval.
        let kill_after = 200 + round * 350;
        eventually(Duration::from_secs(60), || {
            (acked.lock().unwrap().len() >= kill_after).then_some(())
        });
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for handle in handles {
            handle.join().expect("writer thread");
        }
        all_acked.extend(acked.lock().unwrap().drain(..));
        server.restart();
        let stored = stored_keys(&server);
        let missing: Vec<&String> = all_acked
            .iter()
            .filter(|k| !stored.contains_key(*k))
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} of {} acknowledged entries lost, e.g. {:?}; log:\n{}",
            missing.len(),
            all_acked.len(),
            &missing[..missing.len().min(5)],
            server.stderr()
        );
        let twice: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).take(5).collect();
        assert!(
            twice.is_empty(),
            "round {round}: entries stored twice: {twice:?}"
        );
    }
}
