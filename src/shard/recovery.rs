//! Bringing a shard back after a restart or a crash.
//!
//! 1. Load the manifest and index the published blocks of every slice whose
//!    partition still exists (walking block headers up to each segment's
//!    committed length; bytes past it are an interrupted seal and ignored).
//! 2. Remove the files of partitions deleted from the catalog.
//! 3. Replay the WAL into the active blocks, skipping entries at or below a
//!    slice's sealed watermark (they are in blocks already).
//!
//! Every acknowledged entry is either in a published block or in a WAL
//! record that replay finds: the WAL drops a record only after a durable
//! manifest covers it.

use std::rc::Rc;

use crate::block::BlockHeader;
use crate::entry::{ColumnBatch, EntryRef};
use crate::index::{BlockSummary, SummaryRef, SummaryScratch};
use crate::storage::catalog::Catalog;
use crate::storage::index_file::{append_summary, index_file_name, parse_records, IndexFile};
use crate::storage::layout::ShardPaths;
use crate::storage::manifest::ShardManifest;
use crate::storage::segment::SegmentFile;
use crate::storage::{Result, StorageError};
use crate::wal::replay::{replay_dir, ReplaySummary};
use crate::wal::WalBatch;

use super::slice::{BlockRef, SealingBlock, SegmentState, Slice};
use super::store::ShardStore;

pub struct Recovered {
    pub replay: ReplaySummary,
    /// Blocks recovery took out of an active block (at a sequence gap);
    /// they must go to the store worker once it runs.
    pub to_seal: Vec<(u64, std::sync::Arc<SealingBlock>)>,
    pub blocks_indexed: u64,
}

pub async fn recover(store: &ShardStore, catalog: &Catalog) -> Result<Recovered> {
    for dir in [&store.paths.shard_dir, &store.paths.wal_dir] {
        std::fs::create_dir_all(dir)
            .map_err(|error| StorageError::io("create directory", dir, 0, error))?;
        crate::storage::dma_probe::prime_poll_probe(dir).await?;
    }
    let manifest = ShardManifest::load(&store.paths.manifest(), store.shard_id)?;
    let mut blocks_indexed = 0;
    for slice_manifest in &manifest.slices {
        if catalog.by_key(slice_manifest.partition_key).is_none() {
            continue;
        }
        let slice = load_slice(&store.paths, slice_manifest).await?;
        blocks_indexed += slice.blocks.len() as u64;
        store.slices.borrow_mut().insert(slice.partition_key, slice);
    }
    remove_deleted_slices(&store.paths, catalog)?;
    let mut to_seal = Vec::new();
    let replay = replay_dir(&store.paths.wal_dir, |wal_batch| {
        if catalog.by_key(wal_batch.partition_key).is_none() {
            return 0;
        }
        let (applied, sealed) = replay_batch(store, wal_batch);
        to_seal.extend(sealed);
        applied
    })?;
    for slice in store.slices.borrow_mut().values_mut() {
        slice.reserved_seq = slice.next_seq;
    }
    Ok(Recovered {
        replay,
        to_seal,
        blocks_indexed,
    })
}

async fn load_slice(
    paths: &ShardPaths,
    manifest: &crate::storage::manifest::SliceManifest,
) -> Result<Slice> {
    let mut slice = Slice::new(manifest.partition_key);
    slice.sealed_seq = manifest.sealed_seq;
    slice.durable_sealed_seq = manifest.sealed_seq;
    slice.next_seq = manifest.sealed_seq + 1;
    slice.active_first_seq = slice.next_seq;
    let dir = paths.slice_dir(manifest.partition_key);
    for segment in &manifest.segments {
        let file = SegmentFile::open(&dir, &segment.file_name, false).await?;
        let blocks = file.scan_headers(segment.committed_bytes).await?;
        let index = IndexFile::open(&dir, &index_file_name(&segment.file_name)).await?;
        let (summaries, index_end) = load_summaries(&file, &index, &blocks).await?;
        for ((offset, header), summary) in blocks.into_iter().zip(summaries) {
            slice.blocks.insert(Rc::new(BlockRef {
                segment: file.clone(),
                offset,
                header,
                summary,
            }));
        }
        slice.segments.push(SegmentState {
            file,
            committed_bytes: segment.committed_bytes,
            block_count: segment.block_count,
            index,
            index_end,
        });
    }
    Ok(slice)
}

/// The summaries of a segment's blocks, from its index file (one DMA read,
/// used in place); records that are missing or damaged are rebuilt from
/// the blocks, written back, and the rebuild is logged. Returns them and
/// where the index's next record goes.
async fn load_summaries(
    segment: &SegmentFile,
    index: &IndexFile,
    blocks: &[(u64, BlockHeader)],
) -> Result<(Vec<SummaryRef>, u64)> {
    let parsed = parse_records(Rc::new(index.read_all().await?), blocks);
    let mut summaries = parsed.summaries;
    let Some(reason) = parsed.stopped_because else {
        return Ok((summaries, parsed.end_offset));
    };
    let started = std::time::Instant::now();
    let first = summaries.len();
    let mut records = Vec::new();
    let mut scratch = SummaryScratch::default();
    let mut unreadable = 0;
    for (offset, header) in &blocks[first..] {
        let summary = match segment.read_block(*offset, header).await {
            Ok(decoded) => BlockSummary::build(decoded.batch(), header, *offset, &mut scratch),
            Err(error) => {
                // Start-up goes on: queries read this block and report it.
                tracing::error!(%error, "a block could not be read to rebuild its index record; queries will read it unpruned");
                unreadable += 1;
                BlockSummary::unknown_contents(header, *offset)
            }
        };
        summaries.push(append_summary(&summary, &mut records));
    }
    if let Err(error) = index.append(parsed.end_offset, &records).await {
        // The summaries are in memory and queries use them; the next start
        // finds the records missing again and rebuilds them again.
        tracing::error!(%error, index = %index.path().display(), "could not write rebuilt index records back");
    }
    tracing::warn!(
        index = %index.path().display(),
        reason,
        blocks_rebuilt = blocks.len() - first,
        blocks_unreadable = unreadable,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "rebuilt index records from the segment's blocks"
    );
    Ok((summaries, parsed.end_offset + records.len() as u64))
}

/// A crash between the catalog losing a partition and every shard removing
/// its files leaves orphans; they go now.
fn remove_deleted_slices(paths: &ShardPaths, catalog: &Catalog) -> Result<()> {
    let entries = std::fs::read_dir(&paths.shard_dir)
        .map_err(|error| StorageError::io("list directory", &paths.shard_dir, 0, error))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(key) = ShardPaths::slice_key(&name) else {
            continue;
        };
        if catalog.by_key(key).is_none() {
            tracing::info!(path = %entry.path().display(), "removing the files of a deleted partition");
            std::fs::remove_dir_all(entry.path())
                .map_err(|error| StorageError::io("remove directory", entry.path(), 0, error))?;
        }
    }
    Ok(())
}

/// Appends the part of a WAL batch that is not sealed yet; returns how many
/// entries that was, and a block taken out for sealing at a sequence gap.
fn replay_batch(
    store: &ShardStore,
    wal_batch: WalBatch,
) -> (u64, Option<(u64, std::sync::Arc<SealingBlock>)>) {
    let mut slices = store.slices.borrow_mut();
    let key = wal_batch.partition_key;
    let slice = slices.entry(key).or_insert_with(|| Slice::new(key));
    let first_wanted = slice.next_seq.max(slice.sealed_seq + 1);
    let last_seq = wal_batch.first_seq + wal_batch.batch.len() as u64 - 1;
    if last_seq < first_wanted {
        return (0, None);
    }
    let skip = first_wanted.saturating_sub(wal_batch.first_seq) as usize;
    let first_seq = wal_batch.first_seq + skip as u64;
    let sealed = if skip == 0 {
        slice.append(first_seq, &wal_batch.batch)
    } else {
        slice.append(first_seq, &suffix(&wal_batch.batch, skip))
    };
    (last_seq - first_seq + 1, sealed.map(|block| (key, block)))
}

/// The entries of `batch` from index `skip` on (recovery only).
fn suffix(batch: &ColumnBatch, skip: usize) -> ColumnBatch {
    let mut out = ColumnBatch::default();
    for index in skip..batch.len() {
        let entry = EntryRef {
            timestamp_ns: batch.timestamps_ns[index],
            level: crate::entry::Level::from_byte(batch.levels[index]),
            source: batch.sources.get(index),
            message: batch.messages.get(index),
            fields_json: batch.fields.get(index),
        };
        out.begin_entry(&entry);
        for (key, value) in batch.tags(index) {
            out.push_tag(key, value);
        }
        out.finish_entry();
    }
    out
}
