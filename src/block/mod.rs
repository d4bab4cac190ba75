//! Blocks: one sealed, compressed `ColumnBatch` of one slice, as it lies in a
//! segment file.
//!
//! On disk a block is `[header: 64 bytes][compressed payload][zero padding]`,
//! starting on a `BLOCK_ALIGN_BYTES` boundary and padded to the next one, so
//! it is written with one O_DIRECT write and read with one or two DMA reads
//! (the header first, when the reader does not already know the size from an
//! index). The payload is the rkyv archive of the batch, compressed with the
//! codec the header names; after decompression the archive is used in place
//! without deserialising. `docs/FORMAT.md` draws the header byte by byte.
//!
//! Invariants, checked when a block is written and again when it is read:
//! the header has its own crc32 and the payload has another, the header's
//! entry count and timestamp range match the batch, the batch is non-empty,
//! passes rkyv validation and `check_invariants`, and its archive is at most
//! `BLOCK_UNCOMPRESSED_BYTES_MAX` bytes.
//!
//! Everything here is a plain function over bytes (no I/O, no glommio) so
//! tests, benches and fuzzers drive it directly. Errors say what is wrong
//! with the block; the caller adds the file path and the block's file offset
//! (`BlockError::rebase` turns block-relative offsets into file offsets).

mod codec;
mod decoder;
mod encoder;
mod header;

pub use codec::{compress, decompress, Codec, GZIP_LEVEL_DEFAULT, ZSTD_LEVEL_DEFAULT};
pub use decoder::{decode_block, decode_block_bytes, decode_block_in, decode_header, DecodedBlock};
pub use encoder::{encode_block, EncodeScratch};
pub use header::{BlockHeader, BLOCK_FORMAT_VERSION, BLOCK_MAGIC};

/// Blocks start and end on this boundary (the O_DIRECT page).
pub const BLOCK_ALIGN_BYTES: usize = 4096;

/// Width of the fixed block header.
pub const BLOCK_HEADER_BYTES: usize = 64;

/// Largest rkyv archive one block may hold. Memory cost: a reader holds the
/// decompressed archive of each block it scans, so a query scanning N blocks
/// at once needs up to N x 256 MiB; the sealing rule keeps real blocks far
/// smaller (a few MiB). A header claiming more is corruption.
pub const BLOCK_UNCOMPRESSED_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Largest compressed payload: every codec's worst-case expansion of an
/// incompressible archive (snappy's, 32 + n + n/6, is the largest) fits.
pub const BLOCK_COMPRESSED_BYTES_MAX: usize =
    BLOCK_UNCOMPRESSED_BYTES_MAX + BLOCK_UNCOMPRESSED_BYTES_MAX / 4;

/// The smallest O_DIRECT alignment the block alignment must respect.
const SECTOR_BYTES: usize = 512;

const _: () = assert!(BLOCK_HEADER_BYTES <= BLOCK_ALIGN_BYTES);
const _: () = assert!(BLOCK_ALIGN_BYTES % SECTOR_BYTES == 0);
const _: () = assert!(BLOCK_ALIGN_BYTES.is_power_of_two());
const _: () = assert!(BLOCK_HEADER_BYTES % 8 == 0);
const _: () = assert!(BLOCK_COMPRESSED_BYTES_MAX <= u32::MAX as usize);
// rkyv's default relative pointers are 32-bit signed: an archive must stay
// under 2 GiB to be addressable at all.
const _: () = assert!(BLOCK_UNCOMPRESSED_BYTES_MAX < i32::MAX as usize);

/// Bytes a block with `payload_bytes_compressed` occupies in its segment
/// file: header, payload and padding up to the next `BLOCK_ALIGN_BYTES`.
pub fn block_bytes_on_disk(payload_bytes_compressed: usize) -> usize {
    (BLOCK_HEADER_BYTES + payload_bytes_compressed).next_multiple_of(BLOCK_ALIGN_BYTES)
}

/// Which checksummed region of a block failed its check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumRegion {
    /// The header's first 60 bytes (its crc is in the last 4).
    Header,
    /// The compressed payload after the header.
    Payload,
}

impl std::fmt::Display for ChecksumRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChecksumRegion::Header => "block header",
            ChecksumRegion::Payload => "block payload",
        })
    }
}

/// Everything that can go wrong encoding or decoding a block. Each failure
/// has its own variant so a log line (and a test) names it precisely.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    #[error("block header needs {BLOCK_HEADER_BYTES} bytes, got {got_bytes}")]
    HeaderTruncated { got_bytes: usize },
    #[error("block magic is {got:02x?}, expected \"TBLK\"")]
    BadMagic { got: [u8; 4] },
    #[error(
        "block format version {got} is not supported (this build reads {BLOCK_FORMAT_VERSION})"
    )]
    UnsupportedVersion { got: u16 },
    /// Corruption. `offset` is where the checksummed region starts, relative
    /// to the block's first byte until `rebase` makes it a file offset;
    /// `expected` is the stored crc32, `got` the one computed over the bytes.
    #[error(
        "{region} checksum mismatch at offset {offset}: \
         computed {got:#010x}, stored {expected:#010x}"
    )]
    ChecksumMismatch {
        region: ChecksumRegion,
        offset: u64,
        got: u32,
        expected: u32,
    },
    /// The header's checksum holds but a field is impossible (a writer bug).
    #[error("block header is implausible: {detail}")]
    HeaderImplausible { detail: String },
    #[error("codec id {id} is not known to this build")]
    UnknownCodec { id: u8 },
    #[error("{codec} level {level} is out of range")]
    InvalidLevel { codec: &'static str, level: i64 },
    #[error("block payload is truncated: got {got_bytes} of {expected_bytes} bytes")]
    PayloadTruncated {
        got_bytes: usize,
        expected_bytes: usize,
    },
    #[error("{codec} compression failed: {detail}")]
    Compress { codec: &'static str, detail: String },
    #[error("{codec} payload does not decompress: {detail}")]
    Decompress { codec: &'static str, detail: String },
    #[error("payload decompressed to {got_bytes} bytes, header says {expected_bytes}")]
    UncompressedSizeMismatch {
        got_bytes: usize,
        expected_bytes: usize,
    },
    #[error("payload decompresses to more than the {expected_bytes} bytes the header says")]
    UncompressedTooLarge { expected_bytes: usize },
    #[error("block payload is not a valid batch archive: {source}")]
    ArchiveInvalid {
        #[source]
        source: rkyv::rancor::Error,
    },
    #[error("block batch is malformed: {reason}")]
    BatchMalformed { reason: &'static str },
    #[error("block holds {archive_entry_count} entries, header says {header_entry_count}")]
    EntryCountMismatch {
        header_entry_count: u32,
        archive_entry_count: usize,
    },
    #[error(
        "block timestamps span {archive_min_ns}..={archive_max_ns} ns, \
         header says {header_min_ns}..={header_max_ns} ns"
    )]
    TimestampRangeMismatch {
        header_min_ns: i64,
        header_max_ns: i64,
        archive_min_ns: i64,
        archive_max_ns: i64,
    },
    #[error(
        "batch archive of {uncompressed_bytes} bytes exceeds \
         the block maximum {BLOCK_UNCOMPRESSED_BYTES_MAX}"
    )]
    BatchTooLarge { uncompressed_bytes: usize },
    #[error(
        "compressed payload of {compressed_bytes} bytes exceeds \
         the block maximum {BLOCK_COMPRESSED_BYTES_MAX}"
    )]
    CompressedTooLarge { compressed_bytes: usize },
    #[error("batch could not be serialised: {source}")]
    Serialize {
        #[source]
        source: rkyv::rancor::Error,
    },
}

impl BlockError {
    /// Makes the block-relative offset a variant carries (today only
    /// `ChecksumMismatch`) a file offset, given where the block starts.
    pub fn rebase(self, block_file_offset: u64) -> BlockError {
        match self {
            BlockError::ChecksumMismatch {
                region,
                offset,
                got,
                expected,
            } => BlockError::ChecksumMismatch {
                region,
                offset: block_file_offset + offset,
                got,
                expected,
            },
            other => other,
        }
    }

    /// Whether this error means the stored bytes are damaged or not a block
    /// this build can read (as opposed to a failure while encoding).
    pub fn is_corruption(&self) -> bool {
        !matches!(
            self,
            BlockError::InvalidLevel { .. }
                | BlockError::Compress { .. }
                | BlockError::BatchTooLarge { .. }
                | BlockError::CompressedTooLarge { .. }
                | BlockError::Serialize { .. }
        )
    }
}

pub type Result<T> = std::result::Result<T, BlockError>;
