//! Aggregating queries: `count(*)`, `count(f)`, `count(DISTINCT f)`,
//! `min/max/avg/sum(f)`, grouped by fields and by time buckets
//! (`bucket(timestamp, '1m')`).
//!
//! Each shard folds its matching entries into `Groups` (one accumulator per
//! group key); the receiving shard merges the shards' groups, finishes each
//! aggregate, orders, pages and renders the rows. Memory is bounded by
//! `GROUPS_MAX` groups per shard and `DISTINCT_VALUES_MAX` values per
//! distinct count: past either the answer says so (`groups_truncated`)
//! instead of growing without bound.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use serde_json::{json, Value as Json};

use super::expr::{field_text, numeric};
use super::lang::ast::{Aggregate, Field, GroupKey, OrderKey, Select, SelectExpr, Statement};
use crate::block::LevelCounts;
use crate::entry::BatchView;
use crate::entry::Level;
use crate::time::format_rfc3339_nanos;

/// Groups one shard may hold for one query.
pub const GROUPS_MAX: usize = 100_000;
/// Values one `count(DISTINCT f)` keeps per group.
pub const DISTINCT_VALUES_MAX: usize = 100_000;

/// What an aggregating query computes, compiled from the statement.
#[derive(Debug)]
pub struct AggregationPlan {
    pub keys: Vec<GroupKey>,
    pub aggregates: Vec<Aggregate>,
    /// Output columns in select-list order.
    pub columns: Vec<(String, Column)>,
    pub order: Vec<(Column, bool)>,
}

/// Where an output column's value comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Column {
    Key(usize),
    Aggregate(usize),
}

impl AggregationPlan {
    pub fn compile(statement: &Statement) -> Result<AggregationPlan, String> {
        let mut plan = AggregationPlan {
            keys: statement.group_by.clone(),
            aggregates: Vec::new(),
            columns: Vec::new(),
            order: Vec::new(),
        };
        for key in &plan.keys {
            if let GroupKey::Field(Field::Id) = key {
                return Err("grouping by id is not supported: every entry is its own group".into());
            }
        }
        let Select::Items(items) = &statement.select else {
            return Err("an aggregating query selects group keys and aggregates, not *".into());
        };
        for item in items {
            let column = plan.column_of(&item.expr)?;
            let name = item.alias.clone().unwrap_or_else(|| item.expr.to_string());
            plan.columns.push((name, column));
        }
        for OrderKey { expr, descending } in &statement.order_by {
            let column = plan.column_of(expr)?;
            plan.order.push((column, *descending));
        }
        if plan.order.is_empty() {
            plan.order = (0..plan.keys.len())
                .map(|i| (Column::Key(i), false))
                .collect();
        }
        Ok(plan)
    }

    /// Appends every field the groups and aggregates read.
    pub fn fields(&self, out: &mut Vec<Field>) {
        for key in &self.keys {
            if let GroupKey::Field(field) = key {
                out.push(field.clone());
            }
        }
        for aggregate in &self.aggregates {
            match aggregate {
                Aggregate::CountAll => {}
                Aggregate::Count(field)
                | Aggregate::CountDistinct(field)
                | Aggregate::Min(field)
                | Aggregate::Max(field)
                | Aggregate::Avg(field)
                | Aggregate::Sum(field) => out.push(field.clone()),
            }
        }
    }

    fn column_of(&mut self, expr: &SelectExpr) -> Result<Column, String> {
        let key = match expr {
            SelectExpr::Field(field) => GroupKey::Field(field.clone()),
            SelectExpr::Bucket(bucket) => GroupKey::Bucket(*bucket),
            SelectExpr::Aggregate(aggregate) => {
                if let Some(i) = self.aggregates.iter().position(|a| a == aggregate) {
                    return Ok(Column::Aggregate(i));
                }
                self.aggregates.push(aggregate.clone());
                return Ok(Column::Aggregate(self.aggregates.len() - 1));
            }
        };
        self.keys
            .iter()
            .position(|k| *k == key)
            .map(Column::Key)
            .ok_or_else(|| format!("{expr} is neither a GROUP BY key nor an aggregate"))
    }
}

/// What a block's (or granule's) directory tells about the entries of it
/// that match a filter of only time and levels, enough to fold them into
/// counts without reading them (`Groups::add_block`).
#[derive(Debug, Clone)]
pub struct CountFacts<'a> {
    /// Matching entries.
    pub entry_count: u64,
    pub min_timestamp_ns: i64,
    pub max_timestamp_ns: i64,
    /// Matching entries per level.
    pub level_counts: Option<LevelCounts>,
    /// Entries per source, when every entry matches and the sources are in
    /// a dictionary.
    pub source_counts: Option<Vec<(&'a str, u64)>>,
}

/// One group-key component of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyValue {
    /// The entry lacks the tag, field or level.
    Null,
    Time(i64),
    Text(String),
}

/// A running aggregate.
#[derive(Debug, Clone)]
enum State {
    Count(u64),
    Distinct(HashSet<String>),
    Min(Option<f64>),
    Max(Option<f64>),
    /// `sum` and `avg` (which divides by `n` when finished).
    Sum {
        sum: f64,
        n: u64,
        average: bool,
    },
}

impl State {
    fn new(aggregate: &Aggregate) -> State {
        match aggregate {
            Aggregate::CountAll | Aggregate::Count(_) => State::Count(0),
            Aggregate::CountDistinct(_) => State::Distinct(HashSet::new()),
            Aggregate::Min(_) => State::Min(None),
            Aggregate::Max(_) => State::Max(None),
            Aggregate::Avg(_) => State::Sum {
                sum: 0.0,
                n: 0,
                average: true,
            },
            Aggregate::Sum(_) => State::Sum {
                sum: 0.0,
                n: 0,
                average: false,
            },
        }
    }

    fn merge(&mut self, other: State, truncated: &mut bool) {
        match (self, other) {
            (State::Count(a), State::Count(b)) => *a += b,
            (State::Distinct(a), State::Distinct(b)) => {
                for value in b {
                    if a.len() >= DISTINCT_VALUES_MAX {
                        *truncated = true;
                        break;
                    }
                    a.insert(value);
                }
            }
            (State::Min(a), State::Min(b)) => *a = pick(*a, b, f64::min),
            (State::Max(a), State::Max(b)) => *a = pick(*a, b, f64::max),
            (State::Sum { sum, n, .. }, State::Sum { sum: s, n: m, .. }) => {
                *sum += s;
                *n += m;
            }
            _ => unreachable!("the same plan builds the same states"),
        }
    }
}

fn pick(a: Option<f64>, b: Option<f64>, choose: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(choose(a, b)),
        (a, b) => a.or(b),
    }
}

/// One shard's groups (and, after merging, every shard's).
#[derive(Debug, Default)]
pub struct Groups {
    groups: HashMap<Vec<KeyValue>, Vec<State>>,
    /// A group or a distinct value was dropped to stay within the bounds.
    pub truncated: bool,
}

impl Groups {
    /// Folds entry `index` of `batch` (which matched the filter) in.
    pub fn add<B: BatchView + ?Sized>(
        &mut self,
        plan: &AggregationPlan,
        batch: &B,
        index: usize,
        partition: &str,
    ) {
        let key: Vec<KeyValue> = plan
            .keys
            .iter()
            .map(|k| key_value(k, batch, index, partition))
            .collect();
        let Some(states) = group_states(&mut self.groups, &mut self.truncated, plan, key) else {
            return;
        };
        for (state, aggregate) in states.iter_mut().zip(&plan.aggregates) {
            self.truncated |= update(state, aggregate, batch, index, partition);
        }
    }

    /// Folds in a block every entry of which matched, from `facts` alone,
    /// when the plan only counts (`count(*)`) and the facts give each
    /// entry's group: each key is one value for the whole block (partition,
    /// a single source, a time bucket the block fits in) except at most one
    /// that the facts count per value (level). Returns false, having
    /// changed nothing, when the block must be read instead.
    pub fn add_block(
        &mut self,
        plan: &AggregationPlan,
        facts: &CountFacts,
        partition: &str,
    ) -> bool {
        if !plan
            .aggregates
            .iter()
            .all(|a| matches!(a, Aggregate::CountAll))
        {
            return false;
        }
        let mut spread: Option<(usize, Vec<(KeyValue, u64)>)> = None;
        let mut key = Vec::with_capacity(plan.keys.len());
        for (position, group_key) in plan.keys.iter().enumerate() {
            match block_key_values(group_key, facts, partition) {
                Some(BlockKey::One(value)) => key.push(value),
                Some(BlockKey::Counted(counts)) if spread.is_none() => {
                    spread = Some((position, counts));
                    key.push(KeyValue::Null);
                }
                _ => return false,
            }
        }
        match spread {
            None => self.add_count(plan, key, facts.entry_count),
            Some((position, counts)) => {
                for (value, n) in counts {
                    let mut key = key.clone();
                    key[position] = value;
                    self.add_count(plan, key, n);
                }
            }
        }
        true
    }

    /// Adds `n` entries to the group `key` of a count-only plan.
    fn add_count(&mut self, plan: &AggregationPlan, key: Vec<KeyValue>, n: u64) {
        let Some(states) = group_states(&mut self.groups, &mut self.truncated, plan, key) else {
            return;
        };
        for state in states {
            if let State::Count(count) = state {
                *count += n;
            }
        }
    }

    pub fn merge(&mut self, other: Groups) {
        self.truncated |= other.truncated;
        for (key, states) in other.groups {
            let full = self.groups.len() >= GROUPS_MAX;
            match self.groups.get_mut(&key) {
                Some(mine) => {
                    for (state, theirs) in mine.iter_mut().zip(states) {
                        state.merge(theirs, &mut self.truncated);
                    }
                }
                None if full => self.truncated = true,
                None => {
                    self.groups.insert(key, states);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Groups the answer has: at least one when there are no group keys.
    pub fn row_count(&self, plan: &AggregationPlan) -> usize {
        if plan.keys.is_empty() {
            self.groups.len().max(1)
        } else {
            self.groups.len()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The finished rows, ordered, after `offset`, at most `limit`.
    pub fn rows(&self, plan: &AggregationPlan, offset: usize, limit: usize) -> Vec<Vec<Json>> {
        let no_key = Vec::new();
        let mut rows: Vec<(&Vec<KeyValue>, Vec<Json>)> = self
            .groups
            .iter()
            .map(|(key, states)| (key, states.iter().map(finish).collect()))
            .collect();
        if rows.is_empty() && plan.keys.is_empty() {
            // Without GROUP BY there is always exactly one group, as in
            // SQL: `SELECT count(*) ... WHERE <nothing matches>` is 0.
            let empty = plan
                .aggregates
                .iter()
                .map(|a| finish(&State::new(a)))
                .collect();
            rows.push((&no_key, empty));
        }
        rows.sort_by(|a, b| compare_rows(plan, a, b));
        rows.into_iter()
            .skip(offset)
            .take(limit)
            .map(|(key, values)| {
                plan.columns
                    .iter()
                    .map(|(_, column)| match column {
                        Column::Key(i) => key_json(&plan.keys[*i], &key[*i]),
                        Column::Aggregate(i) => values[*i].clone(),
                    })
                    .collect()
            })
            .collect()
    }
}

type Row<'a> = (&'a Vec<KeyValue>, Vec<Json>);

fn compare_rows(plan: &AggregationPlan, a: &Row<'_>, b: &Row<'_>) -> Ordering {
    for (column, descending) in &plan.order {
        let ordering = match column {
            Column::Key(i) => a.0[*i].cmp(&b.0[*i]),
            Column::Aggregate(i) => compare_json(&a.1[*i], &b.1[*i]),
        };
        let ordering = if *descending {
            ordering.reverse()
        } else {
            ordering
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    // Ties in the requested order are broken by the key, so pages are stable.
    a.0.cmp(b.0)
}

/// Numbers by value, `null` first.
fn compare_json(a: &Json, b: &Json) -> Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The running aggregates of group `key`, made if it is new; `None` (and
/// `truncated` set) when it is new and `GROUPS_MAX` groups exist already.
fn group_states<'a>(
    groups: &'a mut HashMap<Vec<KeyValue>, Vec<State>>,
    truncated: &mut bool,
    plan: &AggregationPlan,
    key: Vec<KeyValue>,
) -> Option<&'a mut Vec<State>> {
    if !groups.contains_key(&key) && groups.len() >= GROUPS_MAX {
        *truncated = true;
        return None;
    }
    Some(
        groups
            .entry(key)
            .or_insert_with(|| plan.aggregates.iter().map(State::new).collect()),
    )
}

/// A group key's values over a whole block, as far as its facts tell.
enum BlockKey {
    /// Every entry has this value.
    One(KeyValue),
    /// Entries per value (none with a zero count).
    Counted(Vec<(KeyValue, u64)>),
}

/// What `key_value` would give for each entry of the block, from `facts`;
/// `None` when the facts cannot tell.
fn block_key_values(key: &GroupKey, facts: &CountFacts, partition: &str) -> Option<BlockKey> {
    let one = |value| Some(BlockKey::One(value));
    match key {
        GroupKey::Bucket(bucket) => {
            let first = facts.min_timestamp_ns.div_euclid(bucket.width_ns);
            let last = facts.max_timestamp_ns.div_euclid(bucket.width_ns);
            (first == last).then(|| BlockKey::One(KeyValue::Time(first * bucket.width_ns)))
        }
        GroupKey::Field(Field::Timestamp) if facts.min_timestamp_ns == facts.max_timestamp_ns => {
            one(KeyValue::Time(facts.min_timestamp_ns))
        }
        GroupKey::Field(Field::Partition) => one(KeyValue::Text(partition.to_string())),
        GroupKey::Field(Field::Source) => {
            let counts = facts.source_counts.as_ref()?;
            match counts.as_slice() {
                [(source, _)] => one(KeyValue::Text(source.to_string())),
                counts => Some(BlockKey::Counted(
                    counts
                        .iter()
                        .filter(|(_, n)| *n > 0)
                        .map(|(source, n)| (KeyValue::Text(source.to_string()), *n))
                        .collect(),
                )),
            }
        }
        GroupKey::Field(Field::Level) => {
            let counts = facts.level_counts?;
            let total: u64 = counts.iter().map(|n| *n as u64).sum();
            if total != facts.entry_count {
                return None;
            }
            let values = Level::ALL
                .iter()
                .zip(counts)
                .filter(|(_, n)| *n > 0)
                .map(|(level, n)| {
                    let value = match level {
                        Level::Unset => KeyValue::Null,
                        level => KeyValue::Text(level.as_str().to_string()),
                    };
                    (value, n as u64)
                })
                .collect();
            Some(BlockKey::Counted(values))
        }
        _ => None,
    }
}

fn key_value<B: BatchView + ?Sized>(
    key: &GroupKey,
    batch: &B,
    index: usize,
    partition: &str,
) -> KeyValue {
    match key {
        GroupKey::Bucket(bucket) => {
            let ts = batch.timestamp_ns(index);
            KeyValue::Time(ts.div_euclid(bucket.width_ns) * bucket.width_ns)
        }
        GroupKey::Field(Field::Timestamp) => KeyValue::Time(batch.timestamp_ns(index)),
        GroupKey::Field(field) => match text_of(field, batch, index, partition) {
            Some(text) => KeyValue::Text(text),
            None => KeyValue::Null,
        },
    }
}

/// A field's value as text (level by name, partition by name).
fn text_of<B: BatchView + ?Sized>(
    field: &Field,
    batch: &B,
    index: usize,
    partition: &str,
) -> Option<String> {
    match field {
        Field::Partition => Some(partition.to_string()),
        Field::Level => {
            let level = batch.level(index);
            (level != Level::Unset).then(|| level.as_str().to_string())
        }
        Field::Timestamp => Some(batch.timestamp_ns(index).to_string()),
        other => field_text(batch, index, other),
    }
}

/// Updates one aggregate; returns whether a distinct value was dropped.
fn update<B: BatchView + ?Sized>(
    state: &mut State,
    aggregate: &Aggregate,
    batch: &B,
    index: usize,
    partition: &str,
) -> bool {
    let value = || {
        aggregate
            .field()
            .and_then(|f| text_of(f, batch, index, partition))
    };
    let number = || match aggregate.field() {
        Some(Field::Timestamp) => Some(batch.timestamp_ns(index) as f64),
        _ => value().as_deref().and_then(numeric),
    };
    match state {
        State::Count(n) => {
            if matches!(aggregate, Aggregate::CountAll) || value().is_some() {
                *n += 1;
            }
        }
        State::Distinct(set) => {
            if let Some(v) = value() {
                if set.len() >= DISTINCT_VALUES_MAX && !set.contains(&v) {
                    return true;
                }
                set.insert(v);
            }
        }
        State::Min(min) => *min = pick(*min, number(), f64::min),
        State::Max(max) => *max = pick(*max, number(), f64::max),
        State::Sum { sum, n, .. } => {
            if let Some(x) = number() {
                *sum += x;
                *n += 1;
            }
        }
    }
    false
}

fn finish(state: &State) -> Json {
    match state {
        State::Count(n) => json!(n),
        State::Distinct(set) => json!(set.len()),
        State::Min(v) | State::Max(v) => v.map_or(Json::Null, number_json),
        State::Sum { n: 0, .. } => Json::Null,
        State::Sum {
            sum,
            n,
            average: true,
        } => json!(sum / *n as f64),
        State::Sum {
            sum,
            average: false,
            ..
        } => number_json(*sum),
    }
}

/// Whole numbers print as integers (a sum of counts reads `42`, not `42.0`).
fn number_json(x: f64) -> Json {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

fn key_json(key: &GroupKey, value: &KeyValue) -> Json {
    match value {
        KeyValue::Null => Json::Null,
        KeyValue::Text(text) => json!(text),
        KeyValue::Time(ns) => match key {
            GroupKey::Bucket(_) | GroupKey::Field(Field::Timestamp) => {
                let mut text = String::new();
                format_rfc3339_nanos(*ns, &mut text);
                json!(text)
            }
            GroupKey::Field(_) => json!(ns),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{ColumnBatch, EntryRef};
    use crate::query::lang::parse;

    const MINUTE_NS: i64 = 60_000_000_000;

    /// Entries at `minute` (a few seconds apart) with these levels, all
    /// from `source`.
    fn batch(minute: i64, source: &str, levels: &[Level]) -> ColumnBatch {
        let mut batch = ColumnBatch::default();
        for (i, level) in levels.iter().enumerate() {
            let entry = EntryRef {
                timestamp_ns: minute * MINUTE_NS + i as i64 * 1_000_000_000,
                level: *level,
                source,
                message: "m",
                fields_json: "",
            };
            batch.push(&entry, &[]);
        }
        batch
    }

    fn facts<'a>(batch: &ColumnBatch, only_source: Option<&'a str>) -> CountFacts<'a> {
        let mut level_counts = LevelCounts::default();
        for i in 0..batch.len() {
            level_counts[batch.level(i).as_byte() as usize] += 1;
        }
        let stamps = (0..batch.len()).map(|i| batch.timestamp_ns(i));
        CountFacts {
            entry_count: batch.len() as u64,
            min_timestamp_ns: stamps.clone().min().unwrap(),
            max_timestamp_ns: stamps.max().unwrap(),
            level_counts: Some(level_counts),
            source_counts: only_source.map(|source| vec![(source, batch.len() as u64)]),
        }
    }

    fn plan(q: &str) -> AggregationPlan {
        AggregationPlan::compile(&parse(q, 0).unwrap()).unwrap()
    }

    fn rows(plan: &AggregationPlan, groups: &Groups) -> Vec<Vec<Json>> {
        groups.rows(plan, 0, usize::MAX)
    }

    #[test]
    fn a_block_folded_from_its_facts_counts_as_its_entries_would() {
        use Level::*;
        let blocks = [
            batch(1, "web-1", &[Info, Info, Error, Unset, Info]),
            batch(1, "web-1", &[Warn]),
            batch(2, "db-1", &[Unset, Unset, Fatal]),
        ];
        for q in [
            "SELECT count(*) FROM p",
            "SELECT level, count(*) FROM p GROUP BY level",
            "SELECT source, level, count(*) FROM p GROUP BY source, level",
            "SELECT partition, bucket(timestamp, '1m'), level, count(*) FROM p \
             GROUP BY partition, bucket(timestamp, '1m'), level ORDER BY count(*) DESC",
        ] {
            let plan = plan(q);
            let (mut by_entry, mut by_block) = (Groups::default(), Groups::default());
            for block in &blocks {
                for i in 0..block.len() {
                    by_entry.add(&plan, block, i, "p");
                }
                let source = block.source(0);
                assert!(
                    by_block.add_block(&plan, &facts(block, Some(source)), "p"),
                    "{q}"
                );
            }
            assert_eq!(rows(&plan, &by_block), rows(&plan, &by_entry), "{q}");
        }
    }

    #[test]
    fn a_block_is_read_when_its_facts_cannot_tell() {
        use Level::*;
        let block = batch(1, "web-1", &[Info, Error]);
        let unknown_levels = CountFacts {
            level_counts: None,
            ..facts(&block, None)
        };
        for (q, facts) in [
            // Not only count(*).
            ("SELECT max(timestamp) FROM p", facts(&block, None)),
            ("SELECT count(DISTINCT level) FROM p", facts(&block, None)),
            // Two keys with many values: the joint counts are not known.
            (
                "SELECT level, tags.k, count(*) FROM p GROUP BY level, tags.k",
                facts(&block, None),
            ),
            // Sources not known to be one.
            (
                "SELECT source, count(*) FROM p GROUP BY source",
                facts(&block, None),
            ),
            (
                "SELECT level, count(*) FROM p GROUP BY level",
                unknown_levels,
            ),
            // The block spans two buckets.
            (
                "SELECT bucket(timestamp, '1s'), count(*) FROM p GROUP BY bucket(timestamp, '1s')",
                facts(&block, None),
            ),
        ] {
            let plan = plan(q);
            let mut groups = Groups::default();
            assert!(!groups.add_block(&plan, &facts, "p"), "{q}");
            assert!(groups.is_empty(), "{q}");
        }
    }
}
