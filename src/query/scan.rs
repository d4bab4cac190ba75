//! Column-at-a-time evaluation: which rows of a batch (a decoded granule of
//! a sealed block, or an in-memory block) a predicate selects.
//!
//! Conditions run over whole columns into a narrowing selection of rows,
//! instead of the whole predicate per entry:
//! - the time range and levels are compared over the decoded arrays;
//! - equality on a source or tag with a dictionary compares ids, after one
//!   lookup of the value in the dictionary (a value the block lacks selects
//!   nothing without looking at a row);
//! - word, phrase, substring and regex matches on the message run one
//!   search over the granule's message bytes, back to back (`Scanner`), and
//!   confirm only the values it hits; a selection already small is checked
//!   value by value instead;
//! - anything else (LIKE, fuzzy words, fields, comparisons) is the
//!   predicate's own per-entry test on the rows still selected.
//!
//! Whatever the path, the rows selected are exactly those the per-entry
//! `Predicate::matches` accepts (the oracle test checks that against brute
//! force); the fast paths only decide how fast they are found.

use super::expr::CompiledExpr;
use super::filter::Predicate;
use super::lang::ast::{CmpOp, Field, Value};
use super::lang::text::{Scanner, TextMatcher};
use crate::block::{ArchivedDictionary, DecodedGranule};
use crate::entry::{BatchView, ColumnBatch, Level};

/// A selection scanned value by value instead of with one column search
/// once it is smaller than this fraction of the rows.
const SCAN_MIN_FRACTION: usize = 16;

/// Read access by column, on top of `BatchView`'s access by entry.
pub trait ScanView: BatchView {
    fn timestamps(&self) -> &[i64];
    fn levels(&self) -> &[u8];
    /// Every message's bytes back to back (UTF-8), and where each ends.
    fn message_column(&self) -> (&str, &[u32]);
    /// The source column's dictionary ids, when it has a dictionary.
    fn source_ids(&self) -> Option<(&[u32], &ArchivedDictionary)> {
        None
    }
    /// A tag column's dictionary ids (0: the entry lacks the tag), when it
    /// has a dictionary.
    fn tag_ids(&self, _key: &str) -> Option<(&[u32], &ArchivedDictionary)> {
        None
    }
}

impl ScanView for ColumnBatch {
    fn timestamps(&self) -> &[i64] {
        &self.timestamps_ns
    }
    fn levels(&self) -> &[u8] {
        &self.levels
    }
    fn message_column(&self) -> (&str, &[u32]) {
        let text = std::str::from_utf8(&self.messages.bytes)
            .expect("message columns hold UTF-8 (ColumnBatch invariant)");
        (text, &self.messages.ends)
    }
}

impl ScanView for DecodedGranule {
    fn timestamps(&self) -> &[i64] {
        DecodedGranule::timestamps(self)
    }
    fn levels(&self) -> &[u8] {
        DecodedGranule::levels(self)
    }
    fn message_column(&self) -> (&str, &[u32]) {
        let messages = self.messages().expect("message column decoded");
        // SAFETY: the string decoder checked that the data is UTF-8.
        let text = unsafe { std::str::from_utf8_unchecked(messages.data()) };
        (text, messages.ends())
    }
    fn source_ids(&self) -> Option<(&[u32], &ArchivedDictionary)> {
        DecodedGranule::source_ids(self)
    }
    fn tag_ids(&self, key: &str) -> Option<(&[u32], &ArchivedDictionary)> {
        DecodedGranule::tag_ids(self, key)
    }
}

/// The rows of `batch` that `predicate` selects, in order.
pub fn select<B: ScanView + ?Sized>(
    predicate: &Predicate,
    batch: &B,
    scratch: &mut Vec<u8>,
) -> Vec<u32> {
    select_from(predicate, batch, time_and_levels(predicate, batch), scratch)
}

/// `select`, starting from `rows`: ascending rows already inside the time
/// range and of a wanted level (a caller that knows them, such as a live
/// tail matching one batch for many subscribers, saves the pass).
pub fn select_from<B: ScanView + ?Sized>(
    predicate: &Predicate,
    batch: &B,
    mut rows: Vec<u32>,
    scratch: &mut Vec<u8>,
) -> Vec<u32> {
    debug_assert!(rows.windows(2).all(|pair| pair[0] < pair[1]));
    if let Some(source) = &predicate.source {
        rows = equal_source(batch, rows, source);
    }
    if let Some(prefix) = &predicate.source_prefix {
        rows.retain(|&row| batch.source(row as usize).starts_with(prefix.as_str()));
    }
    for (key, value) in &predicate.tags {
        rows = equal_tag(batch, rows, key, value);
    }
    if !predicate.tag_exists.is_empty() || !predicate.tag_levels.is_empty() {
        rows.retain(|&row| predicate.tags_and_levels_match(batch, row as usize));
    }
    if let Some(needle) = &predicate.message_contains {
        rows.retain(|&row| needle.is_in(batch.message(row as usize), scratch));
    }
    match &predicate.expr {
        Some(expr) if !rows.is_empty() => select_expr(expr, batch, rows),
        _ => rows,
    }
}

/// The rows inside the time range with a wanted level.
fn time_and_levels<B: ScanView + ?Sized>(predicate: &Predicate, batch: &B) -> Vec<u32> {
    let timestamps = batch.timestamps();
    let levels = batch.levels();
    let mask = predicate.level_mask;
    (0..timestamps.len() as u32)
        .filter(|&row| {
            let row = row as usize;
            predicate.in_time(timestamps[row])
                && mask
                    .is_none_or(|mask| mask & (1 << Level::from_byte(levels[row]).as_byte()) != 0)
        })
        .collect()
}

fn select_expr<B: ScanView + ?Sized>(expr: &CompiledExpr, batch: &B, rows: Vec<u32>) -> Vec<u32> {
    match expr {
        CompiledExpr::And(children) => children.iter().fold(rows, |rows, child| {
            if rows.is_empty() {
                rows
            } else {
                select_expr(child, batch, rows)
            }
        }),
        CompiledExpr::Or(children) => {
            let mut selected: Vec<u32> = Vec::new();
            for child in children {
                let found = select_expr(child, batch, rows.clone());
                selected = union(&selected, &found);
            }
            selected
        }
        CompiledExpr::Not(inner) => {
            let excluded = select_expr(inner, batch, rows.clone());
            difference(&rows, &excluded)
        }
        CompiledExpr::Text {
            field: Field::Message,
            matcher,
        } => scan_messages(batch, rows, matcher),
        CompiledExpr::Compare {
            field: Field::Source,
            op: CmpOp::Eq,
            value: Value::Str(text),
        } => equal_source(batch, rows, text),
        CompiledExpr::Compare {
            field: Field::Tag(key),
            op: CmpOp::Eq,
            value: Value::Str(text),
        } => equal_tag(batch, rows, key, text),
        CompiledExpr::True => rows,
        other => {
            let mut rows = rows;
            rows.retain(|&row| other.eval(batch, row as usize));
            rows
        }
    }
}

/// The rows whose message matches: one search over the message column
/// when many rows are still selected and the matcher has a scanner, each
/// hit confirmed; else each selected message on its own.
fn scan_messages<B: ScanView + ?Sized>(
    batch: &B,
    mut rows: Vec<u32>,
    matcher: &TextMatcher,
) -> Vec<u32> {
    let Some(scanner) = matcher.scanner() else {
        rows.retain(|&row| matcher.is_match(batch.message(row as usize)));
        return rows;
    };
    if rows.len() * SCAN_MIN_FRACTION < batch.entry_count() {
        rows.retain(|&row| matcher.is_match(batch.message(row as usize)));
        return rows;
    }
    let (text, ends) = batch.message_column();
    let hits = rows_with_hits(scanner, text, ends, &rows);
    hits.into_iter()
        .filter(|&row| matcher.is_match(batch.message(row as usize)))
        .collect()
}

/// The selected rows whose message holds a hit of `scanner`. After a hit
/// the search restarts at the start of the next selected row, so a hit
/// that runs into the next value is only a candidate for the row it starts
/// in, and cannot hide a hit of its own in the next (see `Scanner`).
fn rows_with_hits(scanner: &Scanner, text: &str, ends: &[u32], rows: &[u32]) -> Vec<u32> {
    let start_of = |row: usize| if row == 0 { 0 } else { ends[row - 1] as usize };
    let mut hits = Vec::new();
    let mut next = 0; // index into `rows`
    while next < rows.len() {
        let from = start_of(rows[next] as usize);
        let Some(position) = scanner.find_at(text, from) else {
            break;
        };
        // The row the hit starts in: the first whose end is past it.
        let row = ends.partition_point(|&end| end as usize <= position) as u32;
        let skip = rows[next..].partition_point(|&selected| selected < row);
        next += skip;
        if rows.get(next) == Some(&row) {
            hits.push(row);
            next += 1;
        }
    }
    hits
}

/// The rows whose source equals `wanted`: ids against the dictionary's id
/// for it when the source column has a dictionary.
fn equal_source<B: ScanView + ?Sized>(batch: &B, mut rows: Vec<u32>, wanted: &str) -> Vec<u32> {
    match batch.source_ids() {
        Some((ids, dictionary)) => match dictionary.find(wanted) {
            Some(id) => {
                rows.retain(|&row| ids[row as usize] as usize == id);
                rows
            }
            None => Vec::new(),
        },
        None => {
            rows.retain(|&row| batch.source(row as usize) == wanted);
            rows
        }
    }
}

/// The rows with tag `key` equal to `wanted`. With a dictionary column the
/// ids decide, unless extra tags may also hold the key (then rows the ids
/// reject are checked one by one).
fn equal_tag<B: ScanView + ?Sized>(
    batch: &B,
    mut rows: Vec<u32>,
    key: &str,
    wanted: &str,
) -> Vec<u32> {
    let has = |row: u32| batch.for_each_tag(row as usize, &mut |k, v| k == key && v == wanted);
    match batch.tag_ids(key) {
        Some((ids, dictionary)) => {
            let id = dictionary.find(wanted).map(|index| index as u32 + 1);
            rows.retain(|&row| Some(ids[row as usize]) == id || has(row));
            rows
        }
        None => {
            rows.retain(|&row| has(row));
            rows
        }
    }
}

/// Sorted union of two sorted row lists.
fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// The rows of sorted `a` not in sorted `b`.
fn difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut j = 0;
    a.iter()
        .copied()
        .filter(|row| {
            while j < b.len() && b[j] < *row {
                j += 1;
            }
            b.get(j) != Some(row)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::lang::parse;

    fn predicate(q: &str) -> Predicate {
        let statement = parse(q, 0).unwrap();
        Predicate {
            expr: Some(CompiledExpr::compile(&statement.filter.unwrap()).unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn hits_are_attributed_to_the_row_they_start_in() {
        let scanner = Scanner::Literal(Box::new(memchr::memmem::Finder::new(b"500").into_owned()));
        // Rows: "xx50", "0 yy 500", "abc", "500".
        let text = "xx500 yy 500abc500";
        let ends = [4, 12, 15, 18];
        assert_eq!(
            rows_with_hits(&scanner, text, &ends, &[0, 1, 2, 3]),
            vec![0, 1, 3]
        );
        assert_eq!(rows_with_hits(&scanner, text, &ends, &[1, 2]), vec![1]);
        assert_eq!(
            rows_with_hits(&scanner, text, &ends, &[2]),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn column_scans_select_what_the_entry_test_selects() {
        let mut batch = ColumnBatch::default();
        let messages = [
            "GET /a status=500 bytes=12",
            "status=200 bytes=500",
            "x5",
            "00 status 500",
            "Timeout",
            "timeouts",
            "conn reset",
            "connection refused by peer",
            "STATUS=500",
        ];
        for (i, message) in messages.iter().cycle().take(200).enumerate() {
            let entry = crate::entry::EntryRef {
                timestamp_ns: i as i64,
                level: Level::ALL[i % 7],
                source: if i % 3 == 0 { "web" } else { "db" },
                message,
                fields_json: "",
            };
            batch.push(
                &entry,
                &[("component", if i % 2 == 0 { "auth" } else { "billing" })],
            );
        }
        let mut scratch = Vec::new();
        for q in [
            "\"status=500\"",
            "timeout",
            "SELECT * WHERE message MATCHES 'conn(ection)? (reset|refused)'",
            "SELECT * WHERE message CONTAINS 'US=5'",
            "source:web -timeout",
            "component:billing (500 OR timeouts)",
            "SELECT * WHERE message MATCHES '^x5$'",
            "stat*",
        ] {
            let predicate = predicate(q);
            let expected: Vec<u32> = (0..batch.len() as u32)
                .filter(|&row| predicate.matches(&batch, row as usize, &mut scratch))
                .collect();
            assert_eq!(select(&predicate, &batch, &mut scratch), expected, "{q}");
        }
    }

    #[test]
    fn sorted_set_operations() {
        assert_eq!(union(&[1, 3, 5], &[2, 3, 6]), vec![1, 2, 3, 5, 6]);
        assert_eq!(difference(&[1, 2, 3, 5], &[2, 5, 9]), vec![1, 3]);
    }
}
