//! block/: "what are the bytes of a sealed block, and are they intact?"
//!
//! A version-3 block holds the entries of one partition slice, sealed
//! together, as columns split into granules:
//!
//! ```text
//!  [header 64 B][column frames ...][filter frames ...][pad][directory][pad to 4096]
//! ```
//!
//! - the **header** (`header.rs`) names the partition, the sequence range,
//!   the time range and where the directory is, with its own crc;
//! - the entries are split into **granules** of at most `GRANULE_ROWS_MAX`
//!   rows (fewer when their text passes `GRANULE_BYTES_MAX`), the unit a
//!   query reads: each granule has its time range, levels and word filter;
//! - each **column** (timestamps, levels, sources, messages, fields, one per
//!   tag key, extra tags) stores one **frame** per granule, encoded by
//!   `column` (delta timestamps, packed levels, dictionary ids, length-
//!   prefixed strings), compressed by `codec` when that pays, with a crc;
//!   a query reads and decodes only the frames of the columns and granules
//!   it needs;
//! - each granule's **filter** (`index::filter`) says which words and rare
//!   tag values it may hold;
//! - the **directory** (`directory.rs`), an rkyv archive, says where every
//!   frame is and holds the dictionaries and per-granule facts.
//!
//! Everything here is a plain function over bytes (no I/O, no glommio), so
//! tests, benches and fuzzers drive it directly. Errors say what is wrong
//! with the block; the caller adds the file path and the block's offset
//! (`BlockError::rebase` turns block-relative offsets into file offsets).
//! Blocks of versions 1 and 2 are read by `v2`, only to convert them.

mod codec;
pub mod column;
mod decoder;
pub mod directory;
mod encoder;
mod granule;
mod header;
#[cfg(test)]
mod tests;
pub mod v2;
mod verify;

pub use codec::{
    compress, decompress_into, decompress_to_vec, Codec, GZIP_LEVEL_DEFAULT, ZSTD_LEVEL_DEFAULT,
};
pub use decoder::{decode_directory, DirectoryRef};
pub use directory::{
    mask_of, ArchivedBlockDirectory, ArchivedColumn, ArchivedDictionary, BlockDirectory,
    ColumnName, LevelCounts,
};
pub use encoder::{encode_block, EncodeScratch, EncodedBlock};
pub use granule::{wanted_frames, ColumnSet, DecodedGranule, Strings, TagNeed};
pub use header::{BlockHeader, BLOCK_FORMAT_VERSION, BLOCK_MAGIC};
pub use verify::{
    check_filter_frame, verify_block, verify_envelope, verify_filters, verify_granule,
};

/// Blocks start and end on this boundary (the O_DIRECT page).
pub const BLOCK_ALIGN_BYTES: usize = 4096;

/// Width of the fixed block header.
pub const BLOCK_HEADER_BYTES: usize = 64;

/// The directory archive starts on this boundary within the block (rkyv's
/// alignment), so a block read into an aligned buffer can use it in place.
pub const DIRECTORY_ALIGN_BYTES: usize = 16;

/// Most rows a granule the encoder writes holds. Chosen by measurement
/// (docs/BENCHMARKS.md, "Granule size"): smaller granules make a selective
/// query cheaper (a rare word decompresses one granule's messages: at
/// 2048 rows a rare word or a tag and word is found 1.4 to 1.8 times
/// faster than at 4096) but cost more bytes
/// per entry (each frame has its own compression tables, each filter
/// repeats the granule's common words): 2048 costs 0 to 7% more disk than
/// 4096 on the three corpora measured, 1024 costs 5 to 16%.
pub const GRANULE_ROWS_MAX: usize = 2048;

/// Most rows a reader accepts in a granule: larger than what the encoder
/// writes, so its choice can change without a format version, and small
/// enough to bound what one granule's decoded columns take.
pub const GRANULE_ROWS_READ_MAX: usize = 65_536;

/// A granule ends early once its entries' text (source, message, fields,
/// tags) passes this many bytes, so one granule's frames stay small to
/// read even when entries are large. An entry is never split, so a single
/// large entry makes a larger granule.
pub const GRANULE_BYTES_MAX: usize = 1 << 20;

/// Most granules one block may have (a 64 MiB block of tiny entries has a
/// few hundred); bounds the directory a reader accepts.
pub const GRANULES_PER_BLOCK_MAX: usize = 16_384;

/// Largest body (frames, filters and directory) a block may have: the
/// active block is sealed at 64 MiB at most, and every encoding and codec
/// stays well within 4x of its input. A header claiming more is corruption.
pub const BLOCK_BODY_BYTES_MAX: usize = 256 << 20;

/// Largest frame after decompression; also bounds every decompression a
/// reader performs, whatever a damaged header or directory claims.
pub const FRAME_RAW_BYTES_MAX: usize = column::FRAME_BYTES_MAX;

/// The smallest O_DIRECT alignment the block alignment must respect.
const SECTOR_BYTES: usize = 512;

const _: () = assert!(BLOCK_HEADER_BYTES <= BLOCK_ALIGN_BYTES);
const _: () = assert!(BLOCK_ALIGN_BYTES % SECTOR_BYTES == 0);
const _: () = assert!(BLOCK_ALIGN_BYTES.is_power_of_two());
const _: () = assert!(BLOCK_HEADER_BYTES % DIRECTORY_ALIGN_BYTES == 0);
const _: () = assert!(BLOCK_BODY_BYTES_MAX <= u32::MAX as usize);
const _: () = assert!(GRANULE_ROWS_MAX <= column::FRAME_ROWS_MAX);
// rkyv's relative pointers are 32-bit signed: a directory is far smaller.
const _: () = assert!(BLOCK_BODY_BYTES_MAX < i32::MAX as usize);

/// Which part of a block a frame holds, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    Timestamp,
    Level,
    Source,
    Message,
    Fields,
    Tag,
    ExtraTags,
    Filter,
}

impl FrameKind {
    pub fn of(name: &ColumnName) -> FrameKind {
        match name {
            ColumnName::Timestamp => FrameKind::Timestamp,
            ColumnName::Level => FrameKind::Level,
            ColumnName::Source => FrameKind::Source,
            ColumnName::Message => FrameKind::Message,
            ColumnName::Fields => FrameKind::Fields,
            ColumnName::Tag(_) => FrameKind::Tag,
            ColumnName::ExtraTags => FrameKind::ExtraTags,
        }
    }

    pub fn of_archived(name: &directory::ArchivedColumnName) -> FrameKind {
        use directory::ArchivedColumnName as Name;
        match name {
            Name::Timestamp => FrameKind::Timestamp,
            Name::Level => FrameKind::Level,
            Name::Source => FrameKind::Source,
            Name::Message => FrameKind::Message,
            Name::Fields => FrameKind::Fields,
            Name::Tag(_) => FrameKind::Tag,
            Name::ExtraTags => FrameKind::ExtraTags,
        }
    }
}

impl std::fmt::Display for FrameKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FrameKind::Timestamp => "timestamp column frame",
            FrameKind::Level => "level column frame",
            FrameKind::Source => "source column frame",
            FrameKind::Message => "message column frame",
            FrameKind::Fields => "fields column frame",
            FrameKind::Tag => "tag column frame",
            FrameKind::ExtraTags => "extra tags column frame",
            FrameKind::Filter => "word filter frame",
        })
    }
}

/// Which checksummed region of a block failed its check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumRegion {
    /// The header's first 60 bytes (its crc is in the last 4).
    Header,
    /// The directory archive.
    Directory,
    /// One frame.
    Frame(FrameKind),
    /// The compressed payload of a version-1 or -2 block.
    Payload,
}

impl std::fmt::Display for ChecksumRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChecksumRegion::Header => f.write_str("block header"),
            ChecksumRegion::Directory => f.write_str("block directory"),
            ChecksumRegion::Frame(kind) => write!(f, "{kind}"),
            ChecksumRegion::Payload => f.write_str("block payload"),
        }
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
        "block format version {got} is not supported (this build reads {BLOCK_FORMAT_VERSION}, and converts 1 and 2 at start-up)"
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
    /// The directory's checksum holds but it is not a valid directory.
    #[error("block directory is malformed: {detail}")]
    DirectoryMalformed { detail: String },
    /// A frame's checksum holds but its bytes do not decode.
    #[error("{kind} at offset {offset} does not decode: {detail}")]
    FrameMalformed {
        kind: FrameKind,
        offset: u64,
        detail: String,
    },
    #[error("codec id {id} is not known to this build")]
    UnknownCodec { id: u8 },
    #[error("{codec} level {level} is out of range")]
    InvalidLevel { codec: &'static str, level: i64 },
    #[error("block is truncated: got {got_bytes} of {expected_bytes} bytes")]
    PayloadTruncated {
        got_bytes: usize,
        expected_bytes: usize,
    },
    #[error("{codec} compression failed: {detail}")]
    Compress { codec: &'static str, detail: String },
    #[error("{codec} data does not decompress: {detail}")]
    Decompress { codec: &'static str, detail: String },
    #[error("data decompressed to {got_bytes} bytes, expected {expected_bytes}")]
    UncompressedSizeMismatch {
        got_bytes: usize,
        expected_bytes: usize,
    },
    #[error("data decompresses to more than the {expected_bytes} bytes expected")]
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
    #[error("block of {body_bytes} bytes exceeds the maximum {BLOCK_BODY_BYTES_MAX}")]
    BlockTooLarge { body_bytes: usize },
    #[error("batch could not be serialised: {source}")]
    Serialize {
        #[source]
        source: rkyv::rancor::Error,
    },
}

impl BlockError {
    /// Makes the block-relative offset a variant carries a file offset,
    /// given where the block starts.
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
            BlockError::FrameMalformed {
                kind,
                offset,
                detail,
            } => BlockError::FrameMalformed {
                kind,
                offset: block_file_offset + offset,
                detail,
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
                | BlockError::BlockTooLarge { .. }
                | BlockError::Serialize { .. }
        )
    }
}

pub type Result<T> = std::result::Result<T, BlockError>;
