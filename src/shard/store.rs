//! A shard's storage state: its slices and the operations on them that the
//! commit loop, the store worker and queries share.
//!
//! Everything here lives on one executor (`Rc`/`RefCell`, no locks). Rule:
//! no `RefCell` borrow is held across an `.await`; methods that await take
//! what they need out of the borrow first.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::block::{BlockHeader, Codec};
use crate::config::{BlockRotation, Compression, StorageConfig};
use crate::entry::{BatchPool, ColumnBatch};
use crate::index::{BlockSummary, SummaryRef};
use crate::storage::atomic_file::replace_atomically;
use crate::storage::index_file::{append_summary, index_file_name, IndexFile};
use crate::storage::layout::ShardPaths;
use crate::storage::manifest::{ShardManifest, MANIFEST_FORMAT_VERSION};
use crate::storage::segment::{block_span_bytes, SegmentFile, SEGMENT_BYTES_MAX};
use crate::storage::{Result, StorageError};

use super::slice::{BlockRef, SealingBlock, SegmentState, Slice};

/// An active block is sealed at this size whatever the rotation rule says,
/// so a time or count rule cannot grow one without bound.
pub const ACTIVE_BLOCK_BYTES_MAX: usize = 64 << 20;

pub struct ShardStore {
    pub shard_id: u32,
    pub paths: ShardPaths,
    pub codec: Codec,
    pub rotation: BlockRotation,
    pub slices: RefCell<BTreeMap<u64, Slice>>,
    /// Set after an I/O failure that makes the shard's files untrustworthy
    /// (a failed write or fdatasync): every later write is refused.
    pub writes_stopped: RefCell<Option<String>>,
    /// Set while the store worker cannot write for lack of space; ingest
    /// answers 507 until a retry succeeds. Accepted data stays in memory
    /// and in the WAL meanwhile.
    pub disk_full: std::cell::Cell<bool>,
    /// Request batches the commit loop has finished with, for the ingest
    /// handler to parse the next request into (see `entry::BatchPool`).
    pub batch_pool: BatchPool,
}

impl ShardStore {
    pub fn new(shard_id: u32, paths: ShardPaths, storage: &StorageConfig) -> ShardStore {
        ShardStore {
            shard_id,
            paths,
            codec: codec_of(storage),
            rotation: storage.block_rotation,
            slices: RefCell::new(BTreeMap::new()),
            writes_stopped: RefCell::new(None),
            disk_full: std::cell::Cell::new(false),
            batch_pool: BatchPool::default(),
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

    /// Bytes of the block summaries queries test, held in memory.
    pub fn summary_bytes(&self) -> usize {
        self.slices
            .borrow()
            .values()
            .flat_map(|slice| slice.blocks.newest_first(i64::MIN))
            .map(|block| block.summary.archive_bytes())
            .sum()
    }

    /// The watermark the WAL may reclaim up to (`None`: no such slice).
    pub fn durable_sealed_seq(&self, partition_key: u64) -> Option<u64> {
        self.slices
            .borrow()
            .get(&partition_key)
            .map(|slice| slice.durable_sealed_seq)
    }

    pub fn manifest(&self) -> ShardManifest {
        ShardManifest {
            format_version: MANIFEST_FORMAT_VERSION,
            shard_id: self.shard_id,
            slices: self
                .slices
                .borrow()
                .values()
                .map(Slice::to_manifest)
                .collect(),
        }
    }

    /// Writes an encoded block to the slice's current segment (starting a new
    /// one when full), makes it durable, and moves it from `sealing` to
    /// `blocks`. It is published once `commit_manifest` succeeds.
    pub async fn write_block(
        &self,
        partition_key: u64,
        sealing: &Arc<SealingBlock>,
        sealed: &SealedBlock,
    ) -> Result<()> {
        let Some(target) = self
            .segment_for(partition_key, sealed.encoded.len() as u64)
            .await?
        else {
            return Ok(()); // partition deleted meanwhile
        };
        let offset = target.offset;
        // The block's index record must describe the offset it lands at.
        let mut record = Vec::new();
        let summary = sealed.summary_at(offset, &mut record);
        // Both are durable before the manifest publishes the block; written
        // side by side, the seal waits for one fdatasync's latency, not two.
        let (block_written, index_written) = futures_lite::future::zip(
            target.segment.append_block(offset, &sealed.encoded),
            target.index.append(target.index_end, &record),
        )
        .await;
        block_written?;
        index_written?;
        let mut slices = self.slices.borrow_mut();
        let Some(slice) = slices.get_mut(&partition_key) else {
            return Ok(());
        };
        let state = slice.segments.last_mut().expect("segment_for created one");
        state.committed_bytes = offset + block_span_bytes(&sealed.header);
        state.block_count += 1;
        state.index_end = target.index_end + record.len() as u64;
        slice.sealed_seq = slice.sealed_seq.max(sealing.last_seq());
        slice.blocks.insert(Rc::new(BlockRef {
            segment: target.segment,
            offset,
            header: sealed.header,
            summary,
        }));
        slice.sealing.retain(|block| !Arc::ptr_eq(block, sealing));
        Ok(())
    }

    /// Makes the manifest durable as the slices stand now, then lets the WAL
    /// reclaim what it covers. Idempotent: safe to retry after a failure.
    pub async fn commit_manifest(&self) -> Result<()> {
        let manifest = self.manifest();
        replace_atomically(&self.paths.manifest(), manifest.to_json()).await?;
        let mut slices = self.slices.borrow_mut();
        for covered in &manifest.slices {
            if let Some(slice) = slices.get_mut(&covered.partition_key) {
                slice.durable_sealed_seq = slice.durable_sealed_seq.max(covered.sealed_seq);
            }
        }
        Ok(())
    }

    /// The segment and offset where a block of `span_bytes` goes.
    async fn segment_for(
        &self,
        partition_key: u64,
        span_bytes: u64,
    ) -> Result<Option<BlockTarget>> {
        let (current, next_index) = {
            let slices = self.slices.borrow();
            let Some(slice) = slices.get(&partition_key) else {
                return Ok(None);
            };
            let current = slice.segments.last().map(|state| BlockTarget {
                segment: state.file.clone(),
                offset: state.committed_bytes,
                index: state.index.clone(),
                index_end: state.index_end,
            });
            (current, slice.segments.len() as u64 + 1)
        };
        if let Some(target) = current {
            if target.offset + span_bytes <= SEGMENT_BYTES_MAX || target.offset == 0 {
                return Ok(Some(target));
            }
        }
        let dir = self.paths.slice_dir(partition_key);
        std::fs::create_dir_all(&dir)
            .map_err(|error| StorageError::io("create directory", &dir, 0, error))?;
        let name = ShardPaths::segment_file_name(next_index);
        let file = SegmentFile::open(&dir, &name, true).await?;
        let index = IndexFile::open(&dir, &index_file_name(&name)).await?;
        crate::storage::atomic_file::sync_directory(&dir).await?;
        crate::storage::atomic_file::sync_directory(&self.paths.shard_dir).await?;
        let mut slices = self.slices.borrow_mut();
        let Some(slice) = slices.get_mut(&partition_key) else {
            return Ok(None);
        };
        slice.segments.push(SegmentState {
            file: file.clone(),
            committed_bytes: 0,
            block_count: 0,
            index: index.clone(),
            index_end: 0,
        });
        Ok(Some(BlockTarget {
            segment: file,
            offset: 0,
            index,
            index_end: 0,
        }))
    }

    /// Forgets a deleted partition's slice and removes its files.
    pub async fn drop_partition(&self, partition_key: u64) -> Result<()> {
        let removed = self.slices.borrow_mut().remove(&partition_key);
        if removed.is_some() {
            self.commit_manifest().await?;
        }
        let dir = self.paths.slice_dir(partition_key);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(StorageError::io("remove directory", &dir, 0, error)),
        }
    }
}

/// Where the next block of a slice goes: its segment and offset, and the
/// segment's index file and the offset of the block's record in it.
struct BlockTarget {
    segment: Rc<SegmentFile>,
    offset: u64,
    index: Rc<IndexFile>,
    index_end: u64,
}

/// A block encoded and summarised off the reactor, ready to write.
pub struct SealedBlock {
    pub header: BlockHeader,
    /// Header and compressed payload, padded to 4096 bytes.
    pub encoded: Vec<u8>,
    /// The block's summary; its offset is filled in once the block has one.
    pub summary: BlockSummary,
}

impl SealedBlock {
    /// The summary as placed at `offset`: framed as an index record into
    /// `record`, and archived for queries to use in place.
    fn summary_at(&self, offset: u64, record: &mut Vec<u8>) -> SummaryRef {
        let mut summary = self.summary.clone();
        summary.block_offset = offset;
        append_summary(&summary, record)
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
