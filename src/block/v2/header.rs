//! The 64-byte block header: what a reader needs before touching the payload.
//!
//! Fixed width and fixed field offsets (no varints), so a reader can decode
//! it from the first bytes of one DMA read and knows how many more bytes the
//! block occupies. Magic and version come first and are checked before the
//! header crc: a future version may move the crc or grow the header, and an
//! old reader must then say "unsupported version", not "corrupt". Reserved
//! bytes are written as zeros and rejected when non-zero, so a new field
//! always comes with a version bump and is never silently misread.
//!
//! Layout (all little-endian; `docs/FORMAT.md` has the table):
//! `0 magic "TBLK" | 4 version u16 | 6 codec_id u8 | 7 level_mask u8 |
//! 8 entry_count u32 | 12 payload_bytes_compressed u32 |
//! 16 payload_bytes_uncompressed u32 | 20 payload_crc32 u32 |
//! 24 min_timestamp_ns i64 | 32 max_timestamp_ns i64 | 40 first_seq u64 |
//! 48 reserved [12] | 60 header_crc32 u32 over bytes 0..60`.
//!
//! Version 2 added `level_mask` in what version 1 reserved (and wrote as
//! zero); version-1 blocks still decode, with a mask of 0, "not recorded".

use super::{
    block_bytes_on_disk, BlockError, ChecksumRegion, Codec, Result, BLOCK_COMPRESSED_BYTES_MAX,
    BLOCK_HEADER_BYTES, BLOCK_UNCOMPRESSED_BYTES_MAX,
};

/// The first four bytes of every block.
pub const BLOCK_MAGIC: [u8; 4] = *b"TBLK";

/// The header layout this build writes. It also reads version 1, which had
/// no level mask.
pub const BLOCK_FORMAT_VERSION: u16 = 2;

/// The first version; its byte 7 is reserved (zero).
const BLOCK_FORMAT_VERSION_1: u16 = 1;

/// Offset of the header crc32; it covers every byte before it.
const HEADER_CRC_OFFSET: usize = BLOCK_HEADER_BYTES - 4;

/// First byte after the last field: bytes from here to the crc are reserved.
const FIELDS_END_OFFSET: usize = 48;

const _: () = assert!(FIELDS_END_OFFSET <= HEADER_CRC_OFFSET);

/// Describes one block. Fields are in host form; `encode`/`decode` own the
/// byte layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    /// `Codec::id` of the codec that compressed the payload.
    pub codec_id: u8,
    /// Entries in the block; at least 1.
    pub entry_count: u32,
    /// Smallest and largest entry timestamp, ns since the Unix epoch. Entries
    /// are not in time order, so both are computed over the whole batch.
    pub min_timestamp_ns: i64,
    pub max_timestamp_ns: i64,
    /// Sequence number (within the slice) of the block's first entry; entry
    /// `i` has `first_seq + i`.
    pub first_seq: u64,
    /// Length of the compressed payload that follows the header.
    pub payload_bytes_compressed: u32,
    /// Length of the rkyv archive after decompression.
    pub payload_bytes_uncompressed: u32,
    /// crc32 of the compressed payload bytes.
    pub payload_crc32: u32,
    /// Bit `1 << level` (`Level::as_byte`) for every level an entry of the
    /// block has; bit 0 for entries without a level. A query for levels the
    /// mask lacks skips the block unread. 0 means "not recorded" (a
    /// version-1 block) and never skips.
    pub level_mask: u8,
}

impl BlockHeader {
    pub fn encode(&self) -> [u8; BLOCK_HEADER_BYTES] {
        let mut bytes = [0u8; BLOCK_HEADER_BYTES];
        bytes[0..4].copy_from_slice(&BLOCK_MAGIC);
        bytes[4..6].copy_from_slice(&BLOCK_FORMAT_VERSION.to_le_bytes());
        bytes[6] = self.codec_id;
        bytes[7] = self.level_mask;
        bytes[8..12].copy_from_slice(&self.entry_count.to_le_bytes());
        bytes[12..16].copy_from_slice(&self.payload_bytes_compressed.to_le_bytes());
        bytes[16..20].copy_from_slice(&self.payload_bytes_uncompressed.to_le_bytes());
        bytes[20..24].copy_from_slice(&self.payload_crc32.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.min_timestamp_ns.to_le_bytes());
        bytes[32..40].copy_from_slice(&self.max_timestamp_ns.to_le_bytes());
        bytes[40..48].copy_from_slice(&self.first_seq.to_le_bytes());
        let crc = crc32fast::hash(&bytes[..HEADER_CRC_OFFSET]);
        bytes[HEADER_CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Decodes the header at the start of `bytes` (which may run on into the
    /// payload). Checks, in order: length, magic, version, header crc, then
    /// plausibility of the fields.
    pub fn decode(bytes: &[u8]) -> Result<BlockHeader> {
        let Some(bytes) = bytes.first_chunk::<BLOCK_HEADER_BYTES>() else {
            return Err(BlockError::HeaderTruncated {
                got_bytes: bytes.len(),
            });
        };
        let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
        if magic != BLOCK_MAGIC {
            return Err(BlockError::BadMagic { got: magic });
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != BLOCK_FORMAT_VERSION && version != BLOCK_FORMAT_VERSION_1 {
            return Err(BlockError::UnsupportedVersion { got: version });
        }
        let crc_stored = read_u32(bytes, HEADER_CRC_OFFSET);
        let crc_computed = crc32fast::hash(&bytes[..HEADER_CRC_OFFSET]);
        if crc_computed != crc_stored {
            return Err(BlockError::ChecksumMismatch {
                region: ChecksumRegion::Header,
                offset: 0,
                got: crc_computed,
                expected: crc_stored,
            });
        }
        let level_mask = bytes[7];
        let mask_wrong = match version {
            BLOCK_FORMAT_VERSION_1 => level_mask != 0,
            // At least one entry, so at least one bit; seven levels.
            _ => level_mask == 0 || level_mask & 0x80 != 0,
        };
        if mask_wrong {
            return Err(implausible(format!(
                "level mask {level_mask:#04x} is not valid for version {version}"
            )));
        }
        if bytes[FIELDS_END_OFFSET..HEADER_CRC_OFFSET]
            .iter()
            .any(|b| *b != 0)
        {
            return Err(implausible("reserved bytes are not zero".to_string()));
        }
        let header = BlockHeader {
            codec_id: bytes[6],
            entry_count: read_u32(bytes, 8),
            payload_bytes_compressed: read_u32(bytes, 12),
            payload_bytes_uncompressed: read_u32(bytes, 16),
            payload_crc32: read_u32(bytes, 20),
            min_timestamp_ns: read_i64(bytes, 24),
            max_timestamp_ns: read_i64(bytes, 32),
            first_seq: read_u64(bytes, 40),
            level_mask,
        };
        header.check_plausible()?;
        Ok(header)
    }

    /// The O(1) checks every header must pass, whether it was just decoded or
    /// came from an index. They bound what a reader will allocate.
    pub fn check_plausible(&self) -> Result<()> {
        if Codec::from_id(self.codec_id).is_none() {
            return Err(BlockError::UnknownCodec { id: self.codec_id });
        }
        if self.entry_count == 0 {
            return Err(implausible("entry count is 0".to_string()));
        }
        if self.min_timestamp_ns > self.max_timestamp_ns {
            let (min, max) = (self.min_timestamp_ns, self.max_timestamp_ns);
            return Err(implausible(format!(
                "min timestamp {min} > max timestamp {max}"
            )));
        }
        let uncompressed_bytes = self.payload_bytes_uncompressed as usize;
        if uncompressed_bytes == 0 || uncompressed_bytes > BLOCK_UNCOMPRESSED_BYTES_MAX {
            return Err(implausible(format!(
                "uncompressed size {uncompressed_bytes} is outside \
                 1..={BLOCK_UNCOMPRESSED_BYTES_MAX}"
            )));
        }
        let compressed_bytes = self.payload_bytes_compressed as usize;
        if compressed_bytes == 0 || compressed_bytes > BLOCK_COMPRESSED_BYTES_MAX {
            return Err(implausible(format!(
                "compressed size {compressed_bytes} is outside 1..={BLOCK_COMPRESSED_BYTES_MAX}"
            )));
        }
        if self.codec_id == Codec::None.id() && compressed_bytes != uncompressed_bytes {
            return Err(implausible(format!(
                "uncompressed block has {compressed_bytes} stored bytes but {uncompressed_bytes} \
                 archive bytes"
            )));
        }
        Ok(())
    }

    /// Bytes the whole block occupies in its segment file, padding included:
    /// where the next block starts.
    pub fn block_bytes_on_disk(&self) -> u64 {
        block_bytes_on_disk(self.payload_bytes_compressed as usize) as u64
    }

    /// Sequence number of the block's last entry.
    pub fn last_seq(&self) -> u64 {
        self.first_seq + u64::from(self.entry_count.saturating_sub(1))
    }
}

fn implausible(detail: String) -> BlockError {
    BlockError::HeaderImplausible { detail }
}

fn read_u32(bytes: &[u8; BLOCK_HEADER_BYTES], offset: usize) -> u32 {
    let mut field = [0u8; 4];
    field.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(field)
}

fn read_u64(bytes: &[u8; BLOCK_HEADER_BYTES], offset: usize) -> u64 {
    let mut field = [0u8; 8];
    field.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(field)
}

fn read_i64(bytes: &[u8; BLOCK_HEADER_BYTES], offset: usize) -> i64 {
    read_u64(bytes, offset) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BlockHeader {
        BlockHeader {
            codec_id: Codec::Zstd { level: 3 }.id(),
            entry_count: 1000,
            min_timestamp_ns: -5,
            max_timestamp_ns: 1_700_000_000_000_000_000,
            first_seq: 42,
            payload_bytes_compressed: 1234,
            payload_bytes_uncompressed: 9999,
            payload_crc32: 0xdead_beef,
            level_mask: 0b0010_1000,
        }
    }

    /// Re-seals a modified header with a valid crc.
    fn with_crc(mut bytes: [u8; BLOCK_HEADER_BYTES]) -> [u8; BLOCK_HEADER_BYTES] {
        let crc = crc32fast::hash(&bytes[..HEADER_CRC_OFFSET]);
        bytes[HEADER_CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    #[test]
    fn version_1_headers_decode_without_a_level_mask() {
        let mut bytes = sample().encode();
        bytes[4..6].copy_from_slice(&1u16.to_le_bytes());
        bytes[7] = 0;
        let header = BlockHeader::decode(&with_crc(bytes)).unwrap();
        assert_eq!(
            header,
            BlockHeader {
                level_mask: 0,
                ..sample()
            }
        );
        // Version 1 reserved byte 7; version 2 needs a non-empty mask.
        bytes[7] = 1;
        assert!(BlockHeader::decode(&with_crc(bytes)).is_err());
        let mut v2 = sample().encode();
        v2[7] = 0;
        assert!(BlockHeader::decode(&with_crc(v2)).is_err());
        v2[7] = 0x80;
        assert!(BlockHeader::decode(&with_crc(v2)).is_err());
    }

    #[test]
    fn round_trip_and_layout() {
        let header = sample();
        let bytes = header.encode();
        assert_eq!(&bytes[..4], b"TBLK");
        assert_eq!(&bytes[4..6], &[2, 0]);
        assert_eq!(bytes[6], 2);
        assert_eq!(bytes[7], 0b0010_1000);
        assert_eq!(&bytes[8..12], &1000u32.to_le_bytes());
        assert_eq!(&bytes[40..48], &42u64.to_le_bytes());
        assert!(bytes[48..60].iter().all(|b| *b == 0));
        assert_eq!(BlockHeader::decode(&bytes).unwrap(), header);
        assert_eq!(header.block_bytes_on_disk(), 4096);
        assert_eq!(header.last_seq(), 1041);
    }

    #[test]
    fn every_byte_flip_is_detected() {
        let bytes = sample().encode();
        for index in 0..BLOCK_HEADER_BYTES {
            let mut flipped = bytes;
            flipped[index] ^= 0x01;
            let error = BlockHeader::decode(&flipped).unwrap_err();
            match index {
                0..=3 => assert!(matches!(error, BlockError::BadMagic { .. })),
                4..=5 => assert!(matches!(error, BlockError::UnsupportedVersion { .. })),
                _ => assert!(
                    matches!(
                        error,
                        BlockError::ChecksumMismatch {
                            region: ChecksumRegion::Header,
                            offset: 0,
                            ..
                        }
                    ),
                    "byte {index}: {error}"
                ),
            }
        }
    }

    #[test]
    fn short_input_is_truncated() {
        let bytes = sample().encode();
        let error = BlockHeader::decode(&bytes[..63]).unwrap_err();
        assert!(matches!(
            error,
            BlockError::HeaderTruncated { got_bytes: 63 }
        ));
    }

    #[test]
    fn implausible_fields_with_a_valid_crc_are_rejected() {
        let cases: [fn(&mut BlockHeader); 6] = [
            |h| h.min_timestamp_ns = h.max_timestamp_ns + 1,
            |h| h.entry_count = 0,
            |h| h.payload_bytes_uncompressed = BLOCK_UNCOMPRESSED_BYTES_MAX as u32 + 1,
            |h| h.payload_bytes_compressed = 0,
            |h| h.codec_id = Codec::None.id(),
            |h| h.codec_id = 200,
        ];
        for (index, mutate) in cases.iter().enumerate() {
            let mut header = sample();
            mutate(&mut header);
            let error = BlockHeader::decode(&header.encode()).unwrap_err();
            assert!(
                matches!(
                    error,
                    BlockError::HeaderImplausible { .. } | BlockError::UnknownCodec { id: 200 }
                ),
                "case {index}: {error}"
            );
        }
    }

    #[test]
    fn non_zero_reserved_bytes_are_rejected() {
        let mut bytes = sample().encode();
        bytes[50] = 1;
        let crc = crc32fast::hash(&bytes[..HEADER_CRC_OFFSET]);
        bytes[HEADER_CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
        let error = BlockHeader::decode(&bytes).unwrap_err();
        assert!(matches!(error, BlockError::HeaderImplausible { .. }));
    }
}
