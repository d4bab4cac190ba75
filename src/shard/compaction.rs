//! Compaction: merging a slice's small blocks into full ones, in the
//! background.
//!
//! Small blocks come from time rotation, shutdown seals and quiet
//! partitions sealed early to free the WAL. Each costs a block's fixed
//! overheads (a 4 KiB page at least, a directory, frames per column), makes
//! queries read more frames, and compresses worse. The store worker merges
//! them between seals (`StoreJob::Maintain`): it picks a run of at least two
//! consecutive small blocks of one slice (each sequence range following the
//! previous, so the merged block's entries keep their ids; small means under
//! a quarter of what the rotation rule puts in a full block) whose entries
//! together fit one full block, reads them, encodes
//! one block, and publishes it with one manifest record that adds it and
//! removes the run. A crash before that record is durable leaves the run as
//! it was (the new block's bytes lie past the published end and are
//! overwritten); after it, the new block alone. Either way nothing is lost
//! or duplicated. The run's space is given back once no query holds its
//! blocks (and by recovery, which punches every gap between published
//! blocks).
//!
//! Work is bounded: at most one merge per `COMPACTION_INTERVAL`, of at most
//! one block's worth of entries.
//!
//! A block of the run that fails its checksum is damage, not an I/O fault:
//! the merge is abandoned (nothing was written), the block is reported to
//! `shard::damage` (which quarantines it by default) and left out of later
//! runs, and the shard keeps its writes.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::block::ColumnSet;
use crate::config::BlockRotation;
use crate::entry::{BatchView, ColumnBatch, EntryRef};
use crate::storage::{Result, StorageError};

use super::read::read_granule;
use super::slice::{BlockRef, SealingBlock};
use super::store::ACTIVE_BLOCK_BYTES_MAX;
use super::worker::StoreWorker;

/// At most one merge this often: compaction never takes more than a small
/// share of the shard's disk and CPU.
pub const COMPACTION_INTERVAL: Duration = Duration::from_secs(1);

/// A block is small when it holds less than this fraction of a full
/// block's entries and bytes.
const SMALL_BLOCK_FRACTION: u64 = 4;

/// What a full block holds, by the rotation rule that seals blocks: the
/// rotation size, or the rotation count (within the hard size cap), or for
/// time rotation the default 8 MiB. A merged block never holds more.
#[derive(Clone, Copy)]
struct Full {
    bytes: u64,
    entries: u64,
}

fn full_block(rotation: BlockRotation) -> Full {
    let cap = ACTIVE_BLOCK_BYTES_MAX as u64;
    match rotation {
        BlockRotation::Size { bytes } => Full {
            bytes: bytes.min(cap),
            entries: u64::MAX,
        },
        BlockRotation::Count { entries } => Full {
            bytes: cap,
            entries,
        },
        BlockRotation::Time { .. } => Full {
            bytes: 8 << 20,
            entries: u64::MAX,
        },
    }
}

impl Full {
    fn is_small(&self, bytes: u64, entries: u64) -> bool {
        bytes < self.bytes / SMALL_BLOCK_FRACTION && entries < self.entries / SMALL_BLOCK_FRACTION
    }
}

/// The entries' bytes of a block, from its directory: the raw bytes of its
/// frames plus the per-entry columns' fixed widths, close to the
/// `ColumnBatch::payload_bytes` it was sealed from.
fn entry_bytes(block: &BlockRef) -> u64 {
    let directory = block.directory.get();
    let frames: u64 = directory
        .columns
        .iter()
        .flat_map(|column| column.frames.iter())
        .map(|frame| frame.raw_bytes.to_native() as u64)
        .sum();
    frames + block.header.entry_count as u64 * 9
}

/// Merges one run of small blocks, if there is one and the interval has
/// passed.
pub async fn compact_some(worker: &mut StoreWorker) -> Result<()> {
    let due = worker
        .last_compaction
        .is_none_or(|at| at.elapsed() >= COMPACTION_INTERVAL);
    if !due {
        return Ok(());
    }
    let Some(run) = pick_run(worker) else {
        return Ok(());
    };
    worker.last_compaction = Some(Instant::now());
    merge(worker, run).await
}

/// The first run of consecutive blocks worth merging, in slice order.
fn pick_run(worker: &StoreWorker) -> Option<Vec<Rc<BlockRef>>> {
    let full = full_block(worker.store().rotation);
    let slices = worker.store().slices.borrow();
    for slice in slices.values() {
        let mut blocks: Vec<&Rc<BlockRef>> = slice.blocks.iter().collect();
        blocks.sort_unstable_by_key(|block| block.header.first_seq);
        let mut run: Vec<Rc<BlockRef>> = Vec::new();
        let (mut run_bytes, mut run_entries) = (0, 0);
        let damage = &worker.store().damage;
        // A damaged block ends a run like a block that does not follow.
        for block in blocks.into_iter().filter(|block| !damage.is_known(block)) {
            let (bytes, entries) = (entry_bytes(block), block.header.entry_count as u64);
            let follows = run
                .last()
                .is_some_and(|last| last.header.last_seq() + 1 == block.header.first_seq);
            if !follows || run_bytes + bytes > full.bytes || run_entries + entries > full.entries {
                if run.len() >= 2 {
                    return Some(run);
                }
                run.clear();
                (run_bytes, run_entries) = (0, 0);
            }
            if full.is_small(bytes, entries) {
                run.push(block.clone());
                run_bytes += bytes;
                run_entries += entries;
            }
        }
        if run.len() >= 2 {
            return Some(run);
        }
    }
    None
}

/// Reads every entry of `run`, in sequence order, into one block and
/// publishes it in place of the run.
async fn merge(worker: &mut StoreWorker, run: Vec<Rc<BlockRef>>) -> Result<()> {
    let partition_key = run[0].header.partition_key;
    let mut batch = ColumnBatch::default();
    for block in &run {
        for granule in 0..block.header.granule_count as usize {
            let decoded = match read_granule(block, granule).await {
                Ok(decoded) => decoded,
                Err(error) if super::damage::is_damage(&error) => {
                    worker.store().damage.report(block, None, &error);
                    return Ok(());
                }
                Err(error) => return Err(error),
            };
            append_entries(&decoded, &mut batch);
            glommio::yield_if_needed().await;
        }
    }
    let merged = Arc::new(SealingBlock {
        first_seq: run[0].header.first_seq,
        min_timestamp_ns: run
            .iter()
            .map(|b| b.header.min_timestamp_ns)
            .min()
            .unwrap_or(0),
        max_timestamp_ns: run
            .iter()
            .map(|b| b.header.max_timestamp_ns)
            .max()
            .unwrap_or(0),
        batch,
    });
    let sealed = worker
        .encode(partition_key, &merged)
        .await
        .map_err(|error| StorageError::Corrupt {
            path: run[0].segment.path().to_path_buf(),
            offset: run[0].offset,
            detail: format!("compaction could not encode the merged block: {error}"),
        })?;
    let entries = sealed.header.entry_count;
    crate::failpoint::hit("compaction-before-write");
    let result = worker.write_and_publish(&sealed, None, &run).await;
    worker.recycle(sealed);
    result?;
    crate::failpoint::hit("compaction-before-punch");
    tracing::debug!(
        shard = worker.store().shard_id,
        partition_key,
        blocks = run.len(),
        entries,
        "merged small blocks"
    );
    Ok(())
}

/// Appends every entry of a decoded granule to `batch`, with all its tags.
fn append_entries<B: BatchView>(granule: &B, batch: &mut ColumnBatch) {
    for row in 0..granule.entry_count() {
        let entry = EntryRef {
            timestamp_ns: granule.timestamp_ns(row),
            level: granule.level(row),
            source: granule.source(row),
            message: granule.message(row),
            fields_json: granule.fields_json(row),
        };
        batch.begin_entry(&entry);
        granule.for_each_tag(row, &mut |key, value| {
            batch.push_tag(key, value);
            false
        });
        batch.finish_entry();
    }
}

// `ColumnSet::all` is what `read_granule` decodes.
const _: fn() -> ColumnSet = ColumnSet::all;
