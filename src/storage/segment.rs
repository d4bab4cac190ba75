//! Segment files: a slice's sealed blocks, appended one after another, each
//! starting on a 4096-byte boundary, written and read with O_DIRECT.
//!
//! A segment never changes below its committed length: a block is written
//! past the end, fdatasync'ed, and only then published by the manifest.
//! Space is preallocated in `SEGMENT_PREALLOCATE_BYTES` steps (see
//! `append_file`).

use std::path::Path;
use std::rc::Rc;

use super::append_file::AppendFile;
use super::error::{Result, StorageError};
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
    file: AppendFile,
}

impl SegmentFile {
    pub async fn open(dir: &Path, file_name: &str, create: bool) -> Result<Rc<SegmentFile>> {
        let file = AppendFile::open(
            dir,
            file_name,
            create,
            SEGMENT_PREALLOCATE_BYTES,
            "open segment",
        )
        .await?;
        Ok(Rc::new(SegmentFile {
            file_name: file_name.to_string(),
            file,
        }))
    }

    /// Writes one encoded block (a multiple of 4096 bytes) at `offset` and
    /// makes it durable.
    pub async fn append_block(&self, offset: u64, encoded: &[u8]) -> Result<()> {
        self.file.append(offset, encoded, "write block").await
    }

    /// Reads and verifies the block at `offset`. `expected` is the header the
    /// caller already holds; a different header on disk is corruption.
    pub async fn read_block(&self, offset: u64, expected: &BlockHeader) -> Result<DecodedBlock> {
        let length = block_span_bytes(expected);
        let read = self
            .file
            .read(offset, length as usize, "read block")
            .await?;
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
                .read(offset, BLOCK_ALIGN_BYTES, "read block header")
                .await?;
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
            path: self.file.path.clone(),
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
