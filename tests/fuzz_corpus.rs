//! Every committed fuzz input runs clean on stable: each file of
//! `fuzz/corpus/<target>/` (the minimised corpus) and
//! `fuzz/regressions/<target>/` (inputs that once crashed, hung or ran out
//! of memory) goes through the same entry function the libFuzzer target
//! calls (`timberdb::fuzzing`), so a fixed crash stays fixed without
//! nightly or cargo-fuzz.
//!
//! `cargo test --test fuzz_corpus -- --ignored write_seed_corpus` writes the
//! hand-made seeds (real blocks, WAL segments, manifests, queries) that a
//! fuzzing run starts from into `fuzz/corpus/<target>/seed-*`.

use std::path::{Path, PathBuf};

use timberdb::block::{encode_block, Codec, EncodeScratch};
use timberdb::fuzzing::{sample_batch, NOW_NS, TARGETS};
use timberdb::query::cursor::Cursor;
use timberdb::storage::manifest::{checkpoint_file_bytes, Edit, ManifestRecord};
use timberdb::wal::payload::encode_payload;
use timberdb::wal::record::{encode_record, pad_to_page, RecordKind};
use timberdb::wal::WalBatch;

fn fuzz_dir(kind: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target)
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.expect("list a fuzz input directory").path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    paths
}

#[test]
fn every_committed_fuzz_input_runs_clean() {
    let mut failures = Vec::new();
    for (target, entry) in TARGETS {
        let mut count = 0;
        for kind in ["corpus", "regressions"] {
            for path in inputs(&fuzz_dir(kind, target)) {
                let bytes = std::fs::read(&path).expect("read a fuzz input");
                count += 1;
                if std::panic::catch_unwind(|| entry(&bytes)).is_err() {
                    failures.push(path.display().to_string());
                }
            }
        }
        assert!(
            count > 0,
            "fuzz/corpus/{target}/ holds no inputs: run `cargo test --test fuzz_corpus -- --ignored write_seed_corpus`, then fuzz and minimise (docs/FUZZING.md)"
        );
    }
    assert!(failures.is_empty(), "inputs that panic: {failures:#?}");
}

/// Writes the seeds; run by hand (see the module docs).
#[test]
#[ignore]
fn write_seed_corpus() {
    let seeds: [(&str, Vec<Vec<u8>>); 7] = [
        ("block", block_seeds()),
        ("ingest", ingest_seeds()),
        ("manifest", manifest_seeds()),
        ("metadata", metadata_seeds()),
        ("query_lang", query_lang_seeds()),
        ("query_request", query_request_seeds()),
        ("wal", wal_seeds()),
    ];
    for (target, inputs) in seeds {
        let dir = fuzz_dir("corpus", target);
        std::fs::create_dir_all(&dir).expect("create the corpus directory");
        for (index, input) in inputs.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{index:02}")), input).expect("write a seed");
        }
    }
}

fn with_mode(mode: u8, bytes: &[u8]) -> Vec<u8> {
    let mut input = vec![mode];
    input.extend_from_slice(bytes);
    input
}

fn length_prefixed(payloads: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for payload in payloads {
        out.extend_from_slice(&(payload.len() as u16).to_le_bytes());
        out.extend_from_slice(payload);
    }
    out
}

fn small_batch(entry_count: usize) -> timberdb::entry::ColumnBatch {
    let mut batch = sample_batch();
    batch.truncate(entry_count);
    batch
}

fn block_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (codec, entry_count) in [
        (Codec::None, 3),
        (Codec::Lz4, 8),
        (Codec::Zstd { level: 1 }, 40),
    ] {
        let mut out = Vec::new();
        encode_block(
            &small_batch(entry_count),
            1,
            0,
            codec,
            &mut EncodeScratch::new(),
            &mut out,
        )
        .expect("the sample encodes");
        seeds.push(with_mode(1, &out));
        if entry_count == 3 {
            seeds.push(with_mode(0, &out));
        }
    }
    // Column frames alone: [kind][encoding][rows u16][bytes].
    seeds.push(vec![2, 0, 0, 3, 0, 1, 2, 3]);
    seeds.push(vec![2, 3, 0, 2, 0, 1, b'a', 1, b'b']);
    seeds
}

fn wal_batch_payload(entry_count: usize) -> Vec<u8> {
    let batch = WalBatch {
        partition_key: 1,
        first_seq: 5,
        batch: small_batch(entry_count),
    };
    let mut out = rkyv::util::AlignedVec::new();
    encode_payload(&batch, &mut out);
    out.to_vec()
}

fn wal_seeds() -> Vec<Vec<u8>> {
    let one = wal_batch_payload(1);
    let three = wal_batch_payload(3);
    let framed = length_prefixed(&[&one, &three]);
    let mut segment = Vec::new();
    encode_record(&mut segment, 0, 7, RecordKind::Batch, &one);
    pad_to_page(&mut segment, 0, 7);
    vec![
        with_mode(1, &framed),
        with_mode(2, &[[9, 0, 0, 0, 0x40].as_slice(), &framed].concat()),
        with_mode(0, &segment),
    ]
}

fn manifest_seeds() -> Vec<Vec<u8>> {
    let mut block = Vec::new();
    let encoded = encode_block(
        &small_batch(3),
        1,
        0,
        Codec::None,
        &mut EncodeScratch::new(),
        &mut block,
    )
    .expect("the sample encodes");
    let add = Edit::AddBlock {
        segment: 0,
        offset: 0,
        header: encoded.header.encode(),
        directory: encoded.directory.to_vec(),
    };
    let sealed = Edit::Sealed {
        partition_key: 1,
        sealed_seq: 2,
    };
    let file = checkpoint_file_bytes(0, 3, vec![add.clone(), sealed]);
    let record = |edits: Vec<Edit>| {
        let record = ManifestRecord {
            format_version: timberdb::storage::manifest::MANIFEST_FORMAT_VERSION,
            shard_id: 0,
            edits,
        };
        rkyv::to_bytes::<rkyv::rancor::Error>(&record)
            .expect("a record archives")
            .to_vec()
    };
    let checkpoint = record(vec![add, Edit::CheckpointEnd]);
    let change = record(vec![
        Edit::RemoveBlock {
            segment: 0,
            offset: 0,
        },
        Edit::DropPartition { partition_key: 1 },
    ]);
    vec![
        with_mode(0, &file),
        with_mode(1, &length_prefixed(&[&checkpoint, &change])),
    ]
}

fn ingest_seeds() -> Vec<Vec<u8>> {
    let bodies: [&[u8]; 6] = [
        br#"{"timestamp":"2024-03-15T10:00:00Z","source":"web-1","level":"error","message":"connection reset","tags":{"region":"us"},"user":"u1"}"#,
        b"{\"message\":\"a\",\"level\":\"warn\"}\n{\"msg\":\"b\",\"ts\":1710496800123,\"tags\":{\"level\":\"INFO\"}}\n\n{\"message\":\"c\\n\\u00e9\",\"n\":1.5e3,\"x\":[1,{\"y\":null}]}\n",
        br#"[{"message":"one","timestamp":1710496800},{"message":"two","source":"s","fields":{"k":true}}]"#,
        b"\xEF\xBB\xBF{\"message\":\"bom\",\"timestamp\":\"1710496800000000000\"}",
        b"{\"message\":\"x\"}\r\n{\"message\":\"y\",\"level\":5}\r\n",
        br#"{"message":"esc \" \\ \/ \t","tags":{"a":"1","b":"2","a":"3"},"timestamp":-1}"#,
    ];
    bodies
        .iter()
        .enumerate()
        .map(|(index, body)| with_mode(index as u8, body))
        .collect()
}

fn query_lang_seeds() -> Vec<Vec<u8>> {
    [
        "level:error \"connection reset\" -healthcheck",
        "level:>=warn component:(auth OR db) time* t?me /conn(ection)?/ timeot~1 fields.n:>5 tags.request_id:*",
        "timestamp:>2024-03-15T00:00:00Z source:web-* a\\*b x\\:y \\-1 NOT (x OR y)",
        "SELECT * FROM app WHERE (source = 'svc-0' OR source = 'svc-3') AND SEARCH('region:us') AND level = 'error' ORDER BY timestamp ASC LIMIT 5 OFFSET 2",
        "SELECT * WHERE message MATCHES 'conn(ection)? (reset|refused)' AND message LIKE '%ok_%' AND message NOT CONTAINS 'x' AND source STARTS WITH 'web'",
        "SELECT bucket(timestamp, '1m') AS minute, count(*) FROM app GROUP BY minute ORDER BY minute",
        "SELECT level, count(*), min(fields.n), max(fields.n), avg(fields.n), sum(fields.n), count(DISTINCT source) GROUP BY level ORDER BY count(*) DESC LIMIT 3",
        "SELECT * WHERE timestamp >= now() - INTERVAL '1 hour' AND tags.component IN ('auth', 'db') AND fields.http.status IS NOT NULL AND id > 'x'",
        "SELECT * FROM \"odd name\", other WHERE fields.s = 'x' OR NOT (level < 'info' AND TRUE)",
    ]
    .iter()
    .map(|q| q.as_bytes().to_vec())
    .collect()
}

fn query_request_seeds() -> Vec<Vec<u8>> {
    [
        r#"{"partitions":["app"],"filter":{"tags":{"level":"error","component":"auth"},"tag_exists":["request_id"],"source":"host-1","source_prefix":"host","level":["warn","error"],"message_contains":"Timeout","time_range":{"start":"2026-12-03T00:00:00Z","end":1796285951000000000}},"limit":10,"order":"asc"}"#,
        r#"{"q":"level:error timeout","partitions":[],"limit":5,"offset":2,"sort_desc":false,"timeout_seconds":1.5,"format":"ndjson"}"#,
        r#"{"tags":{"component":"db"},"level":"info","message_contains":"café","time_range":{"start":0}}"#,
        r#"{"q":"SELECT level, count(*) FROM app GROUP BY level","cursor":"01"}"#,
    ]
    .iter()
    .map(|body| body.as_bytes().to_vec())
    .collect()
}

fn metadata_seeds() -> Vec<Vec<u8>> {
    let cursor = Cursor {
        after: (NOW_NS, 1, 0, 42),
        fingerprint: 0x0123_4567_89ab_cdef,
    };
    let catalog = r#"{"format_version":1,"next_key":3,"partitions":[{"id":"0b7d1a4e-0000-4000-8000-000000000001","key":1,"name":"app","tags":{"team":"a"},"retention_days":7,"max_storage_size":1000000,"created_at_ns":1}, {"id":"x","key":2,"name":"other","created_at_ns":2}]}"#;
    let snapshot = r#"{"format_version":1,"name":"snap-1","created_at":"2026-12-03T08:19:11Z","created_at_ns":1796285951000000000,"shard_count":2,"layout_format_version":1,"catalog_format_version":1,"manifest_format_version":2,"block_format_version":3,"partition_count":1,"segments_copied":false,"files":[{"path":"shard-0/segments/0.seg","bytes":4096}]}"#;
    vec![
        with_mode(0, cursor.encode().as_bytes()),
        with_mode(1, catalog.as_bytes()),
        with_mode(2, snapshot.as_bytes()),
        with_mode(3, br#"{"format_version":1,"shard_count":2}"#),
    ]
}
