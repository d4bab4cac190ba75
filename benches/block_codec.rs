//! Sealing cost: `encode_block` (rkyv archive + compression + crc32 +
//! padding) of a 64k-entry batch of realistic log lines with every codec.
//! Throughput is in uncompressed (archive) bytes; the compression ratio of
//! each codec is printed once.
//!
//! Ceiling: sealing runs on the shard's core between ingest requests, so it
//! should stay well above the per-core ingest rate (a few hundred MB/s of
//! parsed JSON). lz4 and snappy typically manage 500+ MB/s, zstd-1 300-500,
//! gzip-6 tens of MB/s.

mod common;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use std::time::Duration;
use timberdb::block::{encode_block, Codec, EncodeScratch};

const ENTRIES_PER_BLOCK: usize = 64 * 1024;

const CODECS: [Codec; 6] = [
    Codec::None,
    Codec::Lz4,
    Codec::Zstd { level: 1 },
    Codec::Zstd { level: 3 },
    Codec::Snappy,
    Codec::Gzip { level: 6 },
];

fn bench_encode_block(c: &mut Criterion) {
    let batch = common::realistic_batch(ENTRIES_PER_BLOCK, 42);
    let mut scratch = EncodeScratch::new();
    let mut out = Vec::new();

    let mut group = c.benchmark_group("block_codec");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    group
        .warm_up_time(Duration::from_secs(1))
        .sampling_mode(SamplingMode::Flat);
    for codec in CODECS {
        out.clear();
        let header = encode_block(&batch, 1, codec, &mut scratch, &mut out).expect("encodes");
        let uncompressed_bytes = header.payload_bytes_uncompressed as u64;
        eprintln!(
            "block_codec: {codec}: {} entries, {} archive bytes -> {} payload bytes, ratio {:.2}",
            header.entry_count,
            uncompressed_bytes,
            header.payload_bytes_compressed,
            uncompressed_bytes as f64 / header.payload_bytes_compressed as f64
        );
        group.throughput(Throughput::BytesDecimal(uncompressed_bytes));
        group.bench_function(format!("encode_64k/{codec}"), |b| {
            b.iter(|| {
                out.clear();
                encode_block(&batch, 1, codec, &mut scratch, &mut out).expect("encodes")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_encode_block);
criterion_main!(benches);
