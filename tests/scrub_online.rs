//! Online scrub through `POST /api/v1/admin/scrub` and `GET /api/v1/admin/scrub`:
//! a byte flipped in a published block under a running server is found and
//! named (file, offset, partition, ids); with `quarantine` the block leaves
//! the database (a `quarantine.jsonl` line, every other entry still served,
//! also after a restart); queries answer throughout; a second scrub while
//! one runs is a 409; bad bodies are 400s; `/metrics` counts it all.

mod common;

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use common::{block_headers, eventually, first_segment, manifest_block_count, Server};
use serde_json::{json, Value};
use timberdb::block::{DirectoryRef, FrameKind};
use timberdb::storage::manifest;

const BASE_NS: i64 = 1_700_000_000_000_000_000;
const SECOND_NS: i64 = 1_000_000_000;
const PARTITION: &str = "online";
const SCRUB: &str = "/api/v1/admin/scrub";

fn entry(i: i64, filler: &str) -> Value {
    json!({
        "timestamp": BASE_NS + i * SECOND_NS,
        "level": "info",
        "source": "scrub-online",
        "message": format!("entry {i} {filler}"),
        "tags": {"n": i.to_string()},
    })
}

fn numbers(result: &Value) -> Vec<i64> {
    result["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["tags"]["n"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Flips one byte of a file a running server has open, in place.
fn flip_byte_in_place(path: &Path, offset: u64) {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).unwrap();
    byte[0] ^= 0x08;
    file.write_all_at(&byte, offset).unwrap();
    file.sync_all().unwrap();
}

/// Starts a scrub and waits until it has finished; returns its final status.
fn scrub_to_the_end(server: &Server, body: &Value) -> Value {
    let started = server.post_json(SCRUB, body);
    assert_eq!(started.status, 202, "{}", started.text());
    let started = started.json();
    assert_eq!(started["state"], "running", "{started}");
    let id = started["id"].as_str().unwrap().to_string();
    eventually(Duration::from_secs(60), || {
        let status = server.get(SCRUB).json();
        (status["id"] == id.as_str() && status["state"] == "finished").then_some(status)
    })
}

fn metric(server: &Server, series: &str) -> u64 {
    let text = server.get("/metrics").text();
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
}

#[test]
fn a_byte_flipped_under_a_running_server_is_found_and_quarantined_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut server = Server::builder()
        .data_dir(&data_dir)
        .arg("--shards")
        .arg("1")
        .env("TIMBERDB_BLOCK_ROTATION", "count:50")
        .start();
    assert_eq!(server.get(SCRUB).json()["state"], "never_run");
    server.create_partition(PARTITION);
    for first in (0..200).step_by(50) {
        let lines: Vec<Value> = (first..first + 50).map(|i| entry(i, "text")).collect();
        assert_eq!(server.ingest_ndjson(PARTITION, &lines).status, 200);
    }
    eventually(Duration::from_secs(30), || {
        (manifest_block_count(&data_dir, 0) >= 4).then_some(())
    });
    let clean = scrub_to_the_end(&server, &json!({}));
    assert_eq!(clean["blocks_checked"], 4, "{clean:#}");
    assert_eq!(clean["damage"], json!([]), "{clean:#}");
    assert!(
        clean["manifest_records_checked"].as_u64().unwrap() >= 5,
        "{clean:#}"
    );

    // Damage block 2's message frame under the server.
    let segment = first_segment(&data_dir, 0);
    let (block_offset, header) = block_headers(&segment, 4)[2];
    let loaded = manifest::load(&common::shard_dir(&data_dir, 0), 0).unwrap();
    let block = &loaded.state.blocks[&(1, block_offset)];
    let directory = DirectoryRef::new(&block.header, block.directory.clone()).unwrap();
    let frame = directory
        .get()
        .columns
        .iter()
        .find(|column| FrameKind::of_archived(&column.name) == FrameKind::Message)
        .unwrap()
        .frames[0]
        .native();
    let frame_offset = block_offset + frame.offset as u64;
    flip_byte_in_place(&segment, frame_offset + 1);

    let found = scrub_to_the_end(&server, &json!({"rate_bytes_per_s": 1 << 30}));
    let damage = found["damage"].as_array().unwrap();
    assert_eq!(damage.len(), 1, "{found:#}");
    assert_eq!(damage[0]["file"], segment.display().to_string());
    assert_eq!(damage[0]["offset"], frame_offset);
    assert_eq!(damage[0]["block_offset"], block_offset);
    assert_eq!(damage[0]["partition"], PARTITION);
    assert_eq!(damage[0]["first_seq"], header.first_seq);
    assert_eq!(damage[0]["entries"], 50);
    assert_eq!(found["quarantined"], json!([]), "not asked to quarantine");
    // Queries go on: the other blocks answer, the damaged one still 500s.
    let before = server.query(
        &json!({"partitions": [PARTITION], "limit": 1000, "order": "asc",
        "filter": {"time_range": {"start": BASE_NS, "end": BASE_NS + 100 * SECOND_NS}}}),
    );
    assert_eq!(numbers(&before), (0..100).collect::<Vec<_>>());

    let quarantined = scrub_to_the_end(&server, &json!({"quarantine": true}));
    let lines = quarantined["quarantined"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{quarantined:#}");
    assert_eq!(lines[0]["offset"], block_offset);
    assert_eq!(lines[0]["first_seq"], header.first_seq);
    assert_eq!(lines[0]["last_seq"], header.first_seq + 49);
    let journal =
        std::fs::read_to_string(common::shard_dir(&data_dir, 0).join("quarantine.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 1, "{journal}");
    let expected: Vec<i64> = (0..200).filter(|i| !(100..150).contains(i)).collect();
    let all = server.query(&json!({"partitions": [PARTITION], "limit": 1000, "order": "asc"}));
    assert_eq!(numbers(&all), expected);
    assert_eq!(metric(&server, "timberdb_scrub_runs_total{shard=\"0\"}"), 3);
    assert_eq!(
        metric(&server, "timberdb_scrub_damaged_blocks_total{shard=\"0\"}"),
        2
    );
    assert_eq!(
        metric(
            &server,
            "timberdb_scrub_quarantined_blocks_total{shard=\"0\"}"
        ),
        1
    );
    assert!(metric(&server, "timberdb_scrub_blocks_checked_total{shard=\"0\"}") >= 12);

    // The removal is durable; the next scrub is clean.
    server.restart();
    let all = server.query(&json!({"partitions": [PARTITION], "limit": 1000, "order": "asc"}));
    assert_eq!(numbers(&all), expected);
    let after = scrub_to_the_end(&server, &json!({}));
    assert_eq!(after["blocks_checked"], 3, "{after:#}");
    assert_eq!(after["damage"], json!([]), "{after:#}");
}

#[test]
fn bad_bodies_are_400_and_a_second_scrub_while_one_runs_is_409() {
    let server = Server::builder()
        .arg("--shards")
        .arg("2")
        .env("TIMBERDB_BLOCK_ROTATION", "count:500")
        .start();
    server.create_partition(PARTITION);
    // Incompressible text, so the blocks are large enough for a slow scrub
    // to take a while.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut noise = || {
        (0..40)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                format!("{:016x}", state)
            })
            .collect::<String>()
    };
    for first in (0..2000).step_by(500) {
        let lines: Vec<Value> = (first..first + 500).map(|i| entry(i, &noise())).collect();
        assert_eq!(server.ingest_ndjson(PARTITION, &lines).status, 200);
    }
    eventually(Duration::from_secs(30), || {
        let partition = server
            .get(&format!("/api/v1/partitions/{PARTITION}"))
            .json();
        (partition["blocks"].as_u64().unwrap_or(0) >= 4).then_some(())
    });

    for (body, code) in [
        (&b"{\"rate_bytes_per_s\": 0}"[..], "invalid_rate"),
        (b"{\"rate_bytes_per_s\": -5}", "invalid_json"),
        (b"{\"quarantine\": \"yes\"}", "invalid_json"),
        (b"{\"rate\": 100}", "invalid_json"),
        (b"not json", "invalid_json"),
    ] {
        let response = server.post_json_bytes(SCRUB, body);
        assert_eq!(response.status, 400, "{}", response.text());
        assert_eq!(response.error_code(), code, "{}", response.text());
    }
    let response = server.request("DELETE", SCRUB, None, b"");
    assert_eq!(response.status, 405);

    // The slowest rate: 64 KiB/s per shard over about a megabyte of blocks.
    let first = server.post_json(SCRUB, &json!({"rate_bytes_per_s": 65536}));
    assert_eq!(first.status, 202, "{}", first.text());
    let second = server.post_json(SCRUB, &json!({}));
    assert_eq!(second.status, 409, "{}", second.text());
    assert_eq!(second.error_code(), "scrub_running");
    let status = server.get(SCRUB).json();
    assert_eq!(status["id"], first.json()["id"], "{status:#}");
    assert_eq!(status["state"], "running", "{status:#}");
    assert_eq!(status["shards"].as_array().unwrap().len(), 2);
    // Ingest and queries go on meanwhile.
    assert_eq!(
        server
            .ingest_ndjson(PARTITION, &[entry(5000, "late")])
            .status,
        200
    );
    let counted = server.query(&json!({"partitions": [PARTITION], "limit": 0}));
    assert_eq!(counted["total_count"], 2001, "{counted}");
    assert_eq!(metric(&server, "timberdb_scrub_running{shard=\"0\"}"), 1);
}
