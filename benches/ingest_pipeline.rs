//! The CPU work of durable ingest on one shard, without the I/O: what one
//! core does for each 1000-line NDJSON request between the socket and the
//! block file. It mirrors the real path stage by stage:
//!
//! 1. the HTTP handler gathers the body and parses it into a `ColumnBatch`
//!    taken from the shard's pool (`http/handlers/ingest.rs`);
//! 2. the commit loop archives the batch as a WAL record into the group's
//!    frame and copies that to the O_DIRECT buffer (`shard/commit.rs`,
//!    `wal/writer.rs`);
//! 3. after the (here skipped) fdatasync it appends the batch to the slice's
//!    active block (`shard/store.rs`) and returns it to the pool;
//! 4. every 8 MiB (the default `block_rotation`) the store worker seals the
//!    active block with the default codec (`shard/worker.rs`).
//!
//! 64 distinct bodies are sent round-robin so sealed blocks do not hold
//! repeated data. Throughput is in lines.
//!
//! Exact instruction counts, immune to the noise of a shared machine:
//! `PIPELINE_REQUESTS=256 valgrind --tool=callgrind
//! --toggle-collect='*ingest_requests*' <bench binary>` runs 256 requests
//! once, without criterion; divide the Ir by 256,000 lines.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, Criterion, Throughput};
use timberdb::block::{encode_block, Codec, EncodeScratch};
use timberdb::entry::{BatchPool, ColumnBatch};
use timberdb::ingest::{parse_body, BodyFormat};
use timberdb::shard::slice::Slice;
use timberdb::wal::payload::append_payload;
use timberdb::wal::record::{encode_record_with, pad_to_page, RecordKind};
use timberdb::wal::WalBatch;

const LINES_PER_REQUEST: usize = 1000;
const BODY_COUNT: usize = 64;
const BLOCK_ROTATION_BYTES: usize = 8 << 20;
const NOW_NS: i64 = 1_714_563_200_000_000_000;

/// One shard's state across requests, as the commit loop and worker hold it.
struct Pipeline {
    slice: Slice,
    pool: BatchPool,
    frame: Vec<u8>,
    wal_offset: u64,
    scratch: EncodeScratch,
    encoded: Vec<u8>,
    sealed_blocks: usize,
}

impl Pipeline {
    fn new() -> Pipeline {
        Pipeline {
            slice: Slice::new(1),
            pool: BatchPool::default(),
            frame: Vec::new(),
            wal_offset: 0,
            scratch: EncodeScratch::new(),
            encoded: Vec::new(),
            sealed_blocks: 0,
        }
    }

    fn ingest(&mut self, request_body: &[u8]) {
        // http/body.rs: gather the body into one buffer.
        let mut body = Vec::with_capacity(request_body.len());
        body.extend_from_slice(request_body);
        // http/handlers/ingest.rs: parse into a batch from the shard's pool.
        let mut batch = self.pool.take();
        let entry_count =
            parse_body(&body, BodyFormat::Ndjson, NOW_NS, &mut batch).expect("generated JSON");
        black_box(batch.payload_bytes());
        // shard/commit.rs + wal/writer.rs: number, archive into the frame,
        // copy the frame to the DMA buffer.
        let first_seq = self.slice.reserved_seq;
        self.slice.reserved_seq += entry_count as u64;
        let wal_batch = WalBatch {
            partition_key: 1,
            first_seq,
            batch,
        };
        self.frame.clear();
        encode_record_with(
            &mut self.frame,
            self.wal_offset,
            1,
            RecordKind::Batch,
            |out| {
                append_payload(&wal_batch, out);
            },
        );
        let batch = wal_batch.batch;
        pad_to_page(&mut self.frame, self.wal_offset, 1);
        let dma = self.frame.clone();
        self.wal_offset = (self.wal_offset + dma.len() as u64) % (64 << 20);
        black_box(dma);
        // shard/store.rs: make visible, rotate.
        if let Some(block) = self.slice.append(first_seq, &batch) {
            self.seal(&block.batch, block.first_seq);
        }
        if self.slice.active.payload_bytes() >= BLOCK_ROTATION_BYTES {
            let block = self.slice.take_active().expect("not empty");
            self.slice.active.reserve_like(&block.batch);
            self.seal(&block.batch, block.first_seq);
            self.slice.sealing.clear();
        }
        self.pool.put(batch);
    }

    /// shard/worker.rs: encode (granules, columns, filters, directory) one
    /// block with the default codec.
    fn seal(&mut self, batch: &ColumnBatch, first_seq: u64) {
        self.encoded.clear();
        encode_block(
            batch,
            1,
            first_seq,
            default_codec(),
            &mut self.scratch,
            &mut self.encoded,
        )
        .expect("block fits");
        self.sealed_blocks += 1;
    }
}

/// The codec the server seals with by default.
fn default_codec() -> Codec {
    timberdb::shard::store::codec_of(&timberdb::config::Config::default().storage)
}

fn bodies() -> Vec<Vec<u8>> {
    let lines = common::ndjson_body(LINES_PER_REQUEST * BODY_COUNT, 42);
    let mut bodies = Vec::with_capacity(BODY_COUNT);
    let mut rest = &lines[..];
    for _ in 0..BODY_COUNT {
        let mut end = 0;
        for _ in 0..LINES_PER_REQUEST {
            end += memchr::memchr(b'\n', &rest[end..]).expect("whole lines") + 1;
        }
        bodies.push(rest[..end].to_vec());
        rest = &rest[end..];
    }
    bodies
}

#[inline(never)]
fn ingest_requests(pipeline: &mut Pipeline, bodies: &[Vec<u8>], request_count: usize) {
    for body in bodies.iter().cycle().take(request_count) {
        pipeline.ingest(body);
    }
}

fn bench_ingest_pipeline(c: &mut Criterion) {
    let bodies = bodies();
    let body_bytes: usize = bodies.iter().map(Vec::len).sum();
    eprintln!(
        "ingest_pipeline: {BODY_COUNT} bodies of {LINES_PER_REQUEST} lines, {:.1} bytes/line",
        body_bytes as f64 / (BODY_COUNT * LINES_PER_REQUEST) as f64
    );
    let mut pipeline = Pipeline::new();
    let mut group = c.benchmark_group("ingest_pipeline");
    group.throughput(Throughput::Elements(LINES_PER_REQUEST as u64));
    let mut next = 0;
    group.bench_function("request_1000_lines", |b| {
        b.iter(|| {
            pipeline.ingest(&bodies[next % BODY_COUNT]);
            next += 1;
        })
    });
    group.finish();
}

/// `PIPELINE_REQUESTS=N`: run N requests once, outside criterion (for
/// valgrind), and print what was done.
fn run_once(request_count: usize) {
    let bodies = bodies();
    let mut pipeline = Pipeline::new();
    ingest_requests(&mut pipeline, &bodies, request_count);
    eprintln!(
        "ingest_pipeline: {request_count} requests, {} lines, {} blocks sealed",
        request_count * LINES_PER_REQUEST,
        pipeline.sealed_blocks
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = bench_ingest_pipeline
}

fn main() {
    match std::env::var("PIPELINE_REQUESTS") {
        Ok(count) => run_once(count.parse().expect("PIPELINE_REQUESTS is a number")),
        Err(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
