//! Rendering a query's answer: the JSON body, or NDJSON lines.
//!
//! Entries are rendered one at a time as the merge hands them out
//! (`write_entry`), so neither form holds the page as `FoundEntry`s; the
//! JSON body splices the rendered entries in front of the metadata, and the
//! NDJSON stream ends with the same metadata as its own line.

use serde::Serialize;
use serde_json::value::RawValue;

use super::aggregate::{AggregationPlan, Groups};
use super::cursor::{start_key, Cursor};
use super::execute::{FoundEntry, PruneCounts};
use super::request::QueryPlan;
use super::stream::QuerySummary;
use crate::time::format_rfc3339_nanos;

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
    blocks_not_read_after_limit: u64,
    /// Blocks counted from their directory without being read.
    blocks_counted_unread: u64,
    entries_scanned: u64,
    /// `blocks_skipped` by the stage that skipped them.
    blocks_pruned: PrunedJson,
    /// Granules of published blocks read, counted unread from their
    /// directory, and ruled out (by stage) inside the blocks considered.
    granules_scanned: u64,
    granules_counted_unread: u64,
    granules_pruned: PrunedJson,
}

#[derive(Serialize)]
struct PrunedJson {
    time: u64,
    level: u64,
    sets: u64,
    words: u64,
}

/// Everything in an entry query's answer but the entries.
#[derive(Serialize)]
struct MetadataJson {
    total_count: u64,
    total_count_exact: bool,
    returned_count: usize,
    execution_time_ms: f64,
    partitions_searched: usize,
    truncated: bool,
    timed_out: bool,
    /// The cursor of the next page (`null`: no more entries match).
    next: Option<String>,
    stats: StatsJson,
}

#[derive(Serialize)]
struct AggregateJson<'a> {
    columns: Vec<&'a str>,
    rows: Vec<Vec<serde_json::Value>>,
    /// Entries that matched the filter (and were folded into groups).
    total_count: u64,
    total_count_exact: bool,
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

fn stats_json(summary: &QuerySummary) -> StatsJson {
    StatsJson {
        shards: summary.shards,
        blocks_scanned: summary.stats.blocks_scanned,
        blocks_skipped: summary.stats.blocks_skipped,
        blocks_not_read_after_limit: summary.stats.blocks_not_read_after_limit,
        blocks_counted_unread: summary.stats.blocks_counted_unread,
        entries_scanned: summary.stats.entries_scanned,
        blocks_pruned: pruned_json(&summary.stats.blocks_pruned),
        granules_scanned: summary.stats.granules_scanned,
        granules_counted_unread: summary.stats.granules_counted_unread,
        granules_pruned: pruned_json(&summary.stats.granules_pruned),
    }
}

fn pruned_json(counts: &PruneCounts) -> PrunedJson {
    PrunedJson {
        time: counts.time,
        level: counts.level,
        sets: counts.sets,
        words: counts.words,
    }
}

/// An aggregating query's whole JSON body.
pub fn render_aggregate(
    plan: &QueryPlan,
    aggregation: &AggregationPlan,
    summary: &QuerySummary,
    execution_time_ms: f64,
) -> Vec<u8> {
    let empty = Groups::default();
    let groups = summary.groups.as_ref().unwrap_or(&empty);
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
        total_count: summary.total_count,
        total_count_exact: summary.total_count_exact,
        group_count: groups.row_count(aggregation),
        execution_time_ms,
        partitions_searched: plan.partitions.len(),
        timed_out: summary.timed_out,
        groups_truncated: groups.truncated,
        stats: stats_json(summary),
    };
    serde_json::to_vec(&response).expect("response serialises")
}

fn metadata_json(
    plan: &QueryPlan,
    returned_count: usize,
    summary: &QuerySummary,
    execution_time_ms: f64,
) -> MetadataJson {
    let shown = (plan.offset + returned_count) as u64;
    // More matches are known to exist past this page, or counting stopped
    // early with the page full (more are then likely, and total_count is
    // only a lower bound).
    let page_full = plan.limit > 0 && returned_count == plan.limit;
    let truncated = summary.total_count > shown || (!summary.total_count_exact && page_full);
    MetadataJson {
        total_count: summary.total_count,
        total_count_exact: summary.total_count_exact,
        returned_count,
        execution_time_ms,
        partitions_searched: plan.partitions.len(),
        truncated,
        timed_out: summary.timed_out,
        next: next_cursor(plan, returned_count, summary).map(|cursor| cursor.encode()),
        stats: stats_json(summary),
    }
}

/// The cursor after this page, or `None` when the answer is complete: the
/// page came out short of its limit without timing out, or the counts
/// (exact) show nothing past it. A page that timed out may have missed
/// entries before its last one (`timed_out` says so); its cursor still
/// continues after what it returned, or from where it started when it
/// returned nothing. A limit of 0 asks only for counts and pages nothing.
fn next_cursor(plan: &QueryPlan, returned_count: usize, summary: &QuerySummary) -> Option<Cursor> {
    if plan.limit == 0 || plan.aggregation.is_some() {
        return None;
    }
    let page_full = returned_count >= plan.limit;
    let shown = (plan.offset + returned_count) as u64;
    let nothing_past = summary.total_count_exact && summary.total_count <= shown;
    if !summary.timed_out && (!page_full || nothing_past) {
        return None;
    }
    let after = summary
        .last_key
        .or(plan.after)
        .unwrap_or_else(|| start_key(plan.descending));
    Some(Cursor {
        after,
        fingerprint: plan.fingerprint,
    })
}

/// An entry query's JSON body: `entries_json` is the rendered entries,
/// comma-separated (see `write_entry`).
pub fn render_page(
    plan: &QueryPlan,
    entries_json: &[u8],
    returned_count: usize,
    summary: &QuerySummary,
    execution_time_ms: f64,
) -> Vec<u8> {
    let metadata = metadata_json(plan, returned_count, summary, execution_time_ms);
    let metadata = serde_json::to_vec(&metadata).expect("metadata serialises");
    debug_assert_eq!(metadata.first(), Some(&b'{'));
    let mut body = Vec::with_capacity(entries_json.len() + metadata.len() + 16);
    body.extend_from_slice(b"{\"entries\":[");
    body.extend_from_slice(entries_json);
    body.extend_from_slice(b"],");
    body.extend_from_slice(&metadata[1..]);
    body
}

/// The last line of an NDJSON answer: `{"metadata": {...}}` and a newline.
pub fn render_metadata_line(
    plan: &QueryPlan,
    returned_count: usize,
    summary: &QuerySummary,
    execution_time_ms: f64,
) -> Vec<u8> {
    #[derive(Serialize)]
    struct Line {
        metadata: MetadataJson,
    }
    let line = Line {
        metadata: metadata_json(plan, returned_count, summary, execution_time_ms),
    };
    let mut bytes = serde_json::to_vec(&line).expect("metadata serialises");
    bytes.push(b'\n');
    bytes
}

/// Appends one entry as a JSON object (the shape of an `entries` item).
pub fn write_entry(out: &mut Vec<u8>, entry: &FoundEntry) {
    serde_json::to_writer(out, &entry_json(entry)).expect("an entry serialises");
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
