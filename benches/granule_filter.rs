//! A granule's word filter: collecting its items at seal time
//! (`FilterKeys`: every message word's key, hashed as it is scanned) and
//! building the binary fuse filter, per granule (`GRANULE_ROWS_MAX` entries) of realistic
//! lines; and probing a filter at query time.
//!
//! Ceiling: filters are built on the shard's blocking thread next to
//! compression, so per entry they should cost no more than compressing
//! that entry's message does (zstd-1 at ~450 MB/s: ~0.2 us for 90 bytes). A
//! query probes one filter per candidate granule; at a few nanoseconds per
//! probe, 100 000 granules cost well under a millisecond.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use timberdb::block::GRANULE_ROWS_MAX;
use timberdb::index::filter::{word_hash, GranuleFilter};
use timberdb::index::FilterKeys;
use timberdb::text::keys::index_word_owned;

fn bench_filter(c: &mut Criterion) {
    let batch = common::realistic_batch(GRANULE_ROWS_MAX, 42);
    let mut keys = FilterKeys::default();
    let mut filter = Vec::new();
    let build = |keys: &mut FilterKeys, filter: &mut Vec<u8>| {
        keys.clear();
        for row in 0..batch.len() {
            keys.add_message(batch.messages.get_bytes(row));
        }
        filter.clear();
        keys.build_into(filter)
    };
    let encoding = build(&mut keys, &mut filter);
    eprintln!(
        "granule_filter: {} entries, {} items, {} filter bytes ({:.2} bytes/entry)",
        batch.len(),
        keys.len(),
        filter.len(),
        filter.len() as f64 / batch.len() as f64
    );
    let mut group = c.benchmark_group("granule_filter");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("collect_and_build_granule", |b| {
        b.iter(|| build(&mut keys, &mut filter))
    });
    let parsed = GranuleFilter::parse(encoding, &filter).expect("a filter");
    let absent = word_hash(&index_word_owned("zebrafish"));
    group.throughput(Throughput::Elements(1));
    group.bench_function("probe_absent_word", |b| {
        b.iter(|| parsed.may_contain(black_box(absent)))
    });
    group.finish();
}

criterion_group!(benches, bench_filter);
criterion_main!(benches);
