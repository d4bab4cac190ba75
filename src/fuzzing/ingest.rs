//! The native ingest parser (`ingest::parse_body`): JSON object, array or
//! NDJSON, through the fast path and the serde fallback.

use crate::entry::ColumnBatch;
use crate::ingest::fuzz_check::assert_fast_path_agrees_with_serde;
use crate::ingest::{detect_format, parse_body, BodyFormat};

use super::NOW_NS;

/// Content types a client sends; the first input byte picks one (or none,
/// so the body is sniffed).
const CONTENT_TYPES: [Option<&str>; 4] = [
    None,
    Some("application/json"),
    Some("application/x-ndjson; charset=utf-8"),
    Some("text/plain"),
];

/// Properties: `parse_body` never panics under either format; on success
/// it appended exactly the count it returned and the batch holds its
/// invariants; on failure the batch is as it was (all or nothing, even
/// after earlier entries); every line decodes to the same thing through
/// the fast path as through serde alone.
pub fn ingest(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let detected = detect_format(content_type, body);
    for format in [detected, BodyFormat::Json, BodyFormat::Ndjson] {
        check_all_or_nothing(body, format);
    }
    if let Ok(text) = std::str::from_utf8(body) {
        for line in text.split('\n') {
            assert_fast_path_agrees_with_serde(line, NOW_NS);
        }
    }
}

fn check_all_or_nothing(body: &[u8], format: BodyFormat) {
    // A batch that already holds an entry, as a pooled batch may.
    let mut batch = ColumnBatch::default();
    let _ = parse_body(
        b"{\"message\":\"before\"}",
        BodyFormat::Json,
        NOW_NS,
        &mut batch,
    );
    let before = batch.clone();
    match parse_body(body, format, NOW_NS, &mut batch) {
        Ok(entry_count) => {
            assert!(entry_count > 0, "an accepted body holds entries");
            assert_eq!(batch.len(), before.len() + entry_count);
            assert_eq!(batch.check_invariants(), Ok(()));
        }
        Err(error) => {
            assert_eq!(batch, before, "a refused body leaves nothing behind");
            // The message a client reads is built without panicking.
            let _ = (error.to_string(), error.code(), error.location());
        }
    }
}
