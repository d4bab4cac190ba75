//! loadgen's own hot loop: generating lines and encoding them. Both must
//! run far faster than the stores they feed, or a benchmark measures the
//! load generator. Run with `cargo bench -p loadgen --bench generate`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use loadgen::line::LogLine;
use loadgen::protocol::Protocol;
use loadgen::workload::{Generator, GeneratorConfig};

/// Lines per encoded batch, a typical request.
const BATCH_LINES: u64 = 1_000;
/// A 19-digit nanosecond timestamp, as senders stamp lines.
const T0: i64 = 1_710_498_600_123_456_789;

fn generate(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    group.throughput(Throughput::Elements(1));
    for line_bytes in [240, 1_000] {
        let generator = Generator::new(GeneratorConfig {
            seed: 1,
            line_bytes,
        });
        let mut line = LogLine::new();
        let mut index = 0u64;
        group.bench_function(format!("line_bytes_{line_bytes}"), |b| {
            b.iter(|| {
                generator.fill(index, &mut line);
                index = index.wrapping_add(1);
                black_box(&line);
            })
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let generator = Generator::new(GeneratorConfig::default());
    let lines: Vec<LogLine> = (0..BATCH_LINES)
        .map(|index| {
            let mut line = LogLine::new();
            generator.fill(index, &mut line);
            line.timestamp_ns = T0 + index as i64;
            line
        })
        .collect();
    let mut group = c.benchmark_group("encode");
    for protocol in Protocol::ALL {
        let mut body = Vec::new();
        protocol.encode(&lines, "main", &mut body);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(protocol.name(), |b| {
            b.iter(|| {
                body.clear();
                protocol.encode(black_box(&lines), "main", &mut body);
                black_box(&body);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, generate, encode);
criterion_main!(benches);
