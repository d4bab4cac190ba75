//! Blocks of format versions 1 and 2: one sealed `ColumnBatch` as one
//! compressed rkyv archive, `[header 64 B][payload][padding]`, in per-slice
//! segment files. This build reads them only to convert a data directory
//! to version 3 at start-up (`storage::convert`); it never writes them
//! (the encoder is kept for tests).
//!
//! Header (`header.rs`): `0 magic "TBLK" | 4 version u16 | 6 codec_id u8 |
//! 7 level_mask u8 | 8 entry_count u32 | 12 payload_bytes_compressed u32 |
//! 16 payload_bytes_uncompressed u32 | 20 payload_crc32 u32 |
//! 24 min_timestamp_ns i64 | 32 max_timestamp_ns i64 | 40 first_seq u64 |
//! 48 reserved [12] | 60 header_crc32 u32`. docs/FORMAT.md keeps the
//! table under "Block (versions 1 and 2)".

mod decoder;
#[cfg(test)]
mod encoder;
mod header;

pub use super::{BlockError, ChecksumRegion, Codec, Result, BLOCK_ALIGN_BYTES, BLOCK_HEADER_BYTES};
pub use decoder::{decode_block, decode_header, DecodedBlock};
#[cfg(test)]
pub use encoder::{encode_block, EncodeScratch};
pub use header::BlockHeader;

use super::codec::decompress;
#[cfg(test)]
use super::compress;

/// Largest rkyv archive a version-2 block may hold. A header claiming more
/// is corruption.
pub const BLOCK_UNCOMPRESSED_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Largest compressed payload: every codec's worst-case expansion of an
/// incompressible archive (snappy's, 32 + n + n/6, is the largest) fits.
pub const BLOCK_COMPRESSED_BYTES_MAX: usize =
    BLOCK_UNCOMPRESSED_BYTES_MAX + BLOCK_UNCOMPRESSED_BYTES_MAX / 4;

const _: () = assert!(BLOCK_COMPRESSED_BYTES_MAX <= u32::MAX as usize);

/// Bytes a version-2 block with `payload_bytes_compressed` occupies in its
/// segment file: header, payload and padding up to the next 4096 bytes.
pub fn block_bytes_on_disk(payload_bytes_compressed: usize) -> usize {
    (BLOCK_HEADER_BYTES + payload_bytes_compressed).next_multiple_of(BLOCK_ALIGN_BYTES)
}
