//! The commit loop: the one task per shard that writes its WAL.
//!
//! Requests queue here (bounded); the loop takes everything that queued
//! while the previous group's write and fdatasync were in flight, frames it
//! as one group, writes it with one `write`, makes it durable with one
//! `fdatasync`, then makes the entries visible in their slices and answers.
//! Sequence numbers are handed out as the group is framed, so the order of
//! entries in a slice is the order of its WAL records. Entries become
//! visible only once durable, so a query never returns an entry a crash
//! could take back.
//!
//! With `sync_writes = false` the loop answers after the write and fdatasyncs
//! every `fsync_interval` ms instead; see docs/API.md for what that risks.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::future::poll_once;
use glommio::channels::local_channel::{LocalReceiver, LocalSender};

use crate::entry::ColumnBatch;
use crate::storage::catalog::Catalog;
use crate::storage::StorageError;
use crate::wal::{WalBatch, WalWriter};

use super::store::ShardStore;
use super::worker::StoreJob;

/// Requests waiting for the commit loop, per shard. Each holds one parsed
/// request body (at most `max_request_size` of entries), so the queue costs
/// at most this many bodies of memory; a full queue answers 503.
pub const COMMIT_QUEUE_MAX: usize = 256;
/// A group stops taking requests past this many payload bytes, bounding the
/// framing buffer and the latency of the group's write.
pub const GROUP_PAYLOAD_BYTES_MAX: usize = 32 << 20;
/// How often the loop runs maintenance (interval fsync, time rotation, WAL
/// reclaim) when no request wakes it.
pub const TICK_INTERVAL: Duration = Duration::from_millis(100);

// The queue is bounded by COMMIT_QUEUE_MAX; a few hundred bytes per slot
// beat an extra allocation per request.
#[allow(clippy::large_enum_variant)]
pub enum CommitItem {
    Append {
        partition_key: u64,
        batch: ColumnBatch,
        reply: flume::Sender<Result<AppendAck, CommitError>>,
    },
    Tick,
    /// Sync the WAL, seal every active block, wait for the store worker.
    Drain {
        reply: flume::Sender<()>,
    },
    /// Seal every active block and queue the shard's part of a snapshot
    /// behind those seals (`shard::snapshot`); ingest goes on.
    Snapshot {
        job: super::snapshot::ShardSnapshotJob,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendAck {
    pub first_seq: u64,
    pub last_seq: u64,
}

/// Why a batch was not committed (cloneable: one failure answers a group).
#[derive(Clone, Debug)]
pub struct CommitError {
    pub message: String,
    pub disk_full: bool,
    pub partition_gone: bool,
}

impl CommitError {
    fn from_storage(error: &StorageError) -> CommitError {
        CommitError {
            message: error.to_string(),
            disk_full: error.is_disk_full(),
            partition_gone: false,
        }
    }
}

pub struct CommitLoop {
    pub store: Rc<ShardStore>,
    pub catalog: Rc<RefCell<Catalog>>,
    pub wal: WalWriter,
    pub store_tx: Rc<LocalSender<StoreJob>>,
    pub sync_writes: bool,
    pub fsync_interval: Duration,
    /// WAL segments beyond which quiet slices are sealed early.
    pub wal_segments_max: usize,
    /// Active-block memory beyond which every active block is sealed.
    pub active_bytes_max: usize,
    last_sync: Instant,
    unsynced: bool,
}

struct Pending {
    partition_key: u64,
    first_seq: u64,
    batch: ColumnBatch,
    reply: flume::Sender<Result<AppendAck, CommitError>>,
}

impl CommitLoop {
    pub fn new(
        store: Rc<ShardStore>,
        catalog: Rc<RefCell<Catalog>>,
        wal: WalWriter,
        store_tx: Rc<LocalSender<StoreJob>>,
        config: &crate::config::StorageConfig,
    ) -> CommitLoop {
        let segments_max =
            (config.wal_size_max_bytes / config.wal_segment_size_bytes).max(2) as usize;
        CommitLoop {
            store,
            catalog,
            wal,
            store_tx,
            sync_writes: config.sync_writes,
            fsync_interval: Duration::from_millis(config.fsync_interval_ms),
            wal_segments_max: segments_max,
            active_bytes_max: config.active_block_memory_max_bytes as usize,
            last_sync: Instant::now(),
            unsynced: false,
        }
    }

    pub async fn run(mut self, queue: LocalReceiver<CommitItem>) {
        while let Some(first) = queue.recv().await {
            let mut group = Vec::new();
            let mut group_bytes = 0;
            let mut tick = false;
            let mut drain = None;
            let mut snapshots = Vec::new();
            let mut next = Some(first);
            while let Some(item) = next.take() {
                match item {
                    CommitItem::Append {
                        partition_key,
                        batch,
                        reply,
                    } => {
                        group_bytes += batch.payload_bytes();
                        group.push(Pending {
                            partition_key,
                            first_seq: 0,
                            batch,
                            reply,
                        });
                    }
                    CommitItem::Tick => tick = true,
                    CommitItem::Drain { reply } => drain = Some(reply),
                    CommitItem::Snapshot { job } => snapshots.push(job),
                }
                if group_bytes < GROUP_PAYLOAD_BYTES_MAX {
                    next = poll_once(queue.recv()).await.flatten();
                }
            }
            if !group.is_empty() {
                self.commit_group(group).await;
                // Under load ticks may not get through the full queue; the
                // interval sync must not depend on them.
                self.sync_if_due().await;
            }
            if tick {
                self.maintenance().await;
            }
            for job in snapshots {
                self.start_snapshot(job).await;
            }
            if let Some(reply) = drain {
                self.drain().await;
                let _ = reply.send(());
            }
        }
    }

    async fn commit_group(&mut self, mut group: Vec<Pending>) {
        if let Err(error) = self.store.check_writable() {
            return answer_all(group, Err(CommitError::from_storage(&error)));
        }
        group = self.drop_deleted(group);
        if let Err(failure) = self.write_group(&mut group).await {
            // Out of space before anything was acknowledged is not fatal: the
            // group is refused (507) and later groups may succeed. Any other
            // failure, and every fdatasync failure, leaves the files in an
            // unknown state and stops writes.
            let error = match failure {
                GroupFailure::Write(error) if error.is_disk_full() => {
                    self.note_wal_out_of_space(&error);
                    error
                }
                GroupFailure::Write(error @ StorageError::RecordTooLarge { .. }) => error,
                GroupFailure::Write(error) | GroupFailure::Sync(error) => {
                    self.store.stop_writes(&error);
                    error
                }
            };
            return answer_all(group, Err(CommitError::from_storage(&error)));
        }
        self.note_wal_writable("a WAL write succeeded");
        for pending in group {
            let to_seal =
                self.store
                    .apply(pending.partition_key, pending.first_seq, &pending.batch);
            // Durable and visible: live tails may see it now (one emptiness
            // check when none is open).
            self.store.tails.publish(
                &self.catalog,
                pending.partition_key,
                self.store.shard_id,
                pending.first_seq,
                &pending.batch,
            );
            self.send_to_seal(pending.partition_key, to_seal).await;
            let last_seq = pending.first_seq + pending.batch.len() as u64 - 1;
            let _ = pending.reply.send(Ok(AppendAck {
                first_seq: pending.first_seq,
                last_seq,
            }));
            self.store.batch_pool.put(pending.batch);
        }
    }

    /// A partition deleted after its request was parsed is answered 404.
    fn drop_deleted(&self, group: Vec<Pending>) -> Vec<Pending> {
        let catalog = self.catalog.borrow();
        group
            .into_iter()
            .filter_map(|pending| {
                if catalog.by_key(pending.partition_key).is_some() {
                    return Some(pending);
                }
                let gone = CommitError {
                    message: "the partition was deleted".into(),
                    disk_full: false,
                    partition_gone: true,
                };
                let _ = pending.reply.send(Err(gone));
                None
            })
            .collect()
    }

    /// Numbers, frames, writes and (in sync mode) fdatasyncs a group.
    async fn write_group(&mut self, group: &mut [Pending]) -> Result<(), GroupFailure> {
        // The batches move into `WalBatch`es for the write and back after
        // it, whatever its outcome: no copy of the columns.
        let wal_batches: Vec<WalBatch> = group
            .iter_mut()
            .map(|pending| {
                pending.first_seq = self
                    .store
                    .reserve_seqs(pending.partition_key, pending.batch.len() as u64);
                WalBatch {
                    partition_key: pending.partition_key,
                    first_seq: pending.first_seq,
                    batch: std::mem::take(&mut pending.batch),
                }
            })
            .collect();
        let written = self.wal.append(&wal_batches).await;
        for (pending, wal_batch) in group.iter_mut().zip(wal_batches) {
            pending.batch = wal_batch.batch;
        }
        written.map_err(GroupFailure::Write)?;
        if self.sync_writes {
            self.wal.sync().await.map_err(GroupFailure::Sync)?;
        } else {
            self.unsynced = true;
        }
        Ok(())
    }

    async fn send_to_seal(
        &self,
        partition_key: u64,
        blocks: impl IntoIterator<Item = std::sync::Arc<super::slice::SealingBlock>>,
    ) {
        for block in blocks {
            // Waiting here is the backpressure that bounds sealing memory.
            if self
                .store_tx
                .send(StoreJob::Seal {
                    partition_key,
                    block,
                })
                .await
                .is_err()
            {
                tracing::error!("store worker is gone; a block stays in memory until restart");
            }
        }
    }

    /// In `fsync_interval` mode: fdatasync once the interval has passed.
    async fn sync_if_due(&mut self) {
        if self.unsynced && self.last_sync.elapsed() >= self.fsync_interval {
            if let Err(error) = self.wal.sync().await {
                self.store.stop_writes(&error);
            }
            self.unsynced = false;
            self.last_sync = Instant::now();
        }
    }

    /// The tick interval that keeps `fsync_interval` honest.
    pub fn tick_interval(&self) -> Duration {
        if self.sync_writes {
            TICK_INTERVAL
        } else {
            TICK_INTERVAL.min(self.fsync_interval)
        }
    }

    async fn maintenance(&mut self) {
        self.sync_if_due().await;
        self.recheck_wal_space().await;
        let mut due = self.store.take_due_blocks();
        if self.wal.segment_count() > self.wal_segments_max {
            let pinning = self
                .wal
                .pinning_partitions(|key| self.store.durable_sealed_seq(key));
            due.extend(self.store.take_active_blocks(Some(&pinning)));
        }
        // Over memory, or over a storage budget that cannot be met: unsealed
        // entries count twice there (in memory and in the WAL), and sealing
        // them lets the WAL be reclaimed, which may bring the budget back
        // within reach (ingest is refused meanwhile, so this seals once).
        if self.store.active_bytes() > self.active_bytes_max
            || self.store.retention.over_budget.borrow().is_some()
        {
            due.extend(self.store.take_active_blocks(None));
        }
        for (partition_key, block) in due {
            self.send_to_seal(partition_key, [block]).await;
        }
        let store = self.store.clone();
        if let Err(error) = self.wal.reclaim(|key| store.durable_sealed_seq(key)).await {
            tracing::warn!(%error, "could not reclaim a WAL segment; will retry");
        }
        // Retention counts the WAL against the storage budget.
        self.store.retention.wal_bytes.set(self.wal.disk_bytes());
        // Compaction and space reclamation run in the store worker between
        // seals; a full queue means it is busy sealing, and the next tick
        // asks again.
        let _ = self.store_tx.try_send(StoreJob::Maintain);
    }
}

impl CommitLoop {
    /// A group write failed for lack of space: ingest is refused (507) and
    /// `/ready` says why until space is back (`recheck_wal_space`).
    fn note_wal_out_of_space(&self, error: &StorageError) {
        let mut short = self.store.wal_space_short.borrow_mut();
        if short.is_none() {
            tracing::error!(shard = self.store.shard_id, %error, "out of disk space: the WAL cannot take writes; ingest answers 507 until space is freed");
            *short = Some(format!(
                "out of disk space: the WAL cannot take writes ({error})"
            ));
        }
    }

    fn note_wal_writable(&self, why: &str) {
        if self.store.wal_space_short.borrow_mut().take().is_some() {
            tracing::info!(
                shard = self.store.shard_id,
                why,
                "disk space is available again; the WAL takes writes"
            );
        }
    }

    /// While the WAL is short of space, checks at each tick whether space
    /// came back: the current segment's preallocation (missing after a
    /// start on a full disk) succeeds, and the WAL's filesystem has
    /// `FREE_BYTES_LOW` free. Ingest is refused meanwhile, so no write
    /// would find out.
    async fn recheck_wal_space(&mut self) {
        use crate::storage::disk_space::{filesystem_space, FREE_BYTES_LOW};
        if self.store.wal_space_short.borrow().is_none() {
            return;
        }
        let free_bytes =
            filesystem_space(&self.store.paths.wal_dir).map_or(0, |space| space.free_bytes);
        // Checked first so that a disk that stays full costs one statvfs a
        // tick, not a failed fallocate (and its log line).
        let needed_bytes = if self.wal.lacks_preallocation() {
            self.wal.segment_bytes() + FREE_BYTES_LOW
        } else {
            FREE_BYTES_LOW
        };
        if free_bytes < needed_bytes {
            return;
        }
        match self.wal.retry_preallocation().await {
            Ok(true) => self.note_wal_writable("free space is back on the WAL's filesystem"),
            Ok(false) => {}
            Err(error) => self.store.stop_writes(&error),
        }
    }
}

enum GroupFailure {
    Write(StorageError),
    Sync(StorageError),
}

impl CommitLoop {
    /// Makes everything acknowledged durable in blocks: WAL sync, seal all
    /// active blocks, then wait until the store worker has written them.
    async fn drain(&mut self) {
        self.store.draining.set(true);
        if self.unsynced {
            if let Err(error) = self.wal.sync().await {
                self.store.stop_writes(&error);
            }
            self.unsynced = false;
        }
        for (partition_key, block) in self.store.take_active_blocks(None) {
            self.send_to_seal(partition_key, [block]).await;
        }
        let (reply, done) = flume::bounded(1);
        if self
            .store_tx
            .send(StoreJob::Barrier { reply })
            .await
            .is_ok()
        {
            let _ = done.recv_async().await;
        }
        let store = self.store.clone();
        let _ = self.wal.reclaim(|key| store.durable_sealed_seq(key)).await;
        if self.store.check_writable().is_ok() {
            // Everything is in published blocks: the WAL's files (segments
            // and spares) hold nothing the next start needs.
            if let Err(error) = self
                .wal
                .remove_covered(|key| store.durable_sealed_seq(key))
                .await
            {
                tracing::warn!(%error, "could not remove the WAL files at shutdown");
            }
        }
        let (reply, done) = flume::bounded(1);
        if self.store_tx.send(StoreJob::Trim { reply }).await.is_ok() {
            let _ = done.recv_async().await;
        }
    }
}

impl CommitLoop {
    /// Everything applied so far (every acknowledged entry) goes into
    /// blocks: the active blocks are taken out for sealing, and the
    /// snapshot job queued behind them checks that they were published
    /// before it links and checkpoints. Unlike the drain it does not wait:
    /// the loop goes back to committing.
    async fn start_snapshot(&mut self, job: super::snapshot::ShardSnapshotJob) {
        let expected = super::snapshot::applied_seqs(&self.store);
        for (partition_key, block) in self.store.take_active_blocks(None) {
            self.send_to_seal(partition_key, [block]).await;
        }
        if self
            .store_tx
            .send(StoreJob::Snapshot { job, expected })
            .await
            .is_err()
        {
            tracing::error!("store worker is gone; the snapshot fails");
        }
    }
}

fn answer_all(group: Vec<Pending>, result: Result<AppendAck, CommitError>) {
    for pending in group {
        let _ = pending.reply.send(result.clone());
    }
}
