//! What the server says it did for each query: the `stats` object of every
//! answer, summed per kind of query.
//!
//! Latency says how fast a query was; `stats` says why. The fraction of
//! blocks a query skipped unread is what a block index buys, and the
//! fraction of granules (the parts of a block, a few thousand entries
//! each, that a query reads or skips on its own) is what the filters
//! inside a block buy, so both are reported next to the latency. Every
//! numeric key under `stats` is kept, not only today's (`blocks_scanned`,
//! `blocks_skipped`, `entries_scanned`), and so are the numeric members of
//! nested objects, under dotted names (`granules_pruned.words`): when the
//! server adds more, the same loadgen reports them without a change.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// Distinct numeric keys summed per kind of query. The server reports
/// about 20; the bound keeps a runaway answer from growing the sums
/// without end (a key costs about 100 bytes). Keys past it are dropped.
pub const STATS_KEYS_MAX: usize = 256;

/// Levels of nested objects whose numbers are summed (`stats` is level 0;
/// the server's nest one level). Deeper objects are dropped.
pub const STATS_DEPTH_MAX: usize = 4;

/// Running sums of the `stats` of one kind's answers.
#[derive(Clone, Debug, Default)]
pub struct StatsSums {
    /// Answers whose `stats` was an object.
    answers: u64,
    /// Sum over answers of skipped / (scanned + skipped).
    skipped_fraction_sum: f64,
    /// Answers that looked at one block or more (the others have no
    /// fraction: 0 of 0 blocks is neither all skipped nor none).
    answers_with_blocks: u64,
    /// Sum over answers of the granules not read (see
    /// [`granules_not_read_fraction`]).
    granule_fraction_sum: f64,
    /// Answers that looked at one granule or more.
    answers_with_granules: u64,
    /// Sum of each numeric `stats` key over the answers, nested ones under
    /// dotted names; at most [`STATS_KEYS_MAX`] keys.
    sums: BTreeMap<String, f64>,
}

/// Per-query means of a kind's `stats`, for the report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StatsSummary {
    /// Answers that carried `stats`.
    pub answers: u64,
    /// Mean over queries of the fraction of blocks not read
    /// (`skipped_fraction`); `None` when no answer looked at any block.
    pub mean_blocks_skipped_fraction: Option<f64>,
    /// Mean over queries of the fraction of granules not read
    /// (`granules_not_read_fraction`); `None` when no answer looked at any
    /// granule (or the server does not report granules).
    pub mean_granules_skipped_fraction: Option<f64>,
    /// Mean `entries_scanned` per query; `None` when the server does not
    /// report it.
    pub mean_entries_scanned: Option<f64>,
    /// Mean of every numeric `stats` key per query, by key (nested keys
    /// dotted: `granules_pruned.words`).
    pub mean: BTreeMap<String, f64>,
}

impl StatsSums {
    /// Adds one answer's `stats` object; answers without one are ignored.
    pub fn add(&mut self, stats: &Value) {
        let Some(object) = stats.as_object() else {
            return;
        };
        self.answers += 1;
        add_numbers(&mut self.sums, &mut String::new(), object, 0);
        if let Some(fraction) = skipped_fraction(stats) {
            self.skipped_fraction_sum += fraction;
            self.answers_with_blocks += 1;
        }
        if let Some(fraction) = granules_not_read_fraction(stats) {
            self.granule_fraction_sum += fraction;
            self.answers_with_granules += 1;
        }
    }

    pub fn summary(&self) -> StatsSummary {
        let per_answer = |sum: f64| sum / self.answers.max(1) as f64;
        let mean: BTreeMap<String, f64> = self
            .sums
            .iter()
            .map(|(key, &sum)| (key.clone(), per_answer(sum)))
            .collect();
        StatsSummary {
            answers: self.answers,
            mean_blocks_skipped_fraction: (self.answers_with_blocks > 0)
                .then(|| self.skipped_fraction_sum / self.answers_with_blocks as f64),
            mean_granules_skipped_fraction: (self.answers_with_granules > 0)
                .then(|| self.granule_fraction_sum / self.answers_with_granules as f64),
            mean_entries_scanned: mean.get("entries_scanned").copied(),
            mean,
        }
    }
}

/// Adds the numbers of `object` to `sums` under `path` (the dotted name
/// of `object`, empty for `stats` itself; restored on return), and those
/// of the objects inside it down to [`STATS_DEPTH_MAX`]. One `path` buffer
/// serves every key, so only a key seen for the first time allocates.
fn add_numbers(
    sums: &mut BTreeMap<String, f64>,
    path: &mut String,
    object: &Map<String, Value>,
    depth: usize,
) {
    let prefix_bytes = path.len();
    for (key, value) in object {
        if prefix_bytes > 0 {
            path.push('.');
        }
        path.push_str(key);
        match value {
            Value::Object(inner) if depth < STATS_DEPTH_MAX => {
                add_numbers(sums, path, inner, depth + 1);
            }
            _ => {
                if let Some(number) = value.as_f64() {
                    add_sum(sums, path, number);
                }
            }
        }
        path.truncate(prefix_bytes);
    }
}

fn add_sum(sums: &mut BTreeMap<String, f64>, key: &str, number: f64) {
    if let Some(sum) = sums.get_mut(key) {
        *sum += number;
    } else if sums.len() < STATS_KEYS_MAX {
        sums.insert(key.to_string(), number);
    }
}

/// The blocks one answer did not read, of those it looked at: (skipped +
/// counted unread) / (scanned + skipped + counted unread). A block counted
/// from its index record (`blocks_counted_unread`, for counting queries)
/// was not read either; servers that do not report it count as 0.
pub fn skipped_fraction(stats: &Value) -> Option<f64> {
    let scanned = stats["blocks_scanned"].as_f64()?;
    let skipped = stats["blocks_skipped"].as_f64()?;
    let counted_unread = stats["blocks_counted_unread"].as_f64().unwrap_or(0.0);
    let total = scanned + skipped + counted_unread;
    (total > 0.0).then(|| (skipped + counted_unread) / total)
}

/// The granules one answer did not read, of those it looked at: (pruned +
/// counted unread) / (scanned + pruned + counted unread), where pruned is
/// the sum of `granules_pruned`'s members (one per filter stage, so a
/// stage the server adds counts too). A granule counted from its block's
/// directory (`granules_counted_unread`) was not read either. `None` for
/// answers without `granules_scanned` (servers that do not report
/// granules) or that looked at no granule.
pub fn granules_not_read_fraction(stats: &Value) -> Option<f64> {
    let scanned = stats["granules_scanned"].as_f64()?;
    let pruned: f64 = stats["granules_pruned"].as_object().map_or(0.0, |stages| {
        stages.values().filter_map(Value::as_f64).sum()
    });
    let counted_unread = stats["granules_counted_unread"].as_f64().unwrap_or(0.0);
    let total = scanned + pruned + counted_unread;
    (total > 0.0).then(|| (pruned + counted_unread) / total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fraction_of_one_answer() {
        let stats = json!({"blocks_scanned": 1, "blocks_skipped": 3});
        assert_eq!(skipped_fraction(&stats), Some(0.75));
        assert_eq!(
            skipped_fraction(&json!({"blocks_scanned": 0, "blocks_skipped": 0})),
            None
        );
        assert_eq!(skipped_fraction(&json!({"blocks_scanned": 4})), None);
        let counted = json!({"blocks_scanned": 1, "blocks_skipped": 1, "blocks_counted_unread": 2});
        assert_eq!(skipped_fraction(&counted), Some(0.75));
    }

    #[test]
    fn the_fraction_is_a_mean_over_queries_not_over_blocks() {
        let mut sums = StatsSums::default();
        // 1 of 100 blocks skipped, then 3 of 4: the mean of the two
        // fractions (0.01 and 0.75), not 4 of 104.
        sums.add(&json!({"shards": 1, "blocks_scanned": 99, "blocks_skipped": 1, "entries_scanned": 1000}));
        sums.add(
            &json!({"shards": 1, "blocks_scanned": 1, "blocks_skipped": 3, "entries_scanned": 10}),
        );
        let summary = sums.summary();
        assert_eq!(summary.answers, 2);
        let fraction = summary.mean_blocks_skipped_fraction.unwrap();
        assert!((fraction - 0.38).abs() < 1e-12, "{fraction}");
        assert_eq!(summary.mean_entries_scanned, Some(505.0));
        assert_eq!(summary.mean["shards"], 1.0);
        assert_eq!(summary.mean["blocks_skipped"], 2.0);
    }

    #[test]
    fn unknown_numeric_keys_are_kept_and_the_rest_ignored() {
        let mut sums = StatsSums::default();
        sums.add(
            &json!({"blocks_pruned_by_bloom": 7, "stage": "scan", "nested": {"a": 1, "b": "x"}}),
        );
        sums.add(&json!({"blocks_pruned_by_bloom": 3, "list": [1, 2]}));
        sums.add(&Value::Null);
        let summary = sums.summary();
        assert_eq!(summary.answers, 2);
        assert_eq!(summary.mean.len(), 2, "{:?}", summary.mean);
        assert_eq!(summary.mean["blocks_pruned_by_bloom"], 5.0);
        assert_eq!(summary.mean["nested.a"], 0.5);
        assert_eq!(summary.mean_blocks_skipped_fraction, None);
        assert_eq!(summary.mean_granules_skipped_fraction, None);
        assert_eq!(summary.mean_entries_scanned, None);
    }

    #[test]
    fn nested_numbers_are_averaged_under_dotted_names() {
        let mut sums = StatsSums::default();
        let pruned = |words| json!({"time": 1, "level": 0, "sets": 2, "words": words});
        sums.add(&json!({"granules_pruned": pruned(4), "blocks_pruned": pruned(1)}));
        sums.add(&json!({"granules_pruned": pruned(0), "a": {"b": {"c": 6}}}));
        let mean = sums.summary().mean;
        assert_eq!(mean["granules_pruned.words"], 2.0);
        assert_eq!(mean["granules_pruned.sets"], 2.0);
        assert_eq!(mean["blocks_pruned.words"], 0.5);
        assert_eq!(mean["a.b.c"], 3.0);
        assert!(!mean.contains_key("granules_pruned"));
        assert_eq!(mean.len(), 9, "{mean:?}");
    }

    #[test]
    fn sums_are_bounded_in_keys_and_depth() {
        let mut sums = StatsSums::default();
        let mut deep = json!({"n": 1});
        for _ in 0..=STATS_DEPTH_MAX {
            deep = json!({"d": deep, "n": 1});
        }
        sums.add(&deep);
        let mean = sums.summary().mean;
        let deepest = mean.keys().map(|k| k.matches('.').count()).max();
        assert_eq!(deepest, Some(STATS_DEPTH_MAX), "{mean:?}");
        let many: Map<String, Value> = (0..STATS_KEYS_MAX + 10)
            .map(|i| (format!("k{i}"), json!(i)))
            .collect();
        sums.add(&Value::Object(many));
        assert_eq!(sums.summary().mean.len(), STATS_KEYS_MAX);
        // Keys already summed keep being summed past the bound: n is 1 in
        // two of three answers.
        sums.add(&json!({"n": 1}));
        assert_eq!(sums.summary().mean["n"], 2.0 / 3.0);
    }

    #[test]
    fn granule_fraction_of_one_answer() {
        let stats = json!({
            "granules_scanned": 2,
            "granules_counted_unread": 1,
            "granules_pruned": {"time": 1, "level": 0, "sets": 2, "words": 2},
        });
        // 1 counted + 5 pruned of 8.
        assert_eq!(granules_not_read_fraction(&stats), Some(0.75));
        let only_scanned = json!({"granules_scanned": 4, "blocks_scanned": 1});
        assert_eq!(granules_not_read_fraction(&only_scanned), Some(0.0));
        let counted = json!({"granules_scanned": 0, "granules_counted_unread": 3});
        assert_eq!(granules_not_read_fraction(&counted), Some(1.0));
        let pruned = json!({"granules_scanned": 0, "granules_pruned": {"words": 9}});
        assert_eq!(granules_not_read_fraction(&pruned), Some(1.0));
        let none = json!({
            "granules_scanned": 0,
            "granules_counted_unread": 0,
            "granules_pruned": {"time": 0, "level": 0, "sets": 0, "words": 0},
        });
        assert_eq!(granules_not_read_fraction(&none), None);
        // A server that does not report granules has no granule fraction.
        let blocks_only = json!({"blocks_scanned": 1, "blocks_skipped": 3});
        assert_eq!(granules_not_read_fraction(&blocks_only), None);
    }

    #[test]
    fn the_granule_fraction_is_a_mean_over_answers_that_looked_at_granules() {
        let mut sums = StatsSums::default();
        let stats = |scanned, counted, words| {
            json!({
                "blocks_scanned": 1, "blocks_skipped": 0,
                "granules_scanned": scanned,
                "granules_counted_unread": counted,
                "granules_pruned": {"time": 0, "level": 0, "sets": 0, "words": words},
            })
        };
        // 9 of 10 not read, then 1 of 2, then no granule at all (left out,
        // like an answer without granules): the mean of 0.9 and 0.5.
        sums.add(&stats(1, 0, 9));
        sums.add(&stats(1, 1, 0));
        sums.add(&stats(0, 0, 0));
        sums.add(&json!({"blocks_scanned": 2, "blocks_skipped": 2}));
        let summary = sums.summary();
        let fraction = summary.mean_granules_skipped_fraction.unwrap();
        assert!((fraction - 0.7).abs() < 1e-12, "{fraction}");
        assert_eq!(summary.answers, 4);
        assert_eq!(summary.mean["granules_pruned.words"], 9.0 / 4.0);
        // The block fraction is unchanged by granules: 0, 0, 0 and 0.5.
        assert_eq!(summary.mean_blocks_skipped_fraction, Some(0.125));
    }

    #[test]
    fn answers_without_blocks_do_not_count_toward_the_fraction() {
        let mut sums = StatsSums::default();
        sums.add(&json!({"blocks_scanned": 0, "blocks_skipped": 0}));
        sums.add(&json!({"blocks_scanned": 0, "blocks_skipped": 2}));
        assert_eq!(sums.summary().mean_blocks_skipped_fraction, Some(1.0));
        assert_eq!(StatsSums::default().summary(), StatsSummary::default());
    }
}
