//! Telling a torn tail from damage, and finding where valid records resume
//! after a bad one. Plain functions over the bytes of one segment file.
//!
//! A record's crc32 is seeded with its segment's generation (`record.rs`),
//! so a valid record found after a bad one was written in this generation,
//! after the bad record: the bad record is not the end of what was written
//! (a torn tail) but damage in the middle of it. A torn tail is followed
//! only by zeros (preallocated space, or the zero page a recycled file keeps
//! after its data) or records of an older generation, which fail their crc.
//!
//! Where to resume, cheapest proof first:
//! 1. The bad record's own length, when its header survived (a flipped
//!    payload or crc byte): the next record starts right after it.
//! 2. The next page boundary where a valid record starts: every group
//!    commit starts on a page boundary.
//! 3. Between the two, every byte offset (a damaged length inside a group
//!    of many records): the first one where a valid record starts.
//!
//! Scanning is bounded: the crc work of steps 2 and 3 together is capped
//! at `RESYNC_CRC_BYTES_MAX`; past it the scan gives the page-boundary
//! answer (or none), which at worst skips more of a damaged group.

use super::record::{valid_record_end, RecordKind, RECORD_HEADER_BYTES, WAL_PAGE_BYTES};

/// Payload bytes the resync scan may checksum while looking for the next
/// valid record after one bad record (CPU only: the segment is in memory).
/// About 0.1 s of crc32 per damaged record at worst.
pub const RESYNC_CRC_BYTES_MAX: u64 = 1 << 30;

/// The file offset of the first valid record of `generation` after the bad
/// record at `bad_offset`, or `None` when nothing valid follows it in
/// `bytes` (the whole segment file): then the bad record is a torn tail.
pub fn next_valid_record(bytes: &[u8], bad_offset: u64, generation: u64) -> Option<u64> {
    if let Some(next) = after_claimed_length(bytes, bad_offset) {
        if starts_valid_record(bytes, next, generation) {
            return Some(next);
        }
    }
    let mut budget = RESYNC_CRC_BYTES_MAX;
    let page_start = next_page_with_record(bytes, bad_offset, generation, &mut budget);
    let limit = page_start.unwrap_or(bytes.len() as u64);
    first_record_between(bytes, bad_offset + 1, limit, generation, &mut budget).or(page_start)
}

/// Where the record at `offset` would end if its length field is right.
fn after_claimed_length(bytes: &[u8], offset: u64) -> Option<u64> {
    let header = bytes
        .get(offset as usize..)?
        .first_chunk::<RECORD_HEADER_BYTES>()?;
    let payload_bytes = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let end = offset + (RECORD_HEADER_BYTES as u64) + u64::from(payload_bytes);
    (end < bytes.len() as u64).then_some(end)
}

fn starts_valid_record(bytes: &[u8], offset: u64, generation: u64) -> bool {
    bytes
        .get(offset as usize..)
        .is_some_and(|rest| valid_record_end(rest, offset, generation).is_some())
}

/// The first page boundary after `offset` where a valid record starts.
fn next_page_with_record(
    bytes: &[u8],
    offset: u64,
    generation: u64,
    budget: &mut u64,
) -> Option<u64> {
    let page = WAL_PAGE_BYTES as u64;
    let mut start = (offset / page + 1) * page;
    while start < bytes.len() as u64 {
        if plausible_header(bytes, start, bytes.len() as u64, budget)
            && starts_valid_record(bytes, start, generation)
        {
            return Some(start);
        }
        start += page;
    }
    None
}

/// The first offset in `from..limit` where a valid record starts that ends
/// by `limit`, or `None` (also when the crc budget runs out).
fn first_record_between(
    bytes: &[u8],
    from: u64,
    limit: u64,
    generation: u64,
    budget: &mut u64,
) -> Option<u64> {
    let page = WAL_PAGE_BYTES as u64;
    for offset in from..limit {
        // A header never starts in a page's last < 9 bytes.
        if page - offset % page < RECORD_HEADER_BYTES as u64 {
            continue;
        }
        if *budget == 0 {
            return None;
        }
        if plausible_header(bytes, offset, limit, budget)
            && starts_valid_record(bytes, offset, generation)
        {
            return Some(offset);
        }
    }
    None
}

/// Cheap checks before a crc: a known kind and a record that ends by
/// `limit`. Charges the payload length to `budget` when they pass.
fn plausible_header(bytes: &[u8], offset: u64, limit: u64, budget: &mut u64) -> bool {
    let Some(header) = bytes
        .get(offset as usize..)
        .and_then(|rest| rest.first_chunk::<RECORD_HEADER_BYTES>())
    else {
        return false;
    };
    if RecordKind::from_byte(header[8]).is_none() {
        return false;
    }
    let payload_bytes = u64::from(u32::from_le_bytes([
        header[0], header[1], header[2], header[3],
    ]));
    if offset + RECORD_HEADER_BYTES as u64 + payload_bytes > limit || payload_bytes > *budget {
        return false;
    }
    *budget -= payload_bytes;
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::record::{encode_record, pad_to_page};

    const GENERATION: u64 = 7;

    /// Groups of `records_per_group` records, each group padded to its page
    /// end as the writer does; returns the bytes (followed by preallocated
    /// zeros) and each record's start offset.
    fn segment(groups: usize, records_per_group: usize) -> (Vec<u8>, Vec<u64>) {
        let mut out = Vec::new();
        let mut starts = Vec::new();
        for group in 0..groups {
            for record in 0..records_per_group {
                let payload: Vec<u8> = (0..300 + 97 * record)
                    .map(|i| (i * 7 + group * 13 + record) as u8 | 1)
                    .collect();
                let before = out.len();
                encode_record(&mut out, 0, GENERATION, RecordKind::Batch, &payload);
                let header_start = out.len() - RECORD_HEADER_BYTES - payload.len();
                assert!(header_start >= before);
                starts.push(header_start as u64);
            }
            pad_to_page(&mut out, 0, GENERATION);
        }
        out.resize(out.len() + 4 * WAL_PAGE_BYTES, 0);
        (out, starts)
    }

    #[test]
    fn a_flipped_payload_byte_resumes_at_the_next_record() {
        let (mut bytes, starts) = segment(3, 4);
        bytes[starts[5] as usize + 40] ^= 0x20;
        assert_eq!(
            next_valid_record(&bytes, starts[5], GENERATION),
            Some(starts[6])
        );
    }

    #[test]
    fn a_flipped_length_byte_resumes_at_the_next_record_of_the_same_group() {
        let (mut bytes, starts) = segment(3, 4);
        bytes[starts[5] as usize + 1] ^= 0x01;
        assert_eq!(
            next_valid_record(&bytes, starts[5], GENERATION),
            Some(starts[6])
        );
        bytes[starts[5] as usize + 3] ^= 0x80;
        assert_eq!(
            next_valid_record(&bytes, starts[5], GENERATION),
            Some(starts[6])
        );
    }

    #[test]
    fn damage_in_a_group_s_last_record_resumes_at_its_padding_or_the_next_group() {
        let (mut bytes, starts) = segment(3, 4);
        bytes[starts[7] as usize + 2] ^= 0x04;
        let resume = next_valid_record(&bytes, starts[7], GENERATION).expect("damage");
        assert!(resume > starts[7] && resume <= starts[8], "{resume}");
    }

    #[test]
    fn a_torn_tail_has_nothing_valid_after_it() {
        let (mut bytes, starts) = segment(2, 3);
        let last = *starts.last().unwrap() as usize;
        bytes[last + 100..].fill(0);
        assert_eq!(next_valid_record(&bytes, last as u64, GENERATION), None);
        // Truncated inside the last record.
        bytes.truncate(last + 50);
        assert_eq!(next_valid_record(&bytes, last as u64, GENERATION), None);
    }

    #[test]
    fn records_of_an_older_generation_after_the_tail_are_not_damage() {
        let (old, _) = segment(4, 4);
        let mut bytes = old.clone();
        let mut new = Vec::new();
        encode_record(&mut new, 0, GENERATION + 1, RecordKind::Batch, &[5u8; 200]);
        // Torn: only part of the new record reached the disk.
        bytes[..100].copy_from_slice(&new[..100]);
        assert_eq!(next_valid_record(&bytes, 0, GENERATION + 1), None);
    }
}
