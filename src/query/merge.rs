//! The front end's lazy k-way merge of the shards' result streams.
//!
//! Each shard sends its final entries in order (see `collector`), each
//! batch with a watermark: every entry the shard sends later has a timestamp
//! not better than it. The merge may hand out the best queued entry only
//! once it beats the watermark of every shard whose queue is empty and which
//! is still running: otherwise that shard could still send something
//! better. When it cannot, it names the shard it must hear from next; the
//! caller receives from that shard and asks again. This keeps at most the
//! shards' in-flight batches in memory, whatever the page size.

use std::collections::VecDeque;

use super::collector::{beats_watermark, Sorted};
use super::execute::order;

/// What a shard is known to send from here on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// Nothing heard yet: it may still send anything.
    Unknown,
    /// Later entries are not better than this timestamp (`None`: it has
    /// said it sends nothing more).
    Watermark(Option<i64>),
    /// Its stream has ended.
    Finished,
}

struct ShardQueue<T> {
    entries: VecDeque<T>,
    bound: Bound,
}

/// The merge's answer to "what next?".
#[derive(Debug, PartialEq, Eq)]
pub enum Next<T> {
    /// The next entry in the result order.
    Entry(T),
    /// Receive from this shard first: its next batch (or its end) decides.
    Need(usize),
    /// Every shard has ended and every entry has been handed out.
    Exhausted,
}

pub struct Merger<T> {
    descending: bool,
    shards: Vec<ShardQueue<T>>,
}

impl<T: Sorted> Merger<T> {
    pub fn new(shard_count: usize, descending: bool) -> Merger<T> {
        let shards = (0..shard_count)
            .map(|_| ShardQueue {
                entries: VecDeque::new(),
                bound: Bound::Unknown,
            })
            .collect();
        Merger { descending, shards }
    }

    /// A shard's batch: entries in order, then its watermark.
    pub fn push(&mut self, shard: usize, entries: Vec<T>, watermark_ns: Option<i64>) {
        let queue = &mut self.shards[shard];
        debug_assert!(
            queue.bound != Bound::Finished,
            "shard {shard} sent after its end"
        );
        queue.entries.extend(entries);
        queue.bound = Bound::Watermark(watermark_ns);
    }

    /// The shard's stream has ended.
    pub fn finish(&mut self, shard: usize) {
        self.shards[shard].bound = Bound::Finished;
    }

    pub fn next_step(&mut self) -> Next<T> {
        let best = self.best_head();
        let best_timestamp_ns = best.map(|shard| {
            self.shards[shard]
                .entries
                .front()
                .expect("a best head exists")
                .sort_key()
                .0
        });
        for (index, queue) in self.shards.iter().enumerate() {
            if !queue.entries.is_empty() {
                continue;
            }
            let blocks = match (queue.bound, best_timestamp_ns) {
                (Bound::Finished, _) => false,
                (Bound::Unknown, _) | (Bound::Watermark(_), None) => true,
                (Bound::Watermark(watermark), Some(timestamp)) => {
                    !beats_watermark(timestamp, watermark, self.descending)
                }
            };
            if blocks {
                return Next::Need(index);
            }
        }
        match best {
            Some(shard) => Next::Entry(
                self.shards[shard]
                    .entries
                    .pop_front()
                    .expect("a best head exists"),
            ),
            None => Next::Exhausted,
        }
    }

    /// The shard whose queued head comes first in the result order.
    fn best_head(&self) -> Option<usize> {
        let mut best: Option<(usize, super::execute::SortKey)> = None;
        for (index, queue) in self.shards.iter().enumerate() {
            let Some(head) = queue.entries.front() else {
                continue;
            };
            let key = head.sort_key();
            let better = best.is_none_or(|(_, best_key)| {
                order(key, best_key, self.descending) == std::cmp::Ordering::Less
            });
            if better {
                best = Some((index, key));
            }
        }
        best.map(|(index, _)| index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::collector::Collector;
    use crate::query::execute::SortKey;

    /// Drives the merge as the front end does, feeding each shard's batches
    /// only when the merge asks for that shard.
    fn merge_all(
        descending: bool,
        mut batches: Vec<VecDeque<(Vec<SortKey>, Option<i64>)>>,
    ) -> Vec<SortKey> {
        let mut merger = Merger::new(batches.len(), descending);
        let mut out = Vec::new();
        loop {
            match merger.next_step() {
                Next::Entry(key) => out.push(key),
                Next::Exhausted => return out,
                Next::Need(shard) => match batches[shard].pop_front() {
                    Some((entries, watermark)) => merger.push(shard, entries, watermark),
                    None => merger.finish(shard),
                },
            }
        }
    }

    /// Splits one shard's entries into "blocks" read in the collector's
    /// order and returns the batches the shard would send.
    fn shard_batches(
        descending: bool,
        wanted: usize,
        blocks: &[Vec<SortKey>],
    ) -> VecDeque<(Vec<SortKey>, Option<i64>)> {
        let mut blocks = blocks.to_vec();
        let bound = |block: &Vec<SortKey>| {
            let stamps = block.iter().map(|k| k.0);
            if descending {
                stamps.max()
            } else {
                stamps.min()
            }
            .expect("non-empty block")
        };
        if descending {
            blocks.sort_by_key(|b| std::cmp::Reverse(bound(b)));
        } else {
            blocks.sort_by_key(bound);
        }
        let mut collector = Collector::new(wanted, descending);
        let mut batches = VecDeque::new();
        for (index, block) in blocks.iter().enumerate() {
            for key in block {
                collector.offer(*key, || *key);
            }
            let watermark = blocks.get(index + 1).map(bound);
            batches.push_back((collector.take_final(watermark), watermark));
        }
        batches
    }

    fn brute_force(
        descending: bool,
        shards: &[Vec<Vec<SortKey>>],
        offset: usize,
        limit: usize,
    ) -> Vec<SortKey> {
        let mut all: Vec<SortKey> = shards.iter().flatten().flatten().copied().collect();
        all.sort_by(|a, b| order(*a, *b, descending));
        all.into_iter().skip(offset).take(limit).collect()
    }

    /// Shards whose blocks overlap in time and share timestamps across
    /// shards (timestamps repeat every 17 entries).
    fn shards_with_ties() -> Vec<Vec<Vec<SortKey>>> {
        (0..3u32)
            .map(|shard| {
                (0..6)
                    .map(|block| {
                        (0..10)
                            .map(|i| {
                                let n = block * 10 + i;
                                let timestamp = ((n * 7 + shard as i64 * 3) % 17) + block * 5;
                                (timestamp, 1, shard, n as u64)
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn merge_matches_brute_force_with_ties_offset_and_both_orders() {
        let shards = shards_with_ties();
        for descending in [true, false] {
            for (offset, limit) in [(0, 1000), (0, 5), (7, 11), (150, 100), (179, 1)] {
                let wanted = offset + limit;
                let batches = shards
                    .iter()
                    .map(|blocks| shard_batches(descending, wanted, blocks))
                    .collect();
                let got: Vec<SortKey> = merge_all(descending, batches)
                    .into_iter()
                    .skip(offset)
                    .take(limit)
                    .collect();
                assert_eq!(
                    got,
                    brute_force(descending, &shards, offset, limit),
                    "descending {descending}, offset {offset}, limit {limit}"
                );
            }
        }
    }

    /// Paging by cursor as the server does: each page's shards see only the
    /// keys past the cursor (and the time range narrowed to the cursor's
    /// timestamp), collect `limit`, merge; the next cursor is the page's
    /// last key. The pages together must be the whole order, each key once.
    #[test]
    fn cursor_pages_through_ties_exactly_in_both_orders() {
        use crate::query::cursor::{is_after, start_key};
        let shards = shards_with_ties();
        for descending in [true, false] {
            let everything = brute_force(descending, &shards, 0, usize::MAX);
            for limit in [1, 4, 7, 64] {
                let mut paged: Vec<SortKey> = Vec::new();
                let mut after = start_key(descending);
                loop {
                    let past: Vec<Vec<Vec<SortKey>>> = shards
                        .iter()
                        .map(|blocks| {
                            blocks
                                .iter()
                                .map(|block| {
                                    block
                                        .iter()
                                        .copied()
                                        .filter(|key| is_after(after, *key, descending))
                                        .collect::<Vec<_>>()
                                })
                                .filter(|block| !block.is_empty())
                                .collect()
                        })
                        .collect();
                    let batches = past
                        .iter()
                        .map(|blocks| shard_batches(descending, limit, blocks))
                        .collect();
                    let page: Vec<SortKey> = merge_all(descending, batches)
                        .into_iter()
                        .take(limit)
                        .collect();
                    paged.extend(&page);
                    match page.last() {
                        Some(last) if page.len() == limit => after = *last,
                        _ => break,
                    }
                }
                assert_eq!(paged, everything, "descending {descending}, limit {limit}");
            }
        }
    }

    #[test]
    fn an_equal_timestamp_waits_for_the_other_shard() {
        let mut merger: Merger<SortKey> = Merger::new(2, true);
        merger.push(0, vec![(10, 1, 0, 0)], Some(5));
        assert_eq!(merger.next_step(), Next::Need(1), "shard 1 is unheard");
        merger.push(1, vec![], Some(10));
        assert_eq!(
            merger.next_step(),
            Next::Need(1),
            "shard 1 may still send timestamp 10 with a better tie-break"
        );
        merger.push(1, vec![(10, 1, 1, 0)], Some(9));
        assert_eq!(merger.next_step(), Next::Entry((10, 1, 1, 0)));
        assert_eq!(merger.next_step(), Next::Entry((10, 1, 0, 0)));
        assert_eq!(merger.next_step(), Next::Need(0));
        merger.finish(0);
        assert_eq!(merger.next_step(), Next::Need(1));
        merger.push(1, vec![], None);
        assert_eq!(
            merger.next_step(),
            Next::Need(1),
            "the end of its stream (and its summary) is still to come"
        );
        merger.finish(1);
        assert_eq!(merger.next_step(), Next::Exhausted);
    }
}
