//! Loki push decode throughput: `decode_protobuf` (snappy + prost + label
//! parsing + mapping into a reused `ColumnBatch`) and `decode_json` on the
//! same 1000 deterministic lines in 20 streams, each line with two
//! structured-metadata pairs, the shape Promtail and Alloy send. Also the
//! snappy decompression alone, the floor under the protobuf path.
//! Throughput is in lines (elements).
//!
//! Run: `cargo bench --bench ingest_loki`.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use timberdb::config::protocols::LokiConfig;
use timberdb::entry::ColumnBatch;
use timberdb::protocol::loki::proto::{
    encode_snappy, EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
};
use timberdb::protocol::loki::{decode_json, decode_protobuf};

const LINE_COUNT: usize = 1000;
const STREAM_COUNT: usize = 20;
const SERVICES: [&str; 5] = ["checkout", "auth", "search", "billing", "gateway"];
const LEVELS: [&str; 4] = ["info", "warn", "error", "debug"];

fn line_text(index: usize) -> String {
    format!(
        "GET /api/v1/orders/{} HTTP/1.1 200 {} bytes in {}ms user=u{} session=s{:08x}",
        index * 7919 % 100_000,
        index * 31 % 9000 + 120,
        index % 250,
        index % 977,
        index * 2654435761 % (1 << 32)
    )
}

fn request() -> PushRequest {
    let per_stream = LINE_COUNT / STREAM_COUNT;
    let streams = (0..STREAM_COUNT)
        .map(|s| StreamAdapter {
            labels: Bytes::from(format!(
                "{{service_name=\"{}\", env=\"prod\", region=\"eu-west-1\", level=\"{}\"}}",
                SERVICES[s % SERVICES.len()],
                LEVELS[s % LEVELS.len()]
            )),
            entries: (0..per_stream)
                .map(|e| {
                    let index = s * per_stream + e;
                    EntryAdapter {
                        timestamp: Some(Timestamp {
                            seconds: 1_700_000_000 + index as i64,
                            nanos: (index * 1000) as i32,
                        }),
                        line: Bytes::from(line_text(index)),
                        structured_metadata: vec![
                            pair("host", &format!("host-{}", index % 200)),
                            pair("trace_id", &format!("{:016x}", index * 0x9e37_79b9)),
                        ],
                    }
                })
                .collect(),
            hash: 0,
        })
        .collect();
    PushRequest { streams }
}

fn pair(name: &str, value: &str) -> LabelPairAdapter {
    LabelPairAdapter {
        name: Bytes::copy_from_slice(name.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
    }
}

/// The same request as Loki JSON.
fn json_body(request: &PushRequest) -> Vec<u8> {
    let streams: Vec<serde_json::Value> = request
        .streams
        .iter()
        .map(|stream| {
            let labels = timberdb::protocol::loki::labels::parse_labels(
                std::str::from_utf8(&stream.labels).expect("utf8"),
            )
            .expect("labels");
            let labels: serde_json::Map<String, serde_json::Value> = labels
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned().into()))
                .collect();
            let values: Vec<serde_json::Value> = stream
                .entries
                .iter()
                .map(|entry| {
                    let ts = entry.timestamp.expect("ts").to_unix_ns().expect("ns");
                    let metadata: serde_json::Map<String, serde_json::Value> = entry
                        .structured_metadata
                        .iter()
                        .map(|p| {
                            (
                                String::from_utf8_lossy(&p.name).into_owned(),
                                String::from_utf8_lossy(&p.value).into_owned().into(),
                            )
                        })
                        .collect();
                    serde_json::json!([
                        ts.to_string(),
                        String::from_utf8_lossy(&entry.line),
                        metadata
                    ])
                })
                .collect();
            serde_json::json!({"stream": labels, "values": values})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "streams": streams })).expect("json")
}

fn bench(c: &mut Criterion) {
    let request = request();
    let protobuf = encode_snappy(&request);
    let json = json_body(&request);
    let mapping = LokiConfig::default().mapping;
    println!(
        "{LINE_COUNT} lines: protobuf+snappy {} bytes, JSON {} bytes",
        protobuf.len(),
        json.len()
    );
    let mut group = c.benchmark_group("loki_decode");
    group.throughput(Throughput::Elements(LINE_COUNT as u64));
    group.measurement_time(Duration::from_secs(5));
    let mut batch = ColumnBatch::default();
    group.bench_function("protobuf_snappy", |b| {
        b.iter(|| {
            batch.clear();
            let accepted = decode_protobuf(
                black_box(&protobuf),
                Some("application/x-protobuf"),
                (64 << 20, "max_request_size"),
                &mapping,
                0,
                &mut batch,
            )
            .expect("decodes");
            assert_eq!(accepted, LINE_COUNT);
        })
    });
    group.bench_function("json", |b| {
        b.iter(|| {
            batch.clear();
            let accepted = decode_json(black_box(&json), &mapping, 0, &mut batch).expect("decodes");
            assert_eq!(accepted, LINE_COUNT);
        })
    });
    group.bench_function("snappy_only", |b| {
        b.iter(|| {
            snap::raw::Decoder::new()
                .decompress_vec(black_box(&protobuf))
                .expect("snappy")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
