//! `timberdb scrub` against a stopped node's directories: a clean directory
//! scrubs clean (exit 0); one flipped byte in a block's column frame, in a
//! block header, in a manifest record followed by valid ones, or in a WAL
//! record followed by valid ones is reported with its file and offset (exit
//! 1); `--quarantine` removes the damaged block so that the server starts
//! and serves every other entry, and the report names the lost ids; and
//! scrub refuses (exit 2, naming the holder's pid) while a server holds the
//! directory's lock.
//!
//! Setup as in corruption_block_reported.rs: 200 entries sealed into four
//! blocks of 50 on one shard, the server SIGKILLed, damage done to a copy.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::{block_headers, copy_dir, eventually, first_segment, manifest_block_count, Server};
use serde_json::{json, Value};
use timberdb::block::{DirectoryRef, FrameKind, BLOCK_HEADER_BYTES};
use timberdb::storage::manifest;

const BASE_NS: i64 = 1_700_000_000_000_000_000;
const SECOND_NS: i64 = 1_000_000_000;
const ENTRY_COUNT: i64 = 200;
const BLOCK_ENTRIES: i64 = 50;
const PARTITION: &str = "scrubbed";

fn entry(i: i64) -> Value {
    let level = ["info", "warn", "error"][(i % 3) as usize];
    json!({
        "timestamp": BASE_NS + i * SECOND_NS,
        "level": level,
        "source": "scrub-test",
        "message": format!("entry {i} of the scrub test, with text that compresses {}", "la ".repeat(20)),
        "tags": {"n": i.to_string()},
    })
}

fn start(data_dir: &Path, rotation: &str) -> Server {
    Server::builder()
        .data_dir(data_dir)
        .arg("--shards")
        .arg("1")
        .env("TIMBERDB_BLOCK_ROTATION", rotation)
        .start()
}

fn numbers(entries: &Value) -> Vec<i64> {
    entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["tags"]["n"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x08;
    std::fs::write(path, bytes).unwrap();
}

/// Runs `timberdb scrub --data-dir DIR --json ARGS...`; returns the output and the report.
fn scrub(data_dir: &Path, args: &[&str]) -> (Output, Value) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .arg("scrub")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--json")
        .args(args)
        .output()
        .expect("run timberdb scrub");
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output, report)
}

fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

struct Sealed {
    dir: tempfile::TempDir,
    data_dir: PathBuf,
    blocks: Vec<(u64, timberdb::block::BlockHeader)>,
}

/// 200 entries in four sealed, published blocks of 50; the server SIGKILLed.
fn seal_four_blocks() -> Sealed {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("pristine");
    let mut server = start(&data_dir, "count:50");
    server.create_partition(PARTITION);
    for first in (0..ENTRY_COUNT).step_by(BLOCK_ENTRIES as usize) {
        let lines: Vec<Value> = (first..first + BLOCK_ENTRIES).map(entry).collect();
        let response = server.ingest_ndjson(PARTITION, &lines);
        assert_eq!(response.status, 200, "{}", response.text());
    }
    eventually(Duration::from_secs(30), || {
        (manifest_block_count(&data_dir, 0) >= 4).then_some(())
    });
    server.kill();
    let blocks = block_headers(&first_segment(&data_dir, 0), 4);
    Sealed {
        dir,
        data_dir,
        blocks,
    }
}

fn damaged_copy(sealed: &Sealed, name: &str) -> PathBuf {
    let data_dir = sealed.dir.path().join(name);
    copy_dir(&sealed.data_dir, &data_dir);
    data_dir
}

/// The message frame of the block at `block_offset`: offset from the block's start.
fn message_frame_offset(data_dir: &Path, block_offset: u64) -> u64 {
    let loaded = manifest::load(&common::shard_dir(data_dir, 0), 0).unwrap();
    let block = &loaded.state.blocks[&(1, block_offset)];
    let directory = DirectoryRef::new(&block.header, block.directory.clone()).unwrap();
    let column = directory
        .get()
        .columns
        .iter()
        .find(|column| FrameKind::of_archived(&column.name) == FrameKind::Message)
        .unwrap();
    let frame = column.frames[0].native();
    assert!(frame.stored_bytes > 2);
    frame.offset as u64
}

fn only_damage(report: &Value) -> &Value {
    let damage = report["damage"].as_array().expect("a damage list");
    assert_eq!(damage.len(), 1, "{report:#}");
    &damage[0]
}

#[test]
fn a_clean_directory_scrubs_clean_and_a_flipped_frame_or_header_byte_is_named() {
    let sealed = seal_four_blocks();
    let (output, report) = scrub(&sealed.data_dir, &[]);
    assert_exit(&output, 0);
    assert_eq!(report["clean"], true, "{report:#}");
    assert_eq!(report["blocks_checked"], 4, "{report:#}");
    assert!(report["manifest_records_checked"].as_u64().unwrap() >= 1);

    // A column frame of block 2.
    let (block_offset, header) = sealed.blocks[2];
    let frame_offset = block_offset + message_frame_offset(&sealed.data_dir, block_offset);
    let data_dir = damaged_copy(&sealed, "frame");
    let segment = first_segment(&data_dir, 0);
    flip_byte(&segment, frame_offset + 1);
    let (output, report) = scrub(&data_dir, &[]);
    assert_exit(&output, 1);
    let finding = only_damage(&report);
    assert_eq!(finding["kind"], "block");
    assert_eq!(finding["file"], segment.display().to_string());
    assert_eq!(finding["offset"], frame_offset, "{finding:#}");
    assert_eq!(finding["block_offset"], block_offset);
    assert_eq!(finding["partition"], PARTITION);
    assert_eq!(finding["first_seq"], header.first_seq);
    assert_eq!(finding["last_seq"], header.first_seq + 49);
    assert_eq!(finding["entries"], 50);
    let detail = finding["detail"].as_str().unwrap();
    assert!(detail.contains("message column frame checksum"), "{detail}");

    // The text report says the same for a person.
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .args(["scrub", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert_exit(&text, 1);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("{} at offset {frame_offset}", segment.display())),
        "{text}"
    );
    assert!(text.contains(&format!("partition {PARTITION}")), "{text}");

    // A block header (its max timestamp, which the header crc covers).
    const _: () = assert!(36 < BLOCK_HEADER_BYTES);
    let (block_offset, _) = sealed.blocks[1];
    let data_dir = damaged_copy(&sealed, "header");
    flip_byte(&first_segment(&data_dir, 0), block_offset + 36);
    let (output, report) = scrub(&data_dir, &[]);
    assert_exit(&output, 1);
    let finding = only_damage(&report);
    assert_eq!(finding["offset"], block_offset, "{finding:#}");
    assert_eq!(finding["block_offset"], block_offset);
    let detail = finding["detail"].as_str().unwrap();
    assert!(detail.contains("block header checksum"), "{detail}");
}

/// The shard's manifest file and the offsets of its non-empty pages (one
/// per append: the checkpoint, then one per sealed block).
fn manifest_pages(data_dir: &Path) -> (PathBuf, Vec<u64>) {
    let dir = common::shard_dir(data_dir, 0);
    let path = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.to_string_lossy().ends_with(".log"))
        .expect("a manifest");
    let bytes = std::fs::read(&path).unwrap();
    let pages = (0..bytes.len() as u64 / 4096)
        .map(|page| page * 4096)
        .filter(|&offset| bytes[offset as usize..offset as usize + 4] != [0; 4])
        .collect();
    (path, pages)
}

#[test]
fn a_flipped_manifest_record_followed_by_valid_ones_is_named_and_not_quarantined() {
    let sealed = seal_four_blocks();
    let data_dir = damaged_copy(&sealed, "manifest");
    let (path, pages) = manifest_pages(&data_dir);
    assert!(pages.len() >= 5, "a checkpoint and four seals: {pages:?}");
    flip_byte(&path, pages[2] + 40);
    let (output, report) = scrub(&data_dir, &["--quarantine"]);
    assert_exit(&output, 1);
    let finding = only_damage(&report);
    assert_eq!(finding["kind"], "manifest");
    assert_eq!(finding["file"], path.display().to_string());
    assert_eq!(finding["offset"], pages[2], "{finding:#}");
    assert!(
        finding["meaning"]
            .as_str()
            .unwrap()
            .contains("refuses to start"),
        "{finding:#}"
    );
    assert_eq!(report["quarantined"], json!([]), "{report:#}");
}

#[test]
fn a_flipped_wal_record_followed_by_valid_records_is_damage_a_torn_tail_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut server = start(&data_dir, "count:100000");
    server.create_partition(PARTITION);
    // One request, one group write, starting on its own page.
    for i in 0..6 {
        let response = server.ingest_ndjson(PARTITION, &[entry(i)]);
        assert_eq!(response.status, 200, "{}", response.text());
    }
    server.kill();
    let wal_dir = data_dir.join("wal").join("shard-0");
    let segment = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "wal"))
        .expect("a WAL segment");
    let (output, report) = scrub(&data_dir, &[]);
    assert_exit(&output, 0);
    assert_eq!(report["wal_records_checked"], 6, "{report:#}");

    // The third write's record: its payload, past the 9-byte header.
    let bytes = std::fs::read(&segment).unwrap();
    let writes: Vec<u64> = (0..bytes.len() as u64 / 4096)
        .map(|page| page * 4096)
        .filter(|&offset| bytes[offset as usize..offset as usize + 4] != [0; 4])
        .collect();
    assert!(writes.len() >= 6, "{writes:?}");
    flip_byte(&segment, writes[2] + 40);
    let (output, report) = scrub(&data_dir, &[]);
    assert_exit(&output, 1);
    let finding = only_damage(&report);
    assert_eq!(finding["kind"], "wal");
    assert_eq!(finding["file"], segment.display().to_string());
    assert_eq!(finding["offset"], writes[2], "{finding:#}");
    assert!(
        finding["detail"]
            .as_str()
            .unwrap()
            .contains("followed by 3 valid records"),
        "{finding:#}"
    );
    assert!(
        finding["meaning"]
            .as_str()
            .unwrap()
            .contains("not recovered"),
        "{finding:#}"
    );

    // The same flip in the last write is a torn tail: a note, not damage.
    flip_byte(&segment, writes[2] + 40);
    flip_byte(&segment, writes[writes.len() - 1] + 40);
    let (output, report) = scrub(&data_dir, &[]);
    assert_exit(&output, 0);
    assert!(
        report["notes"].to_string().contains("torn end"),
        "{report:#}"
    );
}

#[test]
fn quarantine_removes_the_damaged_block_and_the_server_serves_every_other_entry() {
    let sealed = seal_four_blocks();
    let (block_offset, header) = sealed.blocks[2];
    let frame_offset = block_offset + message_frame_offset(&sealed.data_dir, block_offset);
    let data_dir = damaged_copy(&sealed, "quarantine");
    let segment = first_segment(&data_dir, 0);
    flip_byte(&segment, frame_offset + 1);

    let (output, report) = scrub(&data_dir, &["--quarantine"]);
    assert_exit(&output, 1);
    let lost = report["quarantined"].as_array().unwrap();
    assert_eq!(lost.len(), 1, "{report:#}");
    assert_eq!(lost[0]["segment"], 1);
    assert_eq!(lost[0]["offset"], block_offset);
    assert_eq!(lost[0]["partition"], PARTITION);
    assert_eq!(lost[0]["first_seq"], header.first_seq);
    assert_eq!(lost[0]["last_seq"], header.first_seq + 49);
    assert_eq!(lost[0]["entries"], 50);
    let shard_dir = common::shard_dir(&data_dir, 0);
    let journal = std::fs::read_to_string(shard_dir.join("quarantine.jsonl")).unwrap();
    let line: Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    assert_eq!(line["offset"], block_offset, "{journal}");
    assert!(
        line["reason"].as_str().unwrap().contains("checksum"),
        "{journal}"
    );
    let copy = shard_dir.join(line["copy"].as_str().unwrap());
    let kept = std::fs::read(&copy).unwrap();
    assert_eq!(kept.len() as u64, header.span_bytes());
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .args(["scrub", "--data-dir"])
        .arg(&sealed.data_dir)
        .output()
        .unwrap();
    assert_exit(&text, 0);

    // Once quarantined, the directory scrubs clean.
    let (output, report) = scrub(&data_dir, &[]);
    assert_exit(&output, 0);
    assert_eq!(report["blocks_checked"], 3, "{report:#}");

    let server = start(&data_dir, "count:50");
    let all = server.query(&json!({"partitions": [PARTITION], "limit": 1000, "order": "asc"}));
    let expected: Vec<i64> = (0..ENTRY_COUNT)
        .filter(|i| !(100..150).contains(i))
        .collect();
    assert_eq!(numbers(&all), expected);
}

#[test]
fn scrub_refuses_while_a_server_holds_the_lock_and_a_second_server_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut server = start(&data_dir, "count:50");
    let pid = server.child.as_ref().unwrap().id();
    let (output, _) = scrub(&data_dir, &[]);
    assert_exit(&output, 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("locked by process {pid}")),
        "{stderr}"
    );
    assert!(stderr.contains("/api/v1/admin/scrub"), "{stderr}");

    let second = std::process::Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["--listen", "127.0.0.1:0", "--shards", "1"])
        .output()
        .unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains(&format!("locked by process {pid}")),
        "{stderr}"
    );

    let check = std::process::Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .args(["check", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        stdout.contains("[warn] data_dir lock: in use") && stdout.contains(&pid.to_string()),
        "{stdout}"
    );

    assert!(server.terminate().success());
    let (output, report) = scrub(&data_dir, &[]);
    assert_exit(&output, 0);
    assert_eq!(report["clean"], true);
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .args(["check", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        stdout.contains("[ ok ] data_dir lock: .lock is not held"),
        "{stdout}"
    );
}
