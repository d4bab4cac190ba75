//! One damaged block never takes down more than that block
//! (`storage.on_damaged_block = "quarantine"`, the default).
//!
//! Four blocks of 50 entries are sealed (`common::sealed`), the server is
//! SIGKILLed, one byte of block 2 is flipped on disk (in a column frame, or
//! in a granule word filter: the block's index), and the server is started
//! again. What it pins:
//! - the server starts; the first query that needs the block answers 200
//!   with every other entry, `"partial": true` and `quarantined_blocks`
//!   naming the segment, the block's offset, the partition and its 50
//!   entries (in the NDJSON form, on the trailing metadata line);
//! - the block is quarantined on the record: a copy in
//!   `shard-0/quarantine/`, a line in `quarantine.jsonl`, gone from the
//!   manifest; `/ready` is 200 and says degraded with 1 block and 50 entries
//!   lost, `/metrics` and the partition object count it;
//! - later queries no longer meet it (`partial` is false), ingest goes on,
//!   and a restart after that is clean and still reports the loss;
//! - compaction that reads a damaged block (no query involved) quarantines
//!   it and goes on merging the others, with writes still accepted;
//! - a block whose directory in the manifest does not validate is
//!   quarantined at start-up instead of refusing it.

mod common;

use std::path::Path;
use std::time::Duration;

use common::sealed::{
    damaged_copy, entry, middle_of_frame, numbers, seal_four_blocks, start, time_range, Sealed,
    BLOCK_ENTRIES, ENTRY_COUNT, PARTITION,
};
use common::{eventually, manifest_block_count, ndjson_query, shard_dir, Server};
use serde_json::{json, Value};
use timberdb::block::FrameKind;

const DEADLINE: Duration = Duration::from_secs(60);

/// Every entry but block 2's, in order.
fn all_but_block_2() -> Vec<i64> {
    (0..ENTRY_COUNT)
        .filter(|n| !(2 * BLOCK_ENTRIES..3 * BLOCK_ENTRIES).contains(n))
        .collect()
}

fn query_all(server: &Server) -> Value {
    server.query(&json!({"partitions": [PARTITION], "limit": 1000, "order": "asc"}))
}

/// The answer names block 2 as left out.
fn assert_names_block_2(answer: &Value, sealed: &Sealed) {
    assert_eq!(answer["partial"], true, "{answer}");
    let named = answer["quarantined_blocks"].as_array().expect("named");
    assert_eq!(named.len(), 1, "{answer}");
    let (block_offset, header) = sealed.blocks[2];
    assert_eq!(named[0]["segment"], 1);
    assert_eq!(named[0]["offset"], block_offset);
    assert_eq!(named[0]["partition"], PARTITION);
    assert_eq!(named[0]["entries"], BLOCK_ENTRIES);
    assert_eq!(named[0]["first_id"], format!("0-{}", header.first_seq));
    assert_eq!(named[0]["last_id"], format!("0-{}", header.last_seq()));
    let detail = named[0]["detail"].as_str().unwrap();
    assert!(detail.contains("checksum"), "{detail}");
}

/// Waits until the shard has quarantined one block and reports it.
fn wait_until_quarantined(server: &Server, data_dir: &Path) -> Value {
    eventually(DEADLINE, || {
        let ready = server.get("/ready");
        let body = ready.json();
        (ready.status == 200 && body["quarantined_blocks"] == 1).then_some(body)
    });
    eventually(DEADLINE, || {
        (manifest_block_count(data_dir, 0) == 3).then_some(())
    });
    let ready = server.get("/ready").json();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["degraded"], true, "{ready}");
    assert_eq!(ready["quarantined_entries"], BLOCK_ENTRIES, "{ready}");
    ready
}

/// The copy, the jsonl line, the metrics and the partition object.
fn assert_recorded(server: &Server, data_dir: &Path, sealed: &Sealed) {
    let (block_offset, header) = sealed.blocks[2];
    let shard = shard_dir(data_dir, 0);
    let copy = shard.join(format!("quarantine/seg-000001-{block_offset}.block"));
    let copy_bytes = std::fs::read(&copy).expect("the quarantined block's copy");
    assert_eq!(copy_bytes.len() as u64, header.span_bytes());
    let jsonl = std::fs::read_to_string(shard.join("quarantine.jsonl")).unwrap();
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{jsonl}");
    assert_eq!(lines[0]["offset"], block_offset);
    assert_eq!(lines[0]["entries"], BLOCK_ENTRIES);
    assert_eq!(lines[0]["partition"], PARTITION);
    assert_eq!(lines[0]["first_seq"], header.first_seq);

    let metrics = server.get("/metrics").text();
    for series in [
        format!("timberdb_quarantined_blocks_total{{partition=\"{PARTITION}\"}} 1"),
        format!("timberdb_quarantined_entries_total{{partition=\"{PARTITION}\"}} {BLOCK_ENTRIES}"),
        "timberdb_damaged_blocks_pending{shard=\"0\"} 0".to_string(),
    ] {
        assert!(metrics.contains(&series), "{series} in\n{metrics}");
    }
    let partition = server
        .get(&format!("/api/v1/partitions/{PARTITION}"))
        .json();
    assert_eq!(partition["quarantined"]["blocks"], 1, "{partition}");
    assert_eq!(
        partition["quarantined"]["entries"], BLOCK_ENTRIES,
        "{partition}"
    );
    assert_eq!(partition["blocks"], 3, "{partition}");
}

#[test]
fn a_damaged_frame_is_quarantined_and_every_other_entry_served() {
    let sealed = seal_four_blocks();
    let (block_offset, _) = sealed.blocks[2];
    let flip_at = middle_of_frame(&sealed.data_dir, block_offset, FrameKind::Timestamp);
    let (data_dir, _) = damaged_copy(&sealed, "timestamps", flip_at);
    let mut server = start(&data_dir, &[]);
    assert_eq!(server.get("/ready").json()["status"], "ready");

    let first = query_all(&server);
    assert_eq!(numbers(&first), all_but_block_2());
    assert_names_block_2(&first, &sealed);
    let ready = wait_until_quarantined(&server, &data_dir);
    assert!(
        ready["reason"].as_str().unwrap().contains("quarantined"),
        "{ready}"
    );
    assert_recorded(&server, &data_dir, &sealed);

    // Gone from the database: the next query does not meet it.
    let next = query_all(&server);
    assert_eq!(numbers(&next), all_but_block_2());
    assert_eq!(next["partial"], false, "{next}");
    assert!(next.get("quarantined_blocks").is_none(), "{next}");

    // Ingest goes on.
    let more: Vec<Value> = (ENTRY_COUNT..ENTRY_COUNT + 10).map(entry).collect();
    let response = server.ingest_ndjson(PARTITION, &more);
    assert_eq!(response.status, 200, "{}", response.text());
    let mut expected = all_but_block_2();
    expected.extend(ENTRY_COUNT..ENTRY_COUNT + 10);
    assert_eq!(numbers(&query_all(&server)), expected);

    // A restart is clean, loses nothing more, and still reports the loss.
    server.restart();
    assert_eq!(numbers(&query_all(&server)), expected);
    let ready = server.get("/ready");
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["quarantined_blocks"], 1, "{}", ready.text());
    assert_recorded(&server, &data_dir, &sealed);
    let stderr = server.stderr();
    assert!(
        stderr.contains("a sealed block is damaged"),
        "the damage is logged: {stderr}"
    );
}

#[test]
fn a_damaged_word_filter_is_quarantined_and_an_ndjson_answer_says_partial() {
    let sealed = seal_four_blocks();
    let (block_offset, _) = sealed.blocks[2];
    let flip_at = middle_of_frame(&sealed.data_dir, block_offset, FrameKind::Filter);
    let (data_dir, _) = damaged_copy(&sealed, "filter", flip_at);
    let server = start(&data_dir, &[]);

    // A word query reads each block's granule filters first.
    let body = json!({
        "partitions": [PARTITION], "limit": 1000, "order": "asc", "q": "compresses",
    });
    let (status, _, lines) = ndjson_query(&server, &body);
    assert_eq!(status, 200, "{lines:?}");
    let (metadata, entries) = lines.split_last().expect("a metadata line");
    let entries = json!({ "entries": entries });
    assert_eq!(numbers(&entries), all_but_block_2());
    assert_names_block_2(&metadata["metadata"], &sealed);
    wait_until_quarantined(&server, &data_dir);

    // A query whose range excludes the block never needed it.
    let before = server.query(&json!({
        "partitions": [PARTITION], "limit": 1000, "order": "asc",
        "filter": {"time_range": time_range(0, 2 * BLOCK_ENTRIES)},
    }));
    assert_eq!(numbers(&before), (0..2 * BLOCK_ENTRIES).collect::<Vec<_>>());
    assert_eq!(before["partial"], false);
}

/// Compaction reads every frame of the blocks it merges: with the blocks
/// small (rotation raised to 1000 after sealing blocks of 50) it merges
/// them, meets block 2's damage, quarantines it, and merges the rest.
#[test]
fn compaction_over_a_damaged_block_quarantines_it_and_goes_on() {
    let sealed = seal_four_blocks();
    let (block_offset, _) = sealed.blocks[2];
    let flip_at = middle_of_frame(&sealed.data_dir, block_offset, FrameKind::Message);
    let (data_dir, _) = damaged_copy(&sealed, "compaction", flip_at);
    let server = Server::builder()
        .data_dir(&data_dir)
        .arg("--shards")
        .arg("1")
        .env("TIMBERDB_BLOCK_ROTATION", "count:1000")
        .start();
    // Blocks 0 and 1 merge into one; block 3 no longer follows them.
    eventually(DEADLINE, || {
        let partition = server
            .get(&format!("/api/v1/partitions/{PARTITION}"))
            .json();
        (partition["blocks"] == 2 && partition["quarantined"]["blocks"] == 1).then_some(())
    });
    let jsonl = std::fs::read_to_string(shard_dir(&data_dir, 0).join("quarantine.jsonl"));
    assert!(jsonl
        .unwrap()
        .contains(&format!("\"offset\":{block_offset}")));
    let ready = server.get("/ready");
    assert_eq!(ready.status, 200, "writes go on: {}", ready.text());
    let more: Vec<Value> = (ENTRY_COUNT..ENTRY_COUNT + 10).map(entry).collect();
    assert_eq!(server.ingest_ndjson(PARTITION, &more).status, 200);
    let mut expected = all_but_block_2();
    expected.extend(ENTRY_COUNT..ENTRY_COUNT + 10);
    let answer = query_all(&server);
    assert_eq!(numbers(&answer), expected);
    assert_eq!(answer["partial"], false, "{answer}");
}

/// A block whose directory (the manifest's copy) does not validate is
/// quarantined at start-up, and the shard starts without it. The manifest
/// is rewritten as a new generation whose record for block 2 holds a
/// directory that is not one (its record checksum is valid: damage the
/// checksum cannot see, or a directory this build cannot read).
#[test]
fn a_block_whose_directory_does_not_validate_is_quarantined_at_start_up() {
    use timberdb::storage::manifest::{self, checkpoint_file_bytes, manifest_file_name, Edit};
    let sealed = seal_four_blocks();
    let data_dir = sealed.dir.path().join("directory");
    common::copy_dir(&sealed.data_dir, &data_dir);
    let shard = shard_dir(&data_dir, 0);
    let loaded = manifest::load(&shard, 0).unwrap();
    let (block_offset, _) = sealed.blocks[2];
    let mut edits: Vec<Edit> = loaded
        .state
        .blocks
        .iter()
        .map(|(&(segment, offset), block)| Edit::AddBlock {
            segment,
            offset,
            header: block.header.encode(),
            directory: if offset == block_offset {
                vec![1, 2, 3]
            } else {
                block.directory.to_vec()
            },
        })
        .collect();
    edits.extend(
        loaded
            .state
            .sealed
            .iter()
            .map(|(&partition_key, &sealed_seq)| Edit::Sealed {
                partition_key,
                sealed_seq,
            }),
    );
    let generation = loaded.generation + 1;
    let bytes = checkpoint_file_bytes(0, generation, edits);
    std::fs::write(shard.join(manifest_file_name(generation)), bytes).unwrap();
    std::fs::remove_file(shard.join(manifest_file_name(loaded.generation))).unwrap();

    let server = start(&data_dir, &[]);
    let answer = query_all(&server);
    assert_eq!(numbers(&answer), all_but_block_2());
    assert_eq!(answer["partial"], false, "gone before any query: {answer}");
    let ready = server.get("/ready").json();
    assert_eq!(ready["quarantined_blocks"], 1, "{ready}");
    assert_eq!(ready["quarantined_entries"], BLOCK_ENTRIES, "{ready}");
    assert_eq!(manifest_block_count(&data_dir, 0), 3);
    let jsonl = std::fs::read_to_string(shard.join("quarantine.jsonl")).unwrap();
    assert!(
        jsonl.contains(&format!("\"offset\":{block_offset}")),
        "{jsonl}"
    );
    let copy = shard.join(format!("quarantine/seg-000001-{block_offset}.block"));
    assert!(copy.exists(), "a copy of the block's bytes");
}
