//! Live tail, shard side: "which tails want the entries that just became
//! durable?"
//!
//! Each shard keeps a registry of tail subscribers. A subscriber is one
//! `GET /api/v1/tail` stream as seen by this shard: the stream's compiled
//! query plan (the query engine's own predicate, evaluated column at a time
//! by `query::scan::select`: there is no second matcher), which partitions
//! it follows, and the sending end of the stream's channel. Every shard of a
//! stream sends into the same channel; the HTTP handler on the connection's
//! shard reads it.
//!
//! The commit loop calls `publish` for every batch it has just made
//! durable and visible (after the WAL's fdatasync and `store.apply`), so a
//! tail sees exactly what a query could see, never an entry a crash could
//! take back. With no subscriber that costs one emptiness check.
//!
//! Memory is bounded per stream, never per shard alone: the rendered lines
//! waiting for the HTTP handler count against `TAIL_BUFFER_BYTES_MAX`
//! (shared by the stream's shards through `TailShared::queued_bytes`), and
//! the channel holds at most `TAIL_MESSAGES_MAX` messages. Past either,
//! matches are not rendered into the channel but counted in
//! `TailShared::dropped`, and the handler reports them as `{"dropped": N}`
//! once its client has caught up. (One batch whose matches alone render to
//! more than the budget still goes into an empty buffer, so the bound is the
//! budget or one request's matches, whichever is larger.) A publish never
//! waits: a slow client cannot slow ingest down.
//!
//! A subscriber leaves when its stream ends (the handler sends
//! `TailUnsubscribe` to every shard), when a send finds the channel closed,
//! or at shutdown (`close_all` drops every sender, which ends every stream
//! cleanly).

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::entry::BatchView;
use crate::entry::{ColumnBatch, EntryId, Level, StrColumn};
use crate::query::filter::Predicate;
use crate::query::response::{write_entry_parts, EntryParts};
use crate::query::scan::{select, select_from, ScanView};
use crate::query::QueryPlan;
use crate::storage::catalog::Catalog;

/// Bytes of rendered entries that may wait for one tail stream's client,
/// summed over every shard: 256 KiB. Matches past it are dropped and
/// counted. With `TAIL_STREAMS_PER_SHARD_MAX` this bounds tail memory.
pub const TAIL_BUFFER_BYTES_MAX: usize = 256 * 1024;
/// Messages in one tail stream's channel (each one shard's matches of one
/// batch), whatever their size: bounds the channel's own bookkeeping when
/// many small batches match.
pub const TAIL_MESSAGES_MAX: usize = 1024;

/// Queued bytes past which a shard rings the stream's bell again, so that
/// the handler sends at once instead of waiting out its coalescing window:
/// a quarter of the buffer, so a busy tail never fills it while waiting.
pub const TAIL_FLUSH_BYTES: usize = TAIL_BUFFER_BYTES_MAX / 4;

/// What the shards of one tail stream share with its HTTP handler.
#[derive(Debug)]
pub struct TailShared {
    /// Bytes sent into the channel and not yet taken out by the handler.
    pub queued_bytes: AtomicUsize,
    /// Matching entries not sent because the buffer was full, since the
    /// handler last reported them.
    pub dropped: AtomicU64,
    /// Set by the handler before it takes what is queued; the first shard
    /// to queue a message after that clears it and rings the bell. (Set
    /// before taking, cleared after queuing: a message the handler's taking
    /// missed always rings.)
    armed: AtomicBool,
    /// Rung for the first message after the handler took what was queued,
    /// and when the queue passes `TAIL_FLUSH_BYTES`. The handler waits on the bell, never on
    /// the message channel itself: a message sent while nobody waits wakes
    /// nobody, so a tail costs the shards one wake-up per write to its
    /// client rather than one per batch (at full ingest, 700 batches a
    /// second per shard against 20 writes).
    bell: flume::Sender<()>,
}

impl TailShared {
    /// A stream's shared state and the receiving end of its bell.
    pub fn new() -> (TailShared, flume::Receiver<()>) {
        // One pending ring is enough: the handler drains everything queued
        // when it answers one.
        let (bell, rings) = flume::bounded(1);
        let shared = TailShared {
            queued_bytes: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            armed: AtomicBool::new(true),
            bell,
        };
        (shared, rings)
    }

    /// The handler is about to take every queued message: the next one
    /// queued must ring.
    pub fn rearm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    fn ring(&self) {
        let _ = self.bell.try_send(());
    }
}

/// One batch's matches for a stream: entry JSON objects, one per line.
#[derive(Debug)]
pub struct TailMessage {
    pub lines: Bytes,
    pub entry_count: usize,
}

/// A stream's registration on one shard.
pub struct TailSubscription {
    /// Unique in the process; names the stream in `TailUnsubscribe`.
    pub id: u64,
    /// Its predicate is the filter; its partitions the ones followed.
    pub plan: Arc<QueryPlan>,
    /// No partition was named: follow every partition, also those created
    /// after the stream started.
    pub all_partitions: bool,
    pub sender: flume::Sender<TailMessage>,
    pub shared: Arc<TailShared>,
}

impl TailSubscription {
    fn follows(&self, partition_key: u64) -> bool {
        self.all_partitions
            || self
                .plan
                .partitions
                .iter()
                .any(|meta| meta.key == partition_key)
    }
}

/// Where a stream's live part starts on a shard: per partition, the first
/// sequence number it has not seen yet (entries below it were visible when
/// the stream subscribed, and belong to the look-back, not the live part).
pub type TailWatermarks = Vec<(u64, u64)>;

/// Per-shard counts for `/metrics`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TailStats {
    pub subscribers: usize,
    pub entries_sent: u64,
    pub entries_dropped: u64,
}

/// One shard's tail subscribers.
#[derive(Default)]
pub struct TailRegistry {
    subscribers: RefCell<Vec<TailSubscription>>,
    entries_sent: Cell<u64>,
    entries_dropped: Cell<u64>,
    /// Scratch for the case-insensitive message search.
    scratch: RefCell<Vec<u8>>,
}

impl TailRegistry {
    pub fn subscribe(&self, subscription: TailSubscription) {
        self.subscribers.borrow_mut().push(subscription);
    }

    pub fn unsubscribe(&self, id: u64) {
        self.subscribers.borrow_mut().retain(|sub| sub.id != id);
    }

    /// Drops every subscriber (shutdown): their streams end cleanly once
    /// every shard has done so.
    pub fn close_all(&self) {
        self.subscribers.borrow_mut().clear();
    }

    pub fn stats(&self) -> TailStats {
        TailStats {
            subscribers: self.subscribers.borrow().len(),
            entries_sent: self.entries_sent.get(),
            entries_dropped: self.entries_dropped.get(),
        }
    }

    /// Sends the entries of `batch` (sequence numbers from `first_seq`, on
    /// slice `slice`) that each subscriber wants. Called by the commit loop
    /// once the batch is durable and applied; never waits.
    pub fn publish(
        &self,
        catalog: &RefCell<Catalog>,
        partition_key: u64,
        slice: u32,
        first_seq: u64,
        batch: &ColumnBatch,
    ) {
        if self.subscribers.borrow().is_empty() {
            return;
        }
        let Some(meta) = catalog.borrow().by_key(partition_key).cloned() else {
            return;
        };
        let mut scratch = self.scratch.borrow_mut();
        let mut closed = Vec::new();
        let mut by_level = None;
        let mut by_source = None;
        // Per (level mask, time range) asked for: the candidate rows.
        let mut candidates_of: Vec<((u8, i64, i64), Vec<u32>)> = Vec::new();
        let mut rendered = RenderedLines::new(batch.len());
        let view = CheckedBatch::new(batch);
        let mut tags = Vec::new();
        for subscriber in self.subscribers.borrow().iter() {
            if !subscriber.follows(partition_key) {
                continue;
            }
            let predicate = &subscriber.plan.predicate;
            let required_source = predicate.source.as_deref().or_else(|| {
                predicate
                    .expr
                    .as_ref()
                    .and_then(|expr| expr.required_source())
            });
            let rows = match (required_source, predicate.level_mask) {
                // Tails that follow one source look only at its rows,
                // grouped once per batch for all of them: most tails name
                // a service, and its rows are a small share of a batch.
                (Some(source), mask) => {
                    let by_source = by_source.get_or_insert_with(|| rows_by_source(&view));
                    let Some(rows) = by_source.get(source) else {
                        continue;
                    };
                    let candidates = rows_of_levels_in(predicate, batch, rows, mask);
                    if candidates.is_empty() {
                        continue;
                    }
                    select_from(predicate, &view, candidates, &mut scratch)
                }
                // Most tails name levels: their candidates come from one
                // pass over the level column shared by all of them, and
                // tails that want the same levels in the same time range
                // share the candidates too.
                (None, Some(mask)) => {
                    let by_level = by_level.get_or_insert_with(|| rows_by_level(batch));
                    let range = (mask, predicate.time_start_ns, predicate.time_end_ns);
                    let candidates = match candidates_of.iter().find(|(key, _)| *key == range) {
                        Some((_, rows)) => rows.clone(),
                        None => {
                            let rows = rows_of_levels(predicate, batch, by_level, mask);
                            candidates_of.push((range, rows.clone()));
                            rows
                        }
                    };
                    select_from(predicate, &view, candidates, &mut scratch)
                }
                (None, None) => select(predicate, &view, &mut scratch),
            };
            if rows.is_empty() {
                continue;
            }
            let delivery = deliver(subscriber, &rows, |lines| {
                for &row in &rows {
                    lines.extend_from_slice(rendered.line(row as usize, |out| {
                        let index = row as usize;
                        let id = EntryId {
                            slice,
                            seq: first_seq + index as u64,
                        };
                        tags.clear();
                        tags.extend(view.tags_at(index));
                        write_entry_parts(
                            out,
                            &EntryParts {
                                partition: &meta,
                                id,
                                timestamp_ns: batch.timestamps_ns[index],
                                level: batch.level(index),
                                source: view.source_at(index),
                                message: view.message_at(index),
                                tags: &tags,
                                fields_json: batch.fields_json(index),
                            },
                        );
                        out.push(b'\n');
                    }));
                }
            });
            match delivery {
                Delivery::Sent => self.count(&self.entries_sent, rows.len()),
                Delivery::Dropped => self.count(&self.entries_dropped, rows.len()),
                Delivery::Closed => closed.push(subscriber.id),
            }
        }
        if !closed.is_empty() {
            self.subscribers
                .borrow_mut()
                .retain(|sub| !closed.contains(&sub.id));
        }
    }

    fn count(&self, counter: &Cell<u64>, entry_count: usize) {
        counter.set(counter.get() + entry_count as u64);
    }
}

/// A batch whose text columns are checked to be UTF-8 once per batch, for
/// every tail: `ColumnBatch`'s own accessors check each value on each call,
/// and `ScanView for ColumnBatch` the whole message column on each call,
/// which, per tail, cost more than the matching itself.
struct CheckedBatch<'a> {
    batch: &'a ColumnBatch,
    messages: OnceCell<&'a str>,
    sources: OnceCell<&'a str>,
    tag_keys: OnceCell<&'a str>,
    tag_values: OnceCell<&'a str>,
}

impl<'a> CheckedBatch<'a> {
    fn new(batch: &'a ColumnBatch) -> CheckedBatch<'a> {
        CheckedBatch {
            batch,
            messages: OnceCell::new(),
            sources: OnceCell::new(),
            tag_keys: OnceCell::new(),
            tag_values: OnceCell::new(),
        }
    }

    fn messages(&self) -> &'a str {
        column_text(&self.messages, &self.batch.messages)
    }

    fn source_at(&self, index: usize) -> &'a str {
        let text = column_text(&self.sources, &self.batch.sources);
        value_at(text, &self.batch.sources.ends, index)
    }

    fn message_at(&self, index: usize) -> &'a str {
        value_at(self.messages(), &self.batch.messages.ends, index)
    }

    /// Entry `index`'s tags, in stored order.
    fn tags_at(&self, index: usize) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let keys = column_text(&self.tag_keys, &self.batch.tag_keys);
        let values = column_text(&self.tag_values, &self.batch.tag_values);
        let (key_ends, value_ends) = (&self.batch.tag_keys.ends, &self.batch.tag_values.ends);
        let ends = &self.batch.tag_ends;
        let start = if index == 0 {
            0
        } else {
            ends[index - 1] as usize
        };
        (start..ends[index] as usize).map(move |tag| {
            (
                value_at(keys, key_ends, tag),
                value_at(values, value_ends, tag),
            )
        })
    }
}

/// A text column's bytes as one checked `str`.
fn column_text<'a>(checked: &OnceCell<&'a str>, column: &'a StrColumn) -> &'a str {
    checked.get_or_init(|| {
        std::str::from_utf8(&column.bytes).expect("StrColumn holds only UTF-8 pushed from &str")
    })
}

/// Value `index` of a checked column (its ends lie between values, so on
/// character boundaries).
fn value_at<'a>(text: &'a str, ends: &[u32], index: usize) -> &'a str {
    let start = if index == 0 {
        0
    } else {
        ends[index - 1] as usize
    };
    &text[start..ends[index] as usize]
}

impl BatchView for CheckedBatch<'_> {
    fn entry_count(&self) -> usize {
        self.batch.entry_count()
    }
    fn timestamp_ns(&self, index: usize) -> i64 {
        self.batch.timestamp_ns(index)
    }
    fn level(&self, index: usize) -> Level {
        self.batch.level(index)
    }
    fn source(&self, index: usize) -> &str {
        self.source_at(index)
    }
    fn message(&self, index: usize) -> &str {
        self.message_at(index)
    }
    fn message_bytes(&self, index: usize) -> &[u8] {
        self.batch.message_bytes(index)
    }
    fn source_bytes(&self, index: usize) -> &[u8] {
        self.batch.source_bytes(index)
    }
    fn for_each_tag_bytes(&self, index: usize, visit: &mut dyn FnMut(&[u8], &[u8])) {
        self.batch.for_each_tag_bytes(index, visit)
    }
    fn fields_json(&self, index: usize) -> &str {
        self.batch.fields_json(index)
    }
    fn for_each_tag(&self, index: usize, visit: &mut dyn FnMut(&str, &str) -> bool) -> bool {
        self.tags_at(index).any(|(key, value)| visit(key, value))
    }
}

impl ScanView for CheckedBatch<'_> {
    fn timestamps(&self) -> &[i64] {
        &self.batch.timestamps_ns
    }
    fn levels(&self) -> &[u8] {
        &self.batch.levels
    }
    fn message_column(&self) -> (&str, &[u32]) {
        (self.messages(), &self.batch.messages.ends)
    }
}

/// Each entry of a batch rendered at most once, however many tails want it:
/// rendering (building the entry, serialising it) costs far more than
/// copying its line.
struct RenderedLines {
    row_count: usize,
    bytes: Vec<u8>,
    /// Per row: where its line lies in `bytes` (start == end: not yet
    /// rendered; a line is never empty). Allocated on the first match.
    spans: Vec<(usize, usize)>,
}

impl RenderedLines {
    fn new(row_count: usize) -> RenderedLines {
        RenderedLines {
            row_count,
            bytes: Vec::new(),
            spans: Vec::new(),
        }
    }

    /// Row `row`'s line, rendered by `render` the first time it is asked for.
    fn line(&mut self, row: usize, render: impl FnOnce(&mut Vec<u8>)) -> &[u8] {
        if self.spans.is_empty() {
            self.spans.resize(self.row_count, (0, 0));
        }
        let (start, end) = self.spans[row];
        if start == end {
            let start = self.bytes.len();
            render(&mut self.bytes);
            assert!(self.bytes.len() > start, "a rendered line is never empty");
            self.spans[row] = (start, self.bytes.len());
        }
        let (start, end) = self.spans[row];
        &self.bytes[start..end]
    }
}

/// The rows of each level (indexed by `Level::as_byte`), in order.
fn rows_by_level(batch: &ColumnBatch) -> [Vec<u32>; 8] {
    let mut by_level: [Vec<u32>; 8] = Default::default();
    for (row, byte) in batch.levels.iter().enumerate() {
        let level = Level::from_byte(*byte).as_byte() as usize;
        by_level[level & 7].push(row as u32);
    }
    by_level
}

/// The rows of each source, in order.
fn rows_by_source<'a>(view: &CheckedBatch<'a>) -> HashMap<&'a str, Vec<u32>> {
    let mut by_source: HashMap<&str, Vec<u32>> = HashMap::new();
    for row in 0..view.batch.len() {
        by_source
            .entry(view.source_at(row))
            .or_default()
            .push(row as u32);
    }
    by_source
}

/// Of `rows` (ascending), those with a level in `mask` (any, without one)
/// inside the predicate's time range: what `select` would start from.
fn rows_of_levels_in(
    predicate: &Predicate,
    batch: &ColumnBatch,
    rows: &[u32],
    mask: Option<u8>,
) -> Vec<u32> {
    rows.iter()
        .copied()
        .filter(|&row| {
            let row = row as usize;
            mask.is_none_or(|mask| mask & (1 << Level::from_byte(batch.levels[row]).as_byte()) != 0)
                && predicate.in_time(batch.timestamps_ns[row])
        })
        .collect()
}

/// The rows of the levels in `mask` inside the predicate's time range,
/// ascending: what `select` would start from.
fn rows_of_levels(
    predicate: &Predicate,
    batch: &ColumnBatch,
    by_level: &[Vec<u32>; 8],
    mask: u8,
) -> Vec<u32> {
    let mut rows: Vec<u32> = (0..8)
        .filter(|level| mask & (1 << level) != 0)
        .flat_map(|level| by_level[level].iter().copied())
        .filter(|&row| predicate.in_time(batch.timestamps_ns[row as usize]))
        .collect();
    if mask.count_ones() > 1 {
        rows.sort_unstable();
    }
    rows
}

enum Delivery {
    Sent,
    Dropped,
    Closed,
}

/// Renders `rows` with `render` and sends them, unless the stream's buffer
/// is already full: then they are only counted as dropped (and not
/// rendered, so a stuck client costs a count, not a rendering).
fn deliver(
    subscriber: &TailSubscription,
    rows: &[u32],
    render: impl FnOnce(&mut Vec<u8>),
) -> Delivery {
    let shared = &subscriber.shared;
    if subscriber.sender.is_disconnected() {
        return Delivery::Closed;
    }
    if shared.queued_bytes.load(Ordering::Acquire) >= TAIL_BUFFER_BYTES_MAX
        || subscriber.sender.is_full()
    {
        shared
            .dropped
            .fetch_add(rows.len() as u64, Ordering::AcqRel);
        return Delivery::Dropped;
    }
    let mut lines = Vec::new();
    render(&mut lines);
    let byte_count = lines.len();
    // Counted before the send, so the handler never subtracts more than
    // was added. A batch larger than the whole budget still goes through
    // into an empty buffer, else one big request would never reach a tail.
    let queued = shared.queued_bytes.fetch_add(byte_count, Ordering::AcqRel);
    if queued > 0 && queued + byte_count > TAIL_BUFFER_BYTES_MAX {
        shared.queued_bytes.fetch_sub(byte_count, Ordering::AcqRel);
        shared
            .dropped
            .fetch_add(rows.len() as u64, Ordering::AcqRel);
        return Delivery::Dropped;
    }
    let message = TailMessage {
        lines: Bytes::from(lines),
        entry_count: rows.len(),
    };
    match subscriber.sender.try_send(message) {
        Ok(()) => {
            let filled = queued + byte_count;
            let first = shared.armed.swap(false, Ordering::SeqCst);
            if first || (queued < TAIL_FLUSH_BYTES && filled >= TAIL_FLUSH_BYTES) {
                shared.ring();
            }
            Delivery::Sent
        }
        Err(error) => {
            shared.queued_bytes.fetch_sub(byte_count, Ordering::AcqRel);
            match error {
                flume::TrySendError::Disconnected(_) => Delivery::Closed,
                flume::TrySendError::Full(_) => {
                    shared
                        .dropped
                        .fetch_add(rows.len() as u64, Ordering::AcqRel);
                    Delivery::Dropped
                }
            }
        }
    }
}

/// The tail series of `/metrics`, one sample per shard.
pub fn render_metrics(shards: &[TailStats], out: &mut String) {
    type Series = (
        &'static str,
        &'static str,
        &'static str,
        fn(&TailStats) -> u64,
    );
    let series: [Series; 3] = [
        (
            "timberdb_tail_subscribers",
            "gauge",
            "Live tail streams registered on the shard (each open tail registers on every shard).",
            |s| s.subscribers as u64,
        ),
        (
            "timberdb_tail_entries_sent_total",
            "counter",
            "Entries the shard sent to live tails.",
            |s| s.entries_sent,
        ),
        (
            "timberdb_tail_entries_dropped_total",
            "counter",
            "Matching entries the shard dropped because a tail's client was too slow.",
            |s| s.entries_dropped,
        ),
    ];
    for (name, kind, help, read) in series {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (shard, stats) in shards.iter().enumerate() {
            out.push_str(&format!("{name}{{shard=\"{shard}\"}} {}\n", read(stats)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::EntryRef;
    use crate::query::filter::Needle;

    fn batch() -> ColumnBatch {
        let mut batch = ColumnBatch::default();
        let levels = [Level::Info, Level::Error, Level::Warn, Level::Unset];
        for row in 0..200i64 {
            let message = format!("request {row} timeout={}", row % 3 == 0);
            batch.push(
                &EntryRef {
                    timestamp_ns: 1000 - row * 3,
                    level: levels[row as usize % levels.len()],
                    source: "svc",
                    message: &message,
                    fields_json: "",
                },
                &[],
            );
        }
        batch
    }

    /// The shared level pass selects exactly what `select` does.
    #[test]
    fn level_candidates_select_what_select_does() {
        let batch = batch();
        let by_level = rows_by_level(&batch);
        let mut scratch = Vec::new();
        let error = 1 << Level::Error.as_byte();
        let warn = 1 << Level::Warn.as_byte();
        let unset = 1 << Level::Unset.as_byte();
        for mask in [error, error | warn, warn | unset, 0xff] {
            for (start, end) in [(i64::MIN, i64::MAX), (500, 800)] {
                let predicate = Predicate {
                    level_mask: Some(mask),
                    time_start_ns: start,
                    time_end_ns: end,
                    message_contains: Some(Needle::new("TIMEOUT=TRUE")),
                    ..Default::default()
                };
                let candidates = rows_of_levels(&predicate, &batch, &by_level, mask);
                let shared = select_from(&predicate, &batch, candidates, &mut scratch);
                let direct = select(&predicate, &batch, &mut scratch);
                assert_eq!(shared, direct, "mask {mask:#x} range {start}..{end}");
                assert!(!direct.is_empty());
            }
        }
    }

    #[test]
    fn a_full_buffer_drops_and_counts_instead_of_growing() {
        let (sender, receiver) = flume::bounded(TAIL_MESSAGES_MAX);
        let (shared, rings) = TailShared::new();
        let shared = Arc::new(shared);
        let registry_plan = Arc::new(crate::query::QueryPlan {
            partitions: Vec::new(),
            predicate: Predicate::default(),
            descending: false,
            limit: 0,
            offset: 0,
            deadline: std::time::Instant::now(),
            aggregation: None,
            block_test: crate::query::prune::BlockTest::of(&Predicate::default()),
            after: None,
            fingerprint: 0,
            partitions_named: false,
        });
        let subscription = TailSubscription {
            id: 1,
            plan: registry_plan,
            all_partitions: true,
            sender,
            shared: shared.clone(),
        };
        let rows: Vec<u32> = (0..10).collect();
        let big = vec![b'x'; TAIL_BUFFER_BYTES_MAX / 2];
        let mut sent = 0;
        let mut dropped = 0;
        for _ in 0..4 {
            match deliver(&subscription, &rows, |out| out.extend_from_slice(&big)) {
                Delivery::Sent => sent += 1,
                Delivery::Dropped => dropped += 1,
                Delivery::Closed => unreachable!(),
            }
        }
        assert_eq!((sent, dropped), (2, 2));
        // The first message rang; the second did not need to, as the first
        // already passed the flush mark.
        assert_eq!(rings.try_recv(), Ok(()));
        assert!(rings.try_recv().is_err());
        assert_eq!(shared.dropped.load(Ordering::Acquire), 20);
        assert_eq!(
            shared.queued_bytes.load(Ordering::Acquire),
            TAIL_BUFFER_BYTES_MAX
        );
        drop(receiver);
        assert!(matches!(
            deliver(&subscription, &rows, |_| {}),
            Delivery::Closed
        ));
    }
}
