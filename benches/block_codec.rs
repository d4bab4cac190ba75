//! Sealing cost: `encode_block` (granules, column encodings, compression of
//! each frame, granule word filters, directory, crc32s, padding) of a
//! 64k-entry batch of realistic log lines with every codec. Throughput is in
//! entries; the bytes per entry of each codec are printed once.
//!
//! Ceiling: sealing runs on the shard's core beside ingest, so its cost per
//! entry is part of the per-core ingest rate: at 1 M entries/s it may take
//! at most ~0.4 us of the 1 us each entry has (parsing and the WAL take the
//! rest).

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
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .sampling_mode(SamplingMode::Flat);
    for codec in CODECS {
        out.clear();
        let encoded = encode_block(&batch, 1, 1, codec, &mut scratch, &mut out).expect("encodes");
        eprintln!(
            "block_codec: {codec}: {} entries in {} granules, {} payload bytes -> {} block bytes, {:.1} bytes/entry",
            encoded.header.entry_count,
            encoded.header.granule_count,
            batch.payload_bytes(),
            out.len(),
            out.len() as f64 / batch.len() as f64
        );
        group.throughput(Throughput::Elements(batch.len() as u64));
        group.bench_function(format!("encode_64k/{codec}"), |b| {
            b.iter(|| {
                out.clear();
                encode_block(&batch, 1, 1, codec, &mut scratch, &mut out).expect("encodes")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_encode_block);
criterion_main!(benches);
