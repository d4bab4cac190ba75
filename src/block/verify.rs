//! Verifying a whole block against what the manifest says about it: every
//! byte a checksum covers, every frame decoded. Scrub (offline and online)
//! runs this; queries and compaction check only the frames they read.
//!
//! It is built from the readers queries use (`BlockHeader::decode`,
//! `decode_directory`, `DecodedGranule::install`, `GranuleFilter::parse`),
//! so a block that passes here is a block every reader accepts, and there
//! is no second decoder to drift from the first.

use super::directory::Frame;
use super::granule::{ColumnSet, DecodedGranule};
use super::{
    decode_directory, BlockError, BlockHeader, ChecksumRegion, DirectoryRef, FrameKind, Result,
};
use crate::index::GranuleFilter;

/// Checks a filter frame's stored bytes: crc, then the filter's own checks.
/// Offsets in errors are block-relative.
pub fn check_filter_frame(frame: &Frame, stored: &[u8]) -> Result<()> {
    let crc = crc32fast::hash(stored);
    if crc != frame.crc32 {
        return Err(BlockError::ChecksumMismatch {
            region: ChecksumRegion::Frame(FrameKind::Filter),
            offset: frame.offset as u64,
            got: crc,
            expected: frame.crc32,
        });
    }
    GranuleFilter::parse(frame.encoding, stored)
        .map(|_| ())
        .map_err(|detail| BlockError::FrameMalformed {
            kind: FrameKind::Filter,
            offset: frame.offset as u64,
            detail,
        })
}

/// Verifies `bytes`, the block read from its segment starting at its
/// first byte (at least `64 + body_bytes` of them), against `header` and
/// `directory`, the manifest's copies (already validated): the header on
/// disk decodes and equals the manifest's; the directory on disk passes
/// its crc and validation and equals the manifest's; every column frame of
/// every granule passes its crc, decompresses and decodes, and its
/// timestamps lie in the granule's range; every filter frame passes its crc
/// and parses. The first failure is returned, offsets block-relative.
pub fn verify_block(header: &BlockHeader, directory: &DirectoryRef, bytes: &[u8]) -> Result<()> {
    verify_envelope(header, directory, bytes)?;
    let mut granule = DecodedGranule::new(directory.clone(), 0);
    for index in 0..directory.get().granules.len() {
        verify_granule(directory, index, bytes, &mut granule)?;
    }
    verify_filters(directory, bytes)
}

/// The header and directory on disk (the first step of `verify_block`).
pub fn verify_envelope(header: &BlockHeader, directory: &DirectoryRef, bytes: &[u8]) -> Result<()> {
    let on_disk = BlockHeader::decode(bytes)?;
    if on_disk != *header {
        return Err(BlockError::HeaderImplausible {
            detail: format!(
                "the header on disk ({on_disk:?}) is not the one the manifest published ({header:?})"
            ),
        });
    }
    let directory_start = header.directory_start() as usize;
    let stored_directory = decode_directory(header, bytes.get(directory_start..).unwrap_or(&[]))?;
    if stored_directory.bytes() != directory.bytes() {
        return Err(BlockError::DirectoryMalformed {
            detail: "the directory on disk is not the one the manifest published".into(),
        });
    }
    Ok(())
}

/// Every column frame of granule `index`, decoded into `granule` (a
/// buffer reused across calls). One step of `verify_block`, small enough
/// for a shard to run between two polls of its reactor.
pub fn verify_granule(
    directory: &DirectoryRef,
    index: usize,
    bytes: &[u8],
    granule: &mut DecodedGranule,
) -> Result<()> {
    granule.reset(directory.clone(), index);
    for (column, frame, _) in granule.missing(&ColumnSet::all()) {
        granule.install(column, frame_bytes(&frame, bytes)?)?;
    }
    check_timestamps(granule, index)
}

/// Every filter frame (the last step of `verify_block`).
pub fn verify_filters(directory: &DirectoryRef, bytes: &[u8]) -> Result<()> {
    for frame in directory.get().filters.iter() {
        let frame = frame.native();
        check_filter_frame(&frame, frame_bytes(&frame, bytes)?)?;
    }
    Ok(())
}

fn frame_bytes<'a>(frame: &Frame, bytes: &'a [u8]) -> Result<&'a [u8]> {
    let start = frame.offset as usize;
    let end = start + frame.stored_bytes as usize;
    bytes.get(start..end).ok_or(BlockError::PayloadTruncated {
        got_bytes: bytes.len(),
        expected_bytes: end,
    })
}

/// Every decoded timestamp lies in its granule's range (which `check` put
/// inside the header's).
fn check_timestamps(granule: &DecodedGranule, index: usize) -> Result<()> {
    let facts = &granule.directory().get().granules[index];
    let (min, max) = (
        facts.min_timestamp_ns.to_native(),
        facts.max_timestamp_ns.to_native(),
    );
    let outside = granule
        .timestamps()
        .iter()
        .find(|timestamp| !(min..=max).contains(*timestamp));
    match outside {
        Some(timestamp) => Err(BlockError::DirectoryMalformed {
            detail: format!(
                "granule {index} holds timestamp {timestamp}, outside its range {min}..={max}"
            ),
        }),
        None => Ok(()),
    }
}
