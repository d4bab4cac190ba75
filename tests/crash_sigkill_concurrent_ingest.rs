//! Crash safety: SIGKILL the real server in the middle of concurrent ingest,
//! many times, and check after each restart that every acknowledged entry
//! is there (and none twice). Small WAL segments and blocks make the kills
//! land during rotation, sealing and reclaim too.
//!
//! Rounds: `TIMBERDB_CRASH_ROUNDS` (default 20).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{request, Server};
use serde_json::{json, Value};

const WRITERS: usize = 4;
const BATCH_ENTRIES: usize = 40;

fn rounds() -> usize {
    std::env::var("TIMBERDB_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// Sends batches until `stop` or the server dies; returns acknowledged keys.
fn writer(
    addr: String,
    round: usize,
    writer_id: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
) {
    let mut batch_id = 0;
    while !stop.load(Ordering::Relaxed) {
        let keys: Vec<String> = (0..BATCH_ENTRIES)
            .map(|i| format!("r{round}-w{writer_id}-b{batch_id}-{i}"))
            .collect();
        let mut body = String::new();
        for key in &keys {
            let line = json!({"message": format!("crash test entry {key} with some padding text"), "tags": {"k": key}, "level": "info"});
            body.push_str(&line.to_string());
            body.push('\n');
        }
        let response = std::panic::catch_unwind(|| {
            request(
                &addr,
                "POST",
                "/api/v1/partitions/crash/logs",
                Some("application/x-ndjson"),
                body.as_bytes(),
            )
        });
        match response {
            Ok(response) if response.status == 200 => acked.lock().unwrap().extend(keys),
            Ok(response) if response.status == 503 => std::thread::sleep(Duration::from_millis(5)),
            Ok(response) => panic!("unexpected status {}: {}", response.status, response.text()),
            Err(_) => return, // connection refused or reset: the server was killed
        }
        batch_id += 1;
    }
}

fn stored_keys(server: &Server) -> HashMap<String, usize> {
    let result = server.query(&json!({"partitions": ["crash"], "limit": 1_000_000}));
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
    let ids: HashSet<&Value> = entries.iter().map(|e| &e["id"]).collect();
    assert_eq!(ids.len(), entries.len(), "entry ids are unique");
    keys
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
    server.create_partition("crash");
    let mut all_acked: HashSet<String> = HashSet::new();
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for round in 0..rounds() {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..WRITERS)
            .map(|writer_id| {
                let (addr, stop, acked) = (server.addr.clone(), stop.clone(), acked.clone());
                std::thread::spawn(move || writer(addr, round, writer_id, stop, acked))
            })
            .collect();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(100 + (seed >> 33) % 400));
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
            .filter(|key| !stored.contains_key(*key))
            .take(5)
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} acknowledged entries lost, e.g. {missing:?}; server log:\n{}",
            all_acked
                .iter()
                .filter(|key| !stored.contains_key(*key))
                .count(),
            server.stderr()
        );
        let duplicated: Vec<_> = stored
            .iter()
            .filter(|(_, count)| **count > 1)
            .take(5)
            .collect();
        assert!(
            duplicated.is_empty(),
            "round {round}: entries stored twice: {duplicated:?}"
        );
    }
    assert!(
        all_acked.len() > 1000,
        "the test must actually ingest under load, acked {}",
        all_acked.len()
    );
}
