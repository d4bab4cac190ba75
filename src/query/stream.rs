//! How a query's results travel from the shards to the front end.
//!
//! Every shard gets two channels per query: a bounded channel of
//! `ShardChunk`s (final entries in order, with a watermark) and a bounded(1)
//! channel for its `ShardSummary` (counts, stats, groups, or the error that
//! stopped it). The shard sends its summary *before* it drops its chunk
//! sender, so when the front end sees a chunk channel end, the summary is
//! already there to say whether the shard finished or failed.
//!
//! Cancellation is by dropping: when the page is complete, when a JSON body
//! grows past `max_result_bytes`, or when an NDJSON client disconnects, the
//! front end drops the chunk receivers; every shard notices the closed
//! channel before its next block and stops reading. The summary channel
//! stays open, so a completed page still reports every shard's stats.

use std::cmp::Ordering;
use std::sync::Arc;

use super::aggregate::Groups;
use super::execute::{order, FoundEntry, ScanStats, SortKey};
use super::merge::{Merger, Next};
use super::request::QueryPlan;
use crate::shard::damage::DamagedBlock;

/// Entries per chunk: about 128 KiB at a typical 500 bytes per entry.
pub const CHUNK_ENTRIES_MAX: usize = 256;
/// Chunks in flight per shard and query, so at most
/// `CHUNK_ENTRIES_MAX * CHUNKS_IN_FLIGHT_MAX` entries (about 512 KiB) wait
/// between one shard and the front end.
pub const CHUNKS_IN_FLIGHT_MAX: usize = 4;

/// Final entries of one shard, in the query's order.
#[derive(Debug)]
pub struct ShardChunk {
    pub entries: Vec<FoundEntry>,
    /// Every entry this shard sends later has a timestamp not better than
    /// this (`None`: it sends no more entries).
    pub watermark_ns: Option<i64>,
}

/// What one shard reports when it stops.
#[derive(Debug, Default)]
pub struct ShardSummary {
    /// Matches counted on this shard (all of them when `scanned_all`).
    pub total_count: u64,
    pub stats: ScanStats,
    pub timed_out: bool,
    /// Every candidate block was read: `total_count` is exact.
    pub scanned_all: bool,
    /// An aggregating query's groups on this shard.
    pub groups: Option<Groups>,
    /// Damaged blocks this shard left out of the answer (at most
    /// `damage::DAMAGED_PER_ANSWER_MAX`; `damaged_block_count` has them all).
    pub damaged: Vec<DamagedBlock>,
    pub damaged_block_count: u64,
}

/// The front end's ends of one shard's channels.
pub struct ShardReceivers {
    pub chunks: flume::Receiver<ShardChunk>,
    pub summary: flume::Receiver<Result<ShardSummary, String>>,
}

/// The shards' summaries, summed.
#[derive(Debug, Default)]
pub struct QuerySummary {
    pub total_count: u64,
    /// Every shard read every candidate block (no early stop, no timeout).
    pub total_count_exact: bool,
    pub stats: ScanStats,
    pub timed_out: bool,
    pub shards: usize,
    pub groups: Option<Groups>,
    /// The sort key of the last entry handed out (what a `next` cursor
    /// holds); `None` when the page is empty.
    pub last_key: Option<SortKey>,
    /// Damaged blocks left out of the answer: it is partial when any was.
    pub damaged: Vec<DamagedBlock>,
    pub damaged_block_count: u64,
}

impl QuerySummary {
    fn add(&mut self, summary: ShardSummary) {
        self.total_count += summary.total_count;
        self.total_count_exact &= summary.scanned_all;
        self.stats.add(&summary.stats);
        self.timed_out |= summary.timed_out;
        self.damaged.extend(summary.damaged);
        self.damaged_block_count += summary.damaged_block_count;
        if let Some(groups) = summary.groups {
            match &mut self.groups {
                Some(all) => all.merge(groups),
                None => self.groups = Some(groups),
            }
        }
    }
}

/// The page of a query, merged lazily from the shards' streams.
pub struct ResultStream {
    /// Dropped (emptied) to stop every shard.
    chunks: Vec<flume::Receiver<ShardChunk>>,
    summaries: Vec<flume::Receiver<Result<ShardSummary, String>>>,
    /// Summaries already received (a shard whose stream has ended).
    received: Vec<Option<ShardSummary>>,
    merger: Merger<FoundEntry>,
    /// Merged entries still to skip for `offset`.
    skip_count: usize,
    /// Entries of the page still to hand out.
    remaining_count: usize,
    /// False for counts and aggregations: their shards must read everything,
    /// so the stream is never cut short for a complete page.
    entries_wanted: bool,
    /// The key of the last entry handed out.
    last_key: Option<SortKey>,
    descending: bool,
}

impl ResultStream {
    pub fn new(plan: &Arc<QueryPlan>, shards: Vec<ShardReceivers>) -> ResultStream {
        let shard_count = shards.len();
        let (chunks, summaries) = shards
            .into_iter()
            .map(|shard| (shard.chunks, shard.summary))
            .unzip();
        let entries_wanted = plan.per_shard_wanted() > 0;
        ResultStream {
            chunks,
            summaries,
            received: (0..shard_count).map(|_| None).collect(),
            merger: Merger::new(shard_count, plan.descending),
            skip_count: plan.offset,
            remaining_count: if entries_wanted { plan.limit } else { 0 },
            entries_wanted,
            last_key: None,
            descending: plan.descending,
        }
    }

    /// The page's next entry; `None` once the page is complete (the shards
    /// are then told to stop) or every shard has ended. `abandoned` is
    /// polled between shard messages so a client that left stops a query
    /// that finds nothing to send.
    pub async fn next_entry(
        &mut self,
        abandoned: &dyn Fn() -> bool,
    ) -> Result<Option<FoundEntry>, String> {
        loop {
            if abandoned() || (self.entries_wanted && self.remaining_count == 0) {
                // Dropping the receivers stops every shard at its next block.
                self.chunks.clear();
                return Ok(None);
            }
            if self.remaining_count == 0 {
                return Ok(None);
            }
            match self.merger.next_step() {
                Next::Entry(entry) if self.skip_count > 0 => {
                    self.skip_count -= 1;
                    drop(entry);
                }
                Next::Entry(entry) => {
                    self.remaining_count -= 1;
                    // A cursor is only exact if the order is: strictly
                    // increasing, no entry twice.
                    assert!(
                        self.last_key.is_none_or(|last| {
                            order(last, entry.sort_key(), self.descending) == Ordering::Less
                        }),
                        "the merge handed out entries out of order"
                    );
                    self.last_key = Some(entry.sort_key());
                    return Ok(Some(entry));
                }
                Next::Exhausted => return Ok(None),
                Next::Need(shard) => self.receive(shard).await?,
            }
        }
    }

    async fn receive(&mut self, shard: usize) -> Result<(), String> {
        match self.chunks[shard].recv_async().await {
            Ok(chunk) => {
                self.merger.push(shard, chunk.entries, chunk.watermark_ns);
                Ok(())
            }
            Err(_) => {
                // The shard sent its summary before it dropped its sender.
                let summary = self.summaries[shard]
                    .try_recv()
                    .map_err(|_| format!("shard {shard} dropped the query"))??;
                self.received[shard] = Some(summary);
                self.merger.finish(shard);
                Ok(())
            }
        }
    }

    /// Waits for every shard's summary and sums them. A shard still
    /// running (a count, an aggregation) is waited for, not stopped; one
    /// whose page was complete was already stopped by `next_entry`.
    pub async fn finish(mut self) -> Result<QuerySummary, String> {
        let mut all = QuerySummary {
            total_count_exact: true,
            shards: self.summaries.len(),
            last_key: self.last_key,
            ..QuerySummary::default()
        };
        for (shard, receiver) in self.summaries.iter().enumerate() {
            let summary = match self.received[shard].take() {
                Some(summary) => summary,
                None => receiver
                    .recv_async()
                    .await
                    .map_err(|_| format!("shard {shard} dropped the query"))??,
            };
            all.add(summary);
        }
        Ok(all)
    }
}
