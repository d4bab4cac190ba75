//! `ColumnBatch`: log entries stored column by column.
//!
//! One type serves the whole write path: the ingest parser appends into it,
//! the WAL record payload is its rkyv archive, the active block of a slice is
//! one growing `ColumnBatch`, and a sealed block is its archive, compressed.
//! Columns keep the hot path free of per-entry allocation (every push extends
//! a few amortised vectors) and let a query scan one column (levels,
//! timestamps) without touching the others.
//!
//! Invariants (checked by `check_invariants`, asserted in debug builds):
//! every per-entry column has `len()` entries, `tag_ends` is non-decreasing
//! and ends at the tag columns' length, string columns' `ends` are
//! non-decreasing and end at `bytes.len()`.

use rkyv::{Archive, Deserialize, Serialize};

/// Variable-length strings: value `i` is `bytes[ends[i-1]..ends[i]]`
/// (`ends[-1]` = 0). u32 ends bound one column to 4 GiB, far above
/// `BLOCK_UNCOMPRESSED_BYTES_MAX`.
#[derive(Archive, Serialize, Deserialize, Default, Debug, Clone, PartialEq, Eq)]
pub struct StrColumn {
    pub ends: Vec<u32>,
    pub bytes: Vec<u8>,
}

impl StrColumn {
    pub fn push(&mut self, value: &str) {
        self.bytes.extend_from_slice(value.as_bytes());
        self.ends.push(self.bytes.len() as u32);
    }

    /// Appends raw bytes as one value. The caller guarantees UTF-8.
    pub fn push_bytes(&mut self, value: &[u8]) {
        self.bytes.extend_from_slice(value);
        self.ends.push(self.bytes.len() as u32);
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, index: usize) -> &str {
        str_at(&self.ends, &self.bytes, index)
    }

    /// Value `index` as bytes, without the UTF-8 check of `get`.
    pub fn get_bytes(&self, index: usize) -> &[u8] {
        &self.bytes[value_range(&self.ends, index)]
    }

    pub fn clear(&mut self) {
        self.ends.clear();
        self.bytes.clear();
    }

    fn extend_from(&mut self, other: &StrColumn) {
        let base = self.bytes.len() as u32;
        self.bytes.extend_from_slice(&other.bytes);
        self.ends.extend(other.ends.iter().map(|end| base + end));
    }

    fn truncate(&mut self, value_count: usize) {
        self.ends.truncate(value_count);
        let byte_count = self.ends.last().copied().unwrap_or(0) as usize;
        self.bytes.truncate(byte_count);
    }
}

impl ArchivedStrColumn {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, index: usize) -> &str {
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1].to_native() as usize
        };
        let end = self.ends[index].to_native() as usize;
        // Archives are validated (`check_archived`) before use, which includes UTF-8.
        std::str::from_utf8(&self.bytes[start..end]).unwrap_or("")
    }

    /// Value `index` as bytes, without the UTF-8 check of `get`.
    pub fn get_bytes(&self, index: usize) -> &[u8] {
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1].to_native() as usize
        };
        &self.bytes[start..self.ends[index].to_native() as usize]
    }
}

fn str_at<'a>(ends: &[u32], bytes: &'a [u8], index: usize) -> &'a str {
    std::str::from_utf8(&bytes[value_range(ends, index)])
        .expect("StrColumn holds only UTF-8 pushed from &str")
}

fn value_range(ends: &[u32], index: usize) -> std::ops::Range<usize> {
    let start = if index == 0 {
        0
    } else {
        ends[index - 1] as usize
    };
    start..ends[index] as usize
}

/// A batch of log entries in columns. See the module docs for invariants.
#[derive(Archive, Serialize, Deserialize, Default, Debug, Clone, PartialEq, Eq)]
pub struct ColumnBatch {
    /// Nanoseconds since the Unix epoch.
    pub timestamps_ns: Vec<i64>,
    /// `Level` bytes.
    pub levels: Vec<u8>,
    pub sources: StrColumn,
    pub messages: StrColumn,
    /// Entry `i`'s tags are pairs `tag_ends[i-1]..tag_ends[i]` of the tag columns.
    pub tag_ends: Vec<u32>,
    pub tag_keys: StrColumn,
    pub tag_values: StrColumn,
    /// Any other fields of the entry, as the text of one JSON object (`""` when none).
    pub fields: StrColumn,
}

/// One entry to append, borrowing from the request body.
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    pub timestamp_ns: i64,
    pub level: crate::entry::Level,
    pub source: &'a str,
    pub message: &'a str,
    /// Raw JSON object text of extra fields, or `""`.
    pub fields_json: &'a str,
}

impl ColumnBatch {
    pub fn len(&self) -> usize {
        self.timestamps_ns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps_ns.is_empty()
    }

    /// Starts an entry. Its tags follow with `push_tag`, then `finish_entry`.
    /// Splitting it this way lets a parser stream tags without collecting them.
    pub fn begin_entry(&mut self, entry: &EntryRef<'_>) {
        self.timestamps_ns.push(entry.timestamp_ns);
        self.levels.push(entry.level.as_byte());
        self.sources.push(entry.source);
        self.messages.push(entry.message);
        self.fields.push(entry.fields_json);
    }

    pub fn push_tag(&mut self, key: &str, value: &str) {
        self.tag_keys.push(key);
        self.tag_values.push(value);
    }

    pub fn finish_entry(&mut self) {
        self.tag_ends.push(self.tag_keys.len() as u32);
        debug_assert_eq!(self.tag_ends.len(), self.timestamps_ns.len());
    }

    /// Appends one whole entry with its tags.
    pub fn push(&mut self, entry: &EntryRef<'_>, tags: &[(&str, &str)]) {
        self.begin_entry(entry);
        for (key, value) in tags {
            self.push_tag(key, value);
        }
        self.finish_entry();
    }

    /// Appends every entry of `other` (used to move a WAL batch into the active block).
    pub fn extend_from(&mut self, other: &ColumnBatch) {
        let tag_base = self.tag_keys.len() as u32;
        self.timestamps_ns.extend_from_slice(&other.timestamps_ns);
        self.levels.extend_from_slice(&other.levels);
        self.sources.extend_from(&other.sources);
        self.messages.extend_from(&other.messages);
        self.tag_ends
            .extend(other.tag_ends.iter().map(|end| tag_base + end));
        self.tag_keys.extend_from(&other.tag_keys);
        self.tag_values.extend_from(&other.tag_values);
        self.fields.extend_from(&other.fields);
    }

    /// Drops entries from `entry_count` on: undoes a partly parsed batch.
    pub fn truncate(&mut self, entry_count: usize) {
        let tag_count = if entry_count == 0 {
            0
        } else {
            self.tag_ends[entry_count - 1] as usize
        };
        self.timestamps_ns.truncate(entry_count);
        self.levels.truncate(entry_count);
        self.sources.truncate(entry_count);
        self.messages.truncate(entry_count);
        self.fields.truncate(entry_count);
        self.tag_ends.truncate(entry_count);
        self.tag_keys.truncate(tag_count);
        self.tag_values.truncate(tag_count);
    }

    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// The variable-length columns, for sums over all of them.
    fn string_columns(&self) -> [&StrColumn; 5] {
        [
            &self.sources,
            &self.messages,
            &self.tag_keys,
            &self.tag_values,
            &self.fields,
        ]
    }

    /// Bytes held by the columns (not capacity): what a block of this batch
    /// costs before compression.
    pub fn payload_bytes(&self) -> usize {
        self.timestamps_ns.len() * 8
            + self.levels.len()
            + self.tag_ends.len() * 4
            + self
                .string_columns()
                .iter()
                .map(|column| column.bytes.len() + column.ends.len() * 4)
                .sum::<usize>()
    }

    /// Reserves room for as many entries and bytes as `other` holds, column
    /// by column, so filling this batch up to `other`'s size reallocates
    /// (and recopies) nothing.
    pub fn reserve_like(&mut self, other: &ColumnBatch) {
        self.timestamps_ns.reserve_exact(other.timestamps_ns.len());
        self.levels.reserve_exact(other.levels.len());
        self.tag_ends.reserve_exact(other.tag_ends.len());
        for (column, model) in [
            (&mut self.sources, &other.sources),
            (&mut self.messages, &other.messages),
            (&mut self.tag_keys, &other.tag_keys),
            (&mut self.tag_values, &other.tag_values),
            (&mut self.fields, &other.fields),
        ] {
            column.ends.reserve_exact(model.ends.len());
            column.bytes.reserve_exact(model.bytes.len());
        }
    }

    /// Bytes of memory the columns have allocated (capacity, not length).
    pub fn capacity_bytes(&self) -> usize {
        self.timestamps_ns.capacity() * 8
            + self.levels.capacity()
            + self.tag_ends.capacity() * 4
            + self
                .string_columns()
                .iter()
                .map(|column| column.bytes.capacity() + column.ends.capacity() * 4)
                .sum::<usize>()
    }

    /// Tags of entry `index` as (key, value) pairs.
    pub fn tags(&self, index: usize) -> impl Iterator<Item = (&str, &str)> {
        let start = if index == 0 {
            0
        } else {
            self.tag_ends[index - 1] as usize
        };
        let end = self.tag_ends[index] as usize;
        (start..end).map(move |tag| (self.tag_keys.get(tag), self.tag_values.get(tag)))
    }

    /// Checks the structural invariants. Used on every archive read from disk
    /// or the network after rkyv validation, so an index can never go out of
    /// bounds later.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        let entry_count = self.len();
        if self.levels.len() != entry_count {
            return Err("column lengths differ");
        }
        check_ends(
            self.tag_ends.iter().copied(),
            entry_count,
            self.tag_keys.len(),
        )?;
        for column in [&self.sources, &self.messages, &self.fields] {
            check_ends(column.ends.iter().copied(), entry_count, column.bytes.len())?;
        }
        if self.tag_keys.len() != self.tag_values.len() {
            return Err("tag key and value counts differ");
        }
        for column in [&self.tag_keys, &self.tag_values] {
            check_ends(
                column.ends.iter().copied(),
                column.len(),
                column.bytes.len(),
            )?;
        }
        Ok(())
    }
}

/// Checks one offsets column: `count` ends, non-decreasing, the last equal
/// to `total` (the length of what they index). No allocation, so decoding
/// a block costs one pass over its offsets.
fn check_ends(
    ends: impl Iterator<Item = u32>,
    count: usize,
    total: usize,
) -> Result<(), &'static str> {
    let mut previous = 0u32;
    let mut seen = 0usize;
    for end in ends {
        if end < previous {
            return Err("offsets are not monotonic");
        }
        previous = end;
        seen += 1;
    }
    if seen != count {
        return Err("a column's length differs from the entry count");
    }
    if previous as usize != total {
        return Err("offsets do not end at the column's length");
    }
    Ok(())
}

/// A string column from disk: UTF-8 as a whole, and every value boundary
/// on a character boundary, so each value is valid UTF-8 on its own.
fn check_utf8(column: &ArchivedStrColumn) -> Result<(), &'static str> {
    let text = std::str::from_utf8(&column.bytes).map_err(|_| "string column is not UTF-8")?;
    if column
        .ends
        .iter()
        .all(|end| text.is_char_boundary(end.to_native() as usize))
    {
        Ok(())
    } else {
        Err("a string value ends inside a character")
    }
}

impl ArchivedColumnBatch {
    pub fn len(&self) -> usize {
        self.timestamps_ns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps_ns.is_empty()
    }

    pub fn timestamp_ns(&self, index: usize) -> i64 {
        self.timestamps_ns[index].to_native()
    }

    pub fn level(&self, index: usize) -> crate::entry::Level {
        crate::entry::Level::from_byte(self.levels[index])
    }

    pub fn tag_range(&self, index: usize) -> std::ops::Range<usize> {
        let start = if index == 0 {
            0
        } else {
            self.tag_ends[index - 1].to_native() as usize
        };
        start..self.tag_ends[index].to_native() as usize
    }

    pub fn tags(&self, index: usize) -> impl Iterator<Item = (&str, &str)> {
        self.tag_range(index)
            .map(move |tag| (self.tag_keys.get(tag), self.tag_values.get(tag)))
    }

    /// The same structural checks as `ColumnBatch::check_invariants`, on the
    /// archive, without deserialising. rkyv's own validation proves the
    /// archive is well-formed memory; this proves it is a well-formed batch.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        let entry_count = self.len();
        if self.levels.len() != entry_count {
            return Err("column lengths differ");
        }
        check_ends(
            self.tag_ends.iter().map(|e| e.to_native()),
            entry_count,
            self.tag_keys.len(),
        )?;
        for column in [&self.sources, &self.messages, &self.fields] {
            check_ends(
                column.ends.iter().map(|e| e.to_native()),
                entry_count,
                column.bytes.len(),
            )?;
        }
        if self.tag_keys.len() != self.tag_values.len() {
            return Err("tag key and value counts differ");
        }
        for column in [&self.tag_keys, &self.tag_values] {
            check_ends(
                column.ends.iter().map(|e| e.to_native()),
                column.len(),
                column.bytes.len(),
            )?;
        }
        for column in [
            &self.sources,
            &self.messages,
            &self.fields,
            &self.tag_keys,
            &self.tag_values,
        ] {
            check_utf8(column)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Level;

    fn entry<'a>(ts: i64, message: &'a str) -> EntryRef<'a> {
        EntryRef {
            timestamp_ns: ts,
            level: Level::Info,
            source: "web-1",
            message,
            fields_json: "",
        }
    }

    #[test]
    fn push_and_read_back() {
        let mut batch = ColumnBatch::default();
        batch.push(&entry(1, "hello"), &[("component", "auth"), ("user", "u1")]);
        batch.push(&entry(2, "world"), &[]);
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.messages.get(1), "world");
        assert_eq!(
            batch.tags(0).collect::<Vec<_>>(),
            vec![("component", "auth"), ("user", "u1")]
        );
        assert_eq!(batch.tags(1).count(), 0);
        batch.check_invariants().unwrap();
    }

    #[test]
    fn extend_rebases_offsets() {
        let mut a = ColumnBatch::default();
        a.push(&entry(1, "one"), &[("k", "v")]);
        let mut b = ColumnBatch::default();
        b.push(&entry(2, "two"), &[("k2", "v2")]);
        a.extend_from(&b);
        assert_eq!(a.messages.get(1), "two");
        assert_eq!(a.tags(1).collect::<Vec<_>>(), vec![("k2", "v2")]);
        a.check_invariants().unwrap();
    }

    #[test]
    fn truncate_undoes_entries() {
        let mut batch = ColumnBatch::default();
        batch.push(&entry(1, "one"), &[("k", "v")]);
        let snapshot = batch.clone();
        batch.push(&entry(2, "two"), &[("k2", "v2")]);
        batch.truncate(1);
        assert_eq!(batch, snapshot);
    }

    #[test]
    fn archive_round_trip_and_checks() {
        let mut batch = ColumnBatch::default();
        batch.push(&entry(7, "msg"), &[("a", "b")]);
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&batch).unwrap();
        let archived = rkyv::access::<ArchivedColumnBatch, rkyv::rancor::Error>(&bytes).unwrap();
        archived.check_invariants().unwrap();
        assert_eq!(archived.timestamp_ns(0), 7);
        assert_eq!(archived.messages.get(0), "msg");
        assert_eq!(archived.tags(0).collect::<Vec<_>>(), vec![("a", "b")]);
    }

    #[test]
    fn archived_value_split_inside_a_character_is_refused() {
        let mut batch = ColumnBatch::default();
        batch.push(&entry(1, "é"), &[]);
        batch.push(&entry(2, ""), &[]);
        // Move the boundary between the two messages into the middle of 'é'.
        batch.messages.ends[0] = 1;
        batch.messages.bytes.truncate(2);
        batch.messages.ends[1] = 2;
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&batch).unwrap();
        let archived = rkyv::access::<ArchivedColumnBatch, rkyv::rancor::Error>(&bytes).unwrap();
        assert_eq!(
            archived.check_invariants(),
            Err("a string value ends inside a character")
        );
    }

    #[test]
    fn broken_shape_is_reported() {
        let mut batch = ColumnBatch::default();
        batch.push(&entry(1, "one"), &[]);
        batch.levels.push(3);
        assert!(batch.check_invariants().is_err());
    }
}
