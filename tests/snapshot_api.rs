//! The snapshot routes as docs/API.md describes them (create, list, get,
//! delete, and every refusal with its status and code), incomplete
//! snapshots (never listed, removed at start-up), and `timberdb restore`'s
//! refusals: a non-empty target, a directory that is not a snapshot, a
//! snapshot missing a file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::Server;
use serde_json::{json, Value};

const ROUTE: &str = "/api/v1/admin/snapshots";

fn server_with_data() -> Server {
    let server = Server::builder().arg("--shards").arg("1").start();
    server.create_partition("p");
    let lines: Vec<Value> = (0..50)
        .map(|n| json!({"source": "api", "message": format!("line {n}")}))
        .collect();
    assert_eq!(server.ingest_ndjson("p", &lines).status, 200);
    server
}

fn restore(args: &[&Path]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_timberdb"));
    command.arg("restore");
    for (flag, value) in ["--from", "--data-dir", "--wal-dir"].iter().zip(args) {
        command.arg(flag).arg(value);
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn snapshot_routes_answer_and_refuse_as_documented() {
    let mut server = server_with_data();
    assert_eq!(server.get(ROUTE).json(), json!({"snapshots": []}));

    let too_long = "a".repeat(129);
    for name in ["../x", "", too_long.as_str(), ".", "..", "a/b", "a b"] {
        let answer = server.post_json(ROUTE, &json!({ "name": name }));
        assert_eq!(answer.status, 400, "{name:?}: {}", answer.text());
        assert_eq!(answer.error_code(), "invalid_snapshot_name", "{name:?}");
    }
    let answer = server.post_json_bytes(ROUTE, b"{not json");
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (400, "invalid_json")
    );
    let answer = server.post_json(ROUTE, &json!({"nme": "typo"}));
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (400, "invalid_json")
    );

    let answer = server.post_json(ROUTE, &json!({"name": "first"}));
    assert_eq!(answer.status, 201, "{}", answer.text());
    let first = answer.json();
    assert_eq!(first["name"], "first");
    assert_eq!(first["partitions"], 1);
    assert!(
        first["created_at"].as_str().unwrap().ends_with('Z'),
        "{first}"
    );
    assert!(first["files"].as_u64().unwrap() >= 4, "{first}");
    assert!(first["bytes"].as_u64().unwrap() >= 4096, "{first}");
    let path = PathBuf::from(first["path"].as_str().unwrap());
    assert!(
        path.is_absolute() && path.join("snapshot.json").is_file(),
        "{first}"
    );
    assert_eq!(
        path,
        server
            .data_dir
            .canonicalize()
            .unwrap()
            .join("snapshots/first")
    );

    let answer = server.post_json(ROUTE, &json!({"name": "first"}));
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (409, "snapshot_exists")
    );

    let answer = server.request("POST", ROUTE, None, b"");
    assert_eq!(answer.status, 201, "{}", answer.text());
    let unnamed = answer.json();
    let name = unnamed["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("snap-2") && name.contains('T'), "{name}");

    let listed = server.get(ROUTE).json();
    assert_eq!(
        listed,
        json!({"snapshots": [first.clone(), unnamed]}),
        "oldest first"
    );
    assert_eq!(server.get(&format!("{ROUTE}/first")).json(), first);

    for method in ["GET", "DELETE"] {
        let answer = server.request(method, &format!("{ROUTE}/nope"), None, b"");
        assert_eq!(
            (answer.status, answer.error_code().as_str()),
            (404, "snapshot_not_found")
        );
        let answer = server.request(method, &format!("{ROUTE}/.."), None, b"");
        assert_eq!(answer.status, 400, "{method} ..: {}", answer.text());
    }
    let answer = server.request("PUT", ROUTE, None, b"");
    assert_eq!(answer.status, 405);

    // A directory without snapshot.json is not a snapshot: never listed,
    // not found, and removed at the next start.
    let half = path.parent().unwrap().join("half");
    std::fs::create_dir_all(half.join("shard-0")).unwrap();
    assert_eq!(
        server.get(ROUTE).json()["snapshots"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(server.get(&format!("{ROUTE}/half")).status, 404);
    server.terminate();
    server.start_again();
    assert!(!half.exists());
    assert!(server.stderr().contains("removed an incomplete snapshot"));

    let answer = server.request("DELETE", &format!("{ROUTE}/first"), None, b"");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json(), json!({"deleted": "first"}));
    assert!(!path.exists());
    assert_eq!(server.get(&format!("{ROUTE}/first")).status, 404);
    let names: Vec<Value> = server.get(ROUTE).json()["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|snapshot| snapshot["name"].clone())
        .collect();
    assert_eq!(names, vec![json!(name)]);
}

#[test]
fn restore_refuses_a_non_empty_target_and_what_is_not_a_complete_snapshot() {
    let server = server_with_data();
    let answer = server.post_json(ROUTE, &json!({"name": "s"}));
    assert_eq!(answer.status, 201, "{}", answer.text());
    let snapshot = PathBuf::from(answer.json()["path"].as_str().unwrap());
    let temp = tempfile::tempdir().unwrap();

    let busy = temp.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("keep-me"), b"x").unwrap();
    let output = restore(&[&snapshot, &busy]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("not empty"), "{}", stderr(&output));
    let left: Vec<_> = std::fs::read_dir(&busy).unwrap().collect();
    assert_eq!(left.len(), 1, "the target is left alone");

    let wal = temp.path().join("wal");
    std::fs::create_dir_all(&wal).unwrap();
    std::fs::write(wal.join("00000000000000000001.wal"), b"x").unwrap();
    let output = restore(&[&snapshot, &temp.path().join("fresh"), &wal]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("WAL directory is not empty"),
        "{}",
        stderr(&output)
    );

    let output = restore(&[&server.data_dir, &temp.path().join("fresh")]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("is not a complete TimberDB snapshot"),
        "{}",
        stderr(&output)
    );
    assert!(!temp.path().join("fresh").exists());

    let broken = temp.path().join("broken");
    common::copy_dir(&snapshot, &broken);
    std::fs::remove_file(broken.join("shard-0/manifest-00000000000000000001.log")).unwrap();
    let output = restore(&[&broken, &temp.path().join("fresh")]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("cannot be read"),
        "{}",
        stderr(&output)
    );
    assert!(!temp.path().join("fresh").exists());

    let output = restore(&[&snapshot, &temp.path().join("fresh")]);
    assert!(output.status.success(), "{}", stderr(&output));
    let restored = Server::builder()
        .data_dir(&temp.path().join("fresh"))
        .arg("--shards")
        .arg("1")
        .start();
    let answer = restored.query(&json!({"partitions": ["p"], "limit": 1000}));
    assert_eq!(answer["entries"].as_array().unwrap().len(), 50);
}
