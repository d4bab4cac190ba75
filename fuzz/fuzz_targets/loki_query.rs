//! LogQL from the network: parsing never panics, and every query that
//! parses translates into a `q` statement whose canonical text the engine's
//! parser reads back to the same tree and whose filter compiles.
#![no_main]

use libfuzzer_sys::fuzz_target;
use timberdb::logql::translate::{entries_statement, selector_expr, LabelNames};
use timberdb::logql::{parse, Query};
use timberdb::query::expr::CompiledExpr;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let selector = match parse(text) {
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
    if text.len() > timberdb::query::lang::QUERY_BYTES_MAX {
        // The server answers 400 ("the query is N bytes long").
        return;
    }
    let again = timberdb::query::lang::parse(&text, 0)
        .unwrap_or_else(|e| panic!("{statement} does not parse back: {e}"));
    assert_eq!(again, statement, "{statement}");
    // A too-long line filter is a 400 from compile, never a panic.
    let _ = CompiledExpr::compile(&filter);
});
