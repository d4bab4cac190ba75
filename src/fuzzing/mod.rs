//! fuzzing/: "what does each decoder of untrusted bytes do with garbage?"
//!
//! One entry function per libFuzzer target in `fuzz/fuzz_targets/`. Each
//! takes arbitrary bytes, drives a decoder the way the server does, and
//! panics only when a property the decoder promises is broken (a panic in
//! the decoder itself is a bug too: untrusted input must get an `Err`).
//! The fuzz targets are one line each, so the same function runs on stable
//! in `cargo test` (`tests/fuzz_corpus.rs`) over every committed corpus and
//! regression input, and a crash found by the fuzzer stays fixed.
//!
//! Where a format is guarded by crc32s, the entry repairs them first (in a
//! mode picked by the input's first byte), so the fuzzer reaches the code
//! behind the checksum instead of stopping at it every time; the other
//! mode leaves them alone, to fuzz the checks themselves.
//!
//! Not part of the server's API: hidden from the docs, stable only as far
//! as the fuzz targets need.

mod block;
mod ingest;
mod manifest;
mod metadata;
mod protocols;
mod query;
mod wal;

pub use block::block;
pub use ingest::ingest;
pub use manifest::manifest;
pub use metadata::metadata;
pub use protocols::{es, loki, loki_query, otlp, syslog};
pub use query::{query_lang, query_request};
pub use wal::wal;

/// 2026-12-03T08:19:11Z: every entry's "now", so a run is reproducible.
pub const NOW_NS: i64 = 1_796_285_951_000_000_000;

/// A target's entry function: panics only on a bug.
pub type Entry = fn(&[u8]);

/// Every target by its fuzz/ name, for the corpus test.
pub const TARGETS: [(&str, Entry); 12] = [
    ("block", block),
    ("es", es),
    ("ingest", ingest),
    ("loki", loki),
    ("loki_query", loki_query),
    ("manifest", manifest),
    ("metadata", metadata),
    ("otlp", otlp),
    ("query_lang", query_lang),
    ("query_request", query_request),
    ("syslog", syslog),
    ("wal", wal),
];

/// A few entries with every column kind (repeated and unique sources and
/// tag values, absent tags, a key twice, non-ASCII text, fields on some):
/// what the query targets match against, and the seed blocks are made of.
pub fn sample_batch() -> crate::entry::ColumnBatch {
    use crate::entry::{ColumnBatch, EntryRef, Level};
    let mut batch = ColumnBatch::default();
    for i in 0..40_usize {
        let source = format!("host-{}", i % 5);
        let message = format!(
            "GET /api/v1/users/{i} took {}ms für café 日本 user=u{} error timeout",
            i % 97,
            i % 13
        );
        let fields = match i % 3 {
            0 => format!("{{\"n\":{i},\"http\":{{\"status\":{}}}}}", 200 + i % 5),
            1 => "{\"s\":\"x\"}".to_string(),
            _ => String::new(),
        };
        let request = format!("req-{i:04x}");
        let mut tags = vec![
            ("component", ["auth", "db", "cache"][i % 3]),
            ("request_id", request.as_str()),
        ];
        if i % 4 == 0 {
            tags.push(("level", "loud"));
        }
        if i % 7 == 0 {
            tags.push(("component", "dup-last"));
        }
        let entry = EntryRef {
            timestamp_ns: NOW_NS - 3_600_000_000_000 + (i as i64 * 7919) % 10_000_000_000,
            level: Level::ALL[i % Level::ALL.len()],
            source: &source,
            message: &message,
            fields_json: &fields,
        };
        batch.push(&entry, &tags);
    }
    batch
}
