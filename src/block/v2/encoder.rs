//! Sealing: turns a slice's active `ColumnBatch` into the bytes of one block.
//!
//! The batch is archived with rkyv once, compressed, checksummed, and written
//! as `[header][payload][zero padding]` so the caller can hand the result to
//! one O_DIRECT write. Scratch buffers are reused across calls so sealing
//! allocates nothing once warm. A batch that breaks the block invariants is a
//! bug upstream, so it is asserted, not returned as an error.

use rkyv::util::AlignedVec;

use super::decoder::timestamp_range;
use super::{
    block_bytes_on_disk, compress, BlockError, BlockHeader, Codec, Result, BLOCK_ALIGN_BYTES,
    BLOCK_COMPRESSED_BYTES_MAX, BLOCK_HEADER_BYTES, BLOCK_UNCOMPRESSED_BYTES_MAX,
};
use crate::entry::ColumnBatch;

/// Buffers `encode_block` reuses. Memory cost: the largest archive encoded so
/// far, at most `BLOCK_UNCOMPRESSED_BYTES_MAX`.
#[derive(Default)]
pub struct EncodeScratch {
    /// The rkyv archive of the batch being sealed (16-byte aligned).
    archive: AlignedVec,
}

impl EncodeScratch {
    pub fn new() -> EncodeScratch {
        EncodeScratch::default()
    }
}

/// Appends one block holding `batch` to `out` and returns its header.
///
/// `out` must end on a `BLOCK_ALIGN_BYTES` boundary (blocks are laid out
/// back to back in an aligned buffer) and ends on one again afterwards. The
/// block's entries are numbered from `first_seq`. On error `out` is left as
/// it was.
///
/// Panics if `batch` is empty or `out` is not aligned; in debug builds also
/// if `batch` breaks its invariants.
pub fn encode_block(
    batch: &ColumnBatch,
    first_seq: u64,
    codec: Codec,
    scratch: &mut EncodeScratch,
    out: &mut Vec<u8>,
) -> Result<BlockHeader> {
    assert!(!batch.is_empty(), "a block holds at least one entry");
    assert!(
        out.len() % BLOCK_ALIGN_BYTES == 0,
        "a block starts on a {BLOCK_ALIGN_BYTES}-byte boundary, out has {} bytes",
        out.len()
    );
    debug_assert_eq!(batch.check_invariants(), Ok(()));

    serialize_batch(batch, &mut scratch.archive)?;
    let uncompressed_bytes = scratch.archive.len();
    if uncompressed_bytes > BLOCK_UNCOMPRESSED_BYTES_MAX {
        return Err(BlockError::BlockTooLarge {
            body_bytes: uncompressed_bytes,
        });
    }
    // An entry takes at least its 8-byte timestamp in the archive.
    let entry_count =
        u32::try_from(batch.len()).expect("BLOCK_UNCOMPRESSED_BYTES_MAX bounds the entry count");
    let (min_timestamp_ns, max_timestamp_ns) =
        timestamp_range(batch.timestamps_ns.iter().copied()).expect("batch is not empty");

    let block_start = out.len();
    let payload_start = block_start + BLOCK_HEADER_BYTES;
    out.resize(payload_start, 0);
    let written = compress(codec, &scratch.archive, out).and_then(|()| {
        let compressed_bytes = out.len() - payload_start;
        if compressed_bytes > BLOCK_COMPRESSED_BYTES_MAX {
            return Err(BlockError::BlockTooLarge {
                body_bytes: compressed_bytes,
            });
        }
        Ok(compressed_bytes)
    });
    let compressed_bytes = match written {
        Ok(compressed_bytes) => compressed_bytes,
        Err(error) => {
            out.truncate(block_start);
            return Err(error);
        }
    };

    let header = BlockHeader {
        codec_id: codec.id(),
        entry_count,
        min_timestamp_ns,
        max_timestamp_ns,
        first_seq,
        payload_bytes_compressed: compressed_bytes as u32,
        payload_bytes_uncompressed: uncompressed_bytes as u32,
        payload_crc32: crc32fast::hash(&out[payload_start..]),
        level_mask: batch
            .levels
            .iter()
            .fold(0u8, |mask, level| mask | 1 << (level & 7)),
    };
    // The same checks a reader applies, before the block ever reaches disk.
    assert!(
        header.check_plausible().is_ok(),
        "encoded an implausible header {header:?}"
    );
    out[block_start..payload_start].copy_from_slice(&header.encode());
    out.resize(block_start + block_bytes_on_disk(compressed_bytes), 0);
    Ok(header)
}

/// Replaces `archive` with the rkyv archive of `batch`, reusing its memory.
fn serialize_batch(batch: &ColumnBatch, archive: &mut AlignedVec) -> Result<()> {
    archive.clear();
    let buffer = std::mem::take(archive);
    *archive = rkyv::api::high::to_bytes_in::<_, rkyv::rancor::Error>(batch, buffer)
        .map_err(|source| BlockError::Serialize { source })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::decode_header;
    use super::*;
    use crate::entry::{EntryRef, Level};

    fn batch_of(timestamps_ns: &[i64]) -> ColumnBatch {
        let mut batch = ColumnBatch::default();
        for (index, timestamp_ns) in timestamps_ns.iter().enumerate() {
            let message = format!("request {index} done");
            let entry = EntryRef {
                timestamp_ns: *timestamp_ns,
                level: Level::Info,
                source: "api",
                message: &message,
                fields_json: "",
            };
            batch.push(&entry, &[("host", "web-1")]);
        }
        batch
    }

    #[test]
    fn blocks_are_aligned_padded_with_zeros_and_appended() {
        let mut scratch = EncodeScratch::new();
        let mut out = Vec::new();
        let first = encode_block(
            &batch_of(&[30, 10, 20]),
            7,
            Codec::Lz4,
            &mut scratch,
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), BLOCK_ALIGN_BYTES);
        assert_eq!((first.min_timestamp_ns, first.max_timestamp_ns), (10, 30));
        assert_eq!((first.entry_count, first.first_seq), (3, 7));
        let payload_end = BLOCK_HEADER_BYTES + first.payload_bytes_compressed as usize;
        assert!(out[payload_end..].iter().all(|byte| *byte == 0));
        assert_eq!(decode_header(&out).unwrap(), first);

        let second =
            encode_block(&batch_of(&[5]), 10, Codec::None, &mut scratch, &mut out).unwrap();
        assert_eq!(
            out.len() as u64,
            first.block_bytes_on_disk() + second.block_bytes_on_disk()
        );
        assert_eq!(decode_header(&out[BLOCK_ALIGN_BYTES..]).unwrap(), second);
    }

    #[test]
    fn a_bad_level_leaves_out_unchanged() {
        let mut out = vec![1u8; BLOCK_ALIGN_BYTES];
        let codec = Codec::Zstd { level: 1000 };
        let result = encode_block(
            &batch_of(&[1]),
            0,
            codec,
            &mut EncodeScratch::new(),
            &mut out,
        );
        assert!(matches!(result, Err(BlockError::InvalidLevel { .. })));
        assert_eq!(out, vec![1u8; BLOCK_ALIGN_BYTES]);
    }

    #[test]
    #[should_panic(expected = "at least one entry")]
    fn an_empty_batch_is_a_bug() {
        let empty = ColumnBatch::default();
        let _ = encode_block(
            &empty,
            0,
            Codec::None,
            &mut EncodeScratch::new(),
            &mut Vec::new(),
        );
    }

    #[test]
    #[should_panic(expected = "boundary")]
    fn an_unaligned_out_is_a_bug() {
        let mut out = vec![0u8; 10];
        let _ = encode_block(
            &batch_of(&[1]),
            0,
            Codec::None,
            &mut EncodeScratch::new(),
            &mut out,
        );
    }
}
