//! Converting a shard written with block format 2 (one rkyv archive per
//! block, segment files per partition slice under `p-<key>/`, an index
//! file beside each, and `manifest.json`) to format 3 (columnar blocks in
//! the shard's shared segment files, the manifest log). Runs at start-up,
//! before anything else reads the shard; the WAL needs no conversion (its
//! records did not change).
//!
//! Crash-safe by its commit point: every block is re-encoded into new
//! segment files, then the new manifest is written (a complete checkpoint
//! is the commit point), and only then are `manifest.json` and the old
//! directories removed. A start that finds `manifest.json`:
//! - with no complete new manifest (a crash during conversion): deletes
//!   whatever new segment files exist and converts again from the old
//!   files, which were never changed;
//! - with a complete new manifest (a crash during the cleanup): finishes
//!   the cleanup.
//!
//! Either way every block of the old format is converted exactly once.

use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::Deserialize;

use super::error::{Result, StorageError};
use super::layout::ShardPaths;
use super::manifest::{self, Edit, ManifestLog};
use super::segment::{segment_id, SegmentFile, SEGMENT_BYTES_MAX};
use crate::block::{self, v2, Codec, EncodeScratch};
use crate::entry::{ArchivedColumnBatch, ColumnBatch};
use crate::storage::catalog::Catalog;

/// `manifest.json` of format version 1 (blocks of format 1 and 2).
#[derive(Deserialize)]
struct OldManifest {
    format_version: u32,
    shard_id: u32,
    slices: Vec<OldSlice>,
}

#[derive(Deserialize)]
struct OldSlice {
    partition_key: u64,
    sealed_seq: u64,
    segments: Vec<OldSegment>,
}

#[derive(Deserialize)]
struct OldSegment {
    file_name: String,
    committed_bytes: u64,
}

pub const OLD_MANIFEST_NAME: &str = "manifest.json";

/// Converts the shard at `paths` if it holds format-2 data; see the module
/// docs. `codec` compresses the new blocks' string columns.
pub async fn convert_if_needed(
    paths: &ShardPaths,
    shard_id: u32,
    catalog: &Catalog,
    codec: Codec,
) -> Result<()> {
    let old_path = paths.shard_dir.join(OLD_MANIFEST_NAME);
    let bytes = match std::fs::read(&old_path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(StorageError::io("read", &old_path, 0, error)),
    };
    if manifest::load(&paths.shard_dir, shard_id)?.generation == 0 {
        let old: OldManifest =
            serde_json::from_slice(&bytes).map_err(|error| StorageError::BadMetadata {
                path: old_path.clone(),
                detail: format!("manifest is not valid JSON: {error}"),
            })?;
        if old.format_version != 1 || old.shard_id != shard_id {
            return Err(StorageError::BadMetadata {
                path: old_path,
                detail: format!(
                    "manifest has format_version {} for shard {}; expected 1 for shard {shard_id}",
                    old.format_version, old.shard_id
                ),
            });
        }
        remove_new_segments(&paths.shard_dir)?;
        let started = std::time::Instant::now();
        let (edits, blocks) = convert_blocks(paths, &old, catalog, codec).await?;
        ManifestLog::create(&paths.shard_dir, shard_id, 1, edits).await?;
        tracing::info!(
            shard = shard_id,
            blocks,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "converted the shard's blocks from format 2 to format 3"
        );
    }
    remove_old_files(paths)
}

/// Deletes segment files a conversion cut short left behind.
fn remove_new_segments(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|error| StorageError::io("list directory", dir, 0, error))?;
    for entry in entries.flatten() {
        if segment_id(&entry.file_name().to_string_lossy()).is_some() {
            std::fs::remove_file(entry.path())
                .map_err(|error| StorageError::io("remove segment", entry.path(), 0, error))?;
        }
    }
    Ok(())
}

/// Re-encodes every block of the old slices whose partition still exists
/// into new segment files; returns the manifest edits publishing them (a
/// checkpoint) and how many blocks there were.
async fn convert_blocks(
    paths: &ShardPaths,
    old: &OldManifest,
    catalog: &Catalog,
    codec: Codec,
) -> Result<(Vec<Edit>, u64)> {
    let mut writer = SegmentWriter::default();
    let mut edits = Vec::new();
    let mut blocks = 0;
    for slice in old
        .slices
        .iter()
        .filter(|s| catalog.by_key(s.partition_key).is_some())
    {
        let dir = paths.slice_dir(slice.partition_key);
        for segment in &slice.segments {
            let path = dir.join(&segment.file_name);
            for batch in read_old_segment(&path, segment.committed_bytes)? {
                let (first_seq, batch) = batch;
                edits.push(
                    writer
                        .append(paths, slice.partition_key, first_seq, &batch, codec)
                        .await?,
                );
                blocks += 1;
            }
        }
        edits.push(Edit::Sealed {
            partition_key: slice.partition_key,
            sealed_seq: slice.sealed_seq,
        });
    }
    writer.finish().await?;
    Ok((edits, blocks))
}

/// Reads every block of an old segment up to its committed length, each
/// checked as the old reader did, as (first sequence number, entries).
fn read_old_segment(path: &Path, committed_bytes: u64) -> Result<Vec<(u64, ColumnBatch)>> {
    let file =
        std::fs::File::open(path).map_err(|error| StorageError::io("open", path, 0, error))?;
    let corrupt = |offset: u64, detail: String| StorageError::Corrupt {
        path: path.to_path_buf(),
        offset,
        detail,
    };
    let mut batches = Vec::new();
    let mut offset = 0;
    while offset < committed_bytes {
        let mut head = [0u8; v2::BLOCK_HEADER_BYTES];
        file.read_exact_at(&mut head, offset)
            .map_err(|error| StorageError::io("read", path, offset, error))?;
        let header = v2::decode_header(&head)
            .map_err(|error| corrupt(offset, error.rebase(offset).to_string()))?;
        let span = v2::block_bytes_on_disk(header.payload_bytes_compressed as usize) as u64;
        if offset + span > committed_bytes {
            return Err(corrupt(
                offset,
                "block extends past the committed length".into(),
            ));
        }
        let mut payload = vec![0u8; header.payload_bytes_compressed as usize];
        file.read_exact_at(&mut payload, offset + v2::BLOCK_HEADER_BYTES as u64)
            .map_err(|error| StorageError::io("read", path, offset, error))?;
        let decoded = v2::decode_block(&header, &payload)
            .map_err(|error| corrupt(offset, error.rebase(offset).to_string()))?;
        let batch = rkyv::deserialize::<ColumnBatch, rkyv::rancor::Error>(
            decoded.batch() as &ArchivedColumnBatch
        )
        .map_err(|error| corrupt(offset, format!("block does not deserialise: {error}")))?;
        batches.push((header.first_seq, batch));
        offset += span;
    }
    Ok(batches)
}

/// Appends converted blocks to new segment files, starting a new file past
/// `SEGMENT_BYTES_MAX`.
#[derive(Default)]
struct SegmentWriter {
    current: Option<(std::rc::Rc<SegmentFile>, u64)>,
    next_id: u32,
    scratch: EncodeScratch,
    bytes: Vec<u8>,
}

impl SegmentWriter {
    async fn append(
        &mut self,
        paths: &ShardPaths,
        partition_key: u64,
        first_seq: u64,
        batch: &ColumnBatch,
        codec: Codec,
    ) -> Result<Edit> {
        self.bytes.clear();
        let encoded = block::encode_block(
            batch,
            partition_key,
            first_seq,
            codec,
            &mut self.scratch,
            &mut self.bytes,
        )
        .map_err(|error| StorageError::Corrupt {
            path: paths.shard_dir.clone(),
            offset: 0,
            detail: format!("a converted block does not encode: {error}"),
        })?;
        let span = encoded.header.span_bytes();
        let full = self
            .current
            .as_ref()
            .is_none_or(|(_, end)| *end > 0 && end + span > SEGMENT_BYTES_MAX);
        if full {
            if let Some((file, end)) = self.current.take() {
                file.trim(end).await?;
            }
            self.next_id += 1;
            let file = SegmentFile::open(&paths.shard_dir, self.next_id, true).await?;
            self.current = Some((file, 0));
        }
        let (file, end) = self.current.as_mut().expect("a segment is open");
        file.append_block(*end, &self.bytes).await?;
        let edit = Edit::AddBlock {
            segment: file.id,
            offset: *end,
            header: encoded.header.encode(),
            directory: encoded.directory.to_vec(),
        };
        *end += span;
        Ok(edit)
    }

    async fn finish(self) -> Result<()> {
        if let Some((file, end)) = &self.current {
            file.trim(*end).await?;
        }
        Ok(())
    }
}

/// Removes `manifest.json` and the old slice directories (the new manifest
/// is durable). The manifest goes last: while it exists, a restart finishes
/// this cleanup.
fn remove_old_files(paths: &ShardPaths) -> Result<()> {
    let dir = &paths.shard_dir;
    let entries = std::fs::read_dir(dir)
        .map_err(|error| StorageError::io("list directory", dir, 0, error))?;
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if ShardPaths::slice_key(&name).is_some() {
            std::fs::remove_dir_all(entry.path())
                .map_err(|error| StorageError::io("remove directory", entry.path(), 0, error))?;
            removed += 1;
        }
    }
    let old_path = dir.join(OLD_MANIFEST_NAME);
    match std::fs::remove_file(&old_path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(StorageError::io("remove", &old_path, 0, error)),
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|error| StorageError::io("fsync directory", dir, 0, error))?;
    if removed > 0 {
        tracing::info!(directories = removed, "removed the shard's format-2 files");
    }
    Ok(())
}
