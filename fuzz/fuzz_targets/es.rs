//! The Elasticsearch `_bulk` and JSON lines decoders on arbitrary bytes:
//! they must never panic, and every batch they leave must hold its
//! invariants (a failed document or line leaves nothing behind).
#![no_main]

use libfuzzer_sys::fuzz_target;
use timberdb::config::{ElasticsearchConfig, JsonLineConfig};
use timberdb::entry::ColumnBatch;
use timberdb::protocol::elasticsearch::bulk::parse_bulk;
use timberdb::protocol::jsonline::parse_lines;
use timberdb::protocol::mapped_json::Paths;

fuzz_target!(|body: &[u8]| {
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
});
