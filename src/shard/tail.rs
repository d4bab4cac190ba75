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

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::entry::BatchView;
use crate::entry::{ColumnBatch, EntryId, Level};
use crate::query::execute::materialise;
use crate::query::filter::Predicate;
use crate::query::response::write_entry;
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

/// What the shards of one tail stream share with its HTTP handler.
#[derive(Debug, Default)]
pub struct TailShared {
    /// Bytes sent into the channel and not yet taken out by the handler.
    pub queued_bytes: AtomicUsize,
    /// Matching entries not sent because the buffer was full, since the
    /// handler last reported them.
    pub dropped: AtomicU64,
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
        let mut rendered = RenderedLines::new(batch.len());
        let view = CheckedBatch {
            batch,
            messages: std::cell::OnceCell::new(),
        };
        for subscriber in self.subscribers.borrow().iter() {
            if !subscriber.follows(partition_key) {
                continue;
            }
            let predicate = &subscriber.plan.predicate;
            let rows = match predicate.level_mask {
                // Most tails name levels: their candidates come from one
                // pass over the level column shared by all of them.
                Some(mask) => {
                    let by_level = by_level.get_or_insert_with(|| rows_by_level(batch));
                    let candidates = rows_of_levels(predicate, batch, by_level, mask);
                    select_from(predicate, &view, candidates, &mut scratch)
                }
                None => select(predicate, &view, &mut scratch),
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
                        write_entry(out, &materialise(batch, index, id, &meta));
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

/// A batch whose message column was checked to be UTF-8 once, for every
/// tail: `ScanView for ColumnBatch` checks the whole column on each call,
/// which, per tail that searches messages, cost more than the search.
struct CheckedBatch<'a> {
    batch: &'a ColumnBatch,
    /// The message column as text, checked on first use.
    messages: std::cell::OnceCell<&'a str>,
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
        self.batch.source(index)
    }
    fn message(&self, index: usize) -> &str {
        self.batch.message(index)
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
        self.batch.for_each_tag(index, visit)
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
        let batch = self.batch;
        let messages = self.messages.get_or_init(|| batch.message_column().0);
        (messages, &self.batch.messages.ends)
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
        Ok(()) => Delivery::Sent,
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
        let shared = Arc::new(TailShared::default());
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
