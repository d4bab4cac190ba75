//! Merging the shards' results and rendering the response body.

use serde::Serialize;
use serde_json::value::RawValue;

use super::aggregate::{AggregationPlan, Groups};
use super::execute::{order, FoundEntry, ScanStats, ShardResult};
use super::request::QueryPlan;
use crate::ingest::timestamp::format_rfc3339_nanos;

pub struct Merged {
    pub entries: Vec<FoundEntry>,
    /// An aggregating query's groups, merged over the shards.
    pub groups: Option<Groups>,
    pub total_count: u64,
    pub stats: ScanStats,
    pub timed_out: bool,
    pub shards: usize,
}

/// Merges per-shard results (each already holding its best offset+limit)
/// into the page the client asked for.
pub fn merge(plan: &QueryPlan, results: Vec<ShardResult>) -> Merged {
    let shards = results.len();
    let mut merged = Merged {
        entries: Vec::new(),
        groups: None,
        total_count: 0,
        stats: ScanStats::default(),
        timed_out: false,
        shards,
    };
    for result in results {
        merged.total_count += result.total_count;
        merged.stats.add(&result.stats);
        merged.timed_out |= result.timed_out;
        merged.entries.extend(result.entries);
        if let Some(groups) = result.groups {
            match &mut merged.groups {
                Some(all) => all.merge(groups),
                None => merged.groups = Some(groups),
            }
        }
    }
    merged
        .entries
        .sort_unstable_by(|a, b| order(a.sort_key(), b.sort_key(), plan.descending));
    merged.entries.truncate(plan.per_shard_wanted());
    merged
        .entries
        .drain(..plan.offset.min(merged.entries.len()));
    merged
}

#[derive(Serialize)]
struct EntryJson<'a> {
    id: String,
    partition: &'a str,
    partition_id: &'a str,
    timestamp: String,
    timestamp_ns: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<&'a str>,
    source: &'a str,
    message: &'a str,
    tags: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct StatsJson {
    shards: usize,
    blocks_scanned: u64,
    blocks_skipped: u64,
    entries_scanned: u64,
    /// `blocks_skipped` by the stage that skipped them.
    blocks_pruned: PrunedJson,
}

#[derive(Serialize)]
struct PrunedJson {
    time: u64,
    level: u64,
    sets: u64,
    words: u64,
}

#[derive(Serialize)]
struct ResponseJson<'a> {
    entries: Vec<EntryJson<'a>>,
    total_count: u64,
    returned_count: usize,
    execution_time_ms: f64,
    partitions_searched: usize,
    truncated: bool,
    timed_out: bool,
    stats: StatsJson,
}

#[derive(Serialize)]
struct AggregateJson<'a> {
    columns: Vec<&'a str>,
    rows: Vec<Vec<serde_json::Value>>,
    /// Entries that matched the filter (and were folded into groups).
    total_count: u64,
    returned_count: usize,
    group_count: usize,
    execution_time_ms: f64,
    partitions_searched: usize,
    truncated: bool,
    timed_out: bool,
    /// Groups or distinct values were dropped at the per-query bounds.
    groups_truncated: bool,
    stats: StatsJson,
}

fn stats_json(merged: &Merged) -> StatsJson {
    StatsJson {
        shards: merged.shards,
        blocks_scanned: merged.stats.blocks_scanned,
        blocks_skipped: merged.stats.blocks_skipped,
        entries_scanned: merged.stats.entries_scanned,
        blocks_pruned: PrunedJson {
            time: merged.stats.pruned_by_time,
            level: merged.stats.pruned_by_level,
            sets: merged.stats.pruned_by_sets,
            words: merged.stats.pruned_by_words,
        },
    }
}

fn render_aggregate(
    plan: &QueryPlan,
    aggregation: &AggregationPlan,
    merged: &Merged,
    execution_time_ms: f64,
) -> Vec<u8> {
    let empty = Groups::default();
    let groups = merged.groups.as_ref().unwrap_or(&empty);
    let rows = groups.rows(aggregation, plan.offset, plan.limit);
    let response = AggregateJson {
        columns: aggregation
            .columns
            .iter()
            .map(|(name, _)| name.as_str())
            .collect(),
        returned_count: rows.len(),
        truncated: groups.row_count(aggregation) > plan.offset + rows.len(),
        rows,
        total_count: merged.total_count,
        group_count: groups.row_count(aggregation),
        execution_time_ms,
        partitions_searched: plan.partitions.len(),
        timed_out: merged.timed_out,
        groups_truncated: groups.truncated,
        stats: stats_json(merged),
    };
    serde_json::to_vec(&response).expect("response serialises")
}

pub fn render(plan: &QueryPlan, merged: &Merged, execution_time_ms: f64) -> Vec<u8> {
    if let Some(aggregation) = &plan.aggregation {
        return render_aggregate(plan, aggregation, merged, execution_time_ms);
    }
    let entries: Vec<EntryJson<'_>> = merged.entries.iter().map(entry_json).collect();
    let returned_count = entries.len();
    let response = ResponseJson {
        entries,
        total_count: merged.total_count,
        returned_count,
        execution_time_ms,
        partitions_searched: plan.partitions.len(),
        truncated: merged.total_count > (plan.offset + returned_count) as u64,
        timed_out: merged.timed_out,
        stats: stats_json(merged),
    };
    serde_json::to_vec(&response).expect("response serialises")
}

fn entry_json(entry: &FoundEntry) -> EntryJson<'_> {
    let mut timestamp = String::with_capacity(30);
    format_rfc3339_nanos(entry.timestamp_ns, &mut timestamp);
    let tags = entry
        .tags
        .iter()
        .map(|(key, value)| (key.clone(), serde_json::Value::String(value.clone())))
        .collect();
    let fields = if entry.fields_json.is_empty() {
        None
    } else {
        // Stored fields were produced from valid JSON at ingest; a block that
        // passed its checksum cannot hold anything else, but stay total.
        serde_json::from_str::<&RawValue>(&entry.fields_json).ok()
    };
    EntryJson {
        id: entry.id.to_string(),
        partition: &entry.partition.name,
        partition_id: &entry.partition.id,
        timestamp,
        timestamp_ns: entry.timestamp_ns,
        level: Some(entry.level.as_str()).filter(|name| !name.is_empty()),
        source: &entry.source,
        message: &entry.message,
        tags,
        fields,
    }
}
