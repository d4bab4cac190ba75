//! The Loki push decoders on arbitrary bytes: the protobuf path (snappy,
//! prost, label selectors) and the JSON path must return `Ok` or a
//! `LokiError`, never panic, and leave the batch as it was on error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use timberdb::config::protocols::LokiConfig;
use timberdb::entry::ColumnBatch;
use timberdb::protocol::loki::{decode_json, decode_protobuf, labels::parse_labels};

fuzz_target!(|data: &[u8]| {
    let mapping = LokiConfig::default().mapping;
    let mut batch = ColumnBatch::default();
    let limit = (1 << 20, "max_request_size");
    // Raw bytes as a snappy body, and the same bytes compressed, so the
    // fuzzer reaches the protobuf decoder without having to learn snappy.
    let result = decode_protobuf(data, None, limit, &mapping, 0, &mut batch);
    assert!(result.is_ok() || batch.is_empty());
    let compressed = snap::raw::Encoder::new().compress_vec(data).expect("snappy");
    batch.clear();
    let result = decode_protobuf(&compressed, None, limit, &mapping, 0, &mut batch);
    assert!(result.is_ok() || batch.is_empty());
    batch.clear();
    let result = decode_json(data, &mapping, 0, &mut batch);
    assert!(result.is_ok() || batch.is_empty());
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_labels(text);
    }
});
