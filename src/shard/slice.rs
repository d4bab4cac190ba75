//! A slice: one partition's data on one shard.
//!
//! Entries move through three stages, and a query reads all three:
//! `active` (the block being filled, in memory), `sealing` (handed to the
//! store worker, in memory until its block is published) and `blocks`
//! (published: in a segment file and the manifest). Sequence numbers are
//! contiguous across the stages: active holds `active_first_seq..next_seq`.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use crate::block::{BlockHeader, DirectoryRef};
use crate::entry::ColumnBatch;
use crate::storage::segment::SegmentFile;

/// A published block: where it lies, its header and its directory (what a
/// query tests before reading it). Immutable once published.
pub struct BlockRef {
    pub segment: Rc<SegmentFile>,
    pub offset: u64,
    pub header: BlockHeader,
    pub directory: DirectoryRef,
}

impl BlockRef {
    /// The (segment id, offset) pair that names the block in the manifest.
    pub fn key(&self) -> (u32, u64) {
        (self.segment.id, self.offset)
    }
}

/// A block handed to the store worker; queries read it from memory meanwhile.
pub struct SealingBlock {
    pub first_seq: u64,
    pub batch: ColumnBatch,
    pub min_timestamp_ns: i64,
    pub max_timestamp_ns: i64,
}

impl SealingBlock {
    pub fn last_seq(&self) -> u64 {
        self.first_seq + self.batch.len() as u64 - 1
    }
}

/// A slice's published blocks ordered by their newest entry (the role
/// TimberLog gives a B+ tree): a newest-first query walks it from the end
/// and never visits blocks that end before its time range starts.
/// Entries arrive out of time order, so blocks' ranges overlap; keying by
/// the maximum timestamp is what makes "no later block can hold a newer
/// entry" true when walking it (see `query::execute`).
#[derive(Default)]
pub struct TimeMap {
    /// Keyed by (max_timestamp_ns, first_seq): unique, since first_seq is.
    by_max_time: BTreeMap<(i64, u64), Rc<BlockRef>>,
}

impl TimeMap {
    pub fn insert(&mut self, block: Rc<BlockRef>) {
        let key = (block.header.max_timestamp_ns, block.header.first_seq);
        self.by_max_time.insert(key, block);
    }

    /// Takes a block out; `None` if it is not there.
    pub fn remove(&mut self, header: &BlockHeader) -> Option<Rc<BlockRef>> {
        self.by_max_time
            .remove(&(header.max_timestamp_ns, header.first_seq))
    }

    /// The block `header` describes, if it is here.
    pub fn get(&self, header: &BlockHeader) -> Option<&Rc<BlockRef>> {
        self.by_max_time
            .get(&(header.max_timestamp_ns, header.first_seq))
    }

    pub fn len(&self) -> usize {
        self.by_max_time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_max_time.is_empty()
    }

    /// Blocks whose newest entry is at or after `start_ns`, newest first.
    pub fn newest_first(&self, start_ns: i64) -> impl Iterator<Item = &Rc<BlockRef>> {
        self.by_max_time
            .range((start_ns, 0)..)
            .rev()
            .map(|(_, block)| block)
    }

    /// Every block, oldest first (by newest entry): the order retention
    /// deletes in.
    pub fn oldest_first(&self) -> impl DoubleEndedIterator<Item = &Rc<BlockRef>> {
        self.by_max_time.values()
    }

    /// Every block, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Rc<BlockRef>> {
        self.by_max_time.values()
    }
}

pub struct Slice {
    pub partition_key: u64,
    /// The sequence number after the last applied entry.
    pub next_seq: u64,
    /// The next sequence number the commit loop hands out (>= next_seq:
    /// groups being written hold the numbers between).
    pub reserved_seq: u64,
    /// Every entry with seq <= this is in a block a durable manifest
    /// publishes: the WAL may drop records at or below it, never above.
    pub durable_sealed_seq: u64,
    pub active: ColumnBatch,
    pub active_first_seq: u64,
    pub active_min_timestamp_ns: i64,
    pub active_max_timestamp_ns: i64,
    /// When the first entry of the active block arrived (time rotation).
    pub active_opened_at: Instant,
    pub sealing: Vec<Arc<SealingBlock>>,
    pub blocks: TimeMap,
}

impl Slice {
    pub fn new(partition_key: u64) -> Slice {
        Slice {
            partition_key,
            next_seq: 1,
            reserved_seq: 1,
            durable_sealed_seq: 0,
            active: ColumnBatch::default(),
            active_first_seq: 1,
            active_min_timestamp_ns: i64::MAX,
            active_max_timestamp_ns: i64::MIN,
            active_opened_at: Instant::now(),
            sealing: Vec::new(),
            blocks: TimeMap::default(),
        }
    }

    /// Appends a batch whose first entry is `first_seq`. Sequence numbers
    /// never repeat but may skip (a group whose WAL write failed keeps its
    /// numbers); an active block must stay contiguous, so a skip first takes
    /// the active block out for sealing, which is returned.
    pub fn append(&mut self, first_seq: u64, batch: &ColumnBatch) -> Option<Arc<SealingBlock>> {
        assert!(first_seq >= self.next_seq, "sequence numbers only grow");
        let sealed_for_gap = if first_seq != self.next_seq {
            self.take_active()
        } else {
            None
        };
        if self.active.is_empty() {
            self.active_first_seq = first_seq;
            self.active_opened_at = Instant::now();
        }
        for timestamp in &batch.timestamps_ns {
            self.active_min_timestamp_ns = self.active_min_timestamp_ns.min(*timestamp);
            self.active_max_timestamp_ns = self.active_max_timestamp_ns.max(*timestamp);
        }
        self.active.extend_from(batch);
        self.next_seq = self.active_first_seq + self.active.len() as u64;
        sealed_for_gap
    }

    /// Takes the active block out for sealing; `None` if it is empty.
    pub fn take_active(&mut self) -> Option<Arc<SealingBlock>> {
        if self.active.is_empty() {
            return None;
        }
        let block = Arc::new(SealingBlock {
            first_seq: self.active_first_seq,
            batch: std::mem::take(&mut self.active),
            min_timestamp_ns: self.active_min_timestamp_ns,
            max_timestamp_ns: self.active_max_timestamp_ns,
        });
        self.active_first_seq = self.next_seq;
        self.active_min_timestamp_ns = i64::MAX;
        self.active_max_timestamp_ns = i64::MIN;
        self.sealing.push(block.clone());
        Some(block)
    }

    /// Entries held, in every stage.
    pub fn entry_count(&self) -> u64 {
        let sealed: u64 = self
            .blocks
            .iter()
            .map(|b| b.header.entry_count as u64)
            .sum();
        let sealing: u64 = self.sealing.iter().map(|b| b.batch.len() as u64).sum();
        sealed + sealing + self.active.len() as u64
    }

    /// Bytes on disk (published blocks) plus bytes held in memory.
    pub fn stored_bytes(&self) -> u64 {
        let on_disk: u64 = self.blocks.iter().map(|b| b.header.span_bytes()).sum();
        let in_memory: u64 = self
            .sealing
            .iter()
            .map(|b| b.batch.payload_bytes() as u64)
            .sum();
        on_disk + in_memory + self.active.payload_bytes() as u64
    }
}
