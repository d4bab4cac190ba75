//! loadgen's `loki-proto` bodies carry exactly what its `loki` JSON bodies
//! carry: both decoded by the server's Loki decoders give the same batch.
//! (loadgen measures the two against each other, so they must be the same
//! work.) Also pins that the protobuf is what `prost` reads.

use loadgen::line::LogLine;
use loadgen::protocol::Protocol;
use loadgen::workload::{Generator, GeneratorConfig};
use timberdb::config::protocols::LokiConfig;
use timberdb::entry::ColumnBatch;
use timberdb::protocol::loki::{decode_json, decode_protobuf};

fn lines(count: usize) -> Vec<LogLine> {
    let generator = Generator::new(GeneratorConfig {
        seed: 11,
        line_bytes: 400,
    });
    (0..count)
        .map(|index| {
            let mut line = LogLine::new();
            generator.fill(index as u64, &mut line);
            line
        })
        .collect()
}

#[test]
fn loki_proto_and_loki_json_bodies_decode_to_the_same_entries() {
    let lines = lines(2_000);
    let mapping = LokiConfig::default().mapping;
    let mut json = Vec::new();
    Protocol::Loki.encode(&lines, "p", &mut json);
    let mut protobuf = Vec::new();
    Protocol::LokiProto.encode(&lines, "p", &mut protobuf);
    assert!(protobuf.len() < json.len());
    let mut from_json = ColumnBatch::default();
    let accepted = decode_json(&json, &mapping, 0, &mut from_json).expect("json decodes");
    assert_eq!(accepted, lines.len());
    let mut from_protobuf = ColumnBatch::default();
    let accepted = decode_protobuf(
        &protobuf,
        Some(Protocol::LokiProto.content_type()),
        (64 << 20, "max_request_size"),
        &mapping,
        0,
        &mut from_protobuf,
    )
    .expect("protobuf decodes");
    assert_eq!(accepted, lines.len());
    assert_eq!(from_protobuf, from_json);
    assert_eq!(from_json.sources.get(0), lines[0].source);
}

#[test]
fn a_second_encode_into_the_same_buffer_appends_an_identical_body() {
    let lines = lines(50);
    let mut first = Vec::new();
    Protocol::LokiProto.encode(&lines, "p", &mut first);
    let mut both = first.clone();
    Protocol::LokiProto.encode(&lines, "p", &mut both);
    assert_eq!(&both[first.len()..], &first[..]);
}
