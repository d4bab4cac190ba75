//! Damaged sealed blocks: corrupt data is never returned as entries.
//!
//! 200 entries with disjoint, increasing timestamps are sealed into four
//! blocks of 50 (one shard, block rotation count 50) and published in the
//! manifest; the server is SIGKILLed, one byte of one block in
//! `<data>/shard-0/p-<key>/seg-000001.tdb` is flipped on a copy of the data
//! directory, and the server is started on that copy.
//!
//! What it pins:
//! - A flipped payload byte: the server starts (start-up reads headers only);
//!   a query that must read the block answers 500 with a message naming the
//!   segment file, the block's file offset and "checksum"; a query whose
//!   time range excludes the block prunes it and succeeds with exactly the
//!   other entries.
//! - A flipped header byte: start-up walks every published header
//!   (`shard/recovery.rs`), so the server refuses to start, exiting non-zero
//!   with a message naming the segment file, the block's offset and
//!   "checksum".

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{block_headers, copy_dir, eventually, first_segment, manifest_block_count, Server};
use serde_json::{json, Value};
use timberdb::block::{BlockHeader, BLOCK_HEADER_BYTES};

const BASE_NS: i64 = 1_700_000_000_000_000_000;
const SECOND_NS: i64 = 1_000_000_000;
const ENTRY_COUNT: i64 = 200;
const BLOCK_ENTRIES: i64 = 50;
const PARTITION: &str = "sealed";

fn entry(i: i64) -> Value {
    let level = ["info", "warn", "error"][(i % 3) as usize];
    json!({
        "timestamp": BASE_NS + i * SECOND_NS,
        "level": level,
        "source": "corruption-test",
        "message": format!("entry {i} of the corruption test, with text that compresses {}", "la ".repeat(20)),
        "tags": {"n": i.to_string()},
    })
}

fn time_range(first: i64, end: i64) -> Value {
    json!({"start": BASE_NS + first * SECOND_NS, "end": BASE_NS + end * SECOND_NS})
}

fn numbers(result: &Value) -> Vec<i64> {
    let entries = result["entries"].as_array().unwrap();
    entries
        .iter()
        .map(|e| e["tags"]["n"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn start(data_dir: &Path) -> Server {
    Server::builder()
        .data_dir(data_dir)
        .arg("--shards")
        .arg("1")
        .env("TIMBERDB_BLOCK_ROTATION", "count:50")
        .start()
}

fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x08;
    std::fs::write(path, bytes).unwrap();
}

struct Sealed {
    dir: tempfile::TempDir,
    data_dir: PathBuf,
    /// Relative to the data directory.
    segment_relative: PathBuf,
    blocks: Vec<(u64, BlockHeader)>,
}

/// Ingests 200 entries in four batches of 50, waits until four blocks are
/// published in the manifest, and SIGKILLs the server.
fn seal_four_blocks() -> Sealed {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("pristine");
    let mut server = start(&data_dir);
    server.create_partition(PARTITION);
    for first in (0..ENTRY_COUNT).step_by(BLOCK_ENTRIES as usize) {
        let lines: Vec<Value> = (first..first + BLOCK_ENTRIES).map(entry).collect();
        let response = server.ingest_ndjson(PARTITION, &lines);
        assert_eq!(response.status, 200, "{}", response.text());
    }
    eventually(Duration::from_secs(30), || {
        let partition = server
            .get(&format!("/api/v1/partitions/{PARTITION}"))
            .json();
        (partition["blocks"].as_u64().unwrap_or(0) >= 4).then_some(())
    });
    // `blocks` counts a block once it is written; it is part of the
    // database (and read back after a restart) once the manifest says so.
    eventually(Duration::from_secs(30), || {
        (manifest_block_count(&data_dir, 0) >= 4).then_some(())
    });
    let all = server.query(&json!({"partitions": [PARTITION], "limit": 1000, "order": "asc"}));
    assert_eq!(numbers(&all), (0..ENTRY_COUNT).collect::<Vec<_>>());
    server.kill();

    let segment = first_segment(&data_dir, 0);
    let blocks = block_headers(&segment, 4);
    for (index, (_, header)) in blocks.iter().enumerate() {
        let first = BASE_NS + index as i64 * BLOCK_ENTRIES * SECOND_NS;
        assert_eq!(header.entry_count, BLOCK_ENTRIES as u32);
        assert_eq!(header.min_timestamp_ns, first, "block {index}");
        assert_eq!(
            header.max_timestamp_ns,
            first + (BLOCK_ENTRIES - 1) * SECOND_NS
        );
        assert!(
            header.payload_bytes_compressed > 100,
            "block {index}: {header:?}"
        );
    }
    Sealed {
        segment_relative: segment.strip_prefix(&data_dir).unwrap().to_path_buf(),
        dir,
        data_dir,
        blocks,
    }
}

/// A copy of the sealed data directory with one byte of the segment flipped.
fn damaged_copy(sealed: &Sealed, name: &str, offset: u64) -> (PathBuf, PathBuf) {
    let data_dir = sealed.dir.path().join(name);
    copy_dir(&sealed.data_dir, &data_dir);
    let segment = data_dir.join(&sealed.segment_relative);
    flip_byte(&segment, offset);
    (data_dir, segment)
}

fn assert_names_the_block(message: &str, segment: &Path, block_offset: u64) {
    assert!(
        message.contains(&segment.display().to_string()),
        "the message must name {}: {message}",
        segment.display()
    );
    assert!(
        message.contains(&format!("at offset {block_offset}:")),
        "the message must name the block's offset {block_offset}: {message}"
    );
    assert!(message.contains("checksum"), "{message}");
}

#[test]
fn a_flipped_payload_byte_is_a_500_naming_the_file_and_block() {
    let sealed = seal_four_blocks();
    // The first block (at offset 0) as the brief for this test names it, and
    // a later one, so the offset in the message is not 0 by accident.
    for block_index in [0usize, 2] {
        let (block_offset, _) = sealed.blocks[block_index];
        let name = format!("payload-{block_index}");
        let (data_dir, segment) = damaged_copy(&sealed, &name, block_offset + 100);
        let server = start(&data_dir);

        for body in [
            json!({"partitions": [PARTITION], "limit": 1000}),
            json!({"partitions": [PARTITION], "limit": 0, "filter": {"source": "corruption-test"}}),
            json!({"partitions": [PARTITION], "filter": {"level": "error"}}),
            json!({"partitions": [PARTITION], "filter": {"time_range": time_range(
                block_index as i64 * BLOCK_ENTRIES + 10,
                block_index as i64 * BLOCK_ENTRIES + 11,
            )}}),
        ] {
            let response = server.post_json("/api/v1/query/execute", &body);
            assert_eq!(response.status, 500, "{body}: {}", response.text());
            assert!(
                response.json().get("entries").is_none(),
                "no entries with an error"
            );
            assert_names_the_block(&response.error_message(), &segment, block_offset);
        }

        // A count with no filter reads no block: each is counted from its
        // header (checksummed on its own), so the damage is not seen.
        let counted = server.query(&json!({"partitions": [PARTITION], "limit": 0}));
        assert_eq!(counted["total_count"], ENTRY_COUNT, "{counted}");
        assert_eq!(counted["stats"]["blocks_scanned"], 0, "{counted}");

        // The other blocks are pruned by time and never read.
        let corrupt_first = block_index as i64 * BLOCK_ENTRIES;
        let corrupt_end = corrupt_first + BLOCK_ENTRIES;
        let ranges = [(0, corrupt_first), (corrupt_end, ENTRY_COUNT)];
        for (first, end) in ranges.into_iter().filter(|(first, end)| first < end) {
            let result = server.query(&json!({
                "partitions": [PARTITION], "limit": 1000, "order": "asc",
                "filter": {"time_range": time_range(first, end)},
            }));
            assert_eq!(numbers(&result), (first..end).collect::<Vec<_>>());
            assert!(
                result["stats"]["blocks_skipped"].as_u64().unwrap() >= 1,
                "{}",
                result["stats"]
            );
        }
    }
}

/// Runs the server binary directly (the harness expects a successful start)
/// and returns its exit status and stderr once it exits.
fn run_until_exit(data_dir: &Path) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0", "--shards", "1"])
        .env("TIMBERDB_BLOCK_ROTATION", "count:50")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start timberdb");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("timberdb kept running on a segment with a corrupt block header");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

#[test]
fn a_flipped_header_byte_stops_start_up_naming_the_file_and_block() {
    let sealed = seal_four_blocks();
    let (block_offset, _) = sealed.blocks[1];
    // Byte 30 lies in the min timestamp, which the header crc covers.
    const _: () = assert!(30 < BLOCK_HEADER_BYTES);
    let (data_dir, segment) = damaged_copy(&sealed, "header-1", block_offset + 30);
    let (status, stderr) = run_until_exit(&data_dir);
    assert!(!status.success(), "{status}: {stderr}");
    let last_line = stderr.lines().last().unwrap_or_default();
    assert!(last_line.starts_with("timberdb: "), "{stderr}");
    assert_names_the_block(last_line, &segment, block_offset);
    assert!(last_line.contains("header"), "{last_line}");

    // The undamaged directory still starts and holds everything.
    let server = start(&sealed.data_dir);
    let all = server.query(&json!({"partitions": [PARTITION], "limit": 1000, "order": "asc"}));
    assert_eq!(numbers(&all), (0..ENTRY_COUNT).collect::<Vec<_>>());
}
