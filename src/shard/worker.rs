//! The store worker: the one task per shard that writes its segment files
//! and its manifest (so manifest records never race), one job at a time.
//!
//! Sealing a block: encode its columns (on the shard's blocking thread),
//! append it to the current segment file with one O_DIRECT write and
//! fdatasync, append the manifest record publishing it and fdatasync: the
//! commit point. Only then does the block replace its in-memory copy for
//! queries and may the WAL drop its entries. A failure leaves the block in
//! memory (still queryable) and its entries in the WAL (still
//! recoverable); out of space it is retried, anything else stops writes on
//! the shard.

use std::rc::Rc;
use std::sync::Arc;

use glommio::channels::local_channel::LocalReceiver;
use rkyv::util::AlignedVec;

use crate::block::{encode_block, BlockHeader, DirectoryRef, EncodeScratch};
use crate::storage::atomic_file::sync_directory;
use crate::storage::manifest::{Edit, ManifestLog};
use crate::storage::segment::{SegmentFile, SEGMENT_BYTES_MAX};
use crate::storage::{Result, StorageError};

use super::compaction;
use super::slice::{BlockRef, SealingBlock};
use super::store::{add_block_edit, ShardStore};

/// Seal jobs waiting for the worker. Each holds one active block (at most
/// `ACTIVE_BLOCK_BYTES_MAX`), so this bounds sealing memory per shard.
pub const STORE_QUEUE_MAX: usize = 8;
/// How often a seal that failed for lack of space is retried.
pub const DISK_FULL_RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

pub enum StoreJob {
    Seal {
        partition_key: u64,
        block: Arc<SealingBlock>,
    },
    DropPartition {
        partition_key: u64,
        reply: flume::Sender<std::result::Result<(), String>>,
    },
    /// Answered once every job queued before it is done.
    Barrier { reply: flume::Sender<()> },
    /// Background upkeep, between seals: compaction of small blocks,
    /// giving removed blocks' space back, rewriting a grown manifest.
    Maintain,
    /// A graceful stop: give back the preallocated tails of the current
    /// segment and of the manifest. Answered when done.
    Trim { reply: flume::Sender<()> },
    /// The shard's part of a snapshot (`shard::snapshot`): `expected` is
    /// each slice's last applied sequence number when it was asked for.
    Snapshot {
        job: super::snapshot::ShardSnapshotJob,
        expected: Vec<(u64, u64)>,
    },
    /// Take a damaged block out of the database (online scrub): a copy
    /// and a `quarantine.jsonl` line, a `RemoveBlock` record, then out of
    /// the query structures. `bytes` is the block as scrub read it.
    Quarantine {
        block: Rc<BlockRef>,
        finding: Box<crate::scrub::Finding>,
        bytes: Vec<u8>,
        reply: flume::Sender<std::result::Result<crate::scrub::QuarantineLine, String>>,
    },
}

/// The segment blocks are appended to, and where the next one goes.
struct ActiveSegment {
    file: Rc<SegmentFile>,
    end: u64,
}

pub struct StoreWorker {
    store: Rc<ShardStore>,
    manifest: ManifestLog,
    active: Option<ActiveSegment>,
    /// The id the next new segment file gets.
    next_segment_id: u32,
    scratch: SealScratch,
    /// When compaction last merged blocks (it merges at most once per
    /// `compaction::COMPACTION_INTERVAL`).
    pub(super) last_compaction: Option<std::time::Instant>,
    /// Deletion by age and size (`None`: not configured, as in unit tests).
    pub(super) retention: Option<super::retention::RetentionRunner>,
}

/// A block encoded off the reactor, ready to write.
pub struct SealedBlock {
    pub header: BlockHeader,
    /// Header, frames and directory, padded to 4096 bytes.
    pub bytes: Vec<u8>,
    pub directory: AlignedVec,
}

/// Buffers a seal reuses. They move to the blocking thread for each seal
/// and come back.
#[derive(Default)]
pub struct SealScratch {
    encode: EncodeScratch,
    bytes: Vec<u8>,
}

impl StoreWorker {
    /// `active` is the segment to append to and its end (recovery found
    /// it), `next_segment_id` the id a new segment file gets.
    pub fn new(
        store: Rc<ShardStore>,
        manifest: ManifestLog,
        active: Option<(Rc<SegmentFile>, u64)>,
        next_segment_id: u32,
    ) -> StoreWorker {
        StoreWorker {
            store,
            manifest,
            active: active.map(|(file, end)| ActiveSegment { file, end }),
            next_segment_id,
            scratch: SealScratch::default(),
            last_compaction: None,
            retention: None,
        }
    }

    /// Enforces retention with `policy` at maintenance.
    pub fn with_retention(mut self, policy: super::retention::RetentionPolicy) -> StoreWorker {
        self.retention = Some(super::retention::RetentionRunner::new(policy));
        self
    }

    pub async fn run(mut self, queue: LocalReceiver<StoreJob>) {
        while let Some(job) = queue.recv().await {
            match job {
                StoreJob::Seal {
                    partition_key,
                    block,
                } => self.seal(partition_key, &block).await,
                StoreJob::Barrier { reply } => {
                    let _ = reply.send(());
                }
                StoreJob::DropPartition {
                    partition_key,
                    reply,
                } => {
                    let result = self.drop_partition(partition_key).await;
                    let _ = reply.send(result.map_err(|error| error.to_string()));
                }
                StoreJob::Maintain => self.maintain().await,
                StoreJob::Trim { reply } => {
                    self.trim().await;
                    let _ = reply.send(());
                }
                StoreJob::Snapshot { job, expected } => {
                    let result =
                        super::snapshot::write_shard(&self.store, &job.dir, &expected).await;
                    let _ = job.reply.send(result);
                }
                StoreJob::Quarantine {
                    block,
                    finding,
                    bytes,
                    reply,
                } => {
                    let _ = reply.send(self.quarantine(&block, *finding, Some(bytes)).await);
                }
            }
        }
    }

    async fn seal(&mut self, partition_key: u64, sealing: &Arc<SealingBlock>) {
        if self.store.check_writable().is_err() {
            return;
        }
        let sealed = match self.encode_off_the_reactor(partition_key, sealing).await {
            Ok(sealed) => sealed,
            Err(error) => {
                tracing::error!(%error, partition_key, "could not encode a block; it stays in memory and in the WAL");
                return;
            }
        };
        loop {
            let result = self.write_and_publish(&sealed, Some(sealing), &[]).await;
            if !self.retry_after(result).await {
                break;
            }
        }
        self.scratch.bytes = sealed.bytes;
    }

    /// Whether to try again: after an out-of-space failure, once space may
    /// have been freed; never after success or any other failure (which
    /// stops writes on the shard).
    async fn retry_after(&self, result: Result<()>) -> bool {
        match result {
            Ok(()) => {
                if self.store.disk_full.replace(false) {
                    tracing::info!(
                        shard = self.store.shard_id,
                        "disk space is available again; sealing resumed"
                    );
                }
                false
            }
            Err(error) if error.is_disk_full() => {
                if !self.store.disk_full.replace(true) {
                    tracing::error!(shard = self.store.shard_id, %error, "out of disk space: ingest answers 507 until space is freed");
                }
                if self.store.draining.get() {
                    // A graceful stop does not wait for space that may never
                    // come: the block's entries stay in the WAL, which the
                    // drain keeps, and the next start replays them.
                    tracing::warn!(shard = self.store.shard_id, "shutting down on a full disk: a block stays unsealed, its entries are kept in the WAL");
                    return false;
                }
                glommio::timer::sleep(DISK_FULL_RETRY_INTERVAL).await;
                self.store.check_writable().is_ok() && !self.store.draining.get()
            }
            Err(error) => {
                self.store.stop_writes(&error);
                false
            }
        }
    }

    /// Encodes the block on the executor's blocking thread, which glommio
    /// pins to the shard's own core. Encoding an 8 MiB block takes tens of
    /// milliseconds; on the reactor thread it would stop the commit loop
    /// and every connection of the shard for that long (measured: p99 of
    /// an open-loop run at half capacity 56 ms with LZ4 against 13 ms
    /// without compression). On its own thread the kernel time-slices it
    /// with the reactor, so acknowledgements keep flowing while a block is
    /// sealed; the work stays on the shard's core.
    async fn encode_off_the_reactor(
        &mut self,
        partition_key: u64,
        block: &Arc<SealingBlock>,
    ) -> std::result::Result<SealedBlock, crate::block::BlockError> {
        let block = Arc::clone(block);
        let codec = self.store.codec;
        let mut own = std::mem::take(&mut self.scratch);
        let (result, own) = glommio::executor()
            .spawn_blocking(move || {
                let mut bytes = std::mem::take(&mut own.bytes);
                bytes.clear();
                let result = encode_block(
                    &block.batch,
                    partition_key,
                    block.first_seq,
                    codec,
                    &mut own.encode,
                    &mut bytes,
                )
                .map(|encoded| SealedBlock {
                    header: encoded.header,
                    bytes,
                    directory: encoded.directory,
                });
                (result, own)
            })
            .await;
        self.scratch = own;
        result
    }

    /// Appends `sealed` to the current segment, publishes it in the
    /// manifest (with the slice's new watermark when it seals `sealing`, and
    /// removing `replaced` when it is a compaction), then in memory.
    pub(super) async fn write_and_publish(
        &mut self,
        sealed: &SealedBlock,
        sealing: Option<&Arc<SealingBlock>>,
        replaced: &[Rc<BlockRef>],
    ) -> Result<()> {
        let partition_key = sealed.header.partition_key;
        if !self.store.slices.borrow().contains_key(&partition_key) {
            return Ok(()); // the partition was deleted meanwhile
        }
        let span = sealed.header.span_bytes();
        let (segment, offset) = self.target(span).await?;
        segment.append_block(offset, &sealed.bytes).await?;
        if !replaced.is_empty() {
            crate::failpoint::hit("compaction-after-block-write");
        }
        let directory = DirectoryRef::new(&sealed.header, sealed.directory.clone())
            .map_err(|error| segment.block_error(offset, error))?;
        let block = Rc::new(BlockRef {
            segment,
            offset,
            header: sealed.header,
            directory,
        });
        let mut edits = vec![add_block_edit(&block)];
        if let Some(sealing) = sealing {
            edits.push(Edit::Sealed {
                partition_key,
                sealed_seq: sealing.last_seq(),
            });
        }
        edits.extend(replaced.iter().map(|old| Edit::RemoveBlock {
            segment: old.segment.id,
            offset: old.offset,
        }));
        self.append_manifest(edits).await?;
        if !replaced.is_empty() {
            crate::failpoint::hit("compaction-after-manifest");
        }
        if let Some(active) = self.active.as_mut() {
            active.end = offset + span;
        }
        match sealing {
            Some(sealing) => {
                self.store.publish_sealed(block, sealing);
            }
            None => self.store.replace_blocks(block, replaced),
        }
        Ok(())
    }

    /// The segment and offset where a block of `span_bytes` goes: the end
    /// of the current segment, or a new segment once it would pass
    /// `SEGMENT_BYTES_MAX`.
    async fn target(&mut self, span_bytes: u64) -> Result<(Rc<SegmentFile>, u64)> {
        if let Some(active) = &self.active {
            if active.end + span_bytes <= SEGMENT_BYTES_MAX || active.end == 0 {
                return Ok((active.file.clone(), active.end));
            }
        }
        let id = self.next_segment_id;
        let dir = self.store.paths.shard_dir.clone();
        let file = SegmentFile::open(&dir, id, true).await?;
        sync_directory(&dir).await?;
        self.next_segment_id += 1;
        self.store.segments.borrow_mut().insert(id, file.clone());
        if let Some(closed) = self.active.replace(ActiveSegment {
            file: file.clone(),
            end: 0,
        }) {
            // A closed segment is never appended to again: its unused
            // preallocation goes back now.
            closed.file.trim(closed.end).await?;
        }
        Ok((file, 0))
    }

    async fn drop_partition(&mut self, partition_key: u64) -> Result<()> {
        self.append_manifest(vec![Edit::DropPartition { partition_key }])
            .await?;
        self.store.forget_slice(partition_key);
        // Keys are never reused: the partition's retention counters go too.
        self.store
            .retention
            .removed
            .borrow_mut()
            .remove(&partition_key);
        self.store.punch_removed().await;
        super::retention::delete_unused_segments(&self.store).await;
        Ok(())
    }

    /// Removes a damaged block: the record first (copy and line), then the
    /// `RemoveBlock` edit (the commit point), then the query structures.
    /// Its bytes are not punched now; recovery punches the gap at the next
    /// start (the copy keeps them). `bytes`: the block as read (`None`: it
    /// could not be read, so no copy is kept).
    async fn quarantine(
        &mut self,
        block: &Rc<BlockRef>,
        finding: crate::scrub::Finding,
        bytes: Option<Vec<u8>>,
    ) -> std::result::Result<crate::scrub::QuarantineLine, String> {
        self.store
            .check_writable()
            .map_err(|error| error.to_string())?;
        if !self.store.is_published(block) {
            return Err("the block left the database meanwhile (compacted or deleted)".into());
        }
        let shard_dir = self.store.paths.shard_dir.clone();
        let line = crate::scrub::online::write_record(shard_dir, finding, bytes).await?;
        let (segment, offset) = block.key();
        if let Err(error) = self
            .append_manifest(vec![Edit::RemoveBlock { segment, offset }])
            .await
        {
            self.store.stop_writes(&error);
            return Err(error.to_string());
        }
        self.store.quarantine_block(block);
        self.store.damage.count(&line);
        tracing::error!(
            shard = self.store.shard_id,
            file = %block.segment.path().display(),
            offset,
            partition = line.partition.as_deref().unwrap_or("(unknown)"),
            partition_key = line.partition_key,
            entries = line.entries,
            first_seq = line.first_seq,
            last_seq = line.last_seq,
            copy = line.copy.as_deref().unwrap_or("(none)"),
            "quarantined a damaged block: its entries are no longer served"
        );
        Ok(line)
    }

    /// Quarantines the damaged blocks queries and compaction met since the
    /// last maintenance (`shard::damage`). One that cannot be removed now
    /// (writes stopped, no space for its record) is kept for the next pass;
    /// queries skip it meanwhile.
    async fn quarantine_known_damage(&mut self) {
        for damage in self.store.damage.take_for_quarantine() {
            if !self.store.is_published(&damage.block) {
                continue; // compacted, deleted or quarantined meanwhile
            }
            let block = damage.block.clone();
            let span = block.header.span_bytes() as usize;
            let bytes = match block.segment.read(block.offset, span).await {
                Ok(read) => Some(read.to_vec()),
                Err(error) => {
                    tracing::warn!(%error, "could not read a damaged block to keep a copy");
                    None
                }
            };
            if let Err(reason) = self.quarantine(&block, damage.finding.clone(), bytes).await {
                tracing::error!(shard = self.store.shard_id, offset = block.offset, %reason, "could not quarantine a damaged block; queries keep skipping it, retried at the next maintenance");
                self.store.damage.put_back(damage);
            }
        }
    }

    async fn maintain(&mut self) {
        if self.store.check_writable().is_err() {
            return;
        }
        self.quarantine_known_damage().await;
        if let Err(error) = compaction::compact_some(self).await {
            if error.is_disk_full() {
                tracing::warn!(%error, "compaction is waiting for disk space");
            } else {
                self.store.stop_writes(&error);
                return;
            }
        }
        if let Err(error) = super::retention::enforce(self).await {
            if error.is_disk_full() {
                tracing::warn!(%error, "retention is waiting for disk space to write its manifest record");
            } else {
                self.store.stop_writes(&error);
                return;
            }
        }
        // Segment files can only become unused when removed blocks are
        // released; the check walks every block, so it runs only then.
        let had_removed = !self.store.removed.borrow().is_empty();
        self.store.punch_removed().await;
        if had_removed {
            super::retention::delete_unused_segments(&self.store).await;
        }
        if self.manifest.wants_checkpoint() {
            if let Err(error) = self.checkpoint().await {
                self.store.stop_writes(&error);
            }
        }
    }

    /// Rewrites the manifest as a checkpoint of the state now. A checkpoint
    /// cut short by a full disk is removed and retried at the next
    /// maintenance (the old generation keeps every edit).
    /// Any other failure stops writes: once the new generation is complete,
    /// start-up may load it, so an edit appended to the old one could be
    /// lost; and a failed directory sync cannot be retried (STYLE.md).
    async fn checkpoint(&mut self) -> Result<()> {
        let generation = self.manifest.generation() + 1;
        let dir = self.manifest.dir().to_path_buf();
        let edits = self.store.checkpoint_edits();
        let log = match ManifestLog::write_checkpoint(&dir, self.store.shard_id, generation, edits)
            .await
        {
            Ok(log) => log,
            Err(error) if error.is_disk_full() => {
                // Removed so that it cannot count as complete at start-up
                // while edits keep going to the old generation.
                ManifestLog::discard_generation(&dir, generation).await?;
                tracing::warn!(%error, "could not rewrite the manifest; will retry");
                return Ok(());
            }
            Err(error) => return Err(error),
        };
        self.manifest = log;
        self.manifest.retire_older_generations().await
    }

    async fn trim(&mut self) {
        self.store.punch_removed().await;
        let result = match &self.active {
            Some(active) => active.file.trim(active.end).await.map(drop),
            None => Ok(()),
        };
        if let Err(error) = result.and(self.manifest.trim().await) {
            tracing::warn!(%error, "could not give back preallocated space at shutdown");
        }
    }

    /// Appends one manifest record (the commit point of a seal, a
    /// compaction, a drop, a quarantine or retention's `RemoveBlock`s),
    /// writing the generation's checkpoint first when start-up could not
    /// (a full disk).
    pub(super) async fn append_manifest(&mut self, edits: Vec<Edit>) -> Result<()> {
        if self.manifest.needs_checkpoint() {
            self.write_unwritten_generation().await?;
        }
        self.manifest.append(edits).await
    }

    /// Writes the checkpoint of the generation start-up left unwritten. A
    /// failure for lack of space removes the attempt (start-up keeps
    /// loading the older generation) and is returned, so the caller's
    /// change waits for space like any other write.
    async fn write_unwritten_generation(&mut self) -> Result<()> {
        let generation = self.manifest.generation();
        let dir = self.manifest.dir().to_path_buf();
        let edits = self.store.checkpoint_edits();
        match ManifestLog::create(&dir, self.store.shard_id, generation, edits).await {
            Ok(log) => {
                tracing::info!(
                    shard = self.store.shard_id,
                    generation,
                    "wrote the manifest generation start-up had no space for"
                );
                self.manifest = log;
                Ok(())
            }
            Err(error) if error.is_disk_full() => {
                ManifestLog::discard_generation(&dir, generation).await?;
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    /// Bytes of the manifest log (counted against the storage budget).
    pub(super) fn manifest_bytes(&self) -> u64 {
        self.manifest.len_bytes()
    }

    pub(super) fn store(&self) -> &Rc<ShardStore> {
        &self.store
    }

    /// Encodes a block off the reactor (compaction's merged blocks).
    pub(super) async fn encode(
        &mut self,
        partition_key: u64,
        block: &Arc<SealingBlock>,
    ) -> std::result::Result<SealedBlock, crate::block::BlockError> {
        self.encode_off_the_reactor(partition_key, block).await
    }

    /// Gives a merged block's buffer back for reuse.
    pub(super) fn recycle(&mut self, sealed: SealedBlock) {
        self.scratch.bytes = sealed.bytes;
    }
}

/// A storage error for a block that failed to encode.
pub fn encode_failure(error: crate::block::BlockError) -> StorageError {
    StorageError::Corrupt {
        path: std::path::PathBuf::new(),
        offset: 0,
        detail: format!("could not encode a block: {error}"),
    }
}
