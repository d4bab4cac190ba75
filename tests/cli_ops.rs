//! The client subcommands that need the other parts of issue 12:
//! `tail` (GET /api/v1/tail), `snapshot` (/api/v1/admin/snapshots) and cursor paging of
//! `query` (`next` / `cursor`).

mod common;

use std::io::BufRead;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::cli::{client_command, run_on_terminal, run_on_terminal_until, run_piped, strip_ansi};
use common::Server;
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(30);

/// A running `timberdb tail` whose stdout lines arrive on a channel.
struct Tail {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Tail {
    fn start(server: &Server, args: &[&str]) -> Tail {
        let mut all = vec!["tail"];
        all.extend_from_slice(args);
        let mut child = client_command(&server.addr, &all)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start timberdb tail");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Tail { child, lines }
    }

    /// The next entry line, parsed.
    fn next(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(DEADLINE)
            .expect("a line from the tail in time");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tail_prints_matching_new_entries_as_they_arrive() {
    let server = Server::start();
    server.create_partition("app");
    server.create_partition("other");
    let tail = Tail::start(&server, &["source:web-*", "-p", "app"]);
    // Poll until the tail is connected: entries ingested before it are not expected.
    let mut sent = 0;
    let first = loop {
        sent += 1;
        let entry = json!({"source": "web-1", "message": format!("hello {sent}")});
        assert_eq!(server.ingest_ndjson("app", &[entry]).status, 200);
        if let Ok(line) = tail.lines.recv_timeout(Duration::from_millis(200)) {
            break serde_json::from_str::<Value>(&line).expect("an entry object");
        }
        assert!(sent < 150, "the tail printed nothing");
    };
    assert_eq!(first["source"], "web-1");
    assert_eq!(first["partition"], "app");
    // Entries that do not match (other source, other partition) are not printed.
    let entries = [
        json!({"source": "db-1", "message": "not this"}),
        json!({"source": "web-2", "message": "this one"}),
    ];
    assert_eq!(
        server
            .ingest_ndjson(
                "other",
                &[json!({"source": "web-9", "message": "nor this"})]
            )
            .status,
        200
    );
    assert_eq!(server.ingest_ndjson("app", &entries).status, 200);
    let mut next = tail.next();
    while next["message"].as_str().unwrap().starts_with("hello") {
        next = tail.next();
    }
    assert_eq!(next["message"], "this one");
    assert_eq!(next["source"], "web-2");
}

#[test]
fn tail_since_starts_with_the_recent_past() {
    let server = Server::start();
    server.create_partition("app");
    let entry = json!({"source": "web-1", "level": "error", "message": "before the tail"});
    assert_eq!(server.ingest_ndjson("app", &[entry]).status, 200);
    let tail = Tail::start(&server, &["level:error", "--since", "5m"]);
    assert_eq!(tail.next()["message"], "before the tail");
}

#[test]
fn tail_on_a_terminal_is_coloured() {
    let server = Server::start();
    server.create_partition("app");
    let entry = json!({"timestamp": "2026-01-01T00:00:00Z", "source": "web-1", "level": "error", "message": "boom"});
    assert_eq!(server.ingest_ndjson("app", &[entry]).status, 200);
    let command = client_command(&server.addr, &["tail", "--since", "1000d", "--utc"]);
    let run = run_on_terminal_until(command, 40, 120, "", |screen| screen.contains("boom"));
    assert!(
        run.screen.contains("\x1b[31mERROR\x1b[0m"),
        "{:?}",
        run.screen
    );
    let screen = strip_ansi(&run.screen);
    assert!(
        screen.contains("2026-01-01 00:00:00.000Z ERROR app web-1 boom"),
        "{screen}"
    );
}

#[test]
fn tail_says_when_the_server_ends_it_and_refuses_unknown_partitions() {
    let mut server = Server::start();
    server.create_partition("app");
    assert_eq!(
        server
            .ingest_ndjson("app", &[json!({"message": "m"})])
            .status,
        200
    );
    let mut tail = Tail::start(&server, &["--since", "1h"]);
    assert_eq!(tail.next()["message"], "m");
    let addr = server.addr.clone();
    assert!(server.terminate().success());
    let status = common::eventually(DEADLINE, || tail.child.try_wait().unwrap());
    // Whether the stream ends cleanly or breaks as the server goes, the line names the URL.
    assert_eq!(status.code(), Some(3));
    let mut stderr = String::new();
    std::io::Read::read_to_string(tail.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.starts_with("timberdb: the ")
            && stderr.contains(&format!("TimberDB server at http://{addr}")),
        "{stderr}"
    );

    let server = Server::start();
    let output = run_piped(client_command(&server.addr, &["tail", "-p", "nope"]));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.ends_with("(HTTP 404, partition_not_found)\n"),
        "{stderr}"
    );
}

#[test]
fn snapshots_are_created_listed_and_removed() {
    let server = Server::start();
    server.create_partition("app");
    assert_eq!(
        server
            .ingest_ndjson("app", &[json!({"message": "kept"})])
            .status,
        200
    );

    let output = run_piped(client_command(
        &server.addr,
        &["snapshot", "create", "before-upgrade"],
    ));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["name"], "before-upgrade");
    for key in ["created_at", "path", "partitions", "files", "bytes"] {
        assert!(created.get(key).is_some(), "{key} in {created}");
    }

    // Without an action, `snapshot` creates one named by the server.
    let output = run_piped(client_command(&server.addr, &["snapshot"]));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let unnamed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(unnamed["name"]
        .as_str()
        .is_some_and(|name| !name.is_empty()));

    let output = run_piped(client_command(&server.addr, &["snapshot", "ls"]));
    let listed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = listed["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|snapshot| snapshot["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"before-upgrade"), "{listed}");

    let run = run_on_terminal(
        client_command(&server.addr, &["snapshot", "ls"]),
        40,
        200,
        "",
    );
    assert!(run.status.success(), "{}", run.screen);
    let screen = strip_ansi(&run.screen);
    assert!(screen.starts_with("NAME"), "{screen}");
    assert!(screen.contains("before-upgrade"), "{screen}");

    let output = run_piped(client_command(
        &server.addr,
        &["snapshot", "rm", "before-upgrade"],
    ));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = run_piped(client_command(
        &server.addr,
        &["snapshot", "rm", "before-upgrade"],
    ));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("timberdb: ") && stderr.contains("(HTTP 404"),
        "{stderr}"
    );
}

#[test]
fn query_pages_with_cursors_past_one_page() {
    let server = Server::start();
    server.create_partition("app");
    let base_ns: i64 = 1_764_756_000_000_000_000;
    for batch in 0..5 {
        let entries: Vec<Value> = (0..5_000)
            .map(|index| {
                let number = batch * 5_000 + index;
                json!({"timestamp": base_ns + number * 1_000_000, "message": format!("entry {number}")})
            })
            .collect();
        assert_eq!(server.ingest_ndjson("app", &entries).status, 200);
    }
    // 25 000 entries: three pages of at most 10 000.
    for limit in [25_000usize, 12_345] {
        let limit_text = limit.to_string();
        let output = run_piped(client_command(
            &server.addr,
            &["query", "--asc", "-n", &limit_text],
        ));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let times: Vec<i64> = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|line| {
                serde_json::from_str::<Value>(line).unwrap()["timestamp_ns"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert_eq!(times.len(), limit);
        let expected: Vec<i64> = (0..limit as i64).map(|n| base_ns + n * 1_000_000).collect();
        assert_eq!(times, expected, "every entry once, oldest first");
    }
}
