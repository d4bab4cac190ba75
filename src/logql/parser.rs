//! A recursive-descent parser for the LogQL subset (see `mod.rs`).
//!
//! Grammar (whitespace anywhere between tokens):
//!
//! ```text
//! query    = sum_expr EOF
//! sum_expr = product {("+" | "-") product}       only literals may be combined
//! product  = factor {("*" | "/") factor}
//! factor   = number | "vector" "(" number ")" | "(" sum_expr ")"
//!          | selector pipeline | metric
//! metric   = ("count_over_time" | "rate") "(" selector pipeline range pipeline ")"
//!          | "sum" [grouping] "(" metric ")" [grouping]
//! grouping = ("by" | "without") "(" [name {"," name}] ")"
//! selector = "{" matcher {"," matcher} "}"
//! matcher  = name ("=" | "!=" | "=~" | "!~") string
//! pipeline = {("|=" | "!=" | "|~" | "!~") string | "|" "drop" name {"," name}}
//! range    = "[" duration "]"
//! string   = "..." (Go escapes) | `...` (raw)
//! ```
//!
//! Depth is bounded (`NESTING_DEPTH_MAX`) so no query can exhaust the stack.

use super::ast::{
    Grouping, LineFilter, LineFilterOp, LogSelector, MatchOp, Matcher, Metric, Query,
    RangeAggregation, RangeFunction,
};
use super::duration::parse_duration_ns;
use super::ParseError;
use crate::query::lang::text::TEXT_QUERY_BYTES_MAX;

/// Parentheses nested deeper than this are refused.
pub const NESTING_DEPTH_MAX: usize = 32;

/// The engine's bound on one text match, less what the translation adds
/// around a pattern (`(?-i)^(?:` ... `)$`), so every string that parses
/// here also compiles there.
const PATTERN_BYTES_MAX: usize = TEXT_QUERY_BYTES_MAX - 16;

/// Pipeline stages and functions Loki has that this server does not run;
/// naming them gives a clear 400 instead of a generic syntax error.
const UNSUPPORTED_STAGES: &[&str] = &[
    "json",
    "logfmt",
    "regexp",
    "pattern",
    "unpack",
    "line_format",
    "label_format",
    "keep",
    "decolorize",
    "unwrap",
    "distinct",
];
const UNSUPPORTED_FUNCTIONS: &[&str] = &[
    "bytes_over_time",
    "bytes_rate",
    "rate_counter",
    "avg_over_time",
    "sum_over_time",
    "min_over_time",
    "max_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
    "first_over_time",
    "last_over_time",
    "absent_over_time",
    "avg",
    "min",
    "max",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "sort",
    "sort_desc",
    "label_replace",
];

/// An intermediate value of `sum_expr`: literals fold as they are combined.
enum Node {
    Literal { value: f64, is_vector: bool },
    Query(Query),
}

pub struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl Parser {
    pub fn new(text: &str) -> Parser {
        Parser {
            chars: text.chars().collect(),
            pos: 0,
            depth: 0,
        }
    }

    pub fn parse_query(mut self) -> Result<Query, ParseError> {
        self.skip_space();
        if self.pos == self.chars.len() {
            return Err(self.error("syntax error: empty query"));
        }
        let node = self.sum_expr()?;
        self.skip_space();
        if self.pos < self.chars.len() {
            return Err(self.unexpected());
        }
        Ok(match node {
            Node::Literal { value, is_vector } => Query::Literal { value, is_vector },
            Node::Query(query) => query,
        })
    }

    fn sum_expr(&mut self) -> Result<Node, ParseError> {
        let mut left = self.product()?;
        loop {
            self.skip_space();
            let op_col = self.col();
            let op = match self.peek() {
                Some('+') => '+',
                Some('-') => '-',
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = self.product()?;
            left = combine(left, op, right, op_col)?;
        }
    }

    fn product(&mut self) -> Result<Node, ParseError> {
        let mut left = self.factor()?;
        loop {
            self.skip_space();
            let op_col = self.col();
            let op = match self.peek() {
                Some('*') => '*',
                Some('/') => '/',
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = self.factor()?;
            left = combine(left, op, right, op_col)?;
        }
    }

    fn factor(&mut self) -> Result<Node, ParseError> {
        self.skip_space();
        match self.peek() {
            Some('(') => {
                self.enter()?;
                self.pos += 1;
                let inner = self.sum_expr()?;
                self.expect(')')?;
                self.depth -= 1;
                Ok(inner)
            }
            Some('{') => Ok(Node::Query(Query::Logs(self.log_selector()?))),
            Some(c) if c.is_ascii_digit() || c == '.' => Ok(Node::Literal {
                value: self.number()?,
                is_vector: false,
            }),
            Some(c) if is_name_start(c) => self.function(),
            _ => Err(self.unexpected()),
        }
    }

    /// A name at the start of a factor: `vector`, a metric, or something
    /// unsupported that deserves to be named.
    fn function(&mut self) -> Result<Node, ParseError> {
        let col = self.col();
        let name = self.peek_name();
        match name.as_str() {
            "vector" => {
                self.pos += name.chars().count();
                self.expect('(')?;
                self.skip_space();
                let value = self.number()?;
                self.expect(')')?;
                Ok(Node::Literal {
                    value,
                    is_vector: true,
                })
            }
            "count_over_time" | "rate" | "sum" => Ok(Node::Query(Query::Metric(self.metric()?))),
            other if UNSUPPORTED_FUNCTIONS.contains(&other) => Err(ParseError::at(
                col,
                format!(
                    "{other} is not supported by this server; use count_over_time, rate or sum"
                ),
            )),
            _ => Err(self.unexpected()),
        }
    }

    fn metric(&mut self) -> Result<Metric, ParseError> {
        let col = self.col();
        let name = self.name()?;
        match name.as_str() {
            "count_over_time" | "rate" => Ok(Metric {
                sum: None,
                range: self.range_aggregation(&name)?,
            }),
            "sum" => {
                let mut grouping = self.grouping()?;
                self.expect('(')?;
                self.skip_space();
                let inner_col = self.col();
                let inner = match self.peek_name().as_str() {
                    "count_over_time" | "rate" => self.metric()?,
                    "sum" => {
                        return Err(ParseError::at(
                            inner_col,
                            "sum of a sum is not supported; sum the range aggregation once",
                        ))
                    }
                    _ => {
                        return Err(self.error(
                            "syntax error: sum needs count_over_time(...) or rate(...) inside",
                        ))
                    }
                };
                self.expect(')')?;
                if grouping.is_none() {
                    grouping = self.grouping()?;
                }
                Ok(Metric {
                    sum: Some(grouping.unwrap_or(Grouping::All)),
                    range: inner.range,
                })
            }
            other => Err(ParseError::at(
                col,
                format!("syntax error: unexpected {other}"),
            )),
        }
    }

    fn range_aggregation(&mut self, name: &str) -> Result<RangeAggregation, ParseError> {
        let function = if name == "rate" {
            RangeFunction::Rate
        } else {
            RangeFunction::CountOverTime
        };
        self.expect('(')?;
        self.skip_space();
        if self.peek() != Some('{') {
            return Err(self.error(format!(
                "syntax error: {name} needs a log selector and a range, e.g. {name}({{app=\"x\"}}[5m])"
            )));
        }
        let mut selector = self.log_selector()?;
        self.skip_space();
        if self.peek() != Some('[') {
            return Err(self.error(format!(
                "syntax error: {name} needs a range such as [5m] after the log selector"
            )));
        }
        let range_ns = self.range()?;
        // Loki also takes the range before the pipeline: `{a="b"}[5m] |= "x"`.
        self.pipeline(&mut selector.filters)?;
        self.expect(')')?;
        Ok(RangeAggregation {
            function,
            selector,
            range_ns,
        })
    }

    /// `[5m]`.
    fn range(&mut self) -> Result<i64, ParseError> {
        self.expect('[')?;
        self.skip_space();
        let col = self.col();
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        let range_ns = parse_duration_ns(&text).map_err(|e| ParseError::at(col, e))?;
        if range_ns < 1_000_000 || range_ns % 1_000_000 != 0 {
            return Err(ParseError::at(
                col,
                "a range must be a whole number of milliseconds",
            ));
        }
        self.expect(']')?;
        Ok(range_ns)
    }

    /// `by (a, b)` or `without (a)`, if present.
    fn grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        self.skip_space();
        let word = self.peek_name();
        let without = match word.as_str() {
            "by" => false,
            "without" => true,
            _ => return Ok(None),
        };
        self.pos += word.chars().count();
        self.expect('(')?;
        let mut labels = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some(')') && labels.is_empty() {
                break;
            }
            labels.push(self.name()?);
            self.skip_space();
            if self.peek() == Some(',') {
                self.pos += 1;
                continue;
            }
            break;
        }
        self.expect(')')?;
        Ok(Some(if without {
            Grouping::Without(labels)
        } else if labels.is_empty() {
            Grouping::All
        } else {
            Grouping::By(labels)
        }))
    }

    fn log_selector(&mut self) -> Result<LogSelector, ParseError> {
        let open_col = self.col();
        self.expect('{')?;
        let mut matchers = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some('}') {
                self.pos += 1;
                break;
            }
            if !matchers.is_empty() {
                self.expect(',')?;
                self.skip_space();
            }
            matchers.push(self.matcher()?);
        }
        if matchers.is_empty() {
            return Err(ParseError::at(
                open_col,
                "queries require at least one label matcher, e.g. {app=\"x\"}",
            ));
        }
        let mut filters = Vec::new();
        self.pipeline(&mut filters)?;
        Ok(LogSelector { matchers, filters })
    }

    fn matcher(&mut self) -> Result<Matcher, ParseError> {
        let name = self.name()?;
        self.skip_space();
        let op = match (self.peek(), self.peek_at(1)) {
            (Some('='), Some('~')) => MatchOp::Re,
            (Some('!'), Some('~')) => MatchOp::NotRe,
            (Some('!'), Some('=')) => MatchOp::Ne,
            (Some('='), _) => MatchOp::Eq,
            _ => {
                return Err(
                    self.error("syntax error: expected =, !=, =~ or !~ after the label name")
                )
            }
        };
        self.pos += if op == MatchOp::Eq { 1 } else { 2 };
        self.skip_space();
        let value_col = self.col();
        let value = self.string()?;
        check_length(&value, value.len(), value_col)?;
        if matches!(op, MatchOp::Re | MatchOp::NotRe) {
            check_regex(&value).map_err(|e| ParseError::at(value_col, e))?;
        }
        Ok(Matcher { name, op, value })
    }

    /// Line filters and the stages that are no-ops here, until the next
    /// token is something else.
    fn pipeline(&mut self, filters: &mut Vec<LineFilter>) -> Result<(), ParseError> {
        loop {
            self.skip_space();
            let op = match (self.peek(), self.peek_at(1)) {
                (Some('|'), Some('=')) => LineFilterOp::Contains,
                (Some('|'), Some('~')) => LineFilterOp::Re,
                (Some('!'), Some('=')) => LineFilterOp::NotContains,
                (Some('!'), Some('~')) => LineFilterOp::NotRe,
                (Some('|'), _) => {
                    self.pos += 1;
                    self.stage()?;
                    continue;
                }
                _ => return Ok(()),
            };
            self.pos += 2;
            self.skip_space();
            let col = self.col();
            let text = self.string()?;
            // A contains-filter also runs as an escaped regex.
            check_length(&text, regex::escape(&text).len(), col)?;
            if matches!(op, LineFilterOp::Re | LineFilterOp::NotRe) {
                check_regex(&text).map_err(|e| ParseError::at(col, e))?;
            }
            filters.push(LineFilter { op, text });
        }
    }

    /// A `| stage`: only `drop __error__[, __error_details__]` (which
    /// Grafana adds to its log-volume query) is accepted, as a no-op.
    fn stage(&mut self) -> Result<(), ParseError> {
        self.skip_space();
        let col = self.col();
        let name = self.peek_name();
        if name == "drop" {
            self.pos += name.chars().count();
            loop {
                self.skip_space();
                let label_col = self.col();
                let label = self.name()?;
                if !label.starts_with("__error") {
                    return Err(ParseError::at(
                        label_col,
                        format!("| drop {label} is not supported; only | drop __error__ (a no-op here) is"),
                    ));
                }
                self.skip_space();
                if self.peek() != Some(',') {
                    return Ok(());
                }
                self.pos += 1;
            }
        }
        if UNSUPPORTED_STAGES.contains(&name.as_str()) {
            return Err(ParseError::at(
                col,
                format!("the pipeline stage | {name} is not supported by this server; only line filters (|= != |~ !~) are"),
            ));
        }
        if is_name_start(self.peek().unwrap_or(' ')) {
            return Err(ParseError::at(
                col,
                format!("label filters (| {name} ...) are not supported by this server; put the label in the {{...}} selector"),
            ));
        }
        Err(self.unexpected())
    }

    /// A Go-syntax string: `"..."` with escapes or `` `...` `` raw.
    fn string(&mut self) -> Result<String, ParseError> {
        match self.peek() {
            Some('`') => {
                let col = self.col();
                self.pos += 1;
                let start = self.pos;
                while self.peek().is_some_and(|c| c != '`') {
                    self.pos += 1;
                }
                if self.peek().is_none() {
                    return Err(ParseError::at(col, "syntax error: unterminated raw string"));
                }
                let text = self.chars[start..self.pos].iter().collect();
                self.pos += 1;
                Ok(text)
            }
            Some('"') => self.quoted_string(),
            _ => Err(self.error("syntax error: expected a string in double quotes or backticks")),
        }
    }

    fn quoted_string(&mut self) -> Result<String, ParseError> {
        let col = self.col();
        self.pos += 1;
        let mut text = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(ParseError::at(col, "syntax error: unterminated string"));
            };
            self.pos += 1;
            match c {
                '"' => return Ok(text),
                '\\' => {
                    let escape_col = self.col();
                    let escaped = self
                        .peek()
                        .ok_or_else(|| ParseError::at(col, "syntax error: unterminated string"))?;
                    self.pos += 1;
                    text.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '\\' => '\\',
                        '"' => '"',
                        '\'' => '\'',
                        '0' => '\0',
                        other => {
                            return Err(ParseError::at(
                                escape_col - 1,
                                format!("syntax error: unknown escape \\{other} (write \\\\ for a backslash)"),
                            ))
                        }
                    });
                }
                other => text.push(other),
            }
        }
    }

    fn number(&mut self) -> Result<f64, ParseError> {
        let col = self.col();
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E')
        {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| ParseError::at(col, format!("syntax error: {text:?} is not a number")))
    }

    /// A label or function name: `[A-Za-z_][A-Za-z0-9_]*`.
    fn name(&mut self) -> Result<String, ParseError> {
        let name = self.peek_name();
        if name.is_empty() {
            return Err(self.unexpected_expecting("a label name"));
        }
        self.pos += name.chars().count();
        Ok(name)
    }

    fn peek_name(&self) -> String {
        let mut end = self.pos;
        if self.chars.get(end).is_some_and(|c| is_name_start(*c)) {
            while self
                .chars
                .get(end)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                end += 1;
            }
        }
        self.chars[self.pos..end].iter().collect()
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > NESTING_DEPTH_MAX {
            return Err(self.error(format!(
                "parentheses nest deeper than {NESTING_DEPTH_MAX} levels"
            )));
        }
        Ok(())
    }

    fn expect(&mut self, wanted: char) -> Result<(), ParseError> {
        self.skip_space();
        if self.peek() == Some(wanted) {
            self.pos += 1;
            return Ok(());
        }
        Err(self.unexpected_expecting(&format!("\"{wanted}\"")))
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn col(&self) -> usize {
        self.pos + 1
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError::at(self.col(), message)
    }

    fn unexpected(&self) -> ParseError {
        match self.peek() {
            None => self.error("syntax error: unexpected end of query"),
            Some(c) => self.error(format!("syntax error: unexpected {c:?}")),
        }
    }

    fn unexpected_expecting(&self, wanted: &str) -> ParseError {
        match self.peek() {
            None => self.error(format!(
                "syntax error: unexpected end of query, expected {wanted}"
            )),
            Some(c) => self.error(format!("syntax error: unexpected {c:?}, expected {wanted}")),
        }
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

/// Folds `left op right` when both are literals; anything else is a binary
/// operation between queries, which this server does not run.
fn combine(left: Node, op: char, right: Node, op_col: usize) -> Result<Node, ParseError> {
    match (left, right) {
        (
            Node::Literal {
                value: a,
                is_vector: va,
            },
            Node::Literal {
                value: b,
                is_vector: vb,
            },
        ) => {
            let value = match op {
                '+' => a + b,
                '-' => a - b,
                '*' => a * b,
                _ => a / b,
            };
            Ok(Node::Literal {
                value,
                is_vector: va || vb,
            })
        }
        _ => Err(ParseError::at(
            op_col,
            format!(
                "binary operation {op:?} on log or metric queries is not supported by this server"
            ),
        )),
    }
}

/// Refuses a string the engine could not match with (`as_pattern_bytes`:
/// its length once it is a pattern).
fn check_length(text: &str, as_pattern_bytes: usize, col: usize) -> Result<(), ParseError> {
    if as_pattern_bytes > PATTERN_BYTES_MAX {
        return Err(ParseError::at(
            col,
            format!(
                "the string is {} bytes long; at most {PATTERN_BYTES_MAX} (fewer with regex special characters) are allowed",
                text.len()
            ),
        ));
    }
    Ok(())
}

/// Checks a pattern compiles (within the engine's size limits), so a bad
/// regex is a parse error with a column, as in Loki.
fn check_regex(pattern: &str) -> Result<(), String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(crate::query::lang::text::REGEX_COMPILED_BYTES_MAX)
        .build()
        .map(|_| ())
        .map_err(|error| format!("invalid regex {pattern:?}: {error}"))
}
