//! The best entries one shard has found so far, and which of them are final.
//!
//! A shard reads its sealed blocks in the query's order of block time bounds
//! (newest `max_timestamp` first for a descending query, oldest
//! `min_timestamp` first for an ascending one), but entries are not in time
//! order inside or across blocks. So an entry already found is *final* (no
//! block still unread can produce a better one) only once its timestamp is
//! strictly better than the *watermark*: the next unread block's
//! `max_timestamp` (descending) or `min_timestamp` (ascending). Final entries
//! leave the collector in order and are sent to the front end; the rest wait.
//! Equal timestamps are never final against an equal watermark, because the
//! unread block may hold an entry with the same timestamp and a better
//! (partition, slice, sequence) tie-break.

use super::execute::{order, SortKey};

/// Anything with a place in the result order.
pub trait Sorted {
    fn sort_key(&self) -> SortKey;
}

impl Sorted for SortKey {
    fn sort_key(&self) -> SortKey {
        *self
    }
}

/// Whether an entry with timestamp `timestamp_ns` sorts strictly before
/// every entry a source bounded by `watermark_ns` can still produce.
/// `None` is the watermark of a source that will produce nothing more.
pub fn beats_watermark(timestamp_ns: i64, watermark_ns: Option<i64>, descending: bool) -> bool {
    match watermark_ns {
        None => true,
        Some(watermark) if descending => timestamp_ns > watermark,
        Some(watermark) => timestamp_ns < watermark,
    }
}

/// Keeps the best `wanted` entries seen, in amortised O(1) per entry, and
/// hands out the final ones.
pub struct Collector<T> {
    /// Entries this shard may still contribute to the page: offset + limit
    /// minus those already handed out as final (0: count only).
    wanted: usize,
    descending: bool,
    entries: Vec<T>,
    /// The worst key still kept after the last compaction, once `wanted`
    /// entries are held: anything not better is dropped on arrival.
    threshold: Option<SortKey>,
    /// The best timestamp held, so a block that made nothing final costs no
    /// sort.
    best_timestamp_ns: Option<i64>,
    /// Matches counted, kept or not.
    pub total: u64,
}

impl<T: Sorted> Collector<T> {
    pub fn new(wanted: usize, descending: bool) -> Collector<T> {
        Collector {
            wanted,
            descending,
            entries: Vec::new(),
            threshold: None,
            best_timestamp_ns: None,
            total: 0,
        }
    }

    /// Entries this shard may still contribute (0 once its share of the page
    /// is final, or for a count-only query).
    pub fn wanted(&self) -> usize {
        self.wanted
    }

    fn better(&self, a: SortKey, b: SortKey) -> bool {
        order(a, b, self.descending) == std::cmp::Ordering::Less
    }

    /// Whether an entry with `key` would be kept if offered now (so the
    /// caller knows whether to read what building it needs).
    pub fn would_keep(&self, key: SortKey) -> bool {
        self.wanted > 0 && self.threshold.is_none_or(|worst| self.better(key, worst))
    }

    pub fn offer(&mut self, key: SortKey, make: impl FnOnce() -> T) {
        self.total += 1;
        if self.wanted == 0 || self.threshold.is_some_and(|worst| !self.better(key, worst)) {
            return;
        }
        self.entries.push(make());
        let timestamp_ns = key.0;
        let new_best = self
            .best_timestamp_ns
            .is_none_or(|best| beats_watermark(timestamp_ns, Some(best), self.descending));
        if new_best {
            self.best_timestamp_ns = Some(timestamp_ns);
        }
        if self.entries.len() >= self.wanted.saturating_mul(2).max(64) {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let descending = self.descending;
        // Stable sort: the kept prefix is already sorted, so this is a merge
        // of two runs rather than a full sort of everything held.
        self.entries
            .sort_by(|a, b| order(a.sort_key(), b.sort_key(), descending));
        self.entries.truncate(self.wanted);
        if self.entries.len() == self.wanted {
            self.threshold = self.entries.last().map(Sorted::sort_key);
        }
        self.best_timestamp_ns = self.entries.first().map(|entry| entry.sort_key().0);
    }

    /// Removes and returns, in order, the entries that beat `watermark_ns`
    /// (`None`: no more entries will come, so everything kept is final).
    pub fn take_final(&mut self, watermark_ns: Option<i64>) -> Vec<T> {
        let any_final = self
            .best_timestamp_ns
            .is_some_and(|best| beats_watermark(best, watermark_ns, self.descending));
        if !any_final {
            return Vec::new();
        }
        self.compact();
        let descending = self.descending;
        let final_count = self
            .entries
            .partition_point(|entry| beats_watermark(entry.sort_key().0, watermark_ns, descending));
        let taken: Vec<T> = self.entries.drain(..final_count).collect();
        // The worst kept key is unchanged: the best ones left, and the page
        // needs that many fewer from here.
        self.wanted -= taken.len();
        self.best_timestamp_ns = self.entries.first().map(|entry| entry.sort_key().0);
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(timestamp_ns: i64, seq: u64) -> SortKey {
        (timestamp_ns, 1, 0, seq)
    }

    fn collect(wanted: usize, descending: bool, keys: &[SortKey]) -> Collector<SortKey> {
        let mut collector = Collector::new(wanted, descending);
        for k in keys {
            collector.offer(*k, || *k);
        }
        collector
    }

    #[test]
    fn descending_entries_are_final_only_above_the_watermark() {
        let mut collector = collect(10, true, &[key(5, 0), key(9, 1), key(7, 2), key(7, 3)]);
        assert!(
            collector.take_final(Some(9)).is_empty(),
            "9 ties the watermark"
        );
        assert_eq!(
            collector.take_final(Some(6)),
            vec![key(9, 1), key(7, 3), key(7, 2)]
        );
        assert_eq!(collector.wanted(), 7);
        assert_eq!(collector.take_final(None), vec![key(5, 0)]);
        assert_eq!(collector.total, 4);
    }

    #[test]
    fn ascending_entries_are_final_only_below_the_watermark() {
        let mut collector = collect(10, false, &[key(5, 0), key(3, 1), key(4, 2)]);
        assert!(collector.take_final(Some(3)).is_empty());
        assert_eq!(collector.take_final(Some(5)), vec![key(3, 1), key(4, 2)]);
        assert_eq!(collector.take_final(None), vec![key(5, 0)]);
    }

    #[test]
    fn keeps_only_the_wanted_best_and_counts_every_match() {
        let keys: Vec<SortKey> = (0..1000)
            .map(|i| key((i * 7919) % 1000, i as u64))
            .collect();
        let mut collector = collect(3, true, &keys);
        let taken = collector.take_final(Some(500));
        assert_eq!(
            taken.iter().map(|k| k.0).collect::<Vec<_>>(),
            vec![999, 998, 997]
        );
        assert_eq!(
            collector.wanted(),
            0,
            "the shard's share of the page is final"
        );
        assert_eq!(collector.total, 1000);
        collector.offer(key(2000, 0), || key(2000, 0));
        assert!(
            collector.take_final(None).is_empty(),
            "nothing more is wanted"
        );
    }

    #[test]
    fn count_only_keeps_nothing() {
        let mut collector = collect(0, true, &[key(1, 0), key(2, 0)]);
        assert!(collector.take_final(None).is_empty());
        assert_eq!(collector.total, 2);
    }
}
