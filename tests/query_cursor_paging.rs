//! Paging with cursors against the real server: every entry exactly once
//! and in order (many sharing one timestamp, across 2 shards, 2 partitions,
//! sealed blocks and unsealed memory), both orders, with filters and `q`,
//! the GET form, NDJSON, entries arriving between pages, and every way a
//! cursor can be refused.

mod common;

use std::collections::HashSet;

use common::{eventually, ndjson_query, Server};
use serde_json::{json, Value};

const BASE_NS: i64 = 1_700_000_000_000_000_000;
const SECOND_NS: i64 = 1_000_000_000;
/// Entries per partition; `SHARED` of them share the timestamp `BASE_NS`.
const ENTRIES: i64 = 400;
const SHARED: i64 = 250;

/// Two shards, two partitions, blocks of 40 entries (so most entries are in
/// sealed blocks and the last ones in memory), 250 entries of each
/// partition at one timestamp, the rest spread out with repeats, sent in
/// shuffled order over many connections (so both shards hold entries).
fn loaded_server() -> Server {
    let server = Server::builder()
        .arg("--shards")
        .arg("2")
        .env("TIMBERDB_BLOCK_ROTATION", "count:40")
        .start();
    for partition in ["a", "b"] {
        server.create_partition(partition);
        let mut order: Vec<i64> = (0..ENTRIES).collect();
        order.sort_by_key(|i| (i * 7919) % ENTRIES);
        for chunk in order.chunks(20) {
            let lines: Vec<Value> = chunk.iter().map(|i| entry(partition, *i)).collect();
            let response = server.ingest_ndjson(partition, &lines);
            assert_eq!(response.status, 200, "{}", response.text());
        }
    }
    eventually(std::time::Duration::from_secs(30), || {
        let blocks = server.get("/api/v1/partitions/a").json()["blocks"].as_u64();
        (blocks.unwrap_or(0) >= 4).then_some(())
    });
    server
}

fn timestamp_of(i: i64) -> i64 {
    if i < SHARED {
        BASE_NS
    } else {
        // Pairs of entries share each later second.
        BASE_NS + (i - SHARED) / 2 * SECOND_NS + SECOND_NS
    }
}

fn entry(partition: &str, i: i64) -> Value {
    json!({
        "timestamp": timestamp_of(i),
        "source": format!("web-{}", i % 3),
        "level": if i % 4 == 0 { "error" } else { "info" },
        "message": format!("{partition} request {i} {}", if i % 5 == 0 { "timeout" } else { "ok" }),
        "tags": {"n": i.to_string(), "kind": if i % 2 == 0 { "even" } else { "odd" }},
    })
}

/// An entry's identity across partitions.
fn key(entry: &Value) -> String {
    format!(
        "{}/{}",
        entry["partition"].as_str().unwrap(),
        entry["id"].as_str().unwrap()
    )
}

/// The whole answer in one page: the order the cursor pages must follow.
fn all_at_once(server: &Server, query: &Value) -> Vec<String> {
    let mut body = query.clone();
    body["limit"] = json!(100_000);
    let answer = server.query(&body);
    assert_eq!(answer["next"], Value::Null, "one page holds it all");
    answer["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(key)
        .collect()
}

/// Pages through `query` by cursor with page sizes cycling through
/// `limits` (the limit may change between pages); returns the keys in the
/// order received, checking each page's timestamps are in order.
fn page_by_cursor(server: &Server, query: &Value, limits: &[u64]) -> Vec<String> {
    let descending = query["order"] != json!("asc");
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    let mut last_timestamp: Option<i64> = None;
    for page in 0.. {
        assert!(page < 2_000, "paging does not end");
        let mut body = query.clone();
        body["limit"] = json!(limits[page % limits.len()]);
        if let Some(cursor) = &cursor {
            body["cursor"] = json!(cursor);
        }
        let answer = server.query(&body);
        let entries = answer["entries"].as_array().unwrap();
        for entry in entries {
            let timestamp = entry["timestamp_ns"].as_i64().unwrap();
            if let Some(last) = last_timestamp {
                assert!(
                    if descending {
                        timestamp <= last
                    } else {
                        timestamp >= last
                    },
                    "out of order at page {page}"
                );
            }
            last_timestamp = Some(timestamp);
            keys.push(key(entry));
        }
        match &answer["next"] {
            Value::Null => {
                assert!(
                    (entries.len() as u64) < limits[page % limits.len()]
                        || answer["total_count_exact"] == json!(true),
                    "next is null only when the answer is complete: {answer}"
                );
                break;
            }
            Value::String(next) => {
                assert!(!entries.is_empty(), "a full page has entries");
                cursor = Some(next.clone());
            }
            other => panic!("next is {other}"),
        }
    }
    keys
}

fn assert_each_once_in_order(paged: &[String], expected: &[String]) {
    let unique: HashSet<&String> = paged.iter().collect();
    assert_eq!(unique.len(), paged.len(), "an entry came twice");
    assert_eq!(paged.len(), expected.len(), "entries missed or extra");
    assert_eq!(
        paged, expected,
        "paged order differs from the one-page order"
    );
}

#[test]
fn cursor_pages_return_every_entry_once_in_order() {
    let server = loaded_server();
    let slices: HashSet<String> = all_at_once(&server, &json!({"partitions": ["a"]}))
        .iter()
        .map(|key| key.split(['/', '-']).nth(1).unwrap().to_string())
        .collect();
    assert_eq!(slices.len(), 2, "both shards hold entries: {slices:?}");
    for order in ["desc", "asc"] {
        let query = json!({"partitions": ["a", "b"], "order": order});
        let expected = all_at_once(&server, &query);
        assert_eq!(expected.len() as i64, 2 * ENTRIES);
        let paged = page_by_cursor(&server, &query, &[7, 3, 50]);
        assert_each_once_in_order(&paged, &expected);
    }
    // All partitions (none named), the default order.
    let query = json!({});
    assert_each_once_in_order(
        &page_by_cursor(&server, &query, &[13]),
        &all_at_once(&server, &query),
    );
}

#[test]
fn cursor_pages_with_filters_and_q() {
    let server = loaded_server();
    let queries = [
        json!({"partitions": ["a", "b"], "filter": {"tags": {"kind": "even"}}, "order": "asc"}),
        json!({"filter": {"level": "error", "message_contains": "timeout"}}),
        json!({"q": "level:error OR tags.kind:odd", "order": "asc"}),
        json!({"q": "SELECT * FROM a WHERE message LIKE '%ok%' ORDER BY timestamp DESC"}),
        json!({"q": "timeout", "filter": {"time_range": {"start": BASE_NS, "end": BASE_NS + 50 * SECOND_NS}}}),
    ];
    for query in queries {
        let expected = all_at_once(&server, &query);
        assert!(expected.len() > 20, "{query}: {} entries", expected.len());
        let paged = page_by_cursor(&server, &query, &[6]);
        assert_each_once_in_order(&paged, &expected);
    }
}

#[test]
fn next_is_null_on_the_last_page_and_limit_zero_counts_past_the_cursor() {
    let server = loaded_server();
    let query = json!({"partitions": ["a"], "order": "asc", "limit": 100});
    let first = server.query(&query);
    let next = first["next"].as_str().expect("more follow").to_string();
    let mut count = query.clone();
    count["limit"] = json!(0);
    count["cursor"] = json!(next);
    let counted = server.query(&count);
    assert_eq!(counted["total_count"], json!(ENTRIES - 100), "{counted}");
    assert_eq!(counted["next"], Value::Null);
    let mut rest = query.clone();
    rest["limit"] = json!(1000);
    rest["cursor"] = json!(next);
    let last = server.query(&rest);
    assert_eq!(last["returned_count"], json!(ENTRIES - 100));
    assert_eq!(last["next"], Value::Null);
    let everything = server.query(&json!({"partitions": ["a"], "limit": 1000}));
    assert_eq!(everything["next"], Value::Null);
    let nothing = server.query(&json!({"partitions": ["a"], "q": "nosuchword"}));
    assert_eq!(nothing["next"], Value::Null);
}

#[test]
fn get_form_and_ndjson_carry_the_cursor() {
    let server = loaded_server();
    let path = "/api/v1/query?q=level%3Aerror&partitions=a&order=asc&limit=9";
    let expected = all_at_once(
        &server,
        &json!({"q": "level:error", "partitions": ["a"], "order": "asc"}),
    );
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(cursor) => format!("{path}&cursor={cursor}"),
            None => path.to_string(),
        };
        let response = server.get(&url);
        assert_eq!(response.status, 200, "{}", response.text());
        let answer = response.json();
        paged.extend(answer["entries"].as_array().unwrap().iter().map(key));
        match answer["next"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_each_once_in_order(&paged, &expected);

    // NDJSON: the metadata line's next continues the stream.
    let query = json!({"q": "level:error", "partitions": ["a"], "order": "asc", "limit": 30});
    let (status, _, lines) = ndjson_query(&server, &query);
    assert_eq!(status, 200);
    let next = lines.last().unwrap()["metadata"]["next"]
        .as_str()
        .unwrap()
        .to_string();
    let mut streamed: Vec<String> = lines[..lines.len() - 1].iter().map(key).collect();
    let mut rest = query.clone();
    rest["cursor"] = json!(next);
    rest["limit"] = json!(1000);
    let (_, _, lines) = ndjson_query(&server, &rest);
    assert_eq!(lines.last().unwrap()["metadata"]["next"], Value::Null);
    streamed.extend(lines[..lines.len() - 1].iter().map(key));
    assert_each_once_in_order(&streamed, &expected);
}

#[test]
fn entries_ingested_between_pages_appear_on_later_pages() {
    let server = loaded_server();
    let query = json!({"partitions": ["a"], "order": "asc", "limit": 150});
    let first = server.query(&query);
    let mut seen: Vec<String> = first["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(key)
        .collect();
    let mut cursor = first["next"].as_str().unwrap().to_string();
    // Later than everything stored, and some at the shared timestamp's
    // later neighbour: all sort after the cursor (at BASE_NS).
    let late: Vec<Value> = (0..30)
        .map(|i| {
            let mut line = entry("a", ENTRIES + i);
            line["timestamp"] = json!(BASE_NS + 10_000 * SECOND_NS + i % 3);
            line
        })
        .collect();
    assert_eq!(server.ingest_ndjson("a", &late).status, 200);
    loop {
        let mut body = query.clone();
        body["cursor"] = json!(cursor);
        let answer = server.query(&body);
        seen.extend(answer["entries"].as_array().unwrap().iter().map(key));
        match answer["next"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_each_once_in_order(
        &seen,
        &all_at_once(&server, &json!({"partitions": ["a"], "order": "asc"})),
    );
    assert_eq!(seen.len() as i64, ENTRIES + 30);
}

#[test]
fn refused_cursors() {
    let server = loaded_server();
    let query = json!({"partitions": ["a"], "filter": {"level": "error"}, "limit": 5});
    let cursor = server.query(&query)["next"].as_str().unwrap().to_string();
    let refused = |body: Value, wanted: &str| {
        let response = server.post_json("/api/v1/query", &body);
        assert_eq!(response.status, 400, "{body}: {}", response.text());
        assert_eq!(response.error_code(), "invalid_cursor", "{body}");
        let message = response.error_message();
        assert!(message.contains(wanted), "{body}: {message}");
    };
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = query.clone();
        body["cursor"] = json!(cursor);
        change(&mut body);
        body
    };
    // The same query with another limit is the same query.
    let mut same = with(&|_| {});
    same["limit"] = json!(2);
    assert_eq!(server.post_json("/api/v1/query", &same).status, 200);
    // Another query: partitions, filter, q or order changed.
    refused(with(&|b| b["partitions"] = json!(["b"])), "different query");
    refused(with(&|b| b["partitions"] = json!([])), "different query");
    refused(
        with(&|b| b["filter"]["level"] = json!("info")),
        "different query",
    );
    refused(with(&|b| b["q"] = json!("timeout")), "different query");
    refused(with(&|b| b["order"] = json!("asc")), "different query");
    // Malformed: garbage, cut, damaged.
    refused(
        with(&|b| b["cursor"] = json!("garbage")),
        "not one this server issued",
    );
    refused(
        with(&|b| b["cursor"] = json!(&cursor[..40])),
        "not one this server issued",
    );
    let mut damaged = cursor.clone().into_bytes();
    damaged[30] = if damaged[30] == b'0' { b'1' } else { b'0' };
    let damaged = String::from_utf8(damaged).unwrap();
    refused(with(&|b| b["cursor"] = json!(damaged)), "checksum");
    // With offset, in the body or in q.
    refused(with(&|b| b["offset"] = json!(10)), "not both");
    let q_query = json!({"q": "SELECT * FROM a LIMIT 5"});
    let q_cursor = server.query(&q_query)["next"].as_str().unwrap().to_string();
    let response = server.post_json(
        "/api/v1/query",
        &json!({"q": "SELECT * FROM a LIMIT 5 OFFSET 5", "cursor": q_cursor}),
    );
    assert_eq!(response.status, 400);
    assert_eq!(response.error_code(), "invalid_cursor");
    // On an aggregation.
    refused(
        json!({"q": "SELECT level, count(*) FROM a GROUP BY level", "cursor": cursor}),
        "aggregates",
    );
    // The GET form refuses the same way.
    let response = server.get("/api/v1/query?q=error&cursor=zz");
    assert_eq!(response.status, 400);
    assert_eq!(response.error_code(), "invalid_cursor");
    let response = server.get(&format!("/api/v1/query?q=error&offset=3&cursor={cursor}"));
    assert_eq!(response.status, 400);
    assert_eq!(response.error_code(), "invalid_cursor");
}
