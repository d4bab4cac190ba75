//! The syntax tree a `q` text parses into: what the engine compiles and runs.
//!
//! The tree is already resolved and validated, so the evaluator never has to
//! re-check it:
//! - every value compared with `timestamp` is a `Value::TimeNs` (RFC 3339
//!   text, epoch numbers and `now() ± interval` are resolved at parse time
//!   against the caller's `now_ns`);
//! - every value compared with `level` is a `Value::Level` (any spelling
//!   `Level::parse` knows, normalised);
//! - every `TextQuery` compiles (`TextMatcher::compile` succeeded once at
//!   parse time: regexes are valid and within their size limits);
//! - `And`/`Or` have at least two children and never a child of their own
//!   kind (the parser flattens `a AND (b AND c)`), so two equivalent
//!   spellings of a filter give the same tree;
//! - aggregate queries name only group keys and aggregates (see
//!   `Statement::is_aggregate`).
//!
//! Intended evaluation semantics (the integrator implements them):
//! - A comparison, `IN` or text match on a tag or field the entry does not
//!   have is false, so `tags.x != 'a'` skips entries without `x`, while
//!   `NOT tags.x = 'a'` (and the search form's `-x:a`) keeps them.
//! - `Value::Str` against a tag or field compares text; a field that holds
//!   a JSON number or boolean compares as its JSON text (as the JSON
//!   filter's `tags` does). `Int`/`Float` compare numerically: the tag or
//!   field is parsed as a number, and one that is not a number is false.
//! - `level` is ordered by severity: `level >= 'warn'` is warn, error and
//!   fatal. Entries without a level never satisfy a comparison; `EXISTS(level)`
//!   is "has a level".
//! - `tags.level` is a plain tag here (the raw text); the JSON filter's rule
//!   that `tags.level` also matches the normalised level is the evaluator's
//!   choice to keep or not.

use crate::entry::Level;

pub use super::text::TextQuery;

/// One parsed `q`. A search-form query is `SELECT *` with the search as
/// its `filter`.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub select: Select,
    /// Partition names as written (not yet resolved or de-duplicated);
    /// empty means every partition (`FROM *` or no `FROM`).
    pub from: Vec<String>,
    /// `None` matches every entry.
    pub filter: Option<Expr>,
    /// Empty for an entry query. Non-empty (or any aggregate in `select`)
    /// makes this an aggregate query: one output row per group.
    pub group_by: Vec<GroupKey>,
    /// Empty means the engine's default (newest first for entries). For an
    /// entry query the only key is `timestamp`; for an aggregate query every
    /// key is a group key or an aggregate of the select list.
    pub order_by: Vec<OrderKey>,
    /// Rows (entries or groups) to return; `None` means the server default.
    pub limit: Option<u64>,
    /// Rows to skip first; `None` means 0.
    pub offset: Option<u64>,
}

impl Statement {
    /// A statement that returns every matching entry with default paging.
    pub fn search(filter: Expr) -> Statement {
        Statement {
            select: Select::All,
            from: Vec::new(),
            filter: Some(filter),
            group_by: Vec::new(),
            order_by: Vec::new(),
            limit: None,
            offset: None,
        }
    }

    /// Whether the result is groups (counts, histograms) rather than entries.
    pub fn is_aggregate(&self) -> bool {
        !self.group_by.is_empty()
            || match &self.select {
                Select::All => false,
                Select::Items(items) => items
                    .iter()
                    .any(|item| matches!(item.expr, SelectExpr::Aggregate(_))),
            }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Select {
    /// `SELECT *`: whole entries.
    All,
    /// At least one item. In an entry query the items are plain fields (a
    /// projection); in an aggregate query they are group keys and aggregates.
    Items(Vec<SelectItem>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SelectItem {
    pub expr: SelectExpr,
    /// `AS name`; the output column name when present.
    pub alias: Option<String>,
}

/// Something that names an output column: a select item or an order key.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectExpr {
    Field(Field),
    Aggregate(Aggregate),
    Bucket(Bucket),
}

/// An aggregate over the entries of a group.
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregate {
    /// `count(*)`: entries in the group.
    CountAll,
    /// `count(f)`: entries in the group that have `f`.
    Count(Field),
    /// `count(DISTINCT f)`: distinct values of `f` in the group.
    CountDistinct(Field),
    /// `min(f)`, `max(f)`: over numeric values of a tag or field (text that
    /// does not parse as a number is skipped) or over `timestamp`.
    Min(Field),
    Max(Field),
    /// `avg(f)`, `sum(f)`: over numeric values of a tag or field only.
    Avg(Field),
    Sum(Field),
}

impl Aggregate {
    /// The field aggregated over; `None` for `count(*)`.
    pub fn field(&self) -> Option<&Field> {
        match self {
            Aggregate::CountAll => None,
            Aggregate::Count(field)
            | Aggregate::CountDistinct(field)
            | Aggregate::Min(field)
            | Aggregate::Max(field)
            | Aggregate::Avg(field)
            | Aggregate::Sum(field) => Some(field),
        }
    }
}

/// `bucket(timestamp, '1m')`: a time histogram key. An entry falls in the
/// bucket starting at `timestamp.div_euclid(width_ns) * width_ns` (buckets
/// are aligned to the Unix epoch, so days start at 00:00 UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// At least one millisecond; always a whole number of milliseconds.
    pub width_ns: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GroupKey {
    Field(Field),
    Bucket(Bucket),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    /// A field, an aggregate or a bucket (aliases are resolved already).
    pub expr: SelectExpr,
    /// `DESC`; `ASC` (the SQL default) when false.
    pub descending: bool,
}

/// Something an entry has. Built-in names are case-insensitive in the text
/// (`LEVEL`, `level`); tag and field keys are case-sensitive. A bare name
/// that is not built in is a tag: `component = 'auth'` means
/// `tags.component = 'auth'`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// Nanoseconds since the Unix epoch.
    Timestamp,
    /// The normalised level; compared with `Value::Level`.
    Level,
    Source,
    Message,
    /// The entry id (partition, slice, sequence), as the API prints it.
    Id,
    /// The partition's name.
    Partition,
    /// `tags.<key>`. Dots stay in the key: `tags.k8s.pod` is key `k8s.pod`.
    Tag(String),
    /// `fields.<key>`, a top-level key of the entry's other JSON fields.
    /// Dots stay in the key too (`fields.http.status` is key `http.status`);
    /// whether the evaluator also follows it as a nested path is its choice.
    Field(String),
}

impl Field {
    /// The built-in field with this name (any case), else a tag.
    /// `tags.x` and `fields.x` are split here too, so the SQL and search
    /// forms resolve names the same way. An empty key after `tags.` or
    /// `fields.` is the caller's error to report.
    pub fn from_name(name: &str) -> Field {
        if let Some(key) = strip_prefix_ignore_case(name, "tags.") {
            return Field::Tag(key.to_string());
        }
        if let Some(key) = strip_prefix_ignore_case(name, "fields.") {
            return Field::Field(key.to_string());
        }
        Field::builtin(name).unwrap_or_else(|| Field::Tag(name.to_string()))
    }

    /// `timestamp`, `level`, `source`, `message`, `id` or `partition`, in
    /// any case.
    pub fn builtin(name: &str) -> Option<Field> {
        const BUILTINS: [(&str, Field); 6] = [
            ("timestamp", Field::Timestamp),
            ("level", Field::Level),
            ("source", Field::Source),
            ("message", Field::Message),
            ("id", Field::Id),
            ("partition", Field::Partition),
        ];
        BUILTINS
            .iter()
            .find(|(builtin, _)| builtin.eq_ignore_ascii_case(name))
            .map(|(_, field)| field.clone())
    }

    /// The canonical lowercase name of a built-in field; `None` for tags
    /// and fields.
    pub fn builtin_name(&self) -> Option<&'static str> {
        match self {
            Field::Timestamp => Some("timestamp"),
            Field::Level => Some("level"),
            Field::Source => Some("source"),
            Field::Message => Some("message"),
            Field::Id => Some("id"),
            Field::Partition => Some("partition"),
            Field::Tag(_) | Field::Field(_) => None,
        }
    }

    /// Whether text matchers (CONTAINS, LIKE, MATCHES, search words) apply.
    /// `timestamp` and `level` are not text: compare them instead.
    pub fn is_text(&self) -> bool {
        !matches!(self, Field::Timestamp | Field::Level)
    }

    /// Whether values are compared as numbers when the query gives a number:
    /// tags and fields (whose values are text or JSON).
    pub fn is_dynamic(&self) -> bool {
        matches!(self, Field::Tag(_) | Field::Field(_))
    }
}

fn strip_prefix_ignore_case<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let head = name.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &name[prefix.len()..])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    /// `!=` or `<>`.
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A literal, already typed for the field it is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    /// Always finite.
    Float(f64),
    Bool(bool),
    /// Nanoseconds since the Unix epoch; the only value `timestamp` is
    /// compared with, and only `timestamp` is compared with it.
    TimeNs(i64),
    /// Never `Level::Unset`; the only value `level` is compared with.
    Level(Level),
}

/// A filter over entries.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// All hold; at least two children, none of them an `And`.
    And(Vec<Expr>),
    /// Any holds; at least two children, none of them an `Or`.
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// `field op value`. `!=` is a `Compare` too (false for an entry without
    /// the tag, unlike `NOT field = value`).
    Compare {
        field: Field,
        op: CmpOp,
        value: Value,
    },
    /// `field IN (v, ...)`: equal to any value (at least one). `NOT IN` is
    /// `Not(In)`.
    In {
        field: Field,
        values: Vec<Value>,
    },
    /// A text match on a text field (never `timestamp` or `level`).
    Text {
        field: Field,
        query: TextQuery,
    },
    /// The entry has this tag or field (`IS NOT NULL`, `EXISTS(f)`, the
    /// search form's `f:*`); `IS NULL` is `Not(Exists)`. For `level`: the
    /// entry has a level. Built-in fields other than `level` always exist.
    Exists(Field),
    /// Every entry: the search form's lone `*`, or `TRUE` in SQL.
    True,
}

impl Expr {
    /// All of `children`, flattened: nested `And`s are spliced in and a
    /// single child stands alone, which keeps the tree canonical.
    pub fn and(children: Vec<Expr>) -> Expr {
        Expr::flattened(children, true)
    }

    /// Any of `children`, flattened like `Expr::and`.
    pub fn or(children: Vec<Expr>) -> Expr {
        Expr::flattened(children, false)
    }

    fn flattened(children: Vec<Expr>, is_and: bool) -> Expr {
        let mut flat = Vec::with_capacity(children.len());
        for child in children {
            match (child, is_and) {
                (Expr::And(inner), true) | (Expr::Or(inner), false) => flat.extend(inner),
                (other, _) => flat.push(other),
            }
        }
        assert!(!flat.is_empty(), "an And or Or needs at least one child");
        if flat.len() == 1 {
            return flat.pop().expect("one child");
        }
        if is_and {
            Expr::And(flat)
        } else {
            Expr::Or(flat)
        }
    }
}
