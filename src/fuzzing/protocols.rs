//! The shippers' protocol decoders (the targets that were first written
//! inline in `fuzz/fuzz_targets/`, moved here so the corpus test runs them
//! on stable too). Properties are unchanged.

use crate::config::protocols::LokiConfig;
use crate::config::{ElasticsearchConfig, JsonLineConfig, OtlpConfig};
use crate::entry::ColumnBatch;
use crate::logql::translate::{entries_statement, selector_expr, LabelNames};
use crate::logql::Query;
use crate::protocol::elasticsearch::bulk::parse_bulk;
use crate::protocol::jsonline::parse_lines;
use crate::protocol::mapped_json::Paths;
use crate::protocol::otlp::convert::convert;
use crate::protocol::otlp::encode::encode_request;
use crate::protocol::otlp::{decode, Encoding};
use crate::protocol::syslog::frame::{trim_frame, Framer, Next};
use crate::protocol::syslog::{entry, parse};
use crate::query::expr::CompiledExpr;

use super::NOW_NS;

/// The Elasticsearch `_bulk` and JSON lines decoders: never panic, and
/// every batch they leave holds its invariants (a failed document or line
/// leaves nothing behind).
pub fn es(body: &[u8]) {
    let es_paths = Paths::new(&ElasticsearchConfig::default().mapping);
    if let Ok(plan) = parse_bulk(body, Some("fuzz"), &es_paths, 1, &mut ColumnBatch::default) {
        for group in &plan.groups {
            assert_eq!(group.batch.check_invariants(), Ok(()));
        }
    }
    let mut jsonline_paths = Paths::new(&JsonLineConfig::default().mapping);
    jsonline_paths
        .set_tags("app,host.name")
        .expect("two tag fields are within the limit");
    let mut batch = ColumnBatch::default();
    let result = parse_lines(body, &jsonline_paths, 1, &mut batch);
    assert_eq!(batch.check_invariants(), Ok(()));
    if result.is_err() {
        assert!(batch.is_empty());
    }
}

/// The Loki push decoders: the protobuf path (snappy, prost, label
/// selectors) and the JSON path return `Ok` or a `LokiError`, never panic,
/// and leave the batch as it was on error.
pub fn loki(data: &[u8]) {
    use crate::protocol::loki::{decode_json, decode_protobuf, labels::parse_labels};
    let mapping = LokiConfig::default().mapping;
    let mut batch = ColumnBatch::default();
    let limit = (1 << 20, "max_request_size");
    // Raw bytes as a snappy body, and the same bytes compressed, so the
    // fuzzer reaches the protobuf decoder without having to learn snappy.
    let result = decode_protobuf(data, None, limit, &mapping, 0, &mut batch);
    assert!(result.is_ok() || batch.is_empty());
    let compressed = snap::raw::Encoder::new()
        .compress_vec(data)
        .expect("snappy compresses any input");
    batch.clear();
    let result = decode_protobuf(&compressed, None, limit, &mapping, 0, &mut batch);
    assert!(result.is_ok() || batch.is_empty());
    batch.clear();
    let result = decode_json(data, &mapping, 0, &mut batch);
    assert!(result.is_ok() || batch.is_empty());
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_labels(text);
    }
}

/// LogQL from the network: parsing never panics, and every query that
/// parses translates into a `q` statement whose canonical text the
/// engine's parser reads back to the same tree and whose filter compiles.
pub fn loki_query(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let selector = match crate::logql::parse(text) {
        Ok(Query::Logs(selector)) => selector,
        Ok(Query::Metric(metric)) => metric.range.selector,
        Ok(Query::Literal { .. }) | Err(_) => return,
    };
    let names = LabelNames {
        source: "service_name".into(),
        level: "level".into(),
    };
    let filter = selector_expr(&selector, &names);
    let statement = entries_statement("loki", filter.clone(), 100, true);
    let text = statement.to_string();
    if text.len() > crate::query::lang::QUERY_BYTES_MAX {
        // The server answers 400 ("the query is N bytes long").
        return;
    }
    let again = crate::query::lang::parse(&text, 0)
        .unwrap_or_else(|e| panic!("{statement} does not parse back: {e}"));
    assert_eq!(again, statement, "{statement}");
    // A too-long line filter is a 400 from compile, never a panic.
    let _ = CompiledExpr::compile(&filter);
}

/// The OTLP decoders: protobuf and JSON return a request or an error,
/// never panic; a decoded protobuf request survives encode-and-decode
/// unchanged; every decoded request converts to entries without panicking.
pub fn otlp(data: &[u8]) {
    let config = OtlpConfig::default();
    if let Ok(request) = decode(Encoding::Protobuf, data) {
        let again = encode_request(&request);
        let decoded = decode(Encoding::Protobuf, &again).expect("our own encoding decodes");
        // Debug text: NaN doubles compare equal there.
        assert_eq!(format!("{request:?}"), format!("{decoded:?}"));
        let _ = convert(&request, &config, 0, ColumnBatch::default);
    }
    if let Ok(request) = decode(Encoding::Json, data) {
        let _ = convert(&request, &config, 0, ColumnBatch::default);
    }
}

/// The syslog decoder on arbitrary TCP streams: framing, then parsing and
/// mapping every frame into a batch, never panics, always makes progress,
/// and keeps every batch's invariants. The first byte picks a small frame
/// limit so over-long paths are reached.
pub fn syslog(data: &[u8]) {
    let Some((&limit, stream)) = data.split_first() else {
        return;
    };
    let mut framer = Framer::new(usize::from(limit) + 1);
    let mut batch = ColumnBatch::default();
    let mut fields = String::new();
    let mut at = 0;
    loop {
        let frame = match framer.next(&stream[at..]) {
            Next::Message {
                start,
                end,
                consumed,
            } => {
                assert!(start <= end && end <= consumed && consumed > 0);
                let frame = &stream[at + start..at + end];
                at += consumed;
                frame
            }
            Next::LineCut { end } => {
                assert!(end > 0);
                let frame = &stream[at..at + end];
                at += end;
                frame
            }
            Next::Skipped { consumed } => {
                assert!(consumed > 0);
                at += consumed;
                continue;
            }
            Next::FrameTooLong { .. } | Next::NeedMore => break,
        };
        let text = String::from_utf8_lossy(trim_frame(frame));
        let message = parse::parse(&text, NOW_NS);
        let _ = entry::push_message(&mut batch, &message, &text, "peer", NOW_NS, &mut fields);
        if !fields.is_empty() {
            let parsed: Result<serde_json::Value, _> = serde_json::from_str(&fields);
            assert!(parsed.is_ok(), "structured data JSON: {fields}");
        }
    }
    assert!(batch.check_invariants().is_ok());
}
