//! Every block codec round-trips entries exactly through the real server.
//!
//! For each `TIMBERDB_COMPRESSION` (None, LZ4, Zstd, Snappy, Gzip): 350
//! entries with unicode messages, sources and tags, extra fields, every
//! level (and none) and explicit nanosecond timestamps are ingested with
//! block rotation count 100, so three blocks are sealed (and published in
//! the manifest) and 50 entries stay in the active block. Every entry must
//! come back identical before and after a restart, and the message frames of
//! the sealed blocks must carry the configured codec's id.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{eventually, manifest_block_count, Server};
use serde_json::{json, Map, Value};
use timberdb::block::{Codec, ColumnName, DirectoryRef};

const ENTRY_COUNT: usize = 350;
const BATCH_ENTRIES: usize = 50;
const BLOCK_ENTRIES: usize = 100;
const SEALED_BLOCKS: u64 = (ENTRY_COUNT / BLOCK_ENTRIES) as u64;
const PARTITION: &str = "codec";

const LEVELS: [Option<&str>; 7] = [
    None,
    Some("trace"),
    Some("debug"),
    Some("info"),
    Some("warn"),
    Some("error"),
    Some("fatal"),
];
const TEXTS: [&str; 6] = [
    "plain ascii",
    "Grüße aus Köln — naïve café",
    "日本語のログメッセージ",
    "emoji 🚀🔥 and \"quotes\" \\ backslash",
    "Ελληνικά και русский текст",
    "tab\tnew\nline",
];

/// The entry as sent, and the fields a query must return for it.
fn entry(i: usize) -> (Value, Value) {
    let timestamp_ns = 1_650_000_000_123_456_789i64 + (i as i64) * 1_000_003_007;
    let message = format!("#{i} {} {}", TEXTS[i % TEXTS.len()], "pad ".repeat(i % 17));
    let source = format!("svc-{}-ß", i % 4);
    let mut tags = Map::new();
    tags.insert("n".into(), Value::from(i.to_string()));
    tags.insert("region".into(), Value::from(TEXTS[(i / 3) % TEXTS.len()]));
    if i % 5 == 0 {
        tags.insert("ключ".into(), Value::from("значение ✓"));
    }
    let mut sent = json!({
        "timestamp": timestamp_ns,
        "source": source,
        "message": message,
        "tags": tags,
    });
    let mut want = json!({
        "timestamp_ns": timestamp_ns,
        "source": source,
        "message": message,
        "tags": tags,
    });
    if let Some(level) = LEVELS[i % LEVELS.len()] {
        sent["level"] = Value::from(level);
        want["level"] = Value::from(level);
    }
    if i % 3 != 0 {
        let fields =
            json!({"duration_ms": i * 7, "nested": {"ok": i % 2 == 0, "name": TEXTS[i % 6]}});
        sent["duration_ms"] = fields["duration_ms"].clone();
        sent["nested"] = fields["nested"].clone();
        want["fields"] = fields;
    }
    (sent, want)
}

/// The parts of a returned entry that must round-trip.
fn comparable(entry: &Value) -> Value {
    let mut out = Map::new();
    for key in [
        "timestamp_ns",
        "source",
        "message",
        "tags",
        "level",
        "fields",
    ] {
        if let Some(value) = entry.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    Value::Object(out)
}

fn check_all(server: &Server, when: &str) {
    let result = server.query(&json!({"partitions": [PARTITION], "limit": 1000, "order": "asc"}));
    let entries = result["entries"].as_array().unwrap();
    assert_eq!(entries.len(), ENTRY_COUNT, "{when}");
    for (i, got) in entries.iter().enumerate() {
        assert_eq!(comparable(got), entry(i).1, "{when}: entry {i}");
    }
}

/// Codec ids of the message frames of the published blocks, as their
/// directories (in the manifest) record them.
fn codec_ids_on_disk(data_dir: &Path) -> Vec<u8> {
    let shard = common::shard_dir(data_dir, 0);
    let loaded = timberdb::storage::manifest::load(&shard, 0).unwrap();
    let mut ids = Vec::new();
    for block in loaded.state.blocks.into_values() {
        let directory = DirectoryRef::new(&block.header, block.directory).unwrap();
        let messages = directory.get().column(&ColumnName::Message).unwrap();
        ids.extend(messages.frames.iter().map(|frame| frame.codec));
    }
    ids
}

fn round_trip(compression: &str, codec: Codec) {
    let mut server = Server::builder()
        .arg("--shards")
        .arg("1")
        .env("TIMBERDB_COMPRESSION", compression)
        .env("TIMBERDB_BLOCK_ROTATION", &format!("count:{BLOCK_ENTRIES}"))
        .start();
    server.create_partition(PARTITION);
    for first in (0..ENTRY_COUNT).step_by(BATCH_ENTRIES) {
        let lines: Vec<Value> = (first..first + BATCH_ENTRIES).map(|i| entry(i).0).collect();
        let response = server.ingest_ndjson(PARTITION, &lines);
        assert_eq!(response.status, 200, "{}", response.text());
    }
    // The manifest record is written before the block is published to
    // queries, so wait for both.
    let partition = eventually(Duration::from_secs(30), || {
        let partition = server
            .get(&format!("/api/v1/partitions/{PARTITION}"))
            .json();
        let published = partition["blocks"].as_u64() >= Some(SEALED_BLOCKS);
        let recorded = manifest_block_count(&server.data_dir, 0) >= SEALED_BLOCKS;
        (published && recorded).then_some(partition)
    });
    assert_eq!(partition["blocks"], SEALED_BLOCKS, "{partition}");
    assert_eq!(codec_ids_on_disk(&server.data_dir), vec![codec.id(); 3]);
    check_all(&server, &format!("{compression} before restart"));
    server.restart();
    check_all(&server, &format!("{compression} after restart"));
    // Every entry wanted: every block is read and decoded with the codec.
    let result = server.query(&json!({"partitions": [PARTITION], "limit": ENTRY_COUNT}));
    assert_eq!(
        result["stats"]["blocks_scanned"].as_u64().unwrap(),
        SEALED_BLOCKS + 1,
        "three sealed blocks and the active one: {}",
        result["stats"]
    );
}

#[test]
fn none_round_trips() {
    round_trip("None", Codec::None);
}

#[test]
fn lz4_round_trips() {
    round_trip("LZ4", Codec::Lz4);
}

#[test]
fn zstd_round_trips() {
    round_trip("Zstd", Codec::Zstd { level: 3 });
}

#[test]
fn snappy_round_trips() {
    round_trip("Snappy", Codec::Snappy);
}

#[test]
fn gzip_round_trips() {
    round_trip("Gzip", Codec::Gzip { level: 6 });
}
