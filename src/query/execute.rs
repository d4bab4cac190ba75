//! Running a query plan on one shard: prune blocks and their granules, read
//! and decode the candidate granules' columns, select matching rows column
//! at a time (`scan`), keep the best `offset + limit` entries in the
//! requested order, count the matches, and stream the entries that are
//! final to the front end (see `collector` and `stream`).
//!
//! In-memory stages (active and sealing blocks) are scanned inside one
//! `RefCell` borrow with no await; published blocks are listed in that
//! borrow and read afterwards, so no borrow is held across I/O.
//!
//! Published blocks and their granules are read in one order: a priority
//! queue of work by time bound (newest `max_timestamp` first when
//! descending, oldest `min_timestamp` first when ascending). A block enters
//! the queue whole and is expanded into its granules (pruned by the
//! directory and, when the query names words or values kept as strings, by
//! the granule filters, read on demand) when it reaches the front; a
//! granule is read when it does. The front's bound is the watermark: once
//! this shard's share of the page is final, the rest cannot change it and
//! is left unread (`blocks_not_read_after_limit`), and `total_count` is then
//! a lower bound. Counting queries (limit 0, and aggregations) consider
//! everything, but a block or granule inside the time range is counted
//! from its entries per level, unread, when the filter is only time and
//! levels (`blocks_counted_unread`, `granules_counted_unread`).
//!
//! A candidate block whose frame or filter fails its checksum is reported
//! to `shard::damage`; under `storage.on_damaged_block = "quarantine"` (the
//! default) the shard leaves the block out and goes on, and the summary
//! names it (`damaged`), so the answer says it is partial. Entries already
//! taken from the block's good granules stay: they passed their checksums.

use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use super::aggregate::{CountFacts, Groups};
use super::collector::{Collector, Sorted};
use super::filter::Predicate;
use super::prune::{BlockFacts, GranuleFacts, Pruned};
use super::request::QueryPlan;
use super::scan::{select, ScanView};
use super::stream::{ShardChunk, ShardSummary, CHUNK_ENTRIES_MAX};
use crate::block::{mask_of, ColumnSet, DecodedGranule, LevelCounts, TagNeed};
use crate::entry::{BatchView, EntryId, Level};
use crate::shard::damage::{is_damage, DamagedBlock, DAMAGED_PER_ANSWER_MAX};
use crate::shard::read::{install_frames, load_columns, read_frames, StoredFrames};
use crate::shard::slice::{BlockRef, TimeMap};
use crate::shard::store::ShardStore;
use crate::storage::catalog::PartitionMeta;
use crate::storage::StorageError;

/// Granules whose frames are read in one batch, at most: enough to keep
/// the device busy while the shard decodes (one NVMe read costs about as
/// much as decoding a granule's messages), few enough that a page made
/// final early wastes little.
const READ_AHEAD_GRANULES_MAX: usize = 8;

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
/// timestamps still have one stable order across shards. The order is total
/// (no two entries share a key), which is what lets a cursor hold a key and
/// the next page continue strictly after it. Every path orders by it: the
/// shard's collector, the front end's merge, and the cursor test
/// (`QueryPlan::is_past_cursor`), always through `order`.
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

/// Blocks or granules a pruning stage ruled out.
#[derive(Debug, Default, Clone, Copy)]
pub struct PruneCounts {
    pub time: u64,
    pub level: u64,
    pub sets: u64,
    pub words: u64,
}

impl PruneCounts {
    fn add(&mut self, other: &PruneCounts) {
        self.time += other.time;
        self.level += other.level;
        self.sets += other.sets;
        self.words += other.words;
    }

    fn count(&mut self, stage: Stage) {
        match stage {
            Stage::Time => self.time += 1,
            Stage::Level => self.level += 1,
            Stage::Pruned(Pruned::Sets) => self.sets += 1,
            Stage::Pruned(Pruned::Words) => self.words += 1,
        }
    }
}

/// How a query ran on one shard; summed over shards for the response.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScanStats {
    /// Blocks (in-memory stages, and published blocks of which at least
    /// one granule) whose entries were read.
    pub blocks_scanned: u64,
    /// Published blocks none of whose granules was read because none can
    /// hold a match (`blocks_pruned` says by which stage).
    pub blocks_skipped: u64,
    /// Blocks left unread because the page was already final.
    pub blocks_not_read_after_limit: u64,
    /// Blocks counted from their directory without being read.
    pub blocks_counted_unread: u64,
    pub entries_scanned: u64,
    pub blocks_pruned: PruneCounts,
    /// Granules of published blocks that were read.
    pub granules_scanned: u64,
    /// Granules counted from their directory without being read.
    pub granules_counted_unread: u64,
    /// Granules of candidate blocks that no stage let through.
    pub granules_pruned: PruneCounts,
}

impl ScanStats {
    pub fn add(&mut self, other: &ScanStats) {
        self.blocks_scanned += other.blocks_scanned;
        self.blocks_skipped += other.blocks_skipped;
        self.blocks_not_read_after_limit += other.blocks_not_read_after_limit;
        self.blocks_counted_unread += other.blocks_counted_unread;
        self.entries_scanned += other.entries_scanned;
        self.blocks_pruned.add(&other.blocks_pruned);
        self.granules_scanned += other.granules_scanned;
        self.granules_counted_unread += other.granules_counted_unread;
        self.granules_pruned.add(&other.granules_pruned);
    }

    /// Counts `blocks` skipped by `stage`.
    fn skipped(&mut self, stage: Stage, blocks: u64) {
        for _ in 0..blocks {
            self.blocks_pruned.count(stage);
        }
        self.blocks_skipped += blocks;
    }
}

/// The pruning stage that ruled out a block or granule; later stages rank
/// higher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Time,
    Level,
    Pruned(Pruned),
}

pub fn order(a: SortKey, b: SortKey, descending: bool) -> Ordering {
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
    /// The columns the filter and the aggregation read.
    columns: ColumnSet,
    /// Every column: what building an entry reads.
    all_columns: ColumnSet,
    /// The slice number of this shard's entries (its shard id).
    slice: u32,
    /// The granule being read, kept between granules for its buffers.
    granule: Option<DecodedGranule>,
    /// Damaged blocks left out (the first `DAMAGED_PER_ANSWER_MAX`), and
    /// how many there were.
    damaged: Vec<DamagedBlock>,
    damaged_block_count: u64,
}

impl Scan<'_> {
    /// A read of `candidate` failed with `error`. Damage is reported and,
    /// when the shard skips damaged blocks, the block is left out (`Ok`);
    /// anything else fails the query.
    fn damaged(
        &mut self,
        store: &ShardStore,
        candidate: &Candidate<'_>,
        error: StorageError,
    ) -> Result<(), StorageError> {
        if !is_damage(&error) {
            return Err(error);
        }
        let named =
            store
                .damage
                .report(&candidate.block, Some(candidate.meta.name.as_str()), &error);
        if !store.damage.skips_damaged() {
            return Err(error);
        }
        candidate.damaged.set(true);
        self.leave_out(named);
        Ok(())
    }

    fn leave_out(&mut self, named: DamagedBlock) {
        self.damaged_block_count += 1;
        if self.damaged.len() < DAMAGED_PER_ANSWER_MAX {
            self.damaged.push(named);
        }
    }

    /// Selects and folds the entries of an in-memory batch.
    fn batch<B: ScanView + ?Sized>(
        &mut self,
        batch: &B,
        first_seq: u64,
        slice: u32,
        meta: &Arc<PartitionMeta>,
    ) {
        self.stats.blocks_scanned += 1;
        self.stats.entries_scanned += batch.entry_count() as u64;
        let rows = select(&self.plan.predicate, batch, &mut self.scratch);
        self.fold(batch, &rows, first_seq, slice, meta);
    }

    /// Counts the selected rows, into groups or the collector.
    fn fold<B: BatchView + ?Sized>(
        &mut self,
        batch: &B,
        rows: &[u32],
        first_seq: u64,
        slice: u32,
        meta: &Arc<PartitionMeta>,
    ) {
        for &row in rows {
            let index = row as usize;
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
            if !self.plan.is_past_cursor(key) {
                // At the cursor's timestamp: this page's predecessor
                // returned it already (the time range let it through).
                continue;
            }
            self.collector
                .offer(key, || materialise(batch, index, id, meta));
        }
    }

    /// Counts matching entries from a directory's facts (entries per level
    /// in `counts`, over `[min, max]`), unread, when the filter is only time
    /// and levels and the span lies inside the range. False when it must be
    /// read.
    fn count_unread(
        &mut self,
        counts: LevelCounts,
        min_timestamp_ns: i64,
        max_timestamp_ns: i64,
        source_counts: Option<Vec<(&str, u64)>>,
        meta: &Arc<PartitionMeta>,
    ) -> bool {
        let predicate = &self.plan.predicate;
        if !predicate.is_time_and_level_only()
            || !predicate.covers(min_timestamp_ns, max_timestamp_ns)
            || self
                .plan
                .spans_cursor_boundary(min_timestamp_ns, max_timestamp_ns)
        {
            return false;
        }
        let wanted = predicate.wanted_levels(counts);
        let entry_count: u64 = wanted.iter().map(|n| *n as u64).sum();
        if let (Some(plan), Some(groups)) = (&self.plan.aggregation, &mut self.groups) {
            let every_level = wanted == counts;
            let facts = CountFacts {
                entry_count,
                min_timestamp_ns,
                max_timestamp_ns,
                level_counts: Some(wanted),
                source_counts: source_counts.filter(|_| every_level),
            };
            if !groups.add_block(plan, &facts, &meta.name) {
                return false;
            }
        }
        self.collector.total += entry_count;
        true
    }
}

pub(crate) fn materialise<B: BatchView + ?Sized>(
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

/// Work in the shard's read queue: a whole block not yet expanded, or one
/// granule of a block. Ordered by `bound` (the best timestamp it may hold)
/// so the queue's front is the watermark.
struct Work {
    bound_ns: i64,
    descending: bool,
    block: usize,
    /// `None`: the whole block, to be expanded.
    granule: Option<usize>,
}

impl Work {
    /// Larger is read sooner: a higher bound when descending, a lower one
    /// when ascending; then blocks before their granules' peers (stable).
    fn rank(&self) -> (i64, bool) {
        let bound = if self.descending {
            self.bound_ns
        } else {
            // Reversed without overflow: i64::MIN maps to i64::MAX.
            !self.bound_ns
        };
        (bound, self.granule.is_none())
    }
}

impl PartialEq for Work {
    fn eq(&self, other: &Self) -> bool {
        self.rank() == other.rank()
    }
}
impl Eq for Work {}
impl PartialOrd for Work {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Work {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

/// A published block to read, with the partition it belongs to.
struct Candidate<'a> {
    block: Rc<BlockRef>,
    meta: &'a Arc<PartitionMeta>,
    /// Whether a granule of it was read (for `blocks_scanned`).
    read: bool,
    /// Found damaged: its remaining work is skipped.
    damaged: Cell<bool>,
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
        columns: needed_columns(plan),
        all_columns: ColumnSet::all(),
        slice: store.shard_id,
        granule: None,
        damaged: Vec::new(),
        damaged_block_count: 0,
    };
    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    for meta in &plan.partitions {
        let blocks = scan_memory_and_list_blocks(store, meta, &mut scan);
        candidates.extend(blocks.into_iter().map(|block| Candidate {
            block,
            meta,
            read: false,
            damaged: Cell::new(false),
        }));
    }
    let mut queue: BinaryHeap<Work> = candidates
        .iter()
        .enumerate()
        .map(|(index, candidate)| Work {
            bound_ns: bound_ns(
                candidate.block.header.min_timestamp_ns,
                candidate.block.header.max_timestamp_ns,
                plan.descending,
            ),
            descending: plan.descending,
            block: index,
            granule: None,
        })
        .collect();
    let mut emitter = Emitter {
        chunks,
        sent_watermark_ns: None,
        cancelled: false,
    };
    let mut stop = None;
    let mut ahead: VecDeque<(Work, StoredFrames)> = VecDeque::new();
    loop {
        let next = ahead.front().map(|(work, _)| work).or_else(|| queue.peek());
        let Some(bound_ns) = next.map(|work| work.bound_ns) else {
            break;
        };
        let final_entries = scan.collector.take_final(Some(bound_ns));
        stop = if !emitter.emit(final_entries, Some(bound_ns)).await {
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
                let left = ahead.iter().map(|(work, _)| work).chain(queue.iter());
                count_left_unread(&mut scan.stats, &candidates, left);
            }
            break;
        }
        if ahead.is_empty() {
            if queue.peek().is_some_and(|work| work.granule.is_none()) {
                let work = queue.pop().expect("peeked");
                expand_unless_damaged(store, &mut scan, &candidates, work.block, &mut queue)
                    .await?;
                glommio::yield_if_needed().await;
                continue;
            }
            read_ahead(store, &mut scan, &candidates, &mut queue, &mut ahead).await?;
        }
        // Empty when every granule taken belonged to a damaged block.
        let Some((work, frames)) = ahead.pop_front() else {
            continue;
        };
        if candidates[work.block].damaged.get() {
            continue;
        }
        let granule = work.granule.expect("only granules are read ahead");
        let read = read_granule(&mut scan, &mut candidates[work.block], granule, frames).await;
        if let Err(error) = read {
            scan.damaged(store, &candidates[work.block], error)?;
        }
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
        damaged: scan.damaged,
        damaged_block_count: scan.damaged_block_count,
    })
}

/// `expand_block`, unless the block was found damaged (then its work is
/// dropped), leaving a block out when expanding it meets damage.
async fn expand_unless_damaged(
    store: &ShardStore,
    scan: &mut Scan<'_>,
    candidates: &[Candidate<'_>],
    index: usize,
    queue: &mut BinaryHeap<Work>,
) -> Result<(), StorageError> {
    if candidates[index].damaged.get() {
        return Ok(());
    }
    match expand_block(store, scan, candidates, index, queue).await {
        Ok(()) => Ok(()),
        Err(error) => scan.damaged(store, &candidates[index], error),
    }
}

/// Blocks with work left when the page became final: every block not yet
/// expanded, and every expanded one none of whose granules was read.
fn count_left_unread<'w>(
    stats: &mut ScanStats,
    candidates: &[Candidate<'_>],
    left: impl Iterator<Item = &'w Work>,
) {
    let mut unread: Vec<usize> = left
        .filter(|work| !candidates[work.block].read)
        .map(|work| work.block)
        .collect();
    unread.sort_unstable();
    unread.dedup();
    stats.blocks_not_read_after_limit += unread.len() as u64;
}

/// Takes the granules at the front of the queue, up to
/// `READ_AHEAD_GRANULES_MAX` (expanding the blocks that reach the front
/// meanwhile, as the read loop would next), and reads the frames of the
/// columns the query tests for all of them in one batch. The caller has
/// checked that the front is a granule; none is taken when every granule
/// reached belongs to a block found damaged.
async fn read_ahead<'c>(
    store: &ShardStore,
    scan: &mut Scan<'_>,
    candidates: &[Candidate<'c>],
    queue: &mut BinaryHeap<Work>,
    ahead: &mut VecDeque<(Work, StoredFrames)>,
) -> Result<(), StorageError> {
    let mut batch = Vec::new();
    while batch.len() < READ_AHEAD_GRANULES_MAX {
        let Some(work) = queue.pop() else {
            break;
        };
        match work.granule {
            Some(_) if candidates[work.block].damaged.get() => {}
            Some(_) => batch.push(work),
            None => expand_unless_damaged(store, scan, candidates, work.block, queue).await?,
        }
    }
    let granules: Vec<(&BlockRef, usize)> = batch
        .iter()
        .map(|work| {
            let granule = work.granule.expect("the batch holds granules");
            (&*candidates[work.block].block, granule)
        })
        .collect();
    let frames = read_frames(&granules, read_ahead_columns(scan)).await?;
    ahead.extend(batch.into_iter().zip(frames));
    Ok(())
}

/// The columns read ahead: those the query tests, or every column when a
/// granule that reaches the read likely holds an entry to return. That is
/// when the query returns entries and its granules passed word or value
/// filters (a false positive is 1 in 256): building the entries then needs
/// no second read. The extra frames cost read bandwidth, not decoding (a
/// frame is decoded only when used).
fn read_ahead_columns<'s>(scan: &'s Scan<'_>) -> &'s ColumnSet {
    let returns_entries = scan.groups.is_none() && scan.plan.per_shard_wanted() > 0;
    if returns_entries && scan.plan.block_test.uses_filter() {
        &scan.all_columns
    } else {
        &scan.columns
    }
}

/// The block's time bound in the read order: nothing it holds sorts before it.
fn bound_ns(min_timestamp_ns: i64, max_timestamp_ns: i64, descending: bool) -> i64 {
    if descending {
        max_timestamp_ns
    } else {
        min_timestamp_ns
    }
}

/// Replaces a block in the queue by its granules worth reading (or counts
/// it, or them, unread).
async fn expand_block(
    store: &ShardStore,
    scan: &mut Scan<'_>,
    candidates: &[Candidate<'_>],
    index: usize,
    queue: &mut BinaryHeap<Work>,
) -> Result<(), StorageError> {
    let candidate = &candidates[index];
    let block = &candidate.block;
    let directory = block.directory.get();
    let count_only = scan.plan.per_shard_wanted() == 0;
    if count_only {
        let sources = source_counts(block);
        if scan.count_unread(
            directory.level_counts(),
            block.header.min_timestamp_ns,
            block.header.max_timestamp_ns,
            sources,
            candidate.meta,
        ) {
            scan.stats.blocks_counted_unread += 1;
            return Ok(());
        }
    }
    let test = &scan.plan.block_test;
    let filters = if test.uses_filter() {
        Some(store.filters.load(block).await?)
    } else {
        None
    };
    let predicate = &scan.plan.predicate;
    let mut pushed = 0;
    let mut counted = 0;
    let mut last_stage = None;
    for (granule, facts) in directory.granules.iter().enumerate() {
        let (min, max) = (
            facts.min_timestamp_ns.to_native(),
            facts.max_timestamp_ns.to_native(),
        );
        let stage = if !predicate.overlaps(min, max) {
            Some(Stage::Time)
        } else if !predicate.may_match_levels(facts.level_mask()) {
            Some(Stage::Level)
        } else {
            let granule_facts = GranuleFacts {
                directory,
                granule,
                filter: filters.as_ref().map(|section| section.granule(granule)),
            };
            test.prune(&granule_facts).map(Stage::Pruned)
        };
        if let Some(stage) = stage {
            scan.stats.granules_pruned.count(stage);
            last_stage = last_stage.max(Some(stage));
            continue;
        }
        if count_only && scan.count_unread(facts.level_counts(), min, max, None, candidate.meta) {
            scan.stats.granules_counted_unread += 1;
            counted += 1;
            continue;
        }
        queue.push(Work {
            bound_ns: bound_ns(min, max, scan.plan.descending),
            descending: scan.plan.descending,
            block: index,
            granule: Some(granule),
        });
        pushed += 1;
    }
    if pushed == 0 {
        // No granule left to read: the block was answered from its
        // directory if some granule was counted, else ruled out.
        if counted > 0 {
            scan.stats.blocks_counted_unread += 1;
        } else if let Some(stage) = last_stage {
            scan.stats.skipped(stage, 1);
        }
    }
    Ok(())
}

/// The block's entries per source, when its sources are in a dictionary.
fn source_counts(block: &BlockRef) -> Option<Vec<(&str, u64)>> {
    let column = block
        .directory
        .get()
        .column(&crate::block::ColumnName::Source)?;
    let dictionary = column.dictionary.as_ref()?;
    Some(
        dictionary
            .values
            .iter()
            .zip(dictionary.counts.iter())
            .map(|(value, count)| (value.as_str(), count.to_native() as u64))
            .collect(),
    )
}

/// Reads granule `granule` of a candidate block: decodes the frames read
/// ahead (the columns the filter needs), selects, then (when an entry will
/// be returned) reads and decodes the rest.
async fn read_granule(
    scan: &mut Scan<'_>,
    candidate: &mut Candidate<'_>,
    granule: usize,
    frames: StoredFrames,
) -> Result<(), StorageError> {
    let block = &candidate.block;
    if !candidate.read {
        candidate.read = true;
        scan.stats.blocks_scanned += 1;
    }
    let mut decoded = match scan.granule.take() {
        Some(mut reused) => {
            reused.reset(block.directory.clone(), granule);
            reused
        }
        None => DecodedGranule::new(block.directory.clone(), granule),
    };
    let later = install_frames(block, &mut decoded, frames, &scan.columns)?;
    scan.stats.granules_scanned += 1;
    scan.stats.entries_scanned += decoded.entry_count() as u64;
    let rows = select(&scan.plan.predicate, &decoded, &mut scan.scratch);
    let first_seq = block.header.first_seq + decoded.row_start() as u64;
    let slice = scan.slice;
    if scan.groups.is_none() && any_kept(scan, &decoded, &rows, first_seq, slice, candidate.meta) {
        install_frames(block, &mut decoded, later, &scan.all_columns)?;
        load_columns(block, &mut decoded, &scan.all_columns).await?;
    }
    scan.fold(&decoded, &rows, first_seq, slice, candidate.meta);
    scan.granule = Some(decoded);
    Ok(())
}

/// Whether the collector would keep one of `rows` (so every column must
/// be read to build it).
fn any_kept(
    scan: &Scan<'_>,
    granule: &DecodedGranule,
    rows: &[u32],
    first_seq: u64,
    slice: u32,
    meta: &Arc<PartitionMeta>,
) -> bool {
    rows.iter().any(|&row| {
        let key = (
            granule.timestamp_ns(row as usize),
            meta.key,
            slice,
            first_seq + row as u64,
        );
        scan.plan.is_past_cursor(key) && scan.collector.would_keep(key)
    })
}

/// The columns a query's filter and aggregation read, besides timestamps
/// and levels.
fn needed_columns(plan: &QueryPlan) -> ColumnSet {
    let predicate = &plan.predicate;
    let mut set = ColumnSet {
        source: predicate.source.is_some() || predicate.source_prefix.is_some(),
        message: predicate.message_contains.is_some(),
        fields: false,
        tags: TagNeed::None,
    };
    let mut keys: Vec<String> = predicate.tags.iter().map(|(key, _)| key.clone()).collect();
    keys.extend(predicate.tag_exists.iter().cloned());
    if !predicate.tag_levels.is_empty() {
        keys.push("level".into());
    }
    let mut fields = Vec::new();
    if let Some(expr) = &predicate.expr {
        expr.fields(&mut fields);
    }
    if let Some(aggregation) = &plan.aggregation {
        aggregation.fields(&mut fields);
    }
    for field in fields {
        use super::lang::ast::Field;
        match field {
            Field::Source => set.source = true,
            Field::Message => set.message = true,
            Field::Field(_) => set.fields = true,
            Field::Tag(key) => keys.push(key),
            Field::Timestamp | Field::Level | Field::Id | Field::Partition => {}
        }
    }
    if !keys.is_empty() {
        set.tags = TagNeed::Keys(keys);
    }
    set
}

/// Scans a slice's in-memory stages and returns the published blocks worth
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
        if scan
            .plan
            .predicate
            .overlaps(sealing.min_timestamp_ns, sealing.max_timestamp_ns)
        {
            scan.batch(&sealing.batch, sealing.first_seq, store.shard_id, meta);
        } else {
            scan.stats.skipped(Stage::Time, 1);
        }
    }
    let mut blocks = candidate_blocks(&slice.blocks, scan.plan, &mut scan.stats);
    if store.damage.skips_damaged() {
        // Found damaged by an earlier request, not quarantined yet.
        blocks.retain(|block| match store.damage.known(block) {
            Some(named) => {
                scan.leave_out(named);
                false
            }
            None => true,
        });
    }
    blocks
}

/// The published blocks of a slice a query must consider, newest first (by
/// their newest entry), after the block-level pruning stages; counts the
/// rest in `stats` by the stage that skipped them.
fn candidate_blocks(
    blocks: &TimeMap,
    plan: &QueryPlan,
    stats: &mut ScanStats,
) -> Vec<Rc<BlockRef>> {
    let predicate: &Predicate = &plan.predicate;
    let mut candidates = Vec::new();
    let mut visited = 0;
    for block in blocks.newest_first(predicate.time_start_ns) {
        visited += 1;
        let header = &block.header;
        let directory = block.directory.get();
        let stage = if !predicate.overlaps(header.min_timestamp_ns, header.max_timestamp_ns) {
            Stage::Time
        } else if !predicate.may_match_levels(mask_of(&directory.level_counts())) {
            Stage::Level
        } else if let Some(pruned) = plan.block_test.prune(&BlockFacts { directory }) {
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
