//! `BatchView`: read access to a batch's entries, whether the batch is the
//! owned active block or the zero-copy archive of a sealed block, so one
//! filter and one result builder serve both.

use super::{ArchivedColumnBatch, ColumnBatch, Level};

pub trait BatchView {
    fn entry_count(&self) -> usize;
    fn timestamp_ns(&self, index: usize) -> i64;
    fn level(&self, index: usize) -> Level;
    fn source(&self, index: usize) -> &str;
    fn message(&self, index: usize) -> &str;
    /// The message's bytes, without `message`'s UTF-8 check: for scans
    /// that only need to know whether it is ASCII before reading it.
    fn message_bytes(&self, index: usize) -> &[u8];
    /// The source's bytes, without `source`'s UTF-8 check.
    fn source_bytes(&self, index: usize) -> &[u8];
    /// Calls `visit` with each tag's key and value bytes, without the UTF-8
    /// checks of `for_each_tag`.
    fn for_each_tag_bytes(&self, index: usize, visit: &mut dyn FnMut(&[u8], &[u8]));
    fn fields_json(&self, index: usize) -> &str;
    fn for_each_tag(&self, index: usize, visit: &mut dyn FnMut(&str, &str) -> bool) -> bool;
}

impl BatchView for ColumnBatch {
    fn entry_count(&self) -> usize {
        self.len()
    }
    fn timestamp_ns(&self, index: usize) -> i64 {
        self.timestamps_ns[index]
    }
    fn level(&self, index: usize) -> Level {
        Level::from_byte(self.levels[index])
    }
    fn source(&self, index: usize) -> &str {
        self.sources.get(index)
    }
    fn message(&self, index: usize) -> &str {
        self.messages.get(index)
    }
    fn message_bytes(&self, index: usize) -> &[u8] {
        self.messages.get_bytes(index)
    }
    fn source_bytes(&self, index: usize) -> &[u8] {
        self.sources.get_bytes(index)
    }
    fn for_each_tag_bytes(&self, index: usize, visit: &mut dyn FnMut(&[u8], &[u8])) {
        let start = if index == 0 {
            0
        } else {
            self.tag_ends[index - 1] as usize
        };
        for tag in start..self.tag_ends[index] as usize {
            visit(self.tag_keys.get_bytes(tag), self.tag_values.get_bytes(tag));
        }
    }
    fn fields_json(&self, index: usize) -> &str {
        self.fields.get(index)
    }
    /// Calls `visit` for each tag until it returns true; returns whether it did.
    fn for_each_tag(&self, index: usize, visit: &mut dyn FnMut(&str, &str) -> bool) -> bool {
        self.tags(index).any(|(key, value)| visit(key, value))
    }
}

impl BatchView for ArchivedColumnBatch {
    fn entry_count(&self) -> usize {
        self.len()
    }
    fn timestamp_ns(&self, index: usize) -> i64 {
        ArchivedColumnBatch::timestamp_ns(self, index)
    }
    fn level(&self, index: usize) -> Level {
        ArchivedColumnBatch::level(self, index)
    }
    fn source(&self, index: usize) -> &str {
        self.sources.get(index)
    }
    fn message(&self, index: usize) -> &str {
        self.messages.get(index)
    }
    fn message_bytes(&self, index: usize) -> &[u8] {
        self.messages.get_bytes(index)
    }
    fn source_bytes(&self, index: usize) -> &[u8] {
        self.sources.get_bytes(index)
    }
    fn for_each_tag_bytes(&self, index: usize, visit: &mut dyn FnMut(&[u8], &[u8])) {
        for tag in self.tag_range(index) {
            visit(self.tag_keys.get_bytes(tag), self.tag_values.get_bytes(tag));
        }
    }
    fn fields_json(&self, index: usize) -> &str {
        self.fields.get(index)
    }
    fn for_each_tag(&self, index: usize, visit: &mut dyn FnMut(&str, &str) -> bool) -> bool {
        self.tags(index).any(|(key, value)| visit(key, value))
    }
}
