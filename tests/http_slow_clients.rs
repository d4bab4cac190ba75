//! Slow and idle clients (`[connections]`): a head trickled past the header
//! timeout is answered 408, a stalled body 408, an idle keep-alive
//! connection is closed, a live tail that has nothing to send is not, a
//! client past its address's connection cap gets 429 (503 past the shard's),
//! the same timeouts hold over TLS, and thousands of half-open connections
//! neither stop a normal client nor keep their memory once they close.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{eventually, read_response, Server};
use serde_json::json;

/// Every wait in these tests: generous for a busy two-core machine.
const DEADLINE: Duration = Duration::from_secs(60);

fn server_with(env: &[(&str, &str)]) -> Server {
    let mut builder = Server::builder().arg("--shards").arg("1");
    for (name, value) in env {
        builder = builder.env(name, value);
    }
    builder.start()
}

/// Short timeouts: one second for heads, bodies and idle connections.
fn short_timeouts() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TIMBERDB_CONNECTIONS_HEADER_READ_TIMEOUT_MS", "1000"),
        ("TIMBERDB_CONNECTIONS_BODY_READ_TIMEOUT_MS", "1000"),
        ("TIMBERDB_CONNECTIONS_IDLE_TIMEOUT_MS", "1000"),
    ]
}

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(&server.addr).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    stream
}

/// A new connection with a keep-alive `GET /health` sent on it, unread.
fn send_health(server: &Server) -> TcpStream {
    let mut stream = connect(server);
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    stream
}

/// Reads until the server closes the connection; the bytes it sent last.
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => rest,
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => rest,
        Err(error) => panic!("the server did not close the connection: {error}"),
    }
}

/// The sum over shards of one series of `/metrics` whose labels contain `labels`.
fn metric(server: &Server, name: &str, labels: &str) -> u64 {
    let text = server.get("/metrics").text();
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(labels))
        .map(|line| {
            line.rsplit(' ')
                .next()
                .expect("value")
                .parse::<u64>()
                .expect("number")
        })
        .sum()
}

#[test]
fn a_trickled_head_is_answered_408_and_closed() {
    let server = server_with(&short_timeouts());
    let mut stream = connect(&server);
    let mut writer = stream.try_clone().expect("clone");
    // One byte every 100 ms: progress, but a head that never ends in time.
    let trickle = std::thread::spawn(move || {
        for byte in b"POST /api/v1/partitions HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if writer.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let response = read_response(&mut stream);
    assert_eq!(response.status, 408, "{}", response.text());
    assert_eq!(response.error_code(), "header_timeout");
    assert_eq!(response.header("connection"), Some("close"));
    read_until_closed(&mut stream);
    trickle.join().expect("trickle");
    let cut = metric(
        &server,
        "timberdb_http_connections_timed_out_total",
        "header_read",
    );
    assert!(cut >= 1, "{cut}");
}

#[test]
fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let server = server_with(&short_timeouts());
    let mut stream = connect(&server);
    assert!(
        read_until_closed(&mut stream).is_empty(),
        "closed without a word"
    );
}

#[test]
fn a_stalled_body_is_answered_408() {
    let server = server_with(&short_timeouts());
    server.create_partition("slow");
    let mut stream = connect(&server);
    let head = "POST /api/v1/partitions/slow/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n";
    stream.write_all(head.as_bytes()).expect("head");
    stream
        .write_all(b"{\"message\":\"par")
        .expect("part of the body");
    let response = read_response(&mut stream);
    assert_eq!(response.status, 408, "{}", response.text());
    assert_eq!(response.error_code(), "body_timeout");
    assert_eq!(response.header("connection"), Some("close"));
    read_until_closed(&mut stream);
    let cut = metric(
        &server,
        "timberdb_http_connections_timed_out_total",
        "body_read",
    );
    assert!(cut >= 1, "{cut}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let server = server_with(&short_timeouts());
    let mut stream = send_health(&server);
    let response = read_response(&mut stream);
    assert_eq!(response.status, 200);
    assert!(read_until_closed(&mut stream).is_empty());
    let cut = metric(
        &server,
        "timberdb_http_connections_timed_out_total",
        "\"idle\"",
    );
    assert!(cut >= 1, "{cut}");
}

#[test]
fn a_live_tail_is_not_cut_while_it_has_nothing_to_send() {
    let server = server_with(&short_timeouts());
    server.create_partition("app");
    let mut tail = connect(&server);
    tail.write_all(b"GET /api/v1/tail?partitions=app HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("tail");
    let mut tail = BufReader::new(tail);
    let (status, _) = common::read_head(&mut tail);
    assert_eq!(status, 200);
    // Proof that more than the idle timeout has passed: an idle connection
    // opened after the tail is closed, twice over.
    for _ in 0..2 {
        let mut idle = send_health(&server);
        assert_eq!(read_response(&mut idle).status, 200);
        read_until_closed(&mut idle);
    }
    let response = server.ingest_ndjson("app", &[json!({"message": "still-following"})]);
    assert_eq!(response.status, 200, "{}", response.text());
    let mut line = String::new();
    loop {
        line.clear();
        let read = tail.read_line(&mut line).expect("the tail is still open");
        assert!(read > 0, "the tail was closed");
        if line.contains("still-following") {
            break;
        }
    }
}

#[test]
fn connections_past_the_per_address_cap_get_429_until_one_closes() {
    let server = server_with(&[("TIMBERDB_CONNECTIONS_MAX_PER_ADDRESS", "2")]);
    let held: Vec<TcpStream> = (0..2).map(|_| keep_alive_health(&server)).collect();
    let mut refused = send_health(&server);
    let response = read_response(&mut refused);
    assert_eq!(response.status, 429, "{}", response.text());
    assert_eq!(response.error_code(), "too_many_connections");
    assert!(response.header("retry-after").is_some());
    drop(held);
    // Once the server has seen a close, a new client is served again.
    eventually(DEADLINE, || {
        let mut stream = connect(&server);
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ok()?;
        (read_response(&mut stream).status == 200).then_some(())
    });
    let count = metric(
        &server,
        "timberdb_http_connections_refused_total",
        "max_per_address",
    );
    assert!(count >= 1, "{count}");
}

#[test]
fn connections_past_the_per_shard_cap_get_503() {
    let server = server_with(&[("TIMBERDB_CONNECTIONS_MAX_PER_SHARD", "2")]);
    let _held: Vec<TcpStream> = (0..2).map(|_| keep_alive_health(&server)).collect();
    let mut refused = send_health(&server);
    let response = read_response(&mut refused);
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(response.error_code(), "connection_limit");
    assert!(response.header("retry-after").is_some());
}

/// A connection that has been served one request and is kept open.
fn keep_alive_health(server: &Server) -> TcpStream {
    let mut stream = send_health(server);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte to the end of the (small, Content-Length) response.
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).expect("response"), 1);
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    let length: usize = text
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .expect("content-length");
    let mut body = vec![0; length];
    stream.read_exact(&mut body).expect("body");
    stream
}

#[test]
fn a_half_sent_head_over_tls_is_answered_408() {
    use common::tls::{client_config, TestCa, TlsClient, Version};
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("TimberDB test CA");
    let (cert, key) = ca.server_cert().write(dir.path(), "server");
    let mut builder = Server::builder().arg("--shards").arg("1");
    for (name, value) in common::tls::tls_env(&cert, &key).into_iter() {
        builder = builder.env(name, &value);
    }
    for (name, value) in short_timeouts() {
        builder = builder.env(name, value);
    }
    let server = builder.start();
    let config = client_config(&ca.cert_pem(), Version::Both, None);
    let mut client = TlsClient::connect(&server.addr, config).expect("TLS handshake");
    assert_eq!(client.get("/health").expect("health").status, 200);
    client
        .write_raw(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .expect("half a head");
    let response = client.read_response().expect("an answer");
    assert_eq!(response.status, 408, "{}", response.text());
    assert_eq!(response.error_code(), "header_timeout");
}

/// The server's resident memory, from `/proc/PID/status`.
fn rss_bytes(server: &Server) -> u64 {
    let pid = server.child.as_ref().expect("running").id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// Raises this process's open-file limit to its hard limit (the server
/// started after inherits it); the number of connections that fit.
fn raise_open_file_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a struct this function owns.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
    }
    limit.rlim_cur as usize
}

#[test]
fn thousands_of_half_open_connections_neither_block_clients_nor_keep_memory() {
    let room = raise_open_file_limit().saturating_sub(256);
    let attackers = room.min(3000);
    assert!(attackers >= 1000, "open-file limit too low: {room}");
    // Timeouts long enough that the attackers stay for the whole test.
    let server = Server::builder()
        .arg("--shards")
        .arg("2")
        .env("TIMBERDB_CONNECTIONS_HEADER_READ_TIMEOUT_MS", "600000")
        .env("TIMBERDB_CONNECTIONS_MAX_PER_ADDRESS", "100000")
        .env("TIMBERDB_CONNECTIONS_MAX_PER_SHARD", "100000")
        .start();
    server.create_partition("app");
    let lines: Vec<_> = (0..200)
        .map(|i| json!({"message": format!("before {i}")}))
        .collect();
    assert_eq!(server.ingest_ndjson("app", &lines).status, 200);
    let before = rss_bytes(&server);

    let mut half_open = Vec::with_capacity(attackers);
    for _ in 0..attackers {
        let mut stream = TcpStream::connect(&server.addr).expect("connect");
        stream
            .write_all(b"POST /api/v1/partitions/app/logs HTTP/1.1\r\nHost: x\r\nContent-Le")
            .expect("half a head");
        half_open.push(stream);
    }
    eventually(DEADLINE, || {
        (metric(&server, "timberdb_http_connections_open", "") >= attackers as u64).then_some(())
    });
    let during = rss_bytes(&server);

    // A normal client is served meanwhile.
    let started = Instant::now();
    let lines: Vec<_> = (0..200)
        .map(|i| json!({"message": format!("during {i}")}))
        .collect();
    let response = server.ingest_ndjson("app", &lines);
    assert_eq!(response.status, 200, "{}", response.text());
    let found = server.query(&json!({"partitions": ["app"], "q": "during", "limit": 1000}));
    assert_eq!(found["returned_count"], 200, "{found}");
    let served_in = started.elapsed();

    drop(half_open);
    eventually(DEADLINE, || {
        (metric(&server, "timberdb_http_connections_open", "") <= 2).then_some(())
    });
    let after = eventually(DEADLINE, || {
        let rss = rss_bytes(&server);
        (rss <= before + 64 * 1024 * 1024).then_some(rss)
    });
    eprintln!(
        "{attackers} half-open connections: RSS before {} MiB, during {} MiB ({} bytes each), after {} MiB; a normal client was served in {served_in:?}",
        before >> 20,
        during >> 20,
        during.saturating_sub(before) / attackers as u64,
        after >> 20
    );
}
