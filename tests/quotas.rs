//! Per-key quotas against the real binary (2 shards, auth on): a key
//! flooding over its lines/s quota gets 429 with Retry-After while another
//! keeps ingesting; bytes/s and bursts; every ingest protocol refuses in
//! its own shape and stores nothing of a refused request; the concurrent
//! query cap holds while a tail is open and frees when it closes; a quota
//! changed through the admin API applies at once and survives a restart;
//! `/metrics` counts refusals per key; with auth off nothing is limited.

mod common;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::auth::{bearer, request_with, start_with_auth, with_key};
use common::cli::{client_command, run_piped};
use common::{eventually, read_head, Response, Server};
use serde_json::{json, Value};

const JSON: Option<&str> = Some("application/json");
const NDJSON: Option<&str> = Some("application/x-ndjson");
const DEADLINE: Duration = Duration::from_secs(60);

/// Makes a key with `quota` through the admin API; returns (id, key).
fn key_with_quota(server: &Server, admin: &str, role: &str, quota: Value) -> (String, String) {
    let body = json!({"role": role, "name": "quota test", "quota": quota}).to_string();
    let response = with_key(
        server,
        admin,
        "POST",
        "/api/v1/admin/keys",
        JSON,
        body.as_bytes(),
    );
    assert_eq!(response.status, 201, "create key: {}", response.text());
    let answer = response.json();
    (
        answer["id"].as_str().expect("id").to_string(),
        answer["key"].as_str().expect("key").to_string(),
    )
}

fn create_partition(server: &Server, admin: &str, name: &str) {
    let body = json!({ "name": name }).to_string();
    let response = with_key(
        server,
        admin,
        "POST",
        "/api/v1/partitions",
        JSON,
        body.as_bytes(),
    );
    assert_eq!(response.status, 201, "{}", response.text());
}

/// `count` NDJSON lines from `source`, each about `pad` bytes long or more.
fn lines(source: &str, first: usize, count: usize, pad: usize) -> Vec<u8> {
    let filler = "x".repeat(pad);
    (first..first + count)
        .map(|n| {
            format!(
                "{}\n",
                json!({"source": source, "message": format!("{source} {n} {filler}")})
            )
        })
        .collect::<String>()
        .into_bytes()
}

fn ingest(server: &Server, key: &str, partition: &str, body: &[u8]) -> Response {
    let path = format!("/api/v1/partitions/{partition}/logs");
    with_key(server, key, "POST", &path, NDJSON, body)
}

/// The entries of `partition` from `source`, read with the admin key.
fn stored(server: &Server, admin: &str, partition: &str, source: &str) -> usize {
    let body = json!({"partitions": [partition], "filter": {"source": source}, "limit": 100_000});
    let response = with_key(
        server,
        admin,
        "POST",
        "/api/v1/query",
        JSON,
        body.to_string().as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["entries"]
        .as_array()
        .expect("entries")
        .len()
}

/// A 429 in the usual JSON shape with a whole-seconds `Retry-After`.
fn assert_quota_429(response: &Response) -> u64 {
    assert_eq!(response.status, 429, "{}", response.text());
    assert_eq!(
        response.error_code(),
        "quota_exceeded",
        "{}",
        response.text()
    );
    let seconds: u64 = response
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("whole seconds");
    assert!(seconds >= 1);
    seconds
}

fn metrics(server: &Server, admin: &str) -> String {
    let response = with_key(server, admin, "GET", "/metrics", None, b"");
    assert_eq!(response.status, 200);
    response.text()
}

#[test]
fn a_flooding_key_is_refused_while_another_keeps_its_rate() {
    let dir = tempfile::tempdir().expect("dir");
    let (server, admin) = start_with_auth(&dir.path().join("data"), 2, &[]);
    create_partition(&server, &admin, "logs");
    let flood_quota = json!({"lines_per_second": 100, "burst_seconds": 1});
    let (flood_id, flood) = key_with_quota(&server, &admin, "ingest", flood_quota);
    let steady_quota = json!({"lines_per_second": 1000, "burst_seconds": 5});
    let (_, steady) = key_with_quota(&server, &admin, "ingest", steady_quota);

    let done = AtomicBool::new(false);
    let started = Instant::now();
    let (flood_accepted, flood_refused, steady_lines) = std::thread::scope(|scope| {
        let flooders: Vec<_> = (0..3)
            .map(|thread| {
                let (server, flood, done) = (&server, &flood, &done);
                scope.spawn(move || {
                    let (mut accepted, mut refused, mut n) = (0, 0, thread * 1_000_000);
                    while !done.load(Ordering::Relaxed) {
                        let response = ingest(server, flood, "logs", &lines("flood", n, 50, 20));
                        n += 50;
                        match response.status {
                            200 => accepted += 50,
                            _ => {
                                assert_quota_429(&response);
                                refused += 1;
                            }
                        }
                    }
                    (accepted, refused)
                })
            })
            .collect();
        // The steady key sends 20 batches of 10 lines, far under its rate,
        // while the flood runs: every one is accepted.
        for batch in 0..20 {
            let response = ingest(
                &server,
                &steady,
                "logs",
                &lines("steady", batch * 10, 10, 20),
            );
            assert_eq!(response.status, 200, "batch {batch}: {}", response.text());
            std::thread::sleep(Duration::from_millis(50));
        }
        done.store(true, Ordering::Relaxed);
        let (accepted, refused) = flooders
            .into_iter()
            .map(|handle| handle.join().expect("flooder"))
            .fold((0, 0), |sum, each| (sum.0 + each.0, sum.1 + each.1));
        (accepted, refused, 200)
    });
    let elapsed = started.elapsed().as_secs_f64();
    assert!(flood_refused > 0, "the flood was never refused");
    // The bucket admits its burst plus the rate over the time it ran.
    let bound = 100.0 + 100.0 * elapsed + 50.0;
    assert!(
        (flood_accepted as f64) <= bound,
        "{flood_accepted} lines accepted in {elapsed:.1} s, over the quota's {bound:.0}"
    );
    assert_eq!(stored(&server, &admin, "logs", "steady"), steady_lines);
    // Refused requests stored nothing: exactly the acknowledged lines are there.
    assert_eq!(stored(&server, &admin, "logs", "flood"), flood_accepted);

    let text = metrics(&server, &admin);
    let series = format!("timberdb_quota_key_throttled_total{{key_id=\"{flood_id}\",reason=\"lines\"}} {flood_refused}");
    assert!(text.contains(&series), "{series} not in:\n{text}");
    assert!(text.contains("timberdb_quota_throttled_total{shard=\"0\",reason=\"lines\"}"));
}

#[test]
fn bytes_and_bursts_and_every_protocol_refuses_whole_requests() {
    let dir = tempfile::tempdir().expect("dir");
    let (server, admin) = start_with_auth(&dir.path().join("data"), 2, &[]);
    create_partition(&server, &admin, "logs");

    // A burst lets a spike of three seconds' worth through at once, and no more.
    let (_, spiky) = key_with_quota(
        &server,
        &admin,
        "ingest",
        json!({"lines_per_second": 10, "burst_seconds": 3}),
    );
    assert_eq!(
        ingest(&server, &spiky, "logs", &lines("spike", 0, 30, 0)).status,
        200
    );
    let refused = ingest(&server, &spiky, "logs", &lines("spike", 30, 10, 0));
    assert_quota_429(&refused);
    let too_big = ingest(&server, &spiky, "logs", &lines("spike", 40, 31, 0));
    assert_eq!(too_big.status, 413, "{}", too_big.text());
    assert_eq!(too_big.error_code(), "quota_burst_exceeded");
    // The bucket refills at its rate: a line goes through again soon.
    eventually(DEADLINE, || {
        let response = ingest(&server, &spiky, "logs", &lines("spike", 100, 1, 0));
        (response.status == 200).then_some(())
    });

    // Bytes: 1 byte a second with an hour's burst, so once spent the
    // bucket stays empty for the rest of the test.
    let (_, bytes_key) = key_with_quota(
        &server,
        &admin,
        "ingest",
        json!({"bytes_per_second": 1, "burst_seconds": 3600}),
    );
    // About 3400 of the 3600 bytes: less than any request below is left.
    let spend = lines("bytes", 0, 10, 300);
    assert!((3300..3500).contains(&spend.len()), "{}", spend.len());
    assert_eq!(ingest(&server, &bytes_key, "logs", &spend).status, 200);
    let refused = ingest(&server, &bytes_key, "logs", &lines("bytes", 10, 10, 300));
    let wait = assert_quota_429(&refused);
    assert!(wait > 60, "Retry-After {wait} is when the bytes come back");
    assert!(
        refused.error_message().contains("bytes"),
        "{}",
        refused.text()
    );

    refused_in_every_protocol(&server, &bytes_key);
    // Nothing of any refused request was stored.
    assert_eq!(stored(&server, &admin, "logs", "bytes"), 10);
    assert_eq!(stored(&server, &admin, "logs", "spike"), 31);
}

/// `key`'s bytes are spent: each protocol answers 429 in its own shape.
fn refused_in_every_protocol(server: &Server, key: &str) {
    let authorization = bearer(key);
    let auth = [("Authorization", authorization.as_str())];
    let filler = "y".repeat(400);
    let es_body = format!(
        "{}\n{}\n",
        json!({"index": {"_index": "logs"}}),
        json!({"message": format!("es {filler}"), "source": "bytes"})
    );
    let es = request_with(
        &server.addr,
        "POST",
        "/_bulk",
        &auth,
        NDJSON,
        es_body.as_bytes(),
    );
    assert_eq!(es.status, 429, "{}", es.text());
    assert_eq!(
        es.json()["error"]["type"],
        "es_rejected_execution_exception"
    );
    assert_eq!(es.json()["status"], 429);
    assert!(es.header("retry-after").is_some());

    let loki_body = json!({"streams": [{"stream": {"source": "bytes"}, "values": [["1700000000000000000", format!("loki {filler}")]]}]});
    let loki = request_with(
        &server.addr,
        "POST",
        "/loki/api/v1/push",
        &[auth[0], ("X-Scope-OrgID", "logs")],
        JSON,
        loki_body.to_string().as_bytes(),
    );
    assert_eq!(loki.status, 429, "{}", loki.text());
    assert!(loki.header("retry-after").is_some());

    let otlp_body = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": format!("otlp {filler}")}}]}]}]});
    let otlp = request_with(
        &server.addr,
        "POST",
        "/v1/logs",
        &auth,
        JSON,
        otlp_body.to_string().as_bytes(),
    );
    assert_eq!(otlp.status, 429, "{}", otlp.text());
    assert!(otlp.header("retry-after").is_some());

    let jsonline_body = format!("{}\n", json!({"_msg": format!("jsonline {filler}")}));
    let jsonline = request_with(
        &server.addr,
        "POST",
        "/insert/jsonline?partition=logs",
        &auth,
        NDJSON,
        jsonline_body.as_bytes(),
    );
    assert_eq!(jsonline.status, 429, "{}", jsonline.text());
    assert!(jsonline.header("retry-after").is_some());
}

/// Opens a tail with `key` and reads its head; the stream stays open
/// while the returned reader lives.
fn open_tail(server: &Server, key: &str) -> BufReader<TcpStream> {
    let mut stream = TcpStream::connect(&server.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let head =
        format!("GET /api/v1/tail HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n");
    stream.write_all(head.as_bytes()).expect("send");
    let mut reader = BufReader::new(stream);
    let (status, _) = read_head(&mut reader);
    assert_eq!(status, 200);
    reader
}

fn query(server: &Server, key: &str) -> Response {
    let body = json!({"partitions": ["logs"], "limit": 10}).to_string();
    with_key(server, key, "POST", "/api/v1/query", JSON, body.as_bytes())
}

#[test]
fn the_concurrent_query_cap_holds_while_a_tail_is_open() {
    let dir = tempfile::tempdir().expect("dir");
    let (server, admin) = start_with_auth(&dir.path().join("data"), 2, &[]);
    create_partition(&server, &admin, "logs");
    let (_, capped) = key_with_quota(&server, &admin, "query", json!({"concurrent_queries": 1}));
    let (_, other) = key_with_quota(&server, &admin, "query", json!({}));
    // One at a time is within the cap: each answer gives its slot back.
    for _ in 0..3 {
        assert_eq!(query(&server, &capped).status, 200);
    }
    let tail = open_tail(&server, &capped);
    let refused = query(&server, &capped);
    assert_eq!(assert_quota_429(&refused), 1);
    assert!(
        refused.error_message().contains("concurrent"),
        "{}",
        refused.text()
    );
    for path in [
        "/api/v1/tail",
        "/select/logsql/query?query=*",
        "/loki/api/v1/labels",
    ] {
        let refused = with_key(&server, &capped, "GET", path, None, b"");
        assert_quota_429(&refused);
    }
    // Another key is not affected.
    assert_eq!(query(&server, &other).status, 200);
    // Closing the tail frees the slot.
    drop(tail);
    eventually(DEADLINE, || {
        (query(&server, &capped).status == 200).then_some(())
    });
}

fn keys_list(server: &Server, admin: &str, id: &str) -> Value {
    let response = with_key(server, admin, "GET", "/api/v1/admin/keys", None, b"");
    assert_eq!(response.status, 200);
    response.json()["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|key| key["id"] == id)
        .cloned()
        .expect("the key is listed")
}

#[test]
fn a_quota_set_through_the_api_applies_at_once_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut server, admin) = start_with_auth(&dir.path().join("data"), 2, &[]);
    create_partition(&server, &admin, "logs");
    // Made by the command line, with a quota.
    let mut create = client_command(
        &server.addr,
        &[
            "keys",
            "create",
            "--role",
            "ingest",
            "--lines-per-second",
            "1000",
        ],
    );
    create.env("TIMBERDB_API_KEY", &admin);
    let output = run_piped(create);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let key = String::from_utf8(output.stdout).expect("utf-8");
    let key = key.trim().trim_matches('"').to_string();
    let id = key[4..16].to_string();
    let listed = keys_list(&server, &admin, &id);
    assert_eq!(listed["quota"]["lines_per_second"], 1000);
    assert_eq!(listed["quota_effective"]["burst_seconds"], 5);
    assert_eq!(
        ingest(&server, &key, "logs", &lines("k", 0, 5, 0)).status,
        200
    );

    // One line a second with a one-second burst: a two-line request can
    // never pass, on whichever shard takes the connection.
    let mut update = client_command(
        &server.addr,
        &[
            "keys",
            "update",
            &id,
            "--lines-per-second",
            "1",
            "--burst-seconds",
            "1",
        ],
    );
    update.env("TIMBERDB_API_KEY", &admin);
    let output = run_piped(update);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for attempt in 0..20 {
        let response = ingest(&server, &key, "logs", &lines("k", 100 + attempt, 2, 0));
        assert_eq!(
            response.status,
            413,
            "attempt {attempt}: {}",
            response.text()
        );
        assert_eq!(response.error_code(), "quota_burst_exceeded");
    }

    server.restart();
    let listed = keys_list(&server, &admin, &id);
    assert_eq!(
        listed["quota"],
        json!({"lines_per_second": 1, "burst_seconds": 1})
    );
    let response = ingest(&server, &key, "logs", &lines("k", 200, 2, 0));
    assert_eq!(response.status, 413, "after restart: {}", response.text());

    // Back to the default (unlimited) through the API.
    let patch = json!({"quota": null}).to_string();
    let path = format!("/api/v1/admin/keys/{id}");
    let cleared = with_key(&server, &admin, "PATCH", &path, JSON, patch.as_bytes());
    assert_eq!(cleared.status, 200, "{}", cleared.text());
    assert_eq!(cleared.json()["quota"], json!({}));
    assert_eq!(
        ingest(&server, &key, "logs", &lines("k", 300, 50, 0)).status,
        200
    );
    assert_eq!(stored(&server, &admin, "logs", "k"), 55);

    // Bad settings are refused by name.
    let bad = json!({"quota": {"burst_seconds": 0}}).to_string();
    let response = with_key(&server, &admin, "PATCH", &path, JSON, bad.as_bytes());
    assert_eq!(response.status, 400);
    assert!(
        response.error_message().contains("burst_seconds"),
        "{}",
        response.text()
    );
    let missing = with_key(
        &server,
        &admin,
        "PATCH",
        "/api/v1/admin/keys/0123456789ab",
        JSON,
        patch.as_bytes(),
    );
    assert_eq!(missing.status, 404);
}

#[test]
fn the_default_quota_applies_to_keys_and_not_with_auth_off() {
    let dir = tempfile::tempdir().expect("dir");
    let env = [
        ("TIMBERDB_QUOTAS_LINES_PER_SECOND", "1"),
        ("TIMBERDB_QUOTAS_BURST_SECONDS", "1"),
    ];
    let (server, admin) = start_with_auth(&dir.path().join("data"), 2, &env);
    create_partition(&server, &admin, "logs");
    let (_, plain) = key_with_quota(&server, &admin, "ingest", json!({}));
    let response = ingest(&server, &plain, "logs", &lines("d", 0, 2, 0));
    assert_eq!(response.status, 413, "the default: {}", response.text());
    let (_, exempt) = key_with_quota(&server, &admin, "ingest", json!({"lines_per_second": 0}));
    assert_eq!(
        ingest(&server, &exempt, "logs", &lines("d", 0, 2, 0)).status,
        200
    );
    drop(server);

    let open = Server::builder()
        .arg("--shards")
        .arg("2")
        .env("TIMBERDB_QUOTAS_LINES_PER_SECOND", "1")
        .env("TIMBERDB_QUOTAS_BURST_SECONDS", "1")
        .start();
    open.create_partition("logs");
    assert_eq!(open.post_ndjson("logs", &lines("d", 0, 20, 0)).status, 200);
    assert!(open.stderr().contains("auth is off"), "{}", open.stderr());
}
