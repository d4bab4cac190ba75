//! A deterministic, seeded storage simulator for sealed blocks and the
//! manifest, in the spirit of TigerBeetle's (and of
//! `wal_fault_injection_sim.rs`): simulated files of 512-byte sectors under
//! the real block encoder (`block::encode_block`), the real manifest format
//! and loader (`manifest::checkpoint_file_bytes`, `manifest::load`), and
//! the real block readers (`block::verify_block`, which is the column
//! decoders of `DecodedGranule::install` and the filter check queries use),
//! with faults injected by seed:
//!
//! - short writes: a block's or a manifest's write persists only a prefix
//!   of its sectors (the seal fails: not acknowledged, writes stop);
//! - failed fsyncs: fdatasync reports failure after persisting any subset
//!   of the pending sectors (not acknowledged; writes stop, STYLE.md);
//! - lost writes at a crash: every write not yet synced persists any subset
//!   of its sectors (a power loss);
//! - bit flips: one byte of the crashed image flipped, in a block or in the
//!   newest manifest generation.
//!
//! Each seal writes the block at the segment's end, syncs it, then writes
//! the manifest as a new generation holding every published block (the
//! real writer's checkpoint path) and syncs it; only then is the seal
//! acknowledged and the older generation deleted.
//!
//! What it pins, for every seed:
//! - the manifest loads (or, with a flipped byte in it, refuses naming the
//!   file), and every acknowledged block is published. (It found that a
//!   flipped byte in the last page of a shard's only checkpoint read as a
//!   checkpoint a crash cut short, so the shard started empty and deleted
//!   its segment files; `manifest::load` now refuses that.);
//! - no flipped byte is ever returned as a valid entry: a published block
//!   either verifies and decodes to exactly the entries sealed into it, or
//!   fails with an error that names the damaged region (the header, the
//!   directory, or the frame whose bytes hold the flip);
//! - a block with no flipped byte always verifies.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::rng::Rng;
use timberdb::block::{
    encode_block, verify_block, verify_granule, BlockError, BlockHeader, ChecksumRegion, Codec,
    DecodedGranule, DirectoryRef, EncodeScratch, BLOCK_HEADER_BYTES,
};
use timberdb::entry::{BatchView, ColumnBatch, EntryRef, Level};
use timberdb::storage::manifest::{self, checkpoint_file_bytes, manifest_file_name, Edit};
use timberdb::storage::StorageError;

const SECTOR: usize = 512;
const SEEDS: u64 = 300;
const SEALS_MAX: u64 = 6;
const PARTITION_KEY: u64 = 1;
const SEGMENT_ID: u32 = 1;

/// One simulated file: what is durable, and writes not yet synced.
#[derive(Default)]
struct SimFile {
    durable: Vec<u8>,
    pending: Vec<(usize, Vec<u8>)>,
}

impl SimFile {
    fn put(&mut self, offset: usize, bytes: &[u8]) {
        if self.durable.len() < offset + bytes.len() {
            self.durable.resize(offset + bytes.len(), 0);
        }
        self.durable[offset..offset + bytes.len()].copy_from_slice(bytes);
    }

    /// Persists a random subset of `bytes`'s sectors at `offset`.
    fn persist_some(&mut self, rng: &mut Rng, offset: usize, bytes: &[u8]) {
        for (index, sector) in bytes.chunks(SECTOR).enumerate() {
            if rng.chance(50) {
                self.put(offset + index * SECTOR, sector);
            }
        }
    }

    /// A write: maybe short (a prefix of sectors). True when whole.
    fn write(&mut self, rng: &mut Rng, offset: usize, bytes: &[u8]) -> bool {
        let written = if rng.chance(4) {
            SECTOR * rng.below(bytes.len().div_ceil(SECTOR) as u64) as usize
        } else {
            bytes.len()
        };
        self.pending.push((offset, bytes[..written].to_vec()));
        written == bytes.len()
    }

    /// fdatasync: all pending writes become durable, or it fails having
    /// persisted any subset of them.
    fn sync(&mut self, rng: &mut Rng) -> bool {
        let pending = std::mem::take(&mut self.pending);
        let failed = rng.chance(4);
        for (offset, bytes) in pending {
            if failed {
                self.persist_some(rng, offset, &bytes);
            } else {
                self.put(offset, &bytes);
            }
        }
        !failed
    }

    /// A power loss: unsynced writes persist any subset of their sectors.
    fn crash(&mut self, rng: &mut Rng) {
        for (offset, bytes) in std::mem::take(&mut self.pending) {
            self.persist_some(rng, offset, &bytes);
        }
    }
}

/// An entry as sealed, to compare with what the reader returns.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    timestamp_ns: i64,
    level: Level,
    source: String,
    message: String,
    fields_json: String,
    tags: Vec<(String, String)>,
}

fn entries_of(rng: &mut Rng, first_seq: u64) -> Vec<Entry> {
    // Now and then more than one granule (at most 2048 rows each).
    let count_max = if rng.chance(5) {
        2500
    } else if rng.chance(20) {
        400
    } else {
        40
    };
    let count = 1 + rng.below(count_max) as usize;
    (0..count)
        .map(|index| Entry {
            timestamp_ns: 1_700_000_000_000_000_000 + rng.below(1 << 40) as i64,
            level: Level::ALL[rng.below(Level::ALL.len() as u64) as usize],
            source: format!("host-{}", rng.below(4)),
            message: format!(
                "entry {first_seq}+{index} {} {}",
                "word ".repeat(rng.below(20) as usize),
                rng.next()
            ),
            fields_json: if rng.chance(50) {
                format!("{{\"n\":{}}}", rng.below(1000))
            } else {
                String::new()
            },
            // In key order, as the reader returns them.
            tags: vec![
                ("n".into(), index.to_string()),
                ("zone".into(), format!("z{}", rng.below(3))),
            ],
        })
        .collect()
}

fn batch_of(entries: &[Entry]) -> ColumnBatch {
    let mut batch = ColumnBatch::default();
    for entry in entries {
        let tags: Vec<(&str, &str)> = entry
            .tags
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        let entry_ref = EntryRef {
            timestamp_ns: entry.timestamp_ns,
            level: entry.level,
            source: &entry.source,
            message: &entry.message,
            fields_json: &entry.fields_json,
        };
        batch.push(&entry_ref, &tags);
    }
    batch
}

fn codec_of(rng: &mut Rng) -> Codec {
    match rng.below(4) {
        0 => Codec::None,
        1 => Codec::Lz4,
        2 => Codec::Zstd { level: 1 },
        _ => Codec::Snappy,
    }
}

/// A shard's files after a run of seals and a crash.
#[derive(Default)]
struct Shard {
    segment: SimFile,
    /// Manifest generations still on disk.
    manifests: BTreeMap<u64, SimFile>,
    /// Every block whose bytes were synced: its entries, by file offset.
    written: BTreeMap<u64, Vec<Entry>>,
    /// Blocks whose seal was acknowledged.
    acknowledged: Vec<u64>,
}

/// Seals up to `SEALS_MAX` blocks with faults, then crashes.
fn run(rng: &mut Rng) -> Shard {
    let mut shard = Shard::default();
    shard
        .manifests
        .insert(1, synced(checkpoint_file_bytes(0, 1, Vec::new())));
    let (mut generation, mut end, mut seq) = (1u64, 0usize, 1u64);
    let mut edits = Vec::new();
    let mut scratch = EncodeScratch::new();
    for _ in 0..1 + rng.below(SEALS_MAX) {
        let entries = entries_of(rng, seq);
        let mut bytes = Vec::new();
        let encoded = encode_block(
            &batch_of(&entries),
            PARTITION_KEY,
            seq,
            codec_of(rng),
            &mut scratch,
            &mut bytes,
        )
        .expect("a block encodes");
        if !shard.segment.write(rng, end, &bytes) || !shard.segment.sync(rng) {
            break; // the seal failed: nothing acknowledged, writes stop
        }
        shard.written.insert(end as u64, entries.clone());
        edits.push(Edit::AddBlock {
            segment: SEGMENT_ID,
            offset: end as u64,
            header: encoded.header.encode(),
            directory: encoded.directory.to_vec(),
        });
        seq += entries.len() as u64;
        let mut state = edits.clone();
        state.push(Edit::Sealed {
            partition_key: PARTITION_KEY,
            sealed_seq: seq - 1,
        });
        let file_bytes = checkpoint_file_bytes(0, generation + 1, state);
        let file = shard.manifests.entry(generation + 1).or_default();
        if !file.write(rng, 0, &file_bytes) || !file.sync(rng) {
            break;
        }
        shard.acknowledged.push(end as u64);
        shard.manifests.retain(|&older, _| older > generation);
        generation += 1;
        end += bytes.len();
    }
    shard.segment.crash(rng);
    for file in shard.manifests.values_mut() {
        file.crash(rng);
    }
    shard
}

fn synced(bytes: Vec<u8>) -> SimFile {
    SimFile {
        durable: bytes,
        pending: Vec::new(),
    }
}

/// Writes the shard's files into `dir` and loads the manifest with the
/// real loader (which also looks at which segment files exist).
fn load(dir: &Path, shard: &Shard) -> Result<manifest::Loaded, StorageError> {
    for entry in std::fs::read_dir(dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    if !shard.segment.durable.is_empty() {
        std::fs::write(dir.join("seg-000001.tdb"), &shard.segment.durable).unwrap();
    }
    for (generation, file) in &shard.manifests {
        std::fs::write(dir.join(manifest_file_name(*generation)), &file.durable).unwrap();
    }
    manifest::load(dir, 0)
}

/// What the real reader makes of the block at `offset`: its entries, or
/// the error. Uses the same decoders queries use.
fn read_block(
    segment: &[u8],
    offset: u64,
    header: &BlockHeader,
    directory: &DirectoryRef,
) -> Result<Vec<Entry>, BlockError> {
    let end = (offset + header.span_bytes()).min(segment.len() as u64);
    let bytes = &segment[offset as usize..end as usize];
    verify_block(header, directory, bytes)?;
    let mut entries = Vec::new();
    let mut granule = DecodedGranule::new(directory.clone(), 0);
    for index in 0..directory.get().granules.len() {
        verify_granule(directory, index, bytes, &mut granule)?;
        for row in 0..granule.entry_count() {
            let mut tags = Vec::new();
            granule.for_each_tag(row, &mut |key, value| {
                tags.push((key.to_string(), value.to_string()));
                false
            });
            tags.sort();
            entries.push(Entry {
                timestamp_ns: granule.timestamp_ns(row),
                level: granule.level(row),
                source: granule.source(row).to_string(),
                message: granule.message(row).to_string(),
                fields_json: granule.fields_json(row).to_string(),
                tags,
            });
        }
    }
    Ok(entries)
}

/// The error names the region that holds block-relative byte `flip`.
fn assert_names_damage(error: &BlockError, header: &BlockHeader, dir: &DirectoryRef, flip: u64) {
    let header_bytes = BLOCK_HEADER_BYTES as u64;
    let named = match error {
        BlockError::ChecksumMismatch { region, offset, .. } => match region {
            ChecksumRegion::Header => flip < header_bytes,
            ChecksumRegion::Directory => flip >= header.directory_start(),
            ChecksumRegion::Frame(_) => {
                let directory = dir.get();
                let frames = directory.columns.iter().flat_map(|c| c.frames.iter());
                frames
                    .chain(directory.filters.iter())
                    .map(|frame| frame.native())
                    .filter(|frame| frame.offset as u64 == *offset)
                    .any(|frame| (*offset..*offset + frame.stored_bytes as u64).contains(&flip))
            }
            ChecksumRegion::Payload => false,
        },
        BlockError::BadMagic { .. }
        | BlockError::UnsupportedVersion { .. }
        | BlockError::HeaderImplausible { .. } => flip < header_bytes,
        BlockError::DirectoryMalformed { .. } => {
            flip < header_bytes || flip >= header.directory_start()
        }
        _ => false,
    };
    assert!(named, "{error} does not name the flipped byte at {flip}");
}

#[derive(Default, Debug)]
struct Tally {
    acknowledged: u64,
    blocks_read: u64,
    damage_found: u64,
    manifest_refused: u64,
}

/// One seed: run, crash, maybe flip a byte, load, read every block.
fn check_seed(seed: u64, dir: &Path, tally: &mut Tally) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut shard = run(&mut rng);
    tally.acknowledged += shard.acknowledged.len() as u64;
    let clean = load(dir, &shard).unwrap_or_else(|error| panic!("seed {seed}: {error}"));
    for offset in &shard.acknowledged {
        let key = (SEGMENT_ID, *offset);
        assert!(
            clean.state.blocks.contains_key(&key),
            "seed {seed}: lost {offset}"
        );
    }
    let mut segment_flip = None;
    let target = rng.below(100);
    if target < 70 && !shard.segment.durable.is_empty() {
        let at = rng.below(shard.segment.durable.len() as u64);
        shard.segment.durable[at as usize] ^= 1 + rng.below(255) as u8;
        segment_flip = Some(at);
    } else if target < 85 {
        let (&generation, file) = shard.manifests.iter_mut().next_back().expect("a manifest");
        let at = rng.below(file.durable.len() as u64);
        file.durable[at as usize] ^= 1 + rng.below(255) as u8;
        let loaded = match load(dir, &shard) {
            Ok(loaded) => loaded,
            Err(error) => {
                let text = error.to_string();
                assert!(
                    matches!(error, StorageError::Corrupt { .. }),
                    "seed {seed}: {text}"
                );
                assert!(text.contains(&manifest_file_name(generation)), "{text}");
                tally.manifest_refused += 1;
                return;
            }
        };
        for offset in &shard.acknowledged {
            let key = (SEGMENT_ID, *offset);
            assert!(
                loaded.state.blocks.contains_key(&key),
                "seed {seed}: flip lost {offset}"
            );
        }
    }
    for (&(_, offset), block) in &clean.state.blocks {
        let directory = DirectoryRef::new(&block.header, block.directory.clone())
            .expect("a directory from a checksummed manifest record validates");
        tally.blocks_read += 1;
        let flip = segment_flip
            .filter(|at| (offset..offset + block.header.span_bytes()).contains(at))
            .map(|at| at - offset);
        match read_block(&shard.segment.durable, offset, &block.header, &directory) {
            Ok(entries) => assert_eq!(
                Some(&entries),
                shard.written.get(&offset),
                "seed {seed}: block at {offset} (flip {flip:?}) returned other entries"
            ),
            Err(error) => {
                let flip = flip.unwrap_or_else(|| panic!("seed {seed}: {error} with no flip"));
                assert_names_damage(&error, &block.header, &directory, flip);
                tally.damage_found += 1;
            }
        }
    }
}

#[test]
fn no_flipped_byte_is_ever_returned_and_every_error_names_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let mut tally = Tally::default();
    for seed in 0..SEEDS {
        check_seed(seed, dir.path(), &mut tally);
    }
    // The faults and flips must have been exercised, or the test proves nothing.
    assert!(tally.acknowledged > SEEDS, "{tally:?}");
    assert!(tally.damage_found > SEEDS / 4, "{tally:?}");
    assert!(tally.manifest_refused > 0, "{tally:?}");
    assert!(tally.blocks_read > tally.damage_found * 2, "{tally:?}");
}
