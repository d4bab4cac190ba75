//! The client subcommands through pipes, as scripts use them: the real server, the real
//! binary, stdout read as NDJSON or JSON, exit statuses and error lines checked.

mod common;

use common::cli::{client_command, run_piped, unused_addr};
use common::Server;
use serde_json::{json, Value};

/// 2025-12-03T10:00:00Z in nanoseconds.
const BASE_NS: i64 = 1_764_756_000_000_000_000;
const SECOND_NS: i64 = 1_000_000_000;

/// A server with partition `app` holding 20 entries a second apart (levels cycling
/// info, warn, error, debug; sources web-0..web-2) and partition `db` holding one.
fn server_with_entries() -> Server {
    let server = Server::start();
    server.create_partition("app");
    server.create_partition("db");
    let levels = ["info", "warn", "error", "debug"];
    let entries: Vec<Value> = (0..20)
        .map(|index| {
            json!({
                "timestamp": BASE_NS + index * SECOND_NS,
                "level": levels[index as usize % 4],
                "source": format!("web-{}", index % 3),
                "message": format!("request {index} timeout after {} ms", index * 10),
                "tags": {"region": "eu"},
                "duration_ms": index,
            })
        })
        .collect();
    assert_eq!(server.ingest_ndjson("app", &entries).status, 200);
    let db = json!({"timestamp": BASE_NS + 100 * SECOND_NS, "source": "pg", "level": "fatal", "message": "disk full"});
    assert_eq!(server.ingest_ndjson("db", &[db]).status, 200);
    server
}

fn stdout_lines(output: &std::process::Output) -> Vec<Value> {
    assert!(
        output.status.success(),
        "status {:?}, stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone())
        .expect("utf-8")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn piped_query_prints_the_api_entry_objects_one_per_line() {
    let server = server_with_entries();
    let output = run_piped(client_command(
        &server.addr,
        &["query", "level:error timeout"],
    ));
    let lines = stdout_lines(&output);
    let expected = server.query(&json!({"q": "level:error timeout", "limit": 100}));
    assert_eq!(lines.len(), 5);
    assert_eq!(&lines, expected["entries"].as_array().unwrap());
    assert_eq!(lines[0]["fields"], json!({"duration_ms": 18}));
    assert!(output.stderr.is_empty(), "{}", stderr(&output));

    // Byte for byte the server's objects, keys in the API's order.
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with(r#"{"id":"#), "{text}");
}

#[test]
fn partitions_order_limit_and_time_range_reach_the_server() {
    let server = server_with_entries();
    let since = (BASE_NS + 5 * SECOND_NS).to_string();
    let until = "2025-12-03T10:00:09Z";
    let args = [
        "query", "-p", "app", "--asc", "--since", &since, "--until", until, "--limit", "3",
    ];
    let lines = stdout_lines(&run_piped(client_command(&server.addr, &args)));
    let seconds: Vec<i64> = lines
        .iter()
        .map(|entry| (entry["timestamp_ns"].as_i64().unwrap() - BASE_NS) / SECOND_NS)
        .collect();
    assert_eq!(seconds, [5, 6, 7]);

    // Newest first by default, over every partition.
    let lines = stdout_lines(&run_piped(client_command(
        &server.addr,
        &["query", "-n", "2"],
    )));
    assert_eq!(lines[0]["partition"], "db");
    assert_eq!(lines[1]["message"], "request 19 timeout after 190 ms");

    // A duration back from now: everything here is from 2025.
    let lines = stdout_lines(&run_piped(client_command(
        &server.addr,
        &["query", "--since", "1h"],
    )));
    assert!(lines.is_empty(), "{lines:?}");
}

#[test]
fn json_prints_the_whole_answer_and_stats_go_to_stderr() {
    let server = server_with_entries();
    let output = run_piped(client_command(
        &server.addr,
        &["query", "--json", "--stats", "-n", "2", "source:web-1"],
    ));
    let answers = stdout_lines(&output);
    assert_eq!(answers.len(), 1, "one page, one answer");
    let answer = &answers[0];
    assert_eq!(answer["returned_count"], 2);
    assert_eq!(answer["total_count"], 7);
    assert_eq!(answer["truncated"], true);
    assert!(answer["stats"]["entries_scanned"].as_u64().unwrap() >= 7);
    let report = stderr(&output);
    assert!(report.contains("execution time"), "{report}");
    assert!(
        report.contains("matching entries  7 (exact), 2 returned"),
        "{report}"
    );
    assert!(report.contains("entries scanned"), "{report}");
}

#[test]
fn count_prints_the_exact_number_of_matches() {
    let server = server_with_entries();
    let output = run_piped(client_command(
        &server.addr,
        &["query", "--count", "level:error"],
    ));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "5\n");

    let output = run_piped(client_command(&server.addr, &["query", "--count"]));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "21\n");

    let answers = stdout_lines(&run_piped(client_command(
        &server.addr,
        &["query", "--count", "--json", "-p", "db"],
    )));
    assert_eq!(answers[0]["total_count"], 1);
    assert_eq!(answers[0]["entries"], json!([]));

    // Aggregations print one object per row, keys in the columns' order.
    let output = run_piped(client_command(
        &server.addr,
        &["query", "SELECT level, count(*) FROM app GROUP BY level"],
    ));
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        text,
        "{\"level\":\"debug\",\"count(*)\":5}\n{\"level\":\"error\",\"count(*)\":5}\n\
         {\"level\":\"info\",\"count(*)\":5}\n{\"level\":\"warn\",\"count(*)\":5}\n"
    );
}

#[test]
fn one_page_is_printed_when_the_server_has_no_cursors() {
    let server = server_with_entries();
    let lines = stdout_lines(&run_piped(client_command(
        &server.addr,
        &["query", "-n", "20", "-p", "app"],
    )));
    assert_eq!(lines.len(), 20);
    let mut ids: Vec<&str> = lines
        .iter()
        .map(|entry| entry["id"].as_str().unwrap())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 20);
}

#[test]
fn partitions_are_listed_created_and_removed() {
    let server = Server::start();
    let output = run_piped(client_command(
        &server.addr,
        &[
            "partitions",
            "create",
            "web",
            "--retention-days",
            "30",
            "--tag",
            "env=prod",
            "--tag",
            "team=core",
        ],
    ));
    let created = stdout_lines(&output).remove(0);
    assert_eq!(created["name"], "web");
    assert_eq!(created["retention_days"], 30);
    assert_eq!(created["tags"], json!({"env": "prod", "team": "core"}));

    let listed = stdout_lines(&run_piped(client_command(
        &server.addr,
        &["partitions", "ls"],
    )));
    assert_eq!(listed[0]["count"], 1);
    assert_eq!(listed[0]["partitions"][0]["id"], created["id"]);

    // Without a terminal to ask on, deleting needs --yes.
    let output = run_piped(client_command(&server.addr, &["partitions", "rm", "web"]));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "timberdb: refusing to delete partition \"web\" without --yes: there is no terminal to confirm on\n"
    );
    assert_eq!(server.get("/api/v1/partitions/web").status, 200);

    let deleted = stdout_lines(&run_piped(client_command(
        &server.addr,
        &["partitions", "rm", "web", "--yes"],
    )));
    assert_eq!(
        deleted[0],
        json!({"deleted": true, "id": created["id"], "name": "web"})
    );
    assert_eq!(server.get("/api/v1/partitions/web").status, 404);

    let output = run_piped(client_command(
        &server.addr,
        &["partitions", "rm", "web", "-y"],
    ));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "timberdb: no partition has the id or name \"web\" (HTTP 404, partition_not_found)\n"
    );
}

#[test]
fn server_errors_are_one_line_with_status_and_code() {
    let server = server_with_entries();
    let cases: [(&[&str], &str); 3] = [
        (&["query", "-p", "nope"], "(HTTP 404, partition_not_found)"),
        (&["query", "level:"], "(HTTP 400, invalid_query)"),
        (
            &["partitions", "create", "bad name"],
            "(HTTP 400, invalid_name)",
        ),
    ];
    for (args, suffix) in cases {
        let output = run_piped(client_command(&server.addr, args));
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let text = stderr(&output);
        assert!(text.starts_with("timberdb: "), "{text}");
        assert!(text.ends_with(&format!("{suffix}\n")), "{args:?}: {text}");
        assert_eq!(text.lines().count(), 1, "{text}");
    }
}

#[test]
fn an_unreachable_server_is_one_sentence_naming_the_url() {
    let addr = unused_addr();
    for args in [
        &["query"][..],
        &["partitions", "ls"],
        &["tail"],
        &["snapshot", "ls"],
    ] {
        let output = run_piped(client_command(&addr, args));
        assert_eq!(output.status.code(), Some(3), "{args:?}");
        assert_eq!(
            stderr(&output),
            format!("timberdb: cannot reach the TimberDB server at http://{addr}: connection refused (is it running? the address comes from --server or TIMBERDB_SERVER)\n")
        );
    }
    let output = run_piped(client_command(
        &addr,
        &["query", "--server", "https://db:7777"],
    ));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("only http:// URLs are supported"));
}

#[test]
fn the_client_ignores_the_server_settings_it_does_not_need() {
    let server = server_with_entries();
    // The port comes from the config file; its other keys and the environment's are not
    // checked (the server would refuse both).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("timberdb.toml");
    let text = format!(
        "[storage]\ncompression = \"rar\"\n[network]\nlisten_addr = \"{}\"\n",
        server.addr
    );
    std::fs::write(&config, text).unwrap();
    let mut command = client_command(
        &server.addr,
        &["--config", config.to_str().unwrap(), "query", "--count"],
    );
    command
        .env_remove("TIMBERDB_SERVER")
        .env("TIMBERDB_SHARDS", "lots");
    let output = run_piped(command);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "21\n");
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    let server = Server::start();
    server.create_partition("big");
    let long = "x".repeat(400);
    let entries: Vec<Value> = (0..1000)
        .map(|index| json!({"message": format!("{index} {long}")}))
        .collect();
    assert_eq!(server.ingest_ndjson("big", &entries).status, 200);
    // About 500 KB of output, far more than a pipe holds: the client is still writing when
    // the reader goes away, as with `timberdb query | head -1`.
    let mut child = client_command(&server.addr, &["query", "-n", "1000"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert!(first.contains(&long));
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stderr.is_empty(), "{}", stderr(&output));
}
