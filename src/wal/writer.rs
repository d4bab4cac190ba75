//! Appending to a shard's WAL: framing, segment rotation, O_DIRECT writes,
//! fdatasync, and reclaiming segments whose records are all sealed.
//!
//! The commit loop (`shard/commit.rs`) owns the writer and hands it a whole
//! group of batches at once; the group is framed into one buffer, padded to
//! the page end and written with one `write`, then made durable with one
//! `fdatasync` (group commit). Padding means a page that held acknowledged
//! records is never written again, so a torn write can only hurt records
//! that were never acknowledged.
//!
//! A new segment generation is started at every open, so recovery never has
//! to append after a possibly torn tail. Reclaimed segments are recycled as
//! spares: their blocks are already allocated and written, which makes the
//! fdatasync of a later write a pure data flush (no extent conversion). Old
//! records in a recycled file fail their checksum, which is seeded with the
//! segment generation.
//!
//! A recycled file also keeps one zero page after its tail: its first page
//! is zeroed when it is taken into use, and every write to it carries a zero
//! page after the data (the next write covers it). So replay ends a recycled
//! segment cleanly, as it does a preallocated one, and a corrupt or torn
//! end always means a crash cut a write short or the disk damaged a record,
//! never "stale bytes of the file's last generation": the start-up warning
//! for it is worth reading. Without this, every restart warned about every
//! recycled segment.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use glommio::io::{DmaFile, OpenOptions};

use super::payload::{append_payload, payload_bytes_max, WalBatch};
use super::record::{self, RecordKind, RECORD_HEADER_BYTES, WAL_PAGE_BYTES};
use crate::storage::atomic_file::sync_directory;
use crate::storage::error::{IoContext, Result, StorageError};

/// Recycled segments kept for reuse. Each costs `wal_segment_size` of disk.
pub const WAL_SPARE_SEGMENTS_MAX: usize = 2;

/// A segment that is no longer written but may still hold unsealed records.
pub struct ClosedSegment {
    pub generation: u64,
    pub path: PathBuf,
    /// Highest sequence number per partition in this segment.
    pub max_seq_by_partition: HashMap<u64, u64>,
}

struct OpenSegment {
    generation: u64,
    path: PathBuf,
    file: DmaFile,
    write_offset: u64,
    max_seq_by_partition: HashMap<u64, u64>,
    /// A recycled spare: bytes of an older generation follow the tail
    /// unless a zero page is kept there (see the module docs).
    recycled: bool,
    /// Whether the file is preallocated to the segment size (not when the
    /// disk was full at its creation: then it grows with its writes).
    preallocated: bool,
}

pub struct WalWriter {
    dir: PathBuf,
    segment_bytes: u64,
    /// The segment being written; `None` only inside `open`, before the
    /// closed segments are reclaimed.
    current: Option<OpenSegment>,
    closed: VecDeque<ClosedSegment>,
    spares: Vec<PathBuf>,
    /// Reused framing buffer (one group at a time).
    frame: Vec<u8>,
    /// Set by `remove_covered` at shutdown: the files are gone, so every
    /// later write is refused rather than lost.
    retired: bool,
}

pub fn segment_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{generation:020}.wal"))
}

impl WalWriter {
    /// Opens the WAL for writing after replay: `closed` are the segments
    /// replay found (oldest first), `spares` recycled files, `sealed_seq`
    /// each partition's durable sealed watermark (`None`: deleted).
    ///
    /// Closed segments whose every record is already sealed are reclaimed
    /// first (renamed to spares or deleted), so the new generation reuses
    /// their space instead of allocating more: otherwise every restart
    /// after a crash needed room for one more segment per shard.
    pub async fn open(
        dir: &Path,
        segment_bytes: u64,
        closed: Vec<ClosedSegment>,
        spares: Vec<PathBuf>,
        sealed_seq: impl Fn(u64) -> Option<u64>,
    ) -> Result<WalWriter> {
        assert_eq!(segment_bytes % WAL_PAGE_BYTES as u64, 0);
        let next_generation = closed.last().map_or(1, |segment| segment.generation + 1);
        let mut writer = WalWriter {
            dir: dir.to_path_buf(),
            segment_bytes,
            current: None,
            closed: closed.into(),
            spares,
            frame: Vec::with_capacity(1 << 20),
            retired: false,
        };
        writer.reclaim(sealed_seq).await?;
        let current =
            create_segment(dir, next_generation, segment_bytes, &mut writer.spares).await?;
        writer.current = Some(current);
        Ok(writer)
    }

    /// Whether the segment being written lacks its preallocation (the disk
    /// was full when it was created): writes still work while space lasts.
    pub fn lacks_preallocation(&self) -> bool {
        !self.current().preallocated
    }

    /// Tries again to preallocate the segment being written, if it lacks
    /// it; `Ok(true)` once it has it. A failure for lack of space is rolled
    /// back and answers `Ok(false)`.
    pub async fn retry_preallocation(&mut self) -> Result<bool> {
        let segment_bytes = self.segment_bytes;
        let segment = self.current_mut();
        if segment.preallocated {
            return Ok(true);
        }
        segment.preallocated = preallocate_or_roll_back(
            &segment.file,
            &segment.path,
            segment_bytes,
            segment.write_offset,
        )
        .await?;
        Ok(segment.preallocated)
    }

    /// Bytes of one segment file.
    pub fn segment_bytes(&self) -> u64 {
        self.segment_bytes
    }

    fn current(&self) -> &OpenSegment {
        self.current
            .as_ref()
            .expect("open() sets the current segment")
    }

    fn current_mut(&mut self) -> &mut OpenSegment {
        self.current
            .as_mut()
            .expect("open() sets the current segment")
    }

    /// Writes one record per batch of the group (not yet durable: call
    /// `sync`). Each batch is archived straight into the group's frame: the
    /// columns are copied once on their way to the disk.
    pub async fn append(&mut self, batches: &[WalBatch]) -> Result<()> {
        if self.retired {
            return Err(StorageError::WritesStopped {
                reason: "the WAL was closed by a graceful shutdown".into(),
            });
        }
        self.frame.clear();
        // Checked for the whole group before writing anything, so refusing an
        // oversized batch leaves the WAL untouched.
        if let Some(batch) = batches.iter().find(|b| !self.fits(payload_bytes_max(b))) {
            return Err(StorageError::RecordTooLarge {
                bytes: payload_bytes_max(batch) as u64,
                segment_bytes: self.segment_bytes,
            });
        }
        for wal_batch in batches {
            let needed = worst_case_frame_bytes(payload_bytes_max(wal_batch));
            if self.current().write_offset + self.frame.len() as u64 + needed > self.segment_bytes {
                self.flush_frame().await?;
                self.rotate().await?;
            }
            let base = self.current().write_offset;
            let generation = self.current().generation;
            record::encode_record_with(
                &mut self.frame,
                base,
                generation,
                RecordKind::Batch,
                |out| {
                    append_payload(wal_batch, out);
                },
            );
            let last_seq = wal_batch.first_seq + wal_batch.batch.len() as u64 - 1;
            let max_seq = self
                .current_mut()
                .max_seq_by_partition
                .entry(wal_batch.partition_key)
                .or_insert(0);
            *max_seq = (*max_seq).max(last_seq);
        }
        self.flush_frame().await
    }

    /// Whether a batch payload of this size (at most) fits in one segment.
    pub fn fits(&self, payload_bytes: usize) -> bool {
        worst_case_frame_bytes(payload_bytes) <= self.segment_bytes
    }

    /// Makes everything written so far durable.
    pub async fn sync(&self) -> Result<()> {
        let segment = self.current();
        segment
            .file
            .fdatasync()
            .await
            .ctx("fdatasync wal", &segment.path, segment.write_offset)
    }

    /// Frees closed segments whose every record is sealed. `sealed_seq`
    /// answers a partition's sealed watermark, or `None` if it was deleted.
    pub async fn reclaim(&mut self, sealed_seq: impl Fn(u64) -> Option<u64>) -> Result<usize> {
        let mut reclaimed = 0;
        while let Some(oldest) = self.closed.front() {
            let all_sealed = oldest
                .max_seq_by_partition
                .iter()
                .all(|(partition, max_seq)| {
                    sealed_seq(*partition).is_none_or(|sealed| sealed >= *max_seq)
                });
            if !all_sealed {
                break;
            }
            let segment = self.closed.pop_front().expect("front exists");
            self.recycle(segment).await?;
            reclaimed += 1;
        }
        Ok(reclaimed)
    }

    /// At a graceful stop, once every record is in a published block:
    /// removes every WAL file (closed segments, the current one, spares),
    /// so a stopped node keeps no WAL on disk, and retires the writer (a
    /// later append fails). Does nothing when some record is not covered.
    pub async fn remove_covered(&mut self, sealed_seq: impl Fn(u64) -> Option<u64>) -> Result<()> {
        let covered = |max_seq_by_partition: &HashMap<u64, u64>| {
            max_seq_by_partition.iter().all(|(partition, max_seq)| {
                sealed_seq(*partition).is_none_or(|sealed| sealed >= *max_seq)
            })
        };
        if !covered(&self.current().max_seq_by_partition)
            || !self
                .closed
                .iter()
                .all(|segment| covered(&segment.max_seq_by_partition))
        {
            return Ok(());
        }
        self.retired = true;
        let current_path = self.current().path.clone();
        let paths = self
            .closed
            .drain(..)
            .map(|segment| segment.path)
            .chain(self.spares.drain(..))
            .chain(std::iter::once(current_path));
        for path in paths.collect::<Vec<_>>() {
            glommio::io::remove(&path)
                .await
                .ctx("remove wal", &path, 0)?;
        }
        sync_directory(&self.dir).await
    }

    /// Partitions whose unsealed records keep the oldest closed segment alive.
    pub fn pinning_partitions(&self, sealed_seq: impl Fn(u64) -> Option<u64>) -> Vec<u64> {
        let Some(oldest) = self.closed.front() else {
            return Vec::new();
        };
        oldest
            .max_seq_by_partition
            .iter()
            .filter(|(partition, max_seq)| {
                sealed_seq(**partition).is_some_and(|sealed| sealed < **max_seq)
            })
            .map(|(partition, _)| *partition)
            .collect()
    }

    /// Bytes of WAL files on disk: every segment and spare is preallocated
    /// to the segment size (counted against `storage.max_storage_size`).
    pub fn disk_bytes(&self) -> u64 {
        (self.closed.len() + 1 + self.spares.len()) as u64 * self.segment_bytes
    }

    /// Segments on disk, including the one being written.
    pub fn segment_count(&self) -> usize {
        self.closed.len() + 1
    }

    async fn flush_frame(&mut self) -> Result<()> {
        if self.frame.is_empty() {
            return Ok(());
        }
        let segment = self
            .current
            .as_mut()
            .expect("open() sets the current segment");
        record::pad_to_page(&mut self.frame, segment.write_offset, segment.generation);
        let offset = segment.write_offset;
        let frame_end = offset + self.frame.len() as u64;
        let zero_tail_bytes = if segment.recycled {
            (self.segment_bytes - frame_end).min(WAL_PAGE_BYTES as u64) as usize
        } else {
            0
        };
        let write_bytes = self.frame.len() + zero_tail_bytes;
        let mut buffer = segment.file.alloc_dma_buffer(write_bytes);
        let bytes = buffer.as_bytes_mut();
        bytes[..self.frame.len()].copy_from_slice(&self.frame);
        bytes[self.frame.len()..].fill(0);
        let written =
            segment
                .file
                .write_at(buffer, offset)
                .await
                .ctx("write wal", &segment.path, offset)?;
        if written != write_bytes {
            return Err(StorageError::short_write(
                "write wal",
                &segment.path,
                offset,
                written,
                write_bytes,
            ));
        }
        // The zero page is not part of the data: the next write starts on it.
        segment.write_offset = frame_end;
        self.frame.clear();
        Ok(())
    }

    /// Closes the current segment (durably: only the newest segment is
    /// fdatasync'ed by `sync`) and starts the next generation.
    async fn rotate(&mut self) -> Result<()> {
        self.sync().await?;
        let next = create_segment(
            &self.dir,
            self.current().generation + 1,
            self.segment_bytes,
            &mut self.spares,
        )
        .await?;
        let old = std::mem::replace(self.current_mut(), next);
        old.file
            .close()
            .await
            .ctx("close wal", &old.path, old.write_offset)?;
        self.closed.push_back(ClosedSegment {
            generation: old.generation,
            path: old.path,
            max_seq_by_partition: old.max_seq_by_partition,
        });
        Ok(())
    }

    async fn recycle(&mut self, segment: ClosedSegment) -> Result<()> {
        if self.spares.len() < WAL_SPARE_SEGMENTS_MAX {
            let spare = self.dir.join(format!("spare-{}.wal", segment.generation));
            glommio::io::rename(&segment.path, &spare).await.ctx(
                "recycle wal",
                &segment.path,
                0,
            )?;
            self.spares.push(spare);
        } else {
            glommio::io::remove(&segment.path)
                .await
                .ctx("remove wal", &segment.path, 0)?;
        }
        Ok(())
    }
}

/// The most bytes one record can add to a frame: a page-tail skip, its
/// header and payload, and the final padding record.
fn worst_case_frame_bytes(payload_bytes: usize) -> u64 {
    (RECORD_HEADER_BYTES + payload_bytes + RECORD_HEADER_BYTES + WAL_PAGE_BYTES) as u64
}

async fn create_segment(
    dir: &Path,
    generation: u64,
    segment_bytes: u64,
    spares: &mut Vec<PathBuf>,
) -> Result<OpenSegment> {
    let path = segment_path(dir, generation);
    let recycled = match spares.pop() {
        Some(spare) => {
            glommio::io::rename(&spare, &path)
                .await
                .ctx("reuse wal spare", &spare, 0)?;
            true
        }
        None => false,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .dma_open(&path)
        .await
        .ctx("create wal", &path, 0)?;
    // A no-op for a recycled spare of the same size; grows one of a smaller size.
    let preallocated = preallocate_or_roll_back(&file, &path, segment_bytes, 0).await?;
    if recycled {
        // Until the first write, the old generation's records start at
        // offset 0; zeros there make a crash before that write end cleanly.
        // Made durable by the first group's fdatasync (or, if it never
        // comes, the old records fail their checksum as before).
        let mut zeros = file.alloc_dma_buffer(WAL_PAGE_BYTES);
        zeros.as_bytes_mut().fill(0);
        file.write_at(zeros, 0)
            .await
            .ctx("zero recycled wal", &path, 0)?;
    }
    sync_directory(dir).await?;
    Ok(OpenSegment {
        generation,
        path,
        file,
        write_offset: 0,
        max_seq_by_partition: HashMap::new(),
        recycled,
        preallocated,
    })
}

/// Preallocates `file` to `segment_bytes`; `Ok(false)` when the disk has
/// no room. Then whatever the failed `fallocate` did allocate is given back
/// (ext4 keeps it, and grows the file: a shard's failed start used to leave
/// the disk at 0 bytes free) by truncating to `used_bytes`, and the segment
/// is written without preallocation while space lasts (a write that finds
/// none answers 507).
async fn preallocate_or_roll_back(
    file: &DmaFile,
    path: &Path,
    segment_bytes: u64,
    used_bytes: u64,
) -> Result<bool> {
    let size_before = file.file_size().await.ctx("stat wal", path, 0)?;
    let error = match file.pre_allocate(segment_bytes, false).await {
        Ok(()) => return Ok(true),
        Err(error) => std::io::Error::from(error),
    };
    if !crate::storage::error::io_is_disk_full(&error) {
        return Err(StorageError::io("preallocate wal", path, 0, error));
    }
    let keep = size_before.max(used_bytes);
    file.truncate(keep)
        .await
        .ctx("truncate a failed preallocation of", path, keep)?;
    tracing::warn!(path = %path.display(), segment_bytes, "out of disk space: the WAL segment could not be preallocated (rolled back); writes use it without preallocation and answer 507 while the disk stays full");
    Ok(false)
}
