//! `timberdb scrub`: read every file of a stopped node and report damage.
//!
//! Blocking std I/O, one file at a time: nothing else uses the directories
//! (scrub holds their lock, `storage::lock`), and a scrub is bounded by the
//! disk, not by the CPU. Each file is checked by the reader the server uses
//! for it (`storage::layout`, `storage::catalog`, `storage::manifest`,
//! `block::verify_block`, `wal::record` and `wal::payload`).

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::quarantine;
use super::report::{FileKind, Finding, ScrubReport};
use super::wal::scan_segment;
use crate::block::{verify_block, DirectoryRef};
use crate::storage::catalog::Catalog;
use crate::storage::layout::{Layout, ShardPaths, LAYOUT_FILE_NAME};
use crate::storage::lock::DirectoryLock;
use crate::storage::manifest::{
    list_generations, manifest_file_name, scan_generation, ManifestState,
};
use crate::storage::segment::{segment_file_name, segment_id};

/// What scrub learnt about one shard's manifest.
struct ShardManifest {
    /// The state start-up would load (or, when the manifest is damaged,
    /// the state up to the damage).
    state: ManifestState,
    /// The newest generation on disk (a new one must be above it).
    newest_generation: u64,
    /// Whether the state is only partial (damage start-up refuses).
    damaged: bool,
}

/// Scrubs `data_dir` and `wal_dir`, quarantining damaged blocks when asked.
/// `Err` is a reason the scrub could not run (not a data directory, in use).
pub fn scrub(data_dir: &Path, wal_dir: &Path, quarantine: bool) -> Result<ScrubReport, String> {
    let layout_path = data_dir.join(LAYOUT_FILE_NAME);
    if !layout_path.is_file() {
        return Err(format!(
            "{} is not a TimberDB data directory (it has no {LAYOUT_FILE_NAME})",
            data_dir.display()
        ));
    }
    let lock_wal_dir = if wal_dir.is_dir() { wal_dir } else { data_dir };
    let _lock =
        DirectoryLock::acquire(data_dir, lock_wal_dir, "timberdb scrub").map_err(|error| {
            format!("{error}; to scrub a running server use POST /api/v1/admin/scrub")
        })?;
    let mut report = ScrubReport {
        data_dir: data_dir.display().to_string(),
        wal_dir: wal_dir.display().to_string(),
        ..ScrubReport::default()
    };
    let shard_count = scrub_layout(&mut report, data_dir);
    let catalog = scrub_catalog(&mut report, data_dir);
    for shard in 0..shard_count {
        let paths = ShardPaths::new(data_dir, wal_dir, shard);
        let manifest = scrub_manifest(&mut report, &paths.shard_dir, shard)?;
        let damaged = scrub_blocks(
            &mut report,
            &paths.shard_dir,
            shard,
            &manifest.state,
            catalog.as_ref(),
        );
        scrub_wal(&mut report, &paths.wal_dir, shard, &manifest.state);
        if quarantine && !damaged.is_empty() {
            quarantine_shard(&mut report, &paths.shard_dir, shard, &manifest, &damaged);
        }
    }
    report.clean = report.damage.is_empty();
    Ok(report)
}

/// The shard count `layout.json` records (or, when it is damaged, the
/// number of `shard-<n>` directories, so the rest can still be scrubbed).
fn scrub_layout(report: &mut ScrubReport, data_dir: &Path) -> u32 {
    let path = data_dir.join(LAYOUT_FILE_NAME);
    report.files_checked += 1;
    let parsed = std::fs::read(&path)
        .map_err(|error| error.to_string())
        .and_then(|bytes| {
            report.bytes_checked += bytes.len() as u64;
            serde_json::from_slice::<Layout>(&bytes)
                .map_err(|error| format!("not valid JSON: {error}"))
        });
    match parsed {
        Ok(layout) => layout.shard_count,
        Err(detail) => {
            let mut finding = Finding::new(FileKind::Metadata, &path, 0, detail);
            finding.meaning = "the server refuses to start; write {\"format_version\": 1, \
                               \"shard_count\": N} into it, N being the number of shard-<n> directories"
                .into();
            report.damage.push(finding);
            (0..u32::MAX)
                .take_while(|n| data_dir.join(format!("shard-{n}")).is_dir())
                .count() as u32
        }
    }
}

fn scrub_catalog(report: &mut ScrubReport, data_dir: &Path) -> Option<Catalog> {
    let path = data_dir.join(crate::storage::catalog::CATALOG_FILE_NAME);
    report.files_checked += 1;
    report.bytes_checked += std::fs::metadata(&path).map_or(0, |meta| meta.len());
    match Catalog::load(data_dir) {
        Ok(catalog) => Some(catalog),
        Err(error) => {
            let mut finding = Finding::new(FileKind::Metadata, &path, 0, error.to_string());
            finding.meaning = "the server refuses to start; restore catalog.json from a \
                               backup (partition names and ids live only there)"
                .into();
            report.damage.push(finding);
            None
        }
    }
}

/// Reads every manifest generation of the shard; returns the state
/// start-up would use.
fn scrub_manifest(
    report: &mut ScrubReport,
    shard_dir: &Path,
    shard: u32,
) -> Result<ShardManifest, String> {
    let generations = if shard_dir.is_dir() {
        list_generations(shard_dir).map_err(|error| error.to_string())?
    } else {
        Vec::new()
    };
    let mut chosen: Option<ShardManifest> = None;
    for (index, &generation) in generations.iter().enumerate() {
        let path = shard_dir.join(manifest_file_name(generation));
        let bytes =
            std::fs::read(&path).map_err(|error| format!("read {}: {error}", path.display()))?;
        report.files_checked += 1;
        report.bytes_checked += bytes.len() as u64;
        let scan = scan_generation(&bytes, generation, shard);
        report.manifest_records_checked += scan.record_count;
        let older_exists = index + 1 < generations.len();
        let in_use = chosen.is_none();
        match scan.damage {
            Some((offset, _)) if !scan.checkpoint_complete && older_exists && in_use => {
                report.notes.push(format!(
                    "{}: checkpoint incomplete at offset {offset} (a crash while it was written); \
                     start-up reads the older generation",
                    path.display()
                ));
            }
            Some((offset, detail)) => {
                let mut finding = Finding::new(FileKind::Manifest, &path, offset, detail);
                finding.shard = Some(shard);
                finding.meaning = if in_use {
                    "the server refuses to start this shard: the record's checksum or contents \
                     fail and valid records follow it, so the edits after it cannot be trusted; \
                     restore the shard from a snapshot (quarantine cannot repair a manifest)"
                        .into()
                } else {
                    "an older generation start-up does not read (a newer complete one exists); \
                     the next start deletes it"
                        .into()
                };
                report.damage.push(finding);
                if in_use {
                    chosen = Some(ShardManifest {
                        state: scan.state,
                        newest_generation: generations[0],
                        damaged: true,
                    });
                }
            }
            None => {
                if let Some(offset) = scan.torn_tail_offset {
                    report.notes.push(format!(
                        "{}: ends in a torn append at offset {offset} (a crash); start-up ignores it",
                        path.display()
                    ));
                }
                if in_use && scan.checkpoint_complete {
                    chosen = Some(ShardManifest {
                        state: scan.state,
                        newest_generation: generations[0],
                        damaged: false,
                    });
                }
            }
        }
    }
    Ok(chosen.unwrap_or(ShardManifest {
        state: ManifestState::default(),
        newest_generation: generations.first().copied().unwrap_or(0),
        damaged: false,
    }))
}

/// Verifies every published block, its span and its slice's sequence
/// ranges. Returns the damaged blocks' findings (also in the report).
fn scrub_blocks(
    report: &mut ScrubReport,
    shard_dir: &Path,
    shard: u32,
    state: &ManifestState,
    catalog: Option<&Catalog>,
) -> Vec<Finding> {
    let empty = Catalog::default();
    let names = catalog.unwrap_or(&empty);
    let mut damaged = Vec::new();
    let mut by_segment: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for &(segment, offset) in state.blocks.keys() {
        by_segment.entry(segment).or_default().push(offset);
    }
    for (segment, offsets) in &by_segment {
        let path = shard_dir.join(segment_file_name(*segment));
        let file = std::fs::File::open(&path);
        report.files_checked += 1;
        let file_bytes = file
            .as_ref()
            .ok()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len());
        let mut previous_end = 0;
        for &offset in offsets {
            let entry = &state.blocks[&(*segment, offset)];
            let header = &entry.header;
            if catalog.is_some_and(|catalog| catalog.by_key(header.partition_key).is_none()) {
                report.notes.push(format!(
                    "{}: block at offset {offset} belongs to deleted partition key {}; start-up drops it",
                    path.display(),
                    header.partition_key
                ));
                continue;
            }
            report.blocks_checked += 1;
            let key = (*segment, offset);
            let span = header.span_bytes();
            let problem = match &file {
                Err(error) => Some(format!("the segment file cannot be opened: {error}")),
                Ok(_) if offset + span > file_bytes => Some(format!(
                    "the block's span {offset}..{} runs past the end of the file ({file_bytes} bytes)",
                    offset + span
                )),
                Ok(_) if offset < previous_end => Some(format!(
                    "the block starts inside the previous block, which ends at {previous_end}"
                )),
                Ok(_) => None,
            };
            previous_end = previous_end.max(offset + span);
            let result = match (problem, &file) {
                (Some(detail), _) => Err((offset, detail)),
                (None, Ok(file)) => check_block(file, key, entry, report),
                (None, Err(_)) => unreachable!("a file that did not open is a problem above"),
            };
            if let Err(damage) = result {
                let finding = Finding::block_detail(&path, shard, key, header, names, damage);
                report.damage.push(finding.clone());
                damaged.push(finding);
            }
        }
    }
    check_sequences(report, shard_dir, shard, state, names, &mut damaged);
    note_unused_segments(report, shard_dir, &by_segment);
    damaged
}

/// Reads the block's span and verifies it; `Err` is (file offset, detail).
fn check_block(
    file: &std::fs::File,
    (_, offset): (u32, u64),
    entry: &crate::storage::manifest::BlockEntry,
    report: &mut ScrubReport,
) -> Result<(), (u64, String)> {
    let header = &entry.header;
    let mut bytes = vec![0u8; header.span_bytes() as usize];
    file.read_exact_at(&mut bytes, offset)
        .map_err(|error| (offset, format!("the block cannot be read: {error}")))?;
    report.bytes_checked += bytes.len() as u64;
    DirectoryRef::new(header, entry.directory.clone())
        .and_then(|directory| verify_block(header, &directory, &bytes))
        .map_err(|error| {
            let error = error.rebase(offset);
            (damage_offset(&error).unwrap_or(offset), error.to_string())
        })
}

/// The file offset a (rebased) block error names, if it names one.
fn damage_offset(error: &crate::block::BlockError) -> Option<u64> {
    match error {
        crate::block::BlockError::ChecksumMismatch { offset, .. }
        | crate::block::BlockError::FrameMalformed { offset, .. } => Some(*offset),
        _ => None,
    }
}

/// A slice's blocks hold disjoint sequence ranges, all at or below its
/// sealed watermark. Gaps are allowed (a failed WAL write, a quarantine).
fn check_sequences(
    report: &mut ScrubReport,
    shard_dir: &Path,
    shard: u32,
    state: &ManifestState,
    catalog: &Catalog,
    damaged: &mut Vec<Finding>,
) {
    // Per partition: (first seq, last seq, block key).
    type Ranges = Vec<(u64, u64, (u32, u64))>;
    let mut by_partition: BTreeMap<u64, Ranges> = BTreeMap::new();
    for (key, entry) in &state.blocks {
        let header = &entry.header;
        by_partition.entry(header.partition_key).or_default().push((
            header.first_seq,
            header.last_seq(),
            *key,
        ));
    }
    for (partition_key, mut ranges) in by_partition {
        ranges.sort_unstable();
        let watermark = state.sealed.get(&partition_key).copied().unwrap_or(0);
        let mut previous_last: Option<u64> = None;
        for (first, last, key) in ranges {
            let detail = if previous_last.is_some_and(|previous| first <= previous) {
                Some(format!(
                    "its sequence range {first}..={last} overlaps the slice's previous block (ending at {})",
                    previous_last.unwrap_or_default()
                ))
            } else if last > watermark {
                Some(format!(
                    "its sequence range {first}..={last} passes the slice's sealed watermark {watermark}"
                ))
            } else {
                None
            };
            previous_last = Some(previous_last.map_or(last, |previous| previous.max(last)));
            let Some(detail) = detail else { continue };
            let header = &state.blocks[&key].header;
            let path = shard_dir.join(segment_file_name(key.0));
            let mut finding = Finding::new(FileKind::Block, &path, key.1, detail);
            finding.shard = Some(shard);
            finding.segment = Some(key.0);
            finding.block_offset = Some(key.1);
            finding.describe_block(header, shard, catalog);
            finding.meaning = "the manifest is inconsistent: queries may return entries twice or \
                               miss the WAL's copy; quarantine removes this block"
                .into();
            report.damage.push(finding.clone());
            damaged.push(finding);
        }
    }
}

fn note_unused_segments(
    report: &mut ScrubReport,
    shard_dir: &Path,
    used: &BTreeMap<u32, Vec<u64>>,
) {
    let Ok(entries) = std::fs::read_dir(shard_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if segment_id(&name).is_some_and(|id| !used.contains_key(&id)) {
            report.notes.push(format!(
                "{}: holds no published block (an interrupted seal); start-up deletes it",
                entry.path().display()
            ));
        }
    }
}

fn scrub_wal(report: &mut ScrubReport, wal_dir: &Path, shard: u32, state: &ManifestState) {
    let Ok(entries) = std::fs::read_dir(wal_dir) else {
        return;
    };
    let mut segments: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            ShardPaths::wal_generation(&name).map(|generation| (generation, entry.path()))
        })
        .collect();
    segments.sort();
    for (generation, path) in segments {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) => {
                let mut finding =
                    Finding::new(FileKind::Wal, &path, 0, format!("cannot be read: {error}"));
                finding.shard = Some(shard);
                finding.meaning = "the server cannot replay this segment".into();
                report.damage.push(finding);
                continue;
            }
        };
        report.files_checked += 1;
        report.bytes_checked += bytes.len() as u64;
        let scan = scan_segment(&path, &bytes, generation, shard, &state.sealed);
        report.wal_records_checked += scan.records;
        report.damage.extend(scan.damage);
        report.notes.extend(scan.note);
    }
}

fn quarantine_shard(
    report: &mut ScrubReport,
    shard_dir: &Path,
    shard: u32,
    manifest: &ShardManifest,
    damaged: &[Finding],
) {
    if manifest.damaged {
        report.notes.push(format!(
            "shard {shard}: not quarantined: its manifest is damaged, and a new generation written \
             from the state before the damage could lose or resurrect blocks"
        ));
        return;
    }
    match quarantine::quarantine_offline(
        shard_dir,
        shard,
        &manifest.state,
        manifest.newest_generation,
        damaged,
    ) {
        Ok(lines) => report.quarantined.extend(lines),
        Err(error) => report.notes.push(format!(
            "shard {shard}: quarantine failed, nothing was removed: {error}"
        )),
    }
}
