//! Literal rules shared by the SQL and search forms, so `level = 'err'`
//! and `level:err` accept exactly the same spellings with the same message.

use super::ast::Value;
use super::text::{TextMatcher, TextQuery};
use crate::entry::Level;
use crate::time::{epoch_from_f64, epoch_from_i64, parse_timestamp_text};

const LEVELS_EXPECTED: &str = "expected trace, debug, info, warn, error or fatal";

/// A level name in any spelling `Level::parse` knows (`WARNING`, `err`,
/// syslog numbers), normalised.
pub fn level_value(text: &str) -> Result<Level, String> {
    Level::parse(text).ok_or_else(|| format!("unknown level \"{text}\"; {LEVELS_EXPECTED}"))
}

/// RFC 3339 text or a number since the epoch (unit by magnitude), as
/// ingest and the JSON `time_range` accept them.
pub fn timestamp_from_text(text: &str) -> Result<i64, String> {
    parse_timestamp_text(text).map_err(|error| {
        format!(
            "\"{text}\" {error}; expected a time such as '2024-03-15T00:00:00Z' or a number since the epoch"
        )
    })
}

pub fn timestamp_from_int(value: i64) -> Result<i64, String> {
    epoch_from_i64(value).map_err(|error| format!("{value} {error}"))
}

pub fn timestamp_from_float(value: f64) -> Result<i64, String> {
    epoch_from_f64(value).map_err(|error| format!("{value} {error}"))
}

/// A decimal number as the search form writes it (`100`, `-5`, `1.5`,
/// `2e3`): `Int` when it has no fraction or exponent. `None` for anything
/// else, including `inf` and `NaN`, which `f64::from_str` would accept.
pub fn number_value(text: &str) -> Option<Value> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.starts_with(|c: char| c.is_ascii_digit())
        || !digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return None;
    }
    if digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return text.parse::<i64>().ok().map(Value::Int);
    }
    text.parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
        .map(Value::Float)
}

/// `text` as a LIKE pattern that matches only itself.
pub fn escape_like(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

/// Compiles a text query once so a bad one (invalid regex, too long, a
/// phrase of 40 words) is refused at parse time, with the position of the
/// text in the query.
pub fn check_text(query: &TextQuery) -> Result<(), String> {
    TextMatcher::compile(query).map(|_| ())
}
