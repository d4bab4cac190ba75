//! The 64-byte header of a version-3 block: what a reader needs before it
//! touches anything else, and enough to say whose entries the block holds.
//!
//! Fixed width and fixed field offsets, so one aligned read of the block's
//! first page yields it. Magic and version come first and are checked before
//! the crc: an old reader meeting a newer layout says "unsupported version",
//! not "corrupt". The header names its partition and sequence range so a
//! segment file shared by every partition of a shard can be walked and
//! understood without the manifest (scrub, repair).
//!
//! Layout (all little-endian; `docs/FORMAT.md` has the table):
//! `0 magic "TBLK" | 4 version u16 = 3 | 6 reserved u16 (0) |
//! 8 partition_key u64 | 16 first_seq u64 | 24 entry_count u32 |
//! 28 granule_count u32 | 32 min_timestamp_ns i64 | 40 max_timestamp_ns i64 |
//! 48 body_bytes u32 | 52 directory_bytes u32 | 56 directory_crc32 u32 |
//! 60 header_crc32 u32 over bytes 0..60`.
//!
//! The body (frames, filters, directory) follows the header; the directory
//! is its last `directory_bytes` bytes.

use super::{
    BlockError, ChecksumRegion, Result, BLOCK_ALIGN_BYTES, BLOCK_BODY_BYTES_MAX,
    BLOCK_HEADER_BYTES, GRANULES_PER_BLOCK_MAX,
};

/// The first four bytes of every block, of every version.
pub const BLOCK_MAGIC: [u8; 4] = *b"TBLK";

/// The layout this build writes and reads. Blocks of versions 1 and 2 (one
/// rkyv archive per block) are read only to convert them (`block::v2`).
pub const BLOCK_FORMAT_VERSION: u16 = 3;

/// Offset of the header crc32; it covers every byte before it.
const HEADER_CRC_OFFSET: usize = BLOCK_HEADER_BYTES - 4;

/// Describes one block. Fields are in host form; `encode`/`decode` own the
/// byte layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    /// The catalog key of the partition whose entries the block holds.
    pub partition_key: u64,
    /// Sequence number (within the partition's slice) of the first entry;
    /// entry `i` has `first_seq + i`.
    pub first_seq: u64,
    /// Entries in the block; at least 1.
    pub entry_count: u32,
    /// Granules the entries are split into; at least 1.
    pub granule_count: u32,
    /// Smallest and largest entry timestamp, ns since the Unix epoch.
    pub min_timestamp_ns: i64,
    pub max_timestamp_ns: i64,
    /// Bytes after the header: frames, filters, padding and the directory.
    pub body_bytes: u32,
    /// Length of the directory archive, the last bytes of the body.
    pub directory_bytes: u32,
    /// crc32 of the directory archive.
    pub directory_crc32: u32,
}

impl BlockHeader {
    pub fn encode(&self) -> [u8; BLOCK_HEADER_BYTES] {
        let mut bytes = [0u8; BLOCK_HEADER_BYTES];
        bytes[0..4].copy_from_slice(&BLOCK_MAGIC);
        bytes[4..6].copy_from_slice(&BLOCK_FORMAT_VERSION.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.partition_key.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.first_seq.to_le_bytes());
        bytes[24..28].copy_from_slice(&self.entry_count.to_le_bytes());
        bytes[28..32].copy_from_slice(&self.granule_count.to_le_bytes());
        bytes[32..40].copy_from_slice(&self.min_timestamp_ns.to_le_bytes());
        bytes[40..48].copy_from_slice(&self.max_timestamp_ns.to_le_bytes());
        bytes[48..52].copy_from_slice(&self.body_bytes.to_le_bytes());
        bytes[52..56].copy_from_slice(&self.directory_bytes.to_le_bytes());
        bytes[56..60].copy_from_slice(&self.directory_crc32.to_le_bytes());
        let crc = crc32fast::hash(&bytes[..HEADER_CRC_OFFSET]);
        bytes[HEADER_CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Decodes the header at the start of `bytes` (which may run on into the
    /// body). Checks, in order: length, magic, version, crc, then that the
    /// fields are plausible.
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
        if version != BLOCK_FORMAT_VERSION {
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
        if bytes[6..8] != [0, 0] {
            return Err(implausible("reserved bytes are not zero".to_string()));
        }
        let header = BlockHeader {
            partition_key: read_u64(bytes, 8),
            first_seq: read_u64(bytes, 16),
            entry_count: read_u32(bytes, 24),
            granule_count: read_u32(bytes, 28),
            min_timestamp_ns: read_u64(bytes, 32) as i64,
            max_timestamp_ns: read_u64(bytes, 40) as i64,
            body_bytes: read_u32(bytes, 48),
            directory_bytes: read_u32(bytes, 52),
            directory_crc32: read_u32(bytes, 56),
        };
        header.check_plausible()?;
        Ok(header)
    }

    /// The O(1) checks every header passes, whether just decoded or copied
    /// from the manifest. They bound what a reader will read and allocate.
    pub fn check_plausible(&self) -> Result<()> {
        if self.entry_count == 0 {
            return Err(implausible("entry count is 0".to_string()));
        }
        if self.granule_count == 0
            || self.granule_count > self.entry_count
            || self.granule_count as usize > GRANULES_PER_BLOCK_MAX
        {
            return Err(implausible(format!(
                "{} granules for {} entries (at most {GRANULES_PER_BLOCK_MAX})",
                self.granule_count, self.entry_count
            )));
        }
        if self.min_timestamp_ns > self.max_timestamp_ns {
            let (min, max) = (self.min_timestamp_ns, self.max_timestamp_ns);
            return Err(implausible(format!(
                "min timestamp {min} > max timestamp {max}"
            )));
        }
        let body_bytes = self.body_bytes as usize;
        if body_bytes > BLOCK_BODY_BYTES_MAX || self.directory_bytes == 0 {
            return Err(implausible(format!(
                "body of {body_bytes} bytes (at most {BLOCK_BODY_BYTES_MAX}) with a directory of {} bytes",
                self.directory_bytes
            )));
        }
        if self.directory_bytes > self.body_bytes
            || self.directory_start() % super::DIRECTORY_ALIGN_BYTES as u64 != 0
        {
            return Err(implausible(format!(
                "directory of {} bytes does not end an aligned body of {body_bytes} bytes",
                self.directory_bytes
            )));
        }
        Ok(())
    }

    /// Bytes the whole block occupies in its segment file, padding included:
    /// where the next block may start.
    pub fn span_bytes(&self) -> u64 {
        (BLOCK_HEADER_BYTES as u64 + self.body_bytes as u64)
            .next_multiple_of(BLOCK_ALIGN_BYTES as u64)
    }

    /// Offset of the directory archive from the block's first byte.
    pub fn directory_start(&self) -> u64 {
        BLOCK_HEADER_BYTES as u64 + self.body_bytes as u64 - self.directory_bytes as u64
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
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"))
}

fn read_u64(bytes: &[u8; BLOCK_HEADER_BYTES], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> BlockHeader {
        BlockHeader {
            partition_key: 7,
            first_seq: 1001,
            entry_count: 10_000,
            granule_count: 3,
            min_timestamp_ns: -5,
            max_timestamp_ns: 1_800_000_000_000_000_000,
            body_bytes: 40_944,
            directory_bytes: 1_200,
            directory_crc32: 0xdead_beef,
        }
    }

    #[test]
    fn round_trips_and_spans_whole_pages() {
        let header = sample();
        let bytes = header.encode();
        assert_eq!(BlockHeader::decode(&bytes).unwrap(), header);
        assert_eq!(header.span_bytes(), 40_960 + 4096);
        assert_eq!(header.last_seq(), 11_000);
        assert_eq!(header.directory_start(), 64 + 40_944 - 1_200);
    }

    #[test]
    fn every_flipped_byte_is_caught() {
        let bytes = sample().encode();
        for index in 0..BLOCK_HEADER_BYTES {
            let mut damaged = bytes;
            damaged[index] ^= 0x40;
            let error = BlockHeader::decode(&damaged).unwrap_err();
            let expected = match index {
                0..=3 => matches!(error, BlockError::BadMagic { .. }),
                4 | 5 => matches!(error, BlockError::UnsupportedVersion { .. }),
                _ => matches!(
                    error,
                    BlockError::ChecksumMismatch {
                        region: ChecksumRegion::Header,
                        ..
                    }
                ),
            };
            assert!(expected, "byte {index}: {error}");
        }
    }

    #[test]
    fn truncated_and_implausible_headers_are_refused() {
        let bytes = sample().encode();
        assert!(matches!(
            BlockHeader::decode(&bytes[..63]),
            Err(BlockError::HeaderTruncated { got_bytes: 63 })
        ));
        for broken in [
            BlockHeader {
                entry_count: 0,
                ..sample()
            },
            BlockHeader {
                granule_count: 0,
                ..sample()
            },
            BlockHeader {
                min_timestamp_ns: 10,
                max_timestamp_ns: 9,
                ..sample()
            },
            BlockHeader {
                directory_bytes: 50_000,
                ..sample()
            },
            BlockHeader {
                body_bytes: 40_945,
                ..sample()
            },
        ] {
            let error = BlockHeader::decode(&broken.encode()).unwrap_err();
            assert!(
                matches!(error, BlockError::HeaderImplausible { .. }),
                "{error}"
            );
        }
    }

    #[test]
    fn other_versions_are_unsupported_not_corrupt() {
        let mut bytes = sample().encode();
        bytes[4..6].copy_from_slice(&2u16.to_le_bytes());
        assert!(matches!(
            BlockHeader::decode(&bytes),
            Err(BlockError::UnsupportedVersion { got: 2 })
        ));
    }
}
