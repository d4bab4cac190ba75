//! Evaluating a `q` filter (`lang::Expr`) against entries.
//!
//! `CompiledExpr::compile` turns the parsed tree into one whose text
//! matchers are built once per query; `eval` then runs per entry over a
//! `BatchView`, so the owned active block and the zero-copy archive of a
//! sealed block are filtered by the same code. The semantics are those
//! documented in `lang::ast`:
//! - a comparison on a tag or field the entry lacks is false (so `x != 'a'`
//!   skips entries without `x`, while `NOT x = 'a'` keeps them);
//! - text values compare as text, numbers numerically (a tag or field that
//!   does not parse as a number is false);
//! - `level` compares by severity; entries without a level never match a
//!   comparison on it.
//!
//! `time_bounds` extracts the `timestamp` range every match must fall in,
//! so blocks outside it are skipped before they are read.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use super::lang::ast::{CmpOp, Expr, Field, Value};
use super::lang::text::TextMatcher;
use crate::entry::BatchView;
use crate::entry::Level;

/// A filter ready to run: `lang::Expr` with compiled text matchers.
pub enum CompiledExpr {
    And(Vec<CompiledExpr>),
    Or(Vec<CompiledExpr>),
    Not(Box<CompiledExpr>),
    Compare {
        field: Field,
        op: CmpOp,
        value: Value,
    },
    In {
        field: Field,
        values: Vec<Value>,
    },
    Text {
        field: Field,
        matcher: TextMatcher,
    },
    Exists(Field),
    True,
}

impl CompiledExpr {
    /// Compiles the tree. Refuses what entries cannot be filtered on yet,
    /// with a message saying what to do instead.
    pub fn compile(expr: &Expr) -> Result<CompiledExpr, String> {
        Ok(match expr {
            Expr::And(children) => CompiledExpr::And(compile_all(children)?),
            Expr::Or(children) => CompiledExpr::Or(compile_all(children)?),
            Expr::Not(inner) => CompiledExpr::Not(Box::new(CompiledExpr::compile(inner)?)),
            Expr::Compare { field, op, value } => CompiledExpr::Compare {
                field: filterable(field)?,
                op: *op,
                value: value.clone(),
            },
            Expr::In { field, values } => CompiledExpr::In {
                field: filterable(field)?,
                values: values.clone(),
            },
            Expr::Text { field, query } => CompiledExpr::Text {
                field: filterable(field)?,
                matcher: TextMatcher::compile(query)?,
            },
            Expr::Exists(field) => CompiledExpr::Exists(filterable(field)?),
            Expr::True => CompiledExpr::True,
        })
    }

    /// Appends every field the expression reads (so a scan decodes their
    /// columns first).
    pub fn fields(&self, out: &mut Vec<Field>) {
        match self {
            CompiledExpr::And(children) | CompiledExpr::Or(children) => {
                children.iter().for_each(|child| child.fields(out));
            }
            CompiledExpr::Not(inner) => inner.fields(out),
            CompiledExpr::Compare { field, .. }
            | CompiledExpr::In { field, .. }
            | CompiledExpr::Text { field, .. }
            | CompiledExpr::Exists(field) => out.push(field.clone()),
            CompiledExpr::True => {}
        }
    }

    pub fn eval<B: BatchView + ?Sized>(&self, batch: &B, index: usize) -> bool {
        match self {
            CompiledExpr::And(children) => children.iter().all(|c| c.eval(batch, index)),
            CompiledExpr::Or(children) => children.iter().any(|c| c.eval(batch, index)),
            CompiledExpr::Not(inner) => !inner.eval(batch, index),
            CompiledExpr::Compare { field, op, value } => compare(batch, index, field, *op, value),
            CompiledExpr::In { field, values } => values
                .iter()
                .any(|value| compare(batch, index, field, CmpOp::Eq, value)),
            CompiledExpr::Text { field, matcher } => {
                with_text(batch, index, field, |text| matcher.is_match(text))
            }
            CompiledExpr::Exists(field) => exists(batch, index, field),
            CompiledExpr::True => true,
        }
    }
}

fn compile_all(children: &[Expr]) -> Result<Vec<CompiledExpr>, String> {
    children.iter().map(CompiledExpr::compile).collect()
}

/// `id` and `partition` are not columns of a block: the partition is
/// chosen with FROM, and ids are not filterable yet.
fn filterable(field: &Field) -> Result<Field, String> {
    match field {
        Field::Partition => {
            Err("filtering on partition is not supported: name the partitions in FROM".into())
        }
        Field::Id => Err("filtering on id is not supported yet: use a time range".into()),
        other => Ok(other.clone()),
    }
}

/// The entry's value of a field as text: a JSON string unescaped, anything
/// else as its JSON text (`42`, `true`, `{"a":1}`).
fn field_value<B: BatchView + ?Sized>(batch: &B, index: usize, key: &str) -> Option<String> {
    let json = batch.fields_json(index);
    if json.is_empty() || !json.contains(key) {
        return None;
    }
    let fields: BTreeMap<&str, &RawValue> = serde_json::from_str(json).ok()?;
    let raw = fields.get(key)?.get();
    match serde_json::from_str::<String>(raw) {
        Ok(text) => Some(text),
        Err(_) => Some(raw.to_string()),
    }
}

/// The text of a text-valued field, owned; `None` when the entry lacks it.
pub(super) fn field_text<B: BatchView + ?Sized>(
    batch: &B,
    index: usize,
    field: &Field,
) -> Option<String> {
    let mut found = None;
    with_text(batch, index, field, |text| {
        found = Some(text.to_string());
        true
    });
    found
}

/// Runs `check` on the text of a text-valued field; false when absent.
fn with_text<B: BatchView + ?Sized>(
    batch: &B,
    index: usize,
    field: &Field,
    mut check: impl FnMut(&str) -> bool,
) -> bool {
    match field {
        Field::Message => check(batch.message(index)),
        Field::Source => check(batch.source(index)),
        Field::Level => {
            let level = batch.level(index);
            level != Level::Unset && check(level.as_str())
        }
        Field::Tag(key) => {
            // The first tag with this key, checked in place: no copy per entry.
            let mut matched = false;
            batch.for_each_tag(index, &mut |k, v| {
                if k == key {
                    matched = check(v);
                }
                k == key
            });
            matched
        }
        Field::Field(key) => field_value(batch, index, key).is_some_and(|v| check(&v)),
        Field::Timestamp | Field::Id | Field::Partition => false,
    }
}

fn exists<B: BatchView + ?Sized>(batch: &B, index: usize, field: &Field) -> bool {
    match field {
        Field::Level => batch.level(index) != Level::Unset,
        Field::Tag(key) => batch.for_each_tag(index, &mut |k, _| k == key),
        Field::Field(key) => field_value(batch, index, key).is_some(),
        _ => true,
    }
}

fn compare<B: BatchView + ?Sized>(
    batch: &B,
    index: usize,
    field: &Field,
    op: CmpOp,
    value: &Value,
) -> bool {
    match (field, value) {
        (Field::Timestamp, Value::TimeNs(t)) => ordered(batch.timestamp_ns(index).cmp(t), op),
        (Field::Level, Value::Level(wanted)) => {
            let level = batch.level(index);
            level != Level::Unset && ordered(level.cmp(wanted), op)
        }
        _ => with_text(batch, index, field, |text| compare_text(text, op, value)),
    }
}

/// A tag's or field's text against a literal: numerically for numbers,
/// as text otherwise.
fn compare_text(text: &str, op: CmpOp, value: &Value) -> bool {
    match value {
        Value::Int(n) => numeric(text).is_some_and(|x| ordered_f64(x, *n as f64, op)),
        Value::Float(f) => numeric(text).is_some_and(|x| ordered_f64(x, *f, op)),
        Value::Str(s) => ordered(text.cmp(s.as_str()), op),
        Value::Bool(b) => ordered(text.cmp(if *b { "true" } else { "false" }), op),
        Value::TimeNs(_) | Value::Level(_) => false,
    }
}

pub(super) fn numeric(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

fn ordered(ordering: std::cmp::Ordering, op: CmpOp) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CmpOp::Eq => ordering == Equal,
        CmpOp::Ne => ordering != Equal,
        CmpOp::Lt => ordering == Less,
        CmpOp::Le => ordering != Greater,
        CmpOp::Gt => ordering == Greater,
        CmpOp::Ge => ordering != Less,
    }
}

fn ordered_f64(x: f64, y: f64, op: CmpOp) -> bool {
    x.partial_cmp(&y)
        .is_some_and(|ordering| ordered(ordering, op))
}

impl CompiledExpr {
    /// The source every entry the expression matches must have, from a
    /// `source = "..."` condition that must hold (at the top level or under
    /// `AND`). Lets a caller that grouped rows by source look at one group.
    pub fn required_source(&self) -> Option<&str> {
        match self {
            CompiledExpr::And(children) => children.iter().find_map(CompiledExpr::required_source),
            CompiledExpr::Compare {
                field: Field::Source,
                op: CmpOp::Eq,
                value: Value::Str(source),
            } => Some(source),
            _ => None,
        }
    }
}

/// The levels every entry the expression matches must have (bit
/// `1 << Level::as_byte`), from the `level` conditions that must all hold;
/// `None` when they do not narrow it. Lets blocks whose level mask lacks
/// them be skipped unread.
pub fn level_mask(expr: &Expr) -> Option<u8> {
    match expr {
        Expr::And(children) => children.iter().filter_map(level_mask).reduce(|a, b| a & b),
        Expr::Compare {
            field: Field::Level,
            op,
            value: Value::Level(wanted),
        } => Some(
            Level::ALL
                .iter()
                .filter(|&&level| level != Level::Unset && ordered(level.cmp(wanted), *op))
                .fold(0u8, |mask, level| mask | 1 << level.as_byte()),
        ),
        Expr::In {
            field: Field::Level,
            values,
        } => Some(values.iter().fold(0u8, |mask, value| match value {
            Value::Level(level) => mask | 1 << level.as_byte(),
            _ => mask,
        })),
        _ => None,
    }
}

/// Whether the expression is nothing but `timestamp` bounds and `level`
/// equalities, ANDed: then `time_bounds` and `level_mask` express it
/// exactly, and a plan can apply it as a time range and a level mask
/// instead of evaluating it per entry (which also lets a block inside both
/// be counted unread). `!=` is left out: it is no bound.
pub fn is_time_and_level_only(expr: &Expr) -> bool {
    let is_level = |value: &Value| matches!(value, Value::Level(level) if *level != Level::Unset);
    match expr {
        Expr::And(children) => children.iter().all(is_time_and_level_only),
        Expr::Compare {
            field: Field::Timestamp,
            op,
            value: Value::TimeNs(_),
        } => *op != CmpOp::Ne,
        Expr::Compare {
            field: Field::Level,
            op: CmpOp::Eq,
            value,
        } => is_level(value),
        Expr::In {
            field: Field::Level,
            values,
        } => values.iter().all(is_level),
        _ => false,
    }
}

/// The `[start, end)` range every entry the expression matches must fall
/// in, from the `timestamp` comparisons that must all hold (those at the
/// top level or under `AND`). `(i64::MIN, i64::MAX)` when none.
pub fn time_bounds(expr: &Expr) -> (i64, i64) {
    let mut bounds = (i64::MIN, i64::MAX);
    narrow(expr, &mut bounds);
    bounds
}

fn narrow(expr: &Expr, bounds: &mut (i64, i64)) {
    match expr {
        Expr::And(children) => children.iter().for_each(|c| narrow(c, bounds)),
        Expr::Compare {
            field: Field::Timestamp,
            op,
            value: Value::TimeNs(t),
        } => match op {
            CmpOp::Ge => bounds.0 = bounds.0.max(*t),
            CmpOp::Gt => bounds.0 = bounds.0.max(t.saturating_add(1)),
            CmpOp::Lt => bounds.1 = bounds.1.min(*t),
            CmpOp::Le => bounds.1 = bounds.1.min(t.saturating_add(1)),
            CmpOp::Eq => {
                bounds.0 = bounds.0.max(*t);
                bounds.1 = bounds.1.min(t.saturating_add(1));
            }
            CmpOp::Ne => {}
        },
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{ColumnBatch, EntryRef};
    use crate::query::lang::parse;

    /// Epoch numbers in a query below 1e11 are seconds.
    const SECOND: i64 = 1_000_000_000;

    fn batch() -> ColumnBatch {
        let mut batch = ColumnBatch::default();
        type Row<'a> = (
            i64,
            Level,
            &'a str,
            &'a str,
            &'a str,
            &'a [(&'a str, &'a str)],
        );
        let rows: [Row; 4] = [
            (
                10 * SECOND,
                Level::Error,
                "web-1",
                "Connection reset by peer",
                r#"{"duration_ms":912,"user":"ann"}"#,
                &[("component", "auth")],
            ),
            (
                20 * SECOND,
                Level::Info,
                "web-2",
                "user logged in after 3 retries",
                r#"{"duration_ms":15.5}"#,
                &[("component", "db"), ("region", "eu")],
            ),
            (
                30 * SECOND,
                Level::Unset,
                "db-1",
                "überlast: timeout waiting",
                "",
                &[("level", "loud")],
            ),
            (
                40 * SECOND,
                Level::Warn,
                "web-1",
                "slow request GET /api/v1/items",
                r#"{"status":"503"}"#,
                &[],
            ),
        ];
        for (ts, level, source, message, fields, tags) in rows {
            let entry = EntryRef {
                timestamp_ns: ts,
                level,
                source,
                message,
                fields_json: fields,
            };
            batch.push(&entry, tags);
        }
        batch
    }

    fn matching(q: &str) -> Vec<usize> {
        let statement = parse(q, 1_000).unwrap_or_else(|e| panic!("{q}: {e}"));
        let filter = CompiledExpr::compile(&statement.filter.unwrap_or(Expr::True)).unwrap();
        let batch = batch();
        (0..batch.len())
            .filter(|&i| filter.eval(&batch, i))
            .collect()
    }

    #[test]
    fn sql_filters() {
        assert_eq!(matching("SELECT * WHERE level = 'error'"), vec![0]);
        assert_eq!(matching("SELECT * WHERE level >= 'warn'"), vec![0, 3]);
        assert_eq!(matching("SELECT * WHERE message CONTAINS 'RESET'"), vec![0]);
        assert_eq!(
            matching("SELECT * WHERE component = 'auth' OR region = 'eu'"),
            vec![0, 1]
        );
        assert_eq!(matching("SELECT * WHERE component != 'auth'"), vec![1]);
        assert_eq!(
            matching("SELECT * WHERE NOT component = 'auth'"),
            vec![1, 2, 3]
        );
        assert_eq!(matching("SELECT * WHERE fields.duration_ms > 100"), vec![0]);
        assert_eq!(
            matching("SELECT * WHERE fields.duration_ms <= 15.5"),
            vec![1]
        );
        assert_eq!(matching("SELECT * WHERE fields.status = '503'"), vec![3]);
        assert_eq!(
            matching("SELECT * WHERE source LIKE 'web-%' AND timestamp >= 20"),
            vec![1, 3]
        );
        assert_eq!(
            matching("SELECT * WHERE source IN ('db-1', 'web-2')"),
            vec![1, 2]
        );
        assert_eq!(
            matching("SELECT * WHERE message MATCHES 'conn(ection)? reset'"),
            vec![0]
        );
        assert_eq!(matching("SELECT * WHERE tags.level IS NOT NULL"), vec![2]);
        assert_eq!(matching("SELECT * WHERE level IS NULL"), vec![2]);
        assert_eq!(
            matching("SELECT * WHERE fields.user IS NULL"),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn search_form() {
        assert_eq!(matching("level:error component:auth \"reset by\""), vec![0]);
        assert_eq!(matching("time*"), vec![2]);
        assert_eq!(matching("-component:auth"), vec![1, 2, 3]);
        assert!(
            matching("retires~1").is_empty(),
            "a transposition is two edits"
        );
        assert_eq!(matching("retries~1"), vec![1]);
        assert_eq!(matching("retrie~1"), vec![1]);
        assert_eq!(matching("ÜBERLAST"), vec![2]);
        assert_eq!(matching("source:web-*"), vec![0, 1, 3]);
        assert_eq!(matching("/items$/"), vec![3]);
        assert_eq!(matching("retri?s"), vec![1]);
        assert_eq!(matching("3"), vec![1]);
        assert_eq!(matching("?"), vec![1]);
        assert_eq!(
            matching("SELECT * WHERE SEARCH('after 3 ret?ies')"),
            vec![1]
        );
        assert_eq!(matching("SELECT * WHERE SEARCH('retri?s')"), vec![1]);
        assert_eq!(
            matching("SELECT * WHERE SEARCH('retri?s OR peer')"),
            vec![0, 1]
        );
    }

    #[test]
    fn refuses_what_blocks_do_not_hold() {
        let statement = parse("SELECT * WHERE partition = 'a'", 0).unwrap();
        let error = CompiledExpr::compile(&statement.filter.unwrap())
            .err()
            .unwrap();
        assert!(error.contains("FROM"), "{error}");
    }

    #[test]
    fn level_masks_come_from_conjunctions_only() {
        let mask = |q: &str| level_mask(&parse(q, 0).unwrap().filter.unwrap());
        let bit = |level: Level| 1u8 << level.as_byte();
        assert_eq!(
            mask("SELECT * WHERE level = 'error'"),
            Some(bit(Level::Error))
        );
        assert_eq!(
            mask("SELECT * WHERE level >= 'error' AND source = 'x'"),
            Some(bit(Level::Error) | bit(Level::Fatal))
        );
        assert_eq!(
            mask("SELECT * WHERE level IN ('info', 'warn') AND level != 'info'"),
            Some(bit(Level::Warn))
        );
        assert_eq!(mask("SELECT * WHERE level = 'error' OR source = 'x'"), None);
        assert_eq!(mask("SELECT * WHERE NOT level = 'error'"), None);
    }

    #[test]
    fn only_time_bounds_and_level_equalities_are_left_to_the_plan() {
        let only = |q: &str| is_time_and_level_only(&parse(q, 0).unwrap().filter.unwrap());
        assert!(only("SELECT * WHERE timestamp >= 10 AND timestamp < 20"));
        assert!(only(
            "SELECT * WHERE level IN ('warn', 'error') AND timestamp > now() - interval '1 hour'"
        ));
        assert!(only("SELECT * WHERE level = 'error' AND timestamp <= 5"));
        assert!(!only("SELECT * WHERE timestamp != 10"));
        assert!(!only("SELECT * WHERE level >= 'warn'"));
        assert!(!only("SELECT * WHERE level = 'error' OR timestamp < 5"));
        assert!(!only("SELECT * WHERE NOT level = 'error'"));
        assert!(!only("SELECT * WHERE level = 'error' AND source = 'x'"));
    }

    #[test]
    fn time_bounds_come_from_conjunctions_only() {
        let bounds = |q: &str| time_bounds(&parse(q, 0).unwrap().filter.unwrap());
        assert_eq!(
            bounds("SELECT * WHERE timestamp >= 10 AND timestamp < 20 AND level = 'error'"),
            (10 * SECOND, 20 * SECOND)
        );
        assert_eq!(
            bounds("SELECT * WHERE timestamp > 10 AND timestamp <= 20"),
            (10 * SECOND + 1, 20 * SECOND + 1)
        );
        assert_eq!(
            bounds("SELECT * WHERE timestamp >= 10 OR level = 'error'"),
            (i64::MIN, i64::MAX)
        );
        assert_eq!(
            bounds("SELECT * WHERE NOT timestamp >= 10"),
            (i64::MIN, i64::MAX)
        );
    }
}
