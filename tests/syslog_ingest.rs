//! Syslog over TCP (newline and octet-counting framing) and UDP, RFC 3164
//! and RFC 5424, read back through the query API; bad and over-long frames.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::Server;
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(30);

/// A server taking syslog on a free loopback port (TCP and UDP alike).
fn syslog_server() -> (Server, String) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let server = Server::builder()
        .env("TIMBERDB_SYSLOG_TCP_LISTEN", &addr)
        .env("TIMBERDB_SYSLOG_UDP_LISTEN", &addr)
        .start();
    (server, addr)
}

/// A port free for both TCP and UDP right now.
fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let port = tcp.local_addr().expect("addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Entries of the syslog partition, oldest first, once there are `count`.
fn wait_for_entries(server: &Server, count: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let response = server.post_json(
            "/api/v1/query/execute",
            &json!({"partitions": ["syslog"], "order": "asc", "limit": 100_000}),
        );
        if response.status == 200 {
            let entries = response.json()["entries"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if entries.len() >= count {
                return entries;
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "expected {count} syslog entries; last answer {} {}",
            response.status,
            response.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn by_message<'a>(entries: &'a [Value], message: &str) -> &'a Value {
    entries
        .iter()
        .find(|entry| entry["message"] == message)
        .unwrap_or_else(|| panic!("no entry with message {message:?} in {entries:#?}"))
}

/// The sum over shards of a series, of the lines that also hold `label`.
fn metric(server: &Server, name: &str, label: &str) -> u64 {
    let text = server.get("/metrics").text();
    text.lines()
        .filter(|line| line.starts_with(name) && line.contains(label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn octet(message: &str) -> String {
    format!("{} {message}", message.len())
}

#[test]
fn tcp_takes_both_framings_and_both_formats() {
    let (server, addr) = syslog_server();
    let rfc5424 = r#"<165>1 2003-10-11T22:14:15.003-07:00 mymachine evntslog 8710 ID47 [exampleSDID@32473 iut="3" eventSource="Application"] five four two four"#;
    let syslog_ng = "<38>1 2026-01-02T03:04:05Z ng-host ngapp - - - counted with newline\n";
    let mut stream = TcpStream::connect(&addr).expect("connect");
    let mut sent = String::new();
    sent.push_str("<13>Dec  3 08:19:11 host-a app[123]: newline framed 3164\n");
    sent.push_str(&octet(rfc5424));
    sent.push_str(&octet(syslog_ng));
    sent.push_str("<11>Oct  1 00:00:00 host-b crlf: ends in crlf\r\n");
    sent.push_str("just a line that is not syslog\n");
    stream.write_all(sent.as_bytes()).expect("send");
    // The last line has no newline: the end of the stream ends it.
    stream
        .write_all(b"<15>1 - - - - - - unterminated at close")
        .expect("send");
    drop(stream);
    let entries = wait_for_entries(&server, 6);
    assert_eq!(entries.len(), 6, "{entries:#?}");

    let entry = by_message(&entries, "newline framed 3164");
    assert_eq!(entry["source"], "host-a");
    assert_eq!(entry["level"], "info");
    assert_eq!(
        entry["tags"],
        json!({"facility": "user", "severity": "notice", "app": "app", "procid": "123"})
    );

    let entry = by_message(&entries, "five four two four");
    assert_eq!(entry["timestamp_ns"], 1_065_935_655_003_000_000i64);
    assert_eq!(entry["source"], "mymachine");
    assert_eq!(entry["tags"]["msgid"], "ID47");
    assert_eq!(entry["tags"]["facility"], "local4");
    assert_eq!(
        entry["fields"],
        json!({"exampleSDID@32473": {"iut": "3", "eventSource": "Application"}})
    );

    let entry = by_message(&entries, "counted with newline");
    assert_eq!(entry["source"], "ng-host");
    assert_eq!(entry["level"], "info");

    let entry = by_message(&entries, "ends in crlf");
    assert_eq!(entry["level"], "error");
    assert_eq!(entry["tags"]["app"], "crlf");

    let entry = by_message(&entries, "just a line that is not syslog");
    assert_eq!(entry["level"], "info");
    assert_eq!(entry["source"], "127.0.0.1");
    assert_eq!(entry["tags"], json!({}));

    let entry = by_message(&entries, "unterminated at close");
    assert_eq!(entry["level"], "debug");

    assert_eq!(metric(&server, "timberdb_syslog_messages_total", ""), 6);
    assert_eq!(
        metric(
            &server,
            "timberdb_syslog_errors_total",
            "reason=\"not_syslog\""
        ),
        1
    );
}

#[test]
fn udp_takes_one_message_per_datagram() {
    let (server, addr) = syslog_server();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for datagram in [
        "<14>Dec  3 08:19:11 udp-host logger: over udp 3164",
        "<12>1 2026-12-03T08:19:11.5Z udp-host app 9 - - over udp 5424\n",
        "not syslog over udp",
    ] {
        socket.send_to(datagram.as_bytes(), &addr).expect("send");
    }
    let entries = wait_for_entries(&server, 3);
    assert_eq!(by_message(&entries, "over udp 3164")["source"], "udp-host");
    let entry = by_message(&entries, "over udp 5424");
    assert_eq!(entry["level"], "warn");
    assert_eq!(entry["timestamp_ns"], 1_796_285_951_500_000_000i64);
    by_message(&entries, "not syslog over udp");
    assert!(
        server
            .get("/metrics")
            .text()
            .contains("transport=\"udp\"} "),
        "udp series in /metrics"
    );
}

#[test]
fn over_long_octet_frame_closes_the_connection_after_storing_what_came_before() {
    let (server, addr) = syslog_server();
    let mut stream = TcpStream::connect(&addr).expect("connect");
    let before = octet("<13>1 - h a - - - before the long frame");
    let long = format!("{} <13>1 - h a - - - ", 1_000_000);
    stream
        .write_all(format!("{before}{long}").as_bytes())
        .expect("send");
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout");
    let mut rest = Vec::new();
    // The server closes the connection: the read ends (0 bytes or reset).
    let _ = stream.read_to_end(&mut rest);
    let entries = wait_for_entries(&server, 1);
    assert_eq!(entries.len(), 1);
    by_message(&entries, "before the long frame");
    assert_eq!(
        metric(
            &server,
            "timberdb_syslog_errors_total",
            "reason=\"frame_too_long\""
        ),
        1
    );
}

#[test]
fn over_long_line_is_cut_and_the_next_line_kept() {
    let (server, addr) = syslog_server();
    let mut stream = TcpStream::connect(&addr).expect("connect");
    let long_line = "x".repeat(100_000);
    stream
        .write_all(format!("{long_line}\n<13>1 - h a - - - after the cut\n").as_bytes())
        .expect("send");
    drop(stream);
    let entries = wait_for_entries(&server, 2);
    assert_eq!(entries.len(), 2);
    by_message(&entries, "after the cut");
    let cut = entries
        .iter()
        .find(|entry| entry["message"] != "after the cut")
        .expect("the cut line");
    assert_eq!(
        cut["message"].as_str().map(str::len),
        Some(64 * 1024),
        "cut at max_message_size_bytes"
    );
    let truncated = metric(
        &server,
        "timberdb_syslog_errors_total",
        "reason=\"message_truncated\"",
    );
    assert_eq!(truncated, 1);
}

#[test]
fn messages_survive_a_graceful_restart_and_listeners_come_back() {
    let (mut server, addr) = syslog_server();
    let mut stream = TcpStream::connect(&addr).expect("connect");
    stream
        .write_all(b"<13>1 - h a - - - before restart\n")
        .expect("send");
    wait_for_entries(&server, 1);
    // The open connection must not hold the shutdown up.
    let status = server.terminate();
    assert!(status.success(), "graceful exit: {status:?}");
    drop(stream);
    server.start_again();
    let mut stream = TcpStream::connect(&addr).expect("connect after restart");
    stream
        .write_all(b"<13>1 - h a - - - after restart\n")
        .expect("send");
    drop(stream);
    let entries = wait_for_entries(&server, 2);
    by_message(&entries, "before restart");
    by_message(&entries, "after restart");
}
