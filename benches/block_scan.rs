//! Query cost per candidate block: `decode_block` (crc32, decompression,
//! rkyv validation, invariant checks) plus a scan of the archived batch for
//! entries at level error whose message contains a word. Reported twice:
//! in uncompressed bytes/s and in entries/s.
//!
//! Ceiling: the scan alone touches the level column and only the messages
//! of error entries, so it runs at memory speed; decode is dominated by
//! decompression (lz4/snappy ~1-3 GB/s, zstd ~1 GB/s, gzip ~300 MB/s) and by
//! validation, which reads every column once.

mod common;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use memchr::memmem::Finder;
use std::time::Duration;
use timberdb::block::BLOCK_HEADER_BYTES;
use timberdb::block::{decode_block_in, encode_block, BlockHeader, Codec, EncodeScratch};
use timberdb::entry::{ArchivedColumnBatch, Level};

const ENTRIES_PER_BLOCK: usize = 64 * 1024;

const CODECS: [Codec; 6] = [
    Codec::None,
    Codec::Lz4,
    Codec::Zstd { level: 1 },
    Codec::Zstd { level: 3 },
    Codec::Snappy,
    Codec::Gzip { level: 6 },
];

/// Entries at level error whose message contains `finder`'s needle. Reads
/// message bytes through the column's offsets (the archive was validated,
/// UTF-8 included, when the block was decoded).
fn count_matching_errors(batch: &ArchivedColumnBatch, finder: &Finder<'_>) -> usize {
    let error = Level::Error.as_byte();
    let messages = &batch.messages;
    let mut matching = 0;
    for (index, level) in batch.levels.iter().enumerate() {
        if *level != error {
            continue;
        }
        let start = if index == 0 {
            0
        } else {
            messages.ends[index - 1].to_native() as usize
        };
        let end = messages.ends[index].to_native() as usize;
        if finder.find(&messages.bytes[start..end]).is_some() {
            matching += 1;
        }
    }
    matching
}

fn encoded_blocks() -> Vec<(Codec, BlockHeader, Vec<u8>)> {
    let batch = common::realistic_batch(ENTRIES_PER_BLOCK, 42);
    let mut scratch = EncodeScratch::new();
    CODECS
        .into_iter()
        .map(|codec| {
            let mut out = Vec::new();
            let header = encode_block(&batch, 1, codec, &mut scratch, &mut out).expect("encodes");
            (codec, header, out)
        })
        .collect()
}

fn bench_decode_and_scan(c: &mut Criterion) {
    let blocks = encoded_blocks();
    let finder = Finder::new(common::SCAN_WORD);
    let (_, header, block) = &blocks[0];
    let decoded = decode_block_in(header, &block[BLOCK_HEADER_BYTES..], Default::default());
    let matching = count_matching_errors(decoded.expect("decodes").batch(), &finder);
    eprintln!(
        "block_scan: {} entries, {} archive bytes, {matching} errors mention {:?}",
        header.entry_count,
        header.payload_bytes_uncompressed,
        common::SCAN_WORD
    );
    for (group_name, per_entry) in [("block_scan", false), ("block_scan_entries", true)] {
        let mut group = c.benchmark_group(group_name);
        group
            .measurement_time(Duration::from_secs(3))
            .sample_size(20);
        group
            .warm_up_time(Duration::from_secs(1))
            .sampling_mode(SamplingMode::Flat);
        for (codec, header, block) in &blocks {
            let throughput = if per_entry {
                Throughput::Elements(u64::from(header.entry_count))
            } else {
                Throughput::BytesDecimal(u64::from(header.payload_bytes_uncompressed))
            };
            group.throughput(throughput);
            let payload = &block[BLOCK_HEADER_BYTES..];
            let mut buffer = Some(rkyv::util::AlignedVec::new());
            group.bench_function(format!("decode_and_scan_64k/{codec}"), |b| {
                b.iter(|| {
                    let reused = buffer.take().unwrap_or_default();
                    let decoded = decode_block_in(header, payload, reused).expect("decodes");
                    let matching = count_matching_errors(decoded.batch(), &finder);
                    buffer = Some(decoded.into_buffer());
                    matching
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_decode_and_scan);
criterion_main!(benches);
