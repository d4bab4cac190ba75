//! Block directories and granule filters against the real server: queries
//! skip the blocks and granules whose dictionaries (sources, tag values) or
//! word filters rule out a match, say which stage skipped them, and still
//! answer exactly what a brute-force filter of the sent entries gives; the
//! filters are read on demand into a cache whose budget, use, hits and
//! misses `/metrics` reports.

mod common;

use std::collections::BTreeSet;

use common::Server;
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
fn directories_and_filters_prune_blocks_and_answers_stay_exact() {
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
    // A request id: 4 000 distinct values are kept as strings, not in a
    // dictionary, and the granule filters holding them still rule out
    // almost every block.
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
    // Directories are resident, filters were read on demand: both are
    // reported per shard, and the word queries found filters cached.
    let metrics = server.get("/metrics").text();
    let value = |name: &str, shard: u32| -> u64 {
        let prefix = format!("{name}{{shard=\"{shard}\"}} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{prefix} in {metrics}"))
            .parse()
            .unwrap()
    };
    for shard in 0..2 {
        assert!(
            value("timberdb_block_directory_bytes", shard) > 0,
            "{metrics}"
        );
        assert!(value("timberdb_index_cache_bytes", shard) > 0, "{metrics}");
        assert_eq!(
            value("timberdb_index_cache_budget_bytes", shard),
            64 << 20,
            "half of the 128 MiB default each"
        );
        assert!(
            value("timberdb_index_cache_misses_total", shard) > 0,
            "{metrics}"
        );
        assert!(
            value("timberdb_index_cache_hits_total", shard) > 0,
            "{metrics}"
        );
    }
}
