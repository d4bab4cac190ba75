//! The block directory: everything a query needs to know about a version-3
//! block before reading any of its frames, as one rkyv archive at the end
//! of the block (and a copy in the shard manifest, so start-up reads no
//! block). Queries use it in place, without deserialising.
//!
//! It holds, per block: the entry count of each level; per granule: its
//! rows, time range, levels and counts per level; per column: its name, its
//! dictionary when it has one (sorted values, entries per value, and for
//! dictionaries of at most `GRANULE_MASK_VALUES_MAX` values which of them
//! each granule holds), and where each granule's frame lies; and where each
//! granule's word filter lies.
//!
//! Invariants, checked by `check` after rkyv validation, so that nothing a
//! query later indexes with can be out of bounds: granules are contiguous,
//! non-empty and cover the block's entries; every column has one frame per
//! granule; every frame lies inside the body before the directory; sizes
//! are within their maxima; dictionaries are sorted and their counts add up.

use rkyv::{Archive, Deserialize, Serialize};

use super::{
    BlockError, BlockHeader, Codec, Result, BLOCK_HEADER_BYTES, FRAME_RAW_BYTES_MAX,
    GRANULE_ROWS_READ_MAX,
};
use crate::entry::Level;

/// Dictionaries of at most this many values record, per granule, which of
/// them it holds (one bit each in a `u64`).
pub const GRANULE_MASK_VALUES_MAX: usize = 64;

/// Entries per level, indexed by `Level::as_byte`.
pub type LevelCounts = [u32; Level::ALL.len()];

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct BlockDirectory {
    /// Entries of the whole block per level.
    pub level_counts: LevelCounts,
    pub granules: Vec<Granule>,
    /// Sorted by `ColumnName` (see `ColumnName::order`); each name once.
    pub columns: Vec<Column>,
    /// Per granule, its word filter (`index::filter`); an empty frame
    /// (`stored_bytes == 0`) means the granule has no filter items.
    pub filters: Vec<Frame>,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Granule {
    /// Index of the granule's first entry in the block.
    pub row_start: u32,
    pub row_count: u32,
    pub min_timestamp_ns: i64,
    pub max_timestamp_ns: i64,
    /// Entries of the granule per level.
    pub level_counts: LevelCounts,
}

/// Which of an entry's parts a column holds.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColumnName {
    Timestamp,
    Level,
    Source,
    Message,
    /// The other JSON fields of each entry (`""` when none).
    Fields,
    /// One tag key: each entry's value for it (the last, if the entry has
    /// the key twice), or none.
    Tag(String),
    /// Tags that have no column of their own: keys past `TAG_COLUMNS_MAX`
    /// and earlier duplicates of a key, as a packed list per entry.
    ExtraTags,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: ColumnName,
    /// `None`: frames hold the values. `Some`: frames hold ids into it.
    pub dictionary: Option<Dictionary>,
    /// One per granule.
    pub frames: Vec<Frame>,
}

/// The distinct values of a column in a block. A frame holds, per entry,
/// `i` for `values[i]` (sources) or `i + 1` for `values[i]` and 0 for
/// "no such tag" (tags).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Dictionary {
    /// Sorted, distinct.
    pub values: Vec<String>,
    /// Entries holding each value.
    pub counts: Vec<u32>,
    /// Per granule, bit `i` set when it holds `values[i]`; empty when there
    /// are more than `GRANULE_MASK_VALUES_MAX` values.
    pub granule_masks: Vec<u64>,
}

/// Where one frame lies in the block and how to read it.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// From the block's first byte.
    pub offset: u32,
    pub stored_bytes: u32,
    /// Length after decompression (equal to `stored_bytes` for codec 0).
    pub raw_bytes: u32,
    /// crc32 of the stored bytes.
    pub crc32: u32,
    /// `Codec::id` of the frame's compression.
    pub codec: u8,
    /// `block::column::encoding` id of the raw bytes.
    pub encoding: u8,
}

impl ColumnName {
    /// The tag key, for a tag column.
    pub fn tag_key(&self) -> Option<&str> {
        match self {
            ColumnName::Tag(key) => Some(key),
            _ => None,
        }
    }
}

impl ArchivedColumnName {
    pub fn tag_key(&self) -> Option<&str> {
        match self {
            ArchivedColumnName::Tag(key) => Some(key.as_str()),
            _ => None,
        }
    }

    /// Where the name sorts among a block's columns (tags by key).
    fn order(&self) -> (u8, &str) {
        match self {
            ArchivedColumnName::Timestamp => (0, ""),
            ArchivedColumnName::Level => (1, ""),
            ArchivedColumnName::Source => (2, ""),
            ArchivedColumnName::Message => (3, ""),
            ArchivedColumnName::Fields => (4, ""),
            ArchivedColumnName::Tag(key) => (5, key.as_str()),
            ArchivedColumnName::ExtraTags => (6, ""),
        }
    }
}

impl ArchivedBlockDirectory {
    pub fn level_counts(&self) -> LevelCounts {
        self.level_counts.map(|count| count.to_native())
    }

    /// Bit `1 << level` for every level some entry has.
    pub fn level_mask(&self) -> u8 {
        mask_of(&self.level_counts())
    }

    pub fn column(&self, name: &ColumnName) -> Option<&ArchivedColumn> {
        let wanted = archived_order(name);
        self.columns
            .binary_search_by(|column| column.name.order().cmp(&wanted))
            .ok()
            .map(|index| &self.columns[index])
    }

    pub fn tag_column(&self, key: &str) -> Option<&ArchivedColumn> {
        self.columns
            .binary_search_by(|column| column.name.order().cmp(&(5, key)))
            .ok()
            .map(|index| &self.columns[index])
    }

    /// The tag columns, in key order.
    pub fn tag_columns(&self) -> impl Iterator<Item = &ArchivedColumn> {
        self.columns
            .iter()
            .filter(|column| column.name.tag_key().is_some())
    }

    pub fn has_extra_tags(&self) -> bool {
        self.column(&ColumnName::ExtraTags).is_some()
    }

    /// Checks the invariants in the module docs against the block's
    /// `header`. Run once, after rkyv validation, before any other use.
    pub fn check(&self, header: &BlockHeader) -> Result<()> {
        let granule_count = header.granule_count as usize;
        if self.granules.len() != granule_count || self.filters.len() != granule_count {
            return Err(malformed(format!(
                "directory lists {} granules and {} filters, header says {granule_count}",
                self.granules.len(),
                self.filters.len()
            )));
        }
        self.check_granules(header)?;
        let frames_end = header.directory_start();
        for filter in self.filters.iter() {
            check_frame(filter, frames_end, "filter")?;
        }
        for (index, column) in self.columns.iter().enumerate() {
            if index > 0 && self.columns[index - 1].name.order() >= column.name.order() {
                return Err(malformed("columns are not sorted and distinct".into()));
            }
            self.check_column(column, header, frames_end)?;
        }
        for required in [
            ColumnName::Timestamp,
            ColumnName::Level,
            ColumnName::Source,
            ColumnName::Message,
        ] {
            if self.column(&required).is_none() {
                return Err(malformed(format!("the {required:?} column is missing")));
            }
        }
        Ok(())
    }

    fn check_granules(&self, header: &BlockHeader) -> Result<()> {
        let mut next_row = 0u64;
        let mut totals = LevelCounts::default();
        for granule in self.granules.iter() {
            let rows = granule.row_count.to_native() as u64;
            let (min, max) = (
                granule.min_timestamp_ns.to_native(),
                granule.max_timestamp_ns.to_native(),
            );
            let counts = granule.level_counts.map(|count| count.to_native());
            let counted: u64 = counts.iter().map(|n| *n as u64).sum();
            if granule.row_start.to_native() as u64 != next_row
                || rows == 0
                || rows > GRANULE_ROWS_READ_MAX as u64
                || counted != rows
                || min > max
                || min < header.min_timestamp_ns
                || max > header.max_timestamp_ns
            {
                return Err(malformed(format!(
                    "granule at row {} is inconsistent",
                    granule.row_start.to_native()
                )));
            }
            for (total, count) in totals.iter_mut().zip(counts) {
                *total += count;
            }
            next_row += rows;
        }
        if next_row != header.entry_count as u64 || totals != self.level_counts() {
            return Err(malformed(format!(
                "granules hold {next_row} entries, header says {}",
                header.entry_count
            )));
        }
        Ok(())
    }

    fn check_column(&self, column: &ArchivedColumn, header: &BlockHeader, end: u64) -> Result<()> {
        let what = "column frame";
        if column.frames.len() != self.granules.len() {
            return Err(malformed(format!(
                "column {:?} has {} frames for {} granules",
                column.name.order(),
                column.frames.len(),
                self.granules.len()
            )));
        }
        for frame in column.frames.iter() {
            check_frame(frame, end, what)?;
        }
        let Some(dictionary) = column.dictionary.as_ref() else {
            return Ok(());
        };
        let values = &dictionary.values;
        let sorted = values.windows(2).all(|pair| pair[0] < pair[1]);
        let total: u64 = dictionary.counts.iter().map(|c| c.to_native() as u64).sum();
        let masks = dictionary.granule_masks.len();
        let masks_fit = if values.len() <= GRANULE_MASK_VALUES_MAX {
            masks == self.granules.len()
        } else {
            masks == 0
        };
        if !sorted
            || dictionary.counts.len() != values.len()
            || total > header.entry_count as u64
            || !masks_fit
            || values.is_empty()
        {
            return Err(malformed(format!(
                "dictionary of column {:?} is inconsistent",
                column.name.order()
            )));
        }
        Ok(())
    }
}

impl ArchivedDictionary {
    /// The index of `value`, if the dictionary holds it.
    pub fn find(&self, value: &str) -> Option<usize> {
        self.values
            .binary_search_by(|candidate| candidate.as_str().cmp(value))
            .ok()
    }

    /// Whether granule `granule` may hold value `index` (true when the
    /// dictionary records no granule masks).
    pub fn granule_may_hold(&self, granule: usize, index: usize) -> bool {
        match self.granule_masks.get(granule) {
            Some(mask) => mask.to_native() & (1u64 << index) != 0,
            None => true,
        }
    }
}

impl ArchivedFrame {
    pub fn native(&self) -> Frame {
        Frame {
            offset: self.offset.to_native(),
            stored_bytes: self.stored_bytes.to_native(),
            raw_bytes: self.raw_bytes.to_native(),
            crc32: self.crc32.to_native(),
            codec: self.codec,
            encoding: self.encoding,
        }
    }
}

impl ArchivedGranule {
    pub fn rows(&self) -> std::ops::Range<usize> {
        let start = self.row_start.to_native() as usize;
        start..start + self.row_count.to_native() as usize
    }

    pub fn level_counts(&self) -> LevelCounts {
        self.level_counts.map(|count| count.to_native())
    }

    pub fn level_mask(&self) -> u8 {
        mask_of(&self.level_counts())
    }
}

/// Bit `1 << level` for every level with a non-zero count.
pub fn mask_of(counts: &LevelCounts) -> u8 {
    counts
        .iter()
        .enumerate()
        .filter(|(_, count)| **count > 0)
        .fold(0u8, |mask, (level, _)| mask | 1 << level)
}

fn archived_order(name: &ColumnName) -> (u8, &str) {
    match name {
        ColumnName::Timestamp => (0, ""),
        ColumnName::Level => (1, ""),
        ColumnName::Source => (2, ""),
        ColumnName::Message => (3, ""),
        ColumnName::Fields => (4, ""),
        ColumnName::Tag(key) => (5, key.as_str()),
        ColumnName::ExtraTags => (6, ""),
    }
}

fn check_frame(frame: &ArchivedFrame, frames_end: u64, what: &str) -> Result<()> {
    let frame = frame.native();
    let start = frame.offset as u64;
    let end = start + frame.stored_bytes as u64;
    let codec_fits = match Codec::from_id(frame.codec) {
        Some(Codec::None) => frame.stored_bytes == frame.raw_bytes,
        Some(_) => true,
        None => false,
    };
    if start < BLOCK_HEADER_BYTES as u64
        || end > frames_end
        || frame.raw_bytes as usize > FRAME_RAW_BYTES_MAX
        || !codec_fits
    {
        return Err(malformed(format!(
            "{what} at {start}+{} (raw {}, codec {}) does not fit the block",
            frame.stored_bytes, frame.raw_bytes, frame.codec
        )));
    }
    Ok(())
}

fn malformed(detail: String) -> BlockError {
    BlockError::DirectoryMalformed { detail }
}
