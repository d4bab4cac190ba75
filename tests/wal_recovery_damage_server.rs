//! WAL damage against the real server: a flipped byte in the middle of a
//! WAL segment is damage, not a torn tail, and is never dropped silently.
//!
//! Eight acknowledged batches sit only in the WAL (one request per group
//! commit, nothing sealed); the server is SIGKILLed and one byte of the
//! segment is changed on a copy of the data directory.
//!
//! What it pins:
//! - A flipped byte in a record followed by valid records of the same
//!   generation (payload, crc or length byte): start-up refuses with an
//!   exit status, naming the WAL file, the record's offset and how many
//!   records and entries follow it, and how to skip it.
//! - With `--wal-recovery skip_damaged`: the server starts, logs the
//!   entries lost (the damaged batch's), serves every other batch, and
//!   later restarts in the default strict mode start too (the operator
//!   accepted that damage once).
//! - Ids stay unique: entries ingested after the recovery never get the ids
//!   of the lost entries, even after a graceful stop removed the WAL file
//!   that showed the loss.
//! - A torn tail (the segment truncated or zeroed inside its last record)
//!   starts in strict mode with no option, losing only that record.

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{copy_dir, Server};
use serde_json::{json, Value};
use timberdb::wal::payload::decode_payload;
use timberdb::wal::record::RecordReader;

const PARTITION: &str = "damage";
const BATCH_COUNT: usize = 8;
const DAMAGED_BATCH: usize = 3;
const WAL_SEGMENT_BYTES: u64 = 1 << 20;

fn batch_entry_count(batch: usize) -> usize {
    15 + 4 * batch
}

fn batch_lines(batch: usize) -> Vec<Value> {
    (0..batch_entry_count(batch))
        .map(|i| {
            json!({
                "timestamp": 1_700_000_000_000_000_000i64 + (batch * 1000 + i) as i64,
                "message": format!("batch {batch} entry {i} of the WAL damage test"),
                "tags": {"b": batch.to_string(), "i": i.to_string()},
            })
        })
        .collect()
}

fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("damage.toml");
    let toml = format!(
        "[storage]\nwal_segment_size = {WAL_SEGMENT_BYTES}\n\
         block_rotation = {{ type = \"count\", value = 1000000 }}\n"
    );
    std::fs::write(&path, toml).unwrap();
    path
}

fn server_args(data_dir: &Path, config: &Path) -> Vec<String> {
    let args = ["--shards", "1", "--config", config.to_str().unwrap()];
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.extend(["--data-dir".into(), data_dir.to_str().unwrap().into()]);
    all
}

fn start(data_dir: &Path, config: &Path, extra: &[&str]) -> Server {
    let mut builder = Server::builder()
        .data_dir(data_dir)
        .arg("--shards")
        .arg("1")
        .arg("--config")
        .arg(config.to_str().unwrap());
    for arg in extra {
        builder = builder.arg(arg);
    }
    builder.start()
}

/// Runs the server expecting it to refuse to start; its status and stderr.
fn run_until_exit(data_dir: &Path, config: &Path) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_timberdb"))
        .args(server_args(data_dir, config))
        .args(["--listen", "127.0.0.1:0"])
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
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("timberdb kept running on a damaged WAL");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

/// Every stored entry as ((batch, index), id).
fn stored(server: &Server) -> Vec<((usize, usize), String)> {
    let result = server.query(&json!({"partitions": [PARTITION], "limit": 100_000}));
    let entries = result["entries"].as_array().unwrap();
    entries
        .iter()
        .map(|e| {
            let tag = |name: &str| e["tags"][name].as_str().unwrap().parse::<usize>().unwrap();
            let id = e["id"].as_str().expect("every entry has an id").to_string();
            ((tag("b"), tag("i")), id)
        })
        .collect()
}

fn keys(entries: &[((usize, usize), String)]) -> BTreeSet<(usize, usize)> {
    entries.iter().map(|(key, _)| *key).collect()
}

fn keys_of_batches(batches: impl IntoIterator<Item = usize>) -> BTreeSet<(usize, usize)> {
    batches
        .into_iter()
        .flat_map(|b| (0..batch_entry_count(b)).map(move |i| (b, i)))
        .collect()
}

struct FoundRecord {
    start: u64,
    end: u64,
}

struct Pristine {
    _dir: tempfile::TempDir,
    data_dir: PathBuf,
    config: PathBuf,
    wal_file_name: String,
    records: Vec<FoundRecord>,
    /// Each acknowledged entry's id before the damage.
    ids: Vec<((usize, usize), String)>,
}

fn ingest_and_kill() -> Pristine {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let data_dir = dir.path().join("pristine");
    let mut server = start(&data_dir, &config, &[]);
    server.create_partition(PARTITION);
    for batch in 0..BATCH_COUNT {
        let response = server.ingest_ndjson(PARTITION, &batch_lines(batch));
        assert_eq!(response.status, 200, "{}", response.text());
    }
    let ids = stored(&server);
    assert_eq!(keys(&ids), keys_of_batches(0..BATCH_COUNT));
    server.kill();

    let wal_dir = data_dir.join("wal").join("shard-0");
    let mut segments: Vec<(u64, PathBuf)> = std::fs::read_dir(&wal_dir)
        .unwrap()
        .filter_map(|entry| {
            let path = entry.unwrap().path();
            let generation = path
                .file_name()?
                .to_str()?
                .strip_suffix(".wal")?
                .parse()
                .ok()?;
            Some((generation, path))
        })
        .collect();
    assert_eq!(segments.len(), 1, "one WAL generation: {segments:?}");
    let (generation, path) = segments.pop().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut reader = RecordReader::new(&bytes, 0, generation);
    let records: Vec<FoundRecord> = reader
        .by_ref()
        .map(|record| {
            decode_payload(record.payload).expect("a record of ours");
            FoundRecord {
                start: record.offset,
                end: record.end_offset(),
            }
        })
        .collect();
    assert!(reader.end().is_clean());
    assert_eq!(records.len(), BATCH_COUNT, "one record per request");
    Pristine {
        _dir: dir,
        data_dir,
        config,
        wal_file_name: path.file_name().unwrap().to_str().unwrap().to_string(),
        records,
        ids,
    }
}

/// A damaged copy of the pristine data directory.
fn damaged_copy(pristine: &Pristine, name: &str, damage: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let data_dir = pristine._dir.path().join(name);
    copy_dir(&pristine.data_dir, &data_dir);
    let wal = data_dir
        .join("wal")
        .join("shard-0")
        .join(&pristine.wal_file_name);
    let mut bytes = std::fs::read(&wal).unwrap();
    damage(&mut bytes);
    std::fs::write(&wal, bytes).unwrap();
    data_dir
}

#[test]
fn a_flipped_byte_mid_segment_refuses_to_start_naming_file_offset_and_stake() {
    let pristine = ingest_and_kill();
    let record = &pristine.records[DAMAGED_BATCH];
    let cases = [
        ("payload", (record.start + record.end) / 2),
        ("crc", record.start + 5),
        ("length", record.start + 1),
    ];
    let records_after = BATCH_COUNT - DAMAGED_BATCH - 1;
    let entries_after: usize = (DAMAGED_BATCH + 1..BATCH_COUNT)
        .map(batch_entry_count)
        .sum();
    for (name, offset) in cases {
        let data_dir = damaged_copy(&pristine, name, |bytes| bytes[offset as usize] ^= 0x10);
        let (status, stderr) = run_until_exit(&data_dir, &pristine.config);
        assert!(!status.success(), "{name}: refused with a failure status");
        let wanted = [
            pristine.wal_file_name.clone(),
            format!("at offset {}", record.start),
            format!("followed by {records_after} valid records holding {entries_after} entries"),
            "Refusing to start".to_string(),
            "--wal-recovery skip_damaged".to_string(),
        ];
        for text in wanted {
            assert!(stderr.contains(&text), "{name}: no {text:?} in:\n{stderr}");
        }
    }
}

#[test]
fn skip_damaged_starts_logs_the_loss_and_serves_the_rest() {
    let pristine = ingest_and_kill();
    let record = &pristine.records[DAMAGED_BATCH];
    let data_dir = damaged_copy(&pristine, "skip", |bytes| {
        bytes[record.start as usize + 1] ^= 0x01;
    });
    let mut server = start(
        &data_dir,
        &pristine.config,
        &["--wal-recovery", "skip_damaged"],
    );
    let survivors = (0..BATCH_COUNT).filter(|b| *b != DAMAGED_BATCH);
    assert_eq!(keys(&stored(&server)), keys_of_batches(survivors.clone()));
    let log = server.stderr();
    let lost = format!("{} entries lost", batch_entry_count(DAMAGED_BATCH));
    assert!(
        log.contains(&lost) && log.contains(&format!("offset={}", record.start)),
        "the log counts the lost entries and names the offset:\n{log}"
    );

    // Strict again (no option): the accepted damage is skipped, not refused.
    server.kill();
    server
        .args
        .retain(|arg| arg != "--wal-recovery" && arg != "skip_damaged");
    server.start_again();
    assert_eq!(keys(&stored(&server)), keys_of_batches(survivors));
}

/// Ids of `entries` that are also ids of `earlier` but of other entries.
fn reused_ids(
    earlier: &[((usize, usize), String)],
    entries: &[((usize, usize), String)],
) -> Vec<String> {
    let by_id: std::collections::HashMap<&str, (usize, usize)> = earlier
        .iter()
        .map(|(key, id)| (id.as_str(), *key))
        .collect();
    entries
        .iter()
        .filter(|(key, id)| by_id.get(id.as_str()).is_some_and(|k| k != key))
        .map(|(_, id)| id.clone())
        .collect()
}

#[test]
fn ids_of_lost_entries_are_never_handed_out_again() {
    let pristine = ingest_and_kill();
    // The last record is followed by its group's padding record: damage.
    let last = pristine.records.last().unwrap();
    let data_dir = damaged_copy(&pristine, "ids", |bytes| {
        bytes[((last.start + last.end) / 2) as usize] ^= 0x10;
    });
    let mut server = start(
        &data_dir,
        &pristine.config,
        &["--wal-recovery", "skip_damaged"],
    );
    let new_batch = BATCH_COUNT + 1;
    let response = server.ingest_ndjson(PARTITION, &batch_lines(new_batch));
    assert_eq!(response.status, 200, "{}", response.text());
    let after = stored(&server);
    assert_eq!(
        keys(&after),
        keys_of_batches((0..BATCH_COUNT - 1).chain([new_batch]))
    );
    assert_eq!(reused_ids(&pristine.ids, &after), Vec::<String>::new());

    // A graceful stop seals everything and removes the WAL: the floor
    // outlives it.
    let status = server.terminate();
    assert!(status.success());
    server
        .args
        .retain(|arg| arg != "--wal-recovery" && arg != "skip_damaged");
    server.start_again();
    let newer_batch = BATCH_COUNT + 2;
    let response = server.ingest_ndjson(PARTITION, &batch_lines(newer_batch));
    assert_eq!(response.status, 200, "{}", response.text());
    let latest = stored(&server);
    assert_eq!(reused_ids(&pristine.ids, &latest), Vec::<String>::new());
    let distinct: BTreeSet<&String> = latest.iter().map(|(_, id)| id).collect();
    assert_eq!(distinct.len(), latest.len(), "ids are unique");
}

#[test]
fn a_torn_tail_starts_without_the_option() {
    let pristine = ingest_and_kill();
    let last = pristine.records.last().unwrap();
    let middle = ((last.start + last.end) / 2) as usize;
    for name in ["truncated", "zeroed"] {
        let data_dir = damaged_copy(&pristine, name, |bytes| match name {
            "truncated" => bytes.truncate(middle),
            _ => bytes[middle..].fill(0),
        });
        let server = start(&data_dir, &pristine.config, &[]);
        assert_eq!(
            keys(&stored(&server)),
            keys_of_batches(0..BATCH_COUNT - 1),
            "{name}: only the torn record is lost; log:\n{}",
            server.stderr()
        );
        assert!(
            server.stderr().contains("the torn end of the last write"),
            "{name}: {}",
            server.stderr()
        );
    }
}
