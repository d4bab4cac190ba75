//! LogQL → TimberDB's query tree (`query::lang::ast`), so the engine does
//! the filtering, the block pruning and the limits.
//!
//! Label names: `source` and the push mapping's source label (default
//! `service_name`) are the entry's source; `level` and the mapping's level
//! label are its (normalised) level; every other name is a tag. Matchers
//! follow Loki's semantics exactly: a label the entry lacks has the value
//! `""`, so `{a=""}` matches entries without `a`, `{a!="x"}` keeps them, and
//! a regex is anchored at both ends and case-sensitive. Line filters are
//! case-sensitive too: `|= "x"` runs as a case-sensitive regex of the
//! escaped text, preceded by the engine's caseless contains-match (implied,
//! so the answer is the same) when the text holds a whole word the word
//! index can prune with.

use super::ast::{LineFilter, LineFilterOp, LogSelector, MatchOp, Matcher};
use crate::entry::Level;
use crate::query::lang::ast::{
    Aggregate, Bucket, CmpOp, Expr, Field, GroupKey, OrderKey, Select, SelectExpr, SelectItem,
    Statement, TextQuery, Value,
};

/// The label names that stand for an entry's source and level.
#[derive(Debug, Clone)]
pub struct LabelNames {
    /// The source's label in answers (the push mapping's, `service_name`).
    pub source: String,
    /// The level's label in answers (`level`).
    pub level: String,
}

impl LabelNames {
    /// What a label name means for an entry.
    pub fn field_of(&self, name: &str) -> Field {
        if name == "source" || name == self.source {
            Field::Source
        } else if name == "level" || name == self.level {
            Field::Level
        } else {
            Field::Tag(name.to_string())
        }
    }

    /// The label a field is shown as.
    pub fn label_of<'a>(&'a self, field: &'a Field) -> &'a str {
        match field {
            Field::Source => &self.source,
            Field::Level => &self.level,
            Field::Tag(key) => key,
            _ => "",
        }
    }

    /// Whether a tag key is shown as a label of its own (the source's and
    /// level's labels show the entry's source and level instead).
    pub fn is_plain_tag(&self, key: &str) -> bool {
        key != self.source && key != self.level
    }
}

/// Every entry a selector and its line filters keep.
pub fn selector_expr(selector: &LogSelector, labels: &LabelNames) -> Expr {
    // Line filters first: the engine evaluates an AND in order, and a
    // contains-match's scanner rejects most lines fastest.
    let mut all: Vec<Expr> = selector
        .filters
        .iter()
        .filter_map(line_filter_expr)
        .collect();
    all.extend(
        selector
            .matchers
            .iter()
            .map(|matcher| matcher_expr(matcher, labels)),
    );
    if all.is_empty() {
        return Expr::True;
    }
    Expr::and(all)
}

/// `start <= timestamp < end`, Loki's query window.
pub fn time_expr(start_ns: i64, end_ns: i64) -> Expr {
    Expr::and(vec![
        Expr::Compare {
            field: Field::Timestamp,
            op: CmpOp::Ge,
            value: Value::TimeNs(start_ns),
        },
        Expr::Compare {
            field: Field::Timestamp,
            op: CmpOp::Lt,
            value: Value::TimeNs(end_ns),
        },
    ])
}

/// The entries of a log query, newest (or oldest) first.
pub fn entries_statement(partition: &str, filter: Expr, limit: u64, descending: bool) -> Statement {
    Statement {
        select: Select::All,
        from: vec![partition.to_string()],
        filter: Some(filter),
        group_by: Vec::new(),
        order_by: vec![OrderKey {
            expr: SelectExpr::Field(Field::Timestamp),
            descending,
        }],
        limit: Some(limit),
        offset: None,
    }
}

/// Counts per time bucket (when `bucket_ns` is set) and per value of each
/// key: the columns are the bucket, the keys in order, then `count(*)`.
pub fn counts_statement(
    partition: &str,
    filter: Expr,
    bucket_ns: Option<i64>,
    keys: &[Field],
    limit: u64,
) -> Statement {
    let mut group_by: Vec<GroupKey> = Vec::with_capacity(keys.len() + 1);
    if let Some(width_ns) = bucket_ns {
        group_by.push(GroupKey::Bucket(Bucket { width_ns }));
    }
    group_by.extend(keys.iter().cloned().map(GroupKey::Field));
    let mut items: Vec<SelectItem> = group_by
        .iter()
        .map(|key| SelectItem {
            expr: match key {
                GroupKey::Bucket(bucket) => SelectExpr::Bucket(*bucket),
                GroupKey::Field(field) => SelectExpr::Field(field.clone()),
            },
            alias: None,
        })
        .collect();
    items.push(SelectItem {
        expr: SelectExpr::Aggregate(Aggregate::CountAll),
        alias: None,
    });
    Statement {
        select: Select::Items(items),
        from: vec![partition.to_string()],
        filter: Some(filter),
        group_by,
        order_by: Vec::new(),
        limit: Some(limit),
        offset: None,
    }
}

fn matcher_expr(matcher: &Matcher, labels: &LabelNames) -> Expr {
    let field = labels.field_of(&matcher.name);
    let matches = match matcher.op {
        MatchOp::Eq | MatchOp::Ne => equals(&field, &matcher.value),
        MatchOp::Re | MatchOp::NotRe => regex_matches(&field, &matcher.value),
    };
    match matcher.op {
        MatchOp::Eq | MatchOp::Re => matches,
        MatchOp::Ne | MatchOp::NotRe => negate(matches),
    }
}

/// The label has exactly this value (`""`: the entry lacks it).
fn equals(field: &Field, value: &str) -> Expr {
    if value.is_empty() {
        return match field {
            // Every entry has a source; an empty one is "no source".
            Field::Source => Expr::Compare {
                field: Field::Source,
                op: CmpOp::Eq,
                value: Value::Str(String::new()),
            },
            _ => negate(Expr::Exists(field.clone())),
        };
    }
    match field {
        Field::Level => match Level::parse(value) {
            Some(level) if level != Level::Unset => Expr::Compare {
                field: Field::Level,
                op: CmpOp::Eq,
                value: Value::Level(level),
            },
            _ => nothing(),
        },
        _ => Expr::Compare {
            field: field.clone(),
            op: CmpOp::Eq,
            value: Value::Str(value.to_string()),
        },
    }
}

/// The whole label value matches the pattern, case-sensitively; an entry
/// without the label matches when the pattern matches `""`.
fn regex_matches(field: &Field, pattern: &str) -> Expr {
    let anchored = format!("^(?:{pattern})$");
    let matches_empty = regex::Regex::new(&anchored).is_ok_and(|re| re.is_match(""));
    let present = match field {
        Field::Level => level_regex(&anchored),
        _ => Expr::Text {
            field: field.clone(),
            query: TextQuery::Regex(format!("(?-i){anchored}")),
        },
    };
    if matches_empty && !matches!(field, Field::Source) {
        Expr::or(vec![negate(Expr::Exists(field.clone())), present])
    } else {
        present
    }
}

/// `level` is not text in the engine: the pattern is tried on each level's
/// name here, and the matching levels become an `IN`.
fn level_regex(anchored: &str) -> Expr {
    let Ok(re) = regex::Regex::new(anchored) else {
        return nothing();
    };
    let values: Vec<Value> = (1..=6)
        .map(Level::from_byte)
        .filter(|level| re.is_match(level.as_str()))
        .map(Value::Level)
        .collect();
    if values.is_empty() {
        return nothing();
    }
    Expr::In {
        field: Field::Level,
        values,
    }
}

fn line_filter_expr(filter: &LineFilter) -> Option<Expr> {
    let contains = |text: &str| {
        let exact = Expr::Text {
            field: Field::Message,
            query: TextQuery::Regex(format!("(?-i){}", regex::escape(text))),
        };
        if !has_interior_word(text) {
            // No word the index could prune with: the caseless contains
            // would only cost a second pass over the column.
            return exact;
        }
        Expr::and(vec![
            // Implied by the exact match, and what the word index prunes
            // with (the words wholly inside the text).
            Expr::Text {
                field: Field::Message,
                query: TextQuery::Contains(text.to_string()),
            },
            exact,
        ])
    };
    let regex = |pattern: &str| Expr::Text {
        field: Field::Message,
        query: TextQuery::Regex(format!("(?-i){pattern}")),
    };
    match filter.op {
        LineFilterOp::Contains if filter.text.is_empty() => None,
        LineFilterOp::Contains => Some(contains(&filter.text)),
        LineFilterOp::NotContains if filter.text.is_empty() => Some(nothing()),
        LineFilterOp::NotContains => Some(negate(regex(&regex::escape(&filter.text)))),
        LineFilterOp::Re => Some(regex(&filter.text)),
        LineFilterOp::NotRe => Some(negate(regex(&filter.text))),
    }
}

/// Whether the text has a word with a separator on both sides within it
/// (`"conn reset by"` has `reset`): only such a word must appear whole in
/// every matching line, so only then can the word index prune. A single
/// token such as `"a1b2"` may sit inside a longer word of the line.
fn has_interior_word(text: &str) -> bool {
    let pieces: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .collect();
    pieces.len() >= 3 && pieces[1..pieces.len() - 1].iter().any(|p| !p.is_empty())
}

fn negate(expr: Expr) -> Expr {
    match expr {
        Expr::Not(inner) => *inner,
        other => Expr::Not(Box::new(other)),
    }
}

/// Matches no entry.
fn nothing() -> Expr {
    negate(Expr::True)
}
