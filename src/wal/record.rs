//! WAL record framing: how one batch becomes bytes in a WAL segment file, and
//! how recovery finds where the valid bytes end.
//!
//! A segment file is a sequence of `WAL_PAGE_BYTES` pages holding records
//! `[len u32 LE][crc32 u32 LE][kind u8][payload: len bytes]` back to back.
//! Records may span pages. `docs/FORMAT.md` draws the layout byte by byte.
//!
//! Why it is shaped this way:
//! - The header has a fixed width (9 bytes) so a reader never has to guess
//!   where a record starts; the seed implementations' data-dependent headers
//!   made torn writes undetectable.
//! - A header never starts in the last < 9 bytes of a page: those bytes are
//!   zero and skipped, so a header never straddles the end of a page and a
//!   reader can always tell "nothing more here" from "a record starts here".
//! - Group commit pads every write to a page end (`pad_to_page`), so an
//!   acknowledged page is never rewritten by a later O_DIRECT write (a torn
//!   rewrite could otherwise destroy acknowledged records).
//! - The crc32 also covers the segment's generation number `segment_seq`,
//!   which is not stored in the record. A recycled segment file still holds
//!   records of its previous generation after the new tail; their checksums
//!   fail under the new `segment_seq`, so they are never replayed.
//!
//! Where valid data ends (`RecordReader::end`):
//! - `CleanEnd`: an all-zero header (a preallocated file reads as zeros past
//!   the data), or the buffer ends on a record boundary.
//! - `Torn`: the buffer ends inside a record. At the end of a file this is a
//!   write the crash cut short; in a buffer that is a prefix of the file it
//!   means "read more bytes and retry from `offset`".
//! - `Corrupt`: a checksum mismatch, an unknown kind, a length over
//!   `RECORD_PAYLOAD_BYTES_MAX`, or non-zero bytes in a page-tail skip.
//!   Recovery stops here too. After the real tail of a recycled file this is
//!   the expected way to end (old-generation bytes); in the middle of the
//!   data it is real corruption (a bad sector, a bug). From the bytes alone
//!   the two cannot always be told apart: a record torn mid-write in a
//!   recycled file looks exactly like a bad checksum. Callers should log
//!   every `Corrupt` end with its offset and the bytes discarded after it.
//!
//! A writer must not append to a segment after a `Torn` or `Corrupt` end: a
//! later reader would stop at the damage and never reach the new records.
//! After recovery, write into a fresh segment (a new `segment_seq`).

/// Size of one WAL page: the unit of an O_DIRECT write and of padding.
pub const WAL_PAGE_BYTES: usize = 4096;

/// Width of `[len u32][crc32 u32][kind u8]`.
pub const RECORD_HEADER_BYTES: usize = 9;

/// Largest payload one record may carry; a larger `len` is corruption.
/// Memory cost: a writer's group-commit buffer and a reader's buffer must
/// each hold at least one whole record, so up to 64 MiB + one page each.
/// Ingest batches are bounded well below this by the request body limit.
pub const RECORD_PAYLOAD_BYTES_MAX: usize = 64 * 1024 * 1024;

/// The smallest O_DIRECT alignment a WAL page must respect.
const SECTOR_BYTES: usize = 512;

const _: () = assert!(WAL_PAGE_BYTES % SECTOR_BYTES == 0);
const _: () = assert!(RECORD_HEADER_BYTES < WAL_PAGE_BYTES);
const _: () = assert!(RECORD_PAYLOAD_BYTES_MAX <= u32::MAX as usize);
const _: () = assert!(RECORD_HEADER_BYTES == 4 + 4 + 1);

/// Zeros for padding payloads and page-tail skips (both are < one page).
static ZERO_PAGE: [u8; WAL_PAGE_BYTES] = [0; WAL_PAGE_BYTES];

/// What a record's payload is. The byte value is on disk; never renumber.
/// 0 is never a valid kind, so an all-zero header reads as "end of data".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// Payload: the rkyv archive of one ingest batch (opaque here).
    Batch = 1,
    /// Payload: zeros, filling a group-commit write to its page end.
    Padding = 2,
}

impl RecordKind {
    pub fn as_byte(self) -> u8 {
        self as u8
    }

    pub fn from_byte(byte: u8) -> Option<RecordKind> {
        match byte {
            1 => Some(RecordKind::Batch),
            2 => Some(RecordKind::Padding),
            _ => None,
        }
    }
}

/// One valid record found by `RecordReader`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// File offset of the record's header.
    pub offset: u64,
    pub kind: RecordKind,
    pub payload: &'a [u8],
}

impl Record<'_> {
    /// File offset of the first byte after this record.
    pub fn end_offset(&self) -> u64 {
        self.offset + (RECORD_HEADER_BYTES + self.payload.len()) as u64
    }
}

/// Where and why reading stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadEnd {
    /// File offset where valid data ends: the end of the last valid record
    /// (or page-tail skip), which is also where the bad record starts.
    pub offset: u64,
    pub reason: EndReason,
}

impl ReadEnd {
    pub fn is_clean(&self) -> bool {
        self.reason == EndReason::CleanEnd
    }

    /// Bytes from `offset` to `data_end_offset` (the file offset one past the
    /// last byte read, e.g. the file length) that recovery throws away. Zero
    /// for a clean end. For a torn or corrupt end this is an upper bound of
    /// what was lost: it includes the preallocated zeros and stale bytes that
    /// follow the damage.
    pub fn bytes_discarded(&self, data_end_offset: u64) -> u64 {
        match self.reason {
            EndReason::CleanEnd => 0,
            EndReason::Torn | EndReason::Corrupt { .. } => {
                data_end_offset.saturating_sub(self.offset)
            }
        }
    }
}

/// Why reading stopped. See the module docs for how to treat each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// An all-zero header, or the end of the buffer on a record boundary.
    CleanEnd,
    /// The record at `offset` extends past the end of the buffer.
    Torn,
    /// The record at `offset` fails a check.
    Corrupt { detail: CorruptDetail },
}

/// What was wrong with the record at `ReadEnd::offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptDetail {
    /// `expected` is the crc32 stored in the record; `got` is the one
    /// computed over `segment_seq`, len, kind and payload as read.
    #[error("record checksum mismatch: computed {got:#010x}, stored {expected:#010x}")]
    ChecksumMismatch { got: u32, expected: u32 },
    #[error("record kind {kind} is not a known kind")]
    BadKind { kind: u8 },
    #[error("record length {payload_bytes} exceeds the maximum {RECORD_PAYLOAD_BYTES_MAX}")]
    LengthOverMax { payload_bytes: u32 },
    #[error("page tail before the next page holds non-zero bytes")]
    NonZeroPageTail,
}

/// Zero bytes to skip at `file_offset` before a header may start: the rest
/// of the page when fewer than `RECORD_HEADER_BYTES` remain in it, else 0.
fn page_tail_skip_bytes(file_offset: u64) -> usize {
    let page_remaining_bytes = WAL_PAGE_BYTES - (file_offset % WAL_PAGE_BYTES as u64) as usize;
    if page_remaining_bytes < RECORD_HEADER_BYTES {
        page_remaining_bytes
    } else {
        0
    }
}

fn record_crc32(segment_seq: u64, payload_bytes: u32, kind: u8, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&segment_seq.to_le_bytes());
    hasher.update(&payload_bytes.to_le_bytes());
    hasher.update(&[kind]);
    hasher.update(payload);
    hasher.finalize()
}

/// Bytes `encode_record` appends for a payload of `payload_bytes` starting at
/// `file_offset`: the page-tail skip (if any), the header and the payload.
/// Lets a writer check that a record fits in its segment before encoding it.
pub fn encoded_record_bytes(file_offset: u64, payload_bytes: usize) -> u64 {
    (page_tail_skip_bytes(file_offset) + RECORD_HEADER_BYTES + payload_bytes) as u64
}

/// Appends one record at file offset `file_offset_of_out_start + out.len()`,
/// first zero-filling the page tail if fewer than `RECORD_HEADER_BYTES`
/// remain in the current page.
///
/// Panics if `payload` is longer than `RECORD_PAYLOAD_BYTES_MAX`: the ingest
/// path bounds batches far below it, so a longer one is a bug.
pub fn encode_record(
    out: &mut Vec<u8>,
    file_offset_of_out_start: u64,
    segment_seq: u64,
    kind: RecordKind,
    payload: &[u8],
) {
    debug_assert!(kind != RecordKind::Padding || payload.iter().all(|byte| *byte == 0));
    encode_record_with(out, file_offset_of_out_start, segment_seq, kind, |out| {
        out.extend_from_slice(payload)
    });
}

/// `encode_record` for a payload that `write_payload` appends to `out`
/// itself, so the payload is produced where it is written (a batch archived
/// straight into the group's frame) instead of being copied in. The bytes
/// are the same as `encode_record`'s for the same payload.
///
/// Panics if the payload is longer than `RECORD_PAYLOAD_BYTES_MAX`.
pub fn encode_record_with(
    out: &mut Vec<u8>,
    file_offset_of_out_start: u64,
    segment_seq: u64,
    kind: RecordKind,
    write_payload: impl FnOnce(&mut Vec<u8>),
) {
    let skip_bytes = page_tail_skip_bytes(file_offset_of_out_start + out.len() as u64);
    out.extend_from_slice(&ZERO_PAGE[..skip_bytes]);
    let header_start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER_BYTES]);
    let payload_start = out.len();
    write_payload(out);
    let payload = &out[payload_start..];
    assert!(
        payload.len() <= RECORD_PAYLOAD_BYTES_MAX,
        "WAL record payload of {} bytes exceeds RECORD_PAYLOAD_BYTES_MAX",
        payload.len()
    );
    let payload_bytes = payload.len() as u32;
    let crc = record_crc32(segment_seq, payload_bytes, kind.as_byte(), payload);
    let header = &mut out[header_start..payload_start];
    header[0..4].copy_from_slice(&payload_bytes.to_le_bytes());
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    header[8] = kind.as_byte();
}

/// Appends a `Padding` record (or only zeros when fewer than
/// `RECORD_HEADER_BYTES` are left in the page) so that `out` ends on a page
/// boundary. Does nothing if it already does.
pub fn pad_to_page(out: &mut Vec<u8>, file_offset_of_out_start: u64, segment_seq: u64) {
    let end_offset = file_offset_of_out_start + out.len() as u64;
    let page_used_bytes = (end_offset % WAL_PAGE_BYTES as u64) as usize;
    if page_used_bytes == 0 {
        return;
    }
    let page_remaining_bytes = WAL_PAGE_BYTES - page_used_bytes;
    if page_remaining_bytes < RECORD_HEADER_BYTES {
        out.extend_from_slice(&ZERO_PAGE[..page_remaining_bytes]);
    } else {
        let padding = &ZERO_PAGE[..page_remaining_bytes - RECORD_HEADER_BYTES];
        encode_record(
            out,
            file_offset_of_out_start,
            segment_seq,
            RecordKind::Padding,
            padding,
        );
    }
    debug_assert_eq!(
        (file_offset_of_out_start + out.len() as u64) % WAL_PAGE_BYTES as u64,
        0
    );
}

/// Reads records from a buffer holding a segment file (or a prefix of one)
/// starting at a record boundary. Yields `Batch` records in order, skipping
/// padding, and stops at the first clean end, torn or corrupt record; `end`
/// then says where and why. Borrows the buffer: no copies, no allocation.
pub struct RecordReader<'a> {
    buf: &'a [u8],
    /// File offset of `buf[0]`; page boundaries are computed in file offsets.
    base_offset: u64,
    segment_seq: u64,
    /// Index into `buf` of the next record boundary.
    position: usize,
    batch_record_count: u64,
    end: Option<ReadEnd>,
}

/// The result of examining one position.
enum Step<'a> {
    Record(Record<'a>),
    End(ReadEnd),
}

impl<'a> RecordReader<'a> {
    pub fn new(buf: &'a [u8], base_offset: u64, segment_seq: u64) -> RecordReader<'a> {
        RecordReader {
            buf,
            base_offset,
            segment_seq,
            position: 0,
            batch_record_count: 0,
            end: None,
        }
    }

    /// Where and why reading stopped.
    ///
    /// Panics if called before the iterator returned `None`: the end is not
    /// known until then, and asking early is a bug in the caller.
    pub fn end(&self) -> ReadEnd {
        self.end
            .expect("RecordReader::end is called only after iteration returned None")
    }

    /// `Batch` records yielded so far (for the recovery log line).
    pub fn batch_record_count(&self) -> u64 {
        self.batch_record_count
    }

    fn offset_at(&self, position: usize) -> u64 {
        self.base_offset + position as u64
    }

    fn end_at(&self, position: usize, reason: EndReason) -> Step<'a> {
        Step::End(ReadEnd {
            offset: self.offset_at(position),
            reason,
        })
    }

    fn corrupt_at(&self, position: usize, detail: CorruptDetail) -> Step<'a> {
        self.end_at(position, EndReason::Corrupt { detail })
    }

    /// Examines the bytes at `self.position`: returns the valid record there
    /// and advances past it, or returns where and why reading ends.
    fn step(&mut self) -> Step<'a> {
        let skip_bytes = page_tail_skip_bytes(self.offset_at(self.position));
        if skip_bytes > 0 {
            let available = &self.buf[self.position..];
            let tail = &available[..skip_bytes.min(available.len())];
            if tail.iter().any(|byte| *byte != 0) {
                return self.corrupt_at(self.position, CorruptDetail::NonZeroPageTail);
            }
            if tail.len() < skip_bytes {
                return self.end_at(self.position, EndReason::CleanEnd);
            }
            self.position += skip_bytes;
        }

        let rest = &self.buf[self.position..];
        if rest.is_empty() {
            return self.end_at(self.position, EndReason::CleanEnd);
        }
        let Some(header) = rest.first_chunk::<RECORD_HEADER_BYTES>() else {
            return self.end_at(self.position, EndReason::Torn);
        };
        let [l0, l1, l2, l3, c0, c1, c2, c3, kind_byte] = *header;
        let payload_bytes = u32::from_le_bytes([l0, l1, l2, l3]);
        let crc_stored = u32::from_le_bytes([c0, c1, c2, c3]);
        if payload_bytes == 0 && crc_stored == 0 && kind_byte == 0 {
            return self.end_at(self.position, EndReason::CleanEnd);
        }
        if payload_bytes as usize > RECORD_PAYLOAD_BYTES_MAX {
            return self.corrupt_at(
                self.position,
                CorruptDetail::LengthOverMax { payload_bytes },
            );
        }
        let Some(kind) = RecordKind::from_byte(kind_byte) else {
            return self.corrupt_at(self.position, CorruptDetail::BadKind { kind: kind_byte });
        };
        let Some(payload) = rest[RECORD_HEADER_BYTES..].get(..payload_bytes as usize) else {
            return self.end_at(self.position, EndReason::Torn);
        };
        let crc_computed = record_crc32(self.segment_seq, payload_bytes, kind_byte, payload);
        if crc_computed != crc_stored {
            let detail = CorruptDetail::ChecksumMismatch {
                got: crc_computed,
                expected: crc_stored,
            };
            return self.corrupt_at(self.position, detail);
        }

        let record = Record {
            offset: self.offset_at(self.position),
            kind,
            payload,
        };
        self.position += RECORD_HEADER_BYTES + payload.len();
        Step::Record(record)
    }
}

/// Whether a valid record of generation `segment_seq` (a batch or a padding
/// record) starts at file offset `base_offset`, the start of `buf` (after
/// the page-tail skip a header there would need). Returns the file offset
/// one past it. Used to resynchronise after a bad record (`wal::resync`).
pub fn valid_record_end(buf: &[u8], base_offset: u64, segment_seq: u64) -> Option<u64> {
    let mut reader = RecordReader::new(buf, base_offset, segment_seq);
    match reader.step() {
        Step::Record(record) => Some(record.end_offset()),
        Step::End(_) => None,
    }
}

impl<'a> Iterator for RecordReader<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        while self.end.is_none() {
            match self.step() {
                Step::Record(record) if record.kind == RecordKind::Batch => {
                    self.batch_record_count += 1;
                    return Some(record);
                }
                Step::Record(_padding) => {}
                Step::End(end) => self.end = Some(end),
            }
        }
        None
    }
}

impl std::iter::FusedIterator for RecordReader<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One thing a test wrote, in file offsets: an optional page-tail skip
    /// `skip_start..start`, then a record `start..end` (`start == end` for a
    /// `pad_to_page` that only wrote zeros).
    #[derive(Clone, Debug)]
    struct Written {
        skip_start: u64,
        start: u64,
        end: u64,
        kind: RecordKind,
        payload: Vec<u8>,
    }

    enum Op {
        Batch(Vec<u8>),
        Pad,
    }

    fn payload_of(size: usize, seed: u8) -> Vec<u8> {
        (0..size)
            .map(|i| seed.wrapping_add((i * 31 % 251) as u8) | 1)
            .collect()
    }

    fn write(base: u64, segment_seq: u64, ops: &[Op]) -> (Vec<u8>, Vec<Written>) {
        let mut out = Vec::new();
        let mut written = Vec::new();
        for op in ops {
            let skip_start = base + out.len() as u64;
            let (kind, payload) = match op {
                Op::Batch(payload) => {
                    encode_record(&mut out, base, segment_seq, RecordKind::Batch, payload);
                    (RecordKind::Batch, payload.clone())
                }
                Op::Pad => {
                    pad_to_page(&mut out, base, segment_seq);
                    (RecordKind::Padding, Vec::new())
                }
            };
            let end = base + out.len() as u64;
            let start = match kind {
                RecordKind::Batch => end - (RECORD_HEADER_BYTES + payload.len()) as u64,
                // A padding record starts right after any skip; zeros-only
                // padding is all skip.
                RecordKind::Padding if end - skip_start < RECORD_HEADER_BYTES as u64 => end,
                RecordKind::Padding => skip_start + page_tail_skip_bytes(skip_start) as u64,
            };
            written.push(Written {
                skip_start,
                start,
                end,
                kind,
                payload,
            });
        }
        (out, written)
    }

    fn read_all(buf: &[u8], base: u64, segment_seq: u64) -> (Vec<(u64, Vec<u8>)>, ReadEnd) {
        let mut reader = RecordReader::new(buf, base, segment_seq);
        let records = reader
            .by_ref()
            .map(|r| (r.offset, r.payload.to_vec()))
            .collect();
        (records, reader.end())
    }

    fn batches(written: &[Written]) -> Vec<(u64, Vec<u8>)> {
        let batch_records = written.iter().filter(|w| w.kind == RecordKind::Batch);
        batch_records
            .map(|w| (w.start, w.payload.clone()))
            .collect()
    }

    /// What a reader must report for a buffer cut at file offset `cut`.
    fn expected_at_cut(written: &[Written], cut: u64) -> (Vec<(u64, Vec<u8>)>, ReadEnd) {
        for (index, w) in written.iter().enumerate() {
            if w.end <= cut {
                continue;
            }
            let complete = batches(&written[..index]);
            let end = if cut < w.start {
                ReadEnd {
                    offset: w.skip_start,
                    reason: EndReason::CleanEnd,
                }
            } else if cut == w.start {
                ReadEnd {
                    offset: cut,
                    reason: EndReason::CleanEnd,
                }
            } else {
                ReadEnd {
                    offset: w.start,
                    reason: EndReason::Torn,
                }
            };
            return (complete, end);
        }
        (
            batches(written),
            ReadEnd {
                offset: cut,
                reason: EndReason::CleanEnd,
            },
        )
    }

    /// Records of every interesting shape: tiny, empty, page-crossing, each
    /// page-tail skip width, real padding and zeros-only padding.
    fn mixed_ops() -> Vec<Op> {
        let mut ops = vec![Op::Batch(payload_of(100, 1)), Op::Batch(Vec::new())];
        ops.push(Op::Batch(payload_of(5000, 2))); // crosses a page
        ops.push(Op::Pad);
        // Ends 3 bytes before the page end: the next record skips them.
        ops.push(Op::Batch(payload_of(
            WAL_PAGE_BYTES - RECORD_HEADER_BYTES - 3,
            3,
        )));
        ops.push(Op::Batch(payload_of(40, 4)));
        // Ends 5 bytes before the page end: padding writes zeros only.
        ops.push(Op::Batch(payload_of(
            WAL_PAGE_BYTES - 40 - 2 * RECORD_HEADER_BYTES - 5,
            5,
        )));
        ops.push(Op::Pad);
        ops.push(Op::Batch(payload_of(700, 6)));
        ops
    }

    #[test]
    fn mixed_layout_is_what_the_test_expects() {
        let (buf, written) = write(0, 7, &mixed_ops());
        let skips: Vec<u64> = written.iter().map(|w| w.start - w.skip_start).collect();
        assert_eq!(skips, vec![0, 0, 0, 0, 0, 3, 0, 5, 0]);
        assert_eq!(
            written[7].end - written[7].skip_start,
            5,
            "zeros-only padding"
        );
        assert_eq!(written[3].end % WAL_PAGE_BYTES as u64, 0);
        let (records, end) = read_all(&buf, 0, 7);
        assert_eq!(records, batches(&written));
        assert_eq!(
            end,
            ReadEnd {
                offset: buf.len() as u64,
                reason: EndReason::CleanEnd
            }
        );
    }

    #[test]
    fn every_page_tail_width_is_skipped() {
        for tail_bytes in 1..RECORD_HEADER_BYTES {
            let first = payload_of(WAL_PAGE_BYTES - RECORD_HEADER_BYTES - tail_bytes, 9);
            let ops = [Op::Batch(first), Op::Batch(payload_of(10, 8))];
            let (buf, written) = write(0, 1, &ops);
            assert_eq!(written[1].start, WAL_PAGE_BYTES as u64);
            assert!(buf[WAL_PAGE_BYTES - tail_bytes..WAL_PAGE_BYTES]
                .iter()
                .all(|b| *b == 0));
            let (records, end) = read_all(&buf, 0, 1);
            assert_eq!(records, batches(&written));
            assert!(end.is_clean());
            assert_eq!(
                encoded_record_bytes(written[1].skip_start, 10),
                written[1].end - written[1].skip_start
            );
        }
    }

    #[test]
    fn padding_lands_on_page_boundaries_from_every_offset() {
        for start in 0..=WAL_PAGE_BYTES as u64 {
            let mut out = Vec::new();
            pad_to_page(&mut out, start, 3);
            let end = start + out.len() as u64;
            assert_eq!(end % WAL_PAGE_BYTES as u64, 0, "start {start}");
            assert!(out.len() < WAL_PAGE_BYTES);
            let (records, read_end) = read_all(&out, start, 3);
            assert!(records.is_empty());
            assert_eq!(
                read_end,
                ReadEnd {
                    offset: end,
                    reason: EndReason::CleanEnd
                }
            );
        }
    }

    #[test]
    fn truncation_at_every_offset_yields_only_complete_records() {
        let base = 2 * WAL_PAGE_BYTES as u64;
        let (buf, written) = write(base, 11, &mixed_ops());
        for cut in 0..=buf.len() {
            let actual = read_all(&buf[..cut], base, 11);
            assert_eq!(
                actual,
                expected_at_cut(&written, base + cut as u64),
                "cut at {cut}"
            );
        }
    }

    /// Applies `flip` to byte `index` and checks the reader stops at
    /// `stop_offset` with `Corrupt`, having yielded exactly `before`.
    fn assert_flip_is_corrupt(
        buf: &mut [u8],
        index: usize,
        flip: u8,
        before: &[(u64, Vec<u8>)],
        stop_offset: u64,
    ) {
        buf[index] ^= flip;
        let (records, end) = read_all(buf, 0, 5);
        buf[index] ^= flip;
        assert_eq!(records, before, "flip {flip:#04x} at byte {index}");
        assert_eq!(end.offset, stop_offset, "flip {flip:#04x} at byte {index}");
        assert!(
            matches!(end.reason, EndReason::Corrupt { .. }),
            "flip {flip:#04x} at {index}: {end:?}"
        );
    }

    #[test]
    fn every_byte_flip_stops_at_that_record_with_corrupt() {
        let (mut buf, written) = write(0, 5, &mixed_ops());
        // As in a preallocated segment, zeros follow the data, enough that a
        // flipped length never reaches the end of the buffer.
        buf.resize(
            buf.len() + RECORD_HEADER_BYTES + RECORD_PAYLOAD_BYTES_MAX + WAL_PAGE_BYTES,
            0,
        );
        for (index, w) in written.iter().enumerate() {
            let before = batches(&written[..index]);
            for byte in w.skip_start..w.start {
                assert_flip_is_corrupt(&mut buf, byte as usize, 0x10, &before, w.skip_start);
            }
            for byte in w.start..w.end {
                let in_header = byte < w.start + RECORD_HEADER_BYTES as u64;
                let flips: &[u8] = if in_header {
                    &[0x01, 0x03, 0x80, 0xff]
                } else {
                    &[0xff]
                };
                for flip in flips {
                    assert_flip_is_corrupt(&mut buf, byte as usize, *flip, &before, w.start);
                }
            }
        }
    }

    #[test]
    fn record_of_another_generation_is_corrupt_at_offset_zero() {
        let (buf, _) = write(0, 1, &[Op::Batch(payload_of(64, 1))]);
        let (records, end) = read_all(&buf, 0, 2);
        assert!(records.is_empty());
        assert_eq!(end.offset, 0);
        assert!(matches!(
            end.reason,
            EndReason::Corrupt {
                detail: CorruptDetail::ChecksumMismatch { .. }
            }
        ));
    }

    #[test]
    fn recycled_segment_ends_at_the_new_generation_tail() {
        let old_ops: Vec<Op> = (0..8).map(|i| Op::Batch(payload_of(3000, i))).collect();
        let (mut file, _) = write(0, 1, &old_ops);
        let (new_data, new_written) = write(0, 2, &[Op::Batch(payload_of(50, 42)), Op::Pad]);
        file[..new_data.len()].copy_from_slice(&new_data);
        let (records, end) = read_all(&file, 0, 2);
        assert_eq!(records, batches(&new_written));
        assert_eq!(end.offset, new_data.len() as u64);
        assert!(matches!(end.reason, EndReason::Corrupt { .. }));
        assert_eq!(
            end.bytes_discarded(file.len() as u64),
            (file.len() - new_data.len()) as u64
        );
    }

    #[test]
    fn preallocated_zeros_end_cleanly() {
        let (records, end) = read_all(&[0u8; 3 * WAL_PAGE_BYTES], 0, 9);
        assert!(records.is_empty());
        assert_eq!(
            end,
            ReadEnd {
                offset: 0,
                reason: EndReason::CleanEnd
            }
        );
        assert_eq!(end.bytes_discarded(3 * WAL_PAGE_BYTES as u64), 0);
    }

    #[test]
    fn over_long_length_and_bad_kind_are_corrupt() {
        let mut header = [0u8; RECORD_HEADER_BYTES];
        header[..4].copy_from_slice(&(RECORD_PAYLOAD_BYTES_MAX as u32 + 1).to_le_bytes());
        header[8] = 1;
        let (_, end) = read_all(&header, 0, 0);
        let detail = CorruptDetail::LengthOverMax {
            payload_bytes: RECORD_PAYLOAD_BYTES_MAX as u32 + 1,
        };
        assert_eq!(end.reason, EndReason::Corrupt { detail });

        let mut out = Vec::new();
        encode_record(&mut out, 0, 0, RecordKind::Batch, b"abc");
        out[8] = 7;
        let (_, end) = read_all(&out, 0, 0);
        assert_eq!(
            end.reason,
            EndReason::Corrupt {
                detail: CorruptDetail::BadKind { kind: 7 }
            }
        );
    }

    fn op_strategy() -> impl Strategy<Value = (usize, u8, bool)> {
        let size = prop_oneof![0usize..64, 4000usize..4096, 0usize..10_000];
        (size, any::<u8>(), proptest::bool::weighted(0.15))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn round_trip_of_random_records(
            base in 0u64..(3 * WAL_PAGE_BYTES as u64),
            segment_seq in any::<u64>(),
            specs in proptest::collection::vec(op_strategy(), 0..40),
        ) {
            let ops: Vec<Op> = specs
                .iter()
                .map(|(size, seed, pad)| match pad {
                    true => Op::Pad,
                    false => Op::Batch(payload_of(*size, *seed)),
                })
                .collect();
            let (mut buf, written) = write(base, segment_seq, &ops);
            let data_end = base + buf.len() as u64;
            let (records, end) = read_all(&buf, base, segment_seq);
            prop_assert_eq!(&records, &batches(&written));
            prop_assert_eq!(end, ReadEnd { offset: data_end, reason: EndReason::CleanEnd });

            // Followed by preallocated zeros: a trailing page tail is skipped.
            buf.resize(buf.len() + 2 * WAL_PAGE_BYTES, 0);
            let (records, end) = read_all(&buf, base, segment_seq);
            prop_assert_eq!(&records, &batches(&written));
            let clean_end = data_end + page_tail_skip_bytes(data_end) as u64;
            prop_assert_eq!(end, ReadEnd { offset: clean_end, reason: EndReason::CleanEnd });
        }
    }
}
