//! A shard's storage state: its slices, its segment files, its filter
//! cache, and the operations on them that the commit loop, the store worker
//! and queries share.
//!
//! Everything here lives on one executor (`Rc`/`RefCell`, no locks). Rule:
//! no `RefCell` borrow is held across an `.await`; methods that await take
//! what they need out of the borrow first.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::block::Codec;
use crate::config::{BlockRotation, Compression, StorageConfig};
use crate::entry::{BatchPool, ColumnBatch};
use crate::storage::layout::ShardPaths;
use crate::storage::manifest::Edit;
use crate::storage::segment::{Release, SegmentFile};
use crate::storage::{Result, StorageError};

use super::filters::FilterCache;
use super::slice::{BlockRef, SealingBlock, Slice};

/// An active block is sealed at this size whatever the rotation rule says,
/// so a time or count rule cannot grow one without bound.
pub const ACTIVE_BLOCK_BYTES_MAX: usize = 64 << 20;

pub struct ShardStore {
    pub shard_id: u32,
    pub paths: ShardPaths,
    pub codec: Codec,
    pub rotation: BlockRotation,
    pub slices: RefCell<BTreeMap<u64, Slice>>,
    /// Open segment files by id.
    pub segments: RefCell<BTreeMap<u32, Rc<SegmentFile>>>,
    /// Word filters read on demand, under the index memory budget.
    pub filters: FilterCache,
    /// Blocks no longer in the database (compacted away, of a deleted
    /// partition) whose space is given back once no query holds them.
    pub removed: RefCell<Vec<Rc<BlockRef>>>,
    /// Unused ranges of segment files a snapshot shared at start-up
    /// (recovery could not punch them): punched with the removed blocks once
    /// the snapshot is deleted. `(file, offset, length)`.
    pub held_gaps: RefCell<Vec<(Rc<SegmentFile>, u64, u64)>>,
    /// Set after an I/O failure that makes the shard's files untrustworthy
    /// (a failed write or fdatasync): every later write is refused.
    pub writes_stopped: RefCell<Option<String>>,
    /// Set while the store worker cannot write for lack of space; ingest
    /// answers 507 until a retry succeeds. Accepted data stays in memory
    /// and in the WAL meanwhile.
    pub disk_full: Cell<bool>,
    /// Set while the WAL cannot take writes for lack of space: a group
    /// write failed for it, or the current segment could not be
    /// preallocated on a full disk (a start on a full disk). Cleared by the
    /// commit loop once a write succeeds or the preallocation does. Says why.
    pub wal_space_short: RefCell<Option<String>>,
    /// Set by the shutdown drain: a seal that fails for lack of space is
    /// not retried (its entries stay in the WAL), so a stop never waits
    /// for space.
    pub draining: Cell<bool>,
    /// Request batches the commit loop has finished with, for the ingest
    /// handler to parse the next request into (see `entry::BatchPool`).
    pub batch_pool: BatchPool,
    /// What retention deleted, and whether the size budget can be met.
    pub retention: super::retention::RetentionState,
    /// Live tail subscribers, fed by the commit loop (see `shard::tail`).
    pub tails: super::tail::TailRegistry,
    /// Damaged blocks requests met, and what quarantine removed.
    pub damage: super::damage::DamageState,
}

impl ShardStore {
    pub fn new(
        shard_id: u32,
        paths: ShardPaths,
        storage: &StorageConfig,
        filter_budget_bytes: usize,
    ) -> ShardStore {
        ShardStore {
            shard_id,
            paths,
            codec: codec_of(storage),
            rotation: storage.block_rotation,
            slices: RefCell::new(BTreeMap::new()),
            segments: RefCell::new(BTreeMap::new()),
            filters: FilterCache::new(filter_budget_bytes),
            removed: RefCell::new(Vec::new()),
            held_gaps: RefCell::new(Vec::new()),
            writes_stopped: RefCell::new(None),
            disk_full: Cell::new(false),
            wal_space_short: RefCell::new(None),
            draining: Cell::new(false),
            batch_pool: BatchPool::default(),
            retention: Default::default(),
            tails: super::tail::TailRegistry::default(),
            damage: super::damage::DamageState::new(shard_id, storage.on_damaged_block),
        }
    }

    pub fn check_writable(&self) -> Result<()> {
        match &*self.writes_stopped.borrow() {
            Some(reason) => Err(StorageError::WritesStopped {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Why writes are refused for lack of disk space right now, if they
    /// are (`/ready`, `/metrics`).
    pub fn disk_full_reason(&self) -> Option<String> {
        if self.disk_full.get() {
            return Some("out of disk space: blocks cannot be sealed".into());
        }
        self.wal_space_short.borrow().clone()
    }

    /// Stops writes for good (until restart) and says so loudly.
    pub fn stop_writes(&self, error: &StorageError) {
        tracing::error!(shard = self.shard_id, %error, "stopping writes on this shard: an I/O failure left its files in an unknown state; restart after fixing the cause");
        self.writes_stopped
            .borrow_mut()
            .get_or_insert_with(|| error.to_string());
    }

    /// Hands out `count` sequence numbers of a partition's slice.
    pub fn reserve_seqs(&self, partition_key: u64, count: u64) -> u64 {
        let mut slices = self.slices.borrow_mut();
        let slice = slices
            .entry(partition_key)
            .or_insert_with(|| Slice::new(partition_key));
        let first_seq = slice.reserved_seq;
        slice.reserved_seq += count;
        first_seq
    }

    /// Makes a durable batch visible. Returns blocks to seal (rotation, or a
    /// sequence gap). A slice dropped meanwhile (partition deleted) is skipped.
    pub fn apply(
        &self,
        partition_key: u64,
        first_seq: u64,
        batch: &ColumnBatch,
    ) -> Vec<Arc<SealingBlock>> {
        let mut slices = self.slices.borrow_mut();
        let Some(slice) = slices.get_mut(&partition_key) else {
            return Vec::new();
        };
        let mut to_seal: Vec<_> = slice.append(first_seq, batch).into_iter().collect();
        if self.should_rotate(slice) {
            let full = slice.take_active();
            if let Some(full) = &full {
                // This slice is being written to: its next block will likely
                // grow as large, so size it now instead of regrowing it from
                // nothing by doubling (a realloc and a recopy of everything
                // held at each step). Costs at most one block of memory
                // early, bounded by ACTIVE_BLOCK_BYTES_MAX.
                slice.active.reserve_like(&full.batch);
            }
            to_seal.extend(full);
        }
        to_seal
    }

    /// The seeds' `block_rotation` rule, plus the hard size cap.
    pub fn should_rotate(&self, slice: &Slice) -> bool {
        if slice.active.is_empty() {
            return false;
        }
        let bytes = slice.active.payload_bytes();
        bytes >= ACTIVE_BLOCK_BYTES_MAX
            || match self.rotation {
                BlockRotation::Size { bytes: limit } => bytes as u64 >= limit,
                BlockRotation::Count { entries } => slice.active.len() as u64 >= entries,
                BlockRotation::Time { seconds } => {
                    slice.active_opened_at.elapsed().as_secs() >= seconds
                }
            }
    }

    /// Takes out the active blocks of the given partitions (all if `None`).
    pub fn take_active_blocks(&self, partitions: Option<&[u64]>) -> Vec<(u64, Arc<SealingBlock>)> {
        let mut slices = self.slices.borrow_mut();
        slices
            .values_mut()
            .filter(|slice| partitions.is_none_or(|keys| keys.contains(&slice.partition_key)))
            .filter_map(|slice| {
                slice
                    .take_active()
                    .map(|block| (slice.partition_key, block))
            })
            .collect()
    }

    /// Active blocks due by time (rotation rule `time`, or idle too long).
    pub fn take_due_blocks(&self) -> Vec<(u64, Arc<SealingBlock>)> {
        let mut slices = self.slices.borrow_mut();
        let mut due = Vec::new();
        for slice in slices.values_mut() {
            if self.should_rotate(slice) {
                due.extend(
                    slice
                        .take_active()
                        .map(|block| (slice.partition_key, block)),
                );
            }
        }
        due
    }

    /// Bytes held by active blocks (memory that is not yet sealed).
    pub fn active_bytes(&self) -> usize {
        self.slices
            .borrow()
            .values()
            .map(|slice| slice.active.payload_bytes())
            .sum()
    }

    /// Bytes of the block directories held in memory (always resident: a
    /// query plans from them before reading anything).
    pub fn directory_bytes(&self) -> usize {
        self.slices
            .borrow()
            .values()
            .flat_map(|slice| slice.blocks.iter())
            .map(|block| block.directory.archive_bytes())
            .sum()
    }

    /// The watermark the WAL may reclaim up to (`None`: no such slice).
    pub fn durable_sealed_seq(&self, partition_key: u64) -> Option<u64> {
        self.slices
            .borrow()
            .get(&partition_key)
            .map(|slice| slice.durable_sealed_seq)
    }

    /// Publishes a block whose manifest record is durable: it replaces the
    /// sealing block it was made from and raises the slice's watermark.
    /// Returns false when the partition is gone (deleted meanwhile).
    pub fn publish_sealed(&self, block: Rc<BlockRef>, sealing: &Arc<SealingBlock>) -> bool {
        let mut slices = self.slices.borrow_mut();
        let Some(slice) = slices.get_mut(&block.header.partition_key) else {
            return false;
        };
        slice.durable_sealed_seq = slice.durable_sealed_seq.max(sealing.last_seq());
        slice.blocks.insert(block);
        slice.sealing.retain(|other| !Arc::ptr_eq(other, sealing));
        true
    }

    /// Swaps `replaced` blocks of a slice for `block` (compaction), once the
    /// record saying so is durable. The replaced blocks wait in `removed`
    /// until no query holds them.
    pub fn replace_blocks(&self, block: Rc<BlockRef>, replaced: &[Rc<BlockRef>]) {
        let mut slices = self.slices.borrow_mut();
        let Some(slice) = slices.get_mut(&block.header.partition_key) else {
            return;
        };
        for old in replaced {
            if let Some(old) = slice.blocks.remove(&old.header) {
                self.removed.borrow_mut().push(old);
            }
        }
        slice.blocks.insert(block);
    }

    /// Whether `block` is still one of its slice's published blocks.
    pub fn is_published(&self, block: &Rc<BlockRef>) -> bool {
        self.published(&block.header)
            .is_some_and(|published| Rc::ptr_eq(&published, block))
    }

    /// The published block `header` describes, if it is still published.
    pub fn published(&self, header: &crate::block::BlockHeader) -> Option<Rc<BlockRef>> {
        let slices = self.slices.borrow();
        let slice = slices.get(&header.partition_key)?;
        slice.blocks.get(header).cloned()
    }

    /// Takes a quarantined block out of its slice's query structures, once
    /// the record removing it is durable. It does not go to `removed`: its
    /// span is left as it is (recovery punches it at the next start).
    pub fn quarantine_block(&self, block: &Rc<BlockRef>) {
        if let Some(slice) = self
            .slices
            .borrow_mut()
            .get_mut(&block.header.partition_key)
        {
            slice.blocks.remove(&block.header);
        }
        self.filters.forget(block.key());
    }

    /// Forgets a deleted partition's slice; its blocks wait in `removed`.
    pub fn forget_slice(&self, partition_key: u64) {
        let removed = self.slices.borrow_mut().remove(&partition_key);
        if let Some(slice) = removed {
            self.removed
                .borrow_mut()
                .extend(slice.blocks.iter().cloned());
        }
    }

    /// The manifest edits that state every published block and watermark:
    /// a checkpoint.
    pub fn checkpoint_edits(&self) -> Vec<Edit> {
        let slices = self.slices.borrow();
        let mut edits = Vec::new();
        for slice in slices.values() {
            for block in slice.blocks.iter() {
                edits.push(add_block_edit(block));
            }
            edits.push(Edit::Sealed {
                partition_key: slice.partition_key,
                sealed_seq: slice.durable_sealed_seq,
            });
        }
        edits
    }

    /// Gives back the space of removed blocks no query holds any more
    /// (the list's `Rc` is then the only one). Punching is best effort: a
    /// failure only leaves the space in use, and is logged. A block whose
    /// segment file a snapshot shares (`SegmentFile::release_allowed`) stays
    /// in the list, so a later maintenance punches it once the snapshot is
    /// deleted.
    pub async fn punch_removed(&self) {
        let ready: Vec<Rc<BlockRef>> = {
            let mut removed = self.removed.borrow_mut();
            let (ready, held) = removed
                .drain(..)
                .partition(|block| Rc::strong_count(block) == 1);
            *removed = held;
            ready
        };
        let mut shared_segments = std::collections::BTreeMap::new();
        for block in ready {
            let shared = *shared_segments
                .entry(block.segment.id)
                .or_insert_with(|| !block.segment.release_allowed().unwrap_or(false));
            if shared {
                self.removed.borrow_mut().push(block);
                continue;
            }
            self.filters.forget(block.key());
            if let Err(error) = block
                .segment
                .punch(block.offset, block.header.span_bytes())
                .await
            {
                tracing::warn!(%error, "could not give a removed block's space back");
            }
        }
        self.punch_held_gaps().await;
    }

    /// Punches the gaps recovery left in shared segment files, once no
    /// snapshot shares them any more.
    async fn punch_held_gaps(&self) {
        let gaps = std::mem::take(&mut *self.held_gaps.borrow_mut());
        for (file, offset, length) in gaps {
            match file.punch(offset, length).await {
                Ok(Release::Done) => {}
                Ok(Release::HeldBySnapshot) => {
                    self.held_gaps.borrow_mut().push((file, offset, length));
                }
                Err(error) => tracing::warn!(%error, "could not give unused segment space back"),
            }
        }
    }
}

/// The manifest edit that publishes `block`.
pub fn add_block_edit(block: &BlockRef) -> Edit {
    Edit::AddBlock {
        segment: block.segment.id,
        offset: block.offset,
        header: block.header.encode(),
        directory: block.directory.bytes().to_vec(),
    }
}

pub fn codec_of(storage: &StorageConfig) -> Codec {
    match storage.compression {
        Compression::None => Codec::None,
        Compression::Lz4 => Codec::Lz4,
        Compression::Zstd => Codec::Zstd {
            level: storage.compression_level,
        },
        Compression::Snappy => Codec::Snappy,
        Compression::Gzip => Codec::Gzip {
            level: storage.compression_level.clamp(0, 9) as u32,
        },
    }
}
