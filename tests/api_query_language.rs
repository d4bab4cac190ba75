//! The `q` query language over HTTP: POST and GET, the SQL-like form and
//! the search form, over sealed blocks and unsealed data, across a
//! restart, with column-precise errors. Each query's answer is checked
//! against a brute-force filter of the entries that were sent.

mod common;

use common::Server;
use serde_json::{json, Value};

const BASE_S: i64 = 1_700_000_000;

/// Entry `i` of the corpus: what it holds is a function of `i`, so every
/// expected answer can be computed by filtering `0..COUNT`.
fn entry(i: i64) -> Value {
    let level = ["info", "info", "warn", "error", "debug"][(i % 5) as usize];
    let source = format!("web-{}", i % 3);
    let component = ["auth", "db", "cache"][(i % 4 % 3) as usize];
    let message = match i % 6 {
        0 => format!("connection reset by peer after {i} ms"),
        1 => format!("request {i} timed out"),
        2 => format!("user u{i} logged in"),
        3 => "Connection Reset while reading".to_string(),
        4 => format!("cache miss for key k{i}"),
        _ => format!("timeout waiting for lock {i}"),
    };
    json!({
        "timestamp": BASE_S + i,
        "level": level,
        "source": source,
        "message": message,
        "tags": {"component": component},
        "duration_ms": i * 10,
    })
}

const COUNT: i64 = 240;

fn loaded_server() -> Server {
    let server = Server::builder()
        .env("TIMBERDB_BLOCK_ROTATION", "count:40")
        .start();
    server.create_partition("app");
    server.create_partition("other");
    let lines: Vec<Value> = (0..COUNT).map(entry).collect();
    for chunk in lines.chunks(30) {
        assert_eq!(server.ingest_ndjson("app", chunk).status, 200);
    }
    server.ingest_ndjson(
        "other",
        &[json!({"message": "connection reset elsewhere", "level": "error"})],
    );
    server
}

/// The `duration_ms` (= 10 i) of each returned entry, as `i`.
fn numbers(answer: &Value) -> Vec<i64> {
    let mut found: Vec<i64> = answer["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fields"]["duration_ms"].as_i64().unwrap() / 10)
        .collect();
    found.sort_unstable();
    found
}

fn expected(keep: impl Fn(i64, &Value) -> bool) -> Vec<i64> {
    (0..COUNT).filter(|&i| keep(i, &entry(i))).collect()
}

fn q(server: &Server, q: &str) -> Value {
    server.query(&json!({"q": q, "limit": 1000}))
}

fn check_cases(server: &Server) {
    let message = |e: &Value| e["message"].as_str().unwrap().to_lowercase();
    let cases: Vec<(&str, Vec<i64>)> = vec![
        (
            "SELECT * FROM app WHERE level = 'error' AND message CONTAINS 'reset'",
            expected(|_, e| e["level"] == "error" && message(e).contains("reset")),
        ),
        ("SELECT * FROM app WHERE level >= 'warn'", expected(|_, e| e["level"] == "warn" || e["level"] == "error")),
        (
            "SELECT * FROM app WHERE component = 'auth' AND NOT source = 'web-1'",
            expected(|_, e| e["tags"]["component"] == "auth" && e["source"] != "web-1"),
        ),
        (
            "SELECT * FROM app WHERE message MATCHES 'conn(ection)? reset' AND fields.duration_ms >= 600",
            expected(|i, e| message(e).contains("connection reset") && i >= 60),
        ),
        (
            "SELECT * FROM app WHERE timestamp >= 1700000100 AND timestamp < 1700000150 AND source IN ('web-0', 'web-2')",
            expected(|i, e| (100..150).contains(&i) && e["source"] != "web-1"),
        ),
        ("level:error component:auth \"reset by\"", expected(|_, e| e["level"] == "error" && e["tags"]["component"] == "auth" && message(e).contains("reset by"))),
        ("time* -lock", expected(|_, e| message(e).split(' ').any(|w| w.starts_with("time")) && !message(e).contains("lock"))),
        ("timeuot~2 source:web-2", expected(|_, e| message(e).contains("timeout") && e["source"] == "web-2")),
        (
            "SELECT * FROM app WHERE SEARCH('u1? OR k2?') AND level != 'info'",
            expected(|_, e| {
                // A word of three characters: u1 or k2 and one more.
                let m = message(e);
                let word = |prefix: &str| m.split(' ').any(|w| w.len() == 3 && w.starts_with(prefix));
                (word("u1") || word("k2")) && e["level"] != "info"
            }),
        ),
    ];
    for (text, want) in cases {
        let answer = q(server, text);
        assert!(!want.is_empty(), "{text}: the case should match something");
        assert_eq!(numbers(&answer), want, "{text}");
        assert_eq!(answer["total_count"], want.len(), "{text}");
    }
}

#[test]
fn q_filters_match_a_brute_force_scan_before_and_after_restart() {
    let mut server = loaded_server();
    check_cases(&server);
    server.restart();
    check_cases(&server);
}

#[test]
fn order_limit_and_offset_come_from_the_text() {
    let server = loaded_server();
    let answer = q(
        &server,
        "SELECT * FROM app WHERE level = 'warn' ORDER BY timestamp ASC LIMIT 3 OFFSET 1",
    );
    let got: Vec<i64> = answer["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fields"]["duration_ms"].as_i64().unwrap() / 10)
        .collect();
    assert_eq!(got, vec![7, 12, 17]);
    // Without FROM every partition is searched.
    let everywhere = q(&server, "\"reset elsewhere\"");
    assert_eq!(everywhere["total_count"], 1);
    assert_eq!(everywhere["entries"][0]["partition"], "other");
}

#[test]
fn get_takes_the_language_for_curl_users() {
    let server = loaded_server();
    let response =
        server.get("/api/v1/query?q=level%3Aerror+component%3Adb&limit=2&partitions=app&order=asc");
    assert_eq!(response.status, 200, "{}", response.text());
    let answer = response.json();
    let want = expected(|_, e| e["level"] == "error" && e["tags"]["component"] == "db").len();
    // With the page final early, counting stops too: a lower bound, said so.
    let total = answer["total_count"].as_u64().unwrap() as usize;
    if answer["total_count_exact"] == true {
        assert_eq!(total, want, "{answer}");
    } else {
        assert!((2..=want).contains(&total), "{answer}");
        assert_eq!(answer["truncated"], true, "{answer}");
    }
    assert_eq!(answer["entries"].as_array().unwrap().len(), 2);
    let counted = server.get("/api/v1/query?q=level%3Aerror+component%3Adb&limit=0&partitions=app");
    assert_eq!(
        counted.json()["total_count"],
        want,
        "a count reads every block"
    );
    assert_eq!(counted.json()["total_count_exact"], true);
    let missing = server.get("/api/v1/query?limit=2");
    assert_eq!(missing.status, 400);
    assert!(
        missing.error_message().contains("needs a q"),
        "{}",
        missing.text()
    );
}

#[test]
fn errors_point_at_the_column() {
    let server = loaded_server();
    for (text, status, needle) in [
        ("SELECT * FROM app WHERE level = ", 400, "column 33"),
        (
            "SELECT * FROM app WHERE message CONTAINS 'open",
            400,
            "unterminated",
        ),
        ("SELECT * FROM nowhere", 404, "nowhere"),
        ("SELECT *, count(*) FROM app", 400, "column"),
        (
            "SELECT * FROM app WHERE message MATCHES '(unclosed'",
            400,
            "column",
        ),
        ("SELECT * FROM app WHERE partition = 'app'", 400, "FROM"),
    ] {
        let response = server.post_json("/api/v1/query", &json!({"q": text}));
        assert_eq!(response.status, status, "{text}: {}", response.text());
        assert!(
            response.error_message().contains(needle),
            "{text}: {}",
            response.error_message()
        );
    }
    let both = server.post_json(
        "/api/v1/query",
        &json!({"q": "SELECT * FROM app", "partitions": ["app"]}),
    );
    assert_eq!(both.status, 400);
}

/// Runs an aggregating query and returns its rows.
fn rows(server: &Server, text: &str) -> Vec<Value> {
    let answer = q(server, text);
    assert!(answer["rows"].is_array(), "{text}: {answer}");
    answer["rows"].as_array().unwrap().clone()
}

fn check_aggregations(server: &Server) {
    let by_level = q(
        server,
        "SELECT level, count(*) FROM app GROUP BY level ORDER BY count(*) DESC",
    );
    assert_eq!(by_level["columns"], json!(["level", "count(*)"]));
    // i % 5: info twice, warn, error, debug once each; ties by key.
    assert_eq!(
        by_level["rows"],
        json!([["info", 96], ["debug", 48], ["error", 48], ["warn", 48]])
    );
    assert_eq!(by_level["total_count"], COUNT);

    let text = "SELECT source, count(*) AS n, min(fields.duration_ms), max(fields.duration_ms), \
                avg(fields.duration_ms), count(DISTINCT component) FROM app \
                WHERE message CONTAINS 'TIME' GROUP BY source ORDER BY source";
    let got = rows(server, text);
    let mut want = Vec::new();
    for source in ["web-0", "web-1", "web-2"] {
        let matching: Vec<i64> = expected(|_, e| {
            e["source"] == source && e["message"].as_str().unwrap().contains("time")
        });
        let durations: Vec<i64> = matching.iter().map(|i| i * 10).collect();
        let components: std::collections::BTreeSet<String> = matching
            .iter()
            .map(|&i| entry(i)["tags"]["component"].as_str().unwrap().to_string())
            .collect();
        if matching.is_empty() {
            continue; // a group exists only if some entry falls in it
        }
        let avg = durations.iter().sum::<i64>() as f64 / durations.len() as f64;
        want.push(json!([
            source,
            matching.len(),
            durations.iter().min(),
            durations.iter().max(),
            avg,
            components.len()
        ]));
    }
    assert_eq!(Value::Array(got), Value::Array(want), "{text}");

    // Minute buckets aligned to the epoch: 1_700_000_000 (22:13:20 UTC) is
    // 20 s after a minute boundary, so the first bucket holds 40 entries.
    let histogram = rows(
        server,
        "SELECT bucket(timestamp, '1m'), count(*) FROM app GROUP BY bucket(timestamp, '1m')",
    );
    let counts: Vec<i64> = histogram
        .iter()
        .map(|row| row[1].as_i64().unwrap())
        .collect();
    assert_eq!(counts, vec![40, 60, 60, 60, 20]);
    assert_eq!(histogram[1][0], "2023-11-14T22:14:00.000000000Z");

    // Top-k by count with a limit, across partitions without FROM.
    let top = q(
        server,
        "SELECT partition, count(*) GROUP BY partition ORDER BY count(*) DESC LIMIT 1",
    );
    assert_eq!(top["rows"], json!([["app", COUNT]]));
    assert_eq!(top["group_count"], 2);
    assert_eq!(top["truncated"], true);
}

#[test]
fn aggregations_match_a_brute_force_count_before_and_after_restart() {
    let mut server = loaded_server();
    check_aggregations(&server);
    server.restart();
    check_aggregations(&server);
    let response = server
        .get("/api/v1/query?q=SELECT+level%2C+count(*)+FROM+app+GROUP+BY+level+ORDER+BY+level");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["rows"][0], json!(["debug", 48]));
}

#[test]
fn level_queries_skip_blocks_without_those_levels() {
    let mut server = Server::builder()
        .env("TIMBERDB_BLOCK_ROTATION", "count:40")
        .start();
    server.create_partition("lv");
    // Each request fills exactly one block on the shard that takes it.
    for level in ["info", "info", "warn", "error"] {
        let lines: Vec<Value> = (0..40)
            .map(|i| json!({"message": format!("m{i}"), "level": level}))
            .collect();
        assert_eq!(server.ingest_ndjson("lv", &lines).status, 200);
    }
    common::eventually(std::time::Duration::from_secs(30), || {
        let stored = server.get("/api/v1/partitions/lv").json();
        (stored["blocks"] == 4).then_some(())
    });
    for _ in 0..2 {
        for query in [
            json!({"q": "SELECT * FROM lv WHERE level = 'error'", "limit": 0}),
            json!({"q": "level:error", "partitions": ["lv"], "limit": 0}),
            json!({"partitions": ["lv"], "filter": {"level": "error"}, "limit": 0}),
        ] {
            let answer = server.query(&query);
            assert_eq!(answer["total_count"], 40, "{query}");
            assert_eq!(answer["stats"]["blocks_skipped"], 3, "{query}: {answer}");
            // The error block holds only errors, and these only count:
            // it is counted from its header without being read.
            assert_eq!(answer["stats"]["blocks_scanned"], 0, "{query}: {answer}");
            assert_eq!(
                answer["stats"]["blocks_counted_unread"], 1,
                "{query}: {answer}"
            );
        }
        let warn_or_worse =
            server.query(&json!({"q": "SELECT count(*) FROM lv WHERE level >= 'warn'"}));
        assert_eq!(warn_or_worse["rows"], json!([[80]]));
        assert_eq!(warn_or_worse["stats"]["blocks_skipped"], 2);
        // Limit 1: the newest of the error entries is read from the block.
        let one = server.query(&json!({"q": "level:error", "partitions": ["lv"], "limit": 1}));
        assert_eq!(one["stats"]["blocks_scanned"], 1, "{one}");
        assert_eq!(one["stats"]["blocks_counted_unread"], 0, "{one}");
        // The masks are in the block headers, so they survive a restart.
        server.restart();
    }
}

/// A count by minute over a block that spans two minutes, each granule
/// inside one: the block is split, both granules are counted from the
/// directory, and the block counts as counted unread (every sealed block
/// is in exactly one of the blocks_* stats).
#[test]
fn a_split_block_whose_granules_are_all_counted_is_counted_unread() {
    let rows = timberdb::block::GRANULE_ROWS_MAX;
    let mut server = Server::builder()
        .arg("--shards")
        .arg("1")
        .env("TIMBERDB_BLOCK_ROTATION", &format!("count:{}", 2 * rows))
        .start();
    server.create_partition("split");
    let minute_ns: i64 = 60_000_000_000;
    let base_ns: i64 = 1_700_000_040 * 1_000_000_000; // a whole minute
    let lines: Vec<Value> = (0..2 * rows as i64)
        .map(|i| {
            // The first granule in the first minute, the second in the next.
            let minute = i / rows as i64;
            let timestamp = base_ns + minute * minute_ns + (i % rows as i64) * 1_000;
            json!({"message": format!("m{i}"), "timestamp": timestamp, "level": "info"})
        })
        .collect();
    assert_eq!(server.ingest_ndjson("split", &lines).status, 200);
    common::eventually(std::time::Duration::from_secs(30), || {
        let stored = server.get("/api/v1/partitions/split").json();
        (stored["blocks"] == 1).then_some(())
    });
    for _ in 0..2 {
        let answer = server.query(&json!({
            "q": "SELECT bucket(timestamp, '1m') AS minute, count(*) FROM split GROUP BY minute ORDER BY minute"
        }));
        assert_eq!(answer["rows"][0][1], rows, "{answer}");
        assert_eq!(answer["rows"][1][1], rows, "{answer}");
        let stats = &answer["stats"];
        assert_eq!(stats["granules_counted_unread"], 2, "{answer}");
        assert_eq!(stats["granules_scanned"], 0, "{answer}");
        assert_eq!(stats["blocks_counted_unread"], 1, "{answer}");
        assert_eq!(stats["blocks_scanned"], 0, "{answer}");
        assert_eq!(stats["blocks_skipped"], 0, "{answer}");
        server.restart();
    }
}
