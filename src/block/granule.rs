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

use super::column::{bits, encoding, ids, ints, levels, strings, varint};
use super::decoder::DirectoryRef;
use super::directory::{ArchivedColumn, ArchivedColumnName, ArchivedDictionary};
use super::{BlockError, FrameKind, Result};
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
    fn wants(&self, name: &ArchivedColumnName) -> bool {
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

/// A decoded string column: the frame's raw bytes and each value's end.
#[derive(Debug, Default)]
pub struct Strings {
    raw: Vec<u8>,
    /// Where the values' bytes start in `raw`.
    data_start: usize,
    /// Value `i` is `data()[ends[i-1]..ends[i]]`.
    ends: Vec<u32>,
    /// For a nullable column, bit `i` set when entry `i` has a value.
    present: Option<Vec<u64>>,
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
        self.present
            .as_ref()
            .is_none_or(|words| bits::bitmap_words_get(words, index))
    }
}

/// A decoded tag or source column.
#[derive(Debug)]
pub enum DecodedColumn {
    /// Ids into the column's dictionary (tags: 0 = absent, `i + 1` = value `i`).
    Ids(Vec<u32>),
    Strings(Strings),
}

/// The decoded columns of granule `granule` of a block.
pub struct DecodedGranule {
    directory: DirectoryRef,
    granule: usize,
    row_count: usize,
    timestamps: Vec<i64>,
    levels: Vec<u8>,
    source: Option<DecodedColumn>,
    message: Option<Strings>,
    fields: Option<Strings>,
    /// Loaded tag columns: (directory column index, values), in key order.
    tags: Vec<(usize, DecodedColumn)>,
    extras: Option<Strings>,
    /// Directory column indices decoded so far.
    loaded: Vec<usize>,
    /// Directory index of the source column.
    source_column: usize,
}

impl DecodedGranule {
    /// A granule with nothing decoded yet.
    pub fn new(directory: DirectoryRef, granule: usize) -> DecodedGranule {
        let row_count = directory.get().granules[granule].rows().len();
        let source_column = directory
            .get()
            .columns
            .iter()
            .position(|column| matches!(column.name, ArchivedColumnName::Source))
            .expect("every block has a source column (checked)");
        DecodedGranule {
            directory,
            granule,
            row_count,
            timestamps: Vec::new(),
            levels: Vec::new(),
            source: None,
            message: None,
            fields: None,
            tags: Vec::new(),
            extras: None,
            loaded: Vec::new(),
            source_column,
        }
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

    /// Directory indices of the columns `set` needs that are not decoded
    /// yet, with their frames for this granule.
    pub fn missing(&self, set: &ColumnSet) -> Vec<(usize, super::directory::Frame, FrameKind)> {
        let directory = self.directory.get();
        directory
            .columns
            .iter()
            .enumerate()
            .filter(|(index, column)| set.wants(&column.name) && !self.loaded.contains(index))
            .map(|(index, column)| {
                let frame = column.frames[self.granule].native();
                (index, frame, FrameKind::of_archived(&column.name))
            })
            .collect()
    }

    /// Decodes column `index`'s frame for this granule from its raw
    /// (checksummed, decompressed) bytes. `offset` is the frame's offset in
    /// the block, for errors.
    pub fn install(&mut self, index: usize, raw: &[u8]) -> Result<()> {
        let directory = self.directory.clone();
        let column = &directory.get().columns[index];
        let frame = column.frames[self.granule].native();
        let kind = FrameKind::of_archived(&column.name);
        let malformed = |error: super::column::ColumnError| BlockError::FrameMalformed {
            kind,
            offset: frame.offset as u64,
            detail: error.to_string(),
        };
        let rows = self.row_count;
        match &column.name {
            ArchivedColumnName::Timestamp => {
                self.timestamps.clear();
                ints::decode_i64s(frame.encoding, raw, rows, &mut self.timestamps)
                    .map_err(malformed)?;
            }
            ArchivedColumnName::Level => {
                self.levels.clear();
                levels::decode_levels(frame.encoding, raw, rows, &mut self.levels)
                    .map_err(malformed)?;
            }
            ArchivedColumnName::Source => {
                self.source = Some(
                    decode_values(column, frame.encoding, raw, rows, false).map_err(malformed)?,
                );
            }
            ArchivedColumnName::Message => {
                self.message = Some(decode_strings(frame.encoding, raw, rows).map_err(malformed)?);
            }
            ArchivedColumnName::Fields => {
                self.fields = Some(decode_strings(frame.encoding, raw, rows).map_err(malformed)?);
            }
            ArchivedColumnName::Tag(_) => {
                let values =
                    decode_values(column, frame.encoding, raw, rows, true).map_err(malformed)?;
                let at = self.tags.partition_point(|(loaded, _)| *loaded < index);
                self.tags.insert(at, (index, values));
            }
            ArchivedColumnName::ExtraTags => {
                let extras = decode_strings(frame.encoding, raw, rows).map_err(malformed)?;
                check_extras(&extras).map_err(malformed)?;
                self.extras = Some(extras);
            }
        }
        self.loaded.push(index);
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
        self.message.as_ref()
    }

    /// The source column's ids and dictionary, when it has one and is decoded.
    pub fn source_ids(&self) -> Option<(&[u32], &ArchivedDictionary)> {
        let Some(DecodedColumn::Ids(ids)) = &self.source else {
            return None;
        };
        let column = &self.directory.get().columns[self.source_column];
        Some((ids, column.dictionary.as_ref()?))
    }

    /// A tag column's ids (0 = absent) and dictionary, when it has one and
    /// is decoded.
    pub fn tag_ids(&self, key: &str) -> Option<(&[u32], &ArchivedDictionary)> {
        let (index, values) = self
            .tags
            .iter()
            .find(|(index, _)| self.directory.get().columns[*index].name.tag_key() == Some(key))?;
        let DecodedColumn::Ids(ids) = values else {
            return None;
        };
        let dictionary = self.directory.get().columns[*index].dictionary.as_ref()?;
        Some((ids, dictionary))
    }

    /// Whether the block has no column for tag `key` and no extra tags, so
    /// no entry of this granule has the tag.
    pub fn lacks_tag(&self, key: &str) -> bool {
        let directory = self.directory.get();
        directory.tag_column(key).is_none() && !directory.has_extra_tags()
    }

    fn value<'a>(
        &'a self,
        index: usize,
        column: usize,
        values: &'a DecodedColumn,
        tag: bool,
    ) -> Option<&'a [u8]> {
        match values {
            DecodedColumn::Ids(ids) => {
                let id = ids[index] as usize;
                if tag && id == 0 {
                    return None;
                }
                let dictionary = self.directory.get().columns[column]
                    .dictionary
                    .as_ref()
                    .expect("id columns have a dictionary (checked at decode)");
                Some(dictionary.values[id - usize::from(tag)].as_bytes())
            }
            DecodedColumn::Strings(strings) => {
                strings.is_present(index).then(|| strings.get_bytes(index))
            }
        }
    }

    /// Calls `visit` with entry `index`'s tags: extra tags first, then one
    /// per tag column, so a key an entry has twice renders with the value
    /// its column keeps (the last). Stops when `visit` returns true.
    fn visit_tags(&self, index: usize, visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> bool {
        if let Some(extras) = &self.extras {
            let mut packed = extras.get_bytes(index);
            while let Some((key, value, rest)) = next_pair(packed) {
                if visit(key, value) {
                    return true;
                }
                packed = rest;
            }
        }
        let directory = self.directory.get();
        for (column, values) in &self.tags {
            if let Some(value) = self.value(index, *column, values, true) {
                let key = directory.columns[*column]
                    .name
                    .tag_key()
                    .expect("tags hold tag columns");
                if visit(key.as_bytes(), value) {
                    return true;
                }
            }
        }
        false
    }
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
        self.message
            .as_ref()
            .expect("message column decoded")
            .get(index)
    }

    fn message_bytes(&self, index: usize) -> &[u8] {
        self.message
            .as_ref()
            .expect("message column decoded")
            .get_bytes(index)
    }

    fn source_bytes(&self, index: usize) -> &[u8] {
        let values = self.source.as_ref().expect("source column decoded");
        self.value(index, self.source_column, values, false)
            .unwrap_or_default()
    }

    fn for_each_tag_bytes(&self, index: usize, visit: &mut dyn FnMut(&[u8], &[u8])) {
        self.visit_tags(index, &mut |key, value| {
            visit(key, value);
            false
        });
    }

    fn fields_json(&self, index: usize) -> &str {
        match &self.fields {
            Some(fields) => fields.get(index),
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

fn decode_strings(encoding: u8, raw: &[u8], rows: usize) -> super::column::Result<Strings> {
    let mut decoded = Strings::default();
    match encoding {
        encoding::STRINGS => {
            decoded.data_start = strings::decode_strings(raw, rows, &mut decoded.ends)?;
        }
        encoding::NULLABLE_STRINGS => {
            let mut present = Vec::new();
            decoded.data_start =
                strings::decode_nullable_strings(raw, rows, &mut decoded.ends, &mut present)?;
            decoded.present = Some(present);
        }
        other => return Err(super::column::ColumnError::UnknownEncoding { encoding: other }),
    }
    decoded.raw = raw.to_vec();
    Ok(decoded)
}

fn decode_values(
    column: &ArchivedColumn,
    encoding: u8,
    raw: &[u8],
    rows: usize,
    tag: bool,
) -> super::column::Result<DecodedColumn> {
    match column.dictionary.as_ref() {
        Some(dictionary) => {
            let bound = dictionary.values.len() as u32 + u32::from(tag);
            let mut decoded = Vec::with_capacity(rows);
            ids::decode_ids(encoding, raw, rows, bound, &mut decoded)?;
            Ok(DecodedColumn::Ids(decoded))
        }
        None => Ok(DecodedColumn::Strings(decode_strings(encoding, raw, rows)?)),
    }
}

/// The first (key, value) pair of packed extra tags, and the rest.
fn next_pair(packed: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    if packed.is_empty() {
        return None;
    }
    let mut position = 0;
    let key_length = varint::get_u64(packed, &mut position).ok()? as usize;
    let key = packed.get(position..position + key_length)?;
    position += key_length;
    let value_length = varint::get_u64(packed, &mut position).ok()? as usize;
    let value = packed.get(position..position + value_length)?;
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
                return Err(super::column::ColumnError::Malformed {
                    detail: format!("extra tags of entry {index} do not parse"),
                });
            };
            if std::str::from_utf8(key).is_err() || std::str::from_utf8(value).is_err() {
                return Err(super::column::ColumnError::Malformed {
                    detail: format!("extra tags of entry {index} are not UTF-8"),
                });
            }
            packed = rest;
        }
    }
    Ok(())
}
