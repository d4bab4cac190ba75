//! docs/LOADGEN.md, "Query load": `loadgen query --body NAME=JSON` sends
//! each body byte for byte as given (with `partitions` put first only
//! where the body names none), runs just the bodies when `--mix` is not given, and reports them
//! per kind like the built-in kinds, with the fractions of blocks and of
//! granules not read; a bad `--body` stops it with status 2.
//! Runs the real binary, as a user would, against a stand-in TimberDB that
//! records the query bodies it receives.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::{json, Value};

/// The `stats` every query answer carries: 3 of 4 blocks not read, and
/// 5 of 8 granules (1 counted unread, 4 pruned).
fn answer_stats() -> Value {
    json!({
        "shards": 1,
        "blocks_scanned": 1,
        "blocks_skipped": 3,
        "blocks_counted_unread": 0,
        "blocks_not_read_after_limit": 0,
        "entries_scanned": 500,
        "blocks_pruned": {"time": 1, "level": 0, "sets": 0, "words": 2},
        "granules_scanned": 3,
        "granules_counted_unread": 1,
        "granules_pruned": {"time": 1, "level": 0, "sets": 1, "words": 2},
    })
}

/// A stand-in TimberDB: `/health`, one partition of 1000 entries in 4
/// blocks, and query answers with [`answer_stats`]. Returns its base URL
/// and the query bodies received, in order, as text.
fn start_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let url = format!("http://{}", listener.local_addr().expect("local address"));
    let queries = Arc::new(Mutex::new(Vec::new()));
    let received = Arc::clone(&queries);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let received = Arc::clone(&received);
            thread::spawn(move || serve(stream, &received));
        }
    });
    (url, queries)
}

/// Answers the requests of one connection until it closes.
fn serve(stream: TcpStream, received: &Mutex<Vec<String>>) {
    let mut writer = stream.try_clone().expect("clone the socket");
    let mut reader = BufReader::new(stream);
    while let Some((path, body)) = read_request(&mut reader) {
        let answer = match path.as_str() {
            "/health" => json!({"version": "stand-in", "shards": 1}),
            "/api/v1/query/execute" => {
                let query = String::from_utf8(body).expect("a UTF-8 query");
                received.lock().expect("lock").push(query);
                json!({"entries": [{}, {}], "total_count": 7, "stats": answer_stats()})
            }
            _ => json!({"name": "web", "entry_count": 1000, "blocks": 4}),
        };
        let text = answer.to_string();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            text.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(text.as_bytes()).is_err()
        {
            return;
        }
    }
}

/// One request framed by Content-Length: its path and body; `None` at the
/// end of the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|&n| n > 0)?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut body_bytes = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).ok().filter(|&n| n > 0)?;
        let header = line.trim_end().to_ascii_lowercase();
        if header.is_empty() {
            break;
        }
        if let Some(value) = header.strip_prefix("content-length:") {
            body_bytes = value.trim().parse().expect("a numeric Content-Length");
        }
    }
    let mut body = vec![0; body_bytes];
    reader.read_exact(&mut body).ok()?;
    Some((path, body))
}

fn loadgen_query(url: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["query", "--target", url, "--partition", "web", "--quiet"])
        .args(extra)
        .output()
        .expect("start loadgen")
}

/// The docs' example, with 4 queries instead of 200.
const EXAMPLE: [&str; 8] = [
    "--body",
    r#"rare={"q":"zebracorn","limit":100}"#,
    "--body",
    r#"errors={"q":"SELECT count(*) WHERE level = 'error'"}"#,
    "--queries",
    "4",
    "--connections",
    "1",
];

#[test]
fn bodies_are_sent_as_given_and_reported_per_kind() {
    let (url, queries) = start_server();
    let dir = std::env::temp_dir().join(format!("loadgen-bodies-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let json_path = dir.join("report.json");
    let json_arg = json_path.to_str().expect("a UTF-8 path");
    let output = loadgen_query(&url, &[&EXAMPLE[..], &["--json", json_arg]].concat());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");

    // Just the bodies ran, round-robin, each as given plus the partition.
    let rare = r#"{"partitions":["web"],"q":"zebracorn","limit":100}"#;
    let errors = r#"{"partitions":["web"],"q":"SELECT count(*) WHERE level = 'error'"}"#;
    let sent = queries.lock().expect("lock").clone();
    assert_eq!(sent, [rare, errors, rare, errors], "{stdout}");

    let report: Value =
        serde_json::from_slice(&std::fs::read(&json_path).expect("the --json file")).expect("JSON");
    std::fs::remove_dir_all(&dir).expect("remove the temporary directory");
    assert_eq!(report["config"]["mix"], json!(["rare", "errors"]));
    assert_eq!(report["config"]["bodies"][0]["name"], "rare");
    let kinds = report["kinds"].as_array().expect("kinds");
    let names: Vec<&str> = kinds.iter().filter_map(|k| k["kind"].as_str()).collect();
    assert_eq!(names, ["rare", "errors"]);
    for kind in kinds {
        assert_eq!(kind["queries"], 2, "{kind}");
        assert_eq!(kind["mean_total_count"], 7.0, "{kind}");
        assert_eq!(kind["mean_entries_returned"], 2.0, "{kind}");
        let stats = &kind["server_stats"];
        assert_eq!(stats["mean_blocks_skipped_fraction"], 0.75, "{kind}");
        assert_eq!(stats["mean_granules_skipped_fraction"], 0.625, "{kind}");
        assert_eq!(stats["mean"]["entries_scanned"], 500.0, "{kind}");
        assert_eq!(stats["mean"]["granules_pruned.words"], 2.0, "{kind}");
        assert_eq!(stats["mean"]["blocks_pruned.time"], 1.0, "{kind}");
    }
    assert!(stdout.contains("granules not read 62.50%"), "{stdout}");
    assert!(
        stdout.contains("| blocks not read | granules not read |"),
        "{stdout}"
    );
    for name in ["rare", "errors"] {
        let row = stdout
            .lines()
            .find(|line| line.starts_with(&format!("| {name} | 2 |")))
            .unwrap_or_else(|| panic!("no {name} row: {stdout}"));
        assert!(row.ends_with("| 75.00% | 62.50% | 500 | 7 |"), "{row}");
    }
}

#[test]
fn mix_runs_bodies_and_built_in_kinds_together() {
    let (url, queries) = start_server();
    let output = loadgen_query(
        &url,
        &[
            "--body",
            r#"all={"q":"select * from web","limit":5}"#,
            "--mix",
            "all,count",
            "--queries",
            "2",
            "--connections",
            "1",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let sent = queries.lock().expect("lock").clone();
    // A q with FROM names its partitions: none are added.
    assert_eq!(sent[0], r#"{"q":"select * from web","limit":5}"#);
    let count: Value = serde_json::from_str(&sent[1]).expect("JSON");
    assert!(count["q"].as_str().unwrap_or("").contains("GROUP BY level"));
    assert!(stdout.contains("\n| count | 1 |"), "{stdout}");
    assert!(stdout.contains("\n| all | 1 |"), "{stdout}");
}

#[test]
fn a_bad_body_stops_loadgen_with_status_2_and_one_sentence() {
    let (url, queries) = start_server();
    let cases: [(&[&str], &str); 4] = [
        (&["--body", "rare"], "expected NAME=JSON"),
        (&["--body", r#"tag={"q":"x"}"#], "built-in query kind"),
        (&["--body", r#"rare={"q":"#], "does not parse"),
        (
            &["--body", "a={}", "--body", "a={}"],
            "--body a is given twice",
        ),
    ];
    for (args, expected) in cases {
        let output = loadgen_query(&url, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert!(queries.lock().expect("lock").is_empty());
}
