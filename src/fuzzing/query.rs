//! The native query language (`q`, also the LogsQL endpoint's `query`),
//! the search form, and the JSON query body with its filter.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::block::{encode_block, Codec, DirectoryRef, EncodeScratch};
use crate::config::{Config, QueryConfig};
use crate::entry::{BatchView, ColumnBatch};
use crate::query::expr::CompiledExpr;
use crate::query::lang::{parse, parse_search, QUERY_BYTES_MAX};
use crate::query::prune::BlockFacts;
use crate::query::{compile, PlanError, QueryBody, QueryPlan};
use crate::storage::catalog::Catalog;

use super::{sample_batch, NOW_NS};

/// The partition the sample entries are in; `other` exists too.
const PARTITION: &str = "app";

/// Properties: parsing never panics; a statement that parses prints as
/// canonical text that parses back to the same statement; its filter
/// compiles or is refused with a message, and evaluating it never panics;
/// the whole request compiles or is refused, and a plan never prunes the
/// block of an entry it matches.
pub fn query_lang(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_search(text, 0);
    let Ok(statement) = parse(text, NOW_NS) else {
        return;
    };
    let canonical = statement.to_string();
    if canonical.len() <= QUERY_BYTES_MAX {
        let again = parse(&canonical, NOW_NS)
            .unwrap_or_else(|error| panic!("{canonical} does not parse back: {error}"));
        assert_eq!(again, statement, "{canonical}");
    }
    if let Some(filter) = &statement.filter {
        if let Ok(compiled) = CompiledExpr::compile(filter) {
            SAMPLE.with(|sample| {
                for row in 0..sample.batch.len() {
                    let _ = compiled.eval(&sample.batch, row);
                }
            });
        }
    }
    let body = QueryBody {
        q: Some(text.to_string()),
        ..QueryBody::default()
    };
    compile_and_check(body);
}

/// Properties: a JSON body either fails to deserialize or compiles into a
/// plan or a refusal with a message; a plan never prunes the block of an
/// entry it matches.
pub fn query_request(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<QueryBody>(data) else {
        return;
    };
    compile_and_check(body);
}

thread_local! {
    /// Built once per thread: a default `Config` asks the system for its
    /// host name and CPUs, and encoding a block is slow under sanitizers.
    static SAMPLE: Sample = Sample::new();
}

/// What every plan is checked against.
struct Sample {
    catalog: Catalog,
    limits: QueryConfig,
    batch: ColumnBatch,
    directory: DirectoryRef,
}

impl Sample {
    fn new() -> Sample {
        let batch = sample_batch();
        Sample {
            catalog: sample_catalog(),
            limits: Config::default().query,
            directory: sample_directory(&batch),
            batch,
        }
    }
}

fn compile_and_check(body: QueryBody) {
    SAMPLE.with(|sample| compile_and_check_with(body, sample));
}

fn compile_and_check_with(body: QueryBody, sample: &Sample) {
    match compile(body, &sample.catalog, &sample.limits) {
        Ok(plan) => check_plan(&plan, sample),
        Err(PlanError::BadRequest(message))
        | Err(PlanError::UnknownPartition(message))
        | Err(PlanError::InvalidCursor(message)) => assert!(!message.is_empty()),
    }
}

fn sample_catalog() -> Catalog {
    let mut catalog = Catalog::default();
    for name in [PARTITION, "other"] {
        let meta = catalog
            .prepare(name, BTreeMap::new(), None, NOW_NS)
            .expect("two distinct valid names");
        catalog.insert(Arc::new(meta));
    }
    catalog
}

/// Every sample entry the predicate matches lies in a block the plan's
/// block test keeps: pruning may only skip blocks without a match.
fn check_plan(plan: &QueryPlan, sample: &Sample) {
    let batch = &sample.batch;
    let facts = BlockFacts {
        directory: sample.directory.get(),
    };
    let pruned = plan.block_test.prune(&facts);
    let mut scratch = Vec::new();
    for row in 0..batch.len() {
        if plan.predicate.matches(batch, row, &mut scratch) {
            assert!(
                pruned.is_none(),
                "entry {row} ({:?}) matches, yet its block is pruned ({pruned:?})",
                batch.message(row)
            );
        }
    }
}

fn sample_directory(batch: &ColumnBatch) -> DirectoryRef {
    let mut out = Vec::new();
    let encoded = encode_block(
        batch,
        1,
        0,
        Codec::None,
        &mut EncodeScratch::new(),
        &mut out,
    )
    .expect("the sample batch encodes");
    DirectoryRef::new(&encoded.header, encoded.directory).expect("a block we encoded is valid")
}
