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
use crate::entry::{EntryId, Level};
use crate::shard::damage::DamagedBlock;
use crate::storage::catalog::PartitionMeta;
use crate::time::format_rfc3339_nanos;

/// The entry object as serde would write it: the reference that
/// `write_entry_parts` is tested against.
#[cfg(test)]
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
struct MetadataJson<'a> {
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
    /// Entries are missing: a block the query needed was damaged and left
    /// out (and quarantined). `quarantined_blocks` names them.
    partial: bool,
    #[serde(skip_serializing_if = "none_left_out")]
    quarantined_blocks: &'a [DamagedBlock],
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
    /// As in an entry query's answer.
    partial: bool,
    #[serde(skip_serializing_if = "none_left_out")]
    quarantined_blocks: &'a [DamagedBlock],
}

fn none_left_out(blocks: &&[DamagedBlock]) -> bool {
    blocks.is_empty()
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
        partial: summary.damaged_block_count > 0,
        quarantined_blocks: &summary.damaged,
    };
    serde_json::to_vec(&response).expect("response serialises")
}

fn metadata_json<'a>(
    plan: &QueryPlan,
    returned_count: usize,
    summary: &'a QuerySummary,
    execution_time_ms: f64,
) -> MetadataJson<'a> {
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
        partial: summary.damaged_block_count > 0,
        quarantined_blocks: &summary.damaged,
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
    struct Line<'a> {
        metadata: MetadataJson<'a>,
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
    let tags: Vec<(&str, &str)> = entry
        .tags
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    write_entry_parts(
        out,
        &EntryParts {
            partition: &entry.partition,
            id: entry.id,
            timestamp_ns: entry.timestamp_ns,
            level: entry.level,
            source: &entry.source,
            message: &entry.message,
            tags: &tags,
            fields_json: &entry.fields_json,
        },
    );
}

/// One entry's values, borrowed from wherever they are (a `FoundEntry`, a
/// batch's columns), for `write_entry_parts`.
pub struct EntryParts<'a> {
    pub partition: &'a PartitionMeta,
    pub id: EntryId,
    pub timestamp_ns: i64,
    pub level: Level,
    pub source: &'a str,
    pub message: &'a str,
    /// In stored order; written sorted by key, the last of equal keys
    /// winning (as a JSON object built from them would hold them).
    pub tags: &'a [(&'a str, &'a str)],
    /// The stored fields object, or empty.
    pub fields_json: &'a str,
}

/// Appends one entry as a JSON object, written straight from borrowed
/// values: no owned copy of the entry, no map, no second parse of its
/// fields. Every query answer and every live tail line goes through here,
/// so it is on the path whose cost grows with what is read. The output is
/// what serialising `EntryJson` gives (tested against it below): keys in
/// that order, strings escaped by serde_json's own escaper.
pub fn write_entry_parts(out: &mut Vec<u8>, entry: &EntryParts<'_>) {
    use std::io::Write;
    out.extend_from_slice(b"{\"id\":\"");
    write!(out, "{}", entry.id).expect("writing to a Vec cannot fail");
    out.extend_from_slice(b"\",\"partition\":");
    write_json_str(out, &entry.partition.name);
    out.extend_from_slice(b",\"partition_id\":");
    write_json_str(out, &entry.partition.id);
    out.extend_from_slice(b",\"timestamp\":\"");
    let mut timestamp = String::with_capacity(32);
    format_rfc3339_nanos(entry.timestamp_ns, &mut timestamp);
    out.extend_from_slice(timestamp.as_bytes());
    out.extend_from_slice(b"\",\"timestamp_ns\":");
    write!(out, "{}", entry.timestamp_ns).expect("writing to a Vec cannot fail");
    let level = entry.level.as_str();
    if !level.is_empty() {
        out.extend_from_slice(b",\"level\":");
        write_json_str(out, level);
    }
    out.extend_from_slice(b",\"source\":");
    write_json_str(out, entry.source);
    out.extend_from_slice(b",\"message\":");
    write_json_str(out, entry.message);
    out.extend_from_slice(b",\"tags\":{");
    write_tags(out, entry.tags);
    out.push(b'}');
    let fields = entry.fields_json.trim_ascii();
    if !fields.is_empty() {
        // Stored fields were written as JSON at ingest and come back from
        // blocks that passed their checksums.
        debug_assert!(
            serde_json::from_str::<&RawValue>(fields).is_ok(),
            "{fields}"
        );
        out.extend_from_slice(b",\"fields\":");
        out.extend_from_slice(fields.as_bytes());
    }
    out.push(b'}');
}

fn write_json_str(out: &mut Vec<u8>, text: &str) {
    // serde_json's own escaping, so the text is what serialising gives.
    serde::Serializer::serialize_str(&mut serde_json::Serializer::new(out), text)
        .expect("writing to a Vec cannot fail");
}

/// Tags sorted by key, the last value of a repeated key winning. Ingest
/// stores them sorted and unique, so this is usually one pass.
fn write_tags(out: &mut Vec<u8>, tags: &[(&str, &str)]) {
    let in_order = tags.windows(2).all(|pair| pair[0].0 < pair[1].0);
    if in_order {
        write_tag_pairs(out, tags.iter().copied());
        return;
    }
    let mut sorted = tags.to_vec();
    // Stable: of equal keys, the last stored stays last.
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let unique = sorted
        .iter()
        .enumerate()
        .filter(|(at, (key, _))| sorted.get(at + 1).is_none_or(|next| next.0 != *key))
        .map(|(_, pair)| *pair);
    write_tag_pairs(out, unique);
}

fn write_tag_pairs<'a>(out: &mut Vec<u8>, pairs: impl Iterator<Item = (&'a str, &'a str)>) {
    for (at, (key, value)) in pairs.enumerate() {
        if at > 0 {
            out.push(b',');
        }
        write_json_str(out, key);
        out.push(b':');
        write_json_str(out, value);
    }
}

#[cfg(test)]
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn meta(name: &str) -> Arc<PartitionMeta> {
        let mut meta: PartitionMeta = serde_json::from_value(serde_json::json!({
            "id": "0b5a7c1e-1111-4222-8333-944455556666",
            "key": 7,
            "name": name,
            "created_at_ns": 0,
        }))
        .expect("a partition's catalog entry");
        meta.name = name.to_string();
        Arc::new(meta)
    }

    fn found(tags: &[(&str, &str)], fields_json: &str, level: Level) -> FoundEntry {
        FoundEntry {
            partition: meta("web \"edge\"\\"),
            id: EntryId {
                slice: 3,
                seq: 1 << 40,
            },
            timestamp_ns: -1_234_567_891,
            level,
            source: "svc/\u{e9}\u{1F600}".to_string(),
            message: "line one\nline\ttwo \"quoted\" \\ \u{1}\u{1f}\u{7f} \u{2028}".to_string(),
            tags: tags
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
            fields_json: fields_json.to_string(),
        }
    }

    /// The direct writer writes exactly what serialising the entry object
    /// does, for the shapes entries take.
    #[test]
    fn write_entry_matches_serde() {
        let tag_sets: [&[(&str, &str)]; 5] = [
            &[],
            &[("env", "prod"), ("host", "a\"b")],
            &[("zone", "1"), ("app", "x"), ("m", "\n")],
            &[("k", "first"), ("a", "1"), ("k", "last")],
            &[("k", "same"), ("k", "again")],
        ];
        let fields = [
            "",
            "{}",
            r#"{"n":1,"s":"a\u0001","o":{"x":[1,2.5,null]}}"#,
            " {\"a\":1} ",
        ];
        for tags in tag_sets {
            for fields_json in fields {
                for level in [Level::Unset, Level::Error, Level::Info] {
                    let entry = found(tags, fields_json, level);
                    let mut direct = Vec::new();
                    write_entry(&mut direct, &entry);
                    let expected = serde_json::to_vec(&entry_json(&entry)).unwrap();
                    assert_eq!(
                        String::from_utf8(direct).unwrap(),
                        String::from_utf8(expected).unwrap(),
                        "tags {tags:?} fields {fields_json:?} level {level:?}"
                    );
                }
            }
        }
    }
}
