//! Which sealed blocks a query must read: the block-level tests, in the
//! order the design gives them, each cheaper than the next and each
//! counted when it skips a block.
//!
//! 1. time: the block's `[min, max]` timestamps against the query's range
//!    (most of this is done by walking the slice's `TimeMap` from the
//!    query's start, so blocks that end before it are never visited);
//! 2. levels: the header's level mask against the wanted levels;
//! 3. sets: `BlockTest` without its word leaves, against the summary's
//!    exact source and tag-value sets (and their filter entries when a set
//!    overflowed);
//! 4. words: the full `BlockTest`, whose word leaves probe the summary's
//!    Bloom filter.
//!
//! `BlockTest` is a necessary condition derived from the predicate: a block
//! that fails it cannot hold a match. It keeps the predicate's AND/OR shape
//! (so `source = 'a' OR source = 'b'` prunes too); a NOT, a numeric or
//! JSON-field comparison and the like give `Always` (no pruning), never a
//! wrong skip.

use super::expr::CompiledExpr;
use super::filter::Predicate;
use super::lang::ast::{CmpOp, Field, Value};
use crate::index::ArchivedBlockSummary;
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
    /// `text::keys`).
    Words(Vec<String>),
}

/// Which tests a block passed; the first it fails is where it was pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// `None` if the block may hold a match; else the stage that ruled it out.
    pub fn prune(&self, summary: &ArchivedBlockSummary) -> Option<Pruned> {
        if self.is_always() {
            None
        } else if !self.may_match(summary, false) {
            Some(Pruned::Sets)
        } else if !self.may_match(summary, true) {
            Some(Pruned::Words)
        } else {
            None
        }
    }

    /// Whether the block may hold a match; word leaves count only when
    /// `use_words`.
    fn may_match(&self, summary: &ArchivedBlockSummary, use_words: bool) -> bool {
        match self {
            BlockTest::Always => true,
            BlockTest::All(children) => children.iter().all(|c| c.may_match(summary, use_words)),
            BlockTest::Any(children) => children.iter().any(|c| c.may_match(summary, use_words)),
            BlockTest::SourceIn(sources) => summary.may_have_source(sources),
            BlockTest::SourcePrefix(prefix) => summary.may_have_source_prefix(prefix),
            BlockTest::TagKey(key) => summary.has_tag_key(key),
            BlockTest::TagIn { key, values } => summary.may_have_tag(key, values),
            BlockTest::Words(keys) => !use_words || summary.may_have_words(keys),
        }
    }
}

/// Filter keys for words a match must contain.
fn words(required: &[String]) -> BlockTest {
    BlockTest::Words(required.iter().map(|word| index_word_owned(word)).collect())
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
                BlockTest::Words(vec!["timeout".into()]),
            ])
        );
        assert_eq!(
            of_q("level:error component:auth \"connection reset\" -healthcheck"),
            BlockTest::All(vec![
                tag_in("component", &["auth"]),
                BlockTest::Words(vec!["connection".into(), "reset".into()]),
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
                BlockTest::Words(vec!["full".into()]),
            ])
        );
        assert!(BlockTest::of(&Predicate::default()).is_always());
    }
}
