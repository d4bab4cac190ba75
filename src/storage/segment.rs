//! Segment files: a shard's sealed blocks, of every partition, appended one
//! after another, each starting on a 4096-byte boundary, written and read
//! with O_DIRECT.
//!
//! One file is appended to at a time per shard (the newest); a block is
//! written past the end of what the manifest publishes, fdatasync'ed, and
//! only then published. Bytes a published block occupies are never
//! rewritten; a removed block's space is given back by punching a hole once
//! no query reads it. Sharing files between partitions is what keeps an idle
//! or tiny partition cheap: it costs its blocks' pages, not a file and a
//! preallocation of its own.

use std::path::Path;
use std::rc::Rc;

use glommio::io::ReadResult;

use super::append_file::{AppendFile, Preallocation};
use super::error::{Result, StorageError};
use crate::block::BLOCK_ALIGN_BYTES;

/// A new segment file is started once the current one passes this size.
/// 1 GiB keeps the file count low. A removed block's space is given back
/// at once (a hole punched); a file none of whose blocks is left is
/// deleted at the next start-up.
pub const SEGMENT_BYTES_MAX: u64 = 1 << 30;
/// Preallocation of a segment starts at 1 MiB and doubles up to 64 MiB
/// while blocks keep coming (see `append_file`).
pub const SEGMENT_PREALLOCATION: Preallocation = Preallocation {
    step_min: 1 << 20,
    step_max: 64 << 20,
};
const _: () = assert!(SEGMENT_BYTES_MAX % SEGMENT_PREALLOCATION.step_max == 0);
const _: () = assert!(SEGMENT_PREALLOCATION.step_min % BLOCK_ALIGN_BYTES as u64 == 0);

/// The file name of segment `id`.
pub fn segment_file_name(id: u32) -> String {
    format!("seg-{id:06}.tdb")
}

/// Parses `seg-NNNNNN.tdb` back into its id.
pub fn segment_id(file_name: &str) -> Option<u32> {
    file_name
        .strip_prefix("seg-")?
        .strip_suffix(".tdb")?
        .parse()
        .ok()
}

pub struct SegmentFile {
    pub id: u32,
    file: AppendFile,
}

impl SegmentFile {
    pub async fn open(dir: &Path, id: u32, create: bool) -> Result<Rc<SegmentFile>> {
        let file = AppendFile::open(
            dir,
            &segment_file_name(id),
            create,
            SEGMENT_PREALLOCATION,
            "open segment",
        )
        .await?;
        Ok(Rc::new(SegmentFile { id, file }))
    }

    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Writes one encoded block (a multiple of 4096 bytes) at `offset` and
    /// makes it durable.
    pub async fn append_block(&self, offset: u64, encoded: &[u8]) -> Result<()> {
        self.file.append(offset, encoded, "write block").await
    }

    /// Reads the byte ranges (block-file offsets and lengths) together.
    pub async fn read_ranges(&self, ranges: &[(u64, usize)]) -> Result<Vec<ReadResult>> {
        self.file.read_ranges(ranges, "read block").await
    }

    /// One aligned read.
    pub async fn read(&self, offset: u64, length: usize) -> Result<ReadResult> {
        self.file.read(offset, length, "read block").await
    }

    /// Gives a removed block's space back to the filesystem.
    pub async fn punch(&self, offset: u64, span_bytes: u64) -> Result<()> {
        self.file.punch(offset, span_bytes).await
    }

    /// Truncates the file to `used_bytes` (its last block's end): a
    /// graceful stop leaves no preallocated space behind.
    pub async fn trim(&self, used_bytes: u64) -> Result<()> {
        self.file.trim(used_bytes).await
    }

    pub async fn allocated_bytes(&self) -> Result<u64> {
        self.file.allocated_bytes().await
    }

    /// A block decode error, with its offsets made file offsets.
    pub fn block_error(&self, block_offset: u64, error: crate::block::BlockError) -> StorageError {
        StorageError::Corrupt {
            path: self.file.path.clone(),
            offset: block_offset,
            detail: error.rebase(block_offset).to_string(),
        }
    }
}
