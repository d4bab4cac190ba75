//! The query request body (`POST /api/v1/query/execute`) and its
//! compilation into a `QueryPlan` that every shard runs.
//!
//! Both shapes existing clients send are accepted: the seed README's
//! `{"filter": {...}}` and the seed code's filter fields at the top level.
//! Unknown partitions are a 404, never silently skipped; no time range means
//! all time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::aggregate::AggregationPlan;
use super::cursor::{is_after, Cursor, QueryIdentity};
use super::execute::SortKey;
use super::expr::{
    is_time_and_level_only, level_mask as required_levels, time_bounds, CompiledExpr,
};
use super::filter::{Needle, Predicate};
use super::lang::ast::{Expr, Statement};
use super::lang::parse;
use super::prune::BlockTest;
use crate::config::QueryConfig;
use crate::entry::Level;
use crate::storage::catalog::{Catalog, PartitionMeta};

// Serialize: the merged filter, as canonical JSON, is part of a cursor's
// query fingerprint.
#[derive(Deserialize, Serialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct FilterBody {
    #[serde(default)]
    pub tags: BTreeMap<String, Value>,
    #[serde(default)]
    pub tag_exists: Vec<String>,
    pub source: Option<String>,
    pub source_prefix: Option<String>,
    pub level: Option<Value>,
    pub message_contains: Option<String>,
    pub time_range: Option<TimeRangeBody>,
}

#[derive(Deserialize, Serialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct TimeRangeBody {
    pub start: Option<Value>,
    pub end: Option<Value>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    #[serde(default, alias = "partition_ids")]
    pub partitions: Vec<String>,
    #[serde(default)]
    pub filter: Option<FilterBody>,
    pub q: Option<String>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    pub order: Option<String>,
    pub sort_desc: Option<bool>,
    pub timeout_seconds: Option<f64>,
    /// The previous page's `next`: continue strictly after its last entry
    /// (see `cursor`). Not with `offset`, nor with an aggregating `q`.
    pub cursor: Option<String>,
    /// `"json"` (the default) or `"ndjson"` (streamed, one entry per line);
    /// read by the HTTP handler, which also honours `Accept`.
    pub format: Option<String>,
    // The seed code's top-level filter fields.
    pub tags: Option<BTreeMap<String, Value>>,
    pub tag_exists: Option<Vec<String>>,
    pub source: Option<String>,
    pub source_prefix: Option<String>,
    pub level: Option<Value>,
    pub message_contains: Option<String>,
    pub time_range: Option<TimeRangeBody>,
}

/// A compiled query; shared read-only by every shard (hence `Arc`).
pub struct QueryPlan {
    pub partitions: Vec<Arc<PartitionMeta>>,
    pub predicate: Predicate,
    /// Newest first (the default).
    pub descending: bool,
    pub limit: usize,
    pub offset: usize,
    pub deadline: Instant,
    /// Set for an aggregating `q` (counts, min/max/avg/sum, GROUP BY,
    /// buckets): the answer is rows of groups instead of entries.
    pub aggregation: Option<AggregationPlan>,
    /// What a block's summary must show for the block to be read.
    pub block_test: BlockTest,
    /// The request's cursor position: only entries strictly after this key
    /// in the query's order match (the time range is narrowed to it too).
    pub after: Option<SortKey>,
    /// The query's identity for cursors (`cursor::QueryIdentity`): what a
    /// `next` cursor carries and a sent cursor must match.
    pub fingerprint: u64,
    /// Whether the request named its partitions (`partitions` or `FROM`);
    /// `false`: every partition (which a key's grant narrows, `http::auth`).
    pub partitions_named: bool,
}

impl QueryPlan {
    /// How many entries each shard must return for the merge to be exact
    /// (0: none, the query only counts or aggregates).
    pub fn per_shard_wanted(&self) -> usize {
        if self.aggregation.is_some() || self.limit == 0 {
            // Groups, not entries, are what an aggregating query keeps; a
            // limit of 0 asks only for the counts.
            return 0;
        }
        self.offset.saturating_add(self.limit)
    }

    /// Whether an entry with `key` comes strictly after the request's
    /// cursor in the query's order (always, without a cursor).
    pub fn is_past_cursor(&self, key: SortKey) -> bool {
        self.after
            .is_none_or(|after| is_after(after, key, self.descending))
    }

    /// Whether a span `[min, max]` holds the cursor's timestamp, so some of
    /// its entries there may sort before the cursor: such a span cannot be
    /// counted from its directory unread.
    pub fn spans_cursor_boundary(&self, min_timestamp_ns: i64, max_timestamp_ns: i64) -> bool {
        self.after.is_some_and(|(timestamp_ns, ..)| {
            (min_timestamp_ns..=max_timestamp_ns).contains(&timestamp_ns)
        })
    }
}

/// A request the client must fix: status 400 or 404.
#[derive(Debug)]
pub enum PlanError {
    BadRequest(String),
    UnknownPartition(String),
    /// A cursor that is malformed, from another query, or sent where no
    /// cursor applies (with `offset`, or with an aggregation).
    InvalidCursor(String),
}

pub fn compile(
    mut body: QueryBody,
    catalog: &Catalog,
    limits: &QueryConfig,
) -> Result<QueryPlan, PlanError> {
    let q_text = body.q.take();
    let statement = match q_text.as_deref() {
        Some(q) => Some(parse_q(q)?),
        None => None,
    };
    let from_q = statement
        .as_ref()
        .map(|s| s.from.clone())
        .unwrap_or_default();
    if !from_q.is_empty() && !body.partitions.is_empty() {
        return Err(PlanError::BadRequest(
            "name the partitions either in the q text's FROM or in `partitions`, not both".into(),
        ));
    }
    let names = if from_q.is_empty() {
        &body.partitions
    } else {
        &from_q
    };
    let partitions = resolve_partitions(names, catalog)?;
    let descending = match statement.as_ref().and_then(q_order) {
        Some(descending) => descending,
        None => order_is_descending(body.order.as_deref(), body.sort_desc)?,
    };
    let q_limit = statement.as_ref().and_then(|s| s.limit);
    let q_offset = statement.as_ref().and_then(|s| s.offset);
    let limit = q_limit
        .or(body.limit)
        .unwrap_or(limits.default_limit as u64);
    if limit > limits.max_results as u64 {
        return Err(PlanError::BadRequest(format!(
            "limit {limit} is above the server's max_results of {}",
            limits.max_results
        )));
    }
    let offset_given = q_offset.or(body.offset);
    let offset = offset_given.unwrap_or(0);
    if offset.saturating_add(limit) > limits.max_results as u64 {
        return Err(PlanError::BadRequest(format!(
            "offset + limit must not exceed max_results ({}); page with a time range instead",
            limits.max_results
        )));
    }
    let timeout = timeout_of(body.timeout_seconds, limits)?;
    let filter = merge_filters(
        body.filter,
        body.tags,
        body.tag_exists,
        body.source,
        body.source_prefix,
        body.level,
        body.message_contains,
        body.time_range,
    );
    let filter_json = serde_json::to_vec(&filter).expect("a filter body serialises");
    let mut predicate = compile_filter(filter)?;
    let fingerprint = QueryIdentity {
        partition_keys: (!names.is_empty())
            .then(|| partitions.iter().map(|meta| meta.key).collect()),
        filter_json: &filter_json,
        q: q_text.as_deref(),
        descending,
    }
    .fingerprint();
    let aggregation = match &statement {
        Some(s) if s.is_aggregate() => Some(
            AggregationPlan::compile(s)
                .map_err(|error| PlanError::BadRequest(format!("q: {error}")))?,
        ),
        _ => None,
    };
    if let Some(expr) = statement.and_then(|s| s.filter) {
        add_q_filter(&mut predicate, &expr)?;
    }
    let after = match body.cursor.as_deref() {
        Some(text) => {
            let cursor = accepted_cursor(text, fingerprint, offset_given, aggregation.is_some())?;
            narrow_to_cursor(&mut predicate, cursor.after, descending);
            Some(cursor.after)
        }
        None => None,
    };
    Ok(QueryPlan {
        partitions,
        block_test: BlockTest::of(&predicate),
        predicate,
        descending,
        limit: limit as usize,
        offset: offset as usize,
        deadline: Instant::now() + timeout,
        aggregation,
        after,
        fingerprint,
        partitions_named: !names.is_empty(),
    })
}

/// Decodes a request's cursor and checks that it applies to this query.
fn accepted_cursor(
    text: &str,
    fingerprint: u64,
    offset: Option<u64>,
    aggregating: bool,
) -> Result<Cursor, PlanError> {
    if aggregating {
        return Err(PlanError::InvalidCursor(
            "a cursor pages through entries, and this q aggregates (it returns groups); drop the cursor and page groups with LIMIT and OFFSET".into(),
        ));
    }
    if offset.is_some() {
        return Err(PlanError::InvalidCursor(
            "send either a cursor or an offset, not both: the cursor already says where the page starts".into(),
        ));
    }
    let cursor =
        Cursor::decode(text).map_err(|error| PlanError::InvalidCursor(error.to_string()))?;
    if cursor.fingerprint != fingerprint {
        return Err(PlanError::InvalidCursor(
            "this cursor came from a different query: its partitions, filter, q or order differ from this request's. Send the cursor with the query that returned it (only limit may change), or start again without one".into(),
        ));
    }
    Ok(cursor)
}

/// Narrows the time range to the cursor's side of its timestamp, so blocks
/// and granules wholly before the cursor are pruned by time unread; the
/// boundary timestamp stays in, and `QueryPlan::is_past_cursor` decides
/// there.
fn narrow_to_cursor(predicate: &mut Predicate, after: SortKey, descending: bool) {
    let (timestamp_ns, ..) = after;
    if descending {
        // The end is exclusive: end = t + 1 keeps t. `i64::MAX` (no end)
        // already keeps it.
        predicate.time_end_ns = predicate.time_end_ns.min(timestamp_ns.saturating_add(1));
    } else {
        predicate.time_start_ns = predicate.time_start_ns.max(timestamp_ns);
    }
}

/// Parses `q`.
fn parse_q(q: &str) -> Result<Statement, PlanError> {
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    parse(q, now_ns).map_err(|error| PlanError::BadRequest(format!("q: {error}")))
}

/// The q text's `ORDER BY timestamp [ASC|DESC]`, if it has one (the parser
/// allows only `timestamp` for entry queries).
fn q_order(statement: &Statement) -> Option<bool> {
    if statement.is_aggregate() {
        // An aggregating query orders its rows itself.
        return None;
    }
    statement.order_by.first().map(|key| key.descending)
}

/// ANDs the q filter into the predicate, and narrows the predicate's time
/// range by the q filter's, so blocks outside it are skipped unread.
fn add_q_filter(predicate: &mut Predicate, expr: &Expr) -> Result<(), PlanError> {
    let compiled = CompiledExpr::compile(expr)
        .map_err(|error| PlanError::BadRequest(format!("q: {error}")))?;
    if let Some(mask) = required_levels(expr) {
        // Implied by the q filter, so the exact result is the same; it lets
        // the shard skip blocks that hold none of these levels.
        predicate.level_mask = Some(predicate.level_mask.map_or(mask, |given| given & mask));
    }
    let (start, end) = time_bounds(expr);
    predicate.time_start_ns = predicate.time_start_ns.max(start);
    predicate.time_end_ns = predicate.time_end_ns.min(end);
    if !is_time_and_level_only(expr) {
        predicate.expr = Some(compiled);
    }
    Ok(())
}

fn resolve_partitions(
    names: &[String],
    catalog: &Catalog,
) -> Result<Vec<Arc<PartitionMeta>>, PlanError> {
    if names.is_empty() {
        return Ok(catalog.list().cloned().collect());
    }
    let mut partitions: Vec<Arc<PartitionMeta>> = Vec::with_capacity(names.len());
    for name in names {
        let meta = catalog
            .find(name)
            .ok_or_else(|| PlanError::UnknownPartition(name.clone()))?;
        if !partitions.iter().any(|known| known.key == meta.key) {
            partitions.push(meta.clone());
        }
    }
    Ok(partitions)
}

fn order_is_descending(order: Option<&str>, sort_desc: Option<bool>) -> Result<bool, PlanError> {
    match order.map(|o| o.to_ascii_lowercase()) {
        None => Ok(sort_desc.unwrap_or(true)),
        Some(order) => match order.as_str() {
            "desc" | "descending" | "newest_first" | "newest" => Ok(true),
            "asc" | "ascending" | "oldest_first" | "oldest" => Ok(false),
            other => Err(PlanError::BadRequest(format!(
                "order {other:?} is not one of \"desc\", \"asc\""
            ))),
        },
    }
}

fn timeout_of(seconds: Option<f64>, limits: &QueryConfig) -> Result<Duration, PlanError> {
    let seconds = seconds.unwrap_or(limits.timeout_seconds as f64);
    if seconds.is_nan() || seconds <= 0.0 || seconds > limits.max_timeout_seconds as f64 {
        return Err(PlanError::BadRequest(format!(
            "timeout_seconds must be above 0 and at most {} (the server's max_timeout)",
            limits.max_timeout_seconds
        )));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Top-level (seed code) fields fill in whatever `filter` left out.
#[allow(clippy::too_many_arguments)]
fn merge_filters(
    filter: Option<FilterBody>,
    tags: Option<BTreeMap<String, Value>>,
    tag_exists: Option<Vec<String>>,
    source: Option<String>,
    source_prefix: Option<String>,
    level: Option<Value>,
    message_contains: Option<String>,
    time_range: Option<TimeRangeBody>,
) -> FilterBody {
    let mut filter = filter.unwrap_or_default();
    filter.tags.extend(tags.unwrap_or_default());
    filter.tag_exists.extend(tag_exists.unwrap_or_default());
    filter.source = filter.source.or(source);
    filter.source_prefix = filter.source_prefix.or(source_prefix);
    filter.level = filter.level.or(level);
    filter.message_contains = filter.message_contains.or(message_contains);
    filter.time_range = filter.time_range.or(time_range);
    filter
}

fn compile_filter(filter: FilterBody) -> Result<Predicate, PlanError> {
    let mut predicate = Predicate::default();
    for (key, value) in filter.tags {
        let value = tag_value_text(&key, value)?;
        if key == "level" {
            let normalised = Level::parse(&value);
            predicate.tag_levels.push((value, normalised));
        } else {
            predicate.tags.push((key, value));
        }
    }
    predicate.tag_exists = filter.tag_exists;
    predicate.source = filter.source;
    predicate.source_prefix = filter.source_prefix;
    predicate.level_mask = filter.level.map(level_mask).transpose()?;
    predicate.message_contains = filter
        .message_contains
        .filter(|text| !text.is_empty())
        .map(|text| Needle::new(&text));
    if let Some(range) = filter.time_range {
        predicate.time_start_ns = range
            .start
            .map(|v| timestamp_of("time_range.start", v))
            .transpose()?
            .unwrap_or(i64::MIN);
        predicate.time_end_ns = range
            .end
            .map(|v| timestamp_of("time_range.end", v))
            .transpose()?
            .unwrap_or(i64::MAX);
        if predicate.time_start_ns > predicate.time_end_ns {
            return Err(PlanError::BadRequest(
                "time_range.start is after time_range.end".into(),
            ));
        }
    }
    Ok(predicate)
}

fn tag_value_text(key: &str, value: Value) -> Result<String, PlanError> {
    match value {
        Value::String(text) => Ok(text),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        _ => Err(PlanError::BadRequest(format!(
            "filter.tags.{key} must be a string"
        ))),
    }
}

fn level_mask(value: Value) -> Result<u8, PlanError> {
    let names: Vec<Value> = match value {
        Value::Array(items) => items,
        single => vec![single],
    };
    let mut mask = 0u8;
    for name in names {
        let text = match &name {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            _ => {
                return Err(PlanError::BadRequest(
                    "filter.level must be a level name or a list of them".into(),
                ))
            }
        };
        let level = Level::parse(&text).ok_or_else(|| {
            PlanError::BadRequest(format!(
                "filter.level {text:?} is not a level; use trace, debug, info, warn, error or fatal"
            ))
        })?;
        mask |= 1 << level.as_byte();
    }
    Ok(mask)
}

fn timestamp_of(field: &str, value: Value) -> Result<i64, PlanError> {
    use crate::time::{epoch_from_f64, epoch_from_i64, parse_timestamp_text};
    let parsed = match &value {
        Value::String(text) => parse_timestamp_text(text),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => epoch_from_i64(integer),
            None => epoch_from_f64(number.as_f64().unwrap_or(f64::NAN)),
        },
        _ => {
            return Err(PlanError::BadRequest(format!(
                "{field} must be an RFC 3339 string or a number since the epoch"
            )))
        }
    };
    parsed.map_err(|error| PlanError::BadRequest(format!("{field} {value} {error}")))
}
