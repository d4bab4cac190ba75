//! Compaction merges small blocks without losing or duplicating an entry,
//! whatever moment a crash stops it.
//!
//! 1 200 entries are sealed as 30 blocks of 40 (rotation `count:40`, one
//! shard); the server is then started with `count:200`, so every block is
//! small (under a quarter of a full block) and compaction merges them, five
//! at a time (a merged block holds at most a full block), once a second, in
//! the background: six merges. The server is stopped inside a merge:
//! - at each crash point (`TIMBERDB_FAILPOINT`): before the merged block is
//!   written, after it is written but before the manifest record that swaps
//!   it in, after that record but before the swap in memory, and before the
//!   replaced blocks' space is given back; the process aborts there;
//! - and by SIGKILL at random moments while merges run, repeatedly.
//!
//! After every crash a restart must answer every entry exactly once, with
//! its id and contents, and compaction must go on to merge everything.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{eventually, manifest_block_count, Server};
use serde_json::{json, Value};

const ENTRY_COUNT: usize = 1_200;
const SMALL_BLOCK: usize = 40;
/// The rotation count while merging: blocks of 40 are small, five make one.
const FULL_BLOCK: usize = 200;
const MERGED_BLOCKS: u64 = (ENTRY_COUNT / FULL_BLOCK) as u64;
const PARTITION: &str = "merge";

fn entry(n: usize) -> Value {
    let level = ["info", "warn", "error"][n % 3];
    let zone = ["a", "b"][n % 2];
    json!({
        "timestamp": 1_700_000_000_000_000_000_i64 + (n as i64 * 7919 % 5_000) * 1_000_000,
        "source": format!("host-{}", n % 3),
        "level": level,
        "message": format!("entry {n} of the merge test"),
        "tags": {"n": n.to_string(), "zone": zone},
    })
}

/// A data directory holding 30 sealed blocks of 40 entries.
fn small_blocks(data_dir: &Path) {
    let mut server = Server::builder()
        .data_dir(data_dir)
        .arg("--shards")
        .arg("1")
        .env("TIMBERDB_BLOCK_ROTATION", &format!("count:{SMALL_BLOCK}"))
        .start();
    server.create_partition(PARTITION);
    let lines: Vec<Value> = (0..ENTRY_COUNT).map(entry).collect();
    for chunk in lines.chunks(SMALL_BLOCK) {
        assert_eq!(server.ingest_ndjson(PARTITION, chunk).status, 200);
    }
    assert!(server.terminate().success());
    assert_eq!(
        manifest_block_count(data_dir, 0),
        (ENTRY_COUNT / SMALL_BLOCK) as u64
    );
}

fn merging_server(data_dir: &Path) -> Server {
    Server::builder()
        .data_dir(data_dir)
        .arg("--shards")
        .arg("1")
        .env("TIMBERDB_BLOCK_ROTATION", &format!("count:{FULL_BLOCK}"))
        .start()
}

/// Every entry exactly once, with its id, level and message.
fn check_every_entry_once(server: &Server, when: &str) {
    let answer = server.query(&json!({"partitions": [PARTITION], "limit": 10_000, "order": "asc"}));
    let entries = answer["entries"].as_array().unwrap();
    assert_eq!(entries.len(), ENTRY_COUNT, "{when}: {}", answer["stats"]);
    let mut seen = vec![false; ENTRY_COUNT];
    for found in entries {
        let n: usize = found["tags"]["n"].as_str().unwrap().parse().unwrap();
        assert!(!seen[n], "{when}: entry {n} twice");
        seen[n] = true;
        assert_eq!(
            found["id"],
            format!("0-{}", n + 1),
            "{when}: entry {n} kept its id"
        );
        assert_eq!(found["message"], entry(n)["message"], "{when}");
        assert_eq!(found["level"], entry(n)["level"], "{when}");
        assert_eq!(found["tags"]["zone"], entry(n)["tags"]["zone"], "{when}");
    }
    let counted =
        server.query(&json!({"partitions": [PARTITION], "limit": 0, "filter": {"level": "error"}}));
    assert_eq!(counted["total_count"], ENTRY_COUNT / 3, "{when}");
}

/// Starts the server with `failpoint` armed and waits for it to abort there.
fn run_until_failpoint(data_dir: &Path, failpoint: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0", "--shards", "1"])
        .env("TIMBERDB_BLOCK_ROTATION", format!("count:{FULL_BLOCK}"))
        .env("TIMBERDB_FAILPOINT", failpoint)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start timberdb");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "{failpoint} was never reached");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{failpoint}: {status}");
    assert!(stderr.contains(failpoint), "{failpoint}: {stderr}");
}

#[test]
fn a_crash_at_any_step_of_a_merge_loses_and_duplicates_nothing() {
    for failpoint in [
        "compaction-before-write",
        "compaction-after-block-write",
        "compaction-after-manifest",
        "compaction-before-punch",
    ] {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = temp.path().join("data");
        small_blocks(&data_dir);
        run_until_failpoint(&data_dir, failpoint);
        let server = merging_server(&data_dir);
        check_every_entry_once(&server, failpoint);
        // Compaction goes on from where the crash left it.
        eventually(Duration::from_secs(60), || {
            (manifest_block_count(&data_dir, 0) == MERGED_BLOCKS).then_some(())
        });
        check_every_entry_once(&server, &format!("{failpoint}, merged"));
    }
}

#[test]
fn sigkill_while_merges_run_loses_and_duplicates_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    small_blocks(&data_dir);
    let mut server = merging_server(&data_dir);
    let mut rng = 0x2545_F491_4F6C_DD1D_u64;
    for round in 0..8 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Merges run once a second: kill anywhere in about one of them.
        std::thread::sleep(Duration::from_millis(rng % 1_100));
        server.restart();
        check_every_entry_once(&server, &format!("round {round}"));
    }
    eventually(Duration::from_secs(60), || {
        (manifest_block_count(&data_dir, 0) == MERGED_BLOCKS).then_some(())
    });
    check_every_entry_once(&server, "merged");
    // The space of the merged-away blocks is given back, and a graceful
    // stop gives back the preallocated tail: the segment file holds little
    // more than the six merged blocks.
    assert!(server.terminate().success());
    let segment = common::first_segment(&data_dir, 0);
    let allocated =
        std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(&segment).unwrap()) * 512;
    assert!(
        allocated < 256 << 10,
        "{allocated} bytes allocated to {}",
        segment.display()
    );
}
