//! Quarantine: taking damaged blocks out of the database, on the record.
//!
//! For each damaged block, in order:
//! 1. a copy of its span goes to `shard-<n>/quarantine/seg-<id>-<offset>.block`
//!    (the bytes stay in the segment too, but recovery punches every gap
//!    between published blocks at the next start, and a quarantined block
//!    is such a gap: the copy is what is left to examine afterwards);
//! 2. a line goes to `shard-<n>/quarantine.jsonl` (appended, `fdatasync`ed);
//! 3. the block leaves the manifest: offline by a new manifest generation
//!    without it, online by a `RemoveBlock` record. This is the commit point.
//!
//! A crash between 2 and 3 leaves a line for a block still published: the
//! next scrub finds it again and writes a second line. The manifest
//! decides; readers of `quarantine.jsonl` take the last line per
//! (shard, segment, offset).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::report::{Finding, QuarantineLine};
use crate::storage::manifest::{Edit, ManifestLog, ManifestState};
use crate::storage::segment::segment_file_name;

pub const QUARANTINE_FILE_NAME: &str = "quarantine.jsonl";
pub const QUARANTINE_DIR_NAME: &str = "quarantine";

/// The line recording `finding` (a damaged block) as quarantined.
pub fn line_for(finding: &Finding, copy: Option<String>) -> Option<QuarantineLine> {
    let (segment, offset) = finding.block_key()?;
    Some(QuarantineLine {
        time_ns: crate::shard::partitions::now_ns(),
        shard: finding.shard?,
        segment,
        offset,
        partition: finding.partition.clone(),
        partition_key: finding.partition_key?,
        slice: finding.slice?,
        first_seq: finding.first_seq?,
        last_seq: finding.last_seq?,
        entries: finding.entries?,
        reason: finding.detail.clone(),
        copy,
    })
}

/// Where the copy of block `(segment, offset)` goes, relative to the shard directory.
pub fn copy_name(segment: u32, offset: u64) -> String {
    format!("{QUARANTINE_DIR_NAME}/seg-{segment:06}-{offset}.block")
}

/// Writes `bytes` as the copy of a quarantined block and returns its
/// relative name. Blocking I/O.
pub fn write_copy(
    shard_dir: &Path,
    segment: u32,
    offset: u64,
    bytes: &[u8],
) -> std::io::Result<String> {
    let name = copy_name(segment, offset);
    std::fs::create_dir_all(shard_dir.join(QUARANTINE_DIR_NAME))?;
    let path = shard_dir.join(&name);
    let mut file = std::fs::File::create(&path)?;
    file.write_all(bytes)?;
    file.sync_data()?;
    Ok(name)
}

/// Appends `lines` to the shard's `quarantine.jsonl` and makes them
/// durable. Blocking I/O.
pub fn append_lines(shard_dir: &Path, lines: &[QuarantineLine]) -> std::io::Result<()> {
    let path = shard_dir.join(QUARANTINE_FILE_NAME);
    let created = !path.exists();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let mut text = String::new();
    for line in lines {
        text.push_str(&serde_json::to_string(line).expect("a quarantine line serialises"));
        text.push('\n');
    }
    file.write_all(text.as_bytes())?;
    file.sync_data()?;
    if created {
        std::fs::File::open(shard_dir)?.sync_all()?;
    }
    Ok(())
}

/// Offline quarantine of one shard: copies, lines, then a new manifest
/// generation (above `newest_generation`) holding `state` without the
/// damaged blocks. Runs one glommio executor for the manifest write (the
/// manifest's writer is the server's own).
pub fn quarantine_offline(
    shard_dir: &Path,
    shard: u32,
    state: &ManifestState,
    newest_generation: u64,
    damaged: &[Finding],
) -> Result<Vec<QuarantineLine>, String> {
    let mut lines = Vec::new();
    for finding in damaged {
        let Some((segment, offset)) = finding.block_key() else {
            continue;
        };
        if lines
            .iter()
            .any(|line: &QuarantineLine| (line.segment, line.offset) == (segment, offset))
        {
            continue; // one block, two findings (a bad frame and a bad range)
        }
        let copy = copy_block(shard_dir, state, (segment, offset));
        lines.extend(line_for(finding, copy));
    }
    append_lines(shard_dir, &lines).map_err(|error| {
        format!(
            "cannot write {}: {error}",
            shard_dir.join(QUARANTINE_FILE_NAME).display()
        )
    })?;
    let removed: Vec<(u32, u64)> = lines
        .iter()
        .map(|line| (line.segment, line.offset))
        .collect();
    let edits = checkpoint_without(state, &removed);
    let dir = shard_dir.to_path_buf();
    let generation = newest_generation + 1;
    let handle = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .name("scrub-quarantine")
        .spawn(move || async move {
            ManifestLog::create(&dir, shard, generation, edits)
                .await
                .map(|_| ())
                .map_err(|error| error.to_string())
        })
        .map_err(|error| format!("cannot start an executor to write the manifest: {error}"))?;
    handle
        .join()
        .map_err(|error| format!("the manifest writer failed: {error}"))??;
    Ok(lines)
}

/// A copy of the block's bytes, best effort (an unreadable block is
/// quarantined without one).
fn copy_block(
    shard_dir: &Path,
    state: &ManifestState,
    (segment, offset): (u32, u64),
) -> Option<String> {
    let span = state.blocks.get(&(segment, offset))?.header.span_bytes();
    copy_span(shard_dir, (segment, offset), span)
}

/// A copy of `span` bytes of the block at `(segment, offset)`, best effort
/// (blocking I/O; `None` when it cannot be read or written).
pub fn copy_span(shard_dir: &Path, (segment, offset): (u32, u64), span: u64) -> Option<String> {
    use std::os::unix::fs::FileExt;
    let path: PathBuf = shard_dir.join(segment_file_name(segment));
    let file = std::fs::File::open(path).ok()?;
    let length = file.metadata().ok()?.len().saturating_sub(offset).min(span);
    let mut bytes = vec![0u8; length as usize];
    file.read_exact_at(&mut bytes, offset).ok()?;
    match write_copy(shard_dir, segment, offset, &bytes) {
        Ok(name) => Some(name),
        Err(error) => {
            tracing::warn!(%error, segment, offset, "could not keep a copy of a quarantined block");
            None
        }
    }
}

/// A checkpoint of `state` without the blocks at `removed`.
fn checkpoint_without(state: &ManifestState, removed: &[(u32, u64)]) -> Vec<Edit> {
    let mut edits: Vec<Edit> = state
        .blocks
        .iter()
        .filter(|(key, _)| !removed.contains(key))
        .map(|(&(segment, offset), entry)| Edit::AddBlock {
            segment,
            offset,
            header: entry.header.encode(),
            directory: entry.directory.to_vec(),
        })
        .collect();
    edits.extend(
        state
            .sealed
            .iter()
            .map(|(&partition_key, &sealed_seq)| Edit::Sealed {
                partition_key,
                sealed_seq,
            }),
    );
    edits
}
