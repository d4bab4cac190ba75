//! Queries: every filter, order, limit after filter, paging, time pruning,
//! across sealed blocks and not-yet-sealed data, over restarts.

mod common;

use common::{eventually, Server};
use serde_json::{json, Value};

const BASE_NS: i64 = 1_700_000_000_000_000_000;
const SECOND_NS: i64 = 1_000_000_000;

/// 300 entries with shuffled timestamps (second i for i in 0..300), sealed
/// into blocks of 50 per shard, so queries cross seal boundaries.
fn loaded_server() -> Server {
    let server = Server::builder()
        .env("TIMBERDB_BLOCK_ROTATION", "count:50")
        .start();
    server.create_partition("app");
    server.create_partition("other");
    let mut order: Vec<i64> = (0..300).collect();
    // A fixed permutation: entries do not arrive in time order.
    order.sort_by_key(|i| (i * 7919) % 300);
    for chunk in order.chunks(60) {
        let lines: Vec<Value> = chunk.iter().map(|i| entry(*i)).collect();
        let response = server.ingest_ndjson("app", &lines);
        assert_eq!(response.status, 200, "{}", response.text());
    }
    server.ingest_ndjson(
        "other",
        &[json!({"message": "from other", "source": "web-1"})],
    );
    // Wait until sealing has happened at least once.
    eventually(std::time::Duration::from_secs(30), || {
        let partition = server.get("/api/v1/partitions/app").json();
        (partition["blocks"].as_u64().unwrap_or(0) >= 4).then_some(())
    });
    server
}

fn entry(i: i64) -> Value {
    let level = ["info", "info", "warn", "error", "debug"][(i % 5) as usize];
    json!({
        "timestamp": BASE_NS + i * SECOND_NS,
        "source": format!("web-{}", i % 3),
        "level": level,
        "message": format!("request {i} finished {}", if i % 10 == 0 { "with Connection TIMEOUT" } else { "ok" }),
        "tags": {"component": if i % 2 == 0 { "auth" } else { "api" }, "n": i.to_string()},
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

fn expected(filter: impl Fn(i64) -> bool) -> Vec<i64> {
    (0..300).filter(|i| filter(*i)).collect()
}

#[test]
fn filters_match_a_brute_force_scan() {
    let server = loaded_server();
    let cases: Vec<(Value, Vec<i64>)> = vec![
        (
            json!({"tags": {"level": "error"}}),
            expected(|i| i % 5 == 3),
        ),
        (json!({"level": "warn"}), expected(|i| i % 5 == 2)),
        (
            json!({"level": ["warn", "error"]}),
            expected(|i| i % 5 == 2 || i % 5 == 3),
        ),
        (
            json!({"tags": {"component": "auth"}, "source": "web-1"}),
            expected(|i| i % 2 == 0 && i % 3 == 1),
        ),
        (json!({"source_prefix": "web-"}), expected(|_| true)),
        (
            json!({"message_contains": "connection timeout"}),
            expected(|i| i % 10 == 0),
        ),
        (json!({"tag_exists": ["component"]}), expected(|_| true)),
        (json!({"tag_exists": ["missing"]}), vec![]),
        (
            json!({"time_range": {"start": BASE_NS + 100 * SECOND_NS, "end": BASE_NS + 150 * SECOND_NS}}),
            expected(|i| (100..150).contains(&i)),
        ),
    ];
    for (filter, mut want) in cases {
        let result = server.query(
            &json!({"partitions": ["app"], "filter": filter, "limit": 1000, "order": "asc"}),
        );
        let got = numbers(&result);
        want.sort();
        assert_eq!(got, want, "filter {filter}");
        assert_eq!(
            result["total_count"],
            want.len(),
            "total_count for {filter}"
        );
        assert_eq!(result["returned_count"], want.len());
    }
}

#[test]
fn limit_applies_after_the_filter_and_order_is_by_time() {
    let server = loaded_server();
    let newest =
        server.query(&json!({"partitions": ["app"], "filter": {"level": "error"}, "limit": 5}));
    assert_eq!(
        numbers(&newest),
        vec![298, 293, 288, 283, 278],
        "newest first by default"
    );
    assert_eq!(newest["total_count"], 60);
    assert_eq!(newest["truncated"], true);
    let oldest = server.query(&json!({"partitions": ["app"], "filter": {"level": "error"}, "limit": 3, "sort_desc": false}));
    assert_eq!(numbers(&oldest), vec![3, 8, 13]);
    let page = server.query(&json!({"partitions": ["app"], "filter": {"level": "error"}, "limit": 3, "offset": 3, "order": "asc"}));
    assert_eq!(numbers(&page), vec![18, 23, 28]);
}

#[test]
fn time_range_skips_blocks_outside_it() {
    let server = loaded_server();
    // Every entry is wanted, so every block is read.
    let all = server.query(&json!({"partitions": ["app"], "limit": 1000}));
    let narrow = server.query(&json!({
        "partitions": ["app"],
        "filter": {"time_range": {"start": "2023-11-14T22:13:20Z", "end": "2023-11-14T22:13:21Z"}},
    }));
    assert_eq!(narrow["total_count"], 1, "{narrow}");
    assert!(
        narrow["stats"]["blocks_skipped"].as_u64().unwrap() > 0,
        "{narrow}"
    );
    assert!(
        narrow["stats"]["entries_scanned"].as_u64().unwrap()
            < all["stats"]["entries_scanned"].as_u64().unwrap(),
        "a narrow range must not read every block: {narrow}"
    );
    assert_eq!(narrow["stats"]["shards"], all["stats"]["shards"]);
    // Only counting, with no filter: sealed blocks are counted from their
    // headers unread, and the count is still every entry.
    let counted = server.query(&json!({"partitions": ["app"], "limit": 0}));
    assert_eq!(counted["total_count"], all["total_count"], "{counted}");
    assert!(
        counted["stats"]["blocks_counted_unread"].as_u64().unwrap() > 0,
        "{counted}"
    );
    assert!(
        counted["stats"]["entries_scanned"].as_u64().unwrap()
            < all["stats"]["entries_scanned"].as_u64().unwrap(),
        "{counted}"
    );
}

#[test]
fn partitions_by_name_or_all_and_unknown_is_404() {
    let server = loaded_server();
    let everything = server.query(&json!({"limit": 0}));
    assert_eq!(everything["total_count"], 301);
    assert_eq!(everything["partitions_searched"], 2);
    let other = server.query(&json!({"partitions": ["other"]}));
    assert_eq!(other["total_count"], 1);
    assert_eq!(other["entries"][0]["partition"], "other");
    let missing = server.post_json("/api/v1/query/execute", &json!({"partitions": ["ghost"]}));
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), "partition_not_found");
}

#[test]
fn bad_queries_are_400_with_a_reason() {
    let server = loaded_server();
    for (body, needle) in [
        (json!({"filter": {"level": "loud"}}), "level"),
        (json!({"order": "sideways"}), "order"),
        (
            json!({"filter": {"time_range": {"start": "yesterday"}}}),
            "time_range.start",
        ),
        (json!({"filter": {"nonsense": 1}}), "nonsense"),
        (json!({"q": "level:loud"}), "q: column 7"),
        (json!({"timeout_seconds": -1}), "timeout_seconds"),
    ] {
        let response = server.post_json("/api/v1/query", &body);
        assert_eq!(response.status, 400, "{body}: {}", response.text());
        assert!(
            response.error_message().contains(needle),
            "{body}: {}",
            response.error_message()
        );
    }
}

#[test]
fn sealed_and_unsealed_data_survive_restart() {
    let mut server = loaded_server();
    let before = server.query(&json!({"partitions": ["app"], "limit": 1000, "order": "asc"}));
    server.restart();
    let after = server.query(&json!({"partitions": ["app"], "limit": 1000, "order": "asc"}));
    assert_eq!(numbers(&after), numbers(&before));
    assert_eq!(numbers(&after), (0..300).collect::<Vec<_>>());
    let ids_before: Vec<&Value> = before["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["id"])
        .collect();
    let ids_after: Vec<&Value> = after["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["id"])
        .collect();
    assert_eq!(
        ids_before, ids_after,
        "entry ids are stable across restarts"
    );
}
