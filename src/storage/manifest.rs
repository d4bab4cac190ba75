//! A shard's manifest: which blocks are published (where each lies, with
//! its header and directory) and each slice's sealed watermark (every entry
//! with a sequence number at or below it is in a published block), kept as
//! an append-only log of edits.
//!
//! The manifest is the commit point of a seal: a block becomes part of the
//! database when a manifest record adding it is durable, and only then may
//! the WAL drop the entries it covers. A block removed by compaction or a
//! dropped partition leaves the database when the record removing it is
//! durable; a compaction adds its block and removes the blocks it replaces
//! in one record, so a crash leaves either the old blocks or the new one.
//!
//! File `manifest-<generation>.log` (20 digits), a sequence of records in the
//! WAL's framing (`wal::record`: `[len u32][crc32 u32][kind u8][payload]`,
//! the generation mixed into every crc, every append padded to a 4096-byte
//! page so a page holding acknowledged records is never rewritten). Each
//! record's payload is the rkyv archive of one `ManifestRecord`: edits
//! applied together. A file starts with a checkpoint (records stating the
//! whole manifest, ended by `Edit::CheckpointEnd`); later records change it.
//!
//! Every start reads the newest file with a complete checkpoint, then writes
//! the state into a new generation and deletes the older ones, so a writer
//! never appends after a possibly torn tail. When the log has grown to
//! `CHECKPOINT_GROWTH_FACTOR` times its checkpoint, it is rewritten the same
//! way. Start-up reads only this file: directories are in it, so no block
//! is read to know what it holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

use super::append_file::{AppendFile, Preallocation};
use super::error::{Result, StorageError};
use crate::block::{BlockHeader, BLOCK_HEADER_BYTES};
use crate::wal::record::{self, RecordKind, RecordReader, WAL_PAGE_BYTES};

/// The manifest's format. Version 1 was `manifest.json` with per-slice
/// segment files (converted at start-up, `storage::convert`).
pub const MANIFEST_FORMAT_VERSION: u32 = 2;

/// The log is rewritten once it is larger than this many times its
/// checkpoint plus `CHECKPOINT_SLACK_BYTES`: bounds it to a small multiple
/// of the live state.
pub const CHECKPOINT_GROWTH_FACTOR: u64 = 4;
pub const CHECKPOINT_SLACK_BYTES: u64 = 16 << 20;

/// Edits per checkpoint record; bounds one record (each edit carries a
/// directory of a few KiB) well below `RECORD_PAYLOAD_BYTES_MAX`.
const CHECKPOINT_EDITS_PER_RECORD: usize = 1024;

/// The log's preallocation: small steps, it grows by a page or two a seal.
const MANIFEST_PREALLOCATION: Preallocation = Preallocation {
    step_min: 64 << 10,
    step_max: 4 << 20,
};

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// A block is published: where it lies and what queries need to know
    /// about it without reading it.
    AddBlock {
        segment: u32,
        offset: u64,
        /// The block's encoded header (`BlockHeader::encode`).
        header: [u8; BLOCK_HEADER_BYTES],
        /// The block's directory archive, a copy of its last body bytes.
        directory: Vec<u8>,
    },
    /// A block is no longer part of the database.
    RemoveBlock { segment: u32, offset: u64 },
    /// Every entry of the partition's slice with a sequence number at or
    /// below `sealed_seq` is in a published block.
    Sealed { partition_key: u64, sealed_seq: u64 },
    /// The partition was deleted: its blocks and watermark are gone.
    DropPartition { partition_key: u64 },
    /// Ends a checkpoint: the records before it state the whole manifest.
    CheckpointEnd,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ManifestRecord {
    pub format_version: u32,
    pub shard_id: u32,
    pub edits: Vec<Edit>,
}

/// A published block as the manifest knows it.
#[derive(Debug)]
pub struct BlockEntry {
    pub header: BlockHeader,
    pub directory: AlignedVec,
}

/// The manifest's state: what the edits so far say.
#[derive(Debug, Default)]
pub struct ManifestState {
    /// Keyed by (segment id, offset).
    pub blocks: BTreeMap<(u32, u64), BlockEntry>,
    /// Per partition key, its sealed watermark.
    pub sealed: BTreeMap<u64, u64>,
}

impl ManifestState {
    /// Applies one archived edit. A header that does not decode is damage
    /// (its record's crc held, so a writer wrote it: refuse to go on).
    fn apply(&mut self, edit: &ArchivedEdit) -> std::result::Result<(), String> {
        match edit {
            ArchivedEdit::AddBlock {
                segment,
                offset,
                header,
                directory,
            } => {
                let header = BlockHeader::decode(header.as_slice())
                    .map_err(|error| format!("a block's header does not decode: {error}"))?;
                let mut archive = AlignedVec::with_capacity(directory.len());
                archive.extend_from_slice(directory);
                let key = (segment.to_native(), offset.to_native());
                self.blocks.insert(
                    key,
                    BlockEntry {
                        header,
                        directory: archive,
                    },
                );
            }
            ArchivedEdit::RemoveBlock { segment, offset } => {
                self.blocks
                    .remove(&(segment.to_native(), offset.to_native()));
            }
            ArchivedEdit::Sealed {
                partition_key,
                sealed_seq,
            } => {
                let sealed = self.sealed.entry(partition_key.to_native()).or_default();
                *sealed = (*sealed).max(sealed_seq.to_native());
            }
            ArchivedEdit::DropPartition { partition_key } => {
                let key = partition_key.to_native();
                self.sealed.remove(&key);
                self.blocks
                    .retain(|_, block| block.header.partition_key != key);
            }
            ArchivedEdit::CheckpointEnd => {}
        }
        Ok(())
    }
}

/// The file name of manifest generation `generation`.
pub fn manifest_file_name(generation: u64) -> String {
    format!("manifest-{generation:020}.log")
}

fn manifest_generation(file_name: &str) -> Option<u64> {
    file_name
        .strip_prefix("manifest-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

/// The manifest log files in `dir`, newest generation first.
fn generations(dir: &Path) -> Result<Vec<u64>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|error| StorageError::io("list directory", dir, 0, error))?;
    let mut found: Vec<u64> = entries
        .flatten()
        .filter_map(|entry| manifest_generation(&entry.file_name().to_string_lossy()))
        .collect();
    found.sort_unstable_by(|a, b| b.cmp(a));
    Ok(found)
}

/// What start-up found: the state, and the generation it came from (0 when
/// the shard has no manifest yet).
pub struct Loaded {
    pub state: ManifestState,
    pub generation: u64,
}

/// Reads the newest manifest with a complete checkpoint (start-up only,
/// blocking reads). A newer file whose checkpoint is incomplete (a crash
/// while it was written) is skipped; it is deleted when the next
/// generation is written.
pub fn load(dir: &Path, shard_id: u32) -> Result<Loaded> {
    let all = generations(dir)?;
    for (index, &generation) in all.iter().enumerate() {
        let path = dir.join(manifest_file_name(generation));
        let bytes =
            std::fs::read(&path).map_err(|error| StorageError::io("read", &path, 0, error))?;
        let older_exists = index + 1 < all.len();
        let read = match read_log(&bytes, generation, shard_id) {
            Ok(read) => read,
            // A checkpoint of many records torn by a crash can look damaged
            // (a later page of it intact); it was never used, since nothing
            // is appended before a checkpoint is complete and the older
            // generation is deleted only after. Damage anywhere else is an
            // error: reading on from an older file would drop edits.
            Err(damage) if !damage.checkpoint_complete && older_exists => {
                tracing::warn!(path = %path.display(), offset = damage.offset, detail = %damage.detail, "ignoring a manifest whose checkpoint is incomplete (a crash while it was written)");
                continue;
            }
            Err(damage) => {
                return Err(StorageError::Corrupt {
                    path: path.clone(),
                    offset: damage.offset,
                    detail: damage.detail,
                })
            }
        };
        match read {
            Some(state) => return Ok(Loaded { state, generation }),
            None if !older_exists && holds_blocks(dir)? => {
                return Err(lone_torn_checkpoint(&path, &bytes, generation, shard_id))
            }
            None => {
                tracing::warn!(path = %path.display(), "ignoring a manifest whose checkpoint is incomplete (a crash while it was written)")
            }
        }
    }
    Ok(Loaded {
        state: ManifestState::default(),
        generation: 0,
    })
}

/// Whether `dir` holds segment files that only a manifest can account for.
/// A shard whose only generation has an incomplete checkpoint may start
/// empty when it holds none (its first generation was cut short by a crash)
/// or when a format-2 conversion was interrupted (`manifest.json` is still
/// there and the conversion is redone); otherwise starting empty would
/// delete every segment file as unpublished.
fn holds_blocks(dir: &Path) -> Result<bool> {
    if dir.join(super::convert::OLD_MANIFEST_NAME).exists() {
        return Ok(false);
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|error| StorageError::io("list directory", dir, 0, error))?;
    Ok(entries
        .flatten()
        .any(|entry| super::segment::segment_id(&entry.file_name().to_string_lossy()).is_some()))
}

/// The only generation's checkpoint reads as cut short, yet segment files
/// exist: every generation is written whole before the older ones are
/// deleted, so this is damage (a byte of its last checkpoint page), not a
/// crash, and must not be read as an empty shard.
fn lone_torn_checkpoint(path: &Path, bytes: &[u8], generation: u64, shard_id: u32) -> StorageError {
    let offset = scan_generation(bytes, generation, shard_id)
        .torn_tail_offset
        .unwrap_or(0);
    StorageError::Corrupt {
        path: path.to_path_buf(),
        offset,
        detail: "the checkpoint that starts the only manifest generation ends early, and the \
                 shard holds segment files it would publish: this is damage, not a crash (a \
                 generation is written whole before the older ones are deleted). Starting \
                 would lose every block of the shard; restore it from a snapshot (see \
                 OPERATIONS.md, \"Scrub and damage\")"
            .into(),
    }
}

/// Damage found reading a manifest log: where, what, and whether the
/// checkpoint that starts the file had been read whole before it.
#[derive(Debug)]
struct Damage {
    offset: u64,
    detail: String,
    checkpoint_complete: bool,
}

/// The state a log states, or `None` when its checkpoint is incomplete.
/// Reading stops at the first clean end or torn record (an append cut
/// short by a crash: it was never acknowledged). A bad record followed by
/// a valid one is damage, and an error with its offset.
fn read_log(
    bytes: &[u8],
    generation: u64,
    shard_id: u32,
) -> std::result::Result<Option<ManifestState>, Damage> {
    let mut checkpoint_complete = false;
    let mut state = ManifestState::default();
    read_records(
        bytes,
        generation,
        shard_id,
        &mut checkpoint_complete,
        &mut state,
    )
    .map(|()| checkpoint_complete.then_some(state))
    .map_err(|(offset, detail)| Damage {
        offset,
        detail,
        checkpoint_complete,
    })
}

/// What reading one manifest file found, for scrub: the state its records
/// state up to where reading stopped, whether its checkpoint was complete,
/// the damage `load` would refuse (offset, detail), and where a torn tail
/// (tolerated by `load`) starts.
#[derive(Debug)]
pub struct GenerationScan {
    pub state: ManifestState,
    pub checkpoint_complete: bool,
    pub damage: Option<(u64, String)>,
    pub torn_tail_offset: Option<u64>,
    /// Valid records read.
    pub record_count: u64,
}

/// Reads one manifest file the way `load` does, but reports instead of
/// refusing: scrub wants every finding, and the state up to the damage.
pub fn scan_generation(bytes: &[u8], generation: u64, shard_id: u32) -> GenerationScan {
    let mut checkpoint_complete = false;
    let mut state = ManifestState::default();
    let damage = read_records(
        bytes,
        generation,
        shard_id,
        &mut checkpoint_complete,
        &mut state,
    )
    .err();
    let mut reader = RecordReader::new(bytes, 0, generation);
    let record_count = reader.by_ref().count() as u64;
    let end = reader.end();
    let torn_tail_offset = (damage.is_none() && !end.is_clean()).then_some(end.offset);
    GenerationScan {
        state,
        checkpoint_complete,
        damage,
        torn_tail_offset,
        record_count,
    }
}

/// The generations of the manifest files in `dir`, newest first.
pub fn list_generations(dir: &Path) -> Result<Vec<u64>> {
    generations(dir)
}

fn read_records(
    bytes: &[u8],
    generation: u64,
    shard_id: u32,
    checkpoint_complete: &mut bool,
    state: &mut ManifestState,
) -> std::result::Result<(), (u64, String)> {
    let mut reader = RecordReader::new(bytes, 0, generation);
    for record in reader.by_ref() {
        let record_offset = record.offset;
        let payload = aligned(record.payload);
        let archived = rkyv::access::<ArchivedManifestRecord, rkyv::rancor::Error>(&payload)
            .map_err(|error| {
                (
                    record_offset,
                    format!("manifest record is not valid: {error}"),
                )
            })?;
        if archived.format_version.to_native() != MANIFEST_FORMAT_VERSION
            || archived.shard_id.to_native() != shard_id
        {
            return Err((
                record_offset,
                format!(
                    "manifest record has format version {} for shard {}; expected version \
                     {MANIFEST_FORMAT_VERSION} for shard {shard_id}",
                    archived.format_version.to_native(),
                    archived.shard_id.to_native()
                ),
            ));
        }
        for edit in archived.edits.iter() {
            if !*checkpoint_complete
                && !matches!(edit, ArchivedEdit::CheckpointEnd)
                && is_change(edit)
            {
                return Err((record_offset, "a change before the checkpoint ended".into()));
            }
            if matches!(edit, ArchivedEdit::CheckpointEnd) {
                *checkpoint_complete = true;
            }
            state
                .apply(edit)
                .map_err(|detail| (record_offset, detail))?;
        }
    }
    let end = reader.end();
    if !end.is_clean() && valid_record_after(bytes, end.offset, generation) {
        return Err((
            end.offset,
            format!(
                "a damaged record ({:?}) is followed by valid ones",
                end.reason
            ),
        ));
    }
    Ok(())
}

/// Edits that only a change record holds (a checkpoint only adds blocks and
/// states watermarks).
fn is_change(edit: &ArchivedEdit) -> bool {
    matches!(
        edit,
        ArchivedEdit::RemoveBlock { .. } | ArchivedEdit::DropPartition { .. }
    )
}

/// Whether a valid record starts on some page after `offset`: appends start
/// on page boundaries, so a torn append is the last thing in the file.
fn valid_record_after(bytes: &[u8], offset: u64, generation: u64) -> bool {
    let page = WAL_PAGE_BYTES as u64;
    let mut start = (offset / page + 1) * page;
    while (start as usize) < bytes.len() {
        if RecordReader::new(&bytes[start as usize..], start, generation)
            .next()
            .is_some()
        {
            return true;
        }
        start += page;
    }
    false
}

fn aligned(bytes: &[u8]) -> AlignedVec {
    let mut aligned = AlignedVec::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    aligned
}

/// A checkpoint of `edits` (every published block and watermark) as the
/// records that start a manifest file: the edits, then `CheckpointEnd`, at
/// most `CHECKPOINT_EDITS_PER_RECORD` edits a record.
fn checkpoint_records(mut edits: Vec<Edit>) -> Vec<Vec<Edit>> {
    edits.push(Edit::CheckpointEnd);
    edits
        .chunks(CHECKPOINT_EDITS_PER_RECORD)
        .map(|chunk| chunk.to_vec())
        .collect()
}

/// Frames `records` for a file of `generation` starting at `start` (a page
/// boundary) into `buffer`, padded to the page end.
fn encode_records(
    buffer: &mut Vec<u8>,
    start: u64,
    shard_id: u32,
    generation: u64,
    records: Vec<Vec<Edit>>,
) {
    for edits in records {
        let record = ManifestRecord {
            format_version: MANIFEST_FORMAT_VERSION,
            shard_id,
            edits,
        };
        let archive = rkyv::to_bytes::<rkyv::rancor::Error>(&record)
            .expect("a manifest record always archives");
        record::encode_record(buffer, start, generation, RecordKind::Batch, &archive);
    }
    record::pad_to_page(buffer, start, generation);
}

/// The bytes of a whole manifest file of `generation` holding only a
/// checkpoint of `edits`: what `ManifestLog::write_checkpoint` writes,
/// for a file written elsewhere (a snapshot's manifest).
pub fn checkpoint_file_bytes(shard_id: u32, generation: u64, edits: Vec<Edit>) -> Vec<u8> {
    let mut bytes = Vec::new();
    encode_records(
        &mut bytes,
        0,
        shard_id,
        generation,
        checkpoint_records(edits),
    );
    bytes
}

/// The manifest's writer: appends records to the current generation.
pub struct ManifestLog {
    dir: PathBuf,
    shard_id: u32,
    generation: u64,
    /// `None` while the generation is not written yet (`unwritten`).
    file: Option<AppendFile>,
    /// Where the next append starts (a page boundary).
    end: u64,
    /// Bytes the checkpoint that starts the file took.
    checkpoint_bytes: u64,
    buffer: Vec<u8>,
}

impl ManifestLog {
    /// Writes generation `generation` with a checkpoint of `edits` (every
    /// published block and watermark), makes it durable, then deletes every
    /// older generation.
    pub async fn create(
        dir: &Path,
        shard_id: u32,
        generation: u64,
        edits: Vec<Edit>,
    ) -> Result<ManifestLog> {
        let log = ManifestLog::write_checkpoint(dir, shard_id, generation, edits).await?;
        log.retire_older_generations().await?;
        Ok(log)
    }

    /// Writes generation `generation` with a checkpoint of `edits` and
    /// makes the file durable, leaving older generations in place. Once
    /// this returns, start-up may load the new file (it is the newest
    /// complete one), so every later edit must go to it; until it returns,
    /// the file is incomplete and start-up skips it.
    pub async fn write_checkpoint(
        dir: &Path,
        shard_id: u32,
        generation: u64,
        edits: Vec<Edit>,
    ) -> Result<ManifestLog> {
        // A file of this generation can only be a checkpoint a crash cut
        // short: its records would pass their crc after ours, so it goes.
        let path = dir.join(manifest_file_name(generation));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(StorageError::io(
                    "remove incomplete manifest",
                    &path,
                    0,
                    error,
                ))
            }
        }
        let file = AppendFile::open(
            dir,
            &manifest_file_name(generation),
            true,
            MANIFEST_PREALLOCATION,
            "create manifest",
        )
        .await?;
        let mut log = ManifestLog {
            dir: dir.to_path_buf(),
            shard_id,
            generation,
            file: Some(file),
            end: 0,
            checkpoint_bytes: 0,
            buffer: Vec::new(),
        };
        log.append_records(checkpoint_records(edits)).await?;
        log.checkpoint_bytes = log.end;
        Ok(log)
    }

    /// A log whose generation `generation` could not be written (start-up
    /// on a full disk): nothing may be appended until its checkpoint is
    /// written (`needs_checkpoint`), and start-up meanwhile loads the older
    /// generation, which is never appended to (it may end in a torn tail).
    pub fn unwritten(dir: &Path, shard_id: u32, generation: u64) -> ManifestLog {
        ManifestLog {
            dir: dir.to_path_buf(),
            shard_id,
            generation,
            file: None,
            end: 0,
            checkpoint_bytes: 0,
            buffer: Vec::new(),
        }
    }

    /// Whether this generation's checkpoint must be written before any append.
    pub fn needs_checkpoint(&self) -> bool {
        self.file.is_none()
    }

    /// Deletes generation `generation`'s file (a checkpoint that failed) and
    /// makes that durable, so start-up cannot load it in place of the
    /// generation still in use.
    pub async fn discard_generation(dir: &Path, generation: u64) -> Result<()> {
        let path = dir.join(manifest_file_name(generation));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(StorageError::io(
                    "remove incomplete manifest",
                    &path,
                    0,
                    error,
                ))
            }
        }
        super::atomic_file::sync_directory(dir).await
    }

    /// Makes this generation's directory entry durable, then deletes every
    /// older generation. An error here is not retryable: the new file may
    /// or may not survive a crash, so the caller stops writing.
    pub async fn retire_older_generations(&self) -> Result<()> {
        let dir = &self.dir;
        super::atomic_file::sync_directory(dir).await?;
        for old in generations(dir)?
            .into_iter()
            .filter(|g| *g < self.generation)
        {
            let path = dir.join(manifest_file_name(old));
            std::fs::remove_file(&path)
                .map_err(|error| StorageError::io("remove old manifest", &path, 0, error))?;
        }
        super::atomic_file::sync_directory(dir).await
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Appends one record of `edits` and makes it durable: the commit point
    /// of whatever the edits say.
    pub async fn append(&mut self, edits: Vec<Edit>) -> Result<()> {
        self.append_records(vec![edits]).await
    }

    async fn append_records(&mut self, records: Vec<Vec<Edit>>) -> Result<()> {
        self.buffer.clear();
        encode_records(
            &mut self.buffer,
            self.end,
            self.shard_id,
            self.generation,
            records,
        );
        let file = self
            .file
            .as_ref()
            .expect("the owner writes the checkpoint of an unwritten generation first");
        file.append(self.end, &self.buffer, "append to manifest")
            .await?;
        self.end += self.buffer.len() as u64;
        Ok(())
    }

    /// Whether the log has grown enough to be rewritten as a checkpoint.
    pub fn wants_checkpoint(&self) -> bool {
        self.end > self.checkpoint_bytes * CHECKPOINT_GROWTH_FACTOR + CHECKPOINT_SLACK_BYTES
    }

    /// Bytes written so far.
    pub fn len_bytes(&self) -> u64 {
        self.end
    }

    /// Gives the unused preallocated tail back (a graceful stop).
    pub async fn trim(&self) -> Result<()> {
        match &self.file {
            Some(file) => file.trim(self.end).await,
            None => Ok(()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(partition_key: u64, first_seq: u64) -> [u8; BLOCK_HEADER_BYTES] {
        BlockHeader {
            partition_key,
            first_seq,
            entry_count: 10,
            granule_count: 1,
            min_timestamp_ns: 1,
            max_timestamp_ns: 2,
            body_bytes: 4032,
            directory_bytes: 16,
            directory_crc32: 0,
        }
        .encode()
    }

    fn add(segment: u32, offset: u64, partition_key: u64) -> Edit {
        Edit::AddBlock {
            segment,
            offset,
            header: header(partition_key, offset + 1),
            directory: vec![1, 2, 3],
        }
    }

    #[test]
    fn a_lone_checkpoint_cut_short_is_damage_when_segment_files_exist() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = checkpoint_file_bytes(0, 3, vec![add(1, 0, 7)]);
        // A flipped byte in the checkpoint's only (last) record reads as a
        // record a crash cut short.
        bytes[40] ^= 0x08;
        std::fs::write(dir.path().join(manifest_file_name(3)), &bytes).unwrap();
        let loaded = load(dir.path(), 0).expect("no segment file: an empty shard");
        assert_eq!(loaded.generation, 0);
        std::fs::write(dir.path().join("seg-000001.tdb"), [0u8; 4096]).unwrap();
        let Err(error) = load(dir.path(), 0) else {
            panic!("segment files: a lone cut-short checkpoint is damage");
        };
        assert!(matches!(error, StorageError::Corrupt { .. }), "{error}");
        let text = error.to_string();
        assert!(text.contains(&manifest_file_name(3)), "{text}");
        assert!(text.contains("restore it from a snapshot"), "{text}");
        // An interrupted format-2 conversion is redone, not refused.
        std::fs::write(dir.path().join("manifest.json"), b"{}").unwrap();
        assert_eq!(load(dir.path(), 0).unwrap().generation, 0);
    }

    fn log_bytes(records: &[Vec<Edit>], generation: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for edits in records {
            let record = ManifestRecord {
                format_version: MANIFEST_FORMAT_VERSION,
                shard_id: 3,
                edits: edits.clone(),
            };
            let archive = rkyv::to_bytes::<rkyv::rancor::Error>(&record).unwrap();
            let start = out.len() as u64;
            let mut one = Vec::new();
            record::encode_record(&mut one, start, generation, RecordKind::Batch, &archive);
            record::pad_to_page(&mut one, start, generation);
            out.extend_from_slice(&one);
        }
        out
    }

    #[test]
    fn edits_replay_into_the_state_they_describe() {
        let bytes = log_bytes(
            &[
                vec![
                    add(1, 0, 7),
                    Edit::Sealed {
                        partition_key: 7,
                        sealed_seq: 10,
                    },
                    Edit::CheckpointEnd,
                ],
                vec![
                    add(1, 4096, 8),
                    add(1, 8192, 7),
                    Edit::Sealed {
                        partition_key: 7,
                        sealed_seq: 20,
                    },
                ],
                vec![Edit::RemoveBlock {
                    segment: 1,
                    offset: 0,
                }],
                vec![Edit::DropPartition { partition_key: 8 }],
            ],
            5,
        );
        let state = read_log(&bytes, 5, 3)
            .unwrap()
            .expect("complete checkpoint");
        assert_eq!(
            state.blocks.keys().copied().collect::<Vec<_>>(),
            vec![(1, 8192)]
        );
        assert_eq!(state.sealed.get(&7), Some(&20));
        assert_eq!(state.sealed.get(&8), None);
    }

    #[test]
    fn an_incomplete_checkpoint_is_no_manifest_and_a_torn_tail_is_ignored() {
        let bytes = log_bytes(&[vec![add(1, 0, 7)]], 5);
        assert!(read_log(&bytes, 5, 3).unwrap().is_none());
        let mut bytes = log_bytes(
            &[
                vec![add(1, 0, 7), Edit::CheckpointEnd],
                vec![add(1, 4096, 7)],
            ],
            5,
        );
        let last_page = bytes.len() - WAL_PAGE_BYTES;
        bytes[last_page + 20] ^= 0xff;
        let state = read_log(&bytes, 5, 3).unwrap().unwrap();
        assert_eq!(state.blocks.len(), 1, "the torn append is not part of it");
    }

    #[test]
    fn damage_followed_by_valid_records_is_refused_and_so_is_another_shard() {
        let mut bytes = log_bytes(
            &[
                vec![add(1, 0, 7), Edit::CheckpointEnd],
                vec![add(1, 4096, 7)],
                vec![add(1, 8192, 7)],
            ],
            5,
        );
        bytes[WAL_PAGE_BYTES + 20] ^= 0xff;
        let damage = read_log(&bytes, 5, 3).expect_err("damage");
        assert_eq!(damage.offset, WAL_PAGE_BYTES as u64);
        assert!(
            damage.detail.contains("followed by valid"),
            "{}",
            damage.detail
        );
        assert!(damage.checkpoint_complete);
        let bytes = log_bytes(&[vec![Edit::CheckpointEnd]], 5);
        assert!(read_log(&bytes, 5, 4).is_err());
        assert!(
            read_log(&bytes, 6, 3).unwrap().is_none(),
            "another generation's crc fails"
        );
    }

    /// A checkpoint of three records (one write) torn by a crash in its
    /// first record, its later ones intact: damage followed by valid
    /// records, inside an incomplete checkpoint.
    fn torn_checkpoint(generation: u64) -> Vec<u8> {
        let mut bytes = log_bytes(
            &[
                vec![add(1, 0, 7)],
                vec![add(1, 4096, 7)],
                vec![add(1, 8192, 7), Edit::CheckpointEnd],
            ],
            generation,
        );
        bytes[20] ^= 0xff;
        bytes
    }

    #[test]
    fn a_torn_checkpoint_falls_back_to_the_older_generation_if_there_is_one() {
        let dir = tempfile::tempdir().unwrap();
        let older = log_bytes(&[vec![add(1, 0, 7), Edit::CheckpointEnd]], 5);
        std::fs::write(dir.path().join(manifest_file_name(5)), older).unwrap();
        std::fs::write(dir.path().join(manifest_file_name(6)), torn_checkpoint(6)).unwrap();
        let loaded = load(dir.path(), 3).unwrap();
        assert_eq!(loaded.generation, 5);
        assert_eq!(loaded.state.blocks.len(), 1);
        // Without an older generation the same damage is an error, not an
        // empty shard.
        std::fs::remove_file(dir.path().join(manifest_file_name(5))).unwrap();
        let error = load(dir.path(), 3)
            .err()
            .expect("damage is refused")
            .to_string();
        assert!(error.contains("followed by valid"), "{error}");
    }
}
