//! Reading a shard's WAL back at start-up.
//!
//! Segments are read oldest first. Within a segment, reading stops at the
//! first record that is torn (runs past what was written) or bad (fails its
//! checksum, or its payload does not decode). What happens next depends on
//! what follows it (`resync`):
//! - Nothing valid of this generation: the torn tail of the last write. No
//!   record after it can have been acknowledged, because one fdatasync
//!   covers a whole group and later groups are written after earlier ones.
//!   The rest of the segment is ignored and a note logged.
//! - Valid records of this generation: damage in the middle of what was
//!   written, and those records may be acknowledged. `WalRecovery::Strict`
//!   refuses to start (`StorageError::WalDamaged`, naming the file, the
//!   offset and what follows); `SkipDamaged` skips only the damaged bytes
//!   and replays everything after them; so does a damage the operator
//!   already accepted at an earlier start (`ReplayOptions::accepted`).
//!
//! Either way some ids may have been lost (a damaged last record reads like
//! a torn tail), so replay reports `seq_headroom`: how many sequence
//! numbers past the highest replayed one recovery must keep free, so a lost
//! entry's id is never handed to a new entry.
//!
//! The next segment is always read, since each segment generation starts
//! after a clean rotation or a restart. Blocking std I/O: this runs before
//! the shard serves anything.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::payload::{decode_payload, WalBatch};
use super::record::{RecordReader, WAL_PAGE_BYTES};
use super::resync::next_valid_record;
use super::writer::ClosedSegment;
use crate::config::WalRecovery;
use crate::storage::error::{Result, StorageError};

/// Every entry in a WAL batch payload costs at least its 8-byte timestamp,
/// so `bytes / SEQ_HEADROOM_BYTES_PER_ENTRY` bounds the entries lost bytes
/// can have held.
pub const SEQ_HEADROOM_BYTES_PER_ENTRY: u64 = 8;

/// Extra sequence numbers kept free after any loss: groups whose WAL write
/// failed keep their numbers (a gap), so a lost record's ids can lie that
/// far above the last replayed one. Ids are u64; a gap costs nothing.
pub const SEQ_HEADROOM_SLACK: u64 = 1 << 24;

/// How replay treats damage (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    pub recovery: WalRecovery,
    /// Damage an earlier start skipped with `SkipDamaged`, as (generation,
    /// offset): skipped again without refusing.
    pub accepted: Vec<(u64, u64)>,
}

/// One damaged stretch replay skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedDamage {
    pub path: PathBuf,
    pub generation: u64,
    /// Where the bad record starts.
    pub offset: u64,
    /// Where valid records resume.
    pub resume_offset: u64,
    /// Whether an earlier start already skipped it (logged, not counted again).
    pub accepted_before: bool,
    /// Entries of the damaged stretch, as far as sequence numbers tell: per
    /// partition key, the ids between the last entry before it and the first
    /// after it. A partition whose only record was damaged is not seen here.
    pub lost_seq_ranges: Vec<(u64, u64, u64)>,
}

impl SkippedDamage {
    pub fn damaged_bytes(&self) -> u64 {
        self.resume_offset - self.offset
    }

    pub fn lost_entries_seen(&self) -> u64 {
        let lengths = self
            .lost_seq_ranges
            .iter()
            .map(|(_, first, last)| last - first + 1);
        lengths.sum()
    }
}

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
    /// Damage skipped (`SkipDamaged`, or accepted at an earlier start).
    pub skipped: Vec<SkippedDamage>,
    /// Sequence numbers to keep free past each slice's highest replayed one
    /// (0 when every segment ended cleanly).
    pub seq_headroom: u64,
}

/// Replays every WAL segment in `dir`, calling `apply` for each batch in order.
pub fn replay_dir(
    dir: &Path,
    options: &ReplayOptions,
    mut apply: impl FnMut(WalBatch) -> u64,
) -> Result<ReplaySummary> {
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
    let mut replay = Replay {
        options,
        summary,
        last_seq_by_partition: HashMap::new(),
        open_gap: None,
    };
    for (generation, path) in generations {
        let segment = replay.segment(&path, generation, &mut apply)?;
        replay.summary.segments.push(segment);
    }
    replay.close_gap();
    Ok(replay.summary)
}

/// The state of one replay across segments.
struct Replay<'a> {
    options: &'a ReplayOptions,
    summary: ReplaySummary,
    /// The highest sequence number read so far, per partition key.
    last_seq_by_partition: HashMap<u64, u64>,
    /// The skipped damage whose lost ids are still being measured: each
    /// partition's first record after it closes its range.
    open_gap: Option<(SkippedDamage, HashMap<u64, u64>)>,
}

/// Where one run of valid records ended.
struct RunEnd {
    offset: u64,
    /// `None`: a clean end. Else what was wrong with the record at `offset`.
    bad: Option<String>,
}

impl Replay<'_> {
    fn segment(
        &mut self,
        path: &Path,
        generation: u64,
        apply: &mut impl FnMut(WalBatch) -> u64,
    ) -> Result<ClosedSegment> {
        let bytes =
            std::fs::read(path).map_err(|error| StorageError::io("read wal", path, 0, error))?;
        let mut max_seq_by_partition: HashMap<u64, u64> = HashMap::new();
        let mut position = 0;
        loop {
            let end = self.run(
                &bytes,
                position,
                generation,
                &mut max_seq_by_partition,
                apply,
            );
            let Some(detail) = end.bad else { break };
            let Some(resume) = next_valid_record(&bytes, end.offset, generation) else {
                self.torn_tail(path, &bytes, end.offset, &detail);
                break;
            };
            let accepted = self.options.accepted.contains(&(generation, end.offset));
            if self.options.recovery == WalRecovery::Strict && !accepted {
                let (records_after, entries_after) = count_after(&bytes, resume, generation);
                return Err(StorageError::WalDamaged {
                    path: path.to_path_buf(),
                    offset: end.offset,
                    detail,
                    damaged_bytes: resume - end.offset,
                    records_after,
                    entries_after,
                });
            }
            self.skip(path, generation, end.offset, resume, accepted, &detail);
            position = resume;
        }
        Ok(ClosedSegment {
            generation,
            path: path.to_path_buf(),
            max_seq_by_partition,
        })
    }

    /// Applies the valid records from `position` on; returns where they end.
    fn run(
        &mut self,
        bytes: &[u8],
        position: u64,
        generation: u64,
        max_seq_by_partition: &mut HashMap<u64, u64>,
        apply: &mut impl FnMut(WalBatch) -> u64,
    ) -> RunEnd {
        let mut reader = RecordReader::new(&bytes[position as usize..], position, generation);
        for record in reader.by_ref() {
            // A record whose checksum holds but whose payload does not
            // decode is a bug or a checksum collision: treated as bad.
            let batch = match decode_payload(record.payload) {
                Ok(batch) => batch,
                Err(detail) => {
                    return RunEnd {
                        offset: record.offset,
                        bad: Some(format!("its payload does not decode: {detail}")),
                    }
                }
            };
            let last_seq = batch.first_seq + batch.batch.len() as u64 - 1;
            let max_seq = max_seq_by_partition.entry(batch.partition_key).or_insert(0);
            *max_seq = (*max_seq).max(last_seq);
            self.note_seqs(batch.partition_key, batch.first_seq, last_seq);
            self.summary.records_recovered += 1;
            self.summary.entries_recovered += apply(batch);
        }
        let end = reader.end();
        RunEnd {
            offset: end.offset,
            bad: (!end.is_clean()).then(|| format!("{:?}", end.reason)),
        }
    }

    /// Tracks the highest id per partition and measures the ids an open
    /// skipped damage lost (the gap before a partition's next record).
    fn note_seqs(&mut self, partition_key: u64, first_seq: u64, last_seq: u64) {
        let before = self.last_seq_by_partition.get(&partition_key).copied();
        if let Some((damage, measured)) = &mut self.open_gap {
            if let (Some(before), None) = (before, measured.get(&partition_key)) {
                measured.insert(partition_key, first_seq);
                if first_seq > before + 1 {
                    let range = (partition_key, before + 1, first_seq - 1);
                    damage.lost_seq_ranges.push(range);
                }
            }
        }
        let last = self.last_seq_by_partition.entry(partition_key).or_insert(0);
        *last = (*last).max(last_seq);
    }

    fn torn_tail(&mut self, path: &Path, bytes: &[u8], offset: u64, detail: &str) {
        let tail = &bytes[(offset as usize).min(bytes.len())..];
        let discarded = leading_nonzero_pages_bytes(tail);
        self.summary.bytes_discarded += discarded;
        self.add_headroom(discarded.max(WAL_PAGE_BYTES as u64));
        self.summary.notes.push(format!(
            "{}: valid records end at offset {offset} ({detail}); nothing valid of this \
             generation follows (the torn end of the last write); {discarded} non-zero bytes \
             after it were ignored",
            path.display(),
        ));
    }

    fn skip(
        &mut self,
        path: &Path,
        generation: u64,
        offset: u64,
        resume_offset: u64,
        accepted_before: bool,
        detail: &str,
    ) {
        self.close_gap();
        self.summary.bytes_discarded += resume_offset - offset;
        self.add_headroom(resume_offset - offset);
        self.summary.notes.push(format!(
            "{}: damaged record at offset {offset} ({detail}) skipped: {} bytes up to offset \
             {resume_offset}, where valid records resume{}",
            path.display(),
            resume_offset - offset,
            if accepted_before {
                " (skipped at an earlier start already)"
            } else {
                ""
            }
        ));
        let damage = SkippedDamage {
            path: path.to_path_buf(),
            generation,
            offset,
            resume_offset,
            accepted_before,
            lost_seq_ranges: Vec::new(),
        };
        self.open_gap = Some((damage, HashMap::new()));
    }

    fn close_gap(&mut self) {
        if let Some((damage, _)) = self.open_gap.take() {
            self.summary.skipped.push(damage);
        }
    }

    fn add_headroom(&mut self, lost_bytes: u64) {
        let entries = lost_bytes.div_ceil(SEQ_HEADROOM_BYTES_PER_ENTRY);
        self.summary.seq_headroom += entries + SEQ_HEADROOM_SLACK;
    }
}

/// Valid batch records and their entries from `resume` to the end of the
/// segment, skipping further damage: what a stop at the damage would drop.
fn count_after(bytes: &[u8], resume: u64, generation: u64) -> (u64, u64) {
    let (mut records, mut entries) = (0, 0);
    let mut position = Some(resume);
    while let Some(start) = position {
        let mut reader = RecordReader::new(&bytes[start as usize..], start, generation);
        for record in reader.by_ref() {
            records += 1;
            entries += decode_payload(record.payload).map_or(0, |b| b.batch.len() as u64);
        }
        let end = reader.end();
        position = match end.is_clean() {
            true => None,
            false => next_valid_record(bytes, end.offset, generation),
        };
    }
    (records, entries)
}

/// Bytes of `tail` up to its first all-zero page: what a torn write or a
/// recycled file left after the valid records. A preallocated segment reads
/// as zeros past its data, so this stops at once on a clean segment.
fn leading_nonzero_pages_bytes(tail: &[u8]) -> u64 {
    let is_zero = |page: &[u8]| {
        page.chunks(8)
            .all(|word| word.iter().fold(0u8, |acc, byte| acc | byte) == 0)
    };
    let pages = tail.chunks(WAL_PAGE_BYTES);
    let mut bytes = 0;
    for page in pages {
        if is_zero(page) {
            break;
        }
        bytes += page.len() as u64;
    }
    bytes
}
