//! A data directory written by the previous release (block format 2:
//! per-slice segment and index files, `manifest.json`) is converted to
//! format 3 at start-up, and every entry it held comes back exactly as the
//! old server returned it: sealed blocks, entries only in the WAL, tags
//! (including a key given twice), fields, levels, and non-ASCII text.
//!
//! The fixture `tests/fixtures/v2-data` was written by TimberDB at commit
//! 10bd35c with `tests/fixtures/make_v2_fixture.sh`; `v2-expected.ndjson`
//! is that server's NDJSON answer to `{"limit": 100000, "order": "asc"}`.
//!
//! The conversion is crash-safe, so the two states a crash can leave are
//! tested too: new segment files and an incomplete new manifest beside the
//! old files (converted again from scratch), and a complete new manifest
//! with the old files still there (only the clean-up is left).

mod common;

use std::path::{Path, PathBuf};

use common::{copy_dir, ndjson_query, shard_dir, Server};
use serde_json::{json, Value};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The old server's answer, without its metadata line and timing.
fn expected_entries() -> Vec<Value> {
    let text = std::fs::read_to_string(fixture().join("v2-expected.ndjson")).unwrap();
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line.get("metadata").is_none())
        .collect()
}

/// A copy of the fixture in a fresh directory.
fn copy_of_fixture(temp: &tempfile::TempDir, name: &str) -> PathBuf {
    let data_dir = temp.path().join(name);
    copy_dir(&fixture().join("v2-data"), &data_dir);
    data_dir
}

fn start(data_dir: &Path) -> Server {
    Server::builder()
        .data_dir(data_dir)
        .arg("--shards")
        .arg("1")
        .start()
}

fn all_entries(server: &Server) -> Vec<Value> {
    let (status, _, lines) = ndjson_query(server, &json!({"limit": 100_000, "order": "asc"}));
    assert_eq!(status, 200);
    lines
        .into_iter()
        .filter(|line| line.get("metadata").is_none())
        .collect()
}

fn assert_converted(data_dir: &Path) {
    let shard = shard_dir(data_dir, 0);
    let names: Vec<String> = std::fs::read_dir(&shard)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|name| name == "manifest.json"),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|name| name.starts_with("p-")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|name| name == "seg-000001.tdb"),
        "{names:?}"
    );
    assert!(
        names.iter().any(|name| name.starts_with("manifest-")),
        "{names:?}"
    );
}

#[test]
fn a_format_2_directory_converts_and_answers_as_before() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = copy_of_fixture(&temp, "data");
    let mut server = start(&data_dir);
    assert!(
        server
            .stderr()
            .contains("converted the shard's blocks from format 2 to format 3"),
        "{}",
        server.stderr()
    );
    let expected = expected_entries();
    assert_eq!(expected.len(), 582);
    assert_eq!(all_entries(&server), expected);
    assert_converted(&data_dir);
    // The converted directory is ordinary format 3: it restarts as such,
    // after a crash and after a graceful stop.
    server.restart();
    assert_eq!(all_entries(&server), expected);
    assert!(server.terminate().success());
    server.start_again();
    assert_eq!(all_entries(&server), expected);
    let partitions = server.get("/api/v1/partitions").json();
    let names: Vec<&str> = partitions["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["web", "jobs"]);
}

#[test]
fn a_conversion_cut_short_starts_again_from_the_old_files() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = copy_of_fixture(&temp, "cut-short");
    let shard = shard_dir(&data_dir, 0);
    // What a crash mid-conversion leaves: a new segment file with part of
    // its blocks, and a new manifest whose checkpoint never ended.
    std::fs::write(shard.join("seg-000001.tdb"), vec![0x5A; 3 * 4096]).unwrap();
    std::fs::write(
        shard.join("manifest-00000000000000000001.log"),
        vec![0x11; 4096],
    )
    .unwrap();
    let server = start(&data_dir);
    assert_eq!(all_entries(&server), expected_entries());
    assert_converted(&data_dir);
}

#[test]
fn a_conversion_that_committed_only_cleans_up() {
    let temp = tempfile::tempdir().unwrap();
    let converted = copy_of_fixture(&temp, "converted");
    let server = start(&converted);
    drop(server);
    // The state of a crash right after the new manifest became durable:
    // the old files are all still there beside the new ones.
    let data_dir = copy_of_fixture(&temp, "committed");
    let shard = shard_dir(&data_dir, 0);
    for entry in std::fs::read_dir(shard_dir(&converted, 0)).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("seg-") || name.starts_with("manifest-") {
            std::fs::copy(entry.path(), shard.join(&name)).unwrap();
        }
    }
    copy_dir(&converted.join("wal"), &data_dir.join("wal"));
    let server = start(&data_dir);
    assert!(
        !server.stderr().contains("converted the shard's blocks"),
        "nothing is converted twice: {}",
        server.stderr()
    );
    assert_eq!(all_entries(&server), expected_entries());
    assert_converted(&data_dir);
}
