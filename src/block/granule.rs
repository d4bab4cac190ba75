//! `DecodedGranule`: the columns of one granule of a sealed block that a
//! query has read and decoded so far, readable entry by entry (`BatchView`)
//! and column by column (the slices a scan runs over).
//!
//! Columns are decoded lazily and separately: a query first loads what its
//! filter needs (timestamps and levels always, then the message, source or
//! tag columns it names), evaluates it over whole columns, and loads the
//! rest only for granules holding entries it returns. String columns keep
//! their decompressed frame and offsets (`Strings`), never a `String` per
//! value; dictionary columns keep ids and resolve them through the block's
//! directory.
//!
//! One `DecodedGranule` is reused for every granule a query reads
//! (`reset`): its buffers keep their memory, so a scan of thousands of
//! granules allocates (and the kernel zero-fills) a few buffers once, not
//! every frame anew (measured: page faults took a tenth of a full scan).

use super::column::{bits, encoding, ids, ints, levels, strings, varint, ColumnError};
use super::decoder::DirectoryRef;
use super::directory::{ArchivedColumnName, ArchivedDictionary, Frame};
use super::{decompress_to_vec, BlockError, ChecksumRegion, FrameKind, Result};
use crate::entry::{BatchView, Level};

/// Which tag columns a query needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TagNeed {
    #[default]
    None,
    /// These keys (and the extra tags, which may hold any key).
    Keys(Vec<String>),
    /// Every tag.
    All,
}

/// Which columns of a granule a query needs decoded, besides the
/// timestamps and levels, which are always decoded (they are small and
/// every query tests them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnSet {
    pub source: bool,
    pub message: bool,
    pub fields: bool,
    pub tags: TagNeed,
}

impl ColumnSet {
    /// Every column: what building result entries needs.
    pub fn all() -> ColumnSet {
        ColumnSet {
            source: true,
            message: true,
            fields: true,
            tags: TagNeed::All,
        }
    }

    /// Whether column `name` of a block is in the set.
    pub fn wants(&self, name: &ArchivedColumnName) -> bool {
        match name {
            ArchivedColumnName::Timestamp | ArchivedColumnName::Level => true,
            ArchivedColumnName::Source => self.source,
            ArchivedColumnName::Message => self.message,
            ArchivedColumnName::Fields => self.fields,
            ArchivedColumnName::Tag(key) => match &self.tags {
                TagNeed::None => false,
                TagNeed::Keys(keys) => keys.iter().any(|wanted| wanted == key.as_str()),
                TagNeed::All => true,
            },
            ArchivedColumnName::ExtraTags => self.tags != TagNeed::None,
        }
    }
}

/// The frames of granule `granule` of a block whose columns are in `set`:
/// (column index, frame, kind), in directory order.
pub fn wanted_frames(
    directory: &DirectoryRef,
    granule: usize,
    set: &ColumnSet,
) -> Vec<(usize, Frame, FrameKind)> {
    directory
        .get()
        .columns
        .iter()
        .enumerate()
        .filter(|(_, column)| set.wants(&column.name))
        .map(|(index, column)| {
            let frame = column.frames[granule].native();
            (index, frame, FrameKind::of_archived(&column.name))
        })
        .collect()
}

/// A decoded string column: the frame's raw bytes and each value's end.
#[derive(Debug, Default)]
pub struct Strings {
    raw: Vec<u8>,
    /// Where the values' bytes start in `raw`.
    data_start: usize,
    /// Value `i` is `data()[ends[i-1]..ends[i]]`.
    ends: Vec<u32>,
    /// For a nullable column, bit `i` set when entry `i` has a value.
    present: Vec<u64>,
    nullable: bool,
}

impl Strings {
    /// The values' bytes, back to back.
    pub fn data(&self) -> &[u8] {
        &self.raw[self.data_start..]
    }

    pub fn ends(&self) -> &[u32] {
        &self.ends
    }

    pub fn get_bytes(&self, index: usize) -> &[u8] {
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1] as usize
        };
        &self.data()[start..self.ends[index] as usize]
    }

    pub fn get(&self, index: usize) -> &str {
        let bytes = self.get_bytes(index);
        // SAFETY: the column decoder checked that the data is UTF-8 and
        // that every value boundary is a character boundary.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    pub fn is_present(&self, index: usize) -> bool {
        !self.nullable || bits::bitmap_words_get(&self.present, index)
    }

    /// Parses `raw` (already in `self.raw`) as a string frame of `rows`.
    fn parse(&mut self, encoding_id: u8, rows: usize) -> super::column::Result<()> {
        self.nullable = encoding_id == encoding::NULLABLE_STRINGS;
        self.data_start = match encoding_id {
            encoding::STRINGS => strings::decode_strings(&self.raw, rows, &mut self.ends)?,
            encoding::NULLABLE_STRINGS => strings::decode_nullable_strings(
                &self.raw,
                rows,
                &mut self.ends,
                &mut self.present,
            )?,
            other => return Err(ColumnError::UnknownEncoding { encoding: other }),
        };
        Ok(())
    }
}

/// What one column of the granule holds, once decoded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Decoded {
    #[default]
    Nothing,
    Ids,
    Strings,
    Timestamps,
    Levels,
}

/// One directory column's decoded values, with buffers kept across
/// granules.
#[derive(Debug, Default)]
struct Slot {
    decoded: Decoded,
    ids: Vec<u32>,
    strings: Strings,
}

/// The decoded columns of granule `granule` of a block.
pub struct DecodedGranule {
    directory: DirectoryRef,
    granule: usize,
    row_count: usize,
    timestamps: Vec<i64>,
    levels: Vec<u8>,
    /// One per directory column, in directory order.
    slots: Vec<Slot>,
    /// Directory indices of the source, message, fields and extra-tags
    /// columns, and of the tag columns (in key order).
    source_column: usize,
    message_column: Option<usize>,
    fields_column: Option<usize>,
    extras_column: Option<usize>,
    tag_columns: Vec<usize>,
}

impl DecodedGranule {
    /// A granule with nothing decoded yet.
    pub fn new(directory: DirectoryRef, granule: usize) -> DecodedGranule {
        let mut decoded = DecodedGranule {
            directory: directory.clone(),
            granule: 0,
            row_count: 0,
            timestamps: Vec::new(),
            levels: Vec::new(),
            slots: Vec::new(),
            source_column: 0,
            message_column: None,
            fields_column: None,
            extras_column: None,
            tag_columns: Vec::new(),
        };
        decoded.reset(directory, granule);
        decoded
    }

    /// Makes this the (undecoded) granule `granule` of the block of
    /// `directory`, keeping every buffer's memory for reuse.
    pub fn reset(&mut self, directory: DirectoryRef, granule: usize) {
        let archived = directory.get();
        self.row_count = archived.granules[granule].rows().len();
        self.granule = granule;
        self.timestamps.clear();
        self.levels.clear();
        let column_count = archived.columns.len();
        self.slots
            .resize_with(column_count.max(self.slots.len()), Slot::default);
        self.slots
            .iter_mut()
            .for_each(|slot| slot.decoded = Decoded::Nothing);
        self.message_column = None;
        self.fields_column = None;
        self.extras_column = None;
        self.tag_columns.clear();
        for (index, column) in archived.columns.iter().enumerate() {
            match column.name {
                ArchivedColumnName::Source => self.source_column = index,
                ArchivedColumnName::Message => self.message_column = Some(index),
                ArchivedColumnName::Fields => self.fields_column = Some(index),
                ArchivedColumnName::ExtraTags => self.extras_column = Some(index),
                ArchivedColumnName::Tag(_) => self.tag_columns.push(index),
                ArchivedColumnName::Timestamp | ArchivedColumnName::Level => {}
            }
        }
        self.directory = directory;
    }

    pub fn granule(&self) -> usize {
        self.granule
    }

    pub fn directory(&self) -> &DirectoryRef {
        &self.directory
    }

    /// Index of the granule's first entry within its block.
    pub fn row_start(&self) -> usize {
        self.directory.get().granules[self.granule].rows().start
    }

    fn is_decoded(&self, index: usize) -> bool {
        self.slots[index].decoded != Decoded::Nothing
    }

    /// Directory indices of the columns `set` needs that are not decoded
    /// yet, with their frames for this granule.
    pub fn missing(&self, set: &ColumnSet) -> Vec<(usize, Frame, FrameKind)> {
        let mut frames = wanted_frames(&self.directory, self.granule, set);
        frames.retain(|(index, _, _)| !self.is_decoded(*index));
        frames
    }

    /// Decodes column `index`'s frame for this granule from its stored
    /// bytes: checks the crc, decompresses into the column's own buffer,
    /// and decodes. Errors carry the frame's offset in the block.
    pub fn install(&mut self, index: usize, stored: &[u8]) -> Result<()> {
        let directory = self.directory.clone();
        let column = &directory.get().columns[index];
        let frame = column.frames[self.granule].native();
        let kind = FrameKind::of_archived(&column.name);
        let slot = &mut self.slots[index];
        read_frame(&frame, kind, stored, &mut slot.strings.raw)?;
        let malformed = |error: ColumnError| BlockError::FrameMalformed {
            kind,
            offset: frame.offset as u64,
            detail: error.to_string(),
        };
        let rows = self.row_count;
        let raw = &slot.strings.raw;
        slot.decoded = match &column.name {
            ArchivedColumnName::Timestamp => {
                self.timestamps.clear();
                ints::decode_i64s(frame.encoding, raw, rows, &mut self.timestamps)
                    .map_err(malformed)?;
                Decoded::Timestamps
            }
            ArchivedColumnName::Level => {
                self.levels.clear();
                levels::decode_levels(frame.encoding, raw, rows, &mut self.levels)
                    .map_err(malformed)?;
                Decoded::Levels
            }
            name => match column.dictionary.as_ref() {
                Some(dictionary) => {
                    let tag = matches!(name, ArchivedColumnName::Tag(_));
                    let bound = dictionary.values.len() as u32 + u32::from(tag);
                    slot.ids.clear();
                    ids::decode_ids(frame.encoding, raw, rows, bound, &mut slot.ids)
                        .map_err(malformed)?;
                    Decoded::Ids
                }
                None => {
                    slot.strings
                        .parse(frame.encoding, rows)
                        .map_err(malformed)?;
                    if matches!(name, ArchivedColumnName::ExtraTags) {
                        check_extras(&slot.strings).map_err(malformed)?;
                    }
                    Decoded::Strings
                }
            },
        };
        Ok(())
    }

    pub fn timestamps(&self) -> &[i64] {
        &self.timestamps
    }

    pub fn levels(&self) -> &[u8] {
        &self.levels
    }

    /// The message column, when decoded.
    pub fn messages(&self) -> Option<&Strings> {
        let slot = &self.slots[self.message_column?];
        (slot.decoded == Decoded::Strings).then_some(&slot.strings)
    }

    /// The source column's ids and dictionary, when it has one and is decoded.
    pub fn source_ids(&self) -> Option<(&[u32], &ArchivedDictionary)> {
        self.ids_of(self.source_column)
    }

    /// A tag column's ids (0 = absent) and dictionary, when it has one and
    /// is decoded.
    pub fn tag_ids(&self, key: &str) -> Option<(&[u32], &ArchivedDictionary)> {
        let directory = self.directory.get();
        let index = self
            .tag_columns
            .iter()
            .copied()
            .find(|&index| directory.columns[index].name.tag_key() == Some(key))?;
        self.ids_of(index)
    }

    fn ids_of(&self, index: usize) -> Option<(&[u32], &ArchivedDictionary)> {
        let slot = &self.slots[index];
        if slot.decoded != Decoded::Ids {
            return None;
        }
        let dictionary = self.directory.get().columns[index].dictionary.as_ref()?;
        Some((&slot.ids, dictionary))
    }

    /// The value of entry `row` in column `index` (a tag or the source),
    /// `None` when the entry lacks it.
    fn value(&self, row: usize, index: usize, tag: bool) -> Option<&[u8]> {
        let slot = &self.slots[index];
        match slot.decoded {
            Decoded::Ids => {
                let id = slot.ids[row] as usize;
                if tag && id == 0 {
                    return None;
                }
                let dictionary = self.directory.get().columns[index]
                    .dictionary
                    .as_ref()
                    .expect("id columns have a dictionary (checked at decode)");
                Some(dictionary.values[id - usize::from(tag)].as_bytes())
            }
            Decoded::Strings => slot
                .strings
                .is_present(row)
                .then(|| slot.strings.get_bytes(row)),
            _ => None,
        }
    }

    /// Calls `visit` with entry `index`'s tags: extra tags first, then one
    /// per tag column, so a key an entry has twice renders with the value
    /// its column keeps (the last). Stops when `visit` returns true.
    fn visit_tags(&self, index: usize, visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> bool {
        if let Some(extras) = self.extras_column.filter(|&column| self.is_decoded(column)) {
            let mut packed = self.slots[extras].strings.get_bytes(index);
            while let Some((key, value, rest)) = next_pair(packed) {
                if visit(key, value) {
                    return true;
                }
                packed = rest;
            }
        }
        let directory = self.directory.get();
        for &column in &self.tag_columns {
            if let Some(value) = self.value(index, column, true) {
                let key = directory.columns[column]
                    .name
                    .tag_key()
                    .expect("tag columns have keys");
                if visit(key.as_bytes(), value) {
                    return true;
                }
            }
        }
        false
    }
}

/// Checks a frame's stored bytes against its crc, then puts its raw
/// (decompressed) bytes in `out`.
fn read_frame(frame: &Frame, kind: FrameKind, stored: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let expected_bytes = frame.stored_bytes as usize;
    let Some(stored) = stored.get(..expected_bytes) else {
        return Err(BlockError::PayloadTruncated {
            got_bytes: stored.len(),
            expected_bytes,
        });
    };
    let crc = crc32fast::hash(stored);
    if crc != frame.crc32 {
        return Err(BlockError::ChecksumMismatch {
            region: ChecksumRegion::Frame(kind),
            offset: frame.offset as u64,
            got: crc,
            expected: frame.crc32,
        });
    }
    // The directory's check bounded `raw_bytes` by FRAME_RAW_BYTES_MAX.
    decompress_to_vec(frame.codec, stored, frame.raw_bytes as usize, out).map_err(|error| {
        BlockError::FrameMalformed {
            kind,
            offset: frame.offset as u64,
            detail: error.to_string(),
        }
    })
}

impl BatchView for DecodedGranule {
    fn entry_count(&self) -> usize {
        self.row_count
    }

    fn timestamp_ns(&self, index: usize) -> i64 {
        self.timestamps[index]
    }

    fn level(&self, index: usize) -> Level {
        Level::from_byte(self.levels[index])
    }

    fn source(&self, index: usize) -> &str {
        // SAFETY: source values are UTF-8 (dictionaries are rkyv strings,
        // validated; string frames are checked by their decoder).
        unsafe { std::str::from_utf8_unchecked(self.source_bytes(index)) }
    }

    fn message(&self, index: usize) -> &str {
        self.messages().expect("message column decoded").get(index)
    }

    fn message_bytes(&self, index: usize) -> &[u8] {
        self.messages()
            .expect("message column decoded")
            .get_bytes(index)
    }

    fn source_bytes(&self, index: usize) -> &[u8] {
        assert!(self.is_decoded(self.source_column), "source column decoded");
        self.value(index, self.source_column, false)
            .unwrap_or_default()
    }

    fn for_each_tag_bytes(&self, index: usize, visit: &mut dyn FnMut(&[u8], &[u8])) {
        self.visit_tags(index, &mut |key, value| {
            visit(key, value);
            false
        });
    }

    fn fields_json(&self, index: usize) -> &str {
        match self.fields_column {
            Some(column) => {
                let slot = &self.slots[column];
                assert_eq!(slot.decoded, Decoded::Strings, "fields column decoded");
                slot.strings.get(index)
            }
            None => "",
        }
    }

    fn for_each_tag(&self, index: usize, visit: &mut dyn FnMut(&str, &str) -> bool) -> bool {
        self.visit_tags(index, &mut |key, value| {
            // SAFETY: tag keys and values are UTF-8 (rkyv strings and
            // decoder-checked string frames; extra-tag pairs are checked
            // by `check_extras`).
            let (key, value) = unsafe {
                (
                    std::str::from_utf8_unchecked(key),
                    std::str::from_utf8_unchecked(value),
                )
            };
            visit(key, value)
        })
    }
}

/// The first (key, value) pair of packed extra tags, and the rest.
fn next_pair(packed: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    if packed.is_empty() {
        return None;
    }
    let mut position = 0;
    let key_length = varint::get_u64(packed, &mut position).ok()? as usize;
    let key = packed.get(position..position.checked_add(key_length)?)?;
    position += key_length;
    let value_length = varint::get_u64(packed, &mut position).ok()? as usize;
    let value = packed.get(position..position.checked_add(value_length)?)?;
    position += value_length;
    Some((key, value, &packed[position..]))
}

/// Checks that every entry's packed extra tags parse to the end, with UTF-8
/// keys and values, so `visit_tags` never meets anything else.
fn check_extras(extras: &Strings) -> super::column::Result<()> {
    for index in 0..extras.ends.len() {
        let mut packed = extras.get_bytes(index);
        while !packed.is_empty() {
            let Some((key, value, rest)) = next_pair(packed) else {
                return Err(ColumnError::Malformed {
                    detail: format!("extra tags of entry {index} do not parse"),
                });
            };
            if std::str::from_utf8(key).is_err() || std::str::from_utf8(value).is_err() {
                return Err(ColumnError::Malformed {
                    detail: format!("extra tags of entry {index} are not UTF-8"),
                });
            }
            packed = rest;
        }
    }
    Ok(())
}
