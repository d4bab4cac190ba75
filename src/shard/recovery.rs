//! Bringing a shard back after a restart or a crash.
//!
//! 1. Convert a data directory of block format 2 (per-slice segment files,
//!    `manifest.json`) to format 3, when one is there (`storage::convert`).
//! 2. Load the manifest (`storage::manifest`): every published block, with
//!    its header and directory, and each slice's sealed watermark. Blocks of
//!    partitions deleted from the catalog are dropped.
//!    A block whose directory does not validate is quarantined (a copy, a
//!    `quarantine.jsonl` line; the next step's new generation without it
//!    is the commit point) and the shard starts without it.
//! 3. Open the segment files that hold published blocks; give back the
//!    space between published blocks (blocks compaction replaced or a
//!    deleted partition held, when a crash came before their space was
//!    given back) and delete segment files that hold none.
//! 4. Write the state as a new manifest generation, so the store worker
//!    never appends after a possibly torn tail.
//! 5. Replay the WAL into the active blocks, skipping entries at or below a
//!    slice's sealed watermark (they are in blocks already). Damage in the
//!    middle of a segment refuses the start unless the operator chose
//!    `storage.wal_recovery = "skip_damaged"` (`wal::replay`).
//! 6. When replay may have lost ids (damage skipped, a bad record at a
//!    segment's end), raise every slice's next id past them and record the
//!    floor durably in `wal-recovery.json` (`storage::wal_recovery`), so a
//!    lost entry's id is never handed to a new entry, now or later.
//!
//! Every acknowledged entry is either in a published block or in a WAL
//! record that replay finds: the WAL drops a record only after a durable
//! manifest covers it.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::block::{BlockHeader, DirectoryRef};
use crate::config::WalRecovery;
use crate::entry::{ColumnBatch, EntryRef};
use crate::storage::catalog::Catalog;
use crate::storage::manifest::{self, BlockEntry, ManifestLog};
use crate::storage::segment::{segment_id, SegmentFile};
use crate::storage::wal_recovery::{AcceptedDamage, WalRecoveryFile};
use crate::storage::{Result, StorageError};
use crate::wal::replay::{replay_dir, ReplayOptions, ReplaySummary};
use crate::wal::WalBatch;

use super::slice::{BlockRef, SealingBlock, Slice};
use super::store::ShardStore;

pub struct Recovered {
    pub replay: ReplaySummary,
    /// Blocks recovery took out of an active block (at a sequence gap);
    /// they must go to the store worker once it runs.
    pub to_seal: Vec<(u64, std::sync::Arc<SealingBlock>)>,
    pub blocks_indexed: u64,
    pub manifest: ManifestLog,
    /// The segment to append to and where its last block ends.
    pub active_segment: Option<(Rc<SegmentFile>, u64)>,
    pub next_segment_id: u32,
}

pub async fn recover(
    store: &ShardStore,
    catalog: &Catalog,
    wal_recovery: WalRecovery,
) -> Result<Recovered> {
    for dir in [&store.paths.shard_dir, &store.paths.wal_dir] {
        std::fs::create_dir_all(dir)
            .map_err(|error| StorageError::io("create directory", dir, 0, error))?;
        crate::storage::dma_probe::prime_poll_probe(dir).await?;
    }
    crate::storage::convert::convert_if_needed(&store.paths, store.shard_id, catalog, store.codec)
        .await?;
    let loaded = manifest::load(&store.paths.shard_dir, store.shard_id)?;
    let mut loaded_blocks = loaded.state.blocks;
    loaded_blocks.retain(|_, block| catalog.by_key(block.header.partition_key).is_some());
    let blocks = check_directories(store, catalog, loaded_blocks);
    let segments = open_segments(store, &blocks).await?;
    let (active_segment, next_segment_id) = tidy_segment_files(store, &blocks, &segments).await?;
    let blocks_indexed = blocks.len() as u64;
    install_blocks(store, blocks, &segments);
    count_quarantined(store);
    for (partition_key, sealed_seq) in loaded.state.sealed {
        if catalog.by_key(partition_key).is_none() {
            continue;
        }
        let mut slices = store.slices.borrow_mut();
        let slice = slices
            .entry(partition_key)
            .or_insert_with(|| Slice::new(partition_key));
        slice.durable_sealed_seq = sealed_seq;
        slice.next_seq = sealed_seq + 1;
        slice.active_first_seq = slice.next_seq;
    }
    let manifest = new_manifest_generation(store, loaded.generation + 1).await?;
    let mut recovery_file = WalRecoveryFile::load(&store.paths.shard_dir)?;
    let options = ReplayOptions {
        recovery: wal_recovery,
        accepted: recovery_file.accepted(),
    };
    let (replay, to_seal) = replay_wal(store, catalog, &options)?;
    keep_lost_ids_free(store, catalog, &replay, &mut recovery_file).await?;
    Ok(Recovered {
        replay,
        to_seal,
        blocks_indexed,
        manifest,
        active_segment,
        next_segment_id,
    })
}

/// Writes the recovered state as generation `generation`. On a full disk
/// the shard still starts (read-only until space is freed): the attempt is
/// removed, the loaded generation stays the one start-up reads, and the
/// store worker writes this generation before its first manifest record.
async fn new_manifest_generation(store: &ShardStore, generation: u64) -> Result<ManifestLog> {
    let dir = &store.paths.shard_dir;
    match ManifestLog::create(dir, store.shard_id, generation, store.checkpoint_edits()).await {
        Ok(log) => Ok(log),
        Err(error) if error.is_disk_full() => {
            ManifestLog::discard_generation(dir, generation).await?;
            tracing::warn!(shard = store.shard_id, %error, "out of disk space: the manifest's new generation is written once space is freed; serving what is stored read-only meanwhile");
            Ok(ManifestLog::unwritten(dir, store.shard_id, generation))
        }
        Err(error) => Err(error),
    }
}

/// A published block whose directory validated.
struct CheckedBlock {
    header: BlockHeader,
    directory: DirectoryRef,
}

type CheckedBlocks = BTreeMap<(u32, u64), CheckedBlock>;

/// Validates every block's directory (its manifest record's checksum
/// passed, so a failure here is damage the checksum missed or a directory
/// this build cannot read). A block that fails is quarantined, as a scrub
/// would (`scrub::quarantine`): its bytes copied, a `quarantine.jsonl`
/// line; it is left out, so the generation recovery writes next no longer
/// names it (the commit point) and its span is punched as a gap. The shard
/// starts without it rather than not at all.
fn check_directories(
    store: &ShardStore,
    catalog: &Catalog,
    blocks: BTreeMap<(u32, u64), BlockEntry>,
) -> CheckedBlocks {
    let mut checked = BTreeMap::new();
    for (key, entry) in blocks {
        match DirectoryRef::new(&entry.header, entry.directory) {
            Ok(directory) => {
                let header = entry.header;
                checked.insert(key, CheckedBlock { header, directory });
            }
            Err(error) => quarantine_at_start(store, catalog, key, &entry.header, error),
        }
    }
    checked
}

fn quarantine_at_start(
    store: &ShardStore,
    catalog: &Catalog,
    (segment, offset): (u32, u64),
    header: &BlockHeader,
    error: crate::block::BlockError,
) {
    use crate::scrub::quarantine;
    let dir = &store.paths.shard_dir;
    let path = dir.join(crate::storage::segment::segment_file_name(segment));
    let finding = crate::scrub::Finding::block(
        &path,
        store.shard_id,
        (segment, offset),
        header,
        catalog,
        error,
    );
    let copy = quarantine::copy_span(dir, (segment, offset), header.span_bytes());
    let line = quarantine::line_for(&finding, copy).expect("a block finding");
    tracing::error!(shard = store.shard_id, file = %path.display(), offset, partition = line.partition.as_deref().unwrap_or("(deleted)"), entries = line.entries, first_seq = line.first_seq, last_seq = line.last_seq, detail = %finding.detail, "quarantining a block whose directory is damaged; the shard starts without it");
    if let Err(error) = quarantine::append_lines(dir, std::slice::from_ref(&line)) {
        tracing::error!(%error, "could not write quarantine.jsonl; the block is still left out");
    }
}

/// Counts what `quarantine.jsonl` says quarantine removed, for `/ready`,
/// `/metrics` and the partition objects (a line for a block still
/// published counts nothing: the manifest decides).
fn count_quarantined(store: &ShardStore) {
    let slices = store.slices.borrow();
    let still_published = |line: &crate::scrub::QuarantineLine| {
        slices.get(&line.partition_key).is_some_and(|slice| {
            slice.blocks.iter().any(|block| {
                block.key() == (line.segment, line.offset)
                    && block.header.first_seq == line.first_seq
            })
        })
    };
    if let Err(error) = store.damage.load(&store.paths.shard_dir, still_published) {
        tracing::warn!(shard = store.shard_id, %error, "could not read quarantine.jsonl; quarantined blocks are not counted");
    }
}

/// Opens every segment file a published block lies in.
async fn open_segments(
    store: &ShardStore,
    blocks: &CheckedBlocks,
) -> Result<BTreeMap<u32, Rc<SegmentFile>>> {
    let mut segments = BTreeMap::new();
    for &(id, _) in blocks.keys() {
        if let std::collections::btree_map::Entry::Vacant(slot) = segments.entry(id) {
            slot.insert(SegmentFile::open(&store.paths.shard_dir, id, false).await?);
        }
    }
    *store.segments.borrow_mut() = segments.clone();
    Ok(segments)
}

/// Gives back the space between published blocks of each segment, trims
/// closed segments after their last block, and deletes segment files that
/// hold no published block. Returns the segment to append to (the newest
/// that holds blocks, and where its last block ends) and the next id.
async fn tidy_segment_files(
    store: &ShardStore,
    blocks: &CheckedBlocks,
    segments: &BTreeMap<u32, Rc<SegmentFile>>,
) -> Result<(Option<(Rc<SegmentFile>, u64)>, u32)> {
    let dir = &store.paths.shard_dir;
    let entries = std::fs::read_dir(dir)
        .map_err(|error| StorageError::io("list directory", dir, 0, error))?;
    let mut highest_id = 0;
    for entry in entries.flatten() {
        let Some(id) = segment_id(&entry.file_name().to_string_lossy()) else {
            continue;
        };
        highest_id = highest_id.max(id);
        if !segments.contains_key(&id) {
            tracing::info!(path = %entry.path().display(), "removing a segment file that holds no published block");
            std::fs::remove_file(entry.path())
                .map_err(|error| StorageError::io("remove segment", entry.path(), 0, error))?;
        }
    }
    let newest = segments.keys().next_back().copied();
    let mut newest_shared = false;
    for (&id, file) in segments {
        // A file a snapshot shares keeps every byte (the snapshot's blocks
        // may lie in its gaps or past its last live block): punch() and
        // trim() release nothing then, and the next start after the
        // snapshot is deleted does it.
        let shared = !file.release_allowed()?;
        if shared {
            tracing::info!(path = %file.path().display(), "a snapshot shares this segment file: its unused space is given back once the snapshot is deleted");
        }
        if Some(id) == newest {
            newest_shared = shared;
        }
        let mut end = 0;
        let mut gaps = Vec::new();
        for (&(_, offset), block) in blocks.range((id, 0)..=(id, u64::MAX)) {
            let span = block.header.span_bytes();
            if offset > end {
                gaps.push((end, offset - end));
            }
            end = end.max(offset + span);
        }
        if shared {
            // Kept for the store worker, which punches them (the tail too:
            // this file is not appended to again) once the snapshot is gone.
            let size = file.size().await?;
            gaps.extend((size > end).then(|| (end, size - end)));
            let mut held = store.held_gaps.borrow_mut();
            held.extend(
                gaps.into_iter()
                    .map(|(at, length)| (file.clone(), at, length)),
            );
            continue;
        }
        for (at, length) in gaps {
            file.punch(at, length).await?;
        }
        if Some(id) != newest {
            file.trim(end).await?;
        }
    }
    // Appending after the newest file's last live block would overwrite
    // blocks a snapshot still uses when that file is shared (a partition
    // deleted since, its blocks at the end): a new segment file is started
    // instead.
    let newest = newest.filter(|_| !newest_shared);
    let active = newest.map(|id| {
        let end = blocks
            .range((id, 0)..=(id, u64::MAX))
            .map(|(&(_, offset), block)| offset + block.header.span_bytes())
            .max()
            .unwrap_or(0);
        (segments[&id].clone(), end)
    });
    crate::storage::atomic_file::sync_directory(dir).await?;
    Ok((active, highest_id + 1))
}

/// Puts every published block into its slice.
fn install_blocks(
    store: &ShardStore,
    blocks: CheckedBlocks,
    segments: &BTreeMap<u32, Rc<SegmentFile>>,
) {
    let mut slices = store.slices.borrow_mut();
    for ((segment, offset), entry) in blocks {
        let file = segments[&segment].clone();
        let CheckedBlock { header, directory } = entry;
        let key = header.partition_key;
        slices
            .entry(key)
            .or_insert_with(|| Slice::new(key))
            .blocks
            .insert(Rc::new(BlockRef {
                segment: file,
                offset,
                header,
                directory,
            }));
    }
}

type ToSeal = Vec<(u64, std::sync::Arc<SealingBlock>)>;

fn replay_wal(
    store: &ShardStore,
    catalog: &Catalog,
    options: &ReplayOptions,
) -> Result<(ReplaySummary, ToSeal)> {
    let mut to_seal = Vec::new();
    let replay = replay_dir(&store.paths.wal_dir, options, |wal_batch| {
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
    Ok((replay, to_seal))
}

/// Raises every slice's next id to its floor: past the ids this replay may
/// have lost (`seq_headroom`), and past floors earlier recoveries recorded.
/// A new floor is made durable before the shard hands out any id.
async fn keep_lost_ids_free(
    store: &ShardStore,
    catalog: &Catalog,
    replay: &ReplaySummary,
    file: &mut WalRecoveryFile,
) -> Result<()> {
    let before = file.clone();
    {
        let mut slices = store.slices.borrow_mut();
        for meta in catalog.list() {
            let key = meta.key;
            if replay.seq_headroom > 0 {
                let next_seq = slices.get(&key).map_or(1, |slice| slice.next_seq);
                file.raise_floor(key, next_seq + replay.seq_headroom);
            }
            let Some(floor) = file.floor(key) else {
                continue;
            };
            let slice = slices.entry(key).or_insert_with(|| Slice::new(key));
            slice.reserved_seq = slice.reserved_seq.max(floor);
        }
    }
    for damage in replay.skipped.iter().filter(|d| !d.accepted_before) {
        file.accept(AcceptedDamage {
            generation: damage.generation,
            offset: damage.offset,
            resume_offset: damage.resume_offset,
        });
    }
    let live: Vec<u64> = replay.segments.iter().map(|s| s.generation).collect();
    file.retain_generations(&live);
    if *file != before {
        file.save(&store.paths.shard_dir).await?;
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
    let first_wanted = slice.next_seq.max(slice.durable_sealed_seq + 1);
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
