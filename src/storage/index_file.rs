//! Index files: beside each segment `seg-N.tdb`, `seg-N.idx` holds one
//! record per block of the segment, in the same order, each the rkyv
//! archive of that block's `BlockSummary`.
//!
//! Record layout (little-endian; `docs/FORMAT.md` has the table), starting
//! on a 4096-byte boundary and padded with zeros to the next one:
//! `0 magic "TIDX" | 4 version u16 | 6 reserved u16 (0) | 8 archive_bytes u32
//! | 12 crc32 u32 over bytes 0..12 and the archive | 16 archive`.
//! The archive starts 16 bytes into an aligned record, so it keeps rkyv's
//! 16-byte alignment in a buffer read with one DMA read of the whole file.
//!
//! Records are written with O_DIRECT and fdatasync'ed before the manifest
//! publishes their block, like the block itself, so after a crash every
//! published block normally has its record. The index is derived data:
//! a record that is missing, damaged or does not describe its block is
//! rebuilt from the blocks at start-up (and the rebuild is logged), never
//! trusted and never fatal. Records past the last published block (a seal
//! that crashed before its manifest) are ignored and later overwritten.

use std::path::Path;
use std::rc::Rc;

use rkyv::util::AlignedVec;

use super::append_file::AppendFile;
use super::error::Result;
use crate::block::{BlockHeader, BLOCK_ALIGN_BYTES};
use crate::index::{BlockSummary, SummaryRef};

pub const INDEX_RECORD_MAGIC: [u8; 4] = *b"TIDX";
/// 2 added `level_counts` to the summary. A record of another version is
/// rebuilt from its block at start-up, like a damaged one.
pub const INDEX_FORMAT_VERSION: u16 = 2;
pub const INDEX_RECORD_HEADER_BYTES: usize = 16;
/// An index file's preallocation step: a few hundred blocks' summaries.
pub const INDEX_PREALLOCATE_BYTES: u64 = 4 << 20;
/// Largest summary archive a record may hold; bounds what a damaged length
/// field can make a reader look at. A summary's filter is 2 bytes per
/// distinct word of a block of at most 64 MiB, far below this.
pub const INDEX_ARCHIVE_BYTES_MAX: usize = 256 << 20;

/// The index file's name for segment file `segment_file_name`.
pub fn index_file_name(segment_file_name: &str) -> String {
    let stem = segment_file_name
        .strip_suffix(".tdb")
        .unwrap_or(segment_file_name);
    format!("{stem}.idx")
}

/// Archives `summary`, appends its record to `records`, and returns the
/// archive for queries to use in place.
pub fn append_summary(summary: &BlockSummary, records: &mut Vec<u8>) -> SummaryRef {
    let archive =
        rkyv::to_bytes::<rkyv::rancor::Error>(summary).expect("a summary always archives");
    encode_record(&archive, records);
    SummaryRef::from_archive(archive).expect("an archive just written validates")
}

/// Frames `archive` as one record, padded to 4096 bytes, appended to `out`.
pub fn encode_record(archive: &[u8], out: &mut Vec<u8>) {
    assert!(
        archive.len() <= INDEX_ARCHIVE_BYTES_MAX,
        "summary archive too large"
    );
    let start = out.len();
    out.extend_from_slice(&INDEX_RECORD_MAGIC);
    out.extend_from_slice(&INDEX_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(archive.len() as u32).to_le_bytes());
    let crc = record_crc(&out[start..start + 12], archive);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(archive);
    let padded = (out.len() - start).div_ceil(BLOCK_ALIGN_BYTES) * BLOCK_ALIGN_BYTES;
    out.resize(start + padded, 0);
}

fn record_crc(header: &[u8], archive: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(archive);
    hasher.finalize()
}

/// The summaries of a segment's blocks as read from its index file: one
/// per block from the first, up to the first record that is missing or
/// wrong, and why it stopped there (`None`: every block has its record).
pub struct ParsedIndex {
    pub summaries: Vec<SummaryRef>,
    /// Where the record after the last good one starts.
    pub end_offset: u64,
    pub stopped_because: Option<String>,
}

/// Matches the records in `bytes` (a whole index file) with `blocks`, the
/// segment's published blocks in order.
pub fn parse_records(bytes: Rc<AlignedVec>, blocks: &[(u64, BlockHeader)]) -> ParsedIndex {
    let mut parsed = ParsedIndex {
        summaries: Vec::with_capacity(blocks.len()),
        end_offset: 0,
        stopped_because: None,
    };
    for (index, (offset, header)) in blocks.iter().enumerate() {
        let start = parsed.end_offset as usize;
        match parse_record(&bytes, start, *offset, header) {
            Ok((summary, record_bytes)) => {
                parsed.summaries.push(summary);
                parsed.end_offset += record_bytes as u64;
            }
            Err(reason) => {
                parsed.stopped_because = Some(format!(
                    "record {index} (at byte {start}, for the block at {offset}): {reason}"
                ));
                break;
            }
        }
    }
    parsed
}

/// The record at `bytes[start..]`, checked to describe the block `header`
/// at `offset`; returns it and its padded length.
fn parse_record(
    bytes: &Rc<AlignedVec>,
    start: usize,
    offset: u64,
    header: &BlockHeader,
) -> std::result::Result<(SummaryRef, usize), String> {
    let Some(head) = bytes.get(start..start + INDEX_RECORD_HEADER_BYTES) else {
        return Err("missing (the file ends before it)".into());
    };
    if head[0..4] != INDEX_RECORD_MAGIC {
        return Err(if head.iter().all(|&b| b == 0) {
            "missing (zeros where it should start)".into()
        } else {
            format!("bad magic {:?}", &head[0..4])
        });
    }
    let version = u16::from_le_bytes([head[4], head[5]]);
    if version != INDEX_FORMAT_VERSION || head[6..8] != [0, 0] {
        return Err(format!("unsupported version {version}"));
    }
    let archive_bytes = u32::from_le_bytes(head[8..12].try_into().unwrap()) as usize;
    let stored_crc = u32::from_le_bytes(head[12..16].try_into().unwrap());
    let archive_start = start + INDEX_RECORD_HEADER_BYTES;
    let Some(archive) = (archive_bytes <= INDEX_ARCHIVE_BYTES_MAX)
        .then(|| bytes.get(archive_start..archive_start + archive_bytes))
        .flatten()
    else {
        return Err(format!(
            "archive of {archive_bytes} bytes runs past the file"
        ));
    };
    let computed = record_crc(&head[0..12], archive);
    if computed != stored_crc {
        return Err(format!(
            "checksum mismatch (stored {stored_crc:#010x}, computed {computed:#010x})"
        ));
    }
    let summary = SummaryRef::new(bytes.clone(), archive_start, archive_bytes)?;
    if !summary.get().describes(offset, header) {
        return Err("describes a different block".into());
    }
    let padded =
        (INDEX_RECORD_HEADER_BYTES + archive_bytes).div_ceil(BLOCK_ALIGN_BYTES) * BLOCK_ALIGN_BYTES;
    Ok((summary, padded))
}

pub struct IndexFile {
    file: AppendFile,
}

impl IndexFile {
    pub async fn open(dir: &Path, file_name: &str) -> Result<Rc<IndexFile>> {
        let file =
            AppendFile::open(dir, file_name, true, INDEX_PREALLOCATE_BYTES, "open index").await?;
        Ok(Rc::new(IndexFile { file }))
    }

    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Writes records (from `encode_record`) at `offset` and makes them durable.
    pub async fn append(&self, offset: u64, records: &[u8]) -> Result<()> {
        self.file.append(offset, records, "write index").await
    }

    /// The whole file in one DMA read, in a buffer aligned for rkyv. What
    /// follows the last record that starts with the magic (the zeros of
    /// the preallocated tail) is dropped.
    pub async fn read_all(&self) -> Result<AlignedVec> {
        let size = self.file.size().await?;
        let read = self.file.read(0, size as usize, "read index").await?;
        let used = used_length(&read);
        let mut bytes = AlignedVec::with_capacity(used);
        bytes.extend_from_slice(&read[..used]);
        Ok(bytes)
    }
}

/// Length of the run of records from the start of `bytes`, each stepped
/// over by its length field (checked later, by `parse_records`): a
/// record's last page may hold nothing but zeros of its archive, so the
/// zeros of the tail cannot be told apart from a record by content alone.
fn used_length(bytes: &[u8]) -> usize {
    let mut end = 0;
    while let Some(head) = bytes.get(end..end + INDEX_RECORD_HEADER_BYTES) {
        if head[0..4] != INDEX_RECORD_MAGIC {
            break;
        }
        let archive_bytes = u32::from_le_bytes(head[8..12].try_into().unwrap()) as usize;
        let padded = (INDEX_RECORD_HEADER_BYTES + archive_bytes.min(INDEX_ARCHIVE_BYTES_MAX))
            .div_ceil(BLOCK_ALIGN_BYTES)
            * BLOCK_ALIGN_BYTES;
        end = (end + padded).min(bytes.len());
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{ColumnBatch, EntryRef, Level};
    use crate::index::BlockSummary;

    fn block(first_seq: u64, words: &str) -> (BlockHeader, ColumnBatch) {
        let mut batch = ColumnBatch::default();
        batch.push(
            &EntryRef {
                timestamp_ns: first_seq as i64,
                level: Level::Warn,
                source: "s",
                message: words,
                fields_json: "",
            },
            &[],
        );
        let header = BlockHeader {
            codec_id: 0,
            entry_count: 1,
            min_timestamp_ns: first_seq as i64,
            max_timestamp_ns: first_seq as i64,
            first_seq,
            payload_bytes_compressed: 1,
            payload_bytes_uncompressed: 1,
            payload_crc32: first_seq as u32,
            level_mask: 1 << Level::Warn.as_byte(),
        };
        (header, batch)
    }

    /// Three blocks at offsets 0, 4096, 8192 and their index file bytes.
    fn three_blocks() -> (Vec<(u64, BlockHeader)>, Vec<u8>) {
        let mut blocks = Vec::new();
        let mut file = Vec::new();
        for (i, words) in ["alpha", "beta", "gamma"].iter().enumerate() {
            let (header, batch) = block(i as u64 * 10 + 1, words);
            let offset = i as u64 * 4096;
            let summary = BlockSummary::build(&batch, &header, offset, &mut Default::default());
            let archive = rkyv::to_bytes::<rkyv::rancor::Error>(&summary).unwrap();
            encode_record(&archive, &mut file);
            blocks.push((offset, header));
        }
        (blocks, file)
    }

    fn parse(file: &[u8], blocks: &[(u64, BlockHeader)]) -> ParsedIndex {
        let mut bytes = AlignedVec::new();
        bytes.extend_from_slice(file);
        parse_records(Rc::new(bytes), blocks)
    }

    #[test]
    fn records_round_trip_in_block_order() {
        let (blocks, file) = three_blocks();
        assert_eq!(file.len() % BLOCK_ALIGN_BYTES, 0);
        let parsed = parse(&file, &blocks);
        assert!(parsed.stopped_because.is_none());
        assert_eq!(parsed.summaries.len(), 3);
        assert_eq!(parsed.end_offset, file.len() as u64);
        let words = |w: &str| vec![w.to_string()];
        assert!(parsed.summaries[1].get().may_have_words(&words("beta")));
        assert!(!parsed.summaries[1].get().may_have_words(&words("gamma")));
    }

    #[test]
    fn damage_stops_parsing_at_the_damaged_record() {
        let (blocks, file) = three_blocks();
        let record = file.len() / 3;
        // A flipped archive byte, a flipped header byte, zeros, truncation.
        for damage in [record + 40, record + 9, record + 1] {
            let mut damaged = file.clone();
            damaged[damage] ^= 0x55;
            let parsed = parse(&damaged, &blocks);
            assert_eq!(parsed.summaries.len(), 1, "damage at {damage}");
            assert_eq!(parsed.end_offset, record as u64);
            let reason = parsed.stopped_because.unwrap();
            assert!(reason.starts_with("record 1 (at byte 4096"), "{reason}");
        }
        let mut zeroed = file.clone();
        zeroed[record..].fill(0);
        let reason = parse(&zeroed, &blocks).stopped_because.unwrap();
        assert!(reason.contains("missing"), "{reason}");
        let parsed = parse(&file[..record * 2 + 100], &blocks);
        assert_eq!(parsed.summaries.len(), 2);
        assert!(parse(&[], &blocks)
            .stopped_because
            .unwrap()
            .contains("missing"));
    }

    #[test]
    fn a_record_of_an_older_version_is_rebuilt_not_read() {
        let (blocks, mut file) = three_blocks();
        // Version 1 (before `level_counts`), with a checksum that holds.
        file[4..6].copy_from_slice(&1u16.to_le_bytes());
        let archive_bytes = u32::from_le_bytes(file[8..12].try_into().unwrap()) as usize;
        let archive = &file[INDEX_RECORD_HEADER_BYTES..INDEX_RECORD_HEADER_BYTES + archive_bytes];
        let crc = record_crc(&file[0..12], archive);
        file[12..16].copy_from_slice(&crc.to_le_bytes());
        let parsed = parse(&file, &blocks);
        assert!(parsed.summaries.is_empty());
        assert_eq!(parsed.end_offset, 0, "rebuilt records overwrite it");
        let reason = parsed.stopped_because.unwrap();
        assert!(reason.contains("unsupported version 1"), "{reason}");
    }

    #[test]
    fn a_record_for_another_block_is_refused() {
        let (mut blocks, file) = three_blocks();
        blocks[2].1.payload_crc32 ^= 1;
        let parsed = parse(&file, &blocks);
        assert_eq!(parsed.summaries.len(), 2);
        assert!(parsed
            .stopped_because
            .unwrap()
            .contains("describes a different block"));
    }

    #[test]
    fn used_length_covers_the_records_and_drops_the_zero_tail() {
        let (_, file) = three_blocks();
        let mut bytes = file.clone();
        bytes.resize(file.len() + 5 * BLOCK_ALIGN_BYTES, 0);
        assert_eq!(used_length(&bytes), file.len());
        assert_eq!(used_length(&vec![0u8; 3 * BLOCK_ALIGN_BYTES]), 0);
        // A record whose archive ends in a page of zeros is kept whole.
        let mut record = Vec::new();
        encode_record(&vec![0u8; BLOCK_ALIGN_BYTES + 100], &mut record);
        assert_eq!(record.len(), 2 * BLOCK_ALIGN_BYTES);
        record.resize(4 * BLOCK_ALIGN_BYTES, 0);
        assert_eq!(used_length(&record), 2 * BLOCK_ALIGN_BYTES);
        assert_eq!(index_file_name("seg-000002.tdb"), "seg-000002.idx");
    }
}
