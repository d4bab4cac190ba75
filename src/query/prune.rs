//! Which sealed blocks, and which granules of them, a query must read: the
//! tests in the order the design gives them, each cheaper than the next
//! and each counted when it skips a block or a granule.
//!
//! 1. time: the block's (then the granule's) `[min, max]` timestamps against
//!    the query's range (for blocks mostly done by walking the slice's
//!    `TimeMap` from the query's start);
//! 2. levels: the levels the block (granule) holds against the wanted ones;
//! 3. sets: `BlockTest` without its filter lookups, against the directory's
//!    dictionaries of sources and tag values (for a granule: which values
//!    of each dictionary it holds);
//! 4. words: the full `BlockTest` for each granule, whose word leaves (and
//!    values kept as strings rather than in a dictionary) probe the
//!    granule's filter.
//!
//! `BlockTest` is a necessary condition derived from the predicate: a block
//! that fails it cannot hold a match. It keeps the predicate's AND/OR shape
//! (so `source = 'a' OR source = 'b'` prunes too); a NOT, a numeric or
//! JSON-field comparison and the like give `Always` (no pruning), never a
//! wrong skip.

use super::expr::CompiledExpr;
use super::filter::Predicate;
use super::lang::ast::{CmpOp, Field, Value};
use crate::block::{ArchivedBlockDirectory, ArchivedColumn, ColumnName};
use crate::index::filter::{keyed_hash, word_hash};
use crate::index::{GranuleFilter, ItemKind};
use crate::text::keys::index_word_owned;

/// A condition on a block's summary that every block holding a match meets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockTest {
    Always,
    All(Vec<BlockTest>),
    Any(Vec<BlockTest>),
    /// Some entry's source is one of these.
    SourceIn(Vec<String>),
    SourcePrefix(String),
    /// Some entry has this tag key.
    TagKey(String),
    /// Some entry has tag `key` with one of `values`.
    TagIn {
        key: String,
        values: Vec<String>,
    },
    /// Some message holds every one of these words (filter keys, see
    /// `text::keys`), given as their filter hashes.
    Words(Vec<u64>),
}

/// Which tests a block passed; the first it fails is where it was pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pruned {
    Sets,
    Words,
}

impl BlockTest {
    /// The test for a whole predicate: every condition of the filter ANDed
    /// with the `q` filter's shape.
    pub fn of(predicate: &Predicate) -> BlockTest {
        let mut all = Vec::new();
        if let Some(source) = &predicate.source {
            all.push(BlockTest::SourceIn(vec![source.clone()]));
        }
        if let Some(prefix) = &predicate.source_prefix {
            all.push(BlockTest::SourcePrefix(prefix.clone()));
        }
        for (key, value) in &predicate.tags {
            all.push(BlockTest::TagIn {
                key: key.clone(),
                values: vec![value.clone()],
            });
        }
        for key in &predicate.tag_exists {
            all.push(BlockTest::TagKey(key.clone()));
        }
        if let Some(needle) = &predicate.message_contains {
            all.push(words(needle.required_words()));
        }
        if let Some(expr) = &predicate.expr {
            all.push(BlockTest::of_expr(expr));
        }
        BlockTest::All(all).simplified()
    }

    fn of_expr(expr: &CompiledExpr) -> BlockTest {
        match expr {
            CompiledExpr::And(children) => {
                BlockTest::All(children.iter().map(BlockTest::of_expr).collect())
            }
            CompiledExpr::Or(children) => {
                BlockTest::Any(children.iter().map(BlockTest::of_expr).collect())
            }
            CompiledExpr::Compare { field, op, value } => compare(field, *op, value),
            CompiledExpr::In { field, values } => {
                let texts: Option<Vec<String>> = values.iter().map(text_value).collect();
                match (field, texts) {
                    (Field::Source, Some(texts)) => BlockTest::SourceIn(texts),
                    (Field::Tag(key), Some(texts)) => BlockTest::TagIn {
                        key: key.clone(),
                        values: texts,
                    },
                    (Field::Tag(key), None) => BlockTest::TagKey(key.clone()),
                    _ => BlockTest::Always,
                }
            }
            CompiledExpr::Text { field, matcher } => match field {
                Field::Message => words(matcher.required_words()),
                // A text match on a tag is false for entries without it.
                Field::Tag(key) => BlockTest::TagKey(key.clone()),
                _ => BlockTest::Always,
            },
            CompiledExpr::Exists(Field::Tag(key)) => BlockTest::TagKey(key.clone()),
            CompiledExpr::Not(_) | CompiledExpr::Exists(_) | CompiledExpr::True => {
                BlockTest::Always
            }
        }
    }

    /// Flattens nesting and drops what cannot prune, so a query without
    /// set or word conditions costs nothing per block.
    fn simplified(self) -> BlockTest {
        match self {
            BlockTest::All(children) => {
                let mut kept = Vec::new();
                for child in children.into_iter().map(BlockTest::simplified) {
                    match child {
                        BlockTest::Always => {}
                        BlockTest::All(inner) => kept.extend(inner),
                        other => kept.push(other),
                    }
                }
                match kept.len() {
                    0 => BlockTest::Always,
                    1 => kept.pop().expect("one child"),
                    _ => BlockTest::All(kept),
                }
            }
            BlockTest::Any(children) => {
                let children: Vec<BlockTest> =
                    children.into_iter().map(BlockTest::simplified).collect();
                if children.is_empty() || children.contains(&BlockTest::Always) {
                    BlockTest::Always
                } else if children.len() == 1 {
                    children.into_iter().next().expect("one child")
                } else {
                    BlockTest::Any(children)
                }
            }
            BlockTest::Words(keys) if keys.is_empty() => BlockTest::Always,
            other => other,
        }
    }

    pub fn is_always(&self) -> bool {
        *self == BlockTest::Always
    }

    /// Whether a granule's filter can tell more than the directory: the
    /// test has word leaves or value lookups (values kept as strings are
    /// in the filter).
    pub fn uses_filter(&self) -> bool {
        match self {
            BlockTest::All(children) | BlockTest::Any(children) => {
                children.iter().any(BlockTest::uses_filter)
            }
            BlockTest::Words(_) | BlockTest::SourceIn(_) | BlockTest::TagIn { .. } => true,
            BlockTest::Always | BlockTest::SourcePrefix(_) | BlockTest::TagKey(_) => false,
        }
    }

    /// `None` if the block or granule `facts` describe may hold a match;
    /// else the stage that ruled it out.
    pub fn prune(&self, facts: &dyn Facts) -> Option<Pruned> {
        if self.is_always() {
            None
        } else if !self.may_match(facts, false) {
            Some(Pruned::Sets)
        } else if !self.may_match(facts, true) {
            Some(Pruned::Words)
        } else {
            None
        }
    }

    /// Whether it may hold a match; filter lookups count only when
    /// `use_filter`.
    fn may_match(&self, facts: &dyn Facts, use_filter: bool) -> bool {
        match self {
            BlockTest::Always => true,
            BlockTest::All(children) => children.iter().all(|c| c.may_match(facts, use_filter)),
            BlockTest::Any(children) => children.iter().any(|c| c.may_match(facts, use_filter)),
            BlockTest::SourceIn(sources) => facts.may_have_source(sources, use_filter),
            BlockTest::SourcePrefix(prefix) => facts.may_have_source_prefix(prefix),
            BlockTest::TagKey(key) => facts.may_have_tag_key(key),
            BlockTest::TagIn { key, values } => facts.may_have_tag(key, values, use_filter),
            BlockTest::Words(hashes) => !use_filter || facts.may_have_words(hashes),
        }
    }
}

/// What a block or granule may hold, as far as its directory (and, for a
/// granule, its filter) tells. Every answer errs towards "may".
pub trait Facts {
    fn may_have_source(&self, wanted: &[String], use_filter: bool) -> bool;
    fn may_have_source_prefix(&self, prefix: &str) -> bool;
    fn may_have_tag_key(&self, key: &str) -> bool;
    fn may_have_tag(&self, key: &str, values: &[String], use_filter: bool) -> bool;
    fn may_have_words(&self, hashes: &[u64]) -> bool;
}

/// A whole block, by its directory.
pub struct BlockFacts<'a> {
    pub directory: &'a ArchivedBlockDirectory,
}

impl Facts for BlockFacts<'_> {
    fn may_have_source(&self, wanted: &[String], _: bool) -> bool {
        match source_dictionary(self.directory) {
            Some(dictionary) => wanted
                .iter()
                .any(|source| dictionary.find(source).is_some()),
            None => true,
        }
    }

    fn may_have_source_prefix(&self, prefix: &str) -> bool {
        match source_dictionary(self.directory) {
            Some(dictionary) => dictionary
                .values
                .iter()
                .any(|value| value.as_str().starts_with(prefix)),
            None => true,
        }
    }

    fn may_have_tag_key(&self, key: &str) -> bool {
        self.directory.tag_column(key).is_some() || self.directory.has_extra_tags()
    }

    fn may_have_tag(&self, key: &str, values: &[String], _: bool) -> bool {
        if self.directory.has_extra_tags() {
            return true;
        }
        match self
            .directory
            .tag_column(key)
            .map(|column| column.dictionary.as_ref())
        {
            None => false,
            Some(None) => true,
            Some(Some(dictionary)) => values.iter().any(|value| dictionary.find(value).is_some()),
        }
    }

    fn may_have_words(&self, _: &[u64]) -> bool {
        true
    }
}

/// One granule of a block, by the directory's per-granule facts and, when
/// it was read, the granule's filter.
pub struct GranuleFacts<'a> {
    pub directory: &'a ArchivedBlockDirectory,
    pub granule: usize,
    pub filter: Option<GranuleFilter<'a>>,
}

impl GranuleFacts<'_> {
    fn filter_may_contain(&self, hash: u64, use_filter: bool) -> bool {
        !use_filter
            || self
                .filter
                .as_ref()
                .is_none_or(|filter| filter.may_contain(hash))
    }

    /// Whether a dictionary column's granule holds any of `values` (true
    /// when the dictionary records no granule masks).
    fn dictionary_may_hold(&self, column: &ArchivedColumn, values: &[String]) -> bool {
        let Some(dictionary) = column.dictionary.as_ref() else {
            return true;
        };
        values.iter().any(|value| {
            dictionary
                .find(value)
                .is_some_and(|index| dictionary.granule_may_hold(self.granule, index))
        })
    }
}

impl Facts for GranuleFacts<'_> {
    fn may_have_source(&self, wanted: &[String], use_filter: bool) -> bool {
        let Some(column) = self.directory.column(&ColumnName::Source) else {
            return true;
        };
        if column.dictionary.is_some() {
            return self.dictionary_may_hold(column, wanted);
        }
        wanted.iter().any(|source| {
            self.filter_may_contain(keyed_hash(ItemKind::Source, "", source), use_filter)
        })
    }

    fn may_have_source_prefix(&self, prefix: &str) -> bool {
        let Some(dictionary) = source_dictionary(self.directory) else {
            return true;
        };
        dictionary.values.iter().enumerate().any(|(index, value)| {
            value.as_str().starts_with(prefix) && dictionary.granule_may_hold(self.granule, index)
        })
    }

    fn may_have_tag_key(&self, key: &str) -> bool {
        if self.directory.has_extra_tags() {
            return true;
        }
        match self.directory.tag_column(key) {
            None => false,
            Some(column) => match column.dictionary.as_ref() {
                Some(dictionary) => dictionary
                    .granule_masks
                    .get(self.granule)
                    .is_none_or(|mask| mask.to_native() != 0),
                None => true,
            },
        }
    }

    fn may_have_tag(&self, key: &str, values: &[String], use_filter: bool) -> bool {
        let in_filter = || {
            values.iter().any(|value| {
                self.filter_may_contain(keyed_hash(ItemKind::TagPair, key, value), use_filter)
            })
        };
        let by_column = match self.directory.tag_column(key) {
            None => false,
            Some(column) if column.dictionary.is_some() => self.dictionary_may_hold(column, values),
            Some(_) => in_filter(),
        };
        by_column || (self.directory.has_extra_tags() && in_filter())
    }

    fn may_have_words(&self, hashes: &[u64]) -> bool {
        hashes
            .iter()
            .all(|hash| self.filter_may_contain(*hash, true))
    }
}

fn source_dictionary(
    directory: &ArchivedBlockDirectory,
) -> Option<&crate::block::ArchivedDictionary> {
    directory
        .column(&ColumnName::Source)
        .and_then(|column| column.dictionary.as_ref())
}

/// Filter hashes of the words a match must contain.
fn words(required: &[String]) -> BlockTest {
    BlockTest::Words(
        required
            .iter()
            .map(|word| word_hash(&index_word_owned(word)))
            .collect(),
    )
}

fn compare(field: &Field, op: CmpOp, value: &Value) -> BlockTest {
    match (field, op, text_value(value)) {
        (Field::Source, CmpOp::Eq, Some(text)) => BlockTest::SourceIn(vec![text]),
        (Field::Tag(key), CmpOp::Eq, Some(text)) => BlockTest::TagIn {
            key: key.clone(),
            values: vec![text],
        },
        // Any comparison on a tag is false for an entry without it.
        (Field::Tag(key), _, _) => BlockTest::TagKey(key.clone()),
        _ => BlockTest::Always,
    }
}

/// A literal that `=` compares as exact text (numbers compare numerically,
/// so `5` also equals `5.0` and cannot be looked up in a set).
fn text_value(value: &Value) -> Option<String> {
    match value {
        Value::Str(text) => Some(text.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::filter::Needle;
    use crate::query::lang::ast::Expr;
    use crate::query::lang::parse;

    fn of_q(q: &str) -> BlockTest {
        let statement = parse(q, 0).unwrap();
        let expr = CompiledExpr::compile(&statement.filter.unwrap_or(Expr::True)).unwrap();
        BlockTest::of(&Predicate {
            expr: Some(expr),
            ..Default::default()
        })
    }

    fn words_of(words: &[&str]) -> BlockTest {
        BlockTest::Words(words.iter().map(|word| word_hash(word)).collect())
    }

    fn tag_in(key: &str, values: &[&str]) -> BlockTest {
        BlockTest::TagIn {
            key: key.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn conjunctions_of_sets_and_words() {
        assert_eq!(
            of_q("SELECT * WHERE source = 'web' AND tags.component = 'auth' AND message CONTAINS 'conn TIMEOUT now'"),
            BlockTest::All(vec![
                BlockTest::SourceIn(vec!["web".into()]),
                tag_in("component", &["auth"]),
                words_of(&["timeout"]),
            ])
        );
        assert_eq!(
            of_q("level:error component:auth \"connection reset\" -healthcheck"),
            BlockTest::All(vec![
                tag_in("component", &["auth"]),
                words_of(&["connection", "reset"]),
            ])
        );
    }

    #[test]
    fn disjunctions_prune_only_when_every_branch_can() {
        assert_eq!(
            of_q("SELECT * WHERE source IN ('a', 'b') OR tags.x = 'y'"),
            BlockTest::Any(vec![
                BlockTest::SourceIn(vec!["a".into(), "b".into()]),
                tag_in("x", &["y"]),
            ])
        );
        assert_eq!(
            of_q("SELECT * WHERE source = 'a' OR fields.n > 3"),
            BlockTest::Always
        );
        assert_eq!(of_q("SELECT * WHERE NOT source = 'a'"), BlockTest::Always);
        assert_eq!(of_q("time*"), BlockTest::Always);
        assert_eq!(
            of_q("SELECT * WHERE tags.n > 3"),
            BlockTest::TagKey("n".into())
        );
        assert_eq!(
            of_q("SELECT * WHERE tags.n = 3"),
            BlockTest::TagKey("n".into())
        );
    }

    #[test]
    fn filter_fields_become_tests() {
        let predicate = Predicate {
            source_prefix: Some("web".into()),
            tags: vec![("k".into(), "v".into())],
            tag_exists: vec!["e".into()],
            message_contains: Some(Needle::new("Disk FULL on")),
            ..Default::default()
        };
        assert_eq!(
            BlockTest::of(&predicate),
            BlockTest::All(vec![
                BlockTest::SourcePrefix("web".into()),
                tag_in("k", &["v"]),
                BlockTest::TagKey("e".into()),
                words_of(&["full"]),
            ])
        );
        assert!(BlockTest::of(&Predicate::default()).is_always());
    }
}
