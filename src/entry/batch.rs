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
}

fn str_at<'a>(ends: &[u32], bytes: &'a [u8], index: usize) -> &'a str {
    let start = if index == 0 {
        0
    } else {
        ends[index - 1] as usize
    };
    let end = ends[index] as usize;
    std::str::from_utf8(&bytes[start..end]).expect("StrColumn holds only UTF-8 pushed from &str")
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

    /// Bytes held by the columns (not capacity): what a block of this batch
    /// costs before compression.
    pub fn payload_bytes(&self) -> usize {
        self.timestamps_ns.len() * 8
            + self.levels.len()
            + self.tag_ends.len() * 4
            + [
                &self.sources,
                &self.messages,
                &self.tag_keys,
                &self.tag_values,
                &self.fields,
            ]
            .iter()
            .map(|column| column.bytes.len() + column.ends.len() * 4)
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
        check_shape(
            entry_count,
            self.levels.len(),
            &self.tag_ends,
            self.tag_keys.len(),
            self.tag_values.len(),
            [&self.sources, &self.messages, &self.fields]
                .map(|c| (c.ends.as_slice(), c.bytes.len())),
            [&self.tag_keys, &self.tag_values].map(|c| (c.ends.as_slice(), c.bytes.len())),
        )
    }
}

/// The entry-count and monotonicity checks shared by owned and archived batches.
fn check_shape(
    entry_count: usize,
    level_count: usize,
    tag_ends: &[u32],
    tag_key_count: usize,
    tag_value_count: usize,
    entry_columns: [(&[u32], usize); 3],
    tag_columns: [(&[u32], usize); 2],
) -> Result<(), &'static str> {
    if level_count != entry_count || tag_ends.len() != entry_count {
        return Err("column lengths differ");
    }
    for (ends, _) in entry_columns {
        if ends.len() != entry_count {
            return Err("string column length differs from entry count");
        }
    }
    if tag_key_count != tag_value_count {
        return Err("tag key and value counts differ");
    }
    if !is_non_decreasing(tag_ends) || tag_ends.last().map_or(0, |e| *e as usize) != tag_key_count {
        return Err("tag ranges are not monotonic");
    }
    for (ends, byte_count) in entry_columns.into_iter().chain(tag_columns) {
        if !is_non_decreasing(ends) || ends.last().map_or(0, |e| *e as usize) != byte_count {
            return Err("string offsets are not monotonic");
        }
    }
    Ok(())
}

fn is_non_decreasing(values: &[u32]) -> bool {
    values.windows(2).all(|pair| pair[0] <= pair[1])
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
        let tag_ends: Vec<u32> = self.tag_ends.iter().map(|e| e.to_native()).collect();
        let ends = |column: &ArchivedStrColumn| -> Vec<u32> {
            column.ends.iter().map(|e| e.to_native()).collect()
        };
        let [sources, messages, fields, keys, values] = [
            &self.sources,
            &self.messages,
            &self.fields,
            &self.tag_keys,
            &self.tag_values,
        ]
        .map(ends);
        check_shape(
            self.len(),
            self.levels.len(),
            &tag_ends,
            self.tag_keys.len(),
            self.tag_values.len(),
            [
                (&sources, self.sources.bytes.len()),
                (&messages, self.messages.bytes.len()),
                (&fields, self.fields.bytes.len()),
            ],
            [
                (&keys, self.tag_keys.bytes.len()),
                (&values, self.tag_values.bytes.len()),
            ],
        )?;
        for column in [
            &self.sources,
            &self.messages,
            &self.fields,
            &self.tag_keys,
            &self.tag_values,
        ] {
            if std::str::from_utf8(&column.bytes).is_err() {
                return Err("string column is not UTF-8");
            }
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
    fn broken_shape_is_reported() {
        let mut batch = ColumnBatch::default();
        batch.push(&entry(1, "one"), &[]);
        batch.levels.push(3);
        assert!(batch.check_invariants().is_err());
    }
}
