//! Parser tests: the SQL form, the search form, exact error messages, and
//! the display round trip. Text matchers are tested in `text_tests.rs`.

mod errors;
mod round_trip;
mod search_form;
mod sql;

use super::*;
use crate::entry::Level;

/// 2024-03-15T00:00:00Z: what `now()` means in these tests.
pub const NOW_NS: i64 = 1_710_460_800_000_000_000;
pub const SECOND_NS: i64 = 1_000_000_000;

pub fn parse_ok(q: &str) -> Statement {
    parse(q, NOW_NS).unwrap_or_else(|error| panic!("{q:?} failed: {error}"))
}

/// The filter of a statement that must have one.
pub fn filter_of(q: &str) -> Expr {
    parse_ok(q)
        .filter
        .unwrap_or_else(|| panic!("{q:?} has no filter"))
}

/// The filter of `SELECT * WHERE <condition>`.
pub fn condition(text: &str) -> Expr {
    filter_of(&format!("SELECT * WHERE {text}"))
}

/// The error text (with its column) of a query that must fail.
pub fn error_of(q: &str) -> String {
    match parse(q, NOW_NS) {
        Ok(statement) => panic!("{q:?} parsed as {statement:?}"),
        Err(error) => error.to_string(),
    }
}

pub fn tag(key: &str) -> Field {
    Field::Tag(key.into())
}

pub fn str_value(text: &str) -> Value {
    Value::Str(text.into())
}

pub fn cmp(field: Field, op: CmpOp, value: Value) -> Expr {
    Expr::Compare { field, op, value }
}

pub fn eq(field: Field, value: Value) -> Expr {
    cmp(field, CmpOp::Eq, value)
}

pub fn level_is(level: Level) -> Expr {
    eq(Field::Level, Value::Level(level))
}

pub fn text(field: Field, query: TextQuery) -> Expr {
    Expr::Text { field, query }
}

pub fn message_word(word: &str) -> Expr {
    text(Field::Message, TextQuery::Word(word.into()))
}

pub fn not(expr: Expr) -> Expr {
    Expr::Not(Box::new(expr))
}
