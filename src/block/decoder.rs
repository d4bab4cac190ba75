//! Reading a version-3 block back: its directory (once, kept in memory) and
//! then only the frames a query needs, each checked before use.
//!
//! Order matters: a frame's crc is verified before any codec sees its bytes
//! (a decompressor fed damaged input is the likeliest place for a
//! surprise), its decompressed size must be the directory's, and the
//! column decoders then check that the bytes are exactly what an encoder
//! writes (`block::column`). The directory is validated by rkyv and by
//! `ArchivedBlockDirectory::check` before anything indexes with it.

use std::rc::Rc;

use rkyv::util::AlignedVec;

use super::directory::{ArchivedBlockDirectory, Frame};
use super::{decompress_into, BlockError, BlockHeader, ChecksumRegion, FrameKind, Result};

/// A block's directory, validated, shared by every reader of the block.
#[derive(Clone)]
pub struct DirectoryRef {
    /// The archive; private and never mutated, which makes `get` sound.
    archive: Rc<AlignedVec>,
}

impl DirectoryRef {
    /// Validates `archive` (whose crc the caller checked) as the directory
    /// of the block `header` describes.
    pub fn new(header: &BlockHeader, archive: AlignedVec) -> Result<DirectoryRef> {
        let directory = rkyv::access::<ArchivedBlockDirectory, rkyv::rancor::Error>(&archive)
            .map_err(|error| BlockError::DirectoryMalformed {
                detail: format!("not a valid directory archive: {error}"),
            })?;
        directory.check(header)?;
        Ok(DirectoryRef {
            archive: Rc::new(archive),
        })
    }

    pub fn get(&self) -> &ArchivedBlockDirectory {
        // SAFETY: `new` validated exactly these bytes as an
        // `ArchivedBlockDirectory`, and they are never mutated since.
        unsafe { rkyv::access_unchecked::<ArchivedBlockDirectory>(&self.archive) }
    }

    /// The archive's bytes (what the manifest stores).
    pub fn bytes(&self) -> &[u8] {
        &self.archive
    }

    /// Bytes of memory the directory occupies.
    pub fn archive_bytes(&self) -> usize {
        self.archive.len()
    }
}

impl std::fmt::Debug for DirectoryRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DirectoryRef({} bytes)", self.archive.len())
    }
}

/// Checks the crc of a directory's stored `bytes` (exactly
/// `header.directory_bytes` of them) and validates it.
pub fn decode_directory(header: &BlockHeader, bytes: &[u8]) -> Result<DirectoryRef> {
    let expected_bytes = header.directory_bytes as usize;
    let Some(bytes) = bytes.get(..expected_bytes) else {
        return Err(BlockError::PayloadTruncated {
            got_bytes: bytes.len(),
            expected_bytes,
        });
    };
    let crc = crc32fast::hash(bytes);
    if crc != header.directory_crc32 {
        return Err(BlockError::ChecksumMismatch {
            region: ChecksumRegion::Directory,
            offset: header.directory_start(),
            got: crc,
            expected: header.directory_crc32,
        });
    }
    let mut archive = AlignedVec::with_capacity(bytes.len());
    archive.extend_from_slice(bytes);
    DirectoryRef::new(header, archive)
}

/// Checks a frame's stored bytes against its crc and returns its raw
/// (decompressed) bytes: `stored` itself when it is not compressed, else
/// `scratch`, resized to the frame's raw length. Errors carry the frame's
/// offset within the block.
pub fn decode_frame<'a>(
    frame: &Frame,
    kind: FrameKind,
    stored: &'a [u8],
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8]> {
    let expected_bytes = frame.stored_bytes as usize;
    let Some(stored) = stored.get(..expected_bytes) else {
        return Err(BlockError::PayloadTruncated {
            got_bytes: stored.len(),
            expected_bytes,
        });
    };
    let crc = crc32fast::hash(stored);
    if crc != frame.crc32 {
        return Err(BlockError::ChecksumMismatch {
            region: ChecksumRegion::Frame(kind),
            offset: frame.offset as u64,
            got: crc,
            expected: frame.crc32,
        });
    }
    if frame.codec == super::Codec::None.id() {
        return Ok(stored);
    }
    // The directory's check bounded `raw_bytes` by FRAME_RAW_BYTES_MAX.
    scratch.clear();
    scratch.resize(frame.raw_bytes as usize, 0);
    decompress_into(frame.codec, stored, scratch).map_err(|error| BlockError::FrameMalformed {
        kind,
        offset: frame.offset as u64,
        detail: error.to_string(),
    })?;
    Ok(scratch)
}
