//! Streamed (NDJSON) answers, early termination by block time watermarks,
//! the 413 for a JSON page over `query.max_result_bytes`, a query past its
//! deadline, the 429 past `max_concurrent_queries`, and clients that
//! disconnect mid-stream, all against the real server with two shards and
//! many small sealed blocks.

mod common;

use std::io::{BufReader, Read};
use std::time::Duration;

use common::{
    connect_with_small_window, eventually, header, ndjson_query, read_head, send_ndjson_query,
    Server,
};
use serde_json::{json, Value};

const BASE_NS: i64 = 1_700_000_000_000_000_000;
const SECOND_NS: i64 = 1_000_000_000;
const ENTRY_COUNT: i64 = 50_000;
/// Entries per ingest request: batches arrive in time order, shuffled inside,
/// as logs from many hosts do.
const BATCH_ENTRIES: i64 = 1_000;

/// The timestamp of entry `n`: two entries share each second, so equal
/// timestamps meet across shards and blocks.
fn timestamp_ns(n: i64) -> i64 {
    BASE_NS + (n / 2) * SECOND_NS
}

fn loaded_server(config: &std::path::Path) -> Server {
    let server = Server::builder()
        .arg("--shards")
        .arg("2")
        .arg("--config")
        .arg(config.to_str().unwrap())
        .env("TIMBERDB_BLOCK_ROTATION", "count:250")
        .start();
    server.create_partition("app");
    for batch in 0..ENTRY_COUNT / BATCH_ENTRIES {
        let first = batch * BATCH_ENTRIES;
        let mut numbers: Vec<i64> = (first..first + BATCH_ENTRIES).collect();
        numbers.sort_by_key(|n| (n * 7919) % BATCH_ENTRIES);
        let lines: Vec<Value> = numbers
            .iter()
            .map(|n| {
                json!({"timestamp": timestamp_ns(*n), "source": "s", "message": format!("entry {n}"), "tags": {"n": n.to_string()}})
            })
            .collect();
        let response = server.ingest_ndjson("app", &lines);
        assert_eq!(response.status, 200, "{}", response.text());
    }
    eventually(Duration::from_secs(60), || {
        let partition = server.get("/api/v1/partitions/app").json();
        (partition["blocks"].as_u64().unwrap_or(0) >= 40).then_some(())
    });
    server
}

fn ids(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn streaming_early_termination_result_limit_and_disconnect() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("timberdb.toml");
    std::fs::write(
        &config,
        "[query]\nmax_result_bytes = \"1MiB\"\nmax_concurrent_queries = 2\n",
    )
    .unwrap();
    let server = loaded_server(&config);
    let all_query = json!({"partitions": ["app"], "limit": ENTRY_COUNT});

    // NDJSON: every entry, newest first, then the metadata line.
    let (status, content_type, mut lines) = ndjson_query(&server, &all_query);
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/x-ndjson");
    let metadata = lines.pop().expect("a metadata line")["metadata"].clone();
    assert_eq!(metadata["returned_count"], ENTRY_COUNT, "{metadata}");
    assert_eq!(metadata["total_count"], ENTRY_COUNT, "{metadata}");
    assert_eq!(metadata["total_count_exact"], true);
    assert_eq!(metadata["truncated"], false);
    assert_eq!(metadata["timed_out"], false);
    let streamed = lines;
    let got_stamps: Vec<i64> = streamed
        .iter()
        .map(|e| e["timestamp_ns"].as_i64().unwrap())
        .collect();
    let mut want_stamps: Vec<i64> = (0..ENTRY_COUNT).map(timestamp_ns).collect();
    want_stamps.sort_by(|a, b| b.cmp(a));
    assert_eq!(got_stamps, want_stamps, "newest first, every entry once");
    let mut numbers: Vec<i64> = streamed
        .iter()
        .map(|e| e["tags"]["n"].as_str().unwrap().parse().unwrap())
        .collect();
    numbers.sort();
    assert_eq!(numbers, (0..ENTRY_COUNT).collect::<Vec<_>>());
    let blocks_total = {
        let stats = &metadata["stats"];
        stats["blocks_scanned"].as_u64().unwrap()
            + stats["blocks_skipped"].as_u64().unwrap()
            + stats["blocks_not_read_after_limit"].as_u64().unwrap()
    };

    // The same query as one JSON body is past max_result_bytes: 413.
    let too_large = server.post_json("/api/v1/query/execute", &all_query);
    assert_eq!(too_large.status, 413, "{}", too_large.text());
    assert_eq!(too_large.error_code(), "result_too_large");
    assert!(
        too_large.error_message().contains("application/x-ndjson"),
        "{}",
        too_large.text()
    );

    // Limit 10, newest first: the same 10 as the full stream, from a few
    // blocks; the rest are counted as not read.
    let newest = server.query(&json!({"partitions": ["app"], "limit": 10}));
    assert_eq!(
        ids(newest["entries"].as_array().unwrap()),
        ids(&streamed[..10])
    );
    let stats = &newest["stats"];
    let not_read = stats["blocks_not_read_after_limit"].as_u64().unwrap();
    let scanned = stats["blocks_scanned"].as_u64().unwrap();
    assert!(
        not_read > 0 && scanned * 10 < blocks_total,
        "{newest}, {blocks_total} blocks in all"
    );
    assert_eq!(
        scanned + stats["blocks_skipped"].as_u64().unwrap() + not_read,
        blocks_total,
        "{newest}"
    );
    assert_eq!(newest["total_count_exact"], false);
    assert_eq!(newest["truncated"], true);

    // Oldest first and a page in the middle agree with the full stream.
    let oldest = server.query(&json!({"partitions": ["app"], "limit": 10, "order": "asc"}));
    let mut last_ten = ids(&streamed[streamed.len() - 10..]);
    last_ten.reverse();
    assert_eq!(ids(oldest["entries"].as_array().unwrap()), last_ten);
    let page = server.query(&json!({"partitions": ["app"], "limit": 10, "offset": 1001}));
    assert_eq!(
        ids(page["entries"].as_array().unwrap()),
        ids(&streamed[1001..1011])
    );
    let (_, _, mut via_parameter) = ndjson_query(
        &server,
        &json!({"partitions": ["app"], "limit": 25, "offset": 5, "format": "ndjson"}),
    );
    assert!(via_parameter.pop().unwrap()["metadata"].is_object());
    assert_eq!(ids(&via_parameter), ids(&streamed[5..30]));

    // A deadline that has passed before the first sealed block is read:
    // the answer is what was found by then, marked timed out, and counted.
    let timed_out =
        server.query(&json!({"partitions": ["app"], "limit": 10, "timeout_seconds": 0.000001}));
    assert_eq!(timed_out["timed_out"], true, "{timed_out}");
    assert_eq!(timed_out["stats"]["blocks_scanned"], 0, "{timed_out}");
    let metrics = server.get("/metrics").text();
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("timberdb_queries_timed_out_total")
                && !line.ends_with(" 0")),
        "{metrics}"
    );

    // max_concurrent_queries = 2 over two shards is one query per shard.
    // Clients that stop reading hold their slots; once both shards' slots
    // are held (after at most two such queries) the next one is refused.
    let mut holders = Vec::new();
    let refused = loop {
        assert!(holders.len() <= 2, "a third query was let in");
        let stream = connect_with_small_window(&server.addr, 4096);
        let mut reader = BufReader::new(send_ndjson_query(stream, &all_query));
        let (status, headers) = read_head(&mut reader);
        if status == 429 {
            break (reader, headers);
        }
        assert_eq!(status, 200);
        holders.push(reader);
    };
    let (mut refused, headers) = refused;
    assert_eq!(header(&headers, "retry-after"), "1");
    let mut body = String::new();
    refused.read_to_string(&mut body).unwrap();
    assert!(body.contains("too_many_queries"), "{body}");

    // Clients that read a little and leave: the server stays healthy and
    // the queries' slots are released.
    for mut stream in holders {
        let mut first_bytes = [0u8; 4096];
        stream.read_exact(&mut first_bytes).unwrap();
    }
    assert_eq!(server.get("/health").status, 200);
    eventually(Duration::from_secs(60), || {
        // New connections land on either shard; all must find a free slot.
        let statuses: Vec<u16> = (0..12)
            .map(|_| {
                server
                    .post_json(
                        "/api/v1/query/execute",
                        &json!({"partitions": ["app"], "limit": 1}),
                    )
                    .status
            })
            .collect();
        statuses.iter().all(|status| *status == 200).then_some(())
    });
}
