//! The LogQL subset as a tree. Every `Query` the parser returns is one the
//! translator can run: unsupported constructs never get this far.

/// One parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// `{app="x"} |= "error"`: entries, answered as streams.
    Logs(LogSelector),
    /// `count_over_time(...)`, `rate(...)`, optionally summed.
    Metric(Metric),
    /// Arithmetic on literals: `1+1` (a scalar) or `vector(1)+vector(1)`
    /// (a vector with one sample and no labels).
    Literal { value: f64, is_vector: bool },
}

/// A stream selector and the line filters after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSelector {
    /// At least one.
    pub matchers: Vec<Matcher>,
    /// Applied in order; all must hold.
    pub filters: Vec<LineFilter>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `=~`: the whole value matches the regex (Loki anchors it).
    Re,
    /// `!~`
    NotRe,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFilter {
    pub op: LineFilterOp,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFilterOp {
    /// `|=`: the line contains the text (case-sensitive).
    Contains,
    /// `!=`
    NotContains,
    /// `|~`: the regex matches somewhere in the line (case-sensitive).
    Re,
    /// `!~`
    NotRe,
}

/// A range aggregation, optionally inside `sum`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    /// `None`: one series per stream (label set).
    pub sum: Option<Grouping>,
    pub range: RangeAggregation,
}

/// How `sum` groups its input series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    /// `sum(...)`: one series without labels.
    All,
    /// `sum by (a, b) (...)`: one series per value of these labels.
    By(Vec<String>),
    /// `sum without (a) (...)`: one series per value of every other label.
    Without(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeAggregation {
    pub function: RangeFunction,
    pub selector: LogSelector,
    /// The `[5m]` window, in nanoseconds; at least one millisecond.
    pub range_ns: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFunction {
    /// Entries in the window.
    CountOverTime,
    /// Entries in the window per second of the window.
    Rate,
}
