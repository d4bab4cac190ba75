//! Block indexes against the real server: queries skip the sealed blocks
//! whose summaries (source and tag sets, word filter) rule out a match,
//! say which stage skipped them, and still answer exactly what a
//! brute-force filter of the sent entries gives; a damaged or missing index
//! file is rebuilt from the blocks at start-up, logged, and answers the same.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{shard_dir, Server};
use serde_json::{json, Value};

const BASE_S: i64 = 1_700_000_000;
const COUNT: i64 = 4_000;
/// Entries per block (rotation by count), so the corpus seals into about
/// COUNT / BLOCK blocks.
const BLOCK: i64 = 100;
/// The only entries whose message holds the word `zebrafish`.
const NEEDLES: [i64; 2] = [123, 3_777];

/// Entry `i`: its source, tags and words are functions of `i`, clustered
/// in time as real logs are (a service's burst, a region's hour).
fn entry(i: i64) -> Value {
    let message = if NEEDLES.contains(&i) {
        format!("rare Zebrafish sighting near request {i}")
    } else {
        format!("request {i} handled in {} ms", i % 50)
    };
    json!({
        "timestamp": BASE_S + i,
        "level": if i % 10 == 0 { "error" } else { "info" },
        "source": format!("svc-{}", i / 1_000),
        "message": message,
        "tags": {"region": if i < 2_000 { "eu" } else { "us" }, "req": format!("r{i}")},
    })
}

/// The loaded server, after a graceful restart so every entry is sealed.
fn sealed_server() -> Server {
    let mut server = Server::builder()
        .arg("--shards")
        .arg("2")
        .env("TIMBERDB_BLOCK_ROTATION", &format!("count:{BLOCK}"))
        .start();
    server.create_partition("app");
    let lines: Vec<Value> = (0..COUNT).map(entry).collect();
    for chunk in lines.chunks(BLOCK as usize) {
        assert_eq!(server.ingest_ndjson("app", chunk).status, 200);
    }
    assert!(server.terminate().success());
    server.start_again();
    server
}

struct Case {
    body: Value,
    expected: BTreeSet<i64>,
}

fn cases() -> Vec<Case> {
    let all = 0..COUNT;
    let case = |body: Value, keep: &dyn Fn(i64) -> bool| Case {
        body,
        expected: all.clone().filter(|&i| keep(i)).collect(),
    };
    vec![
        case(json!({"q": "zebrafish"}), &|i| NEEDLES.contains(&i)),
        case(
            json!({"filter": {"message_contains": "rare ZEBRAFISH sighting"}}),
            &|i| NEEDLES.contains(&i),
        ),
        case(json!({"filter": {"source": "svc-2"}}), &|i| i / 1_000 == 2),
        case(json!({"q": "SELECT * WHERE tags.req = 'r2500'"}), &|i| {
            i == 2_500
        }),
        case(
            json!({"q": "SELECT * WHERE (source = 'svc-0' OR source = 'svc-3') AND SEARCH('region:us') AND level = 'error'"}),
            &|i| i / 1_000 == 3 && i % 10 == 0,
        ),
        case(
            json!({"filter": {"tags": {"region": "eu"}, "time_range": {"start": BASE_S + 1_500, "end": BASE_S + 2_500}}}),
            &|i| (1_500..2_000).contains(&i),
        ),
        case(json!({"q": "handled -zebrafish"}), &|i| {
            !NEEDLES.contains(&i)
        }),
    ]
}

/// Runs every case; checks each answer against brute force and returns
/// each one's stats.
fn check_cases(server: &Server) -> Vec<Value> {
    cases()
        .into_iter()
        .map(|case| {
            let mut body = case.body.clone();
            body["partitions"] = json!(["app"]);
            body["limit"] = json!(COUNT);
            let answer = server.query(&body);
            let found: BTreeSet<i64> = answer["entries"]
                .as_array()
                .unwrap_or_else(|| panic!("{body}: {answer}"))
                .iter()
                .map(|entry| entry["timestamp_ns"].as_i64().unwrap() / 1_000_000_000 - BASE_S)
                .collect();
            assert_eq!(found, case.expected, "{body}");
            answer["stats"].clone()
        })
        .collect()
}

fn pruned(stats: &Value, stage: &str) -> u64 {
    stats["blocks_pruned"][stage].as_u64().unwrap()
}

fn total_blocks(stats: &Value) -> u64 {
    stats["blocks_scanned"].as_u64().unwrap() + stats["blocks_skipped"].as_u64().unwrap()
}

#[test]
fn summaries_prune_blocks_and_answers_stay_exact() {
    let server = sealed_server();
    let stats = check_cases(&server);
    let blocks = total_blocks(&stats[0]);
    assert!(blocks >= (COUNT / BLOCK) as u64, "{stats:?}");
    // The stages add up.
    for s in &stats {
        let stages: u64 = ["time", "level", "sets", "words"]
            .iter()
            .map(|stage| pruned(s, stage))
            .sum();
        assert_eq!(stages, s["blocks_skipped"].as_u64().unwrap(), "{s}");
    }
    // A needle word: at most the two blocks holding it plus a false
    // positive or two of the word filter are read.
    for needle in &stats[0..2] {
        assert!(needle["blocks_scanned"].as_u64().unwrap() <= 4, "{needle}");
        assert!(pruned(needle, "words") >= blocks - 4, "{needle}");
    }
    // One service of four: its blocks, and blocks mixing it with a neighbour.
    assert!(
        pruned(&stats[2], "sets") >= blocks * 3 / 4 - 4,
        "{}",
        stats[2]
    );
    // A request id: 4 000 distinct values overflow the exact sets, and the
    // word filter holding them still rules out almost every block.
    assert!(
        stats[3]["blocks_scanned"].as_u64().unwrap() <= 4,
        "{}",
        stats[3]
    );
    // OR of sources, AND a region, AND a level: sets and levels prune.
    assert!(pruned(&stats[4], "sets") >= blocks / 2, "{}", stats[4]);
    // Time first, then the region set.
    assert!(pruned(&stats[5], "time") >= blocks / 2, "{}", stats[5]);
    // A negated word cannot prune; the positive one is in every block.
    assert_eq!(
        stats[6]["blocks_skipped"].as_u64().unwrap(),
        0,
        "{}",
        stats[6]
    );
    // The summaries' memory is reported per shard.
    let metrics = server.get("/metrics").text();
    for shard in 0..2 {
        let prefix = format!("timberdb_block_summary_bytes{{shard=\"{shard}\"}} ");
        let bytes: u64 = metrics
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{prefix} in {metrics}"))
            .parse()
            .unwrap();
        assert!(bytes > 0, "{metrics}");
    }
}

fn index_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for shard in 0..2 {
        for slice in std::fs::read_dir(shard_dir(data_dir, shard)).unwrap() {
            let slice = slice.unwrap().path();
            if !slice.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&slice).unwrap() {
                let path = file.unwrap().path();
                if path.extension().is_some_and(|ext| ext == "idx") {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    files
}

fn rebuilds_logged(server: &Server) -> usize {
    server
        .stderr()
        .matches("rebuilt index records from the segment's blocks")
        .count()
}

#[test]
fn damaged_or_missing_index_files_are_rebuilt_and_logged() {
    let mut server = sealed_server();
    let before = check_cases(&server);
    assert_eq!(rebuilds_logged(&server), 0, "{}", server.stderr());
    assert!(server.terminate().success());

    let files = index_files(&server.data_dir);
    assert_eq!(files.len(), 2, "one segment per shard: {files:?}");
    // Shard 0: a flipped byte inside its third record's archive.
    let mut damaged = std::fs::read(&files[0]).unwrap();
    let third_record = nth_record_offset(&damaged, 2);
    damaged[third_record + 100] ^= 0xFF;
    std::fs::write(&files[0], damaged).unwrap();
    // Shard 1: the index file is gone.
    std::fs::remove_file(&files[1]).unwrap();

    server.start_again();
    let stderr = server.stderr();
    assert_eq!(rebuilds_logged(&server), 2, "{stderr}");
    assert!(
        stderr.contains("record 2 "),
        "names the damaged record: {stderr}"
    );
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    assert!(stderr.contains("missing"), "{stderr}");
    let after = check_cases(&server);
    assert_eq!(before, after, "same answers and the same pruning");

    // The rebuilt records were written back: the next start has nothing to rebuild.
    assert!(server.terminate().success());
    server.start_again();
    assert_eq!(rebuilds_logged(&server), 2, "{}", server.stderr());
    assert_eq!(check_cases(&server), before);
}

/// Byte offset of record `n` of an index file (records are 4096-aligned:
/// `archive_bytes` at 8..12 gives each one's padded length).
fn nth_record_offset(file: &[u8], n: usize) -> usize {
    let mut offset = 0;
    for _ in 0..n {
        assert_eq!(&file[offset..offset + 4], b"TIDX");
        let archive = u32::from_le_bytes(file[offset + 8..offset + 12].try_into().unwrap());
        offset += (16 + archive as usize).div_ceil(4096) * 4096;
    }
    offset
}
