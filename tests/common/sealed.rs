//! Four sealed blocks to damage: 200 entries with disjoint, increasing
//! timestamps, sealed as four blocks of 50 (one shard, block rotation count
//! 50) and published in the manifest, then the server SIGKILLed. Tests flip
//! one byte of the shard's segment file (or manifest) on a copy of that data
//! directory and start the server on the copy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use timberdb::block::{BlockHeader, DirectoryRef, FrameKind};
use timberdb::storage::manifest;

use super::{block_headers, copy_dir, eventually, first_segment, manifest_block_count, Server};

pub const BASE_NS: i64 = 1_700_000_000_000_000_000;
pub const SECOND_NS: i64 = 1_000_000_000;
pub const ENTRY_COUNT: i64 = 200;
pub const BLOCK_ENTRIES: i64 = 50;
pub const PARTITION: &str = "sealed";

/// Entry `i`: timestamp `BASE_NS + i s`, tag `n = i`.
pub fn entry(i: i64) -> Value {
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

pub fn time_range(first: i64, end: i64) -> Value {
    json!({"start": BASE_NS + first * SECOND_NS, "end": BASE_NS + end * SECOND_NS})
}

/// The `n` tags of an answer's entries, in order.
pub fn numbers(result: &Value) -> Vec<i64> {
    let entries = result["entries"].as_array().unwrap();
    entries
        .iter()
        .map(|e| e["tags"]["n"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// The server on `data_dir`: one shard, blocks of 50, and `envs`.
pub fn start(data_dir: &Path, envs: &[(&str, &str)]) -> Server {
    let mut builder = Server::builder()
        .data_dir(data_dir)
        .arg("--shards")
        .arg("1")
        .env("TIMBERDB_BLOCK_ROTATION", "count:50");
    for (key, value) in envs {
        builder = builder.env(key, value);
    }
    builder.start()
}

pub fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x08;
    std::fs::write(path, bytes).unwrap();
}

pub struct Sealed {
    pub dir: tempfile::TempDir,
    pub data_dir: PathBuf,
    /// Relative to the data directory.
    pub segment_relative: PathBuf,
    /// Each block's file offset and header, in file order.
    pub blocks: Vec<(u64, BlockHeader)>,
}

/// Ingests 200 entries in four batches of 50, waits until four blocks are
/// published in the manifest, and SIGKILLs the server.
pub fn seal_four_blocks() -> Sealed {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("pristine");
    let mut server = start(&data_dir, &[]);
    server.create_partition(PARTITION);
    for first in (0..ENTRY_COUNT).step_by(BLOCK_ENTRIES as usize) {
        let lines: Vec<Value> = (first..first + BLOCK_ENTRIES).map(entry).collect();
        let response = server.ingest_ndjson(PARTITION, &lines);
        assert_eq!(response.status, 200, "{}", response.text());
    }
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

/// A copy of the sealed data directory named `name`, with one byte of the
/// segment flipped at `offset`: the copy and its segment file.
pub fn damaged_copy(sealed: &Sealed, name: &str, offset: u64) -> (PathBuf, PathBuf) {
    let data_dir = sealed.dir.path().join(name);
    copy_dir(&sealed.data_dir, &data_dir);
    let segment = data_dir.join(&sealed.segment_relative);
    flip_byte(&segment, offset);
    (data_dir, segment)
}

/// A frame of `kind` (for tags: the column of tag `n`) of the block at
/// `block_offset`, from the directory the manifest holds: its offset from the
/// block's start and its length.
pub fn frame_of(data_dir: &Path, block_offset: u64, kind: FrameKind) -> (u64, u64) {
    let loaded = manifest::load(&super::shard_dir(data_dir, 0), 0).unwrap();
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

/// The file offset of the middle of `kind`'s frame in the block at
/// `block_offset` (a byte whose flip that frame's checksum catches).
pub fn middle_of_frame(data_dir: &Path, block_offset: u64, kind: FrameKind) -> u64 {
    let (frame_offset, frame_bytes) = frame_of(data_dir, block_offset, kind);
    block_offset + frame_offset + frame_bytes / 2
}
