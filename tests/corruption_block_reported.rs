//! Damaged sealed blocks and manifests: corrupt data is never returned as
//! entries, and nothing acknowledged is lost to damage a crash can cause.
//!
//! 200 entries with disjoint, increasing timestamps are sealed into four
//! blocks of 50 (one shard, block rotation count 50) and published in the
//! manifest; the server is SIGKILLed, one byte of the shard's segment file
//! `<data>/shard-0/seg-000001.tdb` (or of its manifest) is flipped on a copy
//! of the data directory, and the server is started on that copy.
//!
//! What it pins:
//! - A flipped byte in any kind of frame (timestamps, levels, sources,
//!   messages, fields, a tag column, a word filter): the server starts
//!   (start-up reads only the manifest); a query that must read the frame
//!   answers 500 with a message naming the segment file, the block's file
//!   offset, the kind of frame and "checksum"; a query whose time range
//!   excludes the block prunes it and succeeds with exactly the other
//!   entries; a count that needs no frame answers from the directories.
//! - A flipped byte in a block header: the header on disk is a copy for
//!   tools (the manifest holds the one queries use), so every entry still
//!   comes back.
//! - A flipped byte in a manifest record followed by valid ones is damage:
//!   start-up refuses, naming the manifest file and the record's offset. In
//!   the last record it is a torn append, which a crash can leave: that
//!   seal was never acknowledged to the WAL, whose records bring its entries
//!   back.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{block_headers, copy_dir, eventually, first_segment, manifest_block_count, Server};
use serde_json::{json, Value};
use timberdb::block::{BlockHeader, DirectoryRef, FrameKind, BLOCK_HEADER_BYTES};
use timberdb::storage::manifest;

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
        "duration_ms": i,
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
        assert_eq!(
            (header.partition_key, header.granule_count),
            (1, 1),
            "block {index}"
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

/// A frame of `kind` (for tags: the column of tag `n`) of the block at
/// `block_offset`, from the directory the manifest holds: its offset from the
/// block's start and its length.
fn frame_of(data_dir: &Path, block_offset: u64, kind: FrameKind) -> (u64, u64) {
    let loaded = manifest::load(&common::shard_dir(data_dir, 0), 0).unwrap();
    let block = loaded
        .state
        .blocks
        .into_iter()
        .find(|((_, offset), _)| *offset == block_offset);
    let (_, block) = block.expect("the block is published");
    let directory = DirectoryRef::new(&block.header, block.directory).unwrap();
    let directory = directory.get();
    let frame = match kind {
        FrameKind::Filter => directory.filters[0].native(),
        FrameKind::Tag => directory.tag_column("n").unwrap().frames[0].native(),
        other => directory
            .columns
            .iter()
            .find(|column| FrameKind::of_archived(&column.name) == other)
            .unwrap_or_else(|| panic!("no {other} in the block"))
            .frames[0]
            .native(),
    };
    assert!(frame.stored_bytes > 0, "{kind}: {frame:?}");
    (frame.offset as u64, frame.stored_bytes as u64)
}

#[test]
fn a_flipped_byte_in_any_frame_is_a_500_naming_the_file_block_and_frame() {
    let sealed = seal_four_blocks();
    // What reads each kind of frame, inside block 2's time range.
    let inside = time_range(2 * BLOCK_ENTRIES + 10, 2 * BLOCK_ENTRIES + 11);
    let cases = [
        (
            FrameKind::Timestamp,
            json!({"filter": {"time_range": inside}}),
        ),
        (
            FrameKind::Level,
            json!({"filter": {"level": "error", "time_range": inside}}),
        ),
        (
            FrameKind::Source,
            json!({"limit": 0, "filter": {"source": "corruption-test", "time_range": inside}}),
        ),
        (
            FrameKind::Message,
            json!({"q": "SELECT * WHERE message MATCHES 'entry 11.'", "filter": {"time_range": inside}}),
        ),
        (
            FrameKind::Fields,
            json!({"q": "SELECT * WHERE fields.duration_ms > 5", "filter": {"time_range": inside}}),
        ),
        (
            FrameKind::Tag,
            json!({"limit": 0, "filter": {"tags": {"n": "110"}, "time_range": inside}}),
        ),
        (
            FrameKind::Filter,
            json!({"q": "compresses", "filter": {"time_range": inside}}),
        ),
    ];
    let (block_offset, _) = sealed.blocks[2];
    for (kind, mut body) in cases {
        body["partitions"] = json!([PARTITION]);
        let (frame_offset, frame_bytes) = frame_of(&sealed.data_dir, block_offset, kind);
        let flip_at = block_offset + frame_offset + frame_bytes / 2;
        let (data_dir, segment) = damaged_copy(&sealed, &format!("{kind}"), flip_at);
        let server = start(&data_dir);
        let response = server.post_json("/api/v1/query/execute", &body);
        assert_eq!(response.status, 500, "{kind} {body}: {}", response.text());
        assert!(
            response.json().get("entries").is_none(),
            "no entries with an error"
        );
        let message = response.error_message();
        assert_names_the_block(&message, &segment, block_offset);
        assert!(message.contains(&kind.to_string()), "{kind}: {message}");
        assert!(
            message.contains(&format!("offset {}", block_offset + frame_offset)),
            "the frame's file offset: {message}"
        );

        // A count with no filter reads no frame: each block is counted from
        // its directory, so the damage is not seen.
        let counted = server.query(&json!({"partitions": [PARTITION], "limit": 0}));
        assert_eq!(counted["total_count"], ENTRY_COUNT, "{counted}");
        assert_eq!(counted["stats"]["blocks_scanned"], 0, "{counted}");

        // The other blocks are pruned by time and never read.
        for (first, end) in [(0, 2 * BLOCK_ENTRIES), (3 * BLOCK_ENTRIES, ENTRY_COUNT)] {
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

#[test]
fn a_flipped_header_byte_loses_nothing_the_manifest_holds_the_header_used() {
    let sealed = seal_four_blocks();
    let (block_offset, _) = sealed.blocks[1];
    // Byte 36 lies in the max timestamp, which the header crc covers.
    const _: () = assert!(36 < BLOCK_HEADER_BYTES);
    let (data_dir, _) = damaged_copy(&sealed, "header-1", block_offset + 36);
    let server = start(&data_dir);
    let all = server.query(&json!({"partitions": [PARTITION], "limit": 1000, "order": "asc"}));
    assert_eq!(numbers(&all), (0..ENTRY_COUNT).collect::<Vec<_>>());
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
            panic!("timberdb kept running on a damaged manifest");
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

/// The shard's manifest file and the offsets of its record pages (one
/// per append: the checkpoint, then one per sealed block).
fn manifest_pages(data_dir: &Path) -> (PathBuf, Vec<u64>) {
    let dir = common::shard_dir(data_dir, 0);
    let path = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("manifest-")
        })
        .expect("a manifest");
    let bytes = std::fs::read(&path).unwrap();
    let pages = (0..bytes.len() as u64 / 4096)
        .map(|page| page * 4096)
        .filter(|&offset| bytes[offset as usize..offset as usize + 4] != [0; 4])
        .collect();
    (path, pages)
}

#[test]
fn a_damaged_manifest_record_stops_start_up_but_a_torn_last_one_loses_nothing() {
    let sealed = seal_four_blocks();
    let (_, pages) = manifest_pages(&sealed.data_dir);
    assert!(pages.len() >= 5, "a checkpoint and four seals: {pages:?}");

    let damaged = sealed.dir.path().join("manifest-middle");
    copy_dir(&sealed.data_dir, &damaged);
    let (path, pages) = manifest_pages(&damaged);
    flip_byte(&path, pages[2] + 40);
    let (status, stderr) = run_until_exit(&damaged);
    assert!(!status.success(), "{status}: {stderr}");
    let last_line = stderr.lines().last().unwrap_or_default();
    assert!(
        last_line.contains(&path.display().to_string()),
        "{last_line}"
    );
    assert!(
        last_line.contains(&format!("offset {}", pages[2])),
        "{last_line}"
    );

    let torn = sealed.dir.path().join("manifest-last");
    copy_dir(&sealed.data_dir, &torn);
    let (path, pages) = manifest_pages(&torn);
    flip_byte(&path, pages[pages.len() - 1] + 40);
    let server = start(&torn);
    let all = server.query(&json!({"partitions": [PARTITION], "limit": 1000, "order": "asc"}));
    assert_eq!(numbers(&all), (0..ENTRY_COUNT).collect::<Vec<_>>());
}
