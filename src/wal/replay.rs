//! Reading a shard's WAL back at start-up.
//!
//! Segments are read oldest first. Within a segment, reading stops at the
//! first record that is torn (runs past what was written) or fails its
//! checksum: nothing after it in that segment can have been acknowledged,
//! because one fdatasync covers a whole group and later groups are written
//! after earlier ones. The next segment is still read, since each segment
//! generation starts after a clean rotation or a restart. Blocking std I/O:
//! this runs before the shard serves anything.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::payload::{decode_payload, WalBatch};
use super::record::{EndReason, RecordReader};
use super::writer::ClosedSegment;
use crate::storage::error::{Result, StorageError};

/// What replay found, for the start-up log and for `WalWriter::open`.
#[derive(Default)]
pub struct ReplaySummary {
    pub segments: Vec<ClosedSegment>,
    pub spares: Vec<PathBuf>,
    /// Valid batch records read.
    pub records_recovered: u64,
    /// Entries `apply` took (records already covered by sealed blocks are
    /// read but not applied).
    pub entries_recovered: u64,
    /// Non-zero bytes after the point where a segment's valid records end:
    /// torn or never-acknowledged writes, or stale records of a recycled file.
    pub bytes_discarded: u64,
    /// One line per segment that ended on a corrupt record, for the log.
    pub notes: Vec<String>,
}

/// Replays every WAL segment in `dir`, calling `apply` for each batch in order.
pub fn replay_dir(dir: &Path, mut apply: impl FnMut(WalBatch) -> u64) -> Result<ReplaySummary> {
    let mut summary = ReplaySummary::default();
    let mut generations = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(summary),
        Err(error) => return Err(StorageError::io("list wal directory", dir, 0, error)),
    };
    for entry in entries {
        let entry = entry.map_err(|error| StorageError::io("list wal directory", dir, 0, error))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("spare-") && name.ends_with(".wal") {
            summary.spares.push(entry.path());
        } else if let Some(generation) = crate::storage::layout::ShardPaths::wal_generation(&name) {
            generations.push((generation, entry.path()));
        }
    }
    generations.sort();
    for (generation, path) in generations {
        let segment = replay_segment(&path, generation, &mut summary, &mut apply)?;
        summary.segments.push(segment);
    }
    Ok(summary)
}

fn replay_segment(
    path: &Path,
    generation: u64,
    summary: &mut ReplaySummary,
    apply: &mut impl FnMut(WalBatch) -> u64,
) -> Result<ClosedSegment> {
    let bytes =
        std::fs::read(path).map_err(|error| StorageError::io("read wal", path, 0, error))?;
    let mut reader = RecordReader::new(&bytes, 0, generation);
    let mut max_seq_by_partition: HashMap<u64, u64> = HashMap::new();
    let mut undecodable_at = None;
    for record in reader.by_ref() {
        // A record whose checksum holds but whose payload does not decode is
        // a bug or a checksum collision; treat it like corruption: stop here.
        let batch = match decode_payload(record.payload) {
            Ok(batch) => batch,
            Err(detail) => {
                summary.notes.push(format!(
                    "{}: record at offset {}: {detail}",
                    path.display(),
                    record.offset
                ));
                undecodable_at = Some(record.offset);
                break;
            }
        };
        let last_seq = batch.first_seq + batch.batch.len() as u64 - 1;
        let max_seq = max_seq_by_partition.entry(batch.partition_key).or_insert(0);
        *max_seq = (*max_seq).max(last_seq);
        summary.records_recovered += 1;
        summary.entries_recovered += apply(batch);
    }
    let end = reader.end();
    let end_offset = undecodable_at.unwrap_or(end.offset);
    let tail = &bytes[(end_offset as usize).min(bytes.len())..];
    let discarded = leading_nonzero_pages_bytes(tail);
    summary.bytes_discarded += discarded;
    if undecodable_at.is_none() && !matches!(end.reason, EndReason::CleanEnd) {
        summary.notes.push(format!(
            "{}: valid records end at offset {} ({:?}); {discarded} non-zero bytes after it were ignored",
            path.display(),
            end.offset,
            end.reason
        ));
    }
    Ok(ClosedSegment {
        generation,
        path: path.to_path_buf(),
        max_seq_by_partition,
    })
}

/// Bytes of `tail` up to its first all-zero page: what a torn write or a
/// recycled file left after the valid records. A preallocated segment reads
/// as zeros past its data, so this stops at once on a clean segment.
fn leading_nonzero_pages_bytes(tail: &[u8]) -> u64 {
    let is_zero = |page: &[u8]| {
        page.chunks(8)
            .all(|word| word.iter().fold(0u8, |acc, byte| acc | byte) == 0)
    };
    let pages = tail.chunks(super::record::WAL_PAGE_BYTES);
    let mut bytes = 0;
    for page in pages {
        if is_zero(page) {
            break;
        }
        bytes += page.len() as u64;
    }
    bytes
}
