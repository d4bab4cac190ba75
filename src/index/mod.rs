//! index/: "which blocks can hold a match, without reading them?"
//!
//! Each sealed block gets a `BlockSummary` (time range, levels, sources,
//! tag values, a Bloom filter of message words), archived with rkyv into
//! its segment's index file (`storage::index_file`) and used in place.
//! `SummaryRef` is a handle to one archived summary in memory; queries test
//! it through `query::prune`.

pub mod build;
pub mod filter;
pub mod summary;

use std::rc::Rc;

use rkyv::util::AlignedVec;

pub use build::SummaryScratch;
pub use summary::{ArchivedBlockSummary, BlockSummary, LevelCounts};

/// One block's archived summary, inside a buffer shared with the other
/// summaries read from the same index file (or alone, for a block sealed
/// since start-up).
#[derive(Clone)]
pub struct SummaryRef {
    bytes: Rc<AlignedVec>,
    start: usize,
    len: usize,
}

impl SummaryRef {
    /// Validates the archive at `bytes[start..start + len]` (rkyv's
    /// bytecheck: every offset and length in bounds, every string UTF-8).
    /// `start` must be a multiple of 16 (the archive's alignment).
    pub fn new(bytes: Rc<AlignedVec>, start: usize, len: usize) -> Result<SummaryRef, String> {
        if start % 16 != 0 {
            return Err(format!("summary archive at {start} is not 16-byte aligned"));
        }
        let archive = bytes
            .get(start..start + len)
            .ok_or_else(|| format!("summary archive at {start}+{len} is past the end"))?;
        rkyv::access::<ArchivedBlockSummary, rkyv::rancor::Error>(archive)
            .map_err(|error| format!("summary archive is invalid: {error}"))?;
        Ok(SummaryRef { bytes, start, len })
    }

    /// A summary sealed on this run, from its own archive buffer.
    pub fn from_archive(archive: AlignedVec) -> Result<SummaryRef, String> {
        let len = archive.len();
        SummaryRef::new(Rc::new(archive), 0, len)
    }

    pub fn get(&self) -> &ArchivedBlockSummary {
        let archive = &self.bytes[self.start..self.start + self.len];
        // SAFETY: `new` validated exactly these bytes as an
        // `ArchivedBlockSummary`, and the shared buffer is never mutated.
        unsafe { rkyv::access_unchecked::<ArchivedBlockSummary>(archive) }
    }

    /// Bytes of memory this summary's archive occupies.
    pub fn archive_bytes(&self) -> usize {
        self.len
    }
}
