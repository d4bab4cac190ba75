//! Damaged sealed blocks and manifests: corrupt data is never returned as
//! entries, and nothing acknowledged is lost to damage a crash can cause.
//!
//! Four blocks of 50 entries are sealed (`common::sealed`), the server is
//! SIGKILLed, one byte of the shard's segment file
//! `<data>/shard-0/seg-000001.tdb` (or of its manifest) is flipped on a copy
//! of the data directory, and the server is started on that copy.
//!
//! What it pins:
//! - With `storage.on_damaged_block = "fail"`, a flipped byte in any kind of
//!   frame (timestamps, levels, sources, messages, fields, a tag column, a
//!   word filter): the server starts (start-up reads only the manifest); a
//!   query that must read the frame answers 500 with a message naming the
//!   segment file, the block's file offset, the kind of frame and
//!   "checksum"; a query whose time range excludes the block prunes it and
//!   succeeds with exactly the other entries; a count that needs no frame
//!   answers from the directories. (The default, `"quarantine"`, answers
//!   with the other entries instead: `tests/block_damage_quarantine.rs`.)
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

use common::copy_dir;
use common::sealed::{
    damaged_copy, flip_byte, frame_of, numbers, seal_four_blocks, start, time_range, BLOCK_ENTRIES,
    ENTRY_COUNT, PARTITION,
};
use serde_json::json;
use timberdb::block::{FrameKind, BLOCK_HEADER_BYTES};

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
fn with_fail_a_flipped_byte_in_any_frame_is_a_500_naming_the_file_block_and_frame() {
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
        let server = start(&data_dir, &[("TIMBERDB_ON_DAMAGED_BLOCK", "fail")]);
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
    let server = start(&data_dir, &[]);
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
    let server = start(&torn, &[]);
    let all = server.query(&json!({"partitions": [PARTITION], "limit": 1000, "order": "asc"}));
    assert_eq!(numbers(&all), (0..ENTRY_COUNT).collect::<Vec<_>>());
}
