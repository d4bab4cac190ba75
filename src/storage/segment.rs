//! Segment files: a slice's sealed blocks, appended one after another, each
//! starting on a 4096-byte boundary, written and read with O_DIRECT.
//!
//! A segment never changes below its committed length: a block is written
//! past the end, fdatasync'ed, and only then published by the manifest.
//! Space is preallocated in `SEGMENT_PREALLOCATE_BYTES` steps so most
//! fdatasyncs do not also have to commit a file-size change.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::{DmaFile, OpenOptions};

use super::error::{IoContext, Result, StorageError};
use crate::block::{self, BlockHeader, DecodedBlock, BLOCK_ALIGN_BYTES, BLOCK_HEADER_BYTES};

/// A segment is closed and a new one started past this size. 1 GiB keeps the
/// file count low while retention can still drop old data in 1 GiB steps.
pub const SEGMENT_BYTES_MAX: u64 = 1 << 30;
/// Growth step of a segment's preallocation.
pub const SEGMENT_PREALLOCATE_BYTES: u64 = 64 << 20;
const _: () = assert!(SEGMENT_BYTES_MAX % SEGMENT_PREALLOCATE_BYTES == 0);
const _: () = assert!(SEGMENT_PREALLOCATE_BYTES % BLOCK_ALIGN_BYTES as u64 == 0);

pub struct SegmentFile {
    pub file_name: String,
    pub path: PathBuf,
    file: DmaFile,
    /// Bytes preallocated so far; a write past it grows the preallocation first.
    preallocated_bytes: std::cell::Cell<u64>,
}

impl SegmentFile {
    pub async fn open(dir: &Path, file_name: &str, create: bool) -> Result<Rc<SegmentFile>> {
        let path = dir.join(file_name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .dma_open(&path)
            .await
            .ctx("open segment", &path, 0)?;
        let size = file.file_size().await.ctx("stat segment", &path, 0)?;
        Ok(Rc::new(SegmentFile {
            file_name: file_name.to_string(),
            path,
            file,
            preallocated_bytes: std::cell::Cell::new(size),
        }))
    }

    /// Writes one encoded block (a multiple of 4096 bytes) at `offset` and
    /// makes it durable.
    pub async fn append_block(&self, offset: u64, encoded: &[u8]) -> Result<()> {
        write_aligned_durably(
            AlignedAppend {
                file: &self.file,
                path: &self.path,
                preallocated_bytes: &self.preallocated_bytes,
                preallocate_step: SEGMENT_PREALLOCATE_BYTES,
                what: "write block",
            },
            offset,
            encoded,
        )
        .await
    }

    /// Reads and verifies the block at `offset`. `expected` is the header the
    /// caller already holds; a different header on disk is corruption.
    pub async fn read_block(&self, offset: u64, expected: &BlockHeader) -> Result<DecodedBlock> {
        let length = block_span_bytes(expected);
        let read = self
            .file
            .read_at_aligned(offset, length as usize)
            .await
            .ctx("read block", &self.path, offset)?;
        if read.len() < length as usize {
            return Err(self.corrupt(
                offset,
                format!("block is truncated: {} of {length} bytes", read.len()),
            ));
        }
        let header = block::decode_header(&read[..BLOCK_HEADER_BYTES])
            .map_err(|error| self.block_error(offset, error))?;
        if &header != expected {
            return Err(self.corrupt(
                offset,
                "block header differs from the one indexed at start-up".into(),
            ));
        }
        let payload_end = BLOCK_HEADER_BYTES + header.payload_bytes_compressed as usize;
        block::decode_block(&header, &read[BLOCK_HEADER_BYTES..payload_end])
            .map_err(|error| self.block_error(offset, error))
    }

    /// Walks the block headers from 0 to `committed_bytes` (start-up).
    pub async fn scan_headers(&self, committed_bytes: u64) -> Result<Vec<(u64, BlockHeader)>> {
        let mut blocks = Vec::new();
        let mut offset = 0;
        while offset < committed_bytes {
            let read = self
                .file
                .read_at_aligned(offset, BLOCK_ALIGN_BYTES)
                .await
                .ctx("read block header", &self.path, offset)?;
            if read.len() < BLOCK_HEADER_BYTES {
                return Err(self.corrupt(offset, "segment ends inside a block header".into()));
            }
            let header = block::decode_header(&read[..BLOCK_HEADER_BYTES])
                .map_err(|error| self.block_error(offset, error))?;
            let span = block_span_bytes(&header);
            if offset + span > committed_bytes {
                return Err(self.corrupt(offset, "block extends past the committed length".into()));
            }
            blocks.push((offset, header));
            offset += span;
        }
        Ok(blocks)
    }

    /// A block decode error, with its offsets made file offsets.
    fn block_error(&self, offset: u64, error: block::BlockError) -> StorageError {
        self.corrupt(offset, error.rebase(offset).to_string())
    }

    fn corrupt(&self, offset: u64, detail: String) -> StorageError {
        StorageError::Corrupt {
            path: self.path.clone(),
            offset,
            detail,
        }
    }
}

/// Bytes a block occupies in its segment: header + payload, padded.
pub fn block_span_bytes(header: &BlockHeader) -> u64 {
    let unpadded = (BLOCK_HEADER_BYTES + header.payload_bytes_compressed as usize) as u64;
    unpadded.div_ceil(BLOCK_ALIGN_BYTES as u64) * BLOCK_ALIGN_BYTES as u64
}

/// An append-only O_DIRECT file that grows its preallocation in steps, so
/// most fdatasyncs do not also commit a file-size change.
pub(crate) struct AlignedAppend<'a> {
    pub file: &'a DmaFile,
    pub path: &'a Path,
    pub preallocated_bytes: &'a std::cell::Cell<u64>,
    pub preallocate_step: u64,
    pub what: &'static str,
}

/// Writes `bytes` (a multiple of 4096, at a 4096-aligned `offset`) and
/// fdatasyncs. Segment files and index files append this way.
pub(crate) async fn write_aligned_durably(
    target: AlignedAppend<'_>,
    offset: u64,
    bytes: &[u8],
) -> Result<()> {
    let align = BLOCK_ALIGN_BYTES as u64;
    assert_eq!(offset % align, 0, "appends start on a 4096-byte boundary");
    assert_eq!(bytes.len() as u64 % align, 0, "appends are padded");
    let end = offset + bytes.len() as u64;
    if end > target.preallocated_bytes.get() {
        let step = target.preallocate_step;
        let wanted = end.div_ceil(step) * step;
        // Preallocation is an optimisation: with less than a step of space
        // left, write what fits instead of failing early.
        match target.file.pre_allocate(wanted, false).await {
            Ok(()) => target.preallocated_bytes.set(wanted),
            Err(error) => {
                let error = std::io::Error::from(error);
                if !super::error::io_is_disk_full(&error) {
                    return Err(StorageError::io("preallocate", target.path, offset, error));
                }
            }
        }
    }
    let mut buffer = target.file.alloc_dma_buffer(bytes.len());
    buffer.as_bytes_mut().copy_from_slice(bytes);
    let written =
        target
            .file
            .write_at(buffer, offset)
            .await
            .ctx(target.what, target.path, offset)?;
    if written != bytes.len() {
        return Err(StorageError::short_write(
            target.what,
            target.path,
            offset,
            written,
            bytes.len(),
        ));
    }
    target
        .file
        .fdatasync()
        .await
        .ctx("fdatasync", target.path, offset)
}
