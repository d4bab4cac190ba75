//! Query cost per granule: reading a granule's message frame (crc32,
//! decompression, offsets, UTF-8 check) and selecting the rows whose message
//! holds a word or a phrase with the column scan a query runs
//! (`query::scan`), over a 64k-entry block of realistic lines. Throughput is
//! in entries and in message bytes.
//!
//! Ceiling: a scan is bounded by decompression (lz4 ~3 GB/s, zstd-1 ~1.3 GB/s
//! of output here) and then by the literal search (memchr's memmem at
//! several GB/s); the target for a phrase count, 20 M lines/s per
//! core, is about 1.9 GB/s of message bytes.

mod common;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use timberdb::block::{
    decode_directory, encode_block, BlockHeader, Codec, ColumnSet, DecodedGranule, EncodeScratch,
    TagNeed,
};
use timberdb::entry::BatchView;
use timberdb::query::expr::CompiledExpr;
use timberdb::query::filter::Predicate;
use timberdb::query::lang::parse;
use timberdb::query::scan::select;

const ENTRIES_PER_BLOCK: usize = 64 * 1024;

const CODECS: [Codec; 3] = [Codec::None, Codec::Lz4, Codec::Zstd { level: 1 }];

/// Decodes the columns `set` names of every granule of the block in `bytes`.
fn decode_granules(bytes: &[u8], set: &ColumnSet) -> Vec<DecodedGranule> {
    let header = BlockHeader::decode(bytes).expect("header");
    let directory =
        decode_directory(&header, &bytes[header.directory_start() as usize..]).expect("directory");
    (0..header.granule_count as usize)
        .map(|index| {
            let mut granule = DecodedGranule::new(directory.clone(), index);
            for (column, frame, _) in granule.missing(set) {
                let stored = &bytes[frame.offset as usize..];
                granule.install(column, stored).expect("decodes");
            }
            granule
        })
        .collect()
}

fn predicate(q: &str) -> Predicate {
    let statement = parse(q, 0).expect("parses");
    Predicate {
        expr: Some(CompiledExpr::compile(&statement.filter.expect("a filter")).expect("compiles")),
        ..Default::default()
    }
}

fn bench_scan(c: &mut Criterion) {
    let batch = common::realistic_batch(ENTRIES_PER_BLOCK, 42);
    let message_bytes = batch.messages.bytes.len() as u64;
    let set = ColumnSet {
        message: true,
        tags: TagNeed::None,
        ..ColumnSet::default()
    };
    let queries = [
        ("word", predicate(common::SCAN_WORD)),
        ("phrase", predicate("\"status 500\"")),
    ];
    let mut group = c.benchmark_group("block_scan");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .sampling_mode(SamplingMode::Flat);
    for codec in CODECS {
        let mut bytes = Vec::new();
        encode_block(&batch, 1, 1, codec, &mut EncodeScratch::new(), &mut bytes).expect("encodes");
        let mut scratch = Vec::new();
        for (name, predicate) in &queries {
            let matching: usize = decode_granules(&bytes, &set)
                .iter()
                .map(|granule| select(predicate, granule, &mut scratch).len())
                .sum();
            eprintln!(
                "block_scan: {codec} {name}: {matching} of {} entries",
                batch.len()
            );
            for (unit, throughput) in [
                ("entries", Throughput::Elements(batch.len() as u64)),
                ("bytes", Throughput::BytesDecimal(message_bytes)),
            ] {
                group.throughput(throughput);
                group.bench_function(format!("decode_and_scan_64k/{codec}/{name}/{unit}"), |b| {
                    b.iter(|| {
                        decode_granules(&bytes, &set)
                            .iter()
                            .map(|granule| select(predicate, granule, &mut scratch).len())
                            .sum::<usize>()
                    })
                });
            }
        }
    }
    group.finish();
    let _ = batch.entry_count();
}

criterion_group!(benches, bench_scan);
criterion_main!(benches);
