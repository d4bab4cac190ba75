//! `BatchPool`: request batches handed back for reuse once committed.
//!
//! Each ingest request parses into its own `ColumnBatch`, which lives until
//! the commit loop has made it durable and appended it to the slice. A
//! fresh batch grows its columns from nothing by doubling, so every request
//! paid for about a dozen reallocations and a second copy of its bytes
//! (2.5% of the ingest CPU measured by `benches/ingest_pipeline.rs`). The
//! commit loop puts each batch it has finished with back here, cleared; the
//! next request on the shard takes it with its columns' capacity intact.
//!
//! Bounded twice: at most `BATCH_POOL_BATCHES_MAX` batches are kept, and a
//! batch whose capacity is over `BATCH_POOL_BATCH_BYTES_MAX` (an unusually
//! large request) is dropped rather than kept, so the pool holds at most
//! 16 x 4 MiB = 64 MiB per shard, and far less for usual request sizes.

use std::cell::RefCell;

use super::ColumnBatch;

/// Batches kept for reuse per shard: enough for every request in flight on
/// a busy shard (one per connection) to find one.
pub const BATCH_POOL_BATCHES_MAX: usize = 16;
/// Capacity, in bytes, above which a batch is not kept (about 16,000
/// entries of 240 bytes).
pub const BATCH_POOL_BATCH_BYTES_MAX: usize = 4 << 20;

/// Cleared batches waiting for the next request. Not `Sync`: one per shard.
#[derive(Default)]
pub struct BatchPool {
    batches: RefCell<Vec<ColumnBatch>>,
}

impl BatchPool {
    /// An empty batch: a reused one when the pool has one.
    pub fn take(&self) -> ColumnBatch {
        self.batches.borrow_mut().pop().unwrap_or_default()
    }

    /// Keeps `batch` (cleared) for a later `take`, unless the pool is full or
    /// the batch is too large to be worth its memory.
    pub fn put(&self, mut batch: ColumnBatch) {
        if batch.capacity_bytes() > BATCH_POOL_BATCH_BYTES_MAX {
            return;
        }
        let mut batches = self.batches.borrow_mut();
        if batches.len() < BATCH_POOL_BATCHES_MAX {
            batch.clear();
            batches.push(batch);
        }
    }

    /// Batches waiting.
    pub fn len(&self) -> usize {
        self.batches.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{EntryRef, Level};

    fn batch_with_one_entry() -> ColumnBatch {
        let mut batch = ColumnBatch::default();
        let entry = EntryRef {
            timestamp_ns: 1,
            level: Level::Info,
            source: "api",
            message: "hello",
            fields_json: "",
        };
        batch.push(&entry, &[("k", "v")]);
        batch
    }

    #[test]
    fn a_returned_batch_comes_back_empty_with_its_capacity() {
        let pool = BatchPool::default();
        let batch = batch_with_one_entry();
        let capacity_bytes = batch.capacity_bytes();
        pool.put(batch);
        let reused = pool.take();
        assert!(reused.is_empty());
        assert_eq!(reused, ColumnBatch::default());
        assert_eq!(reused.capacity_bytes(), capacity_bytes);
        assert!(pool.is_empty());
    }

    #[test]
    fn the_pool_is_bounded() {
        let pool = BatchPool::default();
        for _ in 0..BATCH_POOL_BATCHES_MAX + 3 {
            pool.put(batch_with_one_entry());
        }
        assert_eq!(pool.len(), BATCH_POOL_BATCHES_MAX);
        let mut large = ColumnBatch::default();
        large.messages.bytes.reserve(BATCH_POOL_BATCH_BYTES_MAX + 1);
        let pool = BatchPool::default();
        pool.put(large);
        assert!(pool.is_empty());
    }
}
