//! Summarising a block at seal time (`BlockSummary::build`: source and tag
//! sets plus the word Bloom filter) and testing a summary at query time,
//! on the same 64k-entry realistic batch `block_codec` compresses.
//!
//! Ceiling: the summary is built on the shard's blocking thread next to
//! compression (LZ4 about 700 MB/s here), so it should cost no more than
//! compression does. A query tests one summary per sealed block; at well
//! under a microsecond per test, pruning 2 000 blocks costs about a
//! millisecond.

mod common;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use std::time::Duration;
use timberdb::block::{encode_block, Codec, EncodeScratch};
use timberdb::index::{ArchivedBlockSummary, BlockSummary, SummaryScratch};
use timberdb::text::keys::index_word_owned;

const ENTRIES_PER_BLOCK: usize = 64 * 1024;

fn bench_summary(c: &mut Criterion) {
    let batch = common::realistic_batch(ENTRIES_PER_BLOCK, 42);
    let mut out = Vec::new();
    let header =
        encode_block(&batch, 1, Codec::None, &mut EncodeScratch::new(), &mut out).expect("encodes");
    let mut scratch = SummaryScratch::default();
    let summary = BlockSummary::build(&batch, &header, 0, &mut scratch);
    let archive = rkyv::to_bytes::<rkyv::rancor::Error>(&summary).expect("archives");
    eprintln!(
        "block_summary: {} entries, {} archive bytes -> summary {} bytes ({} filter bytes, {} tag keys)",
        header.entry_count,
        header.payload_bytes_uncompressed,
        archive.len(),
        summary.filter.bits.len() * 8,
        summary.tags.len(),
    );

    let mut group = c.benchmark_group("block_summary");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::BytesDecimal(
        header.payload_bytes_uncompressed as u64,
    ));
    group.bench_function("build_64k", |b| {
        b.iter(|| BlockSummary::build(&batch, &header, 0, &mut scratch))
    });
    group.finish();

    let archived =
        rkyv::access::<ArchivedBlockSummary, rkyv::rancor::Error>(&archive).expect("valid");
    let absent = vec![index_word_owned("zebrafish")];
    let mut group = c.benchmark_group("block_summary_test");
    group.throughput(Throughput::Elements(1));
    group.bench_function("absent_word", |b| {
        b.iter(|| archived.may_have_words(std::hint::black_box(&absent)))
    });
    group.finish();
}

criterion_group!(benches, bench_summary);
criterion_main!(benches);
