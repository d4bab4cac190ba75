//! WAL recovery through the real server: acknowledged batches sit only in the
//! WAL (block rotation is far away, nothing is sealed), the server is
//! SIGKILLed, the newest WAL segment is damaged from outside, and the server
//! is restarted on a copy of the data directory for each kind of damage.
//!
//! What it pins:
//! - Garbage strictly after the end of valid data (at the page boundary where
//!   the last group commit ended, a few pages further, or at the end of the
//!   preallocated file) costs nothing: every acknowledged entry comes back.
//! - A damaged last record (flipped byte, torn by truncation, zeroed tail)
//!   costs exactly that record's batch: every other entry comes back, the
//!   server starts, and its log names the WAL file and the record's offset.
//!   A flipped byte is followed by the group's valid padding record, so it
//!   is damage (issue 13): the server starts over it only with
//!   `storage.wal_recovery = "skip_damaged"` (tests/wal_recovery_damage_server.rs
//!   pins the refusal); truncation and a zeroed tail are torn tails.
//! - After such a recovery the server writes a new generation that a later
//!   restart replays: new entries are not hidden behind the damaged record.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{copy_dir, Server};
use serde_json::{json, Value};
use timberdb::wal::payload::decode_payload;
use timberdb::wal::record::{RecordReader, WAL_PAGE_BYTES};

const PARTITION: &str = "tail";
const BATCH_COUNT: usize = 8;
const WAL_SEGMENT_BYTES: u64 = 1 << 20;

/// Batch `b` has `20 + 7 b` entries, so batches (and records) differ in size.
fn batch_entry_count(batch: usize) -> usize {
    20 + 7 * batch
}

fn batch_lines(batch: usize) -> Vec<Value> {
    (0..batch_entry_count(batch))
        .map(|i| {
            json!({
                "timestamp": 1_700_000_000_000_000_000i64 + (batch * 1000 + i) as i64,
                "level": "info",
                "message": format!("batch {batch} entry {i} — torn tail test ✓ {}", "x".repeat(i * 3)),
                "tags": {"b": batch.to_string(), "i": i.to_string()},
            })
        })
        .collect()
}

fn keys_of_batches(batches: impl IntoIterator<Item = usize>) -> BTreeSet<(usize, usize)> {
    batches
        .into_iter()
        .flat_map(|b| (0..batch_entry_count(b)).map(move |i| (b, i)))
        .collect()
}

fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("torn-tail.toml");
    let toml = format!(
        "[storage]\nwal_segment_size = {WAL_SEGMENT_BYTES}\n\
         block_rotation = {{ type = \"count\", value = 1000000 }}\n"
    );
    std::fs::write(&path, toml).unwrap();
    path
}

fn start(data_dir: &Path, config: &Path) -> Server {
    Server::builder()
        .data_dir(data_dir)
        .arg("--shards")
        .arg("1")
        .arg("--config")
        .arg(config.to_str().unwrap())
        // A flipped byte before the group's padding record is damage, which
        // the default (strict) refuses; these tests pin what skipping costs.
        .env("TIMBERDB_WAL_RECOVERY", "skip_damaged")
        .start()
}

fn stored_keys(server: &Server) -> BTreeSet<(usize, usize)> {
    let result = server.query(&json!({"partitions": [PARTITION], "limit": 100_000}));
    let entries = result["entries"].as_array().unwrap();
    assert_eq!(
        result["total_count"].as_u64().unwrap() as usize,
        entries.len()
    );
    let keys: BTreeSet<(usize, usize)> = entries
        .iter()
        .map(|e| {
            let tag = |name: &str| e["tags"][name].as_str().unwrap().parse::<usize>().unwrap();
            (tag("b"), tag("i"))
        })
        .collect();
    assert_eq!(keys.len(), entries.len(), "no entry is returned twice");
    keys
}

/// The WAL segments of shard 0 (not spares), oldest first.
fn wal_segments(data_dir: &Path) -> Vec<(u64, PathBuf)> {
    let dir = data_dir.join("wal").join("shard-0");
    let mut segments: Vec<(u64, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name()?.to_str()?.to_string();
            let generation = name.strip_suffix(".wal")?.parse().ok()?;
            Some((generation, path))
        })
        .collect();
    segments.sort();
    segments
}

/// One batch record found in the WAL file, in file offsets.
struct FoundRecord {
    start: u64,
    end: u64,
    /// The `b` tag of the batch's entries.
    batch: usize,
}

/// Reads the segment with the real record reader: its batch records and the
/// offset where valid data ends.
fn read_wal(path: &Path, generation: u64) -> (Vec<FoundRecord>, u64) {
    let bytes = std::fs::read(path).unwrap();
    let mut reader = RecordReader::new(&bytes, 0, generation);
    let mut records = Vec::new();
    for record in reader.by_ref() {
        let wal_batch = decode_payload(record.payload).expect("a record of ours");
        let batch = wal_batch
            .batch
            .tags(0)
            .find(|(key, _)| *key == "b")
            .unwrap()
            .1;
        records.push(FoundRecord {
            start: record.offset,
            end: record.end_offset(),
            batch: batch.parse().unwrap(),
        });
    }
    let end = reader.end();
    assert!(end.is_clean(), "an undamaged WAL ends cleanly: {end:?}");
    (records, end.offset)
}

/// What is done to the WAL file, and which batches must survive it.
enum Damage {
    /// Overwrite `len` bytes at `offset` with a non-zero pattern.
    Garbage {
        offset: u64,
        len: usize,
    },
    FlipByte {
        offset: u64,
    },
    Truncate {
        len: u64,
    },
    ZeroFrom {
        offset: u64,
    },
}

fn apply(path: &Path, damage: &Damage) {
    let mut bytes = std::fs::read(path).unwrap();
    match *damage {
        Damage::Garbage { offset, len } => {
            let offset = offset as usize;
            for (i, byte) in bytes[offset..offset + len].iter_mut().enumerate() {
                *byte = 0xa5 ^ (i as u8);
            }
        }
        Damage::FlipByte { offset } => bytes[offset as usize] ^= 0x40,
        Damage::Truncate { len } => bytes.truncate(len as usize),
        Damage::ZeroFrom { offset } => bytes[offset as usize..].fill(0),
    }
    std::fs::write(path, bytes).unwrap();
}

struct Pristine {
    _dir: tempfile::TempDir,
    data_dir: PathBuf,
    config: PathBuf,
    wal_file_name: String,
    generation: u64,
    records: Vec<FoundRecord>,
    data_end: u64,
    file_bytes: u64,
}

/// Ingests `BATCH_COUNT` acknowledged batches, SIGKILLs the server and
/// reads back where each record lies.
fn ingest_and_kill() -> Pristine {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let data_dir = dir.path().join("pristine");
    let mut server = start(&data_dir, &config);
    server.create_partition(PARTITION);
    for batch in 0..BATCH_COUNT {
        let response = server.ingest_ndjson(PARTITION, &batch_lines(batch));
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_eq!(stored_keys(&server), keys_of_batches(0..BATCH_COUNT));
    server.kill();

    let segments = wal_segments(&data_dir);
    assert_eq!(
        segments.len(),
        1,
        "one WAL generation was written: {segments:?}"
    );
    let (generation, path) = segments.into_iter().next().unwrap();
    let (records, data_end) = read_wal(&path, generation);
    let batches: Vec<usize> = records.iter().map(|r| r.batch).collect();
    assert_eq!(
        batches,
        (0..BATCH_COUNT).collect::<Vec<_>>(),
        "one record per request"
    );
    assert_eq!(
        data_end % WAL_PAGE_BYTES as u64,
        0,
        "group commits end on a page"
    );
    let file_bytes = std::fs::metadata(&path).unwrap().len();
    assert_eq!(file_bytes, WAL_SEGMENT_BYTES, "the segment is preallocated");
    Pristine {
        _dir: dir,
        data_dir,
        config,
        wal_file_name: path.file_name().unwrap().to_str().unwrap().to_string(),
        generation,
        records,
        data_end,
        file_bytes,
    }
}

/// Starts a server on a damaged copy of the pristine data directory.
fn restart_damaged(
    pristine: &Pristine,
    name: &str,
    damage: &Damage,
) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join(name);
    copy_dir(&pristine.data_dir, &data_dir);
    let wal = data_dir
        .join("wal")
        .join("shard-0")
        .join(&pristine.wal_file_name);
    apply(&wal, damage);
    (start(&data_dir, &pristine.config), dir)
}

#[test]
fn garbage_after_the_end_of_valid_data_loses_nothing() {
    let pristine = ingest_and_kill();
    let page = WAL_PAGE_BYTES as u64;
    let cases = [
        ("at-data-end", pristine.data_end, 100),
        ("one-byte-at-data-end", pristine.data_end, 1),
        ("pages-later", pristine.data_end + 3 * page + 123, 700),
        ("straddling-a-page", pristine.data_end + 2 * page - 50, 100),
        ("file-end", pristine.file_bytes - 512, 512),
    ];
    for (name, offset, len) in cases {
        let (server, _dir) = restart_damaged(&pristine, name, &Damage::Garbage { offset, len });
        assert_eq!(
            stored_keys(&server),
            keys_of_batches(0..BATCH_COUNT),
            "{name}: garbage at {offset} (data ends at {}); log:\n{}",
            pristine.data_end,
            server.stderr()
        );
        // Garbage where the next header would start reads as a bad record
        // and is logged; garbage past the all-zero header is never reached.
        let noted = server.stderr().contains("valid records end at offset");
        let at_data_end = offset == pristine.data_end;
        assert_eq!(noted, at_data_end, "{name}; log:\n{}", server.stderr());
        if at_data_end {
            let end = format!("valid records end at offset {}", pristine.data_end);
            assert!(
                server.stderr().contains(&end),
                "{name}: {}",
                server.stderr()
            );
        }
    }
}

#[test]
fn a_damaged_last_record_costs_only_its_batch() {
    let pristine = ingest_and_kill();
    let last = pristine.records.last().unwrap();
    let middle = (last.start + last.end) / 2;
    let cases = [
        ("flipped-payload", Damage::FlipByte { offset: middle }),
        (
            "flipped-crc",
            Damage::FlipByte {
                offset: last.start + 6,
            },
        ),
        (
            "flipped-last-byte",
            Damage::FlipByte {
                offset: last.end - 1,
            },
        ),
        ("truncated", Damage::Truncate { len: middle }),
        ("zeroed-tail", Damage::ZeroFrom { offset: middle }),
    ];
    let survivors = keys_of_batches(0..BATCH_COUNT - 1);
    assert_eq!(last.batch, BATCH_COUNT - 1);
    for (name, damage) in &cases {
        let (server, _dir) = restart_damaged(&pristine, name, damage);
        let log = server.stderr();
        assert_eq!(stored_keys(&server), survivors, "{name}; log:\n{log}");
        let torn = format!("valid records end at offset {}", last.start);
        let skipped = format!("damaged record at offset {}", last.start);
        assert!(
            log.contains(&pristine.wal_file_name)
                && (log.contains(&torn) || log.contains(&skipped)),
            "{name}: the log must name the WAL file and the damaged record's offset {}:\n{log}",
            last.start
        );
    }
}

#[test]
fn writes_after_recovering_from_a_damaged_record_survive_the_next_restart() {
    let pristine = ingest_and_kill();
    let last = pristine.records.last().unwrap();
    let damage = Damage::FlipByte {
        offset: (last.start + last.end) / 2,
    };
    let (mut server, _dir) = restart_damaged(&pristine, "recovered", &damage);
    let later = BATCH_COUNT + 1;
    let response = server.ingest_ndjson(PARTITION, &batch_lines(later));
    assert_eq!(response.status, 200, "{}", response.text());
    server.restart();
    let mut want = keys_of_batches(0..BATCH_COUNT - 1);
    want.extend(keys_of_batches([later]));
    assert_eq!(stored_keys(&server), want, "log:\n{}", server.stderr());
    let generations: Vec<u64> = wal_segments(&server.data_dir).iter().map(|s| s.0).collect();
    assert!(
        generations.contains(&pristine.generation) && generations.len() >= 2,
        "the damaged generation is kept and newer ones follow it: {generations:?}"
    );
}
