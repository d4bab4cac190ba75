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

/// Whether a punch or trim gave space back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    Done,
    /// A snapshot shares the file: nothing was released.
    HeldBySnapshot,
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

    /// Gives a removed block's space back to the filesystem, unless a
    /// snapshot shares the file (see `release_allowed`).
    pub async fn punch(&self, offset: u64, span_bytes: u64) -> Result<Release> {
        if !self.release_allowed()? {
            return Ok(Release::HeldBySnapshot);
        }
        self.file.punch(offset, span_bytes).await?;
        Ok(Release::Done)
    }

    /// Truncates the file to `used_bytes` (its last block's end): a
    /// graceful stop leaves no preallocated space behind. Not while a
    /// snapshot shares the file (see `release_allowed`).
    pub async fn trim(&self, used_bytes: u64) -> Result<Release> {
        if !self.release_allowed()? {
            return Ok(Release::HeldBySnapshot);
        }
        self.file.trim(used_bytes).await?;
        Ok(Release::Done)
    }

    /// The one rule of every release of segment space (hole punching,
    /// trimming): a file with more than one link is shared with a snapshot
    /// (`<snapshot>/shard-<n>/seg-NNNNNN.tdb` is the same inode), whose
    /// manifest may name blocks the live manifest no longer does. Punching
    /// or truncating would destroy them, so the space is kept until the
    /// snapshot is deleted; the caller retries later (removed blocks stay
    /// in `ShardStore::removed`) and recovery punches the gaps at the next
    /// start.
    pub fn release_allowed(&self) -> Result<bool> {
        Ok(self.file.link_count()? <= 1)
    }

    /// The file's size (preallocation included).
    pub async fn size(&self) -> Result<u64> {
        self.file.size().await
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
