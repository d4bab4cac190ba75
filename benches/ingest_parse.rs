//! Ingest parse throughput: `parse_body` on a realistic NDJSON body, against
//! serde_json baselines on the same bytes.
//!
//! The body is 1000 deterministic lines of about 240 bytes (RFC 3339
//! timestamp, source, level, a message with ids, paths and durations, 3-5
//! tags), the shape the 1 M lines/s/core target is stated for. Throughput is
//! in bytes; lines/s = bytes/s / the average line length printed at start.
//!
//! - `parse_body`: the real thing, into a reused `ColumnBatch`.
//! - `serde_json_value`: each line into `serde_json::Value` (a DOM), the
//!   naive design this module exists to beat.
//! - `serde_json_typed_borrowed`: each line into a borrowed typed struct
//!   (tags left as `RawValue`), roughly serde_json's scanning ceiling.
//!
//! Run: `cargo bench --bench ingest_parse`.

use std::borrow::Cow;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde::Deserialize;
use serde_json::value::RawValue;
use timberdb::entry::ColumnBatch;
use timberdb::ingest::{format_rfc3339_nanos, parse_body, BodyFormat};

const LINE_COUNT: usize = 1000;

/// A fixed-seed xorshift generator: the body is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

fn ndjson_body() -> Vec<u8> {
    const SOURCES: [&str; 4] = ["api-1", "api-2", "worker-7", "billing-3"];
    const LEVELS: [&str; 5] = ["info", "info", "warn", "error", "debug"];
    const PATHS: [&str; 4] = [
        "/api/v1/orders",
        "/api/v1/users",
        "/internal/jobs",
        "/api/v2/invoices",
    ];
    const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-south-1"];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut body = String::new();
    let mut ts_ns: i64 = 1_715_677_867_000_000_000;
    for _ in 0..LINE_COUNT {
        ts_ns += rng.below(5_000_000) as i64;
        let mut timestamp = String::new();
        format_rfc3339_nanos(ts_ns, &mut timestamp);
        let message = format!(
            "GET {}/{} status={} in {}.{}ms request_id={:012x}",
            rng.pick(&PATHS),
            rng.below(1_000_000),
            [200, 200, 201, 404, 500][rng.below(5) as usize],
            rng.below(900),
            rng.below(10),
            rng.next() & 0xffff_ffff_ffff,
        );
        let mut tags = format!(
            r#""env":"prod","region":"{}","service":"{}""#,
            rng.pick(&REGIONS),
            rng.pick(&["orders", "users", "billing"]),
        );
        for extra in 0..rng.below(3) {
            tags.push_str(&format!(r#","k{extra}":"v{}""#, rng.below(10_000)));
        }
        body.push_str(&format!(
            r#"{{"timestamp":"{timestamp}","source":"{}","level":"{}","message":"{message}","tags":{{{tags}}}}}"#,
            rng.pick(&SOURCES),
            rng.pick(&LEVELS),
        ));
        body.push('\n');
    }
    body.into_bytes()
}

/// A line as a borrowed typed struct: the serde_json ceiling baseline.
#[derive(Deserialize)]
#[allow(dead_code)] // Fields exist to be parsed, not read.
struct TypedLine<'a> {
    timestamp: &'a str,
    source: &'a str,
    level: &'a str,
    #[serde(borrow)]
    message: Cow<'a, str>,
    #[serde(borrow)]
    tags: &'a RawValue,
}

fn lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
}

fn bench_ingest_parse(c: &mut Criterion) {
    let body = ndjson_body();
    eprintln!(
        "ingest_parse: {LINE_COUNT} lines, {} bytes, {:.1} bytes/line (lines/s = bytes/s / that)",
        body.len(),
        body.len() as f64 / LINE_COUNT as f64
    );
    let mut batch = ColumnBatch::default();
    assert_eq!(
        parse_body(&body, BodyFormat::Ndjson, 0, &mut batch),
        Ok(LINE_COUNT)
    );

    let mut group = c.benchmark_group("ingest_parse");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("parse_body", |b| {
        b.iter(|| {
            batch.clear();
            black_box(parse_body(
                black_box(&body),
                BodyFormat::Ndjson,
                0,
                &mut batch,
            ))
        })
    });
    group.bench_function("serde_json_value", |b| {
        b.iter(|| {
            for line in lines(black_box(&body)) {
                black_box(
                    serde_json::from_slice::<serde_json::Value>(line).expect("generated JSON"),
                );
            }
        })
    });
    group.bench_function("serde_json_typed_borrowed", |b| {
        b.iter(|| {
            for line in lines(black_box(&body)) {
                black_box(serde_json::from_slice::<TypedLine<'_>>(line).expect("generated JSON"));
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_ingest_parse
}
criterion_main!(benches);
