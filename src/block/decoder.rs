//! Reading a version-3 block back: its directory, once, kept in memory
//! (the frames a query needs are read by `granule::DecodedGranule::install`).
//!
//! The directory's crc is checked first, then rkyv validates the archive
//! and `ArchivedBlockDirectory::check` its invariants, before anything
//! indexes with it. For frames the order is the same: the crc before any
//! codec sees the bytes (a decompressor fed damaged input is the likeliest
//! place for a surprise), the decompressed size must be the directory's,
//! and the column decoders check that the bytes are exactly what an
//! encoder writes (`block::column`).

use std::rc::Rc;

use rkyv::util::AlignedVec;

use super::directory::ArchivedBlockDirectory;
use super::{BlockError, BlockHeader, ChecksumRegion, Result};

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
