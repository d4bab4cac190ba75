//! Running a query plan on one shard: prune blocks by time, read and verify
//! the candidates, apply the exact predicate, keep the best `offset + limit`
//! entries in the requested order, and count every match.
//!
//! In-memory stages (active and sealing blocks) are scanned inside one
//! `RefCell` borrow with no await; sealed blocks are listed in that borrow
//! and read afterwards, so no borrow is held across I/O.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use super::aggregate::Groups;
use super::filter::Predicate;
use super::prune::Pruned;
use super::request::QueryPlan;
use super::view::BatchView;
use crate::entry::{EntryId, Level};
use crate::shard::slice::{BlockRef, TimeMap};
use crate::shard::store::ShardStore;
use crate::storage::catalog::PartitionMeta;
use crate::storage::StorageError;

/// An entry a query returns, owned so it can cross to the merging shard.
#[derive(Debug, Clone)]
pub struct FoundEntry {
    pub partition: Arc<PartitionMeta>,
    pub id: EntryId,
    pub timestamp_ns: i64,
    pub level: Level,
    pub source: String,
    pub message: String,
    pub tags: Vec<(String, String)>,
    pub fields_json: String,
}

/// Result order: timestamp, then partition, slice and sequence, so equal
/// timestamps still have one stable order across shards.
pub type SortKey = (i64, u64, u32, u64);

impl FoundEntry {
    pub fn sort_key(&self) -> SortKey {
        (
            self.timestamp_ns,
            self.partition.key,
            self.id.slice,
            self.id.seq,
        )
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ScanStats {
    pub blocks_scanned: u64,
    /// Blocks not read: the sum of the `pruned_*` stages.
    pub blocks_skipped: u64,
    pub entries_scanned: u64,
    /// Blocks (sealed, or in memory awaiting their seal) outside the time range.
    pub pruned_by_time: u64,
    /// Sealed blocks without any of the wanted levels.
    pub pruned_by_level: u64,
    /// Sealed blocks whose source and tag sets rule out a match.
    pub pruned_by_sets: u64,
    /// Sealed blocks whose word filter lacks a required word.
    pub pruned_by_words: u64,
}

impl ScanStats {
    pub fn add(&mut self, other: &ScanStats) {
        self.blocks_scanned += other.blocks_scanned;
        self.blocks_skipped += other.blocks_skipped;
        self.entries_scanned += other.entries_scanned;
        self.pruned_by_time += other.pruned_by_time;
        self.pruned_by_level += other.pruned_by_level;
        self.pruned_by_sets += other.pruned_by_sets;
        self.pruned_by_words += other.pruned_by_words;
    }

    /// Counts `blocks` skipped by `stage`.
    fn skipped(&mut self, stage: Stage, blocks: u64) {
        let counter = match stage {
            Stage::Time => &mut self.pruned_by_time,
            Stage::Level => &mut self.pruned_by_level,
            Stage::Pruned(Pruned::Sets) => &mut self.pruned_by_sets,
            Stage::Pruned(Pruned::Words) => &mut self.pruned_by_words,
        };
        *counter += blocks;
        self.blocks_skipped += blocks;
    }
}

/// The pruning stage that skipped a block.
#[derive(Debug, Clone, Copy)]
enum Stage {
    Time,
    Level,
    Pruned(Pruned),
}

#[derive(Debug, Default)]
pub struct ShardResult {
    pub entries: Vec<FoundEntry>,
    /// An aggregating query's groups on this shard.
    pub groups: Option<Groups>,
    pub total_count: u64,
    pub stats: ScanStats,
    pub timed_out: bool,
}

/// Keeps the best `wanted` entries seen, in amortised O(1) per entry.
struct Collector {
    wanted: usize,
    descending: bool,
    entries: Vec<FoundEntry>,
    /// The worst key still kept after the last compaction.
    threshold: Option<SortKey>,
    total: u64,
}

impl Collector {
    fn better(&self, a: SortKey, b: SortKey) -> bool {
        if self.descending {
            a > b
        } else {
            a < b
        }
    }

    fn offer(&mut self, key: SortKey, make: impl FnOnce() -> FoundEntry) {
        self.total += 1;
        if self.wanted == 0 || self.threshold.is_some_and(|worst| !self.better(key, worst)) {
            return;
        }
        self.entries.push(make());
        if self.entries.len() >= self.wanted.saturating_mul(2).max(64) {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let descending = self.descending;
        self.entries
            .sort_unstable_by(|a, b| order(a.sort_key(), b.sort_key(), descending));
        self.entries.truncate(self.wanted);
        if self.entries.len() == self.wanted {
            self.threshold = self.entries.last().map(FoundEntry::sort_key);
        }
    }
}

pub fn order(a: SortKey, b: SortKey, descending: bool) -> std::cmp::Ordering {
    if descending {
        b.cmp(&a)
    } else {
        a.cmp(&b)
    }
}

struct Scan<'a> {
    plan: &'a QueryPlan,
    collector: Collector,
    groups: Option<Groups>,
    stats: ScanStats,
    scratch: Vec<u8>,
}

impl Scan<'_> {
    fn batch<B: BatchView + ?Sized>(
        &mut self,
        batch: &B,
        first_seq: u64,
        slice: u32,
        meta: &Arc<PartitionMeta>,
    ) {
        let predicate: &Predicate = &self.plan.predicate;
        self.stats.blocks_scanned += 1;
        self.stats.entries_scanned += batch.entry_count() as u64;
        for index in 0..batch.entry_count() {
            if !predicate.matches(batch, index, &mut self.scratch) {
                continue;
            }
            if let (Some(plan), Some(groups)) = (&self.plan.aggregation, &mut self.groups) {
                self.collector.total += 1;
                groups.add(plan, batch, index, &meta.name);
                continue;
            }
            let id = EntryId {
                slice,
                seq: first_seq + index as u64,
            };
            let key = (batch.timestamp_ns(index), meta.key, slice, id.seq);
            self.collector
                .offer(key, || materialise(batch, index, id, meta));
        }
    }
}

fn materialise<B: BatchView + ?Sized>(
    batch: &B,
    index: usize,
    id: EntryId,
    meta: &Arc<PartitionMeta>,
) -> FoundEntry {
    let mut tags = Vec::new();
    batch.for_each_tag(index, &mut |key, value| {
        tags.push((key.to_string(), value.to_string()));
        false
    });
    FoundEntry {
        partition: meta.clone(),
        id,
        timestamp_ns: batch.timestamp_ns(index),
        level: batch.level(index),
        source: batch.source(index).to_string(),
        message: batch.message(index).to_string(),
        tags,
        fields_json: batch.fields_json(index).to_string(),
    }
}

pub async fn run_on_shard(
    store: &ShardStore,
    plan: &QueryPlan,
) -> Result<ShardResult, StorageError> {
    let collector = Collector {
        wanted: plan.per_shard_wanted(),
        descending: plan.descending,
        entries: Vec::new(),
        threshold: None,
        total: 0,
    };
    let mut scan = Scan {
        plan,
        collector,
        groups: plan.aggregation.as_ref().map(|_| Groups::default()),
        stats: ScanStats::default(),
        scratch: Vec::new(),
    };
    let mut timed_out = false;
    'partitions: for meta in &plan.partitions {
        let blocks = scan_memory_and_list_blocks(store, meta, &mut scan);
        for block in blocks {
            if Instant::now() >= plan.deadline {
                timed_out = true;
                break 'partitions;
            }
            let decoded = block
                .segment
                .read_block(block.offset, &block.header)
                .await?;
            scan.batch(
                decoded.batch(),
                block.header.first_seq,
                store.shard_id,
                meta,
            );
            glommio::yield_if_needed().await;
        }
    }
    scan.collector.compact();
    Ok(ShardResult {
        entries: scan.collector.entries,
        groups: scan.groups,
        total_count: scan.collector.total,
        stats: scan.stats,
        timed_out,
    })
}

/// Scans a slice's in-memory stages and returns the sealed blocks worth
/// reading (newest first for a descending query), counting the rest skipped.
fn scan_memory_and_list_blocks(
    store: &ShardStore,
    meta: &Arc<PartitionMeta>,
    scan: &mut Scan<'_>,
) -> Vec<Rc<BlockRef>> {
    let slices = store.slices.borrow();
    let Some(slice) = slices.get(&meta.key) else {
        return Vec::new();
    };
    let predicate = &scan.plan.predicate;
    if !slice.active.is_empty()
        && predicate.overlaps(slice.active_min_timestamp_ns, slice.active_max_timestamp_ns)
    {
        scan.batch(&slice.active, slice.active_first_seq, store.shard_id, meta);
    }
    for sealing in &slice.sealing {
        if predicate.overlaps(sealing.min_timestamp_ns, sealing.max_timestamp_ns) {
            scan.batch(&sealing.batch, sealing.first_seq, store.shard_id, meta);
        } else {
            scan.stats.skipped(Stage::Time, 1);
        }
    }
    let mut candidates = candidate_blocks(&slice.blocks, scan.plan, &mut scan.stats);
    if !scan.plan.descending {
        candidates.sort_by_key(|block| block.header.min_timestamp_ns);
    }
    candidates
}

/// The sealed blocks of a slice a query must read, newest first (by their
/// newest entry), after the pruning stages of `query::prune`; counts the
/// rest in `stats` by the stage that skipped them.
fn candidate_blocks(
    blocks: &TimeMap,
    plan: &QueryPlan,
    stats: &mut ScanStats,
) -> Vec<Rc<BlockRef>> {
    let predicate = &plan.predicate;
    let mut candidates = Vec::new();
    let mut visited = 0;
    for block in blocks.newest_first(predicate.time_start_ns) {
        visited += 1;
        let header = &block.header;
        let stage = if !predicate.overlaps(header.min_timestamp_ns, header.max_timestamp_ns) {
            Stage::Time
        } else if !predicate.may_match_levels(header.level_mask) {
            Stage::Level
        } else if let Some(pruned) = plan.block_test.prune(block.summary.get()) {
            Stage::Pruned(pruned)
        } else {
            candidates.push(block.clone());
            continue;
        };
        stats.skipped(stage, 1);
    }
    // Blocks that end before the time range were never visited.
    stats.skipped(Stage::Time, (blocks.len() - visited) as u64);
    candidates
}
