//! What the server says it did for each query: the `stats` object of every
//! answer, summed per kind of query.
//!
//! Latency says how fast a query was; `stats` says why. The fraction of
//! blocks a query skipped unread is what a block index buys, so it is
//! reported next to the latency. Every numeric key under `stats` is kept,
//! not only today's (`blocks_scanned`, `blocks_skipped`,
//! `entries_scanned`): when the server adds more (per-stage prune counts,
//! say), the same loadgen reports them without a change.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

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
    /// Sum of each numeric `stats` key over the answers.
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
    /// Mean `entries_scanned` per query; `None` when the server does not
    /// report it.
    pub mean_entries_scanned: Option<f64>,
    /// Mean of every numeric `stats` key per query, by key.
    pub mean: BTreeMap<String, f64>,
}

impl StatsSums {
    /// Adds one answer's `stats` object; answers without one are ignored.
    pub fn add(&mut self, stats: &Value) {
        let Some(object) = stats.as_object() else {
            return;
        };
        self.answers += 1;
        for (key, value) in object {
            if let Some(number) = value.as_f64() {
                *self.sums.entry(key.clone()).or_default() += number;
            }
        }
        if let Some(fraction) = skipped_fraction(stats) {
            self.skipped_fraction_sum += fraction;
            self.answers_with_blocks += 1;
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
            mean_entries_scanned: mean.get("entries_scanned").copied(),
            mean,
        }
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
        sums.add(&json!({"blocks_pruned_by_bloom": 7, "stage": "scan", "nested": {"a": 1}}));
        sums.add(&json!({"blocks_pruned_by_bloom": 3}));
        sums.add(&Value::Null);
        let summary = sums.summary();
        assert_eq!(summary.answers, 2);
        assert_eq!(summary.mean.len(), 1);
        assert_eq!(summary.mean["blocks_pruned_by_bloom"], 5.0);
        assert_eq!(summary.mean_blocks_skipped_fraction, None);
        assert_eq!(summary.mean_entries_scanned, None);
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
