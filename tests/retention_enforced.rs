//! Retention deletes whole sealed blocks, oldest first, by age and by size,
//! in the background, and says what it did.
//!
//! Blocks are sealed by count (`count:100`, one batch of 100 entries per
//! block, one shard) so the tests know which entries share a block; the
//! retention pass runs every second (`storage.retention_check_interval`).
//! - age: entries ten days old in a partition with `retention_days = 1`
//!   leave queries and the manifest, recent ones stay; `PATCH` on an
//!   existing partition takes effect and gives the disk space back
//!   (`st_blocks`); the partition object and `/metrics` count what went.
//! - size: a partition budget and the server budget delete the oldest
//!   blocks first and never the newest.
//! - a budget that cannot be met: ingest answers 507 `storage_limit`,
//!   `/ready` 503, and nothing acknowledged before is lost.
//! - bad PATCH bodies get 400, an unknown partition 404.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{allocated_bytes, eventually, manifest_block_count, noise, Server};
use serde_json::{json, Value};

const BLOCK_ENTRIES: usize = 100;
const DAY_NS: i64 = 86_400 * 1_000_000_000;

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// A one-shard server sealing a block per 100 entries, retention every second.
fn server_with(extra_env: &[(&str, &str)]) -> Server {
    let mut builder = Server::builder()
        .arg("--shards")
        .arg("1")
        .env("TIMBERDB_BLOCK_ROTATION", &format!("count:{BLOCK_ENTRIES}"))
        .env("TIMBERDB_RETENTION_CHECK_INTERVAL", "1");
    for (key, value) in extra_env {
        builder = builder.env(key, value);
    }
    builder.start()
}

/// One block's worth of entries, all at `timestamp_ns`, tagged with `batch`.
fn batch(batch: usize, timestamp_ns: i64, message_bytes: usize) -> Vec<Value> {
    (0..BLOCK_ENTRIES)
        .map(|i| {
            let message = if message_bytes == 0 {
                format!("entry {i} of batch {batch}")
            } else {
                noise((batch * 1_000 + i) as u64, message_bytes)
            };
            json!({
                "timestamp": timestamp_ns + i as i64,
                "source": "retention-test",
                "message": message,
                "tags": {"batch": batch.to_string()},
            })
        })
        .collect()
}

fn ingest(server: &Server, partition: &str, lines: &[Value]) {
    let response = server.ingest_ndjson(partition, lines);
    assert_eq!(response.status, 200, "{}", response.text());
}

/// Ingests, retrying a `507 storage_limit` as a client would: a burst of
/// ingest can hold more WAL and unsealed data for a moment than a small
/// budget allows, until blocks are sealed and the WAL reclaimed.
fn ingest_retrying(server: &Server, partition: &str, lines: &[Value]) {
    let response = eventually(Duration::from_secs(30), || {
        let response = server.ingest_ndjson(partition, lines);
        (response.status != 507).then_some(response)
    });
    assert_eq!(response.status, 200, "{}", response.text());
}

fn create(server: &Server, body: Value) -> Value {
    let response = server.post_json("/api/v1/partitions", &body);
    assert_eq!(response.status, 201, "{}", response.text());
    response.json()
}

fn patch(server: &Server, partition: &str, body: &str) -> common::Response {
    server.request(
        "PATCH",
        &format!("/api/v1/partitions/{partition}"),
        Some("application/json"),
        body.as_bytes(),
    )
}

fn partition(server: &Server, name: &str) -> Value {
    let response = server.get(&format!("/api/v1/partitions/{name}"));
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

/// The batch numbers a partition still answers, with their entry counts.
fn batches_stored(server: &Server, name: &str) -> std::collections::BTreeMap<usize, usize> {
    let entries = common::query_all(server, json!({"partitions": [name]}));
    let mut batches = std::collections::BTreeMap::new();
    for entry in entries {
        let batch: usize = entry["tags"]["batch"].as_str().unwrap().parse().unwrap();
        *batches.entry(batch).or_insert(0) += 1;
    }
    batches
}

#[test]
fn entries_older_than_retention_leave_queries_and_disk_and_recent_ones_stay() {
    let server = server_with(&[]);
    create(&server, json!({"name": "aged", "retention_days": 1}));
    create(&server, json!({"name": "forever"}));
    let old = now_ns() - 10 * DAY_NS;
    for n in 0..5 {
        ingest(&server, "aged", &batch(n, old + n as i64 * 1_000_000, 0));
        ingest(&server, "forever", &batch(n, old + n as i64 * 1_000_000, 0));
    }
    for n in 5..8 {
        ingest(&server, "aged", &batch(n, now_ns(), 0));
    }
    let remaining = eventually(Duration::from_secs(30), || {
        let batches = batches_stored(&server, "aged");
        (batches.len() == 3).then_some(batches)
    });
    let expected: Vec<(usize, usize)> = (5..8).map(|n| (n, BLOCK_ENTRIES)).collect();
    assert_eq!(remaining.into_iter().collect::<Vec<_>>(), expected);
    // A partition without retention (and no server default) keeps its old entries.
    assert_eq!(batches_stored(&server, "forever").len(), 5);
    // Gone from the manifest too: 3 recent blocks of "aged", 5 of "forever".
    eventually(Duration::from_secs(10), || {
        (manifest_block_count(&server.data_dir, 0) == 8).then_some(())
    });

    let aged = partition(&server, "aged");
    assert_eq!(aged["retention"]["effective_retention_days"], 1);
    assert_eq!(aged["retention"]["removed"]["blocks"], 5, "{aged}");
    assert_eq!(aged["retention"]["removed"]["entries"], 500);
    assert_eq!(
        aged["retention"]["removed"]["by_reason"]["age"]["blocks"],
        5
    );
    assert_eq!(
        aged["retention"]["removed"]["by_reason"]["size"]["blocks"],
        0
    );
    assert_eq!(aged["entry_count"], 300);
    assert_eq!(aged["blocks"], 3);
    assert!(aged["bytes_on_disk"].as_u64().unwrap() > 0);
    let oldest = aged["oldest_timestamp"].as_str().unwrap();
    let newest = aged["newest_timestamp"].as_str().unwrap();
    assert!(
        oldest <= newest && oldest.ends_with('Z'),
        "{oldest} {newest}"
    );

    let metrics = server.get("/metrics").text();
    for line in [
        "timberdb_retention_deleted_blocks_total{partition=\"aged\",reason=\"age\"} 5",
        "timberdb_retention_deleted_entries_total{partition=\"aged\",reason=\"age\"} 500",
        "timberdb_retention_deleted_blocks_total{partition=\"forever\",reason=\"age\"} 0",
        "timberdb_storage_limit_reached{shard=\"0\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    for prefix in [
        "timberdb_partition_bytes_on_disk{partition=\"aged\"} ",
        "timberdb_partition_oldest_timestamp_seconds{partition=\"aged\"} ",
        "timberdb_partition_newest_timestamp_seconds{partition=\"forever\"} ",
        "timberdb_retention_deleted_bytes_total{partition=\"aged\",reason=\"age\"} ",
    ] {
        assert!(
            metrics.contains(prefix),
            "{prefix} missing from:\n{metrics}"
        );
    }
}

#[test]
fn patching_retention_on_an_existing_partition_deletes_and_frees_disk_space() {
    let mut server = server_with(&[]);
    create(&server, json!({"name": "later"}));
    let old = now_ns() - 30 * DAY_NS;
    for n in 0..20 {
        ingest(&server, "later", &batch(n, old + n as i64, 2_000));
    }
    ingest(&server, "later", &batch(20, now_ns(), 2_000));
    // Every block sealed (sealing runs in the background), and nothing is
    // deleted without a retention setting.
    eventually(Duration::from_secs(30), || {
        (partition(&server, "later")["blocks"] == 21).then_some(())
    });
    std::thread::sleep(Duration::from_millis(1_500));
    let before = partition(&server, "later");
    assert_eq!(before["blocks"], 21);
    let on_disk = before["bytes_on_disk"].as_u64().unwrap();
    assert!(on_disk > 1 << 20, "{before}");
    let shard_dir = common::shard_dir(&server.data_dir, 0);
    let allocated_before = allocated_bytes(&shard_dir);

    let response = patch(&server, "later", r#"{"retention_days": 7}"#);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["retention_days"], 7);
    eventually(Duration::from_secs(30), || {
        (partition(&server, "later")["blocks"] == 1).then_some(())
    });
    assert_eq!(
        batches_stored(&server, "later").keys().collect::<Vec<_>>(),
        [&20]
    );
    // The space goes back right after the blocks leave the query
    // structures (a punch per block, in the same pass).
    let deleted = on_disk
        - partition(&server, "later")["bytes_on_disk"]
            .as_u64()
            .unwrap();
    let freed = eventually(Duration::from_secs(10), || {
        let freed = allocated_before.saturating_sub(allocated_bytes(&shard_dir));
        (freed >= deleted * 9 / 10).then_some(freed)
    });
    eprintln!("{freed} bytes given back for {deleted} bytes of deleted blocks");

    // Durable in catalog.json, and cleared by null.
    server.restart();
    assert_eq!(partition(&server, "later")["retention_days"], 7);
    let cleared = patch(&server, "later", r#"{"retention_days": null}"#);
    assert_eq!(cleared.status, 200, "{}", cleared.text());
    assert_eq!(cleared.json()["retention_days"], Value::Null);
    server.restart();
    assert_eq!(partition(&server, "later")["retention_days"], Value::Null);
    assert_eq!(batches_stored(&server, "later").len(), 1);
}

#[test]
fn a_partition_budget_deletes_its_oldest_blocks_and_keeps_the_newest() {
    let server = server_with(&[]);
    create(
        &server,
        json!({"name": "capped", "max_storage_size": "1MiB"}),
    );
    create(&server, json!({"name": "neighbour"}));
    let base = now_ns() - DAY_NS;
    for n in 0..20 {
        ingest(
            &server,
            "capped",
            &batch(n, base + n as i64 * 1_000_000_000, 2_000),
        );
        ingest(&server, "neighbour", &batch(n, base, 0));
    }
    let capped = eventually(Duration::from_secs(30), || {
        let capped = partition(&server, "capped");
        (capped["bytes_on_disk"].as_u64().unwrap() <= 1 << 20).then_some(capped)
    });
    assert_eq!(capped["max_storage_size"], 1 << 20);
    let removed = &capped["retention"]["removed"]["by_reason"]["size"];
    assert!(removed["blocks"].as_u64().unwrap() > 0, "{capped}");
    // The oldest went: what is left is the newest batches, each whole.
    let batches = batches_stored(&server, "capped");
    let first_kept = *batches.keys().next().unwrap();
    assert!(first_kept > 0);
    let expected: Vec<usize> = (first_kept..20).collect();
    assert_eq!(batches.keys().copied().collect::<Vec<_>>(), expected);
    assert!(batches.values().all(|&count| count == BLOCK_ENTRIES));
    assert_eq!(
        removed["blocks"].as_u64().unwrap(),
        first_kept as u64,
        "{capped}"
    );
    // The neighbour has no budget and keeps everything.
    assert_eq!(batches_stored(&server, "neighbour").len(), 20);
}

/// A config file with small WAL segments, so the server budget is not
/// dominated by the WAL's preallocation.
fn small_wal_config(dir: &Path, wal_max_size: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("timberdb.toml");
    std::fs::write(
        &path,
        format!(
            "[storage]\nwal_segment_size = \"1MiB\"\nwal_max_size = \"{wal_max_size}\"\nretention_check_interval = 1\n{extra}"
        ),
    )
    .unwrap();
    path
}

#[test]
fn the_server_budget_deletes_the_oldest_blocks_across_partitions() {
    let temp = tempfile::tempdir().unwrap();
    let config = small_wal_config(temp.path(), "2MiB", "max_storage_size = \"8MiB\"\n");
    let server = Server::builder()
        .arg("--shards")
        .arg("1")
        .arg("--config")
        .arg(config.to_str().unwrap())
        .env("TIMBERDB_BLOCK_ROTATION", &format!("count:{BLOCK_ENTRIES}"))
        .start();
    create(&server, json!({"name": "a"}));
    create(&server, json!({"name": "b"}));
    let base = now_ns() - DAY_NS;
    // Interleaved in time: batch n of "a" at 2n seconds, of "b" at 2n + 1.
    for n in 0..24 {
        let second = 1_000_000_000;
        ingest_retrying(&server, "a", &batch(n, base + 2 * n as i64 * second, 4_000));
        ingest_retrying(
            &server,
            "b",
            &batch(n, base + (2 * n as i64 + 1) * second, 4_000),
        );
    }
    eventually(Duration::from_secs(30), || {
        let removed = |name| partition(&server, name)["retention"]["removed"]["blocks"].as_u64();
        (removed("a").unwrap() + removed("b").unwrap() > 0).then_some(())
    });
    // Let the passes settle, then check that the deleted blocks are exactly
    // the oldest ones, across both partitions, and the newest stayed.
    std::thread::sleep(Duration::from_millis(2_500));
    let times = |name: &str, offset: usize| -> Vec<usize> {
        batches_stored(&server, name)
            .keys()
            .map(|n| 2 * n + offset)
            .collect()
    };
    let kept: Vec<usize> = times("a", 0).into_iter().chain(times("b", 1)).collect();
    let oldest_kept = *kept.iter().min().unwrap();
    let expected: Vec<usize> = (oldest_kept..48).collect();
    let mut kept_sorted = kept.clone();
    kept_sorted.sort_unstable();
    assert_eq!(
        kept_sorted, expected,
        "a gap: a newer block went before an older one"
    );
    assert!(oldest_kept > 0);
    assert!(
        kept.contains(&46) && kept.contains(&47),
        "the newest blocks stay"
    );
    let metrics = server.get("/metrics").text();
    assert!(
        !metrics
            .contains("timberdb_retention_deleted_blocks_total{partition=\"a\",reason=\"size\"} 0"),
        "{metrics}"
    );
}

#[test]
fn a_budget_that_cannot_be_met_refuses_ingest_with_507_and_loses_nothing() {
    let temp = tempfile::tempdir().unwrap();
    // Each batch goes to a partition of its own and is sealed as its only
    // block: a partition's newest block is never deleted, so these blocks,
    // with the WAL, end up exceeding the 6 MiB budget for good.
    let config = small_wal_config(temp.path(), "2MiB", "max_storage_size = \"6MiB\"\n");
    let mut server = Server::builder()
        .arg("--shards")
        .arg("1")
        .arg("--config")
        .arg(config.to_str().unwrap())
        .env("TIMBERDB_BLOCK_ROTATION", &format!("count:{BLOCK_ENTRIES}"))
        .start();
    let mut accepted: Vec<String> = Vec::new();
    let mut refused = None;
    for n in 0..200 {
        let name = format!("p{n}");
        create(&server, json!({"name": name}));
        let response = server.ingest_ndjson(&name, &batch(n, now_ns(), 2_000));
        match response.status {
            200 => accepted.push(name),
            507 => {
                // A burst of WAL may pass; a budget that cannot be met stays.
                std::thread::sleep(Duration::from_millis(1_500));
                let again = server.ingest_ndjson(&name, &batch(n, now_ns(), 2_000));
                match again.status {
                    200 => accepted.push(name),
                    _ => {
                        refused = Some(again);
                        break;
                    }
                }
            }
            status => panic!("{status}: {}", response.text()),
        }
    }
    let refused = refused.expect("ingest was never refused");
    assert_eq!(refused.status, 507, "{}", refused.text());
    assert_eq!(refused.error_code(), "storage_limit");
    assert!(refused.error_message().contains("max_storage_size"));
    assert_eq!(refused.header("retry-after"), Some("60"));
    assert!(!accepted.is_empty());
    // Every HTTP ingest protocol goes through the same early check.
    let jsonline = server.request(
        "POST",
        "/insert/jsonline?_stream_fields=source",
        Some("application/stream+json"),
        b"{\"_msg\":\"one more\",\"source\":\"x\"}\n",
    );
    assert_eq!(jsonline.status, 507, "{}", jsonline.text());
    let ready = server.get("/ready");
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert_eq!(ready.error_code(), "storage_limit");
    let metrics = server.get("/metrics").text();
    assert!(metrics.contains("timberdb_storage_limit_reached{shard=\"0\"} 1"));
    assert!(server.stderr().contains("storage budget cannot be met"));
    let count = |server: &Server| -> usize {
        accepted
            .iter()
            .map(|name| {
                let answer = server.query(&json!({"partitions": [name], "limit": 0}));
                answer["total_count"].as_u64().unwrap() as usize
            })
            .sum()
    };
    assert_eq!(count(&server), accepted.len() * BLOCK_ENTRIES);
    server.restart();
    assert_eq!(
        count(&server),
        accepted.len() * BLOCK_ENTRIES,
        "acknowledged entries survive"
    );
}

#[test]
fn bad_settings_are_refused_with_400_and_unknown_partitions_with_404() {
    let server = server_with(&[]);
    create(&server, json!({"name": "p"}));
    for (body, code) in [
        (r#"{"retention_days": -1}"#, "invalid_retention"),
        (r#"{"retention_days": 0}"#, "invalid_retention"),
        (r#"{"retention_days": "7"}"#, "invalid_retention"),
        (r#"{"retention_days": 36501}"#, "invalid_retention"),
        (r#"{"max_storage_size": 0}"#, "invalid_max_storage_size"),
        (r#"{"max_storage_size": -10}"#, "invalid_max_storage_size"),
        (
            r#"{"max_storage_size": "10 parsecs"}"#,
            "invalid_max_storage_size",
        ),
        (r#"{"max_storage_size": 1024}"#, "invalid_max_storage_size"),
        (r#"{"retention": 3}"#, "unknown_field"),
        (r#"{"name": "q"}"#, "unknown_field"),
        (r#"{}"#, "nothing_to_change"),
        (r#"[1]"#, "invalid_json"),
        (r#"{"retention_days": "#, "invalid_json"),
    ] {
        let response = patch(&server, "p", body);
        assert_eq!(response.status, 400, "{body}: {}", response.text());
        assert_eq!(response.error_code(), code, "{body}");
        assert!(!response.error_message().is_empty());
    }
    let unknown = patch(&server, "nope", r#"{"retention_days": 3}"#);
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    assert_eq!(unknown.error_code(), "partition_not_found");
    let bad_create = server.post_json(
        "/api/v1/partitions",
        &json!({"name": "q", "max_storage_size": "lots"}),
    );
    assert_eq!(bad_create.status, 400, "{}", bad_create.text());
    assert_eq!(bad_create.error_code(), "invalid_max_storage_size");
    // The settings were left as they were; a good PATCH by id works.
    let p = partition(&server, "p");
    assert_eq!(p["retention_days"], Value::Null);
    let id = p["id"].as_str().unwrap();
    let response = patch(&server, id, r#"{"max_storage_size": 2097152}"#);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["max_storage_size"], 2_097_152);
    let put = server.request(
        "PUT",
        "/api/v1/partitions/p",
        Some("application/json"),
        b"{}",
    );
    assert_eq!(put.status, 405);
    assert_eq!(put.header("allow"), Some("GET, PATCH, DELETE"));
}

#[test]
fn a_patch_reaches_every_shard_and_each_deletes_its_own_old_blocks() {
    let server = Server::builder()
        .arg("--shards")
        .arg("2")
        .env("TIMBERDB_BLOCK_ROTATION", &format!("count:{BLOCK_ENTRIES}"))
        .env("TIMBERDB_RETENTION_CHECK_INTERVAL", "1")
        .start();
    create(&server, json!({"name": "spread"}));
    let old = now_ns() - 10 * DAY_NS;
    // Every request is a new connection, so the kernel spreads them over
    // both shards; each shard seals its own blocks.
    for n in 0..16 {
        ingest(&server, "spread", &batch(n, old + n as i64, 0));
    }
    let recent = now_ns();
    for n in 16..20 {
        ingest(&server, "spread", &batch(n, recent, 0));
    }
    let slices: std::collections::HashSet<String> =
        common::query_all(&server, json!({"partitions": ["spread"]}))
            .iter()
            .map(|entry| {
                entry["id"]
                    .as_str()
                    .unwrap()
                    .split('-')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
    eventually(Duration::from_secs(30), || {
        (partition(&server, "spread")["blocks"] == 20).then_some(())
    });
    // Sent several times so that both shards receive one (a PATCH on shard
    // 1 is forwarded to shard 0, which owns the catalog).
    for days in [3, 2, 1] {
        let body = format!("{{\"retention_days\": {days}}}");
        let response = patch(&server, "spread", &body);
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.json()["retention_days"], days);
    }
    let remaining = eventually(Duration::from_secs(30), || {
        let batches = batches_stored(&server, "spread");
        (batches.len() == 4).then_some(batches)
    });
    assert_eq!(
        remaining.keys().copied().collect::<Vec<_>>(),
        [16, 17, 18, 19]
    );
    let spread = partition(&server, "spread");
    assert_eq!(spread["retention"]["removed"]["blocks"], 16, "{spread}");
    assert_eq!(spread["retention_days"], 1);
    eprintln!("entries were on slices {slices:?}");
}
