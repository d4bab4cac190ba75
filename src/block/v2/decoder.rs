//! Reading a block back: header, then payload, checked at every step.
//!
//! Order matters: the payload crc is verified before any codec sees the
//! bytes (a decompressor fed damaged input is the likeliest place for a
//! surprise), the decompressed size must equal the header's, then rkyv
//! validates the archive, `check_invariants` proves it is a well-formed
//! batch, and the header's entry count and timestamp range must match it.
//! Only after all that may `DecodedBlock::batch` read the archive unchecked,
//! so a query never indexes out of bounds on bytes from disk.

use rkyv::util::AlignedVec;

use super::{decompress, BlockError, BlockHeader, ChecksumRegion, Result, BLOCK_HEADER_BYTES};
use crate::entry::ArchivedColumnBatch;

/// Decodes and checks the header at the start of `bytes`.
pub fn decode_header(bytes: &[u8]) -> Result<BlockHeader> {
    BlockHeader::decode(bytes)
}

/// A block whose payload passed every check, holding its archive in place.
#[derive(Debug)]
pub struct DecodedBlock {
    pub header: BlockHeader,
    /// The validated rkyv archive of the block's batch. Private and never
    /// mutated after `decode_block_in`, which is what makes `batch` sound.
    archive: AlignedVec,
}

impl DecodedBlock {
    /// The block's entries, read in place.
    pub fn batch(&self) -> &ArchivedColumnBatch {
        // SAFETY: `archive` was validated by `rkyv::access` as an
        // `ArchivedColumnBatch` in `check_archive` before this value was
        // built, and it is private and never mutated since.
        unsafe { rkyv::access_unchecked::<ArchivedColumnBatch>(&self.archive) }
    }

    /// The uncompressed archive bytes (e.g. to hand to a cache).
    pub fn archive_bytes(&self) -> &[u8] {
        &self.archive
    }

    /// Gives the archive buffer back so the next `decode_block_in` can reuse
    /// its memory.
    pub fn into_buffer(self) -> AlignedVec {
        self.archive
    }
}

/// Decodes a block from its header and compressed payload. `payload_compressed`
/// may run on past the payload (e.g. into the padding of an aligned read);
/// only the first `header.payload_bytes_compressed` bytes are used.
pub fn decode_block(header: &BlockHeader, payload_compressed: &[u8]) -> Result<DecodedBlock> {
    decode_block_in(header, payload_compressed, AlignedVec::new())
}

/// `decode_block`, decompressing into `buffer` (from `into_buffer`) instead
/// of a fresh allocation: a scan of many blocks then allocates once.
pub fn decode_block_in(
    header: &BlockHeader,
    payload_compressed: &[u8],
    mut buffer: AlignedVec,
) -> Result<DecodedBlock> {
    // Headers may come from an index rather than `decode_header`; these O(1)
    // checks bound what is allocated below.
    header.check_plausible()?;
    let expected_bytes = header.payload_bytes_compressed as usize;
    let Some(payload) = payload_compressed.get(..expected_bytes) else {
        return Err(BlockError::PayloadTruncated {
            got_bytes: payload_compressed.len(),
            expected_bytes,
        });
    };
    let crc_computed = crc32fast::hash(payload);
    if crc_computed != header.payload_crc32 {
        return Err(BlockError::ChecksumMismatch {
            region: ChecksumRegion::Payload,
            offset: BLOCK_HEADER_BYTES as u64,
            got: crc_computed,
            expected: header.payload_crc32,
        });
    }
    let uncompressed_bytes = header.payload_bytes_uncompressed as usize;
    decompress(header.codec_id, payload, uncompressed_bytes, &mut buffer)?;
    check_archive(header, &buffer)?;
    Ok(DecodedBlock {
        header: *header,
        archive: buffer,
    })
}

/// Validates the archive and checks it against the header.
fn check_archive(header: &BlockHeader, archive: &[u8]) -> Result<()> {
    let batch = rkyv::access::<ArchivedColumnBatch, rkyv::rancor::Error>(archive)
        .map_err(|source| BlockError::ArchiveInvalid { source })?;
    batch
        .check_invariants()
        .map_err(|reason| BlockError::BatchMalformed { reason })?;
    if batch.len() != header.entry_count as usize {
        return Err(BlockError::EntryCountMismatch {
            header_entry_count: header.entry_count,
            archive_entry_count: batch.len(),
        });
    }
    let (archive_min_ns, archive_max_ns) = timestamp_range(
        batch
            .timestamps_ns
            .iter()
            .map(|timestamp_ns| timestamp_ns.to_native()),
    )
    .expect("entry_count >= 1 is checked by check_plausible and equals batch.len()");
    if (archive_min_ns, archive_max_ns) != (header.min_timestamp_ns, header.max_timestamp_ns) {
        return Err(BlockError::TimestampRangeMismatch {
            header_min_ns: header.min_timestamp_ns,
            header_max_ns: header.max_timestamp_ns,
            archive_min_ns,
            archive_max_ns,
        });
    }
    Ok(())
}

/// Smallest and largest timestamp; `None` when there are none. Entries are
/// not in time order, so this looks at every one.
pub(super) fn timestamp_range(timestamps_ns: impl Iterator<Item = i64>) -> Option<(i64, i64)> {
    timestamps_ns.fold(None, |range, timestamp_ns| match range {
        None => Some((timestamp_ns, timestamp_ns)),
        Some((min, max)) => Some((min.min(timestamp_ns), max.max(timestamp_ns))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes the block that starts at `block[0]` (header, then payload).
    fn decode_block_bytes(block: &[u8]) -> Result<DecodedBlock> {
        let header = decode_header(block)?;
        decode_block(&header, &block[BLOCK_HEADER_BYTES..])
    }
    use super::super::{compress, encode_block, Codec, EncodeScratch, BLOCK_ALIGN_BYTES};
    use crate::block::codec::tests::ALL;
    use crate::entry::{ColumnBatch, EntryRef, Level};
    use proptest::prelude::*;

    /// One generated entry: timestamp, level byte, source, message, fields
    /// JSON text, tags.
    type EntrySpec = (i64, u8, String, String, String, Vec<(String, String)>);

    fn entry_strategy() -> impl Strategy<Value = EntrySpec> {
        let text = "\\PC{0,40}"; // any printable unicode, empty included
        let tags = proptest::collection::vec((text, text), 0..24);
        (any::<i64>(), 0u8..7, text, "(\\PC|\n){0,200}", text, tags)
    }

    fn batch_from(specs: &[EntrySpec]) -> ColumnBatch {
        let mut batch = ColumnBatch::default();
        for (timestamp_ns, level, source, message, fields_json, tags) in specs {
            let entry = EntryRef {
                timestamp_ns: *timestamp_ns,
                level: Level::from_byte(*level),
                source,
                message,
                fields_json,
            };
            let tags: Vec<(&str, &str)> =
                tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            batch.push(&entry, &tags);
        }
        batch
    }

    fn sample_batch() -> ColumnBatch {
        let specs: Vec<EntrySpec> = (0..300)
            .map(|i| {
                let tags = vec![
                    ("service".into(), "api".into()),
                    ("request_id".into(), format!("r{i}")),
                ];
                (
                    1_000 + i * 7 % 50,
                    3,
                    "web-1".into(),
                    format!("GET /users/{i} 200 ünï"),
                    String::new(),
                    tags,
                )
            })
            .collect();
        batch_from(&specs)
    }

    fn encode(batch: &ColumnBatch, codec: Codec) -> (BlockHeader, Vec<u8>) {
        let mut out = Vec::new();
        let header = encode_block(batch, 1, codec, &mut EncodeScratch::new(), &mut out).unwrap();
        (header, out)
    }

    fn owned(block: &DecodedBlock) -> ColumnBatch {
        rkyv::deserialize::<ColumnBatch, rkyv::rancor::Error>(block.batch()).unwrap()
    }

    /// A block whose payload is `archive` compressed with `codec`, with a
    /// header that is plausible and carries correct checksums, claiming
    /// `entry_count` entries over `min..=max`.
    fn block_around(
        archive: &[u8],
        codec: Codec,
        entry_count: u32,
        min: i64,
        max: i64,
    ) -> (BlockHeader, Vec<u8>) {
        let mut payload = Vec::new();
        compress(codec, archive, &mut payload).unwrap();
        let header = BlockHeader {
            codec_id: codec.id(),
            entry_count,
            min_timestamp_ns: min,
            max_timestamp_ns: max,
            first_seq: 0,
            payload_bytes_compressed: payload.len() as u32,
            payload_bytes_uncompressed: archive.len() as u32,
            payload_crc32: crc32fast::hash(&payload),
            level_mask: 1,
        };
        (header, payload)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn every_codec_round_trips_random_batches(
            specs in proptest::collection::vec(entry_strategy(), 1..60),
            first_seq in any::<u64>(),
        ) {
            let batch = batch_from(&specs);
            let mut scratch = EncodeScratch::new();
            for codec in ALL {
                let mut out = Vec::new();
                let header = encode_block(&batch, first_seq, codec, &mut scratch, &mut out);
                let header = header.unwrap();
                prop_assert_eq!(out.len() % BLOCK_ALIGN_BYTES, 0);
                prop_assert_eq!(decode_header(&out).unwrap(), header);
                let block = decode_block(&header, &out[BLOCK_HEADER_BYTES..]).unwrap();
                prop_assert_eq!(block.batch().len(), specs.len());
                prop_assert_eq!(owned(&block), batch.clone());
                prop_assert_eq!(block.header.first_seq, first_seq);
            }
        }
    }

    #[test]
    fn a_single_entry_round_trips_and_buffers_are_reused() {
        let batch = batch_from(&[(-1, 0, String::new(), String::new(), String::new(), vec![])]);
        let mut buffer = AlignedVec::new();
        for codec in ALL {
            let (header, out) = encode(&batch, codec);
            let block = decode_block_in(&header, &out[BLOCK_HEADER_BYTES..], buffer).unwrap();
            assert_eq!(owned(&block), batch);
            buffer = block.into_buffer();
        }
    }

    #[test]
    fn a_flipped_payload_byte_is_a_payload_checksum_mismatch() {
        let batch = sample_batch();
        for codec in ALL {
            let (header, mut out) = encode(&batch, codec);
            let payload_end = BLOCK_HEADER_BYTES + header.payload_bytes_compressed as usize;
            for index in [
                BLOCK_HEADER_BYTES,
                (BLOCK_HEADER_BYTES + payload_end) / 2,
                payload_end - 1,
            ] {
                out[index] ^= 0x20;
                let error = decode_block_bytes(&out).unwrap_err();
                out[index] ^= 0x20;
                assert!(
                    matches!(
                        error,
                        BlockError::ChecksumMismatch {
                            region: ChecksumRegion::Payload,
                            offset: 64,
                            ..
                        }
                    ),
                    "{codec} byte {index}: {error}"
                );
                assert!(matches!(
                    error.rebase(8192),
                    BlockError::ChecksumMismatch { offset: 8256, .. }
                ));
            }
        }
    }

    #[test]
    fn a_flipped_header_byte_is_a_header_checksum_mismatch() {
        let batch = sample_batch();
        for codec in ALL {
            let (_, mut out) = encode(&batch, codec);
            for index in 6..BLOCK_HEADER_BYTES {
                out[index] ^= 0x01;
                let error = decode_block_bytes(&out).unwrap_err();
                out[index] ^= 0x01;
                assert!(
                    matches!(
                        error,
                        BlockError::ChecksumMismatch {
                            region: ChecksumRegion::Header,
                            ..
                        }
                    ),
                    "{codec} byte {index}: {error}"
                );
            }
        }
    }

    #[test]
    fn a_truncated_payload_is_reported_with_both_sizes() {
        let batch = sample_batch();
        for codec in ALL {
            let (header, out) = encode(&batch, codec);
            let expected_bytes = header.payload_bytes_compressed as usize;
            let cut = &out[BLOCK_HEADER_BYTES..BLOCK_HEADER_BYTES + expected_bytes - 1];
            let error = decode_block(&header, cut).unwrap_err();
            assert!(
                matches!(error, BlockError::PayloadTruncated { got_bytes, expected_bytes: e }
                    if got_bytes == expected_bytes - 1 && e == expected_bytes),
                "{codec}: {error}"
            );
            let error = decode_block_bytes(&out[..40]).unwrap_err();
            assert!(matches!(
                error,
                BlockError::HeaderTruncated { got_bytes: 40 }
            ));
        }
    }

    #[test]
    fn a_wrong_uncompressed_size_is_reported() {
        let batch = sample_batch();
        for codec in ALL {
            let (header, out) = encode(&batch, codec);
            let payload = &out[BLOCK_HEADER_BYTES..];
            let mut smaller = header;
            smaller.payload_bytes_uncompressed -= 1;
            let mut larger = header;
            larger.payload_bytes_uncompressed += 1;
            let (small_error, large_error) = (
                decode_block(&smaller, payload).unwrap_err(),
                decode_block(&larger, payload).unwrap_err(),
            );
            if codec == Codec::None {
                // Stored bytes and archive bytes must agree for an uncompressed block.
                assert!(matches!(small_error, BlockError::HeaderImplausible { .. }));
                assert!(matches!(large_error, BlockError::HeaderImplausible { .. }));
                continue;
            }
            assert!(
                matches!(small_error, BlockError::UncompressedTooLarge { .. }),
                "{codec}: {small_error}"
            );
            assert!(
                matches!(large_error, BlockError::UncompressedSizeMismatch { .. }),
                "{codec}: {large_error}"
            );
        }
    }

    #[test]
    fn garbage_with_a_valid_crc_is_an_archive_error_not_a_panic() {
        let garbage: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for codec in ALL {
            let (header, payload) = block_around(&garbage, codec, 1, 0, 0);
            let error = decode_block(&header, &payload).unwrap_err();
            assert!(
                matches!(error, BlockError::ArchiveInvalid { .. }),
                "{codec}: {error}"
            );
        }
    }

    #[test]
    fn a_payload_that_does_not_decompress_is_a_decompress_error() {
        let garbage: Vec<u8> = (0..700u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
            .collect();
        for codec in ALL.into_iter().filter(|codec| *codec != Codec::None) {
            let (mut header, _) = block_around(&garbage, codec, 1, 0, 0);
            header.payload_bytes_compressed = garbage.len() as u32;
            header.payload_crc32 = crc32fast::hash(&garbage);
            let error = decode_block(&header, &garbage).unwrap_err();
            assert!(
                matches!(
                    error,
                    BlockError::Decompress { .. }
                        | BlockError::UncompressedTooLarge { .. }
                        | BlockError::UncompressedSizeMismatch { .. }
                ),
                "{codec}: {error}"
            );
        }
    }

    #[test]
    fn a_valid_archive_must_match_the_header() {
        let batch = sample_batch();
        let archive = rkyv::to_bytes::<rkyv::rancor::Error>(&batch).unwrap();
        let (min, max) = (1_000, 1_049);
        for codec in ALL {
            let (header, payload) = block_around(&archive, codec, 300, min, max);
            assert_eq!(owned(&decode_block(&header, &payload).unwrap()), batch);

            let (header, payload) = block_around(&archive, codec, 301, min, max);
            let error = decode_block(&header, &payload).unwrap_err();
            assert!(
                matches!(
                    error,
                    BlockError::EntryCountMismatch {
                        header_entry_count: 301,
                        archive_entry_count: 300
                    }
                ),
                "{codec}: {error}"
            );

            let (header, payload) = block_around(&archive, codec, 300, min - 1, max);
            let error = decode_block(&header, &payload).unwrap_err();
            assert!(
                matches!(error, BlockError::TimestampRangeMismatch { .. }),
                "{codec}: {error}"
            );
        }
    }

    #[test]
    fn a_valid_archive_of_a_malformed_batch_is_rejected() {
        let mut batch = sample_batch();
        batch.levels.push(3);
        let archive = rkyv::to_bytes::<rkyv::rancor::Error>(&batch).unwrap();
        for codec in ALL {
            let (header, payload) = block_around(&archive, codec, 300, 1_000, 1_049);
            let error = decode_block(&header, &payload).unwrap_err();
            assert!(
                matches!(error, BlockError::BatchMalformed { .. }),
                "{codec}: {error}"
            );
        }
    }
}
