//! The exact predicate a query applies to each entry, and the block-level
//! test (`overlaps`) that lets a shard skip blocks outside the time range
//! without reading them.
//!
//! Semantics: all given conditions must hold. `tags` are exact matches; the
//! tag `level` also matches the normalised level column, so
//! `{"tags": {"level": "error"}}` finds errors whether the level arrived
//! top-level or as a tag. `message_contains` is case-insensitive. The time
//! range is `[start, end)`.

use memchr::memmem::Finder;

use super::expr::CompiledExpr;
use super::lang::text::complete_words;
use crate::block::LevelCounts;
use crate::entry::BatchView;
use crate::entry::Level;

pub struct Predicate {
    pub time_start_ns: i64,
    /// Exclusive; `i64::MAX` means no end.
    pub time_end_ns: i64,
    /// Bit `1 << level` set for each wanted level; `None` = any.
    pub level_mask: Option<u8>,
    pub tags: Vec<(String, String)>,
    /// `tags.level` conditions: the raw text and its normalised level.
    pub tag_levels: Vec<(String, Option<Level>)>,
    pub tag_exists: Vec<String>,
    pub source: Option<String>,
    pub source_prefix: Option<String>,
    pub message_contains: Option<Needle>,
    /// The `q` filter, when the query has one; must hold as well.
    pub expr: Option<CompiledExpr>,
}

/// A case-insensitive substring search.
pub struct Needle {
    finder: Finder<'static>,
    /// Non-ASCII needles need full Unicode lowercasing of each message.
    ascii: bool,
    /// Lowercased words every message holding the needle contains.
    required_words: Vec<String>,
}

impl Needle {
    pub fn new(text: &str) -> Needle {
        let lower = text.to_lowercase();
        Needle {
            ascii: lower.is_ascii(),
            finder: Finder::new(lower.as_bytes()).into_owned(),
            required_words: complete_words(text, true, true),
        }
    }

    /// Whole words every match contains (for the word filter): those of the
    /// needle not cut off at its ends, where the message may run on.
    pub fn required_words(&self) -> &[String] {
        &self.required_words
    }

    pub fn is_in(&self, haystack: &str, scratch: &mut Vec<u8>) -> bool {
        if self.ascii {
            scratch.clear();
            scratch.extend(haystack.bytes().map(|byte| byte.to_ascii_lowercase()));
            self.finder.find(scratch).is_some()
        } else {
            self.finder
                .find(haystack.to_lowercase().as_bytes())
                .is_some()
        }
    }
}

impl Default for Predicate {
    fn default() -> Self {
        Predicate {
            time_start_ns: i64::MIN,
            time_end_ns: i64::MAX,
            level_mask: None,
            tags: Vec::new(),
            tag_levels: Vec::new(),
            tag_exists: Vec::new(),
            source: None,
            source_prefix: None,
            message_contains: None,
            expr: None,
        }
    }
}

impl Predicate {
    /// Whether any entry of a block spanning `[min, max]` can match by time.
    pub fn overlaps(&self, min_timestamp_ns: i64, max_timestamp_ns: i64) -> bool {
        max_timestamp_ns >= self.time_start_ns
            && (min_timestamp_ns < self.time_end_ns || self.time_end_ns == i64::MAX)
    }

    /// Whether a block whose entries have the levels in `block_mask` (see
    /// `BlockHeader::level_mask`; 0 = not recorded) can hold a match.
    pub fn may_match_levels(&self, block_mask: u8) -> bool {
        block_mask == 0
            || self
                .level_mask
                .is_none_or(|wanted| wanted & block_mask != 0)
    }

    /// Whether the predicate has no condition but a time range and levels:
    /// then which entries of a block or granule match follows from its time
    /// range and its entries per level, and it can be counted unread.
    pub fn is_time_and_level_only(&self) -> bool {
        self.tags.is_empty()
            && self.tag_levels.is_empty()
            && self.tag_exists.is_empty()
            && self.source.is_none()
            && self.source_prefix.is_none()
            && self.message_contains.is_none()
            && self.expr.is_none()
    }

    /// Whether every timestamp in `[min, max]` is inside the time range.
    pub fn covers(&self, min_timestamp_ns: i64, max_timestamp_ns: i64) -> bool {
        self.in_time(min_timestamp_ns) && self.in_time(max_timestamp_ns)
    }

    /// `counts` (entries per level) with the unwanted levels zeroed.
    pub fn wanted_levels(&self, mut counts: LevelCounts) -> LevelCounts {
        if let Some(mask) = self.level_mask {
            for (level, count) in counts.iter_mut().enumerate() {
                if mask & (1 << level) == 0 {
                    *count = 0;
                }
            }
        }
        counts
    }

    pub fn in_time(&self, timestamp_ns: i64) -> bool {
        timestamp_ns >= self.time_start_ns
            && (timestamp_ns < self.time_end_ns || self.time_end_ns == i64::MAX)
    }

    pub fn matches<B: BatchView + ?Sized>(
        &self,
        batch: &B,
        index: usize,
        scratch: &mut Vec<u8>,
    ) -> bool {
        if !self.in_time(batch.timestamp_ns(index)) {
            return false;
        }
        let level = batch.level(index);
        if let Some(mask) = self.level_mask {
            if mask & (1 << level.as_byte()) == 0 {
                return false;
            }
        }
        let source = batch.source(index);
        if self
            .source
            .as_deref()
            .is_some_and(|wanted| wanted != source)
            || self
                .source_prefix
                .as_deref()
                .is_some_and(|prefix| !source.starts_with(prefix))
        {
            return false;
        }
        if !self.tags_match(batch, index) || !self.tags_and_levels_match(batch, index) {
            return false;
        }
        if let Some(needle) = &self.message_contains {
            if !needle.is_in(batch.message(index), scratch) {
                return false;
            }
        }
        self.expr
            .as_ref()
            .is_none_or(|expr| expr.eval(batch, index))
    }

    /// The `tags` conditions: each key has its value.
    fn tags_match<B: BatchView + ?Sized>(&self, batch: &B, index: usize) -> bool {
        self.tags
            .iter()
            .all(|(key, value)| has_tag(batch, index, key, Some(value)))
    }

    /// The `tag_exists` and `tags.level` conditions.
    pub fn tags_and_levels_match<B: BatchView + ?Sized>(&self, batch: &B, index: usize) -> bool {
        let level = batch.level(index);
        self.tag_exists
            .iter()
            .all(|key| has_tag(batch, index, key, None))
            && self.tag_levels.iter().all(|(raw, normalised)| {
                *normalised == Some(level) || has_tag(batch, index, "level", Some(raw))
            })
    }
}

/// Whether entry `index` has tag `key` (with `value`, when given).
fn has_tag<B: BatchView + ?Sized>(batch: &B, index: usize, key: &str, value: Option<&str>) -> bool {
    batch.for_each_tag(index, &mut |k, v| {
        k == key && value.is_none_or(|wanted| wanted == v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{ColumnBatch, EntryRef};

    fn batch() -> ColumnBatch {
        let mut batch = ColumnBatch::default();
        let mut push = |ts, level, source, message, tags: &[(&str, &str)]| {
            batch.push(
                &EntryRef {
                    timestamp_ns: ts,
                    level,
                    source,
                    message,
                    fields_json: "",
                },
                tags,
            );
        };
        push(
            10,
            Level::Error,
            "web-1",
            "Connection TIMEOUT after 30s",
            &[("component", "db")],
        );
        push(
            20,
            Level::Info,
            "web-2",
            "user logged in",
            &[("level", "info"), ("user", "u1")],
        );
        push(30, Level::Unset, "db-1", "überlast", &[("level", "loud")]);
        batch
    }

    fn matching(predicate: &Predicate) -> Vec<usize> {
        let batch = batch();
        let mut scratch = Vec::new();
        (0..batch.len())
            .filter(|i| predicate.matches(&batch, *i, &mut scratch))
            .collect()
    }

    #[test]
    fn message_contains_ignores_case() {
        let predicate = Predicate {
            message_contains: Some(Needle::new("timeout")),
            ..Default::default()
        };
        assert_eq!(matching(&predicate), vec![0]);
        let unicode = Predicate {
            message_contains: Some(Needle::new("ÜBER")),
            ..Default::default()
        };
        assert_eq!(matching(&unicode), vec![2]);
    }

    #[test]
    fn level_tag_matches_level_column_or_raw_tag() {
        let errors = Predicate {
            tag_levels: vec![("error".into(), Level::parse("error"))],
            ..Default::default()
        };
        assert_eq!(matching(&errors), vec![0]);
        let loud = Predicate {
            tag_levels: vec![("loud".into(), None)],
            ..Default::default()
        };
        assert_eq!(matching(&loud), vec![2]);
    }

    #[test]
    fn time_range_is_half_open_and_prunes_blocks() {
        let predicate = Predicate {
            time_start_ns: 10,
            time_end_ns: 30,
            ..Default::default()
        };
        assert_eq!(matching(&predicate), vec![0, 1]);
        assert!(predicate.overlaps(0, 10));
        assert!(!predicate.overlaps(30, 40));
        assert!(!predicate.overlaps(0, 9));
    }

    #[test]
    fn tags_sources_and_existence() {
        let predicate = Predicate {
            tags: vec![("user".into(), "u1".into())],
            source_prefix: Some("web".into()),
            ..Default::default()
        };
        assert_eq!(matching(&predicate), vec![1]);
        let exists = Predicate {
            tag_exists: vec!["component".into()],
            ..Default::default()
        };
        assert_eq!(matching(&exists), vec![0]);
        let source = Predicate {
            source: Some("db-1".into()),
            ..Default::default()
        };
        assert_eq!(matching(&source), vec![2]);
        let mask = Predicate {
            level_mask: Some(1 << Level::Info.as_byte()),
            ..Default::default()
        };
        assert_eq!(matching(&mask), vec![1]);
    }
}
