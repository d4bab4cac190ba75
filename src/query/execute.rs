//! Running a query plan on one shard: prune blocks by time, read and verify
//! the candidates, apply the exact predicate, keep the best `offset + limit`
//! entries in the requested order, count the matches, and stream the
//! entries that are final to the front end (see `collector` and `stream`).
//!
//! In-memory stages (active and sealing blocks) are scanned inside one
//! `RefCell` borrow with no await; sealed blocks are listed in that borrow
//! and read afterwards, so no borrow is held across I/O. The sealed
//! candidates of every partition are read in one order (newest
//! `max_timestamp` first when descending, oldest `min_timestamp` first when
//! ascending), so the next unread block bounds everything still to come:
//! once this shard's share of the page is final, the remaining blocks cannot
//! change it and are left unread (`blocks_not_read_after_limit`). Counting
//! stops with them, so `total_count` is then a lower bound. Aggregations and
//! count-only queries (limit 0) consider every candidate, but a block whose
//! every entry matches (the filter is only a time range and levels that
//! contain the block's) is counted from its header and summary unread when
//! the counts it needs are there (`blocks_counted_unread`).

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use super::aggregate::{BlockFacts, Groups};
use super::collector::{Collector, Sorted};
use super::filter::Predicate;
use super::prune::Pruned;
use super::request::QueryPlan;
use super::stream::{ShardChunk, ShardSummary, CHUNK_ENTRIES_MAX};
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

impl Sorted for FoundEntry {
    fn sort_key(&self) -> SortKey {
        FoundEntry::sort_key(self)
    }
}

/// How a query ran on one shard; summed over shards for the response.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScanStats {
    /// Blocks (in-memory stages and sealed blocks) whose entries were read.
    pub blocks_scanned: u64,
    /// Blocks not read because they cannot hold a match: the sum of the
    /// `pruned_*` stages.
    pub blocks_skipped: u64,
    /// Candidate blocks left unread because the page was already final.
    pub blocks_not_read_after_limit: u64,
    /// Blocks counted from their header and summary without being read:
    /// every entry matched and the query only counts (see `count_unread`).
    pub blocks_counted_unread: u64,
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
        self.blocks_not_read_after_limit += other.blocks_not_read_after_limit;
        self.blocks_counted_unread += other.blocks_counted_unread;
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

pub fn order(a: SortKey, b: SortKey, descending: bool) -> std::cmp::Ordering {
    if descending {
        b.cmp(&a)
    } else {
        a.cmp(&b)
    }
}

struct Scan<'a> {
    plan: &'a QueryPlan,
    collector: Collector<FoundEntry>,
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

    /// Counts a sealed block without reading it, for a query that returns
    /// no entries (`limit: 0`, or an aggregation `Groups::add_block` can
    /// fold from the block's facts), when every entry of the block matches.
    /// Returns false when the block must be read.
    fn count_unread(&mut self, block: &BlockRef, meta: &Arc<PartitionMeta>) -> bool {
        let header = &block.header;
        let predicate = &self.plan.predicate;
        if !predicate.matches_every_entry(
            header.min_timestamp_ns,
            header.max_timestamp_ns,
            header.level_mask,
        ) {
            return false;
        }
        if let (Some(plan), Some(groups)) = (&self.plan.aggregation, &mut self.groups) {
            let summary = block.summary.get();
            let facts = BlockFacts {
                entry_count: header.entry_count as u64,
                min_timestamp_ns: header.min_timestamp_ns,
                max_timestamp_ns: header.max_timestamp_ns,
                level_counts: summary.level_counts(),
                only_source: summary.only_source(),
            };
            if !groups.add_block(plan, &facts, &meta.name) {
                return false;
            }
        }
        self.collector.total += header.entry_count as u64;
        self.stats.blocks_counted_unread += 1;
        true
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

/// A sealed block to read, with the partition it belongs to.
struct Candidate<'a> {
    block: Rc<BlockRef>,
    meta: &'a Arc<PartitionMeta>,
}

/// Why a shard stopped before reading every candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// This shard's share of the page is final.
    PageFinal,
    /// The front end dropped the stream: its page is complete, it gave up
    /// (result too large), or the client left.
    Cancelled,
    TimedOut,
}

/// Sends final entries to the front end, in chunks, with their watermark.
struct Emitter<'a> {
    chunks: &'a flume::Sender<ShardChunk>,
    /// The watermark the front end last heard, to skip repeating it.
    sent_watermark_ns: Option<Option<i64>>,
    cancelled: bool,
}

impl Emitter<'_> {
    /// Sends `entries` (final, in order) and `watermark_ns`. Returns false
    /// once the front end has dropped its end.
    async fn emit(&mut self, mut entries: Vec<FoundEntry>, watermark_ns: Option<i64>) -> bool {
        if self.cancelled || self.chunks.is_disconnected() {
            self.cancelled = true;
            return false;
        }
        if entries.is_empty() {
            return self.emit_watermark(watermark_ns);
        }
        while !entries.is_empty() {
            let rest = entries.split_off(entries.len().min(CHUNK_ENTRIES_MAX));
            // Inside one emission the later chunks hold final entries too;
            // each chunk's own last timestamp bounds what follows it.
            let chunk_watermark_ns = if rest.is_empty() {
                watermark_ns
            } else {
                entries.last().map(|entry| entry.timestamp_ns)
            };
            let chunk = ShardChunk {
                entries,
                watermark_ns: chunk_watermark_ns,
            };
            if self.chunks.send_async(chunk).await.is_err() {
                self.cancelled = true;
                return false;
            }
            entries = rest;
        }
        self.sent_watermark_ns = Some(watermark_ns);
        true
    }

    /// A lower watermark with no entries lets the front end release other
    /// shards' entries sooner; it is worth sending only if there is room
    /// (a full channel means the front end has entries from us to merge).
    fn emit_watermark(&mut self, watermark_ns: Option<i64>) -> bool {
        if self.sent_watermark_ns == Some(watermark_ns) {
            return true;
        }
        let chunk = ShardChunk {
            entries: Vec::new(),
            watermark_ns,
        };
        match self.chunks.try_send(chunk) {
            Ok(()) => self.sent_watermark_ns = Some(watermark_ns),
            Err(flume::TrySendError::Full(_)) => {}
            Err(flume::TrySendError::Disconnected(_)) => self.cancelled = true,
        }
        !self.cancelled
    }
}

/// Runs `plan` on this shard, streaming final entries into `chunks`, and
/// returns the summary the front end sums over shards.
pub async fn run_on_shard(
    store: &ShardStore,
    plan: &QueryPlan,
    chunks: &flume::Sender<ShardChunk>,
) -> Result<ShardSummary, StorageError> {
    let wanted = plan.per_shard_wanted();
    let mut scan = Scan {
        plan,
        collector: Collector::new(wanted, plan.descending),
        groups: plan.aggregation.as_ref().map(|_| Groups::default()),
        stats: ScanStats::default(),
        scratch: Vec::new(),
    };
    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    for meta in &plan.partitions {
        let blocks = scan_memory_and_list_blocks(store, meta, &mut scan);
        candidates.extend(blocks.into_iter().map(|block| Candidate { block, meta }));
    }
    sort_candidates(&mut candidates, plan.descending);
    let mut emitter = Emitter {
        chunks,
        sent_watermark_ns: None,
        cancelled: false,
    };
    let mut stop = None;
    for (index, candidate) in candidates.iter().enumerate() {
        let watermark_ns = Some(read_bound_ns(&candidate.block, plan.descending));
        let final_entries = scan.collector.take_final(watermark_ns);
        stop = if !emitter.emit(final_entries, watermark_ns).await {
            Some(Stop::Cancelled)
        } else if wanted > 0 && scan.collector.wanted() == 0 {
            Some(Stop::PageFinal)
        } else if Instant::now() >= plan.deadline {
            Some(Stop::TimedOut)
        } else {
            None
        };
        if let Some(reason) = stop {
            if reason != Stop::TimedOut {
                scan.stats.blocks_not_read_after_limit += (candidates.len() - index) as u64;
            }
            break;
        }
        let block = &candidate.block;
        if wanted == 0 && scan.count_unread(block, candidate.meta) {
            continue;
        }
        let decoded = block
            .segment
            .read_block(block.offset, &block.header)
            .await?;
        scan.batch(
            decoded.batch(),
            block.header.first_seq,
            store.shard_id,
            candidate.meta,
        );
        glommio::yield_if_needed().await;
    }
    if stop != Some(Stop::Cancelled) {
        // Nothing more will be read: whatever is kept is final.
        let rest = scan.collector.take_final(None);
        emitter.emit(rest, None).await;
    }
    Ok(ShardSummary {
        total_count: scan.collector.total,
        stats: scan.stats,
        timed_out: stop == Some(Stop::TimedOut),
        scanned_all: stop.is_none(),
        groups: scan.groups,
    })
}

/// The block's time bound in the read order: nothing it holds sorts before
/// it, so it is the watermark while the block is unread.
fn read_bound_ns(block: &BlockRef, descending: bool) -> i64 {
    if descending {
        block.header.max_timestamp_ns
    } else {
        block.header.min_timestamp_ns
    }
}

/// One read order over every partition's candidates, so the next unread
/// block bounds all that remain.
fn sort_candidates(candidates: &mut [Candidate<'_>], descending: bool) {
    if descending {
        candidates.sort_by_key(|c| std::cmp::Reverse(c.block.header.max_timestamp_ns));
    } else {
        candidates.sort_by_key(|c| c.block.header.min_timestamp_ns);
    }
}

/// Scans a slice's in-memory stages and returns the sealed blocks worth
/// reading, counting the rest skipped. The caller orders the candidates of
/// every partition together.
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
    candidate_blocks(&slice.blocks, scan.plan, &mut scan.stats)
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
