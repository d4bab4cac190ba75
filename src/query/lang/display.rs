//! Canonical query text for a tree: `parse(&statement.to_string(), _)`
//! gives the same tree back (the round-trip property test pins this).
//!
//! Canonical means: keywords in uppercase, tags and fields always with
//! their `tags.`/`fields.` prefix, times as RFC 3339 with nine fraction
//! digits, levels by their canonical name, the fewest parentheses that keep
//! the meaning, and search-only matchers (words, phrases, prefixes,
//! wildcards, fuzzy words) as `SEARCH('field:value')`.

use std::fmt::{self, Display, Formatter};

use super::ast::{
    Aggregate, Bucket, Expr, Field, GroupKey, OrderKey, Select, SelectExpr, Statement, Value,
};
use super::interval::format_interval;
use super::parser::{check_partition_name, is_reserved};
use super::text::TextQuery;
use crate::time::format_rfc3339_nanos;

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        match &self.select {
            Select::All => f.write_str("*")?,
            Select::Items(items) => write_list(
                f,
                items.iter().map(|item| {
                    let alias = item
                        .alias
                        .as_deref()
                        .map(|alias| format!(" AS {}", name_text(alias)));
                    format!("{}{}", item.expr, alias.unwrap_or_default())
                }),
            )?,
        }
        if !self.from.is_empty() {
            f.write_str(" FROM ")?;
            write_list(f, self.from.iter().map(|name| partition_text(name)))?;
        }
        if let Some(filter) = &self.filter {
            write!(f, " WHERE {filter}")?;
        }
        if !self.group_by.is_empty() {
            f.write_str(" GROUP BY ")?;
            write_list(
                f,
                self.group_by.iter().map(|key| match key {
                    GroupKey::Field(field) => field.to_string(),
                    GroupKey::Bucket(bucket) => bucket.to_string(),
                }),
            )?;
        }
        if !self.order_by.is_empty() {
            f.write_str(" ORDER BY ")?;
            write_list(f, self.order_by.iter().map(OrderKey::to_string))?;
        }
        if let Some(limit) = self.limit {
            write!(f, " LIMIT {limit}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, " OFFSET {offset}")?;
        }
        Ok(())
    }
}

fn write_list(f: &mut Formatter<'_>, items: impl Iterator<Item = String>) -> fmt::Result {
    for (index, item) in items.enumerate() {
        if index > 0 {
            f.write_str(", ")?;
        }
        f.write_str(&item)?;
    }
    Ok(())
}

impl Display for OrderKey {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let direction = if self.descending { "DESC" } else { "ASC" };
        write!(f, "{} {direction}", self.expr)
    }
}

impl Display for SelectExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SelectExpr::Field(field) => field.fmt(f),
            SelectExpr::Aggregate(aggregate) => aggregate.fmt(f),
            SelectExpr::Bucket(bucket) => bucket.fmt(f),
        }
    }
}

impl Display for Aggregate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Aggregate::CountAll => f.write_str("count(*)"),
            Aggregate::Count(field) => write!(f, "count({field})"),
            Aggregate::CountDistinct(field) => write!(f, "count(DISTINCT {field})"),
            Aggregate::Min(field) => write!(f, "min({field})"),
            Aggregate::Max(field) => write!(f, "max({field})"),
            Aggregate::Avg(field) => write!(f, "avg({field})"),
            Aggregate::Sum(field) => write!(f, "sum({field})"),
        }
    }
}

impl Display for Bucket {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "bucket(timestamp, '{}')", format_interval(self.width_ns))
    }
}

/// SQL spelling: `level`, `tags.component`, `tags."my key"`.
impl Display for Field {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Field::Tag(key) => write!(f, "tags.{}", key_text(key)),
            Field::Field(key) => write!(f, "fields.{}", key_text(key)),
            builtin => f.write_str(builtin.builtin_name().expect("not a tag or field")),
        }
    }
}

impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(text) => f.write_str(&quote(text, '\'')),
            Value::Int(number) => write!(f, "{number}"),
            // `{:?}` keeps a fraction or exponent (`100.0`, `1e20`), so the
            // number reads back as a float, and is the shortest exact form.
            Value::Float(number) => write!(f, "{number:?}"),
            Value::Bool(true) => f.write_str("TRUE"),
            Value::Bool(false) => f.write_str("FALSE"),
            Value::TimeNs(nanos) => {
                let mut text = String::new();
                format_rfc3339_nanos(*nanos, &mut text);
                f.write_str(&quote(&text, '\''))
            }
            Value::Level(level) => f.write_str(&quote(level.as_str(), '\'')),
        }
    }
}

/// Binding strength, loosest first; a child binding more loosely than its
/// parent needs parentheses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Strength {
    Or,
    And,
    Not,
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_expr(f, self, Strength::Or)
    }
}

fn write_expr(f: &mut Formatter<'_>, expr: &Expr, parent: Strength) -> fmt::Result {
    let (children, joiner, strength) = match expr {
        Expr::Or(children) => (children, " OR ", Strength::Or),
        Expr::And(children) => (children, " AND ", Strength::And),
        Expr::Not(inner) => {
            f.write_str("NOT ")?;
            return write_expr(f, inner, Strength::Not);
        }
        leaf => return write_leaf(f, leaf),
    };
    let parenthesised = strength < parent;
    if parenthesised {
        f.write_str("(")?;
    }
    for (index, child) in children.iter().enumerate() {
        if index > 0 {
            f.write_str(joiner)?;
        }
        write_expr(f, child, strength)?;
    }
    if parenthesised {
        f.write_str(")")?;
    }
    Ok(())
}

fn write_leaf(f: &mut Formatter<'_>, expr: &Expr) -> fmt::Result {
    match expr {
        Expr::Compare { field, op, value } => write!(f, "{field} {} {value}", op.symbol()),
        Expr::In { field, values } => {
            write!(f, "{field} IN (")?;
            write_list(f, values.iter().map(Value::to_string))?;
            f.write_str(")")
        }
        Expr::Text { field, query } => write_text(f, field, query),
        Expr::Exists(field) => write!(f, "EXISTS({field})"),
        Expr::True => f.write_str("TRUE"),
        Expr::And(_) | Expr::Or(_) | Expr::Not(_) => unreachable!("handled by write_expr"),
    }
}

fn write_text(f: &mut Formatter<'_>, field: &Field, query: &TextQuery) -> fmt::Result {
    let search_value = match query {
        TextQuery::Contains(text) => return write!(f, "{field} CONTAINS {}", quote(text, '\'')),
        TextQuery::Like(pattern) => return write!(f, "{field} LIKE {}", quote(pattern, '\'')),
        TextQuery::Regex(pattern) => return write!(f, "{field} MATCHES {}", quote(pattern, '\'')),
        TextQuery::Word(word) => search_escape(word),
        TextQuery::Phrase(words) => {
            let phrase = words.join(" ").replace('\\', "\\\\").replace('"', "\\\"");
            format!("\"{phrase}\"")
        }
        TextQuery::Prefix(prefix) => format!("{}*", search_escape(prefix)),
        // Already in search syntax; only characters that would end the term
        // need escaping.
        TextQuery::Wildcard(pattern) => pattern.chars().fold(String::new(), |mut text, c| {
            if c.is_whitespace() || matches!(c, '(' | ')' | '"' | '~') {
                text.push('\\');
            }
            text.push(c);
            text
        }),
        TextQuery::Fuzzy { word, distance } => format!("{}~{distance}", search_escape(word)),
    };
    let search = format!("{}:{search_value}", search_field(field));
    write!(f, "SEARCH({})", quote(&search, '\''))
}

/// A field as the search form names it.
fn search_field(field: &Field) -> String {
    match field {
        Field::Tag(key) => format!("tags.{}", search_escape(key)),
        Field::Field(key) => format!("fields.{}", search_escape(key)),
        builtin => builtin
            .builtin_name()
            .expect("not a tag or field")
            .to_string(),
    }
}

/// Text the search form reads back literally: every character that could
/// mean something there is escaped with `\`.
fn search_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if !(c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '@')) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// `text` between `quote_char`s, each inner one doubled.
fn quote(text: &str, quote_char: char) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push(quote_char);
    for c in text.chars() {
        if c == quote_char {
            quoted.push(quote_char);
        }
        quoted.push(c);
    }
    quoted.push(quote_char);
    quoted
}

/// Whether the lexer reads `text` as one `Word` that is not a keyword.
fn is_plain_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
        && !is_reserved(text)
}

/// An alias or other name, quoted when it must be.
fn name_text(name: &str) -> String {
    if is_plain_name(name) {
        name.to_string()
    } else {
        quote(name, '"')
    }
}

/// A tag or field key after `tags.`: dotted plain parts as they are (a key
/// word may be reserved there), anything else quoted whole.
fn key_text(key: &str) -> String {
    let plain_part = |part: &str| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && chars.all(|c| c.is_alphanumeric() || c == '_')
    };
    if key.split('.').all(plain_part) {
        key.to_string()
    } else {
        quote(key, '"')
    }
}

/// A partition name bare when the lexer reads it back as one name.
fn partition_text(name: &str) -> String {
    if check_partition_name(name).is_ok() && !is_reserved(name) {
        name.to_string()
    } else {
        quote(name, '"')
    }
}
