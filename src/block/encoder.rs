//! Sealing: turns a slice's `ColumnBatch` into the bytes of one version-3
//! block (see the module docs of `block` for the layout).
//!
//! Steps: split the entries into granules; plan the columns (a dictionary
//! for the sources and each tag key when its values repeat enough, one
//! column per tag key up to `TAG_COLUMNS_MAX`, the rest as extra tags);
//! write every column's frame of every granule (encode, compress when that
//! pays, checksum); write each granule's word filter; then the directory
//! and the header. The result is one buffer, padded to 4096 bytes, for one
//! O_DIRECT write. Scratch buffers are reused across calls.
//!
//! A batch that breaks its invariants is a bug upstream, so it is asserted,
//! not returned as an error.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::ops::Range;

use rkyv::util::AlignedVec;

use super::column::{ids, ints, levels, strings};
use super::directory::{
    BlockDirectory, Column, ColumnName, Dictionary, Frame, Granule, LevelCounts,
    GRANULE_MASK_VALUES_MAX,
};
use super::{
    compress, BlockError, BlockHeader, Codec, Result, BLOCK_ALIGN_BYTES, BLOCK_BODY_BYTES_MAX,
    BLOCK_HEADER_BYTES, DIRECTORY_ALIGN_BYTES, GRANULE_BYTES_MAX, GRANULE_ROWS_MAX,
};
use crate::entry::ColumnBatch;
use crate::index::{FilterKeys, ItemKind};

/// Most distinct values a column keeps in a dictionary; past it the column
/// stores its values as strings (and they go into the granule filters).
/// Memory while sealing: one map entry per value.
pub const DICT_VALUES_MAX: usize = 4096;

/// Most tag keys with a column of their own in one block; further keys go
/// to the extra-tags column. Bounds the columns a block has (each costs a
/// frame per granule and one `u32` per entry while sealing).
pub const TAG_COLUMNS_MAX: usize = 64;

/// Frames smaller than this are stored uncompressed: a codec's own framing
/// would eat the saving.
const COMPRESS_BYTES_MIN: usize = 64;

/// Marks "this entry has no such tag" in a tag column's plan.
const NO_TAG: u32 = u32::MAX;

/// The codec of timestamp, level and id frames: zstd at level 1 measured
/// smallest for them at negligible cost (docs/BENCHMARKS.md), whatever the
/// codec the configuration names for string columns (unless it is none).
const SMALL_COLUMN_CODEC: Codec = Codec::Zstd { level: 1 };

/// Values come from our own batches and maps are bounded by
/// `DICT_VALUES_MAX`, so a fast hash whose collisions could only slow one
/// seal by a bounded amount is the right trade.
type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The Fx hash (as in rustc): one multiply per 8 bytes.
#[derive(Default)]
struct FxHasher {
    hash: u64,
}

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
        }
        for &byte in chunks.remainder() {
            self.hash = (self.hash.rotate_left(5) ^ byte as u64).wrapping_mul(SEED);
        }
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// Buffers `encode_block` reuses. Memory cost: a few times the largest
/// granule's raw column bytes, plus the filter items of one granule.
#[derive(Default)]
pub struct EncodeScratch {
    granules: Vec<Range<usize>>,
    /// One frame's encoded bytes before compression.
    raw: Vec<u8>,
    /// One frame's compressed bytes.
    compressed: Vec<u8>,
    keys: FilterKeys,
    /// Packed extra-tag lists of one granule, and their ends.
    extras: Vec<u8>,
    extra_ends: Vec<u32>,
}

impl EncodeScratch {
    pub fn new() -> EncodeScratch {
        EncodeScratch::default()
    }
}

/// What sealing produced besides the bytes.
#[derive(Debug)]
pub struct EncodedBlock {
    pub header: BlockHeader,
    /// The directory's archive, a copy of the last bytes of the block's body
    /// (the manifest keeps it, so start-up reads no block).
    pub directory: AlignedVec,
}

/// Appends one block holding `batch` (entries of partition `partition_key`
/// numbered from `first_seq`) to `out`, which must end on a
/// `BLOCK_ALIGN_BYTES` boundary and ends on one again. On error `out` is
/// left as it was. `codec` compresses the string columns.
///
/// Panics if `batch` is empty or `out` is not aligned; in debug builds also
/// if `batch` breaks its invariants.
pub fn encode_block(
    batch: &ColumnBatch,
    partition_key: u64,
    first_seq: u64,
    codec: Codec,
    scratch: &mut EncodeScratch,
    out: &mut Vec<u8>,
) -> Result<EncodedBlock> {
    assert!(!batch.is_empty(), "a block holds at least one entry");
    assert!(
        out.len() % BLOCK_ALIGN_BYTES == 0,
        "a block starts on a {BLOCK_ALIGN_BYTES}-byte boundary, out has {} bytes",
        out.len()
    );
    debug_assert_eq!(batch.check_invariants(), Ok(()));
    let block_start = out.len();
    let result = encode_into(batch, partition_key, first_seq, codec, scratch, out);
    if result.is_err() {
        out.truncate(block_start);
    }
    result
}

fn encode_into(
    batch: &ColumnBatch,
    partition_key: u64,
    first_seq: u64,
    codec: Codec,
    scratch: &mut EncodeScratch,
    out: &mut Vec<u8>,
) -> Result<EncodedBlock> {
    let block_start = out.len();
    out.resize(block_start + BLOCK_HEADER_BYTES, 0);
    split_granules(batch, &mut scratch.granules);
    let granules = std::mem::take(&mut scratch.granules);
    let plan = ColumnPlan::of(batch, &granules);
    let mut writer = FrameWriter {
        out,
        block_start,
        raw: &mut scratch.raw,
        compressed: &mut scratch.compressed,
    };
    let columns = write_columns(
        batch,
        &granules,
        &plan,
        codec,
        &mut writer,
        scratch_extras(&mut scratch.extras, &mut scratch.extra_ends),
    )?;
    let filters = write_filters(batch, &granules, &plan, &mut scratch.keys, &mut writer)?;
    let directory = BlockDirectory {
        level_counts: count_levels(&batch.levels),
        granules: granule_facts(batch, &granules),
        columns,
        filters,
    };
    let header = finish_block(
        batch,
        partition_key,
        first_seq,
        &granules,
        &directory,
        out,
        block_start,
    )?;
    let directory_bytes = header.directory_bytes as usize;
    let directory_start = block_start + header.directory_start() as usize;
    let mut archive = AlignedVec::with_capacity(directory_bytes);
    archive.extend_from_slice(&out[directory_start..directory_start + directory_bytes]);
    scratch.granules = granules;
    Ok(EncodedBlock {
        header,
        directory: archive,
    })
}

fn scratch_extras<'a>(extras: &'a mut Vec<u8>, ends: &'a mut Vec<u32>) -> ExtraScratch<'a> {
    ExtraScratch {
        packed: extras,
        ends,
    }
}

/// Archives the directory after the frames (16-byte aligned), writes the
/// header in front, pads the block to 4096 bytes. Returns the header.
fn finish_block(
    batch: &ColumnBatch,
    partition_key: u64,
    first_seq: u64,
    granules: &[Range<usize>],
    directory: &BlockDirectory,
    out: &mut Vec<u8>,
    block_start: usize,
) -> Result<BlockHeader> {
    let archive = rkyv::to_bytes::<rkyv::rancor::Error>(directory)
        .map_err(|source| BlockError::Serialize { source })?;
    let aligned = (out.len() - block_start).next_multiple_of(DIRECTORY_ALIGN_BYTES);
    out.resize(block_start + aligned, 0);
    out.extend_from_slice(&archive);
    let body_bytes = out.len() - block_start - BLOCK_HEADER_BYTES;
    if body_bytes > BLOCK_BODY_BYTES_MAX {
        return Err(BlockError::BlockTooLarge { body_bytes });
    }
    let (min_timestamp_ns, max_timestamp_ns) =
        timestamp_range(&batch.timestamps_ns).expect("the batch is not empty");
    let header = BlockHeader {
        partition_key,
        first_seq,
        entry_count: u32::try_from(batch.len()).expect("BLOCK_BODY_BYTES_MAX bounds the entries"),
        granule_count: granules.len() as u32,
        min_timestamp_ns,
        max_timestamp_ns,
        body_bytes: body_bytes as u32,
        directory_bytes: archive.len() as u32,
        directory_crc32: crc32fast::hash(&archive),
    };
    // The same checks a reader applies, before the block ever reaches disk.
    assert!(
        header.check_plausible().is_ok(),
        "encoded an implausible header {header:?}"
    );
    out[block_start..block_start + BLOCK_HEADER_BYTES].copy_from_slice(&header.encode());
    out.resize(block_start + header.span_bytes() as usize, 0);
    Ok(header)
}

/// Splits the entries into granules: at most `GRANULE_ROWS_MAX` rows each,
/// ending early after the entry that takes its text past
/// `GRANULE_BYTES_MAX`.
fn split_granules(batch: &ColumnBatch, out: &mut Vec<Range<usize>>) {
    out.clear();
    let mut start = 0;
    let mut text_bytes = 0;
    for row in 0..batch.len() {
        text_bytes += entry_text_bytes(batch, row);
        if row + 1 - start == GRANULE_ROWS_MAX || text_bytes >= GRANULE_BYTES_MAX {
            out.push(start..row + 1);
            start = row + 1;
            text_bytes = 0;
        }
    }
    if start < batch.len() {
        out.push(start..batch.len());
    }
}

fn entry_text_bytes(batch: &ColumnBatch, row: usize) -> usize {
    let span = |ends: &[u32], index: usize| {
        let start = if index == 0 { 0 } else { ends[index - 1] };
        (ends[index] - start) as usize
    };
    let tags = {
        let start = if row == 0 { 0 } else { batch.tag_ends[row - 1] } as usize;
        let end = batch.tag_ends[row] as usize;
        let bytes = |ends: &[u32]| {
            let low = if start == 0 { 0 } else { ends[start - 1] };
            let high = if end == 0 { 0 } else { ends[end - 1] };
            (high - low) as usize
        };
        bytes(&batch.tag_keys.ends) + bytes(&batch.tag_values.ends)
    };
    span(&batch.messages.ends, row)
        + span(&batch.fields.ends, row)
        + span(&batch.sources.ends, row)
        + tags
}

/// Smallest and largest timestamp; `None` when there are none.
fn timestamp_range(timestamps_ns: &[i64]) -> Option<(i64, i64)> {
    let min = timestamps_ns.iter().copied().min()?;
    let max = timestamps_ns.iter().copied().max()?;
    Some((min, max))
}

/// Entries per level; bytes above the last level count as "no level", as
/// `Level::from_byte` reads them.
fn count_levels(levels: &[u8]) -> LevelCounts {
    let mut counts = LevelCounts::default();
    for &level in levels {
        let index = if (level as usize) < counts.len() {
            level as usize
        } else {
            0
        };
        counts[index] += 1;
    }
    counts
}

fn granule_facts(batch: &ColumnBatch, granules: &[Range<usize>]) -> Vec<Granule> {
    granules
        .iter()
        .map(|rows| {
            let (min, max) = timestamp_range(&batch.timestamps_ns[rows.clone()])
                .expect("granules are not empty");
            Granule {
                row_start: rows.start as u32,
                row_count: rows.len() as u32,
                min_timestamp_ns: min,
                max_timestamp_ns: max,
                level_counts: count_levels(&batch.levels[rows.clone()]),
            }
        })
        .collect()
}

/// Appends frames to the block buffer: each encoded into `raw`, compressed
/// when that saves at least an eighth, and checksummed.
struct FrameWriter<'a> {
    out: &'a mut Vec<u8>,
    block_start: usize,
    raw: &'a mut Vec<u8>,
    compressed: &'a mut Vec<u8>,
}

impl FrameWriter<'_> {
    /// Encodes one frame with `encode` (which appends to the cleared raw
    /// buffer and returns its encoding id), then stores it.
    fn frame(&mut self, codec: Codec, encode: impl FnOnce(&mut Vec<u8>) -> u8) -> Result<Frame> {
        self.raw.clear();
        let encoding = encode(self.raw);
        self.store(codec, encoding)
    }

    fn store(&mut self, codec: Codec, encoding: u8) -> Result<Frame> {
        let raw_bytes = self.raw.len();
        let mut stored_codec = Codec::None;
        if codec != Codec::None && raw_bytes >= COMPRESS_BYTES_MIN {
            self.compressed.clear();
            compress(codec, self.raw, self.compressed)?;
            if self.compressed.len() < raw_bytes - raw_bytes / 8 {
                stored_codec = codec;
            }
        }
        let stored: &[u8] = if stored_codec == Codec::None {
            self.raw
        } else {
            self.compressed
        };
        let offset = self.out.len() - self.block_start;
        if offset + stored.len() > BLOCK_BODY_BYTES_MAX {
            return Err(BlockError::BlockTooLarge {
                body_bytes: offset + stored.len(),
            });
        }
        self.out.extend_from_slice(stored);
        Ok(Frame {
            offset: offset as u32,
            stored_bytes: stored.len() as u32,
            raw_bytes: raw_bytes as u32,
            crc32: crc32fast::hash(stored),
            codec: stored_codec.id(),
            encoding,
        })
    }

    /// Stores bytes that are already final (a filter), uncompressed.
    fn store_as_is(&mut self, bytes: &[u8], encoding: u8) -> Result<Frame> {
        self.raw.clear();
        self.raw.extend_from_slice(bytes);
        self.store(Codec::None, encoding)
    }
}

/// The columns a block will have, decided from all of its entries.
struct ColumnPlan<'a> {
    source: Option<Dict<'a>>,
    /// Sorted by key.
    tags: Vec<TagColumn<'a>>,
    /// (entry, tag index) of every tag without a column, in entry order.
    extras: Vec<(u32, u32)>,
    has_fields: bool,
}

struct TagColumn<'a> {
    key: &'a [u8],
    /// Per entry, its tag index for this key, or `NO_TAG`.
    rows: Vec<u32>,
    dict: Option<Dict<'a>>,
}

/// A column's dictionary: sorted values and, per entry, its value's index
/// (for tags: index + 1, 0 when the entry lacks the tag).
struct Dict<'a> {
    values: Vec<&'a [u8]>,
    ids: Vec<u32>,
    counts: Vec<u32>,
}

impl<'a> ColumnPlan<'a> {
    fn of(batch: &'a ColumnBatch, granules: &[Range<usize>]) -> ColumnPlan<'a> {
        let (mut tags, extras) = plan_tags(batch);
        for column in &mut tags {
            let values = column
                .rows
                .iter()
                .map(|&tag| (tag != NO_TAG).then(|| batch.tag_values.get_bytes(tag as usize)));
            column.dict = build_dict(values, true);
        }
        let sources = (0..batch.len()).map(|row| Some(batch.sources.get_bytes(row)));
        let _ = granules;
        ColumnPlan {
            source: build_dict(sources, false),
            tags,
            extras,
            has_fields: !batch.fields.bytes.is_empty(),
        }
    }
}

/// One column per tag key (the first `TAG_COLUMNS_MAX` keys met), holding
/// each entry's last value for it; every other tag is an extra.
fn plan_tags(batch: &ColumnBatch) -> (Vec<TagColumn<'_>>, Vec<(u32, u32)>) {
    let mut columns: Vec<TagColumn<'_>> = Vec::new();
    let mut by_key: FxHashMap<&[u8], usize> = FxHashMap::default();
    let mut extras = Vec::new();
    let entry_count = batch.len();
    let mut tag_start = 0usize;
    for row in 0..entry_count {
        let tag_end = batch.tag_ends[row] as usize;
        // Last occurrence first: it is the one an entry's rendering keeps.
        for tag in (tag_start..tag_end).rev() {
            let key = batch.tag_keys.get_bytes(tag);
            let column = match by_key.get(key) {
                Some(&column) => Some(column),
                None if columns.len() < TAG_COLUMNS_MAX => {
                    columns.push(TagColumn {
                        key,
                        rows: vec![NO_TAG; entry_count],
                        dict: None,
                    });
                    by_key.insert(key, columns.len() - 1);
                    Some(columns.len() - 1)
                }
                None => None,
            };
            match column {
                Some(column) if columns[column].rows[row] == NO_TAG => {
                    columns[column].rows[row] = tag as u32;
                }
                _ => extras.push((row as u32, tag as u32)),
            }
        }
        tag_start = tag_end;
    }
    columns.sort_unstable_by(|a, b| a.key.cmp(b.key));
    extras.sort_unstable();
    (columns, extras)
}

/// A dictionary of `values` (one per entry, `None` where a tag is absent)
/// when its values repeat enough to pay: at most `DICT_VALUES_MAX`
/// distinct, and either few enough for granule masks or at most a quarter
/// of the entries holding a value.
fn build_dict<'a>(
    values: impl Iterator<Item = Option<&'a [u8]>>,
    absent_is_zero: bool,
) -> Option<Dict<'a>> {
    let mut first_seen: FxHashMap<&'a [u8], u32> = FxHashMap::default();
    let mut distinct: Vec<&'a [u8]> = Vec::new();
    let mut ids = Vec::new();
    let mut present = 0usize;
    let mut last: Option<(&'a [u8], u32)> = None;
    for value in values {
        let Some(value) = value else {
            ids.push(NO_TAG);
            continue;
        };
        present += 1;
        let id = match last {
            Some((text, id)) if text == value => id,
            _ => match first_seen.get(value) {
                Some(&id) => id,
                None if distinct.len() < DICT_VALUES_MAX => {
                    distinct.push(value);
                    first_seen.insert(value, distinct.len() as u32 - 1);
                    distinct.len() as u32 - 1
                }
                None => return None,
            },
        };
        last = Some((value, id));
        ids.push(id);
    }
    let pays = distinct.len() <= GRANULE_MASK_VALUES_MAX || distinct.len() * 4 <= present;
    if !pays || distinct.is_empty() {
        return None;
    }
    Some(sort_dict(distinct, ids, absent_is_zero))
}

/// Sorts a dictionary's values and renumbers the entries' ids to match.
fn sort_dict<'a>(distinct: Vec<&'a [u8]>, mut ids: Vec<u32>, absent_is_zero: bool) -> Dict<'a> {
    let mut order: Vec<u32> = (0..distinct.len() as u32).collect();
    order.sort_unstable_by(|a, b| distinct[*a as usize].cmp(distinct[*b as usize]));
    let mut rank = vec![0u32; distinct.len()];
    for (sorted, first) in order.iter().enumerate() {
        rank[*first as usize] = sorted as u32;
    }
    let shift = u32::from(absent_is_zero);
    let mut counts = vec![0u32; distinct.len()];
    for id in &mut ids {
        if *id == NO_TAG {
            *id = 0;
        } else {
            let sorted = rank[*id as usize];
            counts[sorted as usize] += 1;
            *id = sorted + shift;
        }
    }
    let values = order
        .iter()
        .map(|first| distinct[*first as usize])
        .collect();
    Dict {
        values,
        ids,
        counts,
    }
}

impl Dict<'_> {
    /// The id bound the frames are encoded against.
    fn id_bound(&self, absent_is_zero: bool) -> u32 {
        self.values.len() as u32 + u32::from(absent_is_zero)
    }

    fn directory(&self, granules: &[Range<usize>], absent_is_zero: bool) -> Dictionary {
        let shift = u32::from(absent_is_zero);
        let granule_masks = if self.values.len() <= GRANULE_MASK_VALUES_MAX {
            granules
                .iter()
                .map(|rows| {
                    self.ids[rows.clone()]
                        .iter()
                        .filter(|id| **id >= shift)
                        .fold(0u64, |mask, id| mask | 1 << (id - shift))
                })
                .collect()
        } else {
            Vec::new()
        };
        Dictionary {
            values: self.values.iter().map(|value| utf8(value)).collect(),
            counts: self.counts.clone(),
            granule_masks,
        }
    }
}

/// Packed extra-tag lists of one granule (see `ExtraTags`).
struct ExtraScratch<'a> {
    packed: &'a mut Vec<u8>,
    ends: &'a mut Vec<u32>,
}

/// Writes every column's frames, granule by granule, in directory order.
fn write_columns(
    batch: &ColumnBatch,
    granules: &[Range<usize>],
    plan: &ColumnPlan<'_>,
    codec: Codec,
    writer: &mut FrameWriter<'_>,
    mut extra_scratch: ExtraScratch<'_>,
) -> Result<Vec<Column>> {
    let small = if codec == Codec::None {
        Codec::None
    } else {
        SMALL_COLUMN_CODEC
    };
    let mut columns = Vec::with_capacity(5 + plan.tags.len() + 1);
    let frames =
        |writer: &mut FrameWriter<'_>, codec, encode: &dyn Fn(Range<usize>, &mut Vec<u8>) -> u8| {
            granules
                .iter()
                .map(|rows| writer.frame(codec, |raw| encode(rows.clone(), raw)))
                .collect::<Result<Vec<Frame>>>()
        };
    columns.push(Column {
        name: ColumnName::Timestamp,
        dictionary: None,
        frames: frames(writer, small, &|rows, raw| {
            ints::encode_i64s(&batch.timestamps_ns[rows], raw)
        })?,
    });
    columns.push(Column {
        name: ColumnName::Level,
        dictionary: None,
        frames: frames(writer, small, &|rows, raw| {
            levels::encode_levels(&batch.levels[rows], raw)
        })?,
    });
    columns.push(source_column(batch, granules, plan, codec, small, writer)?);
    columns.push(Column {
        name: ColumnName::Message,
        dictionary: None,
        frames: frames(writer, codec, &|rows, raw| {
            strings::encode_strings(rows.map(|row| batch.messages.get_bytes(row)), raw);
            super::column::encoding::STRINGS
        })?,
    });
    if plan.has_fields {
        columns.push(Column {
            name: ColumnName::Fields,
            dictionary: None,
            frames: frames(writer, codec, &|rows, raw| {
                strings::encode_strings(rows.map(|row| batch.fields.get_bytes(row)), raw);
                super::column::encoding::STRINGS
            })?,
        });
    }
    for tag in &plan.tags {
        columns.push(tag_column(batch, granules, tag, codec, small, writer)?);
    }
    if !plan.extras.is_empty() {
        columns.push(extra_tags_column(
            batch,
            granules,
            &plan.extras,
            codec,
            writer,
            &mut extra_scratch,
        )?);
    }
    Ok(columns)
}

fn source_column(
    batch: &ColumnBatch,
    granules: &[Range<usize>],
    plan: &ColumnPlan<'_>,
    codec: Codec,
    small: Codec,
    writer: &mut FrameWriter<'_>,
) -> Result<Column> {
    let mut frames = Vec::with_capacity(granules.len());
    for rows in granules {
        let frame = match &plan.source {
            Some(dict) => writer.frame(small, |raw| {
                ids::encode_ids(&dict.ids[rows.clone()], dict.id_bound(false), raw)
            })?,
            None => writer.frame(codec, |raw| {
                strings::encode_strings(rows.clone().map(|row| batch.sources.get_bytes(row)), raw);
                super::column::encoding::STRINGS
            })?,
        };
        frames.push(frame);
    }
    Ok(Column {
        name: ColumnName::Source,
        dictionary: plan
            .source
            .as_ref()
            .map(|dict| dict.directory(granules, false)),
        frames,
    })
}

fn tag_column(
    batch: &ColumnBatch,
    granules: &[Range<usize>],
    tag: &TagColumn<'_>,
    codec: Codec,
    small: Codec,
    writer: &mut FrameWriter<'_>,
) -> Result<Column> {
    let mut frames = Vec::with_capacity(granules.len());
    for rows in granules {
        let frame = match &tag.dict {
            Some(dict) => writer.frame(small, |raw| {
                ids::encode_ids(&dict.ids[rows.clone()], dict.id_bound(true), raw)
            })?,
            None => writer.frame(codec, |raw| {
                let values = tag.rows[rows.clone()].iter().map(|&index| {
                    (index != NO_TAG).then(|| batch.tag_values.get_bytes(index as usize))
                });
                strings::encode_nullable_strings(values, raw);
                super::column::encoding::NULLABLE_STRINGS
            })?,
        };
        frames.push(frame);
    }
    Ok(Column {
        name: ColumnName::Tag(utf8(tag.key)),
        dictionary: tag.dict.as_ref().map(|dict| dict.directory(granules, true)),
        frames,
    })
}

/// Each entry's extra tags as one string value: for each pair, the key's
/// length (varint), the key, the value's length (varint), the value. An
/// entry without extras has the empty string.
fn extra_tags_column(
    batch: &ColumnBatch,
    granules: &[Range<usize>],
    extras: &[(u32, u32)],
    codec: Codec,
    writer: &mut FrameWriter<'_>,
    scratch: &mut ExtraScratch<'_>,
) -> Result<Column> {
    let mut frames = Vec::with_capacity(granules.len());
    let mut next = 0;
    for rows in granules {
        scratch.packed.clear();
        scratch.ends.clear();
        for row in rows.clone() {
            while let Some(&(extra_row, tag)) = extras.get(next) {
                if extra_row as usize != row {
                    break;
                }
                pack_pair(
                    batch.tag_keys.get_bytes(tag as usize),
                    batch.tag_values.get_bytes(tag as usize),
                    scratch.packed,
                );
                next += 1;
            }
            scratch.ends.push(scratch.packed.len() as u32);
        }
        let (packed, ends) = (&*scratch.packed, &*scratch.ends);
        frames.push(writer.frame(codec, |raw| {
            let values = (0..ends.len()).map(|index| {
                let start = if index == 0 {
                    0
                } else {
                    ends[index - 1] as usize
                };
                &packed[start..ends[index] as usize]
            });
            strings::encode_strings(values, raw);
            super::column::encoding::STRINGS
        })?);
    }
    Ok(Column {
        name: ColumnName::ExtraTags,
        dictionary: None,
        frames,
    })
}

/// Appends one (key, value) pair to an entry's packed extra tags.
pub(super) fn pack_pair(key: &[u8], value: &[u8], out: &mut Vec<u8>) {
    super::column::varint::put_u64(out, key.len() as u64);
    out.extend_from_slice(key);
    super::column::varint::put_u64(out, value.len() as u64);
    out.extend_from_slice(value);
}

/// Builds each granule's filter: its messages' words, and the sources and
/// tag pairs that have no dictionary (including extra tags).
fn write_filters(
    batch: &ColumnBatch,
    granules: &[Range<usize>],
    plan: &ColumnPlan<'_>,
    keys: &mut FilterKeys,
    writer: &mut FrameWriter<'_>,
) -> Result<Vec<Frame>> {
    let plain_tags: Vec<&TagColumn<'_>> = plan.tags.iter().filter(|t| t.dict.is_none()).collect();
    let mut filters = Vec::with_capacity(granules.len());
    let mut next_extra = 0;
    let mut filter = Vec::new();
    for rows in granules {
        keys.clear();
        for row in rows.clone() {
            keys.add_message(batch.messages.get_bytes(row));
            if plan.source.is_none() {
                keys.add_keyed(ItemKind::Source, b"", batch.sources.get_bytes(row));
            }
        }
        for tag in &plain_tags {
            for &index in &tag.rows[rows.clone()] {
                if index != NO_TAG {
                    let value = batch.tag_values.get_bytes(index as usize);
                    keys.add_keyed(ItemKind::TagPair, tag.key, value);
                }
            }
        }
        while let Some(&(row, tag)) = plan.extras.get(next_extra) {
            if row as usize >= rows.end {
                break;
            }
            let (key, value) = (
                batch.tag_keys.get_bytes(tag as usize),
                batch.tag_values.get_bytes(tag as usize),
            );
            keys.add_keyed(ItemKind::TagPair, key, value);
            next_extra += 1;
        }
        filter.clear();
        let encoding = keys.build_into(&mut filter);
        filters.push(writer.store_as_is(&filter, encoding)?);
    }
    Ok(filters)
}

/// A batch's text as a `String` (once per dictionary value or tag key).
fn utf8(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("batch columns hold UTF-8 (ColumnBatch invariant)")
}
