//! Partition administration: create, delete, statistics.
//!
//! Shard 0 owns the durable catalog. A create or delete arriving on another
//! shard is forwarded to it; shard 0 changes its catalog, makes the file
//! durable, and tells every shard before answering, so a client that got
//! its 201 can ingest on any connection at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::context::ShardContext;
use super::mailbox::{call, call_all, forget_partition, PeerRequest};
use crate::storage::atomic_file::replace_atomically;
use crate::storage::catalog::{CreateRefusal, PartitionMeta, CATALOG_FILE_NAME, PARTITIONS_MAX};

#[derive(Clone, Debug)]
pub struct CreateRequest {
    pub name: String,
    pub tags: BTreeMap<String, String>,
    pub retention_days: Option<u32>,
    /// Bytes the partition may keep on disk (`None`: no partition budget).
    pub max_storage_size: Option<u64>,
}

#[derive(Clone, Debug)]
pub enum AdminError {
    NameTaken(String),
    InvalidName(String),
    TooMany,
    NotFound(String),
    Internal(String),
}

/// One slice's numbers, summed over shards for a partition's statistics.
#[derive(Clone, Copy, Debug, Default)]
pub struct SliceStats {
    pub partition_key: u64,
    pub entry_count: u64,
    pub stored_bytes: u64,
    pub block_count: u64,
    /// Bytes of published blocks in segment files (what retention deletes).
    pub bytes_on_disk: u64,
    /// The oldest and newest entry timestamps held, in every stage
    /// (`None`: no entry).
    pub oldest_timestamp_ns: Option<i64>,
    pub newest_timestamp_ns: Option<i64>,
    /// What retention deleted since the server started, by reason
    /// (indexed as `retention::Reason::ALL`).
    pub retention_removed: [super::retention::Removed; 2],
    /// What quarantine removed (damaged blocks), as `quarantine.jsonl` records it.
    pub quarantined: super::damage::Quarantined,
}

impl SliceStats {
    /// Adds another shard's numbers for the same partition.
    fn add(&mut self, other: &SliceStats) {
        self.entry_count += other.entry_count;
        self.stored_bytes += other.stored_bytes;
        self.block_count += other.block_count;
        self.bytes_on_disk += other.bytes_on_disk;
        self.oldest_timestamp_ns = min_some(self.oldest_timestamp_ns, other.oldest_timestamp_ns);
        self.newest_timestamp_ns = max_some(self.newest_timestamp_ns, other.newest_timestamp_ns);
        self.quarantined.add(&other.quarantined);
        for (total, more) in self
            .retention_removed
            .iter_mut()
            .zip(&other.retention_removed)
        {
            total.add(more);
        }
    }
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).min()
}

fn max_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).max()
}

/// The oldest and newest timestamps a slice holds, in every stage.
fn time_range(slice: &super::slice::Slice) -> (Option<i64>, Option<i64>) {
    let blocks = slice
        .blocks
        .iter()
        .map(|block| (block.header.min_timestamp_ns, block.header.max_timestamp_ns));
    let sealing = slice
        .sealing
        .iter()
        .map(|block| (block.min_timestamp_ns, block.max_timestamp_ns));
    let active = (!slice.active.is_empty())
        .then_some((slice.active_min_timestamp_ns, slice.active_max_timestamp_ns));
    blocks
        .chain(sealing)
        .chain(active)
        .fold((None, None), |(oldest, newest), (min, max)| {
            (min_some(oldest, Some(min)), max_some(newest, Some(max)))
        })
}

pub async fn create(
    ctx: &ShardContext,
    request: CreateRequest,
) -> Result<Arc<PartitionMeta>, AdminError> {
    if ctx.is_catalog_owner() {
        return create_as_owner(ctx, request).await;
    }
    call(ctx, 0, |reply| PeerRequest::CreatePartition {
        request,
        reply,
    })
    .await
    .map_err(AdminError::Internal)?
}

pub async fn delete(ctx: &ShardContext, key: u64) -> Result<(), AdminError> {
    if ctx.is_catalog_owner() {
        return delete_as_owner(ctx, key).await;
    }
    call(ctx, 0, |reply| PeerRequest::DeletePartition { key, reply })
        .await
        .map_err(AdminError::Internal)?
}

pub async fn create_as_owner(
    ctx: &ShardContext,
    request: CreateRequest,
) -> Result<Arc<PartitionMeta>, AdminError> {
    let meta = {
        let mut catalog = ctx.catalog.borrow_mut();
        let meta = catalog
            .prepare(
                &request.name,
                request.tags,
                request.retention_days,
                now_ns(),
            )
            .map_err(|refusal| match refusal {
                CreateRefusal::NameTaken => AdminError::NameTaken(request.name.clone()),
                CreateRefusal::InvalidName(reason) => AdminError::InvalidName(reason),
                CreateRefusal::TooMany => AdminError::TooMany,
            })?;
        let meta = Arc::new(PartitionMeta {
            max_storage_size: request.max_storage_size,
            ..meta
        });
        // Inserted before any await so a concurrent create of the same name sees it.
        catalog.insert(meta.clone());
        ctx.catalog_pending.borrow_mut().insert(meta.key);
        meta
    };
    let persisted = persist_catalog(ctx).await;
    ctx.catalog_pending.borrow_mut().remove(&meta.key);
    if let Err(error) = persisted {
        ctx.catalog.borrow_mut().remove(meta.key);
        return Err(AdminError::Internal(error));
    }
    for shard in 1..ctx.shard_count {
        let meta = meta.clone();
        call(ctx, shard, |reply| PeerRequest::CatalogInsert {
            meta,
            reply,
        })
        .await
        .map_err(AdminError::Internal)?;
    }
    tracing::info!(id = %meta.id, name = %meta.name, "partition created");
    Ok(meta)
}

pub async fn delete_as_owner(ctx: &ShardContext, key: u64) -> Result<(), AdminError> {
    let removed = ctx.catalog.borrow_mut().remove(key);
    let Some(meta) = removed else {
        return Err(AdminError::NotFound(key.to_string()));
    };
    // The catalog is durable without the partition before any file goes: a
    // crash in between leaves orphan files that recovery removes.
    if let Err(error) = persist_catalog(ctx).await {
        ctx.catalog.borrow_mut().insert(meta);
        return Err(AdminError::Internal(error));
    }
    forget_partition(ctx, key)
        .await
        .map_err(AdminError::Internal)?;
    for shard in 1..ctx.shard_count {
        call(ctx, shard, |reply| PeerRequest::CatalogRemove {
            key,
            reply,
        })
        .await
        .map_err(AdminError::Internal)?
        .map_err(AdminError::Internal)?;
    }
    tracing::info!(id = %meta.id, name = %meta.name, "partition deleted");
    Ok(())
}

async fn persist_catalog(ctx: &ShardContext) -> Result<(), String> {
    let _permit = ctx
        .catalog_write
        .acquire_permit(1)
        .await
        .map_err(|error| error.to_string())?;
    write_catalog_file(ctx).await
}

/// Writes the catalog as it is now; the caller holds `catalog_write`.
pub(super) async fn write_catalog_file(ctx: &ShardContext) -> Result<(), String> {
    // Serialised after the permit, so the newest catalog is what lands last.
    let json = ctx.catalog.borrow().to_json();
    let path = ctx.config.storage.data_dir.join(CATALOG_FILE_NAME);
    replace_atomically(&path, json)
        .await
        .map_err(|error| error.to_string())
}

/// This shard's slices' numbers (all slices, or one partition's).
pub fn local_slice_stats(ctx: &ShardContext, key: Option<u64>) -> Vec<SliceStats> {
    let slices = ctx.store.slices.borrow();
    slices
        .values()
        .filter(|slice| key.is_none_or(|wanted| wanted == slice.partition_key))
        .map(|slice| {
            let (oldest, newest) = time_range(slice);
            SliceStats {
                partition_key: slice.partition_key,
                entry_count: slice.entry_count(),
                stored_bytes: slice.stored_bytes(),
                block_count: slice.blocks.len() as u64,
                bytes_on_disk: slice.blocks.iter().map(|b| b.header.span_bytes()).sum(),
                oldest_timestamp_ns: oldest,
                newest_timestamp_ns: newest,
                retention_removed: ctx.store.retention.removed_of(slice.partition_key),
                quarantined: ctx.store.damage.quarantined_of(slice.partition_key),
            }
        })
        .collect()
}

/// Statistics per partition key, summed over every shard.
pub async fn stats(
    ctx: &ShardContext,
    key: Option<u64>,
) -> Result<BTreeMap<u64, SliceStats>, String> {
    let per_shard = call_all(ctx, |reply| PeerRequest::SliceStats { key, reply }).await?;
    let mut totals: BTreeMap<u64, SliceStats> = BTreeMap::new();
    for stats in per_shard.into_iter().flatten() {
        let total = totals.entry(stats.partition_key).or_insert(SliceStats {
            partition_key: stats.partition_key,
            ..Default::default()
        });
        total.add(&stats);
    }
    Ok(totals)
}

pub fn now_ns() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    since_epoch.as_nanos() as i64
}

const _: () = assert!(PARTITIONS_MAX > 0);
