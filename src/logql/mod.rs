//! logql/: "what does this LogQL text ask for, in TimberDB's terms?"
//!
//! The subset of Grafana Loki's query language that Grafana's Loki data
//! source sends in Explore, parsed into `ast::Query` (`parser`) and
//! translated into TimberDB's own query tree (`translate`), so filtering,
//! pruning and limits are the engine's; `metric` turns the engine's time
//! buckets into Loki's matrix and vector series.
//!
//! Supported: stream selectors (`=`, `!=`, `=~`, `!~`), chained line filters
//! (`|=`, `!=`, `|~`, `!~`), `| drop __error__` (a no-op: nothing here sets
//! `__error__`), `count_over_time` and `rate` over a range, `sum`,
//! `sum by (..)`, `sum without (..)`, and arithmetic on number literals and
//! `vector(n)` (Grafana's health check is `vector(1)+vector(1)`).
//! Everything else (parsers such as `| json`, `line_format`, `unwrap`,
//! binary operations between queries) is refused with an error that names
//! it, never silently ignored. Errors carry the 1-based column, as Loki's
//! `parse error at line 1, col N: ...` does.

pub mod ast;
pub mod duration;
pub mod metric;
mod parser;
pub mod translate;

#[cfg(test)]
mod tests;

use std::fmt;

pub use ast::{
    Grouping, LineFilter, LineFilterOp, LogSelector, MatchOp, Matcher, Metric, Query,
    RangeAggregation, RangeFunction,
};

/// Longest query text, in bytes: a query is typed or templated by Grafana,
/// never megabytes; this bounds parse time and memory.
pub const QUERY_BYTES_MAX: usize = 16 * 1024;

/// A query Loki would refuse with `400 parse error ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based character column the problem starts at.
    pub col: usize,
    pub message: String,
}

impl ParseError {
    pub fn at(col: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            col,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Loki's own shape: queries are one line as far as clients care.
        write!(
            f,
            "parse error at line 1, col {}: {}",
            self.col, self.message
        )
    }
}

/// Parses one LogQL query.
pub fn parse(text: &str) -> Result<Query, ParseError> {
    if text.len() > QUERY_BYTES_MAX {
        return Err(ParseError::at(
            1,
            format!(
                "the query is {} bytes long; at most {QUERY_BYTES_MAX} are allowed",
                text.len()
            ),
        ));
    }
    parser::Parser::new(text).parse_query()
}
