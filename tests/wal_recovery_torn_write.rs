//! WAL recovery after a torn write, at the library level: a segment file is
//! built with the real framing (`wal::record`) and real batch payloads
//! (`wal::payload`), cut or damaged, and read back with `replay::replay_dir`
//! exactly as a shard does at start-up.
//!
//! What it pins:
//! - A file cut at any offset (truncated, or zeroed past the cut with its
//!   preallocated length kept, which is how a torn write in a preallocated
//!   file looks) gives back exactly the batches that were complete before
//!   the cut, in order, with identical contents, and never a partial one.
//! - `records_recovered` / `entries_recovered` count what was applied.
//! - A cut inside a record (or damage) leaves a note; a clean cut does not.
//! - A flipped byte (or length) inside record k followed by valid records of
//!   the same generation is damage, not a torn tail (issue 13): replay in the
//!   default strict mode fails with `WalDamaged` naming the file and k's
//!   offset; with `WalRecovery::SkipDamaged` every record but k comes back,
//!   with a note naming the file and k's offset. A flip in the last record
//!   with nothing valid after it reads as a torn tail: records before k.
//! - A torn generation does not hide the next one: generation 2 is replayed
//!   in full after generation 1's complete records.

use std::collections::BTreeSet;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use timberdb::config::WalRecovery;
use timberdb::entry::{ColumnBatch, EntryRef, Level};
use timberdb::storage::StorageError;
use timberdb::wal::payload::{encode_payload, WalBatch};
use timberdb::wal::record::{encode_record, pad_to_page, RecordKind, WAL_PAGE_BYTES};
use timberdb::wal::replay::{replay_dir, ReplayOptions, ReplaySummary};
use timberdb::wal::writer::segment_path;

const PAGE: u64 = WAL_PAGE_BYTES as u64;
/// Zeros past the data, as in a preallocated segment.
const PREALLOCATED_TAIL_BYTES: usize = 3 * WAL_PAGE_BYTES;

/// One record (batch or padding) as laid out in the file.
#[derive(Clone, Debug)]
struct Placed {
    /// File offset of the record header.
    start: u64,
    /// File offset one past the payload.
    end: u64,
    /// One past the record's last non-zero byte: zeroing from here on leaves
    /// the record intact (rkyv archives may end in zero bytes).
    nonzero_end: u64,
    batch: Option<WalBatch>,
}

/// A segment image: the bytes written (ending on a page boundary, as every
/// group commit does) and where each record lies.
struct Segment {
    generation: u64,
    data: Vec<u8>,
    records: Vec<Placed>,
}

impl Segment {
    fn batches(&self) -> Vec<WalBatch> {
        self.records
            .iter()
            .filter_map(|record| record.batch.clone())
            .collect()
    }

    fn batch_records(&self) -> Vec<&Placed> {
        self.records.iter().filter(|r| r.batch.is_some()).collect()
    }

    /// The file as it lies on disk: data, then preallocated zeros.
    fn preallocated(&self) -> Vec<u8> {
        let mut file = self.data.clone();
        file.resize(self.data.len() + PREALLOCATED_TAIL_BYTES, 0);
        file
    }
}

/// A small deterministic generator, so a failure reproduces.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

const WORDS: [&str; 8] = [
    "request",
    "größe",
    "日本語",
    "🚀",
    "timeout",
    "naïve",
    "Ελληνικά",
    "ok",
];

/// `entry_count` entries with varied message lengths, unicode, tags, fields.
fn column_batch(rng: &mut Lcg, entry_count: usize, message_words_max: u64) -> ColumnBatch {
    let mut batch = ColumnBatch::default();
    for _ in 0..entry_count {
        let words = rng.next(message_words_max + 1) as usize;
        let message: Vec<&str> = (0..words)
            .map(|_| WORDS[rng.next(WORDS.len() as u64) as usize])
            .collect();
        let message = message.join(" ");
        let source = format!("host-{}", rng.next(5));
        let fields = match rng.next(3) {
            0 => String::new(),
            _ => format!("{{\"n\":{}}}", rng.next(1_000_000)),
        };
        let entry = EntryRef {
            timestamp_ns: 1_700_000_000_000_000_000 + rng.next(1 << 40) as i64,
            level: Level::ALL[rng.next(Level::ALL.len() as u64) as usize],
            source: &source,
            message: &message,
            fields_json: &fields,
        };
        let tag_value = format!("v{}", rng.next(100));
        let tags: Vec<(&str, &str)> = match rng.next(3) {
            0 => vec![],
            1 => vec![("k", tag_value.as_str())],
            _ => vec![("k", tag_value.as_str()), ("zone", "eu-west-ü")],
        };
        batch.push(&entry, &tags);
    }
    batch
}

/// Builds `batch_count` batch records in groups of 1..=4, each group padded
/// to its page end as the writer's group commit does. Sizes vary from a
/// single short entry to records spanning several pages.
fn build_segment(generation: u64, seed: u64, batch_count: usize) -> Segment {
    let mut rng = Lcg(seed);
    let mut data = Vec::new();
    let mut records = Vec::new();
    let mut next_seq = [1u64, 1u64];
    let mut payload = rkyv::util::AlignedVec::new();
    let mut written = 0;
    while written < batch_count {
        let group_size = (1 + rng.next(4) as usize).min(batch_count - written);
        for _ in 0..group_size {
            let (entry_count, words_max) = match written % 5 {
                0 => (1, 3),
                1 => (40 + rng.next(40) as usize, 30), // several pages
                2 => (1 + rng.next(6) as usize, 6),
                3 => (10 + rng.next(20) as usize, 8), // about a page
                _ => (1 + rng.next(3) as usize, 40),
            };
            let partition = rng.next(2) as usize;
            let batch = column_batch(&mut rng, entry_count, words_max);
            let wal_batch = WalBatch {
                partition_key: 10 + partition as u64,
                first_seq: next_seq[partition],
                batch,
            };
            next_seq[partition] += entry_count as u64;
            encode_payload(&wal_batch, &mut payload);
            encode_record(&mut data, 0, generation, RecordKind::Batch, &payload);
            let end = data.len() as u64;
            let start = end - 9 - payload.len() as u64;
            records.push(placed(&data, start, end, Some(wal_batch)));
            written += 1;
        }
        let before = data.len() as u64;
        pad_to_page(&mut data, 0, generation);
        let end = data.len() as u64;
        // Fewer than 9 bytes to the page end are plain zeros, not a record.
        if end - before >= 9 {
            records.push(placed(&data, before, end, None));
        }
        assert_eq!(end % PAGE, 0, "a group ends on a page boundary");
    }
    Segment {
        generation,
        data,
        records,
    }
}

fn placed(data: &[u8], start: u64, end: u64, batch: Option<WalBatch>) -> Placed {
    let bytes = &data[start as usize..end as usize];
    let last_nonzero = bytes
        .iter()
        .rposition(|byte| *byte != 0)
        .expect("a record header is never all zero");
    Placed {
        start,
        end,
        nonzero_end: start + last_nonzero as u64 + 1,
        batch,
    }
}

/// Replays `dir`, returning the batches applied in order and the summary.
fn replay(dir: &Path) -> (Vec<WalBatch>, ReplaySummary) {
    replay_with(dir, WalRecovery::SkipDamaged).expect("replay_dir")
}

fn replay_with(
    dir: &Path,
    recovery: WalRecovery,
) -> Result<(Vec<WalBatch>, ReplaySummary), StorageError> {
    let mut applied = Vec::new();
    let options = ReplayOptions {
        recovery,
        accepted: Vec::new(),
    };
    // `apply` answers how many entries it took; here, all of them.
    let summary = replay_dir(dir, &options, |batch| {
        let entry_count = batch.batch.len() as u64;
        applied.push(batch);
        entry_count
    })?;
    Ok((applied, summary))
}

/// Every batch but the `k`th.
fn all_but(batches: &[WalBatch], k: usize) -> Vec<WalBatch> {
    let mut rest = batches.to_vec();
    rest.remove(k);
    rest
}

/// Strict replay of a file with record `k` (at `offset`) damaged: refused
/// naming the file and the offset, unless nothing valid follows the record
/// (the last one, not followed by padding): then a torn tail.
fn check_strict_refuses(dir: &Path, path: &Path, all: &[WalBatch], k: usize, offset: u64) {
    match replay_with(dir, WalRecovery::Strict) {
        Err(error @ StorageError::WalDamaged { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains(&format!("at offset {offset}"))
                    && message.contains(&path.display().to_string()),
                "record {k}: {message}"
            );
        }
        Err(other) => panic!("record {k}: {other}"),
        Ok((applied, _)) => {
            assert_eq!(k, all.len() - 1, "only the last record can read as torn");
            assert!(applied == all[..k], "record {k}: torn tail");
        }
    }
}

fn entry_count(batches: &[WalBatch]) -> u64 {
    batches.iter().map(|b| b.batch.len() as u64).sum()
}

/// Every offset within `radius` of a record boundary or page boundary, plus
/// a stride over the whole file.
fn cut_offsets(segment: &Segment, radius: u64, stride: u64) -> BTreeSet<u64> {
    let data_bytes = segment.data.len() as u64;
    let mut anchors: Vec<u64> = Vec::new();
    for record in &segment.records {
        anchors.extend([
            record.start,
            record.start + 9,
            record.end,
            record.nonzero_end,
        ]);
    }
    anchors.extend((0..=data_bytes / PAGE).map(|page| page * PAGE));
    let mut cuts: BTreeSet<u64> = anchors
        .iter()
        .flat_map(|anchor| anchor.saturating_sub(radius)..=anchor + radius)
        .filter(|cut| *cut <= data_bytes)
        .collect();
    cuts.extend((0..data_bytes).step_by(stride as usize));
    cuts.insert(data_bytes);
    cuts
}

/// What replay must report for the file truncated at `cut`: the batches of
/// every record that ends at or before it (always a prefix, so a count),
/// and a note iff the cut falls strictly inside a record (a torn record).
fn expected_truncated(segment: &Segment, cut: u64) -> (usize, bool) {
    let complete = segment.records.iter().filter(|r| r.end <= cut);
    let batch_count = complete.filter(|r| r.batch.is_some()).count();
    let torn = segment.records.iter().any(|r| r.start < cut && cut < r.end);
    (batch_count, torn)
}

/// The same for the file zeroed from `cut` on with its length kept: a record
/// survives iff zeroing left it unchanged; the first damaged record gives a
/// note unless the zeroing reached back to its header start (then it reads
/// as the all-zero "end of data" header).
fn expected_zeroed(segment: &Segment, cut: u64) -> (usize, bool) {
    let intact = segment.records.iter().filter(|r| r.nonzero_end <= cut);
    let batch_count = intact.filter(|r| r.batch.is_some()).count();
    let first_damaged = segment.records.iter().find(|r| r.nonzero_end > cut);
    let noted = first_damaged.is_some_and(|r| {
        let kept = &segment.data[r.start as usize..cut.max(r.start) as usize];
        kept.iter().any(|byte| *byte != 0)
    });
    (batch_count, noted)
}

fn check_replay(dir: &Path, want: &[WalBatch], want_note: bool, what: &str) -> ReplaySummary {
    let (applied, summary) = replay(dir);
    assert_eq!(
        applied.len(),
        want.len(),
        "{what}: number of batches recovered (notes: {:?})",
        summary.notes
    );
    assert!(applied == want, "{what}: recovered batches differ");
    assert_eq!(summary.records_recovered, want.len() as u64, "{what}");
    assert_eq!(summary.entries_recovered, entry_count(want), "{what}");
    assert_eq!(
        !summary.notes.is_empty(),
        want_note,
        "{what}: notes {:?}",
        summary.notes
    );
    summary
}

#[test]
fn the_built_segment_has_the_shapes_the_tests_need() {
    let segment = build_segment(7, 1, 36);
    let batch_records = segment.batch_records();
    assert_eq!(batch_records.len(), 36);
    let page_crossing = batch_records
        .iter()
        .filter(|r| r.start / PAGE != (r.end - 1) / PAGE)
        .count();
    assert!(page_crossing >= 5, "{page_crossing} records cross a page");
    assert!(batch_records.iter().any(|r| r.end - r.start > 2 * PAGE));
    let paddings = segment.records.len() - batch_records.len();
    assert!(paddings >= 8, "{paddings} group-commit paddings");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(segment_path(dir.path(), 7), segment.preallocated()).unwrap();
    let summary = check_replay(dir.path(), &segment.batches(), false, "intact");
    assert_eq!(summary.bytes_discarded, 0);
    assert_eq!(summary.segments.len(), 1);
    assert_eq!(summary.segments[0].generation, 7);
}

#[test]
fn a_cut_at_any_offset_recovers_exactly_the_complete_records() {
    let started = Instant::now();
    let segment = build_segment(7, 2, 36);
    let all = segment.batches();
    // One directory holds the file truncated at the cut; the other the file
    // zeroed from the cut with its preallocated length kept. Cuts go from
    // the end backwards, so each step only shortens the one file and zeroes
    // a few more bytes of the other (rewriting whole files is the slow part).
    let truncated_dir = tempfile::tempdir().unwrap();
    let zeroed_dir = tempfile::tempdir().unwrap();
    let truncated_path = segment_path(truncated_dir.path(), segment.generation);
    let zeroed_path = segment_path(zeroed_dir.path(), segment.generation);
    std::fs::write(&truncated_path, &segment.data).unwrap();
    std::fs::write(&zeroed_path, segment.preallocated()).unwrap();
    let truncated = std::fs::OpenOptions::new()
        .write(true)
        .open(&truncated_path)
        .unwrap();
    let zeroed = std::fs::OpenOptions::new()
        .write(true)
        .open(&zeroed_path)
        .unwrap();
    let cuts = cut_offsets(&segment, 8, 97);
    assert!(cuts.len() > 2000, "{} cuts", cuts.len());
    let mut zeroed_from = segment.data.len() as u64;
    for &cut in cuts.iter().rev() {
        truncated.set_len(cut).unwrap();
        let (complete, torn) = expected_truncated(&segment, cut);
        let what = format!("truncated at {cut}");
        check_replay(truncated_dir.path(), &all[..complete], torn, &what);

        let zeros = vec![0u8; (zeroed_from - cut) as usize];
        zeroed.write_all_at(&zeros, cut).unwrap();
        zeroed_from = cut;
        let (intact, noted) = expected_zeroed(&segment, cut);
        let what = format!("zeroed from {cut}");
        check_replay(zeroed_dir.path(), &all[..intact], noted, &what);
    }
    let zeroed_bytes = std::fs::read(&zeroed_path).unwrap();
    assert_eq!(zeroed_bytes.len(), segment.preallocated().len());
    assert!(zeroed_bytes.iter().all(|byte| *byte == 0));
    eprintln!(
        "{} cuts of a {}-byte segment checked in {:?}",
        cuts.len(),
        segment.data.len(),
        started.elapsed()
    );
}

#[test]
fn a_flipped_byte_in_record_k_is_refused_or_skipped_alone() {
    let segment = build_segment(3, 3, 32);
    let dir = tempfile::tempdir().unwrap();
    let path = segment_path(dir.path(), segment.generation);
    let batch_records = segment.batch_records();
    let all = segment.batches();
    let last = batch_records.len() - 1;
    for k in [0, 1, 2, batch_records.len() / 2, last - 1, last] {
        let record = batch_records[k];
        let length = record.end - record.start;
        // A payload byte, the stored crc, the kind and the payload's last byte.
        for (what, byte) in [
            ("payload", record.start + 9 + (length - 9) / 2),
            ("crc", record.start + 5),
            ("kind", record.start + 8),
            ("last payload byte", record.end - 1),
        ] {
            let mut file = segment.preallocated();
            file[byte as usize] ^= 0x5a;
            std::fs::write(&path, &file).unwrap();
            let context = format!("record {k} ({what}, byte {byte})");
            check_strict_refuses(dir.path(), &path, &all, k, record.start);
            let summary = check_replay(dir.path(), &all_but(&all, k), true, &context);
            let note = summary.notes.join("\n");
            assert!(
                note.contains(&format!("offset {}", record.start)) && note.contains("Corrupt"),
                "{context}: {note}"
            );
            assert!(
                note.contains(&path.display().to_string()),
                "{context}: {note}"
            );
            assert!(summary.bytes_discarded > 0, "{context}");
        }
    }
}

#[test]
fn a_flipped_length_is_refused_or_skipped_alone() {
    let segment = build_segment(5, 4, 32);
    let dir = tempfile::tempdir().unwrap();
    let path = segment_path(dir.path(), segment.generation);
    let batch_records = segment.batch_records();
    let all = segment.batches();
    for k in [0, 7, batch_records.len() - 1] {
        let record = batch_records[k];
        // Low byte: the record now ends elsewhere in the file (checksum
        // fails). Byte 3: it claims 16 MiB more and runs past the end (torn).
        for (length_byte, reason) in [(0, "Corrupt"), (3, "Torn")] {
            let mut file = segment.preallocated();
            file[(record.start + length_byte) as usize] ^= 0x01;
            std::fs::write(&path, &file).unwrap();
            let context = format!("record {k}, length byte {length_byte}");
            check_strict_refuses(dir.path(), &path, &all, k, record.start);
            let summary = check_replay(dir.path(), &all_but(&all, k), true, &context);
            let note = summary.notes.join("\n");
            assert!(
                note.contains(&format!("offset {}", record.start)) && note.contains(reason),
                "{context}: {note}"
            );
        }
    }
}

#[test]
fn a_torn_first_generation_does_not_hide_the_second() {
    let first = build_segment(1, 5, 30);
    let second = build_segment(2, 6, 30);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(segment_path(dir.path(), 2), second.preallocated()).unwrap();
    let first_path = segment_path(dir.path(), 1);
    let batch_records = first.batch_records();
    for k in [3, batch_records.len() / 2, batch_records.len() - 1] {
        let record = batch_records[k];
        let middle = (record.start + record.end) / 2;
        let mut want = first.batches()[..k].to_vec();
        want.extend(second.batches());

        std::fs::write(&first_path, &first.data[..middle as usize]).unwrap();
        let summary = check_replay(dir.path(), &want, true, &format!("gen 1 cut in record {k}"));
        let generations: Vec<u64> = summary.segments.iter().map(|s| s.generation).collect();
        assert_eq!(generations, vec![1, 2]);

        let mut zeroed = first.preallocated();
        zeroed[middle as usize..].fill(0);
        std::fs::write(&first_path, &zeroed).unwrap();
        check_replay(
            dir.path(),
            &want,
            true,
            &format!("gen 1 zeroed in record {k}"),
        );

        let mut flipped = first.preallocated();
        flipped[middle as usize] ^= 0xff;
        std::fs::write(&first_path, &flipped).unwrap();
        let mut want_skipped = all_but(&first.batches(), k);
        want_skipped.extend(second.batches());
        check_replay(
            dir.path(),
            &want_skipped,
            true,
            &format!("gen 1 flipped in record {k}"),
        );
    }
}

#[test]
fn records_of_another_generation_are_not_replayed() {
    // A segment file renamed to a generation it was not written with (as a
    // recycled spare holds stale records past its new tail): nothing of it
    // may be replayed, and replay says why.
    let segment = build_segment(4, 7, 30);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(segment_path(dir.path(), 9), segment.preallocated()).unwrap();
    let summary = check_replay(dir.path(), &[], true, "generation 4 named 9");
    assert!(summary.notes[0].contains("offset 0"), "{:?}", summary.notes);
    assert_eq!(summary.bytes_discarded, segment.data.len() as u64);
}
