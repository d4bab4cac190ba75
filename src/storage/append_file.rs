//! `AppendFile`: an O_DIRECT file written only by appending runs of whole
//! 4096-byte pages, each made durable before the call returns. Segment
//! files and the manifest log are both this, with their formats on top.
//!
//! Space is preallocated ahead of the writes, so most fdatasyncs do not
//! also commit a file-size change (measured here: 0.3 ms against 2.7 ms
//! when the file grows). The preallocation follows the write rate: it
//! starts at `step_min` and doubles, up to `step_max`, while the file keeps
//! growing within `GROWTH_QUICK` of the last growth, and falls back to
//! `step_min` after a quiet spell. A slow or idle file therefore holds at
//! most one small step of unused space, a busy one a step of about
//! `GROWTH_QUICK` worth of writes; `trim` gives the unused tail back (a
//! graceful stop). The file size says nothing about how much is used; the
//! format on top knows.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use glommio::io::{DmaFile, MergedBufferLimit, OpenOptions, ReadAmplificationLimit, ReadResult};

use super::error::{io_is_disk_full, IoContext, Result, StorageError};
use crate::block::BLOCK_ALIGN_BYTES;

/// `preallocation` with its largest step capped for the filesystem under
/// `dir` (`storage::disk_space`): a 64 MiB step on a 96 MiB disk would take
/// most of it for one file.
fn sized_to_disk(dir: &Path, preallocation: Preallocation) -> Preallocation {
    let Ok(space) = super::disk_space::filesystem_space(dir) else {
        return preallocation;
    };
    let step_max = super::disk_space::preallocation_step_max_for(
        preallocation.step_min,
        preallocation.step_max,
        space.total_bytes,
    );
    let align = BLOCK_ALIGN_BYTES as u64;
    Preallocation {
        step_min: preallocation.step_min,
        step_max: step_max / align * align,
    }
}

/// A growth within this long of the previous one doubles the step.
const GROWTH_QUICK: Duration = Duration::from_secs(10);

/// Largest read `read_ranges` merges neighbouring ranges into.
const MERGED_READ_BYTES_MAX: usize = 1 << 20;
/// Bytes between two ranges `read_ranges` reads through rather than issue
/// two reads (one NVMe read of 64 KiB costs about as much as one of 4 KiB).
const READ_GAP_BYTES_MAX: usize = 64 << 10;

/// How a file's preallocation grows.
#[derive(Clone, Copy, Debug)]
pub struct Preallocation {
    pub step_min: u64,
    pub step_max: u64,
}

pub struct AppendFile {
    pub path: PathBuf,
    file: Rc<DmaFile>,
    /// Bytes preallocated so far; a write past it grows the preallocation first.
    preallocated_bytes: Cell<u64>,
    preallocation: Preallocation,
    /// The current growth step, between the preallocation's min and max.
    step: Cell<u64>,
    last_growth: Cell<Option<Instant>>,
}

impl AppendFile {
    /// Opens `dir/file_name` (creating it if `create`). `what` names the
    /// kind of file in errors ("open segment", "open manifest").
    pub async fn open(
        dir: &Path,
        file_name: &str,
        create: bool,
        preallocation: Preallocation,
        what: &'static str,
    ) -> Result<AppendFile> {
        let align = BLOCK_ALIGN_BYTES as u64;
        assert!(preallocation.step_min % align == 0 && preallocation.step_max % align == 0);
        assert!(preallocation.step_min > 0 && preallocation.step_min <= preallocation.step_max);
        let path = dir.join(file_name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .dma_open(&path)
            .await
            .ctx(what, &path, 0)?;
        let size = file.file_size().await.ctx(what, &path, 0)?;
        let preallocation = sized_to_disk(dir, preallocation);
        Ok(AppendFile {
            path,
            file: Rc::new(file),
            preallocated_bytes: Cell::new(size),
            preallocation,
            step: Cell::new(preallocation.step_min),
            last_growth: Cell::new(None),
        })
    }

    /// Writes `bytes` (a multiple of 4096, at a 4096-aligned `offset`) and
    /// fdatasyncs. `what` names the write in errors.
    pub async fn append(&self, offset: u64, bytes: &[u8], what: &'static str) -> Result<()> {
        let align = BLOCK_ALIGN_BYTES as u64;
        assert_eq!(offset % align, 0, "appends start on a 4096-byte boundary");
        assert_eq!(bytes.len() as u64 % align, 0, "appends are padded");
        self.preallocate_through(offset + bytes.len() as u64, offset)
            .await?;
        let mut buffer = self.file.alloc_dma_buffer(bytes.len());
        buffer.as_bytes_mut().copy_from_slice(bytes);
        let written = self
            .file
            .write_at(buffer, offset)
            .await
            .ctx(what, &self.path, offset)?;
        if written != bytes.len() {
            return Err(StorageError::short_write(
                what,
                &self.path,
                offset,
                written,
                bytes.len(),
            ));
        }
        // A write past a failed preallocation grew the file itself: the
        // size a later rollback returns to includes it.
        let end = offset + written as u64;
        if end > self.preallocated_bytes.get() {
            self.preallocated_bytes.set(end);
        }
        self.file
            .fdatasync()
            .await
            .ctx("fdatasync", &self.path, offset)
    }

    /// Grows the preallocation to cover `end`, by the current step. An
    /// optimisation only: with less space left than a step, the write goes
    /// ahead and writes what fits instead of failing early.
    async fn preallocate_through(&self, end: u64, offset: u64) -> Result<()> {
        if end <= self.preallocated_bytes.get() {
            return Ok(());
        }
        let step = self.next_step();
        let wanted = end.div_ceil(step) * step;
        match self.file.pre_allocate(wanted, false).await {
            Ok(()) => self.preallocated_bytes.set(wanted),
            Err(error) => {
                let error = std::io::Error::from(error);
                if !io_is_disk_full(&error) {
                    return Err(StorageError::io("preallocate", &self.path, offset, error));
                }
                self.roll_back_preallocation().await?;
            }
        }
        Ok(())
    }

    /// After a preallocation failed for lack of space: ext4 keeps the
    /// blocks a failed `fallocate` did allocate (and grows the file to
    /// them), which left the disk at 0 bytes free. Truncating back to the
    /// size before the attempt gives them back; every written byte lies
    /// below that size (`append` keeps it past each write).
    async fn roll_back_preallocation(&self) -> Result<()> {
        let size = self.preallocated_bytes.get();
        self.file.truncate(size).await.ctx(
            "truncate a failed preallocation of",
            &self.path,
            size,
        )?;
        tracing::warn!(path = %self.path.display(), size, "out of disk space: a preallocation failed and was rolled back; writing without it");
        Ok(())
    }

    /// The step of this growth: doubled after a recent growth, reset after
    /// a quiet spell.
    fn next_step(&self) -> u64 {
        let now = Instant::now();
        let quick = self
            .last_growth
            .get()
            .is_some_and(|last| now.duration_since(last) < GROWTH_QUICK);
        let step = if quick {
            (self.step.get() * 2).min(self.preallocation.step_max)
        } else {
            self.preallocation.step_min
        };
        self.step.set(step);
        self.last_growth.set(Some(now));
        step
    }

    /// Gives back the space past `used_bytes` (a multiple of 4096): the
    /// file is truncated there. Used at a graceful stop, so a stopped node
    /// holds no preallocated space.
    pub async fn trim(&self, used_bytes: u64) -> Result<()> {
        assert_eq!(used_bytes % BLOCK_ALIGN_BYTES as u64, 0);
        if self.preallocated_bytes.get() <= used_bytes {
            return Ok(());
        }
        self.file
            .truncate(used_bytes)
            .await
            .ctx("truncate", &self.path, used_bytes)?;
        self.preallocated_bytes.set(used_bytes);
        self.file
            .fdatasync()
            .await
            .ctx("fdatasync", &self.path, used_bytes)
    }

    /// Frees the disk space of `[offset, offset + length)` (a hole that
    /// reads as zeros), keeping the file's size: space of removed blocks is
    /// given back at once.
    pub async fn punch(&self, offset: u64, length: u64) -> Result<()> {
        self.file
            .deallocate(offset, length)
            .await
            .ctx("punch hole in", &self.path, offset)
    }

    /// One aligned DMA read of `length` bytes at `offset`.
    pub async fn read(&self, offset: u64, length: usize, what: &'static str) -> Result<ReadResult> {
        self.file
            .read_at_aligned(offset, length)
            .await
            .ctx(what, &self.path, offset)
    }

    /// Reads every `(offset, length)` range, issuing the reads together and
    /// merging near neighbours into one, and returns the bytes in the
    /// order asked. Unaligned ranges are fine.
    pub async fn read_ranges(
        &self,
        ranges: &[(u64, usize)],
        what: &'static str,
    ) -> Result<Vec<ReadResult>> {
        let first = ranges.first().map_or(0, |range| range.0);
        let mut results = self.file.read_many(
            futures_lite::stream::iter(ranges.iter().copied()),
            MergedBufferLimit::Custom(MERGED_READ_BYTES_MAX),
            ReadAmplificationLimit::Custom(READ_GAP_BYTES_MAX),
        );
        let mut out = Vec::with_capacity(ranges.len());
        while let Some(result) = results.next().await {
            let (_, bytes) = result.ctx(what, &self.path, first)?;
            out.push(bytes);
        }
        Ok(out)
    }

    /// How many directory entries name this file (`st_nlink`). More than
    /// one means a snapshot holds a hard link to it and reads its bytes.
    pub fn link_count(&self) -> Result<u64> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&self.path)
            .map(|metadata| metadata.nlink())
            .ctx("stat", &self.path, 0)
    }

    pub async fn size(&self) -> Result<u64> {
        self.file.file_size().await.ctx("stat", &self.path, 0)
    }

    /// Bytes the filesystem has allocated to the file (preallocation and
    /// holes included): what `du` counts.
    pub async fn allocated_bytes(&self) -> Result<u64> {
        let stat = self.file.stat().await.ctx("stat", &self.path, 0)?;
        Ok(stat.allocated_file_size)
    }

    pub async fn fdatasync(&self) -> Result<()> {
        self.file.fdatasync().await.ctx("fdatasync", &self.path, 0)
    }
}
