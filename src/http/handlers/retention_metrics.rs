//! The `/metrics` series of retention: per partition, its bytes on disk,
//! its oldest and newest entry, and what retention deleted (by reason);
//! per shard, whether its storage budget can be met.

use std::fmt::Write;
use std::sync::Arc;

use crate::http::error::ApiError;
use crate::shard::context::ShardCounters;
use crate::shard::mailbox::ShardHealth;
use crate::shard::partitions::{self as admin, SliceStats};
use crate::shard::retention::{Reason, Removed};
use crate::shard::ShardContext;
use crate::storage::catalog::PartitionMeta;

/// A partition's per-reason counter: name, help, and which count it reads.
type RemovedSeries = (&'static str, &'static str, fn(&Removed) -> u64);

const REMOVED_SERIES: [RemovedSeries; 3] = [
    (
        "timberdb_retention_deleted_blocks_total",
        "Sealed blocks retention deleted since start, by partition and reason (age|size).",
        |r| r.blocks,
    ),
    (
        "timberdb_retention_deleted_entries_total",
        "Entries in blocks retention deleted since start, by partition and reason (age|size).",
        |r| r.entries,
    ),
    (
        "timberdb_retention_deleted_bytes_total",
        "Bytes of blocks retention deleted since start, by partition and reason (age|size).",
        |r| r.bytes,
    ),
];

pub async fn render(
    ctx: &ShardContext,
    shards: &[(ShardCounters, ShardHealth)],
    out: &mut String,
) -> Result<(), ApiError> {
    let metas: Vec<Arc<PartitionMeta>> = ctx.catalog.borrow().list().cloned().collect();
    let stats = admin::stats(ctx, None).await.map_err(ApiError::internal)?;
    let partitions: Vec<(&str, SliceStats)> = metas
        .iter()
        .map(|meta| {
            let stats = stats.get(&meta.key).copied().unwrap_or_default();
            (meta.name.as_str(), stats)
        })
        .collect();
    render_partitions(&partitions, out);
    out.push_str("# HELP timberdb_storage_limit_reached 1 while a shard cannot meet its share of storage.max_storage_size (ingest answers 507 storage_limit).\n# TYPE timberdb_storage_limit_reached gauge\n");
    for (shard, (_, health)) in shards.iter().enumerate() {
        let _ = writeln!(
            out,
            "timberdb_storage_limit_reached{{shard=\"{shard}\"}} {}",
            health.storage_limit.is_some() as u8
        );
    }
    Ok(())
}

/// Partition names are `[A-Za-z0-9_.-]` (catalog::validate_name), so they
/// need no escaping as label values.
fn render_partitions(partitions: &[(&str, SliceStats)], out: &mut String) {
    out.push_str("# HELP timberdb_partition_bytes_on_disk Bytes of a partition's sealed blocks in segment files.\n# TYPE timberdb_partition_bytes_on_disk gauge\n");
    for (name, stats) in partitions {
        let _ = writeln!(
            out,
            "timberdb_partition_bytes_on_disk{{partition=\"{name}\"}} {}",
            stats.bytes_on_disk
        );
    }
    type Timestamp = (&'static str, &'static str, fn(&SliceStats) -> Option<i64>);
    let timestamps: [Timestamp; 2] = [
        (
            "timberdb_partition_oldest_timestamp_seconds",
            "Timestamp of a partition's oldest entry (absent when it holds none).",
            |s| s.oldest_timestamp_ns,
        ),
        (
            "timberdb_partition_newest_timestamp_seconds",
            "Timestamp of a partition's newest entry (absent when it holds none).",
            |s| s.newest_timestamp_ns,
        ),
    ];
    for (metric, help, read) in timestamps {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} gauge");
        for (name, stats) in partitions {
            if let Some(ns) = read(stats) {
                let seconds = ns as f64 / 1e9;
                let _ = writeln!(out, "{metric}{{partition=\"{name}\"}} {seconds:.3}");
            }
        }
    }
    type QuarantineSeries = (&'static str, &'static str, fn(&SliceStats) -> u64);
    let quarantine: [QuarantineSeries; 2] = [
        (
            "timberdb_quarantined_blocks_total",
            "Damaged blocks quarantined (removed on the record), by partition, as quarantine.jsonl records them (alert on any).",
            |s| s.quarantined.blocks,
        ),
        (
            "timberdb_quarantined_entries_total",
            "Entries lost with quarantined blocks, by partition.",
            |s| s.quarantined.entries,
        ),
    ];
    for (metric, help, read) in quarantine {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
        for (name, stats) in partitions {
            let _ = writeln!(out, "{metric}{{partition=\"{name}\"}} {}", read(stats));
        }
    }
    for (metric, help, read) in REMOVED_SERIES {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
        for (name, stats) in partitions {
            for (reason, removed) in Reason::ALL.iter().zip(&stats.retention_removed) {
                let _ = writeln!(
                    out,
                    "{metric}{{partition=\"{name}\",reason=\"{}\"}} {}",
                    reason.label(),
                    read(removed)
                );
            }
        }
    }
}
