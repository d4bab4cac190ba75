//! `BlockSummary`: what a query needs to know about a sealed block without
//! reading it. One per block, archived with rkyv into the segment's index
//! file and used in place (`ArchivedBlockSummary`).
//!
//! It repeats the header fields that identify the block (offset, first
//! sequence number, entry count, payload crc, time range, level mask) so a
//! summary that does not describe the block at its offset is detected, and
//! holds the block's entry count per level (so counting queries can be
//! answered without reading the block), its exact sets of sources and of
//! tag values per tag key, plus a `WordFilter` of its message words. A set that would pass
//! `SET_VALUES_MAX` values (a request-id tag, say) is not listed: it is
//! marked `overflow` and its values go into the word filter instead, so a
//! query on them still prunes, at the filter's false-positive rate.
//! `index::build` builds one from a block's entries.

use rkyv::{Archive, Deserialize, Serialize};

use super::filter::{keyed_hash, word_hash, ItemKind, WordFilter};
use crate::block::BlockHeader;
use crate::entry::Level;

/// Entries per level, indexed by `Level::as_byte` (`Level::ALL` order).
pub type LevelCounts = [u32; Level::ALL.len()];

/// Most values a set lists exactly; more and it overflows into the filter.
pub const SET_VALUES_MAX: usize = 64;

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct BlockSummary {
    /// The block's offset in its segment.
    pub block_offset: u64,
    pub first_seq: u64,
    pub entry_count: u32,
    pub payload_crc32: u32,
    pub min_timestamp_ns: i64,
    pub max_timestamp_ns: i64,
    pub level_mask: u8,
    /// Nothing is known of the block's contents (it could not be read when
    /// its summary was rebuilt): every test answers "may match", so queries
    /// read the block and report what is wrong with it.
    pub contents_unknown: bool,
    /// Exact; all zero when `contents_unknown`.
    pub level_counts: LevelCounts,
    pub sources: ValueSet,
    /// Sorted by key; every tag key any entry of the block has.
    pub tags: Vec<TagSet>,
    pub filter: WordFilter,
}

/// Distinct values, sorted; or, past `SET_VALUES_MAX`, none and `overflow`.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct ValueSet {
    pub values: Vec<String>,
    pub overflow: bool,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct TagSet {
    pub key: String,
    pub values: ValueSet,
}

impl BlockSummary {
    /// A summary of the block `header` at `block_offset` whose contents
    /// could not be read: it never lets a query skip the block.
    pub fn unknown_contents(header: &BlockHeader, block_offset: u64) -> BlockSummary {
        let mut summary = BlockSummary::of_block(
            header,
            block_offset,
            LevelCounts::default(),
            ValueSet::default(),
            Vec::new(),
            WordFilter::default(),
        );
        summary.contents_unknown = true;
        summary
    }

    /// The summary of the block `header` at `block_offset` with these
    /// contents: the one place the header's fields are copied.
    pub(super) fn of_block(
        header: &BlockHeader,
        block_offset: u64,
        level_counts: LevelCounts,
        sources: ValueSet,
        tags: Vec<TagSet>,
        filter: WordFilter,
    ) -> BlockSummary {
        BlockSummary {
            block_offset,
            first_seq: header.first_seq,
            entry_count: header.entry_count,
            payload_crc32: header.payload_crc32,
            min_timestamp_ns: header.min_timestamp_ns,
            max_timestamp_ns: header.max_timestamp_ns,
            level_mask: header.level_mask,
            contents_unknown: false,
            level_counts,
            sources,
            tags,
            filter,
        }
    }
}

impl ArchivedBlockSummary {
    /// Whether the summary describes the block `header` at `offset`.
    pub fn describes(&self, offset: u64, header: &BlockHeader) -> bool {
        self.block_offset.to_native() == offset
            && self.first_seq.to_native() == header.first_seq
            && self.entry_count.to_native() == header.entry_count
            && self.payload_crc32.to_native() == header.payload_crc32
            && self.min_timestamp_ns.to_native() == header.min_timestamp_ns
            && self.max_timestamp_ns.to_native() == header.max_timestamp_ns
            && self.level_mask == header.level_mask
    }

    /// The block's entries per level, or `None` when they are not known.
    pub fn level_counts(&self) -> Option<LevelCounts> {
        if self.contents_unknown {
            return None;
        }
        Some(self.level_counts.map(|count| count.to_native()))
    }

    /// The one source every entry of the block has, when that is so.
    pub fn only_source(&self) -> Option<&str> {
        let set = &self.sources;
        match set.values.as_slice() {
            [source] if !self.contents_unknown && !set.overflow => Some(source.as_str()),
            _ => None,
        }
    }

    /// Whether some entry may have a source in `wanted`.
    pub fn may_have_source(&self, wanted: &[String]) -> bool {
        let set = &self.sources;
        if self.contents_unknown {
            return true;
        }
        if set.overflow {
            return wanted.iter().any(|source| {
                self.filter
                    .may_contain(keyed_hash(ItemKind::Source, "", source))
            });
        }
        wanted.iter().any(|source| contains(&set.values, source))
    }

    /// Whether some entry may have a source starting with `prefix`.
    pub fn may_have_source_prefix(&self, prefix: &str) -> bool {
        let set = &self.sources;
        self.contents_unknown
            || set.overflow
            || set.values.iter().any(|source| source.starts_with(prefix))
    }

    /// Whether some entry has tag `key` (exact: every key is listed).
    pub fn has_tag_key(&self, key: &str) -> bool {
        self.contents_unknown || self.tag_set(key).is_some()
    }

    /// Whether some entry may have tag `key` with a value in `wanted`.
    pub fn may_have_tag(&self, key: &str, wanted: &[String]) -> bool {
        if self.contents_unknown {
            return true;
        }
        let Some(tag) = self.tag_set(key) else {
            return false;
        };
        if tag.values.overflow {
            return wanted.iter().any(|value| {
                self.filter
                    .may_contain(keyed_hash(ItemKind::TagPair, key, value))
            });
        }
        wanted
            .iter()
            .any(|value| contains(&tag.values.values, value))
    }

    /// Whether some message may hold every word of `words`, given as
    /// filter keys (`text::keys::index_word`).
    pub fn may_have_words(&self, keys: &[String]) -> bool {
        self.contents_unknown
            || keys
                .iter()
                .all(|key| self.filter.may_contain(word_hash(key)))
    }

    fn tag_set(&self, key: &str) -> Option<&ArchivedTagSet> {
        self.tags
            .binary_search_by(|tag| tag.key.as_str().cmp(key))
            .ok()
            .map(|index| &self.tags[index])
    }
}

fn contains(sorted: &[rkyv::string::ArchivedString], value: &str) -> bool {
    sorted
        .binary_search_by(|candidate| candidate.as_str().cmp(value))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{ColumnBatch, EntryRef, Level};

    fn header(batch: &ColumnBatch) -> BlockHeader {
        BlockHeader {
            codec_id: 0,
            entry_count: batch.len() as u32,
            min_timestamp_ns: 1,
            max_timestamp_ns: 9,
            first_seq: 7,
            payload_bytes_compressed: 10,
            payload_bytes_uncompressed: 10,
            payload_crc32: 99,
            level_mask: 1 << Level::Info.as_byte(),
        }
    }

    fn archived(summary: &BlockSummary) -> rkyv::util::AlignedVec {
        rkyv::to_bytes::<rkyv::rancor::Error>(summary).unwrap()
    }

    /// The archived summary of `batch` as a block at offset 0.
    fn summary_archive(batch: &ColumnBatch) -> rkyv::util::AlignedVec {
        archived(&BlockSummary::build(
            batch,
            &header(batch),
            0,
            &mut Default::default(),
        ))
    }

    fn access(bytes: &[u8]) -> &ArchivedBlockSummary {
        rkyv::access::<ArchivedBlockSummary, rkyv::rancor::Error>(bytes).unwrap()
    }

    fn batch() -> ColumnBatch {
        let mut batch = ColumnBatch::default();
        for i in 0..200 {
            let source = format!("host-{}", i % 3);
            let message = format!("Request {i} FAILED: Überlast at /api/v1");
            let request = format!("r{i}");
            batch.push(
                &EntryRef {
                    timestamp_ns: 5,
                    level: Level::Info,
                    source: &source,
                    message: &message,
                    fields_json: "",
                },
                &[("component", "auth"), ("request", &request)],
            );
        }
        batch
    }

    #[test]
    fn empty_values_are_listed_too() {
        let mut batch = ColumnBatch::default();
        batch.push(
            &EntryRef {
                timestamp_ns: 5,
                level: Level::Info,
                source: "",
                message: "",
                fields_json: "",
            },
            &[("k", "")],
        );
        let summary = BlockSummary::build(&batch, &header(&batch), 0, &mut Default::default());
        assert_eq!(summary.sources.values, vec![""]);
        assert_eq!(summary.tags[0].values.values, vec![""]);
    }

    #[test]
    fn sets_list_small_value_sets_and_overflow_large_ones() {
        let batch = batch();
        let summary = BlockSummary::build(&batch, &header(&batch), 4096, &mut Default::default());
        assert_eq!(summary.sources.values, vec!["host-0", "host-1", "host-2"]);
        assert_eq!(summary.tags.len(), 2);
        assert_eq!(summary.tags[0].values.values, vec!["auth"]);
        assert!(summary.tags[1].values.overflow && summary.tags[1].values.values.is_empty());

        let bytes = archived(&summary);
        let summary = rkyv::access::<ArchivedBlockSummary, rkyv::rancor::Error>(&bytes).unwrap();
        let strings = |values: &[&str]| values.iter().map(|v| v.to_string()).collect::<Vec<_>>();
        assert!(summary.may_have_source(&strings(&["nope", "host-2"])));
        assert!(!summary.may_have_source(&strings(&["host-3"])));
        assert!(summary.may_have_source_prefix("host"));
        assert!(!summary.may_have_source_prefix("db"));
        assert!(summary.has_tag_key("request") && !summary.has_tag_key("user"));
        assert!(summary.may_have_tag("component", &strings(&["auth"])));
        assert!(!summary.may_have_tag("component", &strings(&["db"])));
        assert!(!summary.may_have_tag("user", &strings(&["auth"])));
        // Overflowed values are found through the filter.
        assert!(summary.may_have_tag("request", &strings(&["r199"])));
        assert!(!summary.may_have_tag("request", &strings(&["r200", "r201"])));
    }

    #[test]
    fn the_word_filter_holds_lowercased_message_words() {
        let batch = batch();
        let summary = BlockSummary::build(&batch, &header(&batch), 0, &mut Default::default());
        let bytes = archived(&summary);
        let summary = rkyv::access::<ArchivedBlockSummary, rkyv::rancor::Error>(&bytes).unwrap();
        let words = |text: &str| {
            text.split(' ')
                .map(crate::text::keys::index_word_owned)
                .collect::<Vec<_>>()
        };
        assert!(summary.may_have_words(&words("failed ÜBERLAST 199 api v1")));
        assert!(!summary.may_have_words(&words("failed timeout")));
        assert!(!summary.may_have_words(&words("200")));
        assert!(summary.may_have_words(&[]));
    }

    #[test]
    fn describes_only_its_own_block() {
        let batch = batch();
        let header = header(&batch);
        let summary = BlockSummary::build(&batch, &header, 8192, &mut Default::default());
        let bytes = archived(&summary);
        let summary = rkyv::access::<ArchivedBlockSummary, rkyv::rancor::Error>(&bytes).unwrap();
        assert!(summary.describes(8192, &header));
        assert!(!summary.describes(4096, &header));
        let other = BlockHeader {
            payload_crc32: 100,
            ..header
        };
        assert!(!summary.describes(8192, &other));
    }

    #[test]
    fn unknown_contents_never_prune() {
        let batch = batch();
        let header = header(&batch);
        let summary = BlockSummary::unknown_contents(&header, 0);
        let bytes = archived(&summary);
        let summary = rkyv::access::<ArchivedBlockSummary, rkyv::rancor::Error>(&bytes).unwrap();
        let nothing = ["nothing".to_string()];
        assert!(summary.describes(0, &header));
        assert!(summary.may_have_source(&nothing) && summary.may_have_source_prefix("x"));
        assert!(summary.has_tag_key("x") && summary.may_have_tag("x", &nothing));
        assert!(summary.may_have_words(&nothing));
        assert_eq!(summary.level_counts(), None);
        assert_eq!(summary.only_source(), None);
    }

    #[test]
    fn counts_entries_per_level_and_knows_a_single_source() {
        let mut one_source = ColumnBatch::default();
        for level in [Level::Error, Level::Unset, Level::Error, Level::Fatal] {
            let entry = EntryRef {
                timestamp_ns: 5,
                level,
                source: "web-1",
                message: "m",
                fields_json: "",
            };
            one_source.push(&entry, &[]);
        }
        let bytes = summary_archive(&one_source);
        let summary = access(&bytes);
        assert_eq!(summary.level_counts(), Some([1, 0, 0, 0, 0, 2, 1]));
        assert_eq!(summary.only_source(), Some("web-1"));
        // batch(): 200 info entries from three hosts.
        let bytes = summary_archive(&batch());
        let summary = access(&bytes);
        assert_eq!(summary.only_source(), None);
        assert_eq!(summary.level_counts(), Some([0, 0, 0, 200, 0, 0, 0]));
    }
}
