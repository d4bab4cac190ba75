//! Live tail (`/api/v1/tail`) against the real binary: new entries reach a
//! running tail, the filter holds, SSE framing, `since` replays then
//! continues without repeats, a client that stops reading gets
//! `{"dropped": N}` (and every match is either sent or counted), a
//! disconnect frees the stream on every shard, shutdown ends streams
//! cleanly, and bad requests get 400/404.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{connect_with_small_window, eventually, header, read_head, Server};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(30);

/// A tail's response, read incrementally: the chunked body is decoded and
/// handed out line by line.
struct Tail {
    reader: BufReader<TcpStream>,
    status: u16,
    headers: Vec<(String, String)>,
    /// Body bytes decoded but not yet handed out as lines.
    pending: Vec<u8>,
    ended: bool,
}

impl Tail {
    fn open(server: &Server, path_and_query: &str, accept: Option<&str>) -> Tail {
        let stream = TcpStream::connect(&server.addr).unwrap();
        Tail::open_on(stream, path_and_query, accept)
    }

    fn open_on(mut stream: TcpStream, path_and_query: &str, accept: Option<&str>) -> Tail {
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let accept = accept
            .map(|value| format!("Accept: {value}\r\n"))
            .unwrap_or_default();
        let head = format!("GET {path_and_query} HTTP/1.1\r\nHost: x\r\n{accept}\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let (status, headers) = read_head(&mut reader);
        Tail {
            reader,
            status,
            headers,
            pending: Vec::new(),
            ended: false,
        }
    }

    /// Decodes one chunk into `pending`; false at the body's end.
    fn read_chunk(&mut self) -> bool {
        let mut size_line = String::new();
        if self.reader.read_line(&mut size_line).unwrap() == 0 {
            self.ended = true;
            return false;
        }
        let size = usize::from_str_radix(size_line.trim(), 16).unwrap();
        if size == 0 {
            self.ended = true;
            return false;
        }
        let start = self.pending.len();
        self.pending.resize(start + size, 0);
        self.reader.read_exact(&mut self.pending[start..]).unwrap();
        let mut crlf = [0u8; 2];
        self.reader.read_exact(&mut crlf).unwrap();
        true
    }

    /// The next `\n`-terminated line (without it), or `None` at the end.
    fn next_line(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return Some(String::from_utf8(line[..end].to_vec()).unwrap());
            }
            if !self.read_chunk() {
                return None;
            }
        }
    }

    /// The next NDJSON line that is not a heartbeat.
    fn next_json(&mut self) -> Option<Value> {
        loop {
            let line = self.next_line()?;
            let value: Value = serde_json::from_str(&line).unwrap();
            if value.get("heartbeat").is_none() {
                return Some(value);
            }
        }
    }
}

fn line(message: &str, level: &str) -> Value {
    json!({"message": message, "level": level, "source": "app", "tags": {"k": "v"}})
}

fn ingest(server: &Server, partition: &str, lines: &[Value]) {
    let response = server.ingest_ndjson(partition, lines);
    assert!(
        response.status == 200 || response.status == 201,
        "ingest: {} {}",
        response.status,
        response.text()
    );
}

/// The sum over shards of one metric, from `/metrics`.
fn metric_sum(server: &Server, name: &str) -> u64 {
    let text = server.get("/metrics").text();
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

fn wait_for_subscribers(server: &Server, count: u64) {
    eventually(DEADLINE, || {
        (metric_sum(server, "timberdb_tail_subscribers") == count).then_some(())
    });
}

#[test]
fn new_entries_reach_a_running_tail_and_the_filter_holds() {
    let server = Server::builder().arg("--shards").arg("2").start();
    server.create_partition("app");
    let mut tail = Tail::open(&server, "/api/v1/tail?q=level%3Aerror", None);
    assert_eq!(tail.status, 200);
    assert_eq!(
        header(&tail.headers, "content-type"),
        "application/x-ndjson"
    );
    wait_for_subscribers(&server, 2);
    ingest(&server, "app", &[line("not for the tail", "info")]);
    ingest(&server, "app", &[line("disk on fire", "error")]);
    let entry = tail.next_json().unwrap();
    // The info line came first and was skipped by the filter.
    assert_eq!(entry["message"], "disk on fire");
    assert_eq!(entry["level"], "error");
    assert_eq!(entry["partition"], "app");
    // The shape of a query's entries.
    let stored = server.query(&json!({"q": "level:error"}));
    assert_eq!(entry, stored["entries"][0]);
}

#[test]
fn partitions_are_followed_by_name_and_post_takes_a_query_body() {
    let server = Server::builder().arg("--shards").arg("2").start();
    server.create_partition("a");
    server.create_partition("b");
    let body = json!({"partitions": ["b"], "filter": {"message_contains": "PICK"}}).to_string();
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let head = format!(
        "POST /api/v1/tail HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader);
    assert_eq!(status, 200);
    let mut tail = Tail {
        reader,
        status,
        headers,
        pending: Vec::new(),
        ended: false,
    };
    wait_for_subscribers(&server, 2);
    ingest(&server, "a", &[line("PICK but wrong partition", "info")]);
    ingest(&server, "b", &[line("skip me", "info")]);
    ingest(&server, "b", &[line("PICK me", "info")]);
    let entry = tail.next_json().unwrap();
    assert_eq!(entry["message"], "PICK me");
    assert_eq!(entry["partition"], "b");
}

#[test]
fn sse_frames_each_entry_as_a_data_event() {
    let server = Server::builder().arg("--shards").arg("2").start();
    server.create_partition("app");
    let mut by_param = Tail::open(&server, "/api/v1/tail?format=sse", None);
    let mut by_accept = Tail::open(&server, "/api/v1/tail", Some("text/event-stream"));
    for tail in [&by_param, &by_accept] {
        assert_eq!(tail.status, 200);
        assert_eq!(header(&tail.headers, "content-type"), "text/event-stream");
        assert_eq!(header(&tail.headers, "cache-control"), "no-cache");
    }
    wait_for_subscribers(&server, 4);
    ingest(
        &server,
        "app",
        &[line("first", "info"), line("second", "warn")],
    );
    for tail in [&mut by_param, &mut by_accept] {
        for expected in ["first", "second"] {
            let data = tail.next_line().unwrap();
            let json_text = data.strip_prefix("data: ").expect("a data field");
            let entry: Value = serde_json::from_str(json_text).unwrap();
            assert_eq!(entry["message"], expected);
            assert_eq!(
                tail.next_line().unwrap(),
                "",
                "an event ends with a blank line"
            );
        }
    }
}

#[test]
fn since_replays_the_window_then_continues_live_without_repeats() {
    let server = Server::builder().arg("--shards").arg("2").start();
    server.create_partition("app");
    let old = json!({"message": "too old", "timestamp": "2001-01-01T00:00:00Z"});
    ingest(&server, "app", &[old]);
    let before: Vec<Value> = (0..50)
        .map(|i| line(&format!("before {i}"), "info"))
        .collect();
    ingest(&server, "app", &before);
    // Ingest keeps running while the tail starts, so entries land on both
    // sides of the seam between look-back and live.
    let addr_server = &server;
    let during_count = 200;
    let tail = std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            for i in 0..during_count {
                ingest(addr_server, "app", &[line(&format!("during {i}"), "info")]);
            }
        });
        std::thread::sleep(Duration::from_millis(20));
        let tail = Tail::open(addr_server, "/api/v1/tail?since=1h", None);
        writer.join().unwrap();
        tail
    });
    let mut tail = tail;
    assert_eq!(tail.status, 200);
    ingest(&server, "app", &[line("after", "info")]);
    let mut seen_ids = HashSet::new();
    let mut messages = Vec::new();
    while messages.last().map(String::as_str) != Some("after") {
        let entry = tail.next_json().unwrap();
        assert!(entry.get("dropped").is_none(), "nothing may drop: {entry}");
        let id = format!("{}/{}", entry["partition"], entry["id"]);
        assert!(seen_ids.insert(id.clone()), "{id} was sent twice");
        messages.push(entry["message"].as_str().unwrap().to_string());
    }
    assert!(
        !messages.iter().any(|m| m == "too old"),
        "outside the window"
    );
    // Every entry exactly once: 50 before, all written during, the last.
    assert_eq!(messages.len(), 50 + during_count + 1);
    // The look-back comes oldest first, ahead of the live part.
    assert_eq!(messages[0], "before 0");
    assert_eq!(messages[49], "before 49");
    let during: HashSet<_> = messages[50..50 + during_count].iter().collect();
    assert_eq!(during.len(), during_count);
}

#[test]
fn a_client_that_stops_reading_gets_dropped_counts_and_memory_stays_bounded() {
    let server = Server::builder().arg("--shards").arg("2").start();
    server.create_partition("app");
    // A small receive window: the server's writes stall after a few
    // hundred kilobytes at most, while the shards keep publishing.
    let stream = connect_with_small_window(&server.addr, 4096);
    let mut tail = Tail::open_on(stream, "/api/v1/tail?q=level%3Aerror", None);
    assert_eq!(tail.status, 200);
    wait_for_subscribers(&server, 2);
    let pid = server.child.as_ref().unwrap().id();
    let rss_before = rss_kib(pid);
    let filler = "x".repeat(900);
    let batches = 60;
    let per_batch = 1000;
    for batch in 0..batches {
        let lines: Vec<Value> = (0..per_batch)
            .map(|i| line(&format!("{batch}-{i} {filler}"), "error"))
            .collect();
        ingest(&server, "app", &lines);
        // Non-matching lines cost the tail nothing.
        ingest(&server, "app", &[line("ignored", "info")]);
    }
    let matching = (batches * per_batch) as u64;
    // About 60 MB of matching JSON was published; the stream holds at
    // most its 256 KiB buffer and a few chunks of it.
    let rss_growth_kib = rss_kib(pid).saturating_sub(rss_before);
    // Now read: what was buffered, then the report of what was dropped.
    let mut delivered = 0u64;
    let mut dropped = 0u64;
    let started = Instant::now();
    while delivered + dropped < matching {
        assert!(
            started.elapsed() < DEADLINE,
            "{delivered} + {dropped} of {matching}"
        );
        let value = tail.next_json().unwrap();
        match value.get("dropped") {
            Some(count) => dropped += count.as_u64().unwrap(),
            None => {
                assert_eq!(value["level"], "error");
                delivered += 1;
            }
        }
    }
    // Every match was either sent or counted as dropped, exactly.
    assert_eq!(delivered + dropped, matching);
    assert!(dropped > 0, "a stalled client must have dropped entries");
    assert_eq!(
        metric_sum(&server, "timberdb_tail_entries_dropped_total"),
        dropped
    );
    // The active blocks hold the ingested data whatever the tail does;
    // what must not happen is the tail's backlog growing with it.
    assert!(
        rss_growth_kib < 200 * 1024,
        "the server grew by {rss_growth_kib} KiB while a tail was stalled"
    );
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_disconnect_frees_the_stream_on_every_shard() {
    let server = Server::builder().arg("--shards").arg("2").start();
    server.create_partition("app");
    let tails: Vec<Tail> = (0..3)
        .map(|_| Tail::open(&server, "/api/v1/tail?q=level%3Aerror&since=5m", None))
        .collect();
    // Each stream registers on both shards.
    wait_for_subscribers(&server, 6);
    drop(tails);
    wait_for_subscribers(&server, 0);
    // Ingest still works and nothing is left to publish to.
    ingest(&server, "app", &[line("after", "error")]);
    assert_eq!(metric_sum(&server, "timberdb_tail_entries_sent_total"), 0);
}

#[test]
fn shutdown_ends_a_stream_cleanly() {
    let mut server = Server::builder().arg("--shards").arg("2").start();
    server.create_partition("app");
    let mut tail = Tail::open(&server, "/api/v1/tail", None);
    wait_for_subscribers(&server, 2);
    ingest(&server, "app", &[line("last words", "info")]);
    assert_eq!(tail.next_json().unwrap()["message"], "last words");
    let status = server.terminate();
    assert!(status.success());
    // The body ends with the chunked terminator, not a reset.
    assert!(tail.next_json().is_none());
    assert!(tail.ended);
}

#[test]
fn bad_requests_are_refused() {
    let server = Server::builder().arg("--shards").arg("2").start();
    server.create_partition("app");
    let cases = [
        ("/api/v1/tail?q=level%3A", 400, "invalid_query"),
        ("/api/v1/tail?since=yesterday", 400, "invalid_query"),
        ("/api/v1/tail?format=csv", 400, "invalid_query"),
        (
            "/api/v1/tail?q=SELECT%20level%2C%20count(*)%20FROM%20app%20GROUP%20BY%20level",
            400,
            "invalid_query",
        ),
        ("/api/v1/tail?limit=5", 400, "invalid_query"),
        ("/api/v1/tail?partitions=nope", 404, "partition_not_found"),
    ];
    for (path, status, code) in cases {
        let response = server.get(path);
        assert_eq!(response.status, status, "{path}: {}", response.text());
        assert_eq!(response.error_code(), code, "{path}");
        assert!(!response.error_message().is_empty());
    }
    let response = server.post_json("/api/v1/tail", &json!({"q": "x", "limit": 10}));
    assert_eq!(response.status, 400);
    assert!(response.error_message().contains("limit"));
    let response = server.post_json("/api/v1/tail", &json!({"colour": "red"}));
    assert_eq!(response.status, 400);
    let response = server.post_json_bytes("/api/v1/tail", b"{not json");
    assert_eq!(response.status, 400);
    let response = server.request("DELETE", "/api/v1/tail", None, b"");
    assert_eq!(response.status, 405);
    assert_eq!(metric_sum(&server, "timberdb_tail_subscribers"), 0);
}
