//! WAL record framing cost: archive a 1000-entry batch and frame it as one
//! record (the per-request work on the ingest path before the write), and
//! read 100 such records back (the recovery path).
//!
//! Ceiling: the record framing itself is a crc32 (~10+ GB/s with SIMD) and a
//! memcpy; rkyv archiving of columns is a few memcpys. Both should be far
//! above an NVMe's ~2-3 GB/s sequential write, so the WAL is disk-bound.

mod common;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rkyv::util::AlignedVec;
use std::time::Duration;
use timberdb::wal::record::{encode_record, pad_to_page, RecordKind, RecordReader};

const ENTRIES_PER_BATCH: usize = 1000;
const RECORDS_READ: usize = 100;
const SEGMENT_SEQ: u64 = 7;

fn archive(batch: &timberdb::entry::ColumnBatch, buffer: AlignedVec) -> AlignedVec {
    rkyv::api::high::to_bytes_in::<_, rkyv::rancor::Error>(batch, buffer)
        .expect("archiving a batch into memory does not fail")
}

fn bench_encode(c: &mut Criterion) {
    let batch = common::realistic_batch(ENTRIES_PER_BATCH, 1);
    let payload_bytes = archive(&batch, AlignedVec::new()).len();
    eprintln!(
        "wal_record: {ENTRIES_PER_BATCH} entries, {} column bytes, {payload_bytes} payload bytes",
        batch.payload_bytes()
    );

    let mut group = c.benchmark_group("wal_record");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    group.throughput(Throughput::BytesDecimal(payload_bytes as u64));
    let mut buffer = AlignedVec::new();
    let mut out = Vec::with_capacity(payload_bytes + 8192);
    group.bench_function("archive_and_encode_1000_entries", |b| {
        b.iter(|| {
            buffer.clear();
            buffer = archive(&batch, std::mem::take(&mut buffer));
            out.clear();
            encode_record(&mut out, 0, SEGMENT_SEQ, RecordKind::Batch, &buffer);
            pad_to_page(&mut out, 0, SEGMENT_SEQ);
            out.len()
        })
    });
    let payload = archive(&batch, AlignedVec::new());
    group.bench_function("encode_only_1000_entries", |b| {
        b.iter(|| {
            out.clear();
            encode_record(&mut out, 0, SEGMENT_SEQ, RecordKind::Batch, &payload);
            out.len()
        })
    });
    group.finish();
}

fn bench_read(c: &mut Criterion) {
    let mut segment = Vec::new();
    for seed in 0..RECORDS_READ as u64 {
        let payload = archive(
            &common::realistic_batch(ENTRIES_PER_BATCH, seed),
            AlignedVec::new(),
        );
        encode_record(&mut segment, 0, SEGMENT_SEQ, RecordKind::Batch, &payload);
        pad_to_page(&mut segment, 0, SEGMENT_SEQ);
    }
    let mut group = c.benchmark_group("wal_record");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    group.throughput(Throughput::BytesDecimal(segment.len() as u64));
    group.bench_function("read_100_records", |b| {
        b.iter_batched(
            || RecordReader::new(&segment, 0, SEGMENT_SEQ),
            |mut reader| {
                let payload_bytes: usize = reader.by_ref().map(|record| record.payload.len()).sum();
                assert!(reader.end().is_clean());
                payload_bytes
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_encode, bench_read);
criterion_main!(benches);
