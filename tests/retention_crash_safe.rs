//! Retention deletes blocks crash-safely: whatever moment a crash stops a
//! deletion, a restart finds a consistent store in which every entry not
//! due for deletion is still there, exactly once, and the due ones are
//! either all still there (the manifest record removing them was not
//! durable) or all gone (it was: one record removes a pass's blocks).
//!
//! A prepared data directory (one shard, blocks of 40 entries) holds 30
//! blocks of entries ten days old and 10 recent blocks in partition "aged"
//! (no retention of its own), and 10 old blocks in "keep"
//! (`retention_days = 36500`). The server is then started with
//! `TIMBERDB_RETENTION_DAYS=1`, which makes the 30 old blocks of "aged" due
//! at its first maintenance, and stopped:
//! - at each failpoint: after the manifest record, and before the space is
//!   given back;
//! - by SIGKILL at random moments around the first pass, repeatedly, each
//!   time from a fresh copy of the prepared directory.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{copy_dir, eventually, manifest_block_count, Server};
use serde_json::{json, Value};

const BLOCK: usize = 40;
const OLD_BLOCKS: usize = 30;
const RECENT_BLOCKS: usize = 10;
const KEEP_BLOCKS: usize = 10;
const DAY_NS: i64 = 86_400 * 1_000_000_000;

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn entries(kind: &str, blocks: usize, timestamp_ns: i64) -> Vec<Value> {
    (0..blocks * BLOCK)
        .map(|n| {
            json!({
                "timestamp": timestamp_ns + n as i64,
                "source": "crash-test",
                "message": format!("{kind} entry {n}"),
                "tags": {"kind": kind, "n": n.to_string()},
            })
        })
        .collect()
}

fn prepare(data_dir: &Path) {
    let mut server = Server::builder()
        .data_dir(data_dir)
        .arg("--shards")
        .arg("1")
        .env("TIMBERDB_BLOCK_ROTATION", &format!("count:{BLOCK}"))
        .start();
    server.create_partition("aged");
    let keep = server.post_json(
        "/api/v1/partitions",
        &json!({"name": "keep", "retention_days": 36_500}),
    );
    assert_eq!(keep.status, 201, "{}", keep.text());
    let old = now_ns() - 10 * DAY_NS;
    for (partition, kind, blocks, at) in [
        ("aged", "old", OLD_BLOCKS, old),
        ("aged", "recent", RECENT_BLOCKS, now_ns()),
        ("keep", "kept", KEEP_BLOCKS, old),
    ] {
        for chunk in entries(kind, blocks, at).chunks(BLOCK) {
            assert_eq!(server.ingest_ndjson(partition, chunk).status, 200);
        }
    }
    assert!(server.terminate().success());
    assert_eq!(
        manifest_block_count(data_dir, 0),
        (OLD_BLOCKS + RECENT_BLOCKS + KEEP_BLOCKS) as u64
    );
}

fn command(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_timberdb"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0", "--shards", "1"])
        .env("TIMBERDB_BLOCK_ROTATION", format!("count:{BLOCK}"))
        .env("TIMBERDB_RETENTION_DAYS", "1")
        .env("TIMBERDB_RETENTION_CHECK_INTERVAL", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

/// A server without retention, to look at what a crash left.
fn inspect(data_dir: &Path) -> Server {
    Server::builder()
        .data_dir(data_dir)
        .arg("--shards")
        .arg("1")
        .env("TIMBERDB_BLOCK_ROTATION", &format!("count:{BLOCK}"))
        .start()
}

/// How many entries of each kind the store answers; every entry at most
/// once and with a unique id. Returns the count of "old" entries.
fn check_consistent(server: &Server, when: &str) -> usize {
    let mut old = 0;
    for (partition, kinds) in [("aged", &["old", "recent"][..]), ("keep", &["kept"][..])] {
        let answer = server.query(&json!({"partitions": [partition], "limit": 100_000}));
        let found = answer["entries"].as_array().unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut ids = std::collections::HashSet::new();
        for entry in found {
            let key = format!("{}-{}", entry["tags"]["kind"], entry["tags"]["n"]);
            assert!(seen.insert(key.clone()), "{when}: {key} twice");
            assert!(ids.insert(entry["id"].to_string()), "{when}: id twice");
            assert!(kinds.contains(&entry["tags"]["kind"].as_str().unwrap()));
        }
        let count = |kind: &str| {
            found
                .iter()
                .filter(|entry| entry["tags"]["kind"] == kind)
                .count()
        };
        if partition == "aged" {
            assert_eq!(count("recent"), RECENT_BLOCKS * BLOCK, "{when}");
            old = count("old");
            assert!(
                old == 0 || old == OLD_BLOCKS * BLOCK,
                "{when}: {old} old entries: a deletion was half done"
            );
        } else {
            assert_eq!(count("kept"), KEEP_BLOCKS * BLOCK, "{when}");
        }
    }
    old
}

fn wait_for_exit(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "{what} was never reached");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_crash_at_each_step_of_a_deletion_leaves_a_consistent_store() {
    let temp = tempfile::tempdir().unwrap();
    let prepared = temp.path().join("prepared");
    prepare(&prepared);
    for failpoint in ["retention-after-manifest", "retention-before-punch"] {
        let data_dir = temp.path().join(failpoint);
        copy_dir(&prepared, &data_dir);
        let mut child = command(&data_dir)
            .env("TIMBERDB_FAILPOINT", failpoint)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = wait_for_exit(&mut child, failpoint);
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!status.success(), "{failpoint}: {status}");
        assert!(stderr.contains(failpoint), "{failpoint}: {stderr}");
        // The record removing the old blocks was durable: they are gone,
        // and everything else is there.
        let server = inspect(&data_dir);
        assert_eq!(check_consistent(&server, failpoint), 0, "{failpoint}");
        assert_eq!(
            manifest_block_count(&data_dir, 0),
            (RECENT_BLOCKS + KEEP_BLOCKS) as u64
        );
    }
}

#[test]
fn sigkill_around_deletions_loses_nothing_that_was_not_due() {
    let temp = tempfile::tempdir().unwrap();
    let prepared = temp.path().join("prepared");
    prepare(&prepared);
    let mut rng = 0x2545_F491_4F6C_DD1D_u64;
    let (mut before, mut after) = (0, 0);
    for round in 0..10 {
        let data_dir = temp.path().join(format!("round-{round}"));
        copy_dir(&prepared, &data_dir);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Start-up takes a few hundred milliseconds and the first pass runs
        // at the first maintenance tick: kill anywhere around it.
        let mut child = command(&data_dir).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(rng % 400));
        child.kill().unwrap();
        child.wait().unwrap();
        let server = inspect(&data_dir);
        let old = check_consistent(&server, &format!("round {round}"));
        let blocks = manifest_block_count(&data_dir, 0) as usize;
        let expected_blocks = RECENT_BLOCKS + KEEP_BLOCKS + old / BLOCK;
        assert_eq!(
            blocks, expected_blocks,
            "round {round}: manifest and queries agree"
        );
        if old == 0 {
            after += 1;
        } else {
            before += 1;
        }
        drop(server);
        std::fs::remove_dir_all(&data_dir).unwrap();
    }
    eprintln!("{before} rounds killed before the deletion was durable, {after} after");
    // Deletion goes on after a crash.
    let data_dir = temp.path().join("last");
    copy_dir(&prepared, &data_dir);
    let mut child = command(&data_dir).stderr(Stdio::null()).spawn().unwrap();
    eventually(Duration::from_secs(30), || {
        (manifest_block_count(&data_dir, 0) == (RECENT_BLOCKS + KEEP_BLOCKS) as u64).then_some(())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let server = inspect(&data_dir);
    assert_eq!(check_consistent(&server, "last"), 0);
}
