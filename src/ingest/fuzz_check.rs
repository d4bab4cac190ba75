//! The fast-path-against-serde check, shared by `fast_tests` and the
//! fuzzers (`crate::fuzzing::ingest`): `fast` and `object` are private to
//! `ingest`, so the comparison lives here.

use super::error::Fault;
use super::fast::try_line;
use super::object::Decoder;
use super::parse::parse_line;
use crate::entry::ColumnBatch;

/// What one line decodes to: the batch, or the fault (or serde's error text).
type Outcome = Result<ColumnBatch, (Option<Fault>, String)>;

/// Panics unless `line`, decoded the way `parse_ndjson` does (fast path,
/// else serde on the same decoder), gives exactly what the serde path alone
/// gives: the same entry, or the same fault. Returns whether the fast path
/// took the line.
pub fn assert_fast_path_agrees_with_serde(line: &str, now_ns: i64) -> bool {
    let mut batch = ColumnBatch::default();
    let mut decoder = Decoder::new(&mut batch, now_ns);
    let taken = try_line(line, &mut decoder);
    let result = if taken {
        assert!(
            decoder.take_fault().is_none(),
            "the fast path records no faults"
        );
        Ok(())
    } else {
        parse_line(line, &mut decoder)
    };
    let fault = decoder.take_fault();
    drop(decoder);
    let through_fast_path: Outcome = match result {
        Ok(()) => Ok(batch),
        Err(error) => Err((fault, error.to_string())),
    };
    assert_eq!(
        through_fast_path,
        through_serde(line, now_ns),
        "line {line:?}"
    );
    taken
}

fn through_serde(line: &str, now_ns: i64) -> Outcome {
    let mut batch = ColumnBatch::default();
    let mut decoder = Decoder::new(&mut batch, now_ns);
    let result = parse_line(line, &mut decoder);
    let fault = decoder.take_fault();
    drop(decoder);
    match result {
        Ok(()) => Ok(batch),
        Err(error) => Err((fault, error.to_string())),
    }
}
